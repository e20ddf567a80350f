package swarm

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
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
	tries      map[int]int       // failed peer requests of each chunk
	firstTry   map[int]time.Time // when each chunk was first asked of a peer
	// struck keeps what the stream learnt of a peer it dropped (its
	// strikes and skips), so that a staller whose map is read again comes
	// back with them, not with a clean slate.
	struck map[PeerID]*streamPeer

	announced         bool // after the stream's first chunk
	announcedComplete bool // the whole track: once, not every pass
	stopDiscovery     func()

	// lookupAt and refreshAt are when decide next asks discover for a
	// lookup round and a refresh (see snapshot); lookupNow and refreshNow
	// carry the asks.
	lookupAt, refreshAt   time.Time
	lookupNow, refreshNow chan struct{}
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
		tries:    map[int]int{},
		firstTry: map[int]time.Time{},
		struck:   map[PeerID]*streamPeer{},

		lookupNow:  make(chan struct{}, 1),
		refreshNow: make(chan struct{}, 1),
	}
}

// dropPeer takes a peer off the stream; its map is asked again at the
// next refresh, so that a peer dropped for stalling or for evicting the
// track comes back if it still (or again) holds chunks.
func (sc *scheduler) dropPeer(id PeerID) {
	if sp := sc.peers[id]; sp != nil && (len(sc.struck) < maxStruck || sc.struck[id] != nil) {
		sc.struck[id] = sp
	}
	delete(sc.peers, id)
	sc.book.forget(id)
}

func (sc *scheduler) run(ctx context.Context) {
	defer func() {
		for _, ps := range sc.inflight {
			for _, p := range ps {
				p.cancel()
			}
		}
	}()
	if sc.n.originSilent() {
		// The origin did not answer a moment ago: the head goes to peers
		// (the one that answered the start first) rather than to an
		// origin request that would only time out, and the origin is
		// tried again after the longest back-off. As for a stream whose
		// first origin request timed out, a chunk no peer holds once the
		// peers have been looked up fails: a track nobody can serve fails
		// in seconds.
		sc.origin.failures, sc.origin.lastErr = 3, errOriginSilent
		sc.origin.downUntil = time.Now().Add(maxOriginBackoff)
	}
	if r := sc.s.startRest; r != nil {
		sc.adoptStart(ctx, r)
	}
	discoveryDone := make(chan struct{})
	dctx, stopDiscovery := context.WithCancel(ctx)
	defer stopDiscovery()
	sc.stopDiscovery = stopDiscovery
	discovering := !sc.n.cfg.NoPeers && sc.s.view().got.Count() < sc.m.NumChunks()
	if discovering {
		firstRound := make(chan struct{})
		sc.n.wg.Go(func() { sc.discover(dctx, firstRound) })
		startAsked := make(chan struct{})
		if c := sc.s.startFrom; c != nil {
			// The peer that answered the start holds the track: it joins
			// the stream at once, not after discovery's first round,
			// which waits on the tracker (with the origin down, for
			// nothing) before it asks the peers connected. The round
			// skips a peer asked already, so the lookup ends only once
			// this ask has too: a chunk no peer holds fails once the
			// peers are looked up, and this peer holds it.
			sc.n.wg.Go(func() {
				defer close(startAsked)
				sc.askHave(dctx, PeerAddr{ID: c.id, Addr: c.addr}, false)
			})
		} else {
			close(startAsked)
		}
		sc.n.wg.Go(func() {
			for _, ch := range []chan struct{}{firstRound, startAsked} {
				select {
				case <-ch:
				case <-dctx.Done():
					return
				}
			}
			close(discoveryDone)
		})
	} else {
		close(discoveryDone)
		sc.lookedUp = true
	}
	waitTimer := time.NewTimer(sc.cfg.DiscoveryWait)
	defer waitTimer.Stop()
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	// due wakes the loop when a lookup or a refresh is due.
	due := time.NewTimer(time.Hour)
	defer due.Stop()
	for {
		v := sc.s.view()
		if v.closed {
			return
		}
		now := time.Now()
		for _, a := range decide(sc.snapshot(v, now)) {
			sc.apply(ctx, a, now)
		}
		if next := earliest(sc.lookupAt, sc.refreshAt); !next.IsZero() {
			due.Reset(next.Sub(now))
		} else {
			due.Stop()
		}
		select {
		case <-ctx.Done():
			return
		case r := <-sc.results:
			sc.handle(r)
		case h := <-sc.haves:
			sc.addPeer(h)
		case <-discoveryDone:
			// The maps the lookup brought are in sc.haves: take them
			// before deciding as looked up.
			for drained := false; !drained; {
				select {
				case h := <-sc.haves:
					sc.addPeer(h)
				default:
					drained = true
				}
			}
			sc.discovered, sc.lookedUp = true, true
			discoveryDone = nil
			if discovering && dctx.Err() == nil {
				now := time.Now()
				sc.lookupAt, sc.refreshAt = now.Add(lookupEvery), now.Add(sc.cfg.Refresh)
			}
		case <-due.C:
		case <-waitTimer.C:
			sc.discovered = true
		case <-sc.s.wake:
		case <-tick.C:
		}
	}
}

// snapshot is what decide needs of the scheduler and its stream now.
func (sc *scheduler) snapshot(v view, now time.Time) *snapshot {
	in := &snapshot{
		now: now, cfg: sc.cfg, mode: sc.s.mode, self: sc.n.id, noPeers: sc.n.cfg.NoPeers,
		m: sc.m, pts: sc.s.chunkPTS,
		got: v.got, failed: v.failed, pos: v.pos, runStart: v.runStart,
		playTime: v.playTime, clocked: v.clocked,
		requests: make(map[int][]flight, len(sc.inflight)),
		peers:    make(map[PeerID]peerView, len(sc.peers)),
		origin:   sc.origin,
		waiting:  sc.waiting,
		tries:    sc.tries, firstTry: sc.firstTry,
		discovered: sc.discovered, lookedUp: sc.lookedUp,
		announced: sc.announced, announcedComplete: sc.announcedComplete,
		lookupAt: sc.lookupAt, refreshAt: sc.refreshAt,
	}
	for i, ps := range sc.inflight {
		fs := make([]flight, len(ps))
		for j, p := range ps {
			fs[j] = flight{id: p.id, chunk: i, from: p.src.sourceID(), started: p.started}
		}
		in.requests[i] = fs
	}
	for id, p := range sc.peers {
		in.peers[id] = peerView{
			have: p.have, inflight: p.inflight, rate: p.c.deliveryRate(), alive: p.c.alive(),
			skip: p.skip, busy: p.busy, strikes: p.strikes, lan: p.c.kind == kindLAN,
		}
	}
	return in
}

// apply carries out one of decide's actions.
func (sc *scheduler) apply(ctx context.Context, a action, now time.Time) {
	switch a.kind {
	case actRequest:
		if a.peer == originID {
			sc.startOrigin(ctx, a.chunk)
		} else if sp := sc.peers[a.peer]; sp != nil {
			sc.startPeer(ctx, sp, a.chunk)
		}
	case actCancel:
		sc.cancel(a.chunk, a.req)
	case actTimeout:
		sc.cancel(a.chunk, a.req)
		if sp := sc.peers[a.peer]; sp != nil {
			sp.skip[a.chunk] = now.Add(skipFor)
			sp.strikes++
		}
		sc.tries[a.chunk]++
	case actDropPeer:
		sc.n.log.Info("peer stalls; dropping it from this stream", "peer", a.peer.Short(), "track", sc.m.ID)
		sc.dropPeer(a.peer)
	case actWait:
		sc.waiting[a.chunk] = now
	case actFail:
		sc.s.fail(a.chunk, fmt.Errorf("%w: chunk %d of %s: no peer holds it and the origin did not deliver it: %v",
			ErrUnavailable, a.chunk, sc.m.ID, sc.origin.lastErr))
	case actRetry:
		sc.s.clearFailed(a.chunk)
	case actAnnounce:
		sc.announced = true
		sc.n.AnnounceNow()
	case actEndLookups:
		sc.announcedComplete = true
		sc.lookupAt, sc.refreshAt = time.Time{}, time.Time{}
		if sc.stopDiscovery != nil {
			sc.stopDiscovery()
		}
	case actLookup:
		sc.lookupAt = nextDue(sc.lookupAt, lookupEvery, now)
		poke(sc.lookupNow)
	case actRefresh:
		sc.refreshAt = nextDue(sc.refreshAt, sc.cfg.Refresh, now)
		poke(sc.refreshNow)
	}
}

// poke sends on c, a channel of one, unless a send is already waiting.
func poke(c chan struct{}) {
	select {
	case c <- struct{}{}:
	default:
	}
}

// earliest is the earlier of two times, a zero time counting as none.
func earliest(a, b time.Time) time.Time {
	if a.IsZero() || (!b.IsZero() && b.Before(a)) {
		return b
	}
	return a
}

// cancel cancels request id for chunk i and forgets it; its answer, if
// one still comes, is matched to nothing.
func (sc *scheduler) cancel(i int, id reqID) {
	ps := sc.inflight[i]
	j := slices.IndexFunc(ps, func(p *pending) bool { return p.id == id })
	if j < 0 {
		return
	}
	p := ps[j]
	p.cancel()
	if p.sp != nil {
		p.sp.inflight--
	}
	if ps = slices.Delete(ps, j, j+1); len(ps) == 0 {
		delete(sc.inflight, i)
	} else {
		sc.inflight[i] = ps
	}
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

// maxStruck bounds the dropped peers a stream remembers.
const maxStruck = 256

// startPeer sends a request for chunk i to p.
func (sc *scheduler) startPeer(ctx context.Context, p *streamPeer, i int) {
	rctx, cancel := context.WithCancel(ctx)
	sc.lastReq++
	id := sc.lastReq
	sc.inflight[i] = append(sc.inflight[i], &pending{id: id, src: p.c, peer: p.c, sp: p, started: time.Now(), cancel: cancel})
	p.inflight++
	if _, ok := sc.firstTry[i]; !ok {
		sc.firstTry[i] = time.Now()
	}
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

// startOrigin sends a request for chunk i to the origin.
func (sc *scheduler) startOrigin(ctx context.Context, i int) {
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
	a := answer{
		now: time.Now(), err: r.err, origin: r.peer == nil, matched: idx >= 0,
		state: sc.origin, onStream: sp != nil,
	}
	if r.err != nil && r.peer == nil {
		a.got = sc.s.view().got.Has(r.chunk)
	}
	if sp != nil {
		a.claimed, a.mapAt, a.closed = sp.have.Has(r.chunk), sp.mapAt, r.peer.conn.Context().Err() != nil
	}
	v := judge(a)
	if r.peer == nil {
		sc.origin = v.state
	}
	if r.peer != nil && a.matched && v.failedTry() {
		sc.tries[r.chunk]++
	}
	switch v.kind {
	case vDeliver:
		src := FromOrigin
		var pid PeerID
		if r.peer != nil {
			src, pid = FromPeer, r.peer.id
			sc.n.markGood(r.peer)
		}
		sc.s.deliver(r.chunk, r.data, src, pid)
		// A duplicate request for the same chunk is no longer needed.
		for _, p := range sc.inflight[r.chunk] {
			p.cancel()
		}
	case vOriginDown:
		sc.n.log.Debug("origin chunk failed", "chunk", r.chunk, "err", r.err)
	case vBanBadChunk:
		sc.s.mu.Lock()
		sc.s.stats.Dropped++
		sc.s.mu.Unlock()
		sc.n.ban(r.peer.id, fmt.Sprintf("sent chunk %d of %s that fails its hash", r.chunk, sc.m.ID))
		delete(sc.peers, r.peer.id)
	case vBanLiar:
		sc.n.ban(r.peer.id, fmt.Sprintf("claimed chunk %d of %s and did not serve it", r.chunk, sc.m.ID))
		delete(sc.peers, r.peer.id)
	case vDrop:
		sc.dropPeer(r.peer.id)
	case vBusy:
		sp.busy = v.until
	case vSkip, vVanished:
		sp.skip[r.chunk] = v.until
		if v.kind == vVanished {
			sc.dropPeer(r.peer.id) // its chunks go elsewhere
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
	sp := &streamPeer{c: h.c, have: h.have, skip: map[int]time.Time{}, mapAt: time.Now()}
	if old := sc.struck[h.c.id]; old != nil {
		// Dropped before: it keeps its strikes and skips.
		sp.strikes, sp.skip, sp.busy = old.strikes, old.skip, old.busy
		delete(sc.struck, h.c.id)
	}
	sc.peers[h.c.id] = sp
	// Requests out to it before it joined (a start it answered) count in
	// its queue from now on.
	for _, ps := range sc.inflight {
		for _, p := range ps {
			if p.peer == h.c && p.sp == nil {
				p.sp = sp
				sp.inflight++
			}
		}
	}
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
	var askedMu sync.Mutex // asked is shared with the DHT lookups
	var dhtLooking atomic.Bool
	round := func(withKnown bool) {
		askedMu.Lock()
		clear(asked)
		askedMu.Unlock()
		// The DHT's holders are asked as they answer, beside the round;
		// one lookup at a time (a lookup can outlast a round).
		if sc.n.dht != nil && dhtLooking.CompareAndSwap(false, true) {
			sc.n.wg.Go(func() {
				defer dhtLooking.Store(false)
				sc.n.dhtHolders(ctx, id, func(p PeerAddr) {
					askedMu.Lock()
					seen := asked[p.ID]
					asked[p.ID] = true
					askedMu.Unlock()
					if !seen {
						sc.askHave(ctx, p, false)
					}
				})
			})
		}
		cands := sc.n.candidates(ctx, id, withKnown, false)
		// Ask many at once: a dead peer the tracker still lists must not
		// hold up the live ones.
		sem := make(chan struct{}, 32)
		for _, p := range cands {
			askedMu.Lock()
			seen := asked[p.ID]
			asked[p.ID] = true
			askedMu.Unlock()
			if seen {
				continue
			}
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
	// From here the scheduler's decide says when to look up peers again
	// (every lookupEvery) and when to refresh the maps (every Refresh).
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
		case <-sc.refreshNow:
			// Peers fetching the same track gain chunks, and mates that
			// found this node connect to it: ask the connected peers whose
			// map may have changed.
			for _, c := range sc.n.connected() {
				if book.ask(c, true) {
					sc.n.wg.Go(func() { sc.askHave(ctx, PeerAddr{ID: c.id, Addr: c.addr}, true) })
				}
			}
		case <-sc.lookupNow:
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
