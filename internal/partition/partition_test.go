package partition

import (
	"errors"
	"github.com/samsa-io/samsa/internal/log"
	"testing"
	"time"

	"github.com/samsa-io/samsa/internal/record"
)

func openTest(t *testing.T, dir string) *Partition {
	t.Helper()
	p, err := Open(Config{Topic: "t", Index: 0, Dir: dir, SyncOnAck: true, MaxMessageBytes: 1 << 20})
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func batch(pid int64, epoch int16, seq int32, n int) []byte {
	recs := make([]record.Record, n)
	for i := range recs {
		recs[i] = record.Record{OffsetDelta: int32(i), Value: []byte("v")}
	}
	return record.BuildBatch(record.BuildOptions{
		FirstTimestamp: time.Now().UnixMilli(), ProducerID: pid, ProducerEpoch: epoch, BaseSequence: seq,
	}, recs)
}

func TestIdempotentProduce(t *testing.T) {
	dir := t.TempDir()
	p := openTest(t, dir)
	now := time.Now()

	type step struct {
		name      string
		b         []byte
		wantErr   error
		wantBase  int64
		duplicate bool
	}
	steps := []step{
		{"first batch", batch(7, 0, 0, 3), nil, 0, false},
		{"next batch", batch(7, 0, 3, 2), nil, 3, false},
		{"retry of the first is a duplicate", batch(7, 0, 0, 3), nil, 0, true},
		{"retry of the second is a duplicate", batch(7, 0, 3, 2), nil, 3, true},
		{"gap is out of order", batch(7, 0, 9, 1), ErrOutOfOrderSequence, 0, false},
		{"bumped epoch starts at 0", batch(7, 1, 0, 1), nil, 5, false},
		// KIP-360 / Kafka 2.5+: a producer the partition has no state for
		// (expired, or its batches deleted) is accepted at any sequence.
		{"unknown producer at any sequence", batch(8, 0, 4, 1), nil, 6, false},
		{"and continues from there", batch(8, 0, 5, 1), nil, 7, false},
		{"non-idempotent always appends", batch(-1, -1, -1, 1), nil, 8, false},
		{"older epoch is now invalid", batch(7, 0, 5, 1), ErrInvalidEpoch, 0, false},
		{"bumped epoch must start at 0", batch(7, 2, 3, 1), ErrOutOfOrderSequence, 0, false},
	}

	for _, s := range steps {
		res, err := p.Append(s.b, now)
		if !errors.Is(err, s.wantErr) {
			t.Fatalf("%s: err = %v, want %v", s.name, err, s.wantErr)
		}
		if err != nil {
			continue
		}
		if res.BaseOffset != s.wantBase || res.Duplicate != s.duplicate {
			t.Fatalf("%s: base %d dup %v, want %d %v", s.name, res.BaseOffset, res.Duplicate, s.wantBase, s.duplicate)
		}
	}
	if err := p.Flush(); err != nil {
		t.Fatal(err)
	}
	if hw := p.HighWatermark(); hw != 9 {
		t.Fatalf("hw = %d, want 9", hw)
	}
	if err := p.Close(); err != nil {
		t.Fatal(err)
	}

	// Producer state survives a restart: the retry of epoch 1's batch is
	// still recognised, and the sequence continues.
	p = openTest(t, dir)
	defer p.Close()
	res, err := p.Append(batch(7, 1, 0, 1), now)
	if err != nil || !res.Duplicate || res.BaseOffset != 5 {
		t.Fatalf("after restart: %+v %v, want duplicate at 5", res, err)
	}
	res, err = p.Append(batch(7, 1, 1, 1), now)
	if err != nil || res.BaseOffset != 9 {
		t.Fatalf("after restart next seq: %+v %v", res, err)
	}
}

func TestAppendRejectsCorruptWithoutWriting(t *testing.T) {
	p := openTest(t, t.TempDir())
	defer p.Close()
	good := batch(-1, -1, -1, 2)
	bad := append([]byte(nil), good...)
	bad[len(bad)-1] ^= 0xff // breaks the CRC
	for name, in := range map[string][]byte{
		"bad crc":            bad,
		"good then bad":      append(append([]byte(nil), good...), bad...),
		"truncated":          good[:len(good)-3],
		"length lies longer": func() []byte { b := append([]byte(nil), good...); b[11]++; return b }(),
	} {
		if _, err := p.Append(in, time.Now()); !errors.Is(err, record.ErrCorrupt) {
			t.Fatalf("%s: err = %v, want ErrCorrupt", name, err)
		}
	}
	if leo := p.LogEndOffset(); leo != 0 {
		t.Fatalf("log end offset %d after rejected appends; nothing may be written", leo)
	}
}

func TestMaxMessageBytes(t *testing.T) {
	p, err := Open(Config{Topic: "t", Dir: t.TempDir(), SyncOnAck: true, MaxMessageBytes: 100})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	big := record.BuildBatch(record.BuildOptions{ProducerID: -1, ProducerEpoch: -1, BaseSequence: -1},
		[]record.Record{{Value: make([]byte, 200)}})
	if _, err := p.Append(big, time.Now()); !errors.Is(err, ErrMessageTooLarge) {
		t.Fatalf("err = %v", err)
	}
}

func TestHighWatermarkFollowsFlushAndWakesWatchers(t *testing.T) {
	p := openTest(t, t.TempDir())
	defer p.Close()
	ch := make(chan struct{}, 1)
	cancel := p.Watch(ch)
	defer cancel()
	if _, err := p.Append(batch(-1, -1, -1, 4), time.Now()); err != nil {
		t.Fatal(err)
	}
	if hw := p.HighWatermark(); hw != 0 {
		t.Fatalf("hw %d before fsync; durable mode must not expose unsynced data", hw)
	}
	rr, err := p.Read(0, 1<<20, true)
	if err != nil || len(rr.Records) != 0 {
		t.Fatalf("read before flush: %d bytes, %v", len(rr.Records), err)
	}
	if err := p.Flush(); err != nil {
		t.Fatal(err)
	}
	select {
	case <-ch:
	case <-time.After(5 * time.Second):
		t.Fatal("watcher not woken by the high watermark moving")
	}
	rr, err = p.Read(0, 1<<20, true)
	if err != nil || len(rr.Records) == 0 || rr.HighWatermark != 4 {
		t.Fatalf("read after flush: %d bytes hw %d %v", len(rr.Records), rr.HighWatermark, err)
	}
	if _, err := p.Read(5, 100, true); !errors.Is(err, ErrOffsetOutOfRange) {
		t.Fatalf("read past end: %v", err)
	}
	if logStart, err := p.DeleteRecords(2); err != nil || logStart != 2 {
		t.Fatalf("delete records: %d %v", logStart, err)
	}
	if _, err := p.DeleteRecords(9); !errors.Is(err, ErrOffsetOutOfRange) {
		t.Fatalf("delete records past hw: %v", err)
	}
}

// TestRetentionStopsAtHighWatermark: retention.bytes asks for everything but
// the active segment to go, right after appends that rolled segments but are
// not committed yet (durable mode: nothing fsynced, HW 0). Retention must not
// move the log start past the high watermark; once the data is committed it
// may.
func TestRetentionStopsAtHighWatermark(t *testing.T) {
	p, err := Open(Config{Topic: "t", Index: 0, Dir: t.TempDir(), SyncOnAck: true, MaxMessageBytes: 1 << 20,
		Log: log.Options{SegmentBytes: 1024, RetentionBytes: 1}})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	for range 40 {
		if _, err := p.Append(batch(-1, -1, -1, 5), time.Now()); err != nil {
			t.Fatal(err)
		}
	}
	if p.NumSegments() < 3 {
		t.Fatalf("%d segments; the test needs rolled segments", p.NumSegments())
	}
	if hw := p.HighWatermark(); hw != 0 {
		t.Fatalf("HW %d before any flush, want 0", hw)
	}
	if n, err := p.ApplyRetention(); err != nil || n != 0 {
		t.Fatalf("ApplyRetention with HW 0 deleted %d segments (err %v), want none", n, err)
	}
	if ls, hw := p.LogStartOffset(), p.HighWatermark(); ls > hw {
		t.Fatalf("log start %d past high watermark %d", ls, hw)
	}
	if err := p.Flush(); err != nil {
		t.Fatal(err)
	}
	n, err := p.ApplyRetention()
	if err != nil || n == 0 {
		t.Fatalf("ApplyRetention after the flush = %d, %v; want segments deleted", n, err)
	}
	if ls, hw := p.LogStartOffset(), p.HighWatermark(); ls > hw || ls == 0 {
		t.Fatalf("after retention: log start %d, high watermark %d", ls, hw)
	}
}

// TestRelaxedAppendAcksWithoutFsync: with flush.messages above 1 an append
// is committed at once (HW follows the log end) without an fsync, and
// FlushNow turns true once flush.messages records are unflushed; FlushDue
// turns true when flush.ms has passed with something unflushed.
func TestRelaxedAppendAcksWithoutFsync(t *testing.T) {
	p, err := Open(Config{Topic: "t", Index: 0, Dir: t.TempDir(), MaxMessageBytes: 1 << 20,
		FlushMessages: 10, FlushInterval: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	syncs := p.Syncs()
	for i := range 4 {
		res, err := p.Append(batch(-1, -1, -1, 2), time.Now())
		if err != nil {
			t.Fatal(err)
		}
		if res.SyncOnAck || res.FlushNow {
			t.Fatalf("append %d: SyncOnAck %v FlushNow %v with %d of 10 records unflushed", i, res.SyncOnAck, res.FlushNow, 2*(i+1))
		}
		if hw := p.HighWatermark(); hw != int64(2*(i+1)) {
			t.Fatalf("append %d: HW %d, want the log end %d", i, hw, 2*(i+1))
		}
	}
	if p.FlushDue(time.Now()) {
		t.Fatal("FlushDue before flush.ms passed")
	}
	if !p.FlushDue(time.Now().Add(time.Hour)) {
		t.Fatal("FlushDue false with records unflushed for flush.ms")
	}
	res, err := p.Append(batch(-1, -1, -1, 2), time.Now())
	if err != nil || !res.FlushNow {
		t.Fatalf("10th record: FlushNow %v, err %v; want true", res.FlushNow, err)
	}
	if got := p.Syncs(); got != syncs {
		t.Fatalf("%d fsyncs during relaxed appends, want 0", got-syncs)
	}
	if err := p.Flush(); err != nil {
		t.Fatal(err)
	}
	if p.FlushDue(time.Now().Add(time.Hour)) {
		t.Fatal("FlushDue with nothing unflushed")
	}
}

// TestMultiBatchAppendIsAtomic: a request holding several batches of one
// idempotent producer is checked whole before anything is written: a bad
// sequence in the second batch leaves the first unwritten too. A request of
// produce v3+ (AppendBatch) may hold only one batch.
func TestMultiBatchAppendIsAtomic(t *testing.T) {
	p := openTest(t, t.TempDir())
	defer p.Close()
	now := time.Now()
	two := append(batch(7, 0, 0, 3), batch(7, 0, 9, 1)...)
	if _, err := p.Append(two, now); !errors.Is(err, ErrOutOfOrderSequence) {
		t.Fatalf("valid batch + out-of-order batch: err = %v, want ErrOutOfOrderSequence", err)
	}
	if leo := p.LogEndOffset(); leo != 0 {
		t.Fatalf("log end %d after a refused request, want 0 (nothing written)", leo)
	}
	// Nothing was recorded either: the producer still starts at 0.
	ok := append(batch(7, 0, 0, 3), batch(7, 0, 3, 2)...)
	res, err := p.Append(ok, now)
	if err != nil || res.BaseOffset != 0 || p.LogEndOffset() != 5 {
		t.Fatalf("two consecutive batches: base %d, LEO %d, err %v; want 0, 5, nil", res.BaseOffset, p.LogEndOffset(), err)
	}
	if _, err := p.AppendBatch(append(batch(7, 0, 5, 1), batch(7, 0, 6, 1)...), now); !errors.Is(err, ErrMultipleBatches) {
		t.Fatalf("AppendBatch with two batches: err = %v, want ErrMultipleBatches", err)
	}
	if leo := p.LogEndOffset(); leo != 5 {
		t.Fatalf("log end %d after a refused AppendBatch, want 5", leo)
	}
}

// TestProducerExpiry: producer.id.expiration.ms forgets a producer whose
// last batch is older than the ttl; one that appended recently stays, and so
// does its duplicate detection.
func TestProducerExpiry(t *testing.T) {
	p := openTest(t, t.TempDir())
	defer p.Close()
	now := time.Now()
	old := record.BuildBatch(record.BuildOptions{FirstTimestamp: now.Add(-2 * time.Hour).UnixMilli(),
		ProducerID: 1, ProducerEpoch: 0, BaseSequence: 0}, []record.Record{{Value: []byte("v")}})
	if _, err := p.Append(old, now); err != nil {
		t.Fatal(err)
	}
	fresh := batch(2, 0, 0, 1)
	if _, err := p.Append(fresh, now); err != nil {
		t.Fatal(err)
	}
	if n := p.ExpireProducers(now, time.Hour); n != 1 {
		t.Fatalf("expired %d producers, want 1 (the one idle for two hours)", n)
	}
	p.mu.Lock()
	_, has1 := p.producers.m[1]
	_, has2 := p.producers.m[2]
	p.mu.Unlock()
	if has1 || !has2 {
		t.Fatalf("after expiry: producer 1 kept %v, producer 2 kept %v; want false, true", has1, has2)
	}
	if res, err := p.Append(fresh, now); err != nil || !res.Duplicate {
		t.Fatalf("retry of the fresh producer's batch: duplicate %v, err %v; want a duplicate", res.Duplicate, err)
	}
	// The expired producer's state survives no restart either: the
	// snapshot written at Close holds only producer 2.
	if err := p.Close(); err != nil {
		t.Fatal(err)
	}
	q := openTest(t, p.Dir())
	defer q.Close()
	q.mu.Lock()
	_, has1 = q.producers.m[1]
	q.mu.Unlock()
	if has1 {
		t.Fatal("expired producer came back from the snapshot")
	}
}
