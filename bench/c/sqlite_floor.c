/* The floor: the same workloads on raw SQLite (the system libsqlite3), with prepared
 * statements on a table shaped like cacheness's entries table, the same pragmas as cacheness
 * (WAL, synchronous=NORMAL, 8 MiB page cache, 30 s busy timeout) and values stored in the row.
 * The key is the params JSON text itself (no hashing): a point select / insert is the least
 * work any SQLite-backed cache can do. One connection per thread (SQLite connections are not
 * shared between threads); each process opens its own. No access bookkeeping on reads. */
#include "driver.h"

#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

typedef struct sctx {
    sqlite3 *db;
    sqlite3_stmt *put, *get, *meta, *touch, *del, *begin, *begin_imm, *commit, *delwhere, *list;
    uint8_t *buf;
    size_t cap;
} sctx;

static const char *SCHEMA =
    "CREATE TABLE IF NOT EXISTS entries (key TEXT PRIMARY KEY, data_type TEXT NOT NULL,"
    " size INTEGER NOT NULL, content_hash TEXT NOT NULL, version INTEGER NOT NULL,"
    " created_at INTEGER NOT NULL, accessed_at INTEGER NOT NULL, access_count INTEGER NOT NULL,"
    " expires_at INTEGER, metadata TEXT NOT NULL, value BLOB);"
    "CREATE INDEX IF NOT EXISTS entries_created ON entries (created_at);";

static long long now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int serr(sctx *s, const char *what) {
    fprintf(stderr, "sqlite %s: %s\n", what, sqlite3_errmsg(s->db));
    return -1;
}

static void *s_open(const char *dir) {
    /* The global state is the database path; connections are per thread. */
    char *path = malloc(strlen(dir) + 16);
    sprintf(path, "%s/floor.db", dir);
    sqlite3 *db;
    if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, NULL) != SQLITE_OK) {
        fprintf(stderr, "sqlite open %s failed\n", path);
        free(path);
        return NULL;
    }
    sqlite3_busy_timeout(db, 30000);
    char *err = NULL;
    if (sqlite3_exec(db, "PRAGMA journal_mode=WAL;", NULL, NULL, &err) != SQLITE_OK ||
        sqlite3_exec(db, SCHEMA, NULL, NULL, &err) != SQLITE_OK) {
        fprintf(stderr, "sqlite schema: %s\n", err ? err : "?");
        sqlite3_free(err);
        sqlite3_close(db);
        free(path);
        return NULL;
    }
    sqlite3_close(db);
    return path;
}

static void s_close(void *g) { free(g); }

#define PREP(field, sql) \
    if (sqlite3_prepare_v3(s->db, sql, -1, SQLITE_PREPARE_PERSISTENT, &s->field, NULL) != SQLITE_OK) goto bad

static void s_ctx_free(void *t);

static void *s_ctx_new(void *g) {
    sctx *s = calloc(1, sizeof *s);
    if (sqlite3_open_v2(g, &s->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX, NULL) != SQLITE_OK) goto bad;
    sqlite3_busy_timeout(s->db, 30000);
    if (sqlite3_exec(s->db, "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; PRAGMA temp_store=MEMORY;"
                            " PRAGMA cache_size=-8192;", NULL, NULL, NULL) != SQLITE_OK) goto bad;
    PREP(put, "INSERT OR REPLACE INTO entries (key, data_type, size, content_hash, version, created_at,"
              " accessed_at, access_count, expires_at, metadata, value)"
              " VALUES (?1, 'bytes', ?2, '', 1, ?3, ?3, 0, NULL, '{}', ?4)");
    PREP(get, "SELECT value FROM entries WHERE key = ?1 AND (expires_at IS NULL OR expires_at > ?2)");
    PREP(meta, "SELECT key, data_type, size, content_hash, version, created_at, accessed_at, access_count,"
               " expires_at, metadata FROM entries WHERE key = ?1 AND (expires_at IS NULL OR expires_at > ?2)");
    PREP(touch, "UPDATE entries SET expires_at = ?2 WHERE key = ?1 AND (expires_at IS NULL OR expires_at > ?3)");
    PREP(del, "DELETE FROM entries WHERE key = ?1");
    PREP(begin, "BEGIN");
    PREP(begin_imm, "BEGIN IMMEDIATE");
    PREP(commit, "COMMIT");
    PREP(delwhere, "DELETE FROM entries WHERE json_extract(key, '$.g') = ?1");
    PREP(list, "SELECT key, data_type, size, content_hash, version, created_at, accessed_at, access_count,"
               " expires_at, metadata FROM entries ORDER BY created_at");
    return s;
bad:
    if (s->db) fprintf(stderr, "sqlite ctx: %s\n", sqlite3_errmsg(s->db));
    s_ctx_free(s);
    return NULL;
}

static void s_ctx_free(void *t) {
    sctx *s = t;
    sqlite3_stmt *all[] = {s->put, s->get, s->meta, s->touch, s->del, s->begin, s->begin_imm, s->commit, s->delwhere, s->list};
    for (size_t j = 0; j < sizeof all / sizeof *all; j++) sqlite3_finalize(all[j]);
    sqlite3_close(s->db);
    free(s->buf);
    free(s);
}

static int run_done(sctx *s, sqlite3_stmt *st, const char *what) {
    int rc = sqlite3_step(st);
    sqlite3_reset(st);
    return rc == SQLITE_DONE ? 0 : serr(s, what);
}

static int put_one(sctx *s, long long i, const uint8_t *v, size_t len, long long now) {
    char p[PARAMS_MAX];
    int pl = bench_params(p, i);
    sqlite3_bind_text(s->put, 1, p, pl, SQLITE_TRANSIENT);
    sqlite3_bind_int64(s->put, 2, (sqlite3_int64)len);
    sqlite3_bind_int64(s->put, 3, now);
    sqlite3_bind_blob64(s->put, 4, v, len, SQLITE_STATIC);
    return run_done(s, s->put, "put");
}

static int s_put(void *t, long long i, const uint8_t *v, size_t len) { return put_one(t, i, v, len, now_ms()); }

static int get_one(sctx *s, long long i, size_t expect, long long now) {
    char p[PARAMS_MAX];
    int pl = bench_params(p, i);
    sqlite3_bind_text(s->get, 1, p, pl, SQLITE_TRANSIENT);
    sqlite3_bind_int64(s->get, 2, now);
    int rc = sqlite3_step(s->get), out;
    if (rc == SQLITE_ROW) {
        /* copy the value out, as a cache returning owned bytes must */
        size_t n = (size_t)sqlite3_column_bytes(s->get, 0);
        const void *d = sqlite3_column_blob(s->get, 0);
        if (n > s->cap) {
            free(s->buf);
            s->buf = malloc(n);
            s->cap = n;
        }
        if (n) memcpy(s->buf, d, n);
        out = n == expect ? 1 : -1;
    } else {
        out = rc == SQLITE_DONE ? 0 : serr(s, "get");
    }
    sqlite3_reset(s->get);
    return out;
}

static int s_get(void *t, long long i, size_t expect) { return get_one(t, i, expect, now_ms()); }

static int s_get_metadata(void *t, long long i) {
    sctx *s = t;
    char p[PARAMS_MAX];
    int pl = bench_params(p, i);
    sqlite3_bind_text(s->meta, 1, p, pl, SQLITE_TRANSIENT);
    sqlite3_bind_int64(s->meta, 2, now_ms());
    int rc = sqlite3_step(s->meta), out;
    if (rc == SQLITE_ROW) {
        volatile long long sink = 0;
        for (int c = 0; c < 10; c++) sink += sqlite3_column_bytes(s->meta, c);
        out = 1;
    } else {
        out = rc == SQLITE_DONE ? 0 : serr(s, "get_metadata");
    }
    sqlite3_reset(s->meta);
    return out;
}

static int s_touch(void *t, long long i) {
    sctx *s = t;
    char p[PARAMS_MAX];
    int pl = bench_params(p, i);
    long long now = now_ms();
    sqlite3_bind_text(s->touch, 1, p, pl, SQLITE_TRANSIENT);
    sqlite3_bind_int64(s->touch, 2, now + 3600 * 1000);
    sqlite3_bind_int64(s->touch, 3, now);
    if (run_done(s, s->touch, "touch")) return -1;
    return sqlite3_changes(s->db) == 1 ? 1 : 0;
}

static int s_del(void *t, long long i) {
    sctx *s = t;
    char p[PARAMS_MAX];
    int pl = bench_params(p, i);
    sqlite3_bind_text(s->del, 1, p, pl, SQLITE_TRANSIENT);
    if (run_done(s, s->del, "delete")) return -1;
    return sqlite3_changes(s->db) == 1 ? 1 : 0;
}

/* k point selects in one read transaction (one consistent snapshot, as get_batch gives). */
static int s_get_batch(void *t, const long long *idx, int k, size_t expect) {
    sctx *s = t;
    if (run_done(s, s->begin, "begin")) return -1;
    long long now = now_ms();
    int rc = 0;
    for (int m = 0; m < k && rc == 0; m++)
        if (get_one(s, idx[m], expect, now) != 1) rc = -1;
    if (run_done(s, s->commit, "commit")) rc = -1;
    return rc;
}

/* k inserts in one write transaction (all or none, as put_batch gives). */
static int s_put_batch(void *t, const long long *idx, int k, const uint8_t *v, size_t len) {
    sctx *s = t;
    if (run_done(s, s->begin_imm, "begin")) return -1;
    long long now = now_ms();
    for (int m = 0; m < k; m++)
        if (put_one(s, idx[m], v, len, now)) {
            sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
            return -1;
        }
    return run_done(s, s->commit, "commit");
}

static long long s_delete_where(void *t, int group) {
    sctx *s = t;
    sqlite3_bind_int(s->delwhere, 1, group);
    if (run_done(s, s->delwhere, "delete_where")) return -1;
    return sqlite3_changes(s->db);
}

static long long s_list_all(void *t) {
    sctx *s = t;
    long long n = 0;
    volatile long long sink = 0;
    int rc;
    while ((rc = sqlite3_step(s->list)) == SQLITE_ROW) {
        for (int c = 0; c < 10; c++) sink += sqlite3_column_bytes(s->list, c);
        n++;
    }
    sqlite3_reset(s->list);
    return rc == SQLITE_DONE ? n : serr(s, "list");
}

int main(int argc, char **argv) {
    static const bench_backend b = {
        .name = "sqlite",
        .open = s_open,
        .close = s_close,
        .ctx_new = s_ctx_new,
        .ctx_free = s_ctx_free,
        .put = s_put,
        .get = s_get,
        .get_metadata = s_get_metadata,
        .touch = s_touch,
        .del = s_del,
        .get_batch = s_get_batch,
        .put_batch = s_put_batch,
        .delete_where = s_delete_where,
        .list_all = s_list_all,
    };
    return driver_main(&b, argc, argv);
}
