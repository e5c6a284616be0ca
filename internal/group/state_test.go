package group

import (
	"errors"
	"testing"
	"time"
)

var t0 = time.Unix(1_700_000_000, 0)

// script drives one Group with a fake time, remembering the replies each
// waiter got. Waiters are numbered by the script.
type script struct {
	t     *testing.T
	g     *Group
	now   time.Time
	next  Waiter
	joins map[Waiter]JoinResult
	syncs map[Waiter]SyncResult
	store int // how many effects asked to store the group
}

func newScript(t *testing.T, limits Limits) *script {
	if limits.MaxSize == 0 {
		limits.MaxSize = 100
	}
	if limits.MaxSessionTimeout == 0 {
		limits.MaxSessionTimeout = time.Hour
	}
	return &script{t: t, g: NewGroup("g", limits, t0), now: t0,
		joins: make(map[Waiter]JoinResult), syncs: make(map[Waiter]SyncResult)}
}

func (s *script) apply(e Effects) {
	for _, j := range e.Joins {
		if _, dup := s.joins[j.Waiter]; dup {
			s.t.Fatalf("waiter %d answered twice", j.Waiter)
		}
		s.joins[j.Waiter] = j.JoinResult
	}
	for _, r := range e.Syncs {
		if _, dup := s.syncs[r.Waiter]; dup {
			s.t.Fatalf("waiter %d answered twice", r.Waiter)
		}
		s.syncs[r.Waiter] = r.SyncResult
	}
	if e.StoreGroup {
		s.store++
	}
}

// advance moves time by d and runs the due deadlines, as the
// coordinator's timer would.
func (s *script) advance(d time.Duration) {
	s.now = s.now.Add(d)
	for {
		at := s.g.NextDeadline()
		if at.IsZero() || at.After(s.now) {
			return
		}
		s.apply(s.g.Tick(s.now))
	}
}

type joinOpt func(*JoinRequest)

func static(id string) joinOpt { return func(r *JoinRequest) { r.InstanceID = id } }
func protocols(ps ...Protocol) joinOpt {
	return func(r *JoinRequest) { r.Protocols = ps }
}

func (s *script) join(memberID, newID string, opts ...joinOpt) Waiter {
	s.next++
	r := JoinRequest{
		MemberID: memberID, NewMemberID: newID, ClientID: "c", ClientHost: "/127.0.0.1",
		ProtocolType: "consumer", Protocols: []Protocol{{Name: "range", Metadata: []byte("md")}},
		SessionTimeout: 10 * time.Second, RebalanceTimeout: 30 * time.Second,
		RequireKnownMemberID: true, Waiter: s.next,
	}
	for _, o := range opts {
		o(&r)
	}
	s.apply(s.g.Join(s.now, r))
	s.advance(0)
	return s.next
}

func (s *script) sync(memberID string, gen int32, assign map[string][]byte) Waiter {
	s.next++
	s.apply(s.g.Sync(s.now, SyncRequest{MemberID: memberID, Generation: gen, Assignments: assign, Waiter: s.next}))
	s.advance(0)
	return s.next
}

func (s *script) joined(w Waiter) JoinResult {
	s.t.Helper()
	r, ok := s.joins[w]
	if !ok {
		s.t.Fatalf("join %d not answered", w)
	}
	return r
}

func (s *script) synced(w Waiter) SyncResult {
	s.t.Helper()
	r, ok := s.syncs[w]
	if !ok {
		s.t.Fatalf("sync %d not answered", w)
	}
	return r
}

func (s *script) wantState(st State, gen int32) {
	s.t.Helper()
	if s.g.State() != st || s.g.Generation != gen {
		s.t.Fatalf("group is %s at generation %d, want %s at %d", s.g.State(), s.g.Generation, st, gen)
	}
}

// stable brings members (ids a, b, ...) into a Stable group, returning
// their generation.
func (s *script) stable(ids ...string) int32 {
	s.t.Helper()
	for _, id := range ids {
		if s.g.Member(id) != nil {
			s.join(id, "")
			continue
		}
		if r := s.joined(s.join("", id)); errors.Is(r.Err, ErrMemberIDRequired) {
			s.join(id, "")
		}
	}
	// Each newcomer restarts the rebalance: members not waiting in it
	// rejoin until the join phase completes.
	for s.g.State() == PreparingRebalance {
		for _, id := range ids {
			if m := s.g.Member(id); m != nil && m.joinWaiter == 0 {
				s.join(id, "")
			}
		}
	}
	gen := s.g.Generation
	assign := make(map[string][]byte)
	for _, id := range ids {
		assign[id] = []byte("for-" + id)
	}
	for _, id := range ids {
		if id != s.g.Leader {
			s.sync(id, gen, nil)
		}
	}
	s.sync(s.g.Leader, gen, assign)
	s.wantState(Stable, gen)
	return gen
}

func TestJoinSyncHeartbeat(t *testing.T) {
	s := newScript(t, Limits{MinSessionTimeout: time.Second})
	// KIP-394: the first join (v4+) only hands out an id.
	w := s.join("", "a")
	if r := s.joined(w); !errors.Is(r.Err, ErrMemberIDRequired) || r.MemberID != "a" {
		t.Fatalf("first join: %+v", r)
	}
	s.wantState(Empty, 0)
	w = s.join("a", "")
	r := s.joined(w)
	if r.Err != nil || r.Generation != 1 || r.LeaderID != "a" || r.Protocol != "range" || len(r.Members) != 1 {
		t.Fatalf("join: %+v", r)
	}
	s.wantState(CompletingRebalance, 1)
	if err := s.g.Heartbeat(s.now, "a", "", 1); err != nil {
		t.Fatalf("heartbeat while completing: %v", err)
	}
	sw := s.sync("a", 1, map[string][]byte{"a": []byte("all")})
	if sr := s.synced(sw); sr.Err != nil || string(sr.Assignment) != "all" {
		t.Fatalf("sync: %+v", sr)
	}
	s.wantState(Stable, 1)
	if s.store != 1 {
		t.Fatalf("group stored %d times, want once (after the assignment)", s.store)
	}
	for _, tc := range []struct {
		name   string
		member string
		gen    int32
		want   error
	}{
		{"current", "a", 1, nil},
		{"old generation", "a", 0, ErrIllegalGeneration},
		{"unknown member", "zz", 1, ErrUnknownMemberID},
	} {
		if err := s.g.Heartbeat(s.now, tc.member, "", tc.gen); !errors.Is(err, tc.want) {
			t.Errorf("%s: heartbeat %v, want %v", tc.name, err, tc.want)
		}
	}
}

func TestSecondMemberRebalances(t *testing.T) {
	s := newScript(t, Limits{})
	gen := s.stable("a")
	wb := s.join("", "b")
	wb = s.join("b", "")
	s.wantState(PreparingRebalance, gen)
	if _, ok := s.joins[wb]; ok {
		t.Fatal("b answered before a rejoined")
	}
	if err := s.g.Heartbeat(s.now, "a", "", gen); !errors.Is(err, ErrRebalanceInProgress) {
		t.Fatalf("heartbeat during rebalance: %v", err)
	}
	wa := s.join("a", "")
	ra, rb := s.joined(wa), s.joined(wb)
	if ra.Generation != gen+1 || ra.LeaderID != "a" || len(ra.Members) != 2 {
		t.Fatalf("leader's join: %+v", ra)
	}
	if rb.Generation != gen+1 || rb.LeaderID != "a" || len(rb.Members) != 0 {
		t.Fatalf("follower's join: %+v", rb)
	}
	// The follower's sync waits for the leader's.
	sb := s.sync("b", gen+1, nil)
	if _, ok := s.syncs[sb]; ok {
		t.Fatal("follower synced before the leader")
	}
	sa := s.sync("a", gen+1, map[string][]byte{"a": []byte("A"), "b": []byte("B")})
	if string(s.synced(sa).Assignment) != "A" || string(s.synced(sb).Assignment) != "B" {
		t.Fatalf("assignments: %+v %+v", s.synced(sa), s.synced(sb))
	}
	s.wantState(Stable, gen+1)
}

func TestSessionExpiryRemovesMember(t *testing.T) {
	s := newScript(t, Limits{})
	gen := s.stable("a", "b")
	// a keeps heartbeating; b goes silent past its 10s session.
	for range 4 {
		s.advance(3 * time.Second)
		if s.g.Member("a") != nil && s.g.State() == Stable {
			if err := s.g.Heartbeat(s.now, "a", "", gen); err != nil {
				t.Fatalf("a's heartbeat: %v", err)
			}
		}
	}
	if s.g.Member("b") != nil {
		t.Fatal("b outlived its session")
	}
	s.wantState(PreparingRebalance, gen)
	w := s.join("a", "")
	if r := s.joined(w); r.Generation != gen+1 || len(r.Members) != 1 {
		t.Fatalf("rejoin after expiry: %+v", r)
	}
}

func TestLeaveEmptiesGroup(t *testing.T) {
	s := newScript(t, Limits{})
	gen := s.stable("a")
	stores := s.store
	errs, e := s.g.Leave(s.now, []LeaveMember{{MemberID: "a"}, {MemberID: "nobody"}})
	s.apply(e)
	if errs[0] != nil || !errors.Is(errs[1], ErrUnknownMemberID) {
		t.Fatalf("leave: %v", errs)
	}
	s.wantState(Empty, gen+1)
	if s.store != stores+1 {
		t.Fatal("the empty group was not stored")
	}
}

func TestStaticRejoinKeepsGeneration(t *testing.T) {
	s := newScript(t, Limits{})
	w := s.join("", "a1", static("inst-a"))
	// Static members skip MEMBER_ID_REQUIRED.
	if r := s.joined(w); r.Err != nil || r.MemberID != "a1" {
		t.Fatalf("static join: %+v", r)
	}
	s.sync("a1", 1, map[string][]byte{"a1": []byte("A")})
	s.wantState(Stable, 1)

	// The process restarts: same instance id, no member id, same
	// subscription. No rebalance; the new id replaces the old.
	w = s.join("", "a2", static("inst-a"))
	r := s.joined(w)
	if r.Err != nil || r.MemberID != "a2" || r.Generation != 1 || r.LeaderID != "a2" || !r.SkipAssignment {
		t.Fatalf("static rejoin: %+v", r)
	}
	s.wantState(Stable, 1)
	if err := s.g.Heartbeat(s.now, "a1", "inst-a", 1); !errors.Is(err, ErrFencedInstanceID) {
		t.Fatalf("old incarnation's heartbeat: %v, want FENCED_INSTANCE_ID", err)
	}
	if err := s.g.ValidateCommit(s.now, 1, "a1", "inst-a"); !errors.Is(err, ErrFencedInstanceID) {
		t.Fatalf("old incarnation's commit: %v, want FENCED_INSTANCE_ID", err)
	}
	if sr := s.synced(s.sync("a2", 1, nil)); string(sr.Assignment) != "A" {
		t.Fatalf("assignment after static rejoin: %+v", sr)
	}

	// A changed subscription does rebalance.
	w = s.join("", "a3", static("inst-a"), protocols(Protocol{Name: "range", Metadata: []byte("other")}))
	if r := s.joined(w); r.Generation != 2 || r.MemberID != "a3" {
		t.Fatalf("static rejoin with new metadata: %+v", r)
	}
}

func TestRebalanceEvictsMemberThatNeverRejoins(t *testing.T) {
	s := newScript(t, Limits{})
	gen := s.stable("a", "b")
	wc := s.join("", "c")
	wc = s.join("c", "")
	wa := s.join("a", "")
	// b keeps heartbeating (REBALANCE_IN_PROGRESS) but never rejoins;
	// the join phase ends at the rebalance timeout (30s) without it.
	for range 9 {
		s.advance(3 * time.Second)
		_ = s.g.Heartbeat(s.now, "b", "", gen)
	}
	if _, ok := s.joins[wa]; ok {
		t.Fatal("join completed before the rebalance timeout")
	}
	s.advance(4 * time.Second)
	ra, rc := s.joined(wa), s.joined(wc)
	if ra.Generation != gen+1 || rc.Generation != gen+1 || len(ra.Members) != 2 {
		t.Fatalf("after the timeout: %+v / %+v", ra, rc)
	}
	if s.g.Member("b") != nil {
		t.Fatal("b is still a member")
	}
	if err := s.g.Heartbeat(s.now, "b", "", gen); !errors.Is(err, ErrUnknownMemberID) {
		t.Fatalf("evicted member's heartbeat: %v", err)
	}
}

func TestCommitValidation(t *testing.T) {
	s := newScript(t, Limits{})
	// An Empty group takes simple commits (generation -1).
	if err := s.g.ValidateCommit(s.now, -1, "", ""); err != nil {
		t.Fatalf("simple commit to an empty group: %v", err)
	}
	gen := s.stable("a", "b")
	for _, tc := range []struct {
		name   string
		gen    int32
		member string
		want   error
	}{
		{"member at current generation", gen, "a", nil},
		{"stale generation", gen - 1, "b", ErrIllegalGeneration},
		{"simple commit into active group", -1, "", ErrUnknownMemberID},
		{"unknown member", gen, "x", ErrUnknownMemberID},
	} {
		if err := s.g.ValidateCommit(s.now, tc.gen, tc.member, ""); !errors.Is(err, tc.want) {
			t.Errorf("%s: %v, want %v", tc.name, err, tc.want)
		}
	}
	// During CompletingRebalance nobody commits.
	s.join("", "c")
	s.join("c", "")
	s.join("a", "")
	s.join("b", "")
	s.wantState(CompletingRebalance, gen+1)
	if err := s.g.ValidateCommit(s.now, gen+1, "a", ""); !errors.Is(err, ErrRebalanceInProgress) {
		t.Fatalf("commit while completing: %v", err)
	}
	if err := s.g.ValidateCommit(s.now, gen, "a", ""); !errors.Is(err, ErrIllegalGeneration) {
		t.Fatalf("commit from the previous generation: %v", err)
	}
}

func TestJoinErrors(t *testing.T) {
	s := newScript(t, Limits{MinSessionTimeout: 5 * time.Second, MaxSessionTimeout: 20 * time.Second, MaxSize: 1})
	s.stable("a")
	for _, tc := range []struct {
		name string
		req  JoinRequest
		want error
	}{
		{"session too short", JoinRequest{SessionTimeout: time.Second}, ErrInvalidSessionTimeout},
		{"session too long", JoinRequest{SessionTimeout: time.Minute}, ErrInvalidSessionTimeout},
		{"other protocol type", JoinRequest{ProtocolType: "connect"}, ErrInconsistentProtocol},
		{"no common protocol", JoinRequest{Protocols: []Protocol{{Name: "sticky"}}}, ErrInconsistentProtocol},
		{"group full", JoinRequest{}, ErrGroupMaxSizeReached},
		{"unknown member id", JoinRequest{MemberID: "ghost"}, ErrUnknownMemberID},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := tc.req
			if r.SessionTimeout == 0 {
				r.SessionTimeout = 10 * time.Second
			}
			if r.ProtocolType == "" {
				r.ProtocolType = "consumer"
			}
			if r.Protocols == nil {
				r.Protocols = []Protocol{{Name: "range"}}
			}
			r.NewMemberID, r.Waiter = "new", 999
			e := s.g.Join(s.now, r)
			if len(e.Joins) != 1 || !errors.Is(e.Joins[0].Err, tc.want) {
				t.Fatalf("got %+v, want %v", e.Joins, tc.want)
			}
		})
	}
	s.wantState(Stable, 1)
}

func TestSelectProtocol(t *testing.T) {
	p := func(names ...string) []Protocol {
		var ps []Protocol
		for _, n := range names {
			ps = append(ps, Protocol{Name: n})
		}
		return ps
	}
	for _, tc := range []struct {
		name    string
		members [][]Protocol
		want    string
	}{
		{"only common one", [][]Protocol{p("range", "rr"), p("rr", "range"), p("rr")}, "rr"},
		{"majority of first choices", [][]Protocol{p("range", "rr"), p("range", "rr"), p("rr", "range")}, "range"},
		{"tie goes to the first member's preference", [][]Protocol{p("sticky", "range"), p("range", "sticky")}, "sticky"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			g := NewGroup("g", Limits{MaxSize: 10, MaxSessionTimeout: time.Hour}, t0)
			for i, ps := range tc.members {
				id := string(rune('a' + i))
				g.members[id] = &Member{MemberID: id, Protocols: ps}
				g.order = append(g.order, id)
			}
			if got := g.selectProtocol(); got != tc.want {
				t.Fatalf("selected %q, want %q", got, tc.want)
			}
		})
	}
}

// TestInitialRebalanceDelay: KIP-134. Members arriving during the delay
// extend it (up to the rebalance timeout) and land in one generation.
func TestInitialRebalanceDelay(t *testing.T) {
	s := newScript(t, Limits{InitialRebalanceDelay: 3 * time.Second})
	s.join("", "a")
	wa := s.join("a", "")
	s.advance(2 * time.Second)
	s.join("", "b")
	wb := s.join("b", "")
	s.advance(1 * time.Second) // the first delay ends; b arrived, so wait again
	if _, ok := s.joins[wa]; ok {
		t.Fatal("join completed although a member arrived during the delay")
	}
	s.advance(3 * time.Second)
	ra, rb := s.joined(wa), s.joined(wb)
	if ra.Generation != 1 || rb.Generation != 1 || len(ra.Members)+len(rb.Members) != 2 {
		t.Fatalf("joins: %+v %+v", ra, rb)
	}
}

// TestSyncTimeout: members that never send SyncGroup are removed after
// the rebalance timeout, and the rest rebalance.
func TestSyncTimeout(t *testing.T) {
	s := newScript(t, Limits{})
	gen := s.stable("a", "b")
	s.join("a", "")
	s.join("b", "")
	s.wantState(CompletingRebalance, gen+1)
	// Only b syncs; the leader a never does.
	wb := s.sync("b", gen+1, nil)
	s.advance(31 * time.Second)
	if r := s.synced(wb); !errors.Is(r.Err, ErrRebalanceInProgress) {
		t.Fatalf("b's sync: %+v, want REBALANCE_IN_PROGRESS", r)
	}
	if s.g.Member("a") != nil {
		t.Fatal("the leader that never synced is still a member")
	}
}

func TestSnapshotRestore(t *testing.T) {
	s := newScript(t, Limits{})
	gen := s.stable("a", "b")
	snap := s.g.Snapshot()
	g := NewGroup("g", s.g.limits, t0)
	g.Restore(snap, s.now)
	if g.State() != Stable || g.Generation != gen || g.Leader != s.g.Leader || g.NumMembers() != 2 {
		t.Fatalf("restored: %s gen %d leader %s members %d", g.State(), g.Generation, g.Leader, g.NumMembers())
	}
	if err := g.Heartbeat(s.now, "b", "", gen); err != nil {
		t.Fatalf("heartbeat after restore: %v", err)
	}
	if string(g.Member("b").Assignment) != "for-b" {
		t.Fatalf("restored assignment %q", g.Member("b").Assignment)
	}
}

// TestPendingMemberExpiry: an id handed out with MEMBER_ID_REQUIRED that is
// never used expires without disturbing a Stable group, and unblocks a
// join phase that waited for it.
func TestPendingMemberExpiry(t *testing.T) {
	s := newScript(t, Limits{})
	gen := s.stable("a")
	s.join("", "ghost") // never comes back
	s.advance(5 * time.Second)
	if err := s.g.Heartbeat(s.now, "a", "", gen); err != nil {
		t.Fatal(err)
	}
	s.advance(6 * time.Second)
	if err := s.g.Heartbeat(s.now, "a", "", gen); err != nil {
		t.Fatalf("a after the pending id expired: %v", err)
	}
	s.wantState(Stable, gen)

	s.join("", "ghost2")
	// a rejoins (e.g. its subscription changed): the join phase waits for
	// the pending id until it expires.
	w := s.join("a", "", protocols(Protocol{Name: "range", Metadata: []byte("new")}))
	if _, ok := s.joins[w]; ok {
		t.Fatal("join completed while an id was pending")
	}
	s.advance(11 * time.Second)
	if r := s.joined(w); r.Err != nil || r.Generation != gen+1 {
		t.Fatalf("join after the pending id expired: %+v", r)
	}
}
