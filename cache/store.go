package cache

import (
	"cmp"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/potluckfm/potluck/track"
)

// Store is what the swarm needs from a cache; Disk and Mem implement it.
// All methods are safe for concurrent use.
type Store interface {
	// Manifest returns the verified manifest and its signed bytes, if held.
	Manifest(id track.ID) (*track.Manifest, []byte, bool)
	// PutManifest stores a manifest the caller has verified (track.Open).
	// Idempotent.
	PutManifest(m *track.Manifest, signed []byte) error
	// ReadChunk returns chunk i, verified against the manifest; an error
	// wrapping ErrNotHeld if it is not held.
	ReadChunk(id track.ID, i int) ([]byte, error)
	// WriteChunk stores chunk i. The store verifies it (an error wrapping
	// track.ErrBadChunk if it does not match) and requires PutManifest first
	// (ErrNoManifest). It may evict other tracks to make room, and returns
	// ErrFull if the limit cannot be kept because everything else is pinned.
	WriteChunk(id track.ID, i int, data []byte) error
	// Have returns a copy of the bitfield of chunks held (nil if the track
	// is unknown).
	Have(id track.ID) Bitfield
	// Tracks lists the tracks held, most recently used first.
	Tracks() []TrackState
	// Pin keeps id from eviction until the returned func is called. Pins
	// count, may come before the track's manifest, and calling the func
	// more than once is harmless.
	Pin(id track.ID) (unpin func())
	// Touch marks id as just played (LRU order).
	Touch(id track.ID)
	// Usage returns the bytes of chunks held and the limit.
	Usage() (used, limit int64)
	// Subscribe returns a channel that receives a value whenever a track's
	// content changes: a chunk added or dropped, or a track evicted. Sends
	// never block and coalesce (the channel has a buffer of 1), so a reader
	// should look at Tracks or Have afresh on each value. The channel is
	// closed when the store is closed.
	Subscribe() <-chan struct{}
}

// TrackState describes one track in a store.
type TrackState struct {
	ID       track.ID
	Chunks   int       // chunks in the track
	Held     int       // chunks held
	Bytes    int64     // bytes of the chunks held
	LastUsed time.Time // last Touch (or PutManifest)
	Pinned   bool
}

// Errors a Store returns. Callers branch on them with errors.Is.
var (
	// ErrNotHeld: the chunk (or its track) is not in the store.
	ErrNotHeld = errors.New("cache: chunk not held")
	// ErrCorrupt: a held chunk did not read back whole and matching its
	// hash (disk corruption, or a torn write after a power loss). The chunk
	// has been dropped; errors.Is(ErrCorrupt, ErrNotHeld) holds.
	ErrCorrupt = fmt.Errorf("%w (corrupt on disk, dropped)", ErrNotHeld)
	// ErrNoManifest: WriteChunk for a track whose manifest is not stored.
	ErrNoManifest = errors.New("cache: no manifest for track")
	// ErrFull: no room for the chunk without evicting a pinned track.
	ErrFull = errors.New("cache: full (every other track is pinned)")
	// ErrClosed: the store has been closed.
	ErrClosed = errors.New("cache: closed")
)

// core is the bookkeeping Disk and Mem share: the tracks held, their
// bitfields, LRU order, pins, the byte count and eviction. Where the bytes
// live is the backend's business.
type core struct {
	be      backend
	log     *slog.Logger
	maxOpen int // most tracks whose storage is open at once

	putMu sync.Mutex // serializes PutManifest's slow part

	mu     sync.Mutex
	tracks map[track.ID]*entry
	pins   map[track.ID]int
	used   int64 // bytes of chunks held, plus writes in flight
	limit  int64
	nopen  int       // entries with f != nil
	tick   uint64    // clock for entry.access
	stamp  time.Time // last LastUsed handed out
	subs   []chan struct{}
	closed bool

	diskFull atomic.Bool // the disk is full; logged, not again until a write succeeds
}

// entry is one track held.
type entry struct {
	id       track.ID
	m        *track.Manifest
	bits     Bitfield
	held     int
	bytes    int64
	lastUsed time.Time
	f        blob   // open storage, nil until needed
	busy     int    // operations using f right now; a busy track is never evicted
	access   uint64 // tick of the last use of f
}

// backend stores the bytes of tracks for core.
type backend interface {
	// create stores m and its signed bytes with room for every chunk and
	// an empty bitfield, atomically. Called without c.mu, one at a time.
	create(m *track.Manifest, signed []byte, lastUsed time.Time) error
	// open makes the storage of e ready for reads and writes. Called with c.mu.
	open(e *entry) (blob, error)
	// remove makes the track unreachable at once and returns a func that
	// frees its space, to be called without c.mu. Called with c.mu, the
	// track's blob closed.
	remove(id track.ID) (finish func())
	// signed returns the signed manifest bytes of a track.
	signed(id track.ID) ([]byte, error)
	// touch records the last-used time. Called without c.mu.
	touch(id track.ID, t time.Time)
}

// blob is the open storage of one track.
type blob interface {
	// writeAt and readAt move one chunk's bytes. Called without c.mu.
	writeAt(b []byte, off int64) error
	readAt(b []byte, off int64) error
	// persist records byte k of the track's bitfield. Called with c.mu,
	// after the writeAt of every chunk whose bit is set there returned.
	persist(bits Bitfield, k int) error
	close() error
}

func newCore(be backend, limit int64, log *slog.Logger, maxOpen int) core {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return core{
		be: be, log: log, maxOpen: maxOpen, limit: limit,
		tracks: make(map[track.ID]*entry),
		pins:   make(map[track.ID]int),
	}
}

// now returns the time to record as a last use: wall-clock time, strictly
// after every time handed out before, so LRU order has no ties. c.mu held.
func (c *core) now() time.Time {
	t := time.Now().Round(0)
	if !t.After(c.stamp) {
		t = c.stamp.Add(time.Nanosecond)
	}
	c.stamp = t
	return t
}

// add inserts a loaded or created track. c.mu held.
func (c *core) add(e *entry) {
	c.tracks[e.id] = e
	c.used += e.bytes
	if e.lastUsed.After(c.stamp) {
		c.stamp = e.lastUsed
	}
}

// Manifest returns the verified manifest of id and its signed bytes, if held.
func (c *core) Manifest(id track.ID) (*track.Manifest, []byte, bool) {
	c.mu.Lock()
	e := c.tracks[id]
	c.mu.Unlock()
	if e == nil {
		return nil, nil, false
	}
	signed, err := c.be.signed(id)
	if err != nil {
		return nil, nil, false // evicted meanwhile, or unreadable
	}
	return e.m, signed, true
}

// put stores a verified manifest unless the track is already held.
func (c *core) put(m *track.Manifest, signed []byte) error {
	c.putMu.Lock()
	defer c.putMu.Unlock()
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return ErrClosed
	}
	if c.tracks[m.ID] != nil {
		c.mu.Unlock()
		return nil
	}
	t := c.now()
	c.mu.Unlock()

	if err := c.be.create(m, signed, t); err != nil {
		c.noSpace(err)
		return fmt.Errorf("cache: storing manifest of %s: %w", m.ID, err)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.add(&entry{id: m.ID, m: m, bits: NewBitfield(m.NumChunks()), lastUsed: t})
	return nil
}

// acquire returns e's open storage and marks e busy. c.mu held.
func (c *core) acquire(e *entry) (blob, error) {
	if e.f == nil {
		f, err := c.be.open(e)
		if err != nil {
			return nil, err
		}
		e.f = f
		c.nopen++
	}
	e.busy++ // before closeIdle, which must not pick e
	c.tick++
	e.access = c.tick
	c.closeIdle()
	return e.f, nil
}

// release ends an operation acquire began. c.mu held.
func (c *core) release(e *entry) { e.busy-- }

// closeIdle closes the storage of the least recently accessed idle tracks
// while more than maxOpen are open, to bound open files. c.mu held.
func (c *core) closeIdle() {
	for c.nopen > c.maxOpen {
		var old *entry
		for _, e := range c.tracks {
			if e.f != nil && e.busy == 0 && (old == nil || e.access < old.access) {
				old = e
			}
		}
		if old == nil {
			return
		}
		c.closeBlob(old)
	}
}

func (c *core) closeBlob(e *entry) {
	if e.f == nil {
		return
	}
	if err := e.f.close(); err != nil {
		c.log.Warn("cache: closing track files", "track", e.id, "err", err)
	}
	e.f = nil
	c.nopen--
}

// ReadChunk returns chunk i of id, verified against the manifest. A chunk
// that fails verification is dropped from the store and reported as an error
// wrapping ErrCorrupt and ErrNotHeld; its bytes are never returned.
func (c *core) ReadChunk(id track.ID, i int) ([]byte, error) {
	c.mu.Lock()
	e := c.tracks[id]
	switch {
	case c.closed:
		c.mu.Unlock()
		return nil, ErrClosed
	case e == nil:
		c.mu.Unlock()
		return nil, fmt.Errorf("%w: track %s", ErrNotHeld, id)
	case !e.bits.Has(i):
		c.mu.Unlock()
		return nil, fmt.Errorf("%w: chunk %d of %s", ErrNotHeld, i, id)
	}
	f, err := c.acquire(e)
	c.mu.Unlock()
	if err != nil {
		return nil, fmt.Errorf("cache: %w", err)
	}

	off, n := e.m.ChunkBounds(i)
	b := make([]byte, n)
	err = f.readAt(b, off)
	if err == nil {
		err = e.m.VerifyChunk(i, b)
	}

	c.mu.Lock()
	defer c.mu.Unlock()
	c.release(e)
	if err == nil {
		return b, nil
	}
	if c.closed {
		return nil, ErrClosed
	}
	c.log.Warn("cache: dropping a chunk that does not read back", "track", id, "chunk", i, "err", err)
	c.drop(e, i)
	if errors.Is(err, track.ErrBadChunk) {
		return nil, fmt.Errorf("%w: chunk %d of %s", ErrCorrupt, i, id)
	}
	return nil, fmt.Errorf("%w: chunk %d of %s: %v", ErrCorrupt, i, id, err)
}

// drop forgets chunk i of e. c.mu held.
func (c *core) drop(e *entry, i int) {
	if c.tracks[e.id] != e || !e.bits.Has(i) {
		return
	}
	_, n := e.m.ChunkBounds(i)
	e.bits.unset(i)
	e.held--
	e.bytes -= int64(n)
	c.used -= int64(n)
	if e.f != nil {
		if err := e.f.persist(e.bits, i/8); err != nil {
			c.log.Warn("cache: recording a dropped chunk", "track", e.id, "err", err)
		}
	}
	c.notify()
}

// WriteChunk verifies chunk i of id and stores it, evicting least recently
// used tracks if the limit requires. When it returns nil the chunk is held,
// and stays held across a crash of the process.
func (c *core) WriteChunk(id track.ID, i int, data []byte) error {
	c.mu.Lock()
	e := c.tracks[id]
	c.mu.Unlock()
	if e == nil {
		return fmt.Errorf("%w %s", ErrNoManifest, id)
	}
	if err := e.m.VerifyChunk(i, data); err != nil {
		return fmt.Errorf("cache: %w", err)
	}
	n := int64(len(data))

	c.mu.Lock()
	e = c.tracks[id] // may have been evicted (and put again) meanwhile
	switch {
	case c.closed:
		c.mu.Unlock()
		return ErrClosed
	case e == nil:
		c.mu.Unlock()
		return fmt.Errorf("%w %s", ErrNoManifest, id)
	case e.bits.Has(i):
		c.mu.Unlock()
		return nil
	}
	trash, err := c.makeRoom(e, n)
	var f blob
	if err == nil {
		if f, err = c.acquire(e); err != nil {
			err = fmt.Errorf("cache: %w", err)
		}
	}
	if err == nil {
		c.used += n // reserved, so that concurrent writers keep the limit
	}
	c.mu.Unlock()
	for _, finish := range trash {
		finish()
	}
	if err != nil {
		return err
	}

	off, _ := e.m.ChunkBounds(i)
	werr := f.writeAt(data, off)

	c.mu.Lock()
	defer c.mu.Unlock()
	c.release(e)
	switch {
	case c.closed:
		werr = ErrClosed
	case werr != nil:
		c.noSpace(werr)
		werr = fmt.Errorf("cache: writing chunk %d of %s: %w", i, id, werr)
	case e.bits.Has(i): // a concurrent write of the same chunk won
	default:
		// The data is in the file (the kernel has it, so a kill cannot
		// lose it); only now may the bit say so.
		e.bits.Set(i)
		if err := f.persist(e.bits, i/8); err != nil {
			c.noSpace(err)
			e.bits.unset(i)
			werr = fmt.Errorf("cache: recording chunk %d of %s: %w", i, id, err)
			break
		}
		e.held++
		e.bytes += n
		c.diskFull.Store(false)
		c.notify()
		return nil
	}
	c.used -= n
	return werr
}

// noSpace logs, once until a write succeeds again, that the disk is full:
// the writes fail and the callers fetch on, but the operator should know.
func (c *core) noSpace(err error) {
	if errors.Is(err, syscall.ENOSPC) && !c.diskFull.Swap(true) {
		c.log.Error("cache: the disk is full; new chunks are not stored until space is freed (logged once)", "err", err)
	}
}

// makeRoom evicts least recently used tracks until n more bytes fit under
// the limit. It never evicts keep, a pinned track or one in use, and evicts
// nothing if that cannot make enough room. It returns the funcs that finish
// the evictions, to be called without c.mu. c.mu held.
func (c *core) makeRoom(keep *entry, n int64) ([]func(), error) {
	if c.used+n <= c.limit {
		return nil, nil
	}
	var victims []*entry
	free := c.limit - c.used
	for _, e := range c.tracks {
		if e != keep && e.busy == 0 && c.pins[e.id] == 0 {
			victims = append(victims, e)
			free += e.bytes
		}
	}
	if free < n {
		return nil, fmt.Errorf("%w: %d bytes held of %d", ErrFull, c.used, c.limit)
	}
	slices.SortFunc(victims, func(a, b *entry) int { return a.lastUsed.Compare(b.lastUsed) })
	var trash []func()
	for _, v := range victims {
		if c.used+n <= c.limit {
			break
		}
		trash = append(trash, c.evict(v))
	}
	return trash, nil
}

// evict removes track e. c.mu held.
func (c *core) evict(e *entry) (finish func()) {
	c.log.Debug("cache: evicting", "track", e.id, "bytes", e.bytes, "last_used", e.lastUsed)
	c.closeBlob(e)
	delete(c.tracks, e.id)
	c.used -= e.bytes
	c.notify()
	return c.be.remove(e.id)
}

// Have returns a copy of the bitfield of chunks of id held, nil if the
// track is unknown.
func (c *core) Have(id track.ID) Bitfield {
	c.mu.Lock()
	defer c.mu.Unlock()
	if e := c.tracks[id]; e != nil {
		return e.bits.clone()
	}
	return nil
}

// Tracks lists the tracks held, most recently used first.
func (c *core) Tracks() []TrackState {
	c.mu.Lock()
	ts := make([]TrackState, 0, len(c.tracks))
	for _, e := range c.tracks {
		ts = append(ts, TrackState{
			ID: e.id, Chunks: e.m.NumChunks(), Held: e.held, Bytes: e.bytes,
			LastUsed: e.lastUsed, Pinned: c.pins[e.id] > 0,
		})
	}
	c.mu.Unlock()
	slices.SortFunc(ts, func(a, b TrackState) int {
		return cmp.Or(b.LastUsed.Compare(a.LastUsed), slices.Compare(a.ID[:], b.ID[:]))
	})
	return ts
}

// Pin keeps id from eviction until the returned func is called.
func (c *core) Pin(id track.ID) (unpin func()) {
	c.mu.Lock()
	c.pins[id]++
	c.mu.Unlock()
	var once sync.Once
	return func() {
		once.Do(func() {
			c.mu.Lock()
			defer c.mu.Unlock()
			if c.pins[id]--; c.pins[id] <= 0 {
				delete(c.pins, id)
			}
		})
	}
}

// Touch marks id as just played.
func (c *core) Touch(id track.ID) {
	c.mu.Lock()
	e := c.tracks[id]
	if e == nil || c.closed {
		c.mu.Unlock()
		return
	}
	t := c.now()
	e.lastUsed = t
	c.mu.Unlock()
	c.be.touch(id, t)
}

// Usage returns the bytes of chunks held and the limit.
func (c *core) Usage() (used, limit int64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.used, c.limit
}

// Subscribe returns a channel that receives a value whenever a track's
// content changes. See Store.
func (c *core) Subscribe() <-chan struct{} {
	c.mu.Lock()
	defer c.mu.Unlock()
	ch := make(chan struct{}, 1)
	if c.closed {
		close(ch)
		return ch
	}
	c.subs = append(c.subs, ch)
	return ch
}

// notify wakes the subscribers. c.mu held.
func (c *core) notify() {
	for _, ch := range c.subs {
		select {
		case ch <- struct{}{}:
		default:
		}
	}
}

// shut marks the store closed, closes every open track and the
// subscriptions. Operations in flight fail with ErrClosed.
func (c *core) shut() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return nil
	}
	c.closed = true
	var errs []error
	for _, e := range c.tracks {
		if e.f != nil {
			errs = append(errs, e.f.close())
			e.f = nil
		}
	}
	c.nopen = 0
	for _, ch := range c.subs {
		close(ch)
	}
	c.subs = nil
	return errors.Join(errs...)
}
