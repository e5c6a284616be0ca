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
