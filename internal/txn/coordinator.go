package txn

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"slices"
	"sync"
	"time"

	"github.com/samsa-io/samsa/internal/group"
	"github.com/samsa-io/samsa/internal/partition"
	"github.com/samsa-io/samsa/internal/record"
)

// TopicName is Kafka's internal topic of transaction state.
const TopicName = "__transaction_state"

// offsetsTopic is where a consumer group's transactional commits go.
const offsetsTopic = "__consumer_offsets"

// Partition is what the coordinator needs of a __transaction_state
// partition it leads. Flush must return only once what was appended before
// it is committed: durable on a single broker, on every in-sync replica in
// a cluster.
type Partition interface {
	Append(batches []byte, now time.Time) (partition.AppendResult, error)
	Flush() error
	Read(offset int64, maxBytes int, minOne bool) (partition.ReadResult, error)
	LogStartOffset() int64
	LogEndOffset() int64
	HighWatermark() int64
}

// Markers asks for the commit or abort markers of one transaction.
type Markers struct {
	ProducerID       int64
	ProducerEpoch    int16
	Commit           bool
	CoordinatorEpoch int32
	Partitions       []TopicPartition
}

// ErrPartitionGone is what a MarkerWriter answers for a partition that no
// longer exists (its topic was deleted): no marker is needed there.
var ErrPartitionGone = errors.New("txn: the partition no longer exists")

// MarkerWriter writes transaction markers to the partitions' leaders (the
// api layer: locally, or with WriteTxnMarkers to another broker). It
// returns one error per partition that failed; a partition missing from the
// map succeeded, and its marker is committed.
type MarkerWriter interface {
	WriteMarkers(ctx context.Context, m Markers) map[TopicPartition]error
}

// Config configures a Coordinator.
type Config struct {
	// MaxTimeout is transaction.max.timeout.ms.
	MaxTimeout time.Duration
	// AbortInterval is transaction.abort.timed.out.transaction.cleanup.interval.ms.
	AbortInterval time.Duration
	// ExpireInterval is transaction.remove.expired.transaction.cleanup.interval.ms,
	// IDExpiration transactional.id.expiration.ms.
	ExpireInterval time.Duration
	IDExpiration   time.Duration
	// OffsetsPartitions is the partition count of __consumer_offsets, for
	// AddOffsetsToTxn (a group's commits go to its partition).
	OffsetsPartitions func() int
	// AllocateProducerID hands out a producer id never used before.
	AllocateProducerID func() (int64, error)
	Markers            MarkerWriter
	Logger             *slog.Logger
	Now                func() time.Time
}

// Coordinator is the transaction coordinator of one broker.
type Coordinator struct {
	cfg Config
	lg  *slog.Logger
	now func() time.Time

	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup

	mu     sync.RWMutex
	shards []*shard // indexed by __transaction_state partition; nil where not led; guarded by mu
}

// shard is one __transaction_state partition this broker leads.
type shard struct {
	idx    int
	part   Partition
	epoch  int32 // coordinator epoch: the partition's leader epoch
	ctx    context.Context
	cancel context.CancelFunc
	// loading and txns are guarded by Coordinator.mu. txns holds every id
	// of the partition once loaded; an entry leaves it only when expired.
	loading bool
	txns    map[string]*entry
}

// entry is one transactional id; mu guards all of it and is held across
// the durable write of a state change, so changes of one id are applied in
// the order they are written.
type entry struct {
	mu   sync.Mutex
	sh   *shard
	meta Meta // ProducerID -1: created, never initialised
	// completing: a goroutine is writing this transaction's markers.
	completing bool
	gone       bool // expired and removed from its shard
}

// New returns a coordinator that leads nothing yet (SetLeadership).
func New(cfg Config) *Coordinator {
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.AbortInterval <= 0 {
		cfg.AbortInterval = 10 * time.Second
	}
	if cfg.ExpireInterval <= 0 {
		cfg.ExpireInterval = time.Hour
	}
	if cfg.IDExpiration <= 0 {
		cfg.IDExpiration = 7 * 24 * time.Hour
	}
	if cfg.MaxTimeout <= 0 {
		cfg.MaxTimeout = 15 * time.Minute
	}
	c := &Coordinator{cfg: cfg, lg: cfg.Logger, now: cfg.Now}
	c.ctx, c.cancel = context.WithCancel(context.Background())
	c.wg.Add(1)
	go c.sweepLoop()
	return c
}

// Close stops the coordinator: marker rounds and loads give up.
func (c *Coordinator) Close() {
	c.cancel()
	c.mu.Lock()
	for _, sh := range c.shards {
		if sh != nil {
			sh.cancel()
		}
	}
	c.mu.Unlock()
	c.wg.Wait()
}

// PartitionFor returns the __transaction_state partition of a
// transactional id among n: Kafka's abs(hashCode) % n.
func PartitionFor(id string, n int) int { return group.PartitionFor(id, n) }

// SetLeadership tells the coordinator that this broker now leads (leading)
// or no longer leads partition i of n of __transaction_state, with p the
// partition and epoch its leader epoch. Gaining it starts a replay of the
// partition; until that ends its ids answer ErrLoadInProgress.
func (c *Coordinator) SetLeadership(i, n int, p Partition, epoch int32, leading bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.shards) != n {
		old := c.shards
		c.shards = make([]*shard, n)
		copy(c.shards, old)
		for j := n; j < len(old); j++ {
			if old[j] != nil {
				old[j].cancel()
			}
		}
	}
	if i < 0 || i >= n {
		return
	}
	if old := c.shards[i]; old != nil {
		if leading && old.part == p && old.epoch == epoch {
			return
		}
		old.cancel()
		c.shards[i] = nil
	}
	if !leading || c.ctx.Err() != nil {
		return
	}
	sh := &shard{idx: i, part: p, epoch: epoch, loading: true}
	sh.ctx, sh.cancel = context.WithCancel(c.ctx)
	c.shards[i] = sh
	c.wg.Add(1)
	go func() {
		defer c.wg.Done()
		c.load(sh)
	}()
}

// Loaded reports how many partitions this broker leads and how many of
// them are still loading (for tests and the console).
func (c *Coordinator) Loaded() (leading, loading int) {
	c.mu.RLock()
	defer c.mu.RUnlock()
	for _, sh := range c.shards {
		if sh != nil {
			leading++
			if sh.loading {
				loading++
			}
		}
	}
	return leading, loading
}

// load replays the partition into the shard, then finishes the prepared
// transactions it found.
func (c *Coordinator) load(sh *shard) {
	start := c.now()
	txns := make(map[string]*entry)
	for {
		err := c.replay(sh, txns)
		if err == nil {
			break
		}
		if sh.ctx.Err() != nil {
			return
		}
		c.lg.Warn("transaction coordinator: replaying __transaction_state failed; retrying", "partition", sh.idx, "err", err)
		clear(txns)
		select {
		case <-sh.ctx.Done():
			return
		case <-time.After(500 * time.Millisecond):
		}
	}
	c.mu.Lock()
	if c.shards == nil || sh.idx >= len(c.shards) || c.shards[sh.idx] != sh {
		c.mu.Unlock()
		return
	}
	// The entries are listed before the map is published: lookups may add
	// to it from then on (under c.mu).
	all := make([]*entry, 0, len(txns))
	for _, e := range txns {
		all = append(all, e)
	}
	sh.txns, sh.loading = txns, false
	c.mu.Unlock()
	prepared := 0
	for _, e := range all {
		e.mu.Lock()
		if e.meta.State == PrepareCommit || e.meta.State == PrepareAbort {
			prepared++
			c.startCompletionLocked(e)
		}
		e.mu.Unlock()
	}
	level := slog.LevelInfo
	if len(all) == 0 {
		level = slog.LevelDebug // 50 lines of "nothing" at the first start say nothing
	}
	c.lg.Log(context.Background(), level, "transaction coordinator: loaded __transaction_state partition", "partition", sh.idx,
		"coordinator_epoch", sh.epoch, "transactional_ids", len(all), "completing", prepared, "took", c.now().Sub(start).Round(time.Millisecond))
}

// replay reads the partition from its start to its log end, once the high
// watermark covers the log end (a new leader's last records may not be
// committed yet; they are the state the old leader acknowledged).
func (c *Coordinator) replay(sh *shard, txns map[string]*entry) error {
	for sh.part.HighWatermark() < sh.part.LogEndOffset() {
		select {
		case <-sh.ctx.Done():
			return sh.ctx.Err()
		case <-time.After(20 * time.Millisecond):
		}
	}
	off, end := sh.part.LogStartOffset(), sh.part.HighWatermark()
	for off < end {
		res, err := sh.part.Read(off, 1<<20, true)
		if err != nil {
			return err
		}
		if len(res.Records) == 0 {
			break
		}
		err = record.Split(res.Records, func(h record.BatchHeader, b []byte) error {
			off = h.NextOffset()
			if h.Control() {
				return nil
			}
			return record.ForEachRecord(b, func(r record.Record) error {
				id, m, err := decodeMeta(r.Key, r.Value)
				if err != nil {
					c.lg.Warn("transaction coordinator: skipping a record it cannot decode", "partition", sh.idx, "offset", h.BaseOffset+int64(r.OffsetDelta), "err", err)
					return nil
				}
				if m == nil {
					delete(txns, id)
					return nil
				}
				txns[id] = &entry{sh: sh, meta: *m}
				return nil
			})
		})
		if err != nil {
			return err
		}
	}
	return nil
}

// lookup finds the id's entry, creating an uninitialised one when create.
// nil, nil: unknown id.
func (c *Coordinator) lookup(id string, create bool) (*entry, error) {
	if id == "" {
		return nil, ErrInvalidID
	}
	c.mu.RLock()
	sh, err := c.shardLocked(id)
	var e *entry
	if err == nil {
		e = sh.txns[id]
	}
	c.mu.RUnlock()
	if err != nil || e != nil || !create {
		return e, err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if sh, err = c.shardLocked(id); err != nil {
		return nil, err
	}
	if e = sh.txns[id]; e == nil {
		e = &entry{sh: sh, meta: Meta{ID: id, ProducerID: -1, ProducerEpoch: -1, PrevProducerID: -1, LastProducerEpoch: -1}}
		sh.txns[id] = e
	}
	return e, nil
}

// shardLocked returns the loaded shard of id. REQUIRES: c.mu held.
func (c *Coordinator) shardLocked(id string) (*shard, error) {
	if len(c.shards) == 0 {
		return nil, ErrNotCoordinator
	}
	sh := c.shards[PartitionFor(id, len(c.shards))]
	switch {
	case sh == nil:
		return nil, ErrNotCoordinator
	case sh.loading:
		return nil, ErrLoadInProgress
	}
	return sh, nil
}

// Coordinates reports whether this broker coordinates id now.
func (c *Coordinator) Coordinates(id string) bool {
	c.mu.RLock()
	defer c.mu.RUnlock()
	_, err := c.shardLocked(id)
	return err == nil
}

// activeLocked checks that e may still be changed here. REQUIRES: e.mu.
func (e *entry) activeLocked() error {
	if e.gone || e.sh.ctx.Err() != nil {
		return ErrNotCoordinator
	}
	return nil
}

// persistLocked writes m as the id's new state and applies it once the
// write is committed. REQUIRES: e.mu.
func (c *Coordinator) persistLocked(e *entry, m Meta) error {
	if err := e.activeLocked(); err != nil {
		return err
	}
	now := c.now()
	m.LastUpdate = now
	k, v := encodeMeta(m.ID, &m)
	if err := c.writeLocked(e, k, v, now); err != nil {
		return err
	}
	e.meta = m
	return nil
}

func (c *Coordinator) writeLocked(e *entry, k, v []byte, now time.Time) error {
	batch := record.BuildBatch(record.BuildOptions{
		FirstTimestamp: now.UnixMilli(), ProducerID: -1, ProducerEpoch: -1, BaseSequence: record.NoSequence,
	}, []record.Record{{Key: k, Value: v}})
	if _, err := e.sh.part.Append(batch, now); err != nil {
		return c.writeErr(e, err)
	}
	if err := e.sh.part.Flush(); err != nil {
		return c.writeErr(e, err)
	}
	return nil
}

func (c *Coordinator) writeErr(e *entry, err error) error {
	c.lg.Warn("transaction coordinator: writing __transaction_state failed", "transactional_id", e.meta.ID, "partition", e.sh.idx, "err", err)
	if errors.Is(err, ErrCoordinatorNotAvailable) {
		return err
	}
	if errors.Is(err, partition.ErrNotLeader) || errors.Is(err, partition.ErrClosed) || e.sh.ctx.Err() != nil {
		return fmt.Errorf("%w: %w", ErrNotCoordinator, err)
	}
	return fmt.Errorf("%w: %w", ErrCoordinatorNotAvailable, err)
}

// bumpEpoch returns m with the next producer epoch, moving to a new
// producer id when the epoch is exhausted (as Kafka does at MaxInt16-1).
func (c *Coordinator) bumpEpoch(m Meta) (Meta, error) {
	m.LastProducerEpoch = m.ProducerEpoch
	if m.ProducerEpoch >= math.MaxInt16-1 || m.ProducerID < 0 {
		pid, err := c.cfg.AllocateProducerID()
		if err != nil {
			return m, fmt.Errorf("%w: allocating a producer id: %w", ErrCoordinatorNotAvailable, err)
		}
		if m.ProducerID >= 0 {
			m.PrevProducerID = m.ProducerID
		}
		m.ProducerID, m.ProducerEpoch, m.LastProducerEpoch = pid, 0, -1
		return m, nil
	}
	m.ProducerEpoch++
	return m, nil
}

// InitProducerID answers InitProducerId for a transactional id: a new
// producer id, or the current one with a bumped epoch, which fences every
// older instance. expectPID/expectEpoch (-1 when absent) are KIP-360's:
// a producer recovering its own epoch. An open transaction is aborted
// first (ErrConcurrentTransactions: the client retries once it is).
func (c *Coordinator) InitProducerID(id string, timeout time.Duration, expectPID int64, expectEpoch int16, clientTV int16) (int64, int16, error) {
	if timeout <= 0 || timeout > c.cfg.MaxTimeout {
		return -1, -1, ErrInvalidTimeout
	}
	e, err := c.lookup(id, true)
	if err != nil {
		return -1, -1, err
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	if err := e.activeLocked(); err != nil {
		return -1, -1, err
	}
	m := e.meta.clone()
	if m.ProducerID < 0 {
		pid, err := c.cfg.AllocateProducerID()
		if err != nil {
			return -1, -1, fmt.Errorf("%w: allocating a producer id: %w", ErrCoordinatorNotAvailable, err)
		}
		m = Meta{ID: id, ProducerID: pid, ProducerEpoch: 0, PrevProducerID: -1, LastProducerEpoch: -1,
			Timeout: timeout, State: Empty, ClientTV: clientTV}
		if err := c.persistLocked(e, m); err != nil {
			return -1, -1, err
		}
		return m.ProducerID, m.ProducerEpoch, nil
	}
	switch m.State {
	case PrepareCommit, PrepareAbort, PrepareEpochFence:
		return -1, -1, ErrConcurrentTransactions
	case Ongoing:
		// Fence the open transaction: abort it with a bumped epoch, so
		// the old instance's late writes are refused.
		if err := c.fenceAbortLocked(e); err != nil {
			return -1, -1, err
		}
		return -1, -1, ErrConcurrentTransactions
	}
	if expectPID >= 0 {
		switch {
		case expectPID == m.ProducerID && expectEpoch == m.ProducerEpoch:
		case (expectPID == m.ProducerID || expectPID == m.PrevProducerID) && expectEpoch == m.LastProducerEpoch:
			// The epoch was bumped past the producer's: a retry of a
			// bump that already happened, or (KIP-360) a producer whose
			// transaction the coordinator aborted on timeout. Either
			// way it gets the current epoch, not a newer one.
			return m.ProducerID, m.ProducerEpoch, nil
		default:
			return -1, -1, fmt.Errorf("%w: expected producer %d epoch %d, the transactional id has producer %d epoch %d",
				ErrProducerFenced, expectPID, expectEpoch, m.ProducerID, m.ProducerEpoch)
		}
	}
	m, err = c.bumpEpoch(m)
	if err != nil {
		return -1, -1, err
	}
	m.State, m.Timeout, m.Partitions, m.StartTime, m.ClientTV = Empty, timeout, nil, time.Time{}, clientTV
	if err := c.persistLocked(e, m); err != nil {
		return -1, -1, err
	}
	return m.ProducerID, m.ProducerEpoch, nil
}

// fenceAbortLocked aborts the open transaction of e with a bumped epoch
// and starts writing its markers. REQUIRES: e.mu, e.meta.State Ongoing.
func (c *Coordinator) fenceAbortLocked(e *entry) error {
	m := e.meta.clone()
	if m.ProducerEpoch < math.MaxInt16-1 {
		m.LastProducerEpoch = m.ProducerEpoch
		m.ProducerEpoch++
	}
	m.State = PrepareAbort
	if err := c.persistLocked(e, m); err != nil {
		return err
	}
	c.startCompletionLocked(e)
	return nil
}

// checkProducerLocked checks that pid/epoch is the id's current producer.
func checkProducerLocked(e *entry, pid int64, epoch int16) error {
	m := &e.meta
	switch {
	case m.ProducerID < 0:
		return fmt.Errorf("%w: transactional id %q has no producer (InitProducerId first)", ErrInvalidProducerIDMapping, m.ID)
	case pid != m.ProducerID:
		return fmt.Errorf("%w: producer %d, the transactional id has %d", ErrInvalidProducerIDMapping, pid, m.ProducerID)
	case epoch != m.ProducerEpoch:
		return fmt.Errorf("%w: epoch %d, current %d", ErrProducerFenced, epoch, m.ProducerEpoch)
	}
	return nil
}

// AddPartitions adds partitions to the id's transaction, starting one if
// none is open (AddPartitionsToTxn, AddOffsetsToTxn, and under
// transactions v2 the produce path).
func (c *Coordinator) AddPartitions(id string, pid int64, epoch int16, tps []TopicPartition) error {
	e, err := c.lookup(id, false)
	if err != nil {
		return err
	}
	if e == nil {
		return fmt.Errorf("%w: unknown transactional id %q", ErrInvalidProducerIDMapping, id)
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	if err := e.activeLocked(); err != nil {
		return err
	}
	if err := checkProducerLocked(e, pid, epoch); err != nil {
		return err
	}
	m := e.meta.clone()
	switch m.State {
	case PrepareCommit, PrepareAbort, PrepareEpochFence:
		return ErrConcurrentTransactions
	case Dead:
		return ErrInvalidTxnState
	case Ongoing:
		if !slices.ContainsFunc(tps, func(tp TopicPartition) bool { return !m.has(tp) }) {
			return nil // nothing new: no write
		}
	default: // Empty, CompleteCommit, CompleteAbort: a new transaction
		m.Partitions, m.StartTime = nil, c.now()
	}
	for _, tp := range tps {
		m.add(tp)
	}
	m.State = Ongoing
	return c.persistLocked(e, m)
}

// AddOffsets adds the __consumer_offsets partition of group to the
// transaction (AddOffsetsToTxn).
func (c *Coordinator) AddOffsets(id string, pid int64, epoch int16, groupID string) error {
	n := 0
	if c.cfg.OffsetsPartitions != nil {
		n = c.cfg.OffsetsPartitions()
	}
	if n <= 0 {
		return fmt.Errorf("%w: __consumer_offsets does not exist yet", ErrCoordinatorNotAvailable)
	}
	return c.AddPartitions(id, pid, epoch, []TopicPartition{{offsetsTopic, int32(group.PartitionFor(groupID, n))}})
}

// Verify answers the broker-side verification of AddPartitionsToTxn v4+
// (KIP-890 part 1): is each partition part of the id's open transaction?
// The map holds an error for each partition that is not; err is for the
// whole id.
func (c *Coordinator) Verify(id string, pid int64, epoch int16, tps []TopicPartition) (map[TopicPartition]error, error) {
	e, err := c.lookup(id, false)
	if err != nil {
		return nil, err
	}
	if e == nil {
		return nil, fmt.Errorf("%w: unknown transactional id %q", ErrInvalidProducerIDMapping, id)
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	if err := e.activeLocked(); err != nil {
		return nil, err
	}
	if err := checkProducerLocked(e, pid, epoch); err != nil {
		return nil, err
	}
	out := make(map[TopicPartition]error)
	for _, tp := range tps {
		if e.meta.State != Ongoing || !e.meta.has(tp) {
			out[tp] = fmt.Errorf("%w: %s-%d is not part of the open transaction", ErrInvalidTxnState, tp.Topic, tp.Partition)
		}
	}
	return out, nil
}

// EndTxn commits or aborts the id's transaction (EndTxn). It answers once
// the decision is durable; the markers are written after. Under
// transactions v2 (EndTxn v5) the epoch is bumped with every end, and the
// new producer id and epoch are returned.
func (c *Coordinator) EndTxn(id string, pid int64, epoch int16, commit, tv2 bool) (int64, int16, error) {
	e, err := c.lookup(id, false)
	if err != nil {
		return -1, -1, err
	}
	if e == nil {
		return -1, -1, fmt.Errorf("%w: unknown transactional id %q", ErrInvalidProducerIDMapping, id)
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	if err := e.activeLocked(); err != nil {
		return -1, -1, err
	}
	m := e.meta.clone()
	prepare, complete := PrepareAbort, CompleteAbort
	if commit {
		prepare, complete = PrepareCommit, CompleteCommit
	}
	if tv2 && m.ProducerID >= 0 && (pid == m.ProducerID || pid == m.PrevProducerID) && epoch == m.LastProducerEpoch {
		// A retry of an EndTxn v5 that already bumped the epoch.
		switch m.State {
		case prepare, complete:
			return m.ProducerID, m.ProducerEpoch, nil
		case Empty, Ongoing:
		default:
			return -1, -1, ErrInvalidTxnState
		}
	}
	if err := checkProducerLocked(e, pid, epoch); err != nil {
		return -1, -1, err
	}
	switch m.State {
	case Ongoing:
	case Empty, CompleteCommit, CompleteAbort:
		switch {
		case tv2 && !commit:
			// Transactions v2: an abort with nothing open still bumps
			// the epoch (the client aborts to recover after an error).
		case !tv2 && m.State == complete:
			return m.ProducerID, m.ProducerEpoch, nil // a retry
		default:
			return -1, -1, fmt.Errorf("%w: no transaction is open (%s)", ErrInvalidTxnState, m.State)
		}
	case prepare:
		return -1, -1, ErrConcurrentTransactions
	case PrepareCommit, PrepareAbort:
		if tv2 {
			// The producer already has the epoch this completion bumped
			// to: it is ending its next transaction while the markers
			// of this one are still being written. Retriable.
			return -1, -1, ErrConcurrentTransactions
		}
		return -1, -1, fmt.Errorf("%w: the transaction is %s", ErrInvalidTxnState, m.State)
	default:
		return -1, -1, fmt.Errorf("%w: the transaction is %s", ErrInvalidTxnState, m.State)
	}
	if tv2 {
		if m, err = c.bumpEpoch(m); err != nil {
			return -1, -1, err
		}
		m.ClientTV = 2
	}
	m.State = prepare
	if len(m.Partitions) == 0 {
		m.State, m.StartTime = complete, time.Time{}
	}
	if err := c.persistLocked(e, m); err != nil {
		return -1, -1, err
	}
	if m.State == prepare {
		c.startCompletionLocked(e)
	}
	return m.ProducerID, m.ProducerEpoch, nil
}

// startCompletionLocked starts writing the markers of e's prepared
// transaction unless that is under way. REQUIRES: e.mu.
func (c *Coordinator) startCompletionLocked(e *entry) {
	if e.completing || e.gone {
		return
	}
	e.completing = true
	c.wg.Add(1)
	go func() {
		defer c.wg.Done()
		c.complete(e)
	}()
}

// markerTimeout bounds one round of marker writes.
const markerTimeout = 30 * time.Second

// complete writes the markers of e's prepared transaction to every
// partition, retrying until each is written or gone, then records the
// transaction complete.
func (c *Coordinator) complete(e *entry) {
	e.mu.Lock()
	m := e.meta.clone()
	sh := e.sh
	e.mu.Unlock()
	done := func() {
		e.mu.Lock()
		e.completing = false
		e.mu.Unlock()
	}
	remaining := m.Partitions
	backoff := 20 * time.Millisecond
	for attempt := 1; len(remaining) > 0; attempt++ {
		if sh.ctx.Err() != nil {
			done()
			return
		}
		ctx, cancel := context.WithTimeout(sh.ctx, markerTimeout)
		errs := c.cfg.Markers.WriteMarkers(ctx, Markers{
			ProducerID: m.ProducerID, ProducerEpoch: m.ProducerEpoch, Commit: m.State == PrepareCommit,
			CoordinatorEpoch: sh.epoch, Partitions: remaining,
		})
		cancel()
		var next []TopicPartition
		for _, tp := range remaining {
			err, failed := errs[tp]
			switch {
			case !failed || err == nil:
			case errors.Is(err, ErrPartitionGone):
				c.lg.Info("transaction coordinator: no marker for a partition that no longer exists",
					"transactional_id", m.ID, "topic", tp.Topic, "partition", tp.Partition)
			default:
				next = append(next, tp)
				if attempt%25 == 1 {
					c.lg.Warn("transaction coordinator: writing a transaction marker failed; retrying",
						"transactional_id", m.ID, "topic", tp.Topic, "partition", tp.Partition, "attempt", attempt, "err", err)
				}
			}
		}
		remaining = next
		if len(remaining) == 0 {
			break
		}
		select {
		case <-sh.ctx.Done():
			done()
			return
		case <-time.After(backoff):
		}
		backoff = min(backoff*2, time.Second)
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	e.completing = false
	if e.gone || e.sh != sh || sh.ctx.Err() != nil || e.meta.ProducerID != m.ProducerID ||
		e.meta.ProducerEpoch != m.ProducerEpoch || e.meta.State != m.State {
		return
	}
	fin := e.meta.clone()
	fin.State, fin.Partitions, fin.StartTime = CompleteAbort, nil, time.Time{}
	if m.State == PrepareCommit {
		fin.State = CompleteCommit
	}
	c.lg.Debug("transaction coordinator: markers written", "transactional_id", m.ID, "state", fin.State, "partitions", len(m.Partitions))
	if err := c.persistLocked(e, fin); err != nil {
		// The sweep retries: the transaction stays prepared.
		c.lg.Warn("transaction coordinator: recording a completed transaction failed; will retry",
			"transactional_id", m.ID, "err", err)
	}
}

// sweepLoop aborts transactions open past their timeout, retries
// completions, and forgets expired ids.
func (c *Coordinator) sweepLoop() {
	defer c.wg.Done()
	abortT := time.NewTicker(c.cfg.AbortInterval)
	defer abortT.Stop()
	expireT := time.NewTicker(c.cfg.ExpireInterval)
	defer expireT.Stop()
	for {
		select {
		case <-c.ctx.Done():
			return
		case <-abortT.C:
			c.AbortTimedOut()
		case <-expireT.C:
			c.ExpireIDs()
		}
	}
}

// entries returns every loaded entry.
func (c *Coordinator) entries() []*entry {
	c.mu.RLock()
	defer c.mu.RUnlock()
	var out []*entry
	for _, sh := range c.shards {
		if sh == nil || sh.loading {
			continue
		}
		for _, e := range sh.txns {
			out = append(out, e)
		}
	}
	return out
}

// AbortTimedOut aborts, with a bumped epoch, every transaction open longer
// than its timeout, and restarts stalled completions. It returns how many
// transactions it aborted.
func (c *Coordinator) AbortTimedOut() int {
	now := c.now()
	n := 0
	for _, e := range c.entries() {
		e.mu.Lock()
		switch e.meta.State {
		case Ongoing:
			if !e.meta.StartTime.IsZero() && now.Sub(e.meta.StartTime) > e.meta.Timeout {
				c.lg.Info("transaction coordinator: aborting a transaction open past its timeout",
					"transactional_id", e.meta.ID, "producer_id", e.meta.ProducerID, "producer_epoch", e.meta.ProducerEpoch,
					"timeout", e.meta.Timeout, "open_for", now.Sub(e.meta.StartTime).Round(time.Millisecond))
				if err := c.fenceAbortLocked(e); err == nil {
					n++
				}
			}
		case PrepareCommit, PrepareAbort:
			c.startCompletionLocked(e)
		}
		e.mu.Unlock()
	}
	return n
}

// ExpireIDs forgets ids idle for transactional.id.expiration.ms (no open
// transaction), writing a tombstone for each. It returns how many.
func (c *Coordinator) ExpireIDs() int {
	now := c.now()
	n := 0
	for _, e := range c.entries() {
		e.mu.Lock()
		m := &e.meta
		idle := m.State == Empty || m.State == CompleteCommit || m.State == CompleteAbort
		if idle && m.ProducerID >= 0 && !e.completing && now.Sub(m.LastUpdate) >= c.cfg.IDExpiration && e.activeLocked() == nil {
			k, v := encodeMeta(m.ID, nil)
			if err := c.writeLocked(e, k, v, now); err == nil {
				e.gone = true
				c.mu.Lock()
				if e.sh.txns[m.ID] == e {
					delete(e.sh.txns, m.ID)
				}
				c.mu.Unlock()
				n++
				c.lg.Info("transaction coordinator: forgot an idle transactional id", "transactional_id", m.ID, "idle", now.Sub(m.LastUpdate).Round(time.Second))
			}
		}
		e.mu.Unlock()
	}
	return n
}

// Describe returns the state of id (DescribeTransactions).
func (c *Coordinator) Describe(id string) (Meta, error) {
	e, err := c.lookup(id, false)
	if err != nil {
		return Meta{}, err
	}
	if e == nil {
		return Meta{}, ErrUnknownID
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.gone || e.meta.ProducerID < 0 {
		return Meta{}, ErrUnknownID
	}
	return e.meta.clone(), nil
}

// CoordinatorEpoch returns the coordinator epoch this broker has for id's
// partition (for DescribeTransactions-adjacent tooling and tests).
func (c *Coordinator) CoordinatorEpoch(id string) (int32, error) {
	c.mu.RLock()
	defer c.mu.RUnlock()
	sh, err := c.shardLocked(id)
	if err != nil {
		return -1, err
	}
	return sh.epoch, nil
}

// List returns the transactions this broker coordinates that keep: ids
// never initialised are left out. loading is how many of its partitions
// are still loading (ListTransactions answers COORDINATOR_LOAD_IN_PROGRESS).
func (c *Coordinator) List(keep func(*Meta) bool) (out []Meta, loading int) {
	c.mu.RLock()
	for _, sh := range c.shards {
		if sh != nil && sh.loading {
			loading++
		}
	}
	c.mu.RUnlock()
	for _, e := range c.entries() {
		e.mu.Lock()
		if !e.gone && e.meta.ProducerID >= 0 && (keep == nil || keep(&e.meta)) {
			out = append(out, e.meta.clone())
		}
		e.mu.Unlock()
	}
	slices.SortFunc(out, func(a, b Meta) int {
		if a.ID < b.ID {
			return -1
		}
		if a.ID > b.ID {
			return 1
		}
		return 0
	})
	return out, loading
}

// Stats is a summary for metrics and the console.
type Stats struct {
	Open          int           // transactions Ongoing or being completed
	OldestOpenAge time.Duration // age of the oldest open one
	IDs           int
}

// Stats summarises the transactions this broker coordinates.
func (c *Coordinator) Stats() Stats {
	now := c.now()
	var s Stats
	for _, e := range c.entries() {
		e.mu.Lock()
		if !e.gone && e.meta.ProducerID >= 0 {
			s.IDs++
			switch e.meta.State {
			case Ongoing, PrepareCommit, PrepareAbort:
				s.Open++
				if !e.meta.StartTime.IsZero() {
					s.OldestOpenAge = max(s.OldestOpenAge, now.Sub(e.meta.StartTime))
				}
			}
		}
		e.mu.Unlock()
	}
	return s
}
