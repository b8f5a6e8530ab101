/* cacheness_store: named-key blob store. */
#define _XOPEN_SOURCE 700

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "suites.h"

#define HELLO_SHA256 "sha256:2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824"
#define BIG 20000

static size_t blob_files(void) { return t_count_files(t_path("blobs")); }

static void put(cacheness_store *s, const char *key, const void *data, size_t len,
                const char *metadata) {
    OK(cacheness_store_put(s, key, data, len, metadata));
}

static bool get(cacheness_store *s, const char *key, cacheness_bytes *out) {
    bool found = false;
    cacheness_bytes data = {NULL, 0};
    OK(cacheness_store_get(s, key, &data, &found));
    if (!found) CHECK(data.data == NULL && data.len == 0);
    *out = data;
    return found;
}

static void check_data(cacheness_store *s, const char *key, const void *want, size_t len) {
    cacheness_bytes data;
    CHECK(get(s, key, &data));
    bool same = data.len == len && (len == 0 || memcmp(data.data, want, len) == 0);
    cacheness_bytes_free(data);
    if (!same) t_fail(__FILE__, __LINE__, "store data of %s differs", key);
}

static bool exists(cacheness_store *s, const char *key) {
    bool found = false;
    OK(cacheness_store_exists(s, key, &found));
    return found;
}

static char *meta(cacheness_store *s, const char *key) {
    char *m = NULL;
    bool found = false;
    OK(cacheness_store_get_metadata(s, key, &m, &found));
    CHECK(found && m != NULL);
    return m;
}

static void test_store_basic(void) {
    cacheness_store *s = t_store(NULL);
    int64_t before = t_now_ms();
    put(s, "old_models/model_v1", "hello", 5, "{\"owner\":\"me\"}");
    check_data(s, "old_models/model_v1", "hello", 5);
    char *m = meta(s, "old_models/model_v1");
    CHECK_STR(j_str(m, "key"), "old_models/model_v1");
    CHECK_INT(j_int(m, "size"), 5);
    CHECK_STR(j_str(m, "content_hash"), HELLO_SHA256);
    CHECK_INT(j_int(m, "version"), 1);
    CHECK(j_time(m, "created_at") >= before - 5000 && j_time(m, "created_at") <= t_now_ms() + 5000);
    CHECK(j_time(m, "accessed_at") > 0);
    CHECK(j_value(m, "access_count") != NULL);
    CHECK_STR(j_value(m, "metadata"), "{\"owner\":\"me\"}");
    CHECK(j_value(m, "cache_key") == NULL);
    CHECK(j_value(m, "params") == NULL);
    CHECK(j_value(m, "expires_at") == NULL);
    cacheness_string_free(m);

    uint8_t *big = t_data(BIG, 1);
    put(s, "old_models/big", big, BIG, NULL);
    CHECK_INT(blob_files(), 1);
    check_data(s, "old_models/big", big, BIG);
    m = meta(s, "old_models/big");
    CHECK_STR(j_value(m, "metadata"), "{}");
    cacheness_string_free(m);
    CHECK(exists(s, "old_models/big"));
    CHECK(!exists(s, "old_models"));
    CHECK(!exists(s, "old_models/bi"));

    /* replace: new bytes, no leftover file */
    uint8_t *big2 = t_data(BIG + 5, 2);
    put(s, "old_models/big", big2, BIG + 5, "{\"v\":2}");
    CHECK_INT(blob_files(), 1);
    check_data(s, "old_models/big", big2, BIG + 5);
    put(s, "old_models/big", NULL, 0, NULL);
    CHECK_INT(blob_files(), 0);
    check_data(s, "old_models/big", "", 0);

    bool deleted = false;
    OK(cacheness_store_delete(s, "old_models/model_v1", &deleted));
    CHECK(deleted);
    CHECK(!exists(s, "old_models/model_v1"));
    OK(cacheness_store_delete(s, "old_models/model_v1", &deleted));
    CHECK(!deleted);

    /* reopen: what is there stays */
    t_store_close(s);
    s = t_store(NULL);
    CHECK(exists(s, "old_models/big"));
    CHECK(!exists(s, "old_models/model_v1"));
    free(big);
    free(big2);
}

static void test_store_miss(void) {
    cacheness_store *s = t_store(NULL);
    cacheness_bytes data;
    PRESET(data);
    bool found = true;
    OK(cacheness_store_get(s, "no/such", &data, &found));
    CHECK(!found);
    CHECK(data.data == NULL && data.len == 0);
    char *m;
    PRESET(m);
    found = true;
    OK(cacheness_store_get_metadata(s, "no/such", &m, &found));
    CHECK(!found);
    CHECK(m == NULL);
    found = true;
    OK(cacheness_store_touch(s, "no/such", &found));
    CHECK(!found);
    OK(cacheness_store_update_metadata(s, "no/such", "{\"a\":1}", &found));
    CHECK(!found);
    found = true;
    OK(cacheness_store_update_data(s, "no/such", (const uint8_t *)"x", 1, &found));
    CHECK(!found);
    CHECK(!exists(s, "no/such"));
}

static void test_store_update_metadata(void) {
    cacheness_store *s = t_store(NULL);
    put(s, "m/1", "x", 1, "{\"a\":1,\"b\":{\"c\":1,\"d\":2}}");
    char *m0 = meta(s, "m/1");
    bool found = false;
    OK(cacheness_store_update_metadata(s, "m/1", "{\"a\":null,\"b\":{\"d\":null,\"e\":3},\"f\":true}",
                                       &found));
    CHECK(found);
    char *m1 = meta(s, "m/1");
    const char *md = j_value(m1, "metadata");
    CHECK(!j_has(md, "\"a\":"));
    CHECK(j_has(md, "\"c\":1"));
    CHECK(!j_has(md, "\"d\":"));
    CHECK(j_has(md, "\"e\":3"));
    CHECK(j_has(md, "\"f\":true"));
    CHECK_INT(j_int(m1, "version"), 2);
    CHECK_STR(j_str(m1, "content_hash"), j_str(m0, "content_hash"));
    cacheness_string_free(m0);
    cacheness_string_free(m1);
}

static void test_store_update_data(void) {
    cacheness_store *s = t_store(NULL);
    put(s, "u/1", "hello", 5, "{\"keep\":1}");
    char *m0 = meta(s, "u/1");
    t_next_ms();
    uint8_t *big = t_data(BIG, 3);
    bool found = false;
    OK(cacheness_store_update_data(s, "u/1", big, BIG, &found));
    CHECK(found);
    check_data(s, "u/1", big, BIG);
    CHECK_INT(blob_files(), 1);
    char *m1 = meta(s, "u/1");
    CHECK_INT(j_int(m1, "size"), BIG);
    CHECK_INT(j_int(m1, "version"), 2);
    CHECK(strcmp(j_str(m1, "content_hash"), j_str(m0, "content_hash")) != 0);
    CHECK(j_time(m1, "created_at") > j_time(m0, "created_at"));
    CHECK_STR(j_value(m1, "metadata"), "{\"keep\":1}");
    CHECK_STR(j_str(m1, "key"), "u/1");
    OK(cacheness_store_update_data(s, "u/1", (const uint8_t *)"hello", 5, &found));
    CHECK(found);
    CHECK_INT(blob_files(), 0);
    char *m2 = meta(s, "u/1");
    CHECK_STR(j_str(m2, "content_hash"), HELLO_SHA256);
    CHECK_INT(j_int(m2, "version"), 3);
    cacheness_string_free(m0);
    cacheness_string_free(m1);
    cacheness_string_free(m2);
    free(big);
}

static void test_store_touch(void) {
    cacheness_store *s = t_store(NULL);
    put(s, "t/1", "x", 1, NULL);
    char *m0 = meta(s, "t/1");
    t_next_ms();
    bool found = false;
    OK(cacheness_store_touch(s, "t/1", &found));
    CHECK(found);
    char *m1 = meta(s, "t/1");
    CHECK(j_time(m1, "accessed_at") > j_time(m0, "accessed_at"));
    CHECK_INT(j_int(m1, "version"), 1);
    CHECK_STR(j_str(m1, "created_at"), j_str(m0, "created_at"));
    cacheness_string_free(m0);
    cacheness_string_free(m1);
}

/* Every key of a store listing (with a prefix), paging with limit; checks each appears once. */
#define MANY 250
static int list_all(cacheness_store *s, const char *prefix, const char *order, int limit,
                    char keys[][32], int max) {
    char cursor[1024] = "";
    int seen = 0, pages = 0;
    for (;;) {
        const char *options = cursor[0]
            ? t_fmt("{\"limit\":%d,\"order\":\"%s\",\"cursor\":\"%s\"}", limit, order, cursor)
            : t_fmt("{\"limit\":%d,\"order\":\"%s\"}", limit, order);
        char *page = NULL;
        OK(cacheness_store_list(s, prefix, options, &page));
        CHECK(++pages <= max / limit + 2);
        CHECK(j_has(page, "\"entries\":["));
        int on_page = 0;
        for (const char *p = strstr(page, "\"key\""); p; p = strstr(p + 1, "\"key\"")) {
            const char *q = strchr(p + 5, '"');
            const char *end = q ? strchr(q + 1, '"') : NULL;
            CHECK(end != NULL && seen < max && end - q - 1 < 32);
            snprintf(keys[seen], 32, "%.*s", (int)(end - q - 1), q + 1);
            for (int i = 0; i < seen; i++)
                if (strcmp(keys[i], keys[seen]) == 0)
                    t_fail(__FILE__, __LINE__, "%s listed twice", keys[i]);
            seen++;
            on_page++;
        }
        CHECK(on_page <= limit);
        const char *next = j_value(page, "next_cursor");
        CHECK(next != NULL);
        bool more = strcmp(next, "null") != 0;
        if (more) {
            const char *c = j_str(page, "next_cursor");
            CHECK(c != NULL && strlen(c) < sizeof cursor);
            snprintf(cursor, sizeof cursor, "%s", c);
        }
        cacheness_string_free(page);
        if (!more) break;
    }
    return seen;
}

static int cmp_name(const void *a, const void *b) { return strcmp(a, b); }

static void test_store_list(void) {
    cacheness_store *s = t_store(NULL);
    for (int i = 0; i < MANY; i++) put(s, t_fmt("p/%03d", i), "v", 1, NULL);
    put(s, "q/x", "v", 1, NULL);
    put(s, "pp/y", "v", 1, NULL);
    static char keys[MANY + 10][32], sorted[MANY + 10][32];
    CHECK_INT(list_all(s, "p/", "created_at", 100, keys, MANY + 10), MANY);
    for (int i = 0; i < MANY; i++) CHECK(strncmp(keys[i], "p/", 2) == 0);
    CHECK_INT(list_all(s, "p/", "key", 33, keys, MANY + 10), MANY);
    memcpy(sorted, keys, sizeof keys);
    qsort(sorted, MANY, 32, cmp_name);
    CHECK(memcmp(sorted, keys, (size_t)MANY * 32) == 0);
    CHECK_STR(keys[0], "p/000");
    CHECK_STR(keys[MANY - 1], "p/249");
    CHECK_INT(list_all(s, NULL, "accessed_at", 100, keys, MANY + 10), MANY + 2);
    CHECK_INT(list_all(s, "q/", "key", 100, keys, MANY + 10), 1);
    CHECK_STR(keys[0], "q/x");
    CHECK_INT(list_all(s, "nothing/", "key", 10, keys, MANY + 10), 0);
    char *page = NULL;
    OK(cacheness_store_list(s, "p/0", NULL, &page)); /* a prefix need not end at a segment */
    CHECK_INT(j_count(page, "\"key\":"), 100);
    /* default order: by name */
    const char *p1 = strstr(page, "\"p/000\""), *p2 = strstr(page, "\"p/001\""),
               *p3 = strstr(page, "\"p/099\"");
    CHECK(p1 && p2 && p3 && p1 < p2 && p2 < p3);
    cacheness_string_free(page);
}

static void test_store_delete_by_prefix(void) {
    cacheness_store *s = t_store(NULL);
    uint8_t *big = t_data(BIG, 4);
    put(s, "models/a", "a", 1, NULL);
    put(s, "models/b", big, BIG, NULL);
    put(s, "models/sub/c", "c", 1, NULL);
    put(s, "modelsx/c", "c", 1, NULL);
    put(s, "other/d", "d", 1, NULL);
    uint64_t n = 0;
    OK(cacheness_store_delete_by_prefix(s, "models/", &n));
    CHECK_INT(n, 3);
    CHECK(!exists(s, "models/a") && !exists(s, "models/b") && !exists(s, "models/sub/c"));
    CHECK(exists(s, "modelsx/c") && exists(s, "other/d"));
    CHECK_INT(blob_files(), 0);
    OK(cacheness_store_delete_by_prefix(s, "nothing/", &n));
    CHECK_INT(n, 0);
    free(big);
}

static void test_store_copy_move(void) {
    cacheness_store *s = t_store(NULL);
    uint8_t *big = t_data(BIG, 5);
    put(s, "src/a", big, BIG, "{\"m\":1}");
    bool flag = false;
    OK(cacheness_store_copy(s, "src/a", "dst/a", false, &flag));
    CHECK(flag);
    check_data(s, "src/a", big, BIG);
    check_data(s, "dst/a", big, BIG);
    char *m = meta(s, "dst/a");
    CHECK_STR(j_str(m, "key"), "dst/a");
    CHECK_STR(j_value(m, "metadata"), "{\"m\":1}");
    cacheness_string_free(m);

    put(s, "dst/b", "b", 1, NULL);
    PRESET(flag);
    FAILS(CACHENESS_EXISTS, cacheness_store_copy(s, "src/a", "dst/b", false, &flag));
    FAILS(CACHENESS_EXISTS, cacheness_store_move(s, "src/a", "dst/b", false, &flag));
    CHECK(UNTOUCHED(flag));
    check_data(s, "dst/b", "b", 1);
    check_data(s, "src/a", big, BIG);
    OK(cacheness_store_copy(s, "src/a", "dst/b", true, &flag));
    CHECK(flag);
    check_data(s, "dst/b", big, BIG);

    OK(cacheness_store_move(s, "src/a", "moved/a", false, &flag));
    CHECK(flag);
    CHECK(!exists(s, "src/a"));
    check_data(s, "moved/a", big, BIG);
    put(s, "dst/c", "c", 1, NULL);
    OK(cacheness_store_move(s, "moved/a", "dst/c", true, &flag));
    CHECK(flag);
    CHECK(!exists(s, "moved/a"));
    check_data(s, "dst/c", big, BIG);

    /* onto itself: refused or a no-op, never a loss */
    cacheness_error_free(cacheness_store_copy(s, "dst/c", "dst/c", true, &flag));
    cacheness_error_free(cacheness_store_move(s, "dst/c", "dst/c", true, &flag));
    check_data(s, "dst/c", big, BIG);

    flag = true;
    OK(cacheness_store_copy(s, "no/such", "x/y", false, &flag));
    CHECK(!flag);
    flag = true;
    OK(cacheness_store_move(s, "no/such", "x/y", false, &flag));
    CHECK(!flag);
    CHECK(!exists(s, "x/y"));

    /* copies stand alone */
    bool deleted;
    OK(cacheness_store_delete(s, "dst/a", &deleted));
    OK(cacheness_store_delete(s, "dst/b", &deleted));
    check_data(s, "dst/c", big, BIG);
    OK(cacheness_store_delete(s, "dst/c", &deleted));
    CHECK_INT(blob_files(), 0);
    free(big);
}

static void test_store_clear(void) {
    cacheness_store *s = t_store(NULL);
    uint8_t *big = t_data(BIG, 6);
    put(s, "a/1", big, BIG, NULL);
    put(s, "a/2", "x", 1, NULL);
    t_plant_old_file(t_path("notes.txt"), "keep me");
    uint64_t n = 0;
    OK(cacheness_store_clear(s, &n));
    CHECK_INT(n, 2);
    CHECK_INT(blob_files(), 0);
    CHECK(t_file_exists(t_path("notes.txt")));
    CHECK(!exists(s, "a/1"));
    OK(cacheness_store_clear(s, &n));
    CHECK_INT(n, 0);
    put(s, "a/1", "again", 5, NULL);
    check_data(s, "a/1", "again", 5);
    free(big);
}

static void test_store_unsafe_names(void) {
    cacheness_store *s = t_store(NULL);
    put(s, "ok/name", "x", 1, NULL);
    char too_long[1100];
    memset(too_long, 'a', 1025);
    too_long[1025] = '\0';
    const char *bad[] = {
        "", "../x", "/abs", "a//b", "a/./b", "a/../b", "./a", "a/.", "a/..", ".", "..", "a/",
        "/", "a\001b", "a\nb", "a\tb", "a\x7f" "b", "\x1b[31m", "a\xff", "\xc3\x28", too_long,
    };
    EACH(i, bad) {
        const char *k = bad[i];
        bool flag;
        cacheness_bytes data;
        char *m;
        PRESET(flag); PRESET(data); PRESET(m);
        FAILS_INVALID(cacheness_store_put(s, k, (const uint8_t *)"x", 1, NULL));
        FAILS_INVALID(cacheness_store_get(s, k, &data, &flag));
        FAILS_INVALID(cacheness_store_get_metadata(s, k, &m, &flag));
        FAILS_INVALID(cacheness_store_update_metadata(s, k, "{}", &flag));
        FAILS_INVALID(cacheness_store_update_data(s, k, (const uint8_t *)"x", 1, &flag));
        FAILS_INVALID(cacheness_store_exists(s, k, &flag));
        FAILS_INVALID(cacheness_store_delete(s, k, &flag));
        FAILS_INVALID(cacheness_store_touch(s, k, &flag));
        FAILS_INVALID(cacheness_store_copy(s, "ok/name", k, true, &flag));
        FAILS_INVALID(cacheness_store_copy(s, k, "ok/other", true, &flag));
        FAILS_INVALID(cacheness_store_move(s, "ok/name", k, true, &flag));
        FAILS_INVALID(cacheness_store_move(s, k, "ok/other", true, &flag));
        CHECK(UNTOUCHED(flag));
        CHECK(UNTOUCHED(data));
        CHECK(UNTOUCHED(m));
    }
    char *page = NULL;
    OK(cacheness_store_list(s, NULL, NULL, &page));
    CHECK_INT(j_count(page, "\"key\":"), 1);
    cacheness_string_free(page);
    check_data(s, "ok/name", "x", 1);
    CHECK(!t_file_exists(t_fmt("%s/../x", t_dir)));
    CHECK(!t_file_exists("/abs"));
}

static void test_store_odd_but_valid_names(void) {
    cacheness_store *s = t_store(NULL);
    char longest[1100];
    for (int i = 0; i < 1024; i++) longest[i] = (i % 10 == 9) ? '/' : 'n';
    longest[1024] = '\0';
    const char *good[] = {"plain", "with space/x", "caf\xc3\xa9/\xe6\x97\xa5\xe6\x9c\xac",
                          "..z/...", ".hidden/a", "q\"uote/back\\slash", "a-b_c.d/e:f@g",
                          longest};
    uint8_t *big = t_data(BIG, 7);
    for (size_t i = 0; i < sizeof good / sizeof good[0]; i++) {
        put(s, good[i], big, BIG - i, NULL);
        check_data(s, good[i], big, BIG - i);
    }
    char *page = NULL;
    OK(cacheness_store_list(s, NULL, NULL, &page));
    CHECK_INT(j_count(page, "\"key\":"), sizeof good / sizeof good[0]);
    CHECK(j_has(page, "\"key\":\"q\\\"uote/back\\\\slash\""));
    cacheness_string_free(page);
    char *m = meta(s, "caf\xc3\xa9/\xe6\x97\xa5\xe6\x9c\xac");
    CHECK(strstr(m, "caf\xc3\xa9/\xe6\x97\xa5\xe6\x9c\xac") || strstr(m, "caf\\u00e9"));
    cacheness_string_free(m);
    /* Names never become paths: only the blob tree and the database live in the dir. */
    CHECK(!t_file_exists(t_path("with space")));
    CHECK(!t_file_exists(t_path("..z")));
    CHECK(!t_file_exists(t_path(".hidden")));
    CHECK(!t_file_exists(t_path("plain")));
    CHECK_INT(blob_files(), sizeof good / sizeof good[0]);
    free(big);
}

static void test_store_memory(void) {
    cacheness_store *s = NULL;
    OK(cacheness_store_open("{\"metadata\":\"memory\",\"blobs\":\"memory\"}", &s));
    cacheness_error *e = cacheness_store_put(s, "m/1", (const uint8_t *)"mem", 3, NULL);
    bool found = false;
    cacheness_bytes data = {NULL, 0};
    if (!e) e = cacheness_store_get(s, "m/1", &data, &found);
    uint64_t n = 0;
    bool ok = found && data.len == 3 && memcmp(data.data, "mem", 3) == 0;
    cacheness_bytes_free(data);
    if (!e) e = cacheness_store_clear(s, &n);
    cacheness_store_close(s);
    if (e) t_fail_err(__FILE__, __LINE__, "memory store", e);
    CHECK(ok);
    CHECK_INT(n, 1);
}

const t_case store_tests[] = {
    {"store_basic", test_store_basic},
    {"store_miss", test_store_miss},
    {"store_update_metadata", test_store_update_metadata},
    {"store_update_data", test_store_update_data},
    {"store_touch", test_store_touch},
    {"store_list", test_store_list},
    {"store_delete_by_prefix", test_store_delete_by_prefix},
    {"store_copy_move", test_store_copy_move},
    {"store_clear", test_store_clear},
    {"store_unsafe_names", test_store_unsafe_names},
    {"store_odd_but_valid_names", test_store_odd_but_valid_names},
    {"store_memory", test_store_memory},
    {NULL, NULL},
};
