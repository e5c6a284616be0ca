package record

import (
	"bytes"
	"errors"
	"testing"
)

// seedBatches are valid batches of every shape, for fuzz corpora.
func seedBatches() [][]byte {
	var seeds [][]byte
	for _, c := range []Compression{None, Gzip, Snappy, LZ4, Zstd} {
		opts := testOptions()
		opts.Compression = c
		seeds = append(seeds, BuildBatch(opts, testRecords(3, 8)))
	}
	ctrl := testOptions()
	ctrl.Control, ctrl.Transactional = true, true
	seeds = append(seeds, BuildBatch(ctrl, []Record{{Key: []byte{0, 0, 0, 0}, Value: []byte{0, 0, 0, 0, 0, 1}}}))
	lat := BuildBatch(testOptions(), testRecords(2, 1))
	SetLogAppendTime(lat, 5)
	seeds = append(seeds, lat)
	seeds = append(seeds, BuildBatch(testOptions(), []Record{{OffsetDelta: 0}, {OffsetDelta: 4}}))
	return seeds
}

// wantErrKind fails t unless err is nil or one of the package's sentinels.
func wantErrKind(t *testing.T, err error) {
	t.Helper()
	if err != nil && !errors.Is(err, ErrCorrupt) && !errors.Is(err, ErrUnsupportedMagic) {
		t.Fatalf("error %v wraps neither ErrCorrupt nor ErrUnsupportedMagic", err)
	}
}

// FuzzValidate checks, for any input: Validate does not panic; every
// failure wraps ErrCorrupt; on success it does not allocate at all (so
// nothing larger than the input), Split finds exactly this one batch with
// the same header, and an uncompressed batch yields NumRecords records with
// offset deltas 0..n-1 from ForEachRecord. Each input is also checked with
// its CRC recomputed, so that mutations reach the checks behind the CRC.
func FuzzValidate(f *testing.F) {
	for _, s := range seedBatches() {
		f.Add(s)
		f.Add(s[:len(s)-1])
		m1 := append([]byte(nil), s...)
		m1[MagicOffset] = 1
		f.Add(m1)
	}
	f.Add([]byte{})
	f.Add(make([]byte, BatchHeaderSize))
	f.Fuzz(func(t *testing.T, b []byte) {
		checkValidate(t, b)
		if len(b) >= BatchHeaderSize {
			checkValidate(t, recrc(append([]byte(nil), b...)))
		}
	})
}

// checkValidate checks FuzzValidate's invariants for one input.
func checkValidate(t *testing.T, b []byte) {
	t.Helper()
	h, err := Validate(b)
	if err != nil {
		if !errors.Is(err, ErrCorrupt) {
			t.Fatalf("Validate error %v does not wrap ErrCorrupt", err)
		}
		return
	}
	if n := testing.AllocsPerRun(1, func() { _, _ = Validate(b) }); n != 0 {
		t.Fatalf("Validate allocated %v times on a valid batch", n)
	}
	var batches int
	if err := Split(b, func(sh BatchHeader, batch []byte) error {
		batches++
		if sh != h || !bytes.Equal(batch, b) {
			t.Fatalf("Split header %+v, %d bytes; Validate %+v, %d bytes", sh, len(batch), h, len(b))
		}
		return nil
	}); err != nil || batches != 1 {
		t.Fatalf("Split of a valid batch: %v, %d batches", err, batches)
	}
	if h.Compression() == None {
		var n int32
		if err := ForEachRecord(b, func(r Record) error {
			if r.OffsetDelta != n {
				t.Fatalf("record %d has offset delta %d", n, r.OffsetDelta)
			}
			n++
			return nil
		}); err != nil || n != h.NumRecords {
			t.Fatalf("ForEachRecord of a valid batch: %v, %d of %d records", err, n, h.NumRecords)
		}
	}
}

// FuzzSplit checks, for any input: Split does not panic; the batches it
// reports are consecutive sub-slices of the input starting at byte 0, each
// as long as its header's Size and with the header ParseHeader gives;
// success means the batches cover the whole input; failures wrap ErrCorrupt
// or ErrUnsupportedMagic.
func FuzzSplit(f *testing.F) {
	seeds := seedBatches()
	f.Add(bytes.Join(seeds, nil))
	for _, s := range seeds {
		f.Add(append(append([]byte(nil), s...), s[:20]...))
	}
	f.Add([]byte{})
	f.Add(appendLegacyMessage(nil, 0, 1, 0, 0, nil, nil))
	f.Fuzz(func(t *testing.T, b []byte) {
		pos := 0
		err := Split(b, func(h BatchHeader, batch []byte) error {
			if len(batch) != h.Size() || len(batch) < BatchHeaderSize || pos+len(batch) > len(b) ||
				&batch[0] != &b[pos] {
				t.Fatalf("batch of %d bytes (header size %d) is not b[%d:]", len(batch), h.Size(), pos)
			}
			if ph, err := ParseHeader(batch); err != nil || ph != h {
				t.Fatalf("ParseHeader = %+v, %v; Split gave %+v", ph, err, h)
			}
			pos += len(batch)
			return nil
		})
		wantErrKind(t, err)
		if err == nil && pos != len(b) {
			t.Fatalf("Split succeeded covering %d of %d bytes", pos, len(b))
		}
	})
}

// FuzzForEachRecord checks, for any input: no panic; failures wrap
// ErrCorrupt or ErrUnsupportedMagic; on success exactly NumRecords records
// are reported with strictly increasing offset deltas no greater than
// lastOffsetDelta, and rebuilding them with BuildBatch (uncompressed) and
// reading again gives the same records, nil keys and values included.
func FuzzForEachRecord(f *testing.F) {
	for _, s := range seedBatches() {
		f.Add(s)
	}
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, b []byte) {
		var recs []Record
		err := ForEachRecord(b, func(r Record) error {
			recs = append(recs, r)
			return nil
		})
		wantErrKind(t, err)
		if err != nil {
			return
		}
		h, _ := ParseHeader(b)
		if int32(len(recs)) != h.NumRecords {
			t.Fatalf("%d records, header says %d", len(recs), h.NumRecords)
		}
		for i, r := range recs {
			if r.OffsetDelta > h.LastOffsetDelta || (i > 0 && r.OffsetDelta <= recs[i-1].OffsetDelta) {
				t.Fatalf("record %d offset delta %d out of order (last %d)", i, r.OffsetDelta, h.LastOffsetDelta)
			}
		}
		rebuilt := BuildBatch(BuildOptions{BaseOffset: h.BaseOffset, FirstTimestamp: h.FirstTimestamp}, recs)
		var again []Record
		if err := ForEachRecord(rebuilt, func(r Record) error {
			again = append(again, r)
			return nil
		}); err != nil {
			t.Fatalf("ForEachRecord(rebuilt): %v", err)
		}
		equalRecords(t, again, recs)
	})
}

// flatRecord is a record with its absolute timestamp, for comparing the
// contents of two batch sequences whose batch boundaries may differ.
type flatRecord struct {
	ts         int64
	key, value []byte
}

func flatten(t *testing.T, batches []byte) []flatRecord {
	t.Helper()
	var out []flatRecord
	err := Split(batches, func(h BatchHeader, batch []byte) error {
		if _, err := Validate(batch); err != nil {
			t.Fatalf("converted batch does not validate: %v", err)
		}
		return ForEachRecord(batch, func(r Record) error {
			ts := h.FirstTimestamp + r.TimestampDelta
			if h.LogAppendTime() {
				ts = h.MaxTimestamp
			}
			out = append(out, flatRecord{ts, r.Key, r.Value})
			return nil
		})
	})
	if err != nil {
		t.Fatalf("reading converted batches: %v", err)
	}
	return out
}

// FuzzFromLegacy checks, for any input: no panic; failures wrap ErrCorrupt
// or ErrUnsupportedMagic; on success every output batch validates, and
// converting the output to magic 1 with ToLegacy and back with FromLegacy
// gives the same records (timestamps, keys, values, null-ness).
func FuzzFromLegacy(f *testing.F) {
	msgs := legacyTestMsgs()
	f.Add(legacySet(0, 0, msgs))
	f.Add(legacySet(1, 0, msgs))
	f.Add(legacySet(1, legacyAttrLogAppendTime, msgs[:2]))
	for _, c := range codecs {
		inner, _ := Compress(c, legacySet(1, 0, msgs))
		f.Add(appendLegacyMessage(nil, 3, 1, int8(c), 50, nil, inner))
		inner0, _ := Compress(c, legacySet(0, 0, msgs[:2]))
		f.Add(appendLegacyMessage(nil, 1, 0, int8(c), 0, nil, inner0))
	}
	f.Add([]byte{})
	f.Add(seedBatches()[0])
	f.Fuzz(func(t *testing.T, b []byte) {
		out, err := FromLegacy(b)
		wantErrKind(t, err)
		if err != nil {
			return
		}
		first := flatten(t, out)
		legacy, err := ToLegacy(out, 1)
		if err != nil {
			t.Fatalf("ToLegacy of converted batches: %v", err)
		}
		again, err := FromLegacy(legacy)
		if err != nil {
			t.Fatalf("FromLegacy(ToLegacy(x)): %v", err)
		}
		second := flatten(t, again)
		if len(first) != len(second) {
			t.Fatalf("%d records after round trip, want %d", len(second), len(first))
		}
		for i := range first {
			a, z := first[i], second[i]
			if a.ts != z.ts || (a.key == nil) != (z.key == nil) || !bytes.Equal(a.key, z.key) ||
				(a.value == nil) != (z.value == nil) || !bytes.Equal(a.value, z.value) {
				t.Fatalf("record %d: %+v after round trip, want %+v", i, z, a)
			}
		}
	})
}

// benchBatch is a 16 KiB uncompressed batch of 16 records of 1 KiB.
func benchBatch() []byte {
	recs := make([]Record, 16)
	for i := range recs {
		recs[i] = Record{OffsetDelta: int32(i), TimestampDelta: int64(i), Key: []byte("key"), Value: bytes.Repeat([]byte{'x'}, 1000)}
	}
	return BuildBatch(testOptions(), recs)
}

func TestValidateDoesNotAllocate(t *testing.T) {
	b := benchBatch()
	if n := testing.AllocsPerRun(100, func() {
		if _, err := Validate(b); err != nil {
			t.Fatal(err)
		}
	}); n != 0 {
		t.Fatalf("Validate allocates %v per run", n)
	}
}

func BenchmarkValidate(b *testing.B) {
	batch := benchBatch()
	b.SetBytes(int64(len(batch)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Validate(batch); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkForEachRecordZstd(b *testing.B) {
	recs := testRecords(16, 1000)
	opts := testOptions()
	opts.Compression = Zstd
	batch := BuildBatch(opts, recs)
	b.ReportAllocs()
	for b.Loop() {
		if err := ForEachRecord(batch, func(Record) error { return nil }); err != nil {
			b.Fatal(err)
		}
	}
}

// FuzzDecodeMarker: any bytes as a control batch decode or fail, never
// panic, and a built marker decodes to what was built.
func FuzzDecodeMarker(f *testing.F) {
	f.Add(BuildMarker(7, 3, true, 9, 1000))
	f.Add(BuildMarker(1, 0, false, 0, 0))
	f.Fuzz(func(t *testing.T, b []byte) {
		_, _, _ = DecodeMarker(b)
	})
}
