//go:build linux || darwin || freebsd

package cache

import (
	"errors"
	"fmt"
	"os"
	"syscall"
)

// freeBytes returns the bytes free to unprivileged users on dir's file system.
func freeBytes(dir string) (int64, error) {
	var st syscall.Statfs_t
	if err := syscall.Statfs(dir, &st); err != nil {
		return 0, err
	}
	return int64(uint64(st.Bavail) * uint64(st.Bsize)), nil
}

// lockDir takes an exclusive lock on dir (on the file dir/lock) so that two
// processes never share one cache directory. The kernel drops the lock when
// the process dies, kill -9 included.
func lockDir(dir string) (*os.File, error) {
	f, err := os.OpenFile(dir+"/lock", os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return nil, err
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			return nil, fmt.Errorf("%s is in use by another Potluck process", dir)
		}
		return nil, err
	}
	return f, nil
}
