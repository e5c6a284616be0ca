package record

import (
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"math/bits"
)

// Legacy message layout (magic 0 and 1); offsets are from the start of the
// entry, i.e. they include the 12 bytes of offset and messageSize.
const (
	legacyOffCRC    = LogOverhead     // crc, 4 bytes
	legacyOffMagic  = LogOverhead + 4 // same as MagicOffset
	legacyOffAttrs  = LogOverhead + 5
	legacyOffV1Time = LogOverhead + 6 // v1 only

	// Smallest messageSize: crc + magic + attributes + two -1 lengths,
	// plus the 8-byte timestamp in v1.
	legacyMinSizeV0 = 4 + 1 + 1 + 4 + 4
	legacyMinSizeV1 = legacyMinSizeV0 + 8

	legacyAttrLogAppendTime = 0x08 // v1 timestamp type
)

// legacyMessage is one decoded entry of a v0/v1 message set. Key and Value
// alias the input and are nil when null.
type legacyMessage struct {
	offset     int64
	magic      int8
	attributes int8
	timestamp  int64 // NoTimestamp for v0
	key, value []byte
}

func (m *legacyMessage) compression() Compression {
	return Compression(m.attributes & attrCompressionMask)
}

func (m *legacyMessage) logAppendTime() bool {
	return m.magic == 1 && m.attributes&legacyAttrLogAppendTime != 0
}

// readLegacyBytes reads an int32 length and that many bytes; -1 is null.
func readLegacyBytes(b []byte, what string) (val, rest []byte, err error) {
	if len(b) < 4 {
		return nil, nil, corruptf("legacy %s length truncated", what)
	}
	n := int32(binary.BigEndian.Uint32(b))
	b = b[4:]
	if n == -1 {
		return nil, b, nil
	}
	if n < 0 || int64(n) > int64(len(b)) {
		return nil, nil, corruptf("legacy %s length %d with %d bytes left", what, n, len(b))
	}
	return b[:n:n], b[n:], nil
}

// walkLegacy calls fn for every message of a v0/v1 message set after
// checking its framing and CRC-32. Every byte of b must belong to a
// complete message: a produce request has no reason to carry a partial one.
func walkLegacy(b []byte, fn func(m *legacyMessage) error) error {
	pos := 0
	for pos < len(b) {
		rest := b[pos:]
		if len(rest) < LogOverhead+legacyMinSizeV0 {
			return corruptf("legacy message at byte %d truncated: %d bytes", pos, len(rest))
		}
		magic := int8(rest[legacyOffMagic])
		if magic != 0 && magic != 1 {
			return fmt.Errorf("legacy message at byte %d: %w: magic %d, want 0 or 1", pos, ErrUnsupportedMagic, magic)
		}
		size := int32(binary.BigEndian.Uint32(rest[8:]))
		minSize := int32(legacyMinSizeV0)
		if magic == 1 {
			minSize = legacyMinSizeV1
		}
		if size < minSize || int64(size) > int64(len(rest)-LogOverhead) {
			return corruptf("legacy message at byte %d: messageSize %d with %d bytes", pos, size, len(rest)-LogOverhead)
		}
		msg := rest[:LogOverhead+int(size)]
		want := binary.BigEndian.Uint32(msg[legacyOffCRC:])
		if got := crc32.ChecksumIEEE(msg[legacyOffMagic:]); got != want {
			return corruptf("legacy message at byte %d: crc %#08x, computed %#08x", pos, want, got)
		}
		m := legacyMessage{
			offset:     int64(binary.BigEndian.Uint64(msg)),
			magic:      magic,
			attributes: int8(msg[legacyOffAttrs]),
			timestamp:  NoTimestamp,
		}
		body := msg[legacyOffAttrs+1:]
		if magic == 1 {
			m.timestamp = int64(binary.BigEndian.Uint64(msg[legacyOffV1Time:]))
			body = msg[legacyOffV1Time+8:]
		}
		var err error
		if m.key, body, err = readLegacyBytes(body, "key"); err != nil {
			return fmt.Errorf("legacy message at byte %d: %w", pos, err)
		}
		if m.value, body, err = readLegacyBytes(body, "value"); err != nil {
			return fmt.Errorf("legacy message at byte %d: %w", pos, err)
		}
		if len(body) != 0 {
			return corruptf("legacy message at byte %d: %d bytes after the value", pos, len(body))
		}
		if err := fn(&m); err != nil {
			return err
		}
		pos += len(msg)
	}
	return nil
}

// FromLegacy converts a v0/v1 message set (what Produce v0-v2 carry) into v2
// batches with base offset 0, for the produce path to assign offsets to.
//
//   - A compressed wrapper message becomes one batch holding its inner
//     messages, compressed with the same codec.
//   - A run of consecutive uncompressed messages with the same magic and
//     timestamp type becomes one batch, as Kafka's LogValidator does when it
//     up-converts; a batch per message would cost 61 bytes of header each.
//   - v0 has no timestamps: records get NoTimestamp. v1 carries CreateTime
//     or LogAppendTime; the inner messages of a LogAppendTime wrapper all
//     take the wrapper's timestamp (KIP-32).
//   - Producer id, epoch and sequence are -1 (legacy producers are never
//     idempotent).
//
// Each message's CRC-32 and lengths are checked; nested compression, an
// inner magic different from its wrapper's, and an empty wrapper are
// corrupt. Failures wrap ErrCorrupt, or ErrUnsupportedMagic for a magic
// other than 0 or 1.
func FromLegacy(msgset []byte) ([]byte, error) {
	var (
		out      []byte
		run      []Record // pending uncompressed run
		opts     BuildOptions
		runMagic int8
	)
	flush := func() {
		if len(run) > 0 {
			out = append(out, BuildBatch(opts, run)...)
			run = run[:0]
		}
	}
	err := walkLegacy(msgset, func(m *legacyMessage) error {
		if c := m.compression(); c != None {
			flush()
			b, err := fromLegacyWrapper(m, c)
			if err != nil {
				return err
			}
			out = append(out, b...)
			return nil
		}
		o := legacyBuildOptions(m, None)
		if len(run) > 0 && (o.LogAppendTime != opts.LogAppendTime || m.magic != runMagic) {
			flush()
		}
		if len(run) == 0 {
			opts, runMagic = o, m.magic
		}
		run = append(run, Record{
			OffsetDelta:    int32(len(run)),
			TimestampDelta: m.timestamp - opts.FirstTimestamp,
			Key:            m.key,
			Value:          m.value,
		})
		if m.logAppendTime() {
			run[len(run)-1].TimestampDelta = 0
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	flush()
	return out, nil
}

// legacyBuildOptions returns the batch options for message m (the first of
// a batch) with codec c.
func legacyBuildOptions(m *legacyMessage, c Compression) BuildOptions {
	return BuildOptions{
		PartitionLeaderEpoch: -1,
		Compression:          c,
		LogAppendTime:        m.logAppendTime(),
		FirstTimestamp:       m.timestamp,
		ProducerID:           -1,
		ProducerEpoch:        -1,
		BaseSequence:         NoSequence,
	}
}

// fromLegacyWrapper converts one compressed wrapper message into a v2 batch.
func fromLegacyWrapper(w *legacyMessage, c Compression) ([]byte, error) {
	if w.value == nil {
		return nil, corruptf("compressed legacy message has a null value")
	}
	src := w.value
	if c == LZ4 && w.magic == 0 {
		src = fixLegacyLZ4Checksum(src)
	}
	inner, err := Decompress(c, src)
	if err != nil {
		return nil, err
	}
	var recs []Record
	opts := legacyBuildOptions(w, c)
	err = walkLegacy(inner, func(m *legacyMessage) error {
		if m.compression() != None {
			return corruptf("nested compression in a legacy wrapper message")
		}
		if m.magic != w.magic {
			return corruptf("inner message magic %d in a magic %d wrapper", m.magic, w.magic)
		}
		ts := m.timestamp
		if w.logAppendTime() {
			ts = w.timestamp
		}
		if len(recs) == 0 {
			opts.FirstTimestamp = ts
		}
		recs = append(recs, Record{
			OffsetDelta:    int32(len(recs)),
			TimestampDelta: ts - opts.FirstTimestamp,
			Key:            m.key,
			Value:          m.value,
		})
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("inside %s wrapper: %w", c, err)
	}
	if len(recs) == 0 {
		return nil, corruptf("empty %s wrapper message", c)
	}
	return BuildBatch(opts, recs), nil
}

// fixLegacyLZ4Checksum returns a copy of an LZ4 frame from a magic-0 message
// with its frame-descriptor checksum recomputed. Kafka before 0.10 computed
// that byte over the frame magic too (KAFKA-3160), and clients writing magic
// 0 (librdkafka, kafka-python) reproduce the mistake for compatibility;
// Kafka ignores the byte for magic 0, and so, in effect, do we. Frames too
// short to hold a descriptor are returned unchanged for the decoder to
// reject.
func fixLegacyLZ4Checksum(src []byte) []byte {
	const frameMagic = 0x184D2204
	if len(src) < 7 || binary.LittleEndian.Uint32(src) != frameMagic {
		return src
	}
	flg := src[4]
	end := 6 // magic(4) FLG BD
	if flg&0x08 != 0 {
		end += 8 // content size
	}
	if flg&0x01 != 0 {
		end += 4 // dictionary id
	}
	if len(src) <= end {
		return src
	}
	fixed := append([]byte(nil), src...)
	fixed[end] = byte(xxh32(fixed[4:end]) >> 8)
	return fixed
}

// xxh32 is XXH32 with seed 0 for inputs shorter than 16 bytes (an LZ4 frame
// descriptor is at most 14), following the published xxHash specification.
func xxh32(b []byte) uint32 {
	const (
		prime1 uint32 = 2654435761
		prime2 uint32 = 2246822519
		prime3 uint32 = 3266489917
		prime4 uint32 = 668265263
		prime5 uint32 = 374761393
	)
	h := prime5 + uint32(len(b))
	for ; len(b) >= 4; b = b[4:] {
		h += binary.LittleEndian.Uint32(b) * prime3
		h = bits.RotateLeft32(h, 17) * prime4
	}
	for _, c := range b {
		h += uint32(c) * prime5
		h = bits.RotateLeft32(h, 11) * prime1
	}
	h ^= h >> 15
	h *= prime2
	h ^= h >> 13
	h *= prime3
	h ^= h >> 16
	return h
}

// ToLegacy converts v2 batches (as stored, with real offsets) into a message
// set of the given magic (0 or 1) with absolute offsets, for Fetch v0-v3.
// The output is uncompressed, as Kafka's down-conversion may produce.
// Control batches (transaction markers) are dropped, and so are record
// headers, which v0/v1 cannot carry. v1 keeps each record's timestamp and
// timestamp type; v0 has neither. batches must hold whole batches (Split's
// rules); CRCs are not checked (the data is our own log's).
func ToLegacy(batches []byte, magic int8) ([]byte, error) {
	if magic != 0 && magic != 1 {
		return nil, fmt.Errorf("%w: cannot convert to magic %d", ErrUnsupportedMagic, magic)
	}
	out := make([]byte, 0, len(batches))
	err := Split(batches, func(h BatchHeader, batch []byte) error {
		if h.Control() {
			return nil
		}
		_, area, err := batchRecords(batch)
		if err != nil {
			return err
		}
		return walkRecords(area, h.NumRecords, h.LastOffsetDelta, func(r *recordScan) error {
			var attrs int8
			ts := h.FirstTimestamp + r.timestampDelta
			if h.LogAppendTime() {
				ts = h.MaxTimestamp
				attrs = legacyAttrLogAppendTime
			}
			out = appendLegacyMessage(out, h.BaseOffset+int64(r.offsetDelta), magic, attrs, ts, r.key, r.value)
			return nil
		})
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// appendLegacyMessage appends one v0/v1 message with its CRC-32. For magic 0
// the timestamp and the timestamp-type attribute are dropped.
func appendLegacyMessage(b []byte, offset int64, magic, attrs int8, ts int64, key, value []byte) []byte {
	start := len(b)
	b = binary.BigEndian.AppendUint64(b, uint64(offset))
	b = binary.BigEndian.AppendUint32(b, 0) // messageSize, below
	b = binary.BigEndian.AppendUint32(b, 0) // crc, below
	b = append(b, byte(magic))
	if magic == 0 {
		b = append(b, byte(attrs&^legacyAttrLogAppendTime))
	} else {
		b = append(b, byte(attrs))
		b = binary.BigEndian.AppendUint64(b, uint64(ts))
	}
	for _, v := range [2][]byte{key, value} {
		if v == nil {
			b = binary.BigEndian.AppendUint32(b, 0xFFFFFFFF)
		} else {
			b = binary.BigEndian.AppendUint32(b, uint32(len(v)))
			b = append(b, v...)
		}
	}
	msg := b[start:]
	binary.BigEndian.PutUint32(msg[8:], uint32(len(msg)-LogOverhead))
	binary.BigEndian.PutUint32(msg[legacyOffCRC:], crc32.ChecksumIEEE(msg[legacyOffMagic:]))
	return b
}
