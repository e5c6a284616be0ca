package partition

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/samsa-io/samsa/internal/log"
	"github.com/samsa-io/samsa/internal/record"
)

// Replication (cluster mode). A partition replica in a cluster is either
// the leader or a follower, as the controller's latest partition state says
// (SetRole).
//
// The leader appends produced batches, and followers fetch them with the
// Kafka Fetch protocol. A follower fsyncs what it fetched before its next
// fetch, so the offset a fetch reports (UpdateFollower) is on the
// follower's disk. The leader's high watermark is the minimum of its own
// durable offset and the fetch offsets of the other in-sync replicas: a
// record below it is on disk on every ISR member ("acknowledged means
// fsynced on every in-sync replica"). The HW never moves back while this
// replica leads.
//
// The ISR used for the HW is the maximal one while a change is in flight
// (Kafka's rule): an expansion counts the joining replica at once, a shrink
// keeps the leaving one until the controller has committed it. So the HW
// never passes a record some replica of the ISR the controller knows lacks.

var (
	// ErrNotLeader: this replica does not lead the partition (any more).
	ErrNotLeader = errors.New("partition: this broker is not the leader")
	// ErrFencedEpoch: a request named an older leader epoch than ours.
	ErrFencedEpoch = errors.New("partition: leader epoch is stale")
)

// Role is this replica's place in the partition, from the controller.
type Role struct {
	Leader         int32 // the leader's broker id, -1 offline
	LeaderEpoch    int32
	PartitionEpoch int32
	Replicas       []int32
	ISR            []int32
}

// follower is the leader's view of one other replica.
type follower struct {
	fetchOffset  int64     // its log end offset as of its last fetch, -1 unknown
	lastFetch    time.Time // when it last fetched
	lastFetchLEO int64     // our log end offset at its last fetch
	lastCaughtUp time.Time // Kafka's lastCaughtUpTimeMs (see UpdateFollower)
}

// replication is the partition's cluster state; guarded by Partition.roleMu.
type replication struct {
	self      int32
	role      Role
	leader    bool
	followers map[int32]*follower
	// pendingISR is an ISR change sent to the controller and not yet
	// seen committed; nil when none.
	pendingISR []int32
}

// Clustered reports whether the partition replicates (its state comes from
// a controller), rather than being the single broker's own.
func (p *Partition) Clustered() bool { return p.repl != nil }

// EnableReplication makes the partition a cluster replica of broker self.
// Until SetRole names it leader, it is a follower of nobody: it refuses
// produce and consumer fetches. Call once, before the partition is shared.
//
// The high watermark restarts at the checkpointed one (CheckpointHW), not at
// the log end: records past it may never have been committed, and a
// consumer must not see them before a leader commits them.
func (p *Partition) EnableReplication(self int32) error {
	if err := p.loadEpochs(); err != nil {
		return fmt.Errorf("partition %s-%d: leader epochs: %w", p.Topic, p.Index, err)
	}
	p.leadEpoch.Store(-1)
	p.repl = &replication{self: self, followers: map[int32]*follower{}, role: Role{Leader: -1, LeaderEpoch: -1}}
	hw, ok := p.log.HighWatermarkCheckpoint()
	if !ok {
		hw = p.log.LogStartOffset()
	}
	hw = min(max(hw, p.log.LogStartOffset()), p.log.LogEndOffset())
	p.highWatermark.Store(hw)
	p.lastHWCheckpoint.Store(hw)
	return nil
}

// CheckpointHW persists the high watermark if it moved since the last
// checkpoint (the broker calls it every few seconds).
func (p *Partition) CheckpointHW() error {
	if p.repl == nil || p.closed.Load() {
		return nil
	}
	hw := p.highWatermark.Load()
	if hw == p.lastHWCheckpoint.Load() {
		return nil
	}
	if err := p.log.CheckpointHighWatermark(hw); err != nil {
		return err
	}
	p.lastHWCheckpoint.Store(hw)
	return nil
}

// SetRole applies the controller's state for the partition. It returns
// whether this replica became leader or follower by this change (a new
// leader epoch counts as a change), so the broker can start or stop
// fetching.
func (p *Partition) SetRole(r Role) (becameLeader, becameFollower bool, err error) {
	p.roleMu.Lock()
	defer p.roleMu.Unlock()
	rp := p.repl
	old := rp.role
	if r.LeaderEpoch < old.LeaderEpoch || (r.LeaderEpoch == old.LeaderEpoch && r.PartitionEpoch < old.PartitionEpoch) {
		return false, false, nil // older than what we have
	}
	rp.role = Role{Leader: r.Leader, LeaderEpoch: r.LeaderEpoch, PartitionEpoch: r.PartitionEpoch,
		Replicas: slices.Clone(r.Replicas), ISR: slices.Clone(r.ISR)}
	if rp.pendingISR != nil && r.PartitionEpoch > old.PartitionEpoch {
		rp.pendingISR = nil // the controller decided; whatever it was
	}
	newEpoch := r.LeaderEpoch != old.LeaderEpoch
	wasLeader := rp.leader
	rp.leader = r.Leader == rp.self
	p.mu.Lock()
	p.leaderEpoch.Store(r.LeaderEpoch)
	if rp.leader {
		p.leadEpoch.Store(r.LeaderEpoch)
	} else {
		p.leadEpoch.Store(-1)
	}
	syncOnAck := p.cfg.SyncOnAck
	p.mu.Unlock()
	switch {
	case rp.leader && (newEpoch || !wasLeader):
		// A new leader epoch starts at our log end (Kafka's
		// epoch-start-offset): followers truncate to it if they
		// diverge.
		if err := p.assignEpoch(r.LeaderEpoch, p.log.LogEndOffset()); err != nil {
			return false, false, err
		}
		now := time.Now()
		rp.followers = map[int32]*follower{}
		for _, id := range r.Replicas {
			if id != rp.self {
				// A fresh lastCaughtUp: a follower gets a full
				// replica.lag.time.max.ms to fetch from the new leader.
				rp.followers[id] = &follower{fetchOffset: -1, lastCaughtUp: now, lastFetch: now, lastFetchLEO: -1}
			}
		}
		becameLeader = true
	case rp.leader:
		for _, id := range r.Replicas {
			if _, ok := rp.followers[id]; !ok && id != rp.self {
				now := time.Now()
				rp.followers[id] = &follower{fetchOffset: -1, lastCaughtUp: now, lastFetch: now, lastFetchLEO: -1}
			}
		}
	case !rp.leader && (newEpoch || wasLeader):
		becameFollower = true
	}
	if rp.leader {
		p.recomputeHWLocked(syncOnAck)
	}
	p.notify() // produce waiters re-check their leadership
	return becameLeader, becameFollower, nil
}

// Role returns the replica's current role and whether it leads.
func (p *Partition) Role() (Role, bool) {
	if p.repl == nil {
		return Role{}, true
	}
	p.roleMu.Lock()
	defer p.roleMu.Unlock()
	r := p.repl.role
	r.Replicas, r.ISR = slices.Clone(r.Replicas), slices.Clone(r.ISR)
	return r, p.repl.leader
}

// IsLeader reports whether this replica leads (always on a single broker).
func (p *Partition) IsLeader() bool {
	if p.repl == nil {
		return true
	}
	p.roleMu.Lock()
	defer p.roleMu.Unlock()
	return p.repl.leader
}

// ISRSize returns the size of the committed ISR (1 on a single broker), for
// min.insync.replicas.
func (p *Partition) ISRSize() int {
	if p.repl == nil {
		return 1
	}
	p.roleMu.Lock()
	defer p.roleMu.Unlock()
	return len(p.repl.role.ISR)
}

// hwISRLocked is the ISR the high watermark waits for: the committed one
// plus any member a pending change adds. REQUIRES: roleMu.
func (rp *replication) hwISRLocked() []int32 {
	isr := slices.Clone(rp.role.ISR)
	for _, id := range rp.pendingISR {
		if !slices.Contains(isr, id) {
			isr = append(isr, id)
		}
	}
	return isr
}

// recomputeHWLocked moves the leader's HW to the minimum over the ISR of
// durable offsets. REQUIRES: roleMu held, this replica leads.
func (p *Partition) recomputeHWLocked(syncOnAck bool) {
	rp := p.repl
	hw := p.log.FlushedOffset()
	if !syncOnAck {
		hw = p.log.LogEndOffset()
	}
	for _, id := range rp.hwISRLocked() {
		if id == rp.self {
			continue
		}
		f, ok := rp.followers[id]
		if !ok || f.fetchOffset < 0 {
			// Not heard from since we lead: it may lack anything
			// past the HW we inherited, so the HW waits.
			return
		}
		hw = min(hw, f.fetchOffset)
	}
	p.advanceHighWatermark(hw)
}

// UpdateFollower records a follower's fetch at fetchOffset (everything
// below it is on the follower's disk) and returns the ISR the leader should
// propose to the controller, or nil for no change: a follower out of the
// ISR that reached the HW joins (Kafka: its LEO is at least the HW and at
// least the start of the current leader epoch).
func (p *Partition) UpdateFollower(id int32, fetchOffset int64, now time.Time) (proposeISR []int32, err error) {
	if p.repl == nil {
		return nil, ErrNotLeader
	}
	p.roleMu.Lock()
	defer p.roleMu.Unlock()
	rp := p.repl
	if !rp.leader {
		return nil, ErrNotLeader
	}
	f, ok := rp.followers[id]
	if !ok {
		return nil, fmt.Errorf("%w: broker %d is not a replica of %s-%d", ErrNotLeader, id, p.Topic, p.Index)
	}
	leo := p.log.LogEndOffset()
	if fetchOffset > leo {
		return nil, fmt.Errorf("%w: replica fetch at %d past the log end %d", ErrOffsetOutOfRange, fetchOffset, leo)
	}
	// Kafka's rule: a fetch at our current end means caught up now; a
	// fetch at least at our end as of its previous fetch means it was
	// caught up then. Under steady production the first never holds.
	switch {
	case fetchOffset >= leo:
		f.lastCaughtUp = now
	case fetchOffset >= f.lastFetchLEO && f.lastFetchLEO >= 0 && f.lastFetch.After(f.lastCaughtUp):
		f.lastCaughtUp = f.lastFetch
	}
	f.fetchOffset, f.lastFetch, f.lastFetchLEO = fetchOffset, now, leo
	p.mu.Lock()
	syncOnAck := p.cfg.SyncOnAck
	p.mu.Unlock()
	p.recomputeHWLocked(syncOnAck)
	if rp.pendingISR == nil && !slices.Contains(rp.role.ISR, id) && slices.Contains(rp.role.Replicas, id) &&
		fetchOffset >= p.highWatermark.Load() && fetchOffset >= p.epochStart(rp.role.LeaderEpoch) {
		proposed := append(slices.Clone(rp.role.ISR), id)
		rp.pendingISR = proposed
		return proposed, nil
	}
	return nil, nil
}

// ShrinkISR returns the ISR without the followers that have not caught up
// for lagMax (replica.lag.time.max.ms), or nil when all keep up or a change
// is already in flight.
func (p *Partition) ShrinkISR(now time.Time, lagMax time.Duration) []int32 {
	if p.repl == nil {
		return nil
	}
	p.roleMu.Lock()
	defer p.roleMu.Unlock()
	rp := p.repl
	if !rp.leader || rp.pendingISR != nil {
		return nil
	}
	var keep []int32
	for _, id := range rp.role.ISR {
		if f, ok := rp.followers[id]; ok && id != rp.self && now.Sub(f.lastCaughtUp) > lagMax {
			continue
		}
		keep = append(keep, id)
	}
	if len(keep) == len(rp.role.ISR) || len(keep) == 0 {
		return nil
	}
	rp.pendingISR = keep
	return keep
}

// ISRChangeFailed forgets an ISR change the controller refused or never
// answered, so the next fetch or check may propose again.
func (p *Partition) ISRChangeFailed() {
	p.roleMu.Lock()
	defer p.roleMu.Unlock()
	if p.repl != nil {
		p.repl.pendingISR = nil
	}
}

// FollowerLag returns, for metrics, how far each follower's last fetch is
// behind the log end.
func (p *Partition) FollowerLag() map[int32]int64 {
	if p.repl == nil {
		return nil
	}
	p.roleMu.Lock()
	defer p.roleMu.Unlock()
	out := map[int32]int64{}
	leo := p.log.LogEndOffset()
	for id, f := range p.repl.followers {
		if f.fetchOffset >= 0 {
			out[id] = leo - f.fetchOffset
		} else {
			out[id] = -1
		}
	}
	return out
}

// WaitCommitted waits until the HW reaches offset (acks=all) while this
// replica leads in epoch, the epoch the records were appended in. The
// leadership is checked before the HW: once the replica follows, its HW
// is the new leader's and says nothing about records it may have
// truncated away. Returns ErrNotLeader once the replica stops leading
// epoch, or ctx's error.
func (p *Partition) WaitCommitted(ctx context.Context, offset int64, epoch int32) error {
	ch := make(chan struct{}, 1)
	cancel := p.Watch(ch)
	defer cancel()
	for {
		if p.closed.Load() {
			return ErrClosed
		}
		p.roleMu.Lock()
		leads := p.repl != nil && p.repl.leader && p.repl.role.LeaderEpoch == epoch
		done := leads && p.highWatermark.Load() >= offset
		p.roleMu.Unlock()
		if done {
			return nil
		}
		if !leads {
			return ErrNotLeader
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// ReadReplica serves a follower's fetch: batches from offset up to the log
// end (not the HW: the follower must copy what the HW waits for), at most
// maxBytes (one whole batch at least).
func (p *Partition) ReadReplica(offset int64, maxBytes int) (ReadResult, error) {
	return p.readReplica(offset, maxBytes, false)
}

// ReadReplicaRegion is ReadReplica answering with a log.Region (sent from
// the file, as a consumer's fetch is) instead of the bytes.
func (p *Partition) ReadReplicaRegion(offset int64, maxBytes int) (ReadResult, error) {
	return p.readReplica(offset, maxBytes, true)
}

func (p *Partition) readReplica(offset int64, maxBytes int, region bool) (ReadResult, error) {
	if p.closed.Load() {
		return ReadResult{}, ErrClosed
	}
	res := ReadResult{HighWatermark: p.highWatermark.Load(), LogStartOffset: p.log.LogStartOffset()}
	res.LastStableOffset = p.lsoAt(res.HighWatermark, res.LogStartOffset)
	leo := p.log.LogEndOffset()
	if offset < res.LogStartOffset || offset > leo {
		return res, fmt.Errorf("%w: offset %d not in [%d, %d]", ErrOffsetOutOfRange, offset, res.LogStartOffset, leo)
	}
	if offset == leo {
		return res, nil
	}
	if region {
		r, err := p.log.ReadRegion(offset, leo, maxBytes, true)
		if err != nil {
			if errors.Is(err, log.ErrClosed) {
				return res, ErrClosed
			}
			return res, err
		}
		res.Region = r
		return res, nil
	}
	b, err := p.log.Read(offset, leo, maxBytes, true)
	if err != nil {
		if errors.Is(err, log.ErrClosed) {
			return res, ErrClosed
		}
		return res, err
	}
	res.Records = b
	return res, nil
}

// AppendReplica appends batches fetched from the leader, at their offsets
// (they must start at our log end), and updates the producer state and the
// leader-epoch cache from their headers. The caller flushes before it
// fetches again.
func (p *Partition) AppendReplica(batches []byte, epoch int32) error {
	if p.closed.Load() {
		return ErrClosed
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if err := p.followsLocked(epoch); err != nil {
		return err
	}
	// Check framing and CRCs before anything is written: a follower never
	// copies a damaged batch onto its disk.
	if err := record.Split(batches, func(h record.BatchHeader, b []byte) error {
		_, err := record.Validate(b)
		return err
	}); err != nil {
		return err
	}
	if _, err := p.log.AppendAt(batches); err != nil {
		return err
	}
	// Producer and transaction state as the leader had it: the same
	// open transactions, LSO and aborted index (txn.go). Published before
	// the caller flushes, so before the follower's HW can pass them.
	var firstErr error
	_ = record.Split(batches, func(h record.BatchHeader, b []byte) error {
		var control []byte
		if h.Control() {
			control = b
		}
		if err := p.replayLocked(h, control); err != nil && firstErr == nil {
			firstErr = err
		}
		if err := p.assignEpoch(h.PartitionLeaderEpoch, h.BaseOffset); err != nil && firstErr == nil {
			firstErr = err
		}
		return nil
	})
	if p.producers.txnChanged {
		p.publishTxnsLocked(p.highWatermark.Load())
	}
	return firstErr
}

// followsLocked checks that this replica still follows in epoch: a fetch
// round started under an older leader must not write into it.
// REQUIRES: p.mu held.
func (p *Partition) followsLocked(epoch int32) error {
	if p.repl == nil || p.leadEpoch.Load() != -1 || p.leaderEpoch.Load() != epoch {
		return fmt.Errorf("%w: %s-%d no longer follows in leader epoch %d", ErrFencedEpoch, p.Topic, p.Index, epoch)
	}
	return nil
}

// TruncateAsFollower is TruncateTo for a follower of epoch: refused if the
// replica no longer follows in that epoch.
func (p *Partition) TruncateAsFollower(offset int64, epoch int32) error {
	p.mu.Lock()
	err := p.followsLocked(epoch)
	p.mu.Unlock()
	if err != nil {
		return err
	}
	return p.TruncateTo(offset)
}

// SetFollowerHW moves a follower's HW to the leader's, bounded by what
// this replica has durably (the follower flushed before fetching).
func (p *Partition) SetFollowerHW(leaderHW int64, epoch int32) {
	p.mu.Lock()
	err := p.followsLocked(epoch)
	p.mu.Unlock()
	if err != nil {
		return
	}
	hw := min(leaderHW, p.log.FlushedOffset())
	if hw > p.highWatermark.Load() {
		p.advanceHighWatermark(hw)
	}
}

// FlushReplica fsyncs a follower's log (no HW change: a follower's HW
// comes from its leader).
func (p *Partition) FlushReplica() error {
	_, err := p.log.Flush()
	return err
}

// TruncateFullyAndStartAt empties the replica's log and restarts it at
// offset (the leader's log start moved past our log end).
func (p *Partition) TruncateFullyAndStartAt(offset int64, epoch int32) error {
	p.snapMu.Lock()
	defer p.snapMu.Unlock()
	p.mu.Lock()
	defer p.mu.Unlock()
	if err := p.followsLocked(epoch); err != nil {
		return err
	}
	if err := p.log.TruncateFullyAndStartAt(offset); err != nil {
		return err
	}
	p.highWatermark.Store(offset)
	p.epochsTruncateFromEnd(0)
	return p.loadProducerStateLocked()
}

// EndOffsetForEpoch answers OffsetForLeaderEpoch from the leader-epoch
// cache: the largest epoch <= requested and the offset where the next one
// starts (the log end for the latest epoch); (-1, -1) when unknown.
func (p *Partition) EndOffsetForEpoch(requested int32) (epoch int32, endOffset int64) {
	p.epochMu.Lock()
	defer p.epochMu.Unlock()
	if p.epochs == nil {
		return -1, -1
	}
	return p.epochs.endOffsetFor(requested, p.log.LogEndOffset())
}

// LatestEpoch returns the newest epoch in the leader-epoch cache, -1 if
// empty.
func (p *Partition) LatestEpoch() int32 {
	p.epochMu.Lock()
	defer p.epochMu.Unlock()
	if p.epochs == nil {
		return -1
	}
	if e, ok := p.epochs.latest(); ok {
		return e.Epoch
	}
	return -1
}

// epochStart returns where epoch starts in this log (its cache entry), or
// the log end offset when the cache lacks it.
func (p *Partition) epochStart(epoch int32) int64 {
	p.epochMu.Lock()
	defer p.epochMu.Unlock()
	if p.epochs == nil {
		return p.log.LogEndOffset()
	}
	for _, e := range p.epochs.entriesCopy() {
		if e.Epoch == epoch {
			return e.StartOffset
		}
	}
	return p.log.LogEndOffset()
}

// assignEpoch records that epoch starts at offset, persisting the cache
// when it changed.
func (p *Partition) assignEpoch(epoch int32, offset int64) error {
	if epoch < 0 {
		return nil
	}
	p.epochMu.Lock()
	defer p.epochMu.Unlock()
	if p.epochs == nil {
		return nil // a single broker's partition keeps no epoch cache
	}
	if !p.epochs.assign(epoch, offset) {
		return nil
	}
	return p.epochs.write()
}

func (p *Partition) epochsTruncateFromEnd(offset int64) {
	p.epochMu.Lock()
	defer p.epochMu.Unlock()
	if p.epochs != nil && p.epochs.truncateFromEnd(offset) {
		if err := p.epochs.write(); err != nil {
			p.lg.Warn("writing the leader-epoch checkpoint after truncation", "err", err)
		}
	}
}

// PendingISR returns the ISR change in flight, or nil.
func (p *Partition) PendingISR() []int32 {
	if p.repl == nil {
		return nil
	}
	p.roleMu.Lock()
	defer p.roleMu.Unlock()
	return slices.Clone(p.repl.pendingISR)
}
