package cacheness

import (
	"archive/tar"
	"bytes"
	"errors"
	"io"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// readTar returns the members of an uncompressed tar file.
func readTar(t *testing.T, path string) ([]*tar.Header, [][]byte) {
	t.Helper()
	f := must(os.Open(path))(t)
	defer f.Close()
	tr := tar.NewReader(f)
	var hdrs []*tar.Header
	var bodies [][]byte
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return hdrs, bodies
		}
		noErr(t, err)
		hdrs = append(hdrs, h)
		bodies = append(bodies, must(io.ReadAll(tr))(t))
	}
}

func writeTar(t *testing.T, path string, hdrs []*tar.Header, bodies [][]byte) {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for i, h := range hdrs {
		h2 := *h
		if h2.Typeflag == tar.TypeReg {
			h2.Size = int64(len(bodies[i]))
		}
		noErr(t, tw.WriteHeader(&h2))
		if h2.Typeflag == tar.TypeReg {
			must(tw.Write(bodies[i]))(t)
		}
	}
	noErr(t, tw.Close())
	noErr(t, os.WriteFile(path, buf.Bytes(), 0o644))
}

// TestImportHostile feeds Import archives that were tampered with: a blob
// whose bytes do not match its hash, member names that would escape the
// cache directory, and links. Each must be refused, import nothing and
// write nothing outside the cache.
func TestImportHostile(t *testing.T) {
	src := openDir(t, Config{})
	put(t, src, map[string]any{"h": 1}, []byte("first value"), nil)
	put(t, src, map[string]any{"h": 2}, bytes.Repeat([]byte("second "), 50), nil)
	work := t.TempDir()
	clean := filepath.Join(work, "clean.tar")
	if n := must(src.Export(clean, &ExportOptions{Uncompressed: true}))(t); n != 2 {
		t.Fatalf("Export = %d", n)
	}
	hdrs, bodies := readTar(t, clean)
	if len(hdrs) < 3 || hdrs[0].Name != "manifest.json" {
		names := []string{}
		for _, h := range hdrs {
			names = append(names, h.Name)
		}
		t.Fatalf("archive members %v, want manifest.json first and the blobs", names)
	}
	blob := -1
	for i := range hdrs {
		if bytes.Equal(bodies[i], []byte("first value")) {
			blob = i
		}
	}
	if blob < 0 {
		t.Fatal("no member holds the first value")
	}
	// The untouched archive round-trips (after rewriting it with Go's tar writer).
	same := filepath.Join(work, "same.tar")
	writeTar(t, same, hdrs, bodies)
	if n := must(openDir(t, Config{}).Import(same, nil))(t); n != 2 {
		t.Fatalf("Import of the rewritten clean archive = %d, want 2", n)
	}

	evil := filepath.Join(work, "evil")
	cases := map[string]func() ([]*tar.Header, [][]byte){
		"tampered blob": func() ([]*tar.Header, [][]byte) {
			b := append([][]byte{}, bodies...)
			b[blob] = []byte("FIRST value")
			return hdrs, b
		},
		"dot-dot member": func() ([]*tar.Header, [][]byte) {
			return append(append([]*tar.Header{}, hdrs...), &tar.Header{Name: "../evil", Typeflag: tar.TypeReg, Mode: 0o644, ModTime: time.Now()}),
				append(append([][]byte{}, bodies...), []byte("escaped"))
		},
		"absolute member": func() ([]*tar.Header, [][]byte) {
			return append(append([]*tar.Header{}, hdrs...), &tar.Header{Name: evil, Typeflag: tar.TypeReg, Mode: 0o644, ModTime: time.Now()}),
				append(append([][]byte{}, bodies...), []byte("escaped"))
		},
		"symlink member": func() ([]*tar.Header, [][]byte) {
			h := append([]*tar.Header{}, hdrs...)
			h2 := *h[blob]
			h2.Typeflag, h2.Linkname, h2.Size = tar.TypeSymlink, evil, 0
			h[blob] = &h2
			return h, bodies
		},
		"hard link member": func() ([]*tar.Header, [][]byte) {
			h := append([]*tar.Header{}, hdrs...)
			h2 := *h[blob]
			h2.Typeflag, h2.Linkname, h2.Size = tar.TypeLink, "manifest.json", 0
			h[blob] = &h2
			return h, bodies
		},
		"missing blob": func() ([]*tar.Header, [][]byte) {
			h := append(append([]*tar.Header{}, hdrs[:blob]...), hdrs[blob+1:]...)
			b := append(append([][]byte{}, bodies[:blob]...), bodies[blob+1:]...)
			return h, b
		},
	}
	for name, mk := range cases {
		t.Run(name, func(t *testing.T) {
			h, b := mk()
			path := filepath.Join(work, "hostile.tar")
			writeTar(t, path, h, b)
			dst := openDir(t, Config{})
			n, err := dst.Import(path, nil)
			var e *Error
			if err == nil || !errors.As(err, &e) {
				t.Errorf("Import = %d, %v: want an *Error", n, err)
			}
			if st := must(dst.Stats())(t); st.Entries != 0 {
				t.Errorf("a refused import left %d entries", st.Entries)
			}
			if _, err := os.Stat(evil); !os.IsNotExist(err) {
				t.Errorf("the archive wrote %s", evil)
				os.Remove(evil)
			}
		})
	}
}
