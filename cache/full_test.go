package cache

import (
	"errors"
	"math"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/potluckfm/potluck/track"
)

// fullDisk is a memory backend on a disk that fills up: writes fail with
// ENOSPC while full is set.
type fullDisk struct {
	*memBackend
	full bool
}

func (b *fullDisk) open(e *entry) (blob, error) {
	f, err := b.memBackend.open(e)
	return fullBlob{f, b}, err
}

type fullBlob struct {
	blob
	d *fullDisk
}

func (f fullBlob) writeAt(b []byte, off int64) error {
	if f.d.full {
		return &os.PathError{Op: "write", Path: "data", Err: syscall.ENOSPC}
	}
	return f.blob.writeAt(b, off)
}

func TestFullDiskIsLoggedOnce(t *testing.T) {
	w := &warnings{}
	be := &fullDisk{memBackend: &memBackend{tracks: make(map[track.ID]*memTrack)}, full: true}
	s := &Mem{core: newCore(be, math.MaxInt64, w.logger(), math.MaxInt)}
	_, priv := originKey(1)
	tt := makeTrack(t, 1, 5*track.DefaultChunkSize, priv)
	if err := s.PutManifest(tt.m, tt.signed); err != nil {
		t.Fatal(err)
	}
	for i := range 3 {
		if err := s.WriteChunk(tt.m.ID, i, tt.chunk(i)); !errors.Is(err, syscall.ENOSPC) {
			t.Fatalf("WriteChunk %d on a full disk: %v", i, err)
		}
	}
	if n := countFull(w); n != 1 {
		t.Fatalf("%d disk-full lines after 3 failed writes, want 1: %q", n, w.list())
	}
	be.full = false
	put(t, s, tt, 3)
	be.full = true
	s.WriteChunk(tt.m.ID, 4, tt.chunk(4))
	if n := countFull(w); n != 2 {
		t.Errorf("%d disk-full lines after the disk filled again, want 2", n)
	}
}

func countFull(w *warnings) int {
	n := 0
	for _, m := range w.list() {
		if strings.Contains(m, "disk is full") {
			n++
		}
	}
	return n
}

func TestOpenDiskErrorsSayCacheOnce(t *testing.T) {
	file := filepath.Join(t.TempDir(), "file")
	if err := os.WriteFile(file, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	key, _ := originKey(1)
	_, err := OpenDisk(file, key, Options{})
	if err == nil || !strings.HasPrefix(err.Error(), "cache: ") || strings.Contains(err.Error(), "cache: cache:") {
		t.Errorf("OpenDisk on a file: %v", err)
	}
}
