package cacheness

/*
#include <stdlib.h>
#include "cacheness.h"
*/
import "C"

import (
	"encoding/json"
	"fmt"
	"iter"
	"runtime"
	"unsafe"
)

// Cache is an open cache (a cacheness_cache handle). It is safe for
// concurrent use by many goroutines. Call Close when done; a finalizer closes
// a Cache that was dropped without Close, but only as a safety net.
//
// Entries are named by their params, a JSON object given as a
// map[string]any (a nil map is {}). The key is the SHA-256 of the params'
// canonical JSON (see Key), so equal params name the same entry in every
// language.
//
// Misses are not errors: a method looking up one entry returns
// (nil, false, nil) (or (false, nil)) when the entry is missing or expired.
// Errors are *Error values, comparable with errors.Is against ErrConflict,
// ErrInvalidArgument and the other sentinels.
type Cache struct {
	g guard[*C.cacheness_cache]
}

// Open opens (creating if needed) the cache described by cfg.
func Open(cfg Config) (*Cache, error) {
	conf, err := cObject(cfg.toMap())
	if err != nil {
		return nil, err
	}
	defer C.free(unsafe.Pointer(conf))
	var h *C.cacheness_cache
	if err := takeError(C.cacheness_cache_open(conf, &h)); err != nil {
		return nil, err
	}
	c := &Cache{}
	c.g.p = h
	runtime.SetFinalizer(c, (*Cache).finalize)
	return c, nil
}

func (c *Cache) finalize() {
	if h := c.g.take(); h != nil {
		C.cacheness_cache_close(h)
	}
}

// Close closes the cache. It waits for calls in progress on other
// goroutines; later calls return ErrClosed. Closing twice is not an error.
func (c *Cache) Close() error {
	if h := c.g.take(); h != nil {
		C.cacheness_cache_close(h)
		runtime.SetFinalizer(c, nil)
	}
	return nil
}

// release ends a call begun with c.g.acquire. The KeepAlive keeps c (and so
// its finalizer) from going away while C still uses the handle.
func (c *Cache) release() {
	c.g.mu.RUnlock()
	runtime.KeepAlive(c)
}

// count runs a call that reports a uint64 count.
func (c *Cache) count(f func(h *C.cacheness_cache, n *C.uint64_t) *C.cacheness_error) (uint64, error) {
	h, err := c.g.acquire()
	if err != nil {
		return 0, err
	}
	var n C.uint64_t
	e := f(h, &n)
	c.release()
	if err := takeError(e); err != nil {
		return 0, err
	}
	return uint64(n), nil
}

// flag runs a call that reports found/deleted/updated/copied/moved.
func (c *Cache) flag(f func(h *C.cacheness_cache, b *C.bool) *C.cacheness_error) (bool, error) {
	h, err := c.g.acquire()
	if err != nil {
		return false, err
	}
	var b C.bool
	e := f(h, &b)
	c.release()
	if err := takeError(e); err != nil {
		return false, err
	}
	return bool(b), nil
}

// text runs a call that returns a JSON document and decodes it into v.
func (c *Cache) text(v any, f func(h *C.cacheness_cache, s **C.char) *C.cacheness_error) error {
	h, err := c.g.acquire()
	if err != nil {
		return err
	}
	var s *C.char
	e := f(h, &s)
	c.release()
	if err := takeError(e); err != nil {
		return err
	}
	return takeJSON(s, v)
}

// Put stores data under params, replacing an existing entry atomically (a
// reader sees the old value or the new one), and returns the entry's key.
// opts may be nil.
func (c *Cache) Put(params map[string]any, data []byte, opts *PutOptions) (string, error) {
	var cs cstrs
	defer cs.free()
	p, err := cObject(params)
	if err != nil {
		return "", err
	}
	cs.add(p)
	o, err := cOptions(opts.toMap())
	if err != nil {
		return "", err
	}
	cs.add(o)
	h, err := c.g.acquire()
	if err != nil {
		return "", err
	}
	dp, dn := bytesArg(data)
	var key *C.char
	e := C.cacheness_cache_put(h, p, dp, dn, o, &key)
	c.release()
	runtime.KeepAlive(data)
	if err := takeError(e); err != nil {
		return "", err
	}
	return takeString(key), nil
}

// Get returns the data of the entry named by params. A missing or expired
// entry is (nil, false, nil); a hit with no data is ([]byte{}, true, nil).
// Data that fails an integrity check is ErrCorrupt (and the entry is gone).
func (c *Cache) Get(params map[string]any) ([]byte, bool, error) {
	p, err := cObject(params)
	if err != nil {
		return nil, false, err
	}
	defer C.free(unsafe.Pointer(p))
	h, err := c.g.acquire()
	if err != nil {
		return nil, false, err
	}
	var out C.cacheness_bytes
	var found C.bool
	e := C.cacheness_cache_get(h, p, &out, &found)
	c.release()
	if err := takeError(e); err != nil {
		return nil, false, err
	}
	data := takeBytes(out)
	if !found {
		return nil, false, nil
	}
	return data, true, nil
}

// GetWithMetadata is Get that also returns the entry's metadata (as read
// with this access counted). A miss is (nil, nil, false, nil).
func (c *Cache) GetWithMetadata(params map[string]any) ([]byte, *Metadata, bool, error) {
	p, err := cObject(params)
	if err != nil {
		return nil, nil, false, err
	}
	defer C.free(unsafe.Pointer(p))
	h, err := c.g.acquire()
	if err != nil {
		return nil, nil, false, err
	}
	var out C.cacheness_bytes
	var meta *C.char
	var found C.bool
	e := C.cacheness_cache_get_with_metadata(h, p, &out, &meta, &found)
	c.release()
	if err := takeError(e); err != nil {
		return nil, nil, false, err
	}
	data := takeBytes(out)
	if !found {
		takeString(meta)
		return nil, nil, false, nil
	}
	m := new(Metadata)
	if err := takeJSON(meta, m); err != nil {
		return nil, nil, false, err
	}
	return data, m, true, nil
}

// GetMetadata returns the metadata of the entry named by params without
// reading its data. A miss is (nil, false, nil).
func (c *Cache) GetMetadata(params map[string]any) (*Metadata, bool, error) {
	p, err := cObject(params)
	if err != nil {
		return nil, false, err
	}
	defer C.free(unsafe.Pointer(p))
	h, err := c.g.acquire()
	if err != nil {
		return nil, false, err
	}
	var meta *C.char
	var found C.bool
	e := C.cacheness_cache_get_metadata(h, p, &meta, &found)
	c.release()
	if err := takeError(e); err != nil {
		return nil, false, err
	}
	if !found {
		takeString(meta)
		return nil, false, nil
	}
	m := new(Metadata)
	if err := takeJSON(meta, m); err != nil {
		return nil, false, err
	}
	return m, true, nil
}

// Exists reports whether a live (present, unexpired) entry has these params.
func (c *Cache) Exists(params map[string]any) (bool, error) {
	p, err := cObject(params)
	if err != nil {
		return false, err
	}
	defer C.free(unsafe.Pointer(p))
	return c.flag(func(h *C.cacheness_cache, b *C.bool) *C.cacheness_error {
		return C.cacheness_cache_exists(h, p, b)
	})
}

// Delete removes the entry; false if there was none.
func (c *Cache) Delete(params map[string]any) (bool, error) {
	p, err := cObject(params)
	if err != nil {
		return false, err
	}
	defer C.free(unsafe.Pointer(p))
	return c.flag(func(h *C.cacheness_cache, b *C.bool) *C.cacheness_error {
		return C.cacheness_cache_delete(h, p, b)
	})
}

func ttlOptions(ttl TTL) map[string]any {
	if ttl.IsDefault() {
		return nil
	}
	m := map[string]any{}
	ttl.addTo(m)
	return m
}

// Touch sets the entry's expiry to now + ttl (the zero TTL: the cache's
// default; NeverExpire: no expiry) without touching its data. false if the
// entry is missing or expired.
func (c *Cache) Touch(params map[string]any, ttl TTL) (bool, error) {
	var cs cstrs
	defer cs.free()
	p, err := cObject(params)
	if err != nil {
		return false, err
	}
	cs.add(p)
	o, err := cOptions(ttlOptions(ttl))
	if err != nil {
		return false, err
	}
	cs.add(o)
	return c.flag(func(h *C.cacheness_cache, b *C.bool) *C.cacheness_error {
		return C.cacheness_cache_touch(h, p, o, b)
	})
}

// UpdateData replaces the data of an existing entry (the key, params and
// custom metadata stay; size, hash, created_at and version change; the TTL
// restarts). false, and nothing created, if the entry is missing. With
// opts.ExpectedVersion set and different from the entry's: ErrConflict.
func (c *Cache) UpdateData(params map[string]any, data []byte, opts *UpdateDataOptions) (bool, error) {
	var cs cstrs
	defer cs.free()
	p, err := cObject(params)
	if err != nil {
		return false, err
	}
	cs.add(p)
	o, err := cOptions(opts.toMap())
	if err != nil {
		return false, err
	}
	cs.add(o)
	dp, dn := bytesArg(data)
	ok, err := c.flag(func(h *C.cacheness_cache, b *C.bool) *C.cacheness_error {
		return C.cacheness_cache_update_data(h, p, dp, dn, o, b)
	})
	runtime.KeepAlive(data)
	return ok, err
}

// UpdateMetadata applies patch, a JSON merge patch (RFC 7396: a nil value
// deletes a member), to the entry's custom metadata. false if the entry is
// missing.
func (c *Cache) UpdateMetadata(params map[string]any, patch map[string]any) (bool, error) {
	var cs cstrs
	defer cs.free()
	p, err := cObject(params)
	if err != nil {
		return false, err
	}
	cs.add(p)
	pt, err := cObject(patch)
	if err != nil {
		return false, err
	}
	cs.add(pt)
	return c.flag(func(h *C.cacheness_cache, b *C.bool) *C.cacheness_error {
		return C.cacheness_cache_update_metadata(h, p, pt, b)
	})
}

// Copy copies the entry named by src to the params dest (so a new key),
// keeping its data, data type and expiry. false if src is missing. An
// existing dest is ErrExists unless opts.Overwrite.
func (c *Cache) Copy(src, dest map[string]any, opts *CopyOptions) (bool, error) {
	return c.copyMove(src, dest, opts, false)
}

// Move is Copy that also removes src, atomically: afterwards exactly one of
// them exists.
func (c *Cache) Move(src, dest map[string]any, opts *CopyOptions) (bool, error) {
	return c.copyMove(src, dest, opts, true)
}

func (c *Cache) copyMove(src, dest map[string]any, opts *CopyOptions, move bool) (bool, error) {
	var cs cstrs
	defer cs.free()
	s, err := cObject(src)
	if err != nil {
		return false, err
	}
	cs.add(s)
	d, err := cObject(dest)
	if err != nil {
		return false, err
	}
	cs.add(d)
	o, err := cOptions(opts.toMap())
	if err != nil {
		return false, err
	}
	cs.add(o)
	return c.flag(func(h *C.cacheness_cache, b *C.bool) *C.cacheness_error {
		if move {
			return C.cacheness_cache_move(h, s, d, o, b)
		}
		return C.cacheness_cache_copy(h, s, d, o, b)
	})
}

// List returns one page of the entries matching filter (nil: all live
// entries). See the package documentation for filters. Use ListAll to walk
// every page.
func (c *Cache) List(filter map[string]any, opts *ListOptions) (ListPage, error) {
	var page ListPage
	var cs cstrs
	defer cs.free()
	f, err := cObject(filter)
	if err != nil {
		return page, err
	}
	cs.add(f)
	o, err := cOptions(opts.toMap())
	if err != nil {
		return page, err
	}
	cs.add(o)
	err = c.text(&page, func(h *C.cacheness_cache, s **C.char) *C.cacheness_error {
		return C.cacheness_cache_list(h, f, o, s)
	})
	return page, err
}

// ListAll iterates over every entry matching filter, page by page (opts.Limit
// is the page size; opts.Cursor where to start). An error ends the
// iteration after being yielded once.
//
//	for m, err := range c.ListAll(nil, nil) { ... }
func (c *Cache) ListAll(filter map[string]any, opts *ListOptions) iter.Seq2[Metadata, error] {
	return func(yield func(Metadata, error) bool) {
		var o ListOptions
		if opts != nil {
			o = *opts
		}
		for {
			page, err := c.List(filter, &o)
			if err != nil {
				yield(Metadata{}, err)
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
				yield(Metadata{}, fmt.Errorf("cacheness: list returned the same cursor twice (%q)", o.Cursor))
				return
			}
			o.Cursor = page.NextCursor
		}
	}
}

// requireFilter refuses a nil filter for the bulk changes: a nil map is the
// zero value, and a forgotten filter must not change every entry. Pass an
// empty map to mean "every entry".
func requireFilter(filter map[string]any) (*C.char, error) {
	if filter == nil {
		return nil, invalid("filter is nil (use an empty map to match every entry)")
	}
	return cObject(filter)
}

// DeleteWhere deletes the entries matching filter in one transaction and
// returns how many. A nil filter is ErrInvalidArgument; an empty one matches
// every live entry.
func (c *Cache) DeleteWhere(filter map[string]any) (uint64, error) {
	f, err := requireFilter(filter)
	if err != nil {
		return 0, err
	}
	defer C.free(unsafe.Pointer(f))
	return c.count(func(h *C.cacheness_cache, n *C.uint64_t) *C.cacheness_error {
		return C.cacheness_cache_delete_where(h, f, n)
	})
}

// TouchWhere sets the expiry of the entries matching filter to now + ttl
// (see Touch) and returns how many. A nil filter is ErrInvalidArgument.
func (c *Cache) TouchWhere(filter map[string]any, ttl TTL) (uint64, error) {
	var cs cstrs
	defer cs.free()
	f, err := requireFilter(filter)
	if err != nil {
		return 0, err
	}
	cs.add(f)
	o, err := cOptions(ttlOptions(ttl))
	if err != nil {
		return 0, err
	}
	cs.add(o)
	return c.count(func(h *C.cacheness_cache, n *C.uint64_t) *C.cacheness_error {
		return C.cacheness_cache_touch_where(h, f, o, n)
	})
}

// UpdateMetadataWhere applies the merge patch to the custom metadata of the
// entries matching filter and returns how many. A nil filter is
// ErrInvalidArgument.
func (c *Cache) UpdateMetadataWhere(filter map[string]any, patch map[string]any) (uint64, error) {
	var cs cstrs
	defer cs.free()
	f, err := requireFilter(filter)
	if err != nil {
		return 0, err
	}
	cs.add(f)
	pt, err := cObject(patch)
	if err != nil {
		return 0, err
	}
	cs.add(pt)
	return c.count(func(h *C.cacheness_cache, n *C.uint64_t) *C.cacheness_error {
		return C.cacheness_cache_update_metadata_where(h, f, pt, n)
	})
}

// CleanupExpired removes expired entries and their data; it returns how many.
func (c *Cache) CleanupExpired() (uint64, error) {
	return c.count(func(h *C.cacheness_cache, n *C.uint64_t) *C.cacheness_error {
		return C.cacheness_cache_cleanup_expired(h, n)
	})
}

// Clear removes every entry of this cache (and nothing else in its
// directory); it returns how many.
func (c *Cache) Clear() (uint64, error) {
	return c.count(func(h *C.cacheness_cache, n *C.uint64_t) *C.cacheness_error {
		return C.cacheness_cache_clear(h, n)
	})
}

// Stats returns the cache's statistics.
func (c *Cache) Stats() (Stats, error) {
	var raw json.RawMessage
	var st Stats
	err := c.text(&raw, func(h *C.cacheness_cache, s **C.char) *C.cacheness_error {
		return C.cacheness_cache_stats(h, s)
	})
	if err != nil {
		return st, err
	}
	return st, decodeRaw(raw, &st, &st.Raw)
}

// Verify checks the cache (opts.Deep: rehash every blob) and reports what is
// wrong; it changes nothing. opts may be nil.
func (c *Cache) Verify(opts *VerifyOptions) (VerifyReport, error) {
	var m map[string]any
	if opts != nil && opts.Deep {
		m = map[string]any{"deep": true}
	}
	var rep VerifyReport
	raw, err := c.report("verify", m)
	if err != nil {
		return rep, err
	}
	return rep, decodeRaw(raw, &rep, &rep.Raw)
}

// Repair drops entries whose data is missing or corrupt, orphaned and
// temporary files and expired entries, and reports what it did (with
// opts.DryRun: what it would do). opts may be nil.
func (c *Cache) Repair(opts *RepairOptions) (RepairReport, error) {
	var m map[string]any
	if opts != nil {
		m = map[string]any{}
		if opts.DryRun {
			m["dry_run"] = true
		}
		if opts.Shallow {
			m["deep"] = false
		}
	}
	var rep RepairReport
	raw, err := c.report("repair", m)
	if err != nil {
		return rep, err
	}
	return rep, decodeRaw(raw, &rep, &rep.Raw)
}

// FindOrphans reports data files that no entry refers to, and leftover
// temporary files; it changes nothing.
func (c *Cache) FindOrphans() (OrphanReport, error) {
	var rep OrphanReport
	raw, err := c.report("find_orphans", nil)
	if err != nil {
		return rep, err
	}
	return rep, decodeRaw(raw, &rep, &rep.Raw)
}

func (c *Cache) report(which string, opts map[string]any) (json.RawMessage, error) {
	o, err := cOptions(opts)
	if err != nil {
		return nil, err
	}
	defer C.free(unsafe.Pointer(o))
	var raw json.RawMessage
	err = c.text(&raw, func(h *C.cacheness_cache, s **C.char) *C.cacheness_error {
		switch which {
		case "verify":
			return C.cacheness_cache_verify(h, o, s)
		case "repair":
			return C.cacheness_cache_repair(h, o, s)
		default:
			return C.cacheness_cache_find_orphans(h, s)
		}
	})
	return raw, err
}

// CleanupOrphans removes data files that no entry refers to; it returns how
// many.
func (c *Cache) CleanupOrphans() (uint64, error) {
	return c.count(func(h *C.cacheness_cache, n *C.uint64_t) *C.cacheness_error {
		return C.cacheness_cache_cleanup_orphans(h, n)
	})
}

// Export writes the entries (opts.Filter: those matching it) to a tar.gz
// file at path (opts.Uncompressed: a plain tar) and returns how many.
func (c *Cache) Export(path string, opts *ExportOptions) (uint64, error) {
	var cs cstrs
	defer cs.free()
	p, err := cString(path)
	if err != nil {
		return 0, err
	}
	cs.add(p)
	var m map[string]any
	if opts != nil {
		m = map[string]any{}
		if opts.Uncompressed {
			m["compress"] = false
		}
		if opts.Filter != nil {
			m["filter"] = opts.Filter
		}
	}
	o, err := cOptions(m)
	if err != nil {
		return 0, err
	}
	cs.add(o)
	return c.count(func(h *C.cacheness_cache, n *C.uint64_t) *C.cacheness_error {
		return C.cacheness_cache_export(h, p, o, n)
	})
}

func importOptions(opts *ImportOptions) map[string]any {
	if opts == nil {
		return nil
	}
	m := map[string]any{}
	if opts.Overwrite {
		m["overwrite"] = true
	}
	return m
}

// Import reads an archive written by Export (any language's) and returns how
// many entries it imported. Every blob is checked against its hash; expired
// entries are skipped; existing entries are kept unless opts.Overwrite.
func (c *Cache) Import(path string, opts *ImportOptions) (uint64, error) {
	var cs cstrs
	defer cs.free()
	p, err := cString(path)
	if err != nil {
		return 0, err
	}
	cs.add(p)
	o, err := cOptions(importOptions(opts))
	if err != nil {
		return 0, err
	}
	cs.add(o)
	return c.count(func(h *C.cacheness_cache, n *C.uint64_t) *C.cacheness_error {
		return C.cacheness_cache_import(h, p, o, n)
	})
}

// ExportJSON is Export to one JSON document (data base64-encoded) of the
// entries matching filter (nil: all).
func (c *Cache) ExportJSON(filter map[string]any) ([]byte, error) {
	var m map[string]any
	if filter != nil {
		m = map[string]any{"filter": filter}
	}
	o, err := cOptions(m)
	if err != nil {
		return nil, err
	}
	defer C.free(unsafe.Pointer(o))
	var raw json.RawMessage
	err = c.text(&raw, func(h *C.cacheness_cache, s **C.char) *C.cacheness_error {
		return C.cacheness_cache_export_json(h, o, s)
	})
	return []byte(raw), err
}

// ImportJSON is Import from a document written by ExportJSON.
func (c *Cache) ImportJSON(doc []byte, opts *ImportOptions) (uint64, error) {
	var cs cstrs
	defer cs.free()
	d, err := cString(string(doc))
	if err != nil {
		return 0, err
	}
	cs.add(d)
	o, err := cOptions(importOptions(opts))
	if err != nil {
		return 0, err
	}
	cs.add(o)
	return c.count(func(h *C.cacheness_cache, n *C.uint64_t) *C.cacheness_error {
		return C.cacheness_cache_import_json(h, d, o, n)
	})
}
