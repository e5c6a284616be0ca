package log

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"
)

func openFDs(t *testing.T) int {
	t.Helper()
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Skipf("no /proc/self/fd here (%v); this counts descriptors on Linux", err)
	}
	return len(ents)
}

// A log holds one open file per segment, its .log: the index files are
// opened only to be written (at roll and Close) or read (at Open). So a
// broker with thousands of partitions stays under the usual 20 000-file
// limit. Reads from every segment still work, and the index files written
// at Close let a clean restart trust them.
func TestOneOpenFilePerSegment(t *testing.T) {
	root := t.TempDir()
	const logs = 200
	o := testOptions() // rolls every ~2000 bytes
	before := openFDs(t)
	ls := make([]*Log, logs)
	segments := 0
	for i := range ls {
		ls[i] = mustOpen(t, filepath.Join(root, fmt.Sprintf("t-%d", i)), o)
		for range 12 {
			if _, _, err := ls[i].Append(mkBatch(4, 1000, 100)); err != nil {
				t.Fatal(err)
			}
		}
		if _, err := ls[i].Flush(); err != nil {
			t.Fatal(err)
		}
		segments += ls[i].NumSegments()
	}
	if segments <= logs {
		t.Fatalf("%d segments for %d logs: the test needs logs with several segments", segments, logs)
	}
	if got := openFDs(t) - before; got > segments+10 {
		t.Errorf("%d logs with %d segments hold %d open files; want about one per segment", logs, segments, got)
	}
	for i, l := range ls {
		for off := int64(0); off < l.LogEndOffset(); off += 4 {
			b, err := l.Read(off, l.LogEndOffset(), 1<<20, true)
			if err != nil || len(b) == 0 {
				t.Fatalf("log %d: read at %d: %d bytes, %v", i, off, len(b), err)
			}
		}
	}
	// Close writes the active segments' index files; a clean reopen finds
	// them whole and agrees with the .log.
	for _, l := range ls {
		if err := l.Close(); err != nil {
			t.Fatal(err)
		}
	}
	o.CleanShutdown = true
	for i := range 5 {
		l := mustOpen(t, filepath.Join(root, fmt.Sprintf("t-%d", i)), o)
		if st := l.Recovery(); !st.Clean || st.TruncatedBytes != 0 || st.ValidatedBytes != 0 {
			t.Errorf("log %d: clean reopen re-validated (%+v): its index files were not trusted", i, st)
		}
		l.Close()
	}
}
