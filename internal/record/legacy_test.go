package record

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"testing"

	"github.com/pierrec/lz4/v4"
)

type legacyTestMsg struct {
	ts         int64
	key, value []byte
}

// legacySet encodes msgs as an uncompressed message set with offsets
// 0..n-1 (relative, as a v1 wrapper's inner set has them).
func legacySet(magic int8, attrs int8, msgs []legacyTestMsg) []byte {
	var b []byte
	for i, m := range msgs {
		b = appendLegacyMessage(b, int64(i), magic, attrs, m.ts, m.key, m.value)
	}
	return b
}

// legacyWrapper encodes msgs as one compressed wrapper message.
func legacyWrapper(t *testing.T, magic int8, c Compression, lat bool, wrapperTS int64, msgs []legacyTestMsg) []byte {
	t.Helper()
	inner, err := Compress(c, legacySet(magic, 0, msgs))
	if err != nil {
		t.Fatal(err)
	}
	attrs := int8(c)
	if lat {
		attrs |= legacyAttrLogAppendTime
	}
	return appendLegacyMessage(nil, int64(len(msgs)-1), magic, attrs, wrapperTS, nil, inner)
}

func legacyTestMsgs() []legacyTestMsg {
	return []legacyTestMsg{
		{ts: 1000, key: nil, value: []byte("first")},
		{ts: 1500, key: []byte{}, value: nil},
		{ts: 1200, key: []byte("k"), value: []byte{}},
		{ts: 1300, key: []byte("key"), value: bytes.Repeat([]byte("v"), 300)},
	}
}

// splitAll validates and returns every batch in b.
func splitAll(t *testing.T, b []byte) []BatchHeader {
	t.Helper()
	var hs []BatchHeader
	if err := Split(b, func(_ BatchHeader, batch []byte) error {
		h, err := Validate(batch)
		hs = append(hs, h)
		return err
	}); err != nil {
		t.Fatalf("Split/Validate of converted batches: %v", err)
	}
	return hs
}

// checkConverted compares the records of the single batch in b with msgs.
func checkConverted(t *testing.T, batch []byte, msgs []legacyTestMsg, wantTS func(i int) int64) {
	t.Helper()
	h, _ := ParseHeader(batch)
	recs := collect(t, batch)
	if len(recs) != len(msgs) {
		t.Fatalf("%d records, want %d", len(recs), len(msgs))
	}
	for i, r := range recs {
		m := msgs[i]
		ts := h.FirstTimestamp + r.TimestampDelta
		if h.LogAppendTime() {
			ts = h.MaxTimestamp
		}
		if ts != wantTS(i) || r.OffsetDelta != int32(i) || r.Headers != nil {
			t.Fatalf("record %d: ts %d delta %d, want ts %d", i, ts, r.OffsetDelta, wantTS(i))
		}
		if (r.Key == nil) != (m.key == nil) || !bytes.Equal(r.Key, m.key) ||
			(r.Value == nil) != (m.value == nil) || !bytes.Equal(r.Value, m.value) {
			t.Fatalf("record %d: key %q value %q, want %q %q", i, r.Key, r.Value, m.key, m.value)
		}
	}
}

func TestFromLegacyUncompressed(t *testing.T) {
	msgs := legacyTestMsgs()
	for _, magic := range []int8{0, 1} {
		t.Run(fmt.Sprint("magic ", magic), func(t *testing.T) {
			out, err := FromLegacy(legacySet(magic, 0, msgs))
			if err != nil {
				t.Fatalf("FromLegacy: %v", err)
			}
			hs := splitAll(t, out)
			if len(hs) != 1 {
				t.Fatalf("%d batches, want the run coalesced into 1", len(hs))
			}
			h := hs[0]
			if h.ProducerID != -1 || h.ProducerEpoch != -1 || h.BaseSequence != NoSequence || h.Compression() != None || h.LogAppendTime() {
				t.Fatalf("header %+v", h)
			}
			wantTS := func(i int) int64 { return msgs[i].ts }
			wantMax := int64(1500)
			if magic == 0 {
				wantTS = func(int) int64 { return NoTimestamp }
				wantMax = NoTimestamp
			}
			if h.MaxTimestamp != wantMax {
				t.Fatalf("MaxTimestamp %d, want %d", h.MaxTimestamp, wantMax)
			}
			checkConverted(t, out, msgs, wantTS)
		})
	}

	// A change of magic or timestamp type starts a new batch.
	set := legacySet(0, 0, msgs[:2])
	set = append(set, legacySet(1, 0, msgs[2:])...)
	set = append(set, legacySet(1, legacyAttrLogAppendTime, msgs[:1])...)
	out, err := FromLegacy(set)
	if err != nil {
		t.Fatal(err)
	}
	if hs := splitAll(t, out); len(hs) != 3 || hs[0].NumRecords != 2 || hs[1].NumRecords != 2 || !hs[2].LogAppendTime() {
		t.Fatalf("batches %+v", hs)
	}

	if out, err := FromLegacy(nil); err != nil || len(out) != 0 {
		t.Fatalf("FromLegacy(nil) = %x, %v", out, err)
	}
}

func TestFromLegacyCompressed(t *testing.T) {
	msgs := legacyTestMsgs()
	const wrapperTS = 9999
	for _, c := range codecs {
		for _, magic := range []int8{0, 1} {
			for _, lat := range []bool{false, true} {
				if magic == 0 && lat {
					continue
				}
				t.Run(fmt.Sprintf("%s/v%d/lat=%v", c, magic, lat), func(t *testing.T) {
					set := legacyWrapper(t, magic, c, lat, wrapperTS, msgs)
					set = append(set, legacySet(magic, 0, msgs[:1])...) // an uncompressed one after it
					out, err := FromLegacy(set)
					if err != nil {
						t.Fatalf("FromLegacy: %v", err)
					}
					hs := splitAll(t, out)
					if len(hs) != 2 || hs[0].Compression() != c || hs[0].NumRecords != 4 || hs[1].Compression() != None {
						t.Fatalf("batches %+v", hs)
					}
					if hs[0].LogAppendTime() != lat {
						t.Fatalf("LogAppendTime %v, want %v", hs[0].LogAppendTime(), lat)
					}
					wantTS := func(i int) int64 {
						switch {
						case magic == 0:
							return NoTimestamp
						case lat:
							return wrapperTS
						}
						return msgs[i].ts
					}
					checkConverted(t, out[:hs[0].Size()], msgs, wantTS)
				})
			}
		}
	}
}

// TestFromLegacyLZ4V0Checksum feeds a magic-0 LZ4 wrapper whose frame
// descriptor checksum is computed the pre-0.10 way, over the frame magic
// too (KAFKA-3160), as librdkafka and kafka-python write for magic 0.
func TestFromLegacyLZ4V0Checksum(t *testing.T) {
	msgs := legacyTestMsgs()
	frame, err := Compress(LZ4, legacySet(0, 0, msgs))
	if err != nil {
		t.Fatal(err)
	}
	end := 6
	if frame[4]&0x08 != 0 {
		end += 8
	}
	frame[end] = byte(xxh32(frame[:end]) >> 8) // the broken checksum
	if _, err := Decompress(LZ4, frame); err == nil {
		t.Fatal("the broken checksum should fail a strict LZ4 reader; the test is not testing anything")
	}
	set := appendLegacyMessage(nil, 3, 0, int8(LZ4), 0, nil, frame)
	out, err := FromLegacy(set)
	if err != nil {
		t.Fatalf("FromLegacy(v0 lz4 with legacy checksum): %v", err)
	}
	checkConverted(t, out, msgs, func(int) int64 { return NoTimestamp })
	if !bytes.Equal(set[LogOverhead+legacyMinSizeV0:], frame) {
		t.Fatal("FromLegacy modified its input")
	}
}

func TestXXH32(t *testing.T) {
	// Reference values from xxHash's published test vectors.
	for in, want := range map[string]uint32{"": 0x02CC5D05, "a": 0x550D7456, "abc": 0x32D153FF} {
		if got := xxh32([]byte(in)); got != want {
			t.Errorf("xxh32(%q) = %#08x, want %#08x", in, got, want)
		}
	}
	// Cross-check against the lz4 library's own descriptor checksum with a
	// 10-byte descriptor (content size present), which takes the 4-byte
	// loop: after a damaged checksum byte, the fix must make it decodable.
	var buf bytes.Buffer
	w := lz4.NewWriter(&buf)
	src := testPayload(1000)
	if err := w.Apply(lz4.SizeOption(uint64(len(src)))); err != nil {
		t.Fatal(err)
	}
	_, _ = w.Write(src)
	_ = w.Close()
	frame := buf.Bytes()
	if frame[4]&0x08 == 0 {
		t.Fatal("content size flag not set; the test is not testing anything")
	}
	frame[14] ^= 0xFF
	if got, err := Decompress(LZ4, fixLegacyLZ4Checksum(frame)); err != nil || !bytes.Equal(got, src) {
		t.Fatalf("Decompress(fixed frame) = %d bytes, %v", len(got), err)
	}
}

func TestFromLegacyErrors(t *testing.T) {
	msgs := legacyTestMsgs()
	good := func() []byte { return legacySet(1, 0, msgs) }
	tests := []struct {
		name  string
		set   func() []byte
		magic bool
	}{
		{"bad crc", func() []byte { b := good(); b[legacyOffCRC] ^= 1; return b }, false},
		{"flipped value byte", func() []byte { b := good(); b[36] ^= 1; return b }, false},
		{"truncated", func() []byte { b := good(); return b[:len(b)-1] }, false},
		{"truncated entry header", func() []byte { return good()[:10] }, false},
		{"size lies up", func() []byte { b := good(); binary.BigEndian.PutUint32(b[8:], 1<<30); return b }, false},
		{"size below minimum", func() []byte { b := good(); binary.BigEndian.PutUint32(b[8:], 10); return b }, false},
		{"magic 2", func() []byte { b := good(); b[MagicOffset] = 2; return b }, true},
		{"key length lies", func() []byte {
			b := appendLegacyMessage(nil, 0, 1, 0, 1, []byte("abc"), nil)
			binary.BigEndian.PutUint32(b[LogOverhead+14:], 100)
			binary.BigEndian.PutUint32(b[legacyOffCRC:], crcIEEE(b[legacyOffMagic:]))
			return b
		}, false},
		{"bytes after value", func() []byte {
			b := appendLegacyMessage(nil, 0, 1, 0, 1, nil, []byte("abc"))
			binary.BigEndian.PutUint32(b[LogOverhead+18:], 2)
			binary.BigEndian.PutUint32(b[legacyOffCRC:], crcIEEE(b[legacyOffMagic:]))
			return b
		}, false},
		{"nested compression", func() []byte {
			inner := legacyWrapper(t, 1, Gzip, false, 0, msgs)
			v, _ := Compress(Gzip, inner)
			return appendLegacyMessage(nil, 0, 1, int8(Gzip), 0, nil, v)
		}, false},
		{"inner magic differs", func() []byte {
			v, _ := Compress(Snappy, legacySet(0, 0, msgs))
			return appendLegacyMessage(nil, 0, 1, int8(Snappy), 0, nil, v)
		}, false},
		{"empty wrapper", func() []byte {
			v, _ := Compress(Zstd, nil)
			return appendLegacyMessage(nil, 0, 1, int8(Zstd), 0, nil, v)
		}, false},
		{"null wrapper value", func() []byte { return appendLegacyMessage(nil, 0, 1, int8(Gzip), 0, nil, nil) }, false},
		{"garbage wrapper value", func() []byte { return appendLegacyMessage(nil, 0, 1, int8(LZ4), 0, nil, []byte("nope")) }, false},
		{"unknown codec", func() []byte { return appendLegacyMessage(nil, 0, 1, 5, 0, nil, []byte("nope")) }, false},
		{"corrupt inner message", func() []byte {
			inner := legacySet(1, 0, msgs)
			inner[legacyOffCRC] ^= 1
			v, _ := Compress(Gzip, inner)
			return appendLegacyMessage(nil, 0, 1, int8(Gzip), 0, nil, v)
		}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := FromLegacy(tt.set())
			if tt.magic {
				if !errors.Is(err, ErrUnsupportedMagic) {
					t.Fatalf("FromLegacy = %v, want ErrUnsupportedMagic", err)
				}
				return
			}
			if !errors.Is(err, ErrCorrupt) {
				t.Fatalf("FromLegacy = %v, want ErrCorrupt", err)
			}
		})
	}
}

// readLegacy decodes a message set for assertions.
func readLegacy(t *testing.T, b []byte) []legacyMessage {
	t.Helper()
	var ms []legacyMessage
	if err := walkLegacy(b, func(m *legacyMessage) error { ms = append(ms, *m); return nil }); err != nil {
		t.Fatalf("walkLegacy: %v", err)
	}
	return ms
}

func TestLegacyRoundTrip(t *testing.T) {
	msgs := legacyTestMsgs()
	for _, c := range append([]Compression{None}, codecs...) {
		t.Run(c.String(), func(t *testing.T) {
			set := legacySet(1, 0, msgs)
			if c != None {
				set = legacyWrapper(t, 1, c, false, 0, msgs)
			}
			batches, err := FromLegacy(set)
			if err != nil {
				t.Fatal(err)
			}
			SetBaseOffset(batches, 500) // what the produce path does
			for _, magic := range []int8{0, 1} {
				out, err := ToLegacy(batches, magic)
				if err != nil {
					t.Fatalf("ToLegacy(%d): %v", magic, err)
				}
				got := readLegacy(t, out)
				if len(got) != len(msgs) {
					t.Fatalf("magic %d: %d messages, want %d", magic, len(got), len(msgs))
				}
				for i, m := range got {
					wantTS := msgs[i].ts
					if magic == 0 {
						wantTS = NoTimestamp
					}
					if m.offset != 500+int64(i) || m.magic != magic || m.attributes != 0 || m.timestamp != wantTS ||
						(m.key == nil) != (msgs[i].key == nil) || !bytes.Equal(m.key, msgs[i].key) ||
						(m.value == nil) != (msgs[i].value == nil) || !bytes.Equal(m.value, msgs[i].value) {
						t.Fatalf("magic %d message %d: %+v, want %+v", magic, i, m, msgs[i])
					}
				}
			}
		})
	}
}

func TestToLegacy(t *testing.T) {
	opts := testOptions()
	data := BuildBatch(opts, testRecords(3, 5)) // offsets 1000..1002, with headers
	ctrl := opts
	ctrl.BaseOffset, ctrl.Control, ctrl.Transactional = 1003, true, true
	marker := BuildBatch(ctrl, []Record{{Key: []byte{0, 0, 0, 1}, Value: []byte{0, 0, 0, 0, 0, 0}}})
	lat := opts
	lat.BaseOffset, lat.Compression = 1004, Gzip
	latBatch := BuildBatch(lat, testRecords(2, 5))
	SetLogAppendTime(latBatch, 77)

	all := bytes.Join([][]byte{data, marker, latBatch}, nil)
	out, err := ToLegacy(all, 1)
	if err != nil {
		t.Fatal(err)
	}
	ms := readLegacy(t, out)
	if len(ms) != 5 {
		t.Fatalf("%d messages, want 5 (control batch dropped)", len(ms))
	}
	for i, want := range []int64{1000, 1001, 1002, 1004, 1005} {
		if ms[i].offset != want {
			t.Fatalf("message %d offset %d, want %d", i, ms[i].offset, want)
		}
	}
	if ms[1].timestamp != opts.FirstTimestamp+7 || ms[1].attributes != 0 {
		t.Fatalf("CreateTime message: %+v", ms[1])
	}
	if ms[3].timestamp != 77 || ms[3].attributes != legacyAttrLogAppendTime {
		t.Fatalf("LogAppendTime message: %+v", ms[3])
	}

	if out, err := ToLegacy(marker, 0); err != nil || len(out) != 0 {
		t.Fatalf("ToLegacy(marker only) = %x, %v", out, err)
	}
	if _, err := ToLegacy(all, 2); !errors.Is(err, ErrUnsupportedMagic) {
		t.Fatalf("ToLegacy(magic 2) = %v", err)
	}
	if _, err := ToLegacy(all[:len(all)-1], 1); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("ToLegacy(truncated) = %v", err)
	}
}

func crcIEEE(b []byte) uint32 { return crc32.ChecksumIEEE(b) }
