package partition

// Transactions (KIP-98, KIP-447, KIP-890) as one partition sees them.
//
// A transactional batch from a producer with no transaction open here
// opens one at its base offset; the transaction coordinator ends it with a
// COMMIT or ABORT marker (AppendMarker), a control batch in the log. An
// abort also adds an entry to the aborted-transaction index
// (log/txnindex.go) so that read_committed consumers can drop its records.
//
// The last stable offset (LSO) is the smallest of the high watermark, the
// first offset of every open transaction and the first offset of every
// completed transaction whose marker is not yet below the high watermark
// (Kafka's unreplicated transactions): read_committed fetches stop there,
// so a transaction's records, its marker and its index entry become
// visible together, and never before the outcome is committed.
//
// Followers apply the batches they copy the same way (replayLocked), and so
// does the replay of the log at Open and after a truncation, so a follower
// that becomes leader, or a restarted broker, has the same LSO and index.

import (
	"cmp"
	"fmt"
	"math"
	"slices"
	"sort"
	"time"

	"github.com/samsa-io/samsa/internal/log"
	"github.com/samsa-io/samsa/internal/record"
)

// txnView is an immutable copy of what the LSO depends on, published under
// Partition.mu (publishTxnsLocked) and read without a lock.
//
// Ordering: a view is stored before the high watermark can pass the first
// batch of a transaction it adds (holdLSOLocked runs before the batch is in
// the log, where a concurrent Flush could commit it), and readers load the
// HW before the view. So a reader that sees a HW past a transaction's
// first offset sees a view that holds the LSO at it.
type txnView struct {
	// ongoingFirst is the first offset of the oldest open transaction,
	// math.MaxInt64 when none.
	ongoingFirst int64
	// unstable are completed transactions in marker order (see
	// producers.unstable); only those with lastOffset >= HW count.
	unstable []completedTxn
}

// lso is the last stable offset for high watermark hw.
func (v *txnView) lso(hw int64) int64 {
	lso := min(hw, v.ongoingFirst)
	i := sort.Search(len(v.unstable), func(i int) bool { return v.unstable[i].lastOffset >= hw })
	for _, c := range v.unstable[i:] {
		lso = min(lso, c.firstOffset)
	}
	return lso
}

// publishTxnsLocked prunes the completed transactions whose markers are
// below pruneBelow (the HW) and publishes a fresh view.
// REQUIRES: p.mu held (or p not shared).
func (p *Partition) publishTxnsLocked(pruneBelow int64) {
	p.producers.pruneUnstable(pruneBelow)
	v := &txnView{ongoingFirst: math.MaxInt64, unstable: slices.Clone(p.producers.unstable)}
	if len(p.producers.ongoing) > 0 {
		v.ongoingFirst = p.producers.ongoing[0].firstOffset
	}
	p.txns.Store(v)
	p.producers.txnChanged = false
}

// holdLSOLocked publishes the current view with the LSO held at or below
// off, for a transaction about to open at off. REQUIRES: p.mu held.
func (p *Partition) holdLSOLocked(off int64) {
	old := p.txns.Load()
	p.txns.Store(&txnView{ongoingFirst: min(old.ongoingFirst, off), unstable: old.unstable})
}

// lsoAt is the LSO for high watermark hw, never below the log start.
func (p *Partition) lsoAt(hw, logStart int64) int64 {
	v := p.txns.Load()
	if v == nil {
		return hw
	}
	return max(v.lso(hw), logStart)
}

// LastStableOffset returns the last stable offset: read_committed fetches
// and ListOffsets at isolation_level=1 see the log up to it.
func (p *Partition) LastStableOffset() int64 {
	hw := p.highWatermark.Load() // before the view: see txnView
	return p.lsoAt(hw, p.log.LogStartOffset())
}

// AbortedTxn is an aborted transaction as a read_committed fetch reports
// it (Fetch's AbortedTransactions).
type AbortedTxn struct {
	ProducerID  int64
	FirstOffset int64
}

// abortedIn returns the aborted transactions that may hold records in
// [from, upTo).
func (p *Partition) abortedIn(from, upTo int64) []AbortedTxn {
	es := p.log.AbortedTxns(from, upTo)
	if len(es) == 0 {
		return nil
	}
	out := make([]AbortedTxn, len(es))
	for i, e := range es {
		out[i] = AbortedTxn{ProducerID: e.ProducerID, FirstOffset: e.FirstOffset}
	}
	return out
}

// nextOffsetAfter returns the offset after the last whole batch in b (as
// Read returns them), or fallback when b holds none.
func nextOffsetAfter(b []byte, fallback int64) int64 {
	next := fallback
	for len(b) >= record.BatchHeaderSize {
		h, err := record.ParseHeader(b)
		if err != nil || h.BatchLength < record.BatchHeaderSize-record.LogOverhead || h.Size() > len(b) {
			break
		}
		next = h.NextOffset()
		b = b[h.Size():]
	}
	return next
}

// Marker is a transaction marker the coordinator asks this partition to
// write (WriteTxnMarkers).
type Marker struct {
	ProducerID       int64
	ProducerEpoch    int16
	Commit           bool
	CoordinatorEpoch int32
}

// AppendMarker writes a COMMIT or ABORT marker for m.ProducerID (leader
// only, stamped with the leader epoch) and ends the producer's open
// transaction; an abort adds the transaction to the aborted index. A
// marker for a producer with no transaction open is written all the same
// (Kafka does too) and ends nothing. It is refused with ErrInvalidEpoch
// when m.ProducerEpoch is older than the producer's, and with
// ErrCoordinatorFenced when m.CoordinatorEpoch is older than the last
// marker's. As for Append, the caller flushes (SyncOnAck) or waits for the
// HW (acks=all in a cluster) before answering.
func (p *Partition) AppendMarker(m Marker, now time.Time) (AppendResult, error) {
	res := AppendResult{LogAppendTime: -1}
	if p.closed.Load() {
		return res, ErrClosed
	}
	if !p.IsLeader() {
		return res, ErrNotLeader
	}
	if m.ProducerID < 0 || m.ProducerEpoch < 0 {
		return res, fmt.Errorf("partition: transaction marker for producer id %d epoch %d", m.ProducerID, m.ProducerEpoch)
	}
	epoch := p.leaderEpoch.Load()
	b := record.BuildMarker(m.ProducerID, m.ProducerEpoch, m.Commit, m.CoordinatorEpoch, now.UnixMilli())
	record.SetPartitionLeaderEpoch(b, epoch)
	res.LeaderEpoch = epoch
	p.mu.Lock()
	if p.repl != nil && p.leadEpoch.Load() != epoch {
		p.mu.Unlock()
		return res, ErrNotLeader
	}
	if p.cfg.LogAppendTime {
		res.LogAppendTime = now.UnixMilli()
		record.SetLogAppendTime(b, res.LogAppendTime)
	}
	rolls := p.log.Rolls()
	res, err := p.appendMarkerLocked(b, m, now, res)
	var snapOff int64
	var snap []snapshotEntry
	if err == nil && p.log.Rolls() != rolls {
		snapOff, snap = p.snapshotLocked()
	}
	p.mu.Unlock()
	if snap != nil {
		p.writeSnapshot(snapOff, snap)
	}
	if err == nil {
		p.notify()
		if p.repl != nil && !res.SyncOnAck {
			p.afterRelaxedAppend()
		}
	}
	return res, err
}

// appendMarkerLocked is the part of AppendMarker under p.mu.
// REQUIRES: p.mu held.
func (p *Partition) appendMarkerLocked(b []byte, m Marker, now time.Time, res AppendResult) (AppendResult, error) {
	if p.closed.Load() {
		return res, ErrClosed
	}
	if err := p.producers.checkMarker(m.ProducerID, m.ProducerEpoch, m.CoordinatorEpoch); err != nil {
		return res, err
	}
	base, next, err := p.log.Append(b)
	if err != nil {
		return res, err
	}
	res.BaseOffset, res.NextOffset = base, next
	if err := p.endTxnLocked(m.ProducerID, m.ProducerEpoch, record.Marker{Commit: m.Commit, CoordinatorEpoch: m.CoordinatorEpoch},
		base, now.UnixMilli()); err != nil {
		return res, err
	}
	p.publishTxnsLocked(p.highWatermark.Load())
	p.finishAppendLocked(&res)
	return res, nil
}

// endTxnLocked applies the marker m at offset (in the log) to the producer
// state and, for an abort that ended a transaction, to the aborted index.
// REQUIRES: p.mu held.
func (p *Partition) endTxnLocked(id int64, epoch int16, m record.Marker, offset, timestamp int64) error {
	c, lso, ok := p.producers.endTxn(id, epoch, m.CoordinatorEpoch, offset, timestamp)
	if !ok || m.Commit {
		return nil
	}
	return p.log.AppendAbortedTxn(log.AbortedTxn{
		ProducerID: id, FirstOffset: c.firstOffset, LastOffset: c.lastOffset, LastStableOffset: lso,
	})
}

// replayLocked applies a batch that is already in the log (a follower's
// copy, or the replay at Open or after a truncation) to the producer state
// and the aborted index. It refuses nothing: the leader decided. control is
// the whole batch for a control batch, else nil. REQUIRES: p.mu held.
func (p *Partition) replayLocked(h record.BatchHeader, control []byte) error {
	if h.Control() && control != nil && h.ProducerID >= 0 {
		m, ok, err := record.DecodeMarker(control)
		if err != nil {
			p.lg.Warn("undecodable control batch; treating it as an unknown control record",
				"offset", h.BaseOffset, "err", err)
		}
		if ok {
			return p.endTxnLocked(h.ProducerID, h.ProducerEpoch, m, h.BaseOffset, h.MaxTimestamp)
		}
	}
	p.producers.record(h, -1)
	return nil
}

// ProducerInfo is one active producer, for DescribeProducers and metrics.
type ProducerInfo struct {
	ProducerID    int64
	ProducerEpoch int16
	LastSequence  int32 // -1 when none is remembered
	LastTimestamp int64 // -1 when unknown
	// CoordinatorEpoch is the coordinator epoch of the last marker, -1
	// when none was seen.
	CoordinatorEpoch int32
	// CurrentTxnStartOffset is the first offset of the open transaction,
	// -1 when none.
	CurrentTxnStartOffset int64
}

// Producers returns the producers this partition keeps state for, sorted
// by id.
func (p *Partition) Producers() []ProducerInfo {
	p.mu.Lock()
	out := make([]ProducerInfo, 0, len(p.producers.m))
	for id, ps := range p.producers.m {
		out = append(out, ProducerInfo{
			ProducerID: id, ProducerEpoch: ps.epoch, LastSequence: ps.lastSeq(), LastTimestamp: ps.lastTimestamp,
			CoordinatorEpoch: ps.coordinatorEpoch, CurrentTxnStartOffset: ps.txnFirstOffset,
		})
	}
	p.mu.Unlock()
	slices.SortFunc(out, func(a, b ProducerInfo) int { return cmp.Compare(a.ProducerID, b.ProducerID) })
	return out
}

// OngoingTxns returns how many transactions are open on this partition and
// the first offset of the oldest (-1 when none).
func (p *Partition) OngoingTxns() (count int, oldestFirstOffset int64) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if len(p.producers.ongoing) == 0 {
		return 0, -1
	}
	return len(p.producers.ongoing), p.producers.ongoing[0].firstOffset
}

// HasOngoingTxn reports whether producerID, at epoch, has an open
// transaction on this partition: its next transactional batch needs no
// word from the transaction coordinator (KIP-890 verification is for the
// first batch of a transaction only).
func (p *Partition) HasOngoingTxn(producerID int64, epoch int16) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	ps, ok := p.producers.m[producerID]
	return ok && ps.epoch == epoch && ps.txnFirstOffset >= 0
}
