package api

import (
	"errors"
	"io/fs"
	"syscall"
)

// isStorageError reports I/O faults of the log (a full disk, a failed
// fsync, a read error): the partition answers KAFKA_STORAGE_ERROR, which
// clients treat as retriable, and nothing acknowledged is lost.
func isStorageError(err error) bool {
	var pe *fs.PathError
	return errors.Is(err, syscall.ENOSPC) || errors.Is(err, syscall.EIO) || errors.Is(err, syscall.EDQUOT) || errors.As(err, &pe)
}
