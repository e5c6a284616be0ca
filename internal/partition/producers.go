package partition

import (
	"cmp"
	"errors"
	"fmt"
	"slices"

	"github.com/samsa-io/samsa/internal/record"
)

// Idempotent-producer and transaction errors (KIP-98). The api layer maps
// them to Kafka codes.
var (
	ErrOutOfOrderSequence = errors.New("partition: out of order sequence number")
	ErrInvalidEpoch       = errors.New("partition: producer epoch is older than the current one")
	// ErrInvalidTxnState: a non-transactional batch from a producer with a
	// transaction open on this partition (Kafka's INVALID_TXN_STATE).
	ErrInvalidTxnState = errors.New("partition: non-transactional batch from a producer with an open transaction")
	// ErrCoordinatorFenced: a marker's coordinator epoch is older than the
	// last one this partition saw for the producer: a stale coordinator
	// (Kafka's TRANSACTION_COORDINATOR_FENCED).
	ErrCoordinatorFenced = errors.New("partition: transaction marker from a fenced coordinator")
	// errDuplicate is internal: the batch was already appended; the caller
	// answers with the original offsets and no error, as Kafka does.
	errDuplicate = errors.New("partition: duplicate batch")
)

// maxCachedBatches is how many recent batches per producer are remembered
// for duplicate detection: the Java client and franz-go keep at most 5
// requests in flight per partition for idempotence, so a retry is always of
// one of the last 5 batches.
const maxCachedBatches = 5

// cachedBatch is one remembered batch of a producer.
type cachedBatch struct {
	firstSeq, lastSeq       int32
	firstOffset, lastOffset int64
	timestamp               int64 // LogAppendTime answered for it, or -1
}

// producerState is what the partition knows of one producer id.
//
// Invariant: batches holds at most maxCachedBatches entries, oldest first,
// with contiguous sequence numbers (modulo wrap at MaxInt32).
//
// Transactions: txnFirstOffset is the first offset of the producer's open
// transaction on this partition, -1 when none; while it is >= 0 the
// producer is in producers.ongoing. coordinatorEpoch is the coordinator
// epoch of the last marker seen for the producer (-1 none): a marker with
// an older one is from a fenced coordinator.
type producerState struct {
	epoch            int16
	txnFirstOffset   int64
	coordinatorEpoch int32
	// lastTimestamp is the largest max timestamp of the producer's batches
	// (Kafka's lastTimestamp), for producer.id.expiration.ms; -1 when
	// unknown (loaded from a version-1 snapshot), which expire treats as
	// "seen at load".
	lastTimestamp int64
	batches       []cachedBatch
}

func (ps *producerState) lastSeq() int32 {
	if len(ps.batches) == 0 {
		return record.NoSequence
	}
	return ps.batches[len(ps.batches)-1].lastSeq
}

// txnRef is an open transaction.
type txnRef struct {
	producerID  int64
	firstOffset int64
}

// completedTxn is a transaction ended by the marker at lastOffset.
type completedTxn struct {
	producerID              int64
	firstOffset, lastOffset int64
}

// producers tracks idempotent and transactional producers of one
// partition. It is pure logic: no locks (the partition's mutex guards it),
// no I/O.
//
// Invariants: ongoing holds exactly the producers whose txnFirstOffset >=
// 0, sorted by first offset (transactions begin in log order). unstable
// holds completed transactions in marker order; those whose marker is at
// or above the high watermark keep the last stable offset at their first
// offset (Kafka's unreplicated transactions), so that a transaction's
// records, its marker and its aborted-index entry become visible to
// read_committed together. Entries below the HW are pruned lazily.
type producers struct {
	m        map[int64]*producerState
	ongoing  []txnRef
	unstable []completedTxn
	// txnChanged: ongoing or unstable changed since the partition last
	// published them (Partition.publishTxnsLocked).
	txnChanged bool
}

func newProducers() producers { return producers{m: make(map[int64]*producerState)} }

// newProducerState is the state of a producer first seen with epoch.
func newProducerState(epoch int16) *producerState {
	return &producerState{epoch: epoch, lastTimestamp: -1, txnFirstOffset: -1, coordinatorEpoch: -1}
}

// rebuildOngoing recomputes ongoing from the producers' txnFirstOffset
// (after a snapshot load).
func (p *producers) rebuildOngoing() {
	p.ongoing = p.ongoing[:0]
	for id, ps := range p.m {
		if ps.txnFirstOffset >= 0 {
			p.ongoing = append(p.ongoing, txnRef{producerID: id, firstOffset: ps.txnFirstOffset})
		}
	}
	slices.SortFunc(p.ongoing, func(a, b txnRef) int { return cmp.Compare(a.firstOffset, b.firstOffset) })
	p.txnChanged = true
}

// check decides whether a batch from an idempotent producer may be appended.
// It returns errDuplicate with the cached batch when the batch was already
// appended (a retry), nil when it is next in sequence, or a sentinel error.
// It does not change state; record does, after a successful append.
//
// A batch written by the broker's own coordinator (coordinator set:
// transactional offset commits, BaseSequence -1) skips the sequence checks
// but not epoch fencing nor the transaction rule, as Kafka's
// AppendOrigin.COORDINATOR. The transaction rule (ProducerAppendInfo): a
// non-transactional batch while the producer has a transaction open here
// is ErrInvalidTxnState; a transactional one either continues it or, with
// none open, starts one (in record).
func (p *producers) check(h record.BatchHeader, coordinator bool) (cachedBatch, error) {
	if h.ProducerID < 0 {
		return cachedBatch{}, nil // not idempotent
	}
	ps, ok := p.m[h.ProducerID]
	if !ok {
		// Unknown producer: any sequence is accepted, as Kafka does since
		// KIP-360 (ProducerAppendInfo.checkSequence: with no current
		// epoch, "accept writes with any sequence number"). Its state may
		// have expired (producer.id.expiration.ms) or left with the
		// segments retention deleted while the producer kept counting;
		// refusing would make the client reset its sequence and resend,
		// which is how duplicates get in.
		return cachedBatch{}, nil
	}
	if h.ProducerEpoch < ps.epoch {
		return cachedBatch{}, fmt.Errorf("%w: producer %d epoch %d < %d", ErrInvalidEpoch, h.ProducerID, h.ProducerEpoch, ps.epoch)
	}
	if !coordinator {
		if h.ProducerEpoch > ps.epoch {
			// A bumped epoch starts a new sequence.
			if h.BaseSequence != 0 {
				return cachedBatch{}, fmt.Errorf("%w: producer %d new epoch %d must start at sequence 0, got %d",
					ErrOutOfOrderSequence, h.ProducerID, h.ProducerEpoch, h.BaseSequence)
			}
		} else {
			for _, b := range ps.batches {
				if b.firstSeq == h.BaseSequence && b.lastSeq == h.LastSequence() {
					return b, errDuplicate
				}
			}
			if want := nextSeq(ps.lastSeq()); h.BaseSequence != want {
				return cachedBatch{}, fmt.Errorf("%w: producer %d epoch %d sent sequence %d, expected %d",
					ErrOutOfOrderSequence, h.ProducerID, h.ProducerEpoch, h.BaseSequence, want)
			}
		}
	}
	if !h.Transactional() && ps.txnFirstOffset >= 0 {
		return cachedBatch{}, fmt.Errorf("%w: producer %d has a transaction open since offset %d",
			ErrInvalidTxnState, h.ProducerID, ps.txnFirstOffset)
	}
	return cachedBatch{}, nil
}

// beginsTxn reports whether appending h would open a transaction.
func (p *producers) beginsTxn(h record.BatchHeader) bool {
	if !h.Transactional() || h.Control() || h.ProducerID < 0 {
		return false
	}
	ps, ok := p.m[h.ProducerID]
	return !ok || ps.txnFirstOffset < 0
}

// checkMarker decides whether a transaction marker for producer id with
// epoch from a coordinator at coordinatorEpoch may be written: not for an
// older producer epoch (ErrInvalidEpoch), nor from an older coordinator
// than the last marker's (ErrCoordinatorFenced). A producer unknown here
// (expired, or it never wrote to this partition) is fine.
func (p *producers) checkMarker(id int64, epoch int16, coordinatorEpoch int32) error {
	ps, ok := p.m[id]
	if !ok {
		return nil
	}
	if epoch < ps.epoch {
		return fmt.Errorf("%w: marker for producer %d epoch %d < %d", ErrInvalidEpoch, id, epoch, ps.epoch)
	}
	if coordinatorEpoch < ps.coordinatorEpoch {
		return fmt.Errorf("%w: marker for producer %d coordinator epoch %d < %d", ErrCoordinatorFenced, id, coordinatorEpoch, ps.coordinatorEpoch)
	}
	return nil
}

// endTxn applies a marker at offset (already in the log) for producer id:
// it ends the open transaction, if any, and returns it with Kafka's
// "last stable offset at completion" for the aborted index: the first
// offset of the oldest transaction still open, else offset+1. ok is false
// when the producer had no transaction open (the marker is written anyway
// and changes nothing but the epochs). It never refuses: a follower or a
// replay applies what the leader wrote.
func (p *producers) endTxn(id int64, epoch int16, coordinatorEpoch int32, offset, timestamp int64) (c completedTxn, lso int64, ok bool) {
	ps, found := p.m[id]
	if !found {
		ps = newProducerState(epoch)
		p.m[id] = ps
	}
	ps.lastTimestamp = max(ps.lastTimestamp, timestamp)
	if epoch != ps.epoch {
		// A marker may carry a bumped epoch (KIP-890): the producer's
		// next batch starts a new sequence at 0.
		ps.epoch = epoch
		ps.batches = ps.batches[:0]
	}
	ps.coordinatorEpoch = coordinatorEpoch
	if ps.txnFirstOffset < 0 {
		return completedTxn{}, 0, false
	}
	c = completedTxn{producerID: id, firstOffset: ps.txnFirstOffset, lastOffset: offset}
	ps.txnFirstOffset = -1
	if i := slices.IndexFunc(p.ongoing, func(t txnRef) bool { return t.producerID == id }); i >= 0 {
		p.ongoing = slices.Delete(p.ongoing, i, i+1)
	}
	p.unstable = append(p.unstable, c)
	p.txnChanged = true
	lso = offset + 1
	if len(p.ongoing) > 0 {
		lso = min(lso, p.ongoing[0].firstOffset)
	}
	return c, lso, true
}

// pruneUnstable forgets completed transactions whose marker is below hw:
// they no longer hold the last stable offset back.
func (p *producers) pruneUnstable(hw int64) {
	n := 0
	for n < len(p.unstable) && p.unstable[n].lastOffset < hw {
		n++
	}
	if n > 0 {
		p.unstable = slices.Delete(p.unstable, 0, n)
		p.txnChanged = true
	}
}

// checkAll checks the parsed headers of one request's batches in order, each
// against the state the ones before it would leave, without changing p: so
// that a sequence error in a later batch is found before an earlier one is
// appended. One batch (every produce of v3 or later) needs no scratch state.
func (p *producers) checkAll(hs []record.BatchHeader, coordinator bool) error {
	if len(hs) <= 1 {
		return nil
	}
	scratch := newProducers()
	for _, h := range hs {
		if _, seen := scratch.m[h.ProducerID]; !seen {
			if ps, ok := p.m[h.ProducerID]; ok {
				cp := *ps
				cp.batches = append([]cachedBatch(nil), ps.batches...)
				scratch.m[h.ProducerID] = &cp
			}
		}
		_, err := scratch.check(h, coordinator)
		if errors.Is(err, errDuplicate) {
			continue
		}
		if err != nil {
			return err
		}
		scratch.record(h, -1)
	}
	return nil
}

// record remembers an appended batch (or one found while rebuilding state
// from the log on start). A transactional batch from a producer with no
// transaction open starts one at its base offset. Markers go through
// endTxn; a control batch seen here (one we cannot decode) only moves the
// epoch.
func (p *producers) record(h record.BatchHeader, timestamp int64) {
	if h.ProducerID < 0 {
		return
	}
	ps, ok := p.m[h.ProducerID]
	if !ok {
		ps = newProducerState(h.ProducerEpoch)
		p.m[h.ProducerID] = ps
	}
	ps.lastTimestamp = max(ps.lastTimestamp, h.MaxTimestamp)
	if h.ProducerEpoch != ps.epoch {
		ps.epoch = h.ProducerEpoch
		ps.batches = ps.batches[:0]
	}
	if h.Control() {
		return // transaction markers carry no sequence
	}
	if h.Transactional() && ps.txnFirstOffset < 0 {
		ps.txnFirstOffset = h.BaseOffset
		p.ongoing = append(p.ongoing, txnRef{producerID: h.ProducerID, firstOffset: h.BaseOffset})
		p.txnChanged = true
	}
	if h.BaseSequence < 0 {
		return // a coordinator's batch: no sequence to remember
	}
	if len(ps.batches) == maxCachedBatches {
		copy(ps.batches, ps.batches[1:])
		ps.batches = ps.batches[:maxCachedBatches-1]
	}
	ps.batches = append(ps.batches, cachedBatch{
		firstSeq: h.BaseSequence, lastSeq: h.LastSequence(),
		firstOffset: h.BaseOffset, lastOffset: h.LastOffset(),
		timestamp: timestamp,
	})
}

// expire forgets the producers whose last batch is older than ttl at now
// (unix ms), as Kafka's producer.id.expiration.ms does, and returns how many.
// A producer whose lastTimestamp is unknown (-1) is stamped now instead, so
// it gets a full ttl from the first check after a load. A producer with a
// transaction open never expires (Kafka's isProducerExpired): its marker
// is still to come, and the LSO depends on it.
func (p *producers) expire(now, ttl int64) int {
	n := 0
	for id, ps := range p.m {
		switch {
		case ps.txnFirstOffset >= 0:
		case ps.lastTimestamp < 0:
			ps.lastTimestamp = now
		case now-ps.lastTimestamp >= ttl:
			delete(p.m, id)
			n++
		}
	}
	return n
}

func nextSeq(s int32) int32 {
	if s == record.NoSequence {
		return 0
	}
	if s == 1<<31-1 {
		return 0
	}
	return s + 1
}
