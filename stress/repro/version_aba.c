/* Design note (not a contract violation): versions restart at 1 when an entry is deleted and
 * created again, so update_data's expected_version cannot tell "the entry I read" from "a new
 * entry that reached the same version" (ABA). The stress workers see this a few times a minute
 * on shared params (printed as NOTE ... stale expected_version N accepted; N is 1 or 2).
 *
 *   cc -std=c11 -I include -o /tmp/version_aba stress/repro/version_aba.c \
 *      -L target/release -Wl,-rpath,$PWD/target/release -lcacheness
 *   /tmp/version_aba /tmp/version-aba-dir
 *
 * Prints "ABA: update_data with the version of a deleted entry succeeded" and exits 1 while the
 * behaviour stands. */
#include <stdio.h>
#include <string.h>

#include "cacheness.h"

#define P "{\"aba\":1}"

static void ok(cacheness_error *e, const char *what) {
    if (e) {
        fprintf(stderr, "%s: %s\n", what, cacheness_error_message(e));
        cacheness_error_free(e);
    }
}

int main(int argc, char **argv) {
    char config[512];
    snprintf(config, sizeof config, "{\"dir\":\"%s\"}", argc > 1 ? argv[1] : "/tmp/version-aba");
    cacheness_cache *c = NULL;
    ok(cacheness_cache_open(config, &c), "open");
    bool b = false;
    ok(cacheness_cache_delete(c, P, &b), "delete");

    ok(cacheness_cache_put(c, P, (const uint8_t *)"A", 1, NULL, NULL), "put A");
    char *meta = NULL;
    ok(cacheness_cache_get_metadata(c, P, &meta, &b), "get_metadata");
    printf("reader sees: %s\n", meta); /* version 1, data "A" */
    cacheness_string_free(meta);

    /* Meanwhile another process deletes the entry and writes a new one. */
    ok(cacheness_cache_delete(c, P, &b), "delete");
    ok(cacheness_cache_put(c, P, (const uint8_t *)"B", 1, NULL, NULL), "put B");

    /* The reader's conditional update, based on the entry holding "A", is accepted. */
    bool updated = false;
    cacheness_error *e =
        cacheness_cache_update_data(c, P, (const uint8_t *)"A2", 2, "{\"expected_version\":1}", &updated);
    int status = 0;
    if (!e && updated) {
        printf("ABA: update_data with the version of a deleted entry succeeded (overwrote \"B\")\n");
        status = 1;
    } else {
        printf("expected_version 1 refused: %s\n", e ? cacheness_error_message(e) : "not updated");
    }
    cacheness_error_free(e);
    cacheness_cache_close(c);
    return status;
}
