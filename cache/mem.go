package cache

import (
	"errors"
	"math"
	"sync"
	"time"

	"github.com/potluckfm/potluck/track"
)

// Mem is a Store in memory, for tests of other packages. It behaves like
// Disk (verification, limit, LRU eviction, pins) but keeps nothing across
// restarts and trusts the caller's manifest verification.
type Mem struct {
	core
}

var (
	_ Store = (*Mem)(nil)
	_ Store = (*Disk)(nil)
)

// NewMem returns an empty in-memory Store holding at most limit bytes of
// chunks; a limit <= 0 means no limit.
func NewMem(limit int64) *Mem {
	if limit <= 0 {
		limit = math.MaxInt64
	}
	return &Mem{core: newCore(&memBackend{tracks: make(map[track.ID]*memTrack)}, limit, nil, math.MaxInt)}
}

// NewMemNoCopy is NewMem for callers that never modify a slice after
// handing it to WriteChunk: the store keeps the slice itself rather than a
// copy, so that many stores holding the same tracks (a simulated swarm)
// can share one copy of their bytes.
func NewMemNoCopy(limit int64) *Mem {
	s := NewMem(limit)
	s.be.(*memBackend).noCopy = true
	return s
}

// PutManifest stores a manifest the caller has verified. Idempotent.
func (s *Mem) PutManifest(m *track.Manifest, signed []byte) error {
	if m == nil {
		return errors.New("cache: nil manifest")
	}
	if err := m.Validate(); err != nil {
		return err
	}
	return s.put(m, signed)
}

// Close closes the subscription channels; later reads and writes fail with
// ErrClosed.
func (s *Mem) Close() error { return s.shut() }

type memBackend struct {
	mu     sync.Mutex
	tracks map[track.ID]*memTrack
	noCopy bool
}

type memTrack struct {
	signed []byte
	noCopy bool
	mu     sync.Mutex
	chunks map[int64][]byte // by offset
}

func (b *memBackend) create(m *track.Manifest, signed []byte, _ time.Time) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.tracks[m.ID] = &memTrack{signed: append([]byte(nil), signed...), noCopy: b.noCopy, chunks: make(map[int64][]byte)}
	return nil
}

func (b *memBackend) open(e *entry) (blob, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	t := b.tracks[e.id]
	if t == nil {
		return nil, errors.New("track storage missing")
	}
	return t, nil
}

func (b *memBackend) remove(id track.ID) func() {
	b.mu.Lock()
	defer b.mu.Unlock()
	delete(b.tracks, id)
	return func() {}
}

func (b *memBackend) signed(id track.ID) ([]byte, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	t := b.tracks[id]
	if t == nil {
		return nil, ErrNotHeld
	}
	return append([]byte(nil), t.signed...), nil
}

func (b *memBackend) touch(track.ID, time.Time) {}

func (t *memTrack) writeAt(p []byte, off int64) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	if !t.noCopy {
		p = append([]byte(nil), p...)
	}
	t.chunks[off] = p
	return nil
}

func (t *memTrack) readAt(p []byte, off int64) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	c, ok := t.chunks[off]
	if !ok || len(c) != len(p) {
		return errors.New("chunk missing")
	}
	copy(p, c)
	return nil
}

func (t *memTrack) persist(Bitfield, int) error { return nil }
func (t *memTrack) close() error                { return nil }
