/* cacheness stress worker (C). One of the three runtimes stress/run.py starts on one directory.
 *
 *     stress_worker DIR WORKER_ID SECONDS SEED
 *
 * For SECONDS it does a random mix of operations on 64 params shared with every other worker
 * ({"stress": k}) and on one private entry ({"own": "w<ID>"}, which only this worker writes).
 * Every value carries its own header (see stress/README.md "Value format"): magic, writer,
 * incarnation, sequence number, total length, CRC-32 of the payload and of the header. Every
 * read checks it; a read must be a miss or a self-consistent value. On the private entry the
 * worker knows exactly what must be there, so it also checks read-your-writes, versions and
 * that a stale expected_version gets CACHENESS_CONFLICT. Every 2-8 s it runs one maintenance call
 * (verify, repair, find/cleanup orphans) while the others write.
 *
 * Allowed errors: CONFLICT (update_data with expected_version), EXISTS (copy/move without
 * overwrite), BUSY only after the 30 s busy timeout. Anything else is a failure, printed to
 * stderr as a line starting with "FAIL". At the end it prints one JSON line (the summary) and
 * exits 1 if any check failed. With CACHENESS_STRESS_PROGRESS set it also prints
 * {"progress": {...}} lines about once a second. */
#define _POSIX_C_SOURCE 200809L

#include <inttypes.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cacheness.h"

#define SHARED_KEYS 64
#define HEADER_LEN 48
#define MAX_VALUE (200 * 1024)
#define BUSY_ALLOWED_AFTER 29.0 /* seconds: the documented busy timeout is 30 s */
#define RUNTIME_CODE 1          /* 1 = C, 2 = Go, 3 = Node */
static const char MAGIC[8] = {'C', 'N', 'S', 'T', 'R', 'E', 'S', 'S'};

/* ---- small utilities ---------------------------------------------------------------------- */

static uint64_t rng_state;
static uint64_t rnd(void) { /* xorshift64* */
    rng_state ^= rng_state >> 12;
    rng_state ^= rng_state << 25;
    rng_state ^= rng_state >> 27;
    return rng_state * 2685821657736338717ULL;
}
static uint64_t below(uint64_t n) { return rnd() % n; }

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static uint32_t crc_table[256];
static void crc_init(void) {
    for (uint32_t i = 0; i < 256; i++) {
        uint32_t c = i;
        for (int k = 0; k < 8; k++) c = c & 1 ? 0xEDB88320u ^ (c >> 1) : c >> 1;
        crc_table[i] = c;
    }
}
static uint32_t crc32_of(const uint8_t *p, size_t n) {
    uint32_t c = 0xFFFFFFFFu;
    for (size_t i = 0; i < n; i++) c = crc_table[(c ^ p[i]) & 0xFF] ^ (c >> 8);
    return c ^ 0xFFFFFFFFu;
}

/* SHA-256 (FIPS 180-4), to compare data with the content_hash of its metadata. */
static const uint32_t K256[64] = {
    0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5,
    0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174,
    0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
    0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967,
    0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85,
    0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
    0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
    0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2};
#define ROR(x, n) (((x) >> (n)) | ((x) << (32 - (n))))
static void sha256_block(uint32_t h[8], const uint8_t *p) {
    uint32_t w[64];
    for (int i = 0; i < 16; i++)
        w[i] = (uint32_t)p[4 * i] << 24 | (uint32_t)p[4 * i + 1] << 16 | (uint32_t)p[4 * i + 2] << 8 | p[4 * i + 3];
    for (int i = 16; i < 64; i++) {
        uint32_t s0 = ROR(w[i - 15], 7) ^ ROR(w[i - 15], 18) ^ (w[i - 15] >> 3);
        uint32_t s1 = ROR(w[i - 2], 17) ^ ROR(w[i - 2], 19) ^ (w[i - 2] >> 10);
        w[i] = w[i - 16] + s0 + w[i - 7] + s1;
    }
    uint32_t a = h[0], b = h[1], c = h[2], d = h[3], e = h[4], f = h[5], g = h[6], k = h[7];
    for (int i = 0; i < 64; i++) {
        uint32_t t1 = k + (ROR(e, 6) ^ ROR(e, 11) ^ ROR(e, 25)) + ((e & f) ^ (~e & g)) + K256[i] + w[i];
        uint32_t t2 = (ROR(a, 2) ^ ROR(a, 13) ^ ROR(a, 22)) + ((a & b) ^ (a & c) ^ (b & c));
        k = g, g = f, f = e, e = d + t1, d = c, c = b, b = a, a = t1 + t2;
    }
    h[0] += a, h[1] += b, h[2] += c, h[3] += d, h[4] += e, h[5] += f, h[6] += g, h[7] += k;
}
static void sha256_hex(const uint8_t *p, size_t n, char out[65]) {
    uint32_t h[8] = {0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a,
                     0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19};
    size_t i = 0;
    for (; i + 64 <= n; i += 64) sha256_block(h, p + i);
    uint8_t tail[128] = {0};
    size_t r = n - i;
    memcpy(tail, p + i, r);
    tail[r] = 0x80;
    size_t tl = r + 9 <= 64 ? 64 : 128;
    uint64_t bits = (uint64_t)n * 8;
    for (int j = 0; j < 8; j++) tail[tl - 1 - j] = (uint8_t)(bits >> (8 * j));
    sha256_block(h, tail);
    if (tl == 128) sha256_block(h, tail + 64);
    for (int j = 0; j < 8; j++) sprintf(out + 8 * j, "%08" PRIx32, h[j]);
}

static void put_le(uint8_t *p, uint64_t v, int n) {
    for (int i = 0; i < n; i++) p[i] = (uint8_t)(v >> (8 * i));
}
static uint64_t get_le(const uint8_t *p, int n) {
    uint64_t v = 0;
    for (int i = n - 1; i >= 0; i--) v = v << 8 | p[i];
    return v;
}

/* ---- state and counters ------------------------------------------------------------------- */

enum op { OP_GET, OP_GET_META, OP_GET_BATCH, OP_PUT, OP_TOUCH, OP_UPDATE, OP_UPDATE_V, OP_DELETE,
          OP_DELETE_WHERE, OP_COPY, OP_MOVE, OP_OWN, OP_LIST, OP_EXISTS, OP_PUT_BATCH, OP_DELETE_BATCH,
          OP_UPDATE_META, OP_TOUCH_WHERE, OP_MAINT, OP_COUNT };
static const char *const OP_NAMES[OP_COUNT] = {"get", "get_meta", "get_batch", "put", "touch",
    "update", "update_v", "delete", "delete_where", "copy", "move", "own", "list", "exists", "put_batch",
    "delete_batch", "update_meta", "touch_where", "maint"};
/* maint has weight 0: it runs on a timer (every 2-8 s), see main. */
static const int OP_WEIGHTS[OP_COUNT] = {18, 8, 3, 15, 6, 6, 8, 5, 2, 6, 6, 10, 2, 2, 3, 2, 3, 1, 0};

static struct {
    uint64_t ops[OP_COUNT], hits, misses, conflicts, exists, absent, stale_aba, busy_timeouts, errors,
        failures;
} st;

static uint32_t worker_id, incarnation;
static uint64_t seq;
static cacheness_cache *cache;
static const char *op_name = "";
static int op_key = -1;
static double op_started;

static void failure(const char *fmt, ...) {
    st.failures++;
    if (st.failures > 50) return;
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "FAIL c worker %" PRIu32 " op=%s key=%d: ", worker_id, op_name, op_key);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    fflush(stderr);
    va_end(ap);
}

static const char *const CODE_NAMES[] = {"OK", "NOT_FOUND", "INVALID_ARGUMENT", "EXISTS",
    "CONFLICT", "CORRUPT", "IO", "BACKEND", "BUSY", "TOO_LARGE", "PANIC"};

/* The code of e (freed here). CONFLICT/EXISTS are returned for the caller to judge; BUSY after
 * the busy timeout is counted; any other error is a failure and returns -1. */
static int take(cacheness_error *e, bool allow_conflict, bool allow_exists) {
    if (!e) return CACHENESS_OK;
    cacheness_code code = cacheness_error_code(e);
    double took = now_s() - op_started;
    int result = code;
    if (code == CACHENESS_CONFLICT && allow_conflict) {
        st.conflicts++;
    } else if (code == CACHENESS_EXISTS && allow_exists) {
        st.exists++;
    } else if (code == CACHENESS_BUSY && took >= BUSY_ALLOWED_AFTER) {
        st.busy_timeouts++;
        result = -1;
    } else {
        st.errors++;
        failure("unexpected error %s after %.3f s: %s",
            (unsigned)code < 11 ? CODE_NAMES[code] : "?", took, cacheness_error_message(e));
        result = -1;
    }
    cacheness_error_free(e);
    return result;
}

/* ---- values ------------------------------------------------------------------------------- */

static uint8_t *valbuf, *batchbuf[3];

static size_t random_size(void) {
    uint64_t r = below(100);
    if (r < 45) return HEADER_LEN + below(4096 - HEADER_LEN);
    if (r < 65) return 4096 + below(16384 - 4096 + 1);
    if (r < 70) return 16383 + below(3); /* 16383, 16384 (the inline limit), 16385 */
    return 16385 + below(MAX_VALUE - 16385 + 1);
}

/* A new value in p (MAX_VALUE bytes); returns its length and its sequence number in *s. */
static size_t make_value_in(uint8_t *p, uint64_t *s) {
    size_t len = random_size();
    for (size_t i = HEADER_LEN; i < len; i += 8) {
        uint64_t r = rnd();
        size_t n = len - i < 8 ? len - i : 8;
        memcpy(p + i, &r, n);
    }
    *s = ++seq;
    memcpy(p, MAGIC, 8);
    put_le(p + 8, worker_id, 4);
    put_le(p + 12, incarnation, 4);
    put_le(p + 16, *s, 8);
    put_le(p + 24, len, 8);
    put_le(p + 32, crc32_of(p + HEADER_LEN, len - HEADER_LEN), 4);
    put_le(p + 36, RUNTIME_CODE, 4);
    put_le(p + 40, 0, 4);
    put_le(p + 44, crc32_of(p, 44), 4);
    return len;
}

static size_t make_value(uint64_t *s) { return make_value_in(valbuf, s); }

struct origin {
    uint32_t writer, incarnation;
    uint64_t seq;
};

/* NULL if data is a whole, self-consistent value; else what is wrong. */
static const char *check_value(const uint8_t *d, size_t len, struct origin *o) {
    if (len < HEADER_LEN) return "shorter than a header";
    if (memcmp(d, MAGIC, 8) != 0) return "bad magic";
    if (get_le(d + 44, 4) != crc32_of(d, 44)) return "header checksum mismatch";
    if (get_le(d + 24, 8) != len) return "length differs from the one in the header (torn or truncated)";
    if (get_le(d + 32, 4) != crc32_of(d + HEADER_LEN, len - HEADER_LEN)) return "payload checksum mismatch";
    if (o) {
        o->writer = (uint32_t)get_le(d + 8, 4);
        o->incarnation = (uint32_t)get_le(d + 12, 4);
        o->seq = get_le(d + 16, 8);
    }
    return NULL;
}

/* ---- JSON helpers (the library's JSON is compact: no spaces) ------------------------------- */

static long long json_int(const char *json, const char *name, bool *ok) {
    char pat[64];
    snprintf(pat, sizeof pat, "\"%s\":", name);
    const char *p = strstr(json, pat);
    *ok = p != NULL;
    return p ? strtoll(p + strlen(pat), NULL, 10) : 0;
}

/* Checks a metadata document against the data returned with it and the params asked for. */
static void check_metadata(const char *meta, const uint8_t *d, size_t len, const char *params) {
    bool ok;
    long long size = json_int(meta, "size", &ok);
    if (!ok || size != (long long)len)
        failure("metadata size %lld differs from data length %zu: %s", size, len, meta);
    char want[96], hex[65];
    sha256_hex(d, len, hex);
    snprintf(want, sizeof want, "\"content_hash\":\"sha256:%s\"", hex);
    if (!strstr(meta, want)) failure("metadata content_hash is not the hash of the data returned: %s", meta);
    char pp[96];
    snprintf(pp, sizeof pp, "\"params\":%s", params);
    if (!strstr(meta, pp)) failure("metadata params are not %s: %s", params, meta);
}

/* ---- operations --------------------------------------------------------------------------- */

static char pbuf[SHARED_KEYS][32];
static char own_params[48];

static void read_shared(const uint8_t *d, size_t len) {
    const char *bad = check_value(d, len, NULL);
    if (bad) failure("read returned a bad value (%zu bytes): %s", len, bad);
}

static void op_get(int k) {
    cacheness_bytes b = {NULL, 0};
    bool found = false;
    if (take(cacheness_cache_get(cache, pbuf[k], &b, &found), false, false) != 0) return;
    if (found) {
        st.hits++;
        read_shared(b.data, b.len);
    } else {
        st.misses++;
        if (b.data || b.len) failure("miss with data");
    }
    cacheness_bytes_free(b);
}

static void op_get_meta(int k) {
    cacheness_bytes b = {NULL, 0};
    char *meta = NULL;
    bool found = false;
    if (take(cacheness_cache_get_with_metadata(cache, pbuf[k], &b, &meta, &found), false, false) != 0) return;
    if (found) {
        st.hits++;
        read_shared(b.data, b.len);
        if (meta) check_metadata(meta, b.data, b.len, pbuf[k]);
        else failure("hit without metadata");
    } else {
        st.misses++;
    }
    cacheness_string_free(meta);
    cacheness_bytes_free(b);
}

static void op_get_batch(void) {
    char sel[256] = "[";
    int keys[4];
    for (int i = 0; i < 4; i++) {
        keys[i] = (int)below(SHARED_KEYS);
        strcat(sel, pbuf[keys[i]]);
        strcat(sel, i < 3 ? "," : "]");
    }
    cacheness_batch *batch = NULL;
    if (take(cacheness_cache_get_batch(cache, sel, &batch), false, false) != 0) return;
    if (cacheness_batch_len(batch) != 4) failure("batch of 4 selectors has %zu items", cacheness_batch_len(batch));
    for (size_t i = 0; i < cacheness_batch_len(batch); i++) {
        const uint8_t *d = NULL;
        size_t len = 0;
        if (cacheness_batch_get(batch, i, &d, &len)) {
            st.hits++;
            op_key = keys[i];
            read_shared(d, len);
        } else {
            st.misses++;
        }
    }
    cacheness_batch_free(batch);
}

static void op_put(int k) {
    uint64_t s;
    size_t len = make_value(&s);
    char opts[96];
    snprintf(opts, sizeof opts, "{\"metadata\":{\"w\":%" PRIu32 ",\"rt\":\"c\"}}", worker_id);
    take(cacheness_cache_put(cache, pbuf[k], valbuf, len, opts, NULL), false, false);
}

static void op_touch(int k) {
    bool found = false;
    const char *opts = below(2) ? "{\"ttl_seconds\":null}" : "{\"ttl_seconds\":86400}";
    if (take(cacheness_cache_touch(cache, pbuf[k], opts, &found), false, false) == 0 && !found) st.absent++;
}

static void op_update(int k) {
    uint64_t s;
    size_t len = make_value(&s);
    bool updated = false;
    if (take(cacheness_cache_update_data(cache, pbuf[k], valbuf, len, NULL, &updated), false, false) == 0 && !updated)
        st.absent++;
}

/* update_data with the version just read: OK, CONFLICT (someone changed it), or absent. */
static void op_update_v(int k) {
    char *meta = NULL;
    bool found = false;
    if (take(cacheness_cache_get_metadata(cache, pbuf[k], &meta, &found), false, false) != 0) return;
    if (!found) {
        st.absent++;
        return;
    }
    bool ok;
    long long v = json_int(meta, "version", &ok);
    if (!ok || v < 1) failure("metadata without a valid version: %s", meta);
    cacheness_string_free(meta);
    if (!ok || v < 1) return;
    uint64_t s;
    size_t len = make_value(&s);
    char opts[64];
    snprintf(opts, sizeof opts, "{\"expected_version\":%lld}", v);
    bool updated = false;
    int rc = take(cacheness_cache_update_data(cache, pbuf[k], valbuf, len, opts, &updated), true, false);
    if (rc != 0 || !updated) {
        if (rc == 0) st.absent++;
        return;
    }
    /* Now stale: CONFLICT, or absent if it was deleted since. Success is only possible if the
     * entry was deleted and re-created back up to version v meanwhile (counted, not a failure). */
    len = make_value(&s);
    updated = false;
    op_started = now_s();
    rc = take(cacheness_cache_update_data(cache, pbuf[k], valbuf, len, opts, &updated), true, false);
    if (rc == 0 && updated) {
        st.stale_aba++;
        fprintf(stderr, "NOTE c worker %" PRIu32 " key=%d: stale expected_version %lld accepted (entry re-created "
                        "meanwhile)\n", worker_id, k, v);
    }
    else if (rc == 0) st.absent++;
}

static void op_delete(int k) {
    bool deleted = false;
    if (take(cacheness_cache_delete(cache, pbuf[k], &deleted), false, false) == 0 && !deleted) st.absent++;
}

static void op_delete_where(void) {
    char filter[256];
    switch (below(4)) {
    case 0:
        snprintf(filter, sizeof filter, "{\"params\":{\"stress\":%d}}", (int)below(SHARED_KEYS));
        break;
    case 1:
        snprintf(filter, sizeof filter, "{\"params\":{\"stress\":{\"$in\":[%d,%d,%d]}}}", (int)below(SHARED_KEYS),
            (int)below(SHARED_KEYS), (int)below(SHARED_KEYS));
        break;
    case 2:
        snprintf(filter, sizeof filter, "{\"key_prefix\":\"%x%x\",\"params\":{\"stress\":{\"$exists\":true}}}",
            (unsigned)below(16), (unsigned)below(16));
        break;
    default:
        snprintf(filter, sizeof filter, "{\"params\":{\"stress\":{\"$in\":[%d,%d]}},\"min_size\":%d}",
            (int)below(SHARED_KEYS), (int)below(SHARED_KEYS), 16385);
        break;
    }
    uint64_t n = 0;
    take(cacheness_cache_delete_where(cache, filter, &n), false, false);
}

static void op_copy_move(int k, bool move) {
    int d = (int)below(SHARED_KEYS - 1);
    if (d >= k) d++;
    op_key = k;
    bool overwrite = below(2);
    const char *opts = overwrite ? (below(2) ? "{\"overwrite\":true,\"metadata\":{\"copied\":true}}"
                                             : "{\"overwrite\":true}")
                                 : NULL;
    bool done = false;
    cacheness_error *e = move ? cacheness_cache_move(cache, pbuf[k], pbuf[d], opts, &done)
                              : cacheness_cache_copy(cache, pbuf[k], pbuf[d], opts, &done);
    int rc = take(e, false, !overwrite);
    if (rc == 0 && !done) st.absent++;
}

static void op_list(void) {
    char *page = NULL;
    if (take(cacheness_cache_list(cache, "{\"params\":{\"stress\":{\"$exists\":true}}}", "{\"limit\":100}", &page),
            false, false) != 0)
        return;
    size_t n = 0;
    for (const char *p = strstr(page, "\"cache_key\""); p; p = strstr(p + 1, "\"cache_key\"")) n++;
    if (n > SHARED_KEYS) failure("list of shared params gave %zu entries (at most %d exist)", n, SHARED_KEYS);
    for (const char *p = strstr(page, "\"size\":"); p; p = strstr(p + 1, "\"size\":")) {
        long long size = strtoll(p + 7, NULL, 10);
        if (size < HEADER_LEN || size > MAX_VALUE) failure("list shows an entry of impossible size %lld", size);
    }
    cacheness_string_free(page);
}

static void op_exists(int k) {
    bool found = false;
    take(cacheness_cache_exists(cache, pbuf[k], &found), false, false);
}

/* put_batch of 2-3 shared params: all or nothing, each a whole value. */
static void op_put_batch(void) {
    cacheness_put_item items[3];
    size_t n = 2 + below(2);
    char opts[96];
    snprintf(opts, sizeof opts, "{\"metadata\":{\"w\":%" PRIu32 ",\"rt\":\"c\",\"batch\":true}}", worker_id);
    for (size_t i = 0; i < n; i++) {
        uint64_t s;
        items[i].params_json = pbuf[below(SHARED_KEYS)];
        items[i].len = make_value_in(batchbuf[i], &s);
        items[i].data = batchbuf[i];
        items[i].options_json = opts;
    }
    take(cacheness_cache_put_batch(cache, items, n), false, false);
}

static void op_delete_batch(void) {
    char sel[256];
    snprintf(sel, sizeof sel, "[%s,%s]", pbuf[below(SHARED_KEYS)], pbuf[below(SHARED_KEYS)]);
    uint64_t n = 0;
    if (take(cacheness_cache_delete_batch(cache, sel, &n), false, false) == 0 && n > 2)
        failure("delete_batch of 2 selectors counted %" PRIu64, n);
}

static void op_update_meta(int k) {
    char patch[96];
    snprintf(patch, sizeof patch, "{\"n\":%d,\"w\":%" PRIu32 "}", (int)below(1000), worker_id);
    bool found = false;
    if (take(cacheness_cache_update_metadata(cache, pbuf[k], patch, &found), false, false) == 0 && !found) st.absent++;
}

static void op_touch_where(void) {
    char filter[128];
    snprintf(filter, sizeof filter, "{\"params\":{\"stress\":{\"$in\":[%d,%d,%d]}}}", (int)below(SHARED_KEYS),
        (int)below(SHARED_KEYS), (int)below(SHARED_KEYS));
    uint64_t n = 0;
    if (take(cacheness_cache_touch_where(cache, filter, "{\"ttl_seconds\":null}", &n), false, false) == 0 && n > 3)
        failure("touch_where on 3 params counted %" PRIu64, n);
}

/* Maintenance while the others write, every few seconds: verify (shallow or deep), repair,
 * find_orphans or cleanup_orphans. None of them may break a live entry (the readers would see
 * CORRUPT or a lost private write). Issues other than orphaned_file in a verify or repair
 * report are printed as NOTE lines: under concurrent writers they may be races of the scan. */
static void note_report(const char *what, const char *report) {
    const char *p = report;
    bool other = false;
    while ((p = strstr(p, "\"issue\":\"")) != NULL) {
        p += 9;
        if (strncmp(p, "orphaned_file\"", 14) != 0) other = true;
    }
    if (other)
        fprintf(stderr, "NOTE c worker %" PRIu32 ": concurrent %s reported: %.600s\n", worker_id, what, report);
}

static void op_maint(void) {
    char *report = NULL;
    uint64_t n = 0;
    switch (below(5)) {
    case 0:
        op_name = "maint_verify";
        if (take(cacheness_cache_verify(cache, NULL, &report), false, false) == 0) note_report("verify", report);
        break;
    case 1:
        op_name = "maint_verify_deep";
        if (take(cacheness_cache_verify(cache, "{\"deep\":true}", &report), false, false) == 0)
            note_report("deep verify", report);
        break;
    case 2:
        op_name = "maint_repair";
        if (take(cacheness_cache_repair(cache, NULL, &report), false, false) == 0) note_report("repair", report);
        break;
    case 3:
        op_name = "maint_find_orphans";
        take(cacheness_cache_find_orphans(cache, &report), false, false);
        break;
    default:
        op_name = "maint_cleanup_orphans";
        take(cacheness_cache_cleanup_orphans(cache, &n), false, false);
        break;
    }
    cacheness_string_free(report);
}

/* ---- the private entry: this worker is its only writer ------------------------------------ */

static uint64_t own_seq;  /* sequence number of the value that must be there; 0: none */
static long long own_ver; /* its version, 0 if not known (after a put) */
static bool own_known;    /* false after a write whose outcome is unknown (an error) */

static void own_init(void) {
    bool deleted;
    op_name = "own_init";
    op_started = now_s();
    take(cacheness_cache_delete(cache, own_params, &deleted), false, false);
    own_seq = 0;
    own_ver = 0;
    own_known = true;
}

static void op_own(void) {
    cacheness_bytes b = {NULL, 0};
    char *meta = NULL;
    bool found = false;
    if (take(cacheness_cache_get_with_metadata(cache, own_params, &b, &meta, &found), false, false) != 0) return;
    if (!found) {
        st.misses++;
        if (own_known && own_seq) failure("private entry with acknowledged seq %" PRIu64 " is missing", own_seq);
        own_seq = 0, own_ver = 0;
    } else {
        st.hits++;
        struct origin o;
        const char *bad = check_value(b.data, b.len, &o);
        if (!bad && !own_known && o.writer == worker_id && o.incarnation == incarnation) own_seq = o.seq;
        if (bad) {
            failure("private read returned a bad value (%zu bytes): %s", b.len, bad);
        } else if (o.writer != worker_id || o.incarnation != incarnation || o.seq != own_seq) {
            failure("private entry holds writer %" PRIu32 "/%" PRIu32 " seq %" PRIu64 ", expected %" PRIu32
                    "/%" PRIu32 " seq %" PRIu64,
                o.writer, o.incarnation, o.seq, worker_id, incarnation, own_seq);
        }
        bool ok;
        long long v = json_int(meta, "version", &ok);
        if (!ok) failure("private metadata without version: %s", meta);
        if (!own_known) own_ver = v;
        if (own_ver && v != own_ver) failure("private entry at version %lld, expected %lld", v, own_ver);
        own_ver = v;
        check_metadata(meta, b.data, b.len, own_params);
    }
    cacheness_string_free(meta);
    cacheness_bytes_free(b);
    own_known = true;

    uint64_t r = below(4), s;
    size_t len = make_value(&s);
    op_started = now_s();
    if (!own_seq || r == 0) { /* put */
        if (take(cacheness_cache_put(cache, own_params, valbuf, len, NULL, NULL), false, false) == 0) {
            own_seq = s;
            own_ver = 0;
        } else {
            own_known = false;
        }
    } else if (r == 1) { /* update with the right version, then again with the now stale one */
        char opts[64];
        snprintf(opts, sizeof opts, "{\"expected_version\":%lld}", own_ver);
        bool updated = false;
        if (take(cacheness_cache_update_data(cache, own_params, valbuf, len, opts, &updated), false, false) != 0) {
            own_known = false;
            return;
        }
        if (!updated) {
            failure("update_data with the current version %lld did not update the private entry", own_ver);
            return;
        }
        own_seq = s, own_ver++;
        len = make_value(&s);
        op_started = now_s();
        cacheness_error *e = cacheness_cache_update_data(cache, own_params, valbuf, len, opts, &updated);
        if (!e) failure("update_data with stale expected_version %lld succeeded (entry was at %lld)", own_ver - 1,
            own_ver);
        if (!e) own_seq = s, own_ver++;
        else if (cacheness_error_code(e) != CACHENESS_CONFLICT) take(e, false, false), own_known = false;
        else take(e, true, false);
    } else if (r == 2) { /* update with a wrong (future) version: CONFLICT */
        char opts[64];
        snprintf(opts, sizeof opts, "{\"expected_version\":%lld}", own_ver + 1 + (long long)below(5));
        bool updated = false;
        cacheness_error *e = cacheness_cache_update_data(cache, own_params, valbuf, len, opts, &updated);
        if (!e) failure("update_data with a wrong expected_version succeeded (entry at %lld)", own_ver);
        if (!e) own_seq = s, own_ver++;
        else if (cacheness_error_code(e) != CACHENESS_CONFLICT) take(e, false, false), own_known = false;
        else take(e, true, false);
    } else { /* delete; then nothing may bring it back */
        bool deleted = false, updated = false, f = false;
        if (take(cacheness_cache_delete(cache, own_params, &deleted), false, false) != 0) {
            own_known = false;
            return;
        }
        if (!deleted) failure("delete of the private entry found nothing");
        own_seq = 0, own_ver = 0;
        op_started = now_s();
        if (take(cacheness_cache_update_data(cache, own_params, valbuf, len, NULL, &updated), false, false) == 0 &&
            updated)
            failure("update_data on a deleted entry reported an update");
        if (take(cacheness_cache_touch(cache, own_params, NULL, &f), false, false) == 0 && f)
            failure("touch on a deleted entry found it");
        if (take(cacheness_cache_exists(cache, own_params, &f), false, false) == 0 && f)
            failure("exists on a deleted entry found it");
    }
}

/* ---- main --------------------------------------------------------------------------------- */

static void print_counts(FILE *out) {
    uint64_t total = 0;
    fputs("\"ops\":{", out);
    for (int i = 0; i < OP_COUNT; i++) {
        fprintf(out, "%s\"%s\":%" PRIu64, i ? "," : "", OP_NAMES[i], st.ops[i]);
        total += st.ops[i];
    }
    fprintf(out,
        "},\"total_ops\":%" PRIu64 ",\"hits\":%" PRIu64 ",\"misses\":%" PRIu64 ",\"conflicts\":%" PRIu64
        ",\"exists\":%" PRIu64 ",\"absent\":%" PRIu64 ",\"stale_aba\":%" PRIu64 ",\"busy_timeouts\":%" PRIu64
        ",\"errors\":%" PRIu64 ",\"failures\":%" PRIu64,
        total, st.hits, st.misses, st.conflicts, st.exists, st.absent, st.stale_aba, st.busy_timeouts, st.errors,
        st.failures);
}

int main(int argc, char **argv) {
    if (argc != 5) {
        fprintf(stderr, "usage: %s DIR WORKER_ID SECONDS SEED\n", argv[0]);
        return 2;
    }
    const char *dir = argv[1];
    worker_id = (uint32_t)strtoul(argv[2], NULL, 10);
    double seconds = strtod(argv[3], NULL);
    uint64_t seed = strtoull(argv[4], NULL, 10);
    incarnation = (uint32_t)(seed & 0xFFFFFFFFu);
    rng_state = seed * 0x9E3779B97F4A7C15ULL + worker_id + 1;
    if (!rng_state) rng_state = 1;
    crc_init();
    bool progress = getenv("CACHENESS_STRESS_PROGRESS") != NULL;
    valbuf = malloc(MAX_VALUE);
    for (int i = 0; i < 3; i++) batchbuf[i] = malloc(MAX_VALUE);
    if (!valbuf || !batchbuf[0] || !batchbuf[1] || !batchbuf[2]) return 2;
    for (int k = 0; k < SHARED_KEYS; k++) snprintf(pbuf[k], sizeof pbuf[k], "{\"stress\":%d}", k);
    snprintf(own_params, sizeof own_params, "{\"own\":\"w%" PRIu32 "\"}", worker_id);
    if (strchr(dir, '"') || strchr(dir, '\\')) {
        fprintf(stderr, "stress_worker: DIR must not contain quotes or backslashes\n");
        return 2;
    }
    char *config = malloc(strlen(dir) + 16);
    if (!config) return 2;
    sprintf(config, "{\"dir\":\"%s\"}", dir);
    double start = now_s(), next_progress = start + 1;
    double next_maint = start + 2 + (double)below(6000) / 1000;
    op_name = "open";
    op_started = start;
    if (take(cacheness_cache_open(config, &cache), false, false) != 0) {
        fprintf(stderr, "stress_worker: cannot open %s\n", dir);
        return 1;
    }
    free(config);
    own_init();

    int weight_sum = 0;
    for (int i = 0; i < OP_COUNT; i++) weight_sum += OP_WEIGHTS[i];
    while (now_s() - start < seconds) {
        int w = (int)below((uint64_t)weight_sum), op = 0;
        while (w >= OP_WEIGHTS[op]) w -= OP_WEIGHTS[op++];
        if (now_s() >= next_maint) {
            op = OP_MAINT;
            next_maint = now_s() + 2 + (double)below(6000) / 1000;
        }
        int k = (int)below(SHARED_KEYS);
        op_name = OP_NAMES[op];
        op_key = k;
        op_started = now_s();
        switch (op) {
        case OP_GET: op_get(k); break;
        case OP_GET_META: op_get_meta(k); break;
        case OP_GET_BATCH: op_get_batch(); break;
        case OP_PUT: op_put(k); break;
        case OP_TOUCH: op_touch(k); break;
        case OP_UPDATE: op_update(k); break;
        case OP_UPDATE_V: op_update_v(k); break;
        case OP_DELETE: op_delete(k); break;
        case OP_DELETE_WHERE: op_delete_where(); break;
        case OP_COPY: op_copy_move(k, false); break;
        case OP_MOVE: op_copy_move(k, true); break;
        case OP_OWN: op_own(); break;
        case OP_LIST: op_list(); break;
        case OP_PUT_BATCH: op_put_batch(); break;
        case OP_DELETE_BATCH: op_delete_batch(); break;
        case OP_UPDATE_META: op_update_meta(k); break;
        case OP_TOUCH_WHERE: op_touch_where(); break;
        case OP_MAINT: op_maint(); break;
        default: op_exists(k); break;
        }
        st.ops[op]++;
        if (progress && now_s() >= next_progress) {
            next_progress += 1;
            fputs("{\"progress\":{", stdout);
            print_counts(stdout);
            fputs("}}\n", stdout);
            fflush(stdout);
        }
    }
    double elapsed = now_s() - start;
    cacheness_cache_close(cache);
    free(valbuf);
    for (int i = 0; i < 3; i++) free(batchbuf[i]);
    printf("{\"runtime\":\"c\",\"worker\":%" PRIu32 ",\"incarnation\":%" PRIu32 ",\"seconds\":%.1f,", worker_id,
        incarnation, elapsed);
    print_counts(stdout);
    puts("}");
    return st.failures ? 1 : 0;
}
