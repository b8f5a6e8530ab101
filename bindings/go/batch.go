package cacheness

/*
#include <stdlib.h>
#include <string.h>
#include "cacheness.h"
*/
import "C"

import "unsafe"

// BatchItem is one result of GetBatch.
type BatchItem struct {
	Key   string // the entry's 64-hex key
	Found bool   // false: no live entry (Data is nil)
	Data  []byte
}

// PutItem is one entry for PutBatch.
type PutItem struct {
	Params  map[string]any
	Data    []byte
	Options *PutOptions // nil: defaults
}

// selectorsJSON encodes a list of params objects as a JSON array.
func selectorsJSON(params []map[string]any) (*C.char, error) {
	arr := make([]any, len(params))
	for i, p := range params {
		if p == nil {
			p = map[string]any{}
		}
		arr[i] = p
	}
	s, err := encodeJSON(arr)
	if err != nil {
		return nil, err
	}
	return C.CString(s), nil
}

// GetBatch gets many entries in one call: one BatchItem per params, in
// order, with Found false where there is no live entry.
func (c *Cache) GetBatch(params []map[string]any) ([]BatchItem, error) {
	sel, err := selectorsJSON(params)
	if err != nil {
		return nil, err
	}
	defer C.free(unsafe.Pointer(sel))
	h, err := c.g.acquire()
	if err != nil {
		return nil, err
	}
	defer c.release()
	var b *C.cacheness_batch
	if err := takeError(C.cacheness_cache_get_batch(h, sel, &b)); err != nil {
		return nil, err
	}
	defer C.cacheness_batch_free(b)
	n := int(C.cacheness_batch_len(b))
	items := make([]BatchItem, n)
	for i := range items {
		ci := C.size_t(i)
		if k := C.cacheness_batch_key(b, ci); k != nil {
			items[i].Key = C.GoString(k) // owned by the batch: copied, not freed
		}
		var data *C.uint8_t
		var size C.size_t
		if C.cacheness_batch_get(b, ci, &data, &size) {
			items[i].Found = true
			items[i].Data = goBytes(data, size)
		}
	}
	return items, nil
}

// PutBatch writes all items or none (in one transaction).
//
// The item array handed to C lives in C memory, and so do the copies of the
// params, options and data it points to: the cgo rules forbid C memory that
// holds Go pointers.
func (c *Cache) PutBatch(items []PutItem) error {
	var cs cstrs
	var bufs []unsafe.Pointer
	defer func() {
		cs.free()
		for _, p := range bufs {
			C.free(p)
		}
	}()
	n := len(items)
	itemSize := C.size_t(unsafe.Sizeof(C.cacheness_put_item{}))
	arr := (*C.cacheness_put_item)(C.calloc(C.size_t(max(n, 1)), itemSize))
	if arr == nil {
		panic("cacheness: out of memory")
	}
	bufs = append(bufs, unsafe.Pointer(arr))
	slots := unsafe.Slice(arr, n)
	for i, it := range items {
		p, err := cObject(it.Params)
		if err != nil {
			return err
		}
		cs.add(p)
		o, err := cOptions(it.Options.toMap())
		if err != nil {
			return err
		}
		cs.add(o)
		d := C.malloc(C.size_t(max(len(it.Data), 1)))
		if d == nil {
			panic("cacheness: out of memory")
		}
		bufs = append(bufs, d)
		if len(it.Data) > 0 {
			copy(unsafe.Slice((*byte)(d), len(it.Data)), it.Data)
		}
		slots[i] = C.cacheness_put_item{
			params_json:  p,
			data:         (*C.uint8_t)(d),
			len:          C.size_t(len(it.Data)),
			options_json: o,
		}
	}
	h, err := c.g.acquire()
	if err != nil {
		return err
	}
	e := C.cacheness_cache_put_batch(h, arr, C.size_t(n))
	c.release()
	return takeError(e)
}

// DeleteBatch deletes the entries named by params and returns how many
// existed.
func (c *Cache) DeleteBatch(params []map[string]any) (uint64, error) {
	sel, err := selectorsJSON(params)
	if err != nil {
		return 0, err
	}
	defer C.free(unsafe.Pointer(sel))
	return c.count(func(h *C.cacheness_cache, n *C.uint64_t) *C.cacheness_error {
		return C.cacheness_cache_delete_batch(h, sel, n)
	})
}
