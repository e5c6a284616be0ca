package record

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
)

// Record is one record of a v2 batch, as ForEachRecord reports it and
// BuildBatch takes it. A nil Key or Value is a null (length -1) and stays
// distinct from an empty, non-nil one: compaction treats a null value as a
// tombstone.
type Record struct {
	OffsetDelta    int32
	TimestampDelta int64
	Key, Value     []byte
	Headers        []Header
}

// Header is one record header. Kafka does not allow a null header key; a
// nil Value is a null value.
type Header struct {
	Key   string
	Value []byte
}

// readVarint reads a zigzag varint that must fit an int32 (Kafka's
// ByteUtils.readVarint). It returns the value and the bytes consumed, or
// n <= 0 when b is truncated or the value overflows.
func readVarint(b []byte) (int32, int) {
	v, n := binary.Varint(b)
	if n <= 0 {
		return 0, n
	}
	if v < math.MinInt32 || v > math.MaxInt32 {
		return 0, -n
	}
	return int32(v), n
}

// nextRecord splits the first length-prefixed record off area, returning its
// body (the bytes the length counts) and the rest.
func nextRecord(area []byte) (body, rest []byte, err error) {
	length, n := readVarint(area)
	if n <= 0 {
		return nil, nil, corruptf("bad record length varint")
	}
	area = area[n:]
	if length < 0 || int64(length) > int64(len(area)) {
		return nil, nil, corruptf("record length %d with %d bytes left", length, len(area))
	}
	return area[:length:length], area[length:], nil
}

// recordScan is a record parsed without allocation: Key and Value alias the
// record body, and the headers are checked but left encoded.
type recordScan struct {
	attributes     int8
	timestampDelta int64
	offsetDelta    int32
	key, value     []byte // nil when null
	headerCount    int32
	headers        []byte // the encoded headers, headerCount of them
}

// readBytes reads a varint length and that many bytes; -1 is null (nil).
func readBytes(b []byte, what string) (val, rest []byte, err error) {
	length, n := readVarint(b)
	if n <= 0 {
		return nil, nil, corruptf("bad %s length varint", what)
	}
	b = b[n:]
	if length == -1 {
		return nil, b, nil
	}
	if length < 0 || int64(length) > int64(len(b)) {
		return nil, nil, corruptf("%s length %d with %d bytes left", what, length, len(b))
	}
	return b[:length:length], b[length:], nil
}

// scan parses and checks one record body; the body must be consumed exactly.
func (r *recordScan) scan(body []byte) error {
	if len(body) < 1 {
		return corruptf("empty record")
	}
	r.attributes = int8(body[0])
	b := body[1:]
	ts, n := binary.Varint(b)
	if n <= 0 {
		return corruptf("bad timestampDelta varint")
	}
	r.timestampDelta = ts
	b = b[n:]
	od, n := readVarint(b)
	if n <= 0 {
		return corruptf("bad offsetDelta varint")
	}
	r.offsetDelta = od
	b = b[n:]
	var err error
	if r.key, b, err = readBytes(b, "key"); err != nil {
		return err
	}
	if r.value, b, err = readBytes(b, "value"); err != nil {
		return err
	}
	count, n := readVarint(b)
	if n <= 0 {
		return corruptf("bad header count varint")
	}
	b = b[n:]
	// Each header takes at least two bytes (two one-byte lengths), which
	// bounds the count by the input before anyone allocates for it.
	if count < 0 || int64(count) > int64(len(b)/2) {
		return corruptf("header count %d with %d bytes left", count, len(b))
	}
	r.headerCount = count
	r.headers = b
	for i := int32(0); i < count; i++ {
		var k []byte
		if k, b, err = readBytes(b, "header key"); err != nil {
			return err
		}
		if k == nil {
			return corruptf("null header key")
		}
		if _, b, err = readBytes(b, "header value"); err != nil {
			return err
		}
	}
	if len(b) != 0 {
		return corruptf("%d bytes after the record's headers", len(b))
	}
	return nil
}

// decodeHeaders decodes headers that scan already checked.
func (r *recordScan) decodeHeaders() []Header {
	if r.headerCount == 0 {
		return nil
	}
	hs := make([]Header, r.headerCount)
	b := r.headers
	for i := range hs {
		var k []byte
		k, b, _ = readBytes(b, "header key")
		hs[i].Key = string(k)
		hs[i].Value, b, _ = readBytes(b, "header value")
	}
	return hs
}

// batchRecords returns the header and the decompressed records area of one
// v2 batch occupying exactly batch, after the structural checks every
// reader needs. The CRC is not checked: callers that did not produce or
// validate the bytes themselves call Validate first.
func batchRecords(batch []byte) (BatchHeader, []byte, error) {
	h, err := ParseHeader(batch)
	if err != nil {
		return h, nil, err
	}
	if h.BatchLength < minBatchLength || int64(h.BatchLength) != int64(len(batch)-LogOverhead) {
		return h, nil, corruptf("batchLength %d does not match %d bytes after the length field", h.BatchLength, len(batch)-LogOverhead)
	}
	if h.NumRecords < 0 {
		return h, nil, corruptf("numRecords %d", h.NumRecords)
	}
	area := batch[BatchHeaderSize:]
	switch c := h.Compression(); {
	case !c.valid():
		return h, nil, corruptf("unknown compression codec %d", c)
	case c != None:
		if area, err = Decompress(c, area); err != nil {
			return h, nil, err
		}
	}
	return h, area, nil
}

// walkRecords scans n records that must tile area exactly, calling fn for
// each. Offset deltas may have gaps (compaction) but must increase and stay
// within lastOffsetDelta. It allocates nothing itself.
func walkRecords(area []byte, n, lastOffsetDelta int32, fn func(r *recordScan) error) error {
	var r recordScan
	prev := int32(-1)
	for i := int32(0); i < n; i++ {
		body, rest, err := nextRecord(area)
		if err != nil {
			return fmt.Errorf("record %d: %w", i, err)
		}
		if err := r.scan(body); err != nil {
			return fmt.Errorf("record %d: %w", i, err)
		}
		if r.offsetDelta <= prev || r.offsetDelta > lastOffsetDelta {
			return corruptf("record %d has offsetDelta %d after %d, lastOffsetDelta %d", i, r.offsetDelta, prev, lastOffsetDelta)
		}
		prev = r.offsetDelta
		if err := fn(&r); err != nil {
			return err
		}
		area = rest
	}
	if len(area) != 0 {
		return corruptf("%d bytes after the last of %d records", len(area), n)
	}
	return nil
}

// ForEachRecord decompresses the records of one v2 batch occupying exactly
// batch if needed, and calls fn for every record in order. It checks the
// structure (lengths tile, offset deltas increase within lastOffsetDelta,
// exactly numRecords records) but not the CRC; gaps in offset deltas, which
// compaction leaves, are allowed. Key, Value and header values alias batch
// (uncompressed) or a buffer private to this call (compressed); they stay
// valid as long as batch does and must not be written to. An error from fn
// stops the walk and is returned as is.
func ForEachRecord(batch []byte, fn func(r Record) error) error {
	h, area, err := batchRecords(batch)
	if err != nil {
		return err
	}
	return walkRecords(area, h.NumRecords, h.LastOffsetDelta, func(s *recordScan) error {
		return fn(Record{
			OffsetDelta:    s.offsetDelta,
			TimestampDelta: s.timestampDelta,
			Key:            s.key,
			Value:          s.value,
			Headers:        s.decodeHeaders(),
		})
	})
}

// errStop ends a walk early without being an error.
var errStop = errors.New("record: stop")

// FirstOffsetAtOrAfter returns the offset and timestamp of the first record
// in one v2 batch whose timestamp is >= ts, for ListOffsets by timestamp. In
// a LogAppendTime batch every record's timestamp is MaxTimestamp. ok is
// false when no record qualifies; a batch whose MaxTimestamp is below ts is
// answered from the header alone, without decompressing.
func FirstOffsetAtOrAfter(batch []byte, ts int64) (offset int64, timestamp int64, ok bool, err error) {
	h, err := ParseHeader(batch)
	if err != nil {
		return 0, 0, false, err
	}
	if h.MaxTimestamp < ts {
		return 0, 0, false, nil
	}
	h, area, err := batchRecords(batch)
	if err != nil {
		return 0, 0, false, err
	}
	err = walkRecords(area, h.NumRecords, h.LastOffsetDelta, func(r *recordScan) error {
		rts := h.FirstTimestamp + r.timestampDelta
		if h.LogAppendTime() {
			rts = h.MaxTimestamp
		}
		if rts >= ts {
			offset, timestamp, ok = h.BaseOffset+int64(r.offsetDelta), rts, true
			return errStop
		}
		return nil
	})
	if err != nil && !errors.Is(err, errStop) {
		return 0, 0, false, err
	}
	return offset, timestamp, ok, nil
}

// BuildOptions are the header fields of a batch BuildBatch makes. The
// fields BuildBatch derives (batchLength, crc, lastOffsetDelta,
// maxTimestamp, numRecords) are not options.
type BuildOptions struct {
	BaseOffset           int64
	PartitionLeaderEpoch int32
	// Compression must be one of the five codecs; an unknown value builds
	// an uncompressed batch.
	Compression    Compression
	LogAppendTime  bool
	Transactional  bool
	Control        bool
	FirstTimestamp int64 // baseTimestamp; NoTimestamp for none
	ProducerID     int64 // -1 when not idempotent
	ProducerEpoch  int16 // -1 when not idempotent
	BaseSequence   int32 // NoSequence when not idempotent
}

// BuildBatch encodes recs as one v2 batch with a valid CRC. Each record keeps
// its OffsetDelta and TimestampDelta as given; lastOffsetDelta is the last
// record's offset delta, and maxTimestamp is FirstTimestamp plus the largest
// timestamp delta (FirstTimestamp for an empty batch).
func BuildBatch(opts BuildOptions, recs []Record) []byte {
	size := 0
	for i := range recs {
		bs := recordBodySize(&recs[i])
		size += varintSize(int64(bs)) + bs
	}
	area := make([]byte, 0, size)
	for i := range recs {
		area = appendRecord(area, &recs[i])
	}
	codec := opts.Compression
	if codec != None {
		if c, err := Compress(codec, area); err == nil {
			area = c
		} else {
			codec = None // unknown codec: documented to build uncompressed
		}
	}

	attrs := uint16(codec) & attrCompressionMask
	if opts.LogAppendTime {
		attrs |= attrLogAppendTime
	}
	if opts.Transactional {
		attrs |= attrTransactional
	}
	if opts.Control {
		attrs |= attrControl
	}
	var lastOffsetDelta int32
	maxTS := opts.FirstTimestamp
	if len(recs) > 0 {
		lastOffsetDelta = recs[len(recs)-1].OffsetDelta
		maxDelta := recs[0].TimestampDelta
		for i := range recs {
			maxDelta = max(maxDelta, recs[i].TimestampDelta)
		}
		maxTS = opts.FirstTimestamp + maxDelta
	}

	b := make([]byte, BatchHeaderSize, BatchHeaderSize+len(area))
	be := binary.BigEndian
	be.PutUint64(b[0:], uint64(opts.BaseOffset))
	be.PutUint32(b[offBatchLength:], uint32(BatchHeaderSize-LogOverhead+len(area)))
	be.PutUint32(b[offPartitionLeaderEpoch:], uint32(opts.PartitionLeaderEpoch))
	b[MagicOffset] = 2
	be.PutUint16(b[offAttributes:], attrs)
	be.PutUint32(b[offLastOffsetDelta:], uint32(lastOffsetDelta))
	be.PutUint64(b[offFirstTimestamp:], uint64(opts.FirstTimestamp))
	be.PutUint64(b[offMaxTimestamp:], uint64(maxTS))
	be.PutUint64(b[offProducerID:], uint64(opts.ProducerID))
	be.PutUint16(b[offProducerEpoch:], uint16(opts.ProducerEpoch))
	be.PutUint32(b[offBaseSequence:], uint32(opts.BaseSequence))
	be.PutUint32(b[offNumRecords:], uint32(len(recs)))
	b = append(b, area...)
	writeCRC(b)
	return b
}

// varintSize is the encoded size of v as a zigzag varint.
func varintSize(v int64) int {
	u := uint64(v<<1) ^ uint64(v>>63)
	n := 1
	for u >= 0x80 {
		u >>= 7
		n++
	}
	return n
}

// bytesSize is the encoded size of a nullable byte string.
func bytesSize(b []byte) int {
	if b == nil {
		return varintSize(-1)
	}
	return varintSize(int64(len(b))) + len(b)
}

// recordBodySize is the size of r's encoding after its length prefix.
func recordBodySize(r *Record) int {
	n := 1 + varintSize(r.TimestampDelta) + varintSize(int64(r.OffsetDelta)) +
		bytesSize(r.Key) + bytesSize(r.Value) + varintSize(int64(len(r.Headers)))
	for _, h := range r.Headers {
		n += varintSize(int64(len(h.Key))) + len(h.Key) + bytesSize(h.Value)
	}
	return n
}

// appendBytes appends a nullable byte string with its varint length.
func appendBytes(b, v []byte) []byte {
	if v == nil {
		return binary.AppendVarint(b, -1)
	}
	return append(binary.AppendVarint(b, int64(len(v))), v...)
}

// appendRecord appends r with its length prefix.
func appendRecord(b []byte, r *Record) []byte {
	b = binary.AppendVarint(b, int64(recordBodySize(r)))
	b = append(b, 0) // attributes: unused
	b = binary.AppendVarint(b, r.TimestampDelta)
	b = binary.AppendVarint(b, int64(r.OffsetDelta))
	b = appendBytes(b, r.Key)
	b = appendBytes(b, r.Value)
	b = binary.AppendVarint(b, int64(len(r.Headers)))
	for _, h := range r.Headers {
		b = binary.AppendVarint(b, int64(len(h.Key)))
		b = append(b, h.Key...)
		b = appendBytes(b, h.Value)
	}
	return b
}
