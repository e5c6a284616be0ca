package group

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/samsa-io/samsa/internal/partition"
	"github.com/samsa-io/samsa/internal/record"
)

// memPart is an in-memory __consumer_offsets partition that takes
// transactional batches the way partition.AppendCoordinator will: offsets
// assigned in order, a stale producer epoch refused with
// partition.ErrInvalidEpoch. Its high watermark is its log end.
type memPart struct {
	mu      sync.Mutex
	batches [][]byte // base offsets assigned
	next    int64
	epochs  map[int64]int16
	// hwGate, when set, holds the hwGateCall'th HighWatermark call (from
	// 1) after it has read the high watermark, until the channel is
	// closed; hwWaiting is closed when that call waits.
	hwGate     chan struct{}
	hwGateCall int
	hwWaiting  chan struct{}
	hwCalls    int
}

func (p *memPart) add(b []byte, txn bool) (partition.AppendResult, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.epochs == nil {
		p.epochs = make(map[int64]int16)
	}
	base, next := p.next, p.next
	var out [][]byte
	err := record.Split(b, func(h record.BatchHeader, raw []byte) error {
		if txn && h.ProducerID >= 0 {
			if cur, ok := p.epochs[h.ProducerID]; ok && h.ProducerEpoch < cur {
				return fmt.Errorf("%w: producer %d epoch %d < %d", partition.ErrInvalidEpoch, h.ProducerID, h.ProducerEpoch, cur)
			}
			p.epochs[h.ProducerID] = h.ProducerEpoch
		}
		cp := bytes.Clone(raw)
		record.SetBaseOffset(cp, next)
		next += int64(h.LastOffsetDelta) + 1
		out = append(out, cp)
		return nil
	})
	if err != nil {
		return partition.AppendResult{}, err
	}
	p.batches = append(p.batches, out...)
	p.next = next
	return partition.AppendResult{BaseOffset: base, NextOffset: next}, nil
}

func (p *memPart) Append(b []byte, _ time.Time) (partition.AppendResult, error) {
	return p.add(b, false)
}
func (p *memPart) AppendCoordinator(b []byte, _ time.Time) (partition.AppendResult, error) {
	return p.add(b, true)
}
func (p *memPart) Flush() error          { return nil }
func (p *memPart) LogStartOffset() int64 { return 0 }
func (p *memPart) HighWatermark() int64 {
	p.mu.Lock()
	hw := p.next
	p.hwCalls++
	gate := p.hwGate
	if p.hwCalls != p.hwGateCall {
		gate = nil
	}
	waiting := p.hwWaiting
	p.mu.Unlock()
	if gate != nil {
		close(waiting)
		<-gate
	}
	return hw
}

func (p *memPart) Read(offset int64, _ int, _ bool) (partition.ReadResult, error) {
	p.mu.Lock()
	var out []byte
	for _, b := range p.batches {
		h, _ := record.ParseHeader(b)
		if h.NextOffset() > offset {
			out = append(out, b...)
		}
	}
	p.mu.Unlock()
	return partition.ReadResult{Records: out, HighWatermark: p.next}, nil
}

// marker appends a transaction marker, as the transaction coordinator
// will, and returns its offset.
func (p *memPart) marker(t *testing.T, producerID int64, epoch int16, commit bool) int64 {
	t.Helper()
	res, err := p.add(record.BuildMarker(producerID, epoch, commit, 0, t0.UnixMilli()), true)
	if err != nil {
		t.Fatal(err)
	}
	return res.BaseOffset
}

// txnHarness is a coordinator over memParts; restart replays them.
type txnHarness struct {
	t     *testing.T
	clock *fakeClock
	parts []*memPart
	c     *Coordinator
}

func newTxnHarness(t *testing.T, n int) *txnHarness {
	h := &txnHarness{t: t, clock: &fakeClock{now: t0}}
	for range n {
		h.parts = append(h.parts, &memPart{})
	}
	h.open()
	h.waitLoaded()
	t.Cleanup(func() { h.c.Close() })
	return h
}

func (h *txnHarness) open() {
	ps := make([]Partition, len(h.parts))
	for i, p := range h.parts {
		ps[i] = p
	}
	h.c = New(Config{
		OffsetsTopic:     func(bool) ([]Partition, error) { return ps, nil },
		Limits:           Limits{MinSessionTimeout: time.Second, MaxSessionTimeout: time.Hour},
		OffsetsRetention: 24 * time.Hour,
		Clock:            h.clock,
		Logger:           slog.New(slog.DiscardHandler),
	})
}

func (h *txnHarness) waitLoaded() {
	h.t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		if _, err := h.c.ListGroups(); !errors.Is(err, ErrLoadInProgress) {
			return
		}
		if time.Now().After(deadline) {
			h.t.Fatal("coordinator never finished loading")
		}
		time.Sleep(time.Millisecond)
	}
}

func (h *txnHarness) restart() {
	h.c.Close()
	h.open()
	h.waitLoaded()
}

// part returns the index and memPart of group's partition.
func (h *txnHarness) part(group string) (int, *memPart) {
	i := PartitionFor(group, len(h.parts))
	return i, h.parts[i]
}

func (h *txnHarness) txnCommit(group string, pid int64, epoch int16, tp TopicPartition, off int64) error {
	h.t.Helper()
	errs, wait := h.c.TxnCommit(group, TxnCommitRequest{ProducerID: pid, ProducerEpoch: epoch, Generation: -1,
		Offsets: []CommitOffset{{TP: tp, Offset: off, LeaderEpoch: -1}}})
	if errs[0] != nil {
		return errs[0]
	}
	return wait()
}

func (h *txnHarness) commit(group string, tp TopicPartition, off int64) {
	h.t.Helper()
	errs, wait := h.c.Commit(group, CommitRequest{Generation: -1, Offsets: []CommitOffset{{TP: tp, Offset: off, LeaderEpoch: -1}}})
	if errs[0] != nil {
		h.t.Fatal(errs[0])
	}
	if err := wait(); err != nil {
		h.t.Fatal(err)
	}
}

// end writes the marker of pid's transaction to group's partition and
// completes it, as the transaction coordinator does.
func (h *txnHarness) end(group string, pid int64, epoch int16, commit bool) {
	h.t.Helper()
	i, p := h.part(group)
	p.marker(h.t, pid, epoch, commit)
	h.c.CompleteTxn(i, pid, commit)
}

// want checks what OffsetFetch shows for tp: offset -1 means no commit.
func (h *txnHarness) want(group string, tp TopicPartition, off int64, unstable bool) {
	h.t.Helper()
	got, err := h.c.FetchOffsets(group, []TopicPartition{tp}, false)
	if err != nil || len(got) != 1 {
		h.t.Fatalf("fetch: %v %v", got, err)
	}
	f := got[0]
	gotOff := int64(-1)
	if f.Found {
		gotOff = f.Offset.Offset
	}
	if gotOff != off || f.Unstable != unstable {
		h.t.Fatalf("%s %v: offset %d unstable %v, want %d unstable %v", group, tp, gotOff, f.Unstable, off, unstable)
	}
}

func TestTxnCommitVisibleOnlyAfterCommit(t *testing.T) {
	h := newTxnHarness(t, 1)
	tp := TopicPartition{Topic: "t", Partition: 0}
	if err := h.txnCommit("g", 7, 0, tp, 42); err != nil {
		t.Fatal(err)
	}
	h.want("g", tp, -1, true)
	// Markers of other producers, and of other partitions, change nothing.
	h.c.CompleteTxn(0, 8, true)
	h.c.CompleteTxn(3, 7, true)
	h.want("g", tp, -1, true)
	h.end("g", 7, 0, true)
	h.want("g", tp, 42, false)
	// A second completion (a retried marker) is a no-op.
	h.c.CompleteTxn(0, 7, false)
	h.want("g", tp, 42, false)
	h.restart()
	h.want("g", tp, 42, false)
}

func TestTxnAbortDropsCommits(t *testing.T) {
	h := newTxnHarness(t, 1)
	tp := TopicPartition{Topic: "t", Partition: 0}
	h.commit("g", tp, 5)
	if err := h.txnCommit("g", 7, 0, tp, 42); err != nil {
		t.Fatal(err)
	}
	h.want("g", tp, 5, true)
	h.end("g", 7, 0, false)
	h.want("g", tp, 5, false)
	h.restart()
	h.want("g", tp, 5, false)
}

// TestTxnInterleavedWithPlainCommit: of a transactional and a plain commit
// of the same partition, the one later in the log wins when the
// transaction commits (Kafka compares the records' offsets), before and
// after a replay.
func TestTxnInterleavedWithPlainCommit(t *testing.T) {
	tp := TopicPartition{Topic: "t", Partition: 0}
	for _, tc := range []struct {
		name      string
		plainLast bool
		want      int64
	}{
		{"plain commit after the transactional one wins", true, 10},
		{"transactional commit after the plain one wins", false, 20},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := newTxnHarness(t, 1)
			if !tc.plainLast {
				h.commit("g", tp, 10)
			}
			if err := h.txnCommit("g", 7, 0, tp, 20); err != nil {
				t.Fatal(err)
			}
			if tc.plainLast {
				h.commit("g", tp, 10)
				h.want("g", tp, 10, true)
			}
			h.end("g", 7, 0, true)
			h.want("g", tp, tc.want, false)
			h.restart()
			h.want("g", tp, tc.want, false)
		})
	}
}

// TestPlainCommitDurableAfterTxnCompletes: a plain commit appended before a
// transactional one, but made durable (applied) only after the transaction
// committed, must not take the offset back.
func TestPlainCommitDurableAfterTxnCompletes(t *testing.T) {
	h := newTxnHarness(t, 1)
	tp := TopicPartition{Topic: "t", Partition: 0}
	errs, waitPlain := h.c.Commit("g", CommitRequest{Generation: -1, Offsets: []CommitOffset{{TP: tp, Offset: 10, LeaderEpoch: -1}}})
	if errs[0] != nil {
		t.Fatal(errs[0])
	}
	if err := h.txnCommit("g", 7, 0, tp, 20); err != nil {
		t.Fatal(err)
	}
	h.end("g", 7, 0, true)
	h.want("g", tp, 20, false)
	if err := waitPlain(); err != nil {
		t.Fatal(err)
	}
	h.want("g", tp, 20, false)
	h.restart()
	h.want("g", tp, 20, false)
}

func TestTxnTwoProducers(t *testing.T) {
	h := newTxnHarness(t, 1)
	a, b := TopicPartition{Topic: "t", Partition: 0}, TopicPartition{Topic: "t", Partition: 1}
	if err := h.txnCommit("g", 1, 0, a, 100); err != nil {
		t.Fatal(err)
	}
	if err := h.txnCommit("g", 2, 0, a, 200); err != nil {
		t.Fatal(err)
	}
	if err := h.txnCommit("g", 2, 0, b, 201); err != nil {
		t.Fatal(err)
	}
	h.want("g", a, -1, true)
	h.want("g", b, -1, true)
	h.end("g", 2, 0, true)
	// Producer 1 still has a commit staged for a.
	h.want("g", a, 200, true)
	h.want("g", b, 201, false)
	h.end("g", 1, 0, false)
	h.want("g", a, 200, false)
	h.restart()
	h.want("g", a, 200, false)
	h.want("g", b, 201, false)
}

func TestTxnCommitStaleEpochFenced(t *testing.T) {
	h := newTxnHarness(t, 1)
	tp := TopicPartition{Topic: "t", Partition: 0}
	if err := h.txnCommit("g", 7, 3, tp, 1); err != nil {
		t.Fatal(err)
	}
	if err := h.txnCommit("g", 7, 2, tp, 2); !errors.Is(err, partition.ErrInvalidEpoch) {
		t.Fatalf("stale epoch: %v, want ErrInvalidEpoch", err)
	}
	h.end("g", 7, 3, true)
	h.want("g", tp, 1, false)
}

func TestTxnCommitValidation(t *testing.T) {
	h := newTxnHarness(t, 1)
	tp := TopicPartition{Topic: "t", Partition: 0}
	try := func(group string, r TxnCommitRequest) error {
		r.ProducerID = 9
		if r.Offsets == nil {
			r.Offsets = []CommitOffset{{TP: tp, Offset: 1, LeaderEpoch: -1}}
		}
		errs, wait := h.c.TxnCommit(group, r)
		if errs[0] != nil {
			return errs[0]
		}
		return wait()
	}
	// A missing group with a generation: its member is from a group that
	// is gone. Without one, the group is created.
	if err := try("gone", TxnCommitRequest{Generation: 3, MemberID: "m"}); !errors.Is(err, ErrIllegalGeneration) {
		t.Fatalf("missing group with generation: %v", err)
	}
	if err := try("new", TxnCommitRequest{Generation: -1}); err != nil {
		t.Fatalf("missing group, no generation: %v", err)
	}
	if err := try("", TxnCommitRequest{Generation: -1}); !errors.Is(err, ErrInvalidGroupID) {
		t.Fatalf("empty group id: %v", err)
	}
	big := make([]byte, 4097)
	errs, _ := h.c.TxnCommit("new", TxnCommitRequest{ProducerID: 9, Generation: -1, Offsets: []CommitOffset{
		{TP: tp, Offset: 1, Metadata: string(big)}, {TP: TopicPartition{Topic: "t", Partition: 1}, Offset: 2}}})
	if !errors.Is(errs[0], ErrOffsetMetadataTooLarge) || errs[1] != nil {
		t.Fatalf("metadata too large: %v", errs)
	}

	member, gen := joinAndSyncC(t, h.c, h.clock, "active")
	for _, tc := range []struct {
		name string
		r    TxnCommitRequest
		want error
	}{
		{"member at its generation", TxnCommitRequest{Generation: gen, MemberID: member}, nil},
		{"v0-v2: no generation, no member", TxnCommitRequest{Generation: -1}, nil},
		{"stale generation", TxnCommitRequest{Generation: gen - 1, MemberID: member}, ErrIllegalGeneration},
		{"unknown member", TxnCommitRequest{Generation: gen, MemberID: "nobody"}, ErrUnknownMemberID},
		{"member id without generation", TxnCommitRequest{Generation: -1, MemberID: member}, ErrIllegalGeneration},
		{"unknown static instance", TxnCommitRequest{Generation: gen, MemberID: member, InstanceID: "i-1"}, ErrUnknownMemberID},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if err := try("active", tc.r); !errors.Is(err, tc.want) {
				t.Fatalf("%v, want %v", err, tc.want)
			}
		})
	}
}

// TestValidateTxnCommitStatic: KIP-345 fencing of a static member, and no
// REBALANCE_IN_PROGRESS during CompletingRebalance (unlike OffsetCommit).
func TestValidateTxnCommitStatic(t *testing.T) {
	s := newScript(t, Limits{})
	if err := s.g.ValidateTxnCommit(-1, "", ""); err != nil {
		t.Fatalf("simple commit to an empty group: %v", err)
	}
	if r := s.joined(s.join("", "a", static("i-a"))); r.Err != nil {
		t.Fatalf("static join: %+v", r)
	}
	gen := s.stable("a")
	if err := s.g.ValidateTxnCommit(gen, "a", "i-a"); err != nil {
		t.Fatalf("static member: %v", err)
	}
	if err := s.g.ValidateTxnCommit(gen, "old-a", "i-a"); !errors.Is(err, ErrFencedInstanceID) {
		t.Fatalf("fenced static member: %v", err)
	}
	s.join("", "b")
	s.join("b", "")
	s.join("a", "", static("i-a"))
	s.wantState(CompletingRebalance, gen+1)
	if err := s.g.ValidateTxnCommit(gen+1, "a", "i-a"); err != nil {
		t.Fatalf("txn commit while completing the rebalance: %v", err)
	}
	s.g.MarkDead(s.now)
	if err := s.g.ValidateTxnCommit(-1, "", ""); !errors.Is(err, ErrCoordinatorNotAvailable) {
		t.Fatalf("dead group: %v", err)
	}
}

// joinAndSyncC brings one dynamic member into a Stable group.
func joinAndSyncC(t *testing.T, c *Coordinator, clock *fakeClock, group string) (string, int32) {
	t.Helper()
	ctx := context.Background()
	req := JoinRequest{ClientID: "c", ProtocolType: "consumer", Protocols: []Protocol{{Name: "range", Metadata: []byte("md")}},
		SessionTimeout: 10 * time.Second, RebalanceTimeout: 20 * time.Second, RequireKnownMemberID: true}
	r := c.Join(group, req)(ctx)
	if !errors.Is(r.Err, ErrMemberIDRequired) {
		t.Fatalf("first join: %+v", r)
	}
	req.MemberID = r.MemberID
	wait := c.Join(group, req)
	clock.Advance(0)
	r = wait(ctx)
	if r.Err != nil {
		t.Fatalf("join: %+v", r)
	}
	s := c.Sync(group, SyncRequest{MemberID: r.MemberID, Generation: r.Generation,
		Assignments: map[string][]byte{r.MemberID: []byte("x")}})(ctx)
	if s.Err != nil {
		t.Fatalf("sync: %+v", s)
	}
	return r.MemberID, r.Generation
}

// TestReplayTransactionalCommits replays a log written by hand: plain and
// transactional commits, markers that commit and abort, a transaction
// still open at the end, and the ordering rule between a transactional
// and a later plain commit.
func TestReplayTransactionalCommits(t *testing.T) {
	p := &memPart{}
	tp := func(i int32) TopicPartition { return TopicPartition{Topic: "t", Partition: i} }
	put := func(pid int64, recs ...BuildRecord) {
		t.Helper()
		b := BuildBatch(t0, recs)
		txn := pid >= 0
		if txn {
			b = BuildTxnBatch(t0, pid, 0, recs)
		}
		if _, err := p.add(b, txn); err != nil {
			t.Fatal(err)
		}
	}
	rec := func(part int32, off int64) BuildRecord {
		k, v := EncodeOffset("g", tp(part), &Offset{Offset: off, LeaderEpoch: -1, CommitTime: t0})
		return BuildRecord{Key: k, Value: v}
	}
	tomb := func(part int32) BuildRecord {
		k, _ := EncodeOffset("g", tp(part), nil)
		return BuildRecord{Key: k}
	}
	put(-1, rec(0, 5), rec(1, 5), rec(2, 5))
	put(1, rec(0, 10))       // committed below
	put(2, rec(1, 20))       // aborted below
	put(3, rec(2, 30))       // committed, but a later plain commit wins
	put(-1, rec(2, 31))      // the later plain commit
	put(4, rec(3, 40))       // open at the end of the log
	put(5, rec(4, 50))       // dropped by a tombstone, then committed
	put(-1, tomb(4))         //
	put(6, rec(5, 60))       // two producers on one partition: 6 commits...
	put(7, rec(5, 70))       // ...7 stays open
	p.marker(t, 1, 0, true)  //
	p.marker(t, 2, 0, false) //
	p.marker(t, 3, 0, true)  //
	p.marker(t, 5, 0, true)  //
	p.marker(t, 6, 0, true)  //
	p.marker(t, 99, 0, true) // a marker with nothing staged
	put(6, rec(6, 61))       // producer 6's next transaction: open
	h := &txnHarness{t: t, clock: &fakeClock{now: t0}, parts: []*memPart{p}}
	h.open()
	h.waitLoaded()
	t.Cleanup(func() { h.c.Close() })

	for _, w := range []struct {
		tp       int32
		off      int64
		unstable bool
	}{
		{0, 10, false}, {1, 5, false}, {2, 31, false}, {3, -1, true}, {4, -1, false}, {5, 60, true}, {6, -1, true},
	} {
		h.want("g", tp(w.tp), w.off, w.unstable)
	}
	// The transactions open at the end of the log finish later.
	h.end("g", 4, 0, true)
	h.end("g", 7, 0, false)
	h.end("g", 6, 0, true)
	for _, w := range []struct {
		tp  int32
		off int64
	}{{3, 40}, {5, 60}, {6, 61}} {
		h.want("g", tp(w.tp), w.off, false)
	}
}

// TestReplayIsPerPartition: a marker ends its producer's transaction only
// in the partition it is in; the same transaction may still be open in
// another (its marker not written there yet).
func TestReplayIsPerPartition(t *testing.T) {
	h := newTxnHarness(t, 2)
	var ga, gb string
	for i := 0; ga == "" || gb == ""; i++ {
		id := fmt.Sprintf("g%d", i)
		if PartitionFor(id, 2) == 0 && ga == "" {
			ga = id
		} else if PartitionFor(id, 2) == 1 && gb == "" {
			gb = id
		}
	}
	tp := TopicPartition{Topic: "t", Partition: 0}
	if err := h.txnCommit(ga, 7, 0, tp, 1); err != nil {
		t.Fatal(err)
	}
	if err := h.txnCommit(gb, 7, 0, tp, 2); err != nil {
		t.Fatal(err)
	}
	// The marker reaches partition 1 only; then the broker restarts.
	h.parts[1].marker(t, 7, 0, true)
	h.restart()
	h.want(ga, tp, -1, true)
	h.want(gb, tp, 2, false)
	h.end(ga, 7, 0, true)
	h.want(ga, tp, 1, false)
}

// TestCompleteTxnDuringLoad: a marker completed while the partition is
// still being replayed (the replay read the log before the marker) is
// applied when the load finishes.
func TestCompleteTxnDuringLoad(t *testing.T) {
	h := newTxnHarness(t, 1)
	tp := TopicPartition{Topic: "t", Partition: 0}
	if err := h.txnCommit("g", 7, 0, tp, 42); err != nil {
		t.Fatal(err)
	}
	h.c.Close()
	p := h.parts[0]
	gate, waiting := make(chan struct{}), make(chan struct{})
	p.mu.Lock()
	// The replay checks the high watermark before its one read and after
	// it: hold the second check, which then reports the end the replay
	// read to, as if the marker came just after.
	p.hwGate, p.hwGateCall, p.hwWaiting, p.hwCalls = gate, 2, waiting, 0
	p.mu.Unlock()
	h.open()
	<-waiting
	p.marker(t, 7, 0, true)
	h.c.CompleteTxn(0, 7, true)
	close(gate)
	h.waitLoaded()
	h.want("g", tp, 42, false)
}

// TestTxnOffsetsAndGroupLifecycle: as Kafka, retention keeps an offset
// (and a group) while a transaction has a commit staged for it; deleting
// the group or the offset drops staged commits too, so a later marker
// brings nothing back, before or after a replay.
func TestTxnOffsetsAndGroupLifecycle(t *testing.T) {
	h := newTxnHarness(t, 1)
	a, b := TopicPartition{Topic: "t", Partition: 0}, TopicPartition{Topic: "t", Partition: 1}
	h.commit("g", a, 1)
	h.commit("g", b, 1)
	if err := h.txnCommit("g", 7, 0, a, 2); err != nil {
		t.Fatal(err)
	}
	if err := h.txnCommit("staged-only", 8, 0, a, 3); err != nil {
		t.Fatal(err)
	}
	h.clock.Advance(48 * time.Hour)
	h.c.ExpireOffsets()
	h.want("g", a, 1, true) // kept: a transaction has it staged
	h.want("g", b, -1, false)
	if gs, _ := h.c.ListGroups(); len(gs) != 2 {
		t.Fatalf("groups after expiry: %+v", gs)
	}
	// OffsetDelete of a drops the staged commit too.
	if _, err := h.c.DeleteOffsets("g", []TopicPartition{a}); err != nil {
		t.Fatal(err)
	}
	h.want("g", a, -1, false)
	h.end("g", 7, 0, true)
	h.want("g", a, -1, false)
	// DeleteGroups of a group with only staged commits.
	if err := h.c.DeleteGroup("staged-only"); err != nil {
		t.Fatal(err)
	}
	h.end("staged-only", 8, 0, true)
	h.want("staged-only", a, -1, false)
	h.restart()
	h.want("g", a, -1, false)
	h.want("staged-only", a, -1, false)
}
