package log

import (
	"bytes"
	"errors"
	"log/slog"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/samsa-io/samsa/internal/record"
)

// fillLog appends batches of 1-5 records with growing timestamps until the
// log has at least minSegments segments.
func fillLog(t *testing.T, l *Log, m *model, minSegments int) {
	t.Helper()
	for i := 0; l.NumSegments() < minSegments; i++ {
		m.appendBatch(t, l, 1+i%5, 1000+int64(i)*10, 20+i%7)
	}
}

func TestAppendReadAcrossRolls(t *testing.T) {
	dir := t.TempDir()
	l := mustOpen(t, dir, testOptions())
	defer l.Close()
	m := &model{}
	fillLog(t, l, m, 5)
	m.check(t, l)

	if got, want := len(segmentFiles(t, dir)), l.NumSegments(); got != want {
		t.Fatalf("%d .log files, NumSegments %d", got, want)
	}
	// Every segment but the active one is at most SegmentBytes, and
	// starts where the previous one ended.
	l.mu.Lock()
	segs := l.mu.segments
	var total int64
	for i, s := range segs {
		total += s.size
		if i < len(segs)-1 {
			if s.size > testOptions().SegmentBytes {
				t.Errorf("segment %d is %d bytes, over SegmentBytes", s.base, s.size)
			}
			if s.next != segs[i+1].base {
				t.Errorf("segment %d ends at %d, next starts at %d", s.base, s.next, segs[i+1].base)
			}
		}
	}
	l.mu.Unlock()
	if got := l.Size(); got != total {
		t.Errorf("Size = %d, want %d", got, total)
	}

	// Reopen: the same content, and everything is durable.
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	l = mustOpen(t, dir, testOptions())
	defer l.Close()
	m.check(t, l)
	if got := l.FlushedOffset(); got != m.leo {
		t.Errorf("FlushedOffset after Open = %d, want %d", got, m.leo)
	}
	// Appends continue after a reopen.
	m.appendBatch(t, l, 3, 99999, 10)
	m.check(t, l)
}

func TestReadLimits(t *testing.T) {
	l := mustOpen(t, t.TempDir(), Options{Logger: quietLogger})
	defer l.Close()
	m := &model{}
	for i := 0; i < 10; i++ {
		m.appendBatch(t, l, 3, int64(i), 50)
	}
	size := len(m.batches[0].bytes)

	tests := []struct {
		name     string
		offset   int64
		upTo     int64
		maxBytes int
		minOne   bool
		want     []int // model batch indexes
	}{
		{"all", 0, m.leo, 1 << 20, true, []int{0, 1, 2, 3, 4, 5, 6, 7, 8, 9}},
		{"mid-batch start", 4, m.leo, 1 << 20, true, []int{1, 2, 3, 4, 5, 6, 7, 8, 9}},
		{"maxBytes cuts at a batch", 0, m.leo, 2*size + size/2, true, []int{0, 1}},
		{"first batch too big, minOne", 3, m.leo, 1, true, []int{1}},
		{"first batch too big, not minOne", 3, m.leo, 1, false, nil},
		{"zero maxBytes, minOne", 3, m.leo, 0, true, []int{1}},
		{"upTo is the high watermark", 0, 9, 1 << 20, true, []int{0, 1, 2}},
		{"upTo inside a batch includes it", 0, 7, 1 << 20, true, []int{0, 1, 2}},
		{"offset at upTo is empty", 9, 9, 1 << 20, true, nil},
		{"offset above upTo is empty", 12, 9, 1 << 20, true, nil},
		{"offset at LEO is empty", m.leo, m.leo, 1 << 20, true, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := l.Read(tt.offset, tt.upTo, tt.maxBytes, tt.minOne)
			if err != nil {
				t.Fatal(err)
			}
			var want []byte
			for _, i := range tt.want {
				want = append(want, m.batches[i].bytes...)
			}
			if !bytes.Equal(got, want) {
				t.Fatalf("Read = %d bytes, want %d (batches %v)", len(got), len(want), tt.want)
			}
		})
	}
}

func TestReadOutOfRange(t *testing.T) {
	dir := t.TempDir()
	l := mustOpen(t, dir, testOptions())
	defer l.Close()
	m := &model{}
	fillLog(t, l, m, 3)
	if err := l.SetLogStartOffset(m.batches[2].base + 1); err != nil {
		t.Fatal(err)
	}
	for _, off := range []int64{-1, m.batches[2].base, m.leo + 1, m.leo + 1000} {
		if _, err := l.Read(off, m.leo, 1000, true); !errors.Is(err, ErrOffsetOutOfRange) {
			t.Errorf("Read(%d) err = %v, want ErrOffsetOutOfRange", off, err)
		}
	}
	if got, err := l.Read(m.batches[2].base+1, m.leo, 1000, true); err != nil || !bytes.HasPrefix(got, m.batches[2].bytes) {
		t.Errorf("Read(LogStartOffset) = %d bytes, %v; want the batch straddling the start", len(got), err)
	}
}

// TestIndexLookupMatchesScan checks the sparse index against a full scan:
// for every offset, the indexed start position is at or before the batch
// holding it, and not before the nearest index entry.
func TestIndexLookupMatchesScan(t *testing.T) {
	l := mustOpen(t, t.TempDir(), Options{IndexIntervalBytes: 150, Logger: quietLogger, RetentionAge: -1})
	defer l.Close()
	m := &model{}
	for i := 0; i < 200; i++ {
		m.appendBatch(t, l, 1+i%4, int64(i), i%30)
	}
	l.mu.Lock()
	s := l.activeLocked()
	index := s.index
	l.mu.Unlock()
	if len(index) < 20 {
		t.Fatalf("only %d index entries for %d bytes", len(index), s.size)
	}
	// Full scan: the position of every batch.
	positions := map[int64]int64{} // base offset -> position
	pos := int64(0)
	for _, b := range m.batches {
		positions[b.base] = pos
		pos += int64(len(b.bytes))
	}
	for i, e := range index {
		j := m.batchFor(e.offset)
		if e.offset != m.batches[j].last || positions[m.batches[j].base] != e.pos {
			t.Fatalf("entry %d = %+v, want the last offset and position of a batch", i, e)
		}
	}
	for off := int64(0); off < m.leo; off++ {
		want := positions[m.batches[m.batchFor(off)].base]
		got := lookupPosition(index, off)
		if got > want {
			t.Fatalf("lookup(%d) = %d, past the batch at %d", off, got, want)
		}
		v := view{seg: s, size: s.size, index: index}
		p, h, ok, err := v.find(got, off)
		if err != nil || !ok || p != want || off < h.BaseOffset || off > h.LastOffset() {
			t.Fatalf("find(%d) = %d, %+v, %v, %v; want position %d", off, p, h, ok, err, want)
		}
	}
}

func TestAppendAt(t *testing.T) {
	l := mustOpen(t, t.TempDir(), Options{Logger: quietLogger})
	defer l.Close()
	b := mkBatch(3, 1, 5)
	record.SetBaseOffset(b, 1)
	if _, err := l.AppendAt(b); !errors.Is(err, ErrUnexpectedOffset) {
		t.Fatalf("AppendAt at 1 on an empty log: err = %v, want ErrUnexpectedOffset", err)
	}
	record.SetBaseOffset(b, 0)
	b2 := mkBatch(2, 1, 5)
	record.SetBaseOffset(b2, 3)
	next, err := l.AppendAt(append(append([]byte(nil), b...), b2...))
	if err != nil || next != 5 {
		t.Fatalf("AppendAt = %d, %v; want 5", next, err)
	}
	if _, _, err := l.Append([]byte{1, 2, 3}); !errors.Is(err, ErrInvalidBatch) {
		t.Fatalf("Append(garbage) err = %v, want ErrInvalidBatch", err)
	}
	if got := l.LogEndOffset(); got != 5 {
		t.Fatalf("a rejected append moved LogEndOffset to %d", got)
	}
}

// TestRecoveryTail damages the end of the active segment in the ways a crash
// or a bad disk does, and checks that Open cuts exactly the damaged batch.
func TestRecoveryTail(t *testing.T) {
	tests := []struct {
		name   string
		damage func(t *testing.T, path string, lastBatch int)
		// keepLast says whether the last batch survives.
		keepLast bool
	}{
		{"cut mid-batch", func(t *testing.T, path string, last int) {
			fi, _ := os.Stat(path)
			if err := os.Truncate(path, fi.Size()-int64(last)/2); err != nil {
				t.Fatal(err)
			}
		}, false},
		{"cut mid-header", func(t *testing.T, path string, last int) {
			fi, _ := os.Stat(path)
			if err := os.Truncate(path, fi.Size()-int64(last)+20); err != nil {
				t.Fatal(err)
			}
		}, false},
		{"garbage appended", func(t *testing.T, path string, last int) {
			appendToFile(t, path, bytes.Repeat([]byte{0xAB}, 100))
		}, true},
		{"zeros appended (preallocated or unwritten pages)", func(t *testing.T, path string, last int) {
			appendToFile(t, path, make([]byte, 4096))
		}, true},
		{"bit flipped in the last batch", func(t *testing.T, path string, last int) {
			b, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			b[len(b)-5] ^= 0x10
			if err := os.WriteFile(path, b, 0o644); err != nil {
				t.Fatal(err)
			}
		}, false},
		{"length past end of file", func(t *testing.T, path string, last int) {
			hdr := mkBatch(1, 0, 10)
			record.SetBaseOffset(hdr, 1<<40)
			appendToFile(t, path, hdr[:len(hdr)-3])
		}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			l := mustOpen(t, dir, testOptions())
			m := &model{}
			fillLog(t, l, m, 3)
			m.appendBatch(t, l, 4, 5000, 30)
			if err := l.Close(); err != nil {
				t.Fatal(err)
			}
			// As after a crash before any recovery-point checkpoint:
			// the whole active segment is validated. (Damage below a
			// recovery point is trusted by design: TestRecoveryPoint.)
			if err := os.Remove(filepath.Join(dir, recoveryPointFile)); err != nil {
				t.Fatal(err)
			}
			last := m.batches[len(m.batches)-1]
			tt.damage(t, lastSegment(t, dir), len(last.bytes))
			if !tt.keepLast {
				m.batches = m.batches[:len(m.batches)-1]
				m.leo = last.base
			}
			l = mustOpen(t, dir, testOptions())
			defer l.Close()
			m.check(t, l)
			// The file itself was cut, and appends continue at LEO.
			m.appendBatch(t, l, 2, 6000, 10)
			m.check(t, l)
			if err := l.Close(); err != nil {
				t.Fatal(err)
			}
			l = mustOpen(t, dir, testOptions())
			defer l.Close()
			m.check(t, l)
		})
	}
}

func TestRecoveryRebuildsIndexes(t *testing.T) {
	dir := t.TempDir()
	l := mustOpen(t, dir, testOptions())
	m := &model{}
	fillLog(t, l, m, 4)
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	// Remember the original index files, then damage them in every way.
	first := segmentFiles(t, dir)[0]
	idx := first[:len(first)-len(logSuffix)] + indexSuffix
	tidx := first[:len(first)-len(logSuffix)] + timeIndexSuffix
	origIdx, _ := os.ReadFile(idx)
	origTidx, _ := os.ReadFile(tidx)
	if len(origIdx) == 0 || len(origTidx) == 0 {
		t.Fatalf("index sizes %d, %d: the test needs entries", len(origIdx), len(origTidx))
	}
	damages := []struct {
		name string
		do   func()
	}{
		{"deleted", func() { os.Remove(idx); os.Remove(tidx) }},
		{"torn", func() { os.Truncate(idx, int64(len(origIdx)-3)); os.Truncate(tidx, int64(len(origTidx)-5)) }},
		{"position past the log", func() {
			b := append([]byte(nil), origIdx...)
			b[len(b)-4] = 0x7f
			os.WriteFile(idx, b, 0o644)
		}},
		{"not increasing", func() {
			b := append(append([]byte(nil), origIdx...), origIdx[:8]...)
			os.WriteFile(idx, b, 0o644)
		}},
	}
	for _, d := range damages {
		t.Run(d.name, func(t *testing.T) {
			d.do()
			l := mustOpen(t, dir, testOptions())
			m.check(t, l)
			if err := l.Close(); err != nil {
				t.Fatal(err)
			}
			if b, _ := os.ReadFile(idx); !bytes.Equal(b, origIdx) {
				t.Errorf(".index rebuilt as %d bytes, want the original %d", len(b), len(origIdx))
			}
			if b, _ := os.ReadFile(tidx); !bytes.Equal(b, origTidx) {
				t.Errorf(".timeindex rebuilt as %d bytes, want the original %d", len(b), len(origTidx))
			}
		})
	}
}

func TestRecoveryCorruptInactiveSegment(t *testing.T) {
	dir := t.TempDir()
	l := mustOpen(t, dir, testOptions())
	m := &model{}
	fillLog(t, l, m, 3)
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	first := segmentFiles(t, dir)[0]
	// A torn inactive segment is not a crash artefact (it was fsynced
	// whole before the next was created): refuse to open, do not cut.
	fi, _ := os.Stat(first)
	if err := os.Truncate(first, fi.Size()-10); err != nil {
		t.Fatal(err)
	}
	os.Remove(first[:len(first)-len(logSuffix)] + indexSuffix)
	_, err := Open(dir, testOptions())
	if !errors.Is(err, ErrCorrupt) {
		t.Fatalf("Open err = %v, want ErrCorrupt", err)
	}
	if fi2, _ := os.Stat(first); fi2.Size() != fi.Size()-10 {
		t.Fatalf("Open changed the corrupt segment")
	}
}

func TestRecoveryStrayFiles(t *testing.T) {
	dir := t.TempDir()
	l := mustOpen(t, dir, testOptions())
	m := &model{}
	fillLog(t, l, m, 2)
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	strays := []string{
		"00000000000000000000.log.deleted", "log-start-offset.tmp", "00000000000000000000.log.cleaned",
		"00000000000000099999.index", "00000000000000099999.timeindex", // orphans of a deleted segment
	}
	for _, name := range strays {
		if err := os.WriteFile(filepath.Join(dir, name), []byte("x"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	keep := filepath.Join(dir, "leader-epoch-checkpoint")
	os.WriteFile(keep, []byte("0\n0\n"), 0o644)
	l = mustOpen(t, dir, testOptions())
	defer l.Close()
	m.check(t, l)
	for _, name := range strays {
		if _, err := os.Stat(filepath.Join(dir, name)); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("%s survived Open", name)
		}
	}
	if _, err := os.Stat(keep); err != nil {
		t.Errorf("Open removed a file it does not own: %v", err)
	}
}

func TestRetentionByAge(t *testing.T) {
	clock := newFakeClock()
	o := testOptions()
	o.Now = clock.Now
	o.RetentionAge = time.Hour
	dir := t.TempDir()
	l := mustOpen(t, dir, o)
	defer l.Close()
	m := &model{}
	now := clock.Now().UnixMilli()
	// Three segments of older data (50 minutes ago), then two of fresh data.
	for l.NumSegments() < 4 {
		m.appendBatch(t, l, 2, now-50*time.Minute.Milliseconds(), 40)
	}
	oldSegments := l.NumSegments() - 1
	for l.NumSegments() < 6 {
		m.appendBatch(t, l, 2, now, 40)
	}
	if n, err := l.ApplyRetention(math.MaxInt64); err != nil || n != 0 {
		t.Fatalf("ApplyRetention before anything expired = %d, %v", n, err)
	}
	clock.Advance(15 * time.Minute)
	n, err := l.ApplyRetention(math.MaxInt64)
	if err != nil || n != oldSegments {
		t.Fatalf("ApplyRetention = %d, %v; want %d", n, err, oldSegments)
	}
	l.mu.Lock()
	start := l.mu.segments[0].base
	l.mu.Unlock()
	m.dropBelow(start)
	m.check(t, l)
	// Everything expires, but the active segment is never deleted.
	clock.Advance(3 * time.Hour)
	if _, err := l.ApplyRetention(math.MaxInt64); err != nil {
		t.Fatal(err)
	}
	if got := l.NumSegments(); got != 1 {
		t.Fatalf("%d segments after everything expired, want the active one", got)
	}
	if len(segmentFiles(t, dir)) != 1 {
		t.Fatalf("deleted segment files remain: %v", segmentFiles(t, dir))
	}
	l.mu.Lock()
	m.dropBelow(l.mu.segments[0].base)
	l.mu.Unlock()
	m.check(t, l)
}

func TestRetentionByBytes(t *testing.T) {
	o := testOptions()
	dir := t.TempDir()
	l := mustOpen(t, dir, o)
	defer l.Close()
	m := &model{}
	fillLog(t, l, m, 8)
	o.RetentionBytes = 3 * o.SegmentBytes
	l.SetOptions(o)
	n, err := l.ApplyRetention(math.MaxInt64)
	if err != nil || n == 0 {
		t.Fatalf("ApplyRetention = %d, %v", n, err)
	}
	size := l.Size()
	if size < o.RetentionBytes {
		t.Errorf("Size %d below retention.bytes %d: Kafka never deletes below it", size, o.RetentionBytes)
	}
	l.mu.Lock()
	first := l.mu.segments[0]
	l.mu.Unlock()
	if size-first.size >= o.RetentionBytes {
		t.Errorf("the oldest segment (%d bytes) could still go: size %d", first.size, size)
	}
	m.dropBelow(first.base)
	m.check(t, l)
	// Persisted: the start survives a reopen.
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	l = mustOpen(t, dir, o)
	defer l.Close()
	m.check(t, l)
}

func TestSetLogStartOffsetPersists(t *testing.T) {
	dir := t.TempDir()
	l := mustOpen(t, dir, testOptions())
	m := &model{}
	fillLog(t, l, m, 5)
	segs := l.NumSegments()
	target := m.batches[len(m.batches)/2].base + 1 // inside a batch
	if err := l.SetLogStartOffset(target); err != nil {
		t.Fatal(err)
	}
	if err := l.SetLogStartOffset(target - 1); err != nil || l.LogStartOffset() != target {
		t.Fatalf("SetLogStartOffset moved back: %d, %v", l.LogStartOffset(), err)
	}
	if err := l.SetLogStartOffset(m.leo + 1); !errors.Is(err, ErrOffsetOutOfRange) {
		t.Fatalf("SetLogStartOffset past LEO err = %v", err)
	}
	if l.NumSegments() >= segs {
		t.Errorf("no segment deleted below the new start (%d segments)", l.NumSegments())
	}
	m.dropBelow(target)
	m.check(t, l)
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	l = mustOpen(t, dir, testOptions())
	defer l.Close()
	m.check(t, l)
	// Moving the start to the very end keeps the active segment.
	if err := l.SetLogStartOffset(m.leo); err != nil {
		t.Fatal(err)
	}
	m.dropBelow(m.leo)
	m.check(t, l)
}

func TestOffsetForTimestamp(t *testing.T) {
	dir := t.TempDir()
	l := mustOpen(t, dir, testOptions())
	defer l.Close()
	m := &model{}
	// Timestamps: batch i, record j has 1000 + 10*i + j; a dip in the
	// middle checks that "first record >= ts" is by offset, not by time.
	for i := 0; l.NumSegments() < 5; i++ {
		ts := 1000 + 10*int64(i)
		if i == 30 {
			ts = 500
		}
		m.appendBatch(t, l, 1+i%4, ts, 30)
	}
	brute := func(ts, logStart int64) (int64, int64, bool) {
		for _, b := range m.batches {
			for off := b.base; off <= b.last; off++ {
				rts := b.ts + (off - b.base)
				if off >= logStart && rts >= ts {
					return off, rts, true
				}
			}
		}
		return -1, -1, false
	}
	check := func() {
		t.Helper()
		for ts := int64(0); ts < 1000+10*int64(len(m.batches))+20; ts += 3 {
			off, rts, ok, err := l.OffsetForTimestamp(ts)
			if err != nil {
				t.Fatal(err)
			}
			woff, wts, wok := brute(ts, l.LogStartOffset())
			if off != woff || rts != wts || ok != wok {
				t.Fatalf("OffsetForTimestamp(%d) = (%d, %d, %v), want (%d, %d, %v)", ts, off, rts, ok, woff, wts, wok)
			}
		}
	}
	check()
	if err := l.SetLogStartOffset(m.batches[3].base + 1); err != nil {
		t.Fatal(err)
	}
	check()

	ts, off := l.MaxTimestamp()
	lastB := m.batches[len(m.batches)-1]
	if ts != lastB.ts+(lastB.last-lastB.base) || off != lastB.last {
		t.Errorf("MaxTimestamp = (%d, %d), want (%d, %d)", ts, off, lastB.ts+(lastB.last-lastB.base), lastB.last)
	}
}

func TestMaxTimestampEmpty(t *testing.T) {
	l := mustOpen(t, t.TempDir(), testOptions())
	defer l.Close()
	if ts, off := l.MaxTimestamp(); ts != -1 || off != -1 {
		t.Fatalf("MaxTimestamp of an empty log = (%d, %d)", ts, off)
	}
	if _, _, ok, err := l.OffsetForTimestamp(0); ok || err != nil {
		t.Fatalf("OffsetForTimestamp on an empty log = %v, %v", ok, err)
	}
}

func TestTruncateTo(t *testing.T) {
	tests := []struct {
		name string
		// target picks the truncation offset from the model.
		target func(m *model) int64
	}{
		{"inside the active segment", func(m *model) int64 { return m.batches[len(m.batches)-2].base }},
		{"mid-batch drops the whole batch", func(m *model) int64 { return m.batches[len(m.batches)-3].base + 1 }},
		{"into an older segment", func(m *model) int64 { return m.batches[len(m.batches)/3].base }},
		{"to the start", func(m *model) int64 { return 0 }},
		{"at LEO is a no-op", func(m *model) int64 { return m.leo }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			l := mustOpen(t, dir, testOptions())
			m := &model{}
			fillLog(t, l, m, 4)
			if _, err := l.Flush(); err != nil {
				t.Fatal(err)
			}
			off := tt.target(m)
			if err := l.TruncateTo(off); err != nil {
				t.Fatal(err)
			}
			i := 0
			for i < len(m.batches) && m.batches[i].last < off {
				i++
			}
			m.batches = m.batches[:i]
			if i > 0 {
				m.leo = m.batches[i-1].last + 1
			} else {
				m.leo = 0
			}
			m.check(t, l)
			if got := l.FlushedOffset(); got > m.leo {
				t.Errorf("FlushedOffset %d above LEO %d after truncation", got, m.leo)
			}
			m.appendBatch(t, l, 2, 7777, 10)
			m.check(t, l)
			if err := l.Close(); err != nil {
				t.Fatal(err)
			}
			l = mustOpen(t, dir, testOptions())
			defer l.Close()
			m.check(t, l)
		})
	}
}

func TestTruncateBelowStart(t *testing.T) {
	dir := t.TempDir()
	l := mustOpen(t, dir, testOptions())
	defer l.Close()
	m := &model{}
	fillLog(t, l, m, 3)
	if err := l.SetLogStartOffset(m.leo - 2); err != nil {
		t.Fatal(err)
	}
	if err := l.TruncateTo(5); err != nil {
		t.Fatal(err)
	}
	m.batches, m.logStart, m.leo = nil, 5, 5
	m.check(t, l)
	m.appendBatch(t, l, 3, 1, 1)
	m.check(t, l)
}

func TestScanBatches(t *testing.T) {
	l := mustOpen(t, t.TempDir(), testOptions())
	defer l.Close()
	m := &model{}
	fillLog(t, l, m, 3)
	from := m.batches[4].base + 1
	var got []int64
	err := l.ScanBatches(from, func(h record.BatchHeader) bool {
		got = append(got, h.BaseOffset)
		return len(got) < 10
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 10 {
		t.Fatalf("scanned %d batches, want 10 (fn said stop)", len(got))
	}
	for i, base := range got {
		if base != m.batches[4+i].base {
			t.Fatalf("batch %d has base %d, want %d", i, base, m.batches[4+i].base)
		}
	}
}

func TestFlushFailureIsSticky(t *testing.T) {
	l := mustOpen(t, t.TempDir(), testOptions())
	defer l.Close()
	m := &model{}
	m.appendBatch(t, l, 1, 1, 1)
	boom := errors.New("EIO")
	l.syncHook = func(*os.File) error { return boom }
	if _, err := l.Flush(); !errors.Is(err, boom) || !errors.Is(err, ErrStorage) {
		t.Fatalf("Flush err = %v, want EIO wrapped in ErrStorage", err)
	}
	l.syncHook = nil // a retry would now "succeed": it must not be tried
	if _, err := l.Flush(); !errors.Is(err, ErrStorage) {
		t.Fatalf("second Flush err = %v, want the sticky failure", err)
	}
	if _, _, err := l.Append(mkBatch(1, 1, 1)); !errors.Is(err, ErrStorage) {
		t.Fatalf("Append after a failed fsync err = %v", err)
	}
	if _, err := l.Read(0, 1, 100, true); !errors.Is(err, ErrStorage) {
		t.Fatalf("Read after a failed fsync err = %v", err)
	}
	if got := l.FlushedOffset(); got != 0 {
		t.Fatalf("FlushedOffset = %d after a failed fsync", got)
	}
}

// A failed write (a full disk) fails that append only: nothing of it is
// kept, earlier data is intact, and appends resume when writes work again.
func TestWriteFailureIsNotSticky(t *testing.T) {
	dir := t.TempDir()
	l := mustOpen(t, dir, testOptions())
	m := &model{}
	m.appendBatch(t, l, 1, 1, 1)
	if _, err := l.Flush(); err != nil {
		t.Fatal(err)
	}
	l.writeHook = func(f *os.File, b []byte, off int64) (int, error) {
		n, _ := f.WriteAt(b[:len(b)/2], off) // a partial write, then the disk is full
		return n, syscall.ENOSPC
	}
	if _, _, err := l.Append(mkBatch(1, 1, 1)); !errors.Is(err, syscall.ENOSPC) || !errors.Is(err, ErrStorage) {
		t.Fatalf("Append on a full disk err = %v, want ENOSPC wrapped in ErrStorage", err)
	}
	if leo := l.LogEndOffset(); leo != 1 {
		t.Fatalf("LogEndOffset = %d after a failed append, want 1", leo)
	}
	l.writeHook = nil
	m.appendBatch(t, l, 1, 1, 1)
	if _, err := l.Flush(); err != nil {
		t.Fatal(err)
	}
	l.Close()
	l = mustOpen(t, dir, testOptions())
	defer l.Close()
	if leo := l.LogEndOffset(); leo != 2 {
		t.Fatalf("after reopen LogEndOffset = %d, want 2 (the partial write must be gone)", leo)
	}
}

// TestGroupCommit runs concurrent appenders that each flush after every
// append: every Flush must cover the caller's own append, and concurrent
// Flush calls must share fsyncs.
func TestGroupCommit(t *testing.T) {
	l := mustOpen(t, t.TempDir(), Options{Logger: quietLogger})
	defer l.Close()
	const workers, perWorker = 8, 50
	start := l.Syncs()
	var wg sync.WaitGroup
	errs := make(chan error, workers)
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < perWorker; i++ {
				_, next, err := l.Append(mkBatch(2, int64(i), 100))
				if err != nil {
					errs <- err
					return
				}
				flushed, err := l.Flush()
				if err != nil {
					errs <- err
					return
				}
				if flushed < next {
					errs <- errors.New("Flush returned before covering the caller's append")
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	syncs := l.Syncs() - start
	if syncs >= workers*perWorker {
		t.Fatalf("%d fsyncs for %d Flush calls: no group commit", syncs, workers*perWorker)
	}
	t.Logf("%d fsyncs for %d Flush calls", syncs, workers*perWorker)
	if got, want := l.FlushedOffset(), int64(workers*perWorker*2); got != want {
		t.Fatalf("FlushedOffset = %d, want %d", got, want)
	}
}

// TestReadsDuringDeletion races readers against retention and truncation:
// a read may fail only with ErrOffsetOutOfRange, and what it returns is
// whole batches.
func TestReadsDuringDeletion(t *testing.T) {
	o := testOptions()
	l := mustOpen(t, t.TempDir(), o)
	defer l.Close()
	m := &model{}
	fillLog(t, l, m, 6)
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for r := 0; r < 4; r++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				off := l.LogStartOffset()
				b, err := l.Read(off, l.LogEndOffset(), 4096, true)
				if err != nil && !errors.Is(err, ErrOffsetOutOfRange) {
					t.Error(err)
					return
				}
				if err := record.Split(b, func(record.BatchHeader, []byte) error { return nil }); err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	for i := 0; i < 30; i++ {
		m.appendBatch(t, l, 2, int64(i), 200)
		o.RetentionBytes = 3 * o.SegmentBytes
		l.SetOptions(o)
		if _, err := l.ApplyRetention(math.MaxInt64); err != nil {
			t.Error(err)
		}
	}
	close(stop)
	wg.Wait()
}

func TestClosedAndDelete(t *testing.T) {
	dir := t.TempDir()
	l := mustOpen(t, dir, testOptions())
	m := &model{}
	m.appendBatch(t, l, 1, 1, 1)
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	if _, _, err := l.Append(mkBatch(1, 1, 1)); !errors.Is(err, ErrClosed) {
		t.Fatalf("Append after Close err = %v", err)
	}
	if _, err := l.Read(0, 1, 10, true); !errors.Is(err, ErrClosed) {
		t.Fatalf("Read after Close err = %v", err)
	}
	l = mustOpen(t, filepath.Join(dir, "p-0"), testOptions())
	if err := l.Delete(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dir, "p-0")); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("Delete left the directory: %v", err)
	}
}

func TestSegmentAgeRoll(t *testing.T) {
	clock := newFakeClock()
	o := Options{SegmentAge: time.Hour, Now: clock.Now, Logger: quietLogger}
	l := mustOpen(t, t.TempDir(), o)
	defer l.Close()
	m := &model{}
	m.appendBatch(t, l, 1, 1000, 1)
	m.appendBatch(t, l, 1, 1000+time.Hour.Milliseconds(), 1)
	if got := l.NumSegments(); got != 1 {
		t.Fatalf("rolled at exactly segment.ms: %d segments", got)
	}
	m.appendBatch(t, l, 1, 1001+time.Hour.Milliseconds(), 1)
	if got := l.NumSegments(); got != 2 {
		t.Fatalf("%d segments, want a roll once the first batch is older than segment.ms", got)
	}
	// Without timestamps, the segment's creation time counts.
	m.appendBatch(t, l, 1, -1, 1)
	clock.Advance(2 * time.Hour)
	m.appendBatch(t, l, 1, -1, 1)
	if got := l.NumSegments(); got != 3 {
		t.Fatalf("%d segments, want a roll by wall clock", got)
	}
	m.check(t, l)
}

// TestRecoveryLogsTruncation checks the operator-facing WARN line: it must
// name the file, the position cut at, and why.
func TestRecoveryLogsTruncation(t *testing.T) {
	dir := t.TempDir()
	l := mustOpen(t, dir, Options{Logger: quietLogger})
	m := &model{}
	m.appendBatch(t, l, 2, 1, 10)
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	appendToFile(t, lastSegment(t, dir), []byte("torn write"))
	var buf bytes.Buffer
	o := Options{Logger: slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelWarn}))}
	l = mustOpen(t, dir, o)
	defer l.Close()
	out := buf.String()
	for _, want := range []string{"level=WARN", "file=00000000000000000000.log",
		"position=" + strconv.Itoa(len(m.batches[0].bytes)), "dropped_bytes=10", "reason="} {
		if !strings.Contains(out, want) {
			t.Errorf("log output lacks %q:\n%s", want, out)
		}
	}
}

// TestRollSyncFailure: the fsync that seals a segment at roll fails, so the
// append that needed the roll fails and the Log stays failed.
func TestRollSyncFailure(t *testing.T) {
	l := mustOpen(t, t.TempDir(), testOptions())
	defer l.Close()
	m := &model{}
	m.appendBatch(t, l, 1, 1, 10)
	l.syncHook = func(*os.File) error { return errors.New("EIO") }
	var err error
	for i := 0; err == nil && i < 100; i++ {
		_, _, err = l.Append(mkBatch(3, 1, 100))
	}
	if !errors.Is(err, ErrStorage) || l.NumSegments() != 1 {
		t.Fatalf("Append needing a roll err = %v with %d segments; want ErrStorage and no new segment", err, l.NumSegments())
	}
	l.syncHook = nil
	if _, _, err := l.Append(mkBatch(1, 1, 1)); !errors.Is(err, ErrStorage) {
		t.Fatalf("Append after a failed roll err = %v", err)
	}
	if _, err := l.Flush(); !errors.Is(err, ErrStorage) {
		t.Fatalf("Flush after a failed roll err = %v", err)
	}
}

// TestCheckpointSyncFailureIsSticky: a failed fsync while writing the
// log-start-offset or recovery-point file (of the temp file, or of the
// directory after the rename) takes the Log offline like a failed segment
// fsync; it is not retried at the next checkpoint.
func TestCheckpointSyncFailureIsSticky(t *testing.T) {
	for _, tc := range []struct {
		name string
		// failOn picks which fsync fails: the temp file or the directory.
		failOn func(f *os.File) bool
		do     func(l *Log) error
	}{
		{"log start, temp file", isTemp, func(l *Log) error { return l.SetLogStartOffset(2) }},
		{"log start, directory", isDir, func(l *Log) error { return l.SetLogStartOffset(2) }},
		{"recovery point, temp file", isTemp, func(l *Log) error { return l.CheckpointRecoveryPoint() }},
		{"recovery point, directory", isDir, func(l *Log) error { return l.CheckpointRecoveryPoint() }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			l := mustOpen(t, t.TempDir(), testOptions())
			defer l.Close()
			m := &model{}
			m.appendBatch(t, l, 5, 1, 10)
			if _, err := l.Flush(); err != nil {
				t.Fatal(err)
			}
			boom := errors.New("EIO")
			l.syncHook = func(f *os.File) error {
				if tc.failOn(f) {
					return boom
				}
				return f.Sync()
			}
			if err := tc.do(l); !errors.Is(err, boom) {
				t.Fatalf("err = %v, want the injected EIO", err)
			}
			l.syncHook = nil
			if err := l.Failed(); !errors.Is(err, ErrStorage) {
				t.Fatalf("Failed() = %v after a failed checkpoint fsync, want ErrStorage", err)
			}
			if _, _, err := l.Append(mkBatch(1, 1, 1)); !errors.Is(err, ErrStorage) {
				t.Fatalf("Append after a failed checkpoint fsync err = %v, want ErrStorage", err)
			}
		})
	}
}

func isTemp(f *os.File) bool { return strings.HasSuffix(f.Name(), ".tmp") }

func isDir(f *os.File) bool {
	st, err := f.Stat()
	return err == nil && st.IsDir()
}

// TestDirectoriesGetFsync: directory syncs use fsync(2), never the
// fdatasync used for segment files.
func TestDirectoriesGetFsync(t *testing.T) {
	defer func(orig, origDir func(*os.File) error) { fileSync, dirSync = orig, origDir }(fileSync, dirSync)
	var dirsToFile, dirsToDir int
	fileSync = func(f *os.File) error {
		if isDir(f) {
			dirsToFile++
		}
		return datasync(f)
	}
	dirSync = func(f *os.File) error {
		if isDir(f) {
			dirsToDir++
		}
		return f.Sync()
	}
	l := mustOpen(t, t.TempDir(), testOptions())
	defer l.Close()
	m := &model{}
	fillLog(t, l, m, 3) // rolls: new segments need a directory sync
	if _, err := l.Flush(); err != nil {
		t.Fatal(err)
	}
	if err := l.SetLogStartOffset(1); err != nil {
		t.Fatal(err)
	}
	if dirsToFile != 0 || dirsToDir == 0 {
		t.Fatalf("directory syncs: %d through fdatasync, %d through fsync; want 0 and some", dirsToFile, dirsToDir)
	}
}

// TestOutOfDescriptorsIsNotAStorageFailure: when the directory cannot even
// be opened for its fsync (EMFILE), the flush fails but the log does not go
// offline, and the next flush, with descriptors back, succeeds and makes
// everything durable.
func TestOutOfDescriptorsIsNotAStorageFailure(t *testing.T) {
	defer func(orig func(string) (*os.File, error)) { openDir = orig }(openDir)
	l := mustOpen(t, t.TempDir(), testOptions())
	defer l.Close()
	m := &model{}
	fillLog(t, l, m, 2) // a new segment: the next flush must sync the directory
	openDir = func(string) (*os.File, error) {
		return nil, &os.PathError{Op: "open", Path: "dir", Err: syscall.EMFILE}
	}
	if _, err := l.Flush(); !errors.Is(err, syscall.EMFILE) {
		t.Fatalf("Flush err = %v, want EMFILE", err)
	}
	if err := l.Failed(); err != nil {
		t.Fatalf("out of descriptors took the log offline: %v", err)
	}
	if f := l.FlushedOffset(); f == l.LogEndOffset() {
		t.Fatal("the flush published an offset whose new segment's directory entry was not synced")
	}
	if err := l.SetLogStartOffset(1); err == nil || l.Failed() != nil {
		t.Fatalf("checkpoint without a directory handle: err %v, failed %v; want an error and a healthy log", err, l.Failed())
	}
	openDir = os.Open
	if f, err := l.Flush(); err != nil || f != l.LogEndOffset() {
		t.Fatalf("Flush with descriptors back = %d, %v; want %d, nil", f, err, l.LogEndOffset())
	}
	if _, _, err := l.Append(mkBatch(1, 1, 1)); err != nil {
		t.Fatalf("Append after EMFILE: %v", err)
	}
}
