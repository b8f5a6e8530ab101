package cacheness

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// TestConcurrent uses one *Cache from 32 goroutines at once (run with -race):
// private entries must read back exactly, and a shared entry that everybody
// overwrites must always read as one whole value, never a mix or a miss.
func TestConcurrent(t *testing.T) {
	backends(t, func(t *testing.T, open func(Config) *Cache) {
		c := open(Config{})
		const workers, rounds = 32, 40
		shared := map[string]any{"shared": true}
		put(t, c, shared, bytes.Repeat([]byte{0}, 1000), nil)
		var wg sync.WaitGroup
		errs := make(chan error, workers)
		for w := range workers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				fail := func(format string, args ...any) {
					errs <- fmt.Errorf("worker %d: "+format, append([]any{w}, args...)...)
				}
				for i := range rounds {
					p := map[string]any{"worker": w, "round": i}
					data := bytes.Repeat([]byte{byte(w), byte(i)}, 100+w*10+i)
					if _, err := c.Put(p, data, &PutOptions{Metadata: map[string]any{"w": w}}); err != nil {
						fail("Put: %v", err)
						return
					}
					got, found, err := c.Get(p)
					if err != nil || !found || !bytes.Equal(got, data) {
						fail("Get(%v) = %d bytes, %v, %v", p, len(got), found, err)
						return
					}
					// The shared entry: value v is 1000+v bytes, all equal to v.
					v := byte(w)
					if _, err := c.Put(shared, bytes.Repeat([]byte{v}, 1000+int(v)), nil); err != nil {
						fail("Put(shared): %v", err)
						return
					}
					s, found, err := c.Get(shared)
					if err != nil || !found || len(s) < 1000 || len(s) != 1000+int(s[0]) || !bytes.Equal(s, bytes.Repeat(s[:1], len(s))) {
						fail("Get(shared) = %d bytes, %v, %v: a torn or missing value", len(s), found, err)
						return
					}
					switch i % 8 {
					case 0:
						if m, found, err := c.GetMetadata(p); err != nil || !found || m.Size != int64(len(data)) {
							fail("GetMetadata = %+v, %v, %v", m, found, err)
							return
						}
					case 1:
						if _, err := c.List(map[string]any{"params": map[string]any{"worker": w}}, &ListOptions{Limit: 5}); err != nil {
							fail("List: %v", err)
							return
						}
					case 2:
						if _, err := c.Stats(); err != nil {
							fail("Stats: %v", err)
							return
						}
					case 3:
						if ok, err := c.Touch(p, ExpireAfter(time.Hour)); err != nil || !ok {
							fail("Touch = %v, %v", ok, err)
							return
						}
					case 4:
						if _, err := c.UpdateMetadata(p, map[string]any{"round": i}); err != nil {
							fail("UpdateMetadata: %v", err)
							return
						}
					case 5:
						if items, err := c.GetBatch([]map[string]any{p, shared}); err != nil || len(items) != 2 || !items[0].Found {
							fail("GetBatch = %v, %v", items, err)
							return
						}
					case 6:
						if ok, err := c.Delete(p); err != nil || !ok {
							fail("Delete = %v, %v", ok, err)
							return
						}
						if ok, err := c.Exists(p); err != nil || ok {
							fail("Exists after Delete = %v, %v", ok, err)
							return
						}
					case 7:
						if _, err := c.UpdateData(p, data[:1], nil); err != nil {
							fail("UpdateData: %v", err)
							return
						}
					}
				}
			}()
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Error(err)
		}
		// Every worker deleted 5 of its 40 entries (rounds 6, 14, 22, 30, 38).
		if st := must(c.Stats())(t); st.Entries != workers*(rounds-5)+1 {
			t.Errorf("Stats.Entries = %d, want %d", st.Entries, workers*(rounds-5)+1)
		}
	})
}

// TestCloseWhileInUse closes a cache while other goroutines use it: calls
// either complete or return ErrClosed, never crash.
func TestCloseWhileInUse(t *testing.T) {
	c := must(Open(Config{Dir: t.TempDir()}))(t)
	var wg sync.WaitGroup
	var done atomic.Int64
	start := make(chan struct{})
	for w := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			for i := 0; ; i++ {
				p := map[string]any{"w": w, "i": i % 10}
				_, err := c.Put(p, []byte("data"), nil)
				if err == nil {
					_, _, err = c.Get(p)
				}
				done.Add(1)
				if errors.Is(err, ErrClosed) {
					return
				}
				if err != nil {
					t.Errorf("worker %d: %v", w, err)
					return
				}
			}
		}()
	}
	close(start)
	eventually(t, 30*time.Second, "workers made no progress", func() bool { return done.Load() >= 80 })
	noErr(t, c.Close())
	wg.Wait()
	noErr(t, c.Close())
}

// TestFinalizer drops open handles without Close: the finalizer closes them
// (nothing to observe but that nothing breaks, and the directory can be
// opened again).
func TestFinalizer(t *testing.T) {
	dir := t.TempDir()
	for i := range 5 {
		c, err := Open(Config{Dir: dir})
		noErr(t, err)
		_, err = c.Put(map[string]any{"i": i}, []byte("x"), nil)
		noErr(t, err)
		s, err := OpenStore(StoreConfig{Metadata: "memory", Blobs: "memory"})
		noErr(t, err)
		noErr(t, s.Put("a", []byte("x"), nil))
	}
	for range 3 {
		runtime.GC()
	}
	c := openDir(t, Config{Dir: dir})
	if n := must(c.Stats())(t).Entries; n != 5 {
		t.Errorf("%d entries, want 5", n)
	}
}

// TestSeveralHandlesAndProcesses writes to one directory through two handles
// in this process and through child processes at the same time (the C ABI
// allows several processes on one directory), then checks every entry.
func TestSeveralHandlesAndProcesses(t *testing.T) {
	dir := t.TempDir()
	const procs, perWriter = 2, 60
	var cmds []*exec.Cmd
	for p := range procs {
		cmd := exec.Command(os.Args[0], "-test.run=^TestHelperWriter$", "-test.count=1")
		cmd.Env = append(os.Environ(), "CACHENESS_HELPER_DIR="+dir, fmt.Sprintf("CACHENESS_HELPER_ID=proc%d", p), fmt.Sprintf("CACHENESS_HELPER_N=%d", perWriter))
		var out bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &out
		noErr(t, cmd.Start())
		cmds = append(cmds, cmd)
		t.Cleanup(func() {
			if t.Failed() {
				t.Logf("child %d output:\n%s", p, out.String())
			}
		})
	}
	var wg sync.WaitGroup
	for h := range 2 {
		c := openDir(t, Config{Dir: dir})
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := writeEntries(c, fmt.Sprintf("handle%d", h), perWriter); err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	for i, cmd := range cmds {
		if err := cmd.Wait(); err != nil {
			t.Errorf("child %d: %v", i, err)
		}
	}
	c := openDir(t, Config{Dir: dir})
	for _, w := range []string{"handle0", "handle1", "proc0", "proc1"} {
		for i := range perWriter {
			want := bytes.Repeat([]byte(w), 100+i)
			wantBytes(t, get(t, c, map[string]any{"writer": w, "i": i}), want)
		}
	}
	if st := must(c.Stats())(t); st.Entries != 4*perWriter {
		t.Errorf("Stats.Entries = %d, want %d", st.Entries, 4*perWriter)
	}
	if v := must(c.Verify(&VerifyOptions{Deep: true}))(t); !v.OK {
		t.Errorf("Verify = %s", v.Raw)
	}
}

func writeEntries(c *Cache, writer string, n int) error {
	for i := range n {
		p := map[string]any{"writer": writer, "i": i}
		data := bytes.Repeat([]byte(writer), 100+i)
		if _, err := c.Put(p, data, nil); err != nil {
			return fmt.Errorf("%s: Put %d: %w", writer, i, err)
		}
		got, found, err := c.Get(p)
		if err != nil || !found || !bytes.Equal(got, data) {
			return fmt.Errorf("%s: Get %d = %d bytes, %v, %v", writer, i, len(got), found, err)
		}
		if _, err := c.List(map[string]any{"params": map[string]any{"writer": writer}}, &ListOptions{Limit: 10}); err != nil {
			return fmt.Errorf("%s: List: %w", writer, err)
		}
	}
	return nil
}

// TestHelperWriter is the child process of TestSeveralHandlesAndProcesses
// (it does nothing in a normal run).
func TestHelperWriter(t *testing.T) {
	dir := os.Getenv("CACHENESS_HELPER_DIR")
	if dir == "" {
		return
	}
	n, _ := strconv.Atoi(os.Getenv("CACHENESS_HELPER_N"))
	c, err := Open(Config{Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := writeEntries(c, os.Getenv("CACHENESS_HELPER_ID"), n); err != nil {
		t.Fatal(err)
	}
}

// TestStoreConcurrent uses one *Store from 32 goroutines at once.
func TestStoreConcurrent(t *testing.T) {
	s := must(OpenStore(StoreConfig{Dir: t.TempDir()}))(t)
	defer s.Close()
	var wg sync.WaitGroup
	for w := range 32 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 20 {
				k := fmt.Sprintf("w%d/item%d", w, i)
				data := bytes.Repeat([]byte{byte(w)}, 50+i)
				if err := s.Put(k, data, map[string]any{"i": i}); err != nil {
					t.Errorf("Put(%s): %v", k, err)
					return
				}
				got, found, err := s.Get(k)
				if err != nil || !found || !bytes.Equal(got, data) {
					t.Errorf("Get(%s) = %d bytes, %v, %v", k, len(got), found, err)
					return
				}
				if i%5 == 4 {
					if ok, err := s.Move(k, k+"-moved", false); err != nil || !ok {
						t.Errorf("Move(%s) = %v, %v", k, ok, err)
						return
					}
				}
			}
			if page, err := s.List(fmt.Sprintf("w%d/", w), nil); err != nil || len(page.Entries) != 20 {
				t.Errorf("List(w%d/) = %d entries, %v", w, len(page.Entries), err)
			}
		}()
	}
	wg.Wait()
	if n := must(s.Clear())(t); n != 32*20 {
		t.Errorf("Clear = %d, want %d", n, 32*20)
	}
}
