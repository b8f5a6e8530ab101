/* verify, repair, find_orphans, cleanup_orphans, clear, export/import (tar and JSON). */
#define _XOPEN_SOURCE 700

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "suites.h"

#define BIG 20000

static const char *blobs(void) { return t_path("blobs"); }

/* Put a value big enough for a file and return that file's path (ring buffer). */
static const char *put_blob(cacheness_cache *c, const char *params, const uint8_t *data,
                            size_t len) {
    size_t n0, n1;
    char **before = t_list_files(blobs(), &n0);
    t_put(c, params, data, len, NULL);
    char **after = t_list_files(blobs(), &n1);
    CHECK_INT(n1, n0 + 1);
    const char *added = NULL;
    for (size_t i = 0; i < n1 && !added; i++)
        if (i >= n0 || strcmp(after[i], before[i]) != 0) added = t_fmt("%s", after[i]);
    t_free_list(before);
    t_free_list(after);
    return added;
}

/* The "issue" of the report's issue object holding `needle`, or NULL if the report does not
 * mention it. Issue objects are flat, so the braces around the needle bound the object. */
static const char *issue_with(const char *report, const char *needle) {
    const char *at = strstr(report, needle);
    if (!at) return NULL;
    const char *open = at, *close = strchr(at, '}');
    while (open > report && *open != '{') open--;
    CHECK(close != NULL);
    return j_str(t_fmt("%.*s", (int)(close - open + 1), open), "issue");
}

/* ... for the entry with this key (as a whole JSON string, not inside a file name) */
static const char *issue_of_key(const char *report, const char *key) {
    return issue_with(report, t_fmt("\"%s\"", key));
}

/* ... for the file with this path (reported absolute or relative: matched by its end) */
static const char *issue_of_file(const char *report, const char *path) {
    const char *slash = strrchr(path, '/');
    return issue_with(report, t_fmt("%s\"", slash ? slash : path));
}

static const char *base_name(const char *path) {
    const char *slash = strrchr(path, '/');
    return slash ? slash + 1 : path;
}

/* A file in the blob tree that looks like a blob of the same entry (same folder, the name with
 * its last run of hex digits zeroed) but belongs to no entry: what a writer that died between
 * writing the file and committing its record leaves behind. */
static const char *stray_beside(const char *blob_path) {
    char *copy = (char *)t_fmt("%s", blob_path);
    char *name = (char *)base_name(copy);
    char *end = name + strlen(name);
    while (end > name && !strchr("0123456789abcdef", end[-1])) end--;
    for (char *p = end; p > name && strchr("0123456789abcdef", p[-1]); p--) p[-1] = '0';
    CHECK(strcmp(copy, blob_path) != 0);
    return copy;
}

static void plant_outside_files(void) {
    t_plant_old_file(t_path("notes.txt"), "not the cache's business");
    t_plant_old_file(t_path("other/keep.bin"), "nor this");
}

static void check_outside_files(const char *report) {
    CHECK(t_file_exists(t_path("notes.txt")));
    CHECK(t_file_exists(t_path("other/keep.bin")));
    if (report) {
        CHECK(!strstr(report, "notes.txt"));
        CHECK(!strstr(report, "keep.bin"));
    }
}

static char *verify(cacheness_cache *c, const char *options) {
    char *report = NULL;
    OK(cacheness_cache_verify(c, options, &report));
    CHECK(report != NULL);
    return report;
}

static void test_verify_clean(void) {
    cacheness_cache *c = t_cache(NULL);
    uint8_t *big = t_data(BIG, 1);
    t_put(c, "{\"v\":1}", big, BIG, NULL);
    t_put_str(c, "{\"v\":2}", "small", NULL);
    plant_outside_files();
    const char *options[] = {NULL, "{}", "{\"deep\":false}", "{\"deep\":true}"};
    for (size_t i = 0; i < 4; i++) {
        char *r = verify(c, options[i]);
        CHECK(j_has(r, "\"ok\":true"));
        CHECK_INT(j_int(r, "checked"), 2);
        CHECK(j_has(r, "\"issues\":[]"));
        check_outside_files(r);
        cacheness_string_free(r);
    }
    /* An empty cache verifies too. */
    cacheness_cache *empty = t_cache_at(t_path("empty"), NULL);
    char *r = verify(empty, NULL);
    CHECK(j_has(r, "\"ok\":true"));
    CHECK_INT(j_int(r, "checked"), 0);
    cacheness_string_free(r);
    free(big);
}

struct damaged {
    char key_size[65], key_hash[65], key_missing[65], key_good[65], key_small[65];
    char stray[4096];
};

/* Five entries, three of them damaged on disk, and two stray files in the blob tree. */
static void damage(cacheness_cache *c, struct damaged *d, uint8_t *big) {
    const char *p_size = put_blob(c, "{\"d\":\"size\"}", big, BIG);
    char path_size[4096], path_hash[4096], path_missing[4096];
    snprintf(path_size, sizeof path_size, "%s", p_size);
    snprintf(path_hash, sizeof path_hash, "%s", put_blob(c, "{\"d\":\"hash\"}", big + 1, BIG - 1));
    snprintf(path_missing, sizeof path_missing, "%s",
             put_blob(c, "{\"d\":\"missing\"}", big + 2, BIG - 2));
    put_blob(c, "{\"d\":\"good\"}", big + 3, BIG - 3);
    t_put_str(c, "{\"d\":\"small\"}", "small", NULL);
    snprintf(d->key_size, 65, "%s", t_key("{\"d\":\"size\"}"));
    snprintf(d->key_hash, 65, "%s", t_key("{\"d\":\"hash\"}"));
    snprintf(d->key_missing, 65, "%s", t_key("{\"d\":\"missing\"}"));
    snprintf(d->key_good, 65, "%s", t_key("{\"d\":\"good\"}"));
    snprintf(d->key_small, 65, "%s", t_key("{\"d\":\"small\"}"));

    t_append_file(path_size, "extra", 5);
    t_flip_byte(path_hash, (BIG - 1) / 2);
    CHECK(remove(path_missing) == 0);
    snprintf(d->stray, sizeof d->stray, "%s", stray_beside(path_size));
    t_plant_old_file(d->stray, "stray");
    plant_outside_files();
}

static void test_verify_finds_damage(void) {
    cacheness_cache *c = t_cache(NULL);
    uint8_t *big = t_data(BIG, 2);
    struct damaged d;
    damage(c, &d, big);

    char *r = verify(c, NULL); /* presence and size */
    CHECK(j_has(r, "\"ok\":false"));
    CHECK_INT(j_int(r, "checked"), 5);
    CHECK_STR(issue_of_key(r, d.key_size), "size_mismatch");
    CHECK_STR(issue_of_key(r, d.key_missing), "missing_file");
    CHECK_STR(issue_of_file(r, d.stray), "orphaned_file");
    CHECK(issue_of_key(r, d.key_good) == NULL);
    CHECK(issue_of_key(r, d.key_small) == NULL);
    check_outside_files(r);
    cacheness_string_free(r);

    r = verify(c, "{\"deep\":true}");
    CHECK(j_has(r, "\"ok\":false"));
    CHECK_STR(issue_of_key(r, d.key_size), "size_mismatch");
    CHECK_STR(issue_of_key(r, d.key_hash), "hash_mismatch");
    CHECK_STR(issue_of_key(r, d.key_missing), "missing_file");
    CHECK_STR(issue_of_file(r, d.stray), "orphaned_file");
    CHECK(issue_of_key(r, d.key_good) == NULL);
    CHECK(issue_of_key(r, d.key_small) == NULL);
    check_outside_files(r);
    cacheness_string_free(r);

    /* verify only looks */
    CHECK(t_file_exists(d.stray));
    char *page = NULL;
    OK(cacheness_cache_list(c, NULL, NULL, &page));
    CHECK_INT(j_count(page, "\"cache_key\":"), 5);
    cacheness_string_free(page);
    free(big);
}

static void test_repair(void) {
    cacheness_cache *c = t_cache(NULL);
    uint8_t *big = t_data(BIG, 3);
    struct damaged d;
    damage(c, &d, big);
    size_t files_before = t_count_files(blobs());

    char *r = NULL;
    OK(cacheness_cache_repair(c, "{\"dry_run\":true}", &r));
    CHECK(strstr(r, d.key_size) && strstr(r, d.key_hash) && strstr(r, d.key_missing));
    CHECK(strstr(r, base_name(d.stray)) != NULL);
    CHECK(!strstr(r, d.key_good) && !strstr(r, d.key_small));
    check_outside_files(r);
    cacheness_string_free(r);
    CHECK_INT(t_count_files(blobs()), files_before); /* a dry run changes nothing */
    char *page = NULL;
    OK(cacheness_cache_list(c, NULL, NULL, &page));
    CHECK_INT(j_count(page, "\"cache_key\":"), 5);
    cacheness_string_free(page);

    OK(cacheness_cache_repair(c, NULL, &r)); /* deep by default */
    CHECK(strstr(r, d.key_size) && strstr(r, d.key_hash) && strstr(r, d.key_missing));
    check_outside_files(r);
    cacheness_string_free(r);
    CHECK(!t_exists(c, d.key_size));
    CHECK(!t_exists(c, d.key_hash));
    CHECK(!t_exists(c, d.key_missing));
    CHECK(!t_file_exists(d.stray));
    t_check_data(c, d.key_good, big + 3, BIG - 3);
    t_check_data(c, d.key_small, "small", 5);
    CHECK_INT(t_count_files(blobs()), 1);

    r = verify(c, "{\"deep\":true}");
    CHECK(j_has(r, "\"ok\":true"));
    CHECK(j_has(r, "\"issues\":[]"));
    CHECK_INT(j_int(r, "checked"), 2);
    cacheness_string_free(r);
    OK(cacheness_cache_repair(c, NULL, &r)); /* a second repair finds nothing */
    CHECK(!strstr(r, d.key_size) && !strstr(r, d.key_hash) && !strstr(r, d.key_missing));
    CHECK(!strstr(r, base_name(d.stray)) && !strstr(r, d.key_good));
    cacheness_string_free(r);
    check_outside_files(NULL);
    free(big);
}

/* get must never hand out bad data: CORRUPT (and the entry is gone), or a miss. */
static void check_never_returned(cacheness_cache *c, const char *selector) {
    cacheness_bytes data = {NULL, 0};
    bool found = false;
    cacheness_error *e = cacheness_cache_get(c, selector, &data, &found);
    if (e) {
        if (cacheness_error_code(e) != CACHENESS_CORRUPT) t_fail_err(__FILE__, __LINE__, selector, e);
        cacheness_error_free(e);
    } else if (found) {
        cacheness_bytes_free(data);
        t_fail(__FILE__, __LINE__, "get(%s) returned damaged data", selector);
    }
    CHECK(!t_exists(c, selector));
}

static void test_get_never_returns_bad_data(void) {
    cacheness_cache *c = t_cache(NULL);
    uint8_t *big = t_data(BIG, 4);
    t_append_file(put_blob(c, "{\"bad\":\"size\"}", big, BIG), "x", 1);
    CHECK(remove(put_blob(c, "{\"bad\":\"missing\"}", big + 1, BIG - 1)) == 0);
    t_append_file(put_blob(c, "{\"bad\":\"batch\"}", big + 2, BIG - 2), "x", 1);
    t_append_file(put_blob(c, "{\"bad\":\"meta\"}", big + 3, BIG - 3), "x", 1);
    put_blob(c, "{\"bad\":\"none\"}", big + 4, BIG - 4);
    check_never_returned(c, "{\"bad\":\"size\"}");
    check_never_returned(c, "{\"bad\":\"missing\"}");

    cacheness_batch *b = NULL;
    cacheness_error *e = cacheness_cache_get_batch(c, "[{\"bad\":\"batch\"},{\"bad\":\"none\"}]", &b);
    if (e) {
        CHECK_INT(cacheness_error_code(e), CACHENESS_CORRUPT);
        cacheness_error_free(e);
    } else {
        const uint8_t *data;
        size_t len;
        CHECK(!cacheness_batch_get(b, 0, &data, &len));
        CHECK(cacheness_batch_get(b, 1, &data, &len) && len == BIG - 4);
        cacheness_batch_free(b);
    }

    cacheness_bytes data = {NULL, 0};
    char *meta = NULL;
    bool found = false;
    e = cacheness_cache_get_with_metadata(c, "{\"bad\":\"meta\"}", &data, &meta, &found);
    if (e) {
        CHECK_INT(cacheness_error_code(e), CACHENESS_CORRUPT);
        cacheness_error_free(e);
    } else {
        CHECK(!found);
    }
    t_check_data(c, "{\"bad\":\"none\"}", big + 4, BIG - 4);

    /* With verify_on_read, a flipped byte of equal size is caught on get. */
    cacheness_cache *v = t_cache_at(t_path("vor"), "\"verify_on_read\":true");
    size_t n0;
    char **before = t_list_files(t_path("vor/blobs"), &n0);
    t_free_list(before);
    CHECK_INT(n0, 0);
    t_put(v, "{\"flip\":1}", big, BIG, NULL);
    t_flip_byte(t_only_file(t_path("vor/blobs")), BIG / 3);
    check_never_returned(v, "{\"flip\":1}");
    /* small values inside the database are covered by the same check */
    t_put_str(v, "{\"small\":1}", "fine", NULL);
    t_check_data(v, "{\"small\":1}", "fine", 4);
    free(big);
}

static void test_orphans(void) {
    cacheness_cache *c = t_cache(NULL);
    uint8_t *big = t_data(BIG, 5);
    char good[4096], stray[4096];
    snprintf(good, sizeof good, "%s", put_blob(c, "{\"o\":1}", big, BIG));
    snprintf(stray, sizeof stray, "%s", stray_beside(good));
    t_plant_old_file(stray, "stray");
    plant_outside_files();

    char *r = NULL;
    OK(cacheness_cache_find_orphans(c, &r));
    CHECK(strstr(r, base_name(stray)) != NULL);
    CHECK(strstr(r, base_name(good)) == NULL);
    check_outside_files(r);
    cacheness_string_free(r);
    CHECK(t_file_exists(stray)); /* finding removes nothing */

    uint64_t n = 0;
    OK(cacheness_cache_cleanup_orphans(c, &n));
    CHECK_INT(n, 1);
    CHECK(!t_file_exists(stray));
    CHECK(t_file_exists(good));
    t_check_data(c, "{\"o\":1}", big, BIG);
    check_outside_files(NULL);
    OK(cacheness_cache_find_orphans(c, &r));
    CHECK(!strstr(r, base_name(stray)));
    cacheness_string_free(r);
    OK(cacheness_cache_cleanup_orphans(c, &n));
    CHECK_INT(n, 0);
    free(big);
}

static void test_clear(void) {
    cacheness_cache *c = t_cache(NULL);
    uint8_t *big = t_data(BIG, 6);
    t_put(c, "{\"c\":1}", big, BIG, NULL);
    t_put(c, "{\"c\":2}", big, BIG - 7, NULL);
    t_put_str(c, "{\"c\":3}", "small", NULL);
    plant_outside_files();
    uint64_t n = 0;
    OK(cacheness_cache_clear(c, &n));
    CHECK_INT(n, 3);
    CHECK_INT(t_count_files(blobs()), 0);
    check_outside_files(NULL);
    char *page = NULL;
    OK(cacheness_cache_list(c, "{\"include_expired\":true}", NULL, &page));
    CHECK(j_has(page, "\"entries\":[]"));
    cacheness_string_free(page);
    OK(cacheness_cache_clear(c, &n));
    CHECK_INT(n, 0);
    /* still usable, and a reopen sees the empty cache */
    t_put(c, "{\"c\":1}", big, BIG, NULL);
    t_cache_close(c);
    c = t_cache(NULL);
    t_check_data(c, "{\"c\":1}", big, BIG);
    CHECK(!t_exists(c, "{\"c\":3}"));
    free(big);
}

/* ---- export / import ---- */

#define FIXTURE_BIG 100000

static uint8_t *fixture_big(void) {
    uint8_t *b = malloc(FIXTURE_BIG);
    CHECK(b != NULL);
    for (size_t i = 0; i < FIXTURE_BIG; i++) b[i] = (uint8_t)(i % 251);
    return b;
}

static const char *const fixture_params[] = {"{\"x\":\"greeting\"}", "{\"x\":\"big\"}",
                                             "{\"x\":\"ttl\"}"};

static void fill(cacheness_cache *c, const uint8_t *big) {
    t_put_str(c, fixture_params[0], "hello, cacheness",
              "{\"data_type\":\"text\",\"description\":\"hi\",\"metadata\":{\"writer\":\"c\"}}");
    t_put(c, fixture_params[1], big, FIXTURE_BIG, "{\"metadata\":{\"writer\":\"other\"}}");
    t_put_str(c, fixture_params[2], "short-lived", "{\"ttl_seconds\":3600}");
}

/* The imported entry has the exported one's bytes and metadata. */
static void check_same(cacheness_cache *c, const char *params, const char *meta_before,
                       const uint8_t *big) {
    char *m = t_meta(c, params);
    const char *names[] = {"cache_key", "params", "data_type", "description", "size",
                           "content_hash", "expires_at", "metadata"};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        char want[1024];
        const char *v = j_value(meta_before, names[i]);
        CHECK(v != NULL);
        snprintf(want, sizeof want, "%s", v);
        if (!j_value(m, names[i]) || strcmp(j_value(m, names[i]), want) != 0)
            t_fail(__FILE__, __LINE__, "%s of %s: %s, want %s", names[i], params,
                   j_value(m, names[i]) ? j_value(m, names[i]) : "(absent)", want);
    }
    cacheness_string_free(m);
    if (strcmp(params, fixture_params[0]) == 0) t_check_data(c, params, "hello, cacheness", 16);
    if (strcmp(params, fixture_params[1]) == 0) t_check_data(c, params, big, FIXTURE_BIG);
    if (strcmp(params, fixture_params[2]) == 0) t_check_data(c, params, "short-lived", 11);
}

struct snapshot {
    char *meta[3];
};

static void take(cacheness_cache *c, struct snapshot *s) {
    for (int i = 0; i < 3; i++) s->meta[i] = t_meta(c, fixture_params[i]);
}

static void check_all_same(cacheness_cache *c, struct snapshot *s, const uint8_t *big) {
    for (int i = 0; i < 3; i++) check_same(c, fixture_params[i], s->meta[i], big);
}

static void drop(struct snapshot *s) {
    for (int i = 0; i < 3; i++) cacheness_string_free(s->meta[i]);
}

static void test_export_import_roundtrip(void) {
    cacheness_cache *c = t_cache(NULL);
    uint8_t *big = fixture_big();
    fill(c, big);
    struct snapshot s;
    take(c, &s);

    uint64_t n = 0;
    char gz[4096];
    snprintf(gz, sizeof gz, "%s", t_path("backup.tar.gz"));
    OK(cacheness_cache_export(c, gz, NULL, &n));
    CHECK_INT(n, 3);
    size_t len;
    uint8_t *file = t_read_file(gz, &len);
    CHECK(len > 2 && file[0] == 0x1f && file[1] == 0x8b); /* gzip by default */
    free(file);

    OK(cacheness_cache_clear(c, &n));
    CHECK_INT(n, 3);
    CHECK_INT(t_count_files(blobs()), 0);
    OK(cacheness_cache_import(c, gz, NULL, &n));
    CHECK_INT(n, 3);
    check_all_same(c, &s, big);
    char *r = verify(c, "{\"deep\":true}");
    CHECK(j_has(r, "\"ok\":true"));
    cacheness_string_free(r);

    /* Uncompressed tar, imported into another cache. */
    char tar[4096];
    snprintf(tar, sizeof tar, "%s", t_path("backup.tar"));
    OK(cacheness_cache_export(c, tar, "{\"compress\":false}", &n));
    CHECK_INT(n, 3);
    file = t_read_file(tar, &len);
    CHECK(len > 512 && memcmp(file + 257, "ustar", 5) == 0);
    free(file);
    cacheness_cache *other = t_cache_at(t_path("other-cache"), NULL);
    OK(cacheness_cache_import(other, tar, NULL, &n));
    CHECK_INT(n, 3);
    check_all_same(other, &s, big);

    /* Importing again changes nothing: existing entries are kept by default. */
    OK(cacheness_cache_import(other, tar, NULL, &n));
    CHECK_INT(n, 0);
    drop(&s);
    free(big);
}

static void test_import_overwrite(void) {
    cacheness_cache *c = t_cache(NULL);
    uint8_t *big = fixture_big();
    fill(c, big);
    struct snapshot s;
    take(c, &s);
    uint64_t n = 0;
    char gz[4096];
    snprintf(gz, sizeof gz, "%s", t_path("backup.tar.gz"));
    OK(cacheness_cache_export(c, gz, "{\"compress\":true}", &n));
    bool flag = false;
    OK(cacheness_cache_update_data(c, fixture_params[0], (const uint8_t *)"changed", 7, NULL, &flag));
    CHECK(flag);
    OK(cacheness_cache_delete(c, fixture_params[1], &flag));
    CHECK(flag);

    OK(cacheness_cache_import(c, gz, "{\"overwrite\":false}", &n));
    CHECK_INT(n, 1); /* only the deleted one comes back */
    t_check_data(c, fixture_params[0], "changed", 7);
    check_same(c, fixture_params[1], s.meta[1], big);

    OK(cacheness_cache_import(c, gz, "{\"overwrite\":true}", &n));
    CHECK_INT(n, 3);
    check_all_same(c, &s, big);
    CHECK_INT(t_count_files(blobs()), 1);
    drop(&s);
    free(big);
}

static void test_export_filter(void) {
    cacheness_cache *c = t_cache(NULL);
    uint8_t *big = fixture_big();
    fill(c, big);
    uint64_t n = 0;
    char gz[4096];
    snprintf(gz, sizeof gz, "%s", t_path("some.tar.gz"));
    OK(cacheness_cache_export(c, gz, "{\"filter\":{\"metadata\":{\"writer\":{\"$exists\":true}}}}",
                              &n));
    CHECK_INT(n, 2);
    cacheness_cache *other = t_cache_at(t_path("other-cache"), NULL);
    OK(cacheness_cache_import(other, gz, NULL, &n));
    CHECK_INT(n, 2);
    CHECK(t_exists(other, fixture_params[0]) && t_exists(other, fixture_params[1]));
    CHECK(!t_exists(other, fixture_params[2]));

    char *doc = NULL;
    OK(cacheness_cache_export_json(c, "{\"filter\":{\"data_type\":\"text\"}}", &doc));
    cacheness_cache *third = t_cache_at(t_path("third-cache"), NULL);
    OK(cacheness_cache_import_json(third, doc, NULL, &n));
    CHECK_INT(n, 1);
    CHECK(t_exists(third, fixture_params[0]));
    cacheness_string_free(doc);
    free(big);
}

static void test_export_json_roundtrip(void) {
    cacheness_cache *c = t_cache(NULL);
    uint8_t *big = fixture_big();
    fill(c, big);
    struct snapshot s;
    take(c, &s);
    char *doc = NULL;
    OK(cacheness_cache_export_json(c, NULL, &doc));
    CHECK(doc != NULL && doc[0] == '{');
    uint64_t n = 0;
    OK(cacheness_cache_clear(c, &n));
    OK(cacheness_cache_import_json(c, doc, NULL, &n));
    CHECK_INT(n, 3);
    check_all_same(c, &s, big);
    OK(cacheness_cache_import_json(c, doc, NULL, &n));
    CHECK_INT(n, 0);
    OK(cacheness_cache_import_json(c, doc, "{\"overwrite\":true}", &n));
    CHECK_INT(n, 3);
    check_all_same(c, &s, big);
    /* into a memory-only cache as well */
    cacheness_cache *mem = NULL;
    OK(cacheness_cache_open("{\"metadata\":\"memory\",\"blobs\":\"memory\"}", &mem));
    cacheness_error *e = cacheness_cache_import_json(mem, doc, NULL, &n);
    cacheness_cache_close(mem);
    if (e) t_fail_err(__FILE__, __LINE__, "import_json into memory cache", e);
    CHECK_INT(n, 3);
    cacheness_string_free(doc);
    drop(&s);
    free(big);
}

static void test_import_skips_expired(void) {
    cacheness_cache *c = t_cache(NULL);
    t_put_str(c, "{\"i\":\"live\"}", "live", NULL);
    t_put_str(c, "{\"i\":\"dying\"}", "dying", "{\"ttl_seconds\":1}");
    uint64_t n = 0;
    char gz[4096];
    snprintf(gz, sizeof gz, "%s", t_path("b.tar.gz"));
    OK(cacheness_cache_export(c, gz, NULL, &n));
    CHECK_INT(n, 2);
    char *doc = NULL;
    OK(cacheness_cache_export_json(c, NULL, &doc));
    int64_t deadline = t_now_ms() + 5000;
    while (t_exists(c, "{\"i\":\"dying\"}")) {
        CHECK(t_now_ms() < deadline);
        t_sleep_ms(20);
    }
    cacheness_cache *other = t_cache_at(t_path("other-cache"), NULL);
    OK(cacheness_cache_import(other, gz, NULL, &n));
    CHECK_INT(n, 1);
    CHECK(t_exists(other, "{\"i\":\"live\"}"));
    cacheness_cache *third = t_cache_at(t_path("third-cache"), NULL);
    OK(cacheness_cache_import_json(third, doc, NULL, &n));
    CHECK_INT(n, 1);
    CHECK(t_exists(third, "{\"i\":\"live\"}"));
    cacheness_string_free(doc);
    char *page = NULL;
    OK(cacheness_cache_list(third, "{\"include_expired\":true}", NULL, &page));
    CHECK_INT(j_count(page, "\"cache_key\":"), 1);
    cacheness_string_free(page);
}

/* ---- hostile archives (uncompressed tar, edited here) ---- */

static size_t octal(const uint8_t *field, size_t n) {
    size_t v = 0;
    for (size_t i = 0; i < n && field[i] >= '0' && field[i] <= '7'; i++) v = v * 8 + (field[i] - '0');
    return v;
}

/* Offset of the end-of-archive block; *largest gets the data offset of the biggest member. */
static size_t tar_end(const uint8_t *tar, size_t len, size_t *largest) {
    size_t off = 0, best = 0;
    *largest = 0;
    while (off + 512 <= len) {
        const uint8_t *h = tar + off;
        bool zero = true;
        for (int i = 0; i < 512 && zero; i++) zero = h[i] == 0;
        if (zero) return off;
        size_t size = octal(h + 124, 12);
        if (size > best) { best = size; *largest = off + 512; }
        off += 512 + (size + 511) / 512 * 512;
    }
    t_fail(__FILE__, __LINE__, "no end-of-archive block");
}

static void tar_header(uint8_t h[512], const char *name, size_t size, char type,
                       const char *link) {
    memset(h, 0, 512);
    snprintf((char *)h, 100, "%s", name);
    memcpy(h + 100, "0000644", 8);
    memcpy(h + 108, "0000000", 8);
    memcpy(h + 116, "0000000", 8);
    snprintf((char *)h + 124, 12, "%011o", (unsigned)size);
    snprintf((char *)h + 136, 12, "%011o", 1700000000u);
    h[156] = (uint8_t)type;
    if (link) snprintf((char *)h + 157, 100, "%s", link);
    memcpy(h + 257, "ustar", 6);
    memcpy(h + 263, "00", 2);
    memset(h + 148, ' ', 8);
    unsigned sum = 0;
    for (int i = 0; i < 512; i++) sum += h[i];
    snprintf((char *)h + 148, 8, "%06o", sum);
}

/* The exported tar plus one extra member, written to path. */
static void write_with_member(const uint8_t *tar, size_t len, const char *path, const char *name,
                              char type, const char *link) {
    size_t largest, end = tar_end(tar, len, &largest);
    size_t out_len = end + 512 + 512 + 1024;
    uint8_t *out = calloc(1, out_len);
    CHECK(out != NULL);
    memcpy(out, tar, end);
    const char *body = type == '0' ? "evil" : "";
    tar_header(out + end, name, strlen(body), type, link);
    memcpy(out + end + 512, body, strlen(body));
    t_write_file(path, out, out_len);
    free(out);
}

static void check_import_refused(cacheness_cache *c, const char *path) {
    uint64_t n;
    PRESET(n);
    cacheness_error *e = cacheness_cache_import(c, path, NULL, &n);
    if (!e) t_fail(__FILE__, __LINE__, "import of %s succeeded (%llu entries)", path,
                   (unsigned long long)n);
    cacheness_code code = cacheness_error_code(e);
    cacheness_error_free(e);
    CHECK(code == CACHENESS_INVALID_ARGUMENT || code == CACHENESS_CORRUPT);
    CHECK(UNTOUCHED(n));
    char *page = NULL;
    OK(cacheness_cache_list(c, "{\"include_expired\":true}", NULL, &page));
    CHECK(j_has(page, "\"entries\":[]"));
    cacheness_string_free(page);
}

static void test_import_refuses_hostile_archives(void) {
    cacheness_cache *c = t_cache_at(t_path("src"), NULL);
    uint8_t *big = fixture_big();
    fill(c, big);
    uint64_t n = 0;
    char path[4096];
    snprintf(path, sizeof path, "%s", t_path("good.tar"));
    OK(cacheness_cache_export(c, path, "{\"compress\":false}", &n));
    size_t len;
    uint8_t *tar = t_read_file(path, &len);
    cacheness_cache *dst = t_cache_at(t_path("dst"), NULL);

    write_with_member(tar, len, t_path("dotdot.tar"), "../evil.txt", '0', NULL);
    check_import_refused(dst, t_path("dotdot.tar"));
    write_with_member(tar, len, t_path("inner.tar"), "blobs/../../evil.txt", '0', NULL);
    check_import_refused(dst, t_path("inner.tar"));
    write_with_member(tar, len, t_path("abs.tar"), t_path("evil.txt"), '0', NULL);
    check_import_refused(dst, t_path("abs.tar"));
    write_with_member(tar, len, t_path("symlink.tar"), "blobs/link", '2', "/etc/passwd");
    check_import_refused(dst, t_path("symlink.tar"));
    write_with_member(tar, len, t_path("hardlink.tar"), "blobs/hard", '1', "manifest.json");
    check_import_refused(dst, t_path("hardlink.tar"));
    CHECK(!t_file_exists(t_path("evil.txt")));
    CHECK(!t_file_exists(t_fmt("%s/../evil.txt", t_dir)));

    /* A blob whose bytes no longer match its content_hash. */
    size_t largest;
    tar_end(tar, len, &largest);
    CHECK(largest > 0);
    tar[largest + 1000] ^= 0x55;
    t_write_file(t_path("tampered.tar"), tar, len);
    uint64_t count;
    PRESET(count);
    FAILS(CACHENESS_CORRUPT, cacheness_cache_import(dst, t_path("tampered.tar"), NULL, &count));
    CHECK(UNTOUCHED(count));
    CHECK(!t_exists(dst, fixture_params[1]));

    /* Not an archive at all; no such file. */
    t_write_file(t_path("junk.tar.gz"), big, 5000);
    cacheness_error *e = cacheness_cache_import(dst, t_path("junk.tar.gz"), NULL, &count);
    CHECK(e != NULL);
    cacheness_error_free(e);
    e = cacheness_cache_import(dst, t_path("nope.tar.gz"), NULL, &count);
    CHECK(e != NULL);
    CHECK(cacheness_error_code(e) == CACHENESS_IO || cacheness_error_code(e) == CACHENESS_NOT_FOUND);
    cacheness_error_free(e);
    CHECK(UNTOUCHED(count));
    free(tar);
    free(big);
}

const t_case maint_tests[] = {
    {"verify_clean", test_verify_clean},
    {"verify_finds_damage", test_verify_finds_damage},
    {"repair", test_repair},
    {"get_never_returns_bad_data", test_get_never_returns_bad_data},
    {"orphans", test_orphans},
    {"clear", test_clear},
    {"export_import_roundtrip", test_export_import_roundtrip},
    {"import_overwrite", test_import_overwrite},
    {"export_filter", test_export_filter},
    {"export_json_roundtrip", test_export_json_roundtrip},
    {"import_skips_expired", test_import_skips_expired},
    {"import_refuses_hostile_archives", test_import_refuses_hostile_archives},
    {NULL, NULL},
};
