package swarm

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"slices"
	"sync"
	"time"

	"github.com/potluckfm/potluck/cache"
	"github.com/potluckfm/potluck/internal/atomicfile"
	"github.com/potluckfm/potluck/track"
)

// Keeper keeps tracks for offline listening ("pin for offline"): every
// pinned track is fetched whole in the background, held in the cache with
// a cache.Store pin so that it is never evicted, and served to the swarm
// like anything else the cache holds. Unpinning releases the cache pin: the
// track becomes evictable like any other (it is not deleted at once).
//
// The pinned set persists in a JSON file, replaced atomically (a synced
// temporary file renamed over it) on every change:
//
//	{
//	  "version": 1,
//	  "tracks": [
//	    {"id": "<track id, 32 lower-case hex digits>", "since": "<RFC 3339 time pinned>"}
//	  ]
//	}
//
// Cache pins live in memory only, so the Keeper should be created right
// after the Node, before anything else can fill the cache, and closed
// before the Node. A cache opened with a limit below what it holds evicts
// before any pin exists; the Keeper then fetches the pinned tracks again.
//
// At most KeepParallel tracks are fetched at once, in ModeFetch, so that a
// pinned album does not starve playback. A failed fetch is retried with a
// back-off from 5 s to 2 min; the last error shows in Status. A complete
// track that loses a chunk (dropped as corrupt) is fetched again.
type Keeper struct {
	n     *Node
	store cache.Store
	path  string
	log   *slog.Logger
	cfg   keepConfig
	slots chan struct{} // one value per fetch in progress

	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup

	mu     sync.Mutex // guards what follows and the file
	recs   map[track.ID]*keepRec
	order  []track.ID // pinned tracks, oldest pin first
	subs   []chan struct{}
	closed bool

	closeOnce sync.Once
}

// KeepParallel is how many pinned tracks a Keeper fetches at once.
const KeepParallel = 2

// keepConfig holds the Keeper's timings; tests shorten them.
type keepConfig struct {
	parallel   int
	minBackoff time.Duration
	maxBackoff time.Duration
	stall      time.Duration // an attempt with no new chunk for this long fails
	settle     time.Duration // pause between looks at the store's changes
}

func defaultKeepConfig() keepConfig {
	return keepConfig{
		parallel:   KeepParallel,
		minBackoff: 5 * time.Second,
		maxBackoff: 2 * time.Minute,
		stall:      2 * time.Minute,
		settle:     250 * time.Millisecond,
	}
}

// keepRec is one pinned track. Fields other than id, since, ctx, cancel
// and unpin are guarded by Keeper.mu.
type keepRec struct {
	id     track.ID
	since  time.Time
	ctx    context.Context // ends on Unpin or Close
	cancel context.CancelFunc
	unpin  func() // the cache pin

	chunks   int           // 0 until the manifest is known
	done     bool          // every chunk was held when last checked
	fetching bool          // an attempt holds a slot now
	err      error         // last failure, nil after a success
	retry    time.Time     // when the next attempt starts, after a failure
	worker   chan struct{} // non-nil while a worker runs; closed when it ends
}

// KeepStatus is the state of one pinned track, for a progress display.
type KeepStatus struct {
	ID    track.ID
	Since time.Time // when it was pinned
	// Held and Chunks count the track's chunks in the cache; Chunks is 0
	// until the manifest is known.
	Held, Chunks int
	// Done: every chunk is held; the track plays without a network.
	Done bool
	// Fetching: an attempt is running now (else it waits for a slot or,
	// after an error, for Retry).
	Fetching bool
	// Err is the last attempt's failure, nil once the track is whole. It
	// wraps cache.ErrFull when the cache has no room left beside the
	// other pinned tracks.
	Err error
	// Retry is when the next attempt starts, after a failure.
	Retry time.Time
}

// ErrKeeperClosed is returned by Pin and Unpin after Close.
var ErrKeeperClosed = errors.New("swarm: keeper closed")

// ErrBadPinFile means the file of pinned tracks could not be understood.
var ErrBadPinFile = errors.New("swarm: unreadable file of pinned tracks")

// NewKeeper starts a Keeper for node n, persisting the pinned set in the
// JSON file at path (created on the first Pin). It pins every track the
// file lists and fetches what is incomplete. A file that exists but cannot
// be read or parsed is an error wrapping ErrBadPinFile; the file is left
// as it is. The Keeper runs until Close, whatever becomes of ctx.
func NewKeeper(ctx context.Context, n *Node, path string, log *slog.Logger) (*Keeper, error) {
	return newKeeper(ctx, n, path, log, defaultKeepConfig())
}

func newKeeper(ctx context.Context, n *Node, path string, log *slog.Logger, cfg keepConfig) (*Keeper, error) {
	if n == nil || path == "" {
		return nil, errors.New("swarm: NewKeeper needs a node and a path")
	}
	pinned, err := readPinFile(path)
	if err != nil {
		return nil, err
	}
	k := &Keeper{
		n:     n,
		store: n.Store(),
		path:  path,
		log:   cmp.Or(log, n.log).With("part", "keeper"),
		cfg:   cfg,
		slots: make(chan struct{}, max(cfg.parallel, 1)),
		recs:  map[track.ID]*keepRec{},
	}
	// ctx lends its values only (see the package doc).
	k.ctx, k.cancel = context.WithCancel(context.WithoutCancel(ctx))
	changed := k.store.Subscribe() // before the first look, so no change is missed
	held := k.held()
	k.mu.Lock()
	for _, p := range pinned {
		k.addLocked(p.ID, p.Since, held)
	}
	k.mu.Unlock()
	k.wg.Go(func() { k.watch(changed) })
	k.log.Info("pinned tracks restored", "tracks", len(pinned), "file", path)
	return k, nil
}

// Pin keeps ids for offline listening: pinned at once, fetched in the
// background. Pinning a pinned track does nothing. The pinned set is on
// disk when Pin returns nil; if it cannot be written nothing changes.
func (k *Keeper) Pin(ids ...track.ID) error {
	for _, id := range ids {
		if id.IsZero() {
			return errors.New("swarm: pin: zero track id")
		}
	}
	held := k.held()
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.closed {
		return ErrKeeperClosed
	}
	var add []track.ID
	for _, id := range ids {
		if k.recs[id] == nil && !slices.Contains(add, id) {
			add = append(add, id)
		}
	}
	if len(add) == 0 {
		return nil
	}
	now := time.Now().UTC().Round(time.Second)
	list := k.listLocked()
	for _, id := range add {
		list = append(list, pinEntry{ID: id, Since: now})
	}
	if err := writePinFile(k.path, list); err != nil {
		return err
	}
	for _, id := range add {
		k.addLocked(id, now, held)
	}
	k.notifyLocked()
	return nil
}

// Unpin gives ids back to the cache: their fetches stop and they become
// evictable like any other track (what is held stays until evicted, and
// is still served). Unpinning a track that is not pinned does nothing.
// It returns once the fetches have stopped.
func (k *Keeper) Unpin(ids ...track.ID) error {
	k.mu.Lock()
	if k.closed {
		k.mu.Unlock()
		return ErrKeeperClosed
	}
	var gone []*keepRec
	list := k.listLocked()
	for _, id := range ids {
		if r := k.recs[id]; r != nil && !slices.Contains(gone, r) {
			gone = append(gone, r)
			list = slices.DeleteFunc(list, func(p pinEntry) bool { return p.ID == id })
		}
	}
	if len(gone) == 0 {
		k.mu.Unlock()
		return nil
	}
	if err := writePinFile(k.path, list); err != nil {
		k.mu.Unlock()
		return err
	}
	var workers []chan struct{}
	for _, r := range gone {
		delete(k.recs, r.id)
		k.order = slices.DeleteFunc(k.order, func(id track.ID) bool { return id == r.id })
		r.cancel()
		if r.worker != nil {
			workers = append(workers, r.worker)
		}
	}
	k.notifyLocked()
	k.mu.Unlock()
	for _, w := range workers {
		<-w
	}
	for _, r := range gone {
		r.unpin()
	}
	return nil
}

// Pinned reports whether id is pinned.
func (k *Keeper) Pinned(id track.ID) bool {
	k.mu.Lock()
	defer k.mu.Unlock()
	return k.recs[id] != nil
}

// Status returns the state of every pinned track, oldest pin first.
func (k *Keeper) Status() []KeepStatus {
	held := k.held()
	k.mu.Lock()
	defer k.mu.Unlock()
	out := make([]KeepStatus, 0, len(k.order))
	for _, id := range k.order {
		r := k.recs[id]
		st := KeepStatus{
			ID: id, Since: r.since, Chunks: r.chunks, Done: r.done,
			Fetching: r.fetching, Err: r.err, Retry: r.retry,
		}
		if ts, ok := held[id]; ok {
			st.Held, st.Chunks = ts.Held, ts.Chunks
		}
		out = append(out, st)
	}
	return out
}

// Subscribe returns a channel that receives a value when Status may have
// changed: a pin, an unpin, progress, a failure, a track done. Sends never
// block and coalesce (buffer of 1). The channel is closed by Close.
func (k *Keeper) Subscribe() <-chan struct{} {
	k.mu.Lock()
	defer k.mu.Unlock()
	ch := make(chan struct{}, 1)
	if k.closed {
		close(ch)
		return ch
	}
	k.subs = append(k.subs, ch)
	return ch
}

// Close stops every fetch and waits for the Keeper's goroutines. The
// pinned set stays in the file; the cache pins are released. Idempotent.
func (k *Keeper) Close() error {
	k.closeOnce.Do(func() {
		k.mu.Lock()
		k.closed = true
		k.mu.Unlock()
		k.cancel()
		k.wg.Wait()
		k.mu.Lock()
		defer k.mu.Unlock()
		for _, r := range k.recs {
			r.cancel()
			r.unpin()
		}
		for _, ch := range k.subs {
			close(ch)
		}
		k.subs = nil
	})
	return nil
}

// addLocked pins id and starts fetching it unless the cache holds it
// whole. k.mu held.
func (k *Keeper) addLocked(id track.ID, since time.Time, held map[track.ID]cache.TrackState) {
	if k.recs[id] != nil {
		return
	}
	r := &keepRec{id: id, since: since, unpin: k.store.Pin(id)}
	r.ctx, r.cancel = context.WithCancel(k.ctx)
	if ts, ok := held[id]; ok {
		r.chunks = ts.Chunks
		r.done = ts.Chunks > 0 && ts.Held == ts.Chunks
	}
	k.recs[id] = r
	k.order = append(k.order, id)
	if !r.done {
		k.startLocked(r)
	}
}

// startLocked starts r's worker if none runs. k.mu held.
func (k *Keeper) startLocked(r *keepRec) {
	if r.worker != nil || k.closed || r.ctx.Err() != nil {
		return
	}
	w := make(chan struct{})
	r.worker = w
	k.wg.Go(func() {
		defer close(w)
		done := k.work(r)
		k.mu.Lock()
		defer k.mu.Unlock()
		r.worker, r.fetching = nil, false
		if done {
			r.done, r.err, r.retry = true, nil, time.Time{}
		}
		k.notifyLocked()
	})
}

// work fetches r until it is whole (it returns true), retrying with
// back-off, or until r is unpinned or the Keeper closes (false).
func (k *Keeper) work(r *keepRec) bool {
	backoff := k.cfg.minBackoff
	for {
		select {
		case k.slots <- struct{}{}:
		case <-r.ctx.Done():
			return false
		}
		k.update(func() { r.fetching = true })
		err := k.fetch(r)
		<-k.slots
		if r.ctx.Err() != nil {
			return false // unpinned or closing: not a failure
		}
		if err == nil {
			k.log.Info("pinned track held whole", "track", r.id)
			return true
		}
		err = explain(err)
		retry := time.Now().Add(backoff)
		k.update(func() {
			if r.err == nil {
				k.log.Warn("fetching a pinned track failed; will retry", "track", r.id, "err", err, "in", backoff)
			} else {
				k.log.Debug("fetching a pinned track failed again", "track", r.id, "err", err, "in", backoff)
			}
			r.err, r.retry, r.fetching = err, retry, false
		})
		t := time.NewTimer(backoff)
		select {
		case <-t.C:
		case <-r.ctx.Done():
			t.Stop()
			return false
		}
		backoff = min(backoff*2, k.cfg.maxBackoff)
	}
}

// update runs f with k.mu held and tells the subscribers.
func (k *Keeper) update(f func()) {
	k.mu.Lock()
	defer k.mu.Unlock()
	f()
	k.notifyLocked()
}

var errStalled = errors.New("no chunk arrived for too long")

// fetch makes one attempt at holding every chunk of r's track: it reads
// the track whole through a ModeFetch stream, which takes each chunk from
// the cache, peers or the origin and verifies it, and makes sure each one
// reached the cache.
func (k *Keeper) fetch(r *keepRec) (err error) {
	if ts, ok := k.held()[r.id]; ok && ts.Chunks > 0 && ts.Held == ts.Chunks {
		return nil
	}
	ctx, cancel := context.WithCancelCause(r.ctx)
	defer cancel(nil)
	stall := time.AfterFunc(k.cfg.stall, func() { cancel(errStalled) })
	defer stall.Stop()

	s, err := k.n.Open(ctx, r.id, ModeFetch)
	if err != nil {
		if ctx.Err() != nil {
			return context.Cause(ctx)
		}
		return &openError{err}
	}
	// The stream's Read does not take a context: closing the stream is
	// what unblocks it.
	closed := make(chan struct{})
	stop := context.AfterFunc(ctx, func() { s.Close(); close(closed) })
	defer func() {
		if !stop() {
			<-closed
		}
		s.Close()
	}()

	m := s.Manifest()
	k.update(func() { r.chunks = m.NumChunks() })
	buf := make([]byte, m.ChunkSize)
	for i := range m.NumChunks() {
		_, l := m.ChunkBounds(i)
		if _, err := io.ReadFull(s, buf[:l]); err != nil {
			if ctx.Err() != nil {
				return context.Cause(ctx)
			}
			return err
		}
		stall.Reset(k.cfg.stall)
		// The stream keeps in memory what the store refused (a full
		// cache): store it again here to learn why.
		if !k.store.Have(r.id).Has(i) {
			if err := k.store.WriteChunk(r.id, i, buf[:l]); err != nil {
				return err
			}
		}
	}
	if ts := k.held()[r.id]; ts.Held != ts.Chunks || ts.Chunks == 0 {
		return fmt.Errorf("%d of %d chunks held after reading the track", ts.Held, ts.Chunks)
	}
	return nil
}

// openError is a failure to get a track's manifest.
type openError struct{ err error }

func (e *openError) Error() string { return e.err.Error() }
func (e *openError) Unwrap() error { return e.err }

// explain puts the errors a listener may meet into words.
func explain(err error) error {
	var oe *openError
	switch {
	case errors.Is(err, track.ErrBadSignature), errors.Is(err, track.ErrBadManifest):
		return fmt.Errorf("the track's description does not verify against the origin key: %w", err)
	case errors.As(err, &oe):
		return fmt.Errorf("neither the origin nor any peer could be reached: %w", err)
	case errors.Is(err, cache.ErrFull):
		return fmt.Errorf("no room in the cache beside the other pinned tracks (unpin some or allow a bigger cache): %w", err)
	case errors.Is(err, errStalled):
		return fmt.Errorf("the download stalled: %w", err)
	case errors.Is(err, ErrUnavailable):
		return fmt.Errorf("neither the origin nor any peer could deliver it: %w", err)
	}
	return err
}

// watch follows the store's changes: it tells the subscribers (progress)
// and fetches again a whole pinned track that lost chunks.
func (k *Keeper) watch(changed <-chan struct{}) {
	for {
		select {
		case <-k.ctx.Done():
			return
		case _, ok := <-changed:
			if !ok {
				return // the store closed
			}
		}
		held := k.held()
		k.mu.Lock()
		for _, r := range k.recs {
			if ts := held[r.id]; r.done && (ts.Chunks == 0 || ts.Held < ts.Chunks) {
				k.log.Info("a pinned track lost chunks; fetching it again", "track", r.id)
				r.done = false
				k.startLocked(r)
			}
		}
		k.notifyLocked()
		k.mu.Unlock()
		t := time.NewTimer(k.cfg.settle) // one look per burst of chunks
		select {
		case <-k.ctx.Done():
			t.Stop()
			return
		case <-t.C:
		}
	}
}

// held maps the tracks in the store to their state.
func (k *Keeper) held() map[track.ID]cache.TrackState {
	ts := k.store.Tracks()
	m := make(map[track.ID]cache.TrackState, len(ts))
	for _, t := range ts {
		m[t.ID] = t
	}
	return m
}

// notifyLocked wakes the subscribers. k.mu held.
func (k *Keeper) notifyLocked() {
	for _, ch := range k.subs {
		select {
		case ch <- struct{}{}:
		default:
		}
	}
}

// listLocked is the pinned set as written to the file. k.mu held.
func (k *Keeper) listLocked() []pinEntry {
	out := make([]pinEntry, 0, len(k.order))
	for _, id := range k.order {
		out = append(out, pinEntry{ID: id, Since: k.recs[id].since})
	}
	return out
}

// pinFile is the file of pinned tracks.
type pinFile struct {
	Version int        `json:"version"`
	Tracks  []pinEntry `json:"tracks"`
}

type pinEntry struct {
	ID    track.ID  `json:"id"`
	Since time.Time `json:"since"`
}

const pinFileVersion = 1

func readPinFile(path string) ([]pinEntry, error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("%w %s: %v", ErrBadPinFile, path, err)
	}
	var f pinFile
	if err := json.Unmarshal(b, &f); err != nil {
		return nil, fmt.Errorf("%w %s: %v", ErrBadPinFile, path, err)
	}
	if f.Version != pinFileVersion {
		return nil, fmt.Errorf("%w %s: version %d, want %d", ErrBadPinFile, path, f.Version, pinFileVersion)
	}
	var out []pinEntry
	for _, p := range f.Tracks {
		if p.ID.IsZero() {
			return nil, fmt.Errorf("%w %s: an entry without a track id", ErrBadPinFile, path)
		}
		if !slices.ContainsFunc(out, func(q pinEntry) bool { return q.ID == p.ID }) {
			out = append(out, p)
		}
	}
	return out, nil
}

// writePinFile replaces the file at path with list, whole or not at all
// (atomicfile.Write).
func writePinFile(path string, list []pinEntry) error {
	if list == nil {
		list = []pinEntry{} // "tracks": [], not null
	}
	b, err := json.MarshalIndent(pinFile{Version: pinFileVersion, Tracks: list}, "", "  ")
	if err != nil {
		return fmt.Errorf("swarm: saving pinned tracks: %w", err)
	}
	if err := atomicfile.Write(path, append(b, '\n')); err != nil {
		return fmt.Errorf("swarm: saving pinned tracks: %w", err)
	}
	return nil
}
