package group

import (
	"cmp"
	"slices"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// TopicPartition names a partition a group commits offsets for.
type TopicPartition struct {
	Topic     string
	Partition int32
}

// Offset is one committed offset.
type Offset struct {
	Offset      int64
	LeaderEpoch int32 // -1 when the client did not say
	Metadata    string
	CommitTime  time.Time
	// ExpireTime is set when the commit carried a retention time
	// (OffsetCommit v2-v4); zero means offsets.retention applies.
	ExpireTime time.Time
}

// ValidateCommit decides whether an OffsetCommit may change the group's
// offsets, as Kafka's classic coordinator does:
//
//   - generation < 0 on an Empty group is a "simple" commit (kadm
//     CommitOffsets, consumers that assign partitions themselves);
//   - otherwise the member must be in the group at the current
//     generation, so a member of an older generation (it was kicked out
//     and has not noticed) can never move offsets backwards;
//   - during CompletingRebalance nobody may commit (REBALANCE_IN_PROGRESS);
//     during PreparingRebalance the current generation still may (eager
//     consumers commit before they rejoin).
//
// A commit from a member counts as a heartbeat.
func (g *Group) ValidateCommit(now time.Time, generation int32, memberID, instanceID string) error {
	switch {
	case g.state == Dead:
		return ErrCoordinatorNotAvailable
	case g.isFenced(instanceID, memberID):
		return ErrFencedInstanceID
	case generation < 0 && g.state == Empty:
		return nil
	}
	m := g.members[memberID]
	switch {
	case m == nil:
		return ErrUnknownMemberID
	case generation != g.Generation:
		return ErrIllegalGeneration
	case g.state == CompletingRebalance:
		return ErrRebalanceInProgress
	}
	m.heartbeatDeadline = now.Add(m.SessionTimeout)
	return nil
}

// SetOffset records a commit (after ValidateCommit, or when replaying).
func (g *Group) SetOffset(tp TopicPartition, o Offset) { g.offsets[tp] = o }

// DeleteOffset forgets a commit; it reports whether there was one.
func (g *Group) DeleteOffset(tp TopicPartition) bool {
	_, ok := g.offsets[tp]
	delete(g.offsets, tp)
	return ok
}

// Offset returns the commit for tp.
func (g *Group) Offset(tp TopicPartition) (Offset, bool) {
	o, ok := g.offsets[tp]
	return o, ok
}

// NumOffsets is the number of committed partitions.
func (g *Group) NumOffsets() int { return len(g.offsets) }

// OffsetPartitions returns the committed partitions sorted by topic and
// partition.
func (g *Group) OffsetPartitions() []TopicPartition {
	tps := make([]TopicPartition, 0, len(g.offsets))
	for tp := range g.offsets {
		tps = append(tps, tp)
	}
	slices.SortFunc(tps, func(a, b TopicPartition) int {
		return cmp.Or(cmp.Compare(a.Topic, b.Topic), cmp.Compare(a.Partition, b.Partition))
	})
	return tps
}

// CheckDeletable returns nil if the group may be deleted (DeleteGroups):
// only an Empty group may.
func (g *Group) CheckDeletable() error {
	switch g.state {
	case Empty:
		return nil
	case Dead:
		return ErrGroupIDNotFound
	default:
		return ErrNonEmptyGroup
	}
}

// SubscribedTopics returns the topics the members consume, decoded from
// their consumer-protocol metadata. ok is false when that is unknowable
// (the group does not use the consumer protocol, or metadata does not
// decode): callers must then assume every topic is subscribed.
func (g *Group) SubscribedTopics() (topics map[string]bool, ok bool) {
	if g.ProtocolType != "consumer" || g.Protocol == "" {
		return nil, len(g.members) == 0
	}
	topics = make(map[string]bool)
	for _, m := range g.members {
		var md kmsg.ConsumerMemberMetadata
		if err := md.ReadFrom(m.metadataFor(g.Protocol)); err != nil {
			return nil, false
		}
		for _, t := range md.Topics {
			topics[t] = true
		}
	}
	return topics, true
}

// ExpiredOffsets returns the commits that offsets.retention (or their own
// expire time) has run out for, as Kafka 2.1+ decides (KIP-211):
//
//   - an Empty group that used group management loses its offsets
//     retention after it became Empty;
//   - a group that never had members ("simple" commits) loses each offset
//     retention after it was committed;
//   - a Stable consumer group loses only offsets of topics it no longer
//     subscribes to, retention after their commit;
//   - an explicit expire time from OffsetCommit v2-v4 always applies.
func (g *Group) ExpiredOffsets(now time.Time, retention time.Duration) []TopicPartition {
	var subscribed map[string]bool
	known := false
	if g.state == Stable {
		subscribed, known = g.SubscribedTopics()
	}
	var out []TopicPartition
	for tp, o := range g.offsets {
		var expired bool
		switch {
		case !o.ExpireTime.IsZero():
			expired = !o.ExpireTime.After(now)
		case g.state == Empty && g.ProtocolType != "":
			expired = !g.stateSince.Add(retention).After(now)
		case g.state == Empty:
			expired = !o.CommitTime.Add(retention).After(now)
		case known && !subscribed[tp.Topic]:
			expired = !o.CommitTime.Add(retention).After(now)
		}
		if expired {
			out = append(out, tp)
		}
	}
	slices.SortFunc(out, func(a, b TopicPartition) int {
		return cmp.Or(cmp.Compare(a.Topic, b.Topic), cmp.Compare(a.Partition, b.Partition))
	})
	return out
}

// Snapshot is a group's metadata as __consumer_offsets stores it.
type Snapshot struct {
	ProtocolType string
	Generation   int32
	Protocol     string
	Leader       string
	StateSince   time.Time
	Members      []SnapshotMember
}

// SnapshotMember is one member of a Snapshot.
type SnapshotMember struct {
	MemberID         string
	InstanceID       string
	ClientID         string
	ClientHost       string
	RebalanceTimeout time.Duration
	SessionTimeout   time.Duration
	Subscription     []byte // metadata for the group's protocol
	Assignment       []byte
}

// Snapshot returns what to store for the group now.
func (g *Group) Snapshot() Snapshot {
	s := Snapshot{ProtocolType: g.ProtocolType, Generation: g.Generation, Protocol: g.Protocol,
		Leader: g.Leader, StateSince: g.stateSince}
	for _, id := range g.order {
		m := g.members[id]
		s.Members = append(s.Members, SnapshotMember{
			MemberID: m.MemberID, InstanceID: m.InstanceID, ClientID: m.ClientID, ClientHost: m.ClientHost,
			RebalanceTimeout: m.RebalanceTimeout, SessionTimeout: m.SessionTimeout,
			Subscription: m.metadataFor(g.Protocol), Assignment: m.Assignment,
		})
	}
	return s
}

// Restore replaces the group's membership with a stored Snapshot (on
// load). The group is Stable at the stored generation if it has members
// (they keep their assignment and must heartbeat within their session
// timeout, counted from now) and Empty otherwise. Offsets are untouched.
func (g *Group) Restore(s Snapshot, now time.Time) {
	g.ProtocolType, g.Generation, g.Protocol, g.Leader = s.ProtocolType, s.Generation, s.Protocol, s.Leader
	g.members = make(map[string]*Member)
	g.instances = make(map[string]string)
	g.pending = make(map[string]time.Time)
	g.order = nil
	g.joinDeadline, g.syncDeadline = time.Time{}, time.Time{}
	g.initialDelay, g.newMemberAdded = false, false
	for _, sm := range s.Members {
		if sm.MemberID == "" || g.members[sm.MemberID] != nil {
			continue
		}
		m := &Member{MemberID: sm.MemberID, InstanceID: sm.InstanceID, ClientID: sm.ClientID, ClientHost: sm.ClientHost,
			RebalanceTimeout: sm.RebalanceTimeout, SessionTimeout: sm.SessionTimeout,
			Protocols:         []Protocol{{Name: s.Protocol, Metadata: sm.Subscription}},
			Assignment:        sm.Assignment,
			heartbeatDeadline: now.Add(sm.SessionTimeout),
		}
		g.members[m.MemberID] = m
		g.order = append(g.order, m.MemberID)
		if m.InstanceID != "" {
			g.instances[m.InstanceID] = m.MemberID
		}
	}
	since := s.StateSince
	if since.IsZero() {
		since = now
	}
	if len(g.members) == 0 || s.Protocol == "" {
		g.members = make(map[string]*Member)
		g.instances = make(map[string]string)
		g.order = nil
		g.Protocol, g.Leader = "", ""
		g.setState(Empty, since)
		return
	}
	if g.members[g.Leader] == nil {
		g.Leader = g.order[0]
	}
	g.setState(Stable, since)
}
