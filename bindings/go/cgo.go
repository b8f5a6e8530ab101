package cacheness

/*
#include <stdlib.h>
#include <string.h>
#include "cacheness.h"
*/
import "C"

import (
	"encoding/json"
	"fmt"
	"math"
	"strings"
	"sync"
	"unsafe"
)

// Compile-time check that the Go codes are the C header's.
var _ = [1]struct{}{}[int(C.CACHENESS_OK)-int(CodeOK)+
	int(C.CACHENESS_NOT_FOUND)-int(CodeNotFound)+
	int(C.CACHENESS_INVALID_ARGUMENT)-int(CodeInvalidArgument)+
	int(C.CACHENESS_EXISTS)-int(CodeExists)+
	int(C.CACHENESS_CONFLICT)-int(CodeConflict)+
	int(C.CACHENESS_CORRUPT)-int(CodeCorrupt)+
	int(C.CACHENESS_IO)-int(CodeIO)+
	int(C.CACHENESS_BACKEND)-int(CodeBackend)+
	int(C.CACHENESS_BUSY)-int(CodeBusy)+
	int(C.CACHENESS_TOO_LARGE)-int(CodeTooLarge)+
	int(C.CACHENESS_PANIC)-int(CodePanic)]

// Version returns the version of the C library (cacheness_version).
func Version() string {
	return C.GoString(C.cacheness_version()) // a static string: not freed
}

// Key returns the cache key of params: the lowercase hex SHA-256 of the
// RFC 8785 canonical JSON of the params object. A nil map is {}.
func Key(params map[string]any) (string, error) {
	p, err := encodeObject(params)
	if err != nil {
		return "", err
	}
	return KeyJSON(p)
}

// KeyJSON is Key for params given as JSON text. Text that is not one JSON
// object, has duplicate member names or integer literals beyond +-(2^53-1)
// is ErrInvalidArgument.
func KeyJSON(paramsJSON string) (string, error) {
	cs, err := cString(paramsJSON)
	if err != nil {
		return "", err
	}
	defer C.free(unsafe.Pointer(cs))
	var out *C.char
	if err := takeError(C.cacheness_key(cs, &out)); err != nil {
		return "", err
	}
	return takeString(out), nil
}

// testPanic calls cacheness_test_panic, which panics inside the FFI boundary
// (for the tests: the error must come back as CodePanic).
func testPanic() error {
	return takeError(C.cacheness_test_panic())
}

// takeError turns an error object into an *Error and frees it (nil: nil).
func takeError(e *C.cacheness_error) error {
	if e == nil {
		return nil
	}
	code := Code(C.cacheness_error_code(e))
	msg := C.GoString(C.cacheness_error_message(e))
	C.cacheness_error_free(e)
	return &Error{Code: code, Message: msg}
}

// takeString copies a library-owned string into Go memory and frees it.
func takeString(s *C.char) string {
	if s == nil {
		return ""
	}
	g := C.GoString(s)
	C.cacheness_string_free(s)
	return g
}

// takeJSON decodes a library-owned JSON string into v and frees it.
func takeJSON(s *C.char, v any) error {
	if s == nil {
		return fmt.Errorf("cacheness: the library returned no JSON")
	}
	b := C.GoBytes(unsafe.Pointer(s), C.int(C.strlen(s)))
	C.cacheness_string_free(s)
	if err := json.Unmarshal(b, v); err != nil {
		return fmt.Errorf("cacheness: unexpected JSON from the library: %w", err)
	}
	return nil
}

// goBytes copies n bytes at p into a new Go slice (never nil).
func goBytes(p *C.uint8_t, n C.size_t) []byte {
	if n == 0 || p == nil {
		return []byte{}
	}
	if uint64(n) <= math.MaxInt32 {
		return C.GoBytes(unsafe.Pointer(p), C.int(n))
	}
	out := make([]byte, int(n))
	copy(out, unsafe.Slice((*byte)(unsafe.Pointer(p)), int(n)))
	return out
}

// takeBytes copies a library-owned buffer into Go memory and frees it.
func takeBytes(b C.cacheness_bytes) []byte {
	out := goBytes(b.data, b.len)
	if b.data != nil {
		C.cacheness_bytes_free(b)
	}
	return out
}

// zeroByte gives an empty slice a valid address for C (some C code treats a
// NULL data pointer as a missing argument even with length 0).
var zeroByte byte

// bytesArg returns a pointer/length pair for passing data to C for the
// duration of one call. The memory is Go memory without Go pointers in it,
// which the cgo rules allow; C must not (and the library does not) keep it.
// The caller keeps data alive across the call (runtime.KeepAlive).
func bytesArg(data []byte) (*C.uint8_t, C.size_t) {
	if len(data) == 0 {
		return (*C.uint8_t)(unsafe.Pointer(&zeroByte)), 0
	}
	return (*C.uint8_t)(unsafe.Pointer(unsafe.SliceData(data))), C.size_t(len(data))
}

// cString copies s into C memory (free with C.free). A NUL byte inside s would
// silently cut it short, so it is refused.
func cString(s string) (*C.char, error) {
	if strings.IndexByte(s, 0) >= 0 {
		return nil, invalid("string contains a NUL byte")
	}
	return C.CString(s), nil
}

// cOptions encodes m (see encodeJSON) into a C string; a nil map gives NULL, the
// C ABI's "defaults" for options.
func cOptions(m map[string]any) (*C.char, error) {
	if m == nil {
		return nil, nil
	}
	s, err := encodeJSON(m)
	if err != nil {
		return nil, err
	}
	return C.CString(s), nil
}

// cObject encodes a map as a JSON object ({} for nil) into a C string.
func cObject(m map[string]any) (*C.char, error) {
	s, err := encodeObject(m)
	if err != nil {
		return nil, err
	}
	return C.CString(s), nil
}

// cstrs collects C strings to free together.
type cstrs []*C.char

func (c *cstrs) add(p *C.char) *C.char {
	if p != nil {
		*c = append(*c, p)
	}
	return p
}

func (c cstrs) free() {
	for _, p := range c {
		C.free(unsafe.Pointer(p))
	}
}

// guard protects a C handle: every call holds the read lock for its
// duration, so Close (write lock) waits for the calls in flight and no call
// starts on a freed handle.
type guard[P comparable] struct {
	mu sync.RWMutex
	p  P // the C handle pointer; the zero value once closed
}

// acquire returns the live handle with the read lock held (release it with
// mu.RUnlock), or ErrClosed.
func (g *guard[P]) acquire() (P, error) {
	var zero P
	g.mu.RLock()
	if g.p == zero {
		g.mu.RUnlock()
		return zero, ErrClosed
	}
	return g.p, nil
}

// take clears the handle and returns what it was (the zero value if already
// closed).
func (g *guard[P]) take() P {
	var zero P
	g.mu.Lock()
	p := g.p
	g.p = zero
	g.mu.Unlock()
	return p
}

// decodeRaw decodes raw into v and keeps raw in *keep.
func decodeRaw(raw json.RawMessage, v any, keep *json.RawMessage) error {
	if err := json.Unmarshal(raw, v); err != nil {
		return fmt.Errorf("cacheness: unexpected JSON from the library: %w", err)
	}
	*keep = raw
	return nil
}
