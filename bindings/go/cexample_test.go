package cacheness

import (
	"os/exec"
	"path/filepath"
	"reflect"
	"testing"
)

// TestReadsCacheWrittenByC builds the C example (bindings/c, see TEAM-NOTES
// "Shared fixture"), runs it on a fresh directory, and reads what it left
// there from Go: the same bytes and metadata. If the example cannot be built
// or run, this test fails: it never skips.
func TestReadsCacheWrittenByC(t *testing.T) {
	build := exec.Command("make", "-C", "../c", "example")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("make -C ../c example: %v\n%s", err, out)
	}
	example, err := filepath.Abs("../c/build/example")
	noErr(t, err)
	dir := t.TempDir()
	run := exec.Command(example, dir)
	out, err := run.CombinedOutput()
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", example, dir, err, out)
	}
	t.Logf("C example output:\n%s", out)

	c := openDir(t, Config{Dir: dir})
	writer := map[string]any{"writer": "c-example"}

	greeting := map[string]any{"example": "greeting"}
	data, m, found, err := c.GetWithMetadata(greeting)
	if err != nil || !found {
		t.Fatalf("GetWithMetadata(greeting) = %v, %v", found, err)
	}
	wantBytes(t, data, []byte("hello, cacheness"))
	if m.CacheKey != must(Key(greeting))(t) || !reflect.DeepEqual(m.Params, greeting) ||
		m.DataType != "text" || m.Size != 16 || m.ContentHash != contentHash(data) ||
		!reflect.DeepEqual(m.Metadata, writer) || m.Expires() {
		t.Errorf("greeting metadata = %+v", m)
	}

	big := map[string]any{"example": "big"}
	want := make([]byte, 100000)
	for i := range want {
		want[i] = byte(i % 251)
	}
	data, m, found, err = c.GetWithMetadata(big)
	if err != nil || !found {
		t.Fatalf("GetWithMetadata(big) = %v, %v", found, err)
	}
	wantBytes(t, data, want)
	if m.CacheKey != must(Key(big))(t) || m.Size != 100000 || m.ContentHash != contentHash(want) ||
		!reflect.DeepEqual(m.Metadata, writer) || m.Expires() {
		t.Errorf("big metadata = %+v", m)
	}

	if v := must(c.Verify(&VerifyOptions{Deep: true}))(t); !v.OK {
		t.Errorf("Verify of the C-written cache = %+v", v)
	}
}
