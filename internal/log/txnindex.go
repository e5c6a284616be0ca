package log

// The aborted-transaction index (Kafka's TransactionIndex, KIP-98).
//
// Every segment may have a <20-digit base>.txnindex file listing the
// transactions aborted by a marker that segment holds, in marker order
// (on-disk format; do not change: Kafka's, so kafka-dump-log.sh reads it):
//
//	+---------+------------+-------------+------------+------------------+
//	| version | producerId | firstOffset | lastOffset | lastStableOffset |
//	| int16=0 | int64      | int64       | int64      | int64            |
//	+---------+------------+-------------+------------+------------------+
//	 0         2            10            18           26               34
//
// firstOffset is the transaction's first record, lastOffset its ABORT
// marker, lastStableOffset Kafka's "LSO at completion": the first offset of
// the oldest transaction of another producer still open when the marker
// was written, or lastOffset+1 when none was. A fetch uses it to stop
// looking: once an entry's lastStableOffset reaches the fetch's upper
// bound, no later marker can end a transaction that started below that
// bound. Entries strictly increase by lastOffset, and firstOffset <
// lastOffset (a marker with no transaction open adds no entry).
//
// The Log keeps every entry in memory (segment.aborted): aborts are rare
// next to records, and a fetch at read_committed asks for them each time.
//
// # Durability
//
// An entry is written (page cache) right after its marker is appended,
// under the partition lock. Flush does NOT fsync it: the file is fsynced
// when its segment rolls, at Close, and by SyncTxnIndex, which the
// partition calls before it writes a producer snapshot. So every entry for
// a marker below the newest snapshot's offset is durable, and after a crash
// the partition replays the log from that snapshot (it must anyway, to
// rebuild producer state) and re-appends the entries of the aborts it
// meets; AppendAbortedTxn ignores one that is already there. The marker
// itself is as durable as any record (below the HW it was fsynced).
//
// Open drops entries past the recovered end of their segment (their marker
// was in a torn tail). A file that is not whole entries, is out of order,
// or names offsets outside its segment is reset to empty, with a warning,
// and TxnIndexRebuildFrom reports the lowest such segment so the partition
// replays from a snapshot at or below it (or the log start).
//
// TruncateTo drops entries at or past the new end and fsyncs the file
// before it returns: a stale entry that survived a crash would mark records
// appended later at the same offsets as aborted. Retention, DeleteRecords
// and truncation delete the file with its segment. Compaction keeps it:
// the cleaned segment takes over the old one's entries.

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"

	"github.com/samsa-io/samsa/internal/record"
)

const (
	txnIndexSuffix = ".txnindex"
	// txnEntrySize is one entry (on-disk format; do not change).
	txnEntrySize = 34
)

// AbortedTxn is one entry of the aborted-transaction index.
type AbortedTxn struct {
	ProducerID  int64
	FirstOffset int64 // the transaction's first record
	LastOffset  int64 // its ABORT marker
	// LastStableOffset is the first offset of the oldest other open
	// transaction when the marker was written, else LastOffset+1.
	LastStableOffset int64
}

// errBadTxnIndex is why a .txnindex file is reset. It never leaves the
// package: the partition rebuilds the entries from the log.
var errBadTxnIndex = errors.New("log: damaged transaction index")

// decodeTxnIndex decodes a .txnindex file of the segment [base, next).
// Entries at or past next are dropped (their marker was cut from a torn
// tail), and so is a partial last entry; anything else that the writer
// would not produce is errBadTxnIndex. It allocates at most the input's
// size worth of entries.
func decodeTxnIndex(b []byte, base, next int64) (entries []AbortedTxn, dropped int, err error) {
	n := len(b) / txnEntrySize
	if len(b)%txnEntrySize != 0 {
		dropped++ // a torn append: the entry is re-derived from the log
	}
	entries = make([]AbortedTxn, 0, n)
	for i := 0; i < n; i++ {
		r := b[i*txnEntrySize:]
		if v := int16(binary.BigEndian.Uint16(r)); v != 0 {
			return nil, 0, fmt.Errorf("%w: entry %d has version %d", errBadTxnIndex, i, v)
		}
		e := AbortedTxn{
			ProducerID:       int64(binary.BigEndian.Uint64(r[2:])),
			FirstOffset:      int64(binary.BigEndian.Uint64(r[10:])),
			LastOffset:       int64(binary.BigEndian.Uint64(r[18:])),
			LastStableOffset: int64(binary.BigEndian.Uint64(r[26:])),
		}
		if e.ProducerID < 0 || e.FirstOffset < 0 || e.FirstOffset >= e.LastOffset || e.LastOffset < base ||
			e.LastStableOffset < 0 || e.LastStableOffset > e.LastOffset+1 {
			return nil, 0, fmt.Errorf("%w: entry %d %+v in segment %d", errBadTxnIndex, i, e, base)
		}
		if k := len(entries); k > 0 && e.LastOffset <= entries[k-1].LastOffset {
			return nil, 0, fmt.Errorf("%w: entry %d (last offset %d) does not increase", errBadTxnIndex, i, e.LastOffset)
		}
		if e.LastOffset >= next {
			dropped += n - i
			break
		}
		entries = append(entries, e)
	}
	return entries, dropped, nil
}

func appendTxnEntry(b []byte, e AbortedTxn) []byte {
	b = binary.BigEndian.AppendUint16(b, 0)
	b = binary.BigEndian.AppendUint64(b, uint64(e.ProducerID))
	b = binary.BigEndian.AppendUint64(b, uint64(e.FirstOffset))
	b = binary.BigEndian.AppendUint64(b, uint64(e.LastOffset))
	return binary.BigEndian.AppendUint64(b, uint64(e.LastStableOffset))
}

func (s *segment) txnPath() string {
	return filepath.Join(filepath.Dir(s.logPath), segmentName(s.base)+txnIndexSuffix)
}

// openTxnIndexLocked opens (creating) the segment's .txnindex file for
// writing. Files are opened on demand: most segments never have one.
// REQUIRES: Log.mu held (or s not yet shared).
func (s *segment) openTxnIndexLocked() error {
	if s.txnIdx != nil {
		return nil
	}
	f, err := os.OpenFile(s.txnPath(), os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return fmt.Errorf("open %s: %w", s.txnPath(), err)
	}
	s.txnIdx = f
	return nil
}

// rewriteTxnIndexLocked replaces the file's contents with s.aborted (after
// a truncation or a repair). The caller fsyncs it when that matters.
// REQUIRES: Log.mu held (or s not yet shared).
func (s *segment) rewriteTxnIndexLocked() error {
	if s.txnIdx == nil && len(s.aborted) == 0 {
		if err := os.Remove(s.txnPath()); err != nil && !errors.Is(err, os.ErrNotExist) {
			return err
		}
		return nil
	}
	if err := s.openTxnIndexLocked(); err != nil {
		return err
	}
	var b []byte
	for _, e := range s.aborted {
		b = appendTxnEntry(b, e)
	}
	if err := s.txnIdx.Truncate(0); err != nil {
		return fmt.Errorf("rewrite %s: %w", s.txnPath(), err)
	}
	if _, err := s.txnIdx.WriteAt(b, 0); err != nil {
		return fmt.Errorf("rewrite %s: %w", s.txnPath(), err)
	}
	s.txnDirty = true
	return nil
}

// loadTxnIndex reads the segment's .txnindex, if any, once s.next is
// known. It reports whether the file was damaged (and reset to empty) so
// that the caller can have the entries rebuilt. Entries past the segment's
// end are dropped and the file rewritten without them.
// REQUIRES: s not yet shared.
func (l *Log) loadTxnIndex(s *segment) (damaged bool, err error) {
	f, err := os.OpenFile(s.txnPath(), os.O_RDWR, 0o644)
	if errors.Is(err, os.ErrNotExist) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("open %s: %w", s.txnPath(), err)
	}
	s.txnIdx = f
	fi, err := f.Stat()
	if err != nil {
		return false, err
	}
	// Bound the read before allocating: an entry stands for a marker
	// batch in the segment, at least a batch header long; the slack
	// covers entries whose markers a torn tail took (dropped below).
	limit := (s.size/record.BatchHeaderSize + 1024) * txnEntrySize
	var entries []AbortedTxn
	dropped := 0
	if fi.Size() > limit {
		err = fmt.Errorf("%w: %d bytes for a segment of %d bytes", errBadTxnIndex, fi.Size(), s.size)
	} else {
		b := make([]byte, fi.Size())
		if _, rerr := f.ReadAt(b, 0); rerr != nil && !errors.Is(rerr, io.EOF) {
			return false, fmt.Errorf("read %s: %w", s.txnPath(), rerr)
		}
		entries, dropped, err = decodeTxnIndex(b, s.base, s.next)
	}
	if err != nil {
		l.logger.Warn("transaction index is damaged; rebuilding it from the log", "dir", l.dir,
			"file", filepath.Base(s.txnPath()), "err", err)
		s.aborted = nil
		return true, s.rewriteTxnIndexLocked()
	}
	s.aborted = entries
	if dropped > 0 {
		l.logger.Info("dropping transaction index entries past the segment end", "dir", l.dir,
			"file", filepath.Base(s.txnPath()), "entries", dropped)
		return false, s.rewriteTxnIndexLocked()
	}
	return false, nil
}

// AppendAbortedTxn adds e to the index of the segment holding its marker
// (e.LastOffset, which must be in the log). An entry with the same
// LastOffset already there is left alone, so replaying the log after a
// crash may re-append every abort it meets. The entry is in memory (and
// served) at once, durable after SyncTxnIndex, a roll or Close.
func (l *Log) AppendAbortedTxn(e AbortedTxn) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if err := l.usableLocked(); err != nil {
		return err
	}
	if e.LastOffset < l.mu.logStartOffset || e.LastOffset >= l.leo.Load() || e.FirstOffset >= e.LastOffset || e.FirstOffset < 0 {
		return fmt.Errorf("%w: aborted transaction [%d, %d] in log [%d, %d)", ErrOffsetOutOfRange,
			e.FirstOffset, e.LastOffset, l.mu.logStartOffset, l.leo.Load())
	}
	s := l.mu.segments[l.segmentIndexLocked(e.LastOffset)]
	i := sort.Search(len(s.aborted), func(i int) bool { return s.aborted[i].LastOffset >= e.LastOffset })
	if i < len(s.aborted) && s.aborted[i].LastOffset == e.LastOffset {
		return nil
	}
	if err := s.openTxnIndexLocked(); err != nil {
		return err
	}
	if i == len(s.aborted) {
		// The common case: the marker was just appended. A reader's
		// snapshot of the slice is unaffected (append past its length).
		if _, err := s.txnIdx.WriteAt(appendTxnEntry(nil, e), int64(i)*txnEntrySize); err != nil {
			return l.failLocked(fmt.Errorf("write %s: %w", s.txnPath(), err))
		}
		s.aborted = append(s.aborted, e)
		s.txnDirty = true
		return nil
	}
	// A repair in the middle (only a rebuild does this): copy, then
	// rewrite the whole file.
	na := make([]AbortedTxn, 0, len(s.aborted)+1)
	na = append(append(append(na, s.aborted[:i]...), e), s.aborted[i:]...)
	s.aborted = na
	if err := s.rewriteTxnIndexLocked(); err != nil {
		return l.failLocked(err)
	}
	return nil
}

// AbortedTxns returns the aborted transactions that may hold records in
// [from, upTo): entries with LastOffset >= from and FirstOffset < upTo, in
// marker order (Kafka's collectAbortedTransactions). It stops at the first
// entry whose LastStableOffset reaches upTo: no later marker can end a
// transaction that started below upTo (see the file comment).
func (l *Log) AbortedTxns(from, upTo int64) []AbortedTxn {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.usableLocked() != nil || from >= l.leo.Load() {
		return nil
	}
	start := 0
	if from >= l.mu.logStartOffset {
		start = l.segmentIndexLocked(from)
	}
	var out []AbortedTxn
	for _, s := range l.mu.segments[start:] {
		for _, e := range s.aborted {
			if e.LastOffset < from {
				continue
			}
			if e.FirstOffset < upTo {
				out = append(out, e)
			}
			if e.LastStableOffset >= upTo {
				return out
			}
		}
	}
	return out
}

// allAbortedLocked returns every entry of every segment, in marker order
// (for the cleaner). REQUIRES: l.mu held.
func (l *Log) allAbortedLocked() []AbortedTxn {
	var out []AbortedTxn
	for _, s := range l.mu.segments {
		out = append(out, s.aborted...)
	}
	return out
}

// TxnIndexRebuildFrom returns the base offset of the lowest segment whose
// transaction index Open found damaged and reset, and true; the caller
// (the partition, which knows producer state) must replay the log from a
// producer snapshot at or below it to re-append the entries. It reports
// each damage once.
func (l *Log) TxnIndexRebuildFrom() (int64, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	from, ok := l.mu.txnRebuildFrom, l.mu.txnRebuild
	l.mu.txnRebuild = false
	return from, ok
}

// SyncTxnIndex fsyncs every transaction index file written since its last
// fsync. The partition calls it before writing a producer snapshot, so that
// the entries of every marker below the snapshot's offset are durable
// before the snapshot says replay may start past them. A failed fsync
// fails the Log, as every failed fsync does.
func (l *Log) SyncTxnIndex() error {
	l.txnSyncMu.Lock()
	defer l.txnSyncMu.Unlock()
	l.mu.Lock()
	if err := l.usableLocked(); err != nil {
		l.mu.Unlock()
		return err
	}
	var dirty []*segment
	for _, s := range l.mu.segments {
		if s.txnDirty && s.txnIdx != nil {
			s.txnDirty = false
			s.acquire()
			dirty = append(dirty, s)
		}
	}
	l.mu.Unlock()
	var err error
	for _, s := range dirty {
		if err == nil {
			if serr := l.sync(s.txnIdx); serr != nil {
				l.mu.Lock()
				err = l.failLocked(fmt.Errorf("fsync %s: %w", s.txnPath(), serr))
				l.mu.Unlock()
			}
		}
		s.release()
	}
	return err
}

// syncTxnIndexLocked fsyncs s's transaction index if it was written since
// its last fsync (at roll, truncation and Close). REQUIRES: l.mu held.
func (l *Log) syncTxnIndexLocked(s *segment) error {
	if !s.txnDirty || s.txnIdx == nil {
		return nil
	}
	if err := l.sync(s.txnIdx); err != nil {
		return l.failLocked(fmt.Errorf("fsync %s: %w", s.txnPath(), err))
	}
	s.txnDirty = false
	return nil
}
