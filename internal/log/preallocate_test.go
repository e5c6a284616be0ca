package log

import (
	"os"
	"path/filepath"
	"testing"
)

func fileSize(t *testing.T, path string) int64 {
	t.Helper()
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	return fi.Size()
}

// With Preallocate the active segment's file runs ahead of its batches;
// readers see only the batches; a roll and Close trim the file to its last
// batch (so a clean restart trusts it), and after a crash recovery trims
// the zeros quietly: nothing counts as lost.
func TestPreallocate(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "t-0")
	o := testOptions()
	o.SegmentBytes = 1 << 20
	o.Preallocate = true
	l := mustOpen(t, dir, o)
	var want [][]byte
	for range 5 {
		b := mkBatch(3, 1000, 100)
		if _, _, err := l.Append(b); err != nil {
			t.Fatal(err)
		}
		want = append(want, b)
	}
	if _, err := l.Flush(); err != nil {
		t.Fatal(err)
	}
	active := filepath.Join(dir, segmentName(0)+logSuffix)
	logical := l.Size()
	if got := fileSize(t, active); got <= logical {
		t.Fatalf("file is %d bytes for %d of batches: not preallocated", got, logical)
	}
	got, err := l.Read(0, l.LogEndOffset(), 1<<20, true)
	if err != nil || int64(len(got)) != logical {
		t.Fatalf("read %d bytes (%v), want %d: readers must stop at the last batch", len(got), err, logical)
	}

	// A crash: the next Open finds zeros past the last batch.
	leo := l.LogEndOffset()
	l.Abandon()
	l = mustOpen(t, dir, o)
	if st := l.Recovery(); st.TruncatedBytes != 0 {
		t.Errorf("recovery reported %d bytes truncated; preallocated zeros are not lost data", st.TruncatedBytes)
	}
	if l.LogEndOffset() != leo || fileSize(t, active) != logical {
		t.Fatalf("after the crash: LEO %d (want %d), file %d bytes (want %d)", l.LogEndOffset(), leo, fileSize(t, active), logical)
	}

	// A roll trims the outgoing segment; Close trims the active one.
	o.SegmentBytes = logical + 200
	l.SetOptions(o)
	for range 3 {
		if _, _, err := l.Append(mkBatch(3, 1000, 100)); err != nil {
			t.Fatal(err)
		}
	}
	if l.NumSegments() < 2 {
		t.Fatalf("%d segments: expected a roll", l.NumSegments())
	}
	if got := fileSize(t, active); got != l.mu.segments[0].size {
		t.Errorf("rolled segment file %d bytes, its batches %d", got, l.mu.segments[0].size)
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	o.CleanShutdown = true
	l = mustOpen(t, dir, o)
	defer l.Close()
	if !l.Recovery().Clean {
		t.Errorf("clean reopen after Close was not trusted: %+v", l.Recovery())
	}
}
