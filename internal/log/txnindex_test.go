package log

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"testing"
)

func encodeTxnEntries(es ...AbortedTxn) []byte {
	var b []byte
	for _, e := range es {
		b = appendTxnEntry(b, e)
	}
	return b
}

// TestDecodeTxnIndex: whole, ordered entries inside the segment decode;
// entries past its end and a partial last entry are dropped; anything else
// is errBadTxnIndex.
func TestDecodeTxnIndex(t *testing.T) {
	e1 := AbortedTxn{ProducerID: 1, FirstOffset: 95, LastOffset: 102, LastStableOffset: 103}
	e2 := AbortedTxn{ProducerID: 2, FirstOffset: 100, LastOffset: 110, LastStableOffset: 96}
	good := encodeTxnEntries(e1, e2)
	tests := []struct {
		name        string
		b           []byte
		next        int64
		want        []AbortedTxn
		wantDropped int
		wantErr     bool
	}{
		{"empty", nil, 200, []AbortedTxn{}, 0, false},
		{"two entries", good, 200, []AbortedTxn{e1, e2}, 0, false},
		{"second past the end", good, 105, []AbortedTxn{e1}, 1, false},
		{"torn last entry", good[:len(good)-5], 200, []AbortedTxn{e1}, 1, false},
		{"bad version", append([]byte{0, 1}, good[2:]...), 200, nil, 0, true},
		{"out of order", encodeTxnEntries(e2, e1), 200, nil, 0, true},
		{"marker before the segment", encodeTxnEntries(AbortedTxn{ProducerID: 1, FirstOffset: 10, LastOffset: 20, LastStableOffset: 21}), 200, nil, 0, true},
		{"first not below last", encodeTxnEntries(AbortedTxn{ProducerID: 1, FirstOffset: 120, LastOffset: 120, LastStableOffset: 121}), 200, nil, 0, true},
		{"lso past the marker", encodeTxnEntries(AbortedTxn{ProducerID: 1, FirstOffset: 100, LastOffset: 120, LastStableOffset: 122}), 200, nil, 0, true},
		{"zeros", make([]byte, 2*txnEntrySize), 200, nil, 0, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, dropped, err := decodeTxnIndex(tt.b, 100, tt.next)
			if tt.wantErr {
				if !errors.Is(err, errBadTxnIndex) {
					t.Fatalf("err = %v, want errBadTxnIndex", err)
				}
				return
			}
			if err != nil || !reflect.DeepEqual(got, tt.want) || dropped != tt.wantDropped {
				t.Fatalf("decode = %+v, %d dropped, %v; want %+v, %d", got, dropped, err, tt.want, tt.wantDropped)
			}
		})
	}
}

// FuzzDecodeTxnIndex checks, for any input: no panic; no more entries than
// whole 34-byte records in the input; what decodes is strictly increasing
// by LastOffset, inside [base, next), with FirstOffset < LastOffset; and
// re-encoding it gives back the input's prefix.
func FuzzDecodeTxnIndex(f *testing.F) {
	f.Add(encodeTxnEntries(AbortedTxn{ProducerID: 1, FirstOffset: 95, LastOffset: 102, LastStableOffset: 103}), int64(100), int64(200))
	f.Add([]byte{}, int64(0), int64(0))
	f.Add(bytes.Repeat([]byte{0xff}, 40), int64(0), int64(1<<62))
	f.Fuzz(func(t *testing.T, b []byte, base, next int64) {
		es, _, err := decodeTxnIndex(b, base, next)
		if err != nil {
			if !errors.Is(err, errBadTxnIndex) {
				t.Fatalf("error %v is not errBadTxnIndex", err)
			}
			return
		}
		if len(es) > len(b)/txnEntrySize {
			t.Fatalf("%d entries from %d bytes", len(es), len(b))
		}
		for i, e := range es {
			if e.LastOffset < base || e.LastOffset >= next || e.FirstOffset >= e.LastOffset || (i > 0 && e.LastOffset <= es[i-1].LastOffset) {
				t.Fatalf("entry %d %+v in [%d, %d)", i, e, base, next)
			}
		}
		if re := encodeTxnEntries(es...); !bytes.Equal(re, b[:len(re)]) {
			t.Fatalf("re-encoding differs")
		}
	})
}

// TestAbortedTxnsCollect: AppendAbortedTxn is idempotent per marker,
// AbortedTxns filters by overlap and stops at an entry whose LSO reaches
// the upper bound, entries survive a reopen, and a segment deleted by
// DeleteRecords takes its .txnindex with it.
func TestAbortedTxnsCollect(t *testing.T) {
	dir := t.TempDir()
	l := mustOpen(t, dir, testOptions())
	for range 10 {
		if _, _, err := l.Append(mkBatch(1, 1, 10)); err != nil {
			t.Fatal(err)
		}
	}
	forceRoll(t, l)
	for range 10 {
		if _, _, err := l.Append(mkBatch(1, 1, 10)); err != nil {
			t.Fatal(err)
		}
	}
	a := AbortedTxn{ProducerID: 1, FirstOffset: 2, LastOffset: 5, LastStableOffset: 3}
	b := AbortedTxn{ProducerID: 2, FirstOffset: 3, LastOffset: 8, LastStableOffset: 9}
	c := AbortedTxn{ProducerID: 3, FirstOffset: 12, LastOffset: 14, LastStableOffset: 15}
	for _, e := range []AbortedTxn{a, b, c, b} {
		if err := l.AppendAbortedTxn(e); err != nil {
			t.Fatal(err)
		}
	}
	if err := l.AppendAbortedTxn(AbortedTxn{ProducerID: 1, FirstOffset: 1, LastOffset: 50, LastStableOffset: 2}); !errors.Is(err, ErrOffsetOutOfRange) {
		t.Fatalf("entry past the log end: %v", err)
	}
	check := func(l *Log) {
		t.Helper()
		tests := []struct {
			from, upTo int64
			want       []AbortedTxn
		}{
			{0, 100, []AbortedTxn{a, b, c}},
			{0, 3, []AbortedTxn{a}},      // b starts at 3: not below the bound
			{6, 100, []AbortedTxn{b, c}}, // a's marker is below 6
			{0, 9, []AbortedTxn{a, b}},   // b's LSO (9) reaches the bound: stop
			{15, 100, []AbortedTxn(nil)}, // past every marker
			{13, 14, []AbortedTxn{c}},    // in the second segment
		}
		for _, tt := range tests {
			if got := l.AbortedTxns(tt.from, tt.upTo); !reflect.DeepEqual(got, tt.want) {
				t.Errorf("AbortedTxns(%d, %d) = %+v, want %+v", tt.from, tt.upTo, got, tt.want)
			}
		}
	}
	check(l)
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	l = mustOpen(t, dir, testOptions())
	defer l.Close()
	check(l)
	first := filepath.Join(dir, segmentName(0)+txnIndexSuffix)
	if _, err := os.Stat(first); err != nil {
		t.Fatalf("first segment's txnindex: %v", err)
	}
	if err := l.SetLogStartOffset(10); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(first); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("txnindex of a deleted segment: %v", err)
	}
	if got := l.AbortedTxns(10, 100); !reflect.DeepEqual(got, []AbortedTxn{c}) {
		t.Fatalf("after DeleteRecords: %+v", got)
	}
}

// TestTxnIndexDamageReported: Open resets a damaged index and reports its
// segment once, for the partition to rebuild.
func TestTxnIndexDamageReported(t *testing.T) {
	dir := t.TempDir()
	l := mustOpen(t, dir, testOptions())
	for range 5 {
		if _, _, err := l.Append(mkBatch(1, 1, 10)); err != nil {
			t.Fatal(err)
		}
	}
	if err := l.AppendAbortedTxn(AbortedTxn{ProducerID: 1, FirstOffset: 1, LastOffset: 3, LastStableOffset: 4}); err != nil {
		t.Fatal(err)
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, segmentName(0)+txnIndexSuffix), bytes.Repeat([]byte{7}, txnEntrySize), 0o644); err != nil {
		t.Fatal(err)
	}
	l = mustOpen(t, dir, testOptions())
	defer l.Close()
	if from, ok := l.TxnIndexRebuildFrom(); !ok || from != 0 {
		t.Fatalf("TxnIndexRebuildFrom = %d, %v; want 0, true", from, ok)
	}
	if _, ok := l.TxnIndexRebuildFrom(); ok {
		t.Fatal("damage reported twice")
	}
	if got := l.AbortedTxns(0, 100); len(got) != 0 {
		t.Fatalf("entries of a damaged index served: %+v", got)
	}
}
