package cacheness

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"testing"
	"time"
)

// openDir opens a SQLite + files cache in a fresh temporary directory.
func openDir(t testing.TB, cfg Config) *Cache {
	t.Helper()
	if cfg.Dir == "" {
		cfg.Dir = t.TempDir()
	}
	c, err := Open(cfg)
	if err != nil {
		t.Fatalf("Open(%+v): %v", cfg, err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// openMem opens an in-memory cache.
func openMem(t testing.TB) *Cache {
	t.Helper()
	c, err := Open(Config{Metadata: "memory", Blobs: "memory"})
	if err != nil {
		t.Fatalf("Open(memory): %v", err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// backends runs f against the default SQLite + files cache and an in-memory one.
func backends(t *testing.T, f func(t *testing.T, open func(Config) *Cache)) {
	t.Run("sqlite", func(t *testing.T) {
		f(t, func(cfg Config) *Cache { return openDir(t, cfg) })
	})
	t.Run("memory", func(t *testing.T) {
		f(t, func(cfg Config) *Cache {
			cfg.Metadata, cfg.Blobs = "memory", "memory"
			c, err := Open(cfg)
			if err != nil {
				t.Fatalf("Open(memory): %v", err)
			}
			t.Cleanup(func() { c.Close() })
			return c
		})
	})
}

// must(f())(t) returns f's value, failing the test if f returned an error.
func must[T any](v T, err error) func(testing.TB) T {
	return func(t testing.TB) T {
		t.Helper()
		if err != nil {
			t.Fatalf("unexpected error: %v", err)
		}
		return v
	}
}

// hit(f())(t) returns the value of a lookup, failing the test on an error or
// a miss.
func hit[T any](v T, ok bool, err error) func(testing.TB) T {
	return func(t testing.TB) T {
		t.Helper()
		if err != nil {
			t.Fatalf("unexpected error: %v", err)
		}
		if !ok {
			t.Fatalf("unexpected miss")
		}
		return v
	}
}

func noErr(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatalf("unexpected error: %v", err)
	}
}

// wantErr checks that err matches the sentinel (and is an *Error with a message).
func wantErr(t testing.TB, err error, sentinel error) {
	t.Helper()
	if err == nil {
		t.Fatalf("got no error, want %v", sentinel)
	}
	if !errors.Is(err, sentinel) {
		t.Fatalf("got %v, want errors.Is(err, %v)", err, sentinel)
	}
	var e *Error
	if errors.As(err, &e) && e.Message == "" && sentinel != ErrClosed {
		t.Errorf("error %v has an empty message", err)
	}
}

// get is a Get that must hit.
func get(t testing.TB, c *Cache, params map[string]any) []byte {
	t.Helper()
	data, found, err := c.Get(params)
	if err != nil {
		t.Fatalf("Get(%v): %v", params, err)
	}
	if !found {
		t.Fatalf("Get(%v): miss, want a hit", params)
	}
	return data
}

// miss checks that Get misses in the documented way.
func miss(t testing.TB, c *Cache, params map[string]any) {
	t.Helper()
	data, found, err := c.Get(params)
	if err != nil || found || data != nil {
		t.Fatalf("Get(%v) = (%q, %v, %v), want (nil, false, nil)", params, data, found, err)
	}
}

func put(t testing.TB, c *Cache, params map[string]any, data []byte, opts *PutOptions) string {
	t.Helper()
	key, err := c.Put(params, data, opts)
	if err != nil {
		t.Fatalf("Put(%v): %v", params, err)
	}
	return key
}

func wantBytes(t testing.TB, got, want []byte) {
	t.Helper()
	if !bytes.Equal(got, want) {
		if len(got) > 64 || len(want) > 64 {
			t.Fatalf("data differs: got %d bytes, want %d bytes", len(got), len(want))
		}
		t.Fatalf("data = %q, want %q", got, want)
	}
}

func contentHash(data []byte) string {
	h := sha256.Sum256(data)
	return "sha256:" + hex.EncodeToString(h[:])
}

// eventually polls cond every 25 ms until it returns true or the deadline
// passes (then the test fails with msg).
func eventually(t testing.TB, within time.Duration, msg string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		if cond() {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("not within %v: %s", within, msg)
		}
		time.Sleep(25 * time.Millisecond)
	}
}

func near(t testing.TB, name string, got, lo, hi time.Time) {
	t.Helper()
	// The library stores milliseconds: allow for truncation and rounding.
	lo, hi = lo.Add(-time.Second), hi.Add(time.Second)
	if got.Before(lo) || got.After(hi) {
		t.Errorf("%s = %v, want between %v and %v", name, got, lo, hi)
	}
}

func ptr[T any](v T) *T { return &v }
