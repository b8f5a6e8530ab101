package cacheness

import (
	"fmt"
	"testing"
)

// The benchmarks use the default backends (SQLite + files) in a temporary
// directory, with 4 KiB values.

func BenchmarkGet4K(b *testing.B) {
	c := openDir(b, Config{})
	data := make([]byte, 4096)
	const n = 100
	for i := range n {
		put(b, c, map[string]any{"bench": "get", "i": i}, data, nil)
	}
	params := make([]map[string]any, n)
	for i := range params {
		params[i] = map[string]any{"bench": "get", "i": i}
	}
	b.SetBytes(4096)
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		d, found, err := c.Get(params[i%n])
		if err != nil || !found || len(d) != 4096 {
			b.Fatalf("Get = %d bytes, %v, %v", len(d), found, err)
		}
		i++
	}
}

func BenchmarkGet4KParallel(b *testing.B) {
	c := openDir(b, Config{})
	data := make([]byte, 4096)
	put(b, c, map[string]any{"bench": "parallel"}, data, nil)
	b.SetBytes(4096)
	b.RunParallel(func(pb *testing.PB) {
		p := map[string]any{"bench": "parallel"}
		for pb.Next() {
			if d, found, err := c.Get(p); err != nil || !found || len(d) != 4096 {
				panic(fmt.Sprint("Get: ", len(d), found, err))
			}
		}
	})
}

func BenchmarkPut4K(b *testing.B) {
	c := openDir(b, Config{})
	data := make([]byte, 4096)
	b.SetBytes(4096)
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		// 1000 distinct keys, overwritten in turn: the cache size stays bounded.
		if _, err := c.Put(map[string]any{"bench": "put", "i": i % 1000}, data, nil); err != nil {
			b.Fatal(err)
		}
		i++
	}
}

// BenchmarkGet4KMemory is BenchmarkGet4K on the in-memory backends: close to
// the cost of the binding and the C ABI themselves.
func BenchmarkGet4KMemory(b *testing.B) {
	c := openMem(b)
	p := map[string]any{"bench": "memory"}
	put(b, c, p, make([]byte, 4096), nil)
	b.SetBytes(4096)
	b.ReportAllocs()
	for b.Loop() {
		if d, found, err := c.Get(p); err != nil || !found || len(d) != 4096 {
			b.Fatalf("Get = %d bytes, %v, %v", len(d), found, err)
		}
	}
}

// BenchmarkKey measures params encoding plus key derivation through the C ABI.
func BenchmarkKey(b *testing.B) {
	p := map[string]any{"experiment": "exp_001", "epochs": 10, "lr": 0.001}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Key(p); err != nil {
			b.Fatal(err)
		}
	}
}
