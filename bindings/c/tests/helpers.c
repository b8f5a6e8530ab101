/* Helpers for the C test suite: handles, cache shortcuts, files, time, JSON text. */
#define _XOPEN_SOURCE 700

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "check.h"

#define RING 32
#define RING_SIZE 8192

static char *ring_next(void) {
    static char bufs[RING][RING_SIZE];
    static int next;
    char *b = bufs[next];
    next = (next + 1) % RING;
    return b;
}

bool t_untouched(const void *p, size_t n) {
    const unsigned char *b = p;
    for (size_t i = 0; i < n; i++)
        if (b[i] != SENTINEL_BYTE) return false;
    return true;
}

/* ---- handles ---- */

#define MAX_HANDLES 16
static cacheness_cache *open_caches[MAX_HANDLES];
static cacheness_store *open_stores[MAX_HANDLES];

static void track(void **slots, void *h) {
    for (int i = 0; i < MAX_HANDLES; i++)
        if (!slots[i]) { slots[i] = h; return; }
    t_fail(__FILE__, __LINE__, "more than %d open handles", MAX_HANDLES);
}

static void untrack(void **slots, void *h) {
    for (int i = 0; i < MAX_HANDLES; i++)
        if (slots[i] == h) slots[i] = NULL;
}

static const char *config(const char *dir, const char *extra) {
    char *b = ring_next();
    bool more = extra && *extra;
    snprintf(b, RING_SIZE, "{\"dir\":\"%s\"%s%s}", dir ? dir : t_dir, more ? "," : "",
             more ? extra : "");
    return b;
}

cacheness_cache *t_cache_at(const char *dir, const char *extra) {
    cacheness_cache *c = NULL;
    OK(cacheness_cache_open(config(dir, extra), &c));
    CHECK(c != NULL);
    track((void **)open_caches, c);
    return c;
}

void t_cache_close(cacheness_cache *c) {
    untrack((void **)open_caches, c);
    cacheness_cache_close(c);
}

cacheness_store *t_store_at(const char *dir, const char *extra) {
    cacheness_store *s = NULL;
    OK(cacheness_store_open(config(dir, extra), &s));
    CHECK(s != NULL);
    track((void **)open_stores, s);
    return s;
}

void t_store_close(cacheness_store *s) {
    untrack((void **)open_stores, s);
    cacheness_store_close(s);
}

void t_close_all(void) {
    for (int i = 0; i < MAX_HANDLES; i++) {
        cacheness_cache_close(open_caches[i]);
        cacheness_store_close(open_stores[i]);
        open_caches[i] = NULL;
        open_stores[i] = NULL;
    }
}

/* ---- cache shortcuts ---- */

const char *t_put(cacheness_cache *c, const char *params, const void *data, size_t len,
                  const char *options) {
    char *key = NULL;
    OK(cacheness_cache_put(c, params, data, len, options, &key));
    CHECK(key != NULL && strlen(key) == 64);
    char *b = ring_next();
    snprintf(b, RING_SIZE, "%s", key);
    cacheness_string_free(key);
    return b;
}

const char *t_put_str(cacheness_cache *c, const char *params, const char *text,
                      const char *options) {
    return t_put(c, params, text, strlen(text), options);
}

const char *t_key(const char *params) {
    char *key = NULL;
    OK(cacheness_key(params, &key));
    CHECK(key != NULL);
    char *b = ring_next();
    snprintf(b, RING_SIZE, "%s", key);
    cacheness_string_free(key);
    return b;
}

bool t_exists(cacheness_cache *c, const char *selector) {
    bool found = false;
    OK(cacheness_cache_exists(c, selector, &found));
    return found;
}

bool t_get(cacheness_cache *c, const char *selector, cacheness_bytes *out) {
    bool found = false;
    cacheness_bytes data = {NULL, 0};
    OK(cacheness_cache_get(c, selector, &data, &found));
    if (!found) CHECK(data.data == NULL && data.len == 0);
    *out = data;
    return found;
}

void t_check_data(cacheness_cache *c, const char *selector, const void *want, size_t len) {
    cacheness_bytes data;
    CHECK(t_get(c, selector, &data));
    bool same = data.len == len && (len == 0 || memcmp(data.data, want, len) == 0);
    size_t got = data.len;
    cacheness_bytes_free(data);
    if (!same) t_fail(__FILE__, __LINE__, "data of %s: %zu bytes, want %zu", selector, got, len);
}

char *t_meta(cacheness_cache *c, const char *selector) {
    char *meta = NULL;
    bool found = false;
    OK(cacheness_cache_get_metadata(c, selector, &meta, &found));
    CHECK(found);
    CHECK(meta != NULL);
    return meta;
}

uint8_t *t_data(size_t n, unsigned seed) {
    uint8_t *b = malloc(n ? n : 1);
    CHECK(b != NULL);
    uint32_t x = 2463534242u ^ (seed * 2654435761u);
    for (size_t i = 0; i < n; i++) {
        x ^= x << 13; x ^= x >> 17; x ^= x << 5; /* xorshift32 */
        b[i] = (uint8_t)x;
    }
    return b;
}

const char *t_fmt(const char *fmt, ...) {
    char *b = ring_next();
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(b, RING_SIZE, fmt, ap);
    va_end(ap);
    CHECK(n >= 0 && n < RING_SIZE);
    return b;
}

/* ---- files ---- */

const char *t_path(const char *rel) {
    char *b = ring_next();
    snprintf(b, RING_SIZE, "%s/%s", t_dir, rel);
    return b;
}

static size_t walk_count;
static char walk_last[PATH_MAX];

static int count_file(const char *path, const struct stat *st, int type, struct FTW *ftw) {
    (void)st; (void)ftw;
    if (type == FTW_F) {
        walk_count++;
        snprintf(walk_last, sizeof walk_last, "%s", path);
    }
    return 0;
}

size_t t_count_files(const char *dir) {
    walk_count = 0;
    walk_last[0] = '\0';
    if (!t_file_exists(dir)) return 0;
    CHECK(nftw(dir, count_file, 16, FTW_PHYS) == 0);
    return walk_count;
}

const char *t_only_file(const char *dir) {
    size_t n = t_count_files(dir);
    if (n != 1) t_fail(__FILE__, __LINE__, "want exactly one file under %s, found %zu", dir, n);
    char *b = ring_next();
    snprintf(b, RING_SIZE, "%s", walk_last);
    return b;
}

static char **walk_list;
static size_t walk_list_n, walk_list_cap;

static int collect_file(const char *path, const struct stat *st, int type, struct FTW *ftw) {
    (void)st; (void)ftw;
    if (type != FTW_F) return 0;
    if (walk_list_n + 1 >= walk_list_cap) {
        walk_list_cap = walk_list_cap ? walk_list_cap * 2 : 16;
        char **bigger = realloc(walk_list, walk_list_cap * sizeof *walk_list);
        if (!bigger) return -1;
        walk_list = bigger;
    }
    walk_list[walk_list_n] = malloc(strlen(path) + 1);
    if (!walk_list[walk_list_n]) return -1;
    strcpy(walk_list[walk_list_n++], path);
    return 0;
}

static int cmp_str(const void *a, const void *b) {
    return strcmp(*(char *const *)a, *(char *const *)b);
}

char **t_list_files(const char *dir, size_t *n) {
    walk_list = NULL;
    walk_list_n = walk_list_cap = 0;
    if (t_file_exists(dir)) CHECK(nftw(dir, collect_file, 16, FTW_PHYS) == 0);
    char **list = realloc(walk_list, (walk_list_n + 1) * sizeof *list);
    CHECK(list != NULL);
    qsort(list, walk_list_n, sizeof *list, cmp_str);
    list[walk_list_n] = NULL;
    *n = walk_list_n;
    return list;
}

void t_free_list(char **list) {
    for (char **p = list; p && *p; p++) free(*p);
    free(list);
}

void t_age_file(const char *path, int age_s) {
    struct timespec times[2];
    clock_gettime(CLOCK_REALTIME, &times[0]);
    times[0].tv_sec -= age_s;
    times[1] = times[0];
    CHECK(utimensat(AT_FDCWD, path, times, 0) == 0);
}

void t_plant_old_file(const char *path, const char *content) {
    char dir[PATH_MAX];
    snprintf(dir, sizeof dir, "%s", path);
    for (char *p = dir + 1; *p; p++) {
        if (*p != '/') continue;
        *p = '\0';
        if (mkdir(dir, 0755) != 0) CHECK(errno == EEXIST);
        *p = '/';
    }
    t_write_file(path, content, strlen(content));
    t_age_file(path, 2 * 24 * 3600);
}

bool t_file_exists(const char *path) {
    struct stat st;
    return lstat(path, &st) == 0;
}

static void write_mode(const char *path, const void *data, size_t len, const char *mode) {
    FILE *f = fopen(path, mode);
    if (!f) t_fail(__FILE__, __LINE__, "open %s: %s", path, strerror(errno));
    CHECK(len == 0 || fwrite(data, 1, len, f) == len);
    CHECK(fclose(f) == 0);
}

void t_write_file(const char *path, const void *data, size_t len) {
    write_mode(path, data, len, "wb");
}

void t_append_file(const char *path, const void *data, size_t len) {
    write_mode(path, data, len, "ab");
}

void t_flip_byte(const char *path, long offset) {
    FILE *f = fopen(path, "r+b");
    if (!f) t_fail(__FILE__, __LINE__, "open %s: %s", path, strerror(errno));
    CHECK(fseek(f, offset, SEEK_SET) == 0);
    int ch = fgetc(f);
    CHECK(ch != EOF);
    CHECK(fseek(f, offset, SEEK_SET) == 0);
    CHECK(fputc(ch ^ 0xFF, f) != EOF);
    CHECK(fclose(f) == 0);
}

uint8_t *t_read_file(const char *path, size_t *len) {
    FILE *f = fopen(path, "rb");
    if (!f) t_fail(__FILE__, __LINE__, "open %s: %s", path, strerror(errno));
    size_t cap = 4096, n = 0;
    uint8_t *b = malloc(cap);
    CHECK(b != NULL);
    for (;;) {
        if (n == cap) {
            uint8_t *bigger = realloc(b, cap *= 2);
            CHECK(bigger != NULL);
            b = bigger;
        }
        size_t got = fread(b + n, 1, cap - n, f);
        if (got == 0) break;
        n += got;
    }
    fclose(f);
    *len = n;
    return b;
}

static int remove_one(const char *path, const struct stat *st, int type, struct FTW *ftw) {
    (void)st; (void)type; (void)ftw;
    return remove(path);
}

int t_rmtree(const char *path) {
    if (!t_file_exists(path)) return 0;
    return nftw(path, remove_one, 16, FTW_DEPTH | FTW_PHYS);
}

/* ---- time ---- */

int64_t t_now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void t_sleep_ms(int ms) {
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {}
}

void t_next_ms(void) {
    int64_t start = t_now_ms();
    while (t_now_ms() < start + 2) t_sleep_ms(1);
}

int64_t t_parse_time(const char *text) {
    int y, mo, d, h, mi, s, ms, n = 0;
    if (!text || strlen(text) != 24 ||
        sscanf(text, "%4d-%2d-%2dT%2d:%2d:%2d.%3dZ%n", &y, &mo, &d, &h, &mi, &s, &ms, &n) != 7 ||
        n != 24 || mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 || mi > 59 || s > 60)
        return -1;
    /* Days from civil (proleptic Gregorian), after H. Hinnant. */
    y -= mo <= 2;
    int era = (y >= 0 ? y : y - 399) / 400;
    int yoe = y - era * 400;
    int doy = (153 * (mo + (mo > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    int doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    int64_t days = (int64_t)era * 146097 + doe - 719468;
    return ((days * 24 + h) * 60 + mi) * 60000LL + s * 1000LL + ms;
}

/* ---- JSON text ---- */

/* A copy without whitespace outside strings (malloc'd). */
static char *compact(const char *json) {
    CHECK(json != NULL);
    char *out = malloc(strlen(json) + 1), *o = out;
    CHECK(out != NULL);
    bool in_string = false;
    for (const char *p = json; *p; p++) {
        if (in_string) {
            *o++ = *p;
            if (*p == '\\' && p[1]) *o++ = *++p;
            else if (*p == '"') in_string = false;
        } else if (*p == '"') {
            in_string = true;
            *o++ = *p;
        } else if (!strchr(" \t\r\n", *p)) {
            *o++ = *p;
        }
    }
    *o = '\0';
    return out;
}

bool j_has(const char *json, const char *fragment) {
    return j_count(json, fragment) > 0;
}

size_t j_count(const char *json, const char *fragment) {
    char *c = compact(json);
    size_t n = 0, step = strlen(fragment);
    for (const char *p = c; step && (p = strstr(p, fragment)) != NULL; p += step) n++;
    free(c);
    return n;
}

/* The end of the JSON value starting at p (one past its last character). */
static const char *value_end(const char *p) {
    if (*p == '"') {
        for (p++; *p && *p != '"'; p++)
            if (*p == '\\' && p[1]) p++;
        return *p ? p + 1 : p;
    }
    if (*p == '{' || *p == '[') {
        int depth = 0;
        for (; *p; p++) {
            if (*p == '"') { p = value_end(p) - 1; continue; }
            if (*p == '{' || *p == '[') depth++;
            if ((*p == '}' || *p == ']') && --depth == 0) return p + 1;
        }
        return p;
    }
    while (*p && !strchr(",}]", *p)) p++;
    return p;
}

const char *j_value(const char *json, const char *name) {
    char *c = compact(json);
    char pattern[256];
    snprintf(pattern, sizeof pattern, "\"%s\":", name);
    const char *at = strstr(c, pattern);
    const char *result = NULL;
    if (at) {
        at += strlen(pattern);
        size_t n = (size_t)(value_end(at) - at);
        char *b = ring_next();
        CHECK(n < RING_SIZE);
        memcpy(b, at, n);
        b[n] = '\0';
        result = b;
    }
    free(c);
    return result;
}

const char *j_str(const char *json, const char *name) {
    const char *v = j_value(json, name);
    if (!v || v[0] != '"') return NULL;
    size_t n = strlen(v);
    if (n < 2 || v[n - 1] != '"') return NULL;
    char *b = ring_next();
    memcpy(b, v + 1, n - 2);
    b[n - 2] = '\0';
    return b;
}

long long j_int(const char *json, const char *name) {
    const char *v = j_value(json, name);
    if (!v) t_fail(__FILE__, __LINE__, "no member \"%s\" in %s", name, json);
    char *end;
    long long n = strtoll(v, &end, 10);
    if (end == v || *end) t_fail(__FILE__, __LINE__, "\"%s\" is not an integer: %s", name, v);
    return n;
}

int64_t j_time(const char *json, const char *name) {
    const char *v = j_value(json, name);
    if (!v) t_fail(__FILE__, __LINE__, "no member \"%s\" in %s", name, json);
    if (strcmp(v, "null") == 0) return -1;
    const char *text = j_str(json, name);
    int64_t ms = t_parse_time(text);
    if (ms < 0) t_fail(__FILE__, __LINE__, "\"%s\" is not a RFC 3339 UTC time with ms: %s", name, v);
    return ms;
}

int t_writer(const char *dir, const char *tag) {
    char config[512];
    snprintf(config, sizeof config, "{\"dir\":\"%s\"}", dir);
    cacheness_cache *c = NULL;
    cacheness_error *e = cacheness_cache_open(config, &c);
    int failures = 0;
    for (int i = 0; !e && i < WRITER_ENTRIES; i++) {
        char params[128];
        snprintf(params, sizeof params, "{\"writer\":\"%s\",\"i\":%d}", tag, i);
        size_t len = 1000 + (size_t)i * 1000; /* some inline, some in files */
        uint8_t *data = malloc(len);
        if (!data) return failures + 1;
        memset(data, i, len);
        e = cacheness_cache_put(c, params, data, len, NULL, NULL);
        cacheness_bytes got = {NULL, 0};
        bool found = false;
        if (!e) e = cacheness_cache_get(c, params, &got, &found);
        if (!e && (!found || got.len != len || memcmp(got.data, data, len) != 0)) failures++;
        cacheness_bytes_free(got);
        free(data);
    }
    if (e) {
        fprintf(stderr, "writer %s: %s\n", tag, cacheness_error_message(e));
        failures++;
    }
    cacheness_error_free(e);
    cacheness_cache_close(c);
    return failures;
}
