package cacheness

/*
#include <stdint.h>
#include <stdlib.h>
#include "cacheness.h"

// Defined in bridge.c (a file with //export may only declare C functions).
cacheness_error *cachenessGoDeleteMatching(cacheness_cache *c, const char *filter_json,
	uintptr_t handle, uint64_t *count);
*/
import "C"

import (
	"encoding/json"
	"fmt"
	"runtime/cgo"
	"unsafe"
)

// predicateCall is the state of one DeleteMatching call, reached from C
// through a cgo.Handle.
type predicateCall struct {
	pred     func(Metadata) bool
	panicked bool
	panicVal any
	err      error
}

//export cachenessGoPredicate
func cachenessGoPredicate(metadataJSON *C.char, handle C.uintptr_t) (keep C.bool) {
	call := cgo.Handle(handle).Value().(*predicateCall)
	if call.panicked || call.err != nil {
		return false // after a failure, delete nothing more
	}
	// A panic must not unwind through the library's frames: catch it here,
	// answer "keep", and re-raise it in Go once the C call has returned.
	defer func() {
		if r := recover(); r != nil {
			call.panicked, call.panicVal = true, r
			keep = false
		}
	}()
	var m Metadata
	// The string is valid only during this call: decode (copy) it now.
	if err := json.Unmarshal([]byte(C.GoString(metadataJSON)), &m); err != nil {
		call.err = err
		return false
	}
	return C.bool(call.pred(m))
}

// DeleteMatching deletes the entries that pass filter (nil: all) and for
// which pred returns true, and returns how many. pred runs on the calling
// goroutine, once per candidate entry, while the library is inside the call:
// it must not use this Cache (or Close it).
//
// If pred panics, no further entries are deleted and the panic is raised
// again from DeleteMatching once the library has returned; entries pred had
// already accepted may or may not have been deleted.
func (c *Cache) DeleteMatching(filter map[string]any, pred func(Metadata) bool) (uint64, error) {
	if pred == nil {
		return 0, invalid("predicate is nil")
	}
	var f *C.char
	if filter != nil {
		var err error
		if f, err = cObject(filter); err != nil {
			return 0, err
		}
		defer C.free(unsafe.Pointer(f))
	}
	call := &predicateCall{pred: pred}
	handle := cgo.NewHandle(call)
	defer handle.Delete()
	n, err := c.count(func(h *C.cacheness_cache, n *C.uint64_t) *C.cacheness_error {
		return C.cachenessGoDeleteMatching(h, f, C.uintptr_t(handle), n)
	})
	if call.panicked {
		panic(call.panicVal)
	}
	if err == nil && call.err != nil {
		err = fmt.Errorf("cacheness: DeleteMatching: unexpected metadata JSON from the library: %w", call.err)
	}
	return n, err
}
