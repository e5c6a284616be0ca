package log

// Log compaction (cleanup.policy=compact), after Kafka's log cleaner.
//
// # What is kept
//
// A pass cleans the segments [0, k): every segment before the first one
// that is active or holds a batch younger than min.compaction.lag.ms (by
// its largest timestamp). It builds a map key -> offset of the LAST record
// with that key in [0, k), then rewrites each segment keeping a record only
// if it is the last of its key. Records newer than k are never looked at, so
// a key overwritten only in the active segment keeps its older record for
// now: compaction guarantees "at least the last", never "only the last".
//
//   - A record without a key is dropped, as Kafka's cleaner does (produce
//     refuses them on compacted topics; they can only come from a topic
//     that was switched from delete to compact).
//   - A tombstone (null value) that is the last of its key is kept for
//     delete.retention.ms after its segment was first cleaned, then dropped
//     at a later pass. "First cleaned" is the .log file's modification time:
//     a pass sets it to now on a segment it cleans for the first time and
//     keeps the old time on a segment it cleans again (Kafka before KIP-534
//     used the segment's lastModified the same way).
//   - Transactions (KIP-98), as Kafka's cleaner treats them. A pass only
//     cleans below the partition's last stable offset (CompactBelow): data
//     of a transaction still open, or whose marker is not yet committed,
//     is never looked at. Below it, the aborted-transaction index
//     (txnindex.go, every segment's, since a marker may lie past the
//     pass) tells aborted batches from committed ones. An aborted batch
//     loses all its records and takes no part in the key map: an aborted
//     record must never supersede a committed one. A committed
//     transactional batch is cleaned like any other.
//   - A transaction marker (control batch) stays while any batch of its
//     transaction is still in the log: the cleaner walks the pass in
//     offset order and keeps a marker if it saw a non-empty transactional
//     batch of that producer since the producer's previous marker. Once
//     none is left, the marker goes after delete.retention.ms like a
//     tombstone (its segment's first-clean time, below), so a consumer
//     that read the data before the pass still sees the marker. This is
//     Kafka's rule (LogCleaner, CleanedTransactionMetadata). A marker that
//     is the last batch of its producer id stays (see Batches), and a
//     control record of a type we do not know always stays.
//
// # Batches
//
// Offsets never change. A batch keeps its base offset, lastOffsetDelta,
// leader epoch, attributes (codec, timestamp type), first and max
// timestamp and producer id/epoch/base sequence, so Fetch sees the same
// batch boundaries and rebuilding producer state from headers gives the
// same last sequence (Kafka's v2 format keeps these for the same reason,
// see DefaultRecordBatch). Only its records change: the survivors keep their
// offset and timestamp deltas, so deltas get gaps, and a compressed batch is
// recompressed with its own codec. A batch that loses every record is
// dropped, unless it is the last batch of its producer id in the cleaned
// range: then it stays as an empty batch (numRecords 0) so the producer's
// sequence state survives a restart.
//
// # Files and crash safety
//
// A cleaned segment X is written as X.log.cleaned, X.index.cleaned and
// X.timeindex.cleaned, fsynced, and swapped in under Log.mu:
//
//  1. rename each X.*.cleaned to X.*.swap;
//  2. remove the old X.index and X.timeindex, fsync the directory;
//  3. rename X.log.swap over X.log (atomic), fsync the directory;
//  4. rename X.index.swap and X.timeindex.swap to their names.
//
// Open deletes every *.cleaned and *.swap file and rebuilds missing
// indexes, so a crash at any point leaves either the old .log or the new
// one, each with its own index or none: before step 3 the old segment (with
// its indexes rebuilt if step 2 ran), after it the new one. An index never
// outlives the .log it describes, which matters because a stale index that
// passes the sanity checks would point reads at the wrong batches.
// Readers holding the old segment keep reading the old inodes.
//
// # Checkpoints
//
// cleanerCheckpointFile holds the offset below which segments have been
// cleaned (Kafka keeps the same "first dirty offset" in its
// cleaner-offset-checkpoint), written once a pass is done. The dirty ratio
// is bytes at or above it over all cleanable bytes; a crash mid-pass only
// makes the next pass clean again. cleanerHighMarkFile is written before
// the first swap of a pass, so it covers every segment with gaps: Open lets
// the active segment have offset gaps only below it (a TruncateTo can make
// a cleaned segment active again), and keeps the strict contiguity check
// everywhere else.

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"math"
	"os"
	"path/filepath"
	"sort"
	"time"

	"github.com/samsa-io/samsa/internal/record"
)

// The compaction checkpoints (on-disk format; do not change), both
// "0\n<offset>\n" like log-start-offset:
//
//   - cleanerCheckpointFile: the first dirty offset, written after a pass;
//     segments wholly below it have been cleaned.
//   - cleanerHighMarkFile: written before the first swap of a pass and
//     never lowered; every segment that may hold offset gaps lies below it.
const (
	cleanerCheckpointFile = "cleaner-offset-checkpoint"
	cleanerHighMarkFile   = "cleaner-high-mark"
)

// Suffixes of a segment's files during a swap (on-disk format; Kafka's).
// Open deletes both kinds (strayFileSuffixes).
const (
	cleanedSuffix = ".cleaned"
	swapSuffix    = ".swap"
)

// Field positions in a v2 batch header that a cleaned batch restores from
// the original (on-disk format, see internal/record's layout).
const (
	hdrCRC             = 17
	hdrAttributes      = 21 // first byte covered by the CRC
	hdrLastOffsetDelta = 23
	hdrMaxTimestamp    = 35
)

var crcTable = crc32.MakeTable(crc32.Castagnoli)

// errSwapRaced aborts a swap whose source segment changed while it was
// being cleaned (retention, truncation). It never leaves the package.
var errSwapRaced = errors.New("log: segment changed during compaction")

// CompactStats describe one Compact pass.
type CompactStats struct {
	Segments       int   // segments rewritten
	BytesBefore    int64 // their .log bytes before
	BytesAfter     int64 // and after
	RecordsRemoved int64
	DirtyRatio     float64 // the ratio that chose the log (before the pass)
}

// cleanPlan is what a pass cleans, snapshotted under Log.mu.
type cleanPlan struct {
	views []view  // segments [0, k), a reference held on each
	nexts []int64 // their next offsets
	// firstDirty is the index of the first segment not cleaned before.
	firstDirty int
	// end is the first offset not cleaned: segments[k].base.
	end   int64
	ratio float64
	// truncations is Log.mu.truncations at plan time: a TruncateTo during
	// the pass may have dropped end, so the pass must not claim it.
	truncations uint64
	// aborted is every aborted-transaction entry at plan time.
	aborted []AbortedTxn
}

func (p *cleanPlan) release() {
	for _, v := range p.views {
		v.seg.release()
	}
}

// cleanableLocked returns k, the number of leading segments a pass may
// clean at now, and d, the index of the first dirty one (d <= k).
// REQUIRES: l.mu held.
func (l *Log) cleanableLocked(now time.Time, below int64) (k, d int) {
	segs := l.mu.segments
	o := &l.mu.opts
	k = len(segs) - 1 // never the active segment
	// Never past below (the last stable offset): the segment must end
	// at or before it.
	for k > 0 && segs[k].base > below {
		k--
	}
	if o.MinCompactionLag > 0 {
		cutoff := now.Add(-o.MinCompactionLag).UnixMilli()
		for i := range segs[:k] {
			if segs[i].largestTimestamp() > cutoff {
				k = i
				break
			}
		}
	}
	for d < k && segs[d].next <= l.mu.firstDirty {
		d++
	}
	return k, d
}

// dirtyRatioLocked is dirty bytes over cleanable bytes in [0, k).
// REQUIRES: l.mu held.
func (l *Log) dirtyRatioLocked(k, d int) float64 {
	var clean, dirty int64
	for i, s := range l.mu.segments[:k] {
		if i < d {
			clean += s.size
		} else {
			dirty += s.size
		}
	}
	if dirty == 0 {
		return 0
	}
	return float64(dirty) / float64(clean+dirty)
}

// DirtyRatio is the share of the cleanable bytes (segments past
// min.compaction.lag.ms, never the active one) that no pass has cleaned
// yet: the number min.cleanable.dirty.ratio is compared with.
func (l *Log) DirtyRatio() float64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.usableLocked() != nil {
		return 0
	}
	return l.dirtyRatioLocked(l.cleanableLocked(l.now(), math.MaxInt64))
}

// planLocked decides whether a pass runs at now and snapshots its segments.
// A log is chosen when its dirty ratio reaches min.cleanable.dirty.ratio,
// or when its oldest dirty segment is older than max.compaction.lag.ms
// (KIP-354; by the first batch's timestamp when known, else its largest).
// REQUIRES: l.mu held.
func (l *Log) planLocked(now time.Time, below int64) (cleanPlan, bool) {
	o := &l.mu.opts
	k, d := l.cleanableLocked(now, below)
	if d >= k {
		return cleanPlan{}, false
	}
	segs := l.mu.segments
	ratio := l.dirtyRatioLocked(k, d)
	due := ratio > 0 && ratio >= o.MinCleanableDirtyRatio
	if !due && o.MaxCompactionLag > 0 {
		ts := segs[d].firstTS
		if ts < 0 {
			ts = segs[d].largestTimestamp()
		}
		due = ts >= 0 && ts < now.Add(-o.MaxCompactionLag).UnixMilli()
	}
	if !due {
		return cleanPlan{}, false
	}
	p := cleanPlan{firstDirty: d, end: segs[k].base, ratio: ratio, truncations: l.mu.truncations,
		aborted: l.allAbortedLocked()}
	for _, s := range segs[:k] {
		p.views = append(p.views, l.viewLocked(s))
		p.nexts = append(p.nexts, s.next)
	}
	return p, true
}

// Compact runs one cleaner pass if the log is compacted (Options.Compact)
// and due at now (see planLocked), and returns what it did. Appends, reads
// and retention go on meanwhile: mu is held only to plan and for each swap.
// A segment that retention or truncation changed during the pass is left
// alone. Errors: ErrCorrupt for a batch that does not decode (nothing is
// swapped for that segment), ErrStorage when a swap failed half way (the
// Log fails; Open recovers a consistent state).
//
// Compact is for logs without transactions; a partition uses CompactBelow
// with its last stable offset.
func (l *Log) Compact(now time.Time) (CompactStats, error) {
	return l.CompactBelow(now, math.MaxInt64)
}

// CompactBelow is Compact cleaning only segments that end at or before
// below, the partition's last stable offset: records of transactions that
// are open or whose markers are not committed yet are never cleaned (their
// outcome is not known), as in Kafka (firstUncleanableOffset).
func (l *Log) CompactBelow(now time.Time, below int64) (CompactStats, error) {
	l.compactMu.Lock()
	defer l.compactMu.Unlock()
	l.mu.Lock()
	if err := l.usableLocked(); err != nil || !l.mu.opts.Compact {
		l.mu.Unlock()
		return CompactStats{}, err
	}
	deleteRetention := l.mu.opts.DeleteRetention
	interval := l.mu.opts.IndexIntervalBytes
	p, ok := l.planLocked(now, below)
	l.mu.Unlock()
	if !ok {
		return CompactStats{}, nil
	}
	defer p.release()
	st := CompactStats{DirtyRatio: p.ratio}

	txns := newTxnPass(p.aborted)
	keys, lastOfProducer, err := buildOffsetMap(p.views, txns)
	if err != nil {
		return st, err
	}
	if err := l.advanceCheckpoint(p.end); err != nil {
		return st, err
	}
	for i, v := range p.views {
		// A segment cleaned before carries its first-clean time as its
		// modification time; its tombstones expire delete.retention.ms
		// after it. A segment cleaned now for the first time starts its
		// tombstones' clock now.
		cleanedAt := now
		if i < p.firstDirty {
			fi, err := v.seg.log.Stat()
			if err != nil {
				return st, fmt.Errorf("compact %s: %w", v.seg.logPath, err)
			}
			cleanedAt = fi.ModTime()
		}
		c := cleaner{
			keys: keys, lastOfProducer: lastOfProducer, txns: txns,
			dropTombstones: i < p.firstDirty && !now.Before(cleanedAt.Add(deleteRetention)),
			interval:       interval,
		}
		out, err := c.clean(l.dir, v, p.nexts[i], now)
		if err != nil {
			out.discard()
			return st, err
		}
		if c.removed == 0 {
			out.discard()
			if i >= p.firstDirty {
				l.touch(v.seg, cleanedAt)
			}
			continue
		}
		if err := os.Chtimes(out.logPath, cleanedAt, cleanedAt); err != nil {
			out.discard()
			return st, fmt.Errorf("compact %s: %w", out.logPath, err)
		}
		if err := out.sync(l); err != nil {
			out.discard()
			return st, err
		}
		err = l.swap(v, out, now)
		if errors.Is(err, errSwapRaced) {
			l.logger.Debug("segment changed during compaction; left alone", "dir", l.dir, "segment", v.seg.base)
			return st, nil
		}
		if err != nil {
			return st, err
		}
		st.Segments++
		st.BytesBefore += v.size
		st.BytesAfter += out.seg.size
		st.RecordsRemoved += c.removed
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if p.end != l.mu.firstDirty && p.truncations == l.mu.truncations {
		if err := l.writeOffsetFile(cleanerCheckpointFile, p.end); err != nil {
			return st, err
		}
		l.mu.firstDirty = p.end
	}
	return st, nil
}

// advanceCheckpoint persists the high mark before the first swap (see the
// file comment). It only grows.
func (l *Log) advanceCheckpoint(end int64) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if end <= l.mu.cleanedUpTo {
		return nil
	}
	if err := l.writeOffsetFile(cleanerHighMarkFile, end); err != nil {
		return err
	}
	l.mu.cleanedUpTo = end
	return nil
}

// touch sets the modification time of a segment that a pass found nothing
// to remove from, so that its tombstones' clock starts now. Best effort: a
// failure only shortens their life to the segment's age.
func (l *Log) touch(s *segment, at time.Time) {
	if err := os.Chtimes(s.logPath, at, at); err != nil {
		l.logger.Debug("cannot set segment time", "file", s.logPath, "err", err)
		return
	}
	_ = fileSync(s.log)
}

// batchIter walks the whole batches of a view with a buffered reader,
// checking every length against the bytes left before allocating.
type batchIter struct {
	v   view
	r   *bufio.Reader
	pos int64
}

func newBatchIter(v view) *batchIter {
	return &batchIter{v: v, r: bufio.NewReaderSize(io.NewSectionReader(v.seg.log, 0, v.size), 1<<20)}
}

// next returns the next batch, or nil at the end of the view.
func (it *batchIter) next() (record.BatchHeader, []byte, error) {
	left := it.v.size - it.pos
	if left == 0 {
		return record.BatchHeader{}, nil, nil
	}
	corrupt := func(why string, args ...any) error {
		return fmt.Errorf("%w: %s at position %d: %s", ErrCorrupt, it.v.seg.logPath, it.pos, fmt.Sprintf(why, args...))
	}
	if left < record.BatchHeaderSize {
		return record.BatchHeader{}, nil, corrupt("%d bytes left, shorter than a batch header", left)
	}
	hb, err := it.r.Peek(record.BatchHeaderSize)
	if err != nil {
		return record.BatchHeader{}, nil, it.v.ioError(it.pos, err)
	}
	h, err := record.ParseHeader(hb)
	if err != nil {
		return h, nil, corrupt("%v", err)
	}
	if h.BatchLength < record.BatchHeaderSize-record.LogOverhead || int64(h.Size()) > left || h.LastOffsetDelta < 0 {
		return h, nil, corrupt("batchLength %d, lastOffsetDelta %d, %d bytes left", h.BatchLength, h.LastOffsetDelta, left)
	}
	b := make([]byte, h.Size())
	if _, err := io.ReadFull(it.r, b); err != nil {
		return h, nil, it.v.ioError(it.pos, err)
	}
	it.pos += int64(len(b))
	return h, b, nil
}

// cleanable reports whether the records of a batch may take part in
// compaction: every batch but a control batch (an aborted transactional
// one is then dropped whole, see txnPass).
func cleanable(h record.BatchHeader) bool { return !h.Control() }

// txnPass is what a cleaner pass knows of transactions: the aborted ranges
// per producer, and, while it walks the segments in offset order, which
// producers have transactional data since their last marker.
type txnPass struct {
	// aborted holds each producer's aborted transactions in marker
	// order; a producer has one transaction at a time, so they are
	// disjoint and in first-offset order too.
	aborted map[int64][]AbortedTxn
	// sawData: a non-empty transactional batch of the producer was seen
	// since its last marker in this pass.
	sawData map[int64]bool
}

func newTxnPass(entries []AbortedTxn) *txnPass {
	t := &txnPass{aborted: map[int64][]AbortedTxn{}, sawData: map[int64]bool{}}
	for _, e := range entries {
		t.aborted[e.ProducerID] = append(t.aborted[e.ProducerID], e)
	}
	return t
}

// isAborted reports whether the transactional data batch h belongs to an
// aborted transaction.
func (t *txnPass) isAborted(h record.BatchHeader) bool {
	if t == nil || !h.Transactional() || h.Control() {
		return false
	}
	es := t.aborted[h.ProducerID]
	i := sort.Search(len(es), func(i int) bool { return es[i].LastOffset >= h.BaseOffset })
	return i < len(es) && es[i].FirstOffset <= h.BaseOffset
}

// observe notes a batch as the cleaner walks past it and, for a control
// batch, reports whether it may be removed as far as its transaction goes:
// no data of that transaction was seen.
func (t *txnPass) observe(h record.BatchHeader) (markerRemovable bool) {
	if t == nil || !h.Transactional() {
		return false
	}
	if !h.Control() {
		if h.NumRecords > 0 {
			t.sawData[h.ProducerID] = true
		}
		return false
	}
	saw := t.sawData[h.ProducerID]
	delete(t.sawData, h.ProducerID)
	return !saw
}

// buildOffsetMap returns, for the segments of a pass, the offset of the last
// record of every key and the base offset of the last batch of every
// producer id. Records of aborted transactions take no part.
func buildOffsetMap(views []view, txns *txnPass) (keys map[string]int64, lastOfProducer map[int64]int64, err error) {
	keys = make(map[string]int64)
	lastOfProducer = make(map[int64]int64)
	for _, v := range views {
		it := newBatchIter(v)
		for {
			h, b, err := it.next()
			if err != nil {
				return nil, nil, err
			}
			if b == nil {
				break
			}
			if h.ProducerID >= 0 {
				lastOfProducer[h.ProducerID] = h.BaseOffset
			}
			if !cleanable(h) || txns.isAborted(h) {
				continue
			}
			err = record.ForEachRecord(b, func(r record.Record) error {
				if r.Key != nil {
					keys[string(r.Key)] = h.BaseOffset + int64(r.OffsetDelta)
				}
				return nil
			})
			if err != nil {
				return nil, nil, fmt.Errorf("%w: %s at offset %d: %w", ErrCorrupt, v.seg.logPath, h.BaseOffset, err)
			}
		}
	}
	return keys, lastOfProducer, nil
}

// cleaner rewrites one segment.
type cleaner struct {
	keys           map[string]int64
	lastOfProducer map[int64]int64
	txns           *txnPass // shared by the segments of a pass, walked in order
	dropTombstones bool
	interval       int
	removed        int64 // records removed
	kept           []record.Record
}

// cleanedSegment is a segment written to *.cleaned files, not yet swapped.
// seg tracks its batches and index entries as Append would.
type cleanedSegment struct {
	seg                    *segment
	logPath                string
	log, offIdx, timeIdx   *os.File
	logName, idxName, tidx string // final names (without .cleaned)
}

// discard closes and deletes the .cleaned files.
func (c *cleanedSegment) discard() {
	for _, f := range []*os.File{c.log, c.offIdx, c.timeIdx} {
		if f != nil {
			_ = f.Close()
			_ = os.Remove(f.Name())
		}
	}
}

// sync fsyncs the three files, then closes them (the swap reopens the
// segment under its final names).
func (c *cleanedSegment) sync(l *Log) error {
	for _, f := range []*os.File{c.log, c.offIdx, c.timeIdx} {
		if err := l.sync(f); err != nil {
			return fmt.Errorf("compact: fsync %s: %w", f.Name(), err)
		}
	}
	for _, f := range []*os.File{c.log, c.offIdx, c.timeIdx} {
		if err := f.Close(); err != nil {
			return fmt.Errorf("compact: close %s: %w", f.Name(), err)
		}
	}
	return nil
}

// clean writes the cleaned copy of the segment in v (whose next offset is
// next) to *.cleaned files. On error the caller discards what was written.
func (c *cleaner) clean(dir string, v view, next int64, now time.Time) (*cleanedSegment, error) {
	prefix := filepath.Join(dir, segmentName(v.seg.base))
	out := &cleanedSegment{
		seg:     &segment{base: v.seg.base, next: v.seg.base, maxTS: -1, maxTSBase: -1, maxTSLast: -1, firstTS: -1, created: now},
		logName: prefix + logSuffix, idxName: prefix + indexSuffix, tidx: prefix + timeIndexSuffix,
	}
	out.logPath = out.logName + cleanedSuffix
	var err error
	for _, f := range []struct {
		dst  **os.File
		name string
	}{{&out.log, out.logName}, {&out.offIdx, out.idxName}, {&out.timeIdx, out.tidx}} {
		if *f.dst, err = os.OpenFile(f.name+cleanedSuffix, os.O_RDWR|os.O_CREATE|os.O_TRUNC, 0o644); err != nil {
			return out, fmt.Errorf("compact: %w", err)
		}
	}
	w := bufio.NewWriterSize(out.log, 1<<20)
	it := newBatchIter(v)
	for {
		h, b, err := it.next()
		if err != nil {
			return out, err
		}
		if b == nil {
			break
		}
		lastOfProducer := h.ProducerID >= 0 && c.lastOfProducer[h.ProducerID] == h.BaseOffset
		if markerGone := c.txns.observe(h); h.Control() {
			// A marker goes once its transaction has no data left and
			// delete.retention.ms passed (the tombstone clock); never
			// when it is its producer's last batch, nor a control
			// record we do not know.
			if markerGone && c.dropTombstones && !lastOfProducer && isTxnMarker(b) {
				c.removed += int64(h.NumRecords)
				continue
			}
		} else if c.txns.isAborted(h) {
			c.removed += int64(h.NumRecords)
			if !lastOfProducer {
				continue
			}
			if h.NumRecords > 0 {
				c.kept = c.kept[:0]
				b = c.rebuild(h)
				if h, err = record.ParseHeader(b); err != nil {
					return out, fmt.Errorf("compact: rebuilt batch: %w", err)
				}
			}
		} else if cleanable(h) {
			if b, err = c.filter(h, b); err != nil {
				return out, fmt.Errorf("%w: %s at offset %d: %w", ErrCorrupt, v.seg.logPath, h.BaseOffset, err)
			}
			if b == nil {
				continue
			}
			// Index the batch as written: a rebuilt one is shorter.
			if h, err = record.ParseHeader(b); err != nil {
				return out, fmt.Errorf("compact: rebuilt batch: %w", err)
			}
		}
		pos := out.seg.size
		if !fitsIndex(out.seg.base, h.LastOffset(), pos+int64(len(b))) {
			// Cannot happen (the cleaned segment is no larger than the
			// original, give or take recompression), but never write an
			// index entry that would overflow.
			return out, fmt.Errorf("%w: %s: cleaned segment outgrows its index", ErrCorrupt, v.seg.logPath)
		}
		if _, err := w.Write(b); err != nil {
			return out, fmt.Errorf("compact: write %s: %w", out.logPath, err)
		}
		out.seg.track(h, pos, c.interval)
	}
	if err := w.Flush(); err != nil {
		return out, fmt.Errorf("compact: write %s: %w", out.logPath, err)
	}
	// The final time entry that a roll writes: the segment's largest
	// timestamp must survive a reopen.
	out.seg.maybeTimeEntry()
	var offBuf, timeBuf []byte
	for _, e := range out.seg.index {
		offBuf = appendOffsetEntry(offBuf, out.seg.base, e)
	}
	for _, e := range out.seg.times {
		timeBuf = appendTimeEntry(timeBuf, out.seg.base, e)
	}
	if _, err := out.offIdx.WriteAt(offBuf, 0); err != nil {
		return out, fmt.Errorf("compact: write %s: %w", out.offIdx.Name(), err)
	}
	if _, err := out.timeIdx.WriteAt(timeBuf, 0); err != nil {
		return out, fmt.Errorf("compact: write %s: %w", out.timeIdx.Name(), err)
	}
	out.seg.next = next
	return out, nil
}

// isTxnMarker reports whether a control batch is a COMMIT or ABORT marker.
func isTxnMarker(b []byte) bool {
	_, ok, err := record.DecodeMarker(b)
	return err == nil && ok
}

// filter returns the batch b (header h) with only the records compaction
// keeps: b itself when it keeps all, nil when none (and the batch may go),
// else a rebuilt batch (see the file comment).
func (c *cleaner) filter(h record.BatchHeader, b []byte) ([]byte, error) {
	c.kept = c.kept[:0]
	var removed int64
	err := record.ForEachRecord(b, func(r record.Record) error {
		off := h.BaseOffset + int64(r.OffsetDelta)
		last, ok := c.keys[string(r.Key)]
		keep := r.Key != nil && ok && last == off && (r.Value != nil || !c.dropTombstones)
		if keep {
			c.kept = append(c.kept, r) // r aliases b, which outlives the rebuild
		} else {
			removed++
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	c.removed += removed
	if removed == 0 {
		return b, nil
	}
	if len(c.kept) == 0 && !(h.ProducerID >= 0 && c.lastOfProducer[h.ProducerID] == h.BaseOffset) {
		return nil, nil
	}
	return c.rebuild(h), nil
}

// rebuild builds batch h holding only c.kept, with h's header fields.
func (c *cleaner) rebuild(h record.BatchHeader) []byte {
	nb := record.BuildBatch(record.BuildOptions{
		BaseOffset:           h.BaseOffset,
		PartitionLeaderEpoch: h.PartitionLeaderEpoch,
		Compression:          h.Compression(),
		LogAppendTime:        h.LogAppendTime(),
		Transactional:        h.Transactional(),
		Control:              h.Control(),
		FirstTimestamp:       h.FirstTimestamp,
		ProducerID:           h.ProducerID,
		ProducerEpoch:        h.ProducerEpoch,
		BaseSequence:         h.BaseSequence,
	}, c.kept)
	// BuildBatch derives lastOffsetDelta and maxTimestamp from the records
	// it got; restore the original ones (offsets, last sequence and the
	// segment's time index stay as produced), then re-sign.
	binary.BigEndian.PutUint32(nb[hdrLastOffsetDelta:], uint32(h.LastOffsetDelta))
	binary.BigEndian.PutUint64(nb[hdrMaxTimestamp:], uint64(h.MaxTimestamp))
	binary.BigEndian.PutUint32(nb[hdrCRC:], crc32.Checksum(nb[hdrAttributes:], crcTable))
	return nb
}

// swap replaces the segment in v by the cleaned one (see the file comment
// for the steps and why each crash point is safe). It returns errSwapRaced,
// discarding the cleaned files, if the segment left the list or changed
// since the plan.
func (l *Log) swap(v view, out *cleanedSegment, now time.Time) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	idx := -1
	for i, s := range l.mu.segments[:len(l.mu.segments)-1] {
		if s == v.seg {
			idx = i
			break
		}
	}
	if err := l.usableLocked(); err != nil || idx < 0 || v.seg.size != v.size {
		out.discardClosed()
		if err != nil {
			return err
		}
		return errSwapRaced
	}
	names := [3]string{out.logName, out.idxName, out.tidx}
	if err := l.crashPoint(0); err != nil {
		return err
	}
	// Step 1: *.cleaned -> *.swap. A failure here leaves strays only.
	for _, n := range names {
		if err := os.Rename(n+cleanedSuffix, n+swapSuffix); err != nil {
			out.discardClosed()
			return fmt.Errorf("compact: %w", err)
		}
	}
	if err := l.crashPoint(1); err != nil {
		return err
	}
	// Steps 2-4: from here a failure leaves the files in a state only Open
	// sorts out, so it fails the Log.
	for _, n := range names[1:] {
		if err := os.Remove(n); err != nil && !errors.Is(err, os.ErrNotExist) {
			return l.failLocked(fmt.Errorf("compact: %w", err))
		}
	}
	if err := l.syncDir(); err != nil {
		return l.failLocked(fmt.Errorf("compact: fsync dir: %w", err))
	}
	if err := l.crashPoint(2); err != nil {
		return err
	}
	if err := os.Rename(out.logName+swapSuffix, out.logName); err != nil {
		return l.failLocked(fmt.Errorf("compact: %w", err))
	}
	if err := l.syncDir(); err != nil {
		return l.failLocked(fmt.Errorf("compact: fsync dir: %w", err))
	}
	if err := l.crashPoint(3); err != nil {
		return err
	}
	for _, n := range names[1:] {
		if err := os.Rename(n+swapSuffix, n); err != nil {
			return l.failLocked(fmt.Errorf("compact: %w", err))
		}
	}
	if err := l.crashPoint(4); err != nil {
		return err
	}
	// The index renames need no fsync of their own: lost, they leave the
	// segment without indexes, which Open rebuilds. The next Flush syncs
	// the directory.
	l.mu.dirDirty = true

	ns, err := openSegment(l.dir, v.seg.base, false, now)
	if err != nil {
		return l.failLocked(fmt.Errorf("compact: reopen: %w", err))
	}
	t := out.seg
	ns.size, ns.next, ns.index, ns.times = t.size, t.next, t.index, t.times
	ns.offOnDisk, ns.timesOnDisk = len(t.index), len(t.times) // the swapped-in files
	ns.maxTS, ns.maxTSBase, ns.maxTSLast, ns.firstTS = t.maxTS, t.maxTSBase, t.maxTSLast, t.firstTS
	ns.bytesSinceIndex = t.bytesSinceIndex
	ns.indexMissing = false
	// The segment's transaction index file is not part of the swap: it
	// stays, and so do its entries (an entry whose data and marker the
	// pass removed is harmless: it matches no record any more).
	ns.aborted = v.seg.aborted
	if v.seg.txnIdx != nil {
		if err := ns.openTxnIndexLocked(); err != nil {
			return l.failLocked(fmt.Errorf("compact: reopen: %w", err))
		}
		ns.txnDirty = v.seg.txnDirty
	}
	l.mu.segments[idx] = ns
	// The old files are already replaced or unlinked; readers still
	// holding the old segment finish on its open descriptors.
	v.seg.release()
	return nil
}

// discardClosed deletes the *.cleaned files after sync closed them.
func (c *cleanedSegment) discardClosed() {
	for _, n := range []string{c.logName, c.idxName, c.tidx} {
		_ = os.Remove(n + cleanedSuffix)
	}
}

// crashPoint lets a test stop a swap after step n (0 = before step 1) as a
// crash would: the files stay exactly as they are and the Log is abandoned.
func (l *Log) crashPoint(n int) error {
	if l.swapCrashHook != nil {
		return l.swapCrashHook(n)
	}
	return nil
}

// validateCleaned is record.Validate for a batch compaction may have
// rewritten: record.Validate demands what a producer sends (offset deltas
// 0..n-1, at least one record), while a cleaned batch keeps its original
// lastOffsetDelta over fewer records, or none. It checks the length, the
// CRC-32C and the record structure (ForEachRecord, decompressing).
func validateCleaned(b []byte) error {
	h, err := record.ParseHeader(b)
	if err != nil {
		return err
	}
	if h.BatchLength < record.BatchHeaderSize-record.LogOverhead || h.Size() != len(b) {
		return fmt.Errorf("%w: batchLength %d does not match %d bytes", record.ErrCorrupt, h.BatchLength, len(b))
	}
	if crc := crc32.Checksum(b[hdrAttributes:], crcTable); crc != h.CRC {
		return fmt.Errorf("%w: crc %#08x, computed %#08x", record.ErrCorrupt, h.CRC, crc)
	}
	return record.ForEachRecord(b, func(record.Record) error { return nil })
}
