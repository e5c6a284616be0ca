package partition

import (
	"slices"
	"testing"
)

// FuzzDecodeEpochCheckpoint: the leader-epoch checkpoint decoder never
// panics, and whatever it accepts re-encodes to the same entries.
func FuzzDecodeEpochCheckpoint(f *testing.F) {
	f.Add([]byte("0\n2\n0 0\n3 100\n"))
	f.Add([]byte("0\n0\n"))
	f.Add([]byte("0\n999999999\n1 1\n"))
	f.Add([]byte("1\n1\n0 0\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		es, err := decodeEpochCheckpoint(b)
		if err != nil {
			return
		}
		again, err := decodeEpochCheckpoint(encodeEpochCheckpoint(es))
		if err != nil || !slices.Equal(again, es) {
			t.Fatalf("re-encoding %v gave %v, %v", es, again, err)
		}
	})
}

func TestEpochCache(t *testing.T) {
	c := &epochCache{dir: t.TempDir()}
	for _, a := range []struct {
		epoch int32
		off   int64
		want  bool
	}{{0, 0, true}, {0, 5, false}, {2, 10, true}, {1, 12, false}, {4, 20, true}} {
		if got := c.assign(a.epoch, a.off); got != a.want {
			t.Errorf("assign(%d, %d) = %v, want %v", a.epoch, a.off, got, a.want)
		}
	}
	for _, q := range []struct {
		req        int32
		wantEpoch  int32
		wantOffset int64
	}{
		{4, 4, 30},  // the latest epoch ends at the log end
		{3, 2, 20},  // between entries: the largest epoch below, ending where the next starts
		{2, 2, 20},  // an older epoch ends where the next starts
		{5, -1, -1}, // newer than ours: unknown
		{-1, -1, -1},
	} {
		e, o := c.endOffsetFor(q.req, 30)
		if e != q.wantEpoch || o != q.wantOffset {
			t.Errorf("endOffsetFor(%d) = %d, %d; want %d, %d", q.req, e, o, q.wantEpoch, q.wantOffset)
		}
	}
	// A truncation drops the epochs that started at or after it.
	if !c.truncateFromEnd(15) {
		t.Fatal("truncateFromEnd(15) changed nothing")
	}
	if l, _ := c.latest(); l.Epoch != 2 {
		t.Fatalf("latest after truncation: %+v", l)
	}
	// A new epoch starting below existing entries replaces them (a tail
	// that was truncated and rewritten).
	c.assign(5, 5)
	if es := c.entriesCopy(); len(es) != 2 || es[1] != (epochEntry{5, 5}) {
		t.Fatalf("entries %v", es)
	}
	if err := c.write(); err != nil {
		t.Fatal(err)
	}
	back, err := loadEpochCache(c.dir)
	if err != nil || !slices.Equal(back.entries, c.entries) {
		t.Fatalf("reloaded %v, %v; wrote %v", back.entries, err, c.entries)
	}
}
