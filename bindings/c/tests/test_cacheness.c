/* The C test suite of cacheness: runs every test in its own temp directory and prints one line
 * per test, then "N passed, M failed". Optional arguments: substrings of test names to run,
 * or to skip when written "-substring". */
#define _XOPEN_SOURCE 700

#include <setjmp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "suites.h"

char t_dir[256];
char t_self[4096];
static jmp_buf t_jmp;
static const char *t_name;
static char t_ctx[512];

void t_context(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(t_ctx, sizeof t_ctx, fmt, ap);
    va_end(ap);
}

_Noreturn void t_fail(const char *file, int line, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    fprintf(stdout, "  %s:%d: ", file, line);
    vfprintf(stdout, fmt, ap);
    fputc('\n', stdout);
    va_end(ap);
    if (t_ctx[0]) printf("  (while checking %s)\n", t_ctx);
    longjmp(t_jmp, 1);
}

static const char *code_name(cacheness_code code) {
    static const char *const names[] = {"OK", "NOT_FOUND", "INVALID_ARGUMENT", "EXISTS",
        "CONFLICT", "CORRUPT", "IO", "BACKEND", "BUSY", "TOO_LARGE", "PANIC"};
    return (unsigned)code < sizeof names / sizeof names[0] ? names[code] : "?";
}

_Noreturn void t_fail_err(const char *file, int line, const char *call, cacheness_error *e) {
    char msg[1024];
    snprintf(msg, sizeof msg, "%s", cacheness_error_message(e));
    cacheness_code code = cacheness_error_code(e);
    cacheness_error_free(e);
    t_fail(file, line, "%s failed: %s: %s", call, code_name(code), msg);
}

void t_expect_code(const char *file, int line, const char *call, cacheness_error *e,
                   cacheness_code want) {
    if (!e) t_fail(file, line, "%s succeeded, want %s", call, code_name(want));
    cacheness_code code = cacheness_error_code(e);
    const char *msg = cacheness_error_message(e);
    bool has_msg = msg && *msg;
    if (code != want) t_fail_err(file, line, call, e); /* frees e */
    cacheness_error_free(e);
    if (!has_msg) t_fail(file, line, "%s: empty error message", call);
}

/* Arguments: substrings of the names of tests to run (default: all); "-substring" skips. */
static bool selected(const char *name, int argc, char **argv) {
    bool any_include = false, included = false;
    for (int i = 1; i < argc; i++) {
        if (argv[i][0] == '-') {
            if (strstr(name, argv[i] + 1)) return false;
        } else {
            any_include = true;
            if (strstr(name, argv[i])) included = true;
        }
    }
    return included || !any_include;
}

int main(int argc, char **argv) {
    const t_case *suites[] = {basic_tests, args_tests, cache_tests, filter_tests, maint_tests,
                              store_tests, postgres_tests};
    if (!realpath(argv[0], t_self)) snprintf(t_self, sizeof t_self, "%s", argv[0]);
    if (argc == 4 && strcmp(argv[1], "--writer") == 0)
        return t_writer(argv[2], argv[3]) ? 1 : 0;
    /* Volatile: modified between setjmp and a longjmp back to it. */
    volatile int passed = 0, failed = 0;
    setvbuf(stdout, NULL, _IOLBF, 0);
    printf("cacheness %s\n", cacheness_version());
    for (size_t s = 0; s < sizeof suites / sizeof suites[0]; s++) {
        for (const t_case *t = suites[s]; t->name; t++) {
            if (!selected(t->name, argc, argv)) continue;
            t_name = t->name;
            t_ctx[0] = '\0';
            snprintf(t_dir, sizeof t_dir, "/tmp/cacheness-c-test-XXXXXX");
            if (!mkdtemp(t_dir)) {
                perror("mkdtemp");
                return 2;
            }
            if (setjmp(t_jmp) == 0) {
                t->fn();
                t_close_all();
                printf("ok   %s\n", t_name);
                passed++;
            } else {
                t_close_all();
                printf("FAIL %s\n", t_name);
                failed++;
            }
            t_rmtree(t_dir);
        }
    }
    printf("%d passed, %d failed\n", passed, failed);
    return failed ? 1 : 0;
}
