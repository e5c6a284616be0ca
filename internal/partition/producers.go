package partition

import (
	"errors"
	"fmt"

	"github.com/samsa-io/samsa/internal/record"
)

// Idempotent-producer errors (KIP-98). The api layer maps them to Kafka codes.
var (
	ErrOutOfOrderSequence = errors.New("partition: out of order sequence number")
	ErrInvalidEpoch       = errors.New("partition: producer epoch is older than the current one")
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
type producerState struct {
	epoch int16
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

// producers tracks idempotent producers of one partition. It is pure logic:
// no locks (the partition's mutex guards it), no I/O.
type producers struct {
	m map[int64]*producerState
}

func newProducers() producers { return producers{m: make(map[int64]*producerState)} }

// check decides whether a batch from an idempotent producer may be appended.
// It returns errDuplicate with the cached batch when the batch was already
// appended (a retry), nil when it is next in sequence, or a sentinel error.
// It does not change state; record does, after a successful append.
func (p *producers) check(h record.BatchHeader) (cachedBatch, error) {
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
	switch {
	case h.ProducerEpoch < ps.epoch:
		return cachedBatch{}, fmt.Errorf("%w: producer %d epoch %d < %d", ErrInvalidEpoch, h.ProducerID, h.ProducerEpoch, ps.epoch)
	case h.ProducerEpoch > ps.epoch:
		// A bumped epoch starts a new sequence.
		if h.BaseSequence != 0 {
			return cachedBatch{}, fmt.Errorf("%w: producer %d new epoch %d must start at sequence 0, got %d",
				ErrOutOfOrderSequence, h.ProducerID, h.ProducerEpoch, h.BaseSequence)
		}
		return cachedBatch{}, nil
	}
	for _, b := range ps.batches {
		if b.firstSeq == h.BaseSequence && b.lastSeq == h.LastSequence() {
			return b, errDuplicate
		}
	}
	if want := nextSeq(ps.lastSeq()); h.BaseSequence != want {
		return cachedBatch{}, fmt.Errorf("%w: producer %d epoch %d sent sequence %d, expected %d",
			ErrOutOfOrderSequence, h.ProducerID, h.ProducerEpoch, h.BaseSequence, want)
	}
	return cachedBatch{}, nil
}

// checkAll checks the concatenated batches of one request in order, each
// against the state the ones before it would leave, without changing p: so
// that a sequence error in a later batch is found before an earlier one is
// appended. One batch (every produce of v3 or later) needs no scratch state.
func (p *producers) checkAll(batches []byte) error {
	n := 0
	if err := record.Split(batches, func(record.BatchHeader, []byte) error { n++; return nil }); err != nil {
		return err
	}
	if n <= 1 {
		return nil
	}
	scratch := newProducers()
	return record.Split(batches, func(h record.BatchHeader, _ []byte) error {
		if _, seen := scratch.m[h.ProducerID]; !seen {
			if ps, ok := p.m[h.ProducerID]; ok {
				cp := *ps
				cp.batches = append([]cachedBatch(nil), ps.batches...)
				scratch.m[h.ProducerID] = &cp
			}
		}
		_, err := scratch.check(h)
		if errors.Is(err, errDuplicate) {
			return nil
		}
		if err != nil {
			return err
		}
		scratch.record(h, -1)
		return nil
	})
}

// record remembers an appended batch (or one found while rebuilding state
// from the log on start).
func (p *producers) record(h record.BatchHeader, timestamp int64) {
	if h.ProducerID < 0 {
		return
	}
	ps, ok := p.m[h.ProducerID]
	if !ok {
		ps = &producerState{epoch: h.ProducerEpoch, lastTimestamp: -1}
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
// it gets a full ttl from the first check after a load.
func (p *producers) expire(now, ttl int64) int {
	n := 0
	for id, ps := range p.m {
		switch {
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
