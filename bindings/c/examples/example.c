/* cacheness from C: a short tour, and the fixture other bindings read.
 *
 *     example [DIR]
 *
 * Opens a SQLite+files cache in DIR (default: a fresh directory under /tmp, kept afterwards)
 * and leaves two entries in it, both without TTL and with metadata {"writer":"c-example"}:
 *   {"example":"greeting"} -> "hello, cacheness" (16 bytes, data_type "text")
 *   {"example":"big"}      -> 100000 bytes, byte i = i % 251 (stored as a file)
 * then exports them to DIR/backup.tar.gz. Each step is printed; any error ends the program
 * with its message and a non-zero status. */
#define _XOPEN_SOURCE 700

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cacheness.h"

#define GREETING_PARAMS "{\"example\":\"greeting\"}"
#define BIG_PARAMS "{\"example\":\"big\"}"
#define GREETING "hello, cacheness"
#define BIG_LEN 100000

static _Noreturn void fail(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    fputs("example: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    exit(1);
}

/* Every call goes through here: an error ends the program with its code and message. */
static void check(const char *step, cacheness_error *e) {
    if (!e) return;
    static const char *const names[] = {"OK", "NOT_FOUND", "INVALID_ARGUMENT", "EXISTS",
        "CONFLICT", "CORRUPT", "IO", "BACKEND", "BUSY", "TOO_LARGE", "PANIC"};
    cacheness_code code = cacheness_error_code(e);
    const char *name = (unsigned)code < sizeof names / sizeof names[0] ? names[code] : "?";
    fprintf(stderr, "example: %s failed: %s: %s\n", step, name, cacheness_error_message(e));
    cacheness_error_free(e);
    exit(1);
}

/* `text` as the inside of a JSON string (quotes, backslashes and control characters escaped). */
static char *json_escape(const char *text) {
    char *out = malloc(strlen(text) * 6 + 1), *o = out;
    if (!out) fail("out of memory");
    for (const unsigned char *p = (const unsigned char *)text; *p; p++) {
        if (*p == '"' || *p == '\\') {
            *o++ = '\\';
            *o++ = (char)*p;
        } else if (*p < 0x20) {
            o += sprintf(o, "\\u%04x", *p);
        } else {
            *o++ = (char)*p;
        }
    }
    *o = '\0';
    return out;
}

/* The text right after `"name":` in a JSON document (whitespace skipped), or NULL. */
static const char *member(const char *json, const char *name) {
    char pattern[64];
    snprintf(pattern, sizeof pattern, "\"%s\"", name);
    const char *p = strstr(json, pattern);
    if (!p) return NULL;
    p += strlen(pattern);
    while (*p == ' ' || *p == ':' || *p == '\n' || *p == '\t' || *p == '\r') p++;
    return p;
}

static size_t count(const char *text, const char *what) {
    size_t n = 0;
    for (const char *p = strstr(text, what); p; p = strstr(p + 1, what)) n++;
    return n;
}

int main(int argc, char **argv) {
    if (argc > 2) {
        fprintf(stderr, "usage: %s [DIR]\n", argv[0]);
        return 2;
    }
    char tmp[] = "/tmp/cacheness-example-XXXXXX";
    const char *dir = argc == 2 ? argv[1] : mkdtemp(tmp);
    if (!dir) fail("mkdtemp: cannot create a directory under /tmp");
    printf("cacheness %s, cache in %s\n", cacheness_version(), dir);

    char *escaped = json_escape(dir);
    char *config = malloc(strlen(escaped) + 16);
    if (!config) fail("out of memory");
    sprintf(config, "{\"dir\":\"%s\"}", escaped);
    cacheness_cache *cache = NULL;
    check("open", cacheness_cache_open(config, &cache));
    printf("open %s\n", config);
    free(config);

    char *key = NULL;
    check("put greeting", cacheness_cache_put(cache, GREETING_PARAMS, (const uint8_t *)GREETING,
        strlen(GREETING), "{\"data_type\":\"text\",\"metadata\":{\"writer\":\"c-example\"}}", &key));
    printf("put %s -> key %s (%zu bytes)\n", GREETING_PARAMS, key, strlen(GREETING));
    cacheness_string_free(key);

    uint8_t *big = malloc(BIG_LEN);
    if (!big) fail("out of memory");
    for (size_t i = 0; i < BIG_LEN; i++) big[i] = (uint8_t)(i % 251);
    check("put big", cacheness_cache_put(cache, BIG_PARAMS, big, BIG_LEN,
                                         "{\"metadata\":{\"writer\":\"c-example\"}}", &key));
    printf("put %s -> key %s (%d bytes)\n", BIG_PARAMS, key, BIG_LEN);
    cacheness_string_free(key);

    cacheness_bytes data = {NULL, 0};
    bool found = false;
    check("get greeting", cacheness_cache_get(cache, GREETING_PARAMS, &data, &found));
    if (!found) fail("get %s: miss right after put", GREETING_PARAMS);
    if (data.len != strlen(GREETING) || memcmp(data.data, GREETING, data.len) != 0)
        fail("get %s: wrong bytes", GREETING_PARAMS);
    printf("get -> \"%.*s\"\n", (int)data.len, (const char *)data.data);
    cacheness_bytes_free(data);

    check("get big", cacheness_cache_get(cache, BIG_PARAMS, &data, &found));
    if (!found) fail("get %s: miss right after put", BIG_PARAMS);
    if (data.len != BIG_LEN || memcmp(data.data, big, BIG_LEN) != 0)
        fail("get %s: wrong bytes", BIG_PARAMS);
    printf("get %s -> %zu bytes, byte i = i %% 251\n", BIG_PARAMS, data.len);
    cacheness_bytes_free(data);
    free(big);

    /* Restart the TTL, then take it away again: the fixture never expires. */
    check("touch", cacheness_cache_touch(cache, GREETING_PARAMS, "{\"ttl_seconds\":3600}", &found));
    printf("touch ttl=3600s -> %s\n", found ? "found" : "not found");
    if (!found) fail("touch: entry not found");
    check("touch", cacheness_cache_touch(cache, GREETING_PARAMS, "{\"ttl_seconds\":null}", &found));
    printf("touch ttl=never -> %s\n", found ? "found" : "not found");
    if (!found) fail("touch: entry not found");

    char *meta = NULL;
    check("get_metadata", cacheness_cache_get_metadata(cache, GREETING_PARAMS, &meta, &found));
    if (!found) fail("get_metadata: entry not found");
    printf("get_metadata -> %s\n", meta);
    cacheness_string_free(meta);

    char *page = NULL;
    check("list", cacheness_cache_list(cache, NULL, NULL, &page));
    printf("list -> %zu entries\n", count(page, "\"cache_key\""));
    cacheness_string_free(page);

    char *report = NULL;
    check("verify", cacheness_cache_verify(cache, "{\"deep\":true}", &report));
    const char *ok = member(report, "ok"), *checked = member(report, "checked");
    if (!ok || strncmp(ok, "true", 4) != 0) fail("verify found problems: %s", report);
    printf("verify -> ok, %ld checked\n", checked ? strtol(checked, NULL, 10) : -1L);
    cacheness_string_free(report);

    char *path = malloc(strlen(dir) + 32);
    if (!path) fail("out of memory");
    sprintf(path, "%s/backup.tar.gz", dir);
    uint64_t exported = 0;
    check("export", cacheness_cache_export(cache, path, NULL, &exported));
    printf("export -> %s, %llu entries\n", path, (unsigned long long)exported);
    free(path);

    cacheness_cache_close(cache);
    free(escaped);
    printf("done: the cache stays in %s\n", dir);
    return 0;
}
