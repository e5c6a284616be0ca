package record

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"math"
)

// Layout constants (on-disk format; do not change).
const (
	// BatchHeaderSize is the size of a v2 batch header, from baseOffset to
	// recordsCount inclusive.
	BatchHeaderSize = 61
	// LogOverhead is the size of baseOffset(8) + batchLength(4): the bytes
	// of every batch or legacy message that batchLength does not count.
	LogOverhead = 12
	// MagicOffset is the byte offset of the magic byte, the same in
	// v0, v1 and v2, so a reader can tell the formats apart.
	MagicOffset = 16

	// Field offsets inside a v2 batch header.
	offBatchLength          = 8
	offPartitionLeaderEpoch = 12
	offCRC                  = 17
	offAttributes           = 21 // first byte covered by the CRC
	offLastOffsetDelta      = 23
	offFirstTimestamp       = 27
	offMaxTimestamp         = 35
	offProducerID           = 43
	offProducerEpoch        = 51
	offBaseSequence         = 53
	offNumRecords           = 57

	// minBatchLength is the smallest legal batchLength: a header with an
	// empty records area.
	minBatchLength = BatchHeaderSize - LogOverhead

	// minRecordSize is the smallest encoded record: a one-byte length and
	// six one-byte fields (attributes, timestampDelta, offsetDelta, null
	// key, null value, zero headers).
	minRecordSize = 7
)

// NoTimestamp is the timestamp of a record that has none (magic 0 data
// converted to v2, or a producer that set none), as in Kafka.
const NoTimestamp int64 = -1

// Attribute bits of a v2 batch.
const (
	attrCompressionMask = 0x07
	attrLogAppendTime   = 0x08
	attrTransactional   = 0x10
	attrControl         = 0x20
)

// Compression is a batch's codec, attributes bits 0-2.
type Compression int8

// Codecs, numbered as in Kafka's attributes field.
const (
	None   Compression = 0
	Gzip   Compression = 1
	Snappy Compression = 2
	LZ4    Compression = 3
	Zstd   Compression = 4
)

// String returns Kafka's name for the codec (compression.type values).
func (c Compression) String() string {
	switch c {
	case None:
		return "none"
	case Gzip:
		return "gzip"
	case Snappy:
		return "snappy"
	case LZ4:
		return "lz4"
	case Zstd:
		return "zstd"
	}
	return fmt.Sprintf("unknown(%d)", int8(c))
}

// valid reports whether c is a codec Kafka defines.
func (c Compression) valid() bool { return c >= None && c <= Zstd }

var (
	// ErrCorrupt marks every structural or checksum failure in a batch or
	// message set. Callers map it to CORRUPT_MESSAGE.
	ErrCorrupt = errors.New("record: corrupt batch")
	// ErrUnsupportedMagic is returned for a magic byte the called function
	// does not handle (for example v0/v1 data where v2 is required).
	ErrUnsupportedMagic = errors.New("record: unsupported magic")
)

// castagnoli is the CRC-32C table; hash/crc32 uses the SSE4.2/ARMv8
// instruction for it when the CPU has one.
var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// corruptf returns an error wrapping ErrCorrupt with a reason.
func corruptf(format string, args ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{ErrCorrupt}, args...)...)
}

// BatchHeader is the fixed 61-byte header of a v2 record batch.
type BatchHeader struct {
	BaseOffset           int64
	BatchLength          int32 // bytes after the length field
	PartitionLeaderEpoch int32
	Magic                int8
	CRC                  uint32
	Attributes           int16
	LastOffsetDelta      int32
	FirstTimestamp       int64 // "baseTimestamp"
	MaxTimestamp         int64
	ProducerID           int64
	ProducerEpoch        int16
	BaseSequence         int32
	NumRecords           int32
}

// LastOffset is the offset of the batch's last record: BaseOffset +
// LastOffsetDelta. Compaction never lowers LastOffsetDelta, so this holds
// for compacted batches too.
func (h BatchHeader) LastOffset() int64 { return h.BaseOffset + int64(h.LastOffsetDelta) }

// NextOffset is the offset following the batch: LastOffset()+1.
func (h BatchHeader) NextOffset() int64 { return h.LastOffset() + 1 }

// Size is the number of bytes the batch occupies: LogOverhead + BatchLength.
func (h BatchHeader) Size() int { return LogOverhead + int(h.BatchLength) }

// Compression returns the codec from attributes bits 0-2.
func (h BatchHeader) Compression() Compression {
	return Compression(h.Attributes & attrCompressionMask)
}

// LogAppendTime reports whether the timestamp type is LogAppendTime
// (attributes bit 3): every record's timestamp is then MaxTimestamp.
func (h BatchHeader) LogAppendTime() bool { return h.Attributes&attrLogAppendTime != 0 }

// Transactional reports attributes bit 4.
func (h BatchHeader) Transactional() bool { return h.Attributes&attrTransactional != 0 }

// Control reports attributes bit 5 (a transaction marker batch).
func (h BatchHeader) Control() bool { return h.Attributes&attrControl != 0 }

// LastSequence is the sequence number of the batch's last record. Kafka's
// sequences wrap from MaxInt32 to 0 (DefaultRecordBatch.incrementSequence),
// so the sum wraps the same way rather than overflowing negative.
// A batch without a sequence (BaseSequence -1, not idempotent) has last
// sequence -1, as in Kafka.
func (h BatchHeader) LastSequence() int32 {
	if h.BaseSequence == NoSequence {
		return NoSequence
	}
	return incrementSequence(h.BaseSequence, h.LastOffsetDelta)
}

// NoSequence is the base sequence of a batch from a non-idempotent producer.
const NoSequence int32 = -1

// incrementSequence adds delta to seq, wrapping past MaxInt32 to 0 as Kafka
// does. A negative delta only comes from a corrupt header; it wraps like Go
// arithmetic rather than panicking.
func incrementSequence(seq, delta int32) int32 {
	if delta >= 0 && seq > math.MaxInt32-delta {
		return delta - (math.MaxInt32 - seq) - 1
	}
	return seq + delta
}

// ParseHeader decodes the header at the start of b. It checks only that b
// holds BatchHeaderSize bytes (else ErrCorrupt) and that the magic is 2 (else
// ErrUnsupportedMagic); it does not check the CRC or batchLength. It does not
// allocate on success.
func ParseHeader(b []byte) (BatchHeader, error) {
	if len(b) < BatchHeaderSize {
		if len(b) > MagicOffset && b[MagicOffset] != 2 {
			return BatchHeader{}, errUnsupportedMagic(int8(b[MagicOffset]))
		}
		return BatchHeader{}, corruptf("batch header truncated: %d of %d bytes", len(b), BatchHeaderSize)
	}
	if b[MagicOffset] != 2 {
		return BatchHeader{}, errUnsupportedMagic(int8(b[MagicOffset]))
	}
	be := binary.BigEndian
	return BatchHeader{
		BaseOffset:           int64(be.Uint64(b[0:])),
		BatchLength:          int32(be.Uint32(b[offBatchLength:])),
		PartitionLeaderEpoch: int32(be.Uint32(b[offPartitionLeaderEpoch:])),
		Magic:                int8(b[MagicOffset]),
		CRC:                  be.Uint32(b[offCRC:]),
		Attributes:           int16(be.Uint16(b[offAttributes:])),
		LastOffsetDelta:      int32(be.Uint32(b[offLastOffsetDelta:])),
		FirstTimestamp:       int64(be.Uint64(b[offFirstTimestamp:])),
		MaxTimestamp:         int64(be.Uint64(b[offMaxTimestamp:])),
		ProducerID:           int64(be.Uint64(b[offProducerID:])),
		ProducerEpoch:        int16(be.Uint16(b[offProducerEpoch:])),
		BaseSequence:         int32(be.Uint32(b[offBaseSequence:])),
		NumRecords:           int32(be.Uint32(b[offNumRecords:])),
	}, nil
}

// errUnsupportedMagic is kept out of line so the success path of
// ParseHeader has no fmt call to inline.
func errUnsupportedMagic(m int8) error {
	return fmt.Errorf("%w: magic %d, want 2", ErrUnsupportedMagic, m)
}

// Magic returns the magic byte of the first batch or message in b, or an
// error wrapping ErrCorrupt if b is too short to hold one.
func Magic(b []byte) (int8, error) {
	if len(b) <= MagicOffset {
		return 0, corruptf("%d bytes is too short for a magic byte", len(b))
	}
	return int8(b[MagicOffset]), nil
}

// Validate fully checks ONE v2 batch occupying exactly b, as sent by a
// producer:
//
//   - magic is 2 (otherwise the error wraps both ErrUnsupportedMagic and
//     ErrCorrupt: check ErrUnsupportedMagic first to tell them apart);
//   - batchLength matches len(b);
//   - the CRC-32C over attributes..end matches;
//   - the codec is one Kafka defines;
//   - numRecords >= 1 for a data batch (>= 0 for a control batch) and
//     lastOffsetDelta == numRecords-1; a compressed batch cannot claim more
//     records than MaxDecompressedSize could hold;
//   - for an uncompressed batch, every record: the length varints tile the
//     records area exactly, there are exactly numRecords of them, offset
//     deltas run 0..n-1, key/value/header lengths fit their record.
//
// Compressed batches are not decompressed (the CRC covers the compressed
// bytes; ForEachRecord finds inner damage). Every failure wraps ErrCorrupt
// with a reason. Validate does not allocate on success.
func Validate(b []byte) (BatchHeader, error) {
	h, err := ParseHeader(b)
	if err != nil {
		if errors.Is(err, ErrUnsupportedMagic) {
			return h, fmt.Errorf("%w: %w", ErrCorrupt, err)
		}
		return h, err
	}
	return h, ValidateParsed(h, b)
}

// ValidateParsed is Validate for a batch whose header h was already parsed
// from b (by Split): the produce path parses each batch's header once.
func ValidateParsed(h BatchHeader, b []byte) error {
	_, err := validateParsed(h, b)
	return err
}

func validateParsed(h BatchHeader, b []byte) (BatchHeader, error) {
	if h.BatchLength < minBatchLength || int64(h.BatchLength) != int64(len(b)-LogOverhead) {
		return h, corruptf("batchLength %d does not match %d bytes after the length field", h.BatchLength, len(b)-LogOverhead)
	}
	if crc := crc32.Checksum(b[offAttributes:], castagnoli); crc != h.CRC {
		return h, corruptf("crc %#08x, computed %#08x", h.CRC, crc)
	}
	if !h.Compression().valid() {
		return h, corruptf("unknown compression codec %d", h.Compression())
	}
	if h.NumRecords < 0 || (h.NumRecords == 0 && !h.Control()) {
		return h, corruptf("numRecords %d", h.NumRecords)
	}
	if h.NumRecords > 0 && h.LastOffsetDelta != h.NumRecords-1 {
		return h, corruptf("lastOffsetDelta %d with %d records", h.LastOffsetDelta, h.NumRecords)
	}
	if h.Compression() == None {
		if err := checkRecords(b[BatchHeaderSize:], h.NumRecords); err != nil {
			return h, err
		}
	} else if int64(h.NumRecords) > MaxDecompressedSize/minRecordSize {
		// Without decompressing, this is the one bound on a count the
		// produce path turns into offsets: more records than could fit in
		// the largest area Decompress accepts.
		return h, corruptf("numRecords %d cannot fit in a compressed batch", h.NumRecords)
	}
	return h, nil
}

// checkRecords walks n uncompressed records that must tile area exactly,
// with offset deltas 0..n-1. It does not allocate on success.
func checkRecords(area []byte, n int32) error {
	for i := int32(0); i < n; i++ {
		body, rest, err := nextRecord(area)
		if err != nil {
			return fmt.Errorf("record %d: %w", i, err)
		}
		var r recordScan
		if err := r.scan(body); err != nil {
			return fmt.Errorf("record %d: %w", i, err)
		}
		if r.offsetDelta != i {
			return corruptf("record %d has offsetDelta %d", i, r.offsetDelta)
		}
		area = rest
	}
	if len(area) != 0 {
		return corruptf("%d bytes after the last of %d records", len(area), n)
	}
	return nil
}

// Split walks b, zero or more concatenated v2 batches (a Produce partition's
// records, or bytes read from a segment), and calls fn for each complete
// batch with its header and its exact bytes (a sub-slice of b, no copy). It
// checks only framing: batchLength is at least a header and fits b, and the
// magic is 2 (else ErrUnsupportedMagic); CRCs are the caller's business
// (Validate). A truncated final batch is an error wrapping ErrCorrupt;
// callers that read segments handle a partial tail themselves with
// ParseHeader and Size. An error from fn stops the walk and is returned as is.
func Split(b []byte, fn func(h BatchHeader, batch []byte) error) error {
	pos := 0
	for pos < len(b) {
		rest := b[pos:]
		if len(rest) > MagicOffset && rest[MagicOffset] != 2 {
			return fmt.Errorf("batch at byte %d: %w", pos, errUnsupportedMagic(int8(rest[MagicOffset])))
		}
		if len(rest) < BatchHeaderSize {
			return corruptf("batch at byte %d truncated: %d bytes, header needs %d", pos, len(rest), BatchHeaderSize)
		}
		length := int32(binary.BigEndian.Uint32(rest[offBatchLength:]))
		if length < minBatchLength {
			return corruptf("batch at byte %d: batchLength %d", pos, length)
		}
		size := LogOverhead + int64(length)
		if size > int64(len(rest)) {
			return corruptf("batch at byte %d truncated: %d bytes of %d", pos, len(rest), size)
		}
		batch := rest[:size:size]
		h, err := ParseHeader(batch)
		if err != nil {
			return fmt.Errorf("batch at byte %d: %w", pos, err)
		}
		if err := fn(h, batch); err != nil {
			return err
		}
		pos += int(size)
	}
	return nil
}

// SetBaseOffset assigns the batch's base offset in place. The CRC does not
// cover it. batch must hold at least a header (it has been validated);
// a shorter slice is left untouched rather than panicking.
func SetBaseOffset(batch []byte, off int64) {
	if len(batch) < BatchHeaderSize {
		return
	}
	binary.BigEndian.PutUint64(batch[0:], uint64(off))
}

// SetPartitionLeaderEpoch assigns the leader epoch in place. The CRC does
// not cover it. A slice shorter than a header is left untouched.
func SetPartitionLeaderEpoch(batch []byte, epoch int32) {
	if len(batch) < BatchHeaderSize {
		return
	}
	binary.BigEndian.PutUint32(batch[offPartitionLeaderEpoch:], uint32(epoch))
}

// StampLeaderEpoch is SetPartitionLeaderEpoch keeping h, batch's parsed
// header, in step with the bytes.
func StampLeaderEpoch(batch []byte, h *BatchHeader, epoch int32) {
	SetPartitionLeaderEpoch(batch, epoch)
	h.PartitionLeaderEpoch = epoch
}

// StampLogAppendTime is SetLogAppendTime keeping h, batch's parsed header,
// in step with the bytes (attributes, MaxTimestamp, CRC).
func StampLogAppendTime(batch []byte, h *BatchHeader, ts int64) {
	SetLogAppendTime(batch, ts)
	h.Attributes |= attrLogAppendTime
	h.MaxTimestamp = ts
	h.CRC = binary.BigEndian.Uint32(batch[offCRC:])
}

// SetLogAppendTime marks the batch LogAppendTime with timestamp ts: it sets
// attributes bit 3 and MaxTimestamp and recomputes the CRC. As in Kafka
// (LogValidator with message.timestamp.type=LogAppendTime), baseTimestamp
// and the record deltas are left alone: readers of a LogAppendTime batch use
// MaxTimestamp for every record. A slice shorter than a header is left
// untouched.
func SetLogAppendTime(batch []byte, ts int64) {
	if len(batch) < BatchHeaderSize {
		return
	}
	be := binary.BigEndian
	attrs := be.Uint16(batch[offAttributes:]) | attrLogAppendTime
	be.PutUint16(batch[offAttributes:], attrs)
	be.PutUint64(batch[offMaxTimestamp:], uint64(ts))
	writeCRC(batch)
}

// writeCRC recomputes and stores the CRC of a batch of at least
// BatchHeaderSize bytes.
func writeCRC(batch []byte) {
	binary.BigEndian.PutUint32(batch[offCRC:], crc32.Checksum(batch[offAttributes:], castagnoli))
}
