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

// SetOffset records a commit whose log position is unknown (older than
// any record); SetOffsetAt is the usual form.
func (g *Group) SetOffset(tp TopicPartition, o Offset) {
	g.offsets[tp] = o
	delete(g.offsetPos, tp)
}

// SetOffsetAt records a commit (after ValidateCommit, or when replaying)
// whose record is at log offset pos of __consumer_offsets.
func (g *Group) SetOffsetAt(tp TopicPartition, o Offset, pos int64) {
	g.offsets[tp] = o
	g.offsetPos[tp] = pos
}

// OffsetPos returns the log offset of the record of tp's commit.
func (g *Group) OffsetPos(tp TopicPartition) (int64, bool) {
	if _, ok := g.offsets[tp]; !ok {
		return 0, false
	}
	pos, ok := g.offsetPos[tp]
	if !ok {
		pos = -1
	}
	return pos, true
}

// DeleteOffset forgets a commit, and the pending transactional commits
// for tp, as the replay of a tombstone does (Kafka's replay drops both);
// it reports whether there was a commit.
func (g *Group) DeleteOffset(tp TopicPartition) bool {
	_, ok := g.offsets[tp]
	delete(g.offsets, tp)
	delete(g.offsetPos, tp)
	for pid, m := range g.txnOffsets {
		delete(m, tp)
		if len(m) == 0 {
			delete(g.txnOffsets, pid)
		}
	}
	return ok
}

// txnOffset is a transactional commit waiting for its transaction to end,
// with the log offset of its record.
type txnOffset struct {
	Offset
	pos int64
}

// ValidateTxnCommit decides whether a TxnOffsetCommit may stage commits,
// as Kafka's classic group does (ClassicGroup.validateOffsetCommit with
// isTransactional, KIP-447):
//
//   - generation < 0 on an Empty group is a "simple" commit;
//   - with a generation, member id or instance id given, the member must
//     exist (its static instance id held by it: else FENCED_INSTANCE_ID)
//     and the generation must be the group's;
//   - without any (TxnOffsetCommit v0-v2, which cannot send them) the
//     commit is accepted in any live state: those clients rely on the
//     transaction alone for fencing;
//   - unlike OffsetCommit, CompletingRebalance does not refuse it, and it
//     is not a heartbeat.
func (g *Group) ValidateTxnCommit(generation int32, memberID, instanceID string) error {
	switch {
	case g.state == Dead:
		return ErrCoordinatorNotAvailable
	case generation < 0 && g.state == Empty:
		return nil
	case generation < 0 && memberID == "" && instanceID == "":
		return nil
	}
	if instanceID != "" {
		holder, ok := g.instances[instanceID]
		switch {
		case !ok:
			return ErrUnknownMemberID
		case holder != memberID:
			return ErrFencedInstanceID
		}
	}
	switch {
	case g.members[memberID] == nil:
		return ErrUnknownMemberID
	case generation != g.Generation:
		return ErrIllegalGeneration
	}
	return nil
}

// AddTxnOffset stages a transactional commit of producerID whose record
// is at log offset pos. It stays invisible until CompleteTxn.
func (g *Group) AddTxnOffset(producerID int64, tp TopicPartition, o Offset, pos int64) {
	if g.txnOffsets == nil {
		g.txnOffsets = make(map[int64]map[TopicPartition]txnOffset)
	}
	m := g.txnOffsets[producerID]
	if m == nil {
		m = make(map[TopicPartition]txnOffset)
		g.txnOffsets[producerID] = m
	}
	m[tp] = txnOffset{Offset: o, pos: pos}
}

// CompleteTxn ends producerID's transaction, whose marker is at log
// offset markerPos: its staged commits with records before the marker
// become the committed offsets (commit) or are dropped (abort). A staged
// commit replaces the committed offset only if its record is later in the
// log than the committed offset's: a plain OffsetCommit written after the
// transactional one wins, whatever order the two complete in (Kafka's
// OffsetMetadataManager.replayEndTransactionMarker rule, which also keeps
// a compacted log replaying to the same state). Staged commits at or
// after markerPos belong to a later transaction and stay. It returns the
// partitions whose committed offset changed.
func (g *Group) CompleteTxn(producerID int64, commit bool, markerPos int64) []TopicPartition {
	m := g.txnOffsets[producerID]
	var changed []TopicPartition
	for tp, to := range m {
		if to.pos >= markerPos {
			continue
		}
		delete(m, tp)
		if !commit {
			continue
		}
		if cur, ok := g.OffsetPos(tp); ok && cur > to.pos {
			continue
		}
		g.SetOffsetAt(tp, to.Offset, to.pos)
		changed = append(changed, tp)
	}
	if len(m) == 0 {
		delete(g.txnOffsets, producerID)
	}
	return changed
}

// HasPendingTxnOffset reports whether a transaction has a staged commit
// for tp (OffsetFetch with require_stable answers UNSTABLE_OFFSET_COMMIT).
func (g *Group) HasPendingTxnOffset(tp TopicPartition) bool {
	for _, m := range g.txnOffsets {
		if _, ok := m[tp]; ok {
			return true
		}
	}
	return false
}

// HasPendingTxn reports whether producerID (or, with producerID < 0, any
// producer) has staged commits in the group.
func (g *Group) HasPendingTxn(producerID int64) bool {
	if producerID < 0 {
		return len(g.txnOffsets) > 0
	}
	return len(g.txnOffsets[producerID]) > 0
}

// PendingTxnProducers returns the producer ids with staged commits.
func (g *Group) PendingTxnProducers() []int64 {
	out := make([]int64, 0, len(g.txnOffsets))
	for pid := range g.txnOffsets {
		out = append(out, pid)
	}
	slices.Sort(out)
	return out
}

// pendingOnlyPartitions returns, sorted, the partitions with staged
// transactional commits and no committed offset.
func (g *Group) pendingOnlyPartitions() []TopicPartition {
	seen := make(map[TopicPartition]bool)
	var out []TopicPartition
	for _, m := range g.txnOffsets {
		for tp := range m {
			if _, ok := g.offsets[tp]; !ok && !seen[tp] {
				seen[tp] = true
				out = append(out, tp)
			}
		}
	}
	sortTPs(out)
	return out
}

func sortTPs(tps []TopicPartition) {
	slices.SortFunc(tps, func(a, b TopicPartition) int {
		return cmp.Or(cmp.Compare(a.Topic, b.Topic), cmp.Compare(a.Partition, b.Partition))
	})
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
	sortTPs(tps)
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
//   - an explicit expire time from OffsetCommit v2-v4 always applies;
//   - nothing expires while a transaction has a commit staged for it.
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
		// A partition with a transaction's commit staged keeps its
		// offset until the transaction ends (as Kafka's
		// cleanupExpiredOffsets does).
		if expired && !g.HasPendingTxnOffset(tp) {
			out = append(out, tp)
		}
	}
	sortTPs(out)
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

// adoptOffsets takes the committed and staged offsets of from (a scratch
// group the replay filled) as the group's own.
func (g *Group) adoptOffsets(from *Group) {
	g.offsets, g.offsetPos, g.txnOffsets = from.offsets, from.offsetPos, from.txnOffsets
	from.offsets, from.offsetPos, from.txnOffsets = nil, nil, nil
}
