package log

import (
	"os"

	"golang.org/x/sys/unix"
)

// syncfsSupported: syncfs(2) reports writeback errors only since Linux 5.8
// (before, it returned success after an I/O error had dropped pages, which
// would acknowledge lost records), so older kernels keep one fdatasync per
// log.
var syncfsSupported = kernelAtLeast(5, 8)

// kernelAtLeast reports whether the running kernel's release is at least
// major.minor.
func kernelAtLeast(major, minor int) bool {
	var u unix.Utsname
	if err := unix.Uname(&u); err != nil {
		return false
	}
	return releaseAtLeast(unix.ByteSliceToString(u.Release[:]), major, minor)
}

// syncfs is syncfs(2) on the filesystem holding d.
func syncfs(d *os.File) error {
	rc, err := d.SyscallConn()
	if err != nil {
		return err
	}
	var serr error
	if err := rc.Control(func(fd uintptr) {
		for {
			serr = unix.Syncfs(int(fd))
			if serr != unix.EINTR {
				return
			}
		}
	}); err != nil {
		return err
	}
	if serr != nil {
		return &os.PathError{Op: "syncfs", Path: d.Name(), Err: serr}
	}
	return nil
}

// deviceOf returns the device number of the filesystem holding f.
func deviceOf(f *os.File) (uint64, error) {
	var st unix.Stat_t
	if err := unix.Fstat(int(f.Fd()), &st); err != nil {
		return 0, &os.PathError{Op: "fstat", Path: f.Name(), Err: err}
	}
	return uint64(st.Dev), nil
}

// writebackError reports a write-back error of f's data since f last
// reported one (sync_file_range(2) with SYNC_FILE_RANGE_WAIT_AFTER: since
// Linux 4.15 it checks the open file's own error cursor, as fdatasync does,
// but starts no I/O and no journal commit). After a syncfs wrote everything
// back, it tells whether this file's pages made it.
func writebackError(f *os.File) error {
	rc, err := f.SyscallConn()
	if err != nil {
		return err
	}
	var serr error
	if err := rc.Control(func(fd uintptr) {
		for {
			serr = unix.SyncFileRange(int(fd), 0, 0, unix.SYNC_FILE_RANGE_WAIT_AFTER)
			if serr != unix.EINTR {
				return
			}
		}
	}); err != nil {
		return err
	}
	if serr != nil {
		return &os.PathError{Op: "sync_file_range", Path: f.Name(), Err: serr}
	}
	return nil
}

// fallocate reserves [off, off+n) of f, growing its size (mode 0).
func fallocate(f *os.File, off, n int64) error {
	rc, err := f.SyscallConn()
	if err != nil {
		return err
	}
	var ferr error
	if err := rc.Control(func(fd uintptr) {
		for {
			ferr = unix.Fallocate(int(fd), 0, off, n)
			if ferr != unix.EINTR {
				return
			}
		}
	}); err != nil {
		return err
	}
	return ferr
}
