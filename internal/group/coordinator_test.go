package group

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"sort"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/samsa-io/samsa/internal/partition"
	"github.com/samsa-io/samsa/internal/record"
)

// fakeClock fires timers only when the test advances it.
type fakeClock struct {
	mu     sync.Mutex
	now    time.Time
	timers []*fakeTimer
}

type fakeTimer struct {
	c       *fakeClock
	at      time.Time
	f       func()
	stopped bool
}

func (t *fakeTimer) Stop() bool {
	t.c.mu.Lock()
	defer t.c.mu.Unlock()
	was := !t.stopped
	t.stopped = true
	return was
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) AfterFunc(d time.Duration, f func()) Timer {
	c.mu.Lock()
	defer c.mu.Unlock()
	t := &fakeTimer{c: c, at: c.now.Add(d), f: f}
	c.timers = append(c.timers, t)
	return t
}

// Advance moves time forward by d, firing due timers in time order (on
// this goroutine, as a timer goroutine would).
func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	end := c.now.Add(d)
	c.mu.Unlock()
	for {
		c.mu.Lock()
		sort.SliceStable(c.timers, func(i, j int) bool { return c.timers[i].at.Before(c.timers[j].at) })
		var due *fakeTimer
		for i, t := range c.timers {
			if t.stopped {
				continue
			}
			if !t.at.After(end) {
				due = t
				c.timers = append(c.timers[:i:i], c.timers[i+1:]...)
			}
			break
		}
		if due == nil {
			c.now = end
			c.mu.Unlock()
			return
		}
		if due.at.After(c.now) {
			c.now = due.at
		}
		due.stopped = true
		c.mu.Unlock()
		due.f()
	}
}

// offsetsParts opens n real partitions under dir (the __consumer_offsets
// stand-in).
func offsetsParts(t *testing.T, dir string, n int) []*partition.Partition {
	t.Helper()
	ps := make([]*partition.Partition, n)
	for i := range ps {
		p, err := partition.Open(partition.Config{Topic: "__consumer_offsets", Index: int32(i),
			Dir: filepath.Join(dir, fmt.Sprintf("__consumer_offsets-%d", i)), SyncOnAck: true,
			Logger: slog.New(slog.DiscardHandler)})
		if err != nil {
			t.Fatal(err)
		}
		ps[i] = p
	}
	return ps
}

// harness is a coordinator over real partitions in a temp dir, which a
// test can restart (close everything, reopen, replay).
type harness struct {
	t     *testing.T
	dir   string
	clock *fakeClock
	parts []*partition.Partition
	c     *Coordinator
	// exists: the topic was "created" (Ensure) before.
	exists bool
	// faults are injected into every partition the coordinator gets.
	faults faults
}

// faults make the coordinator's partitions misbehave: reads or appends fail
// while set, and a flush waits for flushGate (if set) then returns
// flushErr.
type faults struct {
	failRead   atomic.Bool
	failAppend atomic.Bool
	mu         sync.Mutex
	flushGate  chan struct{}
	flushErr   error
}

type faultPart struct {
	*partition.Partition
	f *faults
}

func (p *faultPart) Read(offset int64, maxBytes int, minOne bool) (partition.ReadResult, error) {
	if p.f.failRead.Load() {
		return partition.ReadResult{}, errors.New("injected read error")
	}
	return p.Partition.Read(offset, maxBytes, minOne)
}

func (p *faultPart) Append(b []byte, now time.Time) (partition.AppendResult, error) {
	if p.f.failAppend.Load() {
		return partition.AppendResult{}, errors.New("injected write error")
	}
	return p.Partition.Append(b, now)
}

func (p *faultPart) Flush() error {
	p.f.mu.Lock()
	gate, ferr := p.f.flushGate, p.f.flushErr
	p.f.mu.Unlock()
	if gate != nil {
		<-gate
	}
	if ferr != nil {
		return ferr
	}
	return p.Partition.Flush()
}

func newHarness(t *testing.T) *harness {
	h := &harness{t: t, dir: t.TempDir(), clock: &fakeClock{now: t0}}
	h.open()
	t.Cleanup(h.close)
	return h
}

func (h *harness) open() {
	h.parts = offsetsParts(h.t, h.dir, 3)
	h.c = New(Config{
		OffsetsTopic: func(create bool) ([]Partition, error) {
			if !create && !h.exists {
				return nil, nil
			}
			h.exists = true
			ps := make([]Partition, len(h.parts))
			for i, p := range h.parts {
				ps[i] = &faultPart{Partition: p, f: &h.faults}
			}
			return ps, nil
		},
		Limits:           Limits{MinSessionTimeout: time.Second, MaxSessionTimeout: time.Hour, InitialRebalanceDelay: 0},
		OffsetsRetention: 24 * time.Hour,
		Clock:            h.clock,
		Logger:           slog.New(slog.DiscardHandler),
	})
}

func (h *harness) close() {
	if h.c == nil {
		return
	}
	h.c.Close()
	for _, p := range h.parts {
		p.Close()
	}
	h.c = nil
}

func (h *harness) restart() {
	h.close()
	h.open()
	h.waitLoaded()
}

func (h *harness) waitLoaded() {
	h.t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		_, err := h.c.ListGroups()
		if !errors.Is(err, ErrLoadInProgress) {
			return
		}
		if time.Now().After(deadline) {
			h.t.Fatal("coordinator never finished loading")
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func (h *harness) commit(group string, gen int32, member string, tp TopicPartition, off int64) error {
	errs, wait := h.c.Commit(group, CommitRequest{Generation: gen, MemberID: member,
		Offsets: []CommitOffset{{TP: tp, Offset: off, LeaderEpoch: -1}}})
	if errs[0] != nil {
		return errs[0]
	}
	return wait()
}

func (h *harness) fetch(group string, tp TopicPartition) FetchedOffset {
	h.t.Helper()
	got, err := h.c.FetchOffsets(group, []TopicPartition{tp}, false)
	if err != nil || len(got) != 1 {
		h.t.Fatalf("fetch: %v %v", got, err)
	}
	return got[0]
}

// joinAndSync brings one dynamic member into a Stable group through the
// coordinator (two joins for KIP-394, then the leader's sync).
func (h *harness) joinAndSync(group string) (memberID string, gen int32) {
	h.t.Helper()
	ctx := context.Background()
	req := JoinRequest{ClientID: "c", ProtocolType: "consumer", Protocols: []Protocol{{Name: "range", Metadata: []byte("md")}},
		SessionTimeout: 10 * time.Second, RebalanceTimeout: 20 * time.Second, RequireKnownMemberID: true}
	r := h.c.Join(group, req)(ctx)
	if !errors.Is(r.Err, ErrMemberIDRequired) {
		h.t.Fatalf("first join: %+v", r)
	}
	req.MemberID = r.MemberID
	wait := h.c.Join(group, req)
	h.clock.Advance(0) // the initial delay (0) ends on the timer
	r = wait(ctx)
	if r.Err != nil {
		h.t.Fatalf("join: %+v", r)
	}
	s := h.c.Sync(group, SyncRequest{MemberID: r.MemberID, Generation: r.Generation,
		Assignments: map[string][]byte{r.MemberID: []byte("assigned")}})(ctx)
	if s.Err != nil || string(s.Assignment) != "assigned" {
		h.t.Fatalf("sync: %+v", s)
	}
	return r.MemberID, r.Generation
}

func TestCoordinatorReplaysAfterRestart(t *testing.T) {
	h := newHarness(t)
	tp := TopicPartition{Topic: "t", Partition: 3}
	if err := h.commit("simple", -1, "", tp, 10); err != nil {
		t.Fatal(err)
	}
	if err := h.commit("simple", -1, "", tp, 11); err != nil {
		t.Fatal(err)
	}
	member, gen := h.joinAndSync("managed")
	if err := h.commit("managed", gen, member, tp, 99); err != nil {
		t.Fatal(err)
	}
	// A stale generation changes nothing.
	if err := h.commit("managed", gen-1, member, tp, 1); !errors.Is(err, ErrIllegalGeneration) {
		t.Fatalf("stale commit: %v", err)
	}

	h.restart()
	if f := h.fetch("simple", tp); !f.Found || f.Offset.Offset != 11 {
		t.Fatalf("simple after restart: %+v", f)
	}
	if f := h.fetch("managed", tp); !f.Found || f.Offset.Offset != 99 {
		t.Fatalf("managed after restart: %+v", f)
	}
	d, err := h.c.Describe("managed")
	if err != nil || d.State != Stable || len(d.Members) != 1 || string(d.Members[0].Assignment) != "assigned" {
		t.Fatalf("restored group: %+v %v", d, err)
	}
	// The member carries on at its generation after the restart...
	if err := h.c.Heartbeat("managed", member, "", gen); err != nil {
		t.Fatalf("heartbeat after restart: %v", err)
	}
	// ...and is removed once it stays silent past its session.
	h.clock.Advance(11 * time.Second)
	if d, _ := h.c.Describe("managed"); d.State != Empty {
		t.Fatalf("after the session expired: %s", d.State)
	}
}

func TestCoordinatorDeleteAndExpire(t *testing.T) {
	h := newHarness(t)
	tp := TopicPartition{Topic: "t", Partition: 0}
	for _, g := range []string{"deleted", "expired", "kept"} {
		if err := h.commit(g, -1, "", tp, 5); err != nil {
			t.Fatal(err)
		}
	}
	if err := h.c.DeleteGroup("deleted"); err != nil {
		t.Fatal(err)
	}
	if err := h.c.DeleteGroup("deleted"); !errors.Is(err, ErrGroupIDNotFound) {
		t.Fatalf("second delete: %v", err)
	}
	h.clock.Advance(23 * time.Hour)
	if err := h.commit("kept", -1, "", tp, 6); err != nil { // a fresh commit restarts its retention
		t.Fatal(err)
	}
	h.clock.Advance(2 * time.Hour)
	h.c.ExpireOffsets()
	h.restart()
	ls, err := h.c.ListGroups()
	if err != nil {
		t.Fatal(err)
	}
	if len(ls) != 1 || ls[0].GroupID != "kept" {
		t.Fatalf("groups after delete, expiry and restart: %+v", ls)
	}
	for _, g := range []string{"deleted", "expired"} {
		if f := h.fetch(g, tp); f.Found {
			t.Fatalf("%s still has offset %+v", g, f)
		}
	}
	if f := h.fetch("kept", tp); !f.Found || f.Offset.Offset != 6 {
		t.Fatalf("kept: %+v", f)
	}
}

// TestCoordinatorSkipsCorruptRecords: garbage in __consumer_offsets is
// skipped with a warning; the good records around it load.
func TestCoordinatorSkipsCorruptRecords(t *testing.T) {
	h := newHarness(t)
	tp := TopicPartition{Topic: "t"}
	if err := h.commit("g", -1, "", tp, 1); err != nil {
		t.Fatal(err)
	}
	p := h.parts[PartitionFor("g", len(h.parts))]
	bad := record.BuildBatch(record.BuildOptions{ProducerID: -1, ProducerEpoch: -1, BaseSequence: -1},
		[]record.Record{{Key: []byte{0, 1, 0xff}, Value: []byte{1, 2, 3}}, {OffsetDelta: 1, Key: []byte{0, 7}}})
	if _, err := p.Append(bad, t0); err != nil {
		t.Fatal(err)
	}
	if err := h.commit("g", -1, "", tp, 2); err != nil {
		t.Fatal(err)
	}
	h.restart()
	if f := h.fetch("g", tp); !f.Found || f.Offset.Offset != 2 {
		t.Fatalf("after corrupt records: %+v", f)
	}
}

func TestPartitionFor(t *testing.T) {
	// Known Java String.hashCode values.
	for _, tc := range []struct {
		s    string
		want int32
	}{
		{"", 0},
		{"hello", 99162322},
		{"Aa", 2112},
		{"BB", 2112},
		{"polygenelubricants", -1 << 31}, // Integer.MIN_VALUE
		{"é", 233},                       // one UTF-16 unit, not two UTF-8 bytes
	} {
		if got := javaHashCode(tc.s); got != tc.want {
			t.Errorf("javaHashCode(%q) = %d, want %d", tc.s, got, tc.want)
		}
	}
	// Kafka's Utils.abs maps MIN_VALUE to 0.
	if got := PartitionFor("polygenelubricants", 50); got != 0 {
		t.Errorf("PartitionFor(MIN_VALUE hash) = %d, want 0", got)
	}
	if got := PartitionFor("hello", 50); got != 99162322%50 {
		t.Errorf("PartitionFor(hello) = %d", got)
	}
}

// TestLoadFailureIsRetriedNotSkipped: a __consumer_offsets partition that
// cannot be read at start leaves the coordinator loading (requests get
// ErrLoadInProgress, which clients retry) instead of serving groups without
// their commits; once reads work again the retry loads everything.
func TestLoadFailureIsRetriedNotSkipped(t *testing.T) {
	h := newHarness(t)
	tp := TopicPartition{Topic: "t", Partition: 0}
	if err := h.commit("g", -1, "", tp, 42); err != nil {
		t.Fatal(err)
	}
	h.close()
	h.faults.failRead.Store(true)
	h.open()
	time.Sleep(300 * time.Millisecond) // a few failed attempts
	if _, err := h.c.FetchOffsets("g", []TopicPartition{tp}, false); !errors.Is(err, ErrLoadInProgress) {
		t.Fatalf("OffsetFetch during a failing load: err = %v, want ErrLoadInProgress", err)
	}
	errs, _ := h.c.Commit("g", CommitRequest{Generation: -1, Offsets: []CommitOffset{{TP: tp, Offset: 1, LeaderEpoch: -1}}})
	if !errors.Is(errs[0], ErrLoadInProgress) {
		t.Fatalf("OffsetCommit during a failing load: err = %v, want ErrLoadInProgress", errs[0])
	}
	if err := h.c.Ensure(); !errors.Is(err, ErrLoadInProgress) {
		t.Fatalf("Ensure (FindCoordinator) during a failing load: err = %v, want ErrLoadInProgress", err)
	}
	h.faults.failRead.Store(false)
	h.waitLoaded()
	if f := h.fetch("g", tp); !f.Found || f.Offset.Offset != 42 {
		t.Fatalf("after the retry: %+v, want the committed 42", f)
	}
}

// TestCommitVisibleOnlyWhenDurable: OffsetFetch does not show a commit
// until its fsync has returned, and a commit whose fsync fails is never
// shown (and is answered with an error).
func TestCommitVisibleOnlyWhenDurable(t *testing.T) {
	h := newHarness(t)
	tp := TopicPartition{Topic: "t", Partition: 1}
	if err := h.commit("g", -1, "", tp, 5); err != nil {
		t.Fatal(err)
	}
	gate := make(chan struct{})
	h.faults.mu.Lock()
	h.faults.flushGate = gate
	h.faults.mu.Unlock()
	errs, wait := h.c.Commit("g", CommitRequest{Generation: -1, Offsets: []CommitOffset{{TP: tp, Offset: 6, LeaderEpoch: -1}}})
	if errs[0] != nil {
		t.Fatal(errs[0])
	}
	done := make(chan error, 1)
	go func() { done <- wait() }()
	time.Sleep(20 * time.Millisecond)
	if f := h.fetch("g", tp); f.Offset.Offset != 5 {
		t.Fatalf("while the commit's fsync runs: offset %d, want the durable 5", f.Offset.Offset)
	}
	close(gate)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if f := h.fetch("g", tp); f.Offset.Offset != 6 {
		t.Fatalf("after the fsync: offset %d, want 6", f.Offset.Offset)
	}

	h.faults.mu.Lock()
	h.faults.flushGate, h.faults.flushErr = nil, errors.New("injected EIO")
	h.faults.mu.Unlock()
	if err := h.commit("g", -1, "", tp, 7); !errors.Is(err, ErrCoordinatorNotAvailable) {
		t.Fatalf("commit whose fsync failed: err = %v, want ErrCoordinatorNotAvailable", err)
	}
	if f := h.fetch("g", tp); f.Offset.Offset != 6 {
		t.Fatalf("after a failed fsync: offset %d, want 6 (the failed commit must not show)", f.Offset.Offset)
	}
}

// TestFailedGroupStoreRebalances: when writing the leader's assignment
// fails, the members get the error, and the group does not stay Stable with
// an assignment that was never stored: it rebalances.
func TestFailedGroupStoreRebalances(t *testing.T) {
	h := newHarness(t)
	ctx := context.Background()
	req := JoinRequest{ClientID: "c", ProtocolType: "consumer", Protocols: []Protocol{{Name: "range", Metadata: []byte("md")}},
		SessionTimeout: 10 * time.Second, RebalanceTimeout: 20 * time.Second}
	wait := h.c.Join("g", req)
	h.clock.Advance(0)
	r := wait(ctx)
	if r.Err != nil {
		t.Fatalf("join: %+v", r)
	}
	h.faults.failAppend.Store(true)
	s := h.c.Sync("g", SyncRequest{MemberID: r.MemberID, Generation: r.Generation,
		Assignments: map[string][]byte{r.MemberID: []byte("assigned")}})(ctx)
	if !errors.Is(s.Err, ErrCoordinatorNotAvailable) {
		t.Fatalf("sync whose store failed: %+v, want ErrCoordinatorNotAvailable", s)
	}
	d, err := h.c.Describe("g")
	if err != nil {
		t.Fatal(err)
	}
	if d.State != PreparingRebalance {
		t.Fatalf("group state %v after a failed store, want PreparingRebalance", d.State)
	}
	for _, m := range d.Members {
		if len(m.Assignment) != 0 {
			t.Fatalf("member %s keeps an assignment that was never stored", m.MemberID)
		}
	}
	if err := h.c.Heartbeat("g", r.MemberID, "", r.Generation); !errors.Is(err, ErrRebalanceInProgress) {
		t.Fatalf("heartbeat after the failed store: %v, want ErrRebalanceInProgress (rejoin)", err)
	}
	h.faults.failAppend.Store(false)
}

// TestFailedConsumerGroupWriteIsUndone: a KIP-848 heartbeat whose records
// cannot be written gets the error, and the group stays as the log has it
// (no new member, no epoch bump); the retry, with the disk back, succeeds.
func TestFailedConsumerGroupWriteIsUndone(t *testing.T) {
	h := newHarness(t)
	topics := TopicImage{"a": {Name: "a", ID: topicA, Partitions: 4}}
	join := func(id string) ConsumerHeartbeatResult {
		t.Helper()
		res, wait := h.c.ConsumerHeartbeat("cg", ConsumerHeartbeat{MemberID: id, RebalanceTimeout: time.Second,
			SubscribedTopicNames: []string{"a"}, Owned: Assignment{}}, topics)
		if err := wait(); err != nil {
			t.Fatalf("flush: %v", err)
		}
		return res
	}
	if r := join("m1"); r.Err != nil {
		t.Fatal(r.Err)
	}
	epochOf := func() (int32, int) {
		h.c.mu.RLock()
		e := h.c.mu.groups["cg"]
		h.c.mu.RUnlock()
		e.mu.Lock()
		defer e.mu.Unlock()
		return e.cg.GroupEpoch, e.cg.NumMembers()
	}
	epoch, n := epochOf()
	h.faults.failAppend.Store(true)
	if r := join("m2"); !errors.Is(r.Err, ErrCoordinatorNotAvailable) {
		t.Fatalf("join with a failing write: %+v, want ErrCoordinatorNotAvailable", r)
	}
	if e2, n2 := epochOf(); e2 != epoch || n2 != n {
		t.Fatalf("after a failed write: epoch %d members %d, want %d and %d (undone)", e2, n2, epoch, n)
	}
	h.faults.failAppend.Store(false)
	if r := join("m2"); r.Err != nil {
		t.Fatalf("retry: %v", r.Err)
	}
	if e3, n3 := epochOf(); e3 <= epoch || n3 != n+1 {
		t.Fatalf("after the retry: epoch %d members %d", e3, n3)
	}
}
