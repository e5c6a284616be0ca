package log

import (
	"bytes"
	"encoding/binary"
	"errors"
	"math"
	"os"
	"path/filepath"
	"testing"

	"github.com/samsa-io/samsa/internal/record"
)

// FuzzOffsetIndex checks, for any .index bytes: no panic; decoding accepts
// exactly whole entries with strictly increasing offsets and positions
// inside the log; an accepted index re-encodes to the same bytes; and a
// lookup returns the position of the last entry at or below the target
// (0 when none), so a scan from it never starts past the target's batch.
func FuzzOffsetIndex(f *testing.F) {
	entry := func(rel, pos uint32) []byte {
		return binary.BigEndian.AppendUint32(binary.BigEndian.AppendUint32(nil, rel), pos)
	}
	f.Add([]byte{}, int64(0), int64(100), int64(5))
	f.Add(append(entry(3, 100), entry(9, 300)...), int64(1000), int64(400), int64(1005))
	f.Add(append(entry(3, 100), entry(3, 300)...), int64(0), int64(400), int64(3)) // not increasing
	f.Add(entry(3, 500), int64(0), int64(400), int64(3))                           // past the log
	f.Add([]byte{1, 2, 3}, int64(0), int64(400), int64(3))                         // torn
	f.Add(entry(0xffffffff, 1), int64(0), int64(400), int64(3))                    // negative
	f.Fuzz(func(t *testing.T, b []byte, base, logSize, target int64) {
		entries, err := decodeOffsetIndex(b, base, logSize)
		if err != nil {
			if !errors.Is(err, errBadIndex) {
				t.Fatalf("error %v does not wrap errBadIndex", err)
			}
			return
		}
		if len(entries)*offsetEntrySize != len(b) {
			t.Fatalf("%d entries from %d bytes", len(entries), len(b))
		}
		var re []byte
		for i, e := range entries {
			if e.pos < 0 || e.pos >= logSize || e.offset < base {
				t.Fatalf("entry %d = %+v accepted outside the log", i, e)
			}
			if i > 0 && (e.offset <= entries[i-1].offset || e.pos <= entries[i-1].pos) {
				t.Fatalf("entry %d = %+v accepted out of order", i, e)
			}
			re = appendOffsetEntry(re, base, e)
		}
		if !bytes.Equal(re, b) {
			t.Fatalf("re-encoding differs")
		}
		got := lookupPosition(entries, target)
		want := int64(0)
		for _, e := range entries {
			if e.offset <= target {
				want = e.pos
			}
		}
		if got != want {
			t.Fatalf("lookupPosition(%d) = %d, want %d", target, got, want)
		}
	})
}

// FuzzTimeIndex checks, for any .timeindex bytes: no panic; decoding
// accepts whole entries with strictly increasing timestamps and
// non-decreasing offsets; an accepted index re-encodes to the same bytes;
// and lookupTime returns the offset of the last entry strictly below the
// target timestamp (-1 when none).
func FuzzTimeIndex(f *testing.F) {
	entry := func(ts int64, rel uint32) []byte {
		return binary.BigEndian.AppendUint32(binary.BigEndian.AppendUint64(nil, uint64(ts)), rel)
	}
	f.Add([]byte{}, int64(0), int64(5))
	f.Add(append(entry(100, 3), entry(200, 9)...), int64(1000), int64(150))
	f.Add(append(entry(100, 3), entry(100, 9)...), int64(0), int64(100)) // equal timestamps
	f.Add(append(entry(100, 9), entry(200, 3)...), int64(0), int64(100)) // offsets go back
	f.Add(entry(-1, 0), int64(0), int64(0))
	f.Add([]byte{0, 0, 0}, int64(0), int64(0))
	f.Fuzz(func(t *testing.T, b []byte, base, target int64) {
		entries, err := decodeTimeIndex(b, base)
		if err != nil {
			if !errors.Is(err, errBadIndex) {
				t.Fatalf("error %v does not wrap errBadIndex", err)
			}
			return
		}
		if len(entries)*timeEntrySize != len(b) {
			t.Fatalf("%d entries from %d bytes", len(entries), len(b))
		}
		var re []byte
		for i, e := range entries {
			if i > 0 && (e.timestamp <= entries[i-1].timestamp || e.offset < entries[i-1].offset) {
				t.Fatalf("entry %d = %+v accepted out of order", i, e)
			}
			re = appendTimeEntry(re, base, e)
		}
		if !bytes.Equal(re, b) {
			t.Fatalf("re-encoding differs")
		}
		want := int64(-1)
		for _, e := range entries {
			if e.timestamp < target {
				want = e.offset
			}
		}
		if got := lookupTime(entries, target); got != want {
			t.Fatalf("lookupTime(%d) = %d, want %d", target, got, want)
		}
	})
}

// FuzzLogOps runs random sequences of operations against a Log and a model
// of its content (redpanda's storage opfuzz): append, roll, flush,
// truncate, DeleteRecords, retention by bytes, reopen, and a crash that
// leaves garbage after the last batch (with and without a clean-shutdown
// marker, which must then not be trusted). After every step it checks
// LogEndOffset, LogStartOffset and a Read at every offset against the
// model. Invariants: no panic; recovery drops exactly the garbage; every
// readable offset returns the batch that holds it; retention and
// truncation only move the start to a batch boundary it can justify.
func FuzzLogOps(f *testing.F) {
	f.Add([]byte{0, 0, 0, 1, 0, 0, 5, 0, 2, 3, 0, 6, 0})
	f.Add([]byte{0, 10, 0, 20, 0, 30, 1, 0, 0, 4, 7, 0, 2, 5, 0})
	f.Add([]byte{0, 1, 0, 2, 0, 3, 0, 4, 1, 0, 0, 0, 0, 3, 2, 2, 1, 7, 6, 5, 0})
	f.Add([]byte{0, 255, 0, 255, 0, 255, 0, 255, 0, 255, 0, 255, 4, 200, 0, 7, 2, 0, 0})
	defer func(orig, origDir func(*os.File) error) { fileSync, dirSync = orig, origDir }(fileSync, dirSync)
	fileSync, dirSync = func(*os.File) error { return nil }, func(*os.File) error { return nil }
	f.Fuzz(logOpsBody)
}

func logOpsBody(t *testing.T, ops []byte) {
	{
		if len(ops) > 200 {
			ops = ops[:200]
		}
		dir := t.TempDir()
		o := Options{SegmentBytes: 600, IndexIntervalBytes: 100, RetentionAge: -1, Logger: quietLogger}
		l := mustOpen(t, dir, o)
		defer func() { l.Close() }()
		m := &model{}
		for i := 0; i+1 < len(ops); i += 2 {
			op, arg := ops[i]%8, int64(ops[i+1])
			switch op {
			case 0, 1: // append, the most common operation
				if m.leo-m.logStart > 300 {
					continue
				}
				m.appendBatch(t, l, 1+int(arg%5), 1000+arg, int(arg%40))
			case 2:
				forceRoll(t, l)
			case 3:
				if _, err := l.Flush(); err != nil {
					t.Fatal(err)
				}
			case 4: // TruncateTo
				off := m.logStart + arg%(m.leo-m.logStart+2) - 1
				if off < 0 {
					continue
				}
				if err := l.TruncateTo(off); err != nil {
					t.Fatal(err)
				}
				if off < m.leo {
					j := 0
					for j < len(m.batches) && m.batches[j].last < off {
						j++
					}
					m.batches = m.batches[:j]
					switch {
					case off < m.logStart:
						m.logStart, m.leo = off, off
					case j > 0:
						m.leo = m.batches[j-1].last + 1
					default:
						// Everything above the start went; where the
						// end lands depends on the segment boundary.
						got := l.LogEndOffset()
						if got > off || got < 0 {
							t.Fatalf("TruncateTo(%d) left LogEndOffset %d", off, got)
						}
						m.leo = got
						m.logStart = min(m.logStart, got)
					}
				}
			case 5: // DeleteRecords
				off := m.logStart + arg%(m.leo-m.logStart+1)
				if err := l.SetLogStartOffset(off); err != nil {
					t.Fatal(err)
				}
				m.dropBelow(off)
			case 6: // retention by bytes
				o.RetentionBytes = arg * 10
				l.SetOptions(o)
				if _, err := l.ApplyRetention(math.MaxInt64); err != nil {
					t.Fatal(err)
				}
				o.RetentionBytes = -1
				l.SetOptions(o)
				logStart := l.LogStartOffset()
				if logStart < m.logStart || logStart > m.leo {
					t.Fatalf("retention moved the start from %d to %d (LEO %d)", m.logStart, logStart, m.leo)
				}
				if logStart != m.logStart && m.batchFor(logStart) >= 0 && m.batches[m.batchFor(logStart)].base != logStart && logStart != m.leo {
					t.Fatalf("retention moved the start to %d, inside a batch", logStart)
				}
				m.dropBelow(logStart)
			case 7: // reopen, after a crash that left garbage when arg is odd
				if err := l.Close(); err != nil {
					t.Fatal(err)
				}
				if arg%2 == 1 {
					appendToFile(t, lastSegment(t, dir), bytes.Repeat([]byte{byte(arg)}, int(arg)))
				}
				// arg%4: 0 a clean restart, 1 garbage and no marker,
				// 2 an unclean restart from the recovery point, 3 garbage
				// under a marker that lies (the tail check must catch it).
				ro := o
				ro.CleanShutdown = arg%4 == 0 || arg%4 == 3
				l = mustOpen(t, dir, ro)
				if st := l.Recovery(); st.Clean != (arg%4 == 0) {
					t.Fatalf("reopen with arg %d: recovery %+v", arg, st)
				}
			}
			m.check(t, l)
		}
	}
}

// BenchmarkAppend appends 16 KiB batches of 1 KiB records; b.SetBytes makes
// the result read in MB/s. The batch is appended again and again (Append
// rewrites its base offset in place), so the loop allocates nothing.
func BenchmarkAppend(b *testing.B) {
	l, err := Open(b.TempDir(), Options{Logger: quietLogger})
	if err != nil {
		b.Fatal(err)
	}
	defer l.Close()
	batch := mkBatch(16, 1, 1024-20)
	b.SetBytes(int64(len(batch)))
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, _, err := l.Append(batch); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkAppendFlush is BenchmarkAppend with a Flush after every append
// from 8 goroutines: the group-commit path.
func BenchmarkAppendFlush(b *testing.B) {
	l, err := Open(b.TempDir(), Options{Logger: quietLogger})
	if err != nil {
		b.Fatal(err)
	}
	defer l.Close()
	batchSize := len(mkBatch(16, 1, 1024-20))
	b.SetBytes(int64(batchSize))
	b.ReportAllocs()
	b.SetParallelism(4)
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		batch := mkBatch(16, 1, 1024-20)
		for pb.Next() {
			if _, _, err := l.Append(batch); err != nil {
				b.Error(err)
				return
			}
			if _, err := l.Flush(); err != nil {
				b.Error(err)
				return
			}
		}
	})
	b.ReportMetric(float64(l.Syncs())/float64(b.N), "fsyncs/op")
}

// BenchmarkRead reads 1 MiB at a time from a log of 16 KiB batches.
func BenchmarkRead(b *testing.B) {
	l, err := Open(b.TempDir(), Options{Logger: quietLogger})
	if err != nil {
		b.Fatal(err)
	}
	defer l.Close()
	batch := mkBatch(16, 1, 1024-20)
	for i := 0; i < 256; i++ {
		if _, _, err := l.Append(batch); err != nil {
			b.Fatal(err)
		}
	}
	leo := l.LogEndOffset()
	b.SetBytes(1 << 20)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		off := int64(i*16*7) % leo
		if _, err := l.Read(off, leo, 1<<20, true); err != nil {
			b.Fatal(err)
		}
	}
}

// FuzzRecoverSegment writes arbitrary bytes as the active segment and opens
// the log. Invariants: no panic and no error (a damaged active tail is
// recoverable by definition); what survives is a prefix of the input made
// of whole, valid, contiguous batches starting at offset 0, and the file is
// cut to exactly that prefix; a Read at every surviving offset returns
// bytes of that prefix; appends continue at LogEndOffset.
func FuzzRecoverSegment(f *testing.F) {
	var valid []byte
	for i := 0; i < 3; i++ {
		b := mkBatch(1+i, int64(i), 10)
		record.SetBaseOffset(b, int64(i*(i+1)/2)) // 0, 1, 3
		valid = append(valid, b...)
	}
	f.Add(valid)
	f.Add(valid[:len(valid)-1])
	f.Add(append(append([]byte(nil), valid...), 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0))
	flipped := append([]byte(nil), valid...)
	flipped[len(flipped)-3] ^= 1
	f.Add(flipped)
	f.Add([]byte{})
	f.Add([]byte("not a batch at all, just text"))
	defer func(orig, origDir func(*os.File) error) { fileSync, dirSync = orig, origDir }(fileSync, dirSync)
	fileSync, dirSync = func(*os.File) error { return nil }, func(*os.File) error { return nil }
	f.Fuzz(func(t *testing.T, data []byte) {
		dir := t.TempDir()
		path := filepath.Join(dir, segmentName(0)+logSuffix)
		if err := os.WriteFile(path, data, 0o644); err != nil {
			t.Fatal(err)
		}
		l, err := Open(dir, Options{Logger: quietLogger, IndexIntervalBytes: 64})
		if err != nil {
			t.Fatalf("Open: %v", err)
		}
		defer l.Close()
		size := l.Size()
		if size > int64(len(data)) {
			t.Fatalf("recovered %d bytes from %d", size, len(data))
		}
		if fi, err := os.Stat(path); err != nil || fi.Size() != size {
			t.Fatalf("file not cut to the recovered %d bytes: %v, %v", size, fi.Size(), err)
		}
		prefix := data[:size]
		next := int64(0)
		err = record.Split(prefix, func(h record.BatchHeader, batch []byte) error {
			if _, err := record.Validate(batch); err != nil {
				return err
			}
			if h.BaseOffset != next {
				return errors.New("offsets not contiguous")
			}
			next = h.NextOffset()
			return nil
		})
		if err != nil {
			t.Fatalf("recovered prefix is not valid batches: %v", err)
		}
		if got := l.LogEndOffset(); got != next {
			t.Fatalf("LogEndOffset = %d, want %d", got, next)
		}
		for off := int64(0); off < next; off++ {
			b, err := l.Read(off, next, 1<<20, true)
			if err != nil || len(b) == 0 || !bytes.Contains(prefix, b) {
				t.Fatalf("Read(%d) = %d bytes, %v", off, len(b), err)
			}
		}
		if base, _, err := l.Append(mkBatch(1, 0, 1)); err != nil || base != next {
			t.Fatalf("Append after recovery = %d, %v; want %d", base, err, next)
		}
	})
}
