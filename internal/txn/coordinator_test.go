package txn

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/samsa-io/samsa/internal/partition"
	"github.com/samsa-io/samsa/internal/record"
)

// memPartition is an in-memory __transaction_state partition.
type memPartition struct {
	mu       sync.Mutex
	batches  [][]byte
	next     int64
	failNext error
}

func (m *memPartition) Append(b []byte, _ time.Time) (partition.AppendResult, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.failNext != nil {
		err := m.failNext
		m.failNext = nil
		return partition.AppendResult{}, err
	}
	h, err := record.ParseHeader(b)
	if err != nil {
		return partition.AppendResult{}, err
	}
	c := append([]byte(nil), b...)
	record.SetBaseOffset(c, m.next)
	m.batches = append(m.batches, c)
	base := m.next
	m.next += int64(h.LastOffsetDelta) + 1
	return partition.AppendResult{BaseOffset: base, NextOffset: m.next}, nil
}
func (m *memPartition) Flush() error { return nil }
func (m *memPartition) Read(off int64, _ int, _ bool) (partition.ReadResult, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []byte
	for _, b := range m.batches {
		h, _ := record.ParseHeader(b)
		if h.LastOffset() >= off {
			out = append(out, b...)
		}
	}
	return partition.ReadResult{Records: out, HighWatermark: m.next}, nil
}
func (m *memPartition) LogStartOffset() int64 { return 0 }
func (m *memPartition) LogEndOffset() int64 {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.next
}
func (m *memPartition) HighWatermark() int64 { return m.LogEndOffset() }

// markerLog records the markers written; fail makes partitions fail.
type markerLog struct {
	mu      sync.Mutex
	written []Markers
	fail    map[TopicPartition]error
}

func (l *markerLog) WriteMarkers(_ context.Context, m Markers) map[TopicPartition]error {
	l.mu.Lock()
	defer l.mu.Unlock()
	out := map[TopicPartition]error{}
	var ok []TopicPartition
	for _, tp := range m.Partitions {
		if err := l.fail[tp]; err != nil {
			out[tp] = err
			continue
		}
		ok = append(ok, tp)
	}
	m.Partitions = ok
	l.written = append(l.written, m)
	return out
}

func (l *markerLog) all() []Markers {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]Markers(nil), l.written...)
}

type fixture struct {
	c     *Coordinator
	parts []*memPartition
	ml    *markerLog
	now   time.Time
	nowMu sync.Mutex
	pid   int64
}

func newFixture(t *testing.T, n int) *fixture {
	f := &fixture{ml: &markerLog{fail: map[TopicPartition]error{}}, now: time.UnixMilli(1_700_000_000_000), pid: 1000}
	for range n {
		f.parts = append(f.parts, &memPartition{})
	}
	f.start(t, 0)
	return f
}

func (f *fixture) clock() time.Time {
	f.nowMu.Lock()
	defer f.nowMu.Unlock()
	return f.now
}

func (f *fixture) advance(d time.Duration) {
	f.nowMu.Lock()
	f.now = f.now.Add(d)
	f.nowMu.Unlock()
}

// start (re)creates the coordinator over the same partitions, leading all
// of them at epoch.
func (f *fixture) start(t *testing.T, epoch int32) {
	t.Helper()
	if f.c != nil {
		f.c.Close()
	}
	var pidMu sync.Mutex
	f.c = New(Config{
		MaxTimeout: time.Minute, AbortInterval: time.Hour, ExpireInterval: time.Hour, IDExpiration: 24 * time.Hour,
		OffsetsPartitions: func() int { return 50 },
		AllocateProducerID: func() (int64, error) {
			pidMu.Lock()
			defer pidMu.Unlock()
			f.pid++
			return f.pid, nil
		},
		Markers: f.ml,
		Now:     f.clock,
	})
	t.Cleanup(f.c.Close)
	for i, p := range f.parts {
		f.c.SetLeadership(i, len(f.parts), p, epoch, true)
	}
	waitFor(t, "load", func() bool { _, loading := f.c.Loaded(); return loading == 0 })
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

func (f *fixture) state(t *testing.T, id string) Meta {
	t.Helper()
	m, err := f.c.Describe(id)
	if err != nil {
		t.Fatalf("describe %s: %v", id, err)
	}
	return m
}

func (f *fixture) waitState(t *testing.T, id string, want State) Meta {
	t.Helper()
	var m Meta
	waitFor(t, fmt.Sprintf("%s to reach %s", id, want), func() bool {
		var err error
		m, err = f.c.Describe(id)
		return err == nil && m.State == want
	})
	return m
}

var tpA, tpB = TopicPartition{"a", 0}, TopicPartition{"b", 3}

func TestCommitLifecycle(t *testing.T) {
	f := newFixture(t, 3)
	pid, epoch, err := f.c.InitProducerID("t1", 10*time.Second, -1, -1, 0)
	if err != nil || epoch != 0 {
		t.Fatalf("init: pid %d epoch %d err %v", pid, epoch, err)
	}
	if err := f.c.AddPartitions("t1", pid, epoch, []TopicPartition{tpB, tpA}); err != nil {
		t.Fatal(err)
	}
	if err := f.c.AddOffsets("t1", pid, epoch, "g"); err != nil {
		t.Fatal(err)
	}
	m := f.state(t, "t1")
	if m.State != Ongoing || len(m.Partitions) != 3 || m.StartTime.IsZero() {
		t.Fatalf("after add: %+v", m)
	}
	if _, _, err := f.c.EndTxn("t1", pid, epoch, true, false); err != nil {
		t.Fatal(err)
	}
	f.waitState(t, "t1", CompleteCommit)
	ms := f.ml.all()
	if len(ms) != 1 || !ms[0].Commit || ms[0].ProducerID != pid || ms[0].ProducerEpoch != epoch || len(ms[0].Partitions) != 3 {
		t.Fatalf("markers %+v", ms)
	}
	// A retried EndTxn (v1) of the same commit succeeds; an abort is refused.
	if _, _, err := f.c.EndTxn("t1", pid, epoch, true, false); err != nil {
		t.Fatalf("retried commit: %v", err)
	}
	if _, _, err := f.c.EndTxn("t1", pid, epoch, false, false); !errors.Is(err, ErrInvalidTxnState) {
		t.Fatalf("abort after commit: %v", err)
	}
	// The state survives a coordinator restart (replay).
	f.start(t, 1)
	if m := f.state(t, "t1"); m.State != CompleteCommit || m.ProducerID != pid || m.ProducerEpoch != epoch {
		t.Fatalf("after reload: %+v", m)
	}
}

func TestFencing(t *testing.T) {
	f := newFixture(t, 1)
	pid, e0, _ := f.c.InitProducerID("t", 10*time.Second, -1, -1, 0)
	if err := f.c.AddPartitions("t", pid, e0, []TopicPartition{tpA}); err != nil {
		t.Fatal(err)
	}
	// A second instance: the open transaction is aborted with a bumped
	// epoch first (CONCURRENT_TRANSACTIONS), then the retry gets a newer epoch.
	if _, _, err := f.c.InitProducerID("t", 10*time.Second, -1, -1, 0); !errors.Is(err, ErrConcurrentTransactions) {
		t.Fatalf("init over open txn: %v", err)
	}
	f.waitState(t, "t", CompleteAbort)
	ms := f.ml.all()
	if len(ms) != 1 || ms[0].Commit || ms[0].ProducerEpoch != e0+1 {
		t.Fatalf("fencing abort markers %+v", ms)
	}
	pid2, e2, err := f.c.InitProducerID("t", 10*time.Second, -1, -1, 0)
	if err != nil || pid2 != pid || e2 != e0+2 {
		t.Fatalf("second init: %d/%d %v", pid2, e2, err)
	}
	// The old instance is fenced everywhere.
	for name, err := range map[string]error{
		"add": f.c.AddPartitions("t", pid, e0, []TopicPartition{tpA}),
		"end": func() error { _, _, err := f.c.EndTxn("t", pid, e0, true, false); return err }(),
	} {
		if !errors.Is(err, ErrProducerFenced) {
			t.Errorf("%s with the old epoch: %v", name, err)
		}
	}
	if err := f.c.AddPartitions("t", pid+1, e2, []TopicPartition{tpA}); !errors.Is(err, ErrInvalidProducerIDMapping) {
		t.Errorf("wrong producer id: %v", err)
	}
	// KIP-360: the current instance may re-init with its own pid/epoch;
	// anyone else's expectation is fenced.
	if _, _, err := f.c.InitProducerID("t", 10*time.Second, pid, e0, 0); !errors.Is(err, ErrProducerFenced) {
		t.Errorf("re-init with a stale epoch: %v", err)
	}
	_, e3, err := f.c.InitProducerID("t", 10*time.Second, pid, e2, 0)
	if err != nil || e3 != e2+1 {
		t.Errorf("KIP-360 re-init: %d %v", e3, err)
	}
	// Retrying that same bump returns the same epoch, without bumping again.
	if _, e, err := f.c.InitProducerID("t", 10*time.Second, pid, e2, 0); err != nil || e != e3 {
		t.Errorf("retried KIP-360 re-init: %d %v", e, err)
	}
}

func TestTimeoutAbortsWithBumpedEpoch(t *testing.T) {
	f := newFixture(t, 1)
	pid, e, _ := f.c.InitProducerID("slow", 2*time.Second, -1, -1, 0)
	if err := f.c.AddPartitions("slow", pid, e, []TopicPartition{tpA}); err != nil {
		t.Fatal(err)
	}
	f.advance(time.Second)
	if n := f.c.AbortTimedOut(); n != 0 {
		t.Fatalf("aborted %d before the timeout", n)
	}
	f.advance(1500 * time.Millisecond)
	if n := f.c.AbortTimedOut(); n != 1 {
		t.Fatalf("aborted %d after the timeout", n)
	}
	m := f.waitState(t, "slow", CompleteAbort)
	if m.ProducerEpoch != e+1 || len(m.Partitions) != 0 {
		t.Fatalf("after timeout: %+v", m)
	}
	if _, _, err := f.c.EndTxn("slow", pid, e, true, false); !errors.Is(err, ErrProducerFenced) {
		t.Fatalf("commit after the timeout: %v", err)
	}
}

func TestMarkersRetriedUntilWritten(t *testing.T) {
	f := newFixture(t, 1)
	pid, e, _ := f.c.InitProducerID("r", 10*time.Second, -1, -1, 0)
	_ = f.c.AddPartitions("r", pid, e, []TopicPartition{tpA, tpB})
	f.ml.mu.Lock()
	f.ml.fail[tpB] = errors.New("leader moved")
	f.ml.fail[tpA] = ErrPartitionGone
	f.ml.mu.Unlock()
	if _, _, err := f.c.EndTxn("r", pid, e, false, false); err != nil {
		t.Fatal(err)
	}
	time.Sleep(100 * time.Millisecond)
	if m := f.state(t, "r"); m.State != PrepareAbort {
		t.Fatalf("completed with a marker unwritten: %s", m.State)
	}
	// Requests meanwhile: the id is busy.
	if _, _, err := f.c.InitProducerID("r", 10*time.Second, -1, -1, 0); !errors.Is(err, ErrConcurrentTransactions) {
		t.Fatalf("init while completing: %v", err)
	}
	f.ml.mu.Lock()
	delete(f.ml.fail, tpB)
	f.ml.mu.Unlock()
	f.waitState(t, "r", CompleteAbort)
}

func TestPreparedTransactionFinishedAfterFailover(t *testing.T) {
	f := newFixture(t, 1)
	pid, e, _ := f.c.InitProducerID("p", 10*time.Second, -1, -1, 0)
	_ = f.c.AddPartitions("p", pid, e, []TopicPartition{tpA})
	f.ml.mu.Lock()
	f.ml.fail[tpA] = errors.New("down")
	f.ml.mu.Unlock()
	if _, _, err := f.c.EndTxn("p", pid, e, true, false); err != nil {
		t.Fatal(err)
	}
	f.ml.mu.Lock()
	delete(f.ml.fail, tpA)
	f.ml.mu.Unlock()
	// The new coordinator (epoch 5) replays PrepareCommit and finishes it.
	f.start(t, 5)
	m := f.waitState(t, "p", CompleteCommit)
	var found bool
	for _, w := range f.ml.all() {
		if w.CoordinatorEpoch == 5 && w.Commit && len(w.Partitions) == 1 {
			found = true
		}
	}
	if !found || m.ProducerEpoch != e {
		t.Fatalf("markers after failover %+v, meta %+v", f.ml.all(), m)
	}
}

func TestTransactionsV2EndTxnBumpsEpoch(t *testing.T) {
	f := newFixture(t, 1)
	pid, e, _ := f.c.InitProducerID("v2", 10*time.Second, -1, -1, 0)
	_ = f.c.AddPartitions("v2", pid, e, []TopicPartition{tpA})
	p2, e2, err := f.c.EndTxn("v2", pid, e, true, true)
	if err != nil || p2 != pid || e2 != e+1 {
		t.Fatalf("end v2: %d/%d %v", p2, e2, err)
	}
	f.waitState(t, "v2", CompleteCommit)
	if ms := f.ml.all(); len(ms) != 1 || ms[0].ProducerEpoch != e+1 {
		t.Fatalf("markers carry the bumped epoch: %+v", ms)
	}
	// A retry with the old epoch gets the same answer.
	if p, ep, err := f.c.EndTxn("v2", pid, e, true, true); err != nil || p != pid || ep != e2 {
		t.Fatalf("retried end v2: %d/%d %v", p, ep, err)
	}
	// While a completion runs, ending the next transaction (with the
	// bumped epoch) is retriable, commit or abort.
	_ = f.c.AddPartitions("v2", pid, e2, []TopicPartition{tpA})
	f.ml.mu.Lock()
	f.ml.fail[tpA] = errors.New("slow leader")
	f.ml.mu.Unlock()
	_, e3, err := f.c.EndTxn("v2", pid, e2, true, true)
	if err != nil {
		t.Fatal(err)
	}
	for _, commit := range []bool{true, false} {
		if _, _, err := f.c.EndTxn("v2", pid, e3, commit, true); !errors.Is(err, ErrConcurrentTransactions) {
			t.Fatalf("end (commit=%v) during the completion: %v", commit, err)
		}
	}
	f.ml.mu.Lock()
	delete(f.ml.fail, tpA)
	f.ml.mu.Unlock()
	f.waitState(t, "v2", CompleteCommit)
	e2 = e3
	// An abort with nothing open still bumps the epoch.
	if _, ep, err := f.c.EndTxn("v2", pid, e2, false, true); err != nil || ep != e2+1 {
		t.Fatalf("empty abort v2: %d %v", ep, err)
	}
}

func TestInvalidRequests(t *testing.T) {
	f := newFixture(t, 1)
	if _, _, err := f.c.InitProducerID("x", 2*time.Minute, -1, -1, 0); !errors.Is(err, ErrInvalidTimeout) {
		t.Errorf("timeout above max: %v", err)
	}
	if _, _, err := f.c.InitProducerID("", time.Second, -1, -1, 0); !errors.Is(err, ErrInvalidID) {
		t.Errorf("empty id: %v", err)
	}
	if err := f.c.AddPartitions("nobody", 1, 0, []TopicPartition{tpA}); !errors.Is(err, ErrInvalidProducerIDMapping) {
		t.Errorf("unknown id: %v", err)
	}
	pid, e, _ := f.c.InitProducerID("x", time.Second, -1, -1, 0)
	if _, _, err := f.c.EndTxn("x", pid, e, true, false); !errors.Is(err, ErrInvalidTxnState) {
		t.Errorf("commit with nothing open: %v", err)
	}
	if _, err := f.c.Describe("nobody"); !errors.Is(err, ErrUnknownID) {
		t.Errorf("describe unknown: %v", err)
	}
	// A failed write changes nothing.
	f.parts[0].mu.Lock()
	f.parts[0].failNext = partition.ErrNotLeader
	f.parts[0].mu.Unlock()
	if err := f.c.AddPartitions("x", pid, e, []TopicPartition{tpA}); !errors.Is(err, ErrNotCoordinator) {
		t.Errorf("failed write: %v", err)
	}
	if m := f.state(t, "x"); m.State != Empty || len(m.Partitions) != 0 {
		t.Errorf("state after a failed write: %+v", m)
	}
	// Not leading: NOT_COORDINATOR.
	f.c.SetLeadership(0, 1, nil, -1, false)
	if _, _, err := f.c.InitProducerID("x", time.Second, -1, -1, 0); !errors.Is(err, ErrNotCoordinator) {
		t.Errorf("after losing leadership: %v", err)
	}
}

func TestExpireIdleIDs(t *testing.T) {
	f := newFixture(t, 1)
	pid, e, _ := f.c.InitProducerID("old", time.Second, -1, -1, 0)
	_, _, _ = f.c.InitProducerID("busy", time.Second, -1, -1, 0)
	f.advance(23 * time.Hour)
	_, be, _ := f.c.InitProducerID("busy", time.Second, -1, -1, 0)
	f.advance(2 * time.Hour)
	if n := f.c.ExpireIDs(); n != 1 {
		t.Fatalf("expired %d ids, want 1", n)
	}
	if _, err := f.c.Describe("old"); !errors.Is(err, ErrUnknownID) {
		t.Fatalf("expired id still described: %v", err)
	}
	_ = pid
	_ = e
	f.start(t, 1)
	if _, err := f.c.Describe("old"); !errors.Is(err, ErrUnknownID) {
		t.Fatalf("tombstone not replayed: %v", err)
	}
	if m := f.state(t, "busy"); m.ProducerEpoch != be {
		t.Fatalf("busy id: %+v", m)
	}
}

func FuzzDecodeMeta(f *testing.F) {
	k, v := encodeMeta("id", &Meta{ID: "id", ProducerID: 5, ProducerEpoch: 2, Timeout: time.Second, State: Ongoing,
		Partitions: []TopicPartition{{"a", 1}, {"a", 2}, {"b", 0}}, StartTime: time.UnixMilli(5), LastUpdate: time.UnixMilli(6)})
	f.Add(k, v)
	f.Add(k, []byte(nil))
	f.Fuzz(func(t *testing.T, key, value []byte) {
		id, m, err := decodeMeta(key, value)
		if err != nil || m == nil {
			return
		}
		k2, v2 := encodeMeta(id, m)
		id2, m2, err := decodeMeta(k2, v2)
		if err != nil || id2 != id || m2.State != m.State || m2.ProducerID != m.ProducerID || len(m2.Partitions) != len(m.Partitions) {
			t.Fatalf("re-encoding changed the record: %v %+v -> %+v", err, m, m2)
		}
	})
}
