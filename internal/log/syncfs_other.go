//go:build !linux

package log

import (
	"errors"
	"os"
)

// Only Linux has syncfs(2): elsewhere every log syncs its own files.
const syncfsSupported = false

var errNoSyncfs = errors.New("syncfs is only available on Linux")

func syncfs(*os.File) error { return errNoSyncfs }

func deviceOf(*os.File) (uint64, error) { return 0, errNoSyncfs }

func writebackError(*os.File) error { return errNoSyncfs }

func fallocate(*os.File, int64, int64) error { return errNoSyncfs }
