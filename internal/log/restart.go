package log

import (
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"time"

	"github.com/samsa-io/samsa/internal/record"
)

// recoveryPointFile holds the recovery point (on-disk format; do not
// change): "0\n<offset>\n", an offset below which every byte of the log was
// fsynced when the file was written. Kafka keeps the same number for every
// partition of a log dir in recovery-point-offset-checkpoint; we keep one
// file per partition so that a partition's checkpoint never waits for
// another's.
const recoveryPointFile = "recovery-point-offset-checkpoint"

// RecoveryStats says how Open treated the active segment, for logs, metrics
// and tests.
type RecoveryStats struct {
	// Clean: the clean-shutdown marker was honoured and the active
	// segment's tail checked out, so nothing was validated by CRC.
	Clean bool
	// RecoveryPoint is the recovery point Open started from (-1: none).
	RecoveryPoint int64
	// ValidatedBytes were checked batch by batch (CRC-32C and records);
	// HeaderOnlyBytes had only their headers chained (lengths, offsets).
	ValidatedBytes, HeaderOnlyBytes int64
	// TruncatedBytes were cut from a torn or corrupt tail.
	TruncatedBytes int64
}

// Recovery reports what Open did to the active segment.
func (l *Log) Recovery() RecoveryStats { return l.recovery }

// openActive loads the last segment. After a clean shutdown it trusts the
// files once their tail checks out (trustActive); otherwise, or when that
// check fails, it runs recoverActive, validating from the batch holding the
// recovery point (from the segment start when there is none or the clean
// check failed).
func (l *Log) openActive(s *segment, size int64, mode scanMode, recoveryPoint int64, haveRP bool) error {
	l.recovery.RecoveryPoint = -1
	if l.mu.opts.CleanShutdown {
		reason, err := l.trustActive(s, size, mode)
		if err != nil {
			return err
		}
		if reason == "" {
			l.recovery.Clean = true
			return nil
		}
		l.logger.Warn("clean shutdown recorded but the active segment does not match its index; validating all of it",
			"dir", l.dir, "file", filepath.Base(s.logPath), "reason", reason)
		haveRP = false
	}
	trustBelow := s.base
	if haveRP && recoveryPoint > s.base {
		trustBelow = recoveryPoint
		l.recovery.RecoveryPoint = recoveryPoint
	}
	return l.recoverActive(s, size, mode, trustBelow)
}

// trustActive loads the active segment after a clean shutdown without
// validating its batches. Close fsynced the .log, both indexes and the
// directory, so the files are what was written; the check only catches a
// marker that lies (files copied or edited afterwards, a marker restored
// from a backup). It loads both indexes, then re-reads batch headers from
// the last offset-index entry to the end of the file: that entry must point
// at a batch ending at its offset, the lengths must chain to exactly the
// file size, and offsets must continue (contiguously unless mode allows
// gaps). The cost is one index read and about IndexIntervalBytes of headers.
// It returns a non-empty reason when the files disagree; the caller then
// runs full recovery, which resets everything this loaded.
func (l *Log) trustActive(s *segment, size int64, mode scanMode) (reason string, err error) {
	interval := l.mu.opts.IndexIntervalBytes
	raw, ierr := readIndexFile(s.idxPath, size, offsetEntrySize)
	var index []offsetEntry
	if ierr == nil {
		index, ierr = decodeOffsetIndex(raw, s.base, size)
	}
	raw, terr := readIndexFile(s.timePath, size, timeEntrySize)
	var times []timeEntry
	if terr == nil {
		times, terr = decodeTimeIndex(raw, s.base)
	}
	if err := errors.Join(ierr, terr); err != nil {
		return err.Error(), nil
	}
	if s.indexMissing && size > 0 {
		return "index file missing", nil
	}
	s.resetIndexes()
	if size == 0 {
		if len(index) > 0 || len(times) > 0 {
			return "index entries for an empty segment", nil
		}
		return "", nil
	}
	cr := chunkReader{f: s.log, limit: size}
	header := func(pos int64) (record.BatchHeader, string, error) {
		if size-pos < record.BatchHeaderSize {
			return record.BatchHeader{}, fmt.Sprintf("index position %d leaves no room for a header", pos), nil
		}
		b, err := cr.at(pos, record.BatchHeaderSize)
		if err != nil {
			return record.BatchHeader{}, "", fmt.Errorf("read %s at %d: %w", s.logPath, pos, err)
		}
		h, err := record.ParseHeader(b)
		if err != nil {
			return h, fmt.Sprintf("header at %d: %v", pos, err), nil
		}
		return h, "", nil
	}
	first, reason, err := header(0)
	if err != nil || reason != "" {
		return reason, err
	}
	if (mode == scanValidate && first.BaseOffset != s.base) || first.BaseOffset < s.base {
		return fmt.Sprintf("first batch at offset %d in segment %d", first.BaseOffset, s.base), nil
	}
	pos := int64(0)
	if n := len(index); n > 0 {
		e := index[n-1]
		h, reason, err := header(e.pos)
		if err != nil || reason != "" {
			return reason, err
		}
		if h.LastOffset() != e.offset || h.BaseOffset < s.base {
			return fmt.Sprintf("index entry (%d, %d) points at a batch of offsets [%d, %d]",
				e.offset, e.pos, h.BaseOffset, h.LastOffset()), nil
		}
		// Every time entry was written at an index point at or before
		// this one (the roll's final entry is never in an active
		// segment), so none may name a later offset.
		if k := len(times); k > 0 && times[k-1].offset > e.offset {
			return fmt.Sprintf("time entry for offset %d after the last index entry %d", times[k-1].offset, e.offset), nil
		}
		// Resume as track left things just before the batch at e: the
		// forced bytesSinceIndex makes re-tracking it re-create e.
		s.index, s.times = index[:n-1], times
		s.offOnDisk, s.timesOnDisk = n-1, len(times) // the files hold (at least) these
		s.size, s.next = e.pos, h.BaseOffset
		s.bytesSinceIndex = int64(interval) + 1
		if k := len(times); k > 0 {
			// The time index's last entry is the largest timestamp up
			// to the batch at e; its base offset is not recorded.
			s.maxTS, s.maxTSLast = times[k-1].timestamp, times[k-1].offset
			s.maxTSBase = s.maxTSLast
		}
		pos = e.pos
	} else if len(times) > 0 {
		return "time entries without offset entries", nil
	}
	res, err := s.scanFrom(pos, size, mode, math.MaxInt64, interval)
	if err != nil {
		return "", err
	}
	s.firstTS = first.MaxTimestamp
	l.recovery.HeaderOnlyBytes = res.headerOnly
	if res.reason != "" {
		return fmt.Sprintf("tail at %d: %s", res.end, res.reason), nil
	}
	return "", nil
}

// CheckpointRecoveryPoint persists FlushedOffset as the recovery point, if
// it moved since the last checkpoint: an unclean restart then validates
// only what lies past it. It costs a small file write, an fsync and a
// rename, and is never on the append or flush path: the broker calls it
// every RecoveryPointInterval and Close calls it last.
//
// Why it is safe: FlushedOffset is published only after the fsync covering
// it returned, and a truncation below the recorded point removes the file
// (durably) before it returns, so the file never names an offset whose
// bytes were not fsynced. Bytes below it are trusted on an unclean start:
// if the disk later corrupts them, recovery does not notice (Kafka makes
// the same trade).
func (l *Log) CheckpointRecoveryPoint() error {
	l.rpMu.Lock()
	defer l.rpMu.Unlock()
	l.mu.Lock()
	if err := l.usableLocked(); err != nil {
		l.mu.Unlock()
		return err
	}
	off, persisted, gen := l.flushed.Load(), l.mu.recoveryPoint, l.mu.truncations
	l.mu.Unlock()
	if off == persisted {
		return nil
	}
	path := filepath.Join(l.dir, recoveryPointFile)
	tmp := path + ".tmp" // only rpMu's holder writes it
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o644)
	if err != nil {
		return fmt.Errorf("write %s: %w", recoveryPointFile, err)
	}
	_, err = fmt.Fprintf(f, "0\n%d\n", off)
	if err == nil {
		if err = l.sync(f); err != nil {
			// A failed fsync is fail-stop here as everywhere (package
			// doc), not retried at the next checkpoint.
			l.mu.Lock()
			err = l.failLocked(fmt.Errorf("fsync %s: %w", tmp, err))
			l.mu.Unlock()
		}
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		_ = os.Remove(tmp)
		return fmt.Errorf("write %s: %w", recoveryPointFile, err)
	}
	// The rename happens under mu so that it cannot land after a
	// truncation that lowered the log below off: such a truncation bumps
	// the generation, and the next checkpoint writes the lower value.
	l.mu.Lock()
	if gen != l.mu.truncations || l.mu.closed {
		l.mu.Unlock()
		_ = os.Remove(tmp)
		return nil
	}
	err = os.Rename(tmp, path)
	if err == nil {
		l.mu.recoveryPoint = off
	}
	l.mu.Unlock()
	if err == nil {
		if err = l.syncDir(); err != nil && !isDirOpenError(err) {
			// The directory may or may not hold the rename: fail-stop.
			l.mu.Lock()
			err = l.failLocked(fmt.Errorf("fsync dir after renaming %s: %w", recoveryPointFile, err))
			l.mu.Unlock()
		}
	}
	if err != nil {
		return fmt.Errorf("write %s: %w", recoveryPointFile, err)
	}
	return nil
}

// dropRecoveryPointAboveLocked removes the recovery-point file when it names
// an offset past leo (a truncation cut below it): otherwise data appended
// there later would be trusted without having been fsynced. The removal is
// made durable before the caller returns. REQUIRES: l.mu held.
func (l *Log) dropRecoveryPointAboveLocked(leo int64) error {
	if l.mu.recoveryPoint <= leo {
		return nil
	}
	if err := os.Remove(filepath.Join(l.dir, recoveryPointFile)); err != nil && !errors.Is(err, os.ErrNotExist) {
		return l.failLocked(fmt.Errorf("remove %s: %w", recoveryPointFile, err))
	}
	if err := l.syncDir(); err != nil {
		return l.failLocked(fmt.Errorf("fsync dir: %w", err))
	}
	l.mu.recoveryPoint = -1
	return nil
}

// syncActiveIndexesLocked fsyncs the active segment's indexes (and the
// directory if a segment was created since the last flush), which Flush
// leaves to recovery: Close does it so that a clean restart may trust
// them. REQUIRES: l.mu held, not closed.
func (l *Log) syncActiveIndexesLocked() error {
	// A preallocated tail goes, so that a clean restart finds the file
	// ending at its last batch (trustActive).
	if s := l.activeLocked(); s.alloc > s.size {
		if err := s.truncateFile(s.size); err != nil {
			return l.failLocked(fmt.Errorf("trim preallocated %s: %w", s.logPath, err))
		}
		if err := l.sync(s.log); err != nil {
			return l.failLocked(fmt.Errorf("fsync %s: %w", s.logPath, err))
		}
	}
	if err := l.activeLocked().persistIndexes(l.sync); err != nil {
		if errors.As(err, new(*indexOpenError)) {
			return err // nothing written; the next start rebuilds them
		}
		return l.failLocked(err)
	}
	// Every segment's transaction index: a rebuild at Open may have
	// written to older ones too.
	for _, seg := range l.mu.segments {
		if err := l.syncTxnIndexLocked(seg); err != nil {
			return err
		}
	}
	if l.mu.dirDirty {
		if err := l.syncDir(); err != nil {
			return l.failLocked(fmt.Errorf("fsync dir: %w", err))
		}
		l.mu.dirDirty = false
	}
	return nil
}

// RecoveryPointInterval is how often the broker checkpoints recovery points
// (Kafka's log.flush.offset.checkpoint.interval.ms is 60 s; ours is shorter
// because an unclean start re-validates everything past the point).
const RecoveryPointInterval = 30 * time.Second
