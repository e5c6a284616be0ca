package log

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
)

func newTestSyncer(t *testing.T, dir string) *Syncer {
	t.Helper()
	s, err := NewSyncer(dir)
	if err != nil {
		t.Fatal(err)
	}
	if s == nil {
		t.Skip("syncfs(2) with error reporting needs Linux 5.8 or later; this log syncs alone here")
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// Logs flushing at the same moment share rounds: every flush is durable
// (FlushedOffset reaches what was appended before it), and fewer rounds run
// than flushes, some of them one syncfs for several logs.
func TestSyncerSharesRounds(t *testing.T) {
	root := t.TempDir()
	s := newTestSyncer(t, root)
	const logs, appends = 8, 40
	ls := make([]*Log, logs)
	for i := range ls {
		o := testOptions()
		o.SegmentBytes = 1 << 20
		o.Syncer = s
		ls[i] = mustOpen(t, filepath.Join(root, fmt.Sprintf("t-%d", i)), o)
		if ls[i].syncer != s {
			t.Fatalf("log %d on the syncer's filesystem does not use it", i)
		}
		defer ls[i].Close()
	}
	var wg sync.WaitGroup
	for _, l := range ls {
		wg.Go(func() {
			for range appends {
				_, next, err := l.Append(mkBatch(3, 1, 100))
				if err != nil {
					t.Error(err)
					return
				}
				flushed, err := l.Flush()
				if err != nil || flushed < next {
					t.Errorf("flush: %v, flushed %d < appended %d", err, flushed, next)
					return
				}
			}
		})
	}
	wg.Wait()
	rounds, shared := s.Rounds()
	t.Logf("%d flushes in %d rounds, %d of them shared", logs*appends, rounds, shared)
	if rounds == 0 || rounds >= logs*appends || shared == 0 {
		t.Errorf("%d flushes ran %d rounds, %d shared: no round was shared", logs*appends, rounds, shared)
	}
}

// A failed syncfs does not fail everyone: each log then syncs its own
// file, and only the log whose own sync fails gets an error. A successful
// syncfs runs nobody's own sync, but each log's own write-back check.
func TestSyncerAttributesErrors(t *testing.T) {
	s := newTestSyncer(t, t.TempDir())
	var syncfsCalls atomic.Int32
	failSyncfs := atomic.Bool{}
	s.syncfs = func(*os.File) error {
		syncfsCalls.Add(1)
		if failSyncfs.Load() {
			return errors.New("EIO")
		}
		return nil
	}
	errBad := errors.New("bad file")
	// Hold the syncer busy so that the next requests queue into one round.
	run := func(n int, bad int) (errs []error, ownSyncs []int32) {
		errs = make([]error, n)
		own := make([]atomic.Int32, n)
		release := make(chan struct{})
		started := make(chan struct{})
		var wg sync.WaitGroup
		wg.Go(func() { // occupies a round until released
			s.Sync(func() error { close(started); <-release; return nil }, nil, nil)
		})
		<-started
		for i := range n {
			wg.Go(func() {
				_, errs[i] = s.Sync(func() error {
					own[i].Add(1)
					if i == bad {
						return errBad
					}
					return nil
				}, nil, func() error {
					if i == bad {
						return errBad
					}
					return nil
				})
			})
		}
		// Wait until all n are queued behind the busy round.
		for {
			s.mu.Lock()
			q := len(s.queue)
			s.mu.Unlock()
			if q == n {
				break
			}
			runtime.Gosched()
		}
		close(release)
		wg.Wait()
		ownSyncs = make([]int32, n)
		for i := range own {
			ownSyncs[i] = own[i].Load()
		}
		return errs, ownSyncs
	}

	errs, own := run(4, -1)
	for i := range errs {
		if errs[i] != nil || own[i] != 0 {
			t.Errorf("syncfs succeeded: log %d err %v, own syncs %d; want nil, 0", i, errs[i], own[i])
		}
	}
	if syncfsCalls.Load() != 1 {
		t.Errorf("%d syncfs calls for one shared round", syncfsCalls.Load())
	}
	// A log whose pages failed write-back (its file's own error cursor
	// says so) fails even though syncfs succeeded: its error may have been
	// consumed by an earlier syncfs.
	errs, own = run(4, 1)
	for i := range errs {
		if (i == 1) != errors.Is(errs[i], errBad) || own[i] != 0 {
			t.Errorf("syncfs succeeded, log 1 lost pages: log %d err %v, own syncs %d", i, errs[i], own[i])
		}
	}

	failSyncfs.Store(true)
	errs, own = run(4, 2)
	for i := range errs {
		want := error(nil)
		if i == 2 {
			want = errBad
		}
		if !errors.Is(errs[i], want) || errs[i] != nil && want == nil || own[i] != 1 {
			t.Errorf("syncfs failed: log %d err %v, own syncs %d; want %v, 1", i, errs[i], own[i], want)
		}
	}
}

func TestReleaseAtLeast(t *testing.T) {
	tests := []struct {
		release string
		want    bool
	}{
		{"6.18.44-fc-v1252", true},
		{"5.8.0", true},
		{"5.10.0-21-amd64", true},
		{"5.7.19", false},
		{"4.19.0", false},
		{"garbage", false},
		{"", false},
	}
	for _, tt := range tests {
		if got := releaseAtLeast(tt.release, 5, 8); got != tt.want {
			t.Errorf("releaseAtLeast(%q, 5, 8) = %v, want %v", tt.release, got, tt.want)
		}
	}
}
