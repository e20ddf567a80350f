package sim

import (
	"bytes"
	"io/fs"
	"testing/fstest"

	"github.com/potluckfm/potluck/cache"
	"github.com/potluckfm/potluck/origin"
	"github.com/potluckfm/potluck/track"
)

// internedStore is a listener's in-memory cache whose chunks are kept as
// slices of the catalogue's own bytes: a chunk that arrives equal to the
// catalogue's is stored as the catalogue's slice, and the fetched copy is
// dropped. What the node stores, reads and serves is the same; the sim's
// memory no longer grows with listeners times the audio each one fetched.
type internedStore struct {
	*cache.Mem
	files map[track.ID]internedFile
}

type internedFile struct {
	m    *track.Manifest
	data []byte
}

// catalogueFiles maps each catalogue track to its file's bytes in lib,
// without copying them (nil if lib is not the sim's in-memory catalogue).
func catalogueFiles(lib fs.FS, entries []*origin.Entry) map[track.ID]internedFile {
	mfs, ok := lib.(fstest.MapFS)
	if !ok {
		return nil
	}
	files := map[track.ID]internedFile{}
	for _, e := range entries {
		if f := mfs[e.Path]; f != nil && int64(len(f.Data)) == e.Manifest.Size {
			files[e.Manifest.ID] = internedFile{m: e.Manifest, data: f.Data}
		}
	}
	return files
}

func (s internedStore) WriteChunk(id track.ID, i int, data []byte) error {
	if f, ok := s.files[id]; ok && i >= 0 && i < f.m.NumChunks() {
		off, n := f.m.ChunkBounds(i)
		if c := f.data[off : off+int64(n) : off+int64(n)]; bytes.Equal(c, data) {
			data = c
		}
	}
	return s.Mem.WriteChunk(id, i, data)
}
