// Package partition is one partition replica: its log, leader epoch, high
// watermark, idempotent-producer state and the fetch waiters woken when the
// high watermark moves.
//
// A single broker is a cluster of one: its partitions lead with an ISR of
// themselves, and the high watermark is the offset up to which the leader's
// log is durable (fsynced) — so a consumer never reads a record that a crash
// could take back. When durability is relaxed (log.flush.interval.messages
// > 1) the high watermark follows the log end offset at once.
package partition

import (
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"github.com/samsa-io/samsa/internal/log"
	"github.com/samsa-io/samsa/internal/record"
)

var (
	// ErrMessageTooLarge: a batch is over the topic's max.message.bytes.
	ErrMessageTooLarge = errors.New("partition: batch larger than max.message.bytes")
	// ErrClosed: the partition was closed or deleted.
	ErrClosed = errors.New("partition: closed")
	// ErrOffsetOutOfRange: fetch/delete-records offset outside the log.
	ErrOffsetOutOfRange = log.ErrOffsetOutOfRange
	// ErrControlBatchFromClient: a produce held a control batch. Only the
	// broker writes those (AppendMarker); Kafka answers INVALID_RECORD.
	ErrControlBatchFromClient = errors.New("partition: control batches may only be written by the broker")
	// ErrTransactionalWithoutProducerID: a transactional batch without a
	// producer id (Kafka's LogValidator refuses it: INVALID_RECORD).
	ErrTransactionalWithoutProducerID = errors.New("partition: transactional batch without a producer id")
	// ErrMultipleBatches: a produce of v3 or later held more than one record
	// batch for a partition (Kafka refuses it as INVALID_RECORD).
	ErrMultipleBatches = errors.New("partition: produce requests of version 3 and later may hold exactly one record batch per partition")
	// ErrKeylessRecordOnCompactedTopic: a produce to a compacted topic
	// holds a record without a key, which compaction could not place
	// (Kafka answers INVALID_RECORD).
	ErrKeylessRecordOnCompactedTopic = errors.New("partition: compacted topic requires a key on every record")
)

// Config configures a partition.
type Config struct {
	Topic string
	Index int32
	Dir   string
	Log   log.Options
	// LogAppendTime: the topic's message.timestamp.type is LogAppendTime.
	LogAppendTime bool
	// MaxMessageBytes is the topic's max.message.bytes (per batch).
	MaxMessageBytes int32
	// SyncOnAck: the high watermark only covers fsynced data, and
	// produce acknowledgements wait for the fsync (durable by default).
	// It is the topic's flush.messages <= 1.
	SyncOnAck bool
	// FlushMessages and FlushInterval are the topic's flush.messages and
	// flush.ms, used when SyncOnAck is false (relaxed durability, Kafka's
	// default trade): appends are acknowledged from the page cache and the
	// log is fsynced once FlushMessages records are unflushed (Append
	// reports FlushNow) or the oldest unflushed append is FlushInterval old
	// (FlushDue, polled by the broker's flush scheduler).
	FlushMessages int64
	FlushInterval time.Duration
	Logger        *slog.Logger
}

// Partition is one partition replica, the leader on a single broker.
type Partition struct {
	Topic string
	Index int32
	log   *log.Log
	lg    *slog.Logger

	// mu serialises appends together with the producer-state checks they
	// depend on. Lock order: Partition.mu -> log's internal mutex.
	// Appends never hold it across an fsync; Close and TruncateTo do (see
	// internal/LOCKING.md).
	mu        sync.Mutex
	producers producers // guarded by mu
	cfg       Config    // guarded by mu (topic configs change at runtime)

	leaderEpoch atomic.Int32
	// highWatermark: offsets below it are committed (durable, and
	// replicated once there are replicas). Invariant: LogStartOffset <=
	// highWatermark <= LogEndOffset; it only moves forward while this
	// replica leads (truncation may move it back on a follower).
	highWatermark atomic.Int64
	closed        atomic.Bool
	// lastFlush is when the last successful fsync round ended (unix nanos),
	// for FlushDue.
	lastFlush atomic.Int64
	// flushEvery mirrors cfg for FlushDue, which the broker's scheduler
	// calls for every partition 50 times a second: flush.ms in nanoseconds
	// when relaxed, -1 in durable mode.
	flushEvery atomic.Int64

	watchMu  sync.Mutex
	watchers map[chan struct{}]struct{} // fetches waiting for the HW to move; guarded by watchMu

	// snapMu serialises producer-snapshot file writes and pruning
	// (snapshot.go). It is taken without mu: the state is encoded under
	// mu, the file is written after mu is released.
	snapMu sync.Mutex
	// lastSnapshot is the offset of the newest snapshot written or
	// loaded, -1 when none; guarded by snapMu.
	lastSnapshot int64
	// roleMu guards repl (replica.go): the replica's cluster role, its
	// followers and pending ISR changes. nil repl: the single broker's
	// partition, always the leader with an ISR of itself. Lock order:
	// roleMu -> mu.
	roleMu sync.Mutex
	repl   *replication
	// leadEpoch is, in a cluster, the leader epoch this replica leads in,
	// -1 while it follows. Written by SetRole under mu, so an append (which
	// checks it under mu) never lands on a replica that stopped leading, or
	// in another epoch than the one its batches were stamped with.
	leadEpoch atomic.Int32
	// lastHWCheckpoint is the high watermark last written by CheckpointHW.
	lastHWCheckpoint atomic.Int64
	// epochMu guards epochs, the leader-epoch cache (epochs.go).
	epochMu sync.Mutex
	epochs  *epochCache

	// stateFrom is the offset the producer-state scan started from at
	// Open or after a truncation (the snapshot's offset, or the log
	// start): for tests and the start-up log line. Guarded by mu.
	stateFrom int64

	// txns is the transaction state the last stable offset is computed
	// from, published under mu after every change (txn.go) and read
	// without a lock by fetches. Never nil after Open.
	txns atomic.Pointer[txnView]
}

// Open opens (recovering) the partition's log and rebuilds the producer
// state from its batch headers.
func Open(cfg Config) (*Partition, error) {
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	cfg.Log.Logger = cfg.Logger
	l, err := log.Open(cfg.Dir, cfg.Log)
	if err != nil {
		return nil, fmt.Errorf("partition %s-%d: %w", cfg.Topic, cfg.Index, err)
	}
	p := &Partition{
		Topic: cfg.Topic, Index: cfg.Index,
		log: l, lg: cfg.Logger, cfg: cfg,
		producers: newProducers(),
		watchers:  make(map[chan struct{}]struct{}),
	}
	// Everything that survived recovery is on disk: it is committed.
	p.highWatermark.Store(l.LogEndOffset())
	p.lastFlush.Store(time.Now().UnixNano())
	p.storeFlushEvery(cfg)
	p.lastSnapshot = -1
	if err := p.loadProducerStateLocked(); err != nil {
		l.Close()
		return nil, fmt.Errorf("partition %s-%d: rebuild producer state: %w", cfg.Topic, cfg.Index, err)
	}
	return p, nil
}

// loadEpochs (cluster replicas only: EnableReplication) reads the
// leader-epoch checkpoint, dropping entries past the
// log end (a crash after the checkpoint but before the log's fsync); a
// missing or damaged checkpoint is rebuilt from the batch headers.
func (p *Partition) loadEpochs() error {
	c, err := loadEpochCache(p.cfg.Dir)
	if err != nil {
		p.lg.Warn("rebuilding the leader-epoch checkpoint from the log", "err", err)
		c = &epochCache{dir: p.cfg.Dir}
	}
	leo := p.log.LogEndOffset()
	if _, ok := c.latest(); !ok && leo > p.log.LogStartOffset() {
		if err := p.log.ScanBatches(p.log.LogStartOffset(), func(h record.BatchHeader) bool {
			c.assign(h.PartitionLeaderEpoch, h.BaseOffset)
			return true
		}); err != nil {
			return err
		}
		if _, ok := c.latest(); ok {
			if err := c.write(); err != nil {
				return err
			}
		}
	} else if c.truncateFromEnd(leo) {
		if err := c.write(); err != nil {
			return err
		}
	}
	p.epochs = c
	return nil
}

// loadProducerStateLocked rebuilds the idempotent-producer state: from the
// newest usable snapshot at or below LogEndOffset, then from the headers of
// the batches after it; from every batch header when there is none.
// Snapshots past LogEndOffset describe batches the log lost or dropped and
// are deleted, as are corrupt ones. REQUIRES: p.mu held, or p not shared.
func (p *Partition) loadProducerStateLocked() error {
	l, dir := p.log, p.cfg.Dir
	leo, logStart := l.LogEndOffset(), l.LogStartOffset()
	if n, err := removeSnapshotsAbove(dir, leo); err != nil {
		return err
	} else if n > 0 {
		p.lg.Info("deleted producer snapshots past the log end",
			"snapshots", n, "log_end_offset", leo)
	}
	offs, err := listSnapshots(dir)
	if err != nil {
		return err
	}
	// A transaction index the log found damaged is rebuilt by the replay
	// below, which must then start at or below its segment: the entries
	// need the producer state as of each marker.
	rebuildFrom, rebuild := l.TxnIndexRebuildFrom()
	p.producers = newProducers()
	from := logStart
	p.lastSnapshot = -1
	for i := len(offs) - 1; i >= 0; i-- {
		if rebuild && offs[i] > rebuildFrom {
			continue
		}
		st, err := readSnapshot(dir, offs[i])
		if err != nil {
			p.lg.Warn("ignoring unreadable producer snapshot",
				"file", snapshotName(offs[i]), "err", err)
			_ = os.Remove(filepath.Join(dir, snapshotName(offs[i])))
			continue
		}
		p.producers, from, p.lastSnapshot = st, max(offs[i], logStart), offs[i]
		break
	}
	if p.lastSnapshot < 0 && leo > logStart {
		p.lg.Info("no producer snapshot; rebuilding producer state from every batch header",
			"log_start_offset", logStart, "log_end_offset", leo)
	}
	if rebuild {
		p.lg.Warn("rebuilding the aborted-transaction index from the log",
			"from_offset", from, "damaged_segment", rebuildFrom)
	}
	p.stateFrom = from
	// The replay re-appends the aborted-index entry of every abort it
	// meets (ignored when present): entries for markers past the
	// snapshot may have been lost in a crash (see log/txnindex.go).
	var replayErr error
	err = l.ScanBatchesControl(from, func(h record.BatchHeader, control []byte) bool {
		replayErr = p.replayLocked(h, control)
		return replayErr == nil
	})
	if err != nil {
		return err
	}
	if replayErr != nil {
		return replayErr
	}
	// Completed transactions whose markers are below the HW no longer
	// hold the LSO; in a cluster the HW restarts at its checkpoint
	// (EnableReplication), so keep those at or past it.
	pruneBelow := p.highWatermark.Load()
	if ckpt, ok := l.HighWatermarkCheckpoint(); ok {
		pruneBelow = min(pruneBelow, ckpt)
	}
	p.publishTxnsLocked(pruneBelow)
	return nil
}

// snapshotLocked copies the producer state as of LogEndOffset, for
// writeSnapshot after mu is released. REQUIRES: p.mu held.
func (p *Partition) snapshotLocked() (offset int64, state []snapshotEntry) {
	// Only a flat copy runs under mu; sorting, encoding and the CRC run
	// in writeSnapshot, after the lock is released. The copy is exactly
	// the state as of offset: later appends change the live map, not it.
	return p.log.LogEndOffset(), copyState(&p.producers)
}

// ExpireProducers forgets idempotent producers that appended nothing for
// ttl (producer.id.expiration.ms) and returns how many. A later batch from
// one is accepted at any sequence (see producers.check), as in Kafka.
func (p *Partition) ExpireProducers(now time.Time, ttl time.Duration) int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.producers.expire(now.UnixMilli(), ttl.Milliseconds())
}

// writeSnapshot persists an encoded snapshot unless one at offset or later
// exists. A failure is logged, not returned: the snapshot is a cache, and
// Open falls back to scanning the log.
func (p *Partition) writeSnapshot(offset int64, state []snapshotEntry) {
	p.snapMu.Lock()
	defer p.snapMu.Unlock()
	if offset <= p.lastSnapshot {
		return
	}
	// The aborted-index entries of markers below offset must be durable
	// before a snapshot says a replay may start past them. ErrClosed: the
	// log's Close fsynced them all (Close writes its snapshot after).
	if err := p.log.SyncTxnIndex(); err != nil && !errors.Is(err, log.ErrClosed) {
		p.lg.Warn("not writing producer snapshot: transaction index sync failed", "offset", offset, "err", err)
		return
	}
	b := encodeEntries(offset, state)
	if err := writeSnapshotFile(p.cfg.Dir, offset, b); err != nil {
		p.lg.Warn("writing producer snapshot", "offset", offset, "err", err)
		return
	}
	p.lastSnapshot = offset
}

// TruncateTo truncates the log (log.TruncateTo: a follower diverged from its
// leader), deletes producer snapshots past the new end and rebuilds the
// producer state, so that a retry of a dropped batch is not mistaken for a
// duplicate. The high watermark moves back with the log end if needed.
func (p *Partition) TruncateTo(offset int64) error {
	if p.closed.Load() {
		return ErrClosed
	}
	p.snapMu.Lock()
	defer p.snapMu.Unlock()
	p.mu.Lock()
	defer p.mu.Unlock()
	if err := p.log.TruncateTo(offset); err != nil {
		return err
	}
	if leo := p.log.LogEndOffset(); p.highWatermark.Load() > leo {
		p.highWatermark.Store(leo)
	}
	p.epochsTruncateFromEnd(p.log.LogEndOffset())
	return p.loadProducerStateLocked()
}

// SetConfig applies changed topic configs.
func (p *Partition) SetConfig(cfg Config) {
	p.mu.Lock()
	defer p.mu.Unlock()
	cfg.Dir, cfg.Topic, cfg.Index, cfg.Logger = p.cfg.Dir, p.cfg.Topic, p.cfg.Index, p.cfg.Logger
	cfg.Log.Logger = p.cfg.Logger
	p.cfg = cfg
	p.storeFlushEvery(cfg)
	p.log.SetOptions(cfg.Log)
}

// AppendResult says where a produce landed.
type AppendResult struct {
	BaseOffset     int64
	NextOffset     int64 // LogEndOffset after the append: what an ack must wait for
	LogAppendTime  int64 // -1 unless the topic uses LogAppendTime
	LogStartOffset int64
	// LeaderEpoch is the epoch the batches were stamped with (and, in a
	// cluster, appended in): acks=all waits for the HW in this epoch.
	LeaderEpoch int32
	Duplicate   bool // a retried idempotent batch: nothing was written
	// SyncOnAck: the acknowledgement must wait for Flush (durable mode).
	// When false the append is already committed (the high watermark
	// covers it) and the ack may go out at once.
	SyncOnAck bool
	// FlushNow (relaxed mode only): flush.messages records or more are
	// unflushed, so the caller should have the log flushed now, in the
	// background (Kafka's flush-on-append check).
	FlushNow bool
}

// Append validates and appends the record batches of one produce request
// (v2 batches, concatenated). Nothing of an invalid request is written.
// It returns once the data is in the log (page cache); call Flush to make it
// durable before acknowledging.
//
// Transactional batches are accepted (see producers.check for the rules);
// control batches are ErrControlBatchFromClient.
func (p *Partition) Append(batches []byte, now time.Time) (AppendResult, error) {
	return p.append(batches, now, false, false)
}

// AppendBatch is Append for a produce request of v3 or later, which Kafka
// allows exactly one record batch per partition (ProduceRequest's record
// validation): more is ErrMultipleBatches and nothing is written.
func (p *Partition) AppendBatch(batch []byte, now time.Time) (AppendResult, error) {
	return p.append(batch, now, true, false)
}

// AppendCoordinator is Append for batches the broker's own coordinators
// write (the group coordinator's transactional offset commits into
// __consumer_offsets: transactional batches with the committing
// producer's id and epoch and BaseSequence -1). Sequence numbers are not
// checked; epoch fencing and transaction tracking are, as for Kafka's
// AppendOrigin.COORDINATOR.
func (p *Partition) AppendCoordinator(batches []byte, now time.Time) (AppendResult, error) {
	return p.append(batches, now, false, true)
}

func (p *Partition) append(batches []byte, now time.Time, single, coordinator bool) (AppendResult, error) {
	res := AppendResult{LogAppendTime: -1}
	if p.closed.Load() {
		return res, ErrClosed
	}
	if !p.IsLeader() {
		return res, ErrNotLeader
	}
	// Validate everything before touching the log: a bad CRC or lying
	// length anywhere rejects the whole request.
	batchCount := 0
	idempotent := false
	epoch := p.leaderEpoch.Load()
	p.mu.Lock()
	maxBytes := p.cfg.MaxMessageBytes
	appendTime := p.cfg.LogAppendTime
	compacted := p.cfg.Log.Compact
	p.mu.Unlock()
	if appendTime {
		res.LogAppendTime = now.UnixMilli()
	}
	// Each batch's header is parsed here, once: validation, the producer
	// checks and the log's offset assignment and indexing all use hs.
	var hbuf [4]record.BatchHeader
	hs := hbuf[:0]
	err := record.Split(batches, func(h record.BatchHeader, b []byte) error {
		if single && batchCount > 0 {
			return ErrMultipleBatches
		}
		if err := record.ValidateParsed(h, b); err != nil {
			return err
		}
		if maxBytes > 0 && len(b) > int(maxBytes) {
			return fmt.Errorf("%w: %d bytes > %d", ErrMessageTooLarge, len(b), maxBytes)
		}
		if h.Control() {
			return ErrControlBatchFromClient
		}
		if h.Transactional() && h.ProducerID < 0 {
			return ErrTransactionalWithoutProducerID
		}
		if compacted {
			// Decoding the records (decompressing) is the price of a
			// compacted topic only: the cleaner needs every key.
			if err := record.ForEachRecord(b, func(r record.Record) error {
				if r.Key == nil {
					return fmt.Errorf("%w: offset delta %d", ErrKeylessRecordOnCompactedTopic, r.OffsetDelta)
				}
				return nil
			}); err != nil {
				return err
			}
		}
		if h.ProducerID >= 0 {
			idempotent = true
		}
		batchCount++
		// Rewrite the broker-owned header fields in this same pass. The
		// bytes are the request's own: if a later batch is refused,
		// nothing of them is written.
		record.StampLeaderEpoch(b, &h, epoch)
		if appendTime {
			record.StampLogAppendTime(b, &h, res.LogAppendTime)
		}
		hs = append(hs, h)
		return nil
	})
	if err != nil {
		return res, err
	}
	if batchCount == 0 {
		return res, fmt.Errorf("%w: produce with no record batch", record.ErrCorrupt)
	}
	res.LeaderEpoch = epoch
	p.mu.Lock()
	if p.repl != nil && p.leadEpoch.Load() != epoch {
		p.mu.Unlock()
		return res, ErrNotLeader
	}
	rolls := p.log.Rolls()
	res, err = p.appendLocked(batches, hs, idempotent, coordinator, res)
	var snapOff int64
	var snap []snapshotEntry
	if p.log.Rolls() != rolls {
		// A segment rolled: persist the producer state, so that Open
		// need not read the headers of the segments behind it.
		snapOff, snap = p.snapshotLocked()
	}
	p.mu.Unlock()
	if snap != nil {
		p.writeSnapshot(snapOff, snap)
	}
	if err == nil && p.repl != nil && !res.SyncOnAck {
		p.afterRelaxedAppend()
	}
	return res, err
}

// appendLocked is the part of Append that runs under p.mu: the producer
// checks and the log append. REQUIRES: p.mu held.
func (p *Partition) appendLocked(batches []byte, hs []record.BatchHeader, idempotent, coordinator bool, res AppendResult) (AppendResult, error) {
	if p.closed.Load() {
		return res, ErrClosed
	}
	if !idempotent {
		base, next, err := p.log.AppendParsed(batches, hs)
		if err != nil {
			return res, err
		}
		res.BaseOffset, res.NextOffset = base, next
	} else {
		// Check every batch before appending any (a request is all or
		// nothing), against the state the batches before it would leave.
		if err := p.producers.checkAll(hs, coordinator); err != nil {
			return res, err
		}
		// Idempotent batches go one at a time: each is checked against the
		// state the previous one left.
		first, held := true, false
		pos := 0
		err := func() error {
			for i := range hs {
				h := hs[i]
				b := batches[pos : pos+h.Size()]
				pos += h.Size()
				cached, err := p.producers.check(h, coordinator)
				if errors.Is(err, errDuplicate) {
					if first {
						res.BaseOffset, res.Duplicate = cached.firstOffset, true
						res.LogAppendTime = cached.timestamp
						first = false
					}
					res.NextOffset = max(res.NextOffset, cached.lastOffset+1)
					continue
				}
				if err != nil {
					return err
				}
				if p.producers.beginsTxn(h) {
					// A concurrent Flush may move the HW past this batch
					// as soon as it is in the log: hold the LSO at its
					// offset first (see txnView).
					p.holdLSOLocked(p.log.LogEndOffset())
					held = true
				}
				base, next, err := p.log.AppendParsed(b, hs[i:i+1])
				if err != nil {
					return err
				}
				h.BaseOffset = base
				p.producers.record(h, res.LogAppendTime)
				if first {
					res.BaseOffset = base
					first = false
				}
				res.Duplicate = false
				res.NextOffset = next
			}
			return nil
		}()
		// Also after a failed append: a hold must not outlive it.
		if p.producers.txnChanged || held {
			p.publishTxnsLocked(p.highWatermark.Load())
		}
		if err != nil {
			return res, err
		}
	}
	p.finishAppendLocked(&res)
	return res, nil
}

// finishAppendLocked fills the durability part of an append's result and
// moves the HW when the append is committed at once (relaxed durability,
// single broker). REQUIRES: p.mu held.
func (p *Partition) finishAppendLocked(res *AppendResult) {
	res.LogStartOffset = p.log.LogStartOffset()
	res.SyncOnAck = p.cfg.SyncOnAck
	if !p.cfg.SyncOnAck {
		leo := p.log.LogEndOffset()
		if p.repl == nil {
			p.advanceHighWatermark(leo)
		}
		res.FlushNow = leo-p.log.FlushedOffset() >= max(p.cfg.FlushMessages, 1)
	}
	if p.repl != nil {
		// Followers long-poll for new data, not for the HW.
		p.notify()
	}
}

// afterRelaxedAppend recomputes a cluster leader's HW after an append that
// is not fsynced before its ack (relaxed durability counts the leader's
// log end): with an ISR of itself alone it would otherwise wait for the
// next flush.
func (p *Partition) afterRelaxedAppend() {
	p.roleMu.Lock()
	defer p.roleMu.Unlock()
	if p.repl != nil && p.repl.leader {
		p.recomputeHWLocked(false)
	}
}

// FlushDue reports whether relaxed durability wants a background fsync now:
// something is unflushed and the last fsync ended flush.ms or more ago.
// Always false in durable mode, where every ack flushes.
func (p *Partition) FlushDue(now time.Time) bool {
	every := p.flushEvery.Load()
	if every < 0 || p.log.LogEndOffset() <= p.log.FlushedOffset() {
		return false
	}
	return now.UnixNano()-p.lastFlush.Load() >= every
}

func (p *Partition) storeFlushEvery(cfg Config) {
	if cfg.SyncOnAck {
		p.flushEvery.Store(-1)
	} else {
		p.flushEvery.Store(cfg.FlushInterval.Nanoseconds())
	}
}

// Flush makes the log durable up to at least what was appended before the
// call (group commit: concurrent callers share fsyncs) and moves the high
// watermark to the durable offset, waking fetches. A failed fsync is
// returned and the log refuses further writes.
func (p *Partition) Flush() error {
	flushed, err := p.log.Flush()
	if err != nil {
		return err
	}
	p.lastFlush.Store(time.Now().UnixNano())
	if p.repl != nil {
		p.roleMu.Lock()
		if p.repl.leader {
			p.recomputeHWLocked(p.syncOnAck())
		}
		p.roleMu.Unlock()
		return nil
	}
	if p.syncOnAck() {
		p.advanceHighWatermark(flushed)
	}
	return nil
}

func (p *Partition) syncOnAck() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.cfg.SyncOnAck
}

func (p *Partition) advanceHighWatermark(off int64) {
	for {
		cur := p.highWatermark.Load()
		if off <= cur {
			return
		}
		if p.highWatermark.CompareAndSwap(cur, off) {
			break
		}
	}
	p.notify()
}

func (p *Partition) notify() {
	p.watchMu.Lock()
	for ch := range p.watchers {
		select {
		case ch <- struct{}{}:
		default:
		}
	}
	p.watchMu.Unlock()
}

// Watch registers ch (buffered, capacity >= 1) to receive a signal whenever
// the high watermark moves or the partition closes. The returned func
// unregisters it.
func (p *Partition) Watch(ch chan struct{}) (cancel func()) {
	p.watchMu.Lock()
	p.watchers[ch] = struct{}{}
	p.watchMu.Unlock()
	return func() {
		p.watchMu.Lock()
		delete(p.watchers, ch)
		p.watchMu.Unlock()
	}
}

// ReadResult is what a fetch of one partition gets.
type ReadResult struct {
	Records []byte
	// Region, for the region reads (ReadRegion), is where Records would
	// be: whole batches of a segment file to send as they are. The caller
	// must Release it.
	Region         log.Region
	HighWatermark  int64
	LogStartOffset int64
	// LastStableOffset is filled by every read (Fetch carries it at both
	// isolation levels).
	LastStableOffset int64
	// Aborted lists, for ReadCommitted only, the aborted transactions
	// that may hold records in the returned range (Fetch's
	// AbortedTransactions); the consumer drops their records.
	Aborted []AbortedTxn
}

// Read returns whole batches from offset, below the high watermark, up to
// maxBytes (at least one batch when minOne, KIP-74): read_uncommitted.
func (p *Partition) Read(offset int64, maxBytes int, minOne bool) (ReadResult, error) {
	return p.read(offset, maxBytes, minOne, false)
}

// ReadCommitted is Read for isolation_level=1 (read_committed): bounded by
// the last stable offset instead of the high watermark, with the aborted
// transactions that overlap the returned range: those whose marker is at
// or after offset and whose first offset is below the offset after the
// returned data (the LSO when nothing is returned), as Kafka's
// collectAbortedTransactions.
func (p *Partition) ReadCommitted(offset int64, maxBytes int, minOne bool) (ReadResult, error) {
	return p.read(offset, maxBytes, minOne, true)
}

// ReadRegion is Read (committed: ReadCommitted) answering with a
// log.Region instead of the bytes, for a fetch that sends them straight
// from the file.
func (p *Partition) ReadRegion(offset int64, maxBytes int, minOne, committed bool) (ReadResult, error) {
	return p.readAs(offset, maxBytes, minOne, committed, true)
}

func (p *Partition) read(offset int64, maxBytes int, minOne, committed bool) (ReadResult, error) {
	return p.readAs(offset, maxBytes, minOne, committed, false)
}

func (p *Partition) readAs(offset int64, maxBytes int, minOne, committed, region bool) (ReadResult, error) {
	if p.closed.Load() {
		return ReadResult{}, ErrClosed
	}
	hw := p.highWatermark.Load() // before the LSO: see txnView
	res := ReadResult{HighWatermark: hw, LogStartOffset: p.log.LogStartOffset()}
	res.LastStableOffset = p.lsoAt(hw, res.LogStartOffset)
	leo := p.log.LogEndOffset()
	if offset < res.LogStartOffset || offset > leo {
		return res, fmt.Errorf("%w: offset %d not in [%d, %d]", ErrOffsetOutOfRange, offset, res.LogStartOffset, leo)
	}
	upTo := hw
	if committed {
		upTo = res.LastStableOffset
	}
	if offset >= upTo {
		return res, nil // committed (or stable) data ends here; the fetch may wait
	}
	if region {
		r, err := p.log.ReadRegion(offset, upTo, maxBytes, minOne)
		if err != nil {
			if errors.Is(err, log.ErrClosed) {
				return res, ErrClosed
			}
			return res, err
		}
		res.Region = r
		if committed && r.Len > 0 {
			res.Aborted = p.abortedIn(offset, r.Next)
		}
		return res, nil
	}
	b, err := p.log.Read(offset, upTo, maxBytes, minOne)
	if err != nil {
		if errors.Is(err, log.ErrClosed) {
			return res, ErrClosed
		}
		return res, err
	}
	res.Records = b
	if committed && len(b) > 0 {
		res.Aborted = p.abortedIn(offset, nextOffsetAfter(b, upTo))
	}
	return res, nil
}

// HighWatermark returns the high watermark.
func (p *Partition) HighWatermark() int64 { return p.highWatermark.Load() }

// LogStartOffset returns the first offset still in the log.
func (p *Partition) LogStartOffset() int64 { return p.log.LogStartOffset() }

// LogEndOffset returns the offset the next append gets.
func (p *Partition) LogEndOffset() int64 { return p.log.LogEndOffset() }

// LeaderEpoch returns the partition's leader epoch.
func (p *Partition) LeaderEpoch() int32 { return p.leaderEpoch.Load() }

// Size returns the bytes the log occupies on disk.
func (p *Partition) Size() int64 { return p.log.Size() }

// Dir returns the partition directory.
func (p *Partition) Dir() string { return p.cfg.Dir }

// NumSegments returns how many segments the log has (for metrics).
func (p *Partition) NumSegments() int { return p.log.NumSegments() }

// StorageError returns the sticky storage failure that took this replica's
// log offline (a failed fsync), or nil while it is healthy. Such a replica
// refuses writes until the broker restarts.
func (p *Partition) StorageError() error { return p.log.Failed() }

// InjectSyncFault makes the log's fsyncs fail with what fault returns (nil
// fault: no more faults); see log.InjectSyncFault. For fault-injection tests
// of the layers above.
func (p *Partition) InjectSyncFault(fault func() error) { p.log.InjectSyncFault(fault) }

// Syncs returns how many fsyncs the log has done since it was opened (for
// metrics).
func (p *Partition) Syncs() int64 { return p.log.Syncs() }

// OffsetForTimestamp answers ListOffsets by timestamp: the first committed
// offset whose record timestamp is >= ts.
func (p *Partition) OffsetForTimestamp(ts int64) (offset, timestamp int64, found bool, err error) {
	return p.offsetForTimestampBelow(ts, p.highWatermark.Load())
}

// OffsetForTimestampReadCommitted is OffsetForTimestamp for
// isolation_level=1: an offset at or past the last stable offset is not
// found (Kafka bounds ListOffsets by the LSO at read_committed; "latest"
// is LastStableOffset).
func (p *Partition) OffsetForTimestampReadCommitted(ts int64) (offset, timestamp int64, found bool, err error) {
	return p.offsetForTimestampBelow(ts, p.LastStableOffset())
}

func (p *Partition) offsetForTimestampBelow(ts, bound int64) (offset, timestamp int64, found bool, err error) {
	off, t, ok, err := p.log.OffsetForTimestamp(ts)
	if err != nil || !ok || off >= bound {
		return -1, -1, false, err
	}
	return off, t, true, nil
}

// MaxTimestamp answers ListOffsets -3 (KIP-734).
func (p *Partition) MaxTimestamp() (timestamp, offset int64) {
	return p.maxTimestampBelow(p.highWatermark.Load())
}

// MaxTimestampReadCommitted is MaxTimestamp for isolation_level=1: (-1, -1)
// when the record is at or past the last stable offset.
func (p *Partition) MaxTimestampReadCommitted() (timestamp, offset int64) {
	return p.maxTimestampBelow(p.LastStableOffset())
}

func (p *Partition) maxTimestampBelow(bound int64) (timestamp, offset int64) {
	ts, off := p.log.MaxTimestamp()
	if off >= bound {
		// Not committed (or stable) yet: nothing rather than leak it.
		return -1, -1
	}
	return ts, off
}

// DeleteRecords moves the log start offset to offset (-1 = the high
// watermark), as DeleteRecords does, and returns the new log start offset.
func (p *Partition) DeleteRecords(offset int64) (int64, error) {
	hw := p.highWatermark.Load()
	if offset == -1 {
		offset = hw
	}
	if offset < 0 || offset > hw {
		return p.log.LogStartOffset(), fmt.Errorf("%w: %d is beyond the high watermark %d", ErrOffsetOutOfRange, offset, hw)
	}
	if offset <= p.log.LogStartOffset() {
		return p.log.LogStartOffset(), nil
	}
	if err := p.log.SetLogStartOffset(offset); err != nil {
		return p.log.LogStartOffset(), err
	}
	return p.log.LogStartOffset(), nil
}

// CheckpointRecoveryPoint persists the log's flushed offset as its recovery
// point (log.CheckpointRecoveryPoint); the broker calls it periodically.
func (p *Partition) CheckpointRecoveryPoint() error {
	err := p.log.CheckpointRecoveryPoint()
	if errors.Is(err, log.ErrClosed) {
		return ErrClosed
	}
	return err
}

// ApplyRetention deletes segments past retention.ms/retention.bytes.
func (p *Partition) ApplyRetention() (int, error) {
	return p.log.ApplyRetention(p.HighWatermark())
}

// Compact runs a log cleaner pass if the topic is compacted and its log is
// due (min.cleanable.dirty.ratio, max.compaction.lag.ms); see log.Compact.
func (p *Partition) Compact(now time.Time) (log.CompactStats, error) {
	if p.closed.Load() {
		return log.CompactStats{}, ErrClosed
	}
	// Only below the LSO: the outcome of later transactional data is
	// not known yet (log.CompactBelow).
	st, err := p.log.CompactBelow(now, p.LastStableOffset())
	if errors.Is(err, log.ErrClosed) {
		return st, ErrClosed
	}
	return st, err
}

// Close closes the log (after a final flush), writes a producer snapshot
// at the log end so the next Open reads no header, and wakes waiters.
func (p *Partition) Close() error {
	if p.closed.Swap(true) {
		return nil
	}
	p.notify()
	p.mu.Lock()
	err := p.log.Close()
	off, snap := p.snapshotLocked()
	p.mu.Unlock()
	if err == nil {
		p.writeSnapshot(off, snap)
	}
	return err
}

// Abandon closes the partition without flushing: its files are about to be
// deleted (the broker renames the directory away first).
func (p *Partition) Abandon() {
	p.closed.Store(true)
	p.notify()
	p.mu.Lock()
	defer p.mu.Unlock()
	p.log.Abandon()
}

// Delete closes the partition and removes its directory.
func (p *Partition) Delete() error {
	p.closed.Store(true)
	p.notify()
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.log.Delete()
}
