//go:build !unix

package broker

import "os"

// lockDataDir is a no-op where flock(2) does not exist.
func lockDataDir(string) (*os.File, error) { return nil, nil }

func unlockDataDir(*os.File) {}
