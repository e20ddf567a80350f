//go:build !unix

package single

import "os"

// lockFile has no lock where flock is missing: a second instance then
// fails later, on the cache's own lock.
func lockFile(path string) (*os.File, error) {
	return os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
}
