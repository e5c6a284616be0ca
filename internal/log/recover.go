package log

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
)

// logStartOffsetFile holds the log start offset (on-disk format; do not
// change): the text "0\n<offset>\n", version 0 like Kafka's checkpoint files.
const logStartOffsetFile = "log-start-offset"

// strayFileSuffixes are left by an interrupted operation (a checkpoint
// write, a deletion, Kafka's cleaner); Open removes them.
var strayFileSuffixes = []string{".tmp", ".deleted", ".cleaned", ".swap"}

// Open opens the log in dir, creating the directory and a first segment if
// needed, and recovers it (see the package doc): the active segment's torn
// or corrupt tail is truncated, damaged indexes are rebuilt, stray files are
// removed. Everything that survives is treated as durable. Damage that
// recovery must not truncate (in an older segment) fails Open with
// ErrCorrupt naming the file and position.
func Open(dir string, opts Options) (*Log, error) {
	opts = opts.withDefaults()
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("open log: %w", err)
	}
	l := &Log{dir: dir, logger: opts.Logger}
	if opts.Syncer.covers(dir) {
		l.syncer = opts.Syncer
	}
	l.flushCond = sync.NewCond(&l.flushMu)
	l.mu.opts = opts
	l.mu.recoveryPoint = -1
	if err := l.recover(); err != nil {
		for _, s := range l.mu.segments {
			s.release()
		}
		return nil, fmt.Errorf("open log %s: %w", dir, err)
	}
	return l, nil
}

// recover loads the segments. It runs before the Log is shared, so it
// touches l.mu's fields without the lock.
func (l *Log) recover() error {
	entries, err := os.ReadDir(l.dir)
	if err != nil {
		return err
	}
	var bases []int64
	hasLog := map[int64]bool{}
	for _, e := range entries {
		name := e.Name()
		if e.IsDir() {
			continue
		}
		for _, suffix := range strayFileSuffixes {
			if strings.HasSuffix(name, suffix) {
				l.logger.Info("removing stray file", "dir", l.dir, "file", name)
				if err := os.Remove(filepath.Join(l.dir, name)); err != nil {
					return err
				}
			}
		}
		if base, ok := parseSegmentName(name, logSuffix); ok {
			bases = append(bases, base)
			hasLog[base] = true
		}
	}
	// An index without its .log is what an interrupted segment deletion
	// leaves (the .log is removed first).
	for _, e := range entries {
		for _, suffix := range []string{indexSuffix, timeIndexSuffix, txnIndexSuffix} {
			if base, ok := parseSegmentName(e.Name(), suffix); ok && !hasLog[base] {
				if err := os.Remove(filepath.Join(l.dir, e.Name())); err != nil && !errors.Is(err, os.ErrNotExist) {
					return err
				}
			}
		}
	}
	sort.Slice(bases, func(i, j int) bool { return bases[i] < bases[j] })

	logStart, haveLogStart := l.readCheckpoint()
	// The compaction checkpoints (compact.go): segments below the high
	// mark may hold offset gaps; those below the first dirty offset were
	// cleaned. Missing means nothing was cleaned: all is dirty.
	cleanedUpTo, _ := l.readOffsetFile(cleanerHighMarkFile)
	firstDirty, _ := l.readOffsetFile(cleanerCheckpointFile)
	recoveryPoint, haveRP := l.readOffsetFile(recoveryPointFile)
	if haveRP {
		l.mu.recoveryPoint = recoveryPoint
	}
	now := l.mu.opts.Now()
	if len(bases) == 0 {
		s, err := openSegment(l.dir, max(logStart, 0), true, now)
		if err != nil {
			return err
		}
		l.mu.segments = []*segment{s}
		if err := l.syncDir(); err != nil {
			return fmt.Errorf("fsync dir: %w", err)
		}
	}
	for i, base := range bases {
		s, err := openSegment(l.dir, base, false, now)
		if err != nil {
			return err
		}
		l.mu.segments = append(l.mu.segments, s)
		fi, err := s.log.Stat()
		if err != nil {
			return err
		}
		s.alloc = fi.Size() // recovery trims an unwritten tail (truncateFile)
		if i < len(bases)-1 {
			err = l.loadInactive(s, fi.Size(), bases[i+1])
		} else {
			mode := scanValidate
			if base < cleanedUpTo {
				mode = scanValidateGaps
			}
			err = l.openActive(s, fi.Size(), mode, recoveryPoint, haveRP)
		}
		if err != nil {
			return err
		}
	}

	segs := l.mu.segments
	leo := segs[len(segs)-1].next
	if !haveLogStart || logStart < segs[0].base {
		logStart = segs[0].base
	}
	if logStart > leo {
		// The checkpoint is ahead of the data: DeleteRecords moved the
		// start to the end and then a torn tail was cut. Nothing below
		// logStart may be served again, so start over empty at logStart.
		l.logger.Warn("log start offset is past the recovered end; starting empty",
			"dir", l.dir, "log_start_offset", logStart, "log_end_offset", leo)
		if err := l.restartAtLocked(logStart); err != nil {
			return err
		}
		leo = logStart
	}
	l.mu.logStartOffset = logStart
	l.logStart.Store(logStart)
	l.mu.cleanedUpTo = cleanedUpTo
	l.mu.firstDirty = firstDirty
	if _, err := l.deleteBelowStartLocked(); err != nil {
		return err
	}
	// Transaction indexes last: their entries are checked against the
	// recovered segment ends.
	for _, s := range l.mu.segments {
		damaged, err := l.loadTxnIndex(s)
		if err != nil {
			return err
		}
		if damaged && !l.mu.txnRebuild {
			l.mu.txnRebuild, l.mu.txnRebuildFrom = true, s.base
		}
	}
	l.leo.Store(leo)
	l.flushed.Store(leo)
	// A recovery point past what survived would vouch for whatever is
	// appended there next without its having been fsynced.
	if l.mu.recoveryPoint > leo {
		l.logger.Warn("recovery point is past the recovered end; lowering it", "dir", l.dir,
			"recovery_point", l.mu.recoveryPoint, "log_end_offset", leo)
		if err := l.writeOffsetFile(recoveryPointFile, leo); err != nil {
			return err
		}
		l.mu.recoveryPoint = leo
	}
	return nil
}

// loadInactive loads the indexes of a segment that is not the last. It was
// fsynced whole when it rolled, so its .log is trusted; an index that fails
// the sanity checks is rebuilt from it. Framing damage found while rebuilding
// is ErrCorrupt: it is not a torn tail and must not be cut.
func (l *Log) loadInactive(s *segment, size, nextBase int64) error {
	s.size = size
	s.next = nextBase
	index, ierr := readIndexFile(s.idxPath, size, offsetEntrySize)
	if ierr == nil {
		s.index, ierr = decodeOffsetIndex(index, s.base, size)
		s.offOnDisk = len(s.index)
	}
	times, terr := readIndexFile(s.timePath, size, timeEntrySize)
	if terr == nil {
		s.times, terr = decodeTimeIndex(times, s.base)
		s.timesOnDisk = len(s.times)
	}
	if s.indexMissing && size > 0 {
		ierr = fmt.Errorf("%w: missing", errBadIndex)
	}
	if ierr == nil && terr == nil {
		if n := len(s.times); n > 0 {
			s.maxTS, s.maxTSLast = s.times[n-1].timestamp, s.times[n-1].offset
		}
		return nil
	}
	l.logger.Warn("rebuilding damaged index", "dir", l.dir, "segment", filepath.Base(s.logPath),
		"index_err", ierr, "timeindex_err", terr)
	res, err := s.scanSegment(size, scanHeaders, 0, l.mu.opts.IndexIntervalBytes)
	if err != nil {
		return err
	}
	if res.reason != "" {
		return fmt.Errorf("%w: %s at position %d: %s", ErrCorrupt, s.logPath, res.end, res.reason)
	}
	// The final time entry that roll writes, so maxTS survives a reopen.
	s.maybeTimeEntry()
	s.next = nextBase
	s.offOnDisk, s.timesOnDisk = 0, 0
	return s.persistIndexes(l.sync)
}

// recoverActive validates the batches of the last segment (CRC, records,
// contiguous offsets) and truncates the file at the first bad one: after a
// crash the tail of the active segment may hold a torn write, or pages that
// never reached the disk. Batches wholly below trustBelow (the recovery
// point) were fsynced before it was persisted: only their headers are
// checked. The surviving .log is fsynced (after a kill -9 its pages may
// still be dirty, and from now on it counts as flushed) and its indexes are
// rebuilt. mode is scanValidate, or scanValidateGaps for a segment
// compaction has cleaned.
func (l *Log) recoverActive(s *segment, size int64, mode scanMode, trustBelow int64) error {
	res, err := s.scanSegment(size, mode, trustBelow, l.mu.opts.IndexIntervalBytes)
	if err != nil {
		return err
	}
	l.recovery.ValidatedBytes, l.recovery.HeaderOnlyBytes = res.validated, res.headerOnly
	if res.reason != "" {
		zeros, err := allZero(s.log, res.end, size)
		if err != nil {
			return fmt.Errorf("read %s: %w", s.logPath, err)
		}
		if zeros {
			// Space preallocated (log.preallocate) or never written: no
			// batch was cut, so nothing is reported as lost.
			l.logger.Info("trimming the unwritten tail of the active segment", "dir", l.dir,
				"file", filepath.Base(s.logPath), "position", res.end, "bytes", size-res.end)
		} else {
			l.recovery.TruncatedBytes = size - res.end
			l.logger.Warn("truncating corrupt tail of active segment", "dir", l.dir,
				"file", filepath.Base(s.logPath), "position", res.end, "dropped_bytes", size-res.end, "reason", res.reason)
		}
		if err := s.truncateFile(res.end); err != nil {
			return fmt.Errorf("truncate %s: %w", s.logPath, err)
		}
	}
	if err := l.sync(s.log); err != nil {
		return fmt.Errorf("fsync %s: %w", s.logPath, err)
	}
	return s.rewriteIndexes()
}

// readIndexFile reads a whole index file, refusing one larger than a .log of
// logSize bytes could need (one entry per minimal batch) before allocating.
func readIndexFile(path string, logSize int64, entrySize int) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, err
	}
	limit := (logSize/61 + 2) * int64(entrySize)
	if fi.Size() > limit {
		return nil, fmt.Errorf("%w: %d bytes for a %d-byte log", errBadIndex, fi.Size(), logSize)
	}
	b := make([]byte, fi.Size())
	if _, err := f.ReadAt(b, 0); err != nil && !errors.Is(err, io.EOF) {
		return nil, err
	}
	return b, nil
}

// readCheckpoint returns the persisted log start offset. A missing or
// unreadable file is not fatal: the first segment's base is then the start,
// which is at most one deletion behind.
func (l *Log) readCheckpoint() (int64, bool) { return l.readOffsetFile(logStartOffsetFile) }

// readOffsetFile reads a checkpoint file holding one offset in the
// "0\n<offset>\n" format; ok=false when it is missing or malformed.
func (l *Log) readOffsetFile(name string) (int64, bool) {
	b, err := os.ReadFile(filepath.Join(l.dir, name))
	if err != nil {
		if !errors.Is(err, os.ErrNotExist) {
			l.logger.Warn("cannot read checkpoint", "dir", l.dir, "file", name, "err", err)
		}
		return 0, false
	}
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	if len(lines) == 2 && lines[0] == "0" {
		if off, err := strconv.ParseInt(lines[1], 10, 64); err == nil && off >= 0 {
			return off, true
		}
	}
	l.logger.Warn("ignoring malformed checkpoint file", "dir", l.dir, "file", name, "content", string(b[:min(len(b), 64)]))
	return 0, false
}

// writeCheckpoint persists the log start offset atomically: write a temp
// file, fsync it, rename it over the old one, fsync the directory.
func (l *Log) writeCheckpoint(off int64) error { return l.writeOffsetFile(logStartOffsetFile, off) }

// writeOffsetFile writes a checkpoint file as writeCheckpoint describes.
// A failed fsync (of the file or of the directory after the rename) is
// fail-stop, as for segments (see the package doc): the page cache can no
// longer be trusted, and after a rename whose directory fsync failed the
// disk may hold either value while memory holds the old one. A failure
// before any fsync (create, write: a full disk) leaves the old file intact
// and is only returned. REQUIRES: l.mu held (or l not yet shared).
func (l *Log) writeOffsetFile(name string, off int64) error {
	path := filepath.Join(l.dir, name)
	tmp := path + ".tmp"
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o644)
	if err != nil {
		return fmt.Errorf("write %s: %w", name, err)
	}
	_, err = fmt.Fprintf(f, "0\n%d\n", off)
	if err == nil {
		if err = l.sync(f); err != nil {
			err = l.failLocked(fmt.Errorf("fsync %s: %w", tmp, err))
		}
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, path)
	}
	if err == nil {
		if err = l.syncDir(); err != nil && !isDirOpenError(err) {
			err = l.failLocked(fmt.Errorf("fsync dir after renaming %s: %w", name, err))
		}
	}
	if err != nil {
		_ = os.Remove(tmp)
		return fmt.Errorf("write %s: %w", name, err)
	}
	return nil
}

// highWatermarkFile holds a replicated partition's last checkpointed high
// watermark (Kafka keeps them per directory in
// replication-offset-checkpoint); on-disk name, do not change.
const highWatermarkFile = "high-watermark"

// HighWatermarkCheckpoint returns the checkpointed high watermark, if any.
func (l *Log) HighWatermarkCheckpoint() (int64, bool) { return l.readOffsetFile(highWatermarkFile) }

// CheckpointHighWatermark durably records hw (a failure to make it durable
// fails the log, as every checkpoint failure does).
func (l *Log) CheckpointHighWatermark(hw int64) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if err := l.usableLocked(); err != nil {
		return err
	}
	return l.writeOffsetFile(highWatermarkFile, hw)
}
