/* Every error a caller can trigger through arguments: NULL for each required pointer, invalid
 * UTF-8, bad JSON, non-object params/options, unknown option names, out-of-range values.
 * Each call must fail with CACHENESS_INVALID_ARGUMENT, leave every out-parameter untouched
 * and change nothing in the cache (the listing before and after is identical). */
#define _XOPEN_SOURCE 700

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "suites.h"

#define P "{\"p\":1}"            /* the entry every test starts with */
#define Q "{\"q\":1}"            /* no such entry */
#define BAD_UTF8 "\xff\xfe"
#define BAD_UTF8_JSON "{\"a\":\"\xc3\x28\"}"
#define D ((const uint8_t *)"data")

/* Argument texts that are wrong wherever a JSON object is expected. */
static const char *const not_objects[] = {BAD_UTF8, BAD_UTF8_JSON, "", "{", "{\"a\":1} x",
                                          "[1]", "\"s\"", "5"};
/* The same for options, less "": the library reads empty options text as no options, as NULL. */
static const char *const not_options[] = {BAD_UTF8, BAD_UTF8_JSON, "{", "{\"a\":1} x", "[1]",
                                          "\"s\"", "5"};

/* A cache holding P (4 bytes, metadata {"m":1}) and a big entry (a blob file). */
static cacheness_cache *setup(void) {
    cacheness_cache *c = t_cache(NULL);
    t_put(c, P, D, 4, "{\"metadata\":{\"m\":1}}");
    uint8_t *big = t_data(20000, 1);
    t_put(c, "{\"p\":\"big\"}", big, 20000, NULL);
    free(big);
    return c;
}

/* Everything a failed call could have changed, as text. */
static char *snapshot(cacheness_cache *c) {
    char *page = NULL;
    OK(cacheness_cache_list(c, "{\"include_expired\":true}", "{\"order\":\"key\"}", &page));
    return page;
}

static void check_unchanged(cacheness_cache *c, char *before) {
    char *after = snapshot(c);
    CHECK_STR(after, before);
    cacheness_string_free(after);
    cacheness_string_free(before);
    CHECK_INT(t_count_files(t_path("blobs")), 1);
}

static bool never(const char *metadata_json, void *ctx) {
    (void)metadata_json; (void)ctx;
    return true; /* would delete everything if it were ever called */
}

static void test_args_single_entry_reads(void) {
    cacheness_cache *c = setup();
    char *before = snapshot(c);
    cacheness_bytes data;
    char *meta;
    bool found;
    PRESET(data); PRESET(meta); PRESET(found);

    FAILS_INVALID(cacheness_cache_get(NULL, P, &data, &found));
    FAILS_INVALID(cacheness_cache_get(c, NULL, &data, &found));
    FAILS_INVALID(cacheness_cache_get(c, P, NULL, &found));
    FAILS_INVALID(cacheness_cache_get(c, P, &data, NULL));
    FAILS_INVALID(cacheness_cache_get_with_metadata(NULL, P, &data, &meta, &found));
    FAILS_INVALID(cacheness_cache_get_with_metadata(c, NULL, &data, &meta, &found));
    FAILS_INVALID(cacheness_cache_get_with_metadata(c, P, NULL, &meta, &found));
    FAILS_INVALID(cacheness_cache_get_with_metadata(c, P, &data, NULL, &found));
    FAILS_INVALID(cacheness_cache_get_with_metadata(c, P, &data, &meta, NULL));
    FAILS_INVALID(cacheness_cache_get_metadata(NULL, P, &meta, &found));
    FAILS_INVALID(cacheness_cache_get_metadata(c, NULL, &meta, &found));
    FAILS_INVALID(cacheness_cache_get_metadata(c, P, NULL, &found));
    FAILS_INVALID(cacheness_cache_get_metadata(c, P, &meta, NULL));
    FAILS_INVALID(cacheness_cache_exists(NULL, P, &found));
    FAILS_INVALID(cacheness_cache_exists(c, NULL, &found));
    FAILS_INVALID(cacheness_cache_exists(c, P, NULL));
    EACH(i, not_objects) {
        const char *sel = not_objects[i];
        FAILS_INVALID(cacheness_cache_get(c, sel, &data, &found));
        FAILS_INVALID(cacheness_cache_get_with_metadata(c, sel, &data, &meta, &found));
        FAILS_INVALID(cacheness_cache_get_metadata(c, sel, &meta, &found));
        FAILS_INVALID(cacheness_cache_exists(c, sel, &found));
    }
    CHECK(UNTOUCHED(data));
    CHECK(UNTOUCHED(meta));
    CHECK(UNTOUCHED(found));
    check_unchanged(c, before);
}

static void test_args_put(void) {
    cacheness_cache *c = setup();
    char *before = snapshot(c);
    char *key;
    PRESET(key);
    FAILS_INVALID(cacheness_cache_put(NULL, Q, D, 4, NULL, &key));
    FAILS_INVALID(cacheness_cache_put(c, NULL, D, 4, NULL, &key));
    FAILS_INVALID(cacheness_cache_put(c, Q, NULL, 4, NULL, &key));
    FAILS_INVALID(cacheness_cache_put(c, P, NULL, 4, NULL, &key)); /* would replace P */
    FAILS_INVALID(cacheness_cache_put(c, "null", D, 4, NULL, &key));
    EACH(i, not_objects)
        FAILS_INVALID(cacheness_cache_put(c, not_objects[i], D, 4, NULL, &key));
    EACH(i, not_options) {
        FAILS_INVALID(cacheness_cache_put(c, Q, D, 4, not_options[i], &key));
        FAILS_INVALID(cacheness_cache_put(c, P, D, 4, not_options[i], &key));
    }
    const char *bad_options[] = {
        "{\"bogus\":1}", "{\"ttl\":60}", "{\"ttl_seconds\":0}", "{\"ttl_seconds\":-1}",
        "{\"ttl_seconds\":\"60\"}", "{\"ttl_seconds\":true}", "{\"metadata\":[1]}",
        "{\"metadata\":\"x\"}", "{\"data_type\":5}", "{\"description\":{}}",
        "{\"metadata\":{\"a\":\"\xff\"}}",
    };
    EACH(i, bad_options) {
        FAILS_INVALID(cacheness_cache_put(c, Q, D, 4, bad_options[i], &key));
        FAILS_INVALID(cacheness_cache_put(c, P, D, 4, bad_options[i], &key));
        FAILS_INVALID(cacheness_cache_put(c, Q, D, 4, bad_options[i], NULL));
    }
    CHECK(UNTOUCHED(key));
    check_unchanged(c, before);
}

static void test_args_single_entry_writes(void) {
    cacheness_cache *c = setup();
    char *before = snapshot(c);
    bool flag;
    PRESET(flag);

    FAILS_INVALID(cacheness_cache_delete(NULL, P, &flag));
    FAILS_INVALID(cacheness_cache_delete(c, NULL, &flag));
    FAILS_INVALID(cacheness_cache_delete(c, P, NULL));
    FAILS_INVALID(cacheness_cache_touch(NULL, P, NULL, &flag));
    FAILS_INVALID(cacheness_cache_touch(c, NULL, NULL, &flag));
    FAILS_INVALID(cacheness_cache_touch(c, P, "{\"ttl_seconds\":60}", NULL));
    FAILS_INVALID(cacheness_cache_update_data(NULL, P, D, 4, NULL, &flag));
    FAILS_INVALID(cacheness_cache_update_data(c, NULL, D, 4, NULL, &flag));
    FAILS_INVALID(cacheness_cache_update_data(c, P, NULL, 4, NULL, &flag));
    FAILS_INVALID(cacheness_cache_update_data(c, P, D, 3, NULL, NULL));
    FAILS_INVALID(cacheness_cache_update_metadata(NULL, P, "{}", &flag));
    FAILS_INVALID(cacheness_cache_update_metadata(c, NULL, "{}", &flag));
    FAILS_INVALID(cacheness_cache_update_metadata(c, P, NULL, &flag));
    FAILS_INVALID(cacheness_cache_update_metadata(c, P, "{\"m\":2}", NULL));
    FAILS_INVALID(cacheness_cache_copy(NULL, P, Q, NULL, &flag));
    FAILS_INVALID(cacheness_cache_copy(c, NULL, Q, NULL, &flag));
    FAILS_INVALID(cacheness_cache_copy(c, P, NULL, NULL, &flag));
    FAILS_INVALID(cacheness_cache_copy(c, P, Q, NULL, NULL));
    FAILS_INVALID(cacheness_cache_move(NULL, P, Q, NULL, &flag));
    FAILS_INVALID(cacheness_cache_move(c, NULL, Q, NULL, &flag));
    FAILS_INVALID(cacheness_cache_move(c, P, NULL, NULL, &flag));
    FAILS_INVALID(cacheness_cache_move(c, P, Q, NULL, NULL));

    EACH(i, not_objects) { /* as selectors and destination params */
        const char *x = not_objects[i];
        FAILS_INVALID(cacheness_cache_delete(c, x, &flag));
        FAILS_INVALID(cacheness_cache_touch(c, x, NULL, &flag));
        FAILS_INVALID(cacheness_cache_update_data(c, x, D, 3, NULL, &flag));
        FAILS_INVALID(cacheness_cache_update_metadata(c, x, "{\"m\":2}", &flag));
        FAILS_INVALID(cacheness_cache_copy(c, x, Q, NULL, &flag));
        FAILS_INVALID(cacheness_cache_copy(c, P, x, NULL, &flag));
        FAILS_INVALID(cacheness_cache_move(c, x, Q, NULL, &flag));
        FAILS_INVALID(cacheness_cache_move(c, P, x, NULL, &flag));
    }
    EACH(i, not_options) {
        const char *x = not_options[i];
        FAILS_INVALID(cacheness_cache_touch(c, P, x, &flag));
        FAILS_INVALID(cacheness_cache_update_data(c, P, D, 3, x, &flag));
        FAILS_INVALID(cacheness_cache_copy(c, P, Q, x, &flag));
        FAILS_INVALID(cacheness_cache_move(c, P, Q, x, &flag));
    }
    /* A merge patch for the metadata object must itself be an object. */
    const char *bad_patches[] = {BAD_UTF8, BAD_UTF8_JSON, "", "{", "[1]", "\"s\"", "5", "null"};
    EACH(i, bad_patches)
        FAILS_INVALID(cacheness_cache_update_metadata(c, P, bad_patches[i], &flag));

    const char *bad_touch[] = {"{\"bogus\":1}", "{\"ttl_seconds\":0}", "{\"ttl_seconds\":-3}",
                               "{\"ttl_seconds\":\"1\"}"};
    EACH(i, bad_touch) {
        FAILS_INVALID(cacheness_cache_touch(c, P, bad_touch[i], &flag));
        FAILS_INVALID(cacheness_cache_touch(c, Q, bad_touch[i], &flag));
    }
    const char *bad_update[] = {"{\"bogus\":1}", "{\"ttl_seconds\":0}",
                                "{\"expected_version\":\"1\"}", "{\"expected_version\":-1}",
                                "{\"data_type\":5}", "{\"metadata\":{\"m\":3}}"};
    EACH(i, bad_update)
        FAILS_INVALID(cacheness_cache_update_data(c, P, D, 3, bad_update[i], &flag));
    const char *bad_copy[] = {"{\"bogus\":1}", "{\"overwrite\":\"yes\"}", "{\"metadata\":5}",
                              "{\"ttl_seconds\":60}"};
    EACH(i, bad_copy) {
        FAILS_INVALID(cacheness_cache_copy(c, P, Q, bad_copy[i], &flag));
        FAILS_INVALID(cacheness_cache_move(c, P, Q, bad_copy[i], &flag));
    }
    CHECK(UNTOUCHED(flag));
    check_unchanged(c, before);
}

static void test_args_bulk(void) {
    cacheness_cache *c = setup();
    char *before = snapshot(c);
    uint64_t n;
    char *page;
    cacheness_batch *batch;
    PRESET(n); PRESET(page); PRESET(batch);

    FAILS_INVALID(cacheness_cache_list(NULL, NULL, NULL, &page));
    FAILS_INVALID(cacheness_cache_list(c, NULL, NULL, NULL));
    FAILS_INVALID(cacheness_cache_delete_where(NULL, "{}", &n));
    FAILS_INVALID(cacheness_cache_delete_where(c, "{}", NULL));
    FAILS_INVALID(cacheness_cache_delete_matching(NULL, NULL, never, NULL, &n));
    FAILS_INVALID(cacheness_cache_delete_matching(c, NULL, NULL, NULL, &n));
    FAILS_INVALID(cacheness_cache_delete_matching(c, NULL, never, NULL, NULL));
    FAILS_INVALID(cacheness_cache_touch_where(NULL, "{}", NULL, &n));
    FAILS_INVALID(cacheness_cache_touch_where(c, "{}", "{\"ttl_seconds\":60}", NULL));
    FAILS_INVALID(cacheness_cache_update_metadata_where(NULL, "{}", "{\"m\":2}", &n));
    FAILS_INVALID(cacheness_cache_update_metadata_where(c, "{}", NULL, &n));
    FAILS_INVALID(cacheness_cache_update_metadata_where(c, "{}", "{\"m\":2}", NULL));
    FAILS_INVALID(cacheness_cache_get_batch(NULL, "[]", &batch));
    FAILS_INVALID(cacheness_cache_get_batch(c, NULL, &batch));
    FAILS_INVALID(cacheness_cache_get_batch(c, "[]", NULL));
    FAILS_INVALID(cacheness_cache_delete_batch(NULL, "[]", &n));
    FAILS_INVALID(cacheness_cache_delete_batch(c, NULL, &n));
    FAILS_INVALID(cacheness_cache_delete_batch(c, "[{\"p\":1}]", NULL));
    FAILS_INVALID(cacheness_cache_cleanup_expired(NULL, &n));
    FAILS_INVALID(cacheness_cache_cleanup_expired(c, NULL));
    FAILS_INVALID(cacheness_cache_clear(NULL, &n));
    FAILS_INVALID(cacheness_cache_clear(c, NULL));

    /* Filters: not an object, unknown fields and operators, wrong types. */
    const char *bad_filters[] = {
        BAD_UTF8, BAD_UTF8_JSON, "{", "[1]", "\"s\"", "5", "{\"bogus\":1}", "{\"param\":{\"p\":1}}", "{\"params\":{\"p\":{\"$regex\":\".\"}}}",
        "{\"params\":5}", "{\"params\":{\"p\":{\"$in\":5}}}", "{\"params\":{\"p\":{\"$prefix\":5}}}",
        "{\"params\":{\"p\":{\"$exists\":\"yes\"}}}", "{\"metadata\":{\"m\":{\"$gt\":0}}}",
        "{\"min_size\":\"big\"}", "{\"max_size\":-1}", "{\"created_before\":\"yesterday\"}",
        "{\"created_after\":5}", "{\"accessed_before\":\"2026-13-45\"}",
        "{\"expires_before\":\"soon\"}", "{\"include_expired\":\"yes\"}", "{\"key_prefix\":5}",
        "{\"data_type\":5}",
    };
    EACH(i, bad_filters) {
        const char *f = bad_filters[i];
        FAILS_INVALID(cacheness_cache_list(c, f, NULL, &page));
        FAILS_INVALID(cacheness_cache_delete_where(c, f, &n));
        FAILS_INVALID(cacheness_cache_delete_matching(c, f, never, NULL, &n));
        FAILS_INVALID(cacheness_cache_touch_where(c, f, "{\"ttl_seconds\":60}", &n));
        FAILS_INVALID(cacheness_cache_update_metadata_where(c, f, "{\"m\":2}", &n));
        FAILS_INVALID(cacheness_cache_export(c, t_path("x.tar.gz"),
                                             t_fmt("{\"filter\":%s}", f[0] == '{' && f[1] ? f : "[1]"), &n));
    }
    CHECK(!t_file_exists(t_path("x.tar.gz")));
    FAILS_INVALID(cacheness_cache_delete_where(c, NULL, &n));
    EACH(i, not_options) {
        const char *x = not_options[i];
        FAILS_INVALID(cacheness_cache_list(c, NULL, x, &page));
        FAILS_INVALID(cacheness_cache_touch_where(c, "{}", x, &n));
        FAILS_INVALID(cacheness_cache_update_metadata_where(c, "{}", x, &n));
    }
    const char *bad_list[] = {"{\"bogus\":1}", "{\"limit\":-1}", "{\"limit\":\"10\"}",
                              "{\"order\":\"size\"}", "{\"cursor\":5}",
                              "{\"cursor\":\"not a cursor\"}"};
    EACH(i, bad_list)
        FAILS_INVALID(cacheness_cache_list(c, NULL, bad_list[i], &page));
    FAILS_INVALID(cacheness_cache_touch_where(c, "{}", "{\"bogus\":1}", &n));
    FAILS_INVALID(cacheness_cache_touch_where(c, "{}", "{\"ttl_seconds\":0}", &n));

    /* Selector arrays: not arrays, or holding something that is not a selector. */
    const char *bad_selectors[] = {BAD_UTF8, "", "[", "{}", "\"abc\"", "5", "[5]",
                                   "[\"abc\"]", "[[1]]", "[null]", "[{\"a\":\"\xff\"}]",
                                   "[{\"p\":1}] x"};
    EACH(i, bad_selectors) {
        FAILS_INVALID(cacheness_cache_get_batch(c, bad_selectors[i], &batch));
        FAILS_INVALID(cacheness_cache_delete_batch(c, bad_selectors[i], &n));
    }

    /* put_batch: NULL items, and bad items anywhere (nothing may be written). */
    FAILS_INVALID(cacheness_cache_put_batch(NULL, NULL, 0));
    FAILS_INVALID(cacheness_cache_put_batch(c, NULL, 1));
    cacheness_put_item items[3] = {
        {"{\"b\":1}", D, 4, NULL}, {"{\"b\":2}", D, 4, NULL}, {"{\"b\":3}", D, 4, NULL}};
    const cacheness_put_item bad_items[] = {
        {NULL, D, 4, NULL}, {"{\"b\":9}", NULL, 4, NULL}, {BAD_UTF8, D, 4, NULL},
        {"[1]", D, 4, NULL}, {"{\"b\":9}", D, 4, "{\"bogus\":1}"},
        {"{\"b\":9}", D, 4, "{\"ttl_seconds\":0}"}, {"{\"b\":9}", D, 4, BAD_UTF8},
    };
    for (size_t i = 0; i < sizeof bad_items / sizeof bad_items[0]; i++) {
        for (size_t at = 0; at < 3; at++) {
            cacheness_put_item saved = items[at];
            items[at] = bad_items[i];
            FAILS_INVALID(cacheness_cache_put_batch(c, items, 3));
            items[at] = saved;
        }
    }
    /* delete_where's filter is required: no filter (NULL, empty text) never means "delete
     * everything"; that takes an explicit {}. */
    FAILS_INVALID(cacheness_cache_delete_where(c, "", &n));
    FAILS_INVALID(cacheness_cache_delete_where(c, " ", &n));
    CHECK(UNTOUCHED(n));
    CHECK(UNTOUCHED(page));
    CHECK(UNTOUCHED(batch));
    check_unchanged(c, before);
}

/* Duplicate member names are refused wherever JSON objects come in: "the last one wins" would
 * let a selector name another entry than the caller meant, and a filter match everything. */
static void test_args_duplicate_members(void) {
    cacheness_cache *c = setup();
    t_put_str(c, "{\"a\":2}", "two", NULL);
    char *before = snapshot(c);
    uint64_t n;
    char *key;
    cacheness_batch *batch;
    cacheness_cache *other;
    PRESET(n); PRESET(key); PRESET(batch); PRESET(other);
    FAILS_INVALID(cacheness_cache_put(c, "{\"a\":1,\"a\":2}", D, 4, NULL, &key));
    FAILS_INVALID(cacheness_cache_get_batch(c, "[{\"a\":1,\"a\":2}]", &batch));
    FAILS_INVALID(cacheness_cache_delete_batch(c, "[{\"a\":1,\"a\":2}]", &n));
    FAILS_INVALID(cacheness_cache_delete_batch(c, "[\"{\\\"a\\\":1,\\\"a\\\":2}\"]", &n));
    FAILS_INVALID(cacheness_cache_delete_where(c, "{\"params\":{\"a\":1},\"params\":{}}", &n));
    FAILS_INVALID(cacheness_cache_delete_where(c, "{\"params\":{\"a\":1,\"a\":2}}", &n));
    FAILS_INVALID(cacheness_cache_put(c, Q, D, 4, "{\"metadata\":{},\"metadata\":{}}", &key));
    FAILS_INVALID(cacheness_cache_put(c, Q, D, 4, "{\"ttl_seconds\":60,\"ttl_seconds\":null}",
                                      &key));
    FAILS_INVALID(cacheness_cache_open(t_fmt("{\"dir\":\"%s\",\"dir\":\"%s/x\"}", t_dir, t_dir),
                                       &other));
    CHECK(UNTOUCHED(n));
    CHECK(UNTOUCHED(key));
    CHECK(UNTOUCHED(batch));
    CHECK(UNTOUCHED(other));
    check_unchanged(c, before);
}

static void test_args_maintenance(void) {
    cacheness_cache *c = setup();
    t_write_file(t_path("blobs/stray"), "x", 1); /* something for repair to act on */
    char *before = snapshot(c);
    uint64_t n;
    char *report;
    PRESET(n); PRESET(report);

    FAILS_INVALID(cacheness_cache_stats(NULL, &report));
    FAILS_INVALID(cacheness_cache_stats(c, NULL));
    FAILS_INVALID(cacheness_cache_verify(NULL, NULL, &report));
    FAILS_INVALID(cacheness_cache_verify(c, NULL, NULL));
    FAILS_INVALID(cacheness_cache_repair(NULL, NULL, &report));
    FAILS_INVALID(cacheness_cache_repair(c, NULL, NULL));
    FAILS_INVALID(cacheness_cache_find_orphans(NULL, &report));
    FAILS_INVALID(cacheness_cache_find_orphans(c, NULL));
    FAILS_INVALID(cacheness_cache_cleanup_orphans(NULL, &n));
    FAILS_INVALID(cacheness_cache_cleanup_orphans(c, NULL));
    CHECK(t_file_exists(t_path("blobs/stray")));
    EACH(i, not_options) {
        FAILS_INVALID(cacheness_cache_verify(c, not_options[i], &report));
        FAILS_INVALID(cacheness_cache_repair(c, not_options[i], &report));
    }
    const char *bad[] = {"{\"bogus\":1}", "{\"deep\":\"yes\"}", "{\"dry_run\":1}"};
    FAILS_INVALID(cacheness_cache_verify(c, bad[0], &report));
    FAILS_INVALID(cacheness_cache_verify(c, bad[1], &report));
    EACH(i, bad)
        FAILS_INVALID(cacheness_cache_repair(c, bad[i], &report));
    CHECK(t_file_exists(t_path("blobs/stray")));
    CHECK(remove(t_path("blobs/stray")) == 0);
    CHECK(UNTOUCHED(n));
    CHECK(UNTOUCHED(report));
    check_unchanged(c, before);
}

static void test_args_archives(void) {
    cacheness_cache *c = setup();
    char *before = snapshot(c);
    uint64_t n;
    char *doc;
    PRESET(n); PRESET(doc);
    char out[4096];
    snprintf(out, sizeof out, "%s", t_path("out.tar.gz"));

    FAILS_INVALID(cacheness_cache_export(NULL, out, NULL, &n));
    FAILS_INVALID(cacheness_cache_export(c, NULL, NULL, &n));
    FAILS_INVALID(cacheness_cache_export(c, out, NULL, NULL));
    FAILS_INVALID(cacheness_cache_export(c, BAD_UTF8, NULL, &n));
    FAILS_INVALID(cacheness_cache_export(c, t_fmt("%s/\xff.tar", t_dir), NULL, &n));
    EACH(i, not_options)
        FAILS_INVALID(cacheness_cache_export(c, out, not_options[i], &n));
    FAILS_INVALID(cacheness_cache_export(c, out, "{\"bogus\":1}", &n));
    FAILS_INVALID(cacheness_cache_export(c, out, "{\"compress\":\"yes\"}", &n));
    CHECK(!t_file_exists(out));

    FAILS_INVALID(cacheness_cache_export_json(NULL, NULL, &doc));
    FAILS_INVALID(cacheness_cache_export_json(c, NULL, NULL));
    FAILS_INVALID(cacheness_cache_export_json(c, "{\"bogus\":1}", &doc));
    FAILS_INVALID(cacheness_cache_export_json(c, "{\"filter\":{\"bogus\":1}}", &doc));

    /* A good archive to import, then every way to get the import call wrong. */
    uint64_t exported = 0;
    OK(cacheness_cache_export(c, out, NULL, &exported));
    CHECK_INT(exported, 2);
    char *good_doc = NULL;
    OK(cacheness_cache_export_json(c, NULL, &good_doc));
    uint64_t cleared = 0;
    OK(cacheness_cache_clear(c, &cleared));
    char *empty = snapshot(c);

    FAILS_INVALID(cacheness_cache_import(NULL, out, NULL, &n));
    FAILS_INVALID(cacheness_cache_import(c, NULL, NULL, &n));
    FAILS_INVALID(cacheness_cache_import(c, out, NULL, NULL));
    FAILS_INVALID(cacheness_cache_import(c, BAD_UTF8, NULL, &n));
    EACH(i, not_options)
        FAILS_INVALID(cacheness_cache_import(c, out, not_options[i], &n));
    FAILS_INVALID(cacheness_cache_import(c, out, "{\"bogus\":1}", &n));
    FAILS_INVALID(cacheness_cache_import(c, out, "{\"overwrite\":\"yes\"}", &n));

    FAILS_INVALID(cacheness_cache_import_json(NULL, good_doc, NULL, &n));
    FAILS_INVALID(cacheness_cache_import_json(c, NULL, NULL, &n));
    FAILS_INVALID(cacheness_cache_import_json(c, good_doc, NULL, NULL));
    EACH(i, not_objects)
        FAILS_INVALID(cacheness_cache_import_json(c, not_objects[i], NULL, &n));
    EACH(i, not_options)
        FAILS_INVALID(cacheness_cache_import_json(c, good_doc, not_options[i], &n));
    FAILS_INVALID(cacheness_cache_import_json(c, good_doc, "{\"bogus\":1}", &n));
    FAILS_INVALID(cacheness_cache_import_json(c, "{}", NULL, &n));
    CHECK(UNTOUCHED(n));
    CHECK(UNTOUCHED(doc));
    char *after = snapshot(c);
    CHECK_STR(after, empty);
    cacheness_string_free(after);
    cacheness_string_free(empty);
    cacheness_string_free(before);
    cacheness_string_free(good_doc);
}

static void test_args_store(void) {
    cacheness_store *s = t_store(NULL);
    OK(cacheness_store_put(s, "k/1", D, 4, "{\"m\":1}"));
    char *before = NULL;
    OK(cacheness_store_list(s, NULL, NULL, &before));
    cacheness_bytes data;
    char *str;
    bool flag;
    uint64_t n;
    PRESET(data); PRESET(str); PRESET(flag); PRESET(n);

    FAILS_INVALID(cacheness_store_put(NULL, "k/2", D, 4, NULL));
    FAILS_INVALID(cacheness_store_put(s, NULL, D, 4, NULL));
    FAILS_INVALID(cacheness_store_put(s, "k/2", NULL, 4, NULL));
    FAILS_INVALID(cacheness_store_put(s, "k/1", NULL, 4, NULL));
    FAILS_INVALID(cacheness_store_get(NULL, "k/1", &data, &flag));
    FAILS_INVALID(cacheness_store_get(s, NULL, &data, &flag));
    FAILS_INVALID(cacheness_store_get(s, "k/1", NULL, &flag));
    FAILS_INVALID(cacheness_store_get(s, "k/1", &data, NULL));
    FAILS_INVALID(cacheness_store_get_metadata(NULL, "k/1", &str, &flag));
    FAILS_INVALID(cacheness_store_get_metadata(s, NULL, &str, &flag));
    FAILS_INVALID(cacheness_store_get_metadata(s, "k/1", NULL, &flag));
    FAILS_INVALID(cacheness_store_get_metadata(s, "k/1", &str, NULL));
    FAILS_INVALID(cacheness_store_update_metadata(NULL, "k/1", "{}", &flag));
    FAILS_INVALID(cacheness_store_update_metadata(s, NULL, "{}", &flag));
    FAILS_INVALID(cacheness_store_update_metadata(s, "k/1", NULL, &flag));
    FAILS_INVALID(cacheness_store_update_metadata(s, "k/1", "{\"m\":2}", NULL));
    FAILS_INVALID(cacheness_store_update_data(NULL, "k/1", D, 4, &flag));
    FAILS_INVALID(cacheness_store_update_data(s, NULL, D, 4, &flag));
    FAILS_INVALID(cacheness_store_update_data(s, "k/1", NULL, 4, &flag));
    FAILS_INVALID(cacheness_store_update_data(s, "k/1", D, 3, NULL));
    FAILS_INVALID(cacheness_store_exists(NULL, "k/1", &flag));
    FAILS_INVALID(cacheness_store_exists(s, NULL, &flag));
    FAILS_INVALID(cacheness_store_exists(s, "k/1", NULL));
    FAILS_INVALID(cacheness_store_delete(NULL, "k/1", &flag));
    FAILS_INVALID(cacheness_store_delete(s, NULL, &flag));
    FAILS_INVALID(cacheness_store_delete(s, "k/1", NULL));
    FAILS_INVALID(cacheness_store_touch(NULL, "k/1", &flag));
    FAILS_INVALID(cacheness_store_touch(s, NULL, &flag));
    FAILS_INVALID(cacheness_store_touch(s, "k/1", NULL));
    FAILS_INVALID(cacheness_store_list(NULL, NULL, NULL, &str));
    FAILS_INVALID(cacheness_store_list(s, NULL, NULL, NULL));
    FAILS_INVALID(cacheness_store_list(s, BAD_UTF8, NULL, &str));
    FAILS_INVALID(cacheness_store_delete_by_prefix(NULL, "k/", &n));
    FAILS_INVALID(cacheness_store_delete_by_prefix(s, NULL, &n)); /* "all" is store_clear */
    FAILS_INVALID(cacheness_store_delete_by_prefix(s, "k/", NULL));
    FAILS_INVALID(cacheness_store_delete_by_prefix(s, BAD_UTF8, &n));
    FAILS_INVALID(cacheness_store_copy(NULL, "k/1", "k/2", false, &flag));
    FAILS_INVALID(cacheness_store_copy(s, NULL, "k/2", false, &flag));
    FAILS_INVALID(cacheness_store_copy(s, "k/1", NULL, false, &flag));
    FAILS_INVALID(cacheness_store_copy(s, "k/1", "k/2", false, NULL));
    FAILS_INVALID(cacheness_store_move(NULL, "k/1", "k/2", false, &flag));
    FAILS_INVALID(cacheness_store_move(s, NULL, "k/2", false, &flag));
    FAILS_INVALID(cacheness_store_move(s, "k/1", NULL, false, &flag));
    FAILS_INVALID(cacheness_store_move(s, "k/1", "k/2", false, NULL));
    FAILS_INVALID(cacheness_store_clear(NULL, &n));
    FAILS_INVALID(cacheness_store_clear(s, NULL));
    EACH(i, not_objects)
        FAILS_INVALID(cacheness_store_update_metadata(s, "k/1", not_objects[i], &flag));
    EACH(i, not_options) { /* metadata_json is optional, like options */
        const char *x = not_options[i];
        FAILS_INVALID(cacheness_store_put(s, "k/2", D, 4, x));
        FAILS_INVALID(cacheness_store_put(s, "k/1", D, 4, x));
        FAILS_INVALID(cacheness_store_list(s, NULL, x, &str));
    }
    const char *bad_list[] = {"{\"bogus\":1}", "{\"limit\":-1}", "{\"cursor\":\"not a cursor\"}",
                              "{\"order\":\"size\"}"};
    EACH(i, bad_list)
        FAILS_INVALID(cacheness_store_list(s, NULL, bad_list[i], &str));
    CHECK(UNTOUCHED(data));
    CHECK(UNTOUCHED(str));
    CHECK(UNTOUCHED(flag));
    CHECK(UNTOUCHED(n));
    char *after = NULL;
    OK(cacheness_store_list(s, NULL, NULL, &after));
    CHECK_STR(after, before);
    cacheness_string_free(after);
    cacheness_string_free(before);
}

const t_case args_tests[] = {
    {"args_single_entry_reads", test_args_single_entry_reads},
    {"args_put", test_args_put},
    {"args_single_entry_writes", test_args_single_entry_writes},
    {"args_bulk", test_args_bulk},
    {"args_duplicate_members", test_args_duplicate_members},
    {"args_maintenance", test_args_maintenance},
    {"args_archives", test_args_archives},
    {"args_store", test_args_store},
    {NULL, NULL},
};
