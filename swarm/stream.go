package swarm

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"slices"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/potluckfm/potluck/cache"
	"github.com/potluckfm/potluck/track"
)

// Mode says how a Stream paces its fetching.
type Mode int

const (
	// ModeFetch fetches every chunk as fast as the sources allow.
	ModeFetch Mode = iota
	// ModePlay gives every chunk a deadline from the playback position its
	// reader reports (SetPosition) and fetches the most urgent first. Until
	// the first SetPosition or Read the stream is cued, not playing: its
	// chunks have no deadline yet, so they come from peers where peers
	// hold them, and the origin's head waits for playback to begin.
	ModePlay
)

// Source says where a chunk came from.
type Source int

// Sources of a chunk.
const (
	FromCache Source = iota
	FromPeer
	FromOrigin
)

// Stats tell where a stream's bytes came from. Each chunk counts once, for
// the source that delivered it (a chunk the cache lost after Open, and
// that was fetched again, counts for the source that fetched it).
type Stats struct {
	FromCache  int64 `json:"from_cache"`
	FromPeers  int64 `json:"from_peers"`
	FromOrigin int64 `json:"from_origin"`
	// Peers is how many distinct peers delivered chunks.
	Peers int `json:"peers"`
	// FirstByte is the time from Open to the first chunk at the read position.
	FirstByte time.Duration `json:"-"`
	// FirstPeer is the time from Open to the first peer's chunk map: how
	// long peer discovery took, the gap the head must cover.
	FirstPeer time.Duration `json:"-"`
	// Dropped counts chunks refused because they did not match the manifest.
	Dropped int `json:"dropped"`
}

// ErrClosed is returned by reads of a closed Stream.
var ErrClosed = errors.New("stream closed")

// ErrUnavailable means a chunk, or a track's manifest, could not be had:
// no peer holds it and the origin did not deliver it (it may be down).
// Open's and Read's errors wrap it then.
var ErrUnavailable = errors.New("chunk unavailable")

// unavailableError is a manifest that no source had: it wraps
// ErrUnavailable and the origin's error, and reads as the latter.
type unavailableError struct{ err error }

func (e unavailableError) Error() string   { return e.err.Error() }
func (e unavailableError) Unwrap() []error { return []error{ErrUnavailable, e.err} }

// noManifest is the error of a manifest of id that neither the origin
// (originErr says why) nor any peer gave.
func noManifest(id track.ID, originErr error) error {
	return unavailableError{fmt.Errorf("manifest of %s: origin: %w; no peer had it either", id, originErr)}
}

// originManifestTimeout bounds the origin's answer for a manifest that
// is not cached: an origin that is down fails Open in seconds (then the
// peers are asked).
const originManifestTimeout = 3 * time.Second

// Stream reads one track's bytes in order from any position while the node
// fetches them. It is an io.ReadSeekCloser; Read blocks until the bytes at
// the position have arrived and been verified. Position (Seek) and, in
// ModePlay, the playback position (SetPosition) drive the scheduler.
// A Stream is safe for one reader plus concurrent Stats and SetPosition.
type Stream struct {
	n        *Node
	m        *track.Manifest
	mode     Mode
	cfg      SchedulerConfig
	unpin    func()
	opened   time.Time
	cancel   context.CancelFunc
	done     chan struct{}
	wake     chan struct{}
	chunkPTS []time.Duration // playback time at which each chunk starts

	mu        sync.Mutex
	cond      *sync.Cond
	got       cache.Bitfield
	mem       map[int][]byte // chunks the store could not keep
	pos       int64
	runStart  int // chunk where the current run of reading began (head)
	playPos   time.Duration
	playAt    time.Time
	clocked   bool // ModePlay: a position was reported or a Read came
	failed    map[int]error
	closed    bool
	stopped   bool
	stats     Stats
	countedAs []Source // the source each chunk's bytes are counted under; -1: none
	peersUsed map[PeerID]bool
	curIdx    int
	cur       []byte
	// startRest is the start answer (the origin's or a peer's) still
	// under way when Open returned; the scheduler takes it as it starts.
	// startFrom is the peer that answered the start, nil for the origin.
	startRest *startRest
	startFrom *peerConn
}

// Manifest returns the verified manifest of the stream's track.
func (s *Stream) Manifest() *track.Manifest { return s.m }

// Open returns a Stream of track id. The manifest comes from the cache, the
// origin, or a peer (verified against the origin key); Open fails only if
// none of them has it.
func (n *Node) Open(ctx context.Context, id track.ID, mode Mode) (*Stream, error) {
	m, st, err := n.manifestAndFirst(ctx, id)
	if err != nil {
		return nil, err
	}
	s := &Stream{
		startRest: st.rest,
		startFrom: st.from,
		n:         n,
		m:         m,
		mode:      mode,
		cfg:       n.cfg.Scheduler.WithDefaults(),
		unpin:     n.store.Pin(id),
		opened:    time.Now(),
		done:      make(chan struct{}),
		wake:      make(chan struct{}, 1),
		chunkPTS:  chunkTimes(m),
		got:       cache.NewBitfield(m.NumChunks()),
		mem:       map[int][]byte{},
		failed:    map[int]error{},
		peersUsed: map[PeerID]bool{},
		curIdx:    -1,
		playAt:    time.Now(),
	}
	s.cond = sync.NewCond(&s.mu)
	s.countedAs = make([]Source, m.NumChunks())
	for i := range s.countedAs {
		s.countedAs[i] = -1
	}
	n.store.Touch(id)
	if have := n.store.Have(id); have != nil {
		for i := range m.NumChunks() {
			if have.Has(i) {
				s.got.Set(i)
				s.count(i, FromCache, 1)
			}
		}
	}
	if s.got.Count() > 0 {
		s.stats.FirstByte = time.Since(s.opened)
	}
	for i, b := range st.first {
		switch {
		case s.got.Has(i):
		case st.from != nil:
			s.deliver(i, b, FromPeer, st.from.id)
		default:
			s.deliver(i, b, FromOrigin, originID)
		}
	}
	n.mu.Lock()
	n.open[id]++
	n.mu.Unlock()
	schedCtx, cancel := context.WithCancel(n.ctx)
	s.cancel = cancel
	if !n.wg.Go(func() {
		defer close(s.done)
		defer func() { s.mu.Lock(); s.stopped = true; s.cond.Broadcast(); s.mu.Unlock() }()
		newScheduler(s).run(schedCtx)
	}) {
		st.release()
		close(s.done) // the node is closing: no scheduler ever ran
		s.Close()
		return nil, ErrNodeClosed
	}
	return s, nil
}

type prefetchKey struct{}

// Prefetch marks an Open as ahead of its play (the next track of a queue):
// its first chunk is not asked of the origin with the manifest, so that
// peers can serve the head before it is due.
func Prefetch(ctx context.Context) context.Context {
	return context.WithValue(ctx, prefetchKey{}, true)
}

// manifest finds the manifest of id: cache, then origin, then peers.
func (n *Node) manifest(ctx context.Context, id track.ID) (*track.Manifest, error) {
	if m, _, ok := n.store.Manifest(id); ok {
		return m, nil
	}
	peersAsked := false
	if n.originSilent() {
		// Peers first; if none has it, the origin may be back.
		m, err := n.manifestFromPeers(ctx, id, errOriginSilent)
		if err == nil || ctx.Err() != nil || errors.Is(err, ErrNodeClosed) {
			return m, err
		}
		peersAsked = true
	}
	m, originErr := n.manifestFromOrigin(ctx, id)
	if originErr == nil {
		return m, nil
	}
	if errors.Is(originErr, track.ErrBadSignature) || errors.Is(originErr, track.ErrBadManifest) {
		return nil, originErr
	}
	if peersAsked {
		return nil, noManifest(id, originErr)
	}
	return n.manifestFromPeers(ctx, id, originErr)
}

// manifestFromOrigin asks the origin for the manifest of id within
// originManifestTimeout, notes whether it answered (noteOrigin), and keeps
// the manifest it gives.
func (n *Node) manifestFromOrigin(ctx context.Context, id track.ID) (*track.Manifest, error) {
	octx, cancel := context.WithTimeout(ctx, originManifestTimeout)
	m, signed, err := n.origin.Manifest(octx, id)
	cancel()
	if ctx.Err() == nil {
		n.noteOrigin(err)
	}
	if err != nil {
		return nil, err
	}
	n.store.PutManifest(m, signed)
	return m, nil
}

// manifestFromPeers asks peers for the manifest of id, verified against
// the origin key, once the origin failed with originErr.
func (n *Node) manifestFromPeers(ctx context.Context, id track.ID, originErr error) (*track.Manifest, error) {
	m, _, err := n.fromPeers(ctx, id, originErr, false)
	return m, err
}

// fromPeers asks peers for the manifest of id, and with it for the start
// of the play if withStart (askPeer), once the origin failed with
// originErr. Peers are asked as they are found (those connected at once,
// the DHT's holders as its lookup names them), up to peerAsks at a time;
// the first to answer wins, and an answer that comes after it is let go.
func (n *Node) fromPeers(ctx context.Context, id track.ID, originErr error, withStart bool) (*track.Manifest, started, error) {
	n.log.Info("origin has no manifest for us; asking peers", "track", id, "err", originErr)
	lctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	defer context.AfterFunc(n.ctx, cancel)() // the asks end with the node too
	type answer struct {
		m  *track.Manifest
		st started
	}
	won := make(chan answer, 1)
	var (
		mu    sync.Mutex
		asked = map[PeerID]bool{}
		done  bool // an answer won
		asks  sync.WaitGroup
	)
	slots := make(chan struct{}, peerAsks)
	ask := func(p PeerAddr) {
		mu.Lock()
		if asked[p.ID] || done {
			mu.Unlock()
			return
		}
		asked[p.ID] = true
		asks.Add(1)
		mu.Unlock()
		if !n.wg.Go(func() {
			defer asks.Done()
			select {
			case slots <- struct{}{}:
			case <-lctx.Done():
				return
			}
			defer func() { <-slots }()
			c, err := n.conn(lctx, p)
			if err != nil {
				return
			}
			m, st, err := n.askPeer(ctx, lctx, c, id, withStart)
			if err != nil {
				return
			}
			mu.Lock()
			first := !done
			done = true
			mu.Unlock()
			if !first {
				st.release()
				return
			}
			won <- answer{m, st}
		}) {
			asks.Done() // the node is closing
		}
	}
	searched := make(chan struct{})
	if !n.wg.Go(func() {
		defer close(searched)
		// A young DHT may name the holders only on a second look; a
		// round that names nobody ends the search, so a track nobody
		// holds fails fast with the origin down.
		for round := 0; lctx.Err() == nil; round++ {
			var named atomic.Bool
			n.eachCandidate(lctx, id, false, true, func(ps []PeerAddr) {
				named.Store(true)
				for _, p := range ps {
					ask(p)
				}
			})
			if !named.Load() || n.dht == nil || round == 1 {
				break
			}
			select {
			case <-lctx.Done():
			case <-time.After(500 * time.Millisecond):
			}
		}
		asks.Wait()
	}) {
		return nil, started{}, ErrNodeClosed
	}
	select {
	case a := <-won:
		return a.m, a.st, nil
	case <-searched:
		select {
		case a := <-won:
			return a.m, a.st, nil
		default:
		}
	}
	if err := ctx.Err(); err != nil {
		return nil, started{}, err
	}
	return nil, started{}, noManifest(id, originErr)
}

// peerAsks bounds the peers fromPeers asks at once.
const peerAsks = 4

// candidates lists peers that may hold id: connected peers, the tracker's
// answer, a neighbour search, and (when the tracker cannot answer, or
// always if withKnown) the peers remembered from earlier.
//
// withDHT waits for a DHT lookup too; the scheduler's rounds do not (they
// run one beside, see scheduler.discover), so a slow DHT never holds back
// what the tracker and the neighbours said.
func (n *Node) candidates(ctx context.Context, id track.ID, withKnown, withDHT bool) []PeerAddr {
	var mu sync.Mutex
	var out []PeerAddr
	n.eachCandidate(ctx, id, withKnown, withDHT, func(ps []PeerAddr) {
		mu.Lock()
		out = append(out, ps...)
		mu.Unlock()
	})
	return dedupe(out, n.id)
}

// eachCandidate passes found the peers that may hold id as each source
// names them (candidates lists the sources), from several goroutines at
// once; it returns when every source has answered. Banned peers are left
// out; the same peer may come twice. The tracker is not asked while the
// origin is silent (noteOrigin): the peers remembered stand in for it.
func (n *Node) eachCandidate(ctx context.Context, id track.ID, withKnown, withDHT bool, found func([]PeerAddr)) {
	add := func(ps []PeerAddr) {
		ps = slices.DeleteFunc(ps, func(p PeerAddr) bool { return p.ID == n.id || n.isBanned(p.ID) })
		if len(ps) > 0 {
			found(ps)
		}
	}
	var conns []PeerAddr
	for _, c := range n.connected() {
		conns = append(conns, PeerAddr{ID: c.id, Addr: c.addr})
	}
	add(conns)
	var wg sync.WaitGroup
	var trackerOK atomic.Bool
	if !n.originSilent() {
		wg.Go(func() {
			// A slow tracker must not hold back what peers already told us.
			tctx, cancel := context.WithTimeout(ctx, 1500*time.Millisecond)
			defer cancel()
			ps, err := n.origin.Peers(tctx, id, string(n.id), 30)
			if err != nil {
				return
			}
			trackerOK.Store(true)
			var found []PeerAddr
			for _, p := range ps {
				found = append(found, PeerAddr{ID: PeerID(p.ID), Addr: p.Addr})
				if p.Reach == ReachNone || p.Reach == ReachPunching {
					n.noteBehindNAT(p.Addr)
				}
			}
			n.learn(netip.Prefix{}, found)
			n.confirm(found...)
			for _, p := range found {
				n.meetDHT(p.Addr)
			}
			add(found)
		})
	}
	if withDHT {
		wg.Go(func() { n.dhtHolders(ctx, id, func(p PeerAddr) { add([]PeerAddr{p}) }) })
	}
	wg.Go(func() {
		sctx, cancel := context.WithTimeout(ctx, 1500*time.Millisecond)
		defer cancel()
		add(n.askNeighbours(sctx, id, MaxWhoHasTTL, ""))
	})
	wg.Wait()
	if withKnown || !trackerOK.Load() {
		add(n.knownPeers())
	}
}

// chunkTimes maps each chunk to the playback time of its first byte,
// through the manifest's seek index (exact for VBR too).
func chunkTimes(m *track.Manifest) []time.Duration {
	out := make([]time.Duration, m.NumChunks())
	seek := m.Audio.Seek
	rate := float64(max(m.Audio.SampleRate, 1))
	for i := range out {
		off, _ := m.ChunkBounds(i)
		j := sort.Search(len(seek), func(j int) bool { return seek[j].Offset > off }) - 1
		if j < 0 {
			continue
		}
		sample := float64(seek[j].Sample)
		// Interpolate within the seek interval by bytes.
		if j+1 < len(seek) {
			span := float64(seek[j+1].Offset - seek[j].Offset)
			sample += float64(seek[j+1].Sample-seek[j].Sample) * float64(off-seek[j].Offset) / span
		} else if m.Audio.Bitrate > 0 {
			sample += float64(off-seek[j].Offset) * 8 / float64(m.Audio.Bitrate) * rate
		}
		out[i] = time.Duration(sample / rate * float64(time.Second))
	}
	return out
}

// Read reads the track's bytes at the stream position, blocking until they
// have arrived. It returns io.EOF at the end of the track, and an error
// wrapping ErrUnavailable if a chunk could not be had from anyone.
func (s *Stream) Read(p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.clocked {
		// A reader is waiting: playback starts now, from here.
		s.clocked = true
		s.playPos, s.playAt = s.chunkPTS[s.m.ChunkAt(min(s.pos, s.m.Size-1))], time.Now()
		s.kick()
	}
	for {
		if s.closed || (s.stopped && !s.got.Has(s.m.ChunkAt(min(s.pos, s.m.Size-1)))) {
			return 0, ErrClosed
		}
		if s.pos >= s.m.Size {
			return 0, io.EOF
		}
		i := s.m.ChunkAt(s.pos)
		if err := s.failed[i]; err != nil {
			return 0, err
		}
		if s.got.Has(i) {
			if s.curIdx != i {
				b, err := s.chunk(i)
				if s.closed || s.pos >= s.m.Size || s.m.ChunkAt(s.pos) != i || !s.got.Has(i) {
					continue // a Seek or Close came while the lock was free
				}
				if err != nil {
					// The store lost it (evicted, corrupted): fetch again,
					// and count it under the source that delivers it then.
					s.got[i/8] &^= 0x80 >> (i % 8) // bit order of cache.Bitfield
					if src := s.countedAs[i]; src >= 0 {
						s.count(i, src, -1)
					}
					s.kick()
					continue
				}
				s.curIdx, s.cur = i, b
			}
			off, _ := s.m.ChunkBounds(i)
			n := copy(p, s.cur[s.pos-off:])
			s.pos += int64(n)
			s.kick()
			return n, nil
		}
		s.cond.Wait()
	}
}

// chunk returns chunk i, called with s.mu held. A chunk the store holds
// is read (from disk, and hashed) with s.mu released, so that the
// player's SetPosition and Seek never wait for that I/O; the caller
// checks afterwards that the chunk is still the one it wants.
func (s *Stream) chunk(i int) ([]byte, error) {
	if b, ok := s.mem[i]; ok {
		return b, nil
	}
	s.mu.Unlock()
	defer s.mu.Lock()
	return s.n.store.ReadChunk(s.m.ID, i)
}

// Seek sets the byte position for the next Read (io.Seeker). Chunks before
// the new position stop being fetched in ModePlay. It may be called while
// a Read is blocked: that Read then returns bytes from the new position.
func (s *Stream) Seek(offset int64, whence int) (int64, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	switch whence {
	case io.SeekCurrent:
		offset += s.pos
	case io.SeekEnd:
		offset += s.m.Size
	}
	if offset < 0 {
		return s.pos, fmt.Errorf("seek to %d: before the start", offset)
	}
	s.pos = offset
	s.runStart = s.m.ChunkAt(min(offset, s.m.Size-1))
	s.curIdx = -1
	s.cond.Broadcast() // a Read blocked at the old position reads from the new one
	s.kick()
	return offset, nil
}

// SeekTime positions the stream at the frame boundary of the seek point at
// or before t and returns that point: decoding from there reaches t after
// (t - point time) of samples.
func (s *Stream) SeekTime(t time.Duration) (track.SeekPoint, error) {
	sp := s.m.SeekPointAt(t)
	_, err := s.Seek(sp.Offset, io.SeekStart)
	if err == nil {
		s.SetPosition(time.Duration(float64(sp.Sample) / float64(max(s.m.Audio.SampleRate, 1)) * float64(time.Second)))
	}
	return sp, err
}

// SetPosition reports the playback position (ModePlay): chunk deadlines
// count from it as if playback goes on in real time. A negative t says
// playback is to start in -t: a prefetched track, due when the one
// playing ends.
func (s *Stream) SetPosition(t time.Duration) {
	s.mu.Lock()
	s.playPos, s.playAt, s.clocked = t, time.Now(), true
	s.mu.Unlock()
	s.kick()
}

// Stats returns where the stream's bytes came from so far.
func (s *Stream) Stats() Stats {
	s.mu.Lock()
	defer s.mu.Unlock()
	st := s.stats
	st.Peers = len(s.peersUsed)
	return st
}

// Complete reports whether every chunk has arrived.
func (s *Stream) Complete() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.got.Count() == s.m.NumChunks()
}

// Close stops fetching and unblocks readers. It waits for the scheduler.
func (s *Stream) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	s.cond.Broadcast()
	s.mu.Unlock()
	s.cancel()
	<-s.done
	s.unpin()
	s.n.mu.Lock()
	if s.n.open[s.m.ID]--; s.n.open[s.m.ID] <= 0 {
		delete(s.n.open, s.m.ID)
	}
	s.n.mu.Unlock()
	return nil
}

// kick wakes the scheduler; callable with or without s.mu held.
func (s *Stream) kick() {
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

// deliver records a verified chunk: into the store, or memory if the store
// refuses it (full of pinned tracks, disk full).
func (s *Stream) deliver(i int, b []byte, src Source, peer PeerID) {
	err := s.n.store.WriteChunk(s.m.ID, i, b)
	s.mu.Lock()
	defer s.mu.Unlock()
	if err != nil {
		s.mem[i] = b
	}
	if s.got.Has(i) {
		return
	}
	s.got.Set(i)
	delete(s.failed, i)
	s.count(i, src, 1)
	if src == FromPeer {
		s.peersUsed[peer] = true
	}
	if s.stats.FirstByte == 0 {
		s.stats.FirstByte = time.Since(s.opened)
	}
	s.cond.Broadcast()
}

// count adds chunk i's bytes to (sign 1) or takes them from (sign -1) the
// figure of src; called with s.mu held.
func (s *Stream) count(i int, src Source, sign int64) {
	_, l := s.m.ChunkBounds(i)
	switch src {
	case FromCache:
		s.stats.FromCache += sign * int64(l)
	case FromPeer:
		s.stats.FromPeers += sign * int64(l)
	case FromOrigin:
		s.stats.FromOrigin += sign * int64(l)
	}
	s.countedAs[i] = src
	if sign < 0 {
		s.countedAs[i] = -1
	}
}

func (s *Stream) clearFailed(i int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.failed, i)
}

func (s *Stream) fail(i int, err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.failed[i] = err
	s.cond.Broadcast()
}

// view is what the scheduler needs of the stream's state, read at once.
type view struct {
	got      cache.Bitfield
	pos      int
	runStart int
	playTime time.Duration // playback position now, extrapolated
	clocked  bool          // playTime is known (see ModePlay)
	closed   bool
	failed   map[int]bool
}

func (s *Stream) view() view {
	s.mu.Lock()
	defer s.mu.Unlock()
	v := view{
		got:      append(cache.Bitfield(nil), s.got...),
		pos:      s.m.ChunkAt(min(s.pos, s.m.Size-1)),
		runStart: s.runStart,
		playTime: s.playPos + time.Since(s.playAt),
		clocked:  s.clocked,
		closed:   s.closed,
		failed:   map[int]bool{},
	}
	for i := range s.failed {
		v.failed[i] = true
	}
	return v
}

// BufferedAhead is how much audio past the playback position has arrived
// without a gap: what playback can survive if every source went silent.
func (s *Stream) BufferedAhead() time.Duration {
	s.mu.Lock()
	defer s.mu.Unlock()
	i := s.m.ChunkAt(min(s.pos, s.m.Size-1))
	for i < s.m.NumChunks() && s.got.Has(i) {
		i++
	}
	end := s.m.Duration()
	if i < s.m.NumChunks() {
		end = s.chunkPTS[i]
	}
	now := s.playPos
	if s.mode == ModePlay && s.clocked {
		now += time.Since(s.playAt)
	}
	return max(end-now, 0)
}
