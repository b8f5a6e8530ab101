/* The test lists of each file, each ended by {NULL, NULL}. */
#ifndef SUITES_H
#define SUITES_H

#include "check.h"

extern const t_case basic_tests[];  /* test_basic.c: version, errors, keys, open, backends */
extern const t_case args_tests[];   /* test_args.c: NULL, bad UTF-8, bad JSON, unknown options */
extern const t_case cache_tests[];  /* test_cache.c: entry operations, TTL, batches, list */
extern const t_case filter_tests[]; /* test_filter.c: *_where, delete_matching */
extern const t_case maint_tests[];  /* test_maint.c: verify, repair, orphans, export, clear */
extern const t_case store_tests[];  /* test_store.c: cacheness_store_* */
extern const t_case postgres_tests[]; /* test_postgres.c: a PostgreSQL-backed cache */

#endif
