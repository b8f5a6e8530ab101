/* Reproduction: orphan cleanup (cacheness_cache_cleanup_orphans, and repair) removes the
 * temporary file of a write in flight, and that put fails with CACHENESS_IO "No such file or
 * directory (os error 2)". The writer creates blobs/tmp/<random>.tmp and only then takes its
 * flock (src/storage/blob_fs.rs, publish): in between, cleanup can open the file, take the
 * lock itself and unlink it; the writer then writes into an unlinked file and its rename fails.
 * Expected: a write in flight is never disturbed by cleanup (README "Crash safety").
 *
 *   cc -std=c11 -O2 -I include -o /tmp/cleanup_race stress/repro/cleanup_race.c \
 *      -L target/release -Wl,-rpath,$PWD/target/release -lcacheness -lpthread
 *   /tmp/cleanup_race /tmp/cleanup-race-dir
 *
 * One process, two threads on one handle (two processes behave the same): a putter writes
 * 20 KiB values (stored as files), a cleaner calls cleanup_orphans in a loop. Exits 1 on the
 * first failed put. */
#define _POSIX_C_SOURCE 200809L
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cacheness.h"

static cacheness_cache *cache;
static atomic_bool stop;

static void *cleaner(void *arg) {
    (void)arg;
    while (!atomic_load(&stop)) {
        uint64_t n = 0;
        cacheness_error *e = cacheness_cache_cleanup_orphans(cache, &n);
        if (e) {
            fprintf(stderr, "cleanup_orphans: %s\n", cacheness_error_message(e));
            cacheness_error_free(e);
        }
    }
    return NULL;
}

int main(int argc, char **argv) {
    char config[512];
    snprintf(config, sizeof config, "{\"dir\":\"%s\"}", argc > 1 ? argv[1] : "/tmp/cleanup-race");
    cacheness_error *e = cacheness_cache_open(config, &cache);
    if (e) {
        fprintf(stderr, "open: %s\n", cacheness_error_message(e));
        return 2;
    }
    pthread_t t;
    pthread_create(&t, NULL, cleaner, NULL);
    static uint8_t data[20000];
    int status = 0;
    for (int i = 0; i < 20000; i++) {
        char params[64];
        snprintf(params, sizeof params, "{\"k\":%d}", i % 16);
        memset(data, i, sizeof data);
        e = cacheness_cache_put(cache, params, data, sizeof data, NULL, NULL);
        if (e) {
            printf("put %d: error %d: %s\n", i, (int)cacheness_error_code(e), cacheness_error_message(e));
            cacheness_error_free(e);
            status = 1;
            break;
        }
    }
    atomic_store(&stop, true);
    pthread_join(t, NULL);
    cacheness_cache_close(cache);
    if (!status) printf("no error in 20000 puts\n");
    return status;
}
