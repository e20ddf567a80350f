//go:build !(linux || darwin || freebsd)

package cache

import (
	"errors"
	"os"
)

func freeBytes(string) (int64, error) {
	return 0, errors.New("measuring free disk space is not supported on this system")
}

// lockDir is a no-op here: only one process should use a cache directory.
func lockDir(dir string) (*os.File, error) { return nil, nil }
