/*
 * The C side of the Node bench's "Node getSync vs C get" comparison (bench/bench.js).
 *
 * A small server driven over stdin/stdout so that the Node process and this one alternate
 * rounds on the same machine, on the same cache directory and keys, at the same time:
 *
 *   c_get CONFIG_JSON          opens the cache with CONFIG_JSON (what Cache.open was given)
 *   stdin:  one 64-hex key (selector) per line, then an empty line
 *   stdout: "ready <nkeys>"
 *   stdin:  "get N"            N calls of cacheness_cache_get(cache, keys[i % nkeys]) (plus
 *                              cacheness_bytes_free), i = 0..N-1, timed with CLOCK_MONOTONIC
 *   stdout: "ns <total_ns> cpu <cpu_ns> bytes <total_bytes>"   (wall clock, and user + system CPU
 *                              time of the whole process, like Node's process.cpuUsage())
 *   stdin:  "quit" or EOF      closes the cache and exits
 *
 * Errors go to stderr and end the program with status 1.
 */
#define _POSIX_C_SOURCE 200809L
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#include "cacheness.h"

static uint64_t now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static uint64_t cpu_ns(void) {
  struct rusage ru;
  getrusage(RUSAGE_SELF, &ru);
  return ((uint64_t)ru.ru_utime.tv_sec + (uint64_t)ru.ru_stime.tv_sec) * 1000000000u +
         ((uint64_t)ru.ru_utime.tv_usec + (uint64_t)ru.ru_stime.tv_usec) * 1000u;
}

static void die(const char *what, cacheness_error *e) {
  if (e) {
    fprintf(stderr, "c_get: %s: %s (code %d)\n", what, cacheness_error_message(e), (int)cacheness_error_code(e));
    cacheness_error_free(e);
  } else {
    fprintf(stderr, "c_get: %s\n", what);
  }
  exit(1);
}

int main(int argc, char **argv) {
  if (argc != 2) {
    fprintf(stderr, "usage: c_get CONFIG_JSON < keys-and-commands\n");
    return 2;
  }
  cacheness_cache *cache = NULL;
  cacheness_error *e = cacheness_cache_open(argv[1], &cache);
  if (e) die("open", e);

  size_t nkeys = 0, cap = 1024;
  char **keys = malloc(cap * sizeof *keys);
  char line[4096];
  if (!keys) die("out of memory", NULL);
  for (;;) {
    if (!fgets(line, sizeof line, stdin)) die("EOF while reading keys", NULL);
    line[strcspn(line, "\r\n")] = 0;
    if (!line[0]) break;
    if (nkeys == cap) {
      cap *= 2;
      keys = realloc(keys, cap * sizeof *keys);
      if (!keys) die("out of memory", NULL);
    }
    if (!(keys[nkeys++] = strdup(line))) die("out of memory", NULL);
  }
  if (nkeys == 0) die("no keys", NULL);
  printf("ready %zu\n", nkeys);
  fflush(stdout);

  while (fgets(line, sizeof line, stdin)) {
    unsigned long long n = 0;
    if (strncmp(line, "quit", 4) == 0) break;
    if (sscanf(line, "get %llu", &n) != 1) die("bad command", NULL);
    uint64_t bytes = 0;
    uint64_t c0 = cpu_ns();
    uint64_t t0 = now_ns();
    for (unsigned long long i = 0; i < n; i++) {
      cacheness_bytes out;
      bool found = false;
      e = cacheness_cache_get(cache, keys[i % nkeys], &out, &found);
      if (e) die("get", e);
      if (!found) die("get: miss", NULL);
      bytes += out.len;
      cacheness_bytes_free(out);
    }
    uint64_t ns = now_ns() - t0;
    uint64_t cpu = cpu_ns() - c0;
    printf("ns %llu cpu %llu bytes %llu\n", (unsigned long long)ns, (unsigned long long)cpu, (unsigned long long)bytes);
    fflush(stdout);
  }
  for (size_t i = 0; i < nkeys; i++) free(keys[i]);
  free(keys);
  cacheness_cache_close(cache);
  return 0;
}
