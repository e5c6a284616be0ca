// Package metadata is the cluster's metadata: topics (name, id, partition
// count, config overrides), the cluster id and the producer-id high mark.
//
// Changes are Records applied to a State by a pure function (Apply), the
// shape a Raft FSM needs: the replicated cluster will feed the same records
// through hashicorp/raft. A single broker persists the State itself: every
// applied record rewrites the snapshot file atomically (write temp, fsync,
// rename, fsync dir), so an acknowledged CreateTopics survives kill -9.
// Metadata changes are rare (topic admin), so a whole-file rewrite is cheap.
package metadata

import (
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"sync"
)

var (
	ErrTopicExists   = errors.New("metadata: topic already exists")
	ErrUnknownTopic  = errors.New("metadata: unknown topic")
	ErrInvalidRecord = errors.New("metadata: invalid record")
	// ErrStoreFailed: an earlier snapshot write failed after its rename
	// (the directory fsync), so whether the disk holds the last change is
	// unknown; the store refuses changes until the broker restarts and
	// reads what the disk really holds.
	ErrStoreFailed = errors.New("metadata: store failed; restart the broker")
)

// TopicID is a topic's UUID (KIP-516), fixed at creation and never reused.
type TopicID [16]byte

// NewTopicID returns a random version-4 UUID that is not the zero UUID.
func NewTopicID() TopicID {
	var id TopicID
	for id == (TopicID{}) {
		_, _ = rand.Read(id[:])
		id[6] = id[6]&0x0f | 0x40
		id[8] = id[8]&0x3f | 0x80
	}
	return id
}

// String is Kafka's base64url form of the UUID, as kafka-topics prints it.
func (id TopicID) String() string { return base64.RawURLEncoding.EncodeToString(id[:]) }

// Topic is one topic's metadata.
type Topic struct {
	Name       string            `json:"name"`
	ID         TopicID           `json:"id"`
	Partitions int32             `json:"partitions"`
	Configs    map[string]string `json:"configs,omitempty"` // topic-level overrides only
	Internal   bool              `json:"internal,omitempty"`
	// Assignments holds each partition's replicas, ISR and leader in a
	// cluster (one entry per partition); nil on the self-contained single
	// broker, which leads every partition itself.
	Assignments []PartitionState `json:"assignments,omitempty"`
}

// State is everything the metadata records have established.
//
// Invariant: every Topic has Partitions >= 1 and a non-zero ID unique in
// Topics; NextProducerID only grows.
type State struct {
	ClusterID      string            `json:"cluster_id"`
	Topics         map[string]*Topic `json:"topics"`
	NextProducerID int64             `json:"next_producer_id"`
	// Brokers are the registered brokers of a cluster (cluster.go).
	Brokers map[int32]*BrokerRegistration `json:"brokers,omitempty"`
	// Security holds ACLs, SCRAM credentials and quotas (security.go).
	Security SecurityState `json:"security,omitempty"`
}

// RecordType names a metadata change.
type RecordType string

const (
	RecordCreateTopic      RecordType = "create_topic"
	RecordDeleteTopic      RecordType = "delete_topic"
	RecordSetPartitions    RecordType = "set_partitions"
	RecordSetTopicConfigs  RecordType = "set_topic_configs" // replaces the override map
	RecordAllocProducerIDs RecordType = "alloc_producer_ids"
	// Cluster records (cluster.go).
	RecordClusterID        RecordType = "cluster_id"
	RecordRegisterBroker   RecordType = "register_broker"
	RecordFenceBroker      RecordType = "fence_broker"
	RecordUnfenceBroker    RecordType = "unfence_broker"
	RecordPartitionChange  RecordType = "partition_change"
	RecordUnregisterBroker RecordType = "unregister_broker"
)

// Record is one metadata change.
type Record struct {
	Type  RecordType `json:"type"`
	Topic *Topic     `json:"topic,omitempty"` // create_topic; name (+partitions/configs) for the others
	Count int64      `json:"count,omitempty"` // alloc_producer_ids

	ClusterID string              `json:"cluster_id,omitempty"` // cluster_id
	Broker    *BrokerRegistration `json:"broker,omitempty"`     // register_broker; ID (+Epoch) for fence/unfence/unregister
	// partition_change: the whole new state of Topic.Name's partition
	// Partition (Topic carries only the name).
	Partition int32           `json:"partition,omitempty"`
	Change    *PartitionState `json:"change,omitempty"`

	// Security records (security.go).
	ACLs      []ACL            `json:"acls,omitempty"`
	User      string           `json:"user,omitempty"`
	Mechanism string           `json:"mechanism,omitempty"`
	Scram     *ScramCredential `json:"scram,omitempty"`
	Quota     *QuotaChange     `json:"quota,omitempty"`
}

// Apply applies r to s. It is deterministic and does no I/O. On error s is
// unchanged.
func (s *State) Apply(r Record) error {
	if s.Topics == nil {
		s.Topics = make(map[string]*Topic)
	}
	switch r.Type {
	case RecordCreateTopic:
		t := r.Topic
		if t == nil || t.Name == "" || t.Partitions < 1 || t.ID == (TopicID{}) {
			return fmt.Errorf("%w: create_topic needs a name, an id and partitions >= 1", ErrInvalidRecord)
		}
		if _, ok := s.Topics[t.Name]; ok {
			return fmt.Errorf("%w: %q", ErrTopicExists, t.Name)
		}
		if t.Assignments != nil && len(t.Assignments) != int(t.Partitions) {
			return fmt.Errorf("%w: create_topic with %d partitions but %d assignments", ErrInvalidRecord, t.Partitions, len(t.Assignments))
		}
		c := *t
		c.Configs = maps.Clone(t.Configs)
		c.Assignments = cloneAssignments(t.Assignments)
		s.Topics[t.Name] = &c
	case RecordDeleteTopic, RecordSetPartitions, RecordSetTopicConfigs:
		if r.Topic == nil {
			return fmt.Errorf("%w: %s without a topic", ErrInvalidRecord, r.Type)
		}
		t, ok := s.Topics[r.Topic.Name]
		if !ok {
			return fmt.Errorf("%w: %q", ErrUnknownTopic, r.Topic.Name)
		}
		switch r.Type {
		case RecordDeleteTopic:
			delete(s.Topics, t.Name)
		case RecordSetPartitions:
			if r.Topic.Partitions <= t.Partitions {
				return fmt.Errorf("%w: partitions can only grow (%d -> %d)", ErrInvalidRecord, t.Partitions, r.Topic.Partitions)
			}
			if t.Assignments != nil {
				if len(r.Topic.Assignments) != int(r.Topic.Partitions-t.Partitions) {
					return fmt.Errorf("%w: set_partitions needs an assignment for each new partition", ErrInvalidRecord)
				}
				t.Assignments = append(cloneAssignments(t.Assignments), cloneAssignments(r.Topic.Assignments)...)
			}
			t.Partitions = r.Topic.Partitions
		case RecordSetTopicConfigs:
			t.Configs = maps.Clone(r.Topic.Configs)
		}
	case RecordAllocProducerIDs:
		if r.Count <= 0 {
			return fmt.Errorf("%w: alloc_producer_ids count %d", ErrInvalidRecord, r.Count)
		}
		s.NextProducerID += r.Count
	case RecordClusterID, RecordRegisterBroker, RecordFenceBroker, RecordUnfenceBroker, RecordPartitionChange, RecordUnregisterBroker:
		return s.applyCluster(r)
	case RecordCreateACLs, RecordDeleteACLs, RecordSetScram, RecordDeleteScram, RecordAlterQuotas:
		return s.applySecurity(r)
	default:
		return fmt.Errorf("%w: unknown type %q", ErrInvalidRecord, r.Type)
	}
	return nil
}

// Clone returns a deep copy.
func (s *State) Clone() *State {
	c := &State{ClusterID: s.ClusterID, NextProducerID: s.NextProducerID, Topics: make(map[string]*Topic, len(s.Topics)),
		Security: s.Security.clone()}
	for n, t := range s.Topics {
		tc := *t
		tc.Configs = maps.Clone(t.Configs)
		tc.Assignments = cloneAssignments(t.Assignments)
		c.Topics[n] = &tc
	}
	if s.Brokers != nil {
		c.Brokers = make(map[int32]*BrokerRegistration, len(s.Brokers))
		for id, br := range s.Brokers {
			bc := *br
			c.Brokers[id] = &bc
		}
	}
	return c
}

const snapshotName = "metadata.json" // on-disk name; do not change

// Store is the single-broker metadata store: State plus its durable snapshot.
type Store struct {
	dir string

	mu    sync.RWMutex
	state *State // guarded by mu; replaced, never mutated in place, so readers may keep a pointer
	// failed is sticky (guarded by mu): see ErrStoreFailed.
	failed error
	// syncDir fsyncs the directory; tests replace it to inject a failure.
	syncDir func(*os.File) error
}

// Open loads the snapshot from dir (creating dir and a new cluster id when
// absent).
func Open(dir string) (*Store, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("metadata: %w", err)
	}
	s := &Store{dir: dir, syncDir: (*os.File).Sync}
	_ = os.Remove(filepath.Join(dir, snapshotName+".tmp"))
	b, err := os.ReadFile(filepath.Join(dir, snapshotName))
	switch {
	case errors.Is(err, os.ErrNotExist):
		id := NewTopicID()
		st := &State{ClusterID: base64.RawURLEncoding.EncodeToString(id[:]), Topics: map[string]*Topic{}, NextProducerID: 1000}
		if _, err := s.persist(st); err != nil {
			return nil, err
		}
		s.state = st
	case err != nil:
		return nil, fmt.Errorf("metadata: %w", err)
	default:
		var st State
		if err := json.Unmarshal(b, &st); err != nil {
			return nil, fmt.Errorf("metadata: %s is damaged (%v); restore it from a backup or move it away to start empty", filepath.Join(dir, snapshotName), err)
		}
		if st.Topics == nil {
			st.Topics = map[string]*Topic{}
		}
		s.state = &st
	}
	return s, nil
}

// State returns the current state. Callers must not modify it.
func (s *Store) State() *State {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.state
}

// Apply applies records in order, all or nothing, and returns once the new
// state is durable.
//
// Invariant: State() is what the snapshot file on disk says (or, after a
// failure, what the file system shows it saying). A failure before the
// rename leaves both at the old state. A failed directory fsync after the
// rename leaves the new file visible but perhaps not durable: memory takes
// the new state too — it is what a reader of the file sees now — and the
// store fails (ErrStoreFailed), so that no change is built on a state that
// a crash could still take back.
func (s *Store) Apply(recs ...Record) (*State, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.failed != nil {
		return s.state, s.failed
	}
	next := s.state.Clone()
	for _, r := range recs {
		if err := next.Apply(r); err != nil {
			return s.state, err
		}
	}
	renamed, err := s.persist(next)
	if renamed {
		s.state = next
	}
	if err != nil {
		if renamed {
			s.failed = fmt.Errorf("%w: %w", ErrStoreFailed, err)
			return s.state, s.failed
		}
		return s.state, err
	}
	return next, nil
}

// Failed returns the error that stopped the store, or nil.
func (s *Store) Failed() error {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.failed
}

// AllocateProducerIDs reserves n ids and returns the first.
func (s *Store) AllocateProducerIDs(n int64) (int64, error) {
	st, err := s.Apply(Record{Type: RecordAllocProducerIDs, Count: n})
	if err != nil {
		return 0, err
	}
	// Apply serialises allocations, so the n ids just below the new mark
	// are ours.
	return st.NextProducerID - n, nil
}

// TopicNames returns the sorted topic names.
func (st *State) TopicNames() []string {
	return slices.Sorted(maps.Keys(st.Topics))
}

// persist writes st as the snapshot: temp file, fsync, rename, directory
// fsync. renamed reports whether the rename happened, after which the file
// system shows st whatever the error (see Apply).
func (s *Store) persist(st *State) (renamed bool, err error) {
	b, err := json.MarshalIndent(st, "", "  ")
	if err != nil {
		return false, fmt.Errorf("metadata: encode: %w", err)
	}
	tmp := filepath.Join(s.dir, snapshotName+".tmp")
	f, err := os.OpenFile(tmp, os.O_CREATE|os.O_TRUNC|os.O_WRONLY, 0o644)
	if err != nil {
		return false, fmt.Errorf("metadata: %w", err)
	}
	if _, err := f.Write(b); err != nil {
		f.Close()
		os.Remove(tmp)
		return false, fmt.Errorf("metadata: write %s: %w", tmp, err)
	}
	if err := f.Sync(); err != nil {
		f.Close()
		os.Remove(tmp)
		return false, fmt.Errorf("metadata: fsync %s: %w", tmp, err)
	}
	if err := f.Close(); err != nil {
		os.Remove(tmp)
		return false, fmt.Errorf("metadata: %w", err)
	}
	if err := os.Rename(tmp, filepath.Join(s.dir, snapshotName)); err != nil {
		os.Remove(tmp)
		return false, fmt.Errorf("metadata: %w", err)
	}
	d, err := os.Open(s.dir)
	if err != nil {
		return true, fmt.Errorf("metadata: open dir for fsync: %w", err)
	}
	defer d.Close()
	if err := s.syncDir(d); err != nil {
		return true, fmt.Errorf("metadata: fsync dir %s: %w", s.dir, err)
	}
	return true, nil
}

// MarshalText writes the id in Kafka's base64url form.
func (id TopicID) MarshalText() ([]byte, error) { return []byte(id.String()), nil }

// UnmarshalText reads the base64url form. The length is checked first:
// Decode writes past a destination too small for the input (a panic on a
// damaged file).
func (id *TopicID) UnmarshalText(b []byte) error {
	if base64.RawURLEncoding.DecodedLen(len(b)) != len(id) {
		return fmt.Errorf("metadata: bad topic id %q", b)
	}
	var out TopicID
	n, err := base64.RawURLEncoding.Strict().Decode(out[:], b) // Strict: one text per id
	if err != nil || n != len(out) {
		return fmt.Errorf("metadata: bad topic id %q", b)
	}
	*id = out
	return nil
}
