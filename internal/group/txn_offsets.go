package group

import (
	"errors"
	"fmt"
	"math"

	"github.com/samsa-io/samsa/internal/partition"
)

// Transactional offset commits (KIP-98 TxnOffsetCommit, KIP-447 group
// fencing).
//
// A TxnOffsetCommit writes its offset commit records as one transactional
// batch (the producer's id and epoch, no sequence) to the group's
// __consumer_offsets partition, through Partition.AppendCoordinator, which
// fences stale producer epochs. The commits are staged in the group per
// producer id (Group.txnOffsets) and invisible to OffsetFetch until the
// transaction coordinator has written the transaction's marker to that
// partition and calls CompleteTxn: a commit makes them the committed
// offsets, an abort drops them. A replay does the same from the log: a
// transactional batch stages, a marker completes, and a transaction still
// open at the end of the log stays staged (its coordinator will finish it).
//
// Coordinator.txn indexes which groups have commits staged for a producer,
// so CompleteTxn visits only those.

// TxnCommitRequest is a TxnOffsetCommit as the coordinator sees it (the
// api layer has already answered partitions of unknown topics).
type TxnCommitRequest struct {
	ProducerID    int64
	ProducerEpoch int16
	Generation    int32  // -1 when absent (TxnOffsetCommit v0-v2)
	MemberID      string // "" when absent
	InstanceID    string // "" when absent
	Offsets       []CommitOffset
}

// TxnCommit validates and writes transactional commits. errs[i] answers
// r.Offsets[i]. The commits are in the log and staged on return, visible
// to OffsetFetch only once their transaction commits (CompleteTxn); wait
// makes them durable, and the request must be acknowledged only after it.
//
// A stale producer epoch is partition.ErrInvalidEpoch (from the
// partition's fencing), for every partition of the request.
func (c *Coordinator) TxnCommit(groupID string, r TxnCommitRequest) (errs []error, wait func() error) {
	errs = make([]error, len(r.Offsets))
	wait = func() error { return nil }
	all := func(err error) ([]error, func() error) {
		for i := range errs {
			errs[i] = err
		}
		return errs, wait
	}
	if r.ProducerID < 0 {
		return all(fmt.Errorf("%w: producer id %d", partition.ErrInvalidEpoch, r.ProducerID))
	}
	// Kafka creates a missing group for a commit without a generation (a
	// "simple" group) and refuses one with a generation: it comes from a
	// member of a group that is gone.
	e, err := c.lookup(groupID, r.Generation < 0)
	if err != nil {
		return all(err)
	}
	if e == nil {
		return all(ErrIllegalGeneration)
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	if err := c.validateTxnCommitLocked(e, r); err != nil {
		return all(err)
	}
	now := c.clock.Now()
	var kvs []BuildRecord
	var offs []Offset
	var tps []TopicPartition
	for i, co := range r.Offsets {
		if len(co.Metadata) > c.cfg.MaxMetadataBytes {
			errs[i] = ErrOffsetMetadataTooLarge
			continue
		}
		o := Offset{Offset: co.Offset, LeaderEpoch: co.LeaderEpoch, Metadata: co.Metadata, CommitTime: now}
		k, v := EncodeOffset(groupID, co.TP, &o)
		kvs = append(kvs, BuildRecord{Key: k, Value: v})
		offs, tps = append(offs, o), append(tps, co.TP)
	}
	if len(kvs) == 0 {
		return errs, wait
	}
	// Indexed before the append: a marker can follow the batch into the
	// log at once, and CompleteTxn must then find the group (it waits
	// for e.mu, so it sees the commits staged below).
	c.noteTxnGroup(r.ProducerID, groupID)
	res, err := e.part.AppendCoordinator(BuildTxnBatch(now, r.ProducerID, r.ProducerEpoch, kvs), now)
	if err != nil {
		if !e.g.HasPendingTxn(r.ProducerID) {
			c.forgetTxnGroup(r.ProducerID, groupID)
		}
		if !errors.Is(err, partition.ErrInvalidEpoch) {
			c.lg.Error("group coordinator: writing a transactional commit to __consumer_offsets failed", "group", groupID, "err", err)
			err = fmt.Errorf("%w: write __consumer_offsets: %w", ErrCoordinatorNotAvailable, err)
		}
		for i := range errs {
			if errs[i] == nil {
				errs[i] = err
			}
		}
		return errs, wait
	}
	for i, tp := range tps {
		e.g.AddTxnOffset(r.ProducerID, tp, offs[i], res.BaseOffset+int64(i))
	}
	part := e.part
	wait = func() error {
		if err := part.Flush(); err != nil {
			return fmt.Errorf("%w: %w", ErrCoordinatorNotAvailable, err)
		}
		return nil
	}
	return errs, wait
}

// validateTxnCommitLocked checks the group side of a TxnOffsetCommit.
// REQUIRES: e.mu.
func (c *Coordinator) validateTxnCommitLocked(e *groupEntry, r TxnCommitRequest) error {
	if e.g.State() == Dead {
		return ErrCoordinatorNotAvailable // deleted meanwhile: the client retries
	}
	if e.cg == nil {
		return e.g.ValidateTxnCommit(r.Generation, r.MemberID, r.InstanceID)
	}
	// A consumer (KIP-848) group: the generation is the member epoch,
	// and a stale one is ILLEGAL_GENERATION to TxnOffsetCommit (Kafka's
	// validateTransactionalOffsetCommit).
	err := e.cg.ValidateCommit(c.clock.Now(), r.Generation, r.MemberID)
	if errors.Is(err, ErrStaleMemberEpoch) {
		return fmt.Errorf("%w: %w", ErrIllegalGeneration, err)
	}
	return err
}

// CompleteTxn is called after a transaction marker for producerID has been
// appended to __consumer_offsets partition `partition` and is durable
// (committed). On commit the producer's staged commits in every group of
// that partition become the committed offsets (each unless a later plain
// commit of the same group and partition is already in the log: see
// Group.CompleteTxn); on abort they are dropped. It is a no-op when
// nothing is staged and for partitions this coordinator does not own.
func (c *Coordinator) CompleteTxn(partition int, producerID int64, commit bool) {
	c.CompleteTxnAt(partition, producerID, commit, math.MaxInt64)
}

// CompleteTxnAt is CompleteTxn for a marker at log offset markerOffset:
// only commits staged before it are completed, so a commit of the
// producer's next transaction that raced ahead of the call stays staged.
// Callers that know the marker's offset should prefer it.
func (c *Coordinator) CompleteTxnAt(partition int, producerID int64, commit bool, markerOffset int64) {
	c.mu.Lock()
	n := len(c.mu.parts)
	switch {
	case partition < 0 || partition >= n:
		c.mu.Unlock()
		return
	case c.mu.loading || (c.cfg.Clustered && c.mu.owned[partition] && c.mu.partLoading[partition]):
		// The replay may have read the log before the marker: it applies
		// this completion before it installs the groups.
		if c.mu.lateMarkers == nil {
			c.mu.lateMarkers = make(map[int][]TxnMarker)
		}
		c.mu.lateMarkers[partition] = append(c.mu.lateMarkers[partition], TxnMarker{ProducerID: producerID, LogOffset: markerOffset, Commit: commit})
		c.mu.Unlock()
		return
	case !c.mu.loaded || (c.cfg.Clustered && !c.mu.owned[partition]):
		c.mu.Unlock()
		return
	}
	c.mu.Unlock()
	for _, id := range c.txnGroups(producerID) {
		if PartitionFor(id, n) != partition {
			continue
		}
		c.mu.RLock()
		e := c.mu.groups[id]
		c.mu.RUnlock()
		if e == nil {
			// No such group (deleted, or moved away): drop the index
			// entry, under c.mu so no TxnCommit can create the group and
			// index it meanwhile.
			c.mu.Lock()
			if c.mu.groups[id] == nil {
				c.forgetTxnGroup(producerID, id)
			}
			c.mu.Unlock()
			continue
		}
		e.mu.Lock()
		if e.g.State() != Dead {
			changed := e.g.CompleteTxn(producerID, commit, markerOffset)
			if !e.g.HasPendingTxn(producerID) {
				c.forgetTxnGroup(producerID, id)
			}
			if len(changed) > 0 {
				c.armLocked(e)
			}
		}
		e.mu.Unlock()
	}
}

// noteTxnGroup records that groupID has (or is about to have) commits
// staged for producerID. Callers hold the group's lock or install the
// group (load).
func (c *Coordinator) noteTxnGroup(producerID int64, groupID string) {
	c.txn.mu.Lock()
	defer c.txn.mu.Unlock()
	if c.txn.groups == nil {
		c.txn.groups = make(map[int64]map[string]struct{})
	}
	ids := c.txn.groups[producerID]
	if ids == nil {
		ids = make(map[string]struct{})
		c.txn.groups[producerID] = ids
	}
	ids[groupID] = struct{}{}
}

// forgetTxnGroup drops an index entry. Callers hold the lock of the live
// entry of groupID (which has nothing staged for producerID), or c.mu
// with no entry for groupID in the table.
func (c *Coordinator) forgetTxnGroup(producerID int64, groupID string) {
	c.txn.mu.Lock()
	defer c.txn.mu.Unlock()
	ids := c.txn.groups[producerID]
	delete(ids, groupID)
	if len(ids) == 0 {
		delete(c.txn.groups, producerID)
	}
}

// txnGroups returns the groups indexed for producerID.
func (c *Coordinator) txnGroups(producerID int64) []string {
	c.txn.mu.Lock()
	defer c.txn.mu.Unlock()
	ids := c.txn.groups[producerID]
	out := make([]string, 0, len(ids))
	for id := range ids {
		out = append(out, id)
	}
	return out
}

// txnReplay collects, while a partition is replayed, the producers with
// commits staged in each group, so a marker completes exactly the groups
// of its own partition.
type txnReplay struct {
	open map[int64]map[string]bool
}

func (t *txnReplay) stage(producerID int64, groupID string) {
	if t.open == nil {
		t.open = make(map[int64]map[string]bool)
	}
	if t.open[producerID] == nil {
		t.open[producerID] = make(map[string]bool)
	}
	t.open[producerID][groupID] = true
}

// complete applies a marker to the groups found so far.
func (t *txnReplay) complete(m TxnMarker, found map[string]*loadedGroup) {
	for id := range t.open[m.ProducerID] {
		lg := found[id]
		if lg == nil {
			delete(t.open[m.ProducerID], id)
			continue
		}
		lg.offs.CompleteTxn(m.ProducerID, m.Commit, m.LogOffset)
		if !lg.offs.HasPendingTxn(m.ProducerID) {
			delete(t.open[m.ProducerID], id)
		}
	}
	if len(t.open[m.ProducerID]) == 0 {
		delete(t.open, m.ProducerID)
	}
}
