package log

import (
	"fmt"
	"io"
	"os"
	"sort"

	"github.com/samsa-io/samsa/internal/record"
)

// Region is whole batches of one segment file, located but not read: a
// fetch sends them from the file to the socket with sendfile(2), so record
// bytes never pass through user space. The Region holds a reference on its
// segment, so the file stays open (and readable even if retention or a
// truncation unlinks it meanwhile) until Release.
type Region struct {
	seg *segment
	// Pos and Len locate the bytes in the segment's .log.
	Pos int64
	Len int
	// Next is the offset after the region's last batch.
	Next int64
}

// File is the open segment file the region lies in. Valid until Release.
func (r *Region) File() *os.File { return r.seg.log }

// Empty reports whether the region holds no bytes (and no reference).
func (r *Region) Empty() bool { return r.seg == nil }

// Release drops the region's reference on its segment. It is idempotent.
func (r *Region) Release() {
	if r.seg != nil {
		r.seg.release()
		r.seg = nil
	}
}

// ReadInto copies the region's bytes into b (len(b) >= Len), for a
// connection that cannot take sendfile (TLS).
func (r *Region) ReadInto(b []byte) error {
	if _, err := r.seg.log.ReadAt(b[:r.Len], r.Pos); err != nil {
		if err == io.EOF {
			err = io.ErrUnexpectedEOF
		}
		return fmt.Errorf("read %s at %d: %w", r.seg.logPath, r.Pos, err)
	}
	return nil
}

// ReadRegion is Read without the read: it returns where the same batches
// lie (the same cut: whole batches from the one holding offset, below upTo,
// up to maxBytes, the first one whatever its size when minOne), reading
// only batch headers near the ends of the range (the offset index finds the
// rest). An empty Region means no data, as a nil slice does for Read.
func (l *Log) ReadRegion(offset, upTo int64, maxBytes int, minOne bool) (Region, error) {
	first := offset
	for {
		l.mu.Lock()
		if err := l.usableLocked(); err != nil {
			l.mu.Unlock()
			return Region{}, err
		}
		logStart, leo := l.mu.logStartOffset, l.leo.Load()
		if offset < logStart || offset > leo {
			l.mu.Unlock()
			if offset != first {
				return Region{}, nil
			}
			return Region{}, fmt.Errorf("%w: %d not in [%d, %d]", ErrOffsetOutOfRange, offset, logStart, leo)
		}
		if offset == leo || offset >= upTo {
			l.mu.Unlock()
			return Region{}, nil
		}
		i := l.segmentIndexLocked(offset)
		s := l.mu.segments[i]
		last, next := i == len(l.mu.segments)-1, s.next
		v := l.viewLocked(s)
		l.mu.Unlock()
		r, exhausted, err := v.region(offset, upTo, next, maxBytes, minOne)
		if err != nil || r.Len > 0 {
			if r.Len == 0 || err != nil {
				v.seg.release()
				return Region{}, err
			}
			r.seg = v.seg // the view's reference is the region's
			return r, nil
		}
		v.seg.release()
		if !exhausted || last || next <= offset {
			return Region{}, nil
		}
		offset = next
	}
}

// region is read's cut without the bytes. segNext is the segment's next
// offset when the view was taken (the offset after v.size).
func (v view) region(offset, upTo, segNext int64, maxBytes int, minOne bool) (_ Region, exhausted bool, _ error) {
	pos, h, ok, err := v.find(lookupPosition(v.index, offset), offset)
	if err != nil || !ok || h.BaseOffset >= upTo {
		return Region{}, err == nil && !ok, err
	}
	firstEnd := pos + int64(h.Size())
	if int64(h.Size()) > int64(max(maxBytes, 0)) && !minOne {
		return Region{}, false, nil
	}
	// limit: the byte budget, at least the first batch.
	limit := min(max(pos+int64(max(maxBytes, 0)), firstEnd), v.size)
	// Batches must start below upTo: find where the first one that does
	// not starts (or the segment's end).
	if upTo < segNext {
		upPos, uh, uok, err := v.find(lookupPosition(v.index, upTo), upTo)
		if err != nil {
			return Region{}, false, err
		}
		if uok {
			if uh.BaseOffset < upTo { // upTo inside a batch: it starts below, so it goes
				upPos += int64(uh.Size())
			}
			limit = min(limit, max(upPos, firstEnd))
		}
	}
	// Cut at the last whole batch ending at or before limit: jump to the
	// last index entry (a batch start) not past limit, then walk headers.
	end, next := firstEnd, h.NextOffset()
	if j := sort.Search(len(v.index), func(k int) bool { return v.index[k].pos > limit }); j > 0 && v.index[j-1].pos > end {
		end, next = v.index[j-1].pos, -1 // next: the base of the batch there
	}
	var buf [record.BatchHeaderSize]byte
	for end < limit {
		bh, err := v.readHeader(end, &buf)
		if err != nil {
			return Region{}, false, err
		}
		if end+int64(bh.Size()) > limit {
			if next < 0 {
				next = bh.BaseOffset
			}
			break
		}
		end += int64(bh.Size())
		next = bh.NextOffset()
	}
	if next < 0 { // end is an index entry with nothing walked past it
		if end == v.size {
			next = segNext
		} else {
			bh, err := v.readHeader(end, &buf)
			if err != nil {
				return Region{}, false, err
			}
			next = bh.BaseOffset
		}
	}
	return Region{Pos: pos, Len: int(end - pos), Next: next}, false, nil
}
