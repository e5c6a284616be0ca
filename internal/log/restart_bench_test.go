package log

import (
	"os"
	"path/filepath"
	"testing"
	"time"
)

// buildActiveSegment fills dir with one active segment of about size bytes
// (16 KiB batches of 100 records) and closes the log.
func buildActiveSegment(tb testing.TB, dir string, size int64) {
	tb.Helper()
	o := testOptions()
	o.SegmentBytes = 1 << 30
	o.IndexIntervalBytes = DefaultIndexIntervalBytes
	l := mustOpen(tb, dir, o)
	b := mkBatch(100, 1_700_000_000_000, 150)
	for l.Size() < size {
		if _, _, err := l.Append(append([]byte(nil), b...)); err != nil {
			tb.Fatal(err)
		}
	}
	if err := l.Close(); err != nil {
		tb.Fatal(err)
	}
}

// TestOpenTime256MiB measures Open of a partition whose active segment holds
// 256 MiB, three ways: a clean restart (marker honoured), an unclean one with
// the recovery point at the end (what Close or the periodic checkpoint
// leaves), and an unclean one without a recovery point (every batch
// validated, as every Open did before recovery points). Set
// A benchmark, so that go test never runs it unasked (it writes 256 MiB):
// go test -run '^$' -bench OpenTime256MiB -benchtime 1x ./internal/log
func BenchmarkOpenTime256MiB(b *testing.B) {
	t := b
	dir := t.TempDir()
	buildActiveSegment(t, dir, 256<<20)
	o := testOptions()
	o.SegmentBytes = 1 << 30
	o.IndexIntervalBytes = DefaultIndexIntervalBytes
	for range b.N {
		for _, mode := range []string{"clean", "unclean, recovery point at end", "unclean, no recovery point"} {
			for i := 0; i < 3; i++ {
				o.CleanShutdown = mode == "clean"
				if mode == "unclean, no recovery point" {
					if err := os.Remove(filepath.Join(dir, recoveryPointFile)); err != nil && !os.IsNotExist(err) {
						t.Fatal(err)
					}
				}
				start := time.Now()
				l := mustOpen(t, dir, o)
				d := time.Since(start)
				st := l.Recovery()
				t.Logf("open %-32s %10v  validated %4d MiB, headers %4d MiB", mode+":", d.Round(time.Microsecond),
					st.ValidatedBytes>>20, st.HeaderOnlyBytes>>20)
				if err := l.Close(); err != nil {
					t.Fatal(err)
				}
			}
		}
	}
}
