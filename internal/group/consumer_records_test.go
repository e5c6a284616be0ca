package group

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"
)

// replayRecords decodes recs as a replay would and rebuilds the groups.
func replayRecords(t *testing.T, recs []BuildRecord, now time.Time) map[string]*ConsumerGroup {
	t.Helper()
	l := newConsumerLoader(ConsumerLimits{})
	for _, r := range recs {
		if !IsConsumerRecordKey(r.Key) {
			t.Fatalf("not a consumer group key: %x", r.Key)
		}
		cr, err := DecodeConsumerRecord(r.Key, r.Value)
		if err != nil {
			t.Fatalf("decode: %v", err)
		}
		l.apply(cr)
	}
	return l.finish(now)
}

func sameConsumerGroup(t *testing.T, got, want *ConsumerGroup) {
	t.Helper()
	if got == nil {
		t.Fatal("group not replayed")
	}
	if got.GroupEpoch != want.GroupEpoch || got.AssignmentEpoch != want.AssignmentEpoch || got.assignor != want.assignor {
		t.Errorf("epochs %d/%d %s, want %d/%d %s", got.GroupEpoch, got.AssignmentEpoch, got.assignor, want.GroupEpoch, want.AssignmentEpoch, want.assignor)
	}
	if !subscribedEqual(got.subscribed, want.subscribed) {
		t.Errorf("subscribed %v, want %v", got.subscribed, want.subscribed)
	}
	if len(got.members) != len(want.members) {
		t.Fatalf("%d members, want %d", len(got.members), len(want.members))
	}
	for id, w := range want.members {
		m := got.members[id]
		switch {
		case m == nil:
			t.Errorf("member %s missing", id)
		case m.MemberEpoch != w.MemberEpoch || m.PreviousMemberEpoch != w.PreviousMemberEpoch || m.State != w.State:
			t.Errorf("%s: epoch %d/%d state %d, want %d/%d %d", id, m.MemberEpoch, m.PreviousMemberEpoch, m.State, w.MemberEpoch, w.PreviousMemberEpoch, w.State)
		case !m.Assigned.Equal(w.Assigned) || !m.PendingRevocation.Equal(w.PendingRevocation):
			t.Errorf("%s: assigned %v pending %v, want %v %v", id, m.Assigned, m.PendingRevocation, w.Assigned, w.PendingRevocation)
		case !got.target[id].Equal(want.target[id]):
			t.Errorf("%s: target %v, want %v", id, got.target[id], want.target[id])
		case m.InstanceID != w.InstanceID || m.ClientID != w.ClientID || m.ServerAssignor != w.ServerAssignor ||
			m.SubscribedTopicRegex != w.SubscribedTopicRegex || !slices.Equal(m.SubscribedTopicNames, w.SubscribedTopicNames) ||
			m.RebalanceTimeout != w.RebalanceTimeout:
			t.Errorf("%s: description %+v, want %+v", id, m, w)
		}
	}
	if len(got.instances) != len(want.instances) {
		t.Errorf("instances %v, want %v", got.instances, want.instances)
	}
}

// TestConsumerRecordsReplay builds a group mid-rebalance, writes every
// change as records, and checks that replaying them rebuilds the same
// group: epochs, members, targets, current assignments and revocations.
func TestConsumerRecordsReplay(t *testing.T) {
	g := NewConsumerGroup("cg", ConsumerLimits{})
	topics := TopicImage{"a": {Name: "a", ID: topicA, Partitions: 6}, "b": {Name: "b", ID: topicB, Partitions: 2}}
	var recs []BuildRecord
	hb := func(r ConsumerHeartbeat) ConsumerHeartbeatResult {
		res := g.Heartbeat(t0, r, topics)
		if res.Err != nil {
			t.Fatalf("%+v: %v", r, res.Err)
		}
		recs = append(recs, g.Records()...)
		return res
	}
	hb(ConsumerHeartbeat{MemberID: "m1", InstanceID: sp("i1"), ClientID: "c1", RebalanceTimeout: 20 * time.Second,
		SubscribedTopicNames: []string{"a", "b"}, ServerAssignor: sp("range"), Owned: Assignment{}})
	hb(ConsumerHeartbeat{MemberID: "m2", RebalanceTimeout: time.Second, SubscribedTopicRegex: sp("a|b"), Owned: Assignment{}})
	hb(ConsumerHeartbeat{MemberID: "m3", RebalanceTimeout: time.Second, SubscribedTopicNames: []string{"a"}, Owned: Assignment{}})
	hb(ConsumerHeartbeat{MemberID: "m1", MemberEpoch: 1, RebalanceTimeout: -1}) // told to revoke
	hb(ConsumerHeartbeat{MemberID: "m3", MemberEpoch: -1})                      // leaves: tombstones

	got := replayRecords(t, recs, t0)
	sameConsumerGroup(t, got["cg"], g)
	if got["cg"].members["m1"].State != MemberUnrevokedPartitions {
		t.Errorf("m1 state %d: the replay lost the revocation in progress", got["cg"].members["m1"].State)
	}

	// Deleting the group: tombstones make it vanish from a replay.
	recs = append(recs, g.TombstoneRecords()...)
	if got := replayRecords(t, recs, t0); len(got) != 0 {
		t.Errorf("deleted group replayed: %v", got)
	}
}

func TestDecodeConsumerRecordErrors(t *testing.T) {
	good := consumerKey(keyConsumerGroupCurrentAssignmnt, "g", "m")
	m := &ConsumerMember{MemberEpoch: 3, Assigned: Assignment{topicA: {1, 2}}, PendingRevocation: Assignment{}}
	val := encodeCurrent(m)
	for _, tc := range []struct {
		name       string
		key, value []byte
	}{
		{"short key", []byte{0, 8, 0}, val},
		{"unknown type", consumerKey(9, "g", ""), nil},
		{"missing member", consumerKey(keyConsumerGroupMetadata, "g", ""), nil},
		{"truncated value", good, val[:len(val)-3]},
		{"bad value version", good, append([]byte{0, 1}, val[2:]...)},
		{"huge array", good, append(append([]byte{}, val[:11]...), 0xff, 0xff, 0xff, 0x7f)},
	} {
		if tc.name == "missing member" {
			// Group-level keys have no member: this one is fine.
			if _, err := DecodeConsumerRecord(tc.key, tc.value); err != nil {
				t.Errorf("%s: %v", tc.name, err)
			}
			continue
		}
		if _, err := DecodeConsumerRecord(tc.key, tc.value); !errors.Is(err, ErrCorruptRecord) {
			t.Errorf("%s: got %v", tc.name, err)
		}
	}
	r, err := DecodeConsumerRecord(good, val)
	if err != nil || r.Current.MemberEpoch != 3 || !r.Current.Assigned.Equal(m.Assigned) {
		t.Errorf("good record: %+v %v", r, err)
	}
}

// FuzzDecodeConsumerRecord checks, for any key and value: no panic; a
// failure is ErrCorruptRecord; a decoded assignment has sorted,
// duplicate-free partition lists; and a decoded current-assignment
// record re-encodes to bytes that decode to the same thing.
func FuzzDecodeConsumerRecord(f *testing.F) {
	m := &ConsumerMember{MemberID: "m", InstanceID: "i", ClientID: "c", SubscribedTopicNames: []string{"a", "b"},
		SubscribedTopicRegex: "x.*", ServerAssignor: "uniform", RebalanceTimeout: time.Second,
		MemberEpoch: 4, PreviousMemberEpoch: 3, State: MemberUnrevokedPartitions,
		Assigned: Assignment{topicA: {0, 1}}, PendingRevocation: Assignment{topicB: {7}}}
	f.Add(consumerKey(keyConsumerGroupCurrentAssignmnt, "g", "m"), encodeCurrent(m))
	f.Add(consumerKey(keyConsumerGroupMemberMetadata, "g", "m"), encodeMemberMetadata(m))
	f.Add(consumerKey(keyConsumerGroupTargetMember, "g", "m"), appendTags(appendAssignment(valueHeader(), m.Assigned)))
	f.Add(consumerKey(keyConsumerGroupMetadata, "g", ""), encodeInt32Value(9))
	f.Add(consumerKey(keyConsumerGroupPartitionMeta, "g", ""), encodePartitionMetadata(map[string]TopicMeta{"a": {Name: "a", ID: topicA, Partitions: 3}}))
	f.Add(consumerKey(keyConsumerGroupTargetMetadata, "g", ""), []byte(nil))
	f.Add([]byte{0, 5}, []byte{0, 0, 0xff})
	f.Fuzz(func(t *testing.T, key, value []byte) {
		r, err := DecodeConsumerRecord(key, value)
		if err != nil {
			if !errors.Is(err, ErrCorruptRecord) {
				t.Fatalf("error not ErrCorruptRecord: %v", err)
			}
			return
		}
		for _, a := range []Assignment{r.Assignment, currentOf(r).Assigned, currentOf(r).PendingRevocation} {
			for _, ps := range a {
				if !slices.IsSorted(ps) || len(slices.Compact(slices.Clone(ps))) != len(ps) {
					t.Fatalf("unsorted or duplicate partitions %v", ps)
				}
			}
		}
		if r.Current != nil {
			again, err := DecodeConsumerRecord(key, encodeCurrent(r.Current))
			if err != nil || !again.Current.Assigned.Equal(r.Current.Assigned) || again.Current.MemberEpoch != r.Current.MemberEpoch {
				t.Fatalf("re-encode: %+v %v", again, err)
			}
		}
	})
}

func currentOf(r ConsumerRecord) *ConsumerMember {
	if r.Current == nil {
		return &ConsumerMember{}
	}
	return r.Current
}

// TestCoordinatorConsumerGroupRestart runs a consumer group through the
// coordinator over real partitions, restarts, and checks that the group
// comes back as it was: members keep heartbeating with their epochs and
// nothing is reassigned; commits validate against member epochs; and a
// deleted group stays deleted.
func TestCoordinatorConsumerGroupRestart(t *testing.T) {
	h := newHarness(t)
	topics := TopicImage{"a": {Name: "a", ID: topicA, Partitions: 4}}
	hb := func(r ConsumerHeartbeat) ConsumerHeartbeatResult {
		t.Helper()
		res, wait := h.c.ConsumerHeartbeat("cg", r, topics)
		if err := wait(); err != nil {
			t.Fatalf("flush: %v", err)
		}
		return res
	}
	join := func(id string) ConsumerHeartbeatResult {
		return hb(ConsumerHeartbeat{MemberID: id, RebalanceTimeout: time.Second, SubscribedTopicNames: []string{"a"}, Owned: Assignment{}})
	}
	if r := hb(ConsumerHeartbeat{MemberID: "m1", MemberEpoch: 1, RebalanceTimeout: -1}); !errors.Is(r.Err, ErrGroupIDNotFound) {
		t.Fatalf("heartbeat to unknown group: %v", r.Err)
	}
	r1 := join("m1")
	join("m2")
	kept := hb(ConsumerHeartbeat{MemberID: "m1", MemberEpoch: r1.MemberEpoch, RebalanceTimeout: -1}).Assignment
	r1 = hb(ConsumerHeartbeat{MemberID: "m1", MemberEpoch: 1, RebalanceTimeout: -1, Owned: kept})
	r2 := hb(ConsumerHeartbeat{MemberID: "m2", MemberEpoch: 2, RebalanceTimeout: -1})
	if r1.Err != nil || r2.Err != nil || r1.MemberEpoch != 2 || r2.Assignment.Len() != 2 {
		t.Fatalf("setup: %+v %+v", r1, r2)
	}
	tp := TopicPartition{Topic: "a", Partition: 0}
	if err := h.commit("cg", 1, "m1", tp, 10); !errors.Is(err, ErrStaleMemberEpoch) {
		t.Fatalf("stale commit: %v", err)
	}
	if err := h.commit("cg", 2, "m1", tp, 10); err != nil {
		t.Fatalf("commit: %v", err)
	}
	// A classic join may not take the id.
	jr := h.c.Join("cg", JoinRequest{MemberID: "x", ProtocolType: "consumer", Protocols: []Protocol{{Name: "range"}},
		SessionTimeout: 10 * time.Second})(context.Background())
	if !errors.Is(jr.Err, ErrInconsistentProtocol) {
		t.Fatalf("classic join: %v", jr.Err)
	}
	before, _ := h.c.DescribeConsumerGroup("cg")

	h.restart()
	after, err := h.c.DescribeConsumerGroup("cg")
	if err != nil || after.GroupEpoch != before.GroupEpoch || after.State != ConsumerStable || len(after.Members) != 2 {
		t.Fatalf("after restart: %+v %v", after, err)
	}
	for i, m := range after.Members {
		if !m.Assigned.Equal(before.Members[i].Assigned) || m.MemberEpoch != before.Members[i].MemberEpoch {
			t.Errorf("%s: %v epoch %d, before %v epoch %d", m.MemberID, m.Assigned, m.MemberEpoch, before.Members[i].Assigned, before.Members[i].MemberEpoch)
		}
	}
	// Members carry on at their epoch: no fencing, no reshuffle.
	if r := hb(ConsumerHeartbeat{MemberID: "m1", MemberEpoch: 2, RebalanceTimeout: -1}); r.Err != nil || r.MemberEpoch != 2 || r.Assignment != nil {
		t.Fatalf("heartbeat after restart: %+v", r)
	}
	if got := h.fetch("cg", tp); !got.Found || got.Offset.Offset != 10 {
		t.Fatalf("offset after restart: %+v", got)
	}
	ls, _ := h.c.ListGroups()
	if len(ls) != 1 || ls[0].Type != "consumer" || ls[0].StateName != "Stable" {
		t.Fatalf("list: %+v", ls)
	}
	if err := h.c.DeleteGroup("cg"); !errors.Is(err, ErrNonEmptyGroup) {
		t.Fatalf("delete with members: %v", err)
	}
	for _, id := range []string{"m1", "m2"} {
		if r := hb(ConsumerHeartbeat{MemberID: id, MemberEpoch: -1}); r.Err != nil {
			t.Fatalf("leave: %v", r.Err)
		}
	}
	if err := h.c.DeleteGroup("cg"); err != nil {
		t.Fatalf("delete: %v", err)
	}
	h.restart()
	if _, err := h.c.DescribeConsumerGroup("cg"); !errors.Is(err, ErrGroupIDNotFound) {
		t.Fatalf("deleted group after restart: %v", err)
	}
	if ls, _ := h.c.ListGroups(); len(ls) != 0 {
		t.Fatalf("list after delete: %+v", ls)
	}
}
