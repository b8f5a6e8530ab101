/* Reproduction: cacheness_cache_copy fails with CACHENESS_CORRUPT ("blob ... is missing") when
 * another writer replaces the source entry (a file-backed value) while the copy runs. The
 * source was never corrupt: its old blob was legitimately removed by the replacing put.
 * Expected: the copy retries (as it does when the record changed) and returns OK.
 *
 *   cc -std=c11 -O2 -I include -o /tmp/copy_race stress/repro/copy_race.c \
 *      -L target/release -Wl,-rpath,$PWD/target/release -lcacheness -lpthread
 *   /tmp/copy_race /tmp/copy-race-dir
 *
 * One process, two threads on one handle: a putter replaces {"src":1} with 20 KiB values, a
 * copier copies it to {"dst":1} (overwrite). Exits 1 on the first unexpected error. */
#define _POSIX_C_SOURCE 200809L
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cacheness.h"

static cacheness_cache *cache;
static atomic_bool stop;

static void *putter(void *arg) {
    (void)arg;
    static uint8_t data[20000];
    for (unsigned i = 0; !atomic_load(&stop); i++) {
        memset(data, (int)i, sizeof data);
        cacheness_error *e = cacheness_cache_put(cache, "{\"src\":1}", data, sizeof data, NULL, NULL);
        if (e) {
            fprintf(stderr, "put: %s\n", cacheness_error_message(e));
            cacheness_error_free(e);
        }
    }
    return NULL;
}

int main(int argc, char **argv) {
    char config[512];
    snprintf(config, sizeof config, "{\"dir\":\"%s\"}", argc > 1 ? argv[1] : "/tmp/copy-race");
    cacheness_error *e = cacheness_cache_open(config, &cache);
    if (e) {
        fprintf(stderr, "open: %s\n", cacheness_error_message(e));
        return 2;
    }
    pthread_t t;
    pthread_create(&t, NULL, putter, NULL);
    int status = 0;
    for (int i = 0; i < 20000; i++) {
        bool copied = false;
        e = cacheness_cache_copy(cache, "{\"src\":1}", "{\"dst\":1}", "{\"overwrite\":true}", &copied);
        if (e) {
            printf("copy %d: error %d: %s\n", i, (int)cacheness_error_code(e), cacheness_error_message(e));
            cacheness_error_free(e);
            status = 1;
            break;
        }
    }
    atomic_store(&stop, true);
    pthread_join(t, NULL);
    cacheness_cache_close(cache);
    if (!status) printf("no error in 20000 copies\n");
    return status;
}
