//go:build unix

package broker

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"syscall"
)

// lockFileName is the data directory's lock (on-disk name; do not change).
// Kafka keeps a ".lock" in each log directory for the same reason.
const lockFileName = ".lock"

// lockDataDir takes an exclusive advisory lock on dir, so two brokers never
// share one data directory: they would interleave appends to the same
// segments and, on shutdown, one could mark the other's files clean. The
// lock dies with the process (kill -9 included), so a crash never leaves a
// stale lock behind.
func lockDataDir(dir string) (*os.File, error) {
	path := filepath.Join(dir, lockFileName)
	f, err := os.OpenFile(path, os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return nil, fmt.Errorf("data directory %s: %w", dir, err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			return nil, fmt.Errorf("data directory %s is in use by another samsa process (it holds %s); stop it or choose another --data-dir", dir, path)
		}
		return nil, fmt.Errorf("lock data directory %s: %w", dir, err)
	}
	return f, nil
}

// unlockDataDir releases the lock (closing the file drops the flock).
func unlockDataDir(f *os.File) {
	if f != nil {
		f.Close()
	}
}
