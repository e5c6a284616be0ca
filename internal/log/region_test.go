package log

import (
	"bytes"
	"math/rand/v2"
	"path/filepath"
	"testing"

	"github.com/samsa-io/samsa/internal/record"
)

// ReadRegion locates exactly the bytes Read returns, for any offset,
// bound, budget and minOne, across segments and index entries.
func TestReadRegionMatchesRead(t *testing.T) {
	o := testOptions()
	o.SegmentBytes = 20000
	o.IndexIntervalBytes = 300
	l := mustOpen(t, filepath.Join(t.TempDir(), "t-0"), o)
	defer l.Close()
	rng := rand.New(rand.NewPCG(1, 2))
	for range 300 {
		if _, _, err := l.Append(mkBatch(1+rng.IntN(5), 1000, 10+rng.IntN(400))); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := l.Flush(); err != nil {
		t.Fatal(err)
	}
	leo := l.LogEndOffset()
	if l.NumSegments() < 3 {
		t.Fatalf("%d segments: the test wants several", l.NumSegments())
	}
	for range 3000 {
		offset := rng.Int64N(leo + 1)
		upTo := offset + rng.Int64N(leo-offset+2)
		maxBytes := rng.IntN(6000) - 100
		minOne := rng.IntN(2) == 0
		want, werr := l.Read(offset, upTo, maxBytes, minOne)
		r, err := l.ReadRegion(offset, upTo, maxBytes, minOne)
		if (werr == nil) != (err == nil) {
			t.Fatalf("Read(%d, %d, %d, %v) err %v, ReadRegion err %v", offset, upTo, maxBytes, minOne, werr, err)
		}
		got := make([]byte, r.Len)
		if r.Len > 0 {
			if err := r.ReadInto(got); err != nil {
				t.Fatal(err)
			}
		}
		if !bytes.Equal(got, want) {
			t.Fatalf("Read(%d, %d, %d, %v): %d bytes, region %d bytes at %d", offset, upTo, maxBytes, minOne, len(want), r.Len, r.Pos)
		}
		if len(want) > 0 {
			wantNext := offset
			if err := record.Split(want, func(h record.BatchHeader, _ []byte) error { wantNext = h.NextOffset(); return nil }); err != nil {
				t.Fatal(err)
			}
			if r.Next != wantNext {
				t.Fatalf("Read(%d, %d, %d, %v): region next %d, want %d", offset, upTo, maxBytes, minOne, r.Next, wantNext)
			}
		}
		r.Release()
		r.Release() // idempotent
	}
}
