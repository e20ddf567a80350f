package cache

import (
	"crypto/ed25519"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/potluckfm/potluck/track"
)

// Names inside the cache directory; see docs/cache.md.
const (
	manifestFile = "manifest" // the signed manifest bytes; its mtime is the last use
	dataFile     = "data"     // the track's bytes at their offsets, sparse
	haveFile     = "have"     // the bitfield, 1 bit per chunk
	trashDir     = ".trash"   // evicted tracks, renamed here before removal
	tmpPrefix    = ".tmp-"    // tracks being created
)

// maxOpenTracks bounds the tracks whose files a Disk keeps open (two files
// each); others are opened again when needed.
const maxOpenTracks = 64

// Options tune OpenDisk.
type Options struct {
	// Limit is the most bytes of chunks to hold; 0 means DefaultLimit.
	Limit int64
	// Logger receives what the store repairs or drops; nil discards.
	Logger *slog.Logger
}

// Disk is the Store on disk, in a directory of its own, used by one process
// at a time. It survives the process being killed at any instant: after a
// restart it holds every chunk whose WriteChunk returned nil, and never
// returns bytes that do not match their hash.
type Disk struct {
	core
	dir  string
	key  ed25519.PublicKey
	lock *os.File
}

// OpenDisk opens (creating if need be) the cache in dir. Manifests are
// verified against originKey when stored and again on opening; a track that
// fails is removed. If the limit is below what the directory holds, least
// recently used tracks are evicted at once.
func OpenDisk(dir string, originKey ed25519.PublicKey, opts Options) (*Disk, error) {
	if opts.Limit < 0 {
		return nil, fmt.Errorf("cache: negative size limit %d", opts.Limit)
	}
	if err := os.MkdirAll(filepath.Join(dir, trashDir), 0o755); err != nil {
		return nil, fmt.Errorf("cache: %w", err)
	}
	lock, err := lockDir(dir)
	if err != nil {
		return nil, fmt.Errorf("cache: %w", err)
	}
	be := &diskBackend{dir: dir}
	d := &Disk{dir: dir, key: originKey, lock: lock}
	d.core = newCore(be, opts.Limit, opts.Logger, maxOpenTracks)
	be.log = d.log

	if err := d.load(); err != nil {
		d.Close()
		return nil, err
	}
	if d.limit == 0 {
		if d.limit, err = defaultLimit(dir, d.used); err != nil {
			d.limit = fallbackLimit
			d.log.Warn("cache: using the fallback size limit", "limit", d.limit, "err", err)
		}
	}
	d.mu.Lock()
	trash, err := d.makeRoom(nil, 0)
	d.mu.Unlock()
	for _, finish := range trash {
		finish()
	}
	if err != nil {
		d.Close()
		return nil, err
	}
	d.log.Info("cache: opened", "dir", dir, "tracks", len(d.tracks), "used", d.used, "limit", d.limit)
	return d, nil
}

// load clears what a crash left half done and reads every track.
func (d *Disk) load() error {
	ents, err := os.ReadDir(d.dir)
	if err != nil {
		return fmt.Errorf("cache: %w", err)
	}
	var ids []track.ID
	for _, de := range ents {
		name := de.Name()
		p := filepath.Join(d.dir, name)
		if strings.HasPrefix(name, tmpPrefix) {
			d.log.Debug("cache: removing an unfinished track", "dir", p)
			os.RemoveAll(p)
			continue
		}
		if id, err := track.ParseID(name); err == nil && de.IsDir() {
			ids = append(ids, id)
		} // else the lock, the trash, or not ours
	}

	// Verifying a manifest costs about a millisecond: use every core.
	loaded := make([]*entry, len(ids))
	errs := make([]error, len(ids))
	var next atomic.Int64
	var wg sync.WaitGroup
	for range min(runtime.GOMAXPROCS(0), len(ids)) {
		wg.Go(func() {
			for k := int(next.Add(1) - 1); k < len(ids); k = int(next.Add(1) - 1) {
				loaded[k], errs[k] = d.loadTrack(ids[k])
			}
		})
	}
	wg.Wait()
	for k, id := range ids {
		if errs[k] != nil {
			d.log.Warn("cache: removing an invalid track", "track", id, "err", errs[k])
			d.be.remove(id)()
			continue
		}
		d.add(loaded[k])
	}

	trash := filepath.Join(d.dir, trashDir)
	if old, _ := os.ReadDir(trash); len(old) > 0 {
		d.log.Debug("cache: emptying the trash", "entries", len(old))
		for _, o := range old {
			os.RemoveAll(filepath.Join(trash, o.Name()))
		}
	}
	return nil
}

func (d *Disk) loadTrack(id track.ID) (*entry, error) {
	p := filepath.Join(d.dir, id.String())
	signed, err := os.ReadFile(filepath.Join(p, manifestFile))
	if err != nil {
		return nil, err
	}
	m, err := track.Open(signed, d.key)
	if err != nil {
		return nil, err
	}
	if m.ID != id {
		return nil, fmt.Errorf("manifest is for track %s", m.ID)
	}
	st, err := os.Stat(filepath.Join(p, manifestFile))
	if err != nil {
		return nil, err
	}
	if ds, err := os.Stat(filepath.Join(p, dataFile)); err != nil {
		return nil, err
	} else if ds.Size() != m.Size {
		return nil, fmt.Errorf("data file is %d bytes, want %d", ds.Size(), m.Size)
	}
	bits, err := os.ReadFile(filepath.Join(p, haveFile))
	if err != nil {
		return nil, err
	}
	if len(bits) != len(NewBitfield(m.NumChunks())) {
		return nil, fmt.Errorf("have file is %d bytes, want %d", len(bits), len(NewBitfield(m.NumChunks())))
	}
	e := &entry{id: id, m: m, bits: bits, lastUsed: st.ModTime().Round(0)}
	e.bits.trim(m.NumChunks())
	for i := range m.NumChunks() {
		if e.bits.Has(i) {
			_, n := m.ChunkBounds(i)
			e.held++
			e.bytes += int64(n)
		}
	}
	return e, nil
}

// PutManifest stores a manifest and its signed bytes, after checking that
// the bytes are signed by the origin key and are this manifest. Idempotent.
func (d *Disk) PutManifest(m *track.Manifest, signed []byte) error {
	if m == nil {
		return errors.New("cache: nil manifest")
	}
	d.mu.Lock()
	held := d.tracks[m.ID] != nil
	d.mu.Unlock()
	if held {
		return nil
	}
	vm, err := track.Open(signed, d.key)
	if err != nil {
		return fmt.Errorf("cache: %w", err)
	}
	if vm.ID != m.ID {
		return fmt.Errorf("cache: %w: signed bytes are for track %s, not %s", track.ErrBadManifest, vm.ID, m.ID)
	}
	return d.put(vm, signed)
}

// Close closes the store's files and releases the directory. Operations in
// flight fail with ErrClosed; nothing written is lost.
func (d *Disk) Close() error {
	err := d.shut()
	if d.lock != nil {
		err = errors.Join(err, d.lock.Close())
		d.lock = nil
	}
	return err
}

// diskBackend keeps each track in DIR/<id hex>/{manifest,data,have}.
type diskBackend struct {
	dir   string
	log   *slog.Logger
	trash atomic.Uint64 // names entries in the trash
}

func (b *diskBackend) path(id track.ID, name string) string {
	return filepath.Join(b.dir, id.String(), name)
}

// create builds the track in a temporary directory and renames it into
// place: to any process, a track directory is complete or absent.
func (b *diskBackend) create(m *track.Manifest, signed []byte, lastUsed time.Time) (err error) {
	tmp, err := os.MkdirTemp(b.dir, tmpPrefix)
	if err != nil {
		return err
	}
	defer func() {
		if err != nil {
			os.RemoveAll(tmp)
		}
	}()
	if err := writeFile(filepath.Join(tmp, dataFile), nil, m.Size); err != nil {
		return err
	}
	if err := writeFile(filepath.Join(tmp, haveFile), NewBitfield(m.NumChunks()), 0); err != nil {
		return err
	}
	mf := filepath.Join(tmp, manifestFile)
	if err := writeFile(mf, signed, 0); err != nil {
		return err
	}
	if err := os.Chtimes(mf, lastUsed, lastUsed); err != nil {
		return err
	}
	final := filepath.Join(b.dir, m.ID.String())
	if _, err := os.Lstat(final); err == nil {
		b.remove(m.ID)() // left over from a failed eviction
	}
	return os.Rename(tmp, final)
}

// writeFile creates name holding b, extended (sparsely) to size. There is no
// fsync: a power loss may leave a track directory with missing or short
// files, which OpenDisk drops (see docs/cache.md).
func writeFile(name string, b []byte, size int64) error {
	f, err := os.OpenFile(name, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o644)
	if err != nil {
		return err
	}
	_, err = f.Write(b)
	if err == nil && size > 0 {
		err = f.Truncate(size)
	}
	return errors.Join(err, f.Close())
}

func (b *diskBackend) open(e *entry) (blob, error) {
	data, err := os.OpenFile(b.path(e.id, dataFile), os.O_RDWR, 0)
	if err != nil {
		return nil, err
	}
	have, err := os.OpenFile(b.path(e.id, haveFile), os.O_RDWR, 0)
	if err != nil {
		data.Close()
		return nil, err
	}
	return &diskBlob{data: data, have: have}, nil
}

// remove renames the track's directory into the trash, which takes it away
// in one step, and returns the func that deletes it.
func (b *diskBackend) remove(id track.ID) func() {
	dir := filepath.Join(b.dir, id.String())
	gone := filepath.Join(b.dir, trashDir, fmt.Sprintf("%s-%d", id, b.trash.Add(1)))
	if err := os.Rename(dir, gone); err != nil {
		// Without the bitfield nothing of the track is served, and a
		// restart drops what is left.
		b.log.Warn("cache: cannot move a track to the trash", "track", id, "err", err)
		os.Remove(filepath.Join(dir, haveFile))
		gone = dir
	}
	return func() {
		if err := os.RemoveAll(gone); err != nil {
			b.log.Warn("cache: removing an evicted track", "track", id, "err", err)
		}
	}
}

func (b *diskBackend) signed(id track.ID) ([]byte, error) {
	return os.ReadFile(b.path(id, manifestFile))
}

func (b *diskBackend) touch(id track.ID, t time.Time) {
	if err := os.Chtimes(b.path(id, manifestFile), t, t); err != nil && !errors.Is(err, os.ErrNotExist) {
		b.log.Warn("cache: recording last use", "track", id, "err", err)
	}
}

// diskBlob is a track's open data and have files.
type diskBlob struct {
	data, have *os.File
}

func (f *diskBlob) writeAt(b []byte, off int64) error {
	_, err := f.data.WriteAt(b, off)
	return err
}

func (f *diskBlob) readAt(b []byte, off int64) error {
	_, err := f.data.ReadAt(b, off)
	return err
}

// persist writes the byte of the bitfield holding bit k*8. The data writes
// it vouches for have returned, so the kernel already holds their bytes: a
// killed process cannot leave the bit without the data.
func (f *diskBlob) persist(bits Bitfield, k int) error {
	_, err := f.have.WriteAt(bits[k:k+1], int64(k))
	return err
}

func (f *diskBlob) close() error {
	return errors.Join(f.data.Close(), f.have.Close())
}
