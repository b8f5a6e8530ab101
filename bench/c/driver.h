/* Shared benchmark driver: the same workloads, key shapes, value bytes, timing and JSON-lines
 * output for every C-level library under test (cacheness through its C ABI in bench.c, raw
 * SQLite in sqlite_floor.c). bench/py/diskcache_bench.py mirrors it for Python DiskCache.
 *
 * Entry i has params {"bench":"kv","g":<i % 10>,"i":<i>} (already RFC 8785 canonical), and the
 * value byte j is (j % 251). */
#ifndef BENCH_DRIVER_H
#define BENCH_DRIVER_H

#include <stddef.h>
#include <stdint.h>

#define PARAMS_MAX 96

/* Writes the params JSON of entry i into buf (PARAMS_MAX bytes); returns its length. */
int bench_params(char *buf, long long i);

/* One library under test. `global` is what open() returned (shared by threads of one process);
 * `t` is a per-thread context from ctx_new (for cacheness the shared handle itself).
 * put, put_batch: 0 on success. get, get_metadata, touch, del, get_key: 1 if the entry was
 * there, 0 if not. get_batch: 0 if every item was a hit. Any: -1 on an error (printed). */
typedef struct bench_backend {
    const char *name;
    void *(*open)(const char *dir);
    void (*close)(void *global);
    void *(*ctx_new)(void *global);
    void (*ctx_free)(void *t);
    int (*put)(void *t, long long i, const uint8_t *v, size_t len);
    int (*get)(void *t, long long i, size_t expect_len);
    int (*get_metadata)(void *t, long long i);
    int (*touch)(void *t, long long i);
    int (*del)(void *t, long long i);
    int (*get_batch)(void *t, const long long *idx, int k, size_t expect_len);
    int (*put_batch)(void *t, const long long *idx, int k, const uint8_t *v, size_t len);
    long long (*delete_where)(void *t, int group); /* deletes entries with g == group */
    long long (*list_all)(void *t);                /* number of entries listed */
    /* Optional (NULL: the op is skipped): untimed preparation of a 64-hex key selector for
     * entry i, then the timed get by that key. */
    int (*prep_key)(void *t, long long i);
    int (*get_key)(void *t, size_t expect_len);
} bench_backend;

int driver_main(const bench_backend *b, int argc, char **argv);

#endif
