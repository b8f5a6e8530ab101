// Command stressworker is the Go worker of the cacheness multi-process stress
// test (stress/run.py starts C, Go and Node workers on one directory).
//
//	stressworker DIR WORKER_ID SECONDS SEED
//
// For SECONDS it does a random mix of operations on 64 params shared with
// every other worker ({"stress": k}) and on one private entry ({"own":
// "w<ID>"}) that only this worker writes. Every value carries its own header
// (magic, writer, incarnation, sequence number, total length, CRC-32 of the
// payload and of the header; see stress/README.md) and every read checks it:
// a read is a miss or a whole, self-consistent value. On the private entry it
// also checks read-your-writes, versions, and that a stale expected_version
// gets CONFLICT. Every 2-8 s it runs one maintenance call (verify, repair,
// find/cleanup orphans) while the others write.
//
// Allowed errors: CONFLICT (update_data with expected_version), EXISTS
// (copy/move without overwrite), BUSY only after the 30 s busy timeout. Any
// other error, or a failed check, is printed to stderr as a line starting with
// "FAIL". At the end it prints one JSON summary line and exits 1 if anything
// failed. With CACHENESS_STRESS_PROGRESS set it prints {"progress": {...}}
// lines about once a second.
package main

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"hash/crc32"
	"math/rand/v2"
	"os"
	"strconv"
	"time"

	cacheness "github.com/cacheness/cacheness/bindings/go"
)

const (
	sharedKeys       = 64
	headerLen        = 48
	maxValue         = 200 * 1024
	busyAllowedAfter = 29 * time.Second // the documented busy timeout is 30 s
	runtimeCode      = 2                // 1 = C, 2 = Go, 3 = Node
)

var magic = []byte("CNSTRESS")

var opNames = []string{"get", "get_meta", "get_batch", "put", "touch", "update", "update_v",
	"delete", "delete_where", "copy", "move", "own", "list", "exists", "put_batch", "delete_batch",
	"update_meta", "touch_where", "maint"}

// maint has weight 0: it runs on a timer (every 2-8 s), see main.
var opWeights = []int{18, 8, 3, 15, 6, 6, 8, 5, 2, 6, 6, 10, 2, 2, 3, 2, 3, 1, 0}

type counts struct {
	Ops          map[string]uint64 `json:"ops"`
	TotalOps     uint64            `json:"total_ops"`
	Hits         uint64            `json:"hits"`
	Misses       uint64            `json:"misses"`
	Conflicts    uint64            `json:"conflicts"`
	Exists       uint64            `json:"exists"`
	Absent       uint64            `json:"absent"`
	StaleABA     uint64            `json:"stale_aba"`
	BusyTimeouts uint64            `json:"busy_timeouts"`
	Errors       uint64            `json:"errors"`
	Failures     uint64            `json:"failures"`
}

type worker struct {
	c           *cacheness.Cache
	id          uint32
	incarnation uint32
	seq         uint64
	rng         *rand.Rand
	st          counts
	op          string
	key         int
	started     time.Time
	buf         []byte

	ownSeq   uint64 // sequence number that must be in the private entry; 0: none
	ownVer   int64  // its version; 0: not known (after a put)
	ownKnown bool   // false after a write whose outcome is unknown (an error)
}

func shared(k int) map[string]any { return map[string]any{"stress": k} }

func (w *worker) own() map[string]any { return map[string]any{"own": fmt.Sprintf("w%d", w.id)} }

func (w *worker) fail(format string, args ...any) {
	w.st.Failures++
	if w.st.Failures > 50 {
		return
	}
	fmt.Fprintf(os.Stderr, "FAIL go worker %d op=%s key=%d: %s\n", w.id, w.op, w.key, fmt.Sprintf(format, args...))
}

// check judges an error: nil -> "", CONFLICT/EXISTS when allowed -> "CONFLICT"/"EXISTS",
// anything else -> "ERR" (a failure unless it is BUSY after the busy timeout).
func (w *worker) check(err error, allowConflict, allowExists bool) string {
	if err == nil {
		return ""
	}
	took := time.Since(w.started)
	var ce *cacheness.Error
	if errors.As(err, &ce) {
		switch {
		case ce.Code == cacheness.CodeConflict && allowConflict:
			w.st.Conflicts++
			return "CONFLICT"
		case ce.Code == cacheness.CodeExists && allowExists:
			w.st.Exists++
			return "EXISTS"
		case ce.Code == cacheness.CodeBusy && took >= busyAllowedAfter:
			w.st.BusyTimeouts++
			return "ERR"
		}
	}
	w.st.Errors++
	w.fail("unexpected error after %.3f s: %v", took.Seconds(), err)
	return "ERR"
}

func (w *worker) randomSize() int {
	r := w.rng.IntN(100)
	switch {
	case r < 45:
		return headerLen + w.rng.IntN(4096-headerLen)
	case r < 65:
		return 4096 + w.rng.IntN(16384-4096+1)
	case r < 70:
		return 16383 + w.rng.IntN(3)
	}
	return 16385 + w.rng.IntN(maxValue-16385+1)
}

// makeValue returns a new value (a slice of w.buf, valid until the next call) and its seq.
func (w *worker) makeValue() ([]byte, uint64) {
	n := w.randomSize()
	p := w.buf[:n]
	for i := headerLen; i < n; i += 8 {
		var b [8]byte
		binary.LittleEndian.PutUint64(b[:], w.rng.Uint64())
		copy(p[i:], b[:])
	}
	w.seq++
	copy(p, magic)
	binary.LittleEndian.PutUint32(p[8:], w.id)
	binary.LittleEndian.PutUint32(p[12:], w.incarnation)
	binary.LittleEndian.PutUint64(p[16:], w.seq)
	binary.LittleEndian.PutUint64(p[24:], uint64(n))
	binary.LittleEndian.PutUint32(p[32:], crc32.ChecksumIEEE(p[headerLen:]))
	binary.LittleEndian.PutUint32(p[36:], runtimeCode)
	binary.LittleEndian.PutUint32(p[40:], 0)
	binary.LittleEndian.PutUint32(p[44:], crc32.ChecksumIEEE(p[:44]))
	return p, w.seq
}

type origin struct {
	writer, incarnation uint32
	seq                 uint64
}

// checkValue returns "" if d is a whole, self-consistent value, else what is wrong.
func checkValue(d []byte) (string, origin) {
	var o origin
	switch {
	case len(d) < headerLen:
		return "shorter than a header", o
	case !bytes.Equal(d[:8], magic):
		return "bad magic", o
	case binary.LittleEndian.Uint32(d[44:]) != crc32.ChecksumIEEE(d[:44]):
		return "header checksum mismatch", o
	case binary.LittleEndian.Uint64(d[24:]) != uint64(len(d)):
		return "length differs from the one in the header (torn or truncated)", o
	case binary.LittleEndian.Uint32(d[32:]) != crc32.ChecksumIEEE(d[headerLen:]):
		return "payload checksum mismatch", o
	}
	o.writer = binary.LittleEndian.Uint32(d[8:])
	o.incarnation = binary.LittleEndian.Uint32(d[12:])
	o.seq = binary.LittleEndian.Uint64(d[16:])
	return "", o
}

func (w *worker) readShared(d []byte) {
	if bad, _ := checkValue(d); bad != "" {
		w.fail("read returned a bad value (%d bytes): %s", len(d), bad)
	}
}

func sameParams(got map[string]any, want map[string]any) bool {
	a, _ := json.Marshal(got)
	b, _ := json.Marshal(want)
	return bytes.Equal(a, b)
}

func (w *worker) checkMetadata(m *cacheness.Metadata, d []byte, params map[string]any) {
	if m.Size != int64(len(d)) {
		w.fail("metadata size %d differs from data length %d", m.Size, len(d))
	}
	sum := sha256.Sum256(d)
	if want := "sha256:" + hex.EncodeToString(sum[:]); m.ContentHash != want {
		w.fail("metadata content_hash %s is not the hash of the data returned (%s)", m.ContentHash, want)
	}
	if !sameParams(m.Params, params) {
		w.fail("metadata params %v are not %v", m.Params, params)
	}
}

func (w *worker) get(k int) {
	d, found, err := w.c.Get(shared(k))
	if w.check(err, false, false) != "" {
		return
	}
	if found {
		w.st.Hits++
		w.readShared(d)
	} else {
		w.st.Misses++
	}
}

func (w *worker) getMeta(k int) {
	d, m, found, err := w.c.GetWithMetadata(shared(k))
	if w.check(err, false, false) != "" {
		return
	}
	if !found {
		w.st.Misses++
		return
	}
	w.st.Hits++
	w.readShared(d)
	w.checkMetadata(m, d, shared(k))
}

func (w *worker) getBatch() {
	ps := make([]map[string]any, 4)
	keys := make([]int, 4)
	for i := range ps {
		keys[i] = w.rng.IntN(sharedKeys)
		ps[i] = shared(keys[i])
	}
	items, err := w.c.GetBatch(ps)
	if w.check(err, false, false) != "" {
		return
	}
	if len(items) != 4 {
		w.fail("batch of 4 selectors has %d items", len(items))
	}
	for i, it := range items {
		if it.Found {
			w.st.Hits++
			w.key = keys[i]
			w.readShared(it.Data)
		} else {
			w.st.Misses++
		}
	}
}

func (w *worker) put(k int) {
	d, _ := w.makeValue()
	_, err := w.c.Put(shared(k), d, &cacheness.PutOptions{Metadata: map[string]any{"w": w.id, "rt": "go"}})
	w.check(err, false, false)
}

func (w *worker) touch(k int) {
	ttl := cacheness.NeverExpire
	if w.rng.IntN(2) == 0 {
		ttl = cacheness.ExpireAfter(24 * time.Hour)
	}
	found, err := w.c.Touch(shared(k), ttl)
	if w.check(err, false, false) == "" && !found {
		w.st.Absent++
	}
}

func (w *worker) update(k int) {
	d, _ := w.makeValue()
	ok, err := w.c.UpdateData(shared(k), d, nil)
	if w.check(err, false, false) == "" && !ok {
		w.st.Absent++
	}
}

// updateV: update_data with the version just read (OK, CONFLICT or absent), then again with
// the now stale version (CONFLICT or absent; success only if the entry was deleted and
// re-created up to that version meanwhile: counted as stale_aba, not a failure).
func (w *worker) updateV(k int) {
	m, found, err := w.c.GetMetadata(shared(k))
	if w.check(err, false, false) != "" {
		return
	}
	if !found {
		w.st.Absent++
		return
	}
	if m.Version < 1 {
		w.fail("metadata without a valid version: %d", m.Version)
		return
	}
	d, _ := w.makeValue()
	opts := &cacheness.UpdateDataOptions{ExpectedVersion: m.Version}
	ok, err := w.c.UpdateData(shared(k), d, opts)
	if r := w.check(err, true, false); r != "" || !ok {
		if r == "" {
			w.st.Absent++
		}
		return
	}
	d, _ = w.makeValue()
	w.started = time.Now()
	ok, err = w.c.UpdateData(shared(k), d, opts)
	if w.check(err, true, false) == "" {
		if ok {
			w.st.StaleABA++
			fmt.Fprintf(os.Stderr, "NOTE go worker %d key=%d: stale expected_version %d accepted (entry re-created meanwhile)\n", w.id, k, m.Version)
		} else {
			w.st.Absent++
		}
	}
}

func (w *worker) del(k int) {
	ok, err := w.c.Delete(shared(k))
	if w.check(err, false, false) == "" && !ok {
		w.st.Absent++
	}
}

func (w *worker) deleteWhere() {
	var f map[string]any
	r := func() int { return w.rng.IntN(sharedKeys) }
	switch w.rng.IntN(4) {
	case 0:
		f = map[string]any{"params": map[string]any{"stress": r()}}
	case 1:
		f = map[string]any{"params": map[string]any{"stress": map[string]any{"$in": []any{r(), r(), r()}}}}
	case 2:
		f = map[string]any{"key_prefix": fmt.Sprintf("%x%x", w.rng.IntN(16), w.rng.IntN(16)),
			"params": map[string]any{"stress": map[string]any{"$exists": true}}}
	default:
		f = map[string]any{"params": map[string]any{"stress": map[string]any{"$in": []any{r(), r()}}},
			"min_size": 16385}
	}
	_, err := w.c.DeleteWhere(f)
	w.check(err, false, false)
}

func (w *worker) copyMove(k int, move bool) {
	d := w.rng.IntN(sharedKeys - 1)
	if d >= k {
		d++
	}
	var opts *cacheness.CopyOptions
	overwrite := w.rng.IntN(2) == 0
	if overwrite {
		opts = &cacheness.CopyOptions{Overwrite: true}
		if w.rng.IntN(2) == 0 {
			opts.Metadata = map[string]any{"copied": true}
		}
	}
	var ok bool
	var err error
	if move {
		ok, err = w.c.Move(shared(k), shared(d), opts)
	} else {
		ok, err = w.c.Copy(shared(k), shared(d), opts)
	}
	if w.check(err, false, !overwrite) == "" && !ok {
		w.st.Absent++
	}
}

func (w *worker) list() {
	page, err := w.c.List(map[string]any{"params": map[string]any{"stress": map[string]any{"$exists": true}}},
		&cacheness.ListOptions{Limit: 100})
	if w.check(err, false, false) != "" {
		return
	}
	if len(page.Entries) > sharedKeys {
		w.fail("list of shared params gave %d entries (at most %d exist)", len(page.Entries), sharedKeys)
	}
	for _, e := range page.Entries {
		if e.Size < headerLen || e.Size > maxValue {
			w.fail("list shows an entry of impossible size %d", e.Size)
		}
	}
}

func (w *worker) exists(k int) {
	_, err := w.c.Exists(shared(k))
	w.check(err, false, false)
}

// putBatch writes 2-3 shared params at once (all or nothing).
func (w *worker) putBatch() {
	n := 2 + w.rng.IntN(2)
	items := make([]cacheness.PutItem, n)
	opts := &cacheness.PutOptions{Metadata: map[string]any{"w": w.id, "rt": "go", "batch": true}}
	for i := range items {
		d, _ := w.makeValue()
		items[i] = cacheness.PutItem{Params: shared(w.rng.IntN(sharedKeys)), Data: bytes.Clone(d), Options: opts}
	}
	w.check(w.c.PutBatch(items), false, false)
}

func (w *worker) deleteBatch() {
	n, err := w.c.DeleteBatch([]map[string]any{shared(w.rng.IntN(sharedKeys)), shared(w.rng.IntN(sharedKeys))})
	if w.check(err, false, false) == "" && n > 2 {
		w.fail("delete_batch of 2 selectors counted %d", n)
	}
}

func (w *worker) updateMeta(k int) {
	found, err := w.c.UpdateMetadata(shared(k), map[string]any{"n": w.rng.IntN(1000), "w": w.id})
	if w.check(err, false, false) == "" && !found {
		w.st.Absent++
	}
}

func (w *worker) touchWhere() {
	f := map[string]any{"params": map[string]any{"stress": map[string]any{"$in": []any{
		w.rng.IntN(sharedKeys), w.rng.IntN(sharedKeys), w.rng.IntN(sharedKeys)}}}}
	n, err := w.c.TouchWhere(f, cacheness.NeverExpire)
	if w.check(err, false, false) == "" && n > 3 {
		w.fail("touch_where on 3 params counted %d", n)
	}
}

// noteReport prints a NOTE when a verify or repair report run while the others write shows an
// issue other than orphaned_file (it may be a race of the scan, or real damage).
func (w *worker) noteReport(what string, issues []map[string]any, raw json.RawMessage) {
	for _, is := range issues {
		if is["issue"] != "orphaned_file" {
			r := string(raw)
			if len(r) > 600 {
				r = r[:600]
			}
			fmt.Fprintf(os.Stderr, "NOTE go worker %d: concurrent %s reported: %s\n", w.id, what, r)
			return
		}
	}
}

// maint: verify (shallow or deep), repair, find_orphans or cleanup_orphans while the others
// write. None of them may break a live entry (readers would see CORRUPT or a lost write).
func (w *worker) maint() {
	type rep struct {
		Issues []map[string]any `json:"issues"`
	}
	var r rep
	switch w.rng.IntN(5) {
	case 0, 1:
		w.op = "maint_verify"
		v, err := w.c.Verify(&cacheness.VerifyOptions{Deep: w.rng.IntN(2) == 0})
		if w.check(err, false, false) == "" && json.Unmarshal(v.Raw, &r) == nil {
			w.noteReport("verify", r.Issues, v.Raw)
		}
	case 2:
		w.op = "maint_repair"
		v, err := w.c.Repair(nil)
		if w.check(err, false, false) == "" && json.Unmarshal(v.Raw, &r) == nil {
			w.noteReport("repair", r.Issues, v.Raw)
		}
	case 3:
		w.op = "maint_find_orphans"
		_, err := w.c.FindOrphans()
		w.check(err, false, false)
	default:
		w.op = "maint_cleanup_orphans"
		_, err := w.c.CleanupOrphans()
		w.check(err, false, false)
	}
}

func (w *worker) ownInit() {
	w.op = "own_init"
	w.started = time.Now()
	_, err := w.c.Delete(w.own())
	w.check(err, false, false)
	w.ownSeq, w.ownVer, w.ownKnown = 0, 0, true
}

// ownOp: the private entry, whose content this worker always knows.
func (w *worker) ownOp() {
	d, m, found, err := w.c.GetWithMetadata(w.own())
	if w.check(err, false, false) != "" {
		return
	}
	if !found {
		w.st.Misses++
		if w.ownKnown && w.ownSeq != 0 {
			w.fail("private entry with acknowledged seq %d is missing", w.ownSeq)
		}
		w.ownSeq, w.ownVer = 0, 0
	} else {
		w.st.Hits++
		bad, o := checkValue(d)
		if bad == "" && !w.ownKnown && o.writer == w.id && o.incarnation == w.incarnation {
			w.ownSeq = o.seq
		}
		if bad != "" {
			w.fail("private read returned a bad value (%d bytes): %s", len(d), bad)
		} else if o.writer != w.id || o.incarnation != w.incarnation || o.seq != w.ownSeq {
			w.fail("private entry holds writer %d/%d seq %d, expected %d/%d seq %d",
				o.writer, o.incarnation, o.seq, w.id, w.incarnation, w.ownSeq)
		}
		if !w.ownKnown {
			w.ownVer = m.Version
		}
		if w.ownVer != 0 && m.Version != w.ownVer {
			w.fail("private entry at version %d, expected %d", m.Version, w.ownVer)
		}
		w.ownVer = m.Version
		w.checkMetadata(m, d, w.own())
	}
	w.ownKnown = true

	r := w.rng.IntN(4)
	val, s := w.makeValue()
	w.started = time.Now()
	switch {
	case w.ownSeq == 0 || r == 0:
		_, err := w.c.Put(w.own(), val, nil)
		if w.check(err, false, false) == "" {
			w.ownSeq, w.ownVer = s, 0
		} else {
			w.ownKnown = false
		}
	case r == 1:
		opts := &cacheness.UpdateDataOptions{ExpectedVersion: w.ownVer}
		ok, err := w.c.UpdateData(w.own(), val, opts)
		if w.check(err, false, false) != "" {
			w.ownKnown = false
			return
		}
		if !ok {
			w.fail("update_data with the current version %d did not update the private entry", w.ownVer)
			return
		}
		w.ownSeq, w.ownVer = s, w.ownVer+1
		val, s = w.makeValue()
		w.started = time.Now()
		_, err = w.c.UpdateData(w.own(), val, opts)
		if err == nil {
			w.fail("update_data with stale expected_version %d succeeded (entry was at %d)", w.ownVer-1, w.ownVer)
			w.ownSeq, w.ownVer = s, w.ownVer+1
		} else if w.check(err, true, false) != "CONFLICT" {
			w.ownKnown = false
		}
	case r == 2:
		opts := &cacheness.UpdateDataOptions{ExpectedVersion: w.ownVer + 1 + int64(w.rng.IntN(5))}
		_, err := w.c.UpdateData(w.own(), val, opts)
		if err == nil {
			w.fail("update_data with a wrong expected_version succeeded (entry at %d)", w.ownVer)
			w.ownSeq, w.ownVer = s, w.ownVer+1
		} else if w.check(err, true, false) != "CONFLICT" {
			w.ownKnown = false
		}
	default:
		deleted, err := w.c.Delete(w.own())
		if w.check(err, false, false) != "" {
			w.ownKnown = false
			return
		}
		if !deleted {
			w.fail("delete of the private entry found nothing")
		}
		w.ownSeq, w.ownVer = 0, 0
		w.started = time.Now()
		if ok, err := w.c.UpdateData(w.own(), val, nil); w.check(err, false, false) == "" && ok {
			w.fail("update_data on a deleted entry reported an update")
		}
		if ok, err := w.c.Touch(w.own(), cacheness.TTL{}); w.check(err, false, false) == "" && ok {
			w.fail("touch on a deleted entry found it")
		}
		if ok, err := w.c.Exists(w.own()); w.check(err, false, false) == "" && ok {
			w.fail("exists on a deleted entry found it")
		}
	}
}

func (w *worker) snapshot() counts {
	s := w.st
	s.Ops = make(map[string]uint64, len(w.st.Ops))
	s.TotalOps = 0
	for k, v := range w.st.Ops {
		s.Ops[k] = v
		s.TotalOps += v
	}
	return s
}

func main() {
	if len(os.Args) != 5 {
		fmt.Fprintf(os.Stderr, "usage: %s DIR WORKER_ID SECONDS SEED\n", os.Args[0])
		os.Exit(2)
	}
	dir := os.Args[1]
	id, err1 := strconv.ParseUint(os.Args[2], 10, 32)
	seconds, err2 := strconv.ParseFloat(os.Args[3], 64)
	seed, err3 := strconv.ParseUint(os.Args[4], 10, 64)
	if err1 != nil || err2 != nil || err3 != nil {
		fmt.Fprintln(os.Stderr, "stressworker: WORKER_ID, SECONDS and SEED must be numbers")
		os.Exit(2)
	}
	w := &worker{
		id:          uint32(id),
		incarnation: uint32(seed),
		rng:         rand.New(rand.NewPCG(seed, id)),
		buf:         make([]byte, maxValue),
		st:          counts{Ops: map[string]uint64{}},
		key:         -1,
	}
	for _, n := range opNames {
		w.st.Ops[n] = 0
	}
	progress := os.Getenv("CACHENESS_STRESS_PROGRESS") != ""
	start := time.Now()
	w.op, w.started = "open", start
	c, err := cacheness.Open(cacheness.Config{Dir: dir})
	if w.check(err, false, false) != "" {
		fmt.Fprintf(os.Stderr, "stressworker: cannot open %s\n", dir)
		os.Exit(1)
	}
	w.c = c
	w.ownInit()

	total := 0
	for _, x := range opWeights {
		total += x
	}
	deadline := start.Add(time.Duration(seconds * float64(time.Second)))
	nextProgress := start.Add(time.Second)
	nextMaint := start.Add(2*time.Second + time.Duration(w.rng.IntN(6000))*time.Millisecond)
	enc := json.NewEncoder(os.Stdout)
	for time.Now().Before(deadline) {
		x, op := w.rng.IntN(total), 0
		for x >= opWeights[op] {
			x -= opWeights[op]
			op++
		}
		if !time.Now().Before(nextMaint) {
			op = len(opNames) - 1
			nextMaint = time.Now().Add(2*time.Second + time.Duration(w.rng.IntN(6000))*time.Millisecond)
		}
		k := w.rng.IntN(sharedKeys)
		w.op, w.key, w.started = opNames[op], k, time.Now()
		switch opNames[op] {
		case "get":
			w.get(k)
		case "get_meta":
			w.getMeta(k)
		case "get_batch":
			w.getBatch()
		case "put":
			w.put(k)
		case "touch":
			w.touch(k)
		case "update":
			w.update(k)
		case "update_v":
			w.updateV(k)
		case "delete":
			w.del(k)
		case "delete_where":
			w.deleteWhere()
		case "copy":
			w.copyMove(k, false)
		case "move":
			w.copyMove(k, true)
		case "own":
			w.ownOp()
		case "list":
			w.list()
		case "put_batch":
			w.putBatch()
		case "delete_batch":
			w.deleteBatch()
		case "update_meta":
			w.updateMeta(k)
		case "touch_where":
			w.touchWhere()
		case "maint":
			w.maint()
		default:
			w.exists(k)
		}
		w.st.Ops[opNames[op]]++
		if progress && !time.Now().Before(nextProgress) {
			nextProgress = nextProgress.Add(time.Second)
			_ = enc.Encode(map[string]any{"progress": w.snapshot()})
		}
	}
	elapsed := time.Since(start)
	_ = c.Close()
	type summary struct {
		Runtime     string  `json:"runtime"`
		Worker      uint32  `json:"worker"`
		Incarnation uint32  `json:"incarnation"`
		Seconds     float64 `json:"seconds"`
		counts
	}
	s := summary{Runtime: "go", Worker: w.id, Incarnation: w.incarnation,
		Seconds: float64(elapsed.Milliseconds()/100) / 10, counts: w.snapshot()}
	_ = enc.Encode(s)
	if w.st.Failures > 0 {
		os.Exit(1)
	}
}
