package log

import (
	"os"

	"golang.org/x/sys/unix"
)

// datasync is fdatasync(2): it flushes the file's data and the metadata
// needed to read it back (its size), but not timestamps, which saves a
// journal commit per append on ext4/xfs. That is all an append-only file
// needs; new files are made durable by the directory fsync (syncDir).
func datasync(f *os.File) error {
	rc, err := f.SyscallConn()
	if err != nil {
		return f.Sync()
	}
	var serr error
	if err := rc.Control(func(fd uintptr) {
		for {
			serr = unix.Fdatasync(int(fd))
			if serr != unix.EINTR {
				return
			}
		}
	}); err != nil {
		return err
	}
	if serr != nil {
		return &os.PathError{Op: "fdatasync", Path: f.Name(), Err: serr}
	}
	return nil
}
