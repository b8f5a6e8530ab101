/* Filters through delete_where, touch_where, update_metadata_where and delete_matching. */
#define _XOPEN_SOURCE 700

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "suites.h"

/* Four entries; a filter's expected match is a bit set over them. */
#define N 4
static const char *const params[N] = {
    "{\"exp\":\"exp_001\",\"run\":1}",
    "{\"exp\":\"exp_002\",\"run\":2}",
    "{\"exp\":\"other\",\"run\":3}",
    "{\"kind\":\"z\"}",
};
#define E1 1u
#define E2 2u
#define E3 4u
#define E4 8u
#define ALL 15u
#define BIG 20000

static void populate(cacheness_cache *c) {
    uint8_t *big = t_data(BIG, 1);
    t_put_str(c, params[0], "one", "{\"data_type\":\"model\",\"metadata\":{\"project\":\"ml\"}}");
    t_put_str(c, params[1], "two", "{\"metadata\":{\"project\":\"ml\"}}");
    t_put(c, params[2], big, BIG, "{\"metadata\":{\"project\":\"web\",\"owner\":\"x\"}}");
    t_put_str(c, params[3], "for", NULL);
    free(big);
}

static int bits(unsigned set) {
    int n = 0;
    for (; set; set >>= 1) n += (int)(set & 1u);
    return n;
}

static unsigned present(cacheness_cache *c) {
    unsigned set = 0;
    for (int i = 0; i < N; i++)
        if (t_exists(c, params[i])) set |= 1u << i;
    return set;
}

static unsigned matching_key_prefix(const char *prefix) {
    unsigned set = 0;
    for (int i = 0; i < N; i++)
        if (strncmp(t_key(params[i]), prefix, strlen(prefix)) == 0) set |= 1u << i;
    return set;
}

static void test_delete_where(void) {
    cacheness_cache *c = t_cache(NULL);
    char prefix[9];
    snprintf(prefix, sizeof prefix, "%.8s", t_key(params[0]));
    struct { const char *filter; unsigned match; } cases[] = {
        {"{\"params\":{\"exp\":\"exp_001\"}}", E1},
        {"{\"params\":{\"run\":2}}", E2},
        {"{\"params\":{\"exp\":{\"$prefix\":\"exp_\"}}}", E1 | E2},
        {"{\"params\":{\"exp\":{\"$glob\":\"exp_*2\"}}}", E2},
        {"{\"params\":{\"exp\":{\"$glob\":\"exp_00?\"}}}", E1 | E2},
        {"{\"params\":{\"exp\":{\"$glob\":\"exp\"}}}", 0},
        {"{\"params\":{\"exp\":{\"$exists\":true}}}", E1 | E2 | E3},
        {"{\"params\":{\"exp\":{\"$exists\":false}}}", E4},
        {"{\"params\":{\"run\":{\"$in\":[1,3,99]}}}", E1 | E3},
        {"{\"params\":{\"exp\":{\"$in\":[\"other\"]}}}", E3},
        {"{\"params\":{\"exp\":\"exp_001\",\"run\":2}}", 0},
        {"{\"metadata\":{\"project\":\"ml\"}}", E1 | E2},
        {"{\"metadata\":{\"owner\":{\"$exists\":true}}}", E3},
        {"{\"metadata\":{\"project\":{\"$prefix\":\"w\"}}}", E3},
        {"{\"data_type\":\"model\"}", E1},
        {"{\"min_size\":20000}", E3},
        {"{\"max_size\":10}", E1 | E2 | E4},
        {"{\"params\":{\"exp\":{\"$prefix\":\"exp_\"}},\"metadata\":{\"project\":\"ml\"},"
         "\"data_type\":\"model\"}", E1},
        {"{\"created_after\":\"2000-01-01T00:00:00.000Z\"}", ALL},
        {"{\"created_before\":\"2000-01-01T00:00:00.000Z\"}", 0},
        {"{\"expires_before\":\"2999-01-01T00:00:00.000Z\"}", 0}, /* none expire */
        {"{}", ALL},
        {NULL, 0},
    };
    for (int i = 0; cases[i].filter; i++) {
        uint64_t n = 0, cleared = 0;
        OK(cacheness_cache_clear(c, &cleared));
        populate(c);
        OK(cacheness_cache_delete_where(c, cases[i].filter, &n));
        unsigned left = present(c);
        if (left != (ALL & ~cases[i].match) || n != (uint64_t)bits(cases[i].match))
            t_fail(__FILE__, __LINE__, "delete_where(%s): deleted %llu, left set %x, want left %x",
                   cases[i].filter, (unsigned long long)n, left, ALL & ~cases[i].match);
    }
    /* key_prefix, against the keys themselves */
    uint64_t n = 0, cleared = 0;
    OK(cacheness_cache_clear(c, &cleared));
    populate(c);
    unsigned want = matching_key_prefix(prefix);
    OK(cacheness_cache_delete_where(c, t_fmt("{\"key_prefix\":\"%s\"}", prefix), &n));
    CHECK_INT(n, bits(want));
    CHECK_INT(present(c), ALL & ~want);
    /* the blob file of a deleted entry goes with it */
    OK(cacheness_cache_delete_where(c, "{\"min_size\":1000}", &n));
    CHECK_INT(n, 1);
    CHECK_INT(t_count_files(t_path("blobs")), 0);
}

static void test_bad_filter_deletes_nothing(void) {
    cacheness_cache *c = t_cache(NULL);
    populate(c);
    const char *bad[] = {
        "{\"param\":{\"exp\":\"exp_001\"}}",            /* typo in a field name */
        "{\"params\":{\"exp\":{\"$prefx\":\"exp\"}}}",   /* typo in an operator */
        "{\"params\":{\"exp\":{\"$prefix\":\"e\",\"$bogus\":1}}}",
        "{\"metadata\":{\"project\":{\"$in\":\"ml\"}}}",
        "{\"include_expired\":true,\"bogus\":true}",
        "{\"created_before\":\"2020-01-01\"}",
    };
    uint64_t n;
    PRESET(n);
    EACH(i, bad) {
        FAILS_INVALID(cacheness_cache_delete_where(c, bad[i], &n));
        FAILS_INVALID(cacheness_cache_touch_where(c, bad[i], "{\"ttl_seconds\":1}", &n));
        FAILS_INVALID(cacheness_cache_update_metadata_where(c, bad[i], "{\"x\":1}", &n));
    }
    CHECK(UNTOUCHED(n));
    CHECK_INT(present(c), ALL);
    char *m = t_meta(c, params[0]);
    CHECK_INT(j_time(m, "expires_at"), -1);
    CHECK_INT(j_int(m, "version"), 1);
    cacheness_string_free(m);
}

static void test_touch_where(void) {
    cacheness_cache *c = t_cache(NULL);
    populate(c);
    uint64_t n = 0;
    OK(cacheness_cache_touch_where(c, "{\"metadata\":{\"project\":\"ml\"}}",
                                   "{\"ttl_seconds\":3600}", &n));
    CHECK_INT(n, 2);
    int64_t now = t_now_ms();
    for (int i = 0; i < N; i++) {
        char *m = t_meta(c, params[i]);
        int64_t exp = j_time(m, "expires_at");
        if (i < 2) {
            CHECK(exp > now + 3500 * 1000LL && exp < now + 3700 * 1000LL);
            CHECK_INT(j_int(m, "version"), 1);
        } else {
            CHECK_INT(exp, -1);
        }
        cacheness_string_free(m);
    }
    /* NULL options: the cache default TTL (never, here) */
    OK(cacheness_cache_touch_where(c, "{\"params\":{\"run\":1}}", NULL, &n));
    CHECK_INT(n, 1);
    char *m = t_meta(c, params[0]);
    CHECK_INT(j_time(m, "expires_at"), -1);
    cacheness_string_free(m);
    OK(cacheness_cache_touch_where(c, "{\"params\":{\"run\":42}}", "{\"ttl_seconds\":5}", &n));
    CHECK_INT(n, 0);
    CHECK_INT(present(c), ALL);
}

static void test_update_metadata_where(void) {
    cacheness_cache *c = t_cache(NULL);
    populate(c);
    uint64_t n = 0;
    OK(cacheness_cache_update_metadata_where(c, "{\"params\":{\"exp\":{\"$prefix\":\"exp_\"}}}",
                                             "{\"stage\":\"done\",\"project\":null}", &n));
    CHECK_INT(n, 2);
    for (int i = 0; i < N; i++) {
        char *m = t_meta(c, params[i]);
        const char *md = j_value(m, "metadata");
        if (i < 2) {
            CHECK(j_has(md, "\"stage\":\"done\""));
            CHECK(!j_has(md, "\"project\""));
            CHECK_INT(j_int(m, "version"), 2);
        } else {
            CHECK(!j_has(md, "\"stage\""));
            CHECK_INT(j_int(m, "version"), 1);
        }
        cacheness_string_free(m);
    }
    OK(cacheness_cache_update_metadata_where(c, "{\"metadata\":{\"stage\":\"done\"}}",
                                             "{\"stage\":\"archived\"}", &n));
    CHECK_INT(n, 2);
    OK(cacheness_cache_update_metadata_where(c, "{\"metadata\":{\"stage\":\"done\"}}",
                                             "{\"stage\":\"x\"}", &n));
    CHECK_INT(n, 0);
}

struct pred_ctx {
    int calls;
    int bad_json;
    bool other_thread;
    pthread_t caller;
    const char *delete_if; /* a compact fragment of the metadata JSON, or NULL for none */
};

static bool predicate(const char *metadata_json, void *arg) {
    struct pred_ctx *ctx = arg;
    ctx->calls++;
    if (!pthread_equal(pthread_self(), ctx->caller)) ctx->other_thread = true;
    if (!metadata_json || !j_has(metadata_json, "\"cache_key\":") ||
        !j_has(metadata_json, "\"params\":"))
        ctx->bad_json++;
    return ctx->delete_if && metadata_json && j_has(metadata_json, ctx->delete_if);
}

static void test_delete_matching(void) {
    cacheness_cache *c = t_cache(NULL);
    populate(c);
    struct pred_ctx ctx = {0, 0, false, pthread_self(), NULL};
    uint64_t n = 99;
    OK(cacheness_cache_delete_matching(c, NULL, predicate, &ctx, &n));
    CHECK_INT(n, 0);
    CHECK_INT(ctx.calls, N);
    CHECK_INT(ctx.bad_json, 0);
    CHECK(!ctx.other_thread);
    CHECK_INT(present(c), ALL);

    ctx = (struct pred_ctx){0, 0, false, pthread_self(), "\"project\":\"web\""};
    OK(cacheness_cache_delete_matching(c, "{}", predicate, &ctx, &n));
    CHECK_INT(n, 1);
    CHECK_INT(ctx.calls, N);
    CHECK_INT(present(c), ALL & ~E3);
    CHECK_INT(t_count_files(t_path("blobs")), 0);

    /* The filter narrows what the predicate sees. */
    ctx = (struct pred_ctx){0, 0, false, pthread_self(), "\"project\":\"ml\""};
    OK(cacheness_cache_delete_matching(c, "{\"params\":{\"run\":{\"$in\":[2,3]}}}", predicate, &ctx,
                                       &n));
    CHECK_INT(ctx.calls, 1);
    CHECK_INT(n, 1);
    CHECK_INT(present(c), E1 | E4);
    CHECK_INT(ctx.bad_json, 0);
}

static bool always(const char *metadata_json, void *arg) {
    (void)metadata_json;
    ++*(int *)arg;
    return true;
}

static void test_delete_matching_skips_expired(void) {
    cacheness_cache *c = t_cache(NULL);
    t_put_str(c, "{\"live\":1}", "x", NULL);
    t_put_str(c, "{\"short\":1}", "x", "{\"ttl_seconds\":1}");
    int64_t deadline = t_now_ms() + 5000;
    while (t_exists(c, "{\"short\":1}")) {
        CHECK(t_now_ms() < deadline);
        t_sleep_ms(20);
    }
    int calls = 0;
    uint64_t n = 0;
    OK(cacheness_cache_delete_matching(c, NULL, always, &calls, &n));
    CHECK_INT(calls, 1);
    CHECK_INT(n, 1);
    /* include_expired reaches it */
    calls = 0;
    OK(cacheness_cache_delete_matching(c, "{\"include_expired\":true}", always, &calls, &n));
    CHECK(calls <= 1 && n == (uint64_t)calls); /* 0 if a read already dropped it */
    uint64_t removed = 0;
    OK(cacheness_cache_cleanup_expired(c, &removed));
    CHECK_INT(removed, 0);
}

const t_case filter_tests[] = {
    {"delete_where", test_delete_where},
    {"bad_filter_deletes_nothing", test_bad_filter_deletes_nothing},
    {"touch_where", test_touch_where},
    {"update_metadata_where", test_update_metadata_where},
    {"delete_matching", test_delete_matching},
    {"delete_matching_skips_expired", test_delete_matching_skips_expired},
    {NULL, NULL},
};
