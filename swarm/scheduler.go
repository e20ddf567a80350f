package swarm

import (
	"context"
	"errors"
	"fmt"
	"math"
	"slices"
	"sync"
	"time"

	"github.com/potluckfm/potluck/cache"
	"github.com/potluckfm/potluck/track"
)

// SchedulerConfig tunes how a Stream spreads chunk requests over the origin
// and peers. docs/scheduler.md says why the defaults are what they are.
type SchedulerConfig struct {
	// Head is the audio, from where reading starts, asked from the origin
	// at once while peers are looked up (default 3s). In ModePlay the head
	// of a cued stream (a prefetch) waits until playback is due within
	// Head; until then peers that hold it serve it.
	Head time.Duration
	// Emergency: in ModePlay, a chunk due sooner than this that no peer is
	// delivering goes to the origin (default 2s).
	Emergency time.Duration
	// PerPeer is the number of requests in flight to one peer (default 4).
	PerPeer int
	// OriginParallel is the number of requests in flight to the origin (default 4).
	OriginParallel int
	// PeerTimeout is the least time a peer gets for a chunk before the
	// request moves elsewhere (default 1.5s; slower peers get 4x their
	// measured time).
	PeerTimeout time.Duration
	// DiscoveryWait is how long chunks wait for the first peer lookup
	// before the origin is asked for those no peer holds (default 1.5s).
	DiscoveryWait time.Duration
	// Refresh is how often the chunk maps that can still grow (peers
	// fetching the track, connections not asked yet) are asked again
	// (default 500ms).
	Refresh time.Duration
	// MateWait is how long a chunk waits for the swarm-mate it is left to
	// before the origin is asked (default 2s).
	MateWait time.Duration
}

// WithDefaults returns c with its zero fields set to their defaults.
func (c SchedulerConfig) WithDefaults() SchedulerConfig {
	def := func(v *time.Duration, d time.Duration) {
		if *v <= 0 {
			*v = d
		}
	}
	def(&c.Head, 3*time.Second)
	def(&c.Emergency, 2*time.Second)
	def(&c.PeerTimeout, 1500*time.Millisecond)
	def(&c.DiscoveryWait, 1500*time.Millisecond)
	def(&c.Refresh, 500*time.Millisecond)
	def(&c.MateWait, 2*time.Second)
	if c.PerPeer <= 0 {
		c.PerPeer = 4
	}
	if c.OriginParallel <= 0 {
		c.OriginParallel = 4
	}
	return c
}

// scheduler is the goroutine that owns a stream's requests. Fetching
// goroutines report to it through results; discovery through haves.
type scheduler struct {
	s   *Stream
	n   *Node
	m   *track.Manifest
	cfg SchedulerConfig

	results chan result
	haves   chan peerHave
	origSrc chunkSource // the origin, as a source of chunks

	inflight   map[int][]*pending // chunk → requests out (a peer's, and maybe the origin's)
	peers      map[PeerID]*streamPeer
	book       *haveBook // what each peer said of the track, shared with discover
	origin     originState
	waiting    map[int]time.Time // when a chunk no peer held began waiting for a mate
	discovered bool              // the first lookup ended, or chunks waited long enough for it
	lookedUp   bool              // the first lookup ended
	lastReq    reqID             // the last request's ID
}

// reqID names one request of a stream: an answer carries the ID of the
// request it answers, so a late answer to a cancelled request cannot be
// taken for a newer request of the same chunk.
type reqID uint64

type pending struct {
	id      reqID
	src     chunkSource
	peer    *peerConn // nil for the origin
	sp      *streamPeer
	started time.Time
	cancel  context.CancelFunc
}

type result struct {
	req   reqID
	chunk int
	data  []byte
	peer  *peerConn // nil for the origin
	err   error
}

type peerHave struct {
	c    *peerConn
	have cache.Bitfield
}

// streamPeer is what one stream knows of one peer.
type streamPeer struct {
	c        *peerConn
	have     cache.Bitfield
	inflight int
	skip     map[int]time.Time // chunks it failed to deliver, until when to ask others
	busy     time.Time         // it said busy: leave it alone until then
	strikes  int
	mapAt    time.Time // when its map came
}

type originState struct {
	inflight  int
	failures  int
	downUntil time.Time
	lastErr   error
	answered  bool // a chunk came from the origin for this stream
}

// Timeouts of a chunk request to the origin: originTimeout, and
// originFirstTimeout until the origin delivered a chunk for the stream, so
// that an origin that is down (its QUIC connection open but silent until
// its idle timeout) fails a track in seconds, not at originTimeout: a
// request that times out before the origin ever answered counts as the
// three failures after which a chunk no peer holds fails.
const (
	originTimeout      = 20 * time.Second
	originFirstTimeout = 4 * time.Second
)

func newScheduler(s *Stream) *scheduler {
	return &scheduler{
		s: s, n: s.n, m: s.m, cfg: s.cfg,
		results:  make(chan result, 64),
		origSrc:  originSource{s.n.origin},
		haves:    make(chan peerHave, 64),
		inflight: map[int][]*pending{},
		peers:    map[PeerID]*streamPeer{},
		book:     &haveBook{said: map[PeerID]haveEntry{}},
		waiting:  map[int]time.Time{},
	}
}

// dropPeer takes a peer off the stream; its map is asked again at the
// next refresh, so that a peer dropped for stalling or for evicting the
// track comes back if it still (or again) holds chunks.
func (sc *scheduler) dropPeer(id PeerID) {
	delete(sc.peers, id)
	sc.book.forget(id)
}

// leaveToMate reports whether chunk i, which no peer holds yet, should be
// left to a swarm-mate (a peer fetching the same track) to get from the
// origin. Mates split the chunks among them by rank of ID, so a crowd
// fetching one track costs the origin about one copy, not one per node; a
// chunk left to a mate goes to the origin anyway after MateWait.
func (sc *scheduler) leaveToMate(i int, now time.Time) bool {
	ids := []PeerID{sc.n.id}
	for id, p := range sc.peers {
		if p.have.Count() < sc.m.NumChunks() && p.c.conn.Context().Err() == nil {
			ids = append(ids, id)
		}
	}
	if len(ids) == 1 {
		return false
	}
	slices.Sort(ids)
	if ids[i%len(ids)] == sc.n.id {
		return false
	}
	since, ok := sc.waiting[i]
	if !ok {
		sc.waiting[i] = now
		return true
	}
	return now.Sub(since) < sc.cfg.MateWait
}

func (sc *scheduler) run(ctx context.Context) {
	defer func() {
		for _, ps := range sc.inflight {
			for _, p := range ps {
				p.cancel()
			}
		}
	}()
	discoveryDone := make(chan struct{})
	dctx, stopDiscovery := context.WithCancel(ctx)
	defer stopDiscovery()
	if !sc.n.cfg.NoPeers && sc.s.view().got.Count() < sc.m.NumChunks() {
		sc.n.wg.Go(func() { sc.discover(dctx, discoveryDone) })
	} else {
		close(discoveryDone)
		sc.lookedUp = true
	}
	waitTimer := time.NewTimer(sc.cfg.DiscoveryWait)
	defer waitTimer.Stop()
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	announced, announcedComplete := false, false
	for {
		v := sc.s.view()
		if v.closed {
			return
		}
		complete := v.got.Count() == sc.m.NumChunks()
		if complete && !announcedComplete {
			// Once: the stream of a whole track stays open while it plays,
			// and every tick here used to make an announce to the tracker.
			announcedComplete = true
			sc.n.AnnounceNow()
			stopDiscovery()
		}
		if !announced && v.got.Count() > 0 {
			announced = true
			sc.n.AnnounceNow()
		}
		if !complete {
			sc.plan(ctx, v)
		}
		select {
		case <-ctx.Done():
			return
		case r := <-sc.results:
			sc.handle(r)
		case h := <-sc.haves:
			sc.addPeer(h)
		case <-discoveryDone:
			sc.discovered, sc.lookedUp = true, true
			discoveryDone = nil
		case <-waitTimer.C:
			sc.discovered = true
		case <-sc.s.wake:
		case <-tick.C:
		}
	}
}

// plan sends requests for the chunks that need one, most urgent first.
func (sc *scheduler) plan(ctx context.Context, v view) {
	now := time.Now()
	n := sc.m.NumChunks()
	order := make([]int, 0, n)
	for i := v.pos; i < n; i++ {
		order = append(order, i)
	}
	if sc.s.mode == ModeFetch {
		for i := 0; i < v.pos; i++ {
			order = append(order, i)
		}
	} else {
		// A seek moved past these: stop fetching them.
		for i, ps := range sc.inflight {
			if i < v.pos {
				for _, p := range ps {
					p.cancel()
					if p.sp != nil {
						p.sp.inflight--
					}
				}
				sc.dropPending(i)
			}
		}
	}
	for _, i := range order {
		if v.got.Has(i) {
			continue
		}
		if v.failed[i] {
			// Try again once a source may have it: a peer appeared, or the
			// origin's back-off ran out.
			if !sc.anyPeerHolds(i) && now.Before(sc.origin.downUntil) {
				continue
			}
			sc.s.clearFailed(i)
		}
		// In ModePlay a chunk is due when playback reaches it; a cued
		// stream's chunks are not due yet, and its head waits until
		// playback is less than Head away.
		due := time.Duration(math.MaxInt64)
		if sc.s.mode == ModePlay && v.clocked {
			due = sc.s.chunkPTS[i] - v.playTime
		}
		head := sc.s.chunkPTS[i]-sc.s.chunkPTS[v.runStart] < sc.cfg.Head && i >= v.runStart &&
			(sc.s.mode != ModePlay || due < sc.cfg.Head)
		urgent := due < sc.cfg.Emergency
		if ps := sc.inflight[i]; len(ps) > 0 {
			sc.watch(ctx, i, ps, urgent, now)
			continue
		}
		originUp := !now.Before(sc.origin.downUntil)
		if sc.n.cfg.NoPeers || ((head || urgent) && originUp) {
			sc.askOrigin(ctx, i)
			continue
		}
		if p := sc.bestPeer(i); p != nil {
			sc.askPeer(ctx, p, i)
			continue
		}
		if sc.discovered && !sc.anyPeerHas(i) && !sc.leaveToMate(i, now) {
			sc.askOrigin(ctx, i)
		}
	}
}

// watch moves a peer request that takes too long; for an urgent chunk a
// slow peer gets a duplicate request to the origin.
func (sc *scheduler) watch(ctx context.Context, i int, ps []*pending, urgent bool, now time.Time) {
	for _, p := range ps {
		if p.peer == nil {
			return // the origin has it in hand
		}
	}
	p := ps[0]
	sp := sc.peers[p.peer.id]
	limit := sc.cfg.PeerTimeout
	if sp != nil {
		p.peer.mu.Lock()
		if r := p.peer.rate; r > 0 {
			_, l := sc.m.ChunkBounds(i)
			limit = max(limit, 4*time.Duration(float64(l)*float64(sp.inflight)/r*float64(time.Second)))
		}
		p.peer.mu.Unlock()
	}
	switch age := now.Sub(p.started); {
	case age > limit:
		p.cancel()
		sc.dropPending(i)
		p.sp.inflight--
		if sp != nil {
			sp.skip[i] = now.Add(skipFor)
			sp.strikes++
			if sp.strikes >= 3 {
				sc.n.log.Info("peer stalls; dropping it from this stream", "peer", sp.c.id.Short(), "track", sc.m.ID)
				sc.dropPeer(sp.c.id)
			}
		}
	case urgent && age > limit/3:
		sc.askOrigin(ctx, i)
	}
}

func (sc *scheduler) dropPending(i int) { delete(sc.inflight, i) }

// bestPeer picks, among the peers holding chunk i with room in their queue,
// the one expected to deliver soonest (queued bytes over measured rate).
func (sc *scheduler) bestPeer(i int) *streamPeer {
	now := time.Now()
	var best *streamPeer
	var bestETA float64
	for _, p := range sc.peers {
		if !p.usable(i, now) || p.inflight >= sc.cfg.PerPeer || p.c.conn.Context().Err() != nil {
			continue
		}
		p.c.mu.Lock()
		r := p.c.rate
		p.c.mu.Unlock()
		if r == 0 {
			r = 1 << 20 // untried: assume 1 MB/s so it gets a chance
		}
		eta := float64(p.inflight+1) * float64(sc.m.ChunkSize) / r
		if best == nil || eta < bestETA {
			best, bestETA = p, eta
		}
	}
	return best
}

// skipFor is how long a chunk is not asked again of a peer that failed to
// deliver it; busyFor how long a peer that said busy is left alone. A peer
// that says it does not hold a chunk its map, younger than maxMapAge, said
// it held is lying; an older map may just be out of date (a peer that
// holds a whole track is not asked for its map again).
const (
	skipFor   = 5 * time.Second
	busyFor   = 500 * time.Millisecond
	maxMapAge = 2 * time.Second
)

// usable reports whether p may be asked for chunk i now.
func (p *streamPeer) usable(i int, now time.Time) bool {
	return p.have.Has(i) && now.After(p.skip[i]) && now.After(p.busy)
}

// anyPeerHas reports whether a peer that may be asked now holds chunk i.
func (sc *scheduler) anyPeerHas(i int) bool {
	now := time.Now()
	for _, p := range sc.peers {
		if p.usable(i, now) && p.c.conn.Context().Err() == nil {
			return true
		}
	}
	return false
}

// anyPeerHolds reports whether any peer holds chunk i, asked now or later.
func (sc *scheduler) anyPeerHolds(i int) bool {
	for _, p := range sc.peers {
		if p.have.Has(i) {
			return true
		}
	}
	return false
}

func (sc *scheduler) askPeer(ctx context.Context, p *streamPeer, i int) {
	rctx, cancel := context.WithCancel(ctx)
	sc.lastReq++
	id := sc.lastReq
	sc.inflight[i] = append(sc.inflight[i], &pending{id: id, src: p.c, peer: p.c, sp: p, started: time.Now(), cancel: cancel})
	p.inflight++
	prio := PriorityPlaying
	if sc.s.mode == ModeFetch {
		prio = PriorityPrefetch
	}
	sc.n.wg.Go(func() {
		defer cancel()
		b, err := p.c.fetchChunk(rctx, sc.m, i, prio)
		select {
		case sc.results <- result{req: id, chunk: i, data: b, peer: p.c, err: err}:
		case <-ctx.Done():
		}
	})
}

func (sc *scheduler) askOrigin(ctx context.Context, i int) {
	if sc.origin.inflight >= sc.cfg.OriginParallel || time.Now().Before(sc.origin.downUntil) {
		if time.Now().Before(sc.origin.downUntil) && sc.lookedUp && !sc.anyPeerHolds(i) && sc.origin.failures >= 3 {
			sc.s.fail(i, fmt.Errorf("%w: chunk %d of %s: no peer holds it and the origin did not deliver it: %v",
				ErrUnavailable, i, sc.m.ID, sc.origin.lastErr))
		}
		return
	}
	timeout := originTimeout
	if !sc.origin.answered {
		timeout = originFirstTimeout
	}
	rctx, cancel := context.WithTimeout(ctx, timeout)
	sc.lastReq++
	id := sc.lastReq
	src := sc.origSrc
	sc.inflight[i] = append(sc.inflight[i], &pending{id: id, src: src, started: time.Now(), cancel: cancel})
	sc.origin.inflight++
	sc.n.wg.Go(func() {
		defer cancel()
		b, err := src.fetchChunk(rctx, sc.m, i, 0)
		select {
		case sc.results <- result{req: id, chunk: i, data: b, err: err}:
		case <-ctx.Done():
		}
	})
}

// handle takes one answer: a verified chunk, or a failure to route around.
func (sc *scheduler) handle(r result) {
	ps := sc.inflight[r.chunk]
	idx := slices.IndexFunc(ps, func(p *pending) bool { return p.id == r.req })
	if idx >= 0 && ps[idx].sp != nil {
		ps[idx].sp.inflight--
	}
	if idx >= 0 {
		ps = slices.Delete(ps, idx, idx+1)
		if len(ps) == 0 {
			delete(sc.inflight, r.chunk)
		} else {
			sc.inflight[r.chunk] = ps
		}
	}
	var sp *streamPeer
	if r.peer == nil {
		sc.origin.inflight--
	} else if sp = sc.peers[r.peer.id]; sp != nil && sp.c != r.peer {
		sp = nil
	}
	if r.err == nil {
		src := FromOrigin
		var pid PeerID
		if r.peer != nil {
			src, pid = FromPeer, r.peer.id
			sc.n.markGood(r.peer)
		} else {
			sc.origin.failures = 0
			sc.origin.answered = true
		}
		sc.s.deliver(r.chunk, r.data, src, pid)
		// A duplicate request for the same chunk is no longer needed.
		for _, p := range sc.inflight[r.chunk] {
			p.cancel()
		}
		return
	}
	if r.peer == nil {
		// A request the scheduler dropped (a seek) or no longer needed (a
		// peer delivered first) was cancelled by us: not the origin's fault.
		if idx < 0 || errors.Is(r.err, context.Canceled) || sc.s.view().got.Has(r.chunk) {
			return
		}
		sc.origin.failures++
		if !sc.origin.answered && errors.Is(r.err, context.DeadlineExceeded) {
			// Silent for originFirstTimeout and never answered: down,
			// not flaky (see askOrigin).
			sc.origin.failures = max(sc.origin.failures, 3)
		}
		sc.origin.lastErr = r.err
		sc.origin.downUntil = time.Now().Add(min(time.Duration(sc.origin.failures)*500*time.Millisecond, 5*time.Second))
		sc.n.log.Debug("origin chunk failed", "chunk", r.chunk, "err", r.err)
		return
	}
	switch {
	case errors.Is(r.err, track.ErrBadChunk):
		sc.s.mu.Lock()
		sc.s.stats.Dropped++
		sc.s.mu.Unlock()
		sc.n.ban(r.peer.id, fmt.Sprintf("sent chunk %d of %s that fails its hash", r.chunk, sc.m.ID))
		delete(sc.peers, r.peer.id)
	case errors.Is(r.err, ErrNotHeld) && sp != nil && sp.have.Has(r.chunk) && time.Since(sp.mapAt) < maxMapAge:
		sc.n.ban(r.peer.id, fmt.Sprintf("claimed chunk %d of %s and did not serve it", r.chunk, sc.m.ID))
		delete(sc.peers, r.peer.id)
	case errors.Is(r.err, ErrNotHeld) && sp != nil:
		// Its map is old: the chunk may have failed its check there since.
		sc.dropPeer(r.peer.id)
	case errors.Is(r.err, ErrGone) && sp != nil:
		sc.dropPeer(r.peer.id) // evicted the track: not a liar, just no source
	case errors.Is(r.err, ErrBusy) && sp != nil:
		sp.busy = time.Now().Add(busyFor)
	case errors.Is(r.err, context.Canceled) || errors.Is(r.err, context.DeadlineExceeded):
		// Moved elsewhere by watch, or the stream is closing.
	case sp != nil:
		sp.skip[r.chunk] = time.Now().Add(skipFor)
		if r.peer.conn.Context().Err() != nil {
			sc.dropPeer(r.peer.id) // vanished: its chunks go elsewhere
		}
	}
}

// addPeer takes a peer's chunk map from discovery.
func (sc *scheduler) addPeer(h peerHave) {
	if sc.n.isBanned(h.c.id) || len(h.have) != len(sc.s.got) {
		return
	}
	if sp := sc.peers[h.c.id]; sp != nil && sp.c == h.c {
		sp.have, sp.mapAt = h.have, time.Now()
		return
	}
	sc.peers[h.c.id] = &streamPeer{c: h.c, have: h.have, skip: map[int]time.Time{}, mapAt: time.Now()}
	sc.s.mu.Lock()
	if sc.s.stats.FirstPeer == 0 {
		sc.s.stats.FirstPeer = time.Since(sc.s.opened)
	}
	sc.s.mu.Unlock()
}

// discover finds peers holding the track and keeps the chunk maps that
// can still grow fresh until the stream ends. It closes done after the
// first round.
func (sc *scheduler) discover(ctx context.Context, done chan struct{}) {
	id := sc.m.ID
	book := sc.book
	defer sc.n.watchInterest(id, book)()
	asked := map[PeerID]bool{}
	round := func(withKnown bool) {
		clear(asked)
		cands := sc.n.candidates(ctx, id, withKnown)
		// Ask many at once: a dead peer the tracker still lists must not
		// hold up the live ones.
		sem := make(chan struct{}, 32)
		for _, p := range cands {
			if asked[p.ID] {
				continue
			}
			asked[p.ID] = true
			select {
			case sem <- struct{}{}:
			case <-ctx.Done():
				return
			}
			sc.n.wg.Go(func() {
				defer func() { <-sem }()
				sc.askHave(ctx, p, false)
			})
		}
		for range cap(sem) {
			select {
			case sem <- struct{}{}:
			case <-ctx.Done():
				return
			}
		}
	}
	if !sc.n.cfg.NoAnnounce {
		// List this node as fetching the track before looking up others:
		// of two nodes starting at once, the later lookup then sees the
		// earlier announce, so every pair of swarm-mates finds each other.
		actx, cancel := context.WithTimeout(ctx, 500*time.Millisecond)
		sc.n.Announce(actx)
		cancel()
	}
	round(false)
	close(done)
	refresh := time.NewTicker(sc.cfg.Refresh)
	defer refresh.Stop()
	lookup := time.NewTicker(2 * time.Second)
	defer lookup.Stop()
	// A lookup round can take seconds (a tracker that does not answer, then
	// a neighbour search): it runs aside, one at a time, so that the
	// refresh keeps its pace.
	var rounds sync.WaitGroup
	defer rounds.Wait()
	looking := make(chan struct{}, 1)
	for {
		select {
		case <-ctx.Done():
			return
		case <-refresh.C:
			// Peers fetching the same track gain chunks, and mates that
			// found this node connect to it: ask the connected peers whose
			// map may have changed.
			for _, c := range sc.n.connected() {
				if book.ask(c, true) {
					sc.n.wg.Go(func() { sc.askHave(ctx, PeerAddr{ID: c.id, Addr: c.addr}, true) })
				}
			}
		case <-lookup.C:
			select {
			case looking <- struct{}{}:
				rounds.Go(func() {
					defer func() { <-looking }()
					round(true)
				})
			default: // the last round is still going
			}
		}
	}
}

// haveState is what a peer last said of a stream's track.
type haveState int

const (
	haveUnasked  haveState = iota
	haveNotHeld            // it does not hold the track
	havePartial            // it is fetching it
	haveComplete           // it holds all of it: its map will not change
)

// haveBook records, for one stream, what each peer said of the track, so
// that the half-second refresh asks only the maps that can still grow:
// peers fetching the track, and peers not asked yet on their current
// connection (one that left and came back is asked anew). Peers that said
// they hold nothing are asked again by the 2 s lookup rounds, or at the
// next refresh once they ask this node for its map of the track (a sign
// they have begun to fetch it: see Node.watchInterest); peers that hold it
// all are not asked again unless the scheduler drops them.
type haveBook struct {
	mu   sync.Mutex
	said map[PeerID]haveEntry
}

type haveEntry struct {
	st haveState
	c  *peerConn // the connection it was said on
}

// ask reports whether c's map is worth asking for: on a refresh, if it was
// never asked on c or is partial; on a lookup, unless it is complete.
func (b *haveBook) ask(c *peerConn, refresh bool) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	e := b.said[c.id]
	if e.c != c {
		return true
	}
	if refresh {
		return e.st == haveUnasked || e.st == havePartial
	}
	return e.st != haveComplete
}

func (b *haveBook) note(c *peerConn, st haveState) {
	b.mu.Lock()
	b.said[c.id] = haveEntry{st: st, c: c}
	b.mu.Unlock()
}

// forget makes a peer's map worth asking for again.
func (b *haveBook) forget(id PeerID) {
	b.mu.Lock()
	delete(b.said, id)
	b.mu.Unlock()
}

// interested marks a peer that said it held nothing as worth asking again.
func (b *haveBook) interested(id PeerID) {
	b.mu.Lock()
	if b.said[id].st == haveNotHeld {
		delete(b.said, id)
	}
	b.mu.Unlock()
}

// askHave connects to p and reports its chunk map of the track, unless
// the book says the map cannot have changed.
func (sc *scheduler) askHave(ctx context.Context, p PeerAddr, refresh bool) {
	book := sc.book
	hctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	c, err := sc.n.conn(hctx, p)
	if err != nil || !book.ask(c, refresh) {
		return
	}
	bf, err := c.have(hctx, sc.m.ID)
	if errors.Is(err, ErrNotHeld) {
		book.note(c, haveNotHeld)
	}
	if err != nil || len(bf) != (sc.m.NumChunks()+7)/8 {
		return
	}
	have := cache.Bitfield(bf)
	if have.Count() == sc.m.NumChunks() {
		book.note(c, haveComplete)
	} else {
		book.note(c, havePartial)
	}
	sc.n.noteHolder(sc.m.ID, c.id)
	select {
	case sc.haves <- peerHave{c: c, have: have}:
	case <-ctx.Done():
	}
}
