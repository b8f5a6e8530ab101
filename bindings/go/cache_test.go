package cacheness

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"sort"
	"strings"
	"testing"
	"time"
)

func TestVersion(t *testing.T) {
	if v := Version(); v == "" {
		t.Fatal("Version() is empty")
	}
}

// findVectors locates the shared key vectors (shared/ lies beside the repo).
func findVectors(t *testing.T) []byte {
	t.Helper()
	for _, p := range []string{
		"../../../shared/vectors/cache_keys.json",
		"../../tests/vectors/cache_keys.json",
		"../../vectors/cache_keys.json",
	} {
		if b, err := os.ReadFile(p); err == nil {
			return b
		}
	}
	t.Fatal("cache_keys.json not found (looked in ../../../shared/vectors, ../../tests/vectors, ../../vectors)")
	return nil
}

func TestKeyVectors(t *testing.T) {
	var v struct {
		Cases []struct {
			Params, Canonical, Key string
		}
		Errors []struct {
			Params, Why string
		}
	}
	noErr(t, json.Unmarshal(findVectors(t), &v))
	if len(v.Cases) == 0 || len(v.Errors) == 0 {
		t.Fatal("no vectors")
	}
	for _, c := range v.Cases {
		got, err := KeyJSON(c.Params)
		if err != nil || got != c.Key {
			t.Errorf("KeyJSON(%s) = %q, %v; want %q", c.Params, got, err, c.Key)
		}
		// The same params through a Go map and this package's JSON encoding.
		var m map[string]any
		noErr(t, json.Unmarshal([]byte(c.Params), &m))
		got, err = Key(m)
		if err != nil || got != c.Key {
			t.Errorf("Key(%#v) = %q, %v; want %q", m, got, err, c.Key)
		}
	}
	for _, e := range v.Errors {
		_, err := KeyJSON(e.Params)
		if !errors.Is(err, ErrInvalidArgument) {
			t.Errorf("KeyJSON(%q) (%s) = %v, want ErrInvalidArgument", e.Params, e.Why, err)
		}
	}
}

func TestKeyGoValues(t *testing.T) {
	// Go values encode to the same key as the equivalent JSON text.
	for _, tc := range []struct {
		params map[string]any
		json   string
	}{
		{nil, `{}`},
		{map[string]any{}, `{}`},
		{map[string]any{"n": 1}, `{"n":1}`},
		{map[string]any{"n": int64(9007199254740991)}, `{"n":9007199254740991}`},
		{map[string]any{"f": 1.2345678901234568e+20}, `{"f":1.2345678901234568e+20}`},
		{map[string]any{"f": float32(1.5)}, `{"f":1.5}`},
		{map[string]any{"html": "<a&b>"}, `{"html":"<a&b>"}`},
		{map[string]any{"t": time.Date(2026, 2, 5, 10, 0, 0, 123456789, time.FixedZone("x", 3600))}, `{"t":"2026-02-05T09:00:00.123Z"}`},
		{map[string]any{"nested": map[string]any{"l": []any{1, 2.5e300, "x"}}}, `{"nested":{"l":[1,2.5e300,"x"]}}`},
		{map[string]any{"s": []string{"a", "b"}}, `{"s":["a","b"]}`},
	} {
		got, err := Key(tc.params)
		want := must(KeyJSON(tc.json))(t)
		if err != nil || got != want {
			t.Errorf("Key(%#v) = %q, %v; want %q (the key of %s)", tc.params, got, err, want, tc.json)
		}
	}
	// Values that have no JSON form, or would silently change, are refused in Go.
	for _, p := range []map[string]any{
		{"nan": math.NaN()},
		{"inf": math.Inf(1)},
		{"bad": "\xff"},
		{"\xfe": 1},
		{"deep": []any{map[string]any{"x": "\xc3"}}},
		{"ch": make(chan int)},
		{"n": int64(1) << 60}, // an integer the library refuses (beyond 2^53-1)
	} {
		if _, err := Key(p); !errors.Is(err, ErrInvalidArgument) {
			t.Errorf("Key(%#v) = %v, want ErrInvalidArgument", p, err)
		}
	}
	if _, err := KeyJSON("{\"a\":\"\x00\"}"); !errors.Is(err, ErrInvalidArgument) {
		t.Errorf("KeyJSON with a NUL byte = %v, want ErrInvalidArgument", err)
	}
}

func TestPutGet(t *testing.T) {
	backends(t, func(t *testing.T, open func(Config) *Cache) {
		c := open(Config{})
		p := map[string]any{"experiment": "exp_001", "epochs": 10}
		key := put(t, c, p, []byte("model weights"), nil)
		if want := must(Key(p))(t); key != want {
			t.Errorf("Put returned key %q, want %q", key, want)
		}
		wantBytes(t, get(t, c, p), []byte("model weights"))
		// The same params in another order, or with an equal number, are the same entry.
		wantBytes(t, get(t, c, map[string]any{"epochs": 10.0, "experiment": "exp_001"}), []byte("model weights"))
		// Put replaces.
		put(t, c, p, []byte("v2"), nil)
		wantBytes(t, get(t, c, p), []byte("v2"))
		// Misses.
		miss(t, c, map[string]any{"experiment": "exp_002"})
		miss(t, c, nil)
		// An empty value is a hit with empty, non-nil data.
		put(t, c, nil, nil, nil)
		data, found, err := c.Get(map[string]any{})
		if err != nil || !found || data == nil || len(data) != 0 {
			t.Errorf("Get(empty entry) = (%v, %v, %v), want ([]byte{}, true, nil)", data, found, err)
		}
		// Binary data, every byte value, and a large value.
		bin := make([]byte, 256)
		for i := range bin {
			bin[i] = byte(i)
		}
		put(t, c, map[string]any{"bin": true}, bin, nil)
		wantBytes(t, get(t, c, map[string]any{"bin": true}), bin)
		big := bytes.Repeat([]byte("0123456789abcdef"), 1<<16) // 1 MiB
		put(t, c, map[string]any{"big": true}, big, nil)
		wantBytes(t, get(t, c, map[string]any{"big": true}), big)
		// The returned data is a copy: changing it changes nothing stored.
		d := get(t, c, map[string]any{"bin": true})
		d[0] = 99
		wantBytes(t, get(t, c, map[string]any{"bin": true}), bin)
		// Changing the caller's slice after Put changes nothing stored.
		src := []byte("original")
		put(t, c, map[string]any{"src": 1}, src, nil)
		copy(src, "XXXXXXXX")
		wantBytes(t, get(t, c, map[string]any{"src": 1}), []byte("original"))
	})
}

func TestPutErrors(t *testing.T) {
	c := openMem(t)
	for _, tc := range []struct {
		name   string
		params map[string]any
		opts   *PutOptions
	}{
		{"zero ttl", map[string]any{"a": 1}, &PutOptions{TTL: ExpireAfter(0)}},
		{"negative ttl", map[string]any{"a": 1}, &PutOptions{TTL: ExpireAfter(-time.Second)}},
		{"big integer param", map[string]any{"id": uint64(1) << 62}, nil},
		{"NaN param", map[string]any{"x": math.NaN()}, nil},
		{"bad metadata", map[string]any{"a": 1}, &PutOptions{Metadata: map[string]any{"x": math.Inf(-1)}}},
	} {
		if _, err := c.Put(tc.params, []byte("x"), tc.opts); !errors.Is(err, ErrInvalidArgument) {
			t.Errorf("%s: Put = %v, want ErrInvalidArgument", tc.name, err)
		}
	}
	if n := must(c.Stats())(t).Entries; n != 0 {
		t.Errorf("failed puts left %d entries", n)
	}
}

func TestMetadata(t *testing.T) {
	backends(t, func(t *testing.T, open func(Config) *Cache) {
		c := open(Config{})
		p := map[string]any{"experiment": "exp_001", "lr": 0.001}
		data := []byte("0123456789")
		before := time.Now()
		key := put(t, c, p, data, &PutOptions{
			DataType: "text", Description: "a test entry",
			Metadata: map[string]any{"project": "ml", "n": 3, "tags": []any{"a", "b"}},
		})
		after := time.Now()

		m, found, err := c.GetMetadata(p)
		if err != nil || !found || m == nil {
			t.Fatalf("GetMetadata = (%v, %v, %v)", m, found, err)
		}
		want := Metadata{
			CacheKey: key, Params: map[string]any{"experiment": "exp_001", "lr": 0.001},
			DataType: "text", Description: "a test entry", Size: 10, ContentHash: contentHash(data),
			Version: 1, Metadata: map[string]any{"project": "ml", "n": 3.0, "tags": []any{"a", "b"}},
		}
		got := *m
		near(t, "CreatedAt", got.CreatedAt, before, after)
		near(t, "AccessedAt", got.AccessedAt, before, after)
		if !got.ExpiresAt.IsZero() || got.Expires() {
			t.Errorf("ExpiresAt = %v, want zero (never expires)", got.ExpiresAt)
		}
		if got.CreatedAt.Location() != time.UTC {
			t.Errorf("CreatedAt is in %v, want UTC", got.CreatedAt.Location())
		}
		got.CreatedAt, got.AccessedAt, got.AccessCount = time.Time{}, time.Time{}, 0
		if !reflect.DeepEqual(got, want) {
			t.Errorf("GetMetadata =\n%+v\nwant\n%+v", got, want)
		}
		// get_metadata does not count as an access; get and get_with_metadata do.
		count0 := m.AccessCount
		get(t, c, p)
		d, m2, found, err := c.GetWithMetadata(p)
		if err != nil || !found || m2 == nil {
			t.Fatalf("GetWithMetadata = (%v, %v, %v)", m2, found, err)
		}
		wantBytes(t, d, data)
		if m2.CacheKey != key || m2.Size != 10 || m2.DataType != "text" {
			t.Errorf("GetWithMetadata metadata = %+v", m2)
		}
		m3 := hit(c.GetMetadata(p))(t)
		if m3.AccessCount < count0+2 {
			t.Errorf("AccessCount = %d after two gets, was %d", m3.AccessCount, count0)
		}
		if m3.Version != 1 {
			t.Errorf("reads changed Version to %d", m3.Version)
		}
		// Misses.
		m, found, err = c.GetMetadata(map[string]any{"no": "such"})
		if m != nil || found || err != nil {
			t.Errorf("GetMetadata(miss) = (%v, %v, %v), want (nil, false, nil)", m, found, err)
		}
		d, m, found, err = c.GetWithMetadata(map[string]any{"no": "such"})
		if d != nil || m != nil || found || err != nil {
			t.Errorf("GetWithMetadata(miss) = (%v, %v, %v, %v), want (nil, nil, false, nil)", d, m, found, err)
		}
		// Default data type.
		put(t, c, map[string]any{"plain": 1}, []byte("x"), nil)
		if m := hit(c.GetMetadata(map[string]any{"plain": 1}))(t); m.DataType != "bytes" {
			t.Errorf("default DataType = %q, want bytes", m.DataType)
		}
	})
}

func TestExistsDelete(t *testing.T) {
	backends(t, func(t *testing.T, open func(Config) *Cache) {
		c := open(Config{})
		p := map[string]any{"k": "v"}
		if ok := must(c.Exists(p))(t); ok {
			t.Error("Exists before Put = true")
		}
		put(t, c, p, []byte("x"), nil)
		if ok := must(c.Exists(p))(t); !ok {
			t.Error("Exists after Put = false")
		}
		if ok := must(c.Delete(p))(t); !ok {
			t.Error("Delete of an entry = false")
		}
		if ok := must(c.Delete(p))(t); ok {
			t.Error("Delete of a missing entry = true")
		}
		if ok := must(c.Exists(p))(t); ok {
			t.Error("Exists after Delete = true")
		}
		miss(t, c, p)
	})
}

func TestTTLExpiry(t *testing.T) {
	backends(t, func(t *testing.T, open func(Config) *Cache) {
		c := open(Config{})
		p := map[string]any{"ttl": 1}
		before := time.Now()
		put(t, c, p, []byte("short-lived"), &PutOptions{TTL: ExpireAfter(time.Second)})
		after := time.Now()
		m := hit(c.GetMetadata(p))(t)
		if m == nil || !m.Expires() {
			t.Fatalf("GetMetadata = %+v, want an expiry", m)
		}
		near(t, "ExpiresAt", m.ExpiresAt, before.Add(time.Second), after.Add(time.Second))
		// Still there right after the put (the TTL is a full second).
		if ok := must(c.Exists(p))(t); !ok && time.Since(before) < 900*time.Millisecond {
			t.Fatal("entry missing right after Put")
		}
		// A never-expiring neighbour.
		q := map[string]any{"ttl": "never"}
		put(t, c, q, []byte("forever"), &PutOptions{TTL: NeverExpire})
		eventually(t, 10*time.Second, "entry with a 1 s TTL still readable", func() bool {
			_, found, err := c.Get(p)
			noErr(t, err)
			return !found
		})
		miss(t, c, p)
		if ok := must(c.Exists(p))(t); ok {
			t.Error("Exists(expired) = true")
		}
		if m, found, err := c.GetMetadata(p); m != nil || found || err != nil {
			t.Errorf("GetMetadata(expired) = (%v, %v, %v), want a miss", m, found, err)
		}
		if ok := must(c.Touch(p, ExpireAfter(time.Hour)))(t); ok {
			t.Error("Touch(expired) = true")
		}
		wantBytes(t, get(t, c, q), []byte("forever"))
		// An expired entry is a miss for every single-entry call.
		if d, m, found, err := c.GetWithMetadata(p); d != nil || m != nil || found || err != nil {
			t.Errorf("GetWithMetadata(expired) = (%v, %v, %v, %v), want a miss", d, m, found, err)
		}
		if ok := must(c.UpdateData(p, []byte("new"), nil))(t); ok {
			t.Error("UpdateData(expired) = true")
		}
		if ok := must(c.UpdateMetadata(p, map[string]any{"a": 1}))(t); ok {
			t.Error("UpdateMetadata(expired) = true")
		}
		if ok := must(c.Copy(p, map[string]any{"copy": "of expired"}, nil))(t); ok {
			t.Error("Copy(expired) = true")
		}
		miss(t, c, map[string]any{"copy": "of expired"})
		if items := must(c.GetBatch([]map[string]any{p, q}))(t); len(items) != 2 || items[0].Found || !items[1].Found {
			t.Errorf("GetBatch(expired, live) = %+v", items)
		}
		// include_expired shows it.
		n := 0
		for m, err := range c.ListAll(map[string]any{"include_expired": true}, nil) {
			noErr(t, err)
			if m.Params["ttl"] == 1.0 {
				n++
			}
		}
		if n != 1 {
			t.Errorf("ListAll(include_expired) shows the expired entry %d times, want 1", n)
		}
		// Expired entries are not listed, and cleanup removes them.
		for m, err := range c.ListAll(nil, nil) {
			noErr(t, err)
			if m.Params["ttl"] == 1.0 {
				t.Error("List shows the expired entry")
			}
		}
		n = int(must(c.CleanupExpired())(t))
		if n != 1 {
			t.Errorf("CleanupExpired = %d, want 1", n)
		}
		if st := must(c.Stats())(t); st.ExpiredRemoved < 1 || st.Entries != 1 {
			t.Errorf("Stats after cleanup = %+v, want ExpiredRemoved >= 1 and 1 entry", st)
		}
		if n := must(c.CleanupExpired())(t); n != 0 {
			t.Errorf("second CleanupExpired = %d, want 0", n)
		}
	})
}

func TestSubSecondTTL(t *testing.T) {
	c := openMem(t)
	p := map[string]any{"ttl": "300ms"}
	before := time.Now()
	put(t, c, p, []byte("x"), &PutOptions{TTL: ExpireAfter(300 * time.Millisecond)})
	m := hit(c.GetMetadata(p))(t)
	if d := m.ExpiresAt.Sub(m.CreatedAt); d < 299*time.Millisecond || d > 301*time.Millisecond {
		t.Errorf("ExpiresAt - CreatedAt = %v, want 300ms", d)
	}
	eventually(t, 10*time.Second, "entry with a 300 ms TTL still readable", func() bool {
		return !must(c.Exists(p))(t)
	})
	if time.Since(before) < 290*time.Millisecond {
		t.Error("entry expired early")
	}
}

func TestDefaultTTL(t *testing.T) {
	c := openDir(t, Config{DefaultTTL: time.Second})
	put(t, c, map[string]any{"d": 1}, []byte("x"), nil)                                      // default TTL
	put(t, c, map[string]any{"d": 2}, []byte("x"), &PutOptions{TTL: NeverExpire})            // never
	put(t, c, map[string]any{"d": 3}, []byte("x"), &PutOptions{TTL: ExpireAfter(time.Hour)}) // explicit
	m1 := hit(c.GetMetadata(map[string]any{"d": 1}))(t)
	m2 := hit(c.GetMetadata(map[string]any{"d": 2}))(t)
	m3 := hit(c.GetMetadata(map[string]any{"d": 3}))(t)
	if !m1.Expires() || m2.Expires() || !m3.Expires() {
		t.Fatalf("expiries: default %v, never %v, 1h %v", m1.ExpiresAt, m2.ExpiresAt, m3.ExpiresAt)
	}
	if d := m3.ExpiresAt.Sub(m1.ExpiresAt); d < 59*time.Minute {
		t.Errorf("1 h TTL expires only %v after the 1 s default one", d)
	}
	eventually(t, 10*time.Second, "entry with the 1 s default TTL still there", func() bool {
		return !must(c.Exists(map[string]any{"d": 1}))(t)
	})
	get(t, c, map[string]any{"d": 2})
	get(t, c, map[string]any{"d": 3})
}

func TestTouch(t *testing.T) {
	backends(t, func(t *testing.T, open func(Config) *Cache) {
		c := open(Config{DefaultTTL: 2 * time.Hour})
		p := map[string]any{"touch": 1}
		put(t, c, p, []byte("x"), &PutOptions{TTL: ExpireAfter(time.Second)})
		m0 := hit(c.GetMetadata(p))(t)
		if ok := must(c.Touch(p, ExpireAfter(time.Hour)))(t); !ok {
			t.Fatal("Touch = false")
		}
		m1 := hit(c.GetMetadata(p))(t)
		if d := m1.ExpiresAt.Sub(time.Now()); d < 59*time.Minute || d > 61*time.Minute {
			t.Errorf("after Touch(1h) ExpiresAt is %v away", d)
		}
		if !m1.CreatedAt.Equal(m0.CreatedAt) || m1.Version != m0.Version || m1.ContentHash != m0.ContentHash {
			t.Errorf("Touch changed the entry: %+v -> %+v", m0, m1)
		}
		// The default TTL (the cache's: 2 h).
		must(c.Touch(p, TTL{}))(t)
		if d := hit(c.GetMetadata(p))(t).ExpiresAt.Sub(time.Now()); d < 119*time.Minute || d > 121*time.Minute {
			t.Errorf("after Touch(default) ExpiresAt is %v away, want 2h", d)
		}
		// Never.
		must(c.Touch(p, NeverExpire))(t)
		if m := hit(c.GetMetadata(p))(t); m.Expires() {
			t.Errorf("after Touch(NeverExpire) ExpiresAt = %v", m.ExpiresAt)
		}
		if ok := must(c.Touch(map[string]any{"no": 1}, TTL{}))(t); ok {
			t.Error("Touch(missing) = true")
		}
		if _, err := c.Touch(p, ExpireAfter(0)); !errors.Is(err, ErrInvalidArgument) {
			t.Errorf("Touch(ttl 0) = %v, want ErrInvalidArgument", err)
		}
	})
}

func TestUpdateData(t *testing.T) {
	backends(t, func(t *testing.T, open func(Config) *Cache) {
		c := open(Config{})
		p := map[string]any{"upd": 1}
		key := put(t, c, p, []byte("v1"), &PutOptions{DataType: "text", Metadata: map[string]any{"m": 1}, TTL: NeverExpire})
		m1 := hit(c.GetMetadata(p))(t)
		time.Sleep(5 * time.Millisecond) // created_at has millisecond resolution
		if ok := must(c.UpdateData(p, []byte("version two"), nil))(t); !ok {
			t.Fatal("UpdateData = false")
		}
		wantBytes(t, get(t, c, p), []byte("version two"))
		m2 := hit(c.GetMetadata(p))(t)
		if m2.CacheKey != key || m2.Version != m1.Version+1 || m2.Size != 11 ||
			m2.ContentHash != contentHash([]byte("version two")) || !m2.CreatedAt.After(m1.CreatedAt) ||
			m2.DataType != "text" || !reflect.DeepEqual(m2.Metadata, m1.Metadata) {
			t.Errorf("after UpdateData: %+v (was %+v)", m2, m1)
		}
		// Conditional update: the right version succeeds, a stale one conflicts.
		if ok := must(c.UpdateData(p, []byte("v3"), &UpdateDataOptions{ExpectedVersion: m2.Version, DataType: "other", TTL: ExpireAfter(time.Hour)}))(t); !ok {
			t.Fatal("UpdateData(expected current version) = false")
		}
		m3 := hit(c.GetMetadata(p))(t)
		if m3.DataType != "other" || !m3.Expires() || m3.Version != m2.Version+1 {
			t.Errorf("after UpdateData with options: %+v", m3)
		}
		_, err := c.UpdateData(p, []byte("stale"), &UpdateDataOptions{ExpectedVersion: m2.Version})
		wantErr(t, err, ErrConflict)
		wantBytes(t, get(t, c, p), []byte("v3"))
		if m := hit(c.GetMetadata(p))(t); m.Version != m3.Version {
			t.Errorf("a conflicting update changed the version to %d", m.Version)
		}
		// Missing: false, nothing created.
		q := map[string]any{"upd": "missing"}
		if ok := must(c.UpdateData(q, []byte("x"), nil))(t); ok {
			t.Error("UpdateData(missing) = true")
		}
		miss(t, c, q)
		// Empty data.
		must(c.UpdateData(p, nil, nil))(t)
		if d := get(t, c, p); len(d) != 0 {
			t.Errorf("after UpdateData(nil) data = %q", d)
		}
	})
}

func TestUpdateMetadata(t *testing.T) {
	backends(t, func(t *testing.T, open func(Config) *Cache) {
		c := open(Config{})
		p := map[string]any{"um": 1}
		put(t, c, p, []byte("x"), &PutOptions{Metadata: map[string]any{"a": 1, "b": map[string]any{"c": 2, "d": 3}, "gone": true}})
		v1 := hit(c.GetMetadata(p))(t).Version
		ok := must(c.UpdateMetadata(p, map[string]any{"gone": nil, "b": map[string]any{"c": nil, "e": "new"}, "f": []any{1}}))(t)
		if !ok {
			t.Fatal("UpdateMetadata = false")
		}
		m := hit(c.GetMetadata(p))(t)
		want := map[string]any{"a": 1.0, "b": map[string]any{"d": 3.0, "e": "new"}, "f": []any{1.0}}
		if !reflect.DeepEqual(m.Metadata, want) {
			t.Errorf("after merge patch metadata = %v, want %v", m.Metadata, want)
		}
		if m.Version != v1+1 {
			t.Errorf("Version = %d after a metadata change, want %d", m.Version, v1+1)
		}
		wantBytes(t, get(t, c, p), []byte("x"))
		if ok := must(c.UpdateMetadata(map[string]any{"um": 2}, map[string]any{"a": 1}))(t); ok {
			t.Error("UpdateMetadata(missing) = true")
		}
	})
}

func TestCopyMove(t *testing.T) {
	backends(t, func(t *testing.T, open func(Config) *Cache) {
		c := open(Config{})
		src := map[string]any{"name": "src"}
		dst := map[string]any{"name": "dst"}
		put(t, c, src, []byte("payload"), &PutOptions{DataType: "text", TTL: ExpireAfter(time.Hour), Metadata: map[string]any{"owner": "a", "keep": 1}})
		ms := hit(c.GetMetadata(src))(t)
		if ok := must(c.Copy(src, dst, &CopyOptions{Metadata: map[string]any{"owner": "b", "keep": nil}}))(t); !ok {
			t.Fatal("Copy = false")
		}
		wantBytes(t, get(t, c, src), []byte("payload"))
		wantBytes(t, get(t, c, dst), []byte("payload"))
		md := hit(c.GetMetadata(dst))(t)
		if md.CacheKey != must(Key(dst))(t) || md.DataType != "text" || !md.ExpiresAt.Equal(ms.ExpiresAt) ||
			!reflect.DeepEqual(md.Metadata, map[string]any{"owner": "b"}) || !reflect.DeepEqual(md.Params, dst) {
			t.Errorf("copy metadata = %+v", md)
		}
		if m := hit(c.GetMetadata(src))(t); !reflect.DeepEqual(m.Metadata, map[string]any{"owner": "a", "keep": 1.0}) {
			t.Errorf("Copy changed the source metadata: %v", m.Metadata)
		}
		// Existing destination.
		put(t, c, src, []byte("payload2"), nil)
		_, err := c.Copy(src, dst, nil)
		wantErr(t, err, ErrExists)
		wantBytes(t, get(t, c, dst), []byte("payload"))
		_, err = c.Move(src, dst, nil)
		wantErr(t, err, ErrExists)
		wantBytes(t, get(t, c, src), []byte("payload2"))
		must(c.Copy(src, dst, &CopyOptions{Overwrite: true}))(t)
		wantBytes(t, get(t, c, dst), []byte("payload2"))
		// Move.
		mv := map[string]any{"name": "moved"}
		if ok := must(c.Move(src, mv, nil))(t); !ok {
			t.Fatal("Move = false")
		}
		miss(t, c, src)
		wantBytes(t, get(t, c, mv), []byte("payload2"))
		must(c.Move(mv, dst, &CopyOptions{Overwrite: true, Metadata: map[string]any{"moved": true}}))(t)
		miss(t, c, mv)
		wantBytes(t, get(t, c, dst), []byte("payload2"))
		if m := hit(c.GetMetadata(dst))(t); m.Metadata["moved"] != true {
			t.Errorf("Move metadata patch not applied: %v", m.Metadata)
		}
		// Missing source.
		if ok := must(c.Copy(map[string]any{"no": 1}, map[string]any{"x": 1}, nil))(t); ok {
			t.Error("Copy(missing) = true")
		}
		if ok := must(c.Move(map[string]any{"no": 1}, map[string]any{"x": 1}, nil))(t); ok {
			t.Error("Move(missing) = true")
		}
		miss(t, c, map[string]any{"x": 1})
	})
}

func listKeys(t *testing.T, c *Cache, filter map[string]any, opts *ListOptions) []string {
	t.Helper()
	var keys []string
	for m, err := range c.ListAll(filter, opts) {
		noErr(t, err)
		keys = append(keys, m.Params["name"].(string))
	}
	sort.Strings(keys)
	return keys
}

func TestList(t *testing.T) {
	backends(t, func(t *testing.T, open func(Config) *Cache) {
		c := open(Config{})
		var all []string
		for i := range 10 {
			name := fmt.Sprintf("exp_%03d", i)
			all = append(all, name)
			put(t, c, map[string]any{"name": name, "i": i}, bytes.Repeat([]byte{'x'}, i*10),
				&PutOptions{DataType: []string{"even", "odd"}[i%2], Metadata: map[string]any{"project": []string{"ml", "web"}[i%2]}})
		}
		put(t, c, map[string]any{"name": "other"}, []byte("o"), nil)

		page := must(c.List(nil, nil))(t)
		if len(page.Entries) != 11 || page.NextCursor != "" {
			t.Fatalf("List(all) = %d entries, cursor %q", len(page.Entries), page.NextCursor)
		}
		// Default order: created_at.
		for i := 1; i < len(page.Entries); i++ {
			if page.Entries[i].CreatedAt.Before(page.Entries[i-1].CreatedAt) {
				t.Errorf("List not in created_at order at %d", i)
			}
		}
		// Pages of 3 through the cursor, by hand and through ListAll.
		var got []string
		opts := &ListOptions{Limit: 3, Order: "key"}
		pages := 0
		for {
			page := must(c.List(map[string]any{"params": map[string]any{"name": map[string]any{"$prefix": "exp_"}}}, opts))(t)
			pages++
			if len(page.Entries) > 3 {
				t.Fatalf("page of %d entries with limit 3", len(page.Entries))
			}
			for i, m := range page.Entries {
				got = append(got, m.Params["name"].(string))
				if i > 0 && m.CacheKey < page.Entries[i-1].CacheKey {
					t.Errorf("order key: %s after %s", m.CacheKey, page.Entries[i-1].CacheKey)
				}
			}
			if page.NextCursor == "" {
				break
			}
			opts.Cursor = page.NextCursor
			if pages > 10 {
				t.Fatal("no end of pages")
			}
		}
		sort.Strings(got)
		if !reflect.DeepEqual(got, all) || pages < 4 {
			t.Errorf("paged list = %v in %d pages, want %v in >= 4", got, pages, all)
		}
		if keys := listKeys(t, c, map[string]any{"params": map[string]any{"name": map[string]any{"$glob": "exp_*"}}}, &ListOptions{Limit: 2}); !reflect.DeepEqual(keys, all) {
			t.Errorf("ListAll($glob) = %v", keys)
		}
		// Breaking out of the iteration stops it.
		n := 0
		for _, err := range c.ListAll(nil, &ListOptions{Limit: 2}) {
			noErr(t, err)
			n++
			if n == 3 {
				break
			}
		}
		if n != 3 {
			t.Errorf("break after 3: saw %d", n)
		}
		// Filters.
		for _, tc := range []struct {
			filter map[string]any
			want   int
		}{
			{map[string]any{}, 11},
			{map[string]any{"data_type": "odd"}, 5},
			{map[string]any{"metadata": map[string]any{"project": "ml"}}, 5},
			{map[string]any{"metadata": map[string]any{"project": map[string]any{"$in": []any{"ml", "web"}}}}, 10},
			{map[string]any{"metadata": map[string]any{"project": map[string]any{"$exists": false}}}, 1},
			{map[string]any{"params": map[string]any{"i": 3}}, 1},
			{map[string]any{"min_size": 50}, 5},
			{map[string]any{"max_size": 20}, 4},
			{map[string]any{"key_prefix": must(Key(map[string]any{"name": "other"}))(t)[:10]}, 1},
			{map[string]any{"created_after": time.Now().Add(-time.Hour)}, 11},
			{map[string]any{"created_before": time.Now().Add(-time.Hour)}, 0},
			{map[string]any{"accessed_before": time.Now().Add(time.Hour)}, 11},
			{map[string]any{"expires_before": time.Now().Add(time.Hour)}, 0},
			{map[string]any{"include_expired": true}, 11},
		} {
			n := 0
			for _, err := range c.ListAll(tc.filter, nil) {
				noErr(t, err)
				n++
			}
			if n != tc.want {
				t.Errorf("ListAll(%v) = %d entries, want %d", tc.filter, n, tc.want)
			}
		}
		// A typo is an error, never "match everything".
		for _, f := range []map[string]any{
			{"data_typ": "odd"},
			{"params": map[string]any{"name": map[string]any{"$prefx": "exp"}}},
			{"min_size": "big"},
		} {
			_, err := c.List(f, nil)
			wantErr(t, err, ErrInvalidArgument)
			for _, err := range c.ListAll(f, nil) {
				wantErr(t, err, ErrInvalidArgument)
			}
		}
		_, err := c.List(nil, &ListOptions{Order: "size"})
		wantErr(t, err, ErrInvalidArgument)
		_, err = c.List(nil, &ListOptions{Cursor: "not a cursor"})
		wantErr(t, err, ErrInvalidArgument)
	})
}

func TestBulkWhere(t *testing.T) {
	backends(t, func(t *testing.T, open func(Config) *Cache) {
		c := open(Config{})
		for i := range 6 {
			put(t, c, map[string]any{"name": fmt.Sprintf("n%d", i), "group": []string{"a", "b"}[i%2]}, []byte{byte(i)}, &PutOptions{TTL: ExpireAfter(time.Minute)})
		}
		groupA := map[string]any{"params": map[string]any{"group": "a"}}
		// A nil filter is refused; typos are refused; nothing changes.
		_, err := c.DeleteWhere(nil)
		wantErr(t, err, ErrInvalidArgument)
		_, err = c.TouchWhere(nil, NeverExpire)
		wantErr(t, err, ErrInvalidArgument)
		_, err = c.UpdateMetadataWhere(nil, map[string]any{"x": 1})
		wantErr(t, err, ErrInvalidArgument)
		_, err = c.DeleteWhere(map[string]any{"param": map[string]any{"group": "a"}})
		wantErr(t, err, ErrInvalidArgument)
		if n := must(c.Stats())(t).Entries; n != 6 {
			t.Fatalf("refused calls changed the cache: %d entries", n)
		}

		if n := must(c.TouchWhere(groupA, NeverExpire))(t); n != 3 {
			t.Errorf("TouchWhere = %d, want 3", n)
		}
		if n := must(c.TouchWhere(map[string]any{"params": map[string]any{"group": "b"}}, ExpireAfter(2*time.Hour)))(t); n != 3 {
			t.Errorf("TouchWhere(2h) = %d, want 3", n)
		}
		for m, err := range c.ListAll(nil, nil) {
			noErr(t, err)
			switch m.Params["group"] {
			case "a":
				if m.Expires() {
					t.Errorf("%v still expires after TouchWhere(NeverExpire)", m.Params)
				}
			case "b":
				if d := time.Until(m.ExpiresAt); d < 119*time.Minute {
					t.Errorf("%v expires in %v after TouchWhere(2h)", m.Params, d)
				}
			}
		}
		if n := must(c.UpdateMetadataWhere(groupA, map[string]any{"tag": "A"}))(t); n != 3 {
			t.Errorf("UpdateMetadataWhere = %d, want 3", n)
		}
		tagged := 0
		for m, err := range c.ListAll(map[string]any{"metadata": map[string]any{"tag": "A"}}, nil) {
			noErr(t, err)
			tagged++
			if m.Params["group"] != "a" || m.Version != 2 {
				t.Errorf("tagged entry %v version %d", m.Params, m.Version)
			}
		}
		if tagged != 3 {
			t.Errorf("%d entries tagged, want 3", tagged)
		}
		if n := must(c.DeleteWhere(groupA))(t); n != 3 {
			t.Errorf("DeleteWhere = %d, want 3", n)
		}
		if n := must(c.DeleteWhere(groupA))(t); n != 0 {
			t.Errorf("second DeleteWhere = %d, want 0", n)
		}
		if n := must(c.DeleteWhere(map[string]any{}))(t); n != 3 {
			t.Errorf("DeleteWhere({}) = %d, want 3", n)
		}
		if n := must(c.Stats())(t).Entries; n != 0 {
			t.Errorf("%d entries left", n)
		}
	})
}

func TestDeleteMatching(t *testing.T) {
	backends(t, func(t *testing.T, open func(Config) *Cache) {
		c := open(Config{})
		for i := range 10 {
			put(t, c, map[string]any{"i": i, "kind": []string{"x", "y"}[i%2]}, []byte("d"), &PutOptions{Metadata: map[string]any{"i": i}})
		}
		var seen []float64
		n, err := c.DeleteMatching(map[string]any{"params": map[string]any{"kind": "x"}}, func(m Metadata) bool {
			if m.CacheKey == "" || m.Size != 1 || m.CreatedAt.IsZero() {
				t.Errorf("predicate got incomplete metadata %+v", m)
			}
			i := m.Params["i"].(float64)
			seen = append(seen, i)
			return int(i)%4 == 0
		})
		noErr(t, err)
		sort.Float64s(seen)
		if !reflect.DeepEqual(seen, []float64{0, 2, 4, 6, 8}) {
			t.Errorf("predicate saw %v, want the 5 entries of the filter", seen)
		}
		if n != 3 {
			t.Errorf("DeleteMatching = %d, want 3 (0, 4, 8)", n)
		}
		for i := range 10 {
			ok := must(c.Exists(map[string]any{"i": i, "kind": []string{"x", "y"}[i%2]}))(t)
			if ok == (i%4 == 0) {
				t.Errorf("entry %d exists = %v", i, ok)
			}
		}
		// nil filter: every entry is offered.
		calls := 0
		n = must(c.DeleteMatching(nil, func(m Metadata) bool { calls++; return m.Metadata["i"] == 9.0 }))(t)
		if n != 1 || calls != 7 {
			t.Errorf("DeleteMatching(nil) = %d after %d calls, want 1 after 7", n, calls)
		}
		// Errors.
		_, err = c.DeleteMatching(nil, nil)
		wantErr(t, err, ErrInvalidArgument)
		_, err = c.DeleteMatching(map[string]any{"nope": 1}, func(Metadata) bool { return true })
		wantErr(t, err, ErrInvalidArgument)
		if n := must(c.Stats())(t).Entries; n != 6 {
			t.Errorf("%d entries, want 6", n)
		}
		// A panicking predicate: the panic comes back out of DeleteMatching
		// and the cache still works.
		func() {
			defer func() {
				if r := recover(); r != "boom" {
					t.Errorf("recovered %v, want boom", r)
				}
			}()
			c.DeleteMatching(nil, func(Metadata) bool { panic("boom") })
			t.Error("DeleteMatching returned after the predicate panicked")
		}()
		if n := must(c.Stats())(t).Entries; n != 6 {
			t.Errorf("after a panicking predicate: %d entries, want 6", n)
		}
		put(t, c, map[string]any{"after": "panic"}, []byte("ok"), nil)
		wantBytes(t, get(t, c, map[string]any{"after": "panic"}), []byte("ok"))
	})
}

func TestBatches(t *testing.T) {
	backends(t, func(t *testing.T, open func(Config) *Cache) {
		c := open(Config{})
		items := []PutItem{
			{Params: map[string]any{"b": 1}, Data: []byte("one")},
			{Params: map[string]any{"b": 2}, Data: []byte{}, Options: &PutOptions{DataType: "empty"}},
			{Params: map[string]any{"b": 3}, Data: bytes.Repeat([]byte{3}, 100000), Options: &PutOptions{TTL: ExpireAfter(time.Hour), Metadata: map[string]any{"m": 3}}},
		}
		noErr(t, c.PutBatch(items))
		got := must(c.GetBatch([]map[string]any{{"b": 3}, {"b": 99}, {"b": 1}, {"b": 2}, {"b": 1}}))(t)
		want := []struct {
			params map[string]any
			found  bool
			data   []byte
		}{{map[string]any{"b": 3}, true, items[2].Data}, {map[string]any{"b": 99}, false, nil}, {map[string]any{"b": 1}, true, []byte("one")}, {map[string]any{"b": 2}, true, []byte{}}, {map[string]any{"b": 1}, true, []byte("one")}}
		if len(got) != len(want) {
			t.Fatalf("GetBatch returned %d items, want %d", len(got), len(want))
		}
		for i, w := range want {
			if got[i].Key != must(Key(w.params))(t) || got[i].Found != w.found || !bytes.Equal(got[i].Data, w.data) || (w.found && got[i].Data == nil) || (!w.found && got[i].Data != nil) {
				t.Errorf("item %d = {%s %v %d bytes}, want {%v %v %d bytes}", i, got[i].Key, got[i].Found, len(got[i].Data), w.params, w.found, len(w.data))
			}
		}
		if m := hit(c.GetMetadata(map[string]any{"b": 2}))(t); m.DataType != "empty" {
			t.Errorf("PutBatch options lost: %+v", m)
		}
		if m := hit(c.GetMetadata(map[string]any{"b": 3}))(t); !m.Expires() || m.Metadata["m"] != 3.0 {
			t.Errorf("PutBatch options lost: %+v", m)
		}
		if got := must(c.GetBatch(nil))(t); len(got) != 0 {
			t.Errorf("GetBatch(nil) = %v", got)
		}
		// All or nothing: one bad item, nothing written.
		err := c.PutBatch([]PutItem{
			{Params: map[string]any{"b": 10}, Data: []byte("ten")},
			{Params: map[string]any{"b": 11}, Data: []byte("eleven"), Options: &PutOptions{TTL: ExpireAfter(0)}},
		})
		wantErr(t, err, ErrInvalidArgument)
		miss(t, c, map[string]any{"b": 10})
		// A bad item found in Go: also nothing written.
		err = c.PutBatch([]PutItem{{Params: map[string]any{"b": 12}}, {Params: map[string]any{"b": math.NaN()}}})
		wantErr(t, err, ErrInvalidArgument)
		miss(t, c, map[string]any{"b": 12})
		noErr(t, c.PutBatch(nil))

		if n := must(c.DeleteBatch([]map[string]any{{"b": 1}, {"b": 99}, {"b": 3}}))(t); n != 2 {
			t.Errorf("DeleteBatch = %d, want 2", n)
		}
		miss(t, c, map[string]any{"b": 1})
		get(t, c, map[string]any{"b": 2})
		if n := must(c.DeleteBatch(nil))(t); n != 0 {
			t.Errorf("DeleteBatch(nil) = %d", n)
		}
		_, err = c.GetBatch([]map[string]any{{"n": math.Inf(1)}})
		wantErr(t, err, ErrInvalidArgument)
	})
}

func TestStatsClear(t *testing.T) {
	backends(t, func(t *testing.T, open func(Config) *Cache) {
		c := open(Config{Namespace: "stats"})
		st := must(c.Stats())(t)
		if st.Entries != 0 || st.Hits != 0 || st.Misses != 0 || st.Namespace != "stats" || st.MetadataBackend == "" || st.BlobBackend == "" || len(st.Raw) == 0 {
			t.Errorf("fresh Stats = %+v", st)
		}
		put(t, c, map[string]any{"s": 1}, []byte("12345"), nil)
		put(t, c, map[string]any{"s": 2}, []byte("678"), nil)
		get(t, c, map[string]any{"s": 1})
		get(t, c, map[string]any{"s": 1})
		miss(t, c, map[string]any{"s": 3})
		st = must(c.Stats())(t)
		if st.Entries != 2 || st.TotalSize != 8 || st.Hits != 2 || st.Misses != 1 {
			t.Errorf("Stats = %+v, want 2 entries, 8 bytes, 2 hits, 1 miss", st)
		}
		if n := must(c.Clear())(t); n != 2 {
			t.Errorf("Clear = %d, want 2", n)
		}
		if st := must(c.Stats())(t); st.Entries != 0 || st.TotalSize != 0 {
			t.Errorf("after Clear Stats = %+v", st)
		}
		if n := must(c.Clear())(t); n != 0 {
			t.Errorf("second Clear = %d", n)
		}
	})
}

func TestEviction(t *testing.T) {
	c := openDir(t, Config{MaxSizeBytes: 10000})
	for i := range 5 {
		put(t, c, map[string]any{"ev": i}, bytes.Repeat([]byte{byte(i)}, 3000), nil)
		time.Sleep(5 * time.Millisecond)
		get(t, c, map[string]any{"ev": 0}) // keep entry 0 recently used
	}
	st := must(c.Stats())(t)
	if st.TotalSize > 10000 || st.Evictions == 0 {
		t.Errorf("Stats = %+v, want total <= 10000 and evictions", st)
	}
	get(t, c, map[string]any{"ev": 0})
	get(t, c, map[string]any{"ev": 4})
	miss(t, c, map[string]any{"ev": 1})
}

func TestTooLarge(t *testing.T) {
	c := openDir(t, Config{MaxSizeBytes: 100})
	put(t, c, map[string]any{"fits": 1}, make([]byte, 100), nil)
	_, err := c.Put(map[string]any{"big": 1}, make([]byte, 101), nil)
	wantErr(t, err, ErrTooLarge)
	miss(t, c, map[string]any{"big": 1})
	get(t, c, map[string]any{"fits": 1})
	_, err = c.UpdateData(map[string]any{"fits": 1}, make([]byte, 101), nil)
	wantErr(t, err, ErrTooLarge)
	if d := get(t, c, map[string]any{"fits": 1}); len(d) != 100 {
		t.Errorf("a refused update changed the data to %d bytes", len(d))
	}
}

func TestPostgresUnreachable(t *testing.T) {
	// Nothing listens on port 1: the config is valid, the backend fails.
	c, err := Open(Config{Metadata: "postgres", PostgresURL: "postgres://user:pw@127.0.0.1:1/db?connect_timeout=5", Blobs: "memory"})
	if c != nil {
		c.Close()
	}
	if !errors.Is(err, ErrBackend) && !errors.Is(err, ErrIO) {
		t.Errorf("Open(unreachable postgres) = %v, want ErrBackend (or ErrIO)", err)
	}
	_, err = Open(Config{Metadata: "postgres", Blobs: "memory"})
	wantErr(t, err, ErrInvalidArgument) // no postgres_url
}

// TestAccessVisibleToOtherHandles: a hit updates accessed_at/access_count
// (API.md "get"), and other handles on the directory (other processes) must
// see it: their LRU eviction and accessed_before filters depend on it. The
// library defers this bookkeeping and documents that it reaches the database
// within one second; the reading handle then stays idle.
func TestAccessVisibleToOtherHandles(t *testing.T) {
	dir := t.TempDir()
	reader := openDir(t, Config{Dir: dir})
	other := openDir(t, Config{Dir: dir})
	p := map[string]any{"seen": "elsewhere"}
	put(t, reader, p, []byte("x"), nil)
	before := hit(other.GetMetadata(p))(t)
	time.Sleep(5 * time.Millisecond) // accessed_at has millisecond resolution
	get(t, reader, p)
	eventually(t, 5*time.Second, "another handle still sees the entry as never read", func() bool {
		m := hit(other.GetMetadata(p))(t)
		return m.AccessCount == before.AccessCount+1 && m.AccessedAt.After(before.AccessedAt)
	})
}

func TestNamespaces(t *testing.T) {
	dir := t.TempDir()
	a := openDir(t, Config{Dir: dir, Namespace: "a"})
	b := openDir(t, Config{Dir: dir, Namespace: "b"})
	put(t, a, map[string]any{"k": 1}, []byte("in a"), nil)
	miss(t, b, map[string]any{"k": 1})
	put(t, b, map[string]any{"k": 1}, []byte("in b"), nil)
	wantBytes(t, get(t, a, map[string]any{"k": 1}), []byte("in a"))
	must(b.Clear())(t)
	wantBytes(t, get(t, a, map[string]any{"k": 1}), []byte("in a"))
	// A second handle on the same directory and namespace sees the same entries.
	a2 := openDir(t, Config{Dir: dir, Namespace: "a"})
	wantBytes(t, get(t, a2, map[string]any{"k": 1}), []byte("in a"))
}

func TestPersistence(t *testing.T) {
	for _, md := range []string{"sqlite", "json"} {
		t.Run(md, func(t *testing.T) {
			dir := t.TempDir()
			c := must(Open(Config{Dir: dir, Metadata: md, InlineMaxBytes: ptr[int64](16)}))(t)
			put(t, c, map[string]any{"p": "small"}, []byte("tiny"), &PutOptions{Metadata: map[string]any{"x": 1}})
			put(t, c, map[string]any{"p": "large"}, bytes.Repeat([]byte("L"), 5000), nil)
			noErr(t, c.Close())
			c = openDir(t, Config{Dir: dir, Metadata: md})
			wantBytes(t, get(t, c, map[string]any{"p": "small"}), []byte("tiny"))
			wantBytes(t, get(t, c, map[string]any{"p": "large"}), bytes.Repeat([]byte("L"), 5000))
		})
	}
}

func TestOpenErrors(t *testing.T) {
	file := filepath.Join(t.TempDir(), "file")
	noErr(t, os.WriteFile(file, []byte("x"), 0o644))
	for _, tc := range []struct {
		name string
		cfg  Config
		want error
	}{
		{"no dir", Config{}, ErrInvalidArgument},
		{"unknown backend", Config{Dir: t.TempDir(), Metadata: "mongodb"}, ErrInvalidArgument},
		{"unknown blobs", Config{Dir: t.TempDir(), Blobs: "s3"}, ErrInvalidArgument},
		{"unknown key", Config{Dir: t.TempDir(), Extra: map[string]any{"colour": "blue"}}, ErrInvalidArgument},
		{"bad durability", Config{Dir: t.TempDir(), Durability: "maybe"}, ErrInvalidArgument},
		{"short signing key", Config{Dir: t.TempDir(), SigningKey: []byte("short")}, ErrInvalidArgument},
		{"negative ttl", Config{Dir: t.TempDir(), DefaultTTL: -time.Second}, ErrInvalidArgument},
		{"dir is a file", Config{Dir: file}, ErrIO},
	} {
		c, err := Open(tc.cfg)
		if c != nil {
			c.Close()
		}
		if !errors.Is(err, tc.want) {
			t.Errorf("%s: Open = %v, want %v", tc.name, err, tc.want)
		}
	}
	// Durability "full" works.
	c := openDir(t, Config{Durability: "full"})
	put(t, c, map[string]any{"d": "full"}, []byte("synced"), nil)
	wantBytes(t, get(t, c, map[string]any{"d": "full"}), []byte("synced"))
}

func TestSigning(t *testing.T) {
	dir := t.TempDir()
	key1 := bytes.Repeat([]byte{1}, 32)
	key2 := bytes.Repeat([]byte{2}, 32)
	c := must(Open(Config{Dir: dir, SigningKey: key1}))(t)
	put(t, c, map[string]any{"signed": 1}, []byte("trusted"), nil)
	wantBytes(t, get(t, c, map[string]any{"signed": 1}), []byte("trusted"))
	noErr(t, c.Close())
	// The key is never stored in the directory.
	filepath.Walk(dir, func(p string, fi os.FileInfo, err error) error {
		if err == nil && !fi.IsDir() {
			b, _ := os.ReadFile(p)
			if bytes.Contains(b, key1) || bytes.Contains(b, []byte(strings.Repeat("01", 32))) {
				t.Errorf("signing key found in %s", p)
			}
		}
		return nil
	})
	// Another key: the record does not verify, so its data is never returned.
	c2 := openDir(t, Config{Dir: dir, SigningKey: key2})
	if v := must(c2.Verify(nil))(t); v.OK || len(v.Issues) == 0 || v.Issues[0].Issue != "corrupted_signature" {
		t.Errorf("Verify with the wrong key = %+v, want a corrupted_signature issue", v)
	}
	data, found, err := c2.Get(map[string]any{"signed": 1})
	if data != nil || found || !errors.Is(err, ErrCorrupt) {
		t.Errorf("Get with the wrong signing key = (%q, %v, %v), want ErrCorrupt", data, found, err)
	}
}

// blobFile finds the file holding data in dir.
func blobFile(t *testing.T, dir string, data []byte) string {
	t.Helper()
	var found string
	filepath.Walk(dir, func(p string, fi os.FileInfo, err error) error {
		if err == nil && !fi.IsDir() && fi.Size() == int64(len(data)) {
			if b, _ := os.ReadFile(p); bytes.Equal(b, data) {
				found = p
			}
		}
		return nil
	})
	if found == "" {
		t.Fatalf("no file in %s holds the %d-byte blob", dir, len(data))
	}
	return found
}

func TestVerifyRepairOrphans(t *testing.T) {
	dir := t.TempDir()
	c := openDir(t, Config{Dir: dir, InlineMaxBytes: ptr[int64](0)})
	good := bytes.Repeat([]byte("good "), 100)
	tampered := bytes.Repeat([]byte("tamper"), 100)
	lost := bytes.Repeat([]byte("lost "), 120)
	put(t, c, map[string]any{"v": "good"}, good, nil)
	put(t, c, map[string]any{"v": "tampered"}, tampered, nil)
	put(t, c, map[string]any{"v": "lost"}, lost, nil)

	v := must(c.Verify(&VerifyOptions{Deep: true}))(t)
	if !v.OK || v.Checked != 3 || len(v.Issues) != 0 || len(v.Raw) == 0 {
		t.Fatalf("Verify(clean) = %+v", v)
	}
	if o := must(c.FindOrphans())(t); o.Count != 0 || len(o.Orphans) != 0 {
		t.Fatalf("FindOrphans(clean) = %s", o.Raw)
	}
	// Damage: same-size tampering (only a deep verify sees it), a missing
	// file, an orphan next to the real blobs (named as the library names
	// blobs: <key>.<16 hex>) and a leftover temporary file.
	tf := blobFile(t, dir, tampered)
	b := bytes.Clone(tampered)
	b[0] ^= 0xff
	noErr(t, os.WriteFile(tf, b, 0o644))
	noErr(t, os.Remove(blobFile(t, dir, lost)))
	gf := blobFile(t, dir, good)
	if base := filepath.Base(gf); len(base) != 81 || base[64] != '.' {
		t.Fatalf("unexpected blob file name %q", base)
	}
	orphan := gf[:len(gf)-16] + "0123456789abcdef"
	noErr(t, os.WriteFile(orphan, []byte("nobody's"), 0o644))
	blobRoot := filepath.Dir(filepath.Dir(filepath.Dir(gf)))
	temp := filepath.Join(blobRoot, "tmp", strings.Repeat("7", 32)+".tmp")
	noErr(t, os.WriteFile(temp, []byte("half-written"), 0o644))

	issues := func(r []Issue) map[string]string {
		m := map[string]string{}
		for _, i := range r {
			switch {
			case i.CacheKey != "":
				m[i.CacheKey] = i.Issue
			case i.Path != "":
				m[filepath.Base(i.Path)] = i.Issue
			}
		}
		return m
	}
	kTampered, kLost := must(Key(map[string]any{"v": "tampered"}))(t), must(Key(map[string]any{"v": "lost"}))(t)
	shallow := must(c.Verify(nil))(t)
	if si := issues(shallow.Issues); shallow.OK || si[kLost] != "missing_file" || si[kTampered] != "" {
		t.Errorf("shallow Verify = %s, want missing_file for the lost entry and nothing for the tampered one", shallow.Raw)
	}
	deep := must(c.Verify(&VerifyOptions{Deep: true}))(t)
	if di := issues(deep.Issues); deep.OK || deep.Checked != 3 || di[kLost] != "missing_file" || di[kTampered] != "hash_mismatch" || di[filepath.Base(orphan)] != "orphaned_file" {
		t.Errorf("deep Verify = %s, want missing_file, hash_mismatch and orphaned_file", deep.Raw)
	}

	orph := must(c.FindOrphans())(t)
	paths := map[string]Orphan{}
	for _, o := range orph.Orphans {
		paths[filepath.Base(o.Path)] = o
	}
	if orph.Count != 2 || orph.TotalSize != 8+12 || paths[filepath.Base(orphan)].Size != 8 || paths[filepath.Base(orphan)].Temporary || !paths[filepath.Base(temp)].Temporary {
		t.Errorf("FindOrphans = %s, want the orphan and the temporary file", orph.Raw)
	}

	// Dry run changes nothing.
	dry := must(c.Repair(&RepairOptions{DryRun: true}))(t)
	if !dry.DryRun || dry.OK || len(dry.Issues) != 4 || dry.RemovedEntries != 0 || dry.RemovedFiles != 0 {
		t.Errorf("Repair(dry run) = %s, want 4 issues and nothing removed", dry.Raw)
	}
	for _, i := range dry.Issues {
		if !strings.HasPrefix(i.Action, "would_") {
			t.Errorf("dry-run action %q", i.Action)
		}
	}
	for _, p := range []string{orphan, temp} {
		if _, err := os.Stat(p); err != nil {
			t.Errorf("dry run removed %s: %v", p, err)
		}
	}
	if must(c.Stats())(t).Entries != 3 {
		t.Error("dry run removed entries")
	}
	// With verify_on_read a corrupt entry is never returned, and reading it
	// removes it (for every handle).
	vr := openDir(t, Config{Dir: dir, VerifyOnRead: true})
	data, found, err := vr.Get(map[string]any{"v": "tampered"})
	if data != nil || found || !errors.Is(err, ErrCorrupt) {
		t.Errorf("Get(tampered) with VerifyOnRead = (%d bytes, %v, %v), want ErrCorrupt", len(data), found, err)
	}
	miss(t, vr, map[string]any{"v": "tampered"})
	miss(t, c, map[string]any{"v": "tampered"})
	wantBytes(t, get(t, vr, map[string]any{"v": "good"}), good)

	rep := must(c.Repair(nil))(t)
	if rep.DryRun || rep.OK || len(rep.Issues) != 3 || rep.RemovedEntries != 1 || rep.RemovedFiles != 2 {
		t.Errorf("Repair = %s, want the lost entry and 2 files removed", rep.Raw)
	}
	again := must(c.Repair(nil))(t)
	if !again.OK || len(again.Issues) != 0 || again.RemovedEntries+again.RemovedFiles != 0 {
		t.Errorf("second Repair = %s, want nothing to do", again.Raw)
	}
	if v := must(c.Verify(&VerifyOptions{Deep: true}))(t); !v.OK || v.Checked != 1 {
		t.Errorf("Verify after Repair = %s", v.Raw)
	}
	wantBytes(t, get(t, c, map[string]any{"v": "good"}), good)

	// Shallow repair options are accepted.
	if r := must(c.Repair(&RepairOptions{Shallow: true, DryRun: true}))(t); !r.OK {
		t.Errorf("shallow dry-run Repair of a clean cache = %s", r.Raw)
	}

	// CleanupOrphans.
	noErr(t, os.WriteFile(orphan, []byte("again"), 0o644))
	if n := must(c.CleanupOrphans())(t); n != 1 {
		t.Errorf("CleanupOrphans = %d, want 1", n)
	}
	if _, err := os.Stat(orphan); !os.IsNotExist(err) {
		t.Errorf("orphan still there: %v", err)
	}
	if n := must(c.CleanupOrphans())(t); n != 0 {
		t.Errorf("second CleanupOrphans = %d", n)
	}
	if o := must(c.FindOrphans())(t); o.Count != 0 {
		t.Errorf("FindOrphans after cleanup = %s", o.Raw)
	}
	wantBytes(t, get(t, c, map[string]any{"v": "good"}), good)
}

func TestExportImport(t *testing.T) {
	src := openDir(t, Config{})
	put(t, src, map[string]any{"e": 1}, []byte("one"), &PutOptions{DataType: "text", Metadata: map[string]any{"keep": true}})
	put(t, src, map[string]any{"e": 2}, bytes.Repeat([]byte{2}, 70000), &PutOptions{TTL: ExpireAfter(time.Hour)})
	put(t, src, map[string]any{"e": 3}, []byte("three"), &PutOptions{Metadata: map[string]any{"keep": false}})
	dir := t.TempDir()

	for _, tc := range []struct {
		name string
		opts *ExportOptions
	}{{"tar.gz", nil}, {"tar", &ExportOptions{Uncompressed: true}}} {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(dir, "export-"+tc.name)
			if n := must(src.Export(path, tc.opts))(t); n != 3 {
				t.Fatalf("Export = %d, want 3", n)
			}
			head := make([]byte, 2)
			f := must(os.Open(path))(t)
			f.Read(head)
			f.Close()
			if gz := head[0] == 0x1f && head[1] == 0x8b; gz != (tc.opts == nil) {
				t.Errorf("archive starts with %x, compressed = %v", head, gz)
			}
			dst := openDir(t, Config{})
			if n := must(dst.Import(path, nil))(t); n != 3 {
				t.Fatalf("Import = %d, want 3", n)
			}
			for i, want := range [][]byte{[]byte("one"), bytes.Repeat([]byte{2}, 70000), []byte("three")} {
				p := map[string]any{"e": i + 1}
				wantBytes(t, get(t, dst, p), want)
				ms, md := hit(src.GetMetadata(p))(t), hit(dst.GetMetadata(p))(t)
				if md.DataType != ms.DataType || md.ContentHash != ms.ContentHash || !reflect.DeepEqual(md.Metadata, ms.Metadata) || !md.ExpiresAt.Equal(ms.ExpiresAt) {
					t.Errorf("imported %v = %+v, exported %+v", p, md, ms)
				}
			}
			// Existing entries are kept unless Overwrite.
			put(t, dst, map[string]any{"e": 1}, []byte("changed"), nil)
			if n := must(dst.Import(path, nil))(t); n != 0 {
				t.Errorf("re-Import = %d, want 0", n)
			}
			wantBytes(t, get(t, dst, map[string]any{"e": 1}), []byte("changed"))
			if n := must(dst.Import(path, &ImportOptions{Overwrite: true}))(t); n != 3 {
				t.Errorf("Import(overwrite) = %d, want 3", n)
			}
			wantBytes(t, get(t, dst, map[string]any{"e": 1}), []byte("one"))
		})
	}
	// Filter.
	path := filepath.Join(dir, "filtered")
	if n := must(src.Export(path, &ExportOptions{Filter: map[string]any{"metadata": map[string]any{"keep": true}}}))(t); n != 1 {
		t.Errorf("Export(filter) = %d, want 1", n)
	}
	dst := openDir(t, Config{})
	if n := must(dst.Import(path, nil))(t); n != 1 {
		t.Errorf("Import(filtered) = %d, want 1", n)
	}
	get(t, dst, map[string]any{"e": 1})
	miss(t, dst, map[string]any{"e": 2})
	// Errors.
	_, err := dst.Import(filepath.Join(dir, "no-such-file"), nil)
	if err == nil {
		t.Error("Import(missing file) succeeded")
	}
	garbage := filepath.Join(dir, "garbage")
	noErr(t, os.WriteFile(garbage, []byte("not a tar file at all"), 0o644))
	if _, err := dst.Import(garbage, nil); err == nil {
		t.Error("Import(garbage) succeeded")
	}
	_, err = src.Export(filepath.Join(dir, "no", "such", "dir", "x.tar"), nil)
	wantErr(t, err, ErrIO)
	_, err = src.Export("bad\x00path", nil)
	wantErr(t, err, ErrInvalidArgument)
	_, err = src.Export(path, &ExportOptions{Filter: map[string]any{"bogus": 1}})
	wantErr(t, err, ErrInvalidArgument)
}

func TestExportImportJSON(t *testing.T) {
	src := openMem(t)
	put(t, src, map[string]any{"j": 1}, []byte{0, 1, 2, 255}, &PutOptions{Metadata: map[string]any{"sel": true}})
	put(t, src, map[string]any{"j": 2}, []byte("two"), nil)
	doc := must(src.ExportJSON(nil))(t)
	if !json.Valid(doc) {
		t.Fatalf("ExportJSON is not JSON: %.200s", doc)
	}
	dst := openDir(t, Config{})
	if n := must(dst.ImportJSON(doc, nil))(t); n != 2 {
		t.Fatalf("ImportJSON = %d, want 2", n)
	}
	wantBytes(t, get(t, dst, map[string]any{"j": 1}), []byte{0, 1, 2, 255})
	wantBytes(t, get(t, dst, map[string]any{"j": 2}), []byte("two"))
	if n := must(dst.ImportJSON(doc, nil))(t); n != 0 {
		t.Errorf("re-ImportJSON = %d, want 0", n)
	}
	if n := must(dst.ImportJSON(doc, &ImportOptions{Overwrite: true}))(t); n != 2 {
		t.Errorf("ImportJSON(overwrite) = %d, want 2", n)
	}
	sel := must(src.ExportJSON(map[string]any{"metadata": map[string]any{"sel": true}}))(t)
	dst2 := openMem(t)
	if n := must(dst2.ImportJSON(sel, nil))(t); n != 1 {
		t.Errorf("ImportJSON(filtered export) = %d, want 1", n)
	}
	// Entries that expired between export and import are skipped.
	ttl := openMem(t)
	put(t, ttl, map[string]any{"short": 1}, []byte("s"), &PutOptions{TTL: ExpireAfter(200 * time.Millisecond)})
	put(t, ttl, map[string]any{"long": 1}, []byte("l"), nil)
	doc2 := must(ttl.ExportJSON(nil))(t)
	eventually(t, 10*time.Second, "entry with a 200 ms TTL still there", func() bool {
		return !must(ttl.Exists(map[string]any{"short": 1}))(t)
	})
	dst3 := openMem(t)
	if n := must(dst3.ImportJSON(doc2, nil))(t); n != 1 {
		t.Errorf("ImportJSON with an expired entry = %d, want 1", n)
	}
	miss(t, dst3, map[string]any{"short": 1})
	get(t, dst3, map[string]any{"long": 1})

	_, err := dst2.ImportJSON([]byte("{not json"), nil)
	wantErr(t, err, ErrInvalidArgument)
	_, err = dst2.ImportJSON(doc, &ImportOptions{})
	noErr(t, err)
}

func TestErrorValues(t *testing.T) {
	sentinels := map[Code]error{
		CodeNotFound: ErrNotFound, CodeInvalidArgument: ErrInvalidArgument, CodeExists: ErrExists,
		CodeConflict: ErrConflict, CodeCorrupt: ErrCorrupt, CodeIO: ErrIO, CodeBackend: ErrBackend,
		CodeBusy: ErrBusy, CodeTooLarge: ErrTooLarge, CodePanic: ErrPanic,
	}
	for code := range sentinels {
		err := fmt.Errorf("wrapped: %w", &Error{Code: code, Message: "details"})
		for other, s2 := range sentinels {
			if errors.Is(err, s2) != (other == code) {
				t.Errorf("errors.Is(%v, %v) = %v", err, s2, !(other == code))
			}
		}
		var e *Error
		if !errors.As(err, &e) || e.Code != code || e.Message != "details" {
			t.Errorf("errors.As(%v) = %+v", err, e)
		}
		if !strings.Contains(err.Error(), code.String()) || !strings.Contains(err.Error(), "details") {
			t.Errorf("message %q lacks the code or the details", err)
		}
		if errors.Is(err, ErrClosed) {
			t.Errorf("%v is ErrClosed", err)
		}
	}
	if errors.Is(&Error{Code: CodeIO, Message: "a"}, &Error{Code: CodeIO, Message: "b"}) {
		t.Error("errors with different messages compare equal")
	}
	if Code(42).String() != "Code(42)" || CodeTooLarge.String() != "TOO_LARGE" {
		t.Error("Code.String")
	}
}

func TestPanicBoundary(t *testing.T) {
	err := testPanic()
	wantErr(t, err, ErrPanic)
	// And the library still works afterwards.
	c := openMem(t)
	put(t, c, map[string]any{"after": "panic"}, []byte("ok"), nil)
	get(t, c, map[string]any{"after": "panic"})
}

func TestClosed(t *testing.T) {
	c := must(Open(Config{Metadata: "memory", Blobs: "memory"}))(t)
	put(t, c, map[string]any{"x": 1}, []byte("x"), nil)
	noErr(t, c.Close())
	noErr(t, c.Close()) // idempotent
	p := map[string]any{"x": 1}
	errs := []error{}
	add := func(err error) { errs = append(errs, err) }
	_, err := c.Put(p, nil, nil)
	add(err)
	_, _, err = c.Get(p)
	add(err)
	_, _, _, err = c.GetWithMetadata(p)
	add(err)
	_, _, err = c.GetMetadata(p)
	add(err)
	_, err = c.Exists(p)
	add(err)
	_, err = c.Delete(p)
	add(err)
	_, err = c.Touch(p, TTL{})
	add(err)
	_, err = c.UpdateData(p, nil, nil)
	add(err)
	_, err = c.UpdateMetadata(p, nil)
	add(err)
	_, err = c.Copy(p, p, nil)
	add(err)
	_, err = c.Move(p, p, nil)
	add(err)
	_, err = c.List(nil, nil)
	add(err)
	for _, err := range c.ListAll(nil, nil) {
		add(err)
	}
	_, err = c.DeleteWhere(map[string]any{})
	add(err)
	_, err = c.DeleteMatching(nil, func(Metadata) bool { return true })
	add(err)
	_, err = c.TouchWhere(map[string]any{}, TTL{})
	add(err)
	_, err = c.UpdateMetadataWhere(map[string]any{}, nil)
	add(err)
	_, err = c.GetBatch([]map[string]any{p})
	add(err)
	add(c.PutBatch([]PutItem{{Params: p}}))
	_, err = c.DeleteBatch([]map[string]any{p})
	add(err)
	_, err = c.CleanupExpired()
	add(err)
	_, err = c.Clear()
	add(err)
	_, err = c.Stats()
	add(err)
	_, err = c.Verify(nil)
	add(err)
	_, err = c.Repair(nil)
	add(err)
	_, err = c.FindOrphans()
	add(err)
	_, err = c.CleanupOrphans()
	add(err)
	_, err = c.Export("x", nil)
	add(err)
	_, err = c.Import("x", nil)
	add(err)
	_, err = c.ExportJSON(nil)
	add(err)
	_, err = c.ImportJSON([]byte("{}"), nil)
	add(err)
	if len(errs) != 31 {
		t.Fatalf("collected %d errors", len(errs))
	}
	for i, err := range errs {
		if !errors.Is(err, ErrClosed) {
			t.Errorf("call %d after Close: %v, want ErrClosed", i, err)
		}
	}
}
