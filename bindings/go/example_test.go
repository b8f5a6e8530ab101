package cacheness_test

import (
	"errors"
	"fmt"
	"log"
	"os"
	"time"

	cacheness "github.com/cacheness/cacheness/bindings/go"
)

func Example() {
	dir, err := os.MkdirTemp("", "cacheness-example")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)

	c, err := cacheness.Open(cacheness.Config{Dir: dir})
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close()

	params := map[string]any{"experiment": "exp_001"}
	key, err := c.Put(params, []byte("model weights"), &cacheness.PutOptions{
		TTL:      cacheness.ExpireAfter(24 * time.Hour),
		DataType: "bytes",
		Metadata: map[string]any{"project": "ml"},
	})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("key:", key)

	data, found, err := c.Get(params)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("hit: %v %q\n", found, data)

	// A miss is not an error.
	data, found, err = c.Get(map[string]any{"experiment": "exp_002"})
	fmt.Println("miss:", data == nil, found, err)
	// Output:
	// key: 5034791a8023b8a2b25628bf08d316f060f17e2ca6c1a700463bcbcc39f146c7
	// hit: true "model weights"
	// miss: true false <nil>
}

func ExampleKey() {
	key, err := cacheness.Key(map[string]any{"experiment": "exp_001"})
	fmt.Println(key, err)
	// Output: 5034791a8023b8a2b25628bf08d316f060f17e2ca6c1a700463bcbcc39f146c7 <nil>
}

func ExampleCache_GetMetadata() {
	c, err := cacheness.Open(cacheness.Config{Metadata: "memory", Blobs: "memory"})
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close()

	params := map[string]any{"model": "resnet", "epochs": 10}
	c.Put(params, []byte("0123456789"), &cacheness.PutOptions{DataType: "weights", Metadata: map[string]any{"acc": 0.91}})
	m, found, err := c.GetMetadata(params)
	if err != nil || !found {
		log.Fatal(found, err)
	}
	fmt.Println(m.DataType, m.Size, m.Version, m.Metadata["acc"], m.Expires())
	// Output: weights 10 1 0.91 false
}

func ExampleCache_UpdateData() {
	c, err := cacheness.Open(cacheness.Config{Metadata: "memory", Blobs: "memory"})
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close()

	params := map[string]any{"doc": "readme"}
	c.Put(params, []byte("v1"), nil)
	m, _, _ := c.GetMetadata(params)

	// Update only if nobody changed the entry since we read version m.Version.
	ok, err := c.UpdateData(params, []byte("v2"), &cacheness.UpdateDataOptions{ExpectedVersion: m.Version})
	fmt.Println("first update:", ok, err)
	_, err = c.UpdateData(params, []byte("v2 again"), &cacheness.UpdateDataOptions{ExpectedVersion: m.Version})
	fmt.Println("stale update conflicts:", errors.Is(err, cacheness.ErrConflict))
	// Output:
	// first update: true <nil>
	// stale update conflicts: true
}

func ExampleCache_ListAll() {
	c, err := cacheness.Open(cacheness.Config{Metadata: "memory", Blobs: "memory"})
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close()

	for i := range 5 {
		c.Put(map[string]any{"run": fmt.Sprintf("run_%d", i)}, []byte{byte(i)}, nil)
	}
	// Every entry whose params.run starts with "run_", two per page.
	filter := map[string]any{"params": map[string]any{"run": map[string]any{"$prefix": "run_"}}}
	n := 0
	for m, err := range c.ListAll(filter, &cacheness.ListOptions{Limit: 2}) {
		if err != nil {
			log.Fatal(err)
		}
		n += int(m.Size)
	}
	fmt.Println("entries:", n)
	// Output: entries: 5
}

func ExampleCache_DeleteMatching() {
	c, err := cacheness.Open(cacheness.Config{Metadata: "memory", Blobs: "memory"})
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close()

	for i := range 6 {
		c.Put(map[string]any{"n": i}, []byte("x"), nil)
	}
	deleted, err := c.DeleteMatching(nil, func(m cacheness.Metadata) bool {
		return int(m.Params["n"].(float64))%2 == 1 // numbers in params decode as float64
	})
	fmt.Println("deleted:", deleted, err)
	// Output: deleted: 3 <nil>
}

func ExampleStore() {
	s, err := cacheness.OpenStore(cacheness.StoreConfig{Metadata: "memory", Blobs: "memory"})
	if err != nil {
		log.Fatal(err)
	}
	defer s.Close()

	s.Put("old_models/model_v1", []byte("weights"), map[string]any{"accuracy": 0.9})
	s.Put("old_models/model_v2", []byte("better weights"), nil)
	data, found, _ := s.Get("old_models/model_v1")
	fmt.Printf("%q %v\n", data, found)
	n, _ := s.DeleteByPrefix("old_models/")
	fmt.Println("deleted:", n)
	// Output:
	// "weights" true
	// deleted: 2
}
