// Package cacheness is the Go binding of cacheness, a persistent, TTL-aware
// cache and blob store with a C ABI (include/cacheness.h).
//
// # Cache and Store
//
// A Cache (Open) keeps entries named by params: a JSON object given as a
// map[string]any. The entry's key is the lowercase hex SHA-256 of the params'
// RFC 8785 canonical JSON (Key), the same in every language, so a cache written
// by C or Node is read from Go and the other way round. A Store (OpenStore)
// keeps blobs under caller-chosen names such as "models/v1".
//
// Both are safe for concurrent use by many goroutines. Close them when done:
// Close is idempotent and waits for calls in progress; a finalizer closes a
// forgotten handle but is only a safety net.
//
// # Misses and errors
//
// A miss is not an error. Lookups of one entry return (nil, false, nil) when it
// is missing or expired: Get gives (nil, false, nil), GetMetadata
// (nil, false, nil), GetWithMetadata (nil, nil, false, nil), Exists, Delete,
// Touch, UpdateData, UpdateMetadata, Copy and Move (false, nil). A hit with an
// empty value is ([]byte{}, true, nil).
//
// Failures are *Error values with a Code and the library's Message. Test them
// with errors.Is against the sentinels, one per code:
//
//	_, err := c.UpdateData(params, data, &cacheness.UpdateDataOptions{ExpectedVersion: v})
//	if errors.Is(err, cacheness.ErrConflict) { ... }
//
// Problems found before calling the library (params with NaN, strings that are
// not UTF-8, a nil filter for a bulk change) are ErrInvalidArgument too. Calls
// on a closed handle return ErrClosed.
//
// # Params, filters and options
//
// Params, filters, merge patches and custom metadata are map[string]any and
// are encoded with encoding/json, except that time.Time values are written as
// RFC 3339 UTC with milliseconds (the library's time format), whole float64
// values beyond 2^53 in exponent form, and strings that are not valid UTF-8
// are refused instead of silently altered. Numbers read back (Params,
// Metadata) are float64. A nil params map is the empty object {}.
//
// A filter selects entries by params and custom metadata ({"name": value},
// or an operator object {"$prefix": ...}, {"$glob": ...}, {"$exists": bool},
// {"$in": [...]}) and by key_prefix, data_type, created_before/created_after,
// accessed_before, expires_before (time.Time or RFC 3339 strings),
// min_size/max_size and include_expired:
//
//	filter := map[string]any{
//		"params":        map[string]any{"experiment": map[string]any{"$prefix": "exp_"}},
//		"created_after": time.Now().Add(-24 * time.Hour),
//	}
//
// An unknown field or operator is ErrInvalidArgument, never "match all". List
// and DeleteMatching take a nil filter as "every entry"; DeleteWhere,
// TouchWhere and UpdateMetadataWhere refuse a nil filter (pass an empty map to
// mean every entry) so that a forgotten filter never changes everything.
//
// TTLs are a TTL value: the zero TTL means "the cache's default" (omitted),
// NeverExpire means no expiry (ttl_seconds: null), ExpireAfter(d) a
// time.Duration. Metadata.ExpiresAt is the zero time.Time for an entry that
// never expires.
//
// # Memory
//
// Data returned by the library is copied into Go memory and the C buffer freed
// before the method returns; no C pointer is kept in Go values other than the
// opaque handle. Go byte slices are passed to C only for the duration of one
// call (the cgo pointer rules allow it; the library keeps no pointer to them).
// PutBatch builds its item array, and the data and strings it points to, in C
// memory. The DeleteMatching predicate is reached from C through a
// runtime/cgo.Handle and an exported Go trampoline; a panic in it is caught
// before it can unwind through the library and raised again afterwards.
//
// # Building
//
// By default the package links the library of this repository
// (target/release/libcacheness.so, built by `cargo build --release`) with an
// rpath, so `go test` needs no environment variables. With
// `-tags cacheness_pkgconfig` it uses `pkg-config cacheness` to find an
// installed library instead (set PKG_CONFIG_PATH, and LD_LIBRARY_PATH if the
// library is not in a standard place).
package cacheness
