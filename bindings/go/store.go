package cacheness

/*
#include <stdlib.h>
#include "cacheness.h"
*/
import "C"

import (
	"fmt"
	"iter"
	"runtime"
	"unsafe"
)

// Store is an open named-key blob store (a cacheness_store handle). Keys are
// caller-chosen names such as "old_models/model_v1": 1..1024 bytes of UTF-8,
// "/"-separated segments, none empty, "." or "..", no leading "/", no control
// characters (anything else is ErrInvalidArgument). Entries never expire.
//
// Like Cache it is safe for concurrent use, misses are (nil, false, nil) and
// errors are *Error values.
type Store struct {
	g guard[*C.cacheness_store]
}

// OpenStore opens (creating if needed) the store described by cfg.
func OpenStore(cfg StoreConfig) (*Store, error) {
	conf, err := cObject(cfg.toMap())
	if err != nil {
		return nil, err
	}
	defer C.free(unsafe.Pointer(conf))
	var h *C.cacheness_store
	if err := takeError(C.cacheness_store_open(conf, &h)); err != nil {
		return nil, err
	}
	s := &Store{}
	s.g.p = h
	runtime.SetFinalizer(s, (*Store).finalize)
	return s, nil
}

func (s *Store) finalize() {
	if h := s.g.take(); h != nil {
		C.cacheness_store_close(h)
	}
}

// Close closes the store; see Cache.Close.
func (s *Store) Close() error {
	if h := s.g.take(); h != nil {
		C.cacheness_store_close(h)
		runtime.SetFinalizer(s, nil)
	}
	return nil
}

func (s *Store) release() {
	s.g.mu.RUnlock()
	runtime.KeepAlive(s)
}

func (s *Store) count(f func(h *C.cacheness_store, n *C.uint64_t) *C.cacheness_error) (uint64, error) {
	h, err := s.g.acquire()
	if err != nil {
		return 0, err
	}
	var n C.uint64_t
	e := f(h, &n)
	s.release()
	if err := takeError(e); err != nil {
		return 0, err
	}
	return uint64(n), nil
}

func (s *Store) flag(f func(h *C.cacheness_store, b *C.bool) *C.cacheness_error) (bool, error) {
	h, err := s.g.acquire()
	if err != nil {
		return false, err
	}
	var b C.bool
	e := f(h, &b)
	s.release()
	if err := takeError(e); err != nil {
		return false, err
	}
	return bool(b), nil
}

// withKey runs f with key as a C string.
func withKey[T any](key string, f func(k *C.char) (T, error)) (T, error) {
	k, err := cString(key)
	if err != nil {
		var zero T
		return zero, err
	}
	defer C.free(unsafe.Pointer(k))
	return f(k)
}

// Put stores data under key with custom metadata (nil: none), replacing an
// existing entry.
func (s *Store) Put(key string, data []byte, metadata map[string]any) error {
	_, err := withKey(key, func(k *C.char) (struct{}, error) {
		m, err := cOptions(metadata)
		if err != nil {
			return struct{}{}, err
		}
		defer C.free(unsafe.Pointer(m))
		h, err := s.g.acquire()
		if err != nil {
			return struct{}{}, err
		}
		dp, dn := bytesArg(data)
		e := C.cacheness_store_put(h, k, dp, dn, m)
		s.release()
		runtime.KeepAlive(data)
		return struct{}{}, takeError(e)
	})
	return err
}

// Get returns the data stored under key; a miss is (nil, false, nil).
func (s *Store) Get(key string) ([]byte, bool, error) {
	k, err := cString(key)
	if err != nil {
		return nil, false, err
	}
	defer C.free(unsafe.Pointer(k))
	h, err := s.g.acquire()
	if err != nil {
		return nil, false, err
	}
	var out C.cacheness_bytes
	var found C.bool
	e := C.cacheness_store_get(h, k, &out, &found)
	s.release()
	if err := takeError(e); err != nil {
		return nil, false, err
	}
	data := takeBytes(out)
	if !found {
		return nil, false, nil
	}
	return data, true, nil
}

// GetMetadata returns the metadata of key without its data; a miss is
// (nil, false, nil).
func (s *Store) GetMetadata(key string) (*StoreMetadata, bool, error) {
	k, err := cString(key)
	if err != nil {
		return nil, false, err
	}
	defer C.free(unsafe.Pointer(k))
	h, err := s.g.acquire()
	if err != nil {
		return nil, false, err
	}
	var meta *C.char
	var found C.bool
	e := C.cacheness_store_get_metadata(h, k, &meta, &found)
	s.release()
	if err := takeError(e); err != nil {
		return nil, false, err
	}
	if !found {
		takeString(meta)
		return nil, false, nil
	}
	m := new(StoreMetadata)
	if err := takeJSON(meta, m); err != nil {
		return nil, false, err
	}
	return m, true, nil
}

// UpdateMetadata applies a JSON merge patch to key's custom metadata; false
// if key is missing.
func (s *Store) UpdateMetadata(key string, patch map[string]any) (bool, error) {
	return withKey(key, func(k *C.char) (bool, error) {
		p, err := cObject(patch)
		if err != nil {
			return false, err
		}
		defer C.free(unsafe.Pointer(p))
		return s.flag(func(h *C.cacheness_store, b *C.bool) *C.cacheness_error {
			return C.cacheness_store_update_metadata(h, k, p, b)
		})
	})
}

// UpdateData replaces the data of an existing key; false (and nothing
// created) if key is missing.
func (s *Store) UpdateData(key string, data []byte) (bool, error) {
	ok, err := withKey(key, func(k *C.char) (bool, error) {
		dp, dn := bytesArg(data)
		return s.flag(func(h *C.cacheness_store, b *C.bool) *C.cacheness_error {
			return C.cacheness_store_update_data(h, k, dp, dn, b)
		})
	})
	runtime.KeepAlive(data)
	return ok, err
}

// Exists reports whether key is stored.
func (s *Store) Exists(key string) (bool, error) {
	return withKey(key, func(k *C.char) (bool, error) {
		return s.flag(func(h *C.cacheness_store, b *C.bool) *C.cacheness_error {
			return C.cacheness_store_exists(h, k, b)
		})
	})
}

// Delete removes key; false if it was not there.
func (s *Store) Delete(key string) (bool, error) {
	return withKey(key, func(k *C.char) (bool, error) {
		return s.flag(func(h *C.cacheness_store, b *C.bool) *C.cacheness_error {
			return C.cacheness_store_delete(h, k, b)
		})
	})
}

// Touch updates key's access time; false if it is missing.
func (s *Store) Touch(key string) (bool, error) {
	return withKey(key, func(k *C.char) (bool, error) {
		return s.flag(func(h *C.cacheness_store, b *C.bool) *C.cacheness_error {
			return C.cacheness_store_touch(h, k, b)
		})
	})
}

// List returns one page of the entries whose key starts with prefix ("":
// all).
func (s *Store) List(prefix string, opts *ListOptions) (StoreListPage, error) {
	var page StoreListPage
	var cs cstrs
	defer cs.free()
	var p *C.char
	if prefix != "" {
		var err error
		if p, err = cString(prefix); err != nil {
			return page, err
		}
		cs.add(p)
	}
	o, err := cOptions(opts.toMap())
	if err != nil {
		return page, err
	}
	cs.add(o)
	h, err := s.g.acquire()
	if err != nil {
		return page, err
	}
	var out *C.char
	e := C.cacheness_store_list(h, p, o, &out)
	s.release()
	if err := takeError(e); err != nil {
		return page, err
	}
	return page, takeJSON(out, &page)
}

// ListAll iterates over every entry whose key starts with prefix, page by
// page; an error ends the iteration after being yielded once.
func (s *Store) ListAll(prefix string, opts *ListOptions) iter.Seq2[StoreMetadata, error] {
	return func(yield func(StoreMetadata, error) bool) {
		var o ListOptions
		if opts != nil {
			o = *opts
		}
		for {
			page, err := s.List(prefix, &o)
			if err != nil {
				yield(StoreMetadata{}, err)
				return
			}
			for _, m := range page.Entries {
				if !yield(m, nil) {
					return
				}
			}
			if page.NextCursor == "" {
				return
			}
			if page.NextCursor == o.Cursor {
				yield(StoreMetadata{}, fmt.Errorf("cacheness: list returned the same cursor twice (%q)", o.Cursor))
				return
			}
			o.Cursor = page.NextCursor
		}
	}
}

// DeleteByPrefix deletes every key starting with prefix and returns how
// many. An empty prefix is ErrInvalidArgument here (use Clear to delete
// everything).
func (s *Store) DeleteByPrefix(prefix string) (uint64, error) {
	if prefix == "" {
		return 0, invalid("empty prefix (use Clear to delete every entry)")
	}
	return withKey(prefix, func(p *C.char) (uint64, error) {
		return s.count(func(h *C.cacheness_store, n *C.uint64_t) *C.cacheness_error {
			return C.cacheness_store_delete_by_prefix(h, p, n)
		})
	})
}

// Copy copies src to dest; false if src is missing. An existing dest is
// ErrExists unless overwrite.
func (s *Store) Copy(src, dest string, overwrite bool) (bool, error) {
	return s.copyMove(src, dest, overwrite, false)
}

// Move renames src to dest atomically; false if src is missing. An existing
// dest is ErrExists unless overwrite.
func (s *Store) Move(src, dest string, overwrite bool) (bool, error) {
	return s.copyMove(src, dest, overwrite, true)
}

func (s *Store) copyMove(src, dest string, overwrite, move bool) (bool, error) {
	var cs cstrs
	defer cs.free()
	a, err := cString(src)
	if err != nil {
		return false, err
	}
	cs.add(a)
	b, err := cString(dest)
	if err != nil {
		return false, err
	}
	cs.add(b)
	return s.flag(func(h *C.cacheness_store, ok *C.bool) *C.cacheness_error {
		if move {
			return C.cacheness_store_move(h, a, b, C.bool(overwrite), ok)
		}
		return C.cacheness_store_copy(h, a, b, C.bool(overwrite), ok)
	})
}

// Clear deletes every entry of the store and returns how many.
func (s *Store) Clear() (uint64, error) {
	return s.count(func(h *C.cacheness_store, n *C.uint64_t) *C.cacheness_error {
		return C.cacheness_store_clear(h, n)
	})
}
