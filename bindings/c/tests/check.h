/* A tiny test harness: checks that stop the current test, a per-test temp directory, and
 * helpers for the cache directory and JSON text. No external framework. */
#ifndef CHECK_H
#define CHECK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "cacheness.h"

typedef struct {
    const char *name;
    void (*fn)(void);
} t_case;

/* The running test's fresh directory (mkdtemp under /tmp; removed after the test). */
extern char t_dir[];
/* The path of this test program (to run it again in a child process). */
extern char t_self[];

/* Report a failed check and leave the test (longjmp to the runner). Never call these from a
 * callback that the library invokes: a longjmp must not cross Rust frames. */
_Noreturn void t_fail(const char *file, int line, const char *fmt, ...);
_Noreturn void t_fail_err(const char *file, int line, const char *call, cacheness_error *e);
void t_expect_code(const char *file, int line, const char *call, cacheness_error *e,
                   cacheness_code want);

/* Context printed with a failure (e.g. the loop item being checked); reset for each test. */
void t_context(const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 1, 2)))
#endif
    ;

/* Loop over an array of strings, naming the current one in failure messages. */
#define EACH(i, arr) \
    for (size_t i = 0; i < sizeof(arr) / sizeof((arr)[0]) \
             ? (t_context("%s[%zu] = \"%s\"", #arr, i, (arr)[i]), 1) \
             : (t_context("%s", ""), 0); i++)

#define CHECK(cond) \
    do { if (!(cond)) t_fail(__FILE__, __LINE__, "CHECK(%s)", #cond); } while (0)
#define CHECK_STR(a, b) \
    do { const char *a_ = (a), *b_ = (b); \
         if (!a_ || !b_ || strcmp(a_, b_) != 0) \
             t_fail(__FILE__, __LINE__, "%s == %s: \"%s\" vs \"%s\"", #a, #b, \
                    a_ ? a_ : "(null)", b_ ? b_ : "(null)"); } while (0)
#define CHECK_INT(a, b) \
    do { long long a_ = (long long)(a), b_ = (long long)(b); \
         if (a_ != b_) t_fail(__FILE__, __LINE__, "%s == %s: %lld vs %lld", #a, #b, a_, b_); \
    } while (0)
/* The call must succeed (return NULL). */
#define OK(call) \
    do { cacheness_error *e_ = (call); if (e_) t_fail_err(__FILE__, __LINE__, #call, e_); } while (0)
/* The call must fail with this code (and a non-empty message). */
#define FAILS(code, call) t_expect_code(__FILE__, __LINE__, #call, (call), (code))
#define FAILS_INVALID(call) FAILS(CACHENESS_INVALID_ARGUMENT, call)

/* Out-parameter sentinels: fill with a byte pattern, later check no byte changed. */
#define SENTINEL_BYTE 0xA5
#define PRESET(x) memset(&(x), SENTINEL_BYTE, sizeof(x))
#define UNTOUCHED(x) t_untouched(&(x), sizeof(x))
bool t_untouched(const void *p, size_t n);

/* The other side of the two-process test: opens the cache in dir, writes WRITER_ENTRIES entries
 * {"writer": tag, "i": n} and reads each back. Returns the number of failures. Run as
 * `test_cacheness --writer DIR TAG` in a child process. */
#define WRITER_ENTRIES 40
int t_writer(const char *dir, const char *tag);

/* ---- handles: opened through these, closed by the runner if a test stops early ---- */
/* Open a SQLite+files cache in dir (NULL: t_dir); extra is appended inside the config object,
 * e.g. "\"verify_on_read\":true" (NULL or "": nothing). */
cacheness_cache *t_cache_at(const char *dir, const char *extra);
#define t_cache(extra) t_cache_at(NULL, (extra))
void t_cache_close(cacheness_cache *c);
cacheness_store *t_store_at(const char *dir, const char *extra);
#define t_store(extra) t_store_at(NULL, (extra))
void t_store_close(cacheness_store *s);
void t_close_all(void);

/* ---- cache shortcuts (each fails the test on an error) ---- */
/* Put; returns the key in a static ring buffer (valid for the next few calls). */
const char *t_put(cacheness_cache *c, const char *params, const void *data, size_t len,
                  const char *options);
const char *t_put_str(cacheness_cache *c, const char *params, const char *text,
                      const char *options);
const char *t_key(const char *params); /* cacheness_key, ring buffer */
bool t_exists(cacheness_cache *c, const char *selector);
/* Get: returns found; on a hit *out holds the bytes (free with cacheness_bytes_free). */
bool t_get(cacheness_cache *c, const char *selector, cacheness_bytes *out);
/* The hit must hold exactly these bytes. */
void t_check_data(cacheness_cache *c, const char *selector, const void *want, size_t len);
/* get_metadata of an entry that must exist; free with cacheness_string_free. */
char *t_meta(cacheness_cache *c, const char *selector);
/* A deterministic buffer of n bytes (seeded); free with free(). */
uint8_t *t_data(size_t n, unsigned seed);

/* printf into a ring buffer (valid for the next few calls). */
const char *t_fmt(const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 1, 2)))
#endif
    ;

/* ---- files ---- */
const char *t_path(const char *rel); /* t_dir + "/" + rel, ring buffer */
size_t t_count_files(const char *dir); /* regular files below dir, recursively; 0 if absent */
/* Path of the only regular file below dir (fails the test unless there is exactly one). */
const char *t_only_file(const char *dir);
bool t_file_exists(const char *path);
/* The regular files below dir, sorted (NULL-terminated; free with t_free_list). */
char **t_list_files(const char *dir, size_t *n);
void t_free_list(char **list);
/* Set a file's access and modification times to `age_s` seconds ago. */
void t_age_file(const char *path, int age_s);
/* Write a file, creating its parent directories, and make it two days old. */
void t_plant_old_file(const char *path, const char *content);
void t_write_file(const char *path, const void *data, size_t len);
void t_append_file(const char *path, const void *data, size_t len);
void t_flip_byte(const char *path, long offset);
/* Read a whole file (malloc'd; *len gets its size). */
uint8_t *t_read_file(const char *path, size_t *len);
int t_rmtree(const char *path);

/* ---- time ---- */
int64_t t_now_ms(void);
void t_sleep_ms(int ms);
/* Wait until the wall clock has moved past the current millisecond (and one more), so that
 * timestamps taken before and after differ. */
void t_next_ms(void);
/* Milliseconds since the epoch of "YYYY-MM-DDTHH:MM:SS.mmmZ" (the library's format); -1 if the
 * text has any other form. */
int64_t t_parse_time(const char *text);
/* The time member "name" of a JSON object as ms since the epoch (fails unless well-formed);
 * -1 for null. */
int64_t j_time(const char *json, const char *name);

/* ---- JSON text, checked without a parser: whitespace outside strings is ignored ---- */
/* Does the JSON contain this compact fragment, e.g. "\"expires_at\":null"? */
bool j_has(const char *json, const char *fragment);
size_t j_count(const char *json, const char *fragment);
/* The value of the first member "name" as an integer (fails the test if absent). */
long long j_int(const char *json, const char *name);
/* The raw (still escaped) text of the first string member "name" into a ring buffer; NULL if
 * the member is absent or not a string. */
const char *j_str(const char *json, const char *name);
/* The raw JSON text of the first value of member "name" (object, array, string, literal) in a
 * ring buffer; NULL if absent. */
const char *j_value(const char *json, const char *name);

#endif
