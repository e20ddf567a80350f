// Package atomicfile writes small files whole or not at all: the settings,
// the session, the playlists, the pinned tracks and the good peers a
// process keeps between runs. A crash or a full disk leaves the old file,
// never half of the new one.
package atomicfile

import (
	"errors"
	"os"
	"path/filepath"
)

// Write replaces the file at path with b (mode 0600), creating its
// directory (0700) if needed. It writes path+".tmp", syncs it and renames
// it over path; on any failure the temporary file is removed and path is
// left as it was. Writers of one path must take turns: the temporary
// file's name is fixed, so that a process killed mid-write leaves at most
// one behind, which the next write replaces.
func Write(path string, b []byte) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return err
	}
	tmp := path + ".tmp"
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return err
	}
	_, err = f.Write(b)
	if err == nil {
		err = f.Sync()
	}
	err = errors.Join(err, f.Close())
	if err == nil {
		err = os.Rename(tmp, path)
	}
	if err != nil {
		os.Remove(tmp)
	}
	return err
}
