/* A cache whose metadata lives in PostgreSQL (blobs in files under the test's directory):
 * put, get, get_metadata, list, delete_where, verify and stats through the C ABI.
 *
 * The server's URL comes from CACHENESS_TEST_POSTGRES_URL (the top-level `make test` starts a
 * throwaway server with scripts/pg.sh and sets it). Without it the test does not run and says
 * so on a line of its own; with CACHENESS_REQUIRE_POSTGRES=1 a missing URL is a failure.
 * Every run uses a fresh namespace, so reruns against one database never see each other. */
#define _XOPEN_SOURCE 700

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "check.h"
#include "suites.h"

#define PG_ENV "CACHENESS_TEST_POSTGRES_URL"
#define REQUIRE_ENV "CACHENESS_REQUIRE_POSTGRES"
#define BIG 40000 /* above inline_max_bytes (16 KiB): the value goes to a blob file */
/* How long the library's threads may outlive the last close before the test fails. */
#define THREADS_GONE_MS 45000

/* The URL as the inside of a JSON string (ring buffer). */
static const char *json_escaped(const char *s) {
    char out[2048];
    size_t n = 0;
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        CHECK(n + 7 < sizeof out);
        if (*p == '"' || *p == '\\') {
            out[n++] = '\\';
            out[n++] = (char)*p;
        } else if (*p < 0x20) {
            n += (size_t)snprintf(out + n, sizeof out - n, "\\u%04x", *p);
        } else {
            out[n++] = (char)*p;
        }
    }
    out[n] = '\0';
    return t_fmt("%s", out);
}

/* The config members (inside the object, after "dir") of a PostgreSQL cache in namespace ns. */
static const char *pg_extra(const char *url, const char *ns) {
    return t_fmt("\"metadata\":\"postgres\",\"postgres_url\":\"%s\",\"namespace\":\"%s\"",
                 json_escaped(url), ns);
}

/* Threads of this process (valgrind and the sanitizers run the program's threads 1:1). */
static int thread_count(void) {
    DIR *d = opendir("/proc/self/task");
    if (!d) return -1;
    int n = 0;
    for (struct dirent *e; (e = readdir(d)) != NULL;)
        if (e->d_name[0] != '.') n++;
    closedir(d);
    return n;
}

/* After every handle is closed, the library's threads must go away: valgrind reports a thread
 * still running at exit as a (possible) leak. Today the r2d2 pool of a PostgreSQL handle keeps
 * its 3 worker threads for up to 30 s after close (until its connection reaper's next run), so
 * wait for them, say so, and fail only if they outlive THREADS_GONE_MS. */
static void wait_for_threads(int baseline) {
    if (baseline < 0) return; /* no /proc */
    int64_t start = t_now_ms();
    int n;
    while ((n = thread_count()) > baseline && t_now_ms() - start < THREADS_GONE_MS) t_sleep_ms(50);
    int64_t waited = t_now_ms() - start;
    if (n > baseline)
        t_fail(__FILE__, __LINE__, "%d library thread(s) still running %lld ms after the last "
               "cacheness_cache_close", n - baseline, (long long)waited);
    if (waited > 1000)
        printf("  NOTE: library threads outlived cacheness_cache_close by %lld ms "
               "(PostgreSQL connection pool workers; waited for them)\n", (long long)waited);
}

static char *stats_of(cacheness_cache *c) {
    char *stats = NULL;
    OK(cacheness_cache_stats(c, &stats));
    CHECK(stats != NULL);
    return stats;
}

/* The page of entries matching filter (NULL: all); free with cacheness_string_free. */
static char *list_of(cacheness_cache *c, const char *filter, const char *options) {
    char *page = NULL;
    OK(cacheness_cache_list(c, filter, options, &page));
    CHECK(page != NULL);
    return page;
}

static void test_postgres_backend(void) {
    const char *url = getenv(PG_ENV);
    if (!url || !*url) {
        const char *req = getenv(REQUIRE_ENV);
        if (req && strcmp(req, "1") == 0)
            t_fail(__FILE__, __LINE__,
                   "%s is not set but %s=1: the PostgreSQL C test cannot run. Start a server with "
                   "eval \"$(scripts/pg.sh start)\"", PG_ENV, REQUIRE_ENV);
        printf("  NOTE: %s is not set: the PostgreSQL C test did NOT run "
               "(eval \"$(scripts/pg.sh start)\" to run it; %s=1 makes this a failure)\n",
               PG_ENV, REQUIRE_ENV);
        return;
    }
    /* Unique per run: pid, wall clock and the temp directory's random suffix. */
    const char *suffix = strrchr(t_dir, '-');
    char ns[128];
    snprintf(ns, sizeof ns, "c-test-%ld-%lld-%s", (long)getpid(), (long long)t_now_ms(),
             suffix ? suffix + 1 : "x");
    int threads_before = thread_count();
    const char *extra = pg_extra(url, ns);
    char extra_copy[4096];
    snprintf(extra_copy, sizeof extra_copy, "%s", extra); /* the ring buffer gets reused */

    cacheness_cache *c = t_cache(extra_copy);
    char *stats = stats_of(c);
    CHECK_STR(j_str(stats, "metadata_backend"), "postgres");
    CHECK_STR(j_str(stats, "namespace"), ns);
    CHECK_INT(j_int(stats, "entries"), 0);
    CHECK_INT(j_int(stats, "total_size"), 0);
    cacheness_string_free(stats);

    /* put: one inline value, one blob file, three more in another group (one with a TTL). */
    uint8_t *big = t_data(BIG, 81);
    char small_key[65], big_key[65];
    snprintf(small_key, sizeof small_key, "%s",
             t_put_str(c, "{\"pg\":\"small\",\"group\":\"a\"}", "hello, postgres",
                       "{\"data_type\":\"text\",\"description\":\"greeting\","
                       "\"metadata\":{\"writer\":\"c-postgres\",\"n\":1}}"));
    CHECK_STR(small_key, t_key("{\"group\":\"a\",\"pg\":\"small\"}"));
    snprintf(big_key, sizeof big_key, "%s",
             t_put(c, "{\"pg\":\"big\",\"group\":\"a\"}", big, BIG, NULL));
    CHECK(t_count_files(t_path("blobs")) == 1);
    t_put_str(c, "{\"pg\":1,\"group\":\"b\"}", "one", "{\"metadata\":{\"writer\":\"c-postgres\"}}");
    t_put_str(c, "{\"pg\":2,\"group\":\"b\"}", "two", "{\"ttl_seconds\":3600}");
    t_put_str(c, "{\"pg\":3,\"group\":\"b\"}", "", NULL);

    /* get: hits with the exact bytes (by params and by key), a miss. */
    t_check_data(c, "{\"pg\":\"small\",\"group\":\"a\"}", "hello, postgres", 15);
    t_check_data(c, big_key, big, BIG);
    t_check_data(c, "{\"pg\":1,\"group\":\"b\"}", "one", 3);
    cacheness_bytes out;
    CHECK(t_get(c, "{\"pg\":3,\"group\":\"b\"}", &out));
    CHECK_INT(out.len, 0);
    cacheness_bytes_free(out);
    PRESET(out);
    bool found = true;
    OK(cacheness_cache_get(c, "{\"pg\":\"absent\"}", &out, &found));
    CHECK(!found);
    CHECK(out.data == NULL && out.len == 0);

    /* get_metadata: the API.md shape, read back from PostgreSQL. */
    char *meta = t_meta(c, small_key);
    CHECK_STR(j_str(meta, "cache_key"), small_key);
    CHECK_STR(j_value(meta, "params"), "{\"group\":\"a\",\"pg\":\"small\"}");
    CHECK_STR(j_str(meta, "data_type"), "text");
    CHECK_STR(j_str(meta, "description"), "greeting");
    CHECK_INT(j_int(meta, "size"), 15);
    CHECK(strncmp(j_str(meta, "content_hash"), "sha256:", 7) == 0);
    CHECK_INT(strlen(j_str(meta, "content_hash")), 7 + 64);
    CHECK_INT(j_int(meta, "version"), 1);
    CHECK_INT(j_int(meta, "access_count"), 1);
    CHECK(j_time(meta, "created_at") > 0);
    CHECK(j_time(meta, "accessed_at") >= j_time(meta, "created_at"));
    CHECK(j_has(meta, "\"expires_at\":null"));
    CHECK_STR(j_value(meta, "metadata"), "{\"n\":1,\"writer\":\"c-postgres\"}");
    cacheness_string_free(meta);
    meta = t_meta(c, "{\"pg\":2,\"group\":\"b\"}");
    int64_t ttl_ms = j_time(meta, "expires_at") - j_time(meta, "created_at");
    CHECK(ttl_ms >= 3599000 && ttl_ms <= 3601000);
    cacheness_string_free(meta);
    char *none = (char *)"sentinel";
    found = true;
    OK(cacheness_cache_get_metadata(c, "{\"pg\":\"absent\"}", &none, &found));
    CHECK(!found);
    CHECK(none == NULL);

    /* list: everything, a filter on params and on metadata, pages with a cursor. */
    char *page = list_of(c, NULL, NULL);
    CHECK_INT(j_count(page, "\"cache_key\":"), 5);
    CHECK(j_has(page, "\"next_cursor\":null"));
    CHECK(strstr(page, small_key) && strstr(page, big_key));
    cacheness_string_free(page);
    page = list_of(c, "{\"params\":{\"group\":\"b\"}}", NULL);
    CHECK_INT(j_count(page, "\"cache_key\":"), 3);
    cacheness_string_free(page);
    page = list_of(c, "{\"metadata\":{\"writer\":\"c-postgres\"}}", "{\"order\":\"key\"}");
    CHECK_INT(j_count(page, "\"cache_key\":"), 2);
    cacheness_string_free(page);
    size_t seen = 0, pages = 0;
    char cursor[1024] = "";
    do {
        const char *opts = cursor[0]
            ? t_fmt("{\"limit\":2,\"order\":\"key\",\"cursor\":\"%s\"}", cursor)
            : "{\"limit\":2,\"order\":\"key\"}";
        page = list_of(c, NULL, opts);
        seen += j_count(page, "\"cache_key\":");
        pages++;
        const char *next = j_str(page, "next_cursor");
        CHECK(next == NULL || strlen(next) < sizeof cursor);
        snprintf(cursor, sizeof cursor, "%s", next ? next : "");
        cacheness_string_free(page);
        CHECK(pages <= 5);
    } while (cursor[0]);
    CHECK_INT(seen, 5);
    CHECK_INT(pages, 3);

    /* verify: quick and deep, both clean. */
    const char *verify_options[] = {NULL, "{\"deep\":true}"};
    EACH(i, verify_options) {
        char *report = NULL;
        OK(cacheness_cache_verify(c, verify_options[i], &report));
        CHECK(j_has(report, "\"ok\":true"));
        CHECK_INT(j_int(report, "checked"), 5);
        CHECK(j_has(report, "\"issues\":[]"));
        cacheness_string_free(report);
    }

    /* stats: totals from the database, counters of this handle. */
    stats = stats_of(c);
    CHECK_INT(j_int(stats, "entries"), 5);
    CHECK_INT(j_int(stats, "total_size"), 15 + BIG + 3 + 3 + 0);
    CHECK_INT(j_int(stats, "hits"), 4);
    CHECK_INT(j_int(stats, "misses"), 1);
    CHECK_INT(j_int(stats, "evictions"), 0);
    cacheness_string_free(stats);

    /* delete_where: one statement; a filter matching nothing deletes nothing. */
    uint64_t n = 99;
    OK(cacheness_cache_delete_where(c, "{\"params\":{\"group\":\"b\"}}", &n));
    CHECK_INT(n, 3);
    n = 99;
    OK(cacheness_cache_delete_where(c, "{\"params\":{\"group\":\"zzz\"}}", &n));
    CHECK_INT(n, 0);
    n = 99;
    FAILS_INVALID(cacheness_cache_delete_where(c, "{\"parms\":{}}", &n));
    CHECK_INT(n, 99);
    CHECK(!t_exists(c, "{\"pg\":1,\"group\":\"b\"}"));
    CHECK(t_exists(c, small_key));
    stats = stats_of(c);
    CHECK_INT(j_int(stats, "entries"), 2);
    CHECK_INT(j_int(stats, "total_size"), 15 + BIG);
    cacheness_string_free(stats);

    /* Another namespace on the same database and directory sees none of it. */
    char other_ns[160];
    snprintf(other_ns, sizeof other_ns, "%s-other", ns);
    cacheness_cache *other = t_cache(pg_extra(url, other_ns));
    stats = stats_of(other);
    CHECK_INT(j_int(stats, "entries"), 0);
    cacheness_string_free(stats);
    CHECK(!t_exists(other, small_key));
    page = list_of(other, NULL, NULL);
    CHECK_INT(j_count(page, "\"cache_key\":"), 0);
    cacheness_string_free(page);
    t_cache_close(other);

    /* The records live in the server: a new handle on the namespace finds them. */
    t_cache_close(c);
    c = t_cache(extra_copy);
    t_check_data(c, big_key, big, BIG);
    meta = t_meta(c, small_key);
    CHECK_INT(j_int(meta, "access_count"), 1);
    cacheness_string_free(meta);
    char *report = NULL;
    OK(cacheness_cache_verify(c, "{\"deep\":true}", &report));
    CHECK(j_has(report, "\"ok\":true"));
    CHECK_INT(j_int(report, "checked"), 2);
    cacheness_string_free(report);

    /* Leave nothing behind in the database. */
    OK(cacheness_cache_delete_where(c, "{}", &n));
    CHECK_INT(n, 2);
    stats = stats_of(c);
    CHECK_INT(j_int(stats, "entries"), 0);
    CHECK_INT(j_int(stats, "total_size"), 0);
    cacheness_string_free(stats);
    CHECK_INT(t_count_files(t_path("blobs")), 0);
    free(big);
    t_cache_close(c);
    wait_for_threads(threads_before);
}

const t_case postgres_tests[] = {
    {"postgres_backend", test_postgres_backend},
    {NULL, NULL},
};
