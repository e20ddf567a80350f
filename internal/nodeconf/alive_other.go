//go:build !unix

package nodeconf

import "os"

// processAlive says whether process pid still runs.
func processAlive(pid int) bool {
	p, err := os.FindProcess(pid)
	if err != nil {
		return false
	}
	p.Release()
	return true
}
