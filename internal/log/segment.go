package log

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/samsa-io/samsa/internal/record"
)

// File name suffixes (on-disk format; do not change: Kafka's names).
const (
	logSuffix       = ".log"
	indexSuffix     = ".index"
	timeIndexSuffix = ".timeindex"
)

// segmentName is the 20-digit zero-padded base offset Kafka names files by.
func segmentName(base int64) string {
	return fmt.Sprintf("%020d", base)
}

// parseSegmentName returns the base offset of a file named
// <20 digits><suffix>, or ok=false.
func parseSegmentName(name, suffix string) (base int64, ok bool) {
	if len(name) != 20+len(suffix) || name[20:] != suffix {
		return 0, false
	}
	for _, c := range name[:20] {
		if c < '0' || c > '9' {
			return 0, false
		}
	}
	base, err := strconv.ParseInt(name[:20], 10, 64)
	return base, err == nil
}

// segment is one .log file and its two indexes.
//
// The .log stays open while refs > 0: the Log holds one reference for as
// long as the segment is in its list, and every reader that snapshotted the
// segment holds one more while it preads. Deleting a segment unlinks its
// files and drops the Log's reference; the last reader closes the
// descriptor. Reads of an unlinked file still see its bytes (POSIX).
//
// The index files are not held open: their entries live in memory (index,
// times), which is what lookups use, and reach the files only at roll, at
// Close and when rebuilt (persistIndexes), each file opened just for that.
// After a crash Open rebuilds the active segment's indexes from its .log
// anyway, so appends never touch them. That keeps a partition at one open
// file per segment: ten thousand partitions fit under a 20 000-file limit.
type segment struct {
	base     int64  // immutable: first offset this segment may hold
	logPath  string // immutable
	idxPath  string // immutable: the .index
	timePath string // immutable: the .timeindex
	log      *os.File

	refs atomic.Int32

	// The fields below are guarded by Log.mu. The slices are copy-on-truncate:
	// appends only add elements past a snapshot's length, truncation
	// replaces the slice, so a reader may search a snapshot without the lock.
	size            int64 // bytes of whole batches in .log; the file is never shorter
	next            int64 // offset after the last batch; base when empty
	index           []offsetEntry
	times           []timeEntry
	bytesSinceIndex int64
	// maxTS is the largest batch MaxTimestamp in the segment (-1 when none),
	// maxTSBase and maxTSLast the first and last offset of the first batch
	// that reached it. The time index's last entry lags these until roll.
	maxTS, maxTSBase, maxTSLast int64
	// firstTS is the MaxTimestamp of the first batch (-1 when empty or
	// none): segment.ms measures the segment's age from it, as Kafka's
	// rollingBasedTimestamp does.
	firstTS int64
	created time.Time // when this process created or opened the segment
	// indexMissing is set by openSegment when an index file did not exist.
	indexMissing bool
	// alloc is the .log file's size on disk: size, or more while a
	// preallocated tail (zeros) follows the last batch (preallocate.go).
	alloc int64
	// offOnDisk and timesOnDisk count the entries of index and times that
	// the files hold (a prefix of each; the files may be longer until the
	// next persistIndexes cuts them).
	offOnDisk, timesOnDisk int

	// aborted is the segment's aborted-transaction index (txnindex.go),
	// sorted by LastOffset, every LastOffset in [base, next). txnIdx is
	// its file, nil until one is loaded or first written; txnDirty: it
	// was written since its last fsync. Guarded by Log.mu (txnIdx is set
	// once, then only closed by the last release).
	aborted  []AbortedTxn
	txnIdx   *os.File
	txnDirty bool
}

// openSegment opens (creating when create is set) the three files of the
// segment with the given base. The .log is opened without O_APPEND: appends
// use WriteAt at the tracked size, so that a truncation needs no seek.
func openSegment(dir string, base int64, create bool, now time.Time) (*segment, error) {
	prefix := filepath.Join(dir, segmentName(base))
	flag := os.O_RDWR
	if create {
		flag |= os.O_CREATE | os.O_TRUNC
	}
	s := &segment{base: base, logPath: prefix + logSuffix, idxPath: prefix + indexSuffix, timePath: prefix + timeIndexSuffix,
		next: base, maxTS: -1, maxTSBase: -1, maxTSLast: -1, firstTS: -1, created: now}
	var err error
	if s.log, err = os.OpenFile(s.logPath, flag, 0o644); err != nil {
		return nil, fmt.Errorf("open segment %d: %w", base, err)
	}
	// Index files exist beside every .log (as in Kafka's layout); a
	// missing one is created empty here and rebuilt by Open.
	for _, path := range []string{s.idxPath, s.timePath} {
		if _, err := os.Stat(path); errors.Is(err, os.ErrNotExist) {
			s.indexMissing = true
		}
		iflag := os.O_RDWR | os.O_CREATE
		if create {
			iflag |= os.O_TRUNC
		}
		f, err := os.OpenFile(path, iflag, 0o644)
		if err != nil {
			s.closeFiles()
			return nil, fmt.Errorf("open segment %d: %w", base, err)
		}
		f.Close()
	}
	s.refs.Store(1)
	return s, nil
}

// closeFiles closes whichever descriptors are open. Close errors are
// ignored: every write that matters was fsynced (or is lost either way).
func (s *segment) closeFiles() {
	for _, f := range []*os.File{s.log, s.txnIdx} {
		if f != nil {
			_ = f.Close()
		}
	}
}

// acquire takes a reader reference. REQUIRES: Log.mu held and s in the
// Log's list (so refs >= 1 and cannot reach 0 concurrently).
func (s *segment) acquire() { s.refs.Add(1) }

// release drops a reference; the last one closes the files.
func (s *segment) release() {
	if s.refs.Add(-1) == 0 {
		s.closeFiles()
	}
}

// remove unlinks the segment's files and drops the Log's reference.
// REQUIRES: Log.mu held; s already taken out of the list. The .log goes
// first: an index left behind by a crash has no .log and Open deletes it,
// whereas a .log left without its index is merely re-indexed.
func (s *segment) remove() error {
	var errs []error
	for _, name := range []string{s.logPath, s.idxPath, s.timePath, s.txnPath()} {
		if err := os.Remove(name); err != nil && !errors.Is(err, os.ErrNotExist) {
			errs = append(errs, err)
		}
	}
	s.release()
	return errors.Join(errs...)
}

// largestTimestamp is the segment's age for retention.ms: its largest
// timestamp or, when no batch carries one, the .log's modification time
// (as in Kafka's LogSegment.largestTimestamp).
func (s *segment) largestTimestamp() int64 {
	if s.maxTS >= 0 {
		return s.maxTS
	}
	if fi, err := s.log.Stat(); err == nil {
		return fi.ModTime().UnixMilli()
	}
	return -1
}

// resetIndexes forgets everything known about the batches in the segment;
// track then re-learns them. Fresh slices keep readers' snapshots intact.
func (s *segment) resetIndexes() {
	s.size, s.next = 0, s.base
	s.index, s.times = nil, nil
	s.offOnDisk, s.timesOnDisk = 0, 0
	s.bytesSinceIndex = 0
	s.maxTS, s.maxTSBase, s.maxTSLast, s.firstTS = -1, -1, -1, -1
}

// track records the batch h, which starts at pos == s.size, in the
// in-memory state, adding any new index entries (persistIndexes writes them
// to the files later). The index rule is Kafka's: an entry for a batch that
// starts more than interval bytes after the previous entry (or segment
// start), and a time entry at the same moment when the max timestamp grew
// since the last time entry.
// REQUIRES: Log.mu held (or s not yet shared).
func (s *segment) track(h record.BatchHeader, pos int64, interval int) {
	if s.size == 0 {
		s.firstTS = h.MaxTimestamp
	}
	if h.MaxTimestamp > s.maxTS {
		s.maxTS, s.maxTSBase, s.maxTSLast = h.MaxTimestamp, h.BaseOffset, h.LastOffset()
	}
	if s.bytesSinceIndex > int64(interval) {
		s.index = append(s.index, offsetEntry{offset: h.LastOffset(), pos: pos})
		s.maybeTimeEntry()
		s.bytesSinceIndex = 0
	}
	size := int64(h.Size())
	s.bytesSinceIndex += size
	s.size = pos + size
	s.next = h.NextOffset()
}

// maybeTimeEntry appends a time entry for the current max timestamp if it
// is newer than the last entry. Called at index points and at roll (Kafka's
// onBecomeInactiveSegment), so an inactive segment's last time entry holds
// its largest timestamp.
func (s *segment) maybeTimeEntry() {
	if s.maxTS < 0 {
		return
	}
	if n := len(s.times); n > 0 && s.times[n-1].timestamp >= s.maxTS {
		return
	}
	s.times = append(s.times, timeEntry{timestamp: s.maxTS, offset: s.maxTSLast})
}

// persistIndexes brings both index files up to the in-memory entries:
// writes the entries they lack, cuts them to exactly the entries, and
// fsyncs them with sync when it is not nil. Each file is open only for
// this. REQUIRES: Log.mu held (or s not yet shared).
func (s *segment) persistIndexes(sync func(*os.File) error) error {
	var offBuf, timeBuf []byte
	for _, e := range s.index[s.offOnDisk:] {
		offBuf = appendOffsetEntry(offBuf, s.base, e)
	}
	for _, e := range s.times[s.timesOnDisk:] {
		timeBuf = appendTimeEntry(timeBuf, s.base, e)
	}
	if err := writeIndexFile(s.idxPath, offBuf, int64(s.offOnDisk)*offsetEntrySize, int64(len(s.index))*offsetEntrySize, sync); err != nil {
		return err
	}
	s.offOnDisk = len(s.index)
	if err := writeIndexFile(s.timePath, timeBuf, int64(s.timesOnDisk)*timeEntrySize, int64(len(s.times))*timeEntrySize, sync); err != nil {
		return err
	}
	s.timesOnDisk = len(s.times)
	return nil
}

// writeIndexFile writes b at position at of the index file path, cuts the
// file to size and, with sync, fsyncs it.
func writeIndexFile(path string, b []byte, at, size int64, sync func(*os.File) error) (err error) {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return &indexOpenError{fmt.Errorf("open %s: %w", path, err)}
	}
	defer func() {
		if cerr := f.Close(); err == nil && cerr != nil {
			err = fmt.Errorf("close %s: %w", path, cerr)
		}
	}()
	if len(b) > 0 {
		if _, err := f.WriteAt(b, at); err != nil {
			return fmt.Errorf("write %s: %w", path, err)
		}
	}
	if err := f.Truncate(size); err != nil {
		return fmt.Errorf("truncate %s: %w", path, err)
	}
	if sync != nil {
		if err := sync(f); err != nil {
			return fmt.Errorf("fsync %s: %w", path, err)
		}
	}
	return nil
}

// indexOpenError: an index file could not be opened (typically EMFILE, out
// of descriptors). Nothing was written, so the log is not damaged: the
// caller fails the operation, not the log.
type indexOpenError struct{ err error }

func (e *indexOpenError) Error() string { return e.err.Error() }
func (e *indexOpenError) Unwrap() error { return e.err }

// rewriteIndexes replaces both index files with the in-memory entries.
func (s *segment) rewriteIndexes() error {
	s.offOnDisk, s.timesOnDisk = 0, 0
	return s.persistIndexes(nil)
}

// scanMode says how much scanSegment checks.
type scanMode int

const (
	// scanHeaders checks framing and offset order only: for re-indexing
	// an inactive segment, which was fsynced whole before it stopped being
	// active, and for truncation.
	scanHeaders scanMode = iota
	// scanValidate also checks each batch's CRC and records
	// (record.Validate) and that offsets are contiguous: for the active
	// segment's tail, which a crash may have torn.
	scanValidate
	// scanValidateGaps is scanValidate allowing forward gaps between
	// batches: for an active segment that compaction cleaned before a
	// TruncateTo made it active again (see compact.go). Offsets must
	// still increase.
	scanValidateGaps
)

// scanResult is what scanSegment found.
type scanResult struct {
	end    int64  // position where the valid prefix ends
	reason string // why the scan stopped early; "" when it reached the limit
	// validated counts the bytes whose CRC and records were checked;
	// headerOnly those whose headers alone were (for tests and logs).
	validated, headerOnly int64
}

// scanSegment walks the batches of s.log from position 0 up to limit bytes,
// re-tracking them into s (after resetIndexes). It stops at the first batch
// that fails the checks of mode and reports the position where the valid
// prefix ends and why it stopped. Batches whose last offset is below
// trustBelow (the recovery point) are checked as in scanHeaders whatever the
// mode: they were fsynced before the point was persisted. Every length is
// checked against the bytes left before anything is allocated, so a damaged
// file cannot cause a huge allocation.
// REQUIRES: Log.mu held (or s not yet shared).
func (s *segment) scanSegment(limit int64, mode scanMode, trustBelow int64, interval int) (scanResult, error) {
	s.resetIndexes()
	return s.scanFrom(0, limit, mode, trustBelow, interval)
}

// scanFrom is scanSegment resuming at pos, with s already tracking every
// batch before pos. The index entries it re-creates are in memory only
// (the caller rewrites or persists the files).
func (s *segment) scanFrom(pos, limit int64, mode scanMode, trustBelow int64, interval int) (scanResult, error) {
	cr := chunkReader{f: s.log, limit: limit}
	var res scanResult
	stop := func(reason string) (scanResult, error) {
		res.end, res.reason = pos, reason
		return res, nil
	}
	for pos < limit {
		left := limit - pos
		if left < record.BatchHeaderSize {
			return stop(fmt.Sprintf("%d trailing bytes, shorter than a batch header", left))
		}
		hb, err := cr.at(pos, record.BatchHeaderSize)
		if err != nil {
			return res, fmt.Errorf("read %s at %d: %w", s.logPath, pos, err)
		}
		h, err := record.ParseHeader(hb)
		if err != nil {
			return stop(err.Error())
		}
		if h.BatchLength < record.BatchHeaderSize-record.LogOverhead {
			return stop(fmt.Sprintf("batchLength %d is shorter than a header", h.BatchLength))
		}
		size := int64(h.Size())
		if size > left {
			return stop(fmt.Sprintf("batch of %d bytes runs past the end of the file (%d bytes left)", size, left))
		}
		if h.LastOffsetDelta < 0 {
			return stop(fmt.Sprintf("lastOffsetDelta %d", h.LastOffsetDelta))
		}
		// Only scanValidate demands contiguous offsets: a cleaned segment
		// keeps its surviving batches at their offsets, with gaps between.
		if (mode == scanValidate && h.BaseOffset != s.next) || h.BaseOffset < s.next {
			return stop(fmt.Sprintf("base offset %d, expected %d", h.BaseOffset, s.next))
		}
		if !fitsIndex(s.base, h.LastOffset(), pos+size) {
			return stop(fmt.Sprintf("batch at offset %d does not fit the segment's 32-bit index", h.BaseOffset))
		}
		if mode != scanHeaders && h.LastOffset() >= trustBelow {
			batch, err := cr.at(pos, int(size))
			if err != nil {
				return res, fmt.Errorf("read %s at %d: %w", s.logPath, pos, err)
			}
			if mode == scanValidateGaps {
				err = validateCleaned(batch)
			} else {
				_, err = record.Validate(batch)
			}
			if err != nil {
				return stop(err.Error())
			}
			res.validated += size
		} else {
			res.headerOnly += size
		}
		s.track(h, pos, interval)
		pos += size
	}
	return stop("")
}

// scanChunk is how much chunkReader reads at once: headers of small batches
// come many to a pread, and a large batch's body is skipped, not read.
const scanChunk = 128 << 10

// chunkReader preads a file in chunks for a forward walk over batch headers
// (and, when validating, whole batches). It never reads past limit.
type chunkReader struct {
	f     *os.File
	limit int64
	buf   []byte
	start int64 // file position of buf[0]
}

// at returns the n bytes at pos, valid until the next call. They come from
// the current chunk when it holds them, else from one pread of at least
// scanChunk bytes (bounded by limit). REQUIRES: pos+n <= limit.
func (c *chunkReader) at(pos int64, n int) ([]byte, error) {
	if pos >= c.start && pos+int64(n) <= c.start+int64(len(c.buf)) {
		return c.buf[pos-c.start : pos-c.start+int64(n)], nil
	}
	want := min(max(int64(n), scanChunk), c.limit-pos)
	if int64(cap(c.buf)) < want {
		c.buf = make([]byte, want)
	}
	c.buf = c.buf[:want]
	c.start = pos
	if _, err := c.f.ReadAt(c.buf, pos); err != nil {
		c.buf = c.buf[:0]
		return nil, err
	}
	return c.buf[:n], nil
}

// view is a reader's snapshot of one segment, taken under Log.mu. The
// segment holds a reference for it until release.
type view struct {
	seg   *segment
	size  int64
	index []offsetEntry
	times []timeEntry
}

func (l *Log) viewLocked(s *segment) view {
	s.acquire()
	return view{seg: s, size: s.size, index: s.index, times: s.times}
}

// readHeader preads the header of the batch at pos and checks that the batch
// lies inside the snapshot. Damage here is outside the recoverable tail (the
// snapshot only covers bytes that were appended whole or survived recovery),
// so it is ErrCorrupt naming the file and position.
func (v view) readHeader(pos int64, buf *[record.BatchHeaderSize]byte) (record.BatchHeader, error) {
	if v.size-pos < record.BatchHeaderSize {
		return record.BatchHeader{}, fmt.Errorf("%w: %s at position %d: %d bytes left, shorter than a batch header", ErrCorrupt, v.seg.logPath, pos, v.size-pos)
	}
	if _, err := v.seg.log.ReadAt(buf[:], pos); err != nil {
		return record.BatchHeader{}, v.ioError(pos, err)
	}
	h, err := record.ParseHeader(buf[:])
	if err != nil {
		return h, fmt.Errorf("%w: %s at position %d: %w", ErrCorrupt, v.seg.logPath, pos, err)
	}
	if h.BatchLength < record.BatchHeaderSize-record.LogOverhead || int64(h.Size()) > v.size-pos {
		return h, fmt.Errorf("%w: %s at position %d: batchLength %d does not fit", ErrCorrupt, v.seg.logPath, pos, h.BatchLength)
	}
	return h, nil
}

// ioError maps a pread failure. A short read means the file shrank under us:
// a TruncateTo raced this read, which the caller sees as out of range.
func (v view) ioError(pos int64, err error) error {
	if errors.Is(err, io.EOF) || errors.Is(err, os.ErrClosed) {
		return fmt.Errorf("%w: %s shrank under a read at position %d", ErrOffsetOutOfRange, v.seg.logPath, pos)
	}
	return fmt.Errorf("read %s at %d: %w", v.seg.logPath, pos, err)
}

// find returns the position and header of the first batch at or after
// position from whose last offset is >= offset, or ok=false when the snapshot
// ends first.
func (v view) find(from, offset int64) (pos int64, h record.BatchHeader, ok bool, err error) {
	var buf [record.BatchHeaderSize]byte
	for pos = from; pos < v.size; pos += int64(h.Size()) {
		if h, err = v.readHeader(pos, &buf); err != nil {
			return pos, h, false, err
		}
		if h.LastOffset() >= offset {
			return pos, h, true, nil
		}
	}
	return pos, h, false, nil
}

// read implements Log.Read within one segment. exhausted reports that the
// snapshot holds no batch at or after offset (compaction removed them), so
// the caller should look in the next segment.
func (v view) read(offset, upTo int64, maxBytes int, minOne bool) (_ []byte, exhausted bool, _ error) {
	pos, h, ok, err := v.find(lookupPosition(v.index, offset), offset)
	if err != nil || !ok || h.BaseOffset >= upTo {
		return nil, err == nil && !ok, err
	}
	n := min(int64(max(maxBytes, 0)), v.size-pos)
	if first := int64(h.Size()); first > n {
		if !minOne {
			return nil, false, nil
		}
		n = first
	}
	buf := make([]byte, n)
	if _, err := v.seg.log.ReadAt(buf, pos); err != nil {
		return nil, false, v.ioError(pos, err)
	}
	// Cut at the last whole batch that fits and starts below upTo. The
	// first batch fits by construction.
	cut := 0
	for len(buf)-cut >= record.BatchHeaderSize {
		bh, err := record.ParseHeader(buf[cut:])
		if err != nil || bh.BatchLength < record.BatchHeaderSize-record.LogOverhead {
			return nil, false, fmt.Errorf("%w: %s at position %d: %v", ErrCorrupt, v.seg.logPath, pos+int64(cut), err)
		}
		if bh.BaseOffset >= upTo || bh.Size() > len(buf)-cut {
			break
		}
		cut += bh.Size()
	}
	if cut < len(buf)/2 && len(buf)-cut > 64<<10 {
		// Do not hand a fetch response a mostly unused buffer to hold.
		return append([]byte(nil), buf[:cut]...), false, nil
	}
	return buf[:cut:cut], false, nil
}

// readBatch returns the whole batch at pos (header h already read).
func (v view) readBatch(pos int64, h record.BatchHeader) ([]byte, error) {
	batch := make([]byte, h.Size())
	if _, err := v.seg.log.ReadAt(batch, pos); err != nil {
		return nil, v.ioError(pos, err)
	}
	return batch, nil
}

// Index entry sizes (on-disk format; do not change). They match Kafka's
// OffsetIndex and TimeIndex so that kafka-dump-log.sh can read our files.
const (
	offsetEntrySize = 8  // relativeOffset int32, position int32
	timeEntrySize   = 12 // timestamp int64, relativeOffset int32
)

// errBadIndex is why an index file is rebuilt. It never leaves the package:
// a damaged index is recoverable from its .log.
var errBadIndex = errors.New("log: damaged index")

// offsetEntry is one sparse offset-index entry, kept in memory with the
// absolute offset. As in Kafka's recovery (LogSegment.recover), offset is the
// LAST offset of the batch that starts at pos, so a lookup for any offset
// >= entry.offset may start scanning at pos.
type offsetEntry struct {
	offset int64
	pos    int64
}

// timeEntry is one time-index entry: the largest batch max-timestamp seen in
// the segment up to and including the batch holding offset. Entries are only
// written when the timestamp grows, so timestamps strictly increase.
type timeEntry struct {
	timestamp int64
	offset    int64
}

// decodeOffsetIndex decodes a .index file of the segment with base offset
// base whose .log is logSize bytes long. It returns errBadIndex (wrapped with
// the reason) when the file is not a sequence of whole entries with strictly
// increasing offsets and positions inside the log: Kafka's sanity check,
// plus ordering, which Kafka assumes.
func decodeOffsetIndex(b []byte, base, logSize int64) ([]offsetEntry, error) {
	if len(b)%offsetEntrySize != 0 {
		return nil, fmt.Errorf("%w: size %d is not a multiple of %d", errBadIndex, len(b), offsetEntrySize)
	}
	entries := make([]offsetEntry, 0, len(b)/offsetEntrySize)
	for i := 0; i < len(b); i += offsetEntrySize {
		rel := int32(binary.BigEndian.Uint32(b[i:]))
		pos := int32(binary.BigEndian.Uint32(b[i+4:]))
		e := offsetEntry{offset: base + int64(rel), pos: int64(pos)}
		if rel < 0 || pos < 0 || e.pos >= logSize {
			return nil, fmt.Errorf("%w: entry %d (%d, %d) outside the log of %d bytes", errBadIndex, i/offsetEntrySize, rel, pos, logSize)
		}
		if n := len(entries); n > 0 && (e.offset <= entries[n-1].offset || e.pos <= entries[n-1].pos) {
			return nil, fmt.Errorf("%w: entry %d (%d, %d) does not increase", errBadIndex, i/offsetEntrySize, rel, pos)
		}
		entries = append(entries, e)
	}
	return entries, nil
}

// decodeTimeIndex decodes a .timeindex file of the segment with base offset
// base. Timestamps must strictly increase and offsets must not decrease.
func decodeTimeIndex(b []byte, base int64) ([]timeEntry, error) {
	if len(b)%timeEntrySize != 0 {
		return nil, fmt.Errorf("%w: size %d is not a multiple of %d", errBadIndex, len(b), timeEntrySize)
	}
	entries := make([]timeEntry, 0, len(b)/timeEntrySize)
	for i := 0; i < len(b); i += timeEntrySize {
		ts := int64(binary.BigEndian.Uint64(b[i:]))
		rel := int32(binary.BigEndian.Uint32(b[i+8:]))
		e := timeEntry{timestamp: ts, offset: base + int64(rel)}
		if rel < 0 || ts < 0 {
			return nil, fmt.Errorf("%w: time entry %d (%d, %d) is negative", errBadIndex, i/timeEntrySize, ts, rel)
		}
		if n := len(entries); n > 0 && (e.timestamp <= entries[n-1].timestamp || e.offset < entries[n-1].offset) {
			return nil, fmt.Errorf("%w: time entry %d (%d, %d) does not increase", errBadIndex, i/timeEntrySize, ts, rel)
		}
		entries = append(entries, e)
	}
	return entries, nil
}

// appendOffsetEntry encodes e for the segment with base offset base.
// REQUIRES: 0 <= e.offset-base <= MaxInt32 and 0 <= e.pos <= MaxInt32 (the
// roll rule in Append guarantees both).
func appendOffsetEntry(b []byte, base int64, e offsetEntry) []byte {
	b = binary.BigEndian.AppendUint32(b, uint32(e.offset-base))
	return binary.BigEndian.AppendUint32(b, uint32(e.pos))
}

// appendTimeEntry encodes e for the segment with base offset base.
func appendTimeEntry(b []byte, base int64, e timeEntry) []byte {
	b = binary.BigEndian.AppendUint64(b, uint64(e.timestamp))
	return binary.BigEndian.AppendUint32(b, uint32(e.offset-base))
}

// lookupPosition returns the file position from which a forward scan finds
// the batch holding offset: the position of the last entry whose offset is
// <= offset, or 0. It never returns a position past the batch holding offset.
func lookupPosition(index []offsetEntry, offset int64) int64 {
	i := sort.Search(len(index), func(i int) bool { return index[i].offset > offset })
	if i == 0 {
		return 0
	}
	return index[i-1].pos
}

// lookupTime returns the offset from which a forward scan finds the first
// record with timestamp >= ts: the offset of the last entry whose timestamp
// is strictly below ts (every record up to that entry's batch is older than
// ts), or -1 when the scan must start at the beginning of the segment.
func lookupTime(times []timeEntry, ts int64) int64 {
	i := sort.Search(len(times), func(i int) bool { return times[i].timestamp >= ts })
	if i == 0 {
		return -1
	}
	return times[i-1].offset
}

// fitsIndex reports whether a segment with base offset base may hold a batch
// ending at lastOffset at a position ending at end: index entries store both
// as int32, so a segment must roll before either overflows (Kafka rolls on
// the same condition, LogSegment.canConvertToRelativeOffset).
func fitsIndex(base, lastOffset, end int64) bool {
	return lastOffset-base <= math.MaxInt32 && end <= math.MaxInt32
}
