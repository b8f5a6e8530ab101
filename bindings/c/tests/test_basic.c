/* Version, error objects, the panic boundary, keys, open/config, backends, namespaces,
 * threads, inline threshold, eviction, signing. */
#define _XOPEN_SOURCE 700

#include <ftw.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "check.h"
#include "key_vectors.h"
#include "suites.h"

#define MEMORY_CONFIG "{\"metadata\":\"memory\",\"blobs\":\"memory\"}"

static void test_version(void) {
    const char *v = cacheness_version();
    CHECK(v != NULL);
    CHECK(strlen(v) >= 5);   /* "0.1.0" */
    CHECK(strchr(v, '.') != NULL);
    CHECK(v == cacheness_version() || strcmp(v, cacheness_version()) == 0);
}

static void test_null_handles_are_safe(void) {
    CHECK_INT(cacheness_error_code(NULL), CACHENESS_OK);
    CHECK_STR(cacheness_error_message(NULL), "");
    cacheness_error_free(NULL);
    cacheness_string_free(NULL);
    cacheness_bytes_free((cacheness_bytes){NULL, 0});
    cacheness_cache_close(NULL);
    cacheness_store_close(NULL);
    cacheness_batch_free(NULL);
    CHECK_INT(cacheness_batch_len(NULL), 0);
    const uint8_t *data = NULL;
    size_t len = 0;
    CHECK(!cacheness_batch_get(NULL, 0, &data, &len));
    CHECK(cacheness_batch_key(NULL, 0) == NULL);
}

static void test_panic_becomes_error(void) {
    for (int i = 0; i < 2; i++) {
        cacheness_error *e = cacheness_test_panic();
        CHECK(e != NULL);
        CHECK_INT(cacheness_error_code(e), CACHENESS_PANIC);
        CHECK(strlen(cacheness_error_message(e)) > 0);
        cacheness_error_free(e);
    }
    /* The library keeps working after a caught panic. */
    cacheness_cache *c = t_cache(NULL);
    t_put_str(c, "{\"after\":\"panic\"}", "still fine", NULL);
    t_check_data(c, "{\"after\":\"panic\"}", "still fine", 10);
}

static void test_error_message_is_useful(void) {
    cacheness_cache *c = t_cache(NULL);
    cacheness_error *e = cacheness_cache_put(c, "{\"a\":", (const uint8_t *)"x", 1, NULL, NULL);
    CHECK(e != NULL);
    CHECK_INT(cacheness_error_code(e), CACHENESS_INVALID_ARGUMENT);
    const char *msg = cacheness_error_message(e);
    CHECK(msg != NULL && strlen(msg) > 5);
    CHECK(msg == cacheness_error_message(e)); /* stable while e lives */
    cacheness_error_free(e);
}

static void test_key_vectors(void) {
    for (size_t i = 0; i < sizeof key_cases / sizeof key_cases[0]; i++) {
        char *key = NULL;
        OK(cacheness_key(key_cases[i].params, &key));
        if (!key || strcmp(key, key_cases[i].key) != 0)
            t_fail(__FILE__, __LINE__, "key(%s) = %s, want %s", key_cases[i].params,
                   key ? key : "(null)", key_cases[i].key);
        cacheness_string_free(key);
    }
    EACH(i, key_errors) {
        char *key;
        PRESET(key);
        cacheness_error *e = cacheness_key(key_errors[i], &key);
        if (!e) t_fail(__FILE__, __LINE__, "key(%s) succeeded, want an error", key_errors[i]);
        if (cacheness_error_code(e) != CACHENESS_INVALID_ARGUMENT)
            t_fail_err(__FILE__, __LINE__, key_errors[i], e);
        cacheness_error_free(e);
        CHECK(UNTOUCHED(key));
    }
    char *key;
    PRESET(key);
    FAILS_INVALID(cacheness_key(NULL, &key));
    FAILS_INVALID(cacheness_key("{}", NULL));
    FAILS_INVALID(cacheness_key("{\"a\":\"\xff\"}", &key));
    FAILS_INVALID(cacheness_key("{\"\xc3\":1}", &key));
    FAILS_INVALID(cacheness_key("{\"a\":\"\\ud800\"}", &key)); /* a lone surrogate */
    CHECK(UNTOUCHED(key));
}

static void test_selector_forms(void) {
    cacheness_cache *c = t_cache(NULL);
    const char *key = t_put_str(c, "{\"a\":1,\"b\":\"x\"}", "v", NULL);
    CHECK_STR(key, "ecf9e98ec0641e23113ff3ce8bdc78d0ddd249886517fd4a7f68cc83d4e65667");
    t_check_data(c, key, "v", 1);
    t_check_data(c, "{ \"b\" : \"x\", \"a\" : 1.0 }", "v", 1);
    t_check_data(c, "{\"b\":\"x\",\"a\":1}", "v", 1);
    /* Upper-case hex names the same entry or is refused, never another entry. */
    char upper[65];
    for (int i = 0; i < 65; i++) upper[i] = (char)(key[i] >= 'a' && key[i] <= 'f' ? key[i] - 32 : key[i]);
    cacheness_bytes data;
    bool found;
    cacheness_error *e = cacheness_cache_get(c, upper, &data, &found);
    if (e) {
        CHECK_INT(cacheness_error_code(e), CACHENESS_INVALID_ARGUMENT);
        cacheness_error_free(e);
    } else {
        CHECK(found && data.len == 1 && data.data[0] == 'v');
        cacheness_bytes_free(data);
    }
    /* Neither params nor a 64-hex key. */
    PRESET(found);
    PRESET(data);
    FAILS_INVALID(cacheness_cache_get(c, "", &data, &found));
    FAILS_INVALID(cacheness_cache_get(c, "abc", &data, &found));
    FAILS_INVALID(cacheness_cache_get(c, "ecf9e98ec0641e23113ff3ce8bdc78d0ddd249886517fd4a7f68cc83d4e6566", &data, &found));
    FAILS_INVALID(cacheness_cache_get(c, "ecf9e98ec0641e23113ff3ce8bdc78d0ddd249886517fd4a7f68cc83d4e656677", &data, &found));
    FAILS_INVALID(cacheness_cache_get(c, "gcf9e98ec0641e23113ff3ce8bdc78d0ddd249886517fd4a7f68cc83d4e65667", &data, &found));
    FAILS_INVALID(cacheness_cache_get(c, "[1]", &data, &found));
    FAILS_INVALID(cacheness_cache_get(c, "{\"a\":1,\"a\":1}", &data, &found));
    CHECK(UNTOUCHED(found));
    CHECK(UNTOUCHED(data));
}

static void check_open_fails(const char *config) {
    cacheness_cache *c;
    PRESET(c);
    cacheness_error *e = cacheness_cache_open(config, &c);
    if (!e) {
        cacheness_cache_close(c);
        t_fail(__FILE__, __LINE__, "cache_open(%s) succeeded, want INVALID_ARGUMENT", config);
    }
    if (cacheness_error_code(e) != CACHENESS_INVALID_ARGUMENT)
        t_fail_err(__FILE__, __LINE__, config, e);
    cacheness_error_free(e);
    CHECK(UNTOUCHED(c));
}

static void check_store_open_fails(const char *config) {
    cacheness_store *s;
    PRESET(s);
    cacheness_error *e = cacheness_store_open(config, &s);
    if (!e) {
        cacheness_store_close(s);
        t_fail(__FILE__, __LINE__, "store_open(%s) succeeded, want INVALID_ARGUMENT", config);
    }
    if (cacheness_error_code(e) != CACHENESS_INVALID_ARGUMENT)
        t_fail_err(__FILE__, __LINE__, config, e);
    cacheness_error_free(e);
    CHECK(UNTOUCHED(s));
}

static void test_open_rejects_bad_config(void) {
    const char *dir_bad[] = {
        "{\"dir\":\"%s\",\"bogus\":1}",
        "{\"dir\":\"%s\"} trailing",
        "{\"dir\":\"%s\",\"metadata\":\"bogus\"}",
        "{\"dir\":\"%s\",\"blobs\":\"bogus\"}",
        "{\"dir\":\"%s\",\"durability\":\"sometimes\"}",
        "{\"dir\":\"%s\",\"default_ttl_seconds\":0}",
        "{\"dir\":\"%s\",\"default_ttl_seconds\":-5}",
        "{\"dir\":\"%s\",\"default_ttl_seconds\":\"60\"}",
        "{\"dir\":\"%s\",\"max_size_bytes\":\"big\"}",
        "{\"dir\":\"%s\",\"inline_max_bytes\":-1}",
        "{\"dir\":\"%s\",\"signing_key\":\"abcd\"}",
        "{\"dir\":\"%s\",\"signing_key\":\"zz112233445566778899aabbccddeeff00112233445566778899aabbccddeeff\"}",
        "{\"dir\":\"%s\",\"metadata\":\"postgres\"}",
        "{\"dir\":\"%s\",\"verify_on_read\":\"yes\"}",
        "{\"dir\":\"%s\",\"namespace\":5}",
    };
    EACH(i, dir_bad) {
        check_open_fails(t_fmt(dir_bad[i], t_dir, t_dir));
        check_store_open_fails(t_fmt(dir_bad[i], t_dir, t_dir));
    }
    const char *bad[] = {
        "", "not json", "[]", "\"dir\"", "null",
        "{}",                                   /* sqlite + files need a dir */
        "{\"metadata\":\"memory\"}",             /* files need a dir */
        "{\"dir\":5}",
        "{\"dir\":\"\"}",
        "{\"dir\":\"/tmp/\xff\"}",
    };
    EACH(i, bad) {
        check_open_fails(bad[i]);
        check_store_open_fails(bad[i]);
    }
    /* The store takes the cache's config less the TTL and eviction names. */
    check_store_open_fails(t_fmt("{\"dir\":\"%s\",\"default_ttl_seconds\":60}", t_dir));
    check_store_open_fails(t_fmt("{\"dir\":\"%s\",\"max_size_bytes\":1000000}", t_dir));

    cacheness_cache *c;
    cacheness_store *s;
    PRESET(c);
    PRESET(s);
    FAILS_INVALID(cacheness_cache_open(NULL, &c));
    FAILS_INVALID(cacheness_store_open(NULL, &s));
    FAILS_INVALID(cacheness_cache_open(MEMORY_CONFIG, NULL));
    FAILS_INVALID(cacheness_store_open(MEMORY_CONFIG, NULL));
    CHECK(UNTOUCHED(c));
    CHECK(UNTOUCHED(s));
}

static void test_open_accepts_every_documented_name(void) {
    cacheness_cache *c = t_cache(
        "\"metadata\":\"sqlite\",\"blobs\":\"fs\",\"default_ttl_seconds\":null,"
        "\"max_size_bytes\":null,\"inline_max_bytes\":1024,\"durability\":\"full\","
        "\"signing_key\":\"00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff\","
        "\"verify_on_read\":true,\"namespace\":\"docs\"");
    t_put_str(c, "{\"a\":1}", "value", NULL);
    t_check_data(c, "{\"a\":1}", "value", 5);
    cacheness_store *s = t_store_at(t_path("store"),
        "\"metadata\":\"sqlite\",\"blobs\":\"fs\",\"inline_max_bytes\":1024,"
        "\"durability\":\"normal\",\"verify_on_read\":false,\"namespace\":\"docs\"");
    OK(cacheness_store_put(s, "a/b", (const uint8_t *)"x", 1, NULL));
}

static void test_open_creates_missing_dir(void) {
    const char *dir = t_path("deep/er/cache");
    cacheness_cache *c = t_cache_at(dir, NULL);
    t_put_str(c, "{\"a\":1}", "v", NULL);
    t_cache_close(c);
    struct stat st;
    CHECK(stat(dir, &st) == 0 && S_ISDIR(st.st_mode));
    c = t_cache_at(dir, NULL);
    t_check_data(c, "{\"a\":1}", "v", 1);
}

static void exercise(cacheness_cache *c) {
    uint8_t *big = t_data(50000, 1);
    const char *kbig = t_put(c, "{\"n\":\"big\"}", big, 50000, NULL);
    t_put_str(c, "{\"n\":\"small\"}", "small", "{\"metadata\":{\"m\":1}}");
    t_check_data(c, kbig, big, 50000);
    t_check_data(c, "{\"n\":\"small\"}", "small", 5);
    char *page = NULL;
    OK(cacheness_cache_list(c, NULL, NULL, &page));
    CHECK_INT(j_count(page, "\"cache_key\":"), 2);
    cacheness_string_free(page);
    bool deleted = false;
    OK(cacheness_cache_delete(c, "{\"n\":\"small\"}", &deleted));
    CHECK(deleted);
    CHECK(!t_exists(c, "{\"n\":\"small\"}"));
    free(big);
}

static void test_backends(void) {
    cacheness_cache *c = NULL;
    OK(cacheness_cache_open(MEMORY_CONFIG, &c));
    exercise(c);
    char *stats = NULL;
    OK(cacheness_cache_stats(c, &stats));
    CHECK(j_has(stats, "\"metadata_backend\":\"memory\""));
    cacheness_string_free(stats);
    cacheness_cache_close(c);

    const char *persistent[] = {"\"metadata\":\"sqlite\",\"blobs\":\"fs\"",
                                "\"metadata\":\"json\",\"blobs\":\"fs\"",
                                "\"metadata\":\"sqlite\",\"blobs\":\"memory\"",
                                "\"metadata\":\"memory\",\"blobs\":\"fs\""};
    EACH(i, persistent) {
        const char *dir = t_path(t_fmt("b%zu", i));
        c = t_cache_at(dir, persistent[i]);
        exercise(c);
        t_cache_close(c);
        if (i < 2) { /* metadata and blobs both on disk: the entry survives a reopen */
            c = t_cache_at(dir, persistent[i]);
            CHECK(t_exists(c, "{\"n\":\"big\"}"));
            CHECK(!t_exists(c, "{\"n\":\"small\"}"));
            t_cache_close(c);
        }
    }
}

static void test_reopen_keeps_entries(void) {
    cacheness_cache *c = t_cache(NULL);
    uint8_t *big = t_data(40000, 2);
    t_put(c, "{\"r\":1}", big, 40000, "{\"metadata\":{\"k\":\"v\"},\"data_type\":\"blob\"}");
    char *before = t_meta(c, "{\"r\":1}");
    t_cache_close(c);
    c = t_cache(NULL);
    char *after = t_meta(c, "{\"r\":1}");
    CHECK_STR(j_str(after, "content_hash"), j_str(before, "content_hash"));
    CHECK_STR(j_str(after, "created_at"), j_str(before, "created_at"));
    CHECK_STR(j_value(after, "metadata"), "{\"k\":\"v\"}");
    CHECK_STR(j_str(after, "data_type"), "blob");
    t_check_data(c, "{\"r\":1}", big, 40000);
    cacheness_string_free(before);
    cacheness_string_free(after);
    free(big);
}

static void test_two_handles_one_dir(void) {
    cacheness_cache *a = t_cache(NULL);
    cacheness_cache *b = t_cache(NULL);
    uint8_t *big = t_data(30000, 3);
    t_put(a, "{\"h\":1}", big, 30000, NULL);
    t_check_data(b, "{\"h\":1}", big, 30000);
    bool deleted = false;
    OK(cacheness_cache_delete(b, "{\"h\":1}", &deleted));
    CHECK(deleted);
    CHECK(!t_exists(a, "{\"h\":1}"));
    free(big);
}

static void test_namespaces_are_isolated(void) {
    cacheness_cache *a = t_cache("\"namespace\":\"alpha\"");
    cacheness_cache *b = t_cache("\"namespace\":\"beta\"");
    uint8_t *da = t_data(20000, 4), *db = t_data(20000, 5);
    t_put(a, "{\"same\":1}", da, 20000, NULL);
    CHECK(!t_exists(b, "{\"same\":1}"));
    t_put(b, "{\"same\":1}", db, 20000, NULL);
    t_check_data(a, "{\"same\":1}", da, 20000);
    t_check_data(b, "{\"same\":1}", db, 20000);
    uint64_t n = 0;
    OK(cacheness_cache_clear(b, &n));
    CHECK_INT(n, 1);
    t_check_data(a, "{\"same\":1}", da, 20000);
    CHECK_INT(t_count_files(t_path("blobs")), 1);
    char *stats = NULL;
    OK(cacheness_cache_stats(a, &stats));
    CHECK(j_has(stats, "\"namespace\":\"alpha\""));
    CHECK_INT(j_int(stats, "entries"), 1);
    cacheness_string_free(stats);
    /* Maintenance of one namespace never touches the other's files. */
    char *report = NULL;
    OK(cacheness_cache_verify(b, "{\"deep\":true}", &report));
    CHECK(j_has(report, "\"ok\":true"));
    cacheness_string_free(report);
    OK(cacheness_cache_cleanup_orphans(b, &n));
    CHECK_INT(n, 0);
    OK(cacheness_cache_repair(b, NULL, &report));
    cacheness_string_free(report);
    t_check_data(a, "{\"same\":1}", da, 20000);
    free(da);
    free(db);
}

/* Another process writing to the same directory at the same time (see t_writer). */
static void test_two_processes_one_dir(void) {
    pid_t pid = fork();
    CHECK(pid >= 0);
    if (pid == 0) {
        execl(t_self, t_self, "--writer", t_dir, "child", (char *)NULL);
        _exit(127);
    }
    int failures = t_writer(t_dir, "parent");
    int status = 0;
    CHECK(waitpid(pid, &status, 0) == pid);
    CHECK(WIFEXITED(status));
    CHECK_INT(WEXITSTATUS(status), 0);
    CHECK_INT(failures, 0);
    cacheness_cache *c = t_cache(NULL);
    char *stats = NULL;
    OK(cacheness_cache_stats(c, &stats));
    CHECK_INT(j_int(stats, "entries"), 2 * WRITER_ENTRIES);
    cacheness_string_free(stats);
    CHECK(t_exists(c, "{\"writer\":\"child\",\"i\":0}"));
    CHECK(t_exists(c, "{\"writer\":\"parent\",\"i\":0}"));
    char *report = NULL;
    OK(cacheness_cache_verify(c, "{\"deep\":true}", &report));
    CHECK(j_has(report, "\"ok\":true"));
    cacheness_string_free(report);
}

static void test_too_large(void) {
    cacheness_cache *c = t_cache("\"max_size_bytes\":10000");
    uint8_t *d = t_data(20000, 9);
    t_put(c, "{\"fits\":1}", d, 5000, NULL);
    char *key;
    PRESET(key);
    FAILS(CACHENESS_TOO_LARGE, cacheness_cache_put(c, "{\"huge\":1}", d, 20000, NULL, &key));
    CHECK(UNTOUCHED(key));
    CHECK(!t_exists(c, "{\"huge\":1}"));
    t_check_data(c, "{\"fits\":1}", d, 5000); /* nothing was evicted for it */
    cacheness_put_item items[] = {{"{\"b\":1}", d, 10, NULL}, {"{\"b\":2}", d, 20000, NULL}};
    FAILS(CACHENESS_TOO_LARGE, cacheness_cache_put_batch(c, items, 2));
    CHECK(!t_exists(c, "{\"b\":1}"));
    bool updated;
    PRESET(updated);
    FAILS(CACHENESS_TOO_LARGE, cacheness_cache_update_data(c, "{\"fits\":1}", d, 20000, NULL,
                                                           &updated));
    CHECK(UNTOUCHED(updated));
    t_check_data(c, "{\"fits\":1}", d, 5000);
    CHECK_INT(t_count_files(t_path("blobs")), 0);
    free(d);
}

#define THREADS 4
#define PER_THREAD 40

struct worker {
    cacheness_cache *c;
    int id;
    int failures;
};

static void *work(void *arg) {
    struct worker *w = arg;
    for (int i = 0; i < PER_THREAD; i++) {
        char params[64], value[64];
        snprintf(params, sizeof params, "{\"thread\":%d,\"i\":%d}", w->id, i);
        snprintf(value, sizeof value, "value %d/%d", w->id, i);
        cacheness_error *e = cacheness_cache_put(w->c, params, (const uint8_t *)value,
                                                 strlen(value), NULL, NULL);
        cacheness_bytes data = {NULL, 0};
        bool found = false;
        if (!e) e = cacheness_cache_get(w->c, params, &data, &found);
        if (e || !found || data.len != strlen(value) || memcmp(data.data, value, data.len) != 0)
            w->failures++;
        cacheness_error_free(e);
        cacheness_bytes_free(data);
    }
    return NULL;
}

static void test_one_handle_many_threads(void) {
    cacheness_cache *c = t_cache(NULL);
    pthread_t th[THREADS];
    struct worker w[THREADS];
    for (int i = 0; i < THREADS; i++) {
        w[i] = (struct worker){c, i, 0};
        CHECK(pthread_create(&th[i], NULL, work, &w[i]) == 0);
    }
    int failures = 0;
    for (int i = 0; i < THREADS; i++) {
        pthread_join(th[i], NULL);
        failures += w[i].failures;
    }
    CHECK_INT(failures, 0);
    char *stats = NULL;
    OK(cacheness_cache_stats(c, &stats));
    CHECK_INT(j_int(stats, "entries"), THREADS * PER_THREAD);
    cacheness_string_free(stats);
}

static void test_inline_threshold(void) {
    cacheness_cache *c = t_cache(NULL);
    uint8_t *d = t_data(16385, 6);
    t_put(c, "{\"size\":16384}", d, 16384, NULL);
    CHECK_INT(t_count_files(t_path("blobs")), 0);
    t_put(c, "{\"size\":16385}", d, 16385, NULL);
    CHECK_INT(t_count_files(t_path("blobs")), 1);
    t_check_data(c, "{\"size\":16384}", d, 16384);
    t_check_data(c, "{\"size\":16385}", d, 16385);
    t_cache_close(c);

    c = t_cache_at(t_path("zero"), "\"inline_max_bytes\":0");
    t_put_str(c, "{\"tiny\":1}", "tiny", NULL);
    CHECK_INT(t_count_files(t_path("zero/blobs")), 1);
    t_check_data(c, "{\"tiny\":1}", "tiny", 4);
    free(d);
}

static void test_lru_eviction(void) {
    cacheness_cache *c = t_cache("\"max_size_bytes\":50000");
    uint8_t *d = t_data(20000, 7);
    t_put(c, "{\"lru\":\"a\"}", d, 20000, NULL);
    t_next_ms();
    t_put(c, "{\"lru\":\"b\"}", d, 20000, NULL);
    t_next_ms();
    cacheness_bytes got;
    CHECK(t_get(c, "{\"lru\":\"a\"}", &got)); /* a is now more recent than b */
    cacheness_bytes_free(got);
    t_next_ms();
    t_put(c, "{\"lru\":\"c\"}", d, 20000, NULL);
    CHECK(t_exists(c, "{\"lru\":\"a\"}"));
    CHECK(!t_exists(c, "{\"lru\":\"b\"}"));
    CHECK(t_exists(c, "{\"lru\":\"c\"}"));
    CHECK_INT(t_count_files(t_path("blobs")), 2);
    char *stats = NULL;
    OK(cacheness_cache_stats(c, &stats));
    CHECK(j_int(stats, "evictions") >= 1);
    CHECK(j_int(stats, "total_size") <= 50000);
    cacheness_string_free(stats);
    free(d);
}

/* ---- signing ---- */

#define SIGNING_KEY "8f1e2d3c4b5a69788796a5b4c3d2e1f00f1e2d3c4b5a69788796a5b4c3d2e1f0"
#define OTHER_KEY   "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff"

static const char *needle;
static size_t needle_len;
static bool needle_found;

static int scan_file(const char *path, const struct stat *st, int type, struct FTW *ftw) {
    (void)st; (void)ftw;
    if (type != FTW_F) return 0;
    size_t len;
    uint8_t *b = t_read_file(path, &len);
    for (size_t i = 0; i + needle_len <= len && !needle_found; i++)
        if (memcmp(b + i, needle, needle_len) == 0) needle_found = true;
    free(b);
    return 0;
}

static bool dir_contains(const char *dir, const char *what, size_t len) {
    needle = what;
    needle_len = len;
    needle_found = false;
    CHECK(nftw(dir, scan_file, 16, FTW_PHYS) == 0);
    return needle_found;
}

static void test_signing(void) {
    const char *with_key = "\"signing_key\":\"" SIGNING_KEY "\"";
    cacheness_cache *c = t_cache(with_key);
    uint8_t *big = t_data(30000, 8);
    const char *kbig = t_put(c, "{\"signed\":\"big\"}", big, 30000, NULL);
    char kbig_copy[65];
    snprintf(kbig_copy, sizeof kbig_copy, "%s", kbig);
    t_put_str(c, "{\"signed\":\"small\"}", "signed value", NULL);
    t_check_data(c, kbig_copy, big, 30000);
    char *report = NULL;
    OK(cacheness_cache_verify(c, "{\"deep\":true}", &report));
    CHECK(j_has(report, "\"ok\":true"));
    CHECK_INT(j_int(report, "checked"), 2);
    cacheness_string_free(report);
    t_cache_close(c);

    /* The key is never stored in the cache directory, in hex or in bytes. */
    CHECK(!dir_contains(t_dir, SIGNING_KEY, 64));
    uint8_t raw[32];
    for (int i = 0; i < 32; i++) {
        unsigned byte;
        sscanf(SIGNING_KEY + 2 * i, "%2x", &byte);
        raw[i] = (uint8_t)byte;
    }
    CHECK(!dir_contains(t_dir, (const char *)raw, 32));

    /* Under another key the records do not verify: the open is refused, or verify reports
     * corrupted_signature and get never returns the data. */
    c = NULL;
    cacheness_error *e = cacheness_cache_open(
        t_fmt("{\"dir\":\"%s\",\"signing_key\":\"%s\"}", t_dir, OTHER_KEY), &c);
    if (e) {
        cacheness_error_free(e);
    } else {
        OK(cacheness_cache_verify(c, NULL, &report));
        CHECK(j_has(report, "\"ok\":false"));
        CHECK_INT(j_count(report, "\"issue\":\"corrupted_signature\""), 2);
        CHECK(j_has(report, kbig_copy));
        cacheness_string_free(report);
        cacheness_bytes data = {NULL, 0};
        bool found = false;
        e = cacheness_cache_get(c, kbig_copy, &data, &found);
        if (e) {
            CHECK_INT(cacheness_error_code(e), CACHENESS_CORRUPT);
            cacheness_error_free(e);
        } else {
            CHECK(!found);
        }
        cacheness_cache_close(c);
    }
    free(big);
}

const t_case basic_tests[] = {
    {"version", test_version},
    {"null_handles_are_safe", test_null_handles_are_safe},
    {"panic_becomes_error", test_panic_becomes_error},
    {"error_message_is_useful", test_error_message_is_useful},
    {"key_vectors", test_key_vectors},
    {"selector_forms", test_selector_forms},
    {"open_rejects_bad_config", test_open_rejects_bad_config},
    {"open_accepts_every_documented_name", test_open_accepts_every_documented_name},
    {"open_creates_missing_dir", test_open_creates_missing_dir},
    {"backends", test_backends},
    {"reopen_keeps_entries", test_reopen_keeps_entries},
    {"two_handles_one_dir", test_two_handles_one_dir},
    {"namespaces_are_isolated", test_namespaces_are_isolated},
    {"one_handle_many_threads", test_one_handle_many_threads},
    {"two_processes_one_dir", test_two_processes_one_dir},
    {"too_large", test_too_large},
    {"inline_threshold", test_inline_threshold},
    {"lru_eviction", test_lru_eviction},
    {"signing", test_signing},
    {NULL, NULL},
};
