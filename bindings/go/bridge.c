// C side of DeleteMatching: the predicate the library calls is this
// function, which hands the metadata to the exported Go trampoline together
// with the cgo.Handle carried in ctx. Go never gives C a Go pointer here:
// ctx is an integer handle, not an address.
#include <stdint.h>
#include "cacheness.h"
#include "_cgo_export.h"

static bool cachenessGoPredicateBridge(const char *metadata_json, void *ctx) {
	return cachenessGoPredicate((char *)metadata_json, (uintptr_t)ctx);
}

cacheness_error *cachenessGoDeleteMatching(cacheness_cache *c, const char *filter_json,
		uintptr_t handle, uint64_t *count) {
	return cacheness_cache_delete_matching(c, filter_json, cachenessGoPredicateBridge,
		(void *)handle, count);
}
