package log

import (
	"errors"
	"fmt"
	"sort"

	"github.com/samsa-io/samsa/internal/record"
)

// SetLogStartOffset moves the log start offset forward (DeleteRecords),
// never back; past LogEndOffset is ErrOffsetOutOfRange. The new offset is
// persisted before any segment goes, then segments wholly below it (except
// the active one) are deleted. The checkpoint's fsyncs run under mu:
// DeleteRecords is rare and must not race an append's view of the start.
func (l *Log) SetLogStartOffset(off int64) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if err := l.usableLocked(); err != nil {
		return err
	}
	if off <= l.mu.logStartOffset {
		return nil
	}
	if leo := l.leo.Load(); off > leo {
		return fmt.Errorf("%w: log start offset %d past log end offset %d", ErrOffsetOutOfRange, off, leo)
	}
	if err := l.setStartLocked(off); err != nil {
		return err
	}
	_, err := l.deleteBelowStartLocked()
	return err
}

// setStartLocked persists and publishes a new log start offset.
// REQUIRES: l.mu held.
func (l *Log) setStartLocked(off int64) error {
	if err := l.writeCheckpoint(off); err != nil {
		return err
	}
	l.mu.logStartOffset = off
	l.logStart.Store(off)
	return nil
}

// deleteBelowStartLocked deletes the segments wholly below the log start
// offset (the next segment starts at or below it), never the active one.
// REQUIRES: l.mu held.
func (l *Log) deleteBelowStartLocked() (int, error) {
	segs := l.mu.segments
	n := 0
	for n < len(segs)-1 && segs[n+1].base <= l.mu.logStartOffset {
		n++
	}
	return n, l.removeFirstLocked(n)
}

// removeFirstLocked takes the n oldest segments out of the list and deletes
// their files. Readers holding a reference finish on the unlinked files.
// REQUIRES: l.mu held; n < len(segments).
func (l *Log) removeFirstLocked(n int) error {
	if n == 0 {
		return nil
	}
	dead := l.mu.segments[:n]
	l.mu.segments = append([]*segment(nil), l.mu.segments[n:]...)
	var errs []error
	for _, s := range dead {
		errs = append(errs, s.remove())
	}
	return errors.Join(errs...)
}

// ApplyRetention deletes old segments, never the active one, and returns
// how many. Following Kafka (UnifiedLog.deleteOldSegments), it deletes from
// the oldest: segments whose largest timestamp is older than RetentionAge,
// then segments while the log stays at least RetentionBytes without them,
// then segments wholly below the log start offset. LogStartOffset moves to
// the first remaining segment and is persisted before any file goes.
//
// limit is the high watermark: a segment goes only if the next one starts
// at or below it (Kafka's deletable-segment bound), so the log start never
// passes the high watermark and retention never removes a record that is
// not committed yet — right after a roll, say, when the active segment
// holds everything above it.
func (l *Log) ApplyRetention(limit int64) (deleted int, err error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if err := l.usableLocked(); err != nil {
		return 0, err
	}
	o := l.mu.opts
	segs := l.mu.segments
	n := 0
	if o.RetentionAge > 0 {
		cutoff := o.Now().Add(-o.RetentionAge).UnixMilli()
		for n < len(segs)-1 && segs[n].largestTimestamp() < cutoff {
			n++
		}
	}
	if o.RetentionBytes >= 0 {
		excess := l.sizeLocked() - o.RetentionBytes
		for _, s := range segs[:n] {
			excess -= s.size
		}
		for n < len(segs)-1 && excess-segs[n].size >= 0 {
			excess -= segs[n].size
			n++
		}
	}
	for n < len(segs)-1 && segs[n+1].base <= l.mu.logStartOffset {
		n++
	}
	for n > 0 && segs[n].base > limit {
		n--
	}
	if n == 0 {
		return 0, nil
	}
	if start := segs[n].base; start > l.mu.logStartOffset {
		if err := l.setStartLocked(start); err != nil {
			return 0, err
		}
	}
	l.logger.Info("retention deleted segments", "dir", l.dir, "segments", n, "log_start_offset", l.mu.logStartOffset)
	return n, l.removeFirstLocked(n)
}

// TruncateTo drops every batch holding an offset >= offset (a follower
// diverged from its leader). A batch that straddles offset is dropped whole,
// so LogEndOffset may end up below offset. An offset below the log start
// starts the log over, empty, at offset (Kafka's truncateFullyAndStartAt).
// The truncation is fsynced before it returns: a crash must not bring back
// data the leader told us to drop. Reads racing it may see
// ErrOffsetOutOfRange.
func (l *Log) TruncateTo(offset int64) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if err := l.usableLocked(); err != nil {
		return err
	}
	if offset < 0 {
		return fmt.Errorf("%w: truncate to %d", ErrOffsetOutOfRange, offset)
	}
	if offset >= l.leo.Load() {
		return nil
	}
	l.mu.truncations++
	var leo int64
	if offset < l.mu.logStartOffset || offset <= l.mu.segments[0].base {
		if err := l.restartAtLocked(offset); err != nil {
			return err
		}
		leo = offset
	} else {
		i := l.segmentIndexLocked(offset)
		removed := len(l.mu.segments) - 1 - i
		for _, s := range l.mu.segments[i+1:] {
			if err := s.remove(); err != nil {
				return l.failLocked(fmt.Errorf("truncate: %w", err))
			}
		}
		l.mu.segments = l.mu.segments[: i+1 : i+1]
		s := l.mu.segments[i]
		v := view{seg: s, size: s.size, index: s.index}
		pos, _, ok, err := v.find(lookupPosition(s.index, offset), offset)
		if err != nil {
			return err
		}
		if !ok {
			pos = s.size
		}
		if err := s.truncateFile(pos); err != nil {
			return l.failLocked(fmt.Errorf("truncate %s to %d: %w", s.logPath, pos, err))
		}
		// Re-index what is left. A full scan: truncation is rare and this
		// also recomputes the max timestamp exactly.
		res, err := s.scanSegment(pos, scanHeaders, 0, l.mu.opts.IndexIntervalBytes)
		if err != nil {
			return l.failLocked(err)
		}
		if res.reason != "" {
			return fmt.Errorf("%w: %s at position %d: %s", ErrCorrupt, s.logPath, res.end, res.reason)
		}
		if err := s.rewriteIndexes(); err != nil {
			return l.failLocked(err)
		}
		if err := l.sync(s.log); err != nil {
			return l.failLocked(fmt.Errorf("fsync %s: %w", s.logPath, err))
		}
		// Aborted-transaction entries whose markers went: durably, or
		// they would mark records appended later at their offsets.
		if k := sort.Search(len(s.aborted), func(k int) bool { return s.aborted[k].LastOffset >= s.next }); k < len(s.aborted) {
			s.aborted = append([]AbortedTxn(nil), s.aborted[:k]...)
			if err := s.rewriteTxnIndexLocked(); err != nil {
				return l.failLocked(err)
			}
			if err := l.syncTxnIndexLocked(s); err != nil {
				return err
			}
		}
		if removed > 0 {
			if err := l.syncDir(); err != nil {
				return l.failLocked(fmt.Errorf("fsync dir: %w", err))
			}
		}
		leo = s.next
	}
	l.leo.Store(leo)
	if l.flushed.Load() > leo {
		l.flushed.Store(leo)
	}
	if err := l.dropRecoveryPointAboveLocked(leo); err != nil {
		return err
	}
	// Data appended from here on is dirty for compaction (compact.go).
	// In memory only: the next pass persists it.
	l.mu.firstDirty = min(l.mu.firstDirty, leo)
	// Invariant LogStartOffset <= LogEndOffset: when the start was inside
	// what got dropped, it moves back to the new end.
	if start := min(l.mu.logStartOffset, leo); start != l.mu.logStartOffset {
		return l.setStartLocked(start)
	}
	return nil
}

// restartAtLocked deletes every segment and starts an empty one at off.
// Failure leaves the Log without segments, so it is fatal.
// REQUIRES: l.mu held.
func (l *Log) restartAtLocked(off int64) error {
	for _, s := range l.mu.segments {
		if err := s.remove(); err != nil {
			l.mu.segments = nil
			return l.failLocked(fmt.Errorf("restart at %d: %w", off, err))
		}
	}
	l.mu.segments = nil
	s, err := openSegment(l.dir, off, true, l.now())
	if err != nil {
		return l.failLocked(fmt.Errorf("restart at %d: %w", off, err))
	}
	l.mu.segments = []*segment{s}
	if err := l.syncDir(); err != nil {
		return l.failLocked(fmt.Errorf("fsync dir: %w", err))
	}
	return nil
}

// OffsetForTimestamp returns the offset and timestamp of the first record at
// or after the log start whose timestamp is >= ts (ListOffsets by time).
// It picks the first segment whose largest timestamp reaches ts, starts at
// the time index's last entry below ts, and scans batch headers forward,
// opening only a batch whose MaxTimestamp reaches ts.
func (l *Log) OffsetForTimestamp(ts int64) (offset, timestamp int64, found bool, err error) {
	l.mu.Lock()
	if err := l.usableLocked(); err != nil {
		l.mu.Unlock()
		return -1, -1, false, err
	}
	logStart := l.mu.logStartOffset
	var views []view
	for _, s := range l.mu.segments {
		if len(views) > 0 || (s.maxTS >= ts && s.next > logStart) {
			views = append(views, l.viewLocked(s))
		}
	}
	l.mu.Unlock()
	defer func() {
		for _, v := range views {
			v.seg.release()
		}
	}()
	for _, v := range views {
		start := max(lookupTime(v.times, ts), logStart)
		var buf [record.BatchHeaderSize]byte
		for pos := lookupPosition(v.index, start); pos < v.size; {
			h, err := v.readHeader(pos, &buf)
			if err != nil {
				return -1, -1, false, err
			}
			if h.MaxTimestamp >= ts && h.LastOffset() >= logStart {
				batch, err := v.readBatch(pos, h)
				if err != nil {
					return -1, -1, false, err
				}
				off, t, ok, err := firstRecordAtOrAfter(batch, h, ts, logStart)
				if err != nil {
					return -1, -1, false, fmt.Errorf("%w: %s at position %d: %w", ErrCorrupt, v.seg.logPath, pos, err)
				}
				if ok {
					return off, t, true, nil
				}
			}
			pos += int64(h.Size())
		}
	}
	return -1, -1, false, nil
}

// firstRecordAtOrAfter is record.FirstOffsetAtOrAfter restricted to records
// at or after offset minOffset (the log start may fall inside a batch).
func firstRecordAtOrAfter(batch []byte, h record.BatchHeader, ts, minOffset int64) (int64, int64, bool, error) {
	if h.BaseOffset >= minOffset {
		return record.FirstOffsetAtOrAfter(batch, ts)
	}
	var off, t int64
	found := false
	errStop := errors.New("stop")
	err := record.ForEachRecord(batch, func(r record.Record) error {
		o := h.BaseOffset + int64(r.OffsetDelta)
		rts := h.FirstTimestamp + r.TimestampDelta
		if h.LogAppendTime() {
			rts = h.MaxTimestamp
		}
		if o >= minOffset && rts >= ts {
			off, t, found = o, rts, true
			return errStop
		}
		return nil
	})
	if err != nil && !errors.Is(err, errStop) {
		return 0, 0, false, err
	}
	return off, t, found, nil
}

// MaxTimestamp returns the largest timestamp in the log and the offset of
// the first record carrying it (ListOffsets -3, KIP-734), or (-1, -1) when
// no batch has a timestamp. If the record cannot be read, the offset is that
// of the last record of its batch, as Kafka reported before KAFKA-16310.
func (l *Log) MaxTimestamp() (timestamp, offset int64) {
	l.mu.Lock()
	if l.usableLocked() != nil {
		l.mu.Unlock()
		return -1, -1
	}
	var best *segment
	for _, s := range l.mu.segments {
		if s.maxTS >= 0 && (best == nil || s.maxTS > best.maxTS) {
			best = s
		}
	}
	if best == nil {
		l.mu.Unlock()
		return -1, -1
	}
	ts, last := best.maxTS, best.maxTSLast
	v := l.viewLocked(best)
	l.mu.Unlock()
	defer v.seg.release()

	pos, h, ok, err := v.find(lookupPosition(v.index, last), last)
	if err != nil || !ok {
		return ts, last
	}
	batch, err := v.readBatch(pos, h)
	if err != nil {
		return ts, last
	}
	if off, _, ok, err := record.FirstOffsetAtOrAfter(batch, ts); err == nil && ok {
		return ts, off
	}
	return ts, last
}

// ScanBatches calls fn with the header of every batch holding an offset >=
// from (clamped to the log start), in order, until fn returns false. It
// reads headers only (no CRC check): for rebuilding producer state at start.
// Batches appended during the scan may or may not be seen.
func (l *Log) ScanBatches(from int64, fn func(h record.BatchHeader) bool) error {
	return l.ScanBatchesControl(from, func(h record.BatchHeader, _ []byte) bool { return fn(h) })
}

// ScanBatchesControl is ScanBatches that also hands fn the whole bytes of
// every control batch (nil for other batches), valid only during the call:
// replaying transactions needs each marker's type and coordinator epoch.
// Control batches are small (one record), so reading them costs little
// more than their headers.
func (l *Log) ScanBatchesControl(from int64, fn func(h record.BatchHeader, control []byte) bool) error {
	l.mu.Lock()
	if err := l.usableLocked(); err != nil {
		l.mu.Unlock()
		return err
	}
	from = max(from, l.mu.logStartOffset)
	if from >= l.leo.Load() {
		l.mu.Unlock()
		return nil
	}
	var views []view
	for _, s := range l.mu.segments[l.segmentIndexLocked(from):] {
		views = append(views, l.viewLocked(s))
	}
	l.mu.Unlock()
	defer func() {
		for _, v := range views {
			v.seg.release()
		}
	}()
	for _, v := range views {
		// One pread per scanChunk bytes, not per batch: a scan of a
		// segment of small batches costs a sequential read of it, and
		// one of large batches reads little more than their headers.
		cr := chunkReader{f: v.seg.log, limit: v.size}
		for pos := lookupPosition(v.index, from); pos < v.size; {
			if v.size-pos < record.BatchHeaderSize {
				return fmt.Errorf("%w: %s at position %d: %d bytes left, shorter than a batch header", ErrCorrupt, v.seg.logPath, pos, v.size-pos)
			}
			hb, err := cr.at(pos, record.BatchHeaderSize)
			if err != nil {
				return v.ioError(pos, err)
			}
			h, err := record.ParseHeader(hb)
			if err != nil {
				return fmt.Errorf("%w: %s at position %d: %w", ErrCorrupt, v.seg.logPath, pos, err)
			}
			if h.BatchLength < record.BatchHeaderSize-record.LogOverhead || int64(h.Size()) > v.size-pos {
				return fmt.Errorf("%w: %s at position %d: batchLength %d does not fit", ErrCorrupt, v.seg.logPath, pos, h.BatchLength)
			}
			var control []byte
			if h.LastOffset() >= from && h.Control() {
				if control, err = cr.at(pos, h.Size()); err != nil {
					return v.ioError(pos, err)
				}
			}
			if h.LastOffset() >= from && !fn(h, control) {
				return nil
			}
			pos += int64(h.Size())
		}
	}
	return nil
}

// TruncateFullyAndStartAt deletes every segment and starts the log empty at
// offset (Kafka's truncateFullyAndStartAt): a follower whose leader no
// longer holds the follower's log end (retention moved the leader's log
// start past it) restarts at the leader's log start.
func (l *Log) TruncateFullyAndStartAt(offset int64) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if err := l.usableLocked(); err != nil {
		return err
	}
	if offset < 0 {
		return fmt.Errorf("%w: start at %d", ErrOffsetOutOfRange, offset)
	}
	l.mu.truncations++
	if err := l.restartAtLocked(offset); err != nil {
		return err
	}
	l.leo.Store(offset)
	l.flushed.Store(offset)
	if err := l.dropRecoveryPointAboveLocked(offset); err != nil {
		return err
	}
	l.mu.firstDirty = offset
	return l.setStartLocked(offset)
}
