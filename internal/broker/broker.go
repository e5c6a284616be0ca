// Package broker holds one broker's state: its settings, the metadata
// store, and the open partitions of every topic. The api handlers ask it for
// topics and partitions; it runs the background work (retention, deferred
// flushes) and owns the lifetimes of everything it opens.
package broker

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/samsa-io/samsa/internal/config"
	"github.com/samsa-io/samsa/internal/log"
	"github.com/samsa-io/samsa/internal/metadata"
	"github.com/samsa-io/samsa/internal/partition"
)

var (
	ErrInvalidTopic             = errors.New("broker: invalid topic name")
	ErrTopicExists              = metadata.ErrTopicExists
	ErrUnknownTopic             = metadata.ErrUnknownTopic
	ErrInvalidPartitions        = errors.New("broker: invalid number of partitions")
	ErrInvalidReplicationFactor = errors.New("broker: invalid replication factor")
	ErrClosed                   = errors.New("broker: closed")
)

// maxTopicNameLen is Kafka's limit: 249, so that "<topic>-<partition>"
// directory names stay under 255 bytes.
const maxTopicNameLen = 249

var legalTopic = regexp.MustCompile(`^[a-zA-Z0-9._-]+$`)

// ValidateTopicName applies Kafka's topic naming rules.
func ValidateTopicName(name string) error {
	switch {
	case name == "":
		return fmt.Errorf("%w: the name is empty", ErrInvalidTopic)
	case name == "." || name == "..":
		return fmt.Errorf("%w: %q is not allowed", ErrInvalidTopic, name)
	case len(name) > maxTopicNameLen:
		return fmt.Errorf("%w: %d characters, the limit is %d", ErrInvalidTopic, len(name), maxTopicNameLen)
	case !legalTopic.MatchString(name):
		return fmt.Errorf("%w: %q may only contain ASCII letters, digits, '.', '_' and '-'", ErrInvalidTopic, name)
	}
	return nil
}

// Topic is a topic as the broker serves it. A *Topic is immutable once
// published: changes (new partitions, configs) publish a new *Topic, so a
// handler may use the one it got for the whole request.
type Topic struct {
	Name       string
	ID         metadata.TopicID
	Internal   bool
	Partitions []*partition.Partition
	Overrides  map[string]string // topic-level config overrides
	Config     config.Topic      // effective settings
	// Assignments are the partitions' replica states in a cluster (nil on
	// a single broker); Partitions[i] is nil where this broker holds no
	// replica of partition i.
	Assignments []metadata.PartitionState
}

// Assignment returns partition i's replica state in a cluster, and false on
// a single broker or for an unknown partition.
func (t *Topic) Assignment(i int32) (metadata.PartitionState, bool) {
	if i < 0 || int(i) >= len(t.Assignments) {
		return metadata.PartitionState{}, false
	}
	return t.Assignments[i], true
}

// Count returns the topic's partition count.
func (t *Topic) Count() int32 { return int32(len(t.Partitions)) }

// Partition returns partition i or nil.
func (t *Topic) Partition(i int32) *partition.Partition {
	if i < 0 || int(i) >= len(t.Partitions) {
		return nil
	}
	return t.Partitions[i]
}

// Broker is one broker's state.
type Broker struct {
	lock *os.File // the data directory's flock, held from Open to Close
	cfg  config.Broker
	meta *metadata.Store
	lg   *slog.Logger

	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup

	// adminMu serialises topic creation/deletion/alteration so metadata
	// and open partitions change together. Lock order: adminMu -> mu.
	adminMu sync.Mutex
	mu      sync.RWMutex
	topics  map[string]*Topic // guarded by mu; values replaced, never mutated
	// topicsByID indexes topics by id (Fetch and Produce v13+ name
	// topics by id). Invariant: same *Topic values as topics.
	topicsByID map[metadata.TopicID]*Topic // guarded by mu

	flushMu     sync.Mutex
	flushQueued map[*partition.Partition]bool // guarded by flushMu
	flushCh     chan *partition.Partition

	closers []func() // guarded by adminMu; run by Close before the partitions close

	// fdLimit returns the descriptor limit (openFileLimit; tests replace
	// it before creating topics).
	fdLimit func() uint64

	// clu is the cluster side (cluster.go); nil on the single broker.
	clu *cluster

	// cleanStart is set during Open when the clean-shutdown marker was
	// found: the partitions opened then may trust their files. Written
	// only in Open, before the broker is shared.
	cleanStart bool

	// syncer shares fsync rounds among the partitions flushing at the
	// same moment (log.Syncer; samsa.log.sync.shared). Nil: each syncs
	// alone. Immutable after Open.
	syncer *log.Syncer
}

// cleanShutdownMarker is created in the data directory when Close has
// flushed and closed every partition (Kafka's .kafka_cleanshutdown). Open
// deletes it before opening anything, so a crash after that start is
// unclean again. On-disk name; do not change.
const cleanShutdownMarker = ".samsa_clean_shutdown"

// OnClose registers fn to run when the broker closes, after its background
// work stops and before its partitions close: coordinators that write to
// internal topics stop their goroutines there.
func (b *Broker) OnClose(fn func()) {
	b.adminMu.Lock()
	b.closers = append(b.closers, fn)
	b.adminMu.Unlock()
}

// Open opens the metadata and every partition under cfg.DataDir,
// recovering their logs.
func Open(cfg config.Broker, lg *slog.Logger) (*Broker, error) {
	if lg == nil {
		lg = slog.Default()
	}
	if err := os.MkdirAll(cfg.DataDir, 0o755); err != nil {
		return nil, fmt.Errorf("data directory %s: %w", cfg.DataDir, err)
	}
	lock, err := lockDataDir(cfg.DataDir)
	if err != nil {
		return nil, err
	}
	ok := false
	defer func() {
		if !ok {
			unlockDataDir(lock)
		}
	}()
	metaDir := filepath.Join(cfg.DataDir, "__samsa_metadata")
	_, statErr := os.Stat(filepath.Join(metaDir, "metadata.json"))
	fresh := errors.Is(statErr, os.ErrNotExist)
	meta, err := metadata.Open(metaDir)
	if err != nil {
		return nil, err
	}
	clean, err := takeCleanShutdownMarker(cfg.DataDir)
	if err != nil {
		return nil, err
	}
	var syncer *log.Syncer
	if cfg.SharedSync {
		if syncer, err = log.NewSyncer(cfg.DataDir); err != nil {
			return nil, err
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	b := &Broker{
		syncer: syncer,
		cfg:    cfg, meta: meta, lg: lg, lock: lock,
		ctx: ctx, cancel: cancel,
		topics:      make(map[string]*Topic),
		topicsByID:  make(map[metadata.TopicID]*Topic),
		flushQueued: make(map[*partition.Partition]bool),
		flushCh:     make(chan *partition.Partition, 4096),
		fdLimit:     openFileLimit,
	}
	st := meta.State()
	total := 0
	for _, t := range st.Topics {
		total += int(t.Partitions)
	}
	if err := checkStartDescriptors(total, b.fdLimit()); err != nil {
		cancel()
		return nil, err
	}
	b.cleanStart = clean
	if clean {
		lg.Info("last shutdown was clean: skipping full log recovery (each active segment's tail is still checked)", "data_dir", cfg.DataDir)
	}
	for _, name := range st.TopicNames() {
		t, err := b.openTopic(st.Topics[name], nil)
		if err != nil {
			b.closePartitions()
			cancel()
			return nil, err
		}
		b.publishLocked(t)
	}
	b.cleanStart = false
	if !fresh {
		b.removeOrphans()
	}
	if dead := b.leftoverDeletes(); len(dead) > 0 {
		lg.Info("removing partition directories of deleted topics", "directories", len(dead))
		b.wg.Add(1)
		go func() {
			defer b.wg.Done()
			b.removeDeleted(dead)
		}()
	}
	b.wg.Add(2)
	go b.retentionLoop()
	go b.flushLoop()
	ok = true
	return b, nil
}

// Config returns the broker settings.
func (b *Broker) Config() config.Broker { return b.cfg }

// ClusterID returns the cluster id, fixed when the data directory was made
// (in a cluster: by the first active controller).
func (b *Broker) ClusterID() string {
	if b.clu != nil {
		return b.clu.deps.Metadata.State().ClusterID
	}
	if b.cfg.ClusterID != "" {
		return b.cfg.ClusterID
	}
	return b.meta.State().ClusterID
}

// Metadata returns the metadata store (producer id allocation, etc.).
func (b *Broker) Metadata() *metadata.Store { return b.meta }

// Topic returns the named topic or nil.
func (b *Broker) Topic(name string) *Topic {
	b.mu.RLock()
	defer b.mu.RUnlock()
	return b.topics[name]
}

// TopicByID returns the topic with that id or nil.
func (b *Broker) TopicByID(id metadata.TopicID) *Topic {
	b.mu.RLock()
	defer b.mu.RUnlock()
	return b.topicsByID[id]
}

// publishLocked makes t the served version of its topic.
// REQUIRES: b.mu held for writing (or b not yet shared, in Open).
func (b *Broker) publishLocked(t *Topic) {
	b.topics[t.Name] = t
	b.topicsByID[t.ID] = t
}

// OfflinePartitions returns the partitions whose storage failed (a sticky
// fsync error): they refuse reads and writes until the broker restarts.
func (b *Broker) OfflinePartitions() []*partition.Partition {
	var out []*partition.Partition
	for _, t := range b.Topics() {
		for _, p := range t.Partitions {
			if p == nil {
				continue // cluster: no replica here
			}
			if p.StorageError() != nil {
				out = append(out, p)
			}
		}
	}
	return out
}

// Topics returns every topic, sorted by name.
func (b *Broker) Topics() []*Topic {
	b.mu.RLock()
	ts := make([]*Topic, 0, len(b.topics))
	for _, t := range b.topics {
		ts = append(ts, t)
	}
	b.mu.RUnlock()
	slices.SortFunc(ts, func(a, c *Topic) int { return strings.Compare(a.Name, c.Name) })
	return ts
}

// CreateTopicRequest describes a topic to create.
type CreateTopicRequest struct {
	Name              string
	Partitions        int32 // -1 = num.partitions
	ReplicationFactor int16 // -1 = default.replication.factor
	Configs           map[string]string
	Internal          bool
	ValidateOnly      bool
	// Cluster only: explicit replicas per partition (CreateTopics'
	// assignments), and ShrinkRF to place fewer replicas than asked when
	// fewer brokers are live (internal topics).
	Assignments [][]int32
	ShrinkRF    bool
}

// CreateTopic validates and (unless ValidateOnly) creates a topic, durably.
func (b *Broker) CreateTopic(req CreateTopicRequest) (*Topic, error) {
	if err := ValidateTopicName(req.Name); err != nil {
		return nil, err
	}
	if req.Partitions == -1 {
		req.Partitions = b.cfg.NumPartitions
	}
	if req.Partitions < 1 {
		return nil, fmt.Errorf("%w: %d (must be at least 1)", ErrInvalidPartitions, req.Partitions)
	}
	if req.Partitions > 100000 {
		return nil, fmt.Errorf("%w: %d is more than one broker should hold for one topic", ErrInvalidPartitions, req.Partitions)
	}
	if req.ReplicationFactor == -1 {
		req.ReplicationFactor = b.cfg.DefaultReplicationFactor
	}
	if b.clu != nil {
		if err := config.ValidateTopicConfigs(req.Configs); err != nil {
			return nil, err
		}
		if req.Assignments != nil {
			req.Partitions = int32(len(req.Assignments))
		}
		return b.clusterCreateTopic(req)
	}
	if req.ReplicationFactor != 1 {
		return nil, fmt.Errorf("%w: %d, but this cluster has 1 broker", ErrInvalidReplicationFactor, req.ReplicationFactor)
	}
	if err := config.ValidateTopicConfigs(req.Configs); err != nil {
		return nil, err
	}

	b.adminMu.Lock()
	defer b.adminMu.Unlock()
	if b.ctx.Err() != nil {
		return nil, ErrClosed
	}
	if b.Topic(req.Name) != nil {
		return nil, fmt.Errorf("%w: %q", ErrTopicExists, req.Name)
	}
	if err := b.checkCollision(req.Name); err != nil {
		return nil, err
	}
	if err := b.checkDescriptors(req.Partitions); err != nil {
		return nil, err
	}
	if req.ValidateOnly {
		return nil, nil
	}
	mt := &metadata.Topic{Name: req.Name, ID: metadata.NewTopicID(), Partitions: req.Partitions, Configs: req.Configs, Internal: req.Internal}
	// Partitions first, metadata second: a topic in the metadata whose
	// partitions cannot open would stop the next Open, and could not be
	// deleted or re-created meanwhile. A crash between the two leaves
	// directories the metadata does not name: orphans that Open removes.
	t, err := b.openTopic(mt, nil)
	if err != nil {
		return nil, err
	}
	if _, err := b.meta.Apply(metadata.Record{Type: metadata.RecordCreateTopic, Topic: mt}); err != nil {
		b.deletePartitions(t.Partitions)
		return nil, err
	}
	b.mu.Lock()
	b.publishLocked(t)
	b.mu.Unlock()
	b.lg.Info("created topic", "topic", t.Name, "partitions", len(t.Partitions), "id", t.ID.String())
	return t, nil
}

// OffsetsTopicName is Kafka's internal topic for consumer group state.
const OffsetsTopicName = "__consumer_offsets"

// OffsetsTopic returns __consumer_offsets, creating it (compacted, 100 MiB
// segments, offsets.topic.num.partitions partitions) when create is set, as
// Kafka does on the first FindCoordinator. Without create it returns nil,
// nil if the topic does not exist. The group coordinator gets it through
// this, from below, never by calling back up into the API layer.
func (b *Broker) OffsetsTopic(create bool) (*Topic, error) {
	t := b.Topic(OffsetsTopicName)
	if t != nil || !create {
		return t, nil
	}
	t, err := b.CreateTopic(CreateTopicRequest{
		Name:       OffsetsTopicName,
		Partitions: b.cfg.OffsetsTopicNumPartitions,
		// One broker: offsets.topic.replication.factor can only be met
		// as 1 (Kafka would refuse to create the topic and answer
		// COORDINATOR_NOT_AVAILABLE forever). In a cluster: the
		// configured factor, or as many replicas as there are live
		// brokers when fewer (ShrinkRF; the README says so).
		ReplicationFactor: b.offsetsRF(),
		ShrinkRF:          true,
		Configs:           map[string]string{"cleanup.policy": "compact", "segment.bytes": "104857600"},
		Internal:          true,
	})
	if errors.Is(err, ErrTopicExists) {
		return b.Topic(OffsetsTopicName), nil
	}
	return t, err
}

// TransactionTopicName is Kafka's internal topic of transaction state.
const TransactionTopicName = "__transaction_state"

// TransactionTopic returns __transaction_state, creating it when create is
// set (compacted, transaction.state.log.* partitions, segment size and
// replication), as Kafka does on the first transactional FindCoordinator
// or InitProducerId. Its min.insync.replicas is transaction.state.log.min.isr,
// capped by the replicas it gets. Without create it returns nil, nil when
// the topic does not exist.
func (b *Broker) TransactionTopic(create bool) (*Topic, error) {
	t := b.Topic(TransactionTopicName)
	if t != nil || !create {
		return t, nil
	}
	rf := int16(1)
	if b.clu != nil {
		rf = b.cfg.TransactionStateLogReplicationFactor
		if st := b.ClusterState(); st != nil {
			rf = min(rf, int16(max(len(st.LiveBrokers()), 1)))
		}
	}
	minISR := min(b.cfg.TransactionStateLogMinISR, int(rf))
	t, err := b.CreateTopic(CreateTopicRequest{
		Name:              TransactionTopicName,
		Partitions:        b.cfg.TransactionStateLogNumPartitions,
		ReplicationFactor: rf,
		ShrinkRF:          true,
		Configs: map[string]string{
			"cleanup.policy":      "compact",
			"segment.bytes":       strconv.Itoa(int(b.cfg.TransactionStateLogSegmentBytes)),
			"min.insync.replicas": strconv.Itoa(minISR),
		},
		Internal: true,
	})
	if errors.Is(err, ErrTopicExists) {
		return b.Topic(TransactionTopicName), nil
	}
	return t, err
}

// checkCollision refuses names that differ only in '.' vs '_' from an
// existing topic, as Kafka does (they collide in metric names).
func (b *Broker) checkCollision(name string) error {
	norm := strings.ReplaceAll(name, ".", "_")
	for _, t := range b.Topics() {
		if strings.ReplaceAll(t.Name, ".", "_") == norm {
			return fmt.Errorf("%w: %q collides with existing topic %q ('.' and '_' are the same in metric names)", ErrInvalidTopic, name, t.Name)
		}
	}
	return nil
}

// AutoCreate creates a topic with the broker defaults if
// auto.create.topics.enable is on and the name is valid. It returns the
// topic (existing or new) or the reason it cannot.
func (b *Broker) AutoCreate(name string) (*Topic, error) {
	if t := b.Topic(name); t != nil {
		return t, nil
	}
	t, err := b.CreateTopic(CreateTopicRequest{Name: name, Partitions: -1, ReplicationFactor: -1})
	if errors.Is(err, ErrTopicExists) {
		if t := b.Topic(name); t != nil {
			return t, nil
		}
	}
	return t, err
}

// DeleteTopic deletes a topic and its data.
func (b *Broker) DeleteTopic(name string) error {
	if b.clu != nil {
		return b.clusterDeleteTopic(name)
	}
	b.adminMu.Lock()
	defer b.adminMu.Unlock()
	if b.ctx.Err() != nil {
		// Close has begun (and may be waiting on wg): no new removals.
		return ErrClosed
	}
	t := b.Topic(name)
	if t == nil {
		return fmt.Errorf("%w: %q", ErrUnknownTopic, name)
	}
	if t.Internal {
		// The coordinators hold its partitions open and place groups by
		// its partition count; deleting it would lose every committed
		// offset. Kafka's tools refuse the same.
		return fmt.Errorf("%w: %q is an internal topic and cannot be deleted", ErrInvalidTopic, name)
	}
	// Metadata first, as KRaft does (the controller commits the removal,
	// then brokers rename the directories): once it is durable the topic
	// is gone. Its directories carry its topic id (partdir.go), so a
	// crash before they are renamed leaves files no topic will open —
	// not even one re-created under the same name — and Open sets them
	// aside.
	if _, err := b.meta.Apply(metadata.Record{Type: metadata.RecordDeleteTopic, Topic: &metadata.Topic{Name: name}}); err != nil {
		return err
	}
	b.mu.Lock()
	delete(b.topicsByID, b.topics[name].ID)
	delete(b.topics, name)
	b.mu.Unlock()
	// Rename before removing anything: a directory is either whole under
	// its name or marked -delete, never half-removed under its name.
	var dead []string
	for _, p := range t.Partitions {
		if p == nil {
			continue // cluster: no replica here
		}
		p.Abandon()
		d, err := renameForDelete(p.Dir())
		if err != nil {
			b.lg.Warn("could not rename a deleted partition's directory; it is kept and set aside at the next start", "dir", p.Dir(), "err", err)
			continue
		}
		dead = append(dead, d)
	}
	if err := syncDir(b.cfg.DataDir); err != nil {
		b.lg.Warn("fsync of the data directory after renaming deleted partitions failed", "dir", b.cfg.DataDir, "err", err)
	}
	b.wg.Add(1)
	go func() {
		defer b.wg.Done()
		b.removeDeleted(dead)
	}()
	b.lg.Info("deleted topic", "topic", name, "topic_id", t.ID)
	return nil
}

// deletePartitions removes partitions that were opened for a change the
// metadata then refused: nothing names them, so their files go too.
func (b *Broker) deletePartitions(ps []*partition.Partition) {
	for _, p := range ps {
		if err := p.Delete(); err != nil {
			b.lg.Warn("deleting partition files failed; Open removes them as orphans", "dir", p.Dir(), "err", err)
		}
	}
}

// CreatePartitions grows a topic to count partitions.
func (b *Broker) CreatePartitions(name string, count int32, validateOnly bool) error {
	if b.clu != nil {
		return b.clusterCreatePartitions(name, count, validateOnly, nil)
	}
	b.adminMu.Lock()
	defer b.adminMu.Unlock()
	t := b.Topic(name)
	if t == nil {
		return fmt.Errorf("%w: %q", ErrUnknownTopic, name)
	}
	if t.Internal {
		// Groups are placed by hash modulo this topic's partition count:
		// growing it would move every group away from its offsets.
		return fmt.Errorf("%w: %q is an internal topic; its partition count is fixed", ErrInvalidPartitions, name)
	}
	if count <= int32(len(t.Partitions)) {
		return fmt.Errorf("%w: topic %q has %d partitions; the new count %d must be larger", ErrInvalidPartitions, name, len(t.Partitions), count)
	}
	if count > 100000 {
		return fmt.Errorf("%w: %d", ErrInvalidPartitions, count)
	}
	if err := b.checkDescriptors(count - int32(len(t.Partitions))); err != nil {
		return err
	}
	if validateOnly {
		return nil
	}
	// Partitions first, metadata second, as in CreateTopic: the metadata
	// only ever grows, so a count recorded before its partitions failed
	// to open could not be retried, and would stop the next Open.
	mt := *b.meta.State().Topics[name]
	mt.Partitions = count
	nt, err := b.openTopic(&mt, t.Partitions)
	if err != nil {
		return err
	}
	if _, err := b.meta.Apply(metadata.Record{Type: metadata.RecordSetPartitions, Topic: &metadata.Topic{Name: name, Partitions: count}}); err != nil {
		b.deletePartitions(nt.Partitions[len(t.Partitions):])
		return err
	}
	b.mu.Lock()
	b.publishLocked(nt)
	b.mu.Unlock()
	b.lg.Info("added partitions", "topic", name, "partitions", count)
	return nil
}

// SetTopicConfigs replaces a topic's config overrides.
func (b *Broker) SetTopicConfigs(name string, overrides map[string]string, validateOnly bool) error {
	return b.UpdateTopicConfigs(name, func(map[string]string) (map[string]string, error) { return overrides, nil }, validateOnly)
}

// UpdateTopicConfigs replaces a topic's config overrides with what edit
// makes of the current ones (a copy edit may change). The read and the
// store are one step: concurrent alters of the same topic cannot lose each
// other's changes (IncrementalAlterConfigs relies on this).
func (b *Broker) UpdateTopicConfigs(name string, edit func(current map[string]string) (map[string]string, error), validateOnly bool) error {
	if b.clu != nil {
		// The controller checks that the overrides are still the ones
		// edited (SetConfigsRequest.Expect); adminMu is reconcile's.
		t, overrides, err := b.editedConfigs(name, edit)
		if err != nil || validateOnly {
			return err
		}
		return b.clusterSetConfigs(name, t.Overrides, overrides)
	}
	b.adminMu.Lock()
	defer b.adminMu.Unlock()
	t, overrides, err := b.editedConfigs(name, edit)
	if err != nil || validateOnly {
		return err
	}
	st, err := b.meta.Apply(metadata.Record{Type: metadata.RecordSetTopicConfigs, Topic: &metadata.Topic{Name: name, Configs: overrides}})
	if err != nil {
		return err
	}
	mt := st.Topics[name]
	nt := &Topic{Name: t.Name, ID: t.ID, Internal: t.Internal, Partitions: t.Partitions,
		Overrides: maps.Clone(mt.Configs), Config: config.ResolveTopic(b.cfg, mt.Configs)}
	for _, p := range nt.Partitions {
		p.SetConfig(b.partitionConfig(nt, p.Index))
	}
	b.mu.Lock()
	b.publishLocked(nt)
	b.mu.Unlock()
	return nil
}

// editedConfigs returns topic name and the overrides edit makes of a copy
// of its current ones, validated.
func (b *Broker) editedConfigs(name string, edit func(map[string]string) (map[string]string, error)) (*Topic, map[string]string, error) {
	t := b.Topic(name)
	if t == nil {
		return nil, nil, fmt.Errorf("%w: %q", ErrUnknownTopic, name)
	}
	cur := maps.Clone(t.Overrides)
	if cur == nil {
		cur = make(map[string]string)
	}
	overrides, err := edit(cur)
	if err != nil {
		return nil, nil, err
	}
	if err := config.ValidateTopicConfigs(overrides); err != nil {
		return nil, nil, err
	}
	return t, overrides, nil
}

// openTopic opens the partitions of mt, reusing the already open ones.
func (b *Broker) openTopic(mt *metadata.Topic, open []*partition.Partition) (*Topic, error) {
	t := &Topic{Name: mt.Name, ID: mt.ID, Internal: mt.Internal,
		Overrides: maps.Clone(mt.Configs), Config: config.ResolveTopic(b.cfg, mt.Configs)}
	t.Partitions = append([]*partition.Partition(nil), open...)
	for i := int32(len(open)); i < mt.Partitions; i++ {
		cfg := b.partitionConfig(t, i)
		err := b.preparePartitionDir(cfg.Dir, t.ID)
		var p *partition.Partition
		if err == nil {
			p, err = partition.Open(cfg)
		}
		if err != nil {
			for _, q := range t.Partitions[len(open):] {
				q.Close()
			}
			return nil, err
		}
		t.Partitions = append(t.Partitions, p)
	}
	return t, nil
}

func (b *Broker) partitionDir(topic string, i int32) string {
	return filepath.Join(b.cfg.DataDir, topic+"-"+strconv.Itoa(int(i)))
}

func (b *Broker) partitionConfig(t *Topic, i int32) partition.Config {
	c := t.Config
	if !c.Delete() {
		// cleanup.policy=compact alone: Kafka never deletes segments by
		// retention.ms/bytes, only compaction removes superseded keys.
		// __consumer_offsets relies on it: an idle group's last commit
		// must survive however old it is.
		c.Retention, c.RetentionBytes = -1, -1
	}
	return partition.Config{
		Topic: t.Name, Index: i, Dir: b.partitionDir(t.Name, i),
		Log: log.Options{
			SegmentBytes:       c.SegmentBytes,
			SegmentAge:         c.SegmentAge,
			IndexIntervalBytes: c.IndexIntervalBytes,
			RetentionAge:       c.Retention,
			RetentionBytes:     c.RetentionBytes,

			Compact:                c.Compact(),
			DeleteRetention:        c.DeleteRetention,
			MinCompactionLag:       c.MinCompactionLag,
			MaxCompactionLag:       c.MaxCompactionLag,
			MinCleanableDirtyRatio: c.MinCleanableDirtyRatio,
			Preallocate:            c.Preallocate,

			CleanShutdown: b.cleanStart,
			Syncer:        b.syncer,
		},
		LogAppendTime:   c.LogAppendTime,
		MaxMessageBytes: c.MaxMessageBytes,
		SyncOnAck:       c.FlushMessages <= 1,
		FlushMessages:   c.FlushMessages,
		FlushInterval:   c.FlushInterval,
		Logger:          b.lg.With("topic", t.Name, "partition", i),
	}
}

// removeOrphans sets aside partition directories that no topic in the
// metadata owns: renamed to "<dir>.<unix-nanos>-stray" (Kafka's word for
// them), never deleted. Most are the leftovers of a crash between a
// DeleteTopics and the removal of its files, but they could also be data
// whose metadata was lost or restored from an old backup; deleting those
// would be unrecoverable, while a stray directory costs only disk until
// an operator removes it. A re-created topic of the same name starts
// empty either way.
func (b *Broker) removeOrphans() {
	entries, err := os.ReadDir(b.cfg.DataDir)
	if err != nil {
		return
	}
	for _, e := range entries {
		if !e.IsDir() || strings.HasPrefix(e.Name(), "__samsa") {
			continue
		}
		i := strings.LastIndexByte(e.Name(), '-')
		if i <= 0 {
			continue
		}
		n, err := strconv.Atoi(e.Name()[i+1:])
		if err != nil || n < 0 {
			continue // includes directories already set aside (...-stray)
		}
		name := e.Name()[:i]
		if t := b.Topic(name); t != nil && n < len(t.Partitions) {
			continue
		}
		dir := filepath.Join(b.cfg.DataDir, e.Name())
		stray := fmt.Sprintf("%s.%d-stray", dir, time.Now().UnixNano())
		if err := os.Rename(dir, stray); err != nil {
			b.lg.Warn("could not set aside a partition directory that no topic owns", "dir", dir, "err", err)
			continue
		}
		b.lg.Warn("set aside a partition directory that no topic owns (left by an interrupted topic deletion, or metadata lost); delete it when you are sure it is not needed",
			"dir", stray)
	}
}

// ScheduleFlush asks the background flusher to make p durable soon (for
// acks=0 produces, whose data must still become visible to consumers).
func (b *Broker) ScheduleFlush(p *partition.Partition) {
	b.flushMu.Lock()
	if b.flushQueued[p] {
		b.flushMu.Unlock()
		return
	}
	b.flushQueued[p] = true
	b.flushMu.Unlock()
	select {
	case b.flushCh <- p:
	default:
		// Queue full: flush inline rather than lose the wake-up.
		b.flushMu.Lock()
		delete(b.flushQueued, p)
		b.flushMu.Unlock()
		b.flush(p)
	}
}

func (b *Broker) flush(p *partition.Partition) {
	if err := p.Flush(); err != nil && !errors.Is(err, log.ErrClosed) && !errors.Is(err, partition.ErrClosed) {
		b.lg.Error("fsync failed; the partition refuses writes until restart", "topic", p.Topic, "partition", p.Index, "err", err)
	}
}

// flushSchedulerInterval is how often the flush loop looks for relaxed
// partitions (flush.messages > 1) whose flush.ms has passed, as Kafka's
// log.flush.scheduler.interval.ms does: a flush.ms shorter than this is
// honoured at this granularity.
const flushSchedulerInterval = 20 * time.Millisecond

func (b *Broker) flushLoop() {
	defer b.wg.Done()
	// The scan is a few atomic loads per partition; in durable mode
	// (every topic at flush.messages=1) FlushDue is false at once.
	t := time.NewTicker(flushSchedulerInterval)
	defer t.Stop()
	var topics []*Topic // reused between ticks
	for {
		select {
		case <-b.ctx.Done():
			return
		case p := <-b.flushCh:
			b.flushMu.Lock()
			delete(b.flushQueued, p)
			b.flushMu.Unlock()
			b.flush(p)
		case now := <-t.C:
			b.mu.RLock()
			topics = topics[:0]
			for _, t := range b.topics {
				topics = append(topics, t)
			}
			b.mu.RUnlock()
			for _, t := range topics {
				for _, p := range t.Partitions {
					if p == nil {
						continue // cluster: no replica here
					}
					if p.FlushDue(now) {
						b.flush(p)
					}
				}
			}
		}
	}
}

func (b *Broker) retentionLoop() {
	defer b.wg.Done()
	every := b.cfg.LogRetentionCheckInterval
	if every <= 0 {
		every = 5 * time.Minute
	}
	t := time.NewTicker(every)
	defer t.Stop()
	// The cleaner checks compacted topics more often than retention runs,
	// as Kafka's cleaner threads do (log.cleaner.backoff.ms, 15 s): a pass
	// that finds nothing due costs a lock and a sum per partition.
	ct := time.NewTicker(min(every, cleanerBackoff))
	defer ct.Stop()
	// Recovery points bound what an unclean start re-validates (see
	// internal/log doc.go); written here, never on the produce path.
	rt := time.NewTicker(log.RecoveryPointInterval)
	defer rt.Stop()
	pt := time.NewTicker(b.cfg.ProducerIDExpirationCheckInterval)
	defer pt.Stop()
	for {
		select {
		case <-b.ctx.Done():
			return
		case <-t.C:
			b.ApplyRetention()
		case <-ct.C:
			b.Compact()
		case <-rt.C:
			b.CheckpointRecoveryPoints()
		case now := <-pt.C:
			b.ExpireProducers(now)
		}
	}
}

// ExpireProducers makes every partition forget the idempotent producers
// idle for longer than producer.id.expiration.ms.
func (b *Broker) ExpireProducers(now time.Time) {
	n := 0
	for _, t := range b.Topics() {
		for _, p := range t.Partitions {
			if p == nil {
				continue // cluster: no replica here
			}
			n += p.ExpireProducers(now, b.cfg.ProducerIDExpiration)
		}
	}
	if n > 0 {
		b.lg.Info("forgot idle idempotent producers", "producer_states", n, "producer_id_expiration", b.cfg.ProducerIDExpiration)
	}
}

// CheckpointRecoveryPoints persists every partition's flushed offset as its
// recovery point (a no-op for one that has not moved).
func (b *Broker) CheckpointRecoveryPoints() {
	for _, t := range b.Topics() {
		for _, p := range t.Partitions {
			if p == nil {
				continue // cluster: no replica here
			}
			if b.ctx.Err() != nil {
				return
			}
			if err := p.CheckpointRecoveryPoint(); err != nil && !errors.Is(err, partition.ErrClosed) {
				b.lg.Warn("recovery point checkpoint failed", "topic", t.Name, "partition", p.Index, "err", err)
			}
		}
	}
}

// cleanerBackoff is Kafka's log.cleaner.backoff.ms default.
const cleanerBackoff = 15 * time.Second

// Compact runs a cleaner pass on every partition of every compacted topic
// now, logging one line per partition that was cleaned.
func (b *Broker) Compact() {
	for _, t := range b.Topics() {
		if !t.Config.Compact() {
			continue
		}
		for _, p := range t.Partitions {
			if p == nil {
				continue // cluster: no replica here
			}
			if b.ctx.Err() != nil {
				return
			}
			st, err := p.Compact(time.Now())
			switch {
			case errors.Is(err, partition.ErrClosed):
			case err != nil:
				b.lg.Warn("compaction failed", "topic", t.Name, "partition", p.Index, "err", err)
			case st.Segments > 0:
				b.lg.Info("compacted partition", "topic", t.Name, "partition", p.Index,
					"segments", st.Segments, "bytes_before", st.BytesBefore, "bytes_after", st.BytesAfter,
					"records_removed", st.RecordsRemoved, "dirty_ratio", fmt.Sprintf("%.2f", st.DirtyRatio))
			}
		}
	}
}

// ApplyRetention runs retention on every partition now.
func (b *Broker) ApplyRetention() {
	for _, t := range b.Topics() {
		for _, p := range t.Partitions {
			if p == nil {
				continue // cluster: no replica here
			}
			n, err := p.ApplyRetention()
			if err != nil {
				b.lg.Warn("retention failed", "topic", t.Name, "partition", p.Index, "err", err)
			} else if n > 0 {
				b.lg.Info("retention deleted segments", "topic", t.Name, "partition", p.Index, "segments", n, "log_start_offset", p.LogStartOffset())
			}
		}
	}
}

// closePartitions closes every partition and reports whether all closed
// cleanly (flushed, recovery point and producer snapshot written).
func (b *Broker) closePartitions() (clean bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	clean = true
	for _, t := range b.topics {
		for _, p := range t.Partitions {
			if p == nil {
				continue // cluster: no replica here
			}
			if err := p.Close(); err != nil {
				clean = false
				b.lg.Warn("closing partition", "topic", t.Name, "partition", p.Index, "err", err)
			}
		}
	}
	return clean
}

// takeCleanShutdownMarker reports whether the clean-shutdown marker is in
// dataDir and deletes it, durably, before any partition opens: from here
// until the next clean Close, a stop is unclean.
func takeCleanShutdownMarker(dataDir string) (bool, error) {
	err := os.Remove(filepath.Join(dataDir, cleanShutdownMarker))
	if errors.Is(err, os.ErrNotExist) {
		return false, nil
	}
	if err == nil {
		err = syncDir(dataDir)
	}
	if err != nil {
		return false, fmt.Errorf("clean shutdown marker: %w", err)
	}
	return true, nil
}

// writeCleanShutdownMarker records that every partition was closed cleanly:
// the file and the directory entry are fsynced, so the marker cannot
// outlive a crash that the partitions' files did not.
func writeCleanShutdownMarker(dataDir string) error {
	f, err := os.OpenFile(filepath.Join(dataDir, cleanShutdownMarker), os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o644)
	if err != nil {
		return err
	}
	err = f.Sync()
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = syncDir(dataDir)
	}
	return err
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

// Close stops background work and flushes and closes every partition.
func (b *Broker) Close() error {
	b.PrepareShutdown()
	b.adminMu.Lock()
	b.cancel()
	closers := b.closers
	b.closers = nil
	b.adminMu.Unlock()
	b.wg.Wait()
	for _, fn := range closers {
		fn()
	}
	if b.clu != nil {
		b.clu.fetchers.Close()
	}
	if b.closePartitions() {
		if err := writeCleanShutdownMarker(b.cfg.DataDir); err != nil {
			b.lg.Warn("writing clean shutdown marker; the next start re-validates logs", "err", err)
		}
	}
	b.syncer.Close()
	// Last: the directory is ours until every file in it is closed.
	unlockDataDir(b.lock)
	return nil
}

// Context is cancelled when the broker closes; long polls watch it.
func (b *Broker) Context() context.Context { return b.ctx }
