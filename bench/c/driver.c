/* Shared benchmark driver (see driver.h). Usage:
 *   PROG [--datasets 4096:1000,4096:100000,1048576:1000] [--rounds 3] [--dur 0.5]
 *        [--new-count 2000] [--modes 1t,4t,4p] [--ops get_hit,put,...] [--tmp DIR]
 *        [--seed 1] [--rss-gets 100000]
 * prints one JSON object per line on stdout (one per measured cell and round), progress on
 * stderr. Internal modes: --worker ... (one of the 4 processes of mode 4p, started by fork +
 * exec so that it gets a fresh library state) and --rss-probe DIR N VALUE GETS (opens an
 * existing cache, does GETS random gets and reports VmRSS/VmHWM). */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "driver.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

enum op {
    OP_PUT, OP_GET_HIT, OP_GET_HIT_KEY, OP_GET_MISS, OP_GET_METADATA, OP_TOUCH, OP_PUT_NEW,
    OP_DELETE, OP_GET_BATCH_100, OP_GET_X100, OP_GET_BATCH_1000, OP_PUT_BATCH_100,
    OP_PUT_BATCH_1000, OP_LIST_ALL, OP_DELETE_WHERE, OP_COUNT
};
static const char *OP_NAMES[OP_COUNT] = {
    "put", "get_hit", "get_hit_key", "get_miss", "get_metadata", "touch", "put_new", "delete",
    "get_batch_100", "get_x100", "get_batch_1000", "put_batch_100", "put_batch_1000", "list_all",
    "delete_where"};
/* Ops measured in every mode (1 thread, 4 threads, 4 processes); the others in 1t only. */
static int concurrent_op(int op) { return op <= OP_DELETE; }
static int batch_items(int op) {
    switch (op) {
    case OP_GET_BATCH_100: case OP_GET_X100: case OP_PUT_BATCH_100: return 100;
    case OP_GET_BATCH_1000: case OP_PUT_BATCH_1000: return 1000;
    default: return 1;
    }
}

#define MISS_BASE 1000000000000LL
#define NEW_BASE 10000000000LL
#define STRIDE 7919 /* prime, coprime with every N used: batch indices are distinct */
#define MAX_SAMPLES (4u << 20)

int bench_params(char *buf, long long i) {
    return snprintf(buf, PARAMS_MAX, "{\"bench\":\"kv\",\"g\":%lld,\"i\":%lld}", i % 10, i);
}

static uint64_t now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static uint64_t xorshift(uint64_t *s) {
    uint64_t x = *s;
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    return *s = x;
}

static double load1(void) {
    double l = -1;
    FILE *f = fopen("/proc/loadavg", "r");
    if (f) {
        if (fscanf(f, "%lf", &l) != 1) l = -1;
        fclose(f);
    }
    return l;
}

static uint8_t *make_value(size_t len) {
    uint8_t *v = malloc(len ? len : 1);
    if (!v) abort();
    for (size_t j = 0; j < len; j++) v[j] = (uint8_t)(j % 251);
    return v;
}

/* ---- one worker's loop ---------------------------------------------------------------- */

typedef struct cell {
    int op;
    size_t vlen;
    const uint8_t *value;
    long long n;
    uint64_t dur_ns;    /* time-based ops */
    long long count;    /* count-based ops (put_new, delete): per worker */
    long long new_base; /* first index of the keys put_new inserts and delete removes */
    uint64_t seed;
} cell;

typedef struct wres {
    uint64_t start, end, n, err;
    uint64_t *lat;
    size_t cap;
} wres;

static void push(wres *r, uint64_t v) {
    if (r->n == r->cap) {
        r->cap = r->cap ? r->cap * 2 : 65536;
        r->lat = realloc(r->lat, r->cap * sizeof *r->lat);
        if (!r->lat) abort();
    }
    r->lat[r->n++] = v;
}

static void run_loop(const bench_backend *b, void *t, const cell *c, int wi, wres *r) {
    uint64_t rng = c->seed * 0x9E3779B97F4A7C15ull + (uint64_t)wi * 7919u + 1;
    int k = batch_items(c->op);
    long long idx[1000];
    int counted = (c->op == OP_PUT_NEW || c->op == OP_DELETE);
    long long total = counted ? c->count : (long long)MAX_SAMPLES;
    r->start = now_ns();
    uint64_t deadline = r->start + c->dur_ns, hard_stop = r->start + 20 * c->dur_ns;
    for (long long j = 0; j < total; j++) {
        long long i = (long long)(xorshift(&rng) % (uint64_t)c->n);
        if (c->op == OP_GET_HIT_KEY && b->prep_key(t, i) != 0) { r->err++; break; }
        if (k > 1)
            for (int m = 0; m < k; m++) idx[m] = (i + (long long)m * STRIDE) % c->n;
        uint64_t t0 = now_ns();
        int rc;
        switch (c->op) {
        case OP_PUT: rc = b->put(t, i, c->value, c->vlen); break;
        case OP_GET_HIT: rc = b->get(t, i, c->vlen) == 1 ? 0 : -1; break;
        case OP_GET_HIT_KEY: rc = b->get_key(t, c->vlen) == 1 ? 0 : -1; break;
        case OP_GET_MISS:
            rc = b->get(t, MISS_BASE + (long long)(xorshift(&rng) % 1000000000u), c->vlen) == 0 ? 0 : -1;
            break;
        case OP_GET_METADATA: rc = b->get_metadata(t, i) == 1 ? 0 : -1; break;
        case OP_TOUCH: rc = b->touch(t, i) == 1 ? 0 : -1; break;
        case OP_PUT_NEW: rc = b->put(t, c->new_base + (long long)wi * c->count + j, c->value, c->vlen); break;
        case OP_DELETE: rc = b->del(t, c->new_base + (long long)wi * c->count + j) == 1 ? 0 : -1; break;
        case OP_GET_BATCH_100: case OP_GET_BATCH_1000: rc = b->get_batch(t, idx, k, c->vlen); break;
        case OP_GET_X100: /* the same 100 entries as a get_batch_100, by 100 gets */
            rc = 0;
            for (int m = 0; m < k && rc == 0; m++) rc = b->get(t, idx[m], c->vlen) == 1 ? 0 : -1;
            break;
        case OP_PUT_BATCH_100: case OP_PUT_BATCH_1000: rc = b->put_batch(t, idx, k, c->value, c->vlen); break;
        default: rc = -1;
        }
        uint64_t t1 = now_ns();
        if (rc != 0) {
            if (r->err++ < 3) fprintf(stderr, "%s: %s failed (i=%lld)\n", b->name, OP_NAMES[c->op], i);
            if (r->err > 100) break;
            continue;
        }
        push(r, t1 - t0);
        /* time-based: stop at the deadline once a few calls are in (so one stall is not the
         * whole sample), and in any case after 20 durations */
        if (!counted && t1 >= deadline && (r->n >= (k > 1 ? 5u : 30u) || t1 >= hard_stop)) break;
    }
    r->end = now_ns();
}

/* ---- threads -------------------------------------------------------------------------- */

typedef struct targ {
    const bench_backend *b;
    void *t;
    const cell *c;
    int wi;
    pthread_barrier_t *bar;
    wres r;
} targ;

static void *thread_main(void *p) {
    targ *a = p;
    pthread_barrier_wait(a->bar);
    run_loop(a->b, a->t, a->c, a->wi, &a->r);
    return NULL;
}

/* Thread w uses ctx[w]: contexts (SQLite connections and their page caches) live as long as
 * the data set, as they would in an application. */
static int run_threads(const bench_backend *b, void **ctx, const cell *c, int nw, wres *out) {
    targ a[16];
    pthread_t th[16];
    pthread_barrier_t bar;
    pthread_barrier_init(&bar, NULL, (unsigned)nw);
    for (int w = 0; w < nw; w++) {
        a[w] = (targ){.b = b, .t = ctx[w], .c = c, .wi = w, .bar = &bar};
        pthread_create(&th[w], NULL, thread_main, &a[w]);
    }
    for (int w = 0; w < nw; w++) pthread_join(th[w], NULL);
    pthread_barrier_destroy(&bar);
    for (int w = 0; w < nw; w++) out[w] = a[w].r;
    return 0;
}

/* ---- processes (fork + exec of this program in --worker mode) --------------------------- */

static int write_all(int fd, const void *p, size_t n) {
    const char *s = p;
    while (n) {
        ssize_t w = write(fd, s, n);
        if (w < 0 && errno == EINTR) continue;
        if (w <= 0) return -1;
        s += w;
        n -= (size_t)w;
    }
    return 0;
}

static int read_all(int fd, void *p, size_t n) {
    char *s = p;
    while (n) {
        ssize_t r = read(fd, s, n);
        if (r < 0 && errno == EINTR) continue;
        if (r <= 0) return -1;
        s += r;
        n -= (size_t)r;
    }
    return 0;
}

static int worker_main(const bench_backend *b, char **a) {
    /* a: op dir vlen n dur_ns count new_base seed wi out readyfd gofd */
    cell c = {0};
    c.op = atoi(a[0]);
    const char *dir = a[1];
    c.vlen = (size_t)atoll(a[2]);
    c.n = atoll(a[3]);
    c.dur_ns = (uint64_t)atoll(a[4]);
    c.count = atoll(a[5]);
    c.new_base = atoll(a[6]);
    c.seed = (uint64_t)atoll(a[7]);
    int wi = atoi(a[8]);
    const char *out = a[9];
    int readyfd = atoi(a[10]), gofd = atoi(a[11]);
    uint8_t *value = make_value(c.vlen);
    c.value = value;
    void *g = b->open(dir);
    void *t = g ? b->ctx_new(g) : NULL;
    char ch = t ? 'R' : 'E';
    if (write_all(readyfd, &ch, 1) != 0) return 1;
    close(readyfd);
    if (read_all(gofd, &ch, 1) != 0) return 1;
    wres r = {0};
    if (t) run_loop(b, t, &c, wi, &r);
    else r.err = 1;
    int fd = open(out, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    if (fd < 0) return 1;
    uint64_t hdr[4] = {r.start, r.end, r.n, r.err};
    if (write_all(fd, hdr, sizeof hdr) || write_all(fd, r.lat, r.n * sizeof *r.lat)) return 1;
    close(fd);
    if (t) b->ctx_free(t);
    if (g) b->close(g);
    return r.err ? 1 : 0;
}

static int run_procs(const char *self, const char *dir, const cell *c, int nw, wres *out) {
    int ready[2], go[2];
    if (pipe(ready) || pipe(go)) return -1;
    pid_t pids[16];
    char outs[16][4200];
    for (int w = 0; w < nw; w++) {
        snprintf(outs[w], sizeof outs[w], "%s.w%d", dir, w);
        char s[12][64];
        snprintf(s[0], 64, "%d", c->op);
        snprintf(s[1], 64, "%zu", c->vlen);
        snprintf(s[2], 64, "%lld", c->n);
        snprintf(s[3], 64, "%" PRIu64, c->dur_ns);
        snprintf(s[4], 64, "%lld", c->count);
        snprintf(s[5], 64, "%lld", c->new_base);
        snprintf(s[6], 64, "%" PRIu64, c->seed);
        snprintf(s[7], 64, "%d", w);
        snprintf(s[8], 64, "%d", ready[1]);
        snprintf(s[9], 64, "%d", go[0]);
        pids[w] = fork();
        if (pids[w] == 0) {
            close(ready[0]);
            close(go[1]);
            char *argv[] = {(char *)self, "--worker", s[0], (char *)dir, s[1], s[2], s[3], s[4],
                            s[5], s[6], s[7], outs[w], s[8], s[9], NULL};
            execv("/proc/self/exe", argv);
            _exit(127);
        }
    }
    close(ready[1]);
    close(go[0]);
    int ok = 1;
    for (int w = 0; w < nw; w++) {
        char ch;
        if (read_all(ready[0], &ch, 1) != 0 || ch != 'R') ok = 0;
    }
    char goes[16];
    memset(goes, 'G', sizeof goes);
    if (write_all(go[1], goes, (size_t)nw) != 0) ok = 0;
    close(ready[0]);
    close(go[1]);
    for (int w = 0; w < nw; w++) {
        int st;
        waitpid(pids[w], &st, 0);
        if (!WIFEXITED(st) || WEXITSTATUS(st) != 0) ok = 0;
        memset(&out[w], 0, sizeof out[w]);
        int fd = open(outs[w], O_RDONLY);
        uint64_t hdr[4];
        if (fd < 0 || read_all(fd, hdr, sizeof hdr)) { ok = 0; if (fd >= 0) close(fd); continue; }
        out[w].start = hdr[0];
        out[w].end = hdr[1];
        out[w].n = hdr[2];
        out[w].err = hdr[3];
        out[w].cap = hdr[2];
        out[w].lat = malloc((hdr[2] ? hdr[2] : 1) * sizeof(uint64_t));
        if (read_all(fd, out[w].lat, hdr[2] * sizeof(uint64_t))) ok = 0;
        close(fd);
        unlink(outs[w]);
    }
    return ok ? 0 : -1;
}

/* ---- statistics and output ------------------------------------------------------------ */

static int cmp_u64(const void *a, const void *b) {
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

static const char *g_lib;
static int g_round;

static void emit(const char *op, size_t vlen, long long n, const char *mode, int workers, int items,
                 wres *rs, int nw) {
    uint64_t total = 0, errs = 0, start = UINT64_MAX, end = 0;
    for (int w = 0; w < nw; w++) {
        total += rs[w].n;
        errs += rs[w].err;
        if (rs[w].start < start) start = rs[w].start;
        if (rs[w].end > end) end = rs[w].end;
    }
    uint64_t *all = malloc((total ? total : 1) * sizeof *all);
    uint64_t p = 0;
    double sum = 0;
    for (int w = 0; w < nw; w++) {
        memcpy(all + p, rs[w].lat, rs[w].n * sizeof *all);
        p += rs[w].n;
        free(rs[w].lat);
        rs[w].lat = NULL;
    }
    for (uint64_t j = 0; j < total; j++) sum += (double)all[j];
    qsort(all, total, sizeof *all, cmp_u64);
    double wall = (double)(end - start) / 1e9;
    if (total) {
        printf("{\"lib\":\"%s\",\"op\":\"%s\",\"value_bytes\":%zu,\"n\":%lld,\"mode\":\"%s\","
               "\"workers\":%d,\"items\":%d,\"round\":%d,\"count\":%" PRIu64 ",\"errors\":%" PRIu64
               ",\"median_ns\":%" PRIu64 ",\"p99_ns\":%" PRIu64 ",\"mean_ns\":%.1f,"
               "\"ops_per_s\":%.1f,\"wall_s\":%.4f,\"load1\":%.2f}\n",
               g_lib, op, vlen, n, mode, workers, items, g_round, total, errs, all[total / 2],
               all[(total * 99) / 100 < total ? (total * 99) / 100 : total - 1], sum / (double)total,
               wall > 0 ? (double)total / wall : 0.0, wall, load1());
    } else {
        printf("{\"lib\":\"%s\",\"op\":\"%s\",\"value_bytes\":%zu,\"n\":%lld,\"mode\":\"%s\","
               "\"workers\":%d,\"items\":%d,\"round\":%d,\"count\":0,\"errors\":%" PRIu64 "}\n",
               g_lib, op, vlen, n, mode, workers, items, g_round, errs);
    }
    fflush(stdout);
    free(all);
}

static void emit_single(const char *op, size_t vlen, long long n, int items, uint64_t ns, long long done) {
    printf("{\"lib\":\"%s\",\"op\":\"%s\",\"value_bytes\":%zu,\"n\":%lld,\"mode\":\"1t\",\"workers\":1,"
           "\"items\":%d,\"round\":%d,\"count\":1,\"errors\":0,\"median_ns\":%" PRIu64 ",\"p99_ns\":%" PRIu64
           ",\"mean_ns\":%" PRIu64 ",\"ops_per_s\":%.3f,\"entries\":%lld,\"wall_s\":%.4f,\"load1\":%.2f}\n",
           g_lib, op, vlen, n, items, g_round, ns, ns, ns, 1e9 / (double)ns, done, (double)ns / 1e9, load1());
    fflush(stdout);
}

static long status_kb(const char *field) {
    FILE *f = fopen("/proc/self/status", "r");
    char line[256];
    long v = -1;
    size_t fl = strlen(field);
    while (f && fgets(line, sizeof line, f))
        if (!strncmp(line, field, fl) && line[fl] == ':') v = atol(line + fl + 1);
    if (f) fclose(f);
    return v;
}

static int rss_probe(const bench_backend *b, char **a) {
    const char *dir = a[0];
    long long n = atoll(a[1]);
    size_t vlen = (size_t)atoll(a[2]);
    long long gets = atoll(a[3]);
    long before = status_kb("VmRSS");
    void *g = b->open(dir);
    void *t = g ? b->ctx_new(g) : NULL;
    if (!t) return 1;
    long after_open = status_kb("VmRSS");
    uint64_t rng = 12345;
    long long hits = 0;
    uint64_t t0 = now_ns();
    for (long long j = 0; j < gets; j++) hits += b->get(t, (long long)(xorshift(&rng) % (uint64_t)n), vlen) == 1;
    uint64_t ns = now_ns() - t0;
    printf("{\"lib\":\"%s\",\"op\":\"rss\",\"value_bytes\":%zu,\"n\":%lld,\"mode\":\"1t\",\"workers\":1,"
           "\"items\":1,\"round\":0,\"gets\":%lld,\"hits\":%lld,\"get_mean_ns\":%.1f,"
           "\"vmrss_start_kb\":%ld,\"vmrss_open_kb\":%ld,\"vmrss_kb\":%ld,\"vmhwm_kb\":%ld,\"load1\":%.2f}\n",
           b->name, vlen, n, gets, hits, gets ? (double)ns / (double)gets : 0.0, before, after_open,
           status_kb("VmRSS"), status_kb("VmHWM"), load1());
    fflush(stdout);
    b->ctx_free(t);
    b->close(g);
    return hits == gets ? 0 : 1;
}

/* ---- the main sequence ---------------------------------------------------------------- */

static int rm_rf(const char *dir) {
    pid_t p = fork();
    if (p == 0) {
        execlp("rm", "rm", "-rf", dir, (char *)NULL);
        _exit(127);
    }
    int st;
    waitpid(p, &st, 0);
    return WIFEXITED(st) && WEXITSTATUS(st) == 0 ? 0 : -1;
}

static int fill(const bench_backend *b, void *t, long long from, long long to, int group,
                const uint8_t *v, size_t vlen) {
    /* Puts entries [from, to) (only those with g == group if group >= 0) in batches whose
     * size keeps a batch under ~64 MiB. */
    long long idx[1000];
    int per = vlen > 65536 ? (int)(64 * 1048576 / vlen) : 1000;
    if (per < 1) per = 1;
    int k = 0;
    for (long long i = from; i < to; i++) {
        if (group >= 0 && i % 10 != group) continue;
        idx[k++] = i;
        if (k == per) {
            if (b->put_batch(t, idx, k, v, vlen)) return -1;
            k = 0;
        }
    }
    if (k && b->put_batch(t, idx, k, v, vlen)) return -1;
    return 0;
}

static int has(const char *list, const char *name) {
    if (!list) return 1;
    size_t l = strlen(name);
    for (const char *p = list; (p = strstr(p, name)); p += l)
        if ((p == list || p[-1] == ',') && (p[l] == ',' || p[l] == 0)) return 1;
    return 0;
}

int driver_main(const bench_backend *b, int argc, char **argv) {
    if (argc >= 14 && !strcmp(argv[1], "--worker")) return worker_main(b, argv + 2);
    if (argc >= 6 && !strcmp(argv[1], "--rss-probe")) return rss_probe(b, argv + 2);
    const char *datasets = "4096:1000,4096:100000,1048576:1000", *modes = "1t,4t,4p", *ops = NULL;
    const char *tmp = getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp";
    int rounds = 3;
    double dur = 0.5;
    long long new_count = 2000, rss_gets = 100000;
    uint64_t seed = 1;
    for (int a = 1; a + 1 < argc; a += 2) {
        const char *k = argv[a], *v = argv[a + 1];
        if (!strcmp(k, "--datasets")) datasets = v;
        else if (!strcmp(k, "--rounds")) rounds = atoi(v);
        else if (!strcmp(k, "--dur")) dur = atof(v);
        else if (!strcmp(k, "--new-count")) new_count = atoll(v);
        else if (!strcmp(k, "--modes")) modes = v;
        else if (!strcmp(k, "--ops")) ops = v;
        else if (!strcmp(k, "--tmp")) tmp = v;
        else if (!strcmp(k, "--seed")) seed = (uint64_t)atoll(v);
        else if (!strcmp(k, "--rss-gets")) rss_gets = atoll(v);
        else { fprintf(stderr, "unknown option %s\n", k); return 2; }
    }
    g_lib = b->name;
    char self[4096];
    ssize_t sl = readlink("/proc/self/exe", self, sizeof self - 1);
    if (sl <= 0) return 2;
    self[sl] = 0;
    int failures = 0;
    char *ds = strdup(datasets);
    for (char *save = NULL, *tok = strtok_r(ds, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
        size_t vlen = (size_t)atoll(tok);
        char *colon = strchr(tok, ':');
        long long n = colon ? atoll(colon + 1) : 1000;
        uint8_t *value = make_value(vlen);
        char dir[4096];
        snprintf(dir, sizeof dir, "%s/cacheness-bench-%s-XXXXXX", tmp, b->name);
        if (!mkdtemp(dir)) { perror("mkdtemp"); return 2; }
        void *g = b->open(dir);
        void *ctx[16] = {0}; /* created when a mode first needs them */
        if (!g || !(ctx[0] = b->ctx_new(g))) return 2;
        void *t = ctx[0];
        g_round = 0;
        fprintf(stderr, "[%s] value %zu B, N %lld: filling %s\n", b->name, vlen, n, dir);
        uint64_t t0 = now_ns();
        if (fill(b, t, 0, n, -1, value, vlen)) return 2;
        uint64_t fill_ns = now_ns() - t0;
        printf("{\"lib\":\"%s\",\"op\":\"fill\",\"value_bytes\":%zu,\"n\":%lld,\"mode\":\"1t\",\"workers\":1,"
               "\"items\":%lld,\"round\":0,\"wall_s\":%.3f,\"entries_per_s\":%.1f,\"load1\":%.2f}\n",
               b->name, vlen, n, n, (double)fill_ns / 1e9, (double)n * 1e9 / (double)fill_ns, load1());
        fflush(stdout);
        /* warm-up: page cache and statement caches */
        cell warm = {.op = OP_GET_HIT, .vlen = vlen, .value = value, .n = n, .dur_ns = 300000000, .seed = 99};
        wres wr = {0};
        run_loop(b, t, &warm, 0, &wr);
        free(wr.lat);

        long long count = vlen > 65536 ? (new_count / 10 > 20 ? new_count / 10 : 20) : new_count;
        for (int r = 0; r < rounds; r++) {
            g_round = r;
            int mi = 0;
            for (const char *m = modes; *m; mi++) {
                char mode[8] = {0};
                size_t ml = strcspn(m, ",");
                memcpy(mode, m, ml < 7 ? ml : 7);
                m += ml + (m[ml] == ',');
                int nw = atoi(mode);
                int procs = strchr(mode, 'p') != NULL;
                for (int op = 0; op < OP_LIST_ALL; op++) {
                    if (!has(ops, OP_NAMES[op])) continue;
                    if (nw != 1 && !concurrent_op(op)) continue;
                    if (nw > 16) continue;
                    if (op == OP_GET_HIT_KEY && !b->get_key) continue;
                    int k = batch_items(op);
                    if (k == 1000 && vlen > 65536) continue; /* a 1 GiB batch: not a workload */
                    cell c = {.op = op, .vlen = vlen, .value = value, .n = n,
                              .dur_ns = (uint64_t)(dur * 1e9), .count = count,
                              .new_base = NEW_BASE + (long long)(r * 16 + mi) * 100000000LL,
                              .seed = seed + (uint64_t)(r * 1000 + mi * 100 + op)};
                    wres rs[16];
                    memset(rs, 0, sizeof rs);
                    fprintf(stderr, "[%s] %zu B N=%lld round %d %s %s\n", b->name, vlen, n, r, mode, OP_NAMES[op]);
                    for (int w = 0; w < nw && !procs; w++)
                        if (!ctx[w] && !(ctx[w] = b->ctx_new(g))) return 2;
                    int rc = procs ? run_procs(self, dir, &c, nw, rs) : run_threads(b, ctx, &c, nw, rs);
                    if (rc) { fprintf(stderr, "[%s] %s %s: worker failure\n", b->name, OP_NAMES[op], mode); failures++; }
                    emit(OP_NAMES[op], vlen, n, mode, nw, k, rs, nw);
                    for (int w = 0; w < nw; w++) { failures += rs[w].err != 0; free(rs[w].lat); }
                }
            }
        }
        /* RSS of a fresh process that opens this cache and does gets (4 KiB datasets). */
        if (vlen <= 65536 && has(ops, "rss")) {
            fflush(stdout);
            pid_t p = fork();
            if (p == 0) {
                char sn[32], sv[32], sg[32];
                snprintf(sn, sizeof sn, "%lld", n);
                snprintf(sv, sizeof sv, "%zu", vlen);
                snprintf(sg, sizeof sg, "%lld", rss_gets);
                char *av[] = {self, "--rss-probe", dir, sn, sv, sg, NULL};
                execv("/proc/self/exe", av);
                _exit(127);
            }
            int st;
            waitpid(p, &st, 0);
            if (!WIFEXITED(st) || WEXITSTATUS(st)) { fprintf(stderr, "[%s] rss probe failed\n", b->name); failures++; }
        }
        /* list all, then delete_where 10% (restored after each round but the last). */
        int big = n >= 1000000;
        for (int r = 0; r < (big ? 1 : rounds) && has(ops, "list_all"); r++) {
            g_round = r;
            fprintf(stderr, "[%s] %zu B N=%lld list_all round %d\n", b->name, vlen, n, r);
            uint64_t s = now_ns();
            long long got = b->list_all(t);
            uint64_t ns = now_ns() - s;
            if (got != n) { fprintf(stderr, "[%s] list_all: %lld entries, expected %lld\n", b->name, got, n); failures++; }
            emit_single("list_all", vlen, n, (int)got, ns, got);
        }
        for (int r = 0; r < (big ? 1 : rounds) && has(ops, "delete_where"); r++) {
            g_round = r;
            fprintf(stderr, "[%s] %zu B N=%lld delete_where round %d\n", b->name, vlen, n, r);
            uint64_t s = now_ns();
            long long got = b->delete_where(t, 3);
            uint64_t ns = now_ns() - s;
            long long want = n / 10;
            if (got != want) { fprintf(stderr, "[%s] delete_where: %lld, expected %lld\n", b->name, got, want); failures++; }
            emit_single("delete_where", vlen, n, (int)want, ns, got);
            if (r + 1 < (big ? 1 : rounds) && fill(b, t, 0, n, 3, value, vlen)) return 2;
        }
        for (int w = 0; w < 16; w++)
            if (ctx[w]) b->ctx_free(ctx[w]);
        b->close(g);
        if (rm_rf(dir)) fprintf(stderr, "could not remove %s\n", dir);
        free(value);
    }
    free(ds);
    if (failures) fprintf(stderr, "[%s] %d failures\n", b->name, failures);
    return failures ? 1 : 0;
}
