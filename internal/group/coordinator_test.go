package group

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"sort"
	"sync"
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
				ps[i] = p
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
