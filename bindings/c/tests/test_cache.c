/* Single-entry operations, TTL and expiry, replace, copy/move, batches, list paging, stats. */
#define _XOPEN_SOURCE 700

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "suites.h"

#define HELLO_SHA256 "sha256:2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824"
#define BIG 20000 /* > 16 KiB: lives in a file under DIR/blobs */

static size_t blob_files(void) { return t_count_files(t_path("blobs")); }

/* |a - b| <= slack */
static bool near(int64_t a, int64_t b, int64_t slack) {
    return a - b <= slack && b - a <= slack;
}

static void test_put_get_roundtrip(void) {
    cacheness_cache *c = t_cache(NULL);
    char *key = NULL;
    OK(cacheness_cache_put(c, "{\"experiment\":\"exp_001\"}", (const uint8_t *)"hello", 5, NULL,
                           &key));
    CHECK_STR(key, "5034791a8023b8a2b25628bf08d316f060f17e2ca6c1a700463bcbcc39f146c7");
    t_check_data(c, key, "hello", 5);
    t_check_data(c, "{\"experiment\":\"exp_001\"}", "hello", 5);
    cacheness_string_free(key);

    /* key_out may be NULL; binary data with NUL bytes; empty data. */
    const uint8_t bin[] = {0, 1, 0, 255, 0};
    OK(cacheness_cache_put(c, "{\"bin\":1}", bin, sizeof bin, NULL, NULL));
    t_check_data(c, "{\"bin\":1}", bin, sizeof bin);
    OK(cacheness_cache_put(c, "{\"empty\":1}", NULL, 0, NULL, NULL));
    cacheness_bytes data;
    CHECK(t_get(c, "{\"empty\":1}", &data));
    CHECK_INT(data.len, 0);
    cacheness_bytes_free(data);
    OK(cacheness_cache_put(c, "{\"empty\":2}", (const uint8_t *)"", 0, NULL, NULL));
    CHECK(t_exists(c, "{\"empty\":2}"));

    uint8_t *big = t_data(BIG, 1);
    const char *kbig = t_put(c, "{\"big\":1}", big, BIG, NULL);
    CHECK_INT(blob_files(), 1);
    t_check_data(c, kbig, big, BIG);
    free(big);
}

static void test_get_miss(void) {
    cacheness_cache *c = t_cache(NULL);
    t_put_str(c, "{\"there\":1}", "x", NULL);
    cacheness_bytes data;
    PRESET(data);
    bool found = true;
    OK(cacheness_cache_get(c, "{\"missing\":1}", &data, &found));
    CHECK(!found);
    CHECK(data.data == NULL && data.len == 0);
    OK(cacheness_cache_get(c, t_key("{\"missing\":2}"), &data, &found));
    CHECK(!found);

    char *meta;
    PRESET(meta);
    PRESET(data);
    found = true;
    OK(cacheness_cache_get_with_metadata(c, "{\"missing\":1}", &data, &meta, &found));
    CHECK(!found);
    CHECK(data.data == NULL && data.len == 0);
    CHECK(meta == NULL);
    PRESET(meta);
    found = true;
    OK(cacheness_cache_get_metadata(c, "{\"missing\":1}", &meta, &found));
    CHECK(!found);
    CHECK(meta == NULL);
    CHECK(!t_exists(c, "{\"missing\":1}"));
}

static void test_metadata_shape(void) {
    cacheness_cache *c = t_cache(NULL);
    int64_t before = t_now_ms();
    char key[65];
    snprintf(key, sizeof key, "%s", t_put_str(c, "{\"experiment\":\"exp_001\"}", "hello",
        "{\"data_type\":\"text\",\"description\":\"a greeting\",\"metadata\":{\"project\":\"ml\"}}"));
    char *m = t_meta(c, key);
    CHECK_STR(j_str(m, "cache_key"), key);
    CHECK_STR(j_value(m, "params"), "{\"experiment\":\"exp_001\"}");
    CHECK_STR(j_str(m, "data_type"), "text");
    CHECK_STR(j_str(m, "description"), "a greeting");
    CHECK_INT(j_int(m, "size"), 5);
    CHECK_STR(j_str(m, "content_hash"), HELLO_SHA256);
    CHECK_INT(j_int(m, "version"), 1);
    CHECK(near(j_time(m, "created_at"), before, 5000));
    CHECK(j_time(m, "accessed_at") >= j_time(m, "created_at"));
    CHECK_INT(j_int(m, "access_count"), 0);
    CHECK_INT(j_time(m, "expires_at"), -1);
    CHECK_STR(j_value(m, "metadata"), "{\"project\":\"ml\"}");
    CHECK(!j_has(m, "\"key\":")); /* that is the store's shape */
    cacheness_string_free(m);

    /* Defaults: data_type "bytes", empty description, empty metadata. */
    t_put_str(c, "{\"plain\":1}", "x", NULL);
    m = t_meta(c, "{\"plain\":1}");
    CHECK_STR(j_str(m, "data_type"), "bytes");
    CHECK_STR(j_str(m, "description"), "");
    CHECK_STR(j_value(m, "metadata"), "{}");
    cacheness_string_free(m);

    /* get_with_metadata: the same document, and the data. */
    cacheness_bytes data = {NULL, 0};
    char *meta = NULL;
    bool found = false;
    OK(cacheness_cache_get_with_metadata(c, key, &data, &meta, &found));
    CHECK(found);
    CHECK(data.len == 5 && memcmp(data.data, "hello", 5) == 0);
    CHECK_STR(j_str(meta, "cache_key"), key);
    CHECK_STR(j_str(meta, "content_hash"), HELLO_SHA256);
    CHECK_STR(j_value(meta, "metadata"), "{\"project\":\"ml\"}");
    cacheness_bytes_free(data);
    cacheness_string_free(meta);
}

static void test_params_are_canonical_in_metadata(void) {
    cacheness_cache *c = t_cache(NULL);
    t_put_str(c, "{ \"b\" : [1, 2.50, {\"z\":1,\"a\":2}], \"a\" : \"\\u00e9\" }", "x", NULL);
    char *m = t_meta(c, "{\"a\":\"\xc3\xa9\",\"b\":[1,2.5,{\"a\":2,\"z\":1}]}");
    /* The params shown are the same object: they give the same key. */
    const char *params = j_value(m, "params");
    CHECK(params != NULL && params[0] == '{');
    char copy[256];
    snprintf(copy, sizeof copy, "%s", params);
    CHECK_STR(t_key(copy), j_str(m, "cache_key"));
    cacheness_string_free(m);
}

static void test_access_counting(void) {
    cacheness_cache *c = t_cache(NULL);
    t_put_str(c, "{\"a\":1}", "x", NULL);
    CHECK(t_exists(c, "{\"a\":1}")); /* exists counts no access */
    char *m0 = t_meta(c, "{\"a\":1}");
    CHECK_INT(j_int(m0, "access_count"), 0);
    t_next_ms();
    cacheness_bytes d;
    for (int i = 0; i < 2; i++) {
        CHECK(t_get(c, "{\"a\":1}", &d));
        cacheness_bytes_free(d);
    }
    char *m = t_meta(c, "{\"a\":1}");
    CHECK_INT(j_int(m, "access_count"), 2);
    CHECK(j_time(m, "accessed_at") > j_time(m0, "accessed_at"));
    CHECK_INT(j_int(m, "version"), 1); /* reads leave the version alone */
    cacheness_string_free(m0);
    cacheness_string_free(m);
}

static void test_exists_and_delete(void) {
    cacheness_cache *c = t_cache(NULL);
    uint8_t *big = t_data(BIG, 2);
    const char *key = t_put(c, "{\"d\":1}", big, BIG, NULL);
    CHECK(t_exists(c, key));
    CHECK(t_exists(c, "{\"d\":1}"));
    bool deleted = false;
    OK(cacheness_cache_delete(c, "{\"d\":1}", &deleted));
    CHECK(deleted);
    CHECK(!t_exists(c, key));
    CHECK_INT(blob_files(), 0);
    deleted = true;
    OK(cacheness_cache_delete(c, "{\"d\":1}", &deleted));
    CHECK(!deleted);
    free(big);
}

static void test_touch(void) {
    cacheness_cache *c = t_cache(NULL);
    bool found = true;
    OK(cacheness_cache_touch(c, "{\"t\":\"missing\"}", "{\"ttl_seconds\":3600}", &found));
    CHECK(!found);
    CHECK(!t_exists(c, "{\"t\":\"missing\"}"));

    t_put_str(c, "{\"t\":1}", "data", "{\"metadata\":{\"k\":1}}");
    char *m0 = t_meta(c, "{\"t\":1}");
    t_next_ms();
    found = false;
    OK(cacheness_cache_touch(c, "{\"t\":1}", "{\"ttl_seconds\":3600}", &found));
    CHECK(found);
    char *m1 = t_meta(c, "{\"t\":1}");
    CHECK(near(j_time(m1, "expires_at"), t_now_ms() + 3600 * 1000LL, 10000));
    CHECK_INT(j_time(m1, "created_at"), j_time(m0, "created_at"));
    CHECK_INT(j_int(m1, "version"), j_int(m0, "version"));
    CHECK_STR(j_str(m1, "content_hash"), j_str(m0, "content_hash"));
    t_check_data(c, "{\"t\":1}", "data", 4);

    /* ttl_seconds null: never expires. NULL options: the cache default (never, here). */
    OK(cacheness_cache_touch(c, "{\"t\":1}", "{\"ttl_seconds\":null}", &found));
    CHECK(found);
    char *m2 = t_meta(c, "{\"t\":1}");
    CHECK_INT(j_time(m2, "expires_at"), -1);
    OK(cacheness_cache_touch(c, "{\"t\":1}", "{\"ttl_seconds\":60}", &found));
    OK(cacheness_cache_touch(c, "{\"t\":1}", NULL, &found));
    CHECK(found);
    char *m3 = t_meta(c, "{\"t\":1}");
    CHECK_INT(j_time(m3, "expires_at"), -1);
    cacheness_string_free(m0);
    cacheness_string_free(m1);
    cacheness_string_free(m2);
    cacheness_string_free(m3);
}

static void test_ttl_defaults(void) {
    cacheness_cache *c = t_cache("\"default_ttl_seconds\":100");
    t_put_str(c, "{\"ttl\":\"default\"}", "x", NULL);
    t_put_str(c, "{\"ttl\":\"never\"}", "x", "{\"ttl_seconds\":null}");
    t_put_str(c, "{\"ttl\":\"own\"}", "x", "{\"ttl_seconds\":5000}");
    int64_t now = t_now_ms();
    char *m = t_meta(c, "{\"ttl\":\"default\"}");
    CHECK(near(j_time(m, "expires_at"), now + 100000, 10000));
    cacheness_string_free(m);
    m = t_meta(c, "{\"ttl\":\"never\"}");
    CHECK_INT(j_time(m, "expires_at"), -1);
    cacheness_string_free(m);
    m = t_meta(c, "{\"ttl\":\"own\"}");
    CHECK(near(j_time(m, "expires_at"), now + 5000000, 10000));
    cacheness_string_free(m);
    /* touch with NULL options restarts the default TTL */
    bool found = false;
    OK(cacheness_cache_touch(c, "{\"ttl\":\"never\"}", NULL, &found));
    CHECK(found);
    m = t_meta(c, "{\"ttl\":\"never\"}");
    CHECK(near(j_time(m, "expires_at"), t_now_ms() + 100000, 10000));
    cacheness_string_free(m);
}

static void test_update_data(void) {
    cacheness_cache *c = t_cache(NULL);
    const char *key = t_put_str(c, "{\"u\":1}", "hello",
        "{\"data_type\":\"text\",\"metadata\":{\"k\":\"v\"},\"ttl_seconds\":3600}");
    char key_copy[65];
    snprintf(key_copy, sizeof key_copy, "%s", key);
    char *m0 = t_meta(c, key_copy);
    t_next_ms();

    uint8_t *big = t_data(BIG, 3);
    bool updated = false;
    OK(cacheness_cache_update_data(c, key_copy, big, BIG, "{\"ttl_seconds\":7200}", &updated));
    CHECK(updated);
    t_check_data(c, key_copy, big, BIG);
    CHECK_INT(blob_files(), 1);
    char *m1 = t_meta(c, "{\"u\":1}");
    CHECK_STR(j_str(m1, "cache_key"), key_copy);
    CHECK_STR(j_value(m1, "params"), "{\"u\":1}");
    CHECK_INT(j_int(m1, "size"), BIG);
    CHECK(strcmp(j_str(m1, "content_hash"), j_str(m0, "content_hash")) != 0);
    CHECK(j_time(m1, "created_at") > j_time(m0, "created_at"));
    CHECK_INT(j_int(m1, "version"), j_int(m0, "version") + 1);
    CHECK(j_time(m1, "expires_at") > j_time(m0, "expires_at")); /* the TTL restarted */
    CHECK_STR(j_value(m1, "metadata"), "{\"k\":\"v\"}");
    CHECK_STR(j_str(m1, "data_type"), "text");

    /* Back to a small value: the blob file goes; data_type can change. */
    OK(cacheness_cache_update_data(c, "{\"u\":1}", (const uint8_t *)"bye", 3,
                                   "{\"data_type\":\"bytes\"}", &updated));
    CHECK(updated);
    CHECK_INT(blob_files(), 0);
    t_check_data(c, key_copy, "bye", 3);
    char *m2 = t_meta(c, key_copy);
    CHECK_INT(j_int(m2, "version"), j_int(m0, "version") + 2);
    CHECK_STR(j_str(m2, "data_type"), "bytes");
    CHECK_INT(j_int(m2, "size"), 3);
    cacheness_string_free(m0);
    cacheness_string_free(m1);
    cacheness_string_free(m2);
    free(big);
}

static void test_update_data_missing(void) {
    cacheness_cache *c = t_cache(NULL);
    bool updated = true;
    OK(cacheness_cache_update_data(c, "{\"u\":\"missing\"}", (const uint8_t *)"x", 1, NULL,
                                   &updated));
    CHECK(!updated);
    CHECK(!t_exists(c, "{\"u\":\"missing\"}"));
    updated = true;
    OK(cacheness_cache_update_data(c, t_key("{\"u\":\"missing\"}"), (const uint8_t *)"x", 1,
                                   "{\"expected_version\":1}", &updated));
    CHECK(!updated);
    CHECK(!t_exists(c, "{\"u\":\"missing\"}"));
}

static void test_expected_version(void) {
    cacheness_cache *c = t_cache(NULL);
    t_put_str(c, "{\"v\":1}", "one", NULL);
    char *m0 = t_meta(c, "{\"v\":1}");
    CHECK_INT(j_int(m0, "version"), 1);
    bool updated;
    PRESET(updated);
    FAILS(CACHENESS_CONFLICT, cacheness_cache_update_data(c, "{\"v\":1}", (const uint8_t *)"two",
                                                          3, "{\"expected_version\":2}", &updated));
    CHECK(UNTOUCHED(updated));
    t_check_data(c, "{\"v\":1}", "one", 3);
    char *m1 = t_meta(c, "{\"v\":1}");
    CHECK_INT(j_int(m1, "version"), 1);
    CHECK_STR(j_str(m1, "content_hash"), j_str(m0, "content_hash"));
    CHECK_STR(j_str(m1, "created_at"), j_str(m0, "created_at"));

    OK(cacheness_cache_update_data(c, "{\"v\":1}", (const uint8_t *)"two", 3,
                                   "{\"expected_version\":1}", &updated));
    CHECK(updated);
    t_check_data(c, "{\"v\":1}", "two", 3);
    /* The old token is stale now. */
    FAILS(CACHENESS_CONFLICT, cacheness_cache_update_data(c, "{\"v\":1}", (const uint8_t *)"3",
                                                          1, "{\"expected_version\":1}", &updated));
    t_check_data(c, "{\"v\":1}", "two", 3);
    cacheness_string_free(m0);
    cacheness_string_free(m1);
}

static void test_update_metadata(void) {
    cacheness_cache *c = t_cache(NULL);
    t_put_str(c, "{\"m\":1}", "x", "{\"metadata\":{\"a\":1,\"b\":2,\"n\":{\"x\":1,\"y\":2}}}");
    char *m0 = t_meta(c, "{\"m\":1}");
    bool found = false;
    OK(cacheness_cache_update_metadata(c, "{\"m\":1}",
                                       "{\"b\":null,\"c\":3,\"n\":{\"y\":null,\"z\":[1]}}", &found));
    CHECK(found);
    char *m1 = t_meta(c, "{\"m\":1}");
    const char *md = j_value(m1, "metadata");
    CHECK(j_has(md, "\"a\":1"));
    CHECK(!j_has(md, "\"b\":"));
    CHECK(j_has(md, "\"c\":3"));
    CHECK(j_has(md, "\"x\":1"));
    CHECK(!j_has(md, "\"y\":"));
    CHECK(j_has(md, "\"z\":[1]"));
    CHECK_INT(j_int(m1, "version"), 2);
    CHECK_STR(j_str(m1, "created_at"), j_str(m0, "created_at"));
    CHECK_STR(j_str(m1, "content_hash"), j_str(m0, "content_hash"));
    OK(cacheness_cache_update_metadata(c, "{\"m\":1}", "{}", &found)); /* no-op patch */
    CHECK(found);
    found = true;
    OK(cacheness_cache_update_metadata(c, "{\"m\":\"missing\"}", "{\"a\":1}", &found));
    CHECK(!found);
    CHECK(!t_exists(c, "{\"m\":\"missing\"}"));
    cacheness_string_free(m0);
    cacheness_string_free(m1);
}

/* Poll exists() with short sleeps until the entry is gone (hard deadline 5 s). */
static void wait_until_expired(cacheness_cache *c, const char *selector) {
    int64_t deadline = t_now_ms() + 5000;
    while (t_exists(c, selector)) {
        if (t_now_ms() > deadline) t_fail(__FILE__, __LINE__, "%s did not expire in 5 s", selector);
        t_sleep_ms(20);
    }
}

static void test_expiry_and_cleanup(void) {
    cacheness_cache *c = t_cache(NULL);
    uint8_t *big = t_data(BIG, 4);
    t_put(c, "{\"e\":\"first\"}", big, BIG, "{\"ttl_seconds\":1}");
    t_put(c, "{\"e\":\"second\"}", big, BIG, "{\"ttl_seconds\":1}");
    t_put(c, "{\"e\":\"keeper\"}", big, BIG, NULL);
    CHECK(t_exists(c, "{\"e\":\"second\"}"));
    CHECK_INT(blob_files(), 3);

    wait_until_expired(c, "{\"e\":\"second\"}");
    /* An expired entry is a miss for every read. */
    cacheness_bytes data;
    CHECK(!t_get(c, "{\"e\":\"second\"}", &data));
    CHECK(!t_exists(c, "{\"e\":\"first\"}")); /* put earlier with the same TTL */
    bool found = true;
    char *meta = NULL;
    OK(cacheness_cache_get_metadata(c, "{\"e\":\"first\"}", &meta, &found));
    CHECK(!found);
    OK(cacheness_cache_touch(c, "{\"e\":\"first\"}", "{\"ttl_seconds\":3600}", &found));
    CHECK(!found); /* touch never revives an expired entry */
    char *page = NULL;
    OK(cacheness_cache_list(c, NULL, NULL, &page));
    CHECK_INT(j_count(page, "\"cache_key\":"), 1);
    cacheness_string_free(page);

    uint64_t n = 0;
    OK(cacheness_cache_cleanup_expired(c, &n));
    CHECK(n >= 1 && n <= 2); /* a read may already have dropped one of them */
    CHECK_INT(blob_files(), 1);
    t_check_data(c, "{\"e\":\"keeper\"}", big, BIG);
    OK(cacheness_cache_cleanup_expired(c, &n));
    CHECK_INT(n, 0);
    OK(cacheness_cache_list(c, "{\"include_expired\":true}", NULL, &page));
    CHECK_INT(j_count(page, "\"cache_key\":"), 1);
    cacheness_string_free(page);
    char *stats = NULL;
    OK(cacheness_cache_stats(c, &stats));
    CHECK(j_int(stats, "expired_removed") >= 1);
    CHECK_INT(j_int(stats, "entries"), 1);
    cacheness_string_free(stats);
    free(big);
}

static void test_put_replaces(void) {
    cacheness_cache *c = t_cache(NULL);
    uint8_t *a = t_data(BIG, 5), *b = t_data(BIG + 100, 6);
    t_put(c, "{\"r\":1}", a, BIG, "{\"metadata\":{\"old\":true},\"ttl_seconds\":3600}");
    t_put(c, "{\"r\":1}", b, BIG + 100, "{\"metadata\":{\"new\":true}}");
    CHECK_INT(blob_files(), 1);
    t_check_data(c, "{\"r\":1}", b, BIG + 100);
    char *m = t_meta(c, "{\"r\":1}");
    CHECK_STR(j_value(m, "metadata"), "{\"new\":true}");
    CHECK_INT(j_int(m, "size"), BIG + 100);
    CHECK_INT(j_time(m, "expires_at"), -1);
    cacheness_string_free(m);
    t_put(c, "{\"r\":1}", a, BIG, NULL); /* same bytes as before the first replace */
    CHECK_INT(blob_files(), 1);
    t_check_data(c, "{\"r\":1}", a, BIG);
    t_put_str(c, "{\"r\":1}", "small now", NULL);
    CHECK_INT(blob_files(), 0);
    t_check_data(c, "{\"r\":1}", "small now", 9);
    t_put(c, "{\"r\":1}", b, BIG + 100, NULL);
    CHECK_INT(blob_files(), 1);
    char *stats = NULL;
    OK(cacheness_cache_stats(c, &stats));
    CHECK_INT(j_int(stats, "entries"), 1);
    CHECK_INT(j_int(stats, "total_size"), BIG + 100);
    cacheness_string_free(stats);
    free(a);
    free(b);
}

struct replacer {
    cacheness_cache *c;
    const uint8_t *a, *b;
    int errors;       /* written by the replacing thread only */
    atomic_int done;
};

static void *replace_loop(void *arg) {
    struct replacer *r = arg;
    for (int i = 0; i < 40; i++) {
        cacheness_error *e = cacheness_cache_put(r->c, "{\"atomic\":1}", i % 2 ? r->a : r->b,
                                                 BIG, NULL, NULL);
        if (e) r->errors++;
        cacheness_error_free(e);
    }
    r->done = 1;
    return NULL;
}

static void test_put_is_atomic_for_readers(void) {
    cacheness_cache *c = t_cache(NULL);
    uint8_t *a = t_data(BIG, 7), *b = t_data(BIG, 8);
    t_put(c, "{\"atomic\":1}", a, BIG, NULL);
    struct replacer r = {c, a, b, 0, 0};
    pthread_t th;
    CHECK(pthread_create(&th, NULL, replace_loop, &r) == 0);
    int reads = 0, errors = 0, misses = 0, wrong = 0;
    char first_error[256] = "";
    while (!atomic_load(&r.done) || reads < 20) {
        cacheness_bytes d = {NULL, 0};
        bool found = false;
        cacheness_error *e = cacheness_cache_get(c, "{\"atomic\":1}", &d, &found);
        if (e && !errors++)
            snprintf(first_error, sizeof first_error, "%s", cacheness_error_message(e));
        else if (!e && !found)
            misses++;
        else if (!e && (d.len != BIG || (memcmp(d.data, a, BIG) && memcmp(d.data, b, BIG))))
            wrong++;
        cacheness_error_free(e);
        cacheness_bytes_free(d);
        reads++;
    }
    pthread_join(th, NULL);
    CHECK_INT(r.errors, 0);
    if (errors || misses || wrong)
        t_fail(__FILE__, __LINE__, "%d reads during replaces: %d errors (first: %s), %d misses, "
               "%d wrong data", reads, errors, first_error, misses, wrong);
    CHECK_INT(blob_files(), 1);
    free(a);
    free(b);
}

static void test_copy(void) {
    cacheness_cache *c = t_cache(NULL);
    uint8_t *big = t_data(BIG, 9);
    t_put(c, "{\"src\":1}", big, BIG,
          "{\"data_type\":\"model\",\"metadata\":{\"a\":1,\"b\":2},\"ttl_seconds\":3600}");
    char *ms = t_meta(c, "{\"src\":1}");
    bool copied = false;
    OK(cacheness_cache_copy(c, "{\"src\":1}", "{\"dst\":1}", "{\"metadata\":{\"b\":null,\"c\":3}}",
                            &copied));
    CHECK(copied);
    t_check_data(c, "{\"dst\":1}", big, BIG);
    t_check_data(c, "{\"src\":1}", big, BIG);
    char *md = t_meta(c, "{\"dst\":1}");
    CHECK_STR(j_str(md, "cache_key"), t_key("{\"dst\":1}"));
    CHECK_STR(j_value(md, "params"), "{\"dst\":1}");
    CHECK_STR(j_str(md, "data_type"), "model");
    CHECK_STR(j_str(md, "expires_at"), j_str(ms, "expires_at"));
    CHECK_STR(j_str(md, "content_hash"), j_str(ms, "content_hash"));
    CHECK(j_has(j_value(md, "metadata"), "\"a\":1"));
    CHECK(j_has(j_value(md, "metadata"), "\"c\":3"));
    CHECK(!j_has(j_value(md, "metadata"), "\"b\":"));
    char *ms2 = t_meta(c, "{\"src\":1}");
    CHECK_STR(j_value(ms2, "metadata"), j_value(ms, "metadata")); /* source untouched */

    /* An existing destination without overwrite: EXISTS, and nothing changes. */
    t_put_str(c, "{\"other\":1}", "other", NULL);
    PRESET(copied);
    FAILS(CACHENESS_EXISTS, cacheness_cache_copy(c, "{\"src\":1}", "{\"other\":1}", NULL, &copied));
    FAILS(CACHENESS_EXISTS, cacheness_cache_copy(c, "{\"src\":1}", "{\"other\":1}",
                                                 "{\"overwrite\":false}", &copied));
    CHECK(UNTOUCHED(copied));
    t_check_data(c, "{\"other\":1}", "other", 5);
    OK(cacheness_cache_copy(c, "{\"src\":1}", "{\"other\":1}", "{\"overwrite\":true}", &copied));
    CHECK(copied);
    t_check_data(c, "{\"other\":1}", big, BIG);

    /* Onto itself, even with overwrite: refused or a no-op, never a loss. */
    cacheness_error_free(cacheness_cache_copy(c, "{\"src\":1}", "{\"src\":1}",
                                              "{\"overwrite\":true}", &copied));
    cacheness_error_free(cacheness_cache_move(c, "{\"src\":1}", "{\"src\":1}",
                                              "{\"overwrite\":true}", &copied));
    t_check_data(c, "{\"src\":1}", big, BIG);

    /* Missing source: false, nothing created. */
    copied = true;
    OK(cacheness_cache_copy(c, "{\"nope\":1}", "{\"dst\":2}", NULL, &copied));
    CHECK(!copied);
    CHECK(!t_exists(c, "{\"dst\":2}"));

    /* The copies do not depend on the source's file. */
    bool deleted = false;
    OK(cacheness_cache_delete(c, "{\"src\":1}", &deleted));
    CHECK(deleted);
    t_check_data(c, "{\"dst\":1}", big, BIG);
    t_check_data(c, "{\"other\":1}", big, BIG);
    char *report = NULL;
    OK(cacheness_cache_verify(c, "{\"deep\":true}", &report));
    CHECK(j_has(report, "\"ok\":true"));
    cacheness_string_free(report);
    OK(cacheness_cache_delete(c, "{\"dst\":1}", &deleted));
    OK(cacheness_cache_delete(c, "{\"other\":1}", &deleted));
    CHECK_INT(blob_files(), 0);
    cacheness_string_free(ms);
    cacheness_string_free(ms2);
    cacheness_string_free(md);
    free(big);
}

static void test_move(void) {
    cacheness_cache *c = t_cache(NULL);
    uint8_t *big = t_data(BIG, 10);
    t_put(c, "{\"src\":1}", big, BIG, "{\"metadata\":{\"a\":1}}");
    bool moved = false;
    OK(cacheness_cache_move(c, "{\"src\":1}", "{\"dst\":1}", "{\"metadata\":{\"moved\":true}}",
                            &moved));
    CHECK(moved);
    CHECK(!t_exists(c, "{\"src\":1}"));
    t_check_data(c, "{\"dst\":1}", big, BIG);
    CHECK_INT(blob_files(), 1);
    char *m = t_meta(c, "{\"dst\":1}");
    CHECK_STR(j_str(m, "cache_key"), t_key("{\"dst\":1}"));
    CHECK(j_has(j_value(m, "metadata"), "\"a\":1"));
    CHECK(j_has(j_value(m, "metadata"), "\"moved\":true"));
    cacheness_string_free(m);

    t_put_str(c, "{\"other\":1}", "other", NULL);
    PRESET(moved);
    FAILS(CACHENESS_EXISTS, cacheness_cache_move(c, "{\"dst\":1}", "{\"other\":1}", NULL, &moved));
    CHECK(UNTOUCHED(moved));
    t_check_data(c, "{\"dst\":1}", big, BIG);
    t_check_data(c, "{\"other\":1}", "other", 5);
    OK(cacheness_cache_move(c, "{\"dst\":1}", "{\"other\":1}", "{\"overwrite\":true}", &moved));
    CHECK(moved);
    CHECK(!t_exists(c, "{\"dst\":1}"));
    t_check_data(c, "{\"other\":1}", big, BIG);
    CHECK_INT(blob_files(), 1);

    moved = true;
    OK(cacheness_cache_move(c, "{\"nope\":1}", "{\"dst\":2}", NULL, &moved));
    CHECK(!moved);
    CHECK(!t_exists(c, "{\"dst\":2}"));
    char *stats = NULL;
    OK(cacheness_cache_stats(c, &stats));
    CHECK_INT(j_int(stats, "entries"), 1);
    cacheness_string_free(stats);
    free(big);
}

static void test_get_batch(void) {
    cacheness_cache *c = t_cache(NULL);
    uint8_t *big = t_data(BIG, 11);
    const char *k1 = t_put_str(c, "{\"g\":1}", "one", NULL);
    char key1[65];
    snprintf(key1, sizeof key1, "%s", k1);
    t_put(c, "{\"g\":3}", big, BIG, NULL);
    t_put_str(c, "{\"g\":\"expired\"}", "old", "{\"ttl_seconds\":1}");
    cacheness_batch *b = NULL;
    OK(cacheness_cache_get_batch(c, t_fmt("[\"%s\",{\"g\":2},{\"g\":3},\"%s\"]", key1,
                                          t_key("{\"nope\":1}")), &b));
    CHECK(b != NULL);
    CHECK_INT(cacheness_batch_len(b), 4);
    const uint8_t *data = NULL;
    size_t len = 0;
    CHECK(cacheness_batch_get(b, 0, &data, &len));
    CHECK(len == 3 && memcmp(data, "one", 3) == 0);
    CHECK(!cacheness_batch_get(b, 1, &data, &len));
    CHECK(cacheness_batch_get(b, 2, &data, &len));
    CHECK(len == BIG && memcmp(data, big, BIG) == 0);
    CHECK(!cacheness_batch_get(b, 3, &data, &len));
    CHECK(!cacheness_batch_get(b, 4, &data, &len));
    CHECK(!cacheness_batch_get(b, (size_t)-1, &data, &len));
    CHECK_STR(cacheness_batch_key(b, 0), key1);
    CHECK_STR(cacheness_batch_key(b, 1), t_key("{\"g\":2}"));
    CHECK_STR(cacheness_batch_key(b, 2), t_key("{\"g\":3}"));
    CHECK_STR(cacheness_batch_key(b, 3), t_key("{\"nope\":1}"));
    CHECK(cacheness_batch_key(b, 4) == NULL);
    cacheness_batch_free(b);

    /* Empty array: an empty batch. An expired entry: a miss. */
    OK(cacheness_cache_get_batch(c, "[]", &b));
    CHECK_INT(cacheness_batch_len(b), 0);
    CHECK(!cacheness_batch_get(b, 0, &data, &len));
    cacheness_batch_free(b);
    int64_t deadline = t_now_ms() + 5000;
    while (t_exists(c, "{\"g\":\"expired\"}") && t_now_ms() < deadline) t_sleep_ms(20);
    CHECK(!t_exists(c, "{\"g\":\"expired\"}"));
    OK(cacheness_cache_get_batch(c, "[{\"g\":\"expired\"},{\"g\":1}]", &b));
    CHECK_INT(cacheness_batch_len(b), 2);
    CHECK(!cacheness_batch_get(b, 0, &data, &len));
    CHECK(cacheness_batch_get(b, 1, &data, &len));
    cacheness_batch_free(b);
    free(big);
}

static void test_put_batch(void) {
    cacheness_cache *c = t_cache(NULL);
    uint8_t *big = t_data(BIG, 12);
    cacheness_put_item items[] = {
        {"{\"pb\":1}", (const uint8_t *)"one", 3, NULL},
        {"{\"pb\":2}", big, BIG, "{\"data_type\":\"blob\",\"metadata\":{\"i\":2}}"},
        {"{\"pb\":3}", NULL, 0, "{\"ttl_seconds\":3600}"},
    };
    OK(cacheness_cache_put_batch(c, items, 3));
    t_check_data(c, "{\"pb\":1}", "one", 3);
    t_check_data(c, "{\"pb\":2}", big, BIG);
    CHECK(t_exists(c, "{\"pb\":3}"));
    char *m = t_meta(c, "{\"pb\":2}");
    CHECK_STR(j_str(m, "data_type"), "blob");
    CHECK_STR(j_value(m, "metadata"), "{\"i\":2}");
    cacheness_string_free(m);
    m = t_meta(c, "{\"pb\":3}");
    CHECK(j_time(m, "expires_at") > 0);
    cacheness_string_free(m);
    CHECK_INT(blob_files(), 1);
    OK(cacheness_cache_put_batch(c, items, 0));

    /* All or nothing: an invalid item in the middle leaves nothing, not even replacements. */
    cacheness_put_item mixed[] = {
        {"{\"pb\":1}", (const uint8_t *)"changed", 7, NULL},
        {"{\"pb\":10}", big, BIG, NULL},
        {"[\"not an object\"]", (const uint8_t *)"x", 1, NULL},
        {"{\"pb\":11}", (const uint8_t *)"x", 1, NULL},
    };
    FAILS_INVALID(cacheness_cache_put_batch(c, mixed, 4));
    t_check_data(c, "{\"pb\":1}", "one", 3);
    CHECK(!t_exists(c, "{\"pb\":10}"));
    CHECK(!t_exists(c, "{\"pb\":11}"));
    CHECK_INT(blob_files(), 1);
    mixed[2] = (cacheness_put_item){"{\"pb\":12}", (const uint8_t *)"x", 1, "{\"ttl_seconds\":-1}"};
    FAILS_INVALID(cacheness_cache_put_batch(c, mixed, 4));
    CHECK(!t_exists(c, "{\"pb\":10}"));
    CHECK(!t_exists(c, "{\"pb\":12}"));
    CHECK_INT(blob_files(), 1);
    /* The same params twice: the last one wins. */
    cacheness_put_item twice[] = {{"{\"pb\":20}", (const uint8_t *)"first", 5, NULL},
                                  {"{\"pb\":20}", (const uint8_t *)"second", 6, NULL}};
    OK(cacheness_cache_put_batch(c, twice, 2));
    t_check_data(c, "{\"pb\":20}", "second", 6);
    free(big);
}

static void test_delete_batch(void) {
    cacheness_cache *c = t_cache(NULL);
    uint8_t *big = t_data(BIG, 13);
    const char *k1 = t_put(c, "{\"db\":1}", big, BIG, NULL);
    char key1[65];
    snprintf(key1, sizeof key1, "%s", k1);
    t_put_str(c, "{\"db\":2}", "two", NULL);
    t_put_str(c, "{\"db\":3}", "three", NULL);
    uint64_t n = 0;
    OK(cacheness_cache_delete_batch(c, t_fmt("[\"%s\",{\"db\":\"missing\"},{\"db\":2},\"%s\"]",
                                             key1, t_key("{\"nope\":1}")), &n));
    CHECK_INT(n, 2);
    CHECK(!t_exists(c, "{\"db\":1}"));
    CHECK(!t_exists(c, "{\"db\":2}"));
    CHECK(t_exists(c, "{\"db\":3}"));
    CHECK_INT(blob_files(), 0);
    OK(cacheness_cache_delete_batch(c, "[{\"db\":3},{\"db\":3}]", &n));
    CHECK_INT(n, 1);
    OK(cacheness_cache_delete_batch(c, "[]", &n));
    CHECK_INT(n, 0);
    free(big);
}

/* Collect the cache keys of every page of a listing; checks each is seen once. */
#define MANY 250
static int list_all(cacheness_cache *c, const char *order, int limit, char keys[][65]) {
    char cursor[1024] = "";
    int seen = 0, pages = 0;
    for (;;) {
        const char *options = cursor[0]
            ? t_fmt("{\"limit\":%d,\"order\":\"%s\",\"cursor\":\"%s\"}", limit, order, cursor)
            : t_fmt("{\"limit\":%d,\"order\":\"%s\"}", limit, order);
        char *page = NULL;
        OK(cacheness_cache_list(c, NULL, options, &page));
        CHECK(++pages <= MANY / limit + 2);
        int on_page = 0;
        for (const char *p = strstr(page, "\"cache_key\""); p; p = strstr(p + 1, "\"cache_key\"")) {
            const char *q = strchr(p + 11, '"');
            CHECK(q != NULL && seen < MANY);
            snprintf(keys[seen], 65, "%.64s", q + 1);
            for (int i = 0; i < seen; i++)
                if (strcmp(keys[i], keys[seen]) == 0)
                    t_fail(__FILE__, __LINE__, "key %s listed twice (order %s)", keys[i], order);
            seen++;
            on_page++;
        }
        CHECK(on_page <= limit);
        const char *next = j_value(page, "next_cursor");
        CHECK(next != NULL);
        bool more = strcmp(next, "null") != 0;
        if (more) {
            const char *s = j_str(page, "next_cursor");
            CHECK(s != NULL && strlen(s) < sizeof cursor);
            snprintf(cursor, sizeof cursor, "%s", s);
            CHECK(on_page == limit);
        }
        cacheness_string_free(page);
        if (!more) break;
    }
    return seen;
}

static int cmp_key(const void *a, const void *b) { return strcmp(a, b); }

static void test_list_paging(void) {
    cacheness_cache *c = t_cache(NULL);
    static cacheness_put_item items[MANY];
    static char params[MANY][32];
    for (int i = 0; i < MANY; i++) {
        snprintf(params[i], sizeof params[i], "{\"item\":%d}", i);
        items[i] = (cacheness_put_item){params[i], (const uint8_t *)"v", 1, NULL};
    }
    OK(cacheness_cache_put_batch(c, items, MANY));
    static char keys[MANY][65], sorted[MANY][65];
    const char *orders[] = {"created_at", "accessed_at", "key"};
    for (size_t o = 0; o < 3; o++) {
        CHECK_INT(list_all(c, orders[o], 100, keys), MANY);
        CHECK_INT(list_all(c, orders[o], 7, keys), MANY);
    }
    /* order "key": ascending keys across pages */
    CHECK_INT(list_all(c, "key", 100, keys), MANY);
    memcpy(sorted, keys, sizeof keys);
    qsort(sorted, MANY, 65, cmp_key);
    CHECK(memcmp(sorted, keys, sizeof keys) == 0);
    /* every key listed is one we put */
    for (int i = 0; i < MANY; i++) {
        const char *k = t_key(params[i]);
        CHECK(bsearch(k, sorted, MANY, 65, cmp_key) != NULL);
    }
    /* default limit is 1000: one page */
    char *page = NULL;
    OK(cacheness_cache_list(c, NULL, NULL, &page));
    CHECK_INT(j_count(page, "\"cache_key\":"), MANY);
    CHECK(j_has(page, "\"next_cursor\":null"));
    cacheness_string_free(page);
    /* created_at order: oldest first */
    t_next_ms();
    t_put_str(c, "{\"item\":\"newest\"}", "v", NULL);
    OK(cacheness_cache_list(c, NULL, "{\"limit\":1000}", &page));
    const char *last = page;
    for (const char *p = strstr(page, "\"cache_key\""); p; p = strstr(p + 1, "\"cache_key\"")) last = p;
    CHECK(strstr(last, t_key("{\"item\":\"newest\"}")) != NULL);
    cacheness_string_free(page);
    /* a filter applies across pages */
    OK(cacheness_cache_list(c, "{\"params\":{\"item\":{\"$in\":[1,2,3]}}}", "{\"limit\":2}", &page));
    CHECK_INT(j_count(page, "\"cache_key\":"), 2);
    CHECK(!j_has(page, "\"next_cursor\":null"));
    cacheness_string_free(page);
}

static void test_list_entry_shape(void) {
    cacheness_cache *c = t_cache(NULL);
    t_put_str(c, "{\"experiment\":\"exp_001\"}", "hello", "{\"metadata\":{\"project\":\"ml\"}}");
    char *page = NULL;
    OK(cacheness_cache_list(c, NULL, NULL, &page));
    CHECK(j_has(page, "\"entries\":[{"));
    char *m = t_meta(c, "{\"experiment\":\"exp_001\"}");
    const char *names[] = {"cache_key", "params", "data_type", "description", "size",
                           "content_hash", "version", "created_at", "expires_at", "metadata"};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        const char *in_page = j_value(page, names[i]);
        char copy[1024];
        CHECK(in_page != NULL);
        snprintf(copy, sizeof copy, "%s", in_page);
        CHECK_STR(copy, j_value(m, names[i]));
    }
    CHECK(j_value(page, "accessed_at") != NULL && j_value(page, "access_count") != NULL);
    cacheness_string_free(m);
    cacheness_string_free(page);
    /* An empty cache: no entries, no cursor. */
    uint64_t n;
    OK(cacheness_cache_clear(c, &n));
    OK(cacheness_cache_list(c, NULL, NULL, &page));
    CHECK(j_has(page, "\"entries\":[]"));
    CHECK(j_has(page, "\"next_cursor\":null"));
    cacheness_string_free(page);
}

static void test_stats(void) {
    cacheness_cache *c = t_cache(NULL);
    uint8_t *big = t_data(BIG, 14);
    t_put_str(c, "{\"s\":1}", "hello", NULL);
    t_put(c, "{\"s\":2}", big, BIG, NULL);
    cacheness_bytes d;
    CHECK(t_get(c, "{\"s\":1}", &d));
    cacheness_bytes_free(d);
    CHECK(t_get(c, "{\"s\":2}", &d));
    cacheness_bytes_free(d);
    CHECK(!t_get(c, "{\"s\":3}", &d));
    char *stats = NULL;
    OK(cacheness_cache_stats(c, &stats));
    CHECK_INT(j_int(stats, "entries"), 2);
    CHECK_INT(j_int(stats, "total_size"), 5 + BIG);
    CHECK_INT(j_int(stats, "hits"), 2);
    CHECK_INT(j_int(stats, "misses"), 1);
    CHECK_INT(j_int(stats, "evictions"), 0);
    CHECK_INT(j_int(stats, "expired_removed"), 0);
    CHECK_STR(j_str(stats, "metadata_backend"), "sqlite");
    CHECK(j_str(stats, "blob_backend") != NULL);
    CHECK_STR(j_str(stats, "namespace"), "default");
    cacheness_string_free(stats);
    /* Counters are per handle: a new handle starts at zero, the entries are shared. */
    cacheness_cache *c2 = t_cache(NULL);
    OK(cacheness_cache_stats(c2, &stats));
    CHECK_INT(j_int(stats, "entries"), 2);
    CHECK_INT(j_int(stats, "hits"), 0);
    CHECK_INT(j_int(stats, "misses"), 0);
    cacheness_string_free(stats);
    free(big);
}

const t_case cache_tests[] = {
    {"put_get_roundtrip", test_put_get_roundtrip},
    {"get_miss", test_get_miss},
    {"metadata_shape", test_metadata_shape},
    {"params_are_canonical_in_metadata", test_params_are_canonical_in_metadata},
    {"access_counting", test_access_counting},
    {"exists_and_delete", test_exists_and_delete},
    {"touch", test_touch},
    {"ttl_defaults", test_ttl_defaults},
    {"update_data", test_update_data},
    {"update_data_missing", test_update_data_missing},
    {"expected_version", test_expected_version},
    {"update_metadata", test_update_metadata},
    {"expiry_and_cleanup", test_expiry_and_cleanup},
    {"put_replaces", test_put_replaces},
    {"put_is_atomic_for_readers", test_put_is_atomic_for_readers},
    {"copy", test_copy},
    {"move", test_move},
    {"get_batch", test_get_batch},
    {"put_batch", test_put_batch},
    {"delete_batch", test_delete_batch},
    {"list_paging", test_list_paging},
    {"list_entry_shape", test_list_entry_shape},
    {"stats", test_stats},
    {NULL, NULL},
};
