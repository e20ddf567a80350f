//go:build unix

package nodeconf

import (
	"errors"
	"syscall"
)

// processAlive says whether process pid still runs.
func processAlive(pid int) bool {
	err := syscall.Kill(pid, 0)
	return err == nil || errors.Is(err, syscall.EPERM)
}
