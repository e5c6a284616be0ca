package log

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"sort"
)

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
