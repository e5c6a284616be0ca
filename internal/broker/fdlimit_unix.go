//go:build unix

package broker

import "syscall"

// openFileLimit is the process's RLIMIT_NOFILE soft limit (Go raises it to
// the hard limit at start), or 0 when unknown or unlimited (RLIM_INFINITY
// is all ones).
func openFileLimit() uint64 {
	var r syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &r); err != nil {
		return 0
	}
	if cur := uint64(r.Cur); cur != ^uint64(0) {
		return cur
	}
	return 0
}
