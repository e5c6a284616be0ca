package group

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"sync/atomic"
	"time"
	"unicode/utf16"

	"github.com/samsa-io/samsa/internal/partition"
)

// Partition is what the coordinator needs of a __consumer_offsets
// partition (*partition.Partition implements it).
type Partition interface {
	Append(batches []byte, now time.Time) (partition.AppendResult, error)
	// AppendCoordinator appends the transactional batches of
	// TxnOffsetCommit (a producer id and epoch, BaseSequence -1): no
	// sequence check; a stale epoch is partition.ErrInvalidEpoch.
	AppendCoordinator(batches []byte, now time.Time) (partition.AppendResult, error)
	Flush() error
	Read(offset int64, maxBytes int, minOne bool) (partition.ReadResult, error)
	LogStartOffset() int64
	HighWatermark() int64
}

// Clock is the time source; tests inject a fake one.
type Clock interface {
	Now() time.Time
	AfterFunc(d time.Duration, f func()) Timer
}

// Timer is a scheduled call, as time.AfterFunc returns.
type Timer interface{ Stop() bool }

type realClock struct{}

func (realClock) Now() time.Time                            { return time.Now() }
func (realClock) AfterFunc(d time.Duration, f func()) Timer { return time.AfterFunc(d, f) }

// Config configures a Coordinator.
type Config struct {
	// OffsetsTopic returns the partitions of __consumer_offsets, creating
	// the topic first when create is set. With create unset it returns
	// nil, nil if the topic does not exist.
	OffsetsTopic func(create bool) ([]Partition, error)
	Limits       Limits
	// OffsetsRetention is offsets.retention.minutes.
	OffsetsRetention time.Duration
	// RetentionCheckInterval is offsets.retention.check.interval.ms
	// (Kafka's default 10 minutes when zero).
	RetentionCheckInterval time.Duration
	// MaxMetadataBytes is offset.metadata.max.bytes (default 4096).
	MaxMetadataBytes int
	// Consumer configures KIP-848 consumer groups (consumer_coord.go).
	Consumer ConsumerLimits
	// Clustered: this broker coordinates only the groups of the
	// __consumer_offsets partitions it leads, loading each when it gains
	// the leadership and unloading it when it loses it (SetLeadership).
	// The coordinator of a group elsewhere answers ErrNotCoordinator.
	Clustered bool
	Clock     Clock
	Logger    *slog.Logger
}

// Coordinator is the group coordinator of one broker. See the package doc
// for who owns what.
type Coordinator struct {
	cfg   Config
	clock Clock
	lg    *slog.Logger

	ctx    context.Context // cancelled by Close; waiting requests give up
	cancel context.CancelFunc
	wg     sync.WaitGroup // the loader and the retention loop

	nextWaiter atomic.Uint64

	// ensureMu serialises the creation of __consumer_offsets (Ensure).
	ensureMu sync.Mutex

	mu struct {
		sync.RWMutex
		// parts is __consumer_offsets once it exists; nil before.
		// Invariant: loaded implies parts != nil.
		parts   []Partition
		loading bool
		loaded  bool
		// Cluster mode: which partitions this broker leads (owned) and
		// which of those are still being replayed (partLoading); both
		// indexed like parts. parts[i] is nil where not owned.
		owned       []bool
		partLoading []bool
		// groups is every group this coordinator knows. An entry is
		// removed only with its Group moved to Dead, under its own lock,
		// so a request holding a stale entry sees Dead and retries.
		groups map[string]*groupEntry
		// lateMarkers are transaction completions (CompleteTxnAt) that
		// arrived for a partition while it was being replayed; the
		// loader applies them before it installs the groups.
		lateMarkers map[int][]TxnMarker
	}

	// txn indexes the groups with transactional commits staged, by
	// producer id (txn_offsets.go). mu is a leaf: taken under a
	// groupEntry.mu or c.mu, never the other way round.
	txn struct {
		mu     sync.Mutex
		groups map[int64]map[string]struct{}
	}
}

// groupEntry is one group with its timer and waiters; mu guards all of it.
type groupEntry struct {
	mu sync.Mutex
	g  *Group
	// cg is set when the group is a KIP-848 consumer group; g is then an
	// Empty classic group that only holds the offsets (consumer_coord.go).
	cg       *ConsumerGroup
	part     Partition
	timer    Timer
	timerAt  time.Time
	waitJoin map[Waiter]chan joinOutcome
	waitSync map[Waiter]chan syncOutcome
	// pendingCommit is, per partition, the log offset of the newest
	// commit appended but not yet applied. A commit is applied to the
	// group only once durable (so OffsetFetch never shows an offset a
	// crash could take back), and only if it is still the newest: a later
	// commit or a tombstone for the partition (which deletes the entry)
	// decides instead, so commits finishing out of order cannot go back
	// in time and a deleted offset does not come back.
	pendingCommit map[TopicPartition]int64
}

type joinOutcome struct {
	JoinResult
	stored bool // the group metadata was written: flush before answering
}

type syncOutcome struct {
	SyncResult
	stored bool
}

// New returns a coordinator and, if __consumer_offsets exists, starts
// replaying it; until that finishes requests get ErrLoadInProgress.
func New(cfg Config) *Coordinator {
	if cfg.Clock == nil {
		cfg.Clock = realClock{}
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.RetentionCheckInterval <= 0 {
		cfg.RetentionCheckInterval = 10 * time.Minute
	}
	if cfg.MaxMetadataBytes <= 0 {
		cfg.MaxMetadataBytes = 4096
	}
	if cfg.Limits.MaxSize <= 0 {
		cfg.Limits.MaxSize = int(^uint32(0) >> 1)
	}
	c := &Coordinator{cfg: cfg, clock: cfg.Clock, lg: cfg.Logger}
	c.ctx, c.cancel = context.WithCancel(context.Background())
	c.mu.groups = make(map[string]*groupEntry)
	var parts []Partition
	var err error
	if !cfg.Clustered {
		parts, err = cfg.OffsetsTopic(false)
	}
	if err != nil {
		c.lg.Error("group coordinator: cannot open __consumer_offsets", "err", err)
	}
	if parts != nil {
		c.mu.parts, c.mu.loading = parts, true
		c.wg.Add(1)
		go func() {
			defer c.wg.Done()
			c.load(parts)
		}()
	}
	c.wg.Add(1)
	go c.retentionLoop()
	return c
}

// Close stops the background work and fails waiting requests. It returns
// after the coordinator's goroutines exit.
func (c *Coordinator) Close() {
	c.cancel()
	c.wg.Wait()
	c.mu.Lock()
	entries := make([]*groupEntry, 0, len(c.mu.groups))
	for _, e := range c.mu.groups {
		entries = append(entries, e)
	}
	c.mu.Unlock()
	for _, e := range entries {
		e.mu.Lock()
		if e.timer != nil {
			e.timer.Stop()
			e.timer = nil
		}
		e.mu.Unlock()
	}
}

// javaHashCode is Java's String.hashCode (over UTF-16 code units), which
// Kafka uses to place a group on a __consumer_offsets partition.
func javaHashCode(s string) int32 {
	var h int32
	for _, u := range utf16.Encode([]rune(s)) {
		h = 31*h + int32(u)
	}
	return h
}

// PartitionFor returns the __consumer_offsets partition of a group:
// Utils.abs(groupId.hashCode) % partitions, as Kafka computes it.
func PartitionFor(groupID string, partitions int) int {
	h := javaHashCode(groupID)
	if h == -1<<31 {
		h = 0
	} else if h < 0 {
		h = -h
	}
	return int(h) % partitions
}

// Ensure makes the coordinator ready to serve groups: it creates
// __consumer_offsets on first use (FindCoordinator does, as Kafka does).
// It returns ErrLoadInProgress while the topic is being replayed.
func (c *Coordinator) Ensure() error {
	c.mu.RLock()
	loaded, loading := c.mu.loaded, c.mu.loading
	c.mu.RUnlock()
	switch {
	case loaded && !c.cfg.Clustered:
		return nil
	case loading:
		return ErrLoadInProgress
	}
	// Creating the topic writes files and metadata: it runs under
	// ensureMu (one creation at a time), not c.mu, so lookups of other
	// groups are not held up behind the disk. Lock order: ensureMu ->
	// broker.adminMu (inside OffsetsTopic), then c.mu to install.
	c.ensureMu.Lock()
	defer c.ensureMu.Unlock()
	c.mu.RLock()
	loaded, loading = c.mu.loaded, c.mu.loading
	c.mu.RUnlock()
	switch {
	case loaded && !c.cfg.Clustered:
		return nil
	case loading:
		return ErrLoadInProgress
	case c.ctx.Err() != nil:
		return ErrCoordinatorNotAvailable
	}
	parts, err := c.cfg.OffsetsTopic(true)
	if err != nil {
		return fmt.Errorf("%w: create __consumer_offsets: %w", ErrCoordinatorNotAvailable, err)
	}
	if c.cfg.Clustered {
		// The partitions this broker leads arrive through SetLeadership
		// (the broker learns its roles from the metadata log).
		return nil
	}
	if len(parts) == 0 {
		return fmt.Errorf("%w: __consumer_offsets has no partitions", ErrCoordinatorNotAvailable)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.mu.loaded && !c.mu.loading {
		c.mu.parts, c.mu.loaded = parts, true
	}
	return nil
}

// lookup returns the group's entry, creating an Empty group when create
// is set. nil, nil means the group does not exist.
func (c *Coordinator) lookup(groupID string, create bool) (*groupEntry, error) {
	if groupID == "" {
		return nil, ErrInvalidGroupID
	}
	if !create {
		// Reads never create __consumer_offsets: without it there are
		// no groups.
		c.mu.RLock()
		defer c.mu.RUnlock()
		switch {
		case c.mu.loading:
			return nil, ErrLoadInProgress
		case !c.mu.loaded:
			if c.cfg.Clustered {
				return nil, ErrNotCoordinator
			}
			return nil, nil
		}
		if err := c.ownsLocked(groupID); err != nil {
			return nil, err
		}
		return c.mu.groups[groupID], nil
	}
	if err := c.Ensure(); err != nil {
		return nil, err
	}
	c.mu.RLock()
	err := c.ownsLocked(groupID)
	c.mu.RUnlock()
	if err != nil {
		return nil, err
	}
	c.mu.RLock()
	e := c.mu.groups[groupID]
	c.mu.RUnlock()
	if e != nil {
		return e, nil
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if e := c.mu.groups[groupID]; e != nil {
		return e, nil
	}
	e = c.newEntryLocked(groupID)
	return e, nil
}

// ownsLocked checks, in cluster mode, that this broker coordinates the
// group now. REQUIRES: c.mu held.
func (c *Coordinator) ownsLocked(groupID string) error {
	if !c.cfg.Clustered {
		return nil
	}
	if len(c.mu.owned) == 0 {
		return ErrNotCoordinator
	}
	i := PartitionFor(groupID, len(c.mu.owned))
	switch {
	case !c.mu.owned[i]:
		return ErrNotCoordinator
	case c.mu.partLoading[i]:
		return ErrLoadInProgress
	}
	return nil
}

// newEntryLocked adds an Empty group. REQUIRES: c.mu held for writing.
func (c *Coordinator) newEntryLocked(groupID string) *groupEntry {
	e := &groupEntry{
		g:        NewGroup(groupID, c.cfg.Limits, c.clock.Now()),
		part:     c.mu.parts[PartitionFor(groupID, len(c.mu.parts))],
		waitJoin: make(map[Waiter]chan joinOutcome),
		waitSync: make(map[Waiter]chan syncOutcome),
	}
	c.mu.groups[groupID] = e
	return e
}

// remove drops a Dead group from the table. REQUIRES: e.mu held.
func (c *Coordinator) removeLocked(e *groupEntry) {
	if e.timer != nil {
		e.timer.Stop()
		e.timer = nil
	}
	c.mu.Lock()
	if c.mu.groups[e.g.ID] == e {
		delete(c.mu.groups, e.g.ID)
	}
	c.mu.Unlock()
}

// appendLocked writes records to the group's partition. The append happens
// under the group lock so the log holds the group's records in event order;
// the caller flushes (outside the lock) before acknowledging.
func (c *Coordinator) appendLocked(e *groupEntry, kvs []BuildRecord) error {
	_, err := c.appendAtLocked(e, kvs)
	return err
}

// appendAtLocked is appendLocked returning the log offset of the first
// record written. REQUIRES: e.mu.
func (c *Coordinator) appendAtLocked(e *groupEntry, kvs []BuildRecord) (int64, error) {
	if len(kvs) == 0 {
		return -1, nil
	}
	res, err := e.part.Append(BuildBatch(c.clock.Now(), kvs), c.clock.Now())
	if err != nil {
		c.lg.Error("group coordinator: writing to __consumer_offsets failed", "group", e.g.ID, "err", err)
		return -1, fmt.Errorf("%w: write __consumer_offsets: %w", ErrCoordinatorNotAvailable, err)
	}
	return res.BaseOffset, nil
}

// notePendingLocked records a commit for tp appended at off and not yet
// durable (see groupEntry.pendingCommit). REQUIRES: e.mu.
func (e *groupEntry) notePendingLocked(tp TopicPartition, off int64) {
	if e.pendingCommit == nil {
		e.pendingCommit = make(map[TopicPartition]int64)
	}
	e.pendingCommit[tp] = off
}

// applyLocked carries out effects: writes the group metadata if asked,
// hands replies to their waiters and re-arms the timer. REQUIRES: e.mu.
func (c *Coordinator) applyLocked(e *groupEntry, eff Effects) {
	var storeErr error
	if eff.StoreGroup {
		s := e.g.Snapshot()
		k, v := EncodeGroup(e.g.ID, &s)
		storeErr = c.appendLocked(e, []BuildRecord{{Key: k, Value: v}})
	}
	for _, j := range eff.Joins {
		ch := e.waitJoin[j.Waiter]
		if ch == nil {
			continue
		}
		delete(e.waitJoin, j.Waiter)
		if storeErr != nil && j.Err == nil {
			j.Err = storeErr
		}
		ch <- joinOutcome{JoinResult: j.JoinResult, stored: eff.StoreGroup}
	}
	for _, s := range eff.Syncs {
		ch := e.waitSync[s.Waiter]
		if ch == nil {
			continue
		}
		delete(e.waitSync, s.Waiter)
		if storeErr != nil && s.Err == nil {
			s.Err = storeErr
		}
		ch <- syncOutcome{SyncResult: s.SyncResult, stored: eff.StoreGroup}
	}
	if storeErr != nil {
		// The members were told; now undo what the write promised.
		c.lg.Warn("group coordinator: storing group metadata failed; the group rebalances", "group", e.g.ID, "err", storeErr)
		c.applyLocked(e, e.g.StoreFailed(c.clock.Now()))
		return
	}
	c.armLocked(e)
}

// armLocked schedules the group's next Tick. REQUIRES: e.mu.
func (c *Coordinator) armLocked(e *groupEntry) {
	at := e.nextDeadlineLocked() // classic and consumer group deadlines
	if e.timer != nil && !at.IsZero() && !at.Before(e.timerAt) {
		// The armed timer fires no later than needed: a heartbeat only
		// pushes deadlines out, so keep it (fire re-arms) rather than
		// make a timer per heartbeat.
		return
	}
	if e.timer != nil {
		e.timer.Stop()
		e.timer = nil
	}
	e.timerAt = at
	if at.IsZero() || c.ctx.Err() != nil {
		return
	}
	e.timer = c.clock.AfterFunc(max(at.Sub(c.clock.Now()), 0), func() { c.fire(e) })
}

// fire runs the group's due deadlines. A stale timer (stopped after it
// fired) is harmless: Tick only acts on deadlines that are due.
func (c *Coordinator) fire(e *groupEntry) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.timer, e.timerAt = nil, time.Time{}
	if c.ctx.Err() != nil || e.g.State() == Dead {
		return
	}
	if e.cg != nil {
		c.consumerTickLocked(e)
	}
	c.applyLocked(e, e.g.Tick(c.clock.Now()))
}

// newMemberID makes a member id as Kafka does: the client id, a dash and
// a random UUID.
func newMemberID(clientID string) string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%s-%x-%x-%x-%x-%x", clientID, b[0:4], b[4:6], b[6:8], b[8:10], b[10:])
}

// Join starts a JoinGroup. The returned func waits for the answer (the
// end of the rebalance) or ctx; it makes any group metadata written for
// the answer durable first. NewMemberID and Waiter are filled in here.
func (c *Coordinator) Join(groupID string, r JoinRequest) func(ctx context.Context) JoinResult {
	e, err := c.lookup(groupID, r.MemberID == "")
	if err == nil && e == nil {
		err = ErrUnknownMemberID
	}
	if err != nil {
		return func(context.Context) JoinResult { return JoinResult{Err: err, MemberID: r.MemberID, Generation: -1} }
	}
	r.NewMemberID = newMemberID(r.ClientID)
	r.Waiter = Waiter(c.nextWaiter.Add(1))
	ch := make(chan joinOutcome, 1)
	e.mu.Lock()
	if err := c.dropEmptyConsumerLocked(e); err != nil {
		// A consumer (KIP-848) group with members: no migration.
		e.mu.Unlock()
		return func(context.Context) JoinResult { return JoinResult{Err: err, MemberID: r.MemberID, Generation: -1} }
	}
	e.waitJoin[r.Waiter] = ch
	c.applyLocked(e, e.g.Join(c.clock.Now(), r))
	part := e.part
	e.mu.Unlock()
	return func(ctx context.Context) JoinResult {
		select {
		case out := <-ch:
			if out.stored && out.Err == nil {
				if err := part.Flush(); err != nil {
					out.Err = fmt.Errorf("%w: %w", ErrCoordinatorNotAvailable, err)
				}
			}
			return out.JoinResult
		case <-ctx.Done():
		case <-c.ctx.Done():
		}
		e.mu.Lock()
		delete(e.waitJoin, r.Waiter)
		e.mu.Unlock()
		return JoinResult{Err: ErrCoordinatorNotAvailable, MemberID: r.MemberID, Generation: -1}
	}
}

// Sync starts a SyncGroup; the returned func waits for the leader's
// assignment (made durable before it is answered) or ctx.
func (c *Coordinator) Sync(groupID string, r SyncRequest) func(ctx context.Context) SyncResult {
	e, err := c.lookup(groupID, false)
	if err == nil && e == nil {
		err = ErrUnknownMemberID
	}
	if err != nil {
		return func(context.Context) SyncResult { return SyncResult{Err: err} }
	}
	r.Waiter = Waiter(c.nextWaiter.Add(1))
	ch := make(chan syncOutcome, 1)
	e.mu.Lock()
	e.waitSync[r.Waiter] = ch
	c.applyLocked(e, e.g.Sync(c.clock.Now(), r))
	part := e.part
	e.mu.Unlock()
	return func(ctx context.Context) SyncResult {
		select {
		case out := <-ch:
			if out.stored && out.Err == nil {
				if err := part.Flush(); err != nil {
					out.Err = fmt.Errorf("%w: %w", ErrCoordinatorNotAvailable, err)
				}
			}
			return out.SyncResult
		case <-ctx.Done():
		case <-c.ctx.Done():
		}
		e.mu.Lock()
		delete(e.waitSync, r.Waiter)
		e.mu.Unlock()
		return SyncResult{Err: ErrCoordinatorNotAvailable}
	}
}

// Heartbeat handles a Heartbeat.
func (c *Coordinator) Heartbeat(groupID, memberID, instanceID string, generation int32) error {
	e, err := c.lookup(groupID, false)
	if err != nil {
		return err
	}
	if e == nil {
		return ErrUnknownMemberID
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	err = e.g.Heartbeat(c.clock.Now(), memberID, instanceID, generation)
	c.armLocked(e)
	return err
}

// Leave removes members; errs[i] answers ms[i], and err is a group-level
// failure (loading, invalid id). The returned func makes a resulting group
// metadata write durable.
func (c *Coordinator) Leave(groupID string, ms []LeaveMember) (errs []error, wait func() error, err error) {
	wait = func() error { return nil }
	e, err := c.lookup(groupID, false)
	if err != nil {
		return nil, wait, err
	}
	if e == nil {
		// Kafka answers each member UNKNOWN_MEMBER_ID, the request NONE.
		errs = make([]error, len(ms))
		for i := range errs {
			errs[i] = ErrUnknownMemberID
		}
		return errs, wait, nil
	}
	e.mu.Lock()
	errs, eff := e.g.Leave(c.clock.Now(), ms)
	c.applyLocked(e, eff)
	part := e.part
	e.mu.Unlock()
	if eff.StoreGroup {
		wait = part.Flush
	}
	return errs, wait, nil
}

// CommitOffset is one partition of an OffsetCommit.
type CommitOffset struct {
	TP          TopicPartition
	Offset      int64
	LeaderEpoch int32
	Metadata    string
}

// CommitRequest is an OffsetCommit as the coordinator sees it (the api
// layer has already answered partitions of unknown topics).
type CommitRequest struct {
	Generation int32 // -1 for a simple commit (and OffsetCommit v0)
	MemberID   string
	InstanceID string
	// Retention is the request's retention time (v2-v4); <= 0 means
	// offsets.retention applies.
	Retention time.Duration
	Offsets   []CommitOffset
}

// Commit validates and writes commits. errs[i] answers r.Offsets[i]. The
// commits are in the log and visible to OffsetFetch on return; wait makes
// them durable, and the request must be acknowledged only after it (its
// error, if any, applies to every commit that had none).
func (c *Coordinator) Commit(groupID string, r CommitRequest) (errs []error, wait func() error) {
	errs = make([]error, len(r.Offsets))
	wait = func() error { return nil }
	all := func(err error) ([]error, func() error) {
		for i := range errs {
			errs[i] = err
		}
		return errs, wait
	}
	e, err := c.lookup(groupID, r.Generation < 0)
	if err != nil {
		return all(err)
	}
	if e == nil {
		// Kafka: a commit with a generation for a group it does not know
		// comes from a member of a group that is gone.
		return all(ErrIllegalGeneration)
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	now := c.clock.Now()
	validate := e.g.ValidateCommit
	if e.cg != nil {
		// A consumer group: the generation field is the member epoch.
		validate = func(now time.Time, epoch int32, memberID, _ string) error {
			return e.cg.ValidateCommit(now, epoch, memberID)
		}
	}
	if err := validate(now, r.Generation, r.MemberID, r.InstanceID); err != nil {
		return all(err)
	}
	var kvs []BuildRecord
	var offs []Offset
	var tps []TopicPartition
	for i, co := range r.Offsets {
		if len(co.Metadata) > c.cfg.MaxMetadataBytes {
			errs[i] = ErrOffsetMetadataTooLarge
			continue
		}
		o := Offset{Offset: co.Offset, LeaderEpoch: co.LeaderEpoch, Metadata: co.Metadata, CommitTime: now}
		if r.Retention > 0 {
			o.ExpireTime = now.Add(r.Retention)
		}
		k, v := EncodeOffset(groupID, co.TP, &o)
		kvs = append(kvs, BuildRecord{Key: k, Value: v})
		offs, tps = append(offs, o), append(tps, co.TP)
	}
	pos, err := c.appendAtLocked(e, kvs)
	if err != nil {
		for i := range errs {
			if errs[i] == nil {
				errs[i] = err
			}
		}
		return errs, wait
	}
	if len(kvs) == 0 {
		return errs, wait
	}
	for _, tp := range tps {
		e.notePendingLocked(tp, pos)
	}
	part := e.part
	// The commits become visible only once durable (Kafka applies a
	// pending commit when its append completes): see pendingCommit.
	wait = func() error {
		ferr := part.Flush()
		e.mu.Lock()
		defer e.mu.Unlock()
		for i, tp := range tps {
			if cur, ok := e.pendingCommit[tp]; !ok || cur != pos {
				continue // superseded by a later commit or a tombstone
			}
			delete(e.pendingCommit, tp)
			if cur, ok := e.g.OffsetPos(tp); ok && cur > pos+int64(i) {
				continue // a transaction's later commit completed first
			}
			if ferr == nil {
				e.g.SetOffsetAt(tp, offs[i], pos+int64(i))
			}
		}
		if ferr != nil {
			return fmt.Errorf("%w: %w", ErrCoordinatorNotAvailable, ferr)
		}
		c.armLocked(e)
		return nil
	}
	return errs, wait
}

// FetchedOffset is one partition's answer to OffsetFetch.
type FetchedOffset struct {
	TP     TopicPartition
	Offset Offset
	Found  bool // false: no commit (answered as offset -1)
	// Unstable: a transaction has a commit staged for the partition
	// (OffsetFetch v7+ with require_stable answers UNSTABLE_OFFSET_COMMIT).
	Unstable bool
}

// FetchOffsets returns the group's commits for tps, or every commit when
// all is set. A group that does not exist has no commits (no error, as
// Kafka answers).
func (c *Coordinator) FetchOffsets(groupID string, tps []TopicPartition, all bool) ([]FetchedOffset, error) {
	e, err := c.lookup(groupID, false)
	if err != nil {
		return nil, err
	}
	var out []FetchedOffset
	if e == nil {
		if all {
			return nil, nil
		}
		for _, tp := range tps {
			out = append(out, FetchedOffset{TP: tp})
		}
		return out, nil
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	if all {
		tps = e.g.OffsetPartitions()
	}
	for _, tp := range tps {
		o, ok := e.g.Offset(tp)
		out = append(out, FetchedOffset{TP: tp, Offset: o, Found: ok, Unstable: e.g.HasPendingTxnOffset(tp)})
	}
	return out, nil
}

// Listing is one group as ListGroups shows it.
type Listing struct {
	GroupID      string
	ProtocolType string
	State        State
	// Type is "classic" or "consumer" (KIP-848); StateName is the state
	// to report (the consumer group's own state names for "consumer").
	Type      string
	StateName string
}

// ListGroups returns every group, sorted by id.
func (c *Coordinator) ListGroups() ([]Listing, error) {
	c.mu.RLock()
	if c.mu.loading {
		c.mu.RUnlock()
		return nil, ErrLoadInProgress
	}
	entries := make([]*groupEntry, 0, len(c.mu.groups))
	for _, e := range c.mu.groups {
		entries = append(entries, e)
	}
	c.mu.RUnlock()
	out := make([]Listing, 0, len(entries))
	for _, e := range entries {
		e.mu.Lock()
		switch {
		case e.g.State() == Dead:
		case e.cg != nil:
			out = append(out, Listing{GroupID: e.g.ID, ProtocolType: "consumer", State: e.g.State(), Type: "consumer", StateName: e.cg.State().String()})
		default:
			out = append(out, Listing{GroupID: e.g.ID, ProtocolType: e.g.ProtocolType, State: e.g.State(), Type: "classic", StateName: e.g.State().String()})
		}
		e.mu.Unlock()
	}
	slices.SortFunc(out, func(a, b Listing) int {
		switch {
		case a.GroupID < b.GroupID:
			return -1
		case a.GroupID > b.GroupID:
			return 1
		}
		return 0
	})
	return out, nil
}

// Description is a group as DescribeGroups shows it.
type Description struct {
	State State
	// StateName overrides State's name when set (a consumer group's state).
	StateName    string
	ProtocolType string
	Protocol     string // only while Stable, as Kafka reports it
	Members      []DescribedMember
}

// DescribedMember is one member of a Description. Metadata and Assignment
// are only filled while the group is Stable (Kafka's summary does the same).
type DescribedMember struct {
	MemberID   string
	InstanceID string
	ClientID   string
	ClientHost string
	Metadata   []byte
	Assignment []byte
}

// Describe returns the group; an unknown group is Dead with nothing else.
func (c *Coordinator) Describe(groupID string) (Description, error) {
	e, err := c.lookup(groupID, false)
	if err != nil || e == nil {
		return Description{State: Dead}, err
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.cg != nil && e.g.State() != Dead {
		return c.describeConsumerLocked(e), nil
	}
	g := e.g
	d := Description{State: g.State(), ProtocolType: g.ProtocolType}
	stable := g.State() == Stable
	if stable {
		d.Protocol = g.Protocol
	}
	for _, m := range g.Members() {
		dm := DescribedMember{MemberID: m.MemberID, InstanceID: m.InstanceID, ClientID: m.ClientID, ClientHost: m.ClientHost}
		if stable {
			dm.Metadata, dm.Assignment = m.metadataFor(g.Protocol), m.Assignment
		}
		d.Members = append(d.Members, dm)
	}
	return d, nil
}

// DeleteGroup deletes an Empty group and its offsets (tombstones for every
// commit and for the group metadata), durably.
func (c *Coordinator) DeleteGroup(groupID string) error {
	e, err := c.lookup(groupID, false)
	if err != nil {
		return err
	}
	if e == nil {
		return ErrGroupIDNotFound
	}
	e.mu.Lock()
	if e.cg != nil && e.cg.NumMembers() > 0 {
		e.mu.Unlock()
		return ErrNonEmptyGroup
	}
	if err := e.g.CheckDeletable(); err != nil {
		e.mu.Unlock()
		return err
	}
	err = c.deleteLocked(e)
	part := e.part
	e.mu.Unlock()
	if err != nil {
		return err
	}
	return part.Flush()
}

// deleteLocked writes tombstones for the group and its offsets, moves it to
// Dead and drops it. REQUIRES: e.mu.
func (c *Coordinator) deleteLocked(e *groupEntry) error {
	var kvs []BuildRecord
	for _, tp := range e.g.OffsetPartitions() {
		k, _ := EncodeOffset(e.g.ID, tp, nil)
		kvs = append(kvs, BuildRecord{Key: k})
	}
	// Commits appended but not yet durable get their tombstone too, so a
	// replay does not bring them back.
	for tp := range e.pendingCommit {
		if _, applied := e.g.Offset(tp); !applied {
			k, _ := EncodeOffset(e.g.ID, tp, nil)
			kvs = append(kvs, BuildRecord{Key: k})
		}
	}
	// So do commits staged by open transactions (Kafka's
	// deleteAllOffsets): the tombstone drops them on replay too, and a
	// later marker finds nothing to complete.
	for _, tp := range e.g.pendingOnlyPartitions() {
		if _, ok := e.pendingCommit[tp]; !ok {
			k, _ := EncodeOffset(e.g.ID, tp, nil)
			kvs = append(kvs, BuildRecord{Key: k})
		}
	}
	clear(e.pendingCommit)
	k, _ := EncodeGroup(e.g.ID, nil)
	kvs = append(kvs, BuildRecord{Key: k})
	if e.cg != nil {
		kvs = append(kvs, e.cg.TombstoneRecords()...)
	}
	if err := c.appendLocked(e, kvs); err != nil {
		return err
	}
	for _, pid := range e.g.PendingTxnProducers() {
		c.forgetTxnGroup(pid, e.g.ID)
	}
	eff := e.g.MarkDead(c.clock.Now())
	c.applyLocked(e, eff)
	c.removeLocked(e)
	return nil
}

// DeleteOffsets handles OffsetDelete (KIP-496): errs[i] answers tps[i].
// Offsets of topics an active consumer subscribes to are kept
// (ErrSubscribedToTopic).
func (c *Coordinator) DeleteOffsets(groupID string, tps []TopicPartition) (errs []error, err error) {
	e, err := c.lookup(groupID, false)
	if err != nil {
		return nil, err
	}
	if e == nil {
		return nil, ErrGroupIDNotFound
	}
	e.mu.Lock()
	g := e.g
	var subscribed map[string]bool
	known := true
	switch g.State() {
	case Dead:
		e.mu.Unlock()
		return nil, ErrGroupIDNotFound
	case Empty:
		if e.cg != nil && e.cg.NumMembers() > 0 {
			subscribed = e.cg.SubscribedTopics()
		}
	default:
		if g.ProtocolType != "consumer" {
			e.mu.Unlock()
			return nil, ErrNonEmptyGroup
		}
		subscribed, known = g.SubscribedTopics()
	}
	errs = make([]error, len(tps))
	var kvs []BuildRecord
	var del []TopicPartition
	for i, tp := range tps {
		if subscribed[tp.Topic] || !known {
			errs[i] = ErrSubscribedToTopic
			continue
		}
		// A tombstone also drops a commit a transaction staged for the
		// partition (Kafka's deleteOffsets writes one for either).
		if _, ok := g.Offset(tp); ok || g.HasPendingTxnOffset(tp) {
			k, _ := EncodeOffset(groupID, tp, nil)
			kvs = append(kvs, BuildRecord{Key: k})
			del = append(del, tp)
		}
	}
	if err := c.appendLocked(e, kvs); err != nil {
		e.mu.Unlock()
		return nil, err
	}
	producers := g.PendingTxnProducers()
	for _, tp := range del {
		g.DeleteOffset(tp)
		delete(e.pendingCommit, tp) // a commit still pending is older: it must not reappear
	}
	for _, pid := range producers {
		if !g.HasPendingTxn(pid) {
			c.forgetTxnGroup(pid, groupID)
		}
	}
	part := e.part
	e.mu.Unlock()
	if len(kvs) > 0 {
		if err := part.Flush(); err != nil {
			return nil, err
		}
	}
	return errs, nil
}

// ExpireOffsets applies offsets.retention now: expired commits get
// tombstones, and Empty groups left with no commits are deleted.
func (c *Coordinator) ExpireOffsets() {
	c.mu.RLock()
	if !c.mu.loaded {
		c.mu.RUnlock()
		return
	}
	entries := make([]*groupEntry, 0, len(c.mu.groups))
	for _, e := range c.mu.groups {
		entries = append(entries, e)
	}
	c.mu.RUnlock()
	flush := make(map[Partition]bool)
	for _, e := range entries {
		e.mu.Lock()
		g := e.g
		if g.State() == Dead {
			e.mu.Unlock()
			continue
		}
		now := c.clock.Now()
		tps := g.ExpiredOffsets(now, c.cfg.OffsetsRetention)
		var kvs []BuildRecord
		for _, tp := range tps {
			k, _ := EncodeOffset(g.ID, tp, nil)
			kvs = append(kvs, BuildRecord{Key: k})
		}
		if err := c.appendLocked(e, kvs); err == nil {
			for _, tp := range tps {
				g.DeleteOffset(tp)
				delete(e.pendingCommit, tp)
			}
			if len(tps) > 0 {
				flush[e.part] = true
				c.lg.Info("expired committed offsets", "group", g.ID, "partitions", len(tps))
			}
			// A group with an open transaction's commits staged stays
			// (Kafka keeps it until the transaction ends).
			if g.State() == Empty && g.NumOffsets() == 0 && len(g.pending) == 0 && len(e.pendingCommit) == 0 &&
				!g.HasPendingTxn(-1) && (e.cg == nil || e.cg.NumMembers() == 0) {
				if err := c.deleteLocked(e); err == nil {
					flush[e.part] = true
				}
			}
		}
		e.mu.Unlock()
	}
	for p := range flush {
		if err := p.Flush(); err != nil {
			c.lg.Error("group coordinator: flushing expired offsets failed", "err", err)
		}
	}
}

func (c *Coordinator) retentionLoop() {
	defer c.wg.Done()
	t := time.NewTicker(c.cfg.RetentionCheckInterval)
	defer t.Stop()
	for {
		select {
		case <-c.ctx.Done():
			return
		case <-t.C:
			c.ExpireOffsets()
		}
	}
}

// loadedGroup is a group's state while replaying: its metadata, and a
// scratch Group holding its committed and staged offsets.
type loadedGroup struct {
	snapshot *Snapshot
	offs     *Group
}

// empty reports whether nothing of the group is left to install.
func (lg *loadedGroup) empty() bool {
	return lg.snapshot == nil && lg.offs.NumOffsets() == 0 && !lg.offs.HasPendingTxn(-1)
}

// load replays every __consumer_offsets partition and installs the groups
// it finds. Bad records are skipped with a warning; a partition that cannot
// be read fails the attempt, which is retried with backoff while requests
// get ErrLoadInProgress: groups are never served without their commits.
func (c *Coordinator) load(parts []Partition) {
	backoff := loadRetryBackoff
	for attempt := 1; ; attempt++ {
		err := c.loadOnce(parts)
		if err == nil || c.ctx.Err() != nil {
			return
		}
		// Marking the groups loaded without their commits would make
		// every consumer reset its position: keep answering
		// COORDINATOR_LOAD_IN_PROGRESS (clients retry) and try again.
		c.lg.Error("group coordinator: loading __consumer_offsets failed; group requests get COORDINATOR_LOAD_IN_PROGRESS until a retry succeeds (check the broker's disk and log)",
			"attempt", attempt, "retry_in", backoff, "err", err)
		select {
		case <-c.ctx.Done():
			return
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, maxLoadRetryBackoff)
	}
}

// loadRetryBackoff and maxLoadRetryBackoff bound the retries of a failed
// load (doubling in between).
const (
	loadRetryBackoff    = 100 * time.Millisecond
	maxLoadRetryBackoff = 10 * time.Second
)

// loadOnce replays every partition and, only if all could be read, installs
// the groups and marks the coordinator loaded.
func (c *Coordinator) loadOnce(parts []Partition) error {
	idx := make([]int, len(parts))
	for i := range parts {
		idx[i] = i
	}
	return c.loadPartitions(parts, idx, nil)
}

// loadPartitions replays parts[i] for each i in idx and installs the groups
// found. still (cluster mode) reports whether the replay is still wanted
// (this broker still leads the partition) when it is time to install.
func (c *Coordinator) loadPartitions(parts []Partition, idx []int, still func() bool) error {
	start := time.Now()
	found := make(map[string]*loadedGroup)
	get := func(id string) *loadedGroup {
		lg := found[id]
		if lg == nil {
			lg = &loadedGroup{offs: NewGroup(id, c.cfg.Limits, time.Time{})}
			found[id] = lg
		}
		return lg
	}
	// txns tracks the open transactions of the partition being replayed:
	// a marker ends its producer's transaction in that partition only.
	var txns *txnReplay
	apply := func(r StoredRecord) {
		switch {
		case r.IsOffset && r.Offset != nil && r.ProducerID >= 0:
			// A TxnOffsetCommit: staged until its transaction's marker.
			get(r.Group).offs.AddTxnOffset(r.ProducerID, r.TP, *r.Offset, r.LogOffset)
			txns.stage(r.ProducerID, r.Group)
		case r.IsOffset && r.Offset != nil:
			get(r.Group).offs.SetOffsetAt(r.TP, *r.Offset, r.LogOffset)
		case r.IsOffset:
			if lg := found[r.Group]; lg != nil {
				lg.offs.DeleteOffset(r.TP) // staged commits too, as Kafka's replay
			}
		case r.Snapshot != nil:
			get(r.Group).snapshot = r.Snapshot
		default:
			// A group tombstone: the group was deleted (its offsets have
			// their own tombstones before it).
			if lg := found[r.Group]; lg != nil {
				lg.snapshot = nil
				if lg.empty() {
					delete(found, r.Group)
				}
			}
		}
	}
	marker := func(m TxnMarker) { txns.complete(m, found) }
	warned := 0
	warn := func(err error) {
		if warned < 100 {
			c.lg.Warn("group coordinator: skipping a bad __consumer_offsets record", "err", err)
		}
		warned++
	}
	consumers := newConsumerLoader(c.consumerLimits())
	for _, i := range idx {
		if c.ctx.Err() != nil {
			return c.ctx.Err()
		}
		txns = &txnReplay{}
		if err := replayPartition(parts[i], apply, consumers.apply, marker, warn); err != nil {
			return fmt.Errorf("replay __consumer_offsets-%d: %w", i, err)
		}
	}
	now := c.clock.Now()
	cgs := consumers.finish(now)
	var entries []*groupEntry
	c.mu.Lock()
	if still != nil && !still() {
		c.mu.Unlock()
		return nil // lost the partition meanwhile: nothing to install
	}
	// Markers the transaction coordinator completed while we replayed
	// (CompleteTxnAt): the replay may have stopped short of them. Applying
	// one the replay already saw changes nothing.
	for _, i := range idx {
		for _, m := range c.mu.lateMarkers[i] {
			for id, lg := range found {
				if PartitionFor(id, len(parts)) == i {
					lg.offs.CompleteTxn(m.ProducerID, m.Commit, m.LogOffset)
				}
			}
		}
		delete(c.mu.lateMarkers, i)
	}
	for id, cg := range cgs {
		// A consumer group's offsets are in found; its classic metadata
		// (if any survived a conversion) is ignored.
		e := c.newEntryLocked(id)
		e.cg = cg
		if lg := found[id]; lg != nil {
			e.g.adoptOffsets(lg.offs)
			delete(found, id)
		}
		entries = append(entries, e)
	}
	for id, lg := range found {
		if lg.empty() {
			continue
		}
		// Nobody else touches e yet: requests get ErrLoadInProgress
		// until loaded is set below.
		e := c.newEntryLocked(id)
		if lg.snapshot != nil {
			e.g.Restore(*lg.snapshot, now)
		}
		e.g.adoptOffsets(lg.offs)
		entries = append(entries, e)
	}
	// Transactions still open at the end of the log keep their commits
	// staged; index them (under c.mu, before the groups are served) so
	// their markers find them.
	for _, e := range entries {
		for _, pid := range e.g.PendingTxnProducers() {
			c.noteTxnGroup(pid, e.g.ID)
		}
	}
	if still == nil {
		c.mu.loading, c.mu.loaded = false, true
	} else {
		for _, i := range idx {
			c.mu.partLoading[i] = false
		}
	}
	c.mu.Unlock()
	// Session timers of the restored members start now (lock order:
	// groupEntry.mu before Coordinator.mu, so not under c.mu).
	for _, e := range entries {
		e.mu.Lock()
		c.armLocked(e)
		e.mu.Unlock()
	}
	c.lg.Info("group coordinator loaded __consumer_offsets", "partitions", idx, "groups", len(found), "skipped_records", warned, "took", time.Since(start))
	return nil
}

// SetLeadership tells a clustered coordinator that this broker now leads
// (or no longer leads) __consumer_offsets partition i of n. On gaining it
// the partition's groups are replayed (requests for them get
// ErrLoadInProgress meanwhile); on losing it they are dropped from memory:
// the new leader replays them from the replicated log, so no committed
// offset is lost. p is the partition, writes to which are acknowledged
// once replicated (its Flush waits for the high watermark).
func (c *Coordinator) SetLeadership(i, n int, p Partition, leading bool) {
	c.mu.Lock()
	if len(c.mu.owned) != n {
		c.mu.parts = make([]Partition, n)
		c.mu.owned = make([]bool, n)
		c.mu.partLoading = make([]bool, n)
	}
	c.mu.loaded = true
	if leading == c.mu.owned[i] && (!leading || c.mu.parts[i] == p) {
		c.mu.Unlock()
		return
	}
	var drop []*groupEntry
	if !leading || c.mu.owned[i] {
		for id, e := range c.mu.groups {
			if PartitionFor(id, n) == i {
				drop = append(drop, e)
				delete(c.mu.groups, id)
			}
		}
	}
	c.mu.owned[i] = leading
	delete(c.mu.lateMarkers, i) // they were for the previous load of i
	if leading {
		c.mu.parts[i], c.mu.partLoading[i] = p, true
	} else {
		c.mu.parts[i], c.mu.partLoading[i] = nil, false
	}
	parts := slices.Clone(c.mu.parts)
	c.mu.Unlock()
	for _, e := range drop {
		e.mu.Lock()
		if e.timer != nil {
			e.timer.Stop()
			e.timer = nil
		}
		// Dead: requests holding the entry see it and retry; members
		// waiting in JoinGroup/SyncGroup are answered now (clients then
		// find the new coordinator) instead of at their timeout.
		c.answerLocked(e, e.g.MarkDead(c.clock.Now()))
		e.mu.Unlock()
	}
	if len(drop) > 0 {
		c.lg.Info("group coordinator: no longer leads __consumer_offsets partition; its groups moved", "partition", i, "groups", len(drop))
	}
	if !leading {
		return
	}
	c.wg.Add(1)
	go func() {
		defer c.wg.Done()
		still := func() bool { return c.mu.owned[i] && c.mu.parts[i] == p } // called under c.mu
		// The new leader's HW lags the old one's by a fetch round: records
		// the old coordinator acknowledged may sit above it in our log.
		// Replay only once the HW covers our log end as of now, as Kafka
		// loads a coordinator partition to its end.
		if end, ok := p.(interface{ LogEndOffset() int64 }); ok {
			target := end.LogEndOffset()
			for p.HighWatermark() < target {
				c.mu.RLock()
				ok := still()
				c.mu.RUnlock()
				if !ok || c.ctx.Err() != nil {
					return
				}
				time.Sleep(10 * time.Millisecond)
			}
		}
		backoff := loadRetryBackoff
		for {
			err := c.loadPartitions(parts, []int{i}, still)
			if err == nil || c.ctx.Err() != nil {
				return
			}
			c.mu.RLock()
			ok := still()
			c.mu.RUnlock()
			if !ok {
				return
			}
			c.lg.Error("group coordinator: loading a __consumer_offsets partition failed; retrying", "partition", i, "retry_in", backoff, "err", err)
			select {
			case <-c.ctx.Done():
				return
			case <-time.After(backoff):
			}
			backoff = min(2*backoff, maxLoadRetryBackoff)
		}
	}()
}

// answerLocked delivers eff's join and sync answers to their waiters,
// writing nothing (the group is leaving this coordinator). REQUIRES: e.mu.
func (c *Coordinator) answerLocked(e *groupEntry, eff Effects) {
	for _, j := range eff.Joins {
		if ch := e.waitJoin[j.Waiter]; ch != nil {
			delete(e.waitJoin, j.Waiter)
			ch <- joinOutcome{JoinResult: j.JoinResult}
		}
	}
	for _, s := range eff.Syncs {
		if ch := e.waitSync[s.Waiter]; ch != nil {
			delete(e.waitSync, s.Waiter)
			ch <- syncOutcome{SyncResult: s.SyncResult}
		}
	}
}

// Coordinates reports, in cluster mode, whether this broker coordinates
// groupID now (always true on a single broker).
func (c *Coordinator) Coordinates(groupID string) bool {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return c.ownsLocked(groupID) == nil
}

// replayPartition reads p from its start to its high watermark.
func replayPartition(p Partition, fn func(StoredRecord), cfn func(ConsumerRecord), mfn func(TxnMarker), warn func(error)) error {
	off := p.LogStartOffset()
	for off < p.HighWatermark() {
		res, err := p.Read(off, 1<<20, true)
		if err != nil {
			if errors.Is(err, partition.ErrOffsetOutOfRange) && res.LogStartOffset > off {
				off = res.LogStartOffset // retention moved the start meanwhile
				continue
			}
			return err
		}
		if len(res.Records) == 0 {
			return nil
		}
		next, err := DecodeBatches(res.Records, fn, cfn, mfn, warn)
		if next <= off {
			if err != nil {
				return err
			}
			return fmt.Errorf("no progress reading at offset %d", off)
		}
		if err != nil {
			warn(err)
		}
		off = next
	}
	return nil
}
