package log

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/samsa-io/samsa/internal/record"
)

// kv is one record of a compacted log as the tests write and read it.
type kv struct {
	offset int64
	key    string
	value  []byte // nil: tombstone
	ts     int64
}

func (r kv) String() string {
	v := "<tombstone>"
	if r.value != nil {
		v = string(r.value)
	}
	return fmt.Sprintf("%d:%s=%s", r.offset, r.key, v)
}

// kvOpts are the batch-level fields of a test batch.
type kvOpts struct {
	codec         record.Compression
	producerID    int64
	producerEpoch int16
	baseSequence  int32
}

var plain = kvOpts{producerID: -1, producerEpoch: -1, baseSequence: record.NoSequence}

// kvBatch builds a batch of records with the given keys and values
// (value "" means tombstone) at timestamp ts, ts+1, ...
func kvBatch(o kvOpts, ts int64, pairs ...string) []byte {
	recs := make([]record.Record, 0, len(pairs)/2)
	for i := 0; i+1 < len(pairs); i += 2 {
		r := record.Record{OffsetDelta: int32(i / 2), TimestampDelta: int64(i / 2), Key: []byte(pairs[i])}
		if pairs[i+1] != "" {
			r.Value = []byte(pairs[i+1])
		}
		recs = append(recs, r)
	}
	return record.BuildBatch(record.BuildOptions{
		Compression: o.codec, FirstTimestamp: ts,
		ProducerID: o.producerID, ProducerEpoch: o.producerEpoch, BaseSequence: o.baseSequence,
	}, recs)
}

// kvModel is every record appended, in offset order.
type kvModel struct{ recs []kv }

func (m *kvModel) append(t testing.TB, l *Log, o kvOpts, ts int64, pairs ...string) {
	t.Helper()
	base, _, err := l.Append(kvBatch(o, ts, pairs...))
	if err != nil {
		t.Fatalf("Append: %v", err)
	}
	for i := 0; i+1 < len(pairs); i += 2 {
		r := kv{offset: base + int64(i/2), key: pairs[i], ts: ts + int64(i/2)}
		if pairs[i+1] != "" {
			r.value = []byte(pairs[i+1])
		}
		m.recs = append(m.recs, r)
	}
}

// compacted applies one cleaner pass over [0, end) to the model: the last
// record of each key survives; tombstones too unless dropTombstones says
// so for their offset.
func (m *kvModel) compacted(end int64, dropTombstone func(off int64) bool) {
	last := map[string]int64{}
	for _, r := range m.recs {
		if r.offset < end {
			last[r.key] = r.offset
		}
	}
	var out []kv
	for _, r := range m.recs {
		if r.offset >= end || (last[r.key] == r.offset && (r.value != nil || dropTombstone == nil || !dropTombstone(r.offset))) {
			out = append(out, r)
		}
	}
	m.recs = out
}

// readAllKV reads the whole log with Read, following batches (and the gaps
// compaction leaves) from the log start to the end. It also returns the
// batch headers in order.
func readAllKV(l *Log) ([]kv, []record.BatchHeader, error) {
	var out []kv
	var hdrs []record.BatchHeader
	leo := l.LogEndOffset()
	for off := l.LogStartOffset(); off < leo; {
		b, err := l.Read(off, leo, 1<<20, true)
		if err != nil {
			return nil, nil, fmt.Errorf("Read(%d): %w", off, err)
		}
		if len(b) == 0 {
			return nil, nil, fmt.Errorf("Read(%d) below LEO %d returned nothing", off, leo)
		}
		err = record.Split(b, func(h record.BatchHeader, batch []byte) error {
			if err := validateCleaned(batch); err != nil {
				return err
			}
			if h.LastOffset() < off {
				return fmt.Errorf("Read(%d) returned batch ending at %d", off, h.LastOffset())
			}
			hdrs = append(hdrs, h)
			off = h.NextOffset()
			return record.ForEachRecord(batch, func(r record.Record) error {
				ts := h.FirstTimestamp + r.TimestampDelta
				out = append(out, kv{offset: h.BaseOffset + int64(r.OffsetDelta), key: string(r.Key), value: bytes.Clone(r.Value), ts: ts})
				return nil
			})
		})
		if err != nil {
			return nil, nil, err
		}
	}
	return out, hdrs, nil
}

func checkKV(t testing.TB, l *Log, want []kv) {
	t.Helper()
	got, _, err := readAllKV(l)
	if err != nil {
		t.Fatal(err)
	}
	if !equalKV(got, want) {
		t.Fatalf("log holds\n  %v\nwant\n  %v", got, want)
	}
	// A read at any offset (in a gap too) starts with the first surviving
	// batch at or after it: the index lookup and the segment walk agree.
	for off := l.LogStartOffset(); off < l.LogEndOffset(); off++ {
		b, err := l.Read(off, l.LogEndOffset(), 1, true)
		if err != nil {
			t.Fatalf("Read(%d): %v", off, err)
		}
		var first int64 = -1
		for _, r := range want {
			if r.offset >= off {
				first = r.offset
				break
			}
		}
		if first < 0 {
			continue // only empty batches or nothing after off
		}
		h, err := record.ParseHeader(b)
		if err != nil {
			t.Fatalf("Read(%d): %v", off, err)
		}
		if h.LastOffset() < off || (h.NumRecords > 0 && h.BaseOffset > first) {
			t.Fatalf("Read(%d) starts with batch [%d, %d], want the one holding %d", off, h.BaseOffset, h.LastOffset(), first)
		}
	}
}

func equalKV(a, b []kv) bool {
	return slices.EqualFunc(a, b, func(x, y kv) bool {
		return x.offset == y.offset && x.key == y.key && bytes.Equal(x.value, y.value) && (x.value == nil) == (y.value == nil)
	})
}

// compactOptions clean on any dirt, keep tombstones for an hour and roll
// every few hundred bytes.
func compactOptions(clock *fakeClock) Options {
	o := testOptions()
	o.SegmentBytes = 600
	o.IndexIntervalBytes = 100
	o.Compact = true
	o.DeleteRetention = time.Hour
	o.Now = clock.Now
	return o
}

func TestCompactKeepsLastPerKey(t *testing.T) {
	for _, codec := range []record.Compression{record.None, record.Gzip, record.Snappy, record.LZ4, record.Zstd} {
		t.Run(codec.String(), func(t *testing.T) {
			clock := newFakeClock()
			dir := t.TempDir()
			l := mustOpen(t, dir, compactOptions(clock))
			defer l.Close()
			o := plain
			o.codec = codec
			var m kvModel
			ts := clock.Now().UnixMilli()
			for i := range 60 {
				// Three records a batch over 7 keys: batches lose some
				// records, some all of them.
				m.append(t, l, o, ts, fmt.Sprintf("k%d", (3*i)%7), fmt.Sprintf("v%d", 3*i),
					fmt.Sprintf("k%d", (3*i+1)%7), fmt.Sprintf("v%d", 3*i+1),
					fmt.Sprintf("k%d", (3*i+2)%7), fmt.Sprintf("v%d", 3*i+2))
			}
			if l.NumSegments() < 4 {
				t.Fatalf("only %d segments; the test wants several", l.NumSegments())
			}
			activePath := lastSegment(t, dir)
			activeBefore, err := os.ReadFile(activePath)
			if err != nil {
				t.Fatal(err)
			}
			sizeBefore := l.Size()
			if r := l.DirtyRatio(); r != 1 {
				t.Fatalf("DirtyRatio before the first pass = %v, want 1", r)
			}

			st, err := l.Compact(clock.Now())
			if err != nil {
				t.Fatal(err)
			}
			l.mu.Lock()
			end := l.activeLocked().base
			l.mu.Unlock()
			before := len(m.recs)
			m.compacted(end, nil)
			if st.Segments == 0 || st.RecordsRemoved != int64(before-len(m.recs)) || st.BytesAfter >= st.BytesBefore {
				t.Fatalf("stats %+v; want segments cleaned, %d records removed, fewer bytes", st, before-len(m.recs))
			}
			if got := l.Size(); got != sizeBefore-st.BytesBefore+st.BytesAfter {
				t.Fatalf("Size = %d, want %d", got, sizeBefore-st.BytesBefore+st.BytesAfter)
			}
			checkKV(t, l, m.recs)
			if r := l.DirtyRatio(); r != 0 {
				t.Fatalf("DirtyRatio after the pass = %v, want 0", r)
			}
			activeAfter, err := os.ReadFile(activePath)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(activeBefore, activeAfter) {
				t.Fatal("the active segment changed")
			}
			_, hdrs, err := readAllKV(l)
			if err != nil {
				t.Fatal(err)
			}
			for _, h := range hdrs {
				if h.Compression() != codec {
					t.Fatalf("batch at %d has codec %v, want %v", h.BaseOffset, h.Compression(), codec)
				}
				if h.LastOffsetDelta != 2 {
					t.Fatalf("batch at %d has lastOffsetDelta %d, want the original 2", h.BaseOffset, h.LastOffsetDelta)
				}
			}
			// A second pass with nothing dirty does nothing.
			if st, err := l.Compact(clock.Now()); err != nil || st.Segments != 0 {
				t.Fatalf("second pass: %+v, %v; want nothing", st, err)
			}

			// Everything survives a reopen, indexes included.
			if err := l.Close(); err != nil {
				t.Fatal(err)
			}
			l = mustOpen(t, dir, compactOptions(clock))
			checkKV(t, l, m.recs)
			if r := l.DirtyRatio(); r != 0 {
				t.Fatalf("DirtyRatio after reopen = %v, want 0 (the checkpoint persists)", r)
			}
			// The cleaned log still appends and compacts.
			m.append(t, l, o, ts, "k1", "again")
			forceRoll(t, l)
			if _, err := l.Compact(clock.Now()); err != nil {
				t.Fatal(err)
			}
			l.mu.Lock()
			end = l.activeLocked().base
			l.mu.Unlock()
			m.compacted(end, nil)
			checkKV(t, l, m.recs)
		})
	}
}

func TestCompactTombstones(t *testing.T) {
	tests := []struct {
		name string
		// first writes the tombstone's segment; superseded says whether
		// the first pass rewrites it (else it only starts its clock).
		first []string
	}{
		{"segment rewritten by the first pass", []string{"a", "1", "b", "1", "a", "", "c", "1"}},
		{"segment untouched by the first pass", []string{"a", "", "c", "1"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			clock := newFakeClock()
			l := mustOpen(t, t.TempDir(), compactOptions(clock))
			defer l.Close()
			var m kvModel
			ts := clock.Now().UnixMilli()
			m.append(t, l, plain, ts, tt.first...)
			forceRoll(t, l)

			pass := func(pairs ...string) {
				t.Helper()
				m.append(t, l, plain, ts, pairs...)
				forceRoll(t, l)
				if _, err := l.Compact(clock.Now()); err != nil {
					t.Fatal(err)
				}
			}
			hasTombstone := func() bool {
				got, _, err := readAllKV(l)
				if err != nil {
					t.Fatal(err)
				}
				for _, r := range got {
					if r.key == "a" {
						if r.value != nil {
							t.Fatalf("key a has a value again: %v", got)
						}
						return true
					}
				}
				return false
			}
			if _, err := l.Compact(clock.Now()); err != nil {
				t.Fatal(err)
			}
			if !hasTombstone() {
				t.Fatal("tombstone removed by the pass that first cleaned its segment")
			}
			clock.Advance(59 * time.Minute)
			pass("d", "1")
			if !hasTombstone() {
				t.Fatal("tombstone removed before delete.retention.ms")
			}
			clock.Advance(2 * time.Minute)
			pass("e", "1")
			if hasTombstone() {
				t.Fatal("tombstone kept past delete.retention.ms")
			}
			// The other keys are all there.
			got, _, _ := readAllKV(l)
			var keys []string
			for _, r := range got {
				keys = append(keys, r.key)
			}
			slices.Sort(keys)
			want := []string{"c", "d", "e"}
			if tt.first[2] == "b" {
				want = []string{"b", "c", "d", "e"}
			}
			if !slices.Equal(keys, want) {
				t.Fatalf("keys %v, want %v", keys, want)
			}
		})
	}
}

func TestCompactLagAndRatio(t *testing.T) {
	clock := newFakeClock()
	o := compactOptions(clock)
	o.MinCompactionLag = time.Hour
	l := mustOpen(t, t.TempDir(), o)
	defer l.Close()
	var m kvModel
	ts := clock.Now().UnixMilli()
	m.append(t, l, plain, ts, "a", "1", "a", "2")
	forceRoll(t, l)
	m.append(t, l, plain, ts, "x", "1")

	if st, err := l.Compact(clock.Now()); err != nil || st.Segments != 0 {
		t.Fatalf("within min.compaction.lag: %+v, %v; want nothing cleaned", st, err)
	}
	checkKV(t, l, m.recs)
	clock.Advance(2 * time.Hour)
	if st, err := l.Compact(clock.Now()); err != nil || st.Segments != 1 || st.RecordsRemoved != 1 {
		t.Fatalf("past min.compaction.lag: %+v, %v; want one record removed", st, err)
	}
	m.compacted(2, nil)
	checkKV(t, l, m.recs)

	// A clean log with a little dirt waits for min.cleanable.dirty.ratio.
	o.MinCompactionLag = 0
	o.MinCleanableDirtyRatio = 0.9
	l.SetOptions(o)
	forceRoll(t, l) // x's segment becomes cleanable: dirty 1 of 2 segments
	r := l.DirtyRatio()
	if r <= 0 || r >= 0.9 {
		t.Fatalf("DirtyRatio = %v, want in (0, 0.9)", r)
	}
	if st, err := l.Compact(clock.Now()); err != nil || st.Segments != 0 {
		t.Fatalf("below min.cleanable.dirty.ratio: %+v, %v; want nothing", st, err)
	}
	// max.compaction.lag.ms forces it.
	o.MaxCompactionLag = time.Minute
	l.SetOptions(o)
	m.append(t, l, plain, ts, "x", "2")
	forceRoll(t, l)
	if st, err := l.Compact(clock.Now()); err != nil || st.RecordsRemoved != 1 {
		t.Fatalf("past max.compaction.lag: %+v, %v; want x=1 removed", st, err)
	}

	// Without cleanup.policy=compact nothing happens at all.
	o.Compact = false
	l.SetOptions(o)
	m.append(t, l, plain, ts, "x", "3")
	forceRoll(t, l)
	if st, err := l.Compact(clock.Now()); err != nil || st.Segments != 0 {
		t.Fatalf("not compacted: %+v, %v", st, err)
	}
}

func TestCompactKeepsLastBatchOfProducer(t *testing.T) {
	clock := newFakeClock()
	dir := t.TempDir()
	l := mustOpen(t, dir, compactOptions(clock))
	defer l.Close()
	var m kvModel
	ts := clock.Now().UnixMilli()
	idem := kvOpts{producerID: 7, producerEpoch: 3}
	m.append(t, l, idem, ts, "a", "1", "b", "1")          // offsets 0-1, seq 0-1: dropped
	idem.baseSequence = 2                                 //
	m.append(t, l, idem, ts, "a", "2", "b", "2", "c", "") // 2-4, seq 2-4: last of pid 7, emptied
	m.append(t, l, plain, ts, "a", "3", "b", "3", "c", "3")
	forceRoll(t, l)
	if _, err := l.Compact(clock.Now()); err != nil {
		t.Fatal(err)
	}
	m.compacted(8, nil)
	checkKV(t, l, m.recs)
	_, hdrs, err := readAllKV(l)
	if err != nil {
		t.Fatal(err)
	}
	if len(hdrs) != 2 {
		t.Fatalf("%d batches, want the empty producer batch and the plain one", len(hdrs))
	}
	h := hdrs[0]
	if h.BaseOffset != 2 || h.LastOffsetDelta != 2 || h.NumRecords != 0 || h.ProducerID != 7 ||
		h.ProducerEpoch != 3 || h.BaseSequence != 2 || h.LastSequence() != 4 {
		t.Fatalf("producer batch = %+v; want base 2, lastOffsetDelta 2, no records, pid 7 epoch 3 seq 2-4", h)
	}
	// Producer state rebuilt from headers sees the same last sequence.
	var seen []record.BatchHeader
	if err := l.ScanBatches(0, func(h record.BatchHeader) bool { seen = append(seen, h); return true }); err != nil {
		t.Fatal(err)
	}
	if len(seen) != 2 || seen[0].LastSequence() != 4 {
		t.Fatalf("ScanBatches saw %+v", seen)
	}
}

// TestCompactCrashDuringSwap stops the swap after each step, as a crash
// would, and reopens the directory: the log must read as either before or
// after the pass (never a mix, never a stale index), and the step that
// replaces the .log decides which.
func TestCompactCrashDuringSwap(t *testing.T) {
	for step := 0; step <= 4; step++ {
		t.Run(fmt.Sprintf("after step %d", step), func(t *testing.T) {
			clock := newFakeClock()
			dir := t.TempDir()
			o := compactOptions(clock)
			o.SegmentBytes = 1 << 20
			l := mustOpen(t, dir, o)
			var m kvModel
			ts := clock.Now().UnixMilli()
			for i := range 40 {
				m.append(t, l, plain, ts, fmt.Sprintf("k%d", i%5), fmt.Sprintf("value-%d", i))
			}
			forceRoll(t, l)
			m.append(t, l, plain, ts, "tail", "1")
			if _, err := l.Flush(); err != nil {
				t.Fatal(err)
			}
			before := slices.Clone(m.recs)
			m.compacted(40, nil)
			after := m.recs

			crash := errors.New("crash")
			l.swapCrashHook = func(n int) error {
				if n == step {
					return crash
				}
				return nil
			}
			if _, err := l.Compact(clock.Now()); !errors.Is(err, crash) {
				t.Fatalf("Compact err = %v, want the injected crash", err)
			}
			// The crashed Log is abandoned, as a dead process would.
			l2 := mustOpen(t, dir, o)
			defer l2.Close()
			want := before
			if step >= 3 {
				want = after
			}
			checkKV(t, l2, want)
			for _, suffix := range []string{cleanedSuffix, swapSuffix} {
				if names, _ := filepath.Glob(filepath.Join(dir, "*"+suffix)); len(names) > 0 {
					t.Fatalf("stray files left after reopen: %v", names)
				}
			}
			// A pass after the restart finishes the job.
			if _, err := l2.Compact(clock.Now()); err != nil {
				t.Fatal(err)
			}
			checkKV(t, l2, after)
			l.mu.Lock()
			l.closeLocked()
			l.mu.Unlock()
		})
	}
}

// TestCompactTruncateIntoCleanedSegment makes a cleaned segment (with
// offset gaps) active again and reopens: recovery must not cut it at a gap.
func TestCompactTruncateIntoCleanedSegment(t *testing.T) {
	clock := newFakeClock()
	dir := t.TempDir()
	o := compactOptions(clock)
	o.SegmentBytes = 1 << 20
	l := mustOpen(t, dir, o)
	var m kvModel
	ts := clock.Now().UnixMilli()
	for i := range 20 {
		m.append(t, l, plain, ts, fmt.Sprintf("k%d", i%3), fmt.Sprintf("v%d", i))
		m.append(t, l, plain, ts, fmt.Sprintf("u%d", i), "x")
	}
	forceRoll(t, l)
	m.append(t, l, plain, ts, "tail", "1")
	if _, err := l.Compact(clock.Now()); err != nil {
		t.Fatal(err)
	}
	m.compacted(40, nil)
	if err := l.TruncateTo(39); err != nil {
		t.Fatal(err)
	}
	m.recs = slices.DeleteFunc(m.recs, func(r kv) bool { return r.offset >= 39 })
	if got := l.LogEndOffset(); got != 39 {
		t.Fatalf("LogEndOffset = %d, want 39", got)
	}
	m.append(t, l, plain, ts, "new", "1")
	checkKV(t, l, m.recs)
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	l = mustOpen(t, dir, o)
	defer l.Close()
	checkKV(t, l, m.recs)
}

// TestCompactConcurrentReads reads the whole log over and over while
// appends, rolls and cleaner passes run (run it with -race). Every read
// must succeed and return records that were appended with those offsets.
func TestCompactConcurrentReads(t *testing.T) {
	clock := newFakeClock()
	o := compactOptions(clock)
	l := mustOpen(t, t.TempDir(), o)
	defer l.Close()
	ts := clock.Now().UnixMilli()
	var mu sync.Mutex
	appended := map[int64]string{} // offset -> key=value
	write := func(i int) {
		k, v := fmt.Sprintf("k%d", i%11), fmt.Sprintf("v%d", i)
		// mu is held across the append, so a reader that saw the record
		// and then takes mu finds it in appended.
		mu.Lock()
		defer mu.Unlock()
		base, _, err := l.Append(kvBatch(plain, ts, k, v))
		if err != nil {
			t.Error(err)
			return
		}
		appended[base] = k + "=" + v
	}
	for i := range 100 {
		write(i)
	}
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				got, _, err := readAllKV(l)
				if err != nil {
					t.Error(err)
					return
				}
				mu.Lock()
				for _, r := range got {
					if want := appended[r.offset]; want != r.key+"="+string(r.value) {
						t.Errorf("offset %d holds %s=%s, appended %s", r.offset, r.key, r.value, want)
					}
				}
				mu.Unlock()
			}
		}()
	}
	for round := range 20 {
		for i := range 20 {
			write(100 + round*20 + i)
		}
		if _, err := l.Compact(clock.Now()); err != nil {
			t.Error(err)
		}
	}
	close(stop)
	wg.Wait()
	got, _, err := readAllKV(l)
	if err != nil {
		t.Fatal(err)
	}
	// Every key's last value is still there.
	last := map[string]string{}
	for i := range 500 {
		last[fmt.Sprintf("k%d", i%11)] = fmt.Sprintf("v%d", i)
	}
	have := map[string]string{}
	for _, r := range got {
		have[r.key] = string(r.value)
	}
	for k, v := range last {
		if have[k] != v {
			t.Fatalf("key %s reads %q, want its last value %q", k, have[k], v)
		}
	}
}

// FuzzCleanBatch feeds arbitrary bytes to the cleaner's batch handling and
// checks, for any input: validateCleaned and cleaner.filter never panic;
// validateCleaned accepts every uncompressed batch record.Validate accepts
// (cleaned batches are a superset of produced ones); and for a batch it
// accepts, filtering with the "last offset of each key" map gives either
// the batch itself (nothing removed), nothing, or a batch that
// validateCleaned accepts, with the same base offset, lastOffsetDelta,
// codec and producer fields, holding exactly the records the map selects
// at their original offsets.
func FuzzCleanBatch(f *testing.F) {
	f.Add(kvBatch(plain, 1000, "a", "1", "b", "2", "a", "3"))
	f.Add(kvBatch(kvOpts{codec: record.Gzip, producerID: 4, producerEpoch: 1}, 5, "a", "1", "a", ""))
	f.Add(kvBatch(kvOpts{codec: record.Zstd, producerID: -1, producerEpoch: -1, baseSequence: -1}, 5, "x", "1", "y", "", "x", "2"))
	f.Add(kvBatch(kvOpts{codec: record.LZ4, producerID: 9}, 5, "a", "1", "a", "2"))
	f.Add(kvBatch(plain, 0, "k", ""))
	f.Add(record.BuildBatch(record.BuildOptions{ProducerID: 3, BaseSequence: 7}, nil))
	f.Add([]byte{})
	f.Add(make([]byte, record.BatchHeaderSize))
	f.Fuzz(func(t *testing.T, b []byte) {
		err := validateCleaned(b)
		h, verr := record.Validate(b)
		if verr == nil && h.Compression() == record.None && err != nil {
			t.Fatalf("validateCleaned refuses a batch record.Validate accepts: %v", err)
		}
		if err != nil {
			return
		}
		h, _ = record.ParseHeader(b)
		if !cleanable(h) {
			return
		}
		keys := map[string]int64{}
		_ = record.ForEachRecord(b, func(r record.Record) error {
			if r.Key != nil {
				keys[string(r.Key)] = h.BaseOffset + int64(r.OffsetDelta)
			}
			return nil
		})
		var want []kv
		_ = record.ForEachRecord(b, func(r record.Record) error {
			off := h.BaseOffset + int64(r.OffsetDelta)
			if r.Key != nil && keys[string(r.Key)] == off {
				want = append(want, kv{offset: off, key: string(r.Key), value: bytes.Clone(r.Value)})
			}
			return nil
		})
		c := cleaner{keys: keys, lastOfProducer: map[int64]int64{h.ProducerID: h.BaseOffset}}
		out, err := c.filter(h, b)
		if err != nil {
			t.Fatalf("filter of an accepted batch: %v", err)
		}
		if out == nil {
			if h.ProducerID >= 0 || len(want) > 0 {
				t.Fatalf("filter dropped a batch with %d survivors (producer %d)", len(want), h.ProducerID)
			}
			return
		}
		if c.removed == 0 && !bytes.Equal(out, b) {
			t.Fatal("filter rewrote a batch it removed nothing from")
		}
		if err := validateCleaned(out); err != nil {
			t.Fatalf("filtered batch does not validate: %v", err)
		}
		oh, _ := record.ParseHeader(out)
		if oh.BaseOffset != h.BaseOffset || oh.LastOffsetDelta != h.LastOffsetDelta || oh.ProducerID != h.ProducerID ||
			oh.ProducerEpoch != h.ProducerEpoch || oh.BaseSequence != h.BaseSequence || oh.MaxTimestamp != h.MaxTimestamp ||
			oh.FirstTimestamp != h.FirstTimestamp || oh.Attributes != h.Attributes {
			t.Fatalf("filtered header %+v, original %+v", oh, h)
		}
		var got []kv
		_ = record.ForEachRecord(out, func(r record.Record) error {
			got = append(got, kv{offset: oh.BaseOffset + int64(r.OffsetDelta), key: string(r.Key), value: bytes.Clone(r.Value)})
			return nil
		})
		if !equalKV(got, want) {
			t.Fatalf("filtered records %v, want %v", got, want)
		}
	})
}
