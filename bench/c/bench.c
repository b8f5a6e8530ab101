/* The comparison workloads through the cacheness C ABI (include/cacheness.h,
 * target/release/libcacheness.so), default backends (SQLite metadata + files), default options.
 * Selectors are the params JSON (the key is derived from it on every call, as a user's call
 * does), except get_hit_key, which passes the 64-hex key computed beforehand (untimed).
 * One handle is shared by the threads of a process (handles are thread-safe); each of the 4
 * processes of mode 4p opens its own. See driver.c for the options. */
#include "driver.h"

#include <cacheness.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static __thread char tl_params[PARAMS_MAX];
static __thread char tl_key[80];
static __thread char tl_sel[1000 * PARAMS_MAX + 8];
static __thread char tl_items_params[1000][PARAMS_MAX];
static __thread cacheness_put_item tl_items[1000];

static int fail(const char *what, cacheness_error *e) {
    fprintf(stderr, "cacheness %s: %s (code %d)\n", what, cacheness_error_message(e), (int)cacheness_error_code(e));
    cacheness_error_free(e);
    return -1;
}

static void *c_open(const char *dir) {
    char cfg[4200];
    snprintf(cfg, sizeof cfg, "{\"dir\":\"%s\"}", dir); /* the bench's dirs need no escaping */
    cacheness_cache *c = NULL;
    cacheness_error *e = cacheness_cache_open(cfg, &c);
    if (e) {
        fail("open", e);
        return NULL;
    }
    return c;
}

static void c_close(void *g) { cacheness_cache_close(g); }
static void *c_ctx_new(void *g) { return g; }
static void c_ctx_free(void *t) { (void)t; }

static int c_put(void *t, long long i, const uint8_t *v, size_t len) {
    bench_params(tl_params, i);
    cacheness_error *e = cacheness_cache_put(t, tl_params, v, len, NULL, NULL);
    return e ? fail("put", e) : 0;
}

static int get_sel(void *t, const char *sel, size_t expect) {
    cacheness_bytes out;
    bool found = false;
    cacheness_error *e = cacheness_cache_get(t, sel, &out, &found);
    if (e) return fail("get", e);
    int ok = found && out.len == expect;
    if (found && out.len != expect) fprintf(stderr, "cacheness get: %zu bytes, expected %zu\n", out.len, expect);
    cacheness_bytes_free(out);
    return found ? (ok ? 1 : -1) : 0;
}

static int c_get(void *t, long long i, size_t expect) {
    bench_params(tl_params, i);
    return get_sel(t, tl_params, expect);
}

static int c_prep_key(void *t, long long i) {
    (void)t;
    char *key = NULL;
    bench_params(tl_params, i);
    cacheness_error *e = cacheness_key(tl_params, &key);
    if (e) return fail("key", e);
    snprintf(tl_key, sizeof tl_key, "%s", key);
    cacheness_string_free(key);
    return 0;
}

static int c_get_key(void *t, size_t expect) { return get_sel(t, tl_key, expect); }

static int c_get_metadata(void *t, long long i) {
    bench_params(tl_params, i);
    char *meta = NULL;
    bool found = false;
    cacheness_error *e = cacheness_cache_get_metadata(t, tl_params, &meta, &found);
    if (e) return fail("get_metadata", e);
    cacheness_string_free(meta);
    return found ? 1 : 0;
}

static int c_touch(void *t, long long i) {
    bench_params(tl_params, i);
    bool found = false;
    cacheness_error *e = cacheness_cache_touch(t, tl_params, "{\"ttl_seconds\":3600}", &found);
    if (e) return fail("touch", e);
    return found ? 1 : 0;
}

static int c_del(void *t, long long i) {
    bench_params(tl_params, i);
    bool deleted = false;
    cacheness_error *e = cacheness_cache_delete(t, tl_params, &deleted);
    if (e) return fail("delete", e);
    return deleted ? 1 : 0;
}

static int c_get_batch(void *t, const long long *idx, int k, size_t expect) {
    char *p = tl_sel;
    *p++ = '[';
    for (int m = 0; m < k; m++) {
        if (m) *p++ = ',';
        p += bench_params(p, idx[m]);
    }
    *p++ = ']';
    *p = 0;
    cacheness_batch *b = NULL;
    cacheness_error *e = cacheness_cache_get_batch(t, tl_sel, &b);
    if (e) return fail("get_batch", e);
    int rc = cacheness_batch_len(b) == (size_t)k ? 0 : -1;
    for (int m = 0; m < k && rc == 0; m++) {
        const uint8_t *d;
        size_t len;
        if (!cacheness_batch_get(b, (size_t)m, &d, &len) || len != expect) rc = -1;
    }
    cacheness_batch_free(b);
    if (rc) fprintf(stderr, "cacheness get_batch: a miss or a wrong length\n");
    return rc;
}

static int c_put_batch(void *t, const long long *idx, int k, const uint8_t *v, size_t len) {
    for (int m = 0; m < k; m++) {
        bench_params(tl_items_params[m], idx[m]);
        tl_items[m] = (cacheness_put_item){.params_json = tl_items_params[m], .data = v, .len = len, .options_json = NULL};
    }
    cacheness_error *e = cacheness_cache_put_batch(t, tl_items, (size_t)k);
    return e ? fail("put_batch", e) : 0;
}

static long long c_delete_where(void *t, int group) {
    char filter[64];
    snprintf(filter, sizeof filter, "{\"params\":{\"g\":%d}}", group);
    uint64_t count = 0;
    cacheness_error *e = cacheness_cache_delete_where(t, filter, &count);
    if (e) return fail("delete_where", e);
    return (long long)count;
}

/* All entries, page by page (default page size 1000), counting them. */
static long long c_list_all(void *t) {
    long long total = 0;
    char opts[1024] = "{}";
    for (;;) {
        char *page = NULL;
        cacheness_error *e = cacheness_cache_list(t, NULL, opts, &page);
        if (e) return fail("list", e);
        for (const char *p = page; (p = strstr(p, "\"cache_key\":")); p += 12) total++;
        const char *nc = strstr(page, "\"next_cursor\":");
        int more = 0;
        if (nc) {
            nc += 14;
            while (*nc == ' ') nc++;
            if (*nc == '"') {
                const char *q = nc + 1;
                while (*q && *q != '"') q += (*q == '\\' && q[1]) ? 2 : 1;
                int l = (int)(q - nc + 1);
                if (l + 16 < (int)sizeof opts) {
                    snprintf(opts, sizeof opts, "{\"cursor\":%.*s}", l, nc);
                    more = 1;
                }
            }
        }
        cacheness_string_free(page);
        if (!more) return total;
    }
}

int main(int argc, char **argv) {
    static const bench_backend b = {
        .name = "cacheness",
        .open = c_open,
        .close = c_close,
        .ctx_new = c_ctx_new,
        .ctx_free = c_ctx_free,
        .put = c_put,
        .get = c_get,
        .get_metadata = c_get_metadata,
        .touch = c_touch,
        .del = c_del,
        .get_batch = c_get_batch,
        .put_batch = c_put_batch,
        .delete_where = c_delete_where,
        .list_all = c_list_all,
        .prep_key = c_prep_key,
        .get_key = c_get_key,
    };
    return driver_main(&b, argc, argv);
}
