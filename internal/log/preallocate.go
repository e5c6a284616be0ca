package log

import (
	"bytes"
	"io"
	"os"
)

// Preallocation (log.preallocate). An fdatasync after an append that grew
// the file must also commit the new file size to the filesystem journal;
// after a write inside space the file already has, it need not (bench's
// fdatasync probe: 20-25 % shorter on ext4). So with Options.Preallocate
// the active segment's file is grown ahead of the appends with fallocate(2)
// (an eighth of what it holds, between 64 KiB and 4 MiB, so that ten
// thousand quiet partitions reserve 640 MiB, not gigabytes), its logical
// end (segment.size) tracked apart
// from the file's (segment.alloc). Readers never look past size. The tail
// is trimmed when the segment rolls and at Close, so an inactive segment
// and a cleanly closed one end at their last batch; after a crash, recovery
// finds the zeros past the last batch and trims them quietly (an all-zero
// tail is not a torn write).

// Bounds of how far ahead of the appends the file is grown.
const (
	minPreallocate = 64 << 10
	maxPreallocate = 4 << 20
)

// preallocateLocked grows s's file to hold at least n more bytes past its
// logical end, and an eighth of its size more (within the bounds), never
// past the segment size limit unless n needs it. A failure (a filesystem
// without fallocate, a full disk) is not an error: the append then grows
// the file itself, as without preallocation. REQUIRES: l.mu held.
func (l *Log) preallocateLocked(s *segment, n int64) {
	ahead := min(max(s.size/8, minPreallocate), maxPreallocate)
	want := max(s.size+n, min(s.size+n+ahead, l.mu.opts.SegmentBytes))
	if want <= s.alloc {
		return
	}
	if err := fallocate(s.log, s.alloc, want-s.alloc); err != nil {
		l.logger.Debug("preallocating a segment failed; appending without", "file", s.logPath, "err", err)
		return
	}
	s.alloc = want
}

// truncateFile cuts s's file to n bytes (dropping any preallocated tail).
func (s *segment) truncateFile(n int64) error {
	if err := s.log.Truncate(n); err != nil {
		return err
	}
	s.alloc = n
	return nil
}

// allZero reports whether f holds only zero bytes in [from, to).
func allZero(f *os.File, from, to int64) (bool, error) {
	buf := make([]byte, min(to-from, 1<<20))
	for pos := from; pos < to; {
		n := min(int64(len(buf)), to-pos)
		if _, err := f.ReadAt(buf[:n], pos); err != nil && err != io.EOF {
			return false, err
		}
		if !bytes.Equal(buf[:n], make([]byte, n)) {
			return false, nil
		}
		pos += n
	}
	return true, nil
}
