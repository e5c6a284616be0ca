package group

import (
	"errors"
	"fmt"
	"maps"
	"slices"
	"testing"
	"time"
)

var (
	topicA = TopicID{0xa}
	topicB = TopicID{0xb}
)

// cscript drives one ConsumerGroup with a fake time and a topic image the
// test edits; after every event it checks that no partition is owned by
// two members (the safety property of revocation first).
type cscript struct {
	t      *testing.T
	g      *ConsumerGroup
	now    time.Time
	topics TopicImage
}

func newCScript(t *testing.T) *cscript {
	return &cscript{t: t, g: NewConsumerGroup("cg", ConsumerLimits{MaxSize: 3}), now: t0,
		topics: TopicImage{"a": {Name: "a", ID: topicA, Partitions: 6}}}
}

func sp(s string) *string { return &s }

// join sends epoch 0 for member id subscribed to topics.
func (s *cscript) join(id string, topics ...string) ConsumerHeartbeatResult {
	return s.hb(ConsumerHeartbeat{MemberID: id, MemberEpoch: 0, RebalanceTimeout: 30 * time.Second,
		SubscribedTopicNames: topics, Owned: Assignment{}})
}

// beat sends a plain heartbeat; owned nil means "unchanged".
func (s *cscript) beat(id string, epoch int32, owned Assignment) ConsumerHeartbeatResult {
	return s.hb(ConsumerHeartbeat{MemberID: id, MemberEpoch: epoch, RebalanceTimeout: -1, Owned: owned})
}

func (s *cscript) hb(r ConsumerHeartbeat) ConsumerHeartbeatResult {
	s.t.Helper()
	res := s.g.Heartbeat(s.now, r, s.topics)
	s.checkExclusive()
	s.g.Records() // as the coordinator does after every event
	return res
}

func (s *cscript) advance(d time.Duration) bool {
	s.now = s.now.Add(d)
	changed := s.g.Tick(s.now)
	s.checkExclusive()
	return changed
}

func (s *cscript) checkExclusive() {
	s.t.Helper()
	owner := map[topicPart]string{}
	for _, m := range s.g.members {
		for _, a := range []Assignment{m.Assigned, m.PendingRevocation} {
			for _, tp := range a.partitions() {
				if o, ok := owner[tp]; ok && o != m.MemberID {
					s.t.Fatalf("partition %v owned by %s and %s", tp, o, m.MemberID)
				}
				owner[tp] = m.MemberID
			}
		}
	}
	if s.g.AssignmentEpoch > s.g.GroupEpoch {
		s.t.Fatalf("assignment epoch %d > group epoch %d", s.g.AssignmentEpoch, s.g.GroupEpoch)
	}
}

func (s *cscript) ok(res ConsumerHeartbeatResult, epoch int32, nparts int) ConsumerHeartbeatResult {
	s.t.Helper()
	if res.Err != nil || res.MemberEpoch != epoch {
		s.t.Fatalf("got %+v, want epoch %d", res, epoch)
	}
	if nparts >= 0 && (res.Assignment == nil || res.Assignment.Len() != nparts) {
		s.t.Fatalf("got assignment %v, want %d partitions", res.Assignment, nparts)
	}
	return res
}

func TestConsumerJoinRevokeBeforeReassign(t *testing.T) {
	s := newCScript(t)
	r1 := s.ok(s.join("m1", "a"), 1, 6)
	if s.g.State() != ConsumerStable || r1.HeartbeatInterval != 5*time.Second {
		t.Fatalf("state %v interval %v", s.g.State(), r1.HeartbeatInterval)
	}
	// Unchanged: a keepalive gets no assignment.
	if r := s.ok(s.beat("m1", 1, nil), 1, -1); r.Assignment != nil {
		t.Fatalf("keepalive got %v", r.Assignment)
	}

	// m2 joins: epoch 2, but everything is m1's until m1 revokes.
	s.ok(s.join("m2", "a"), 2, 0)
	if s.g.State() != ConsumerReconciling || s.g.GroupEpoch != 2 {
		t.Fatalf("state %v epoch %d", s.g.State(), s.g.GroupEpoch)
	}
	// m1 is told to keep 3; it stays at epoch 1 while it still owns 6.
	kept := s.ok(s.beat("m1", 1, nil), 1, 3).Assignment
	all := Assignment{topicA: {0, 1, 2, 3, 4, 5}}
	s.ok(s.beat("m1", 1, all), 1, 3)
	if r := s.beat("m2", 2, nil); r.Assignment != nil && r.Assignment.Len() != 0 {
		t.Fatalf("m2 got partitions m1 still owns: %v", r.Assignment)
	}
	// m1 confirms: it moves to epoch 2; m2 then gets the other 3.
	s.ok(s.beat("m1", 1, kept), 2, 3)
	r2 := s.ok(s.beat("m2", 2, nil), 2, 3)
	for _, tp := range r2.Assignment.partitions() {
		if kept.Has(tp.Topic, tp.Partition) {
			t.Fatalf("both have %v", tp)
		}
	}
	if s.g.State() != ConsumerStable {
		t.Fatalf("state %v", s.g.State())
	}

	// m2 leaves: m1's target is everything again, with no revocation.
	if r := s.hb(ConsumerHeartbeat{MemberID: "m2", MemberEpoch: -1, RebalanceTimeout: -1}); r.Err != nil || r.MemberEpoch != -1 {
		t.Fatalf("leave: %+v", r)
	}
	s.ok(s.beat("m1", 2, nil), 3, 6)
}

func TestConsumerHeartbeatErrors(t *testing.T) {
	s := newCScript(t)
	s.ok(s.join("m1", "a"), 1, 6)
	for _, tc := range []struct {
		name string
		r    ConsumerHeartbeat
		want error
	}{
		{"join without subscription", ConsumerHeartbeat{MemberID: "x", RebalanceTimeout: 1, Owned: Assignment{}}, ErrInvalidRequest},
		{"join without owned", ConsumerHeartbeat{MemberID: "x", RebalanceTimeout: 1, SubscribedTopicNames: []string{"a"}}, ErrInvalidRequest},
		{"join without rebalance timeout", ConsumerHeartbeat{MemberID: "x", RebalanceTimeout: -1, SubscribedTopicNames: []string{"a"}, Owned: Assignment{}}, ErrInvalidRequest},
		{"heartbeat without member", ConsumerHeartbeat{MemberEpoch: 1, RebalanceTimeout: -1}, ErrInvalidRequest},
		{"epoch below -2", ConsumerHeartbeat{MemberID: "m1", MemberEpoch: -3}, ErrInvalidRequest},
		{"static leave without instance", ConsumerHeartbeat{MemberID: "m1", MemberEpoch: -2}, ErrInvalidRequest},
		{"unknown member", ConsumerHeartbeat{MemberID: "zz", MemberEpoch: 1, RebalanceTimeout: -1}, ErrUnknownMemberID},
		{"fenced epoch", ConsumerHeartbeat{MemberID: "m1", MemberEpoch: 5, RebalanceTimeout: -1}, ErrFencedMemberEpoch},
		{"unknown assignor", ConsumerHeartbeat{MemberID: "m1", MemberEpoch: 1, RebalanceTimeout: -1, ServerAssignor: sp("sticky")}, ErrUnsupportedAssignor},
		{"bad regex", ConsumerHeartbeat{MemberID: "m1", MemberEpoch: 1, RebalanceTimeout: -1, SubscribedTopicRegex: sp("a(")}, ErrInvalidRegularExpression},
		{"leave unknown", ConsumerHeartbeat{MemberID: "zz", MemberEpoch: -1}, ErrUnknownMemberID},
	} {
		if r := s.g.Heartbeat(s.now, tc.r, s.topics); !errors.Is(r.Err, tc.want) {
			t.Errorf("%s: got %v, want %v", tc.name, r.Err, tc.want)
		}
	}
	// group.consumer.max.size (3 here).
	s.ok(s.join("m2", "a"), 2, -1)
	s.ok(s.join("m3", "a"), 3, -1)
	if r := s.join("m4", "a"); !errors.Is(r.Err, ErrGroupMaxSizeReached) {
		t.Errorf("max size: %v", r.Err)
	}
}

func TestConsumerSessionExpiryAndRevokeTimeout(t *testing.T) {
	s := newCScript(t)
	s.ok(s.join("m1", "a"), 1, 6)
	s.ok(s.join("m2", "a"), 2, 0)
	// m1 is asked to revoke and never does: fenced after its rebalance
	// timeout (30s), even though it keeps heartbeating.
	s.ok(s.beat("m1", 1, nil), 1, 3)
	for range 3 {
		s.advance(10 * time.Second)
		s.beat("m2", 2, nil)
		if s.g.members["m1"] != nil {
			s.beat("m1", 1, nil)
		}
	}
	if s.g.members["m1"] != nil {
		t.Fatal("m1 was not fenced for not revoking")
	}
	if r := s.beat("m1", 1, nil); !errors.Is(r.Err, ErrUnknownMemberID) {
		t.Fatalf("fenced member: %v", r.Err)
	}
	if m2 := s.g.members["m2"]; m2.MemberEpoch != 3 || m2.Assigned.Len() != 6 {
		t.Fatalf("m2 after m1 was fenced: epoch %d, %v", m2.MemberEpoch, m2.Assigned)
	}

	// m2 stops heartbeating: the session (45s) expires.
	if s.advance(44 * time.Second) {
		t.Fatal("expired early")
	}
	if !s.advance(time.Second) || s.g.NumMembers() != 0 || s.g.State() != ConsumerEmpty {
		t.Fatalf("session did not expire: %d members", s.g.NumMembers())
	}
	if !s.g.NextDeadline().IsZero() {
		t.Fatal("empty group has a deadline")
	}
}

func TestConsumerStaticMemberRejoin(t *testing.T) {
	s := newCScript(t)
	join := func(id string) ConsumerHeartbeatResult {
		return s.hb(ConsumerHeartbeat{MemberID: id, InstanceID: sp("i1"), RebalanceTimeout: time.Second,
			SubscribedTopicNames: []string{"a"}, Owned: Assignment{}})
	}
	s.ok(join("m1"), 1, 6)
	s.ok(s.join("m2", "a"), 2, 0)
	kept := s.ok(s.beat("m1", 1, nil), 1, 3).Assignment
	s.ok(s.beat("m1", 1, kept), 2, 3)
	// Another process with the same instance id while m1 lives.
	if r := join("m1b"); !errors.Is(r.Err, ErrUnreleasedInstanceID) {
		t.Fatalf("held instance: %v", r.Err)
	}
	// m1 restarts: static leave, then its new incarnation rejoins and
	// takes over the epoch and the partitions, without a new group epoch.
	if r := s.hb(ConsumerHeartbeat{MemberID: "m1", MemberEpoch: -2, InstanceID: sp("i1")}); r.Err != nil || r.MemberEpoch != -2 {
		t.Fatalf("static leave: %+v", r)
	}
	r := s.ok(join("m1b"), 2, 3)
	if !r.Assignment.Equal(kept) || s.g.GroupEpoch != 2 || s.g.members["m1"] != nil {
		t.Fatalf("rejoin: %v (kept %v), group epoch %d", r.Assignment, kept, s.g.GroupEpoch)
	}
	// A static member that leaves for good: removed after the session.
	s.hb(ConsumerHeartbeat{MemberID: "m1b", MemberEpoch: -2, InstanceID: sp("i1")})
	s.advance(46 * time.Second)
	if s.g.members["m1b"] != nil || s.g.members["m2"] != nil {
		t.Fatal("static member (and silent m2) not expired")
	}
}

func TestConsumerNewPartitionsAndTopics(t *testing.T) {
	s := newCScript(t)
	s.ok(s.join("m1", "a", "b"), 1, 6)
	// Topic b is created: the next heartbeat bumps the epoch.
	s.topics["b"] = TopicMeta{Name: "b", ID: topicB, Partitions: 2}
	r := s.ok(s.beat("m1", 1, nil), 2, 8)
	if len(r.Assignment[topicB]) != 2 {
		t.Fatalf("b not assigned: %v", r.Assignment)
	}
	// a grows to 8 partitions.
	s.topics["a"] = TopicMeta{Name: "a", ID: topicA, Partitions: 8}
	s.ok(s.beat("m1", 2, nil), 3, 10)
	// Nothing changed: same epoch.
	s.ok(s.beat("m1", 3, nil), 3, -1)
	// A regex subscription picks up matching topics, not internal ones.
	s.topics["__consumer_offsets"] = TopicMeta{Name: "__consumer_offsets", ID: TopicID{0xc}, Partitions: 3, Internal: true}
	s.topics["ab"] = TopicMeta{Name: "ab", ID: TopicID{0xd}, Partitions: 1}
	r = s.hb(ConsumerHeartbeat{MemberID: "m1", MemberEpoch: 3, RebalanceTimeout: -1, SubscribedTopicNames: []string{},
		SubscribedTopicRegex: sp(".*b.*|__.*")})
	// a is no longer subscribed: revoke first.
	s.ok(r, 3, 2)
	r = s.ok(s.beat("m1", 3, r.Assignment), 4, 3)
	if len(r.Assignment[TopicID{0xd}]) != 1 || len(r.Assignment[TopicID{0xc}]) != 0 {
		t.Fatalf("regex assignment: %v", r.Assignment)
	}
}

func TestConsumerLostResponseAndRejoin(t *testing.T) {
	s := newCScript(t)
	s.ok(s.join("m1", "a"), 1, 6)
	s.ok(s.join("m2", "a"), 2, 0)
	kept := s.ok(s.beat("m1", 1, nil), 1, 3).Assignment
	s.ok(s.beat("m1", 1, kept), 2, 3)
	// m1 missed that answer: epoch 1 with owned within its assignment is
	// accepted (Kafka does the same), and it learns epoch 2.
	s.ok(s.beat("m1", 1, kept), 2, 3)
	// With owned partitions outside it, it is fenced.
	if r := s.beat("m1", 1, Assignment{topicA: {0, 1, 2, 3, 4, 5}}); !errors.Is(r.Err, ErrFencedMemberEpoch) {
		t.Fatalf("got %v", r.Err)
	}
	// A fenced member rejoins with epoch 0 and the same id: it gets its
	// target back, nothing else moves.
	s.ok(s.join("m1", "a"), 2, 3)
	if s.g.GroupEpoch != 2 {
		t.Fatalf("rejoin bumped the epoch to %d", s.g.GroupEpoch)
	}
}

func TestConsumerCommitValidation(t *testing.T) {
	s := newCScript(t)
	if err := s.g.ValidateCommit(s.now, -1, ""); err != nil {
		t.Fatalf("simple commit to empty group: %v", err)
	}
	s.ok(s.join("m1", "a"), 1, 6)
	for _, tc := range []struct {
		epoch  int32
		member string
		want   error
	}{
		{1, "m1", nil},
		{0, "m1", ErrStaleMemberEpoch},
		{1, "zz", ErrUnknownMemberID},
		{-1, "", ErrUnknownMemberID},
	} {
		if err := s.g.ValidateCommit(s.now, tc.epoch, tc.member); !errors.Is(err, tc.want) {
			t.Errorf("commit %d/%s: %v, want %v", tc.epoch, tc.member, err, tc.want)
		}
	}
	if err := s.g.ValidateFetch("m1", 0); !errors.Is(err, ErrStaleMemberEpoch) {
		t.Errorf("fetch: %v", err)
	}
}

func count(out map[string]Assignment) map[string]int {
	c := map[string]int{}
	for id, a := range out {
		c[id] = a.Len()
	}
	return c
}

func TestAssignors(t *testing.T) {
	six := AssignTopic{ID: topicA, Name: "a", Partitions: 6}
	two := AssignTopic{ID: topicB, Name: "b", Partitions: 2}
	for _, tc := range []struct {
		name     string
		assignor string
		spec     AssignSpec
		want     map[string]Assignment // exact, when set
		loads    []int                 // else the sorted partition counts
	}{
		{"uniform one member", AssignorUniform, AssignSpec{Members: []AssignMember{{MemberID: "m1", Topics: []TopicID{topicA}}}, Topics: []AssignTopic{six}},
			map[string]Assignment{"m1": {topicA: {0, 1, 2, 3, 4, 5}}}, nil},
		{"uniform balanced", AssignorUniform, AssignSpec{Members: []AssignMember{
			{MemberID: "m1", Topics: []TopicID{topicA}}, {MemberID: "m2", Topics: []TopicID{topicA}}, {MemberID: "m3", Topics: []TopicID{topicA, topicB}}},
			Topics: []AssignTopic{six, two}}, nil, []int{2, 3, 3}},
		{"uniform sticky", AssignorUniform, AssignSpec{Members: []AssignMember{
			{MemberID: "m1", Topics: []TopicID{topicA}, Current: Assignment{topicA: {0, 1, 2, 3, 4, 5}}},
			{MemberID: "m2", Topics: []TopicID{topicA}}}, Topics: []AssignTopic{six}},
			map[string]Assignment{"m1": {topicA: {0, 1, 2}}, "m2": {topicA: {3, 4, 5}}}, nil},
		{"uniform keeps a balanced current", AssignorUniform, AssignSpec{Members: []AssignMember{
			{MemberID: "m1", Topics: []TopicID{topicA}, Current: Assignment{topicA: {1, 3, 5}}},
			{MemberID: "m2", Topics: []TopicID{topicA}, Current: Assignment{topicA: {0, 2, 4}}}}, Topics: []AssignTopic{six}},
			map[string]Assignment{"m1": {topicA: {1, 3, 5}}, "m2": {topicA: {0, 2, 4}}}, nil},
		{"uniform drops unsubscribed and unknown", AssignorUniform, AssignSpec{Members: []AssignMember{
			{MemberID: "m1", Topics: []TopicID{topicB}, Current: Assignment{topicA: {0}, TopicID{9}: {0}}}}, Topics: []AssignTopic{six, two}},
			map[string]Assignment{"m1": {topicB: {0, 1}}}, nil},
		{"uniform member without topics", AssignorUniform, AssignSpec{Members: []AssignMember{{MemberID: "m1"}, {MemberID: "m2", Topics: []TopicID{topicB}}}, Topics: []AssignTopic{two}},
			map[string]Assignment{"m1": {}, "m2": {topicB: {0, 1}}}, nil},
		{"range co-partitioned", AssignorRange, AssignSpec{Members: []AssignMember{
			{MemberID: "m2", Topics: []TopicID{topicA, topicB}}, {MemberID: "m1", Topics: []TopicID{topicA, topicB}}},
			Topics: []AssignTopic{six, {ID: topicB, Name: "b", Partitions: 6}}},
			map[string]Assignment{"m1": {topicA: {0, 1, 2}, topicB: {0, 1, 2}}, "m2": {topicA: {3, 4, 5}, topicB: {3, 4, 5}}}, nil},
		{"range uneven", AssignorRange, AssignSpec{Members: []AssignMember{
			{MemberID: "m1", Topics: []TopicID{topicA}}, {MemberID: "m2", Topics: []TopicID{topicA}}, {MemberID: "m3", Topics: []TopicID{topicA}}, {MemberID: "m4", Topics: []TopicID{topicA}}},
			Topics: []AssignTopic{six}},
			map[string]Assignment{"m1": {topicA: {0, 1}}, "m2": {topicA: {2, 3}}, "m3": {topicA: {4}}, "m4": {topicA: {5}}}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out, ok := Assign(tc.assignor, tc.spec)
			if !ok {
				t.Fatal("unknown assignor")
			}
			if tc.want != nil {
				for id, want := range tc.want {
					if !out[id].Equal(want) {
						t.Errorf("%s: got %v, want %v", id, out[id], want)
					}
				}
			}
			if loads := slices.Sorted(maps.Values(count(out))); tc.loads != nil && !slices.Equal(loads, tc.loads) {
				t.Errorf("loads %v, want %v", loads, tc.loads)
			}
			// Every partition of a subscribed topic is assigned once.
			seen := map[topicPart]bool{}
			for _, a := range out {
				for _, tp := range a.partitions() {
					if seen[tp] {
						t.Errorf("%v assigned twice", tp)
					}
					seen[tp] = true
				}
			}
		})
	}
	if _, ok := Assign("sticky", AssignSpec{}); ok {
		t.Error("unknown assignor accepted")
	}
}

// TestAssignUniformProperties checks balance and stickiness over many
// shapes: loads of members with equal subscriptions differ by at most
// one, and adding a member moves only what it needs.
func TestAssignUniformProperties(t *testing.T) {
	for members := 1; members <= 7; members++ {
		for parts := int32(0); parts <= 20; parts += 3 {
			spec := AssignSpec{Topics: []AssignTopic{{ID: topicA, Name: "a", Partitions: parts}}}
			for i := range members {
				spec.Members = append(spec.Members, AssignMember{MemberID: fmt.Sprintf("m%d", i), Topics: []TopicID{topicA}})
			}
			out := AssignUniform(spec)
			loads := slices.Collect(maps.Values(count(out)))
			if slices.Max(loads)-slices.Min(loads) > 1 {
				t.Fatalf("%d members, %d partitions: loads %v", members, parts, loads)
			}
			// One more member: only the partitions it gets move.
			for i := range spec.Members {
				spec.Members[i].Current = out[spec.Members[i].MemberID]
			}
			spec.Members = append(spec.Members, AssignMember{MemberID: "new", Topics: []TopicID{topicA}})
			next := AssignUniform(spec)
			moved := 0
			for id, a := range out {
				for _, tp := range a.partitions() {
					if !next[id].Has(tp.Topic, tp.Partition) {
						moved++
					}
				}
			}
			if moved != next["new"].Len() {
				t.Fatalf("%d members, %d partitions: moved %d, new member got %d", members, parts, moved, next["new"].Len())
			}
		}
	}
}
