package group

import (
	"fmt"
	"strings"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// The coordinator's side of KIP-848 consumer groups. A consumer group
// lives in the same table as classic groups (groupEntry.cg is set); the
// entry's classic Group stays Empty and only holds the committed offsets,
// so OffsetCommit/OffsetFetch/OffsetDelete, retention and deletion share
// one code path.
//
// There is no online migration between the protocols (KIP-848's
// group.consumer.migration.policy=disabled): a consumer-protocol join to a
// classic group with members gets GROUP_ID_NOT_FOUND, a classic JoinGroup
// to a consumer group with members INCONSISTENT_GROUP_PROTOCOL, as Kafka
// answers with migration disabled. An empty group of either kind is
// converted, keeping its offsets.

// ConsumerHeartbeat handles a ConsumerGroupHeartbeat. The records it wrote
// are in the log on return; wait makes them durable, and the answer must
// be sent only after it.
func (c *Coordinator) ConsumerHeartbeat(groupID string, r ConsumerHeartbeat, topics TopicImage) (res ConsumerHeartbeatResult, wait func() error) {
	wait = func() error { return nil }
	res = ConsumerHeartbeatResult{MemberID: r.MemberID, MemberEpoch: r.MemberEpoch, HeartbeatInterval: c.consumerLimits().HeartbeatInterval}
	e, err := c.lookup(groupID, r.MemberEpoch == 0)
	if err == nil && e == nil {
		err = fmt.Errorf("%w: consumer group %q", ErrGroupIDNotFound, groupID)
	}
	if err != nil {
		res.Err = err
		return res, wait
	}
	if r.MemberEpoch == 0 && r.MemberID == "" && r.NewMemberID == "" {
		// v0: the broker names the member (a UUID, as Kafka does).
		r.NewMemberID = strings.TrimPrefix(newMemberID(""), "-")
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.g.State() == Dead {
		res.Err = ErrCoordinatorNotAvailable // deleted meanwhile: retry
		return res, wait
	}
	if e.cg == nil {
		if e.g.State() != Empty || e.g.NumMembers() > 0 || r.MemberEpoch != 0 {
			res.Err = fmt.Errorf("%w: group %q is not a consumer group", ErrGroupIDNotFound, groupID)
			return res, wait
		}
		// An empty classic group becomes a consumer group; its offsets
		// stay. The classic metadata record is deleted so a replay does
		// not see two kinds.
		k, _ := EncodeGroup(groupID, nil)
		if err := c.appendLocked(e, []BuildRecord{{Key: k}}); err != nil {
			res.Err = err
			return res, wait
		}
		e.cg = NewConsumerGroup(groupID, c.consumerLimits())
	}
	before := e.cg.clone()
	res = e.cg.Heartbeat(c.clock.Now(), r, topics)
	if recs := e.cg.Records(); len(recs) > 0 {
		if err := c.appendLocked(e, recs); err != nil {
			// Nothing of the event reached the log: neither may it stand
			// in memory (epochs, assignments), or the group would run
			// ahead of what a restart replays. The member retries.
			e.cg = before
			c.armLocked(e)
			return ConsumerHeartbeatResult{MemberID: r.MemberID, MemberEpoch: r.MemberEpoch,
				HeartbeatInterval: c.consumerLimits().HeartbeatInterval, Err: err}, func() error { return nil }
		}
		wait = e.part.Flush
	}
	c.armLocked(e)
	return res, wait
}

func (c *Coordinator) consumerLimits() ConsumerLimits { return c.cfg.Consumer.withDefaults() }

// dropEmptyConsumerLocked lets a classic JoinGroup take an empty consumer
// group's id (keeping its offsets), and refuses it while the consumer
// group has members. REQUIRES: e.mu.
func (c *Coordinator) dropEmptyConsumerLocked(e *groupEntry) error {
	if e.cg == nil {
		return nil
	}
	if e.cg.NumMembers() > 0 {
		return fmt.Errorf("%w: group %q is a consumer (KIP-848) group", ErrInconsistentProtocol, e.g.ID)
	}
	if err := c.appendLocked(e, e.cg.TombstoneRecords()); err != nil {
		return err
	}
	e.cg = nil
	return nil
}

// consumerTickLocked runs a consumer group's deadlines. REQUIRES: e.mu.
func (c *Coordinator) consumerTickLocked(e *groupEntry) {
	if e.cg.Tick(c.clock.Now()) {
		if err := c.appendLocked(e, e.cg.Records()); err != nil {
			// Logged by appendLocked; the expiry stands in memory. (Not
			// undone like a heartbeat's: its deadline would stay due and
			// re-fire at once against a failing disk. A restart replays
			// the member, whose session then expires again.)
			return
		}
		// Durable with the partition's next flush: nobody waits for
		// an expiry.
	}
}

// nextDeadlineLocked is the earliest deadline of the entry's group.
func (e *groupEntry) nextDeadlineLocked() time.Time {
	at := e.g.NextDeadline()
	if e.cg != nil {
		if d := e.cg.NextDeadline(); !d.IsZero() && (at.IsZero() || d.Before(at)) {
			at = d
		}
	}
	return at
}

// ValidateOffsetFetch checks OffsetFetch v9's member id and epoch against
// a consumer group (Kafka answers STALE_MEMBER_EPOCH or UNKNOWN_MEMBER_ID
// for a member that is behind). Classic groups and admin fetches (no
// member) always pass.
func (c *Coordinator) ValidateOffsetFetch(groupID, memberID string, memberEpoch int32) error {
	if memberID == "" && memberEpoch < 0 {
		return nil
	}
	e, err := c.lookup(groupID, false)
	if err != nil || e == nil {
		return err
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.cg == nil {
		return nil
	}
	return e.cg.ValidateFetch(memberID, memberEpoch)
}

// ConsumerDescription is a consumer group as ConsumerGroupDescribe shows it.
type ConsumerDescription struct {
	State           ConsumerState
	GroupEpoch      int32
	AssignmentEpoch int32
	Assignor        string
	Members         []ConsumerMemberDescription
	// TopicNames names the topic ids in the assignments (as known when
	// the group epoch last moved).
	TopicNames map[TopicID]string
}

// ConsumerMemberDescription is one member of a ConsumerDescription.
type ConsumerMemberDescription struct {
	MemberID, InstanceID, RackID, ClientID, ClientHost string
	MemberEpoch                                        int32
	SubscribedTopicNames                               []string
	SubscribedTopicRegex                               string
	Assigned, Target                                   Assignment
}

// DescribeConsumerGroup answers ConsumerGroupDescribe for one group:
// ErrGroupIDNotFound when there is no such group or it is a classic group
// (as Kafka answers).
func (c *Coordinator) DescribeConsumerGroup(groupID string) (ConsumerDescription, error) {
	e, err := c.lookup(groupID, false)
	if err != nil {
		return ConsumerDescription{}, err
	}
	if e == nil {
		return ConsumerDescription{}, fmt.Errorf("%w: group %q not found", ErrGroupIDNotFound, groupID)
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.cg == nil || e.g.State() == Dead {
		return ConsumerDescription{}, fmt.Errorf("%w: group %q is not a consumer group", ErrGroupIDNotFound, groupID)
	}
	g := e.cg
	d := ConsumerDescription{State: g.State(), GroupEpoch: g.GroupEpoch, AssignmentEpoch: g.AssignmentEpoch,
		Assignor: g.Assignor(), TopicNames: make(map[TopicID]string)}
	if d.Assignor == "" {
		d.Assignor = DefaultAssignor
	}
	for n, t := range g.subscribed {
		d.TopicNames[t.ID] = n
	}
	for _, m := range g.Members() {
		d.Members = append(d.Members, ConsumerMemberDescription{
			MemberID: m.MemberID, InstanceID: m.InstanceID, RackID: m.RackID, ClientID: m.ClientID, ClientHost: m.ClientHost,
			MemberEpoch: m.MemberEpoch, SubscribedTopicNames: append([]string(nil), m.SubscribedTopicNames...),
			SubscribedTopicRegex: m.SubscribedTopicRegex,
			Assigned:             m.Assigned.Clone(), Target: g.Target(m.MemberID).Clone(),
		})
	}
	return d, nil
}

// describeConsumerLocked is a consumer group as the classic DescribeGroups
// shows it, as Kafka 3.8+ does (ConsumerGroup.asDescribedGroup): protocol
// type "consumer", the assignor as the protocol, the consumer group's
// state name, and each member's subscription and assignment encoded as
// the classic consumer protocol's metadata, so old tools can read them.
// REQUIRES: e.mu.
func (c *Coordinator) describeConsumerLocked(e *groupEntry) Description {
	g := e.cg
	names := make(map[TopicID]string)
	for n, t := range g.subscribed {
		names[t.ID] = n
	}
	d := Description{State: Stable, StateName: g.State().String(), ProtocolType: "consumer", Protocol: g.Assignor()}
	if d.Protocol == "" {
		d.Protocol = DefaultAssignor
	}
	if g.NumMembers() == 0 {
		d.State = Empty
	}
	for _, m := range g.Members() {
		md := kmsg.NewConsumerMemberMetadata()
		md.Version = 3
		md.Topics = append([]string(nil), m.SubscribedTopicNames...)
		if m.RackID != "" {
			md.Rack = &m.RackID
		}
		ma := kmsg.NewConsumerMemberAssignment()
		ma.Version = 3
		for _, tp := range m.Assigned.partitions() {
			n, ok := names[tp.Topic]
			if !ok {
				continue
			}
			if k := len(ma.Topics); k == 0 || ma.Topics[k-1].Topic != n {
				t := kmsg.NewConsumerMemberAssignmentTopic()
				t.Topic = n
				ma.Topics = append(ma.Topics, t)
			}
			ma.Topics[len(ma.Topics)-1].Partitions = append(ma.Topics[len(ma.Topics)-1].Partitions, tp.Partition)
		}
		d.Members = append(d.Members, DescribedMember{
			MemberID: m.MemberID, InstanceID: m.InstanceID, ClientID: m.ClientID, ClientHost: m.ClientHost,
			Metadata: md.AppendTo(nil), Assignment: ma.AppendTo(nil),
		})
	}
	return d
}
