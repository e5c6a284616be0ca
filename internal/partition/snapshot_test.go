package partition

import (
	"bytes"
	"encoding/binary"
	"errors"
	"hash/crc32"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/samsa-io/samsa/internal/log"
)

// produce appends a batch of n records from producer pid at seq and fails
// the test on error.
func produce(t *testing.T, p *Partition, pid int64, seq int32, n int) AppendResult {
	t.Helper()
	res, err := p.Append(batch(pid, 0, seq, n), time.Now())
	if err != nil {
		t.Fatalf("Append(pid %d, seq %d): %v", pid, seq, err)
	}
	return res
}

func snapshotFiles(t testing.TB, dir string) []int64 {
	t.Helper()
	offs, err := listSnapshots(dir)
	if err != nil {
		t.Fatal(err)
	}
	return offs
}

// TestRestartKeepsDuplicateDetection: after a restart a retried batch is
// still answered as a duplicate with its original offsets, whether the state
// comes from a snapshot, from a full scan (no snapshot) or from a full scan
// because the snapshot is corrupt.
func TestRestartKeepsDuplicateDetection(t *testing.T) {
	tests := []struct {
		name         string
		mangle       func(t *testing.T, dir string)
		fromSnapshot bool
	}{
		{"snapshot", func(*testing.T, string) {}, true},
		{"no snapshot", func(t *testing.T, dir string) {
			for _, off := range snapshotFiles(t, dir) {
				if err := os.Remove(filepath.Join(dir, snapshotName(off))); err != nil {
					t.Fatal(err)
				}
			}
		}, false},
		{"corrupt snapshot", func(t *testing.T, dir string) {
			offs := snapshotFiles(t, dir)
			if len(offs) != 1 {
				t.Fatalf("snapshots %v, want one", offs)
			}
			path := filepath.Join(dir, snapshotName(offs[0]))
			b, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			b[len(b)-1] ^= 0xFF
			if err := os.WriteFile(path, b, 0o644); err != nil {
				t.Fatal(err)
			}
		}, false},
		{"torn snapshot", func(t *testing.T, dir string) {
			offs := snapshotFiles(t, dir)
			if err := os.Truncate(filepath.Join(dir, snapshotName(offs[0])), 9); err != nil {
				t.Fatal(err)
			}
		}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			p := openTest(t, dir)
			var last AppendResult
			for i := int32(0); i < 6; i++ {
				last = produce(t, p, 7, i*3, 3)
				produce(t, p, 8, i*2, 2)
			}
			if err := p.Close(); err != nil {
				t.Fatal(err)
			}
			if got := snapshotFiles(t, dir); len(got) != 1 || got[0] != p.LogEndOffset() {
				t.Fatalf("after Close snapshots = %v, want [%d]", got, p.LogEndOffset())
			}
			tt.mangle(t, dir)

			p = openTest(t, dir)
			defer p.Close()
			if tt.fromSnapshot != (p.stateFrom == p.LogEndOffset()) || !tt.fromSnapshot && p.stateFrom != 0 {
				t.Fatalf("producer state scanned from %d (LEO %d), want from snapshot = %v", p.stateFrom, p.LogEndOffset(), tt.fromSnapshot)
			}
			if tt.name != "snapshot" {
				if n := len(snapshotFiles(t, dir)); n != 0 {
					t.Fatalf("%d unusable snapshots left behind", n)
				}
			}
			res, err := p.Append(batch(7, 0, 15, 3), time.Now())
			if err != nil || !res.Duplicate || res.BaseOffset != last.BaseOffset {
				t.Fatalf("retry after restart = %+v, %v; want duplicate at %d", res, err, last.BaseOffset)
			}
			if _, err := p.Append(batch(7, 0, 19, 1), time.Now()); !errors.Is(err, ErrOutOfOrderSequence) {
				t.Fatalf("gap after restart: err = %v, want ErrOutOfOrderSequence", err)
			}
			if res := produce(t, p, 7, 18, 1); res.Duplicate {
				t.Fatal("next sequence after restart reported as a duplicate")
			}
		})
	}
}

// rollingConfig makes segments roll every few batches.
func rollingConfig(dir string) Config {
	return Config{Topic: "t", Dir: dir, SyncOnAck: true, MaxMessageBytes: 1 << 20,
		Log: log.Options{SegmentBytes: 1000, RetentionAge: -1}}
}

// TestSnapshotsAtRollArePruned: every roll writes a snapshot at the log end,
// only the newest two stay, and after a crash (no Close) Open starts the scan
// at the newest one and still detects duplicates past it.
func TestSnapshotsAtRollArePruned(t *testing.T) {
	dir := t.TempDir()
	p, err := Open(rollingConfig(dir))
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	var results []AppendResult
	for i := int32(0); p.NumSegments() < 6; i++ {
		results = append(results, produce(t, p, 3, i*2, 2))
	}
	offs := snapshotFiles(t, dir)
	if len(offs) != snapshotsKept {
		t.Fatalf("snapshots = %v, want the newest %d", offs, snapshotsKept)
	}
	for _, off := range offs {
		st, err := readSnapshot(dir, off)
		if err != nil {
			t.Fatal(err)
		}
		ps := st.m[3]
		if ps == nil || ps.batches[len(ps.batches)-1].lastOffset != off-1 {
			t.Fatalf("snapshot %d does not end at the batch before it: %+v", off, ps)
		}
	}
	// Two more batches past the newest snapshot, then a crash image.
	n := int32(len(results))
	results = append(results, produce(t, p, 3, n*2, 2), produce(t, p, 3, n*2+2, 2))
	if err := p.Flush(); err != nil {
		t.Fatal(err)
	}
	img := copyDir(t, dir)
	q, err := Open(rollingConfig(img))
	if err != nil {
		t.Fatal(err)
	}
	defer q.Close()
	if q.stateFrom != offs[len(offs)-1] {
		t.Fatalf("state scanned from %d, want the newest snapshot %d", q.stateFrom, offs[len(offs)-1])
	}
	for _, i := range []int{len(results) - 1, len(results) - 3} {
		res, err := q.Append(batch(3, 0, int32(i)*2, 2), time.Now())
		if err != nil || !res.Duplicate || res.BaseOffset != results[i].BaseOffset {
			t.Fatalf("retry of batch %d = %+v, %v; want duplicate at %d", i, res, err, results[i].BaseOffset)
		}
	}
}

// TestSnapshotPastLogEndIsDeleted: a snapshot describing offsets the log
// does not have (a torn tail was cut, a truncation) is never used.
func TestSnapshotPastLogEndIsDeleted(t *testing.T) {
	dir := t.TempDir()
	p := openTest(t, dir)
	produce(t, p, 5, 0, 2)
	if err := p.Close(); err != nil {
		t.Fatal(err)
	}
	bogus := newProducers()
	bogus.m[5] = &producerState{batches: []cachedBatch{{firstSeq: 0, lastSeq: 9, firstOffset: 0, lastOffset: 9}}}
	if err := writeSnapshotFile(dir, 10, encodeSnapshot(10, &bogus)); err != nil {
		t.Fatal(err)
	}
	p = openTest(t, dir)
	defer p.Close()
	if offs := snapshotFiles(t, dir); len(offs) != 1 || offs[0] != 2 {
		t.Fatalf("snapshots after Open = %v, want [2]", offs)
	}
	// The real state (last seq 1) is in force, not the bogus one (9).
	if res := produce(t, p, 5, 2, 1); res.Duplicate || res.BaseOffset != 2 {
		t.Fatalf("append = %+v", res)
	}
}

// TestTruncateDropsSnapshotsAndState: a truncation below a snapshot deletes
// it, and a batch it dropped is appended again rather than answered as a
// duplicate of offsets that no longer exist.
func TestTruncateDropsSnapshotsAndState(t *testing.T) {
	dir := t.TempDir()
	p, err := Open(rollingConfig(dir))
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	var results []AppendResult
	for i := int32(0); p.NumSegments() < 4; i++ {
		results = append(results, produce(t, p, 3, i*2, 2))
	}
	if err := p.Flush(); err != nil {
		t.Fatal(err)
	}
	cut := len(results) - 4
	if err := p.TruncateTo(results[cut].BaseOffset); err != nil {
		t.Fatal(err)
	}
	for _, off := range snapshotFiles(t, dir) {
		if off > p.LogEndOffset() {
			t.Fatalf("snapshot %d survived a truncation to %d", off, p.LogEndOffset())
		}
	}
	res, err := p.Append(batch(3, 0, int32(cut)*2, 2), time.Now())
	if err != nil || res.Duplicate || res.BaseOffset != results[cut].BaseOffset {
		t.Fatalf("re-append after truncation = %+v, %v", res, err)
	}
}

// copyDir copies the files of dir into a new directory, as a kill -9 leaves
// them (the page cache survives).
func copyDir(t *testing.T, dir string) string {
	t.Helper()
	out := t.TempDir()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		b, err := os.ReadFile(filepath.Join(dir, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(out, e.Name()), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return out
}

func sampleSnapshot() []byte {
	p := newProducers()
	p.m[1] = &producerState{epoch: 2, txnFirstOffset: 20, coordinatorEpoch: 4, batches: []cachedBatch{
		{firstSeq: 0, lastSeq: 4, firstOffset: 10, lastOffset: 14, timestamp: -1},
		{firstSeq: 5, lastSeq: 5, firstOffset: 20, lastOffset: 20, timestamp: 1_700_000_000_000},
	}}
	p.m[9] = &producerState{epoch: 0, txnFirstOffset: -1, coordinatorEpoch: -1}
	return encodeSnapshot(30, &p)
}

// TestDecodeSnapshotRejects: every inconsistency is errBadSnapshot.
func TestDecodeSnapshotRejects(t *testing.T) {
	good := sampleSnapshot()
	if off, p, err := decodeSnapshot(good); err != nil || off != 30 || len(p.m) != 2 || len(p.m[1].batches) != 2 ||
		p.m[1].txnFirstOffset != 20 || p.m[1].coordinatorEpoch != 4 || p.m[9].txnFirstOffset != -1 ||
		len(p.ongoing) != 1 || p.ongoing[0] != (txnRef{producerID: 1, firstOffset: 20}) {
		t.Fatalf("decode good = %d, %+v, %v", off, p, err)
	}
	// mutate edits a copy and fixes the CRC, so the structural check is
	// what must reject it.
	mutate := func(f func(b []byte) []byte) []byte {
		b := f(append([]byte(nil), good...))
		if len(b) >= snapshotHeaderSize {
			binary.BigEndian.PutUint32(b[6:], crc32Castagnoli(b[10:]))
		}
		return b
	}
	tests := []struct {
		name string
		b    []byte
	}{
		{"empty", nil},
		{"short header", good[:10]},
		{"bad magic", mutate(func(b []byte) []byte { b[0] = 'X'; return b })},
		{"bad version", mutate(func(b []byte) []byte { b[5] = 9; return b })},
		{"bad crc", func() []byte { b := append([]byte(nil), good...); b[30] ^= 1; return b }()},
		{"huge count", mutate(func(b []byte) []byte { binary.BigEndian.PutUint32(b[18:], 1<<30); return b })},
		{"negative count", mutate(func(b []byte) []byte { binary.BigEndian.PutUint32(b[18:], 0xFFFFFFFF); return b })},
		{"trailing byte", mutate(func(b []byte) []byte { return append(b, 0) })},
		{"cut short", mutate(func(b []byte) []byte { return b[:len(b)-1] })},
		{"offset below a batch", mutate(func(b []byte) []byte { binary.BigEndian.PutUint64(b[10:], 20); return b })},
		{"too many batches", mutate(func(b []byte) []byte { b[snapshotHeaderSize+producerEntrySize-1] = 6; return b })},
		{"open transaction at the snapshot offset", mutate(func(b []byte) []byte {
			binary.BigEndian.PutUint64(b[snapshotHeaderSize+18:], 30)
			return b
		})},
		{"transaction first offset below -1", mutate(func(b []byte) []byte {
			binary.BigEndian.PutUint64(b[snapshotHeaderSize+18:], 0xFFFFFFFFFFFFFFF0)
			return b
		})},
		{"coordinator epoch below -1", mutate(func(b []byte) []byte {
			binary.BigEndian.PutUint32(b[snapshotHeaderSize+26:], 0xFFFFFFF0)
			return b
		})},
		{"ids out of order", mutate(func(b []byte) []byte {
			binary.BigEndian.PutUint64(b[snapshotHeaderSize+producerEntrySize+2*batchEntrySize:], 1)
			return b
		})},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, _, err := decodeSnapshot(tt.b); !errors.Is(err, errBadSnapshot) {
				t.Fatalf("decode = %v, want errBadSnapshot", err)
			}
		})
	}
}

// FuzzProducerSnapshot checks, for any input: decodeSnapshot never panics
// and never allocates more than the input can describe (counts are checked
// against the bytes left); what it accepts has at most maxCachedBatches
// batches per producer, each with offsets below the snapshot's; and
// re-encoding the decoded state of a current-version file gives back exactly
// the input (the format is canonical, so no two files decode to the same
// state).
func FuzzProducerSnapshot(f *testing.F) {
	f.Add(sampleSnapshot())
	empty := newProducers()
	f.Add(encodeSnapshot(0, &empty))
	f.Add([]byte(snapshotMagic))
	f.Add([]byte{})
	f.Add(bytes.Repeat([]byte{0xFF}, snapshotHeaderSize+producerEntrySize))
	f.Fuzz(func(t *testing.T, b []byte) {
		off, p, err := decodeSnapshot(b)
		if err != nil {
			if !errors.Is(err, errBadSnapshot) {
				t.Fatalf("error %v is not errBadSnapshot", err)
			}
			return
		}
		open := 0
		for id, ps := range p.m {
			if len(ps.batches) > maxCachedBatches {
				t.Fatalf("producer %d has %d batches", id, len(ps.batches))
			}
			if ps.txnFirstOffset >= off || ps.txnFirstOffset < -1 {
				t.Fatalf("producer %d transaction at %d vs snapshot offset %d", id, ps.txnFirstOffset, off)
			}
			if ps.txnFirstOffset >= 0 {
				open++
			}
			for _, cb := range ps.batches {
				if cb.lastOffset >= off || cb.firstOffset > cb.lastOffset {
					t.Fatalf("producer %d batch %+v vs offset %d", id, cb, off)
				}
			}
		}
		if open != len(p.ongoing) {
			t.Fatalf("%d open transactions, %d ongoing", open, len(p.ongoing))
		}
		if binary.BigEndian.Uint16(b[4:]) != snapshotVersion {
			return // an older version decodes, but is written as the current one
		}
		if re := encodeSnapshot(off, &p); !bytes.Equal(re, b) {
			t.Fatalf("re-encoding differs:\n%x\n%x", b, re)
		}
	})
}

func crc32Castagnoli(b []byte) uint32 { return crc32.Checksum(b, castagnoli) }

// TestDecodeSnapshotV1: a version-1 snapshot (written before producers had a
// last timestamp) still loads, with the timestamp unknown (-1), so an
// upgrade does not cost a full scan of the log.
func TestDecodeSnapshotV1(t *testing.T) {
	b := make([]byte, snapshotHeaderSize)
	copy(b, snapshotMagic)
	binary.BigEndian.PutUint16(b[4:], 1)
	binary.BigEndian.PutUint64(b[10:], 30)
	binary.BigEndian.PutUint32(b[18:], 1)
	b = binary.BigEndian.AppendUint64(b, 7) // producer id
	b = binary.BigEndian.AppendUint16(b, 3) // epoch
	b = append(b, 1)                        // one batch
	for _, v := range []uint32{0, 4} {
		b = binary.BigEndian.AppendUint32(b, v)
	}
	for _, v := range []int64{10, 14, -1} {
		b = binary.BigEndian.AppendUint64(b, uint64(v))
	}
	binary.BigEndian.PutUint32(b[6:], crc32Castagnoli(b[10:]))
	off, p, err := decodeSnapshot(b)
	if err != nil || off != 30 {
		t.Fatalf("decode v1 = %d, %v", off, err)
	}
	ps := p.m[7]
	if ps == nil || ps.epoch != 3 || ps.lastTimestamp != -1 || ps.txnFirstOffset != -1 || len(ps.batches) != 1 || ps.batches[0].lastSeq != 4 {
		t.Fatalf("decoded v1 state %+v", ps)
	}
}

// TestDecodeSnapshotV2: a version-2 snapshot (before transactions) loads
// with no transaction open and no coordinator epoch seen.
func TestDecodeSnapshotV2(t *testing.T) {
	b := make([]byte, snapshotHeaderSize)
	copy(b, snapshotMagic)
	binary.BigEndian.PutUint16(b[4:], 2)
	binary.BigEndian.PutUint64(b[10:], 30)
	binary.BigEndian.PutUint32(b[18:], 1)
	b = binary.BigEndian.AppendUint64(b, 7)             // producer id
	b = binary.BigEndian.AppendUint16(b, 3)             // epoch
	b = binary.BigEndian.AppendUint64(b, 1_700_000_000) // last timestamp
	b = append(b, 0)                                    // no batch
	binary.BigEndian.PutUint32(b[6:], crc32Castagnoli(b[10:]))
	off, p, err := decodeSnapshot(b)
	if err != nil || off != 30 {
		t.Fatalf("decode v2 = %d, %v", off, err)
	}
	ps := p.m[7]
	if ps == nil || ps.epoch != 3 || ps.lastTimestamp != 1_700_000_000 || ps.txnFirstOffset != -1 || ps.coordinatorEpoch != -1 || len(p.ongoing) != 0 {
		t.Fatalf("decoded v2 state %+v", ps)
	}
}
