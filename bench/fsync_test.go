package bench

// The fdatasync probe: what one small durable write costs on the disk that
// holds the brokers' data, the unit that every acks=all produce pays at
// least once. Three ways of writing 1 KiB and then fdatasync, each timed as
// write + fdatasync:
//
//   - append: the file grows by 1 KiB each time (what a log segment does
//     today): the size changes, so the filesystem must commit metadata too;
//   - fallocate: the file was fallocated beforehand (64 MiB of unwritten
//     extents) and is written in place; on ext4 the first write to each
//     block still converts an unwritten extent, which is metadata;
//   - pre-zeroed: the file was filled with zeros and fsynced beforehand and
//     is overwritten in place: only data reaches the disk.
//
// If pre-zeroed is much faster than append, preallocating segment files
// (with written zeros, not just fallocate) would shorten every produce.

import (
	"fmt"
	"os"
	"slices"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

type syncMode string

const (
	syncAppend    syncMode = "append"
	syncFallocate syncMode = "fallocate"
	syncZeroed    syncMode = "pre-zeroed"
)

var syncModes = []syncMode{syncAppend, syncFallocate, syncZeroed}

const syncWriteBytes = 1 << 10 // bytes written before each fdatasync

// syncProbe is the outcome of one probe run.
type syncProbe struct {
	n        int // fdatasync calls timed
	p50, p99 time.Duration
}

// probeFdatasync writes 1 KiB and calls fdatasync n times (or until limit
// has passed) in a new file in dir, prepared according to mode with
// prealloc bytes (fallocate and pre-zeroed; writes wrap around within
// them), and returns percentiles of write + fdatasync.
func probeFdatasync(dir string, mode syncMode, n int, prealloc int64, limit time.Duration) (syncProbe, error) {
	if n < 1 || prealloc < syncWriteBytes {
		return syncProbe{}, fmt.Errorf("probe: n=%d prealloc=%d", n, prealloc)
	}
	f, err := os.CreateTemp(dir, "fdatasync-probe-")
	if err != nil {
		return syncProbe{}, err
	}
	defer os.Remove(f.Name())
	defer f.Close()
	fd := int(f.Fd())

	switch mode {
	case syncAppend:
	case syncFallocate:
		if err := unix.Fallocate(fd, 0, 0, prealloc); err != nil {
			return syncProbe{}, fmt.Errorf("fallocate: %w", err)
		}
	case syncZeroed:
		zeros := make([]byte, 1<<20)
		for off := int64(0); off < prealloc; off += int64(len(zeros)) {
			if _, err := f.WriteAt(zeros[:min(int64(len(zeros)), prealloc-off)], off); err != nil {
				return syncProbe{}, err
			}
		}
	default:
		return syncProbe{}, fmt.Errorf("probe: unknown mode %q", mode)
	}
	// The preparation (and the file's creation) is durable before the
	// first timed write, so it is not charged to that write.
	if err := f.Sync(); err != nil {
		return syncProbe{}, err
	}
	if err := syncDir(dir); err != nil {
		return syncProbe{}, err
	}

	lats := make([]time.Duration, 0, n)
	deadline := time.Now().Add(limit)
	var off int64
	for i := 0; i < n && (i == 0 || time.Now().Before(deadline)); i++ {
		t0 := time.Now()
		if _, err := f.WriteAt(payload[:syncWriteBytes], off); err != nil {
			return syncProbe{}, err
		}
		if err := unix.Fdatasync(fd); err != nil {
			return syncProbe{}, fmt.Errorf("fdatasync: %w", err)
		}
		lats = append(lats, time.Since(t0))
		off += syncWriteBytes
		if mode != syncAppend && off+syncWriteBytes > prealloc {
			off = 0
		}
	}
	slices.Sort(lats)
	return syncProbe{n: len(lats), p50: lats[len(lats)*50/100], p99: lats[len(lats)*99/100]}, nil
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

// TestFdatasyncProbe runs each mode of the probe a few times and checks
// that the numbers are sane (positive, ordered, below a second).
func TestFdatasyncProbe(t *testing.T) {
	dir := t.TempDir()
	for _, mode := range syncModes {
		p, err := probeFdatasync(dir, mode, 10, 64<<10, 10*time.Second)
		if err != nil {
			t.Fatalf("%s: %v", mode, err)
		}
		if p.n != 10 || p.p50 <= 0 || p.p99 < p.p50 || p.p99 > time.Second {
			t.Errorf("%s: %+v", mode, p)
		}
		t.Logf("%-10s n=%d p50=%v p99=%v", mode, p.n, p.p50, p.p99)
	}
	// Writes wrap around within the preallocated bytes.
	if p, err := probeFdatasync(dir, syncZeroed, 5, 2*syncWriteBytes, 10*time.Second); err != nil || p.n != 5 {
		t.Errorf("wrapping probe: %+v, %v", p, err)
	}
	if _, err := probeFdatasync(dir, "bogus", 1, 64<<10, time.Second); err == nil {
		t.Error("unknown mode accepted")
	}
}
