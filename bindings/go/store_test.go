package cacheness

import (
	"bytes"
	"errors"
	"fmt"
	"reflect"
	"sort"
	"strings"
	"testing"
	"time"
)

func storeBackends(t *testing.T, f func(t *testing.T, s *Store)) {
	for _, cfg := range []struct {
		name string
		cfg  func() StoreConfig
	}{
		{"sqlite", func() StoreConfig { return StoreConfig{Dir: t.TempDir(), InlineMaxBytes: ptr[int64](8)} }},
		{"memory", func() StoreConfig { return StoreConfig{Metadata: "memory", Blobs: "memory"} }},
	} {
		t.Run(cfg.name, func(t *testing.T) {
			s, err := OpenStore(cfg.cfg())
			if err != nil {
				t.Fatalf("OpenStore: %v", err)
			}
			t.Cleanup(func() { s.Close() })
			f(t, s)
		})
	}
}

func storeKeys(t *testing.T, s *Store, prefix string, opts *ListOptions) []string {
	t.Helper()
	var keys []string
	for m, err := range s.ListAll(prefix, opts) {
		noErr(t, err)
		keys = append(keys, m.Key)
	}
	sort.Strings(keys)
	return keys
}

func TestStore(t *testing.T) {
	storeBackends(t, func(t *testing.T, s *Store) {
		before := time.Now()
		noErr(t, s.Put("old_models/model_v1", []byte("weights v1"), map[string]any{"acc": 0.9, "tags": []any{"a"}}))
		after := time.Now()
		data, found, err := s.Get("old_models/model_v1")
		if err != nil || !found {
			t.Fatalf("Get = %v, %v", found, err)
		}
		wantBytes(t, data, []byte("weights v1"))
		// Misses.
		data, found, err = s.Get("old_models/none")
		if data != nil || found || err != nil {
			t.Errorf("Get(missing) = (%v, %v, %v), want (nil, false, nil)", data, found, err)
		}
		m, found, err := s.GetMetadata("old_models/none")
		if m != nil || found || err != nil {
			t.Errorf("GetMetadata(missing) = (%v, %v, %v)", m, found, err)
		}
		// Metadata.
		m = hit(s.GetMetadata("old_models/model_v1"))(t)
		if m.Key != "old_models/model_v1" || m.Size != 10 || m.ContentHash != contentHash([]byte("weights v1")) ||
			m.Version != 1 || !reflect.DeepEqual(m.Metadata, map[string]any{"acc": 0.9, "tags": []any{"a"}}) {
			t.Errorf("GetMetadata = %+v", m)
		}
		near(t, "CreatedAt", m.CreatedAt, before, after)
		ok := must(s.UpdateMetadata("old_models/model_v1", map[string]any{"tags": nil, "stage": "prod"}))(t)
		if !ok {
			t.Error("UpdateMetadata = false")
		}
		m2 := hit(s.GetMetadata("old_models/model_v1"))(t)
		if !reflect.DeepEqual(m2.Metadata, map[string]any{"acc": 0.9, "stage": "prod"}) || m2.Version != 2 {
			t.Errorf("after UpdateMetadata: %+v", m2)
		}
		if ok := must(s.UpdateMetadata("nope", map[string]any{"a": 1}))(t); ok {
			t.Error("UpdateMetadata(missing) = true")
		}
		// UpdateData.
		if ok := must(s.UpdateData("old_models/model_v1", []byte("weights v2, longer")))(t); !ok {
			t.Error("UpdateData = false")
		}
		data, _, _ = s.Get("old_models/model_v1")
		wantBytes(t, data, []byte("weights v2, longer"))
		if m3 := hit(s.GetMetadata("old_models/model_v1"))(t); m3.Size != 18 || m3.Version != 3 || m3.Metadata["stage"] != "prod" {
			t.Errorf("after UpdateData: %+v", m3)
		}
		if ok := must(s.UpdateData("old_models/none", []byte("x")))(t); ok {
			t.Error("UpdateData(missing) = true")
		}
		if ok := must(s.Exists("old_models/none"))(t); ok {
			t.Error("UpdateData(missing) created the key")
		}
		// Exists, Touch.
		if ok := must(s.Exists("old_models/model_v1"))(t); !ok {
			t.Error("Exists = false")
		}
		a0 := hit(s.GetMetadata("old_models/model_v1"))(t).AccessedAt
		time.Sleep(5 * time.Millisecond) // accessed_at has millisecond resolution
		if ok := must(s.Touch("old_models/model_v1"))(t); !ok {
			t.Error("Touch = false")
		}
		if a1 := hit(s.GetMetadata("old_models/model_v1"))(t).AccessedAt; !a1.After(a0) {
			t.Errorf("Touch left AccessedAt at %v (was %v)", a1, a0)
		}
		if ok := must(s.Touch("nope"))(t); ok {
			t.Error("Touch(missing) = true")
		}
		// Empty data, binary data.
		noErr(t, s.Put("empty", nil, nil))
		data, found, err = s.Get("empty")
		if err != nil || !found || data == nil || len(data) != 0 {
			t.Errorf("Get(empty) = (%v, %v, %v)", data, found, err)
		}
		bin := bytes.Repeat([]byte{0, 255, 10, 13}, 5000)
		noErr(t, s.Put("bin/data", bin, nil))
		data, _, _ = s.Get("bin/data")
		wantBytes(t, data, bin)
		// Delete.
		if ok := must(s.Delete("empty"))(t); !ok {
			t.Error("Delete = false")
		}
		if ok := must(s.Delete("empty"))(t); ok {
			t.Error("Delete(missing) = true")
		}
	})
}

func TestStoreCopyMove(t *testing.T) {
	storeBackends(t, func(t *testing.T, s *Store) {
		noErr(t, s.Put("a/src", []byte("source"), map[string]any{"m": 1}))
		noErr(t, s.Put("a/other", []byte("other"), nil))
		if ok := must(s.Copy("a/src", "b/copy", false))(t); !ok {
			t.Fatal("Copy = false")
		}
		d, _, _ := s.Get("b/copy")
		wantBytes(t, d, []byte("source"))
		if m := hit(s.GetMetadata("b/copy"))(t); m.Key != "b/copy" || m.Metadata["m"] != 1.0 {
			t.Errorf("copy metadata = %+v", m)
		}
		_, err := s.Copy("a/other", "b/copy", false)
		wantErr(t, err, ErrExists)
		_, err = s.Move("a/other", "b/copy", false)
		wantErr(t, err, ErrExists)
		d, _, _ = s.Get("b/copy")
		wantBytes(t, d, []byte("source"))
		must(s.Copy("a/other", "b/copy", true))(t)
		d, _, _ = s.Get("b/copy")
		wantBytes(t, d, []byte("other"))
		if ok := must(s.Move("a/src", "c/moved", false))(t); !ok {
			t.Fatal("Move = false")
		}
		if ok := must(s.Exists("a/src"))(t); ok {
			t.Error("Move left the source")
		}
		d, _, _ = s.Get("c/moved")
		wantBytes(t, d, []byte("source"))
		must(s.Move("c/moved", "b/copy", true))(t)
		d, _, _ = s.Get("b/copy")
		wantBytes(t, d, []byte("source"))
		if ok := must(s.Copy("nope", "x", false))(t); ok {
			t.Error("Copy(missing) = true")
		}
		if ok := must(s.Move("nope", "x", false))(t); ok {
			t.Error("Move(missing) = true")
		}
		if ok := must(s.Exists("x"))(t); ok {
			t.Error("a failed move created the destination")
		}
	})
}

func TestStoreListDelete(t *testing.T) {
	storeBackends(t, func(t *testing.T, s *Store) {
		var models []string
		for i := range 7 {
			k := fmt.Sprintf("models/m%d", i)
			models = append(models, k)
			noErr(t, s.Put(k, []byte{byte(i)}, nil))
		}
		noErr(t, s.Put("modelsx/y", []byte("y"), nil))
		noErr(t, s.Put("data/d", []byte("d"), nil))
		page := must(s.List("", nil))(t)
		if len(page.Entries) != 9 || page.NextCursor != "" {
			t.Errorf("List(all) = %d entries, cursor %q", len(page.Entries), page.NextCursor)
		}
		if keys := storeKeys(t, s, "models/", &ListOptions{Limit: 2, Order: "key"}); !reflect.DeepEqual(keys, models) {
			t.Errorf("ListAll(models/) = %v, want %v", keys, models)
		}
		page = must(s.List("models/", &ListOptions{Limit: 3, Order: "key"}))(t)
		if len(page.Entries) != 3 || page.NextCursor == "" || page.Entries[0].Key != "models/m0" {
			t.Errorf("first page = %+v", page)
		}
		if keys := storeKeys(t, s, "models", nil); len(keys) != 8 {
			t.Errorf("ListAll(models) = %v, want 8 keys (a plain prefix)", keys)
		}
		if keys := storeKeys(t, s, "nothing/", nil); len(keys) != 0 {
			t.Errorf("ListAll(nothing/) = %v", keys)
		}
		_, err := s.DeleteByPrefix("")
		wantErr(t, err, ErrInvalidArgument)
		if n := must(s.DeleteByPrefix("models/"))(t); n != 7 {
			t.Errorf("DeleteByPrefix = %d, want 7", n)
		}
		if keys := storeKeys(t, s, "", nil); !reflect.DeepEqual(keys, []string{"data/d", "modelsx/y"}) {
			t.Errorf("after DeleteByPrefix: %v", keys)
		}
		if n := must(s.Clear())(t); n != 2 {
			t.Errorf("Clear = %d, want 2", n)
		}
		if keys := storeKeys(t, s, "", nil); len(keys) != 0 {
			t.Errorf("after Clear: %v", keys)
		}
	})
}

func TestStoreKeyErrors(t *testing.T) {
	storeBackends(t, func(t *testing.T, s *Store) {
		bad := []string{"", "/abs", "a//b", "a/./b", "a/../b", "..", ".", "trailing/", "ctl\x01", "nul\x00x", "tab\tkey", strings.Repeat("k", 1025), "\xff"}
		for _, k := range bad {
			if err := s.Put(k, []byte("x"), nil); !errors.Is(err, ErrInvalidArgument) {
				t.Errorf("Put(%q) = %v, want ErrInvalidArgument", k, err)
			}
			if _, _, err := s.Get(k); !errors.Is(err, ErrInvalidArgument) {
				t.Errorf("Get(%q) = %v, want ErrInvalidArgument", k, err)
			}
		}
		_, err := s.Copy("ok", "../x", false)
		wantErr(t, err, ErrInvalidArgument)
		// Long and non-ASCII names are fine.
		for _, k := range []string{strings.Repeat("k", 1024), "données/日本/😀", "a.b/c..d/.e"} {
			noErr(t, s.Put(k, []byte(k), nil))
			d, found, err := s.Get(k)
			if err != nil || !found || string(d) != k {
				t.Errorf("Get(%q) = %q, %v, %v", k, d, found, err)
			}
		}
		if err := s.Put("m", nil, map[string]any{"bad": "\xff"}); !errors.Is(err, ErrInvalidArgument) {
			t.Errorf("Put with invalid metadata = %v", err)
		}
	})
}

func TestStoreOpenErrors(t *testing.T) {
	if _, err := OpenStore(StoreConfig{}); !errors.Is(err, ErrInvalidArgument) {
		t.Errorf("OpenStore without dir = %v", err)
	}
	if _, err := OpenStore(StoreConfig{Dir: t.TempDir(), Extra: map[string]any{"default_ttl_seconds": 5}}); !errors.Is(err, ErrInvalidArgument) {
		t.Errorf("OpenStore with a TTL = %v, want ErrInvalidArgument", err)
	}
}

func TestStorePersistenceAndClose(t *testing.T) {
	dir := t.TempDir()
	s := must(OpenStore(StoreConfig{Dir: dir}))(t)
	noErr(t, s.Put("keep/me", []byte("persisted"), map[string]any{"x": "y"}))
	noErr(t, s.Close())
	noErr(t, s.Close())
	if err := s.Put("a", nil, nil); !errors.Is(err, ErrClosed) {
		t.Errorf("Put after Close = %v", err)
	}
	for _, err := range []error{
		func() error { _, _, err := s.Get("a"); return err }(),
		func() error { _, _, err := s.GetMetadata("a"); return err }(),
		func() error { _, err := s.UpdateMetadata("a", nil); return err }(),
		func() error { _, err := s.UpdateData("a", nil); return err }(),
		func() error { _, err := s.Exists("a"); return err }(),
		func() error { _, err := s.Delete("a"); return err }(),
		func() error { _, err := s.Touch("a"); return err }(),
		func() error { _, err := s.List("", nil); return err }(),
		func() error { _, err := s.DeleteByPrefix("a"); return err }(),
		func() error { _, err := s.Copy("a", "b", false); return err }(),
		func() error { _, err := s.Move("a", "b", false); return err }(),
		func() error { _, err := s.Clear(); return err }(),
	} {
		if !errors.Is(err, ErrClosed) {
			t.Errorf("after Close: %v, want ErrClosed", err)
		}
	}
	s2 := must(OpenStore(StoreConfig{Dir: dir}))(t)
	defer s2.Close()
	d, found, err := s2.Get("keep/me")
	if err != nil || !found || string(d) != "persisted" {
		t.Errorf("after reopen Get = %q, %v, %v", d, found, err)
	}
}
