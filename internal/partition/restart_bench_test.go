package partition

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/samsa-io/samsa/internal/log"
)

// TestPartitionOpenTime256MiB measures partition Open (log recovery plus
// producer state) with a 256 MiB active segment of small idempotent batches:
// after a clean shutdown, after an unclean one with the recovery point and
// snapshot Close left, and with neither (the cost every Open had before).
// A benchmark, so that go test never runs it unasked (it writes 256 MiB):
// go test -run '^$' -bench PartitionOpenTime256MiB -benchtime 1x ./internal/partition
func BenchmarkPartitionOpenTime256MiB(b *testing.B) {
	t := b
	dir := t.TempDir()
	cfg := Config{Topic: "t", Dir: dir, MaxMessageBytes: 1 << 20, Log: log.Options{SegmentBytes: 1 << 30, RetentionAge: -1}}
	p, err := Open(cfg)
	if err != nil {
		t.Fatal(err)
	}
	seq := int32(0)
	for p.Size() < 256<<20 {
		if _, err := p.Append(batch(7, 0, seq, 100), time.Now()); err != nil {
			t.Fatal(err)
		}
		seq += 100
	}
	p.Close()
	for range b.N {
		for _, mode := range []string{"clean", "unclean", "unclean, no recovery point or snapshot"} {
			for i := 0; i < 3; i++ {
				cfg.Log.CleanShutdown = mode == "clean"
				if mode == "unclean, no recovery point or snapshot" {
					for _, off := range snapshotFiles(t, dir) {
						os.Remove(filepath.Join(dir, snapshotName(off)))
					}
					os.Remove(filepath.Join(dir, "recovery-point-offset-checkpoint"))
				}
				start := time.Now()
				p, err := Open(cfg)
				if err != nil {
					t.Fatal(err)
				}
				d := time.Since(start)
				st := p.log.Recovery()
				t.Logf("partition open %-40s %10v  validated %3d MiB, producer state from offset %d of %d", mode+":",
					d.Round(time.Microsecond), st.ValidatedBytes>>20, p.stateFrom, p.LogEndOffset())
				p.Close()
			}
		}
	}
}
