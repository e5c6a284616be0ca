package record

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"math"
	"reflect"
	"testing"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// testRecords returns n records with offset deltas 0..n-1, rising timestamp
// deltas, and a mix of null, empty and filled keys, values and headers.
func testRecords(n, valueSize int) []Record {
	recs := make([]Record, n)
	for i := range recs {
		r := &recs[i]
		r.OffsetDelta = int32(i)
		r.TimestampDelta = int64(i * 7)
		switch i % 3 {
		case 0:
			r.Key = nil
		case 1:
			r.Key = []byte{}
		default:
			r.Key = fmt.Appendf(nil, "key-%d", i)
		}
		if i%4 == 3 {
			r.Value = nil // tombstone
		} else {
			r.Value = bytes.Repeat([]byte{byte('a' + i%26)}, valueSize)
		}
		if i%2 == 1 {
			r.Headers = []Header{{Key: "h", Value: []byte("v")}, {Key: "", Value: nil}}
		}
	}
	return recs
}

func testOptions() BuildOptions {
	return BuildOptions{
		BaseOffset:           1000,
		PartitionLeaderEpoch: 7,
		FirstTimestamp:       1_700_000_000_000,
		ProducerID:           42,
		ProducerEpoch:        3,
		BaseSequence:         10,
	}
}

// collect returns the records ForEachRecord reports for batch.
func collect(t *testing.T, batch []byte) []Record {
	t.Helper()
	var got []Record
	if err := ForEachRecord(batch, func(r Record) error {
		got = append(got, r)
		return nil
	}); err != nil {
		t.Fatalf("ForEachRecord: %v", err)
	}
	return got
}

// equalRecords compares records keeping nil and empty distinct.
func equalRecords(t *testing.T, got, want []Record) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("got %d records, want %d", len(got), len(want))
	}
	for i := range want {
		g, w := got[i], want[i]
		if g.OffsetDelta != w.OffsetDelta || g.TimestampDelta != w.TimestampDelta {
			t.Fatalf("record %d: deltas (%d,%d), want (%d,%d)", i, g.OffsetDelta, g.TimestampDelta, w.OffsetDelta, w.TimestampDelta)
		}
		if (g.Key == nil) != (w.Key == nil) || !bytes.Equal(g.Key, w.Key) {
			t.Fatalf("record %d: key %q (nil %v), want %q (nil %v)", i, g.Key, g.Key == nil, w.Key, w.Key == nil)
		}
		if (g.Value == nil) != (w.Value == nil) || !bytes.Equal(g.Value, w.Value) {
			t.Fatalf("record %d: value nil=%v len=%d, want nil=%v len=%d", i, g.Value == nil, len(g.Value), w.Value == nil, len(w.Value))
		}
		if !reflect.DeepEqual(g.Headers, w.Headers) {
			t.Fatalf("record %d: headers %+v, want %+v", i, g.Headers, w.Headers)
		}
	}
}

// recrc rewrites the CRC after a test mutated CRC'd bytes.
func recrc(b []byte) []byte {
	binary.BigEndian.PutUint32(b[offCRC:], crc32.Checksum(b[offAttributes:], castagnoli))
	return b
}

func TestBuildValidateRoundTrip(t *testing.T) {
	for _, c := range []Compression{None, Gzip, Snappy, LZ4, Zstd} {
		for _, n := range []int{1, 2, 17} {
			t.Run(fmt.Sprintf("%s/%d", c, n), func(t *testing.T) {
				opts := testOptions()
				opts.Compression = c
				opts.Transactional = n == 2
				recs := testRecords(n, 100)
				b := BuildBatch(opts, recs)
				h, err := Validate(b)
				if err != nil {
					t.Fatalf("Validate: %v", err)
				}
				want := BatchHeader{
					BaseOffset: 1000, BatchLength: int32(len(b) - LogOverhead), PartitionLeaderEpoch: 7,
					Magic: 2, CRC: h.CRC, Attributes: int16(c), LastOffsetDelta: int32(n - 1),
					FirstTimestamp: opts.FirstTimestamp, MaxTimestamp: opts.FirstTimestamp + int64((n-1)*7),
					ProducerID: 42, ProducerEpoch: 3, BaseSequence: 10, NumRecords: int32(n),
				}
				if opts.Transactional {
					want.Attributes |= attrTransactional
				}
				if h != want {
					t.Fatalf("header\n got %+v\nwant %+v", h, want)
				}
				if h.Compression() != c || h.Transactional() != opts.Transactional || h.Control() || h.LogAppendTime() {
					t.Fatalf("attribute accessors wrong for %+v", h)
				}
				if h.Size() != len(b) || h.LastOffset() != 1000+int64(n-1) || h.NextOffset() != 1000+int64(n) {
					t.Fatalf("Size %d LastOffset %d NextOffset %d", h.Size(), h.LastOffset(), h.NextOffset())
				}
				equalRecords(t, collect(t, b), recs)
			})
		}
	}
}

// kmsgBatch encodes recs with franz-go's kmsg types, independently of
// BuildBatch, and fills in length and CRC.
func kmsgBatch(recs []Record, opts BuildOptions) []byte {
	var area []byte
	for _, r := range recs {
		kr := kmsg.Record{TimestampDelta64: r.TimestampDelta, OffsetDelta: r.OffsetDelta, Key: r.Key, Value: r.Value}
		for _, h := range r.Headers {
			kr.Headers = append(kr.Headers, kmsg.Header{Key: h.Key, Value: h.Value})
		}
		kr.Length = int32(len(kr.AppendTo(nil)) - 1)
		area = kr.AppendTo(area)
	}
	kb := kmsg.RecordBatch{
		FirstOffset: opts.BaseOffset, PartitionLeaderEpoch: opts.PartitionLeaderEpoch, Magic: 2,
		LastOffsetDelta: recs[len(recs)-1].OffsetDelta, FirstTimestamp: opts.FirstTimestamp,
		MaxTimestamp: opts.FirstTimestamp + recs[len(recs)-1].TimestampDelta, ProducerID: opts.ProducerID,
		ProducerEpoch: opts.ProducerEpoch, FirstSequence: opts.BaseSequence, NumRecords: int32(len(recs)),
		Records: area, Length: int32(BatchHeaderSize - LogOverhead + len(area)),
	}
	return recrc(kb.AppendTo(nil))
}

func TestValidateKmsgEncoding(t *testing.T) {
	recs := testRecords(9, 33)
	opts := testOptions()
	kb := kmsgBatch(recs, opts)
	if _, err := Validate(kb); err != nil {
		t.Fatalf("Validate(kmsg batch): %v", err)
	}
	if ours := BuildBatch(opts, recs); !bytes.Equal(ours, kb) {
		t.Fatalf("BuildBatch differs from kmsg encoding:\n ours %x\n kmsg %x", ours, kb)
	}
	// And kmsg decodes ours.
	var rb kmsg.RecordBatch
	if err := rb.ReadFrom(BuildBatch(opts, recs)); err != nil || rb.NumRecords != 9 {
		t.Fatalf("kmsg ReadFrom: %v, %d records", err, rb.NumRecords)
	}
}

func TestValidateErrors(t *testing.T) {
	good := func() []byte { return BuildBatch(testOptions(), testRecords(3, 10)) }
	put32 := func(off int, v int32) func([]byte) []byte {
		return func(b []byte) []byte { binary.BigEndian.PutUint32(b[off:], uint32(v)); return b }
	}
	tests := []struct {
		name   string
		mutate func([]byte) []byte
		magic  bool // want ErrUnsupportedMagic too
	}{
		{"bad crc", func(b []byte) []byte { b[offCRC] ^= 1; return b }, false},
		{"flipped record byte", func(b []byte) []byte { b[len(b)-1] ^= 0x40; return b }, false},
		{"length lies up", put32(offBatchLength, int32(0)+0x7fff), false},
		{"length lies down", func(b []byte) []byte {
			binary.BigEndian.PutUint32(b[offBatchLength:], uint32(len(b)-LogOverhead-1))
			return b
		}, false},
		{"length below header", put32(offBatchLength, 10), false},
		{"negative length", put32(offBatchLength, -1), false},
		{"truncated", func(b []byte) []byte { return b[:len(b)-5] }, false},
		{"truncated header", func(b []byte) []byte { return b[:40] }, false},
		{"empty", func(b []byte) []byte { return nil }, false},
		{"magic 1", func(b []byte) []byte { b[MagicOffset] = 1; return b }, true},
		{"magic 3", func(b []byte) []byte { b[MagicOffset] = 3; return b }, true},
		{"more records claimed", func(b []byte) []byte {
			put32(offNumRecords, 4)(b)
			return recrc(put32(offLastOffsetDelta, 3)(b))
		}, false},
		{"fewer records claimed", func(b []byte) []byte {
			put32(offNumRecords, 2)(b)
			return recrc(put32(offLastOffsetDelta, 1)(b))
		}, false},
		{"lastOffsetDelta mismatch", func(b []byte) []byte { return recrc(put32(offLastOffsetDelta, 5)(b)) }, false},
		{"zero records", func(b []byte) []byte { return recrc(put32(offNumRecords, 0)(b)) }, false},
		{"negative records", func(b []byte) []byte { return recrc(put32(offNumRecords, -1)(b)) }, false},
		{"compressed, impossible record count", func(b []byte) []byte {
			b[offAttributes+1] |= byte(Zstd)
			put32(offNumRecords, 1<<30)(b)
			return recrc(put32(offLastOffsetDelta, 1<<30-1)(b))
		}, false},
		{"unknown codec", func(b []byte) []byte { b[offAttributes+1] |= 7; return recrc(b) }, false},
		{"trailing garbage", func(b []byte) []byte {
			b = append(b, 0)
			binary.BigEndian.PutUint32(b[offBatchLength:], uint32(len(b)-LogOverhead))
			return recrc(b)
		}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Validate(tt.mutate(good()))
			if !errors.Is(err, ErrCorrupt) {
				t.Fatalf("Validate = %v, want ErrCorrupt", err)
			}
			if errors.Is(err, ErrUnsupportedMagic) != tt.magic {
				t.Fatalf("Validate = %v, ErrUnsupportedMagic want %v", err, tt.magic)
			}
		})
	}
}

// TestValidateRecordErrors damages single records and rebuilds the CRC, so
// that only the record walk can catch the damage.
func TestValidateRecordErrors(t *testing.T) {
	rec := func(body ...byte) []byte { return append(binary.AppendVarint(nil, int64(len(body))), body...) }
	v := func(x int64) []byte { return binary.AppendVarint(nil, x) }
	cat := func(parts ...[]byte) []byte { return bytes.Join(parts, nil) }
	okBody := func(delta int64) []byte { return cat([]byte{0}, v(0), v(delta), v(-1), v(1), []byte("x"), v(0)) }
	tests := []struct {
		name string
		area []byte
		n    int32
	}{
		{"offset delta not 0", rec(okBody(1)...), 1},
		{"offset deltas out of order", cat(rec(okBody(0)...), rec(okBody(0)...)), 2},
		{"record length past area", cat(v(100), okBody(0)), 1},
		{"negative record length", cat(v(-2), okBody(0)), 1},
		{"bytes after records", cat(rec(okBody(0)...), []byte{0}), 1},
		{"missing record", rec(okBody(0)...), 2},
		{"key length past record", rec(cat([]byte{0}, v(0), v(0), v(50), v(-1), v(0))...), 1},
		{"key length -2", rec(cat([]byte{0}, v(0), v(0), v(-2), v(-1), v(0))...), 1},
		{"negative header count", rec(cat([]byte{0}, v(0), v(0), v(-1), v(-1), v(-1))...), 1},
		{"header count too large", rec(cat([]byte{0}, v(0), v(0), v(-1), v(-1), v(1000), v(0), v(-1))...), 1},
		{"null header key", rec(cat([]byte{0}, v(0), v(0), v(-1), v(-1), v(1), v(-1), v(-1))...), 1},
		{"bytes after headers", rec(cat([]byte{0}, v(0), v(0), v(-1), v(-1), v(0), []byte{9})...), 1},
		{"empty record", rec(), 1},
		{"offset delta overflows int32", rec(cat([]byte{0}, v(0), v(1<<40), v(-1), v(-1), v(0))...), 1},
		{"unterminated varint", []byte{0x80, 0x80}, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := BuildBatch(testOptions(), nil)
			b = append(b, tt.area...)
			binary.BigEndian.PutUint32(b[offBatchLength:], uint32(len(b)-LogOverhead))
			binary.BigEndian.PutUint32(b[offNumRecords:], uint32(tt.n))
			binary.BigEndian.PutUint32(b[offLastOffsetDelta:], uint32(tt.n-1))
			recrc(b)
			if _, err := Validate(b); !errors.Is(err, ErrCorrupt) {
				t.Fatalf("Validate = %v, want ErrCorrupt", err)
			}
			// ForEachRecord must not panic on it either; most of these
			// are errors for it too.
			_ = ForEachRecord(b, func(Record) error { return nil })
		})
	}
	// Sanity: the okBody record itself is accepted, so the cases above fail
	// for the reason their name gives.
	b := BuildBatch(testOptions(), nil)
	b = append(b, rec(okBody(0)...)...)
	binary.BigEndian.PutUint32(b[offBatchLength:], uint32(len(b)-LogOverhead))
	binary.BigEndian.PutUint32(b[offNumRecords:], 1)
	if _, err := Validate(recrc(b)); err != nil {
		t.Fatalf("Validate(good hand-built record) = %v", err)
	}
}

func TestValidateControlBatch(t *testing.T) {
	opts := testOptions()
	opts.Control, opts.Transactional = true, true
	// A commit marker: key = version 0, type 1; value = version 0, coordinator epoch.
	b := BuildBatch(opts, []Record{{Key: []byte{0, 0, 0, 1}, Value: []byte{0, 0, 0, 0, 0, 5}}})
	h, err := Validate(b)
	if err != nil || !h.Control() || !h.Transactional() {
		t.Fatalf("Validate(control) = %+v, %v", h, err)
	}
}

func TestParseHeader(t *testing.T) {
	b := BuildBatch(testOptions(), testRecords(2, 5))
	if _, err := ParseHeader(b[:BatchHeaderSize]); err != nil {
		t.Fatalf("ParseHeader(exact header) = %v", err)
	}
	if n := testing.AllocsPerRun(100, func() { _, _ = ParseHeader(b[:BatchHeaderSize]) }); n != 0 {
		t.Fatalf("ParseHeader allocates %v per run", n)
	}
	if _, err := ParseHeader(b[:BatchHeaderSize-1]); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("ParseHeader(short) = %v, want ErrCorrupt", err)
	}
	b[MagicOffset] = 0
	if _, err := ParseHeader(b); !errors.Is(err, ErrUnsupportedMagic) {
		t.Fatalf("ParseHeader(magic 0) = %v, want ErrUnsupportedMagic", err)
	}
	if m, err := Magic(b); m != 0 || err != nil {
		t.Fatalf("Magic = %d, %v", m, err)
	}
	if _, err := Magic(b[:MagicOffset]); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("Magic(short) = %v, want ErrCorrupt", err)
	}
}

func TestSplit(t *testing.T) {
	var all []byte
	var want [][]byte
	for i := range 3 {
		opts := testOptions()
		opts.BaseOffset = int64(i * 10)
		b := BuildBatch(opts, testRecords(i+1, 20))
		want = append(want, b)
		all = append(all, b...)
	}
	var got [][]byte
	err := Split(all, func(h BatchHeader, batch []byte) error {
		if h.Size() != len(batch) {
			t.Errorf("header size %d, batch %d bytes", h.Size(), len(batch))
		}
		got = append(got, batch)
		return nil
	})
	if err != nil || !reflect.DeepEqual(got, want) {
		t.Fatalf("Split = %v, %d batches", err, len(got))
	}
	if err := Split(nil, func(BatchHeader, []byte) error { t.Fatal("called on empty input"); return nil }); err != nil {
		t.Fatalf("Split(nil) = %v", err)
	}

	for _, cut := range []int{1, 11, 12, 20, 60, 61, len(want[2]) - 1} {
		n := 0
		err := Split(all[:len(all)-cut], func(BatchHeader, []byte) error { n++; return nil })
		if !errors.Is(err, ErrCorrupt) || n != 2 {
			t.Fatalf("Split(cut %d) = %v after %d batches, want ErrCorrupt after 2", cut, err, n)
		}
	}

	stop := errors.New("stop")
	if err := Split(all, func(BatchHeader, []byte) error { return stop }); err != stop { //nolint:errorlint // identity is the point
		t.Fatalf("Split did not return fn's error: %v", err)
	}

	legacy := appendLegacyMessage(nil, 0, 1, 0, 5, nil, []byte("v"))
	if err := Split(legacy, func(BatchHeader, []byte) error { return nil }); !errors.Is(err, ErrUnsupportedMagic) {
		t.Fatalf("Split(legacy) = %v, want ErrUnsupportedMagic", err)
	}
	bad := append([]byte(nil), want[0]...)
	binary.BigEndian.PutUint32(bad[offBatchLength:], 3)
	if err := Split(bad, func(BatchHeader, []byte) error { return nil }); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("Split(batchLength 3) = %v, want ErrCorrupt", err)
	}
}

func TestSetters(t *testing.T) {
	b := BuildBatch(testOptions(), testRecords(4, 10))
	SetBaseOffset(b, 1<<40)
	SetPartitionLeaderEpoch(b, 99)
	h, err := Validate(b)
	if err != nil {
		t.Fatalf("Validate after offset/epoch rewrite: %v", err)
	}
	if h.BaseOffset != 1<<40 || h.PartitionLeaderEpoch != 99 {
		t.Fatalf("header after rewrite: %+v", h)
	}

	const lat = 1_800_000_000_000
	SetLogAppendTime(b, lat)
	h, err = Validate(b)
	if err != nil {
		t.Fatalf("Validate after SetLogAppendTime: %v", err)
	}
	if !h.LogAppendTime() || h.MaxTimestamp != lat || h.FirstTimestamp != testOptions().FirstTimestamp {
		t.Fatalf("header after SetLogAppendTime: %+v", h)
	}
	off, ts, ok, err := FirstOffsetAtOrAfter(b, 0)
	if err != nil || !ok || off != 1<<40 || ts != lat {
		t.Fatalf("FirstOffsetAtOrAfter = %d, %d, %v, %v", off, ts, ok, err)
	}

	// Short slices are left alone, never a panic.
	short := []byte{1, 2, 3}
	SetBaseOffset(short, 1)
	SetPartitionLeaderEpoch(short, 1)
	SetLogAppendTime(short, 1)
	if !bytes.Equal(short, []byte{1, 2, 3}) {
		t.Fatalf("short slice modified: %v", short)
	}
}

func TestLastSequence(t *testing.T) {
	tests := []struct {
		base, delta, want int32
	}{
		{0, 0, 0},
		{10, 4, 14},
		{NoSequence, 4, NoSequence},
		{math.MaxInt32, 0, math.MaxInt32},
		{math.MaxInt32, 1, 0},
		{math.MaxInt32 - 2, 5, 2},
	}
	for _, tt := range tests {
		h := BatchHeader{BaseSequence: tt.base, LastOffsetDelta: tt.delta}
		if got := h.LastSequence(); got != tt.want {
			t.Errorf("LastSequence(base %d, delta %d) = %d, want %d", tt.base, tt.delta, got, tt.want)
		}
	}
}

func TestFirstOffsetAtOrAfter(t *testing.T) {
	for _, c := range []Compression{None, Zstd} {
		opts := testOptions()
		opts.Compression = c
		recs := testRecords(5, 3) // timestamp deltas 0, 7, 14, 21, 28
		// Make the timestamps non-monotonic: record 2 is late.
		recs[2].TimestampDelta = 30
		b := BuildBatch(opts, recs)
		base := opts.FirstTimestamp
		tests := []struct {
			ts      int64
			off, at int64
			ok      bool
		}{
			{base - 100, 1000, base, true},
			{base, 1000, base, true},
			{base + 1, 1001, base + 7, true},
			{base + 8, 1002, base + 30, true},
			{base + 25, 1002, base + 30, true},
			{base + 30, 1002, base + 30, true},
			{base + 31, 0, 0, false},
		}
		for _, tt := range tests {
			off, at, ok, err := FirstOffsetAtOrAfter(b, tt.ts)
			if err != nil || ok != tt.ok || off != tt.off || at != tt.at {
				t.Errorf("%s: FirstOffsetAtOrAfter(%d) = %d, %d, %v, %v; want %d, %d, %v", c, tt.ts-base, off, at, ok, err, tt.off, tt.at, tt.ok)
			}
		}
	}
	if _, _, _, err := FirstOffsetAtOrAfter([]byte{1}, 0); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("FirstOffsetAtOrAfter(short) = %v", err)
	}
}

func TestForEachRecordCompactedGaps(t *testing.T) {
	// A compacted batch keeps lastOffsetDelta but loses records: deltas
	// 0, 3, 9 of lastOffsetDelta 9. Validate (produce input) refuses it;
	// ForEachRecord (stored data) reads it.
	recs := []Record{{OffsetDelta: 0, Value: []byte("a")}, {OffsetDelta: 3, Value: []byte("b")}, {OffsetDelta: 9, Value: []byte("c")}}
	b := BuildBatch(testOptions(), recs)
	if _, err := Validate(b); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("Validate(gaps) = %v, want ErrCorrupt", err)
	}
	equalRecords(t, collect(t, b), recs)

	stop := errors.New("stop")
	if err := ForEachRecord(b, func(Record) error { return stop }); err != stop { //nolint:errorlint // identity is the point
		t.Fatalf("ForEachRecord did not return fn's error: %v", err)
	}
}
