package metadata

import (
	"fmt"
	"maps"
	"slices"
)

// PartitionState is one partition's replica set in a cluster, as the
// active controller publishes it (Kafka's PartitionRecord and
// PartitionChangeRecord).
//
// Invariants: Replicas is non-empty with no duplicates; ISR is a non-empty
// subset of Replicas (the last in-sync replica is never removed, so that
// a clean election stays possible: Kafka's rule); Leader is -1 (offline)
// or a member of ISR; LeaderEpoch grows with every leader change and
// PartitionEpoch with every change at all (AlterPartition is fenced by it).
type PartitionState struct {
	Replicas       []int32 `json:"replicas"`
	ISR            []int32 `json:"isr"`
	Leader         int32   `json:"leader"`
	LeaderEpoch    int32   `json:"leader_epoch"`
	PartitionEpoch int32   `json:"partition_epoch"`
	// Reassignment in progress (KIP-455): the target set, and the
	// replicas being added and removed; nil when none.
	Adding   []int32 `json:"adding,omitempty"`
	Removing []int32 `json:"removing,omitempty"`
}

// Clone returns a deep copy.
func (p PartitionState) Clone() PartitionState {
	p.Replicas, p.ISR = slices.Clone(p.Replicas), slices.Clone(p.ISR)
	p.Adding, p.Removing = slices.Clone(p.Adding), slices.Clone(p.Removing)
	return p
}

// InISR reports whether broker id is in the ISR.
func (p PartitionState) InISR(id int32) bool { return slices.Contains(p.ISR, id) }

// HasReplica reports whether broker id holds a replica.
func (p PartitionState) HasReplica(id int32) bool { return slices.Contains(p.Replicas, id) }

func (p PartitionState) validate() error {
	if len(p.Replicas) == 0 {
		return fmt.Errorf("%w: a partition needs at least one replica", ErrInvalidRecord)
	}
	seen := map[int32]bool{}
	for _, r := range p.Replicas {
		if seen[r] {
			return fmt.Errorf("%w: replica %d listed twice", ErrInvalidRecord, r)
		}
		seen[r] = true
	}
	if len(p.ISR) == 0 {
		return fmt.Errorf("%w: the ISR may not be empty", ErrInvalidRecord)
	}
	for _, r := range p.ISR {
		if !seen[r] {
			return fmt.Errorf("%w: ISR member %d is not a replica", ErrInvalidRecord, r)
		}
	}
	if p.Leader != -1 && !slices.Contains(p.ISR, p.Leader) {
		return fmt.Errorf("%w: leader %d is not in the ISR %v", ErrInvalidRecord, p.Leader, p.ISR)
	}
	return nil
}

func cloneAssignments(a []PartitionState) []PartitionState {
	if a == nil {
		return nil
	}
	out := make([]PartitionState, len(a))
	for i := range a {
		out[i] = a[i].Clone()
	}
	return out
}

// BrokerRegistration is a broker as the controller knows it (Kafka's
// RegisterBrokerRecord / fencing records).
type BrokerRegistration struct {
	ID int32 `json:"id"`
	// Epoch is the registration's epoch, new at every start of the
	// broker process (Kafka's broker epoch: the Raft offset of the
	// registration); requests from an older incarnation are refused.
	Epoch  int64  `json:"epoch"`
	Host   string `json:"host"`
	Port   int32  `json:"port"`
	Rack   string `json:"rack,omitempty"`
	Fenced bool   `json:"fenced"`
	// Controller: the node also votes in the controller quorum.
	Controller bool `json:"controller,omitempty"`
	// RaftAddr is where a broker-only node receives the metadata log
	// (it follows the quorum as a non-voter).
	RaftAddr string `json:"raft_addr,omitempty"`
	// Listeners are the advertised host:port of the broker's further
	// client listeners, by listener name; Host/Port are its inter-broker
	// (primary) listener's. Metadata answers a client with the addresses
	// of the listener it connected to.
	Listeners map[string]string `json:"listeners,omitempty"`
}

// applyCluster applies the cluster records. REQUIRES: r.Type is one of them.
func (s *State) applyCluster(r Record) error {
	if s.Brokers == nil {
		s.Brokers = make(map[int32]*BrokerRegistration)
	}
	switch r.Type {
	case RecordClusterID:
		if r.ClusterID == "" {
			return fmt.Errorf("%w: empty cluster id", ErrInvalidRecord)
		}
		if s.ClusterID != "" && s.ClusterID != r.ClusterID {
			// The first one written wins; a second controller's proposal
			// (two leaders in turn at the very start) is a no-op.
			return nil
		}
		s.ClusterID = r.ClusterID
	case RecordRegisterBroker:
		if r.Broker == nil || r.Broker.ID < 0 {
			return fmt.Errorf("%w: register_broker without a broker", ErrInvalidRecord)
		}
		if old, ok := s.Brokers[r.Broker.ID]; ok && old.Epoch >= r.Broker.Epoch {
			return fmt.Errorf("%w: broker %d epoch %d is not newer than %d", ErrInvalidRecord, r.Broker.ID, r.Broker.Epoch, old.Epoch)
		}
		b := *r.Broker
		s.Brokers[b.ID] = &b
	case RecordFenceBroker, RecordUnfenceBroker, RecordUnregisterBroker:
		if r.Broker == nil {
			return fmt.Errorf("%w: %s without a broker", ErrInvalidRecord, r.Type)
		}
		b, ok := s.Brokers[r.Broker.ID]
		if !ok {
			return fmt.Errorf("%w: broker %d is not registered", ErrInvalidRecord, r.Broker.ID)
		}
		if r.Broker.Epoch != 0 && r.Broker.Epoch != b.Epoch {
			return fmt.Errorf("%w: broker %d epoch %d is stale (now %d)", ErrInvalidRecord, b.ID, r.Broker.Epoch, b.Epoch)
		}
		switch r.Type {
		case RecordFenceBroker:
			nb := *b
			nb.Fenced = true
			s.Brokers[b.ID] = &nb
		case RecordUnfenceBroker:
			nb := *b
			nb.Fenced = false
			s.Brokers[b.ID] = &nb
		default:
			delete(s.Brokers, b.ID)
		}
	case RecordPartitionChange:
		if r.Topic == nil || r.Change == nil {
			return fmt.Errorf("%w: partition_change needs a topic and a change", ErrInvalidRecord)
		}
		t, ok := s.Topics[r.Topic.Name]
		if !ok {
			return fmt.Errorf("%w: %q", ErrUnknownTopic, r.Topic.Name)
		}
		if r.Partition < 0 || int(r.Partition) >= len(t.Assignments) {
			return fmt.Errorf("%w: %q has no assigned partition %d", ErrInvalidRecord, t.Name, r.Partition)
		}
		if err := r.Change.validate(); err != nil {
			return err
		}
		old := t.Assignments[r.Partition]
		if r.Change.LeaderEpoch < old.LeaderEpoch || r.Change.PartitionEpoch <= old.PartitionEpoch {
			return fmt.Errorf("%w: partition_change for %s-%d must raise the partition epoch (%d -> %d) and keep the leader epoch (%d -> %d)",
				ErrInvalidRecord, t.Name, r.Partition, old.PartitionEpoch, r.Change.PartitionEpoch, old.LeaderEpoch, r.Change.LeaderEpoch)
		}
		// Copy on write: readers of the previous State keep theirs.
		nt := *t
		nt.Assignments = cloneAssignments(t.Assignments)
		nt.Assignments[r.Partition] = r.Change.Clone()
		s.Topics[t.Name] = &nt
	}
	return nil
}

// LiveBrokers returns the registered, unfenced brokers, sorted by id.
func (s *State) LiveBrokers() []*BrokerRegistration {
	var out []*BrokerRegistration
	for _, b := range s.Brokers {
		if !b.Fenced {
			out = append(out, b)
		}
	}
	slices.SortFunc(out, func(a, b *BrokerRegistration) int { return int(a.ID - b.ID) })
	return out
}

// BrokerIDs returns the registered broker ids, sorted.
func (s *State) BrokerIDs() []int32 {
	return slices.Sorted(maps.Keys(s.Brokers))
}
