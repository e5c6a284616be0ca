package log

import (
	"bytes"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/samsa-io/samsa/internal/record"
)

// fakeClock is an injectable Options.Now.
type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func newFakeClock() *fakeClock { return &fakeClock{now: time.UnixMilli(1_700_000_000_000)} }

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// quietLogger drops log lines; tests assert on state, not on log text.
var quietLogger = slog.New(slog.DiscardHandler)

// testOptions are small enough to roll often.
func testOptions() Options {
	return Options{
		SegmentBytes:       2000,
		IndexIntervalBytes: 200,
		RetentionAge:       -1,
		Logger:             quietLogger,
	}
}

func mustOpen(t testing.TB, dir string, o Options) *Log {
	t.Helper()
	l, err := Open(dir, o)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	return l
}

// mkBatch builds a valid uncompressed batch of n records whose timestamps
// are ts, ts+1, ... and whose values are valueSize bytes. Its base offset is
// 0; Append assigns the real one.
func mkBatch(n int, ts int64, valueSize int) []byte {
	recs := make([]record.Record, n)
	for i := range recs {
		v := bytes.Repeat([]byte{byte('a' + i%26)}, valueSize)
		recs[i] = record.Record{OffsetDelta: int32(i), TimestampDelta: int64(i), Value: v}
	}
	return record.BuildBatch(record.BuildOptions{
		FirstTimestamp: ts, ProducerID: -1, ProducerEpoch: -1, BaseSequence: record.NoSequence,
	}, recs)
}

// modelBatch is one appended batch as the tests expect to read it back.
type modelBatch struct {
	base, last int64
	ts         int64 // first record's timestamp; record i has ts+i
	bytes      []byte
}

// model is what a Log should contain.
type model struct {
	batches  []modelBatch
	logStart int64
	leo      int64
}

func (m *model) appendBatch(t testing.TB, l *Log, n int, ts int64, valueSize int) {
	t.Helper()
	b := mkBatch(n, ts, valueSize)
	base, next, err := l.Append(b)
	if err != nil {
		t.Fatalf("Append: %v", err)
	}
	if base != m.leo || next != m.leo+int64(n) {
		t.Fatalf("Append offsets = (%d, %d), want (%d, %d)", base, next, m.leo, m.leo+int64(n))
	}
	m.batches = append(m.batches, modelBatch{base: base, last: next - 1, ts: ts, bytes: b})
	m.leo = next
}

// batchFor returns the index of the batch holding offset.
func (m *model) batchFor(offset int64) int {
	for i, b := range m.batches {
		if offset >= b.base && offset <= b.last {
			return i
		}
	}
	return -1
}

// dropBelow forgets batches wholly below the log start offset.
func (m *model) dropBelow(logStart int64) {
	m.logStart = logStart
	i := 0
	for i < len(m.batches) && m.batches[i].last < logStart {
		i++
	}
	m.batches = m.batches[i:]
}

// check compares l with the model: offsets, and a read at every offset.
func (m *model) check(t testing.TB, l *Log) {
	t.Helper()
	if got := l.LogEndOffset(); got != m.leo {
		t.Fatalf("LogEndOffset = %d, want %d", got, m.leo)
	}
	if got := l.LogStartOffset(); got != m.logStart {
		t.Fatalf("LogStartOffset = %d, want %d", got, m.logStart)
	}
	if err := checkReads(l, m); err != nil {
		t.Fatal(err)
	}
}

// checkReads reads at every offset in [logStart, leo] and just outside it.
func checkReads(l *Log, m *model) error {
	for off := m.logStart; off < m.leo; off++ {
		got, err := l.Read(off, m.leo, 1<<20, true)
		if err != nil {
			return fmt.Errorf("Read(%d): %v", off, err)
		}
		i := m.batchFor(off)
		if i < 0 {
			return fmt.Errorf("model has no batch for offset %d", off)
		}
		// The result is a run of whole model batches starting at i.
		rest := got
		for j := i; len(rest) > 0; j++ {
			if j >= len(m.batches) || !bytes.HasPrefix(rest, m.batches[j].bytes) {
				return fmt.Errorf("Read(%d): batch %d of the result does not match the model", off, j-i)
			}
			rest = rest[len(m.batches[j].bytes):]
		}
		if len(got) == 0 {
			return fmt.Errorf("Read(%d) returned nothing", off)
		}
	}
	if got, err := l.Read(m.leo, m.leo, 1<<20, true); err != nil || len(got) != 0 {
		return fmt.Errorf("Read(LEO=%d) = %d bytes, %v; want empty", m.leo, len(got), err)
	}
	if _, err := l.Read(m.leo+1, m.leo+1, 1<<20, true); !errors.Is(err, ErrOffsetOutOfRange) {
		return fmt.Errorf("Read(LEO+1) err = %v, want ErrOffsetOutOfRange", err)
	}
	if m.logStart > 0 {
		if _, err := l.Read(m.logStart-1, m.leo, 1<<20, true); !errors.Is(err, ErrOffsetOutOfRange) {
			return fmt.Errorf("Read(logStart-1) err = %v, want ErrOffsetOutOfRange", err)
		}
	}
	return nil
}

// segmentFiles lists the .log files in dir.
func segmentFiles(t testing.TB, dir string) []string {
	t.Helper()
	names, err := filepath.Glob(filepath.Join(dir, "*"+logSuffix))
	if err != nil {
		t.Fatal(err)
	}
	return names
}

// lastSegment returns the path of the newest .log in dir.
func lastSegment(t testing.TB, dir string) string {
	t.Helper()
	names := segmentFiles(t, dir)
	if len(names) == 0 {
		t.Fatal("no segments")
	}
	return names[len(names)-1]
}

func appendToFile(t testing.TB, path string, b []byte) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.Write(b); err != nil {
		t.Fatal(err)
	}
}

// forceRoll starts a new segment now, if the active one is not empty.
func forceRoll(t testing.TB, l *Log) {
	t.Helper()
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.activeLocked().size == 0 {
		return
	}
	if err := l.rollLocked(); err != nil {
		t.Fatalf("roll: %v", err)
	}
}
