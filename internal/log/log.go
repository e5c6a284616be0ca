package log

import (
	"errors"
	"fmt"
	"log/slog"
	"os"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/samsa-io/samsa/internal/record"
)

var (
	// ErrOffsetOutOfRange is returned by Read for an offset below
	// LogStartOffset or above LogEndOffset (OFFSET_OUT_OF_RANGE).
	ErrOffsetOutOfRange = errors.New("log: offset out of range")
	// ErrClosed is returned by every call after Close or Delete.
	ErrClosed = errors.New("log: closed")
	// ErrCorrupt marks damage outside the recoverable tail of the active
	// segment. The message names the file and position; the partition must
	// go offline (KAFKA_STORAGE_ERROR), nothing is truncated.
	ErrCorrupt = errors.New("log: corrupt segment")
	// ErrStorage marks a failed write or fsync. After a failed fsync it is
	// sticky: every later Append, Flush and Read returns it too, because
	// the page cache can no longer be trusted to match the disk. A failed
	// append write fails only that append (see doc.go).
	ErrStorage = errors.New("log: storage failure")
	// ErrInvalidBatch is returned by Append and AppendAt for bytes that are
	// not whole v2 batches (the caller should have validated them).
	ErrInvalidBatch = errors.New("log: invalid batch")
	// ErrUnexpectedOffset is returned by AppendAt when the batches do not
	// start at LogEndOffset or are not contiguous.
	ErrUnexpectedOffset = errors.New("log: unexpected offset")
)

// Defaults, Kafka's.
const (
	DefaultSegmentBytes       = 1 << 30
	DefaultSegmentAge         = 7 * 24 * time.Hour
	DefaultIndexIntervalBytes = 4096
	DefaultRetentionAge       = 7 * 24 * time.Hour
)

// Options are a partition's log settings. The zero value of a field means
// its default; to disable time retention, set RetentionAge < 0.
type Options struct {
	SegmentBytes       int64         // segment.bytes; default 1 GiB
	SegmentAge         time.Duration // segment.ms; default 7 days
	IndexIntervalBytes int           // index.interval.bytes; default 4096
	RetentionAge       time.Duration // retention.ms; < 0 keeps forever; default 7 days
	RetentionBytes     int64         // retention.bytes; < 0 (or 0) is unlimited

	// Compaction (cleanup.policy=compact, see compact.go). Unlike the
	// fields above, zero is meaningful for each of these and is used as
	// given: the broker always passes the topic's resolved values.
	Compact                bool          // cleanup.policy includes compact
	DeleteRetention        time.Duration // delete.retention.ms: tombstone lifetime after its segment is first cleaned
	MinCompactionLag       time.Duration // min.compaction.lag.ms
	MaxCompactionLag       time.Duration // max.compaction.lag.ms; <= 0 = never
	MinCleanableDirtyRatio float64       // min.cleanable.dirty.ratio

	// Preallocate (preallocate / log.preallocate) grows the active
	// segment's file in PreallocateChunk steps ahead of the appends, so
	// that an fsync need not commit a new file size (see preallocate.go).
	Preallocate bool

	// CleanShutdown is read by Open only: the broker found its
	// clean-shutdown marker, so every file of this log was flushed and
	// closed by Close. Open then trusts the active segment and its
	// indexes after a cheap check of the tail (see doc.go, Recovery).
	CleanShutdown bool

	// Syncer, read by Open only, shares fsync rounds with the other logs
	// on the same filesystem (syncer.go). Nil: this log syncs alone.
	Syncer *Syncer

	Now    func() time.Time
	Logger *slog.Logger
}

func (o Options) withDefaults() Options {
	if o.SegmentBytes <= 0 {
		o.SegmentBytes = DefaultSegmentBytes
	}
	if o.SegmentAge == 0 {
		o.SegmentAge = DefaultSegmentAge
	}
	if o.IndexIntervalBytes <= 0 {
		o.IndexIntervalBytes = DefaultIndexIntervalBytes
	}
	if o.RetentionAge == 0 {
		o.RetentionAge = DefaultRetentionAge
	}
	if o.RetentionBytes == 0 {
		o.RetentionBytes = -1
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	return o
}

// Log is the append-only record log of one partition replica.
//
// Lock order (see also internal/LOCKING.md): flushMu -> mu. Segment
// reference counts are atomics taken under mu and dropped without it.
// No fsync runs under mu except at a segment roll, a truncation, and a
// log-start-offset checkpoint, all rare.
type Log struct {
	dir    string       // immutable after Open
	logger *slog.Logger // used and replaced (SetOptions) under mu only

	// leo and logStart mirror mu.segments' last next offset and
	// mu.logStartOffset for lock-free readers; written only under mu.
	leo, logStart atomic.Int64
	// flushed is the offset below which everything is durable.
	// Invariant: flushed <= leo. Written under flushMu and mu both, or by
	// a truncation under mu.
	flushed atomic.Int64
	syncs   atomic.Int64 // fsync calls made, for tests and metrics
	rolls   atomic.Int64 // segment rolls since Open

	// recovery says what Open did; immutable after Open.
	recovery RecoveryStats
	// rpMu serialises CheckpointRecoveryPoint calls, which own the
	// recovery point's temp file. Lock order: rpMu -> mu.
	rpMu sync.Mutex

	// syncer, when set (immutable after Open), shares Flush's fsync
	// rounds with other logs.
	syncer *Syncer
	// syncHook replaces (*os.File).Sync in tests that inject a failure.
	syncHook func(*os.File) error
	// syncFault, when set, runs before every fsync and its error replaces
	// the fsync's: fault injection for the layers above (InjectSyncFault).
	syncFault atomic.Pointer[func() error]
	// hasFailed mirrors mu.failed != nil for lock-free readers (Failed).
	hasFailed atomic.Bool
	// writeHook replaces (*os.File).WriteAt in tests that inject a
	// failed write (a full disk).
	writeHook func(f *os.File, b []byte, off int64) (int, error)
	// swapCrashHook, when it returns an error, stops a compaction swap at
	// that step as a crash would (compact.go, crashPoint). Tests only.
	swapCrashHook func(step int) error

	// compactMu serialises Compact calls (one cleaner pass at a time). It
	// is held across the whole pass, which takes mu only briefly. Lock
	// order: compactMu -> mu.
	compactMu sync.Mutex

	// txnSyncMu serialises SyncTxnIndex, so that a caller returns only
	// once every entry written before its call is fsynced, even when a
	// concurrent call took the dirty flags. Lock order: txnSyncMu -> mu.
	txnSyncMu sync.Mutex

	flushMu   sync.Mutex
	flushCond *sync.Cond // on flushMu; broadcast when a flush ends
	flushing  bool       // guarded by flushMu: one fsync round at a time
	flushErr  error      // guarded by flushMu: sticky

	mu struct {
		sync.Mutex
		opts Options
		// segments is sorted by base offset and never empty while open;
		// the last is active. Invariant: segments[i].next ==
		// segments[i+1].base (offsets are contiguous across segments).
		segments []*segment
		// Invariant: segments[0].base <= logStartOffset <= LEO.
		logStartOffset int64
		failed         error // sticky ErrStorage
		closed         bool
		// dirDirty is set when a segment file was created and the
		// directory has not been fsynced since.
		dirDirty bool
		// truncations counts TruncateTo calls, so that a flush that
		// started before one does not publish a stale flushed offset.
		truncations uint64
		// headers is Append's scratch for the parsed batch headers.
		headers []record.BatchHeader
		// firstDirty is the compaction checkpoint (compact.go): segments
		// wholly below it have been cleaned. cleanedUpTo is the high mark
		// (cleanerHighMarkFile), never lowered: recovery tolerates offset
		// gaps in an active segment below it.
		firstDirty, cleanedUpTo int64
		// recoveryPoint is the offset in the recovery-point file, -1 when
		// there is none. Invariant: recoveryPoint <= FlushedOffset, so it
		// never vouches for bytes that were not fsynced (a truncation
		// below it removes the file first).
		recoveryPoint int64
		// txnRebuild is set by Open when a transaction index was found
		// damaged and reset; txnRebuildFrom is the lowest such segment's
		// base (see TxnIndexRebuildFrom).
		txnRebuild     bool
		txnRebuildFrom int64
	}
}

func (l *Log) activeLocked() *segment { return l.mu.segments[len(l.mu.segments)-1] }

func (l *Log) now() time.Time { return l.mu.opts.Now() }

// usableLocked returns the error that makes the Log refuse work, if any.
func (l *Log) usableLocked() error {
	if l.mu.closed {
		return ErrClosed
	}
	return l.mu.failed
}

// failLocked makes err sticky. Called for every write or fsync failure: after
// one the files may hold anything, so nothing more is written or served.
func (l *Log) failLocked(err error) error {
	if l.mu.failed == nil {
		l.mu.failed = fmt.Errorf("%w: %s: %w", ErrStorage, l.dir, err)
		l.hasFailed.Store(true)
		l.logger.Error("log failed; partition must go offline", "dir", l.dir, "err", err)
	}
	return l.mu.failed
}

// Failed returns the sticky storage error that took the Log offline (a
// failed fsync), or nil while it is healthy.
func (l *Log) Failed() error {
	if !l.hasFailed.Load() {
		return nil // the common case costs no lock (Metadata asks per partition)
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.mu.failed
}

// InjectSyncFault makes every later fsync of this Log (segments, indexes,
// checkpoints, the directory) fail with what fault returns, when that is
// not nil; a nil fault removes it. It exists so that tests of the layers
// above (error codes, offline reporting) can fail a real broker's storage
// the way a dying disk would; nothing in production calls it.
func (l *Log) InjectSyncFault(fault func() error) {
	if fault == nil {
		l.syncFault.Store(nil)
		return
	}
	l.syncFault.Store(&fault)
}

// sync fsyncs f and counts it.
func (l *Log) sync(f *os.File) error { return l.syncWith(f, fileSync) }

// syncWith counts an fsync of f, runs the injected fault and test hook if
// any, else do.
func (l *Log) syncWith(f *os.File, do func(*os.File) error) error {
	l.syncs.Add(1)
	if fault := l.syncFault.Load(); fault != nil {
		if err := (*fault)(); err != nil {
			return err
		}
	}
	if l.syncHook != nil {
		return l.syncHook(f)
	}
	return do(f)
}

// fileSync makes f's data durable; the operation fuzzer swaps it for a
// no-op because it checks logic, not the disk, and real fsyncs make it
// crawl.
var fileSync = datasync

// syncDir fsyncs the log directory, making file creations, renames and
// removals durable.
//
// A directory gets fsync(2), never fdatasync(2): its entries are what must
// reach the disk, and fdatasync's promise covers a file's data and size,
// which for a directory is filesystem-specific. Kafka forces directories
// the same way (FileChannel.force(true)).
func (l *Log) syncDir() error {
	d, err := openDir(l.dir)
	if err != nil {
		// No fsync was tried (typically EMFILE: out of descriptors), so
		// the page cache is still trusted: callers retry later instead
		// of failing the log (see dirOpenError).
		return &dirOpenError{err}
	}
	defer d.Close()
	return l.syncWith(d, dirSync)
}

// dirOpenError: the directory could not even be opened for its fsync. It
// is not a failed fsync, so it does not take the Log offline; running out
// of file descriptors must never look like a dying disk.
type dirOpenError struct{ err error }

func (e *dirOpenError) Error() string { return "open directory for fsync: " + e.err.Error() }
func (e *dirOpenError) Unwrap() error { return e.err }

// isDirOpenError reports whether err comes from a directory that could not
// be opened for its fsync (no fsync was attempted).
func isDirOpenError(err error) bool {
	var d *dirOpenError
	return errors.As(err, &d)
}

// openDir opens a directory for syncDir; tests swap it to inject EMFILE.
var openDir = os.Open

// dirSync is fsync(2) of a directory; the operation fuzzer swaps it for a
// no-op, as it does fileSync.
var dirSync = (*os.File).Sync

// Append writes one or more v2 batches, concatenated in b and validated by
// the caller, assigning offsets from LogEndOffset: each batch's base offset
// is rewritten in b. It returns the first base offset and the new
// LogEndOffset. The bytes reach the page cache with one write(2); they are
// durable only after Flush.
func (l *Log) Append(b []byte) (baseOffset, nextOffset int64, err error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	baseOffset = l.leo.Load()
	nextOffset, err = l.appendLocked(b, nil, true)
	return baseOffset, nextOffset, err
}

// AppendParsed is Append for batches whose headers the caller has already
// parsed and validated (the produce path parses each batch once): hs[i] is
// the header of the i-th batch in b, in step with any field the caller
// rewrote. The headers' BaseOffset fields are assigned along with b's.
func (l *Log) AppendParsed(b []byte, hs []record.BatchHeader) (baseOffset, nextOffset int64, err error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	baseOffset = l.leo.Load()
	if len(hs) == 0 {
		return 0, 0, fmt.Errorf("%w: no batches", ErrInvalidBatch)
	}
	nextOffset, err = l.appendLocked(b, hs, true)
	return baseOffset, nextOffset, err
}

// AppendAt is Append for batches that already carry their offsets
// (followers copying the leader, tests). They must start at LogEndOffset
// and be contiguous, else ErrUnexpectedOffset and nothing is written.
func (l *Log) AppendAt(b []byte) (nextOffset int64, err error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.appendLocked(b, nil, false)
}

// parseHeadersLocked parses the header of each batch in b into the log's
// scratch, checking only framing. REQUIRES: l.mu held.
func (l *Log) parseHeadersLocked(b []byte) ([]record.BatchHeader, error) {
	hs := l.mu.headers[:0]
	for pos := 0; pos < len(b); {
		h, err := record.ParseHeader(b[pos:])
		if err != nil {
			return nil, fmt.Errorf("%w: batch at byte %d: %w", ErrInvalidBatch, pos, err)
		}
		if h.BatchLength < record.BatchHeaderSize-record.LogOverhead || h.Size() > len(b)-pos {
			return nil, fmt.Errorf("%w: batch at byte %d: batchLength %d, %d bytes left",
				ErrInvalidBatch, pos, h.BatchLength, len(b)-pos)
		}
		hs = append(hs, h)
		pos += h.Size()
	}
	if cap(hs) <= 1024 { // a follower's fetch of tiny batches must not pin much
		l.mu.headers = hs
	}
	return hs, nil
}

// appendLocked implements Append, AppendParsed and AppendAt: hs are b's
// parsed headers, or nil to parse them here. REQUIRES: l.mu held.
func (l *Log) appendLocked(b []byte, hs []record.BatchHeader, assign bool) (int64, error) {
	if err := l.usableLocked(); err != nil {
		return 0, err
	}
	if len(b) == 0 {
		return 0, fmt.Errorf("%w: no batches", ErrInvalidBatch)
	}
	if hs == nil {
		var err error
		if hs, err = l.parseHeadersLocked(b); err != nil {
			return 0, err
		}
	}
	// Pass 1 checks the framing and assigns offsets without touching the
	// files, so a bad batch anywhere in b leaves the log unchanged. It
	// works on the parsed headers; b is touched only to write base offsets.
	next := l.leo.Load()
	pos := 0
	for i := range hs {
		h := &hs[i]
		if h.BatchLength < record.BatchHeaderSize-record.LogOverhead || h.Size() > len(b)-pos || h.LastOffsetDelta < 0 {
			return 0, fmt.Errorf("%w: batch at byte %d: batchLength %d, lastOffsetDelta %d, %d bytes left",
				ErrInvalidBatch, pos, h.BatchLength, h.LastOffsetDelta, len(b)-pos)
		}
		if assign {
			record.SetBaseOffset(b[pos:], next)
			h.BaseOffset = next
		} else if h.BaseOffset != next {
			return 0, fmt.Errorf("%w: batch at byte %d has base offset %d, log end offset is %d", ErrUnexpectedOffset, pos, h.BaseOffset, next)
		}
		next += int64(h.LastOffsetDelta) + 1
		pos += h.Size()
	}
	if pos != len(b) {
		return 0, fmt.Errorf("%w: %d bytes of batches, %d given", ErrInvalidBatch, pos, len(b))
	}

	active := l.activeLocked()
	if l.shouldRollLocked(active, int64(len(b)), next-1, hs[0].MaxTimestamp) {
		if err := l.rollLocked(); err != nil {
			return 0, err
		}
		active = l.activeLocked()
	}
	if !fitsIndex(active.base, next-1, active.size+int64(len(b))) {
		return 0, fmt.Errorf("%w: %d bytes ending at offset %d do not fit one segment", ErrInvalidBatch, len(b), next-1)
	}

	writeAt := (*os.File).WriteAt
	if l.writeHook != nil {
		writeAt = l.writeHook
	}
	if l.mu.opts.Preallocate && active.size+int64(len(b)) > active.alloc {
		l.preallocateLocked(active, int64(len(b)))
	}
	if _, err := writeAt(active.log, b, active.size); err != nil {
		// A failed write(2) — a full disk (ENOSPC), a quota — may leave part
		// of b past active.size. No reader sees it (reads stop at the
		// segment size) and nothing acknowledged is touched (it is all
		// below active.size); cutting it off keeps a crash from leaving it
		// either. The log stays usable, so producing resumes once space is
		// freed. Only if the cut itself fails is the file untrustworthy.
		werr := fmt.Errorf("%w: write %s at %d: %w", ErrStorage, active.logPath, active.size, err)
		if terr := active.truncateFile(active.size); terr != nil {
			return 0, l.failLocked(errors.Join(werr, fmt.Errorf("truncate after failed write: %w", terr)))
		}
		l.logger.Warn("append failed; nothing was written (free disk space to resume)", "file", active.logPath, "err", err)
		return 0, werr
	}
	// Pass 2: index the batches now that they are in the file (in memory:
	// the index files are written at roll and Close).
	interval := l.mu.opts.IndexIntervalBytes
	for i := range hs {
		active.track(hs[i], active.size, interval)
	}
	l.leo.Store(next)
	return next, nil
}

// shouldRollLocked reports whether n more bytes ending at offset lastOffset,
// whose first batch has max timestamp ts, need a new segment: the active one
// would pass SegmentBytes or its 32-bit index range, or is older than
// SegmentAge. Age follows Kafka (LogSegment.shouldRoll): the incoming
// timestamp minus the first batch's, or, without timestamps, the time since
// the segment was created. An empty segment never rolls.
// REQUIRES: l.mu held.
func (l *Log) shouldRollLocked(active *segment, n, lastOffset, ts int64) bool {
	if active.size == 0 {
		return false
	}
	o := &l.mu.opts
	if active.size+n > o.SegmentBytes || !fitsIndex(active.base, lastOffset, active.size+n) {
		return true
	}
	if o.SegmentAge <= 0 {
		return false
	}
	if active.firstTS >= 0 && ts >= 0 {
		return ts-active.firstTS > o.SegmentAge.Milliseconds()
	}
	return l.now().Sub(active.created) > o.SegmentAge
}

// rollLocked closes the active segment for appends and starts a new one at
// LogEndOffset. The outgoing segment is fsynced (with its final time-index
// entry) BEFORE the new file exists: that keeps the invariant that every
// segment but the last is whole on disk, so recovery validates only the
// last. The directory is fsynced by the next Flush.
// REQUIRES: l.mu held.
func (l *Log) rollLocked() error {
	old := l.activeLocked()
	// A preallocated tail goes before the segment is made whole on disk:
	// an inactive segment's file ends at its last batch.
	if old.alloc > old.size {
		if err := old.truncateFile(old.size); err != nil {
			return l.failLocked(fmt.Errorf("trim preallocated %s: %w", old.logPath, err))
		}
	}
	old.maybeTimeEntry()
	if err := old.persistIndexes(l.sync); err != nil {
		if errors.As(err, new(*indexOpenError)) {
			// Out of descriptors: nothing was written and the old
			// segment stays active; this append fails, the log does not.
			return fmt.Errorf("roll: %w", err)
		}
		return l.failLocked(err)
	}
	if err := l.sync(old.log); err != nil {
		return l.failLocked(fmt.Errorf("fsync %s: %w", old.logPath, err))
	}
	if err := l.syncTxnIndexLocked(old); err != nil {
		return err
	}
	s, err := openSegment(l.dir, old.next, true, l.now())
	if err != nil {
		// Nothing was lost: the old segment stays active.
		return fmt.Errorf("roll: %w", err)
	}
	l.mu.segments = append(l.mu.segments, s)
	l.mu.dirDirty = true
	l.rolls.Add(1)
	l.logger.Debug("rolled segment", "dir", l.dir, "base", s.base)
	return nil
}

// Read returns whole batches starting with the one that holds offset, from a
// single segment, up to maxBytes, and only batches whose base offset is below
// upTo (the high watermark). When the first batch alone exceeds maxBytes it
// is returned anyway if minOne is set (KIP-74), else nothing is. An offset
// equal to LogEndOffset or >= upTo gives an empty result; one below
// LogStartOffset or above LogEndOffset gives ErrOffsetOutOfRange. The result
// is a fresh buffer owned by the caller. The lock is held only to snapshot
// the segment; the pread runs concurrently with appends.
//
// Compaction leaves gaps in offsets: the batch returned first may start
// after offset, and a cleaned segment may hold no batch at or after offset
// at all (its tail, or all of it, was removed). Read then continues in the
// next segment, so a consumer positioned in a gap moves on as in Kafka.
func (l *Log) Read(offset, upTo int64, maxBytes int, minOne bool) ([]byte, error) {
	first := offset
	for {
		l.mu.Lock()
		if err := l.usableLocked(); err != nil {
			l.mu.Unlock()
			return nil, err
		}
		logStart, leo := l.mu.logStartOffset, l.leo.Load()
		if offset < logStart || offset > leo {
			l.mu.Unlock()
			if offset != first {
				// A truncation or restart raced the walk past a gap.
				return nil, nil
			}
			return nil, fmt.Errorf("%w: %d not in [%d, %d]", ErrOffsetOutOfRange, offset, logStart, leo)
		}
		if offset == leo || offset >= upTo {
			l.mu.Unlock()
			return nil, nil
		}
		i := l.segmentIndexLocked(offset)
		s := l.mu.segments[i]
		last, next := i == len(l.mu.segments)-1, s.next
		v := l.viewLocked(s)
		l.mu.Unlock()
		b, exhausted, err := v.read(offset, upTo, maxBytes, minOne)
		v.seg.release()
		if err != nil || !exhausted || last || next <= offset {
			return b, err
		}
		offset = next
	}
}

// segmentIndexLocked returns the index of the segment that holds offset:
// the last one whose base is <= offset, skipping empty segments.
// REQUIRES: l.mu held; LogStartOffset <= offset < LogEndOffset.
func (l *Log) segmentIndexLocked(offset int64) int {
	segs := l.mu.segments
	i := sort.Search(len(segs), func(i int) bool { return segs[i].base > offset }) - 1
	i = max(i, 0)
	for i < len(segs)-1 && segs[i].next <= offset {
		i++
	}
	return i
}

// LogStartOffset is the first offset a reader may ask for.
func (l *Log) LogStartOffset() int64 { return l.logStart.Load() }

// LogEndOffset is the offset the next appended record will get.
func (l *Log) LogEndOffset() int64 { return l.leo.Load() }

// FlushedOffset is the offset below which every record is durable.
func (l *Log) FlushedOffset() int64 { return l.flushed.Load() }

// Rolls is the number of segment rolls since Open. A caller that keeps
// state derived from the log (producer snapshots) compares it around an
// Append to notice a roll.
func (l *Log) Rolls() int64 { return l.rolls.Load() }

// Syncs is the number of fsync calls the Log has made, for tests and metrics.
func (l *Log) Syncs() int64 { return l.syncs.Load() }

// Dir is the partition directory.
func (l *Log) Dir() string { return l.dir }

// Size is the number of bytes in all segment .log files.
func (l *Log) Size() int64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.sizeLocked()
}

func (l *Log) sizeLocked() int64 {
	var n int64
	for _, s := range l.mu.segments {
		n += s.size
	}
	return n
}

// NumSegments is the number of segments, the active one included.
func (l *Log) NumSegments() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.mu.segments)
}

// SetOptions applies changed topic configs. They take effect at the next
// append (roll decisions) or retention pass; existing index entries stay.
func (l *Log) SetOptions(o Options) {
	o = o.withDefaults()
	l.mu.Lock()
	defer l.mu.Unlock()
	l.mu.opts = o
	l.logger = o.Logger
}

// Close flushes, then closes the files. Reads still in flight finish first
// (they hold segment references). Later calls return ErrClosed.
//
// A Close that returns nil leaves the files as a clean shutdown promises
// (Options.CleanShutdown): the active .log and its indexes and the directory
// fsynced, the recovery point at LogEndOffset.
func (l *Log) Close() error {
	_, err := l.Flush()
	if errors.Is(err, ErrClosed) {
		return nil
	}
	if err == nil {
		err = l.CheckpointRecoveryPoint()
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if err == nil && !l.mu.closed {
		err = l.syncActiveIndexesLocked()
	}
	l.closeLocked()
	return err
}

// Abandon closes the Log without flushing or checkpointing: its files are
// about to be deleted (a topic deletion renames the directory first).
func (l *Log) Abandon() {
	l.mu.Lock()
	l.closeLocked()
	l.mu.Unlock()
}

// closeLocked drops the Log's references to its segments.
// REQUIRES: l.mu held.
func (l *Log) closeLocked() {
	if l.mu.closed {
		return
	}
	l.mu.closed = true
	for _, s := range l.mu.segments {
		s.release()
	}
	l.mu.segments = nil
}

// Delete closes the Log without flushing and removes its directory (topic
// deletion).
func (l *Log) Delete() error {
	l.Abandon()
	if err := os.RemoveAll(l.dir); err != nil {
		return fmt.Errorf("delete log %s: %w", l.dir, err)
	}
	return nil
}

// Flush makes everything appended before the call durable and returns the
// durable offset (FlushedOffset).
//
// Group commit: one fsync round runs at a time, outside mu, so appends go on
// meanwhile. A caller that finds a round running waits for it; if that round
// covered the caller's data it returns, otherwise one of the waiters starts
// the next round, which covers every append made before it started. Under
// load, N concurrent Flush calls cost about two fsyncs, not N.
//
// A failed fsync is fatal: the error is sticky for Append, Flush and Read.
// Linux may drop dirty pages after reporting the failure, so a retry could
// "succeed" without the data (the PostgreSQL fsyncgate lesson).
func (l *Log) Flush() (flushedOffset int64, err error) {
	target := l.leo.Load()
	l.flushMu.Lock()
	for {
		if l.flushErr != nil {
			err := l.flushErr
			l.flushMu.Unlock()
			return l.flushed.Load(), err
		}
		// A TruncateTo may have dropped offsets below target: they no
		// longer need to be (and never will be) durable.
		target = min(target, l.leo.Load())
		if f := l.flushed.Load(); f >= target {
			l.flushMu.Unlock()
			return f, l.usable()
		}
		if !l.flushing {
			break
		}
		l.flushCond.Wait()
	}
	l.flushing = true
	l.flushMu.Unlock()

	err = l.syncRound()

	l.flushMu.Lock()
	l.flushing = false
	if err != nil && !isDirOpenError(err) {
		l.flushErr = err
	}
	l.flushCond.Broadcast()
	l.flushMu.Unlock()
	return l.flushed.Load(), err
}

// usable is usableLocked taking mu.
func (l *Log) usable() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.usableLocked()
}

// syncRound fsyncs the active segment's .log (and the directory if a segment
// was created since the last round) and publishes the LogEndOffset it read
// as flushed. Only the .log needs it: every older segment was fsynced whole
// when it rolled, and the active segment's indexes are rebuilt on Open.
// REQUIRES: l.flushing owned by the caller (so rounds do not overlap).
func (l *Log) syncRound() error {
	l.mu.Lock()
	if err := l.usableLocked(); err != nil {
		l.mu.Unlock()
		return err
	}
	v := l.viewLocked(l.activeLocked())
	target := l.leo.Load()
	dirDirty := l.mu.dirDirty
	l.mu.dirDirty = false
	gen := l.mu.truncations
	l.mu.Unlock()

	syncFile := func() error {
		if err := l.sync(v.seg.log); err != nil {
			return fmt.Errorf("fsync %s: %w", v.seg.logPath, err)
		}
		return nil
	}
	var syncDir func() error
	if dirDirty {
		syncDir = func() error {
			if err := l.syncDir(); err != nil {
				return fmt.Errorf("fsync dir: %w", err)
			}
			return nil
		}
	}
	var err error
	if l.syncer != nil && l.syncHook == nil && l.syncFault.Load() == nil {
		// Shared with the logs flushing at the same moment (one syncfs
		// for all of them); alone in its round, this log runs syncFile
		// and syncDir itself. Tests that inject faults sync alone.
		check := func() error {
			if err := writebackError(v.seg.log); err != nil {
				return fmt.Errorf("fsync %s (shared syncfs): %w", v.seg.logPath, err)
			}
			return nil
		}
		var shared bool
		if shared, err = l.syncer.Sync(syncFile, syncDir, check); shared {
			l.syncs.Add(1)
		}
	} else {
		err = syncFile()
		if err == nil && syncDir != nil {
			err = syncDir()
		}
	}
	v.seg.release()

	l.mu.Lock()
	defer l.mu.Unlock()
	if err != nil && isDirOpenError(err) {
		// Nothing was fsynced wrongly: the segment's data is, but the
		// directory entry of a new segment is not yet, so nothing is
		// published and the next round tries the directory again.
		l.mu.dirDirty = true
		return err
	}
	if err != nil {
		return l.failLocked(err)
	}
	// A TruncateTo since the snapshot may have dropped offsets below
	// target; it already lowered flushed and made itself durable.
	if gen == l.mu.truncations && target > l.flushed.Load() {
		l.flushed.Store(target)
	}
	return nil
}
