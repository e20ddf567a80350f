package sim

import (
	"cmp"
	"context"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/netip"
	"sync"
	"time"

	"github.com/quic-go/quic-go"

	"github.com/potluckfm/potluck/cache"
	"github.com/potluckfm/potluck/origin"
	"github.com/potluckfm/potluck/player"
	"github.com/potluckfm/potluck/swarm"
	"github.com/potluckfm/potluck/track"
)

// Kinds of start, by what held the track when its play was opened.
const (
	KindCached       = "cached"         // the listener's own cache held all of it
	KindFirstInSwarm = "first_in_swarm" // no online listener held any of it
	KindHeldByPeers  = "held_by_peers"  // another online listener held some of it
)

// RNG streams: each listener draws each kind of choice from its own stream,
// so that what one listener does never depends on the timing of another.
const (
	streamLink = iota + 1
	streamChurn
	streamQueue
	streamPlay
	streamLoss
	streamHistory
	streamRestart
	streamBootstrap
	streamNAT
)

func (r *run) rng(listener, stream int, n int) *rand.Rand {
	return rand.New(rand.NewPCG(r.cfg.Seed, uint64(listener)<<40|uint64(stream)<<32|uint64(n)))
}

// listener is one simulated user: a cache and identity that persist, and
// sessions of a node and a player that come and go.
type listener struct {
	r     *run
	idx   int
	link  linkSpec
	rtt   time.Duration // to the origin, simulated
	store *cache.Mem
	dir   string
	// restarts: the listener's leaves are app restarts (Workload.Restart).
	restarts bool

	mu        sync.Mutex
	online    bool
	addr      netip.AddrPort      // the current session's, while online (guarded by r.mu)
	nodes     []*swarm.Node       // one per session, kept for their counters
	opens     map[track.ID]opened // the last open of each track
	sessions  int
	restarted int             // restarts so far
	underruns []underrunEvent // the player's, not yet in a PlayRecord
}

func (r *run) newListener(idx int) *listener {
	rng := r.rng(idx, streamLink, 0)
	n := r.cfg.Net
	uniform := func(lo, hi int) int { return lo + int(rng.Float64()*float64(hi-lo)) }
	rtt := n.RTTMin + time.Duration(rng.Float64()*float64(n.RTTMax-n.RTTMin))
	return &listener{
		r:   r,
		idx: idx,
		rtt: rtt,
		link: linkSpec{
			down:  uniform(n.DownMin, n.DownMax),
			up:    uniform(n.UpMin, n.UpMax),
			delay: (rtt - n.OriginRTT) / 2,
			loss:  n.Loss,
		},
		// Chunks are never modified once delivered, so the caches can
		// share the bytes of the tracks their histories put in them.
		store: cache.NewMemNoCopy(r.cfg.Workload.CacheSize),
		opens: map[track.ID]opened{},
	}
}

// exp draws an exponentially distributed time of the given mean.
func exp(rng *rand.Rand, mean time.Duration) time.Duration {
	return time.Duration(rng.ExpFloat64() * float64(mean))
}

// live runs the listener's sessions until the run ends.
func (l *listener) live() {
	r, w := l.r, l.r.cfg.Workload
	rng := l.r.rng(l.idx, streamChurn, 0)
	churn := w.Away > 0
	var wait time.Duration
	if !churn || rng.Float64() < float64(w.Session)/float64(w.Session+w.Away) {
		wait = time.Duration(rng.Float64() * float64(w.JoinSpread))
	} else {
		wait = exp(rng, w.Away)
	}
	var resume *resumePoint
	for n := 0; ; n++ {
		if !r.sleep(r.cfg.wall(wait)) {
			return
		}
		until := r.end
		if churn || l.restarts {
			if u := time.Now().Add(r.cfg.wall(exp(rng, w.Session))); u.Before(until) {
				until = u
			}
		}
		left := l.session(n, until, resume)
		resume = nil
		switch {
		case l.restarts && left != nil:
			// The app restarts: it comes back soon, its session restored.
			resume = left
			wait = exp(rng, w.RestartAway)
			l.mu.Lock()
			l.restarted++
			l.mu.Unlock()
		case churn:
			wait = exp(rng, w.Away)
		default:
			wait = 0
		}
	}
}

// resumePoint is what a restarting app restores: its queue, and the play
// it left, cued where it stopped.
type resumePoint struct {
	queue []track.ID
	index int
	at    time.Duration
	track track.ID
}

// session brings the listener online until the time until (or the run's
// end): a new socket and address, a swarm node on the persistent cache and
// identity, and a player working through a queue of Zipf-chosen tracks,
// or, after a restart, the queue it had with the play it left cued where
// it stopped (resume). It returns where it left its queue if it left
// mid-play at until (nil if it left otherwise).
func (l *listener) session(n int, until time.Time, resume *resumePoint) (left *resumePoint) {
	r, cfg := l.r, l.r.cfg
	ctx := r.ctx
	ep := r.nw.newEndpoint(l.link, false, uint64(l.idx)<<32|uint64(n)|streamLoss<<56)
	tr := &quic.Transport{Conn: ep}
	client := origin.NewClient(r.url, origin.ClientOptions{Transport: origin.TransportQUIC, QUIC: tr})
	closeNet := func() {
		client.Close()
		tr.Close()
		ep.Close()
	}
	ncfg := swarm.Config{
		DataDir:    l.dir,
		Origin:     countingOrigin{Client: client, counts: &r.fromOrigin},
		Store:      internedStore{Mem: l.store, files: r.files},
		Transport:  tr,
		NoPeers:    cfg.Mode == ModeClientServer,
		NoAnnounce: cfg.Mode == ModeClientServer,
		NoPunch:    cfg.NoTraversal,
		Scheduler:  cfg.Scheduler,
		Logger:     r.log,
	}
	if (cfg.DHT || cfg.OriginDownAt > 0) && cfg.Mode == ModeP2P {
		ncfg.DHT = true
		ncfg.Bootstrap = r.bootstrapFor(l, r.rng(l.idx, streamBootstrap, n))
		if err := fitDHTID(l.dir, ep.LocalAddr()); err != nil {
			r.fail(err)
			closeNet()
			return nil
		}
	}
	if cfg.Speed != 1 {
		// The scheduler's wall-clock timers, at what they are set to or
		// their documented defaults. (Head and Emergency are audio time.)
		sc := &ncfg.Scheduler
		sc.PeerTimeout = cfg.wall(cmp.Or(sc.PeerTimeout, 1500*time.Millisecond))
		sc.DiscoveryWait = cfg.wall(cmp.Or(sc.DiscoveryWait, 1500*time.Millisecond))
		sc.Refresh = cfg.wall(cmp.Or(sc.Refresh, 500*time.Millisecond))
		sc.MateWait = cfg.wall(cmp.Or(sc.MateWait, 2*time.Second))
	}
	node, err := swarm.Start(ctx, ncfg)
	if err != nil {
		r.fail(err)
		closeNet()
		return nil
	}
	l.mu.Lock()
	l.nodes = append(l.nodes, node)
	l.sessions++
	l.mu.Unlock()
	if ua, ok := ep.LocalAddr().(*net.UDPAddr); ok {
		ap := ua.AddrPort()
		r.mu.Lock()
		l.addr = netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port())
		r.mu.Unlock()
	}
	r.setOnline(l, true)
	defer func() {
		r.setOnline(l, false)
		node.Close()
		closeNet()
	}()

	// An app opens its origin connection at start (it shows the catalogue)
	// and the user takes a moment to pick a track.
	ictx, cancel := context.WithTimeout(ctx, cfg.wall(10*time.Second))
	client.Info(ictx)
	cancel()
	think := r.rng(l.idx, streamChurn, n+1)
	events := &eventQueue{wake: make(chan struct{}, 1)}
	var resumeOpen sync.Once // the first open of a restored session's cued track
	opener := player.OpenFunc(func(ctx context.Context, id track.ID) (player.Source, error) {
		o := opened{at: r.cfg.simTime(time.Since(r.start))}
		if sounding, ok := events.sounding(); ok && sounding == id {
			// The player opens the track it plays again (a seek it
			// could not take up): the play is the one opened before.
			o = l.lastOpen(id)
			o.src = nil
		} else {
			o.kind = r.classify(l, id)
			// A track opened while another one sounds is the next
			// one, prefetched before the current one ends.
			o.prefetched = ok
			m := r.manifests[id]
			have := l.store.Have(id)
			o.headCached = have != nil && have.Has(0)
			o.floor = r.floorOf(l, m, r.frameDecode)
			if r.afterOriginDown(o.at) {
				o.peerHeld = r.peerHolds(l, id)
			}
			if resume != nil && id == resume.track {
				resumeOpen.Do(func() { o.resumed = true })
			}
		}
		if player.IsPrefetch(ctx) {
			ctx = swarm.Prefetch(ctx)
		}
		s, err := node.Open(ctx, id, swarm.ModePlay)
		if err != nil {
			l.noteOpen(id, o)
			return nil, err
		}
		w := newWatchedSource(s, cfg.Speed, cfg.SinkBuffer, r.now)
		w.onChunk = func(i int) { r.played.add(id, i) }
		o.src = w
		l.noteOpen(id, o)
		return w, nil
	})
	sink := player.Paced(player.Discard, cfg.Speed, cfg.SinkBuffer)
	defer sink.Close()
	// PrefetchBefore (audio time) keeps the player's default, 10 s.
	p, err := player.New(ctx, player.Config{
		Sink:             sink,
		Opener:           opener,
		OnEvent:          events.push,
		PositionInterval: cfg.wall(250 * time.Millisecond),
		Seed:             uint64(l.idx) + 1,
		Logger:           slog.New(underrunTap{Handler: r.log.Handler(), l: l}),
	})
	if err != nil {
		r.fail(err)
		return nil
	}
	defer p.Close()
	if resume != nil {
		// A restarted app restores its session: the play it left is
		// cued (opened, paused) while its user comes back to it.
		if err := p.Cue(resume.queue, resume.index, resume.at); err != nil {
			r.fail(err)
			return nil
		}
	}
	if !r.sleepUntil(time.Now().Add(cfg.wall(time.Duration(think.Float64()*float64(cfg.Workload.Think)))), until) {
		return nil
	}
	if resume != nil {
		p.Play()
	} else {
		p.SetQueue(r.queue(l.idx, n), 0)
	}

	var (
		seq       int // plays started this session
		actionSeq int // the play the pending action is for
		action    func()
		timer     = time.NewTimer(time.Hour)
		leave     = time.NewTimer(time.Until(until))
	)
	timer.Stop()
	defer timer.Stop()
	defer leave.Stop()
	record := func(e player.Event, leaving bool) {
		r.record(l, e, leaving)
	}
	leaving := false
	for {
		select {
		case <-r.stop:
		case <-leave.C:
			leaving = true
		case <-timer.C:
			if action != nil && actionSeq == seq {
				action()
			}
			action = nil
			continue
		case <-events.wake:
			for _, e := range events.take() {
				switch e.Kind {
				case player.TrackStarted:
					seq++
					action, actionSeq = l.planAction(p, e.Track, n, seq, timer), seq
				case player.TrackEnded:
					record(e, false)
				case player.QueueEnded:
					p.Append(r.queue(l.idx, n+1000)...)
					p.Play()
				}
			}
			continue
		}
		break
	}
	// Leaving: the play in progress ends as interrupted. A restarting
	// app keeps where it was, as the desktop app's session does.
	if st := p.State(); leaving && l.restarts && st.Index >= 0 {
		left = &resumePoint{queue: st.Queue, index: st.Index, at: st.Position, track: st.Track}
	}
	p.Close()
	for _, e := range events.take() {
		if e.Kind == player.TrackEnded {
			record(e, true)
		}
	}
	return left
}

// planAction decides what the listener does during play seq of track id: a
// skip, a seek or nothing. It arms timer for the action and returns it.
func (l *listener) planAction(p *player.Player, id track.ID, session, seq int, timer *time.Timer) func() {
	r, w := l.r, l.r.cfg.Workload
	rng := r.rng(l.idx, streamPlay, session<<16|seq)
	dur := r.manifests[id].Duration()
	u := rng.Float64()
	frac := func(lo, hi float64) time.Duration {
		return time.Duration((lo + rng.Float64()*(hi-lo)) * float64(dur))
	}
	var at time.Duration
	var act func()
	switch {
	case u < max(w.Skip, 0):
		at = max(frac(0.05, 0.8), 3*time.Second)
		act = func() { p.Next() }
	case u < max(w.Skip, 0)+max(w.Seek, 0):
		at = max(frac(0.05, 0.5), 2*time.Second)
		to := frac(0, 0.9)
		act = func() { p.Seek(to) }
	default:
		return nil
	}
	if at >= dur {
		return nil
	}
	timer.Reset(r.cfg.wall(at))
	return act
}

// opened is what the sim knows of the last open of a track.
type opened struct {
	kind string         // KindCached, KindFirstInSwarm or KindHeldByPeers
	src  *watchedSource // nil if the open failed
	at   time.Duration  // since the run started, simulated
	// prefetched: opened while the play before it sounded; headCached:
	// the cache held the first chunk; resumed: the play a restarted app
	// restored, cued where it had stopped.
	prefetched, headCached, resumed bool
	peerHeld                        bool          // an online peer held all of it (once the origin was down)
	floor                           time.Duration // startFloor, simulated
}

func (l *listener) noteOpen(id track.ID, o opened) {
	l.mu.Lock()
	l.opens[id] = o
	l.mu.Unlock()
}

func (l *listener) lastOpen(id track.ID) opened {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.opens[id]
}

// bytesServed sums what the listener's nodes uploaded to peers.
func (l *listener) bytesServed() int64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	var n int64
	for _, node := range l.nodes {
		n += node.BytesServed()
	}
	return n
}

// eventQueue takes the player's events without blocking its goroutine.
// It also keeps which track sounds: the player calls push on its own
// goroutine, before it opens the next track, so an Opener sees the state
// the player was in when it asked.
type eventQueue struct {
	mu    sync.Mutex
	evs   []player.Event
	wake  chan struct{}
	cur   track.ID
	sound bool // a play started (first PCM) and has not ended
}

func (q *eventQueue) push(e player.Event) {
	q.mu.Lock()
	q.evs = append(q.evs, e)
	switch e.Kind {
	case player.TrackStarted:
		q.cur, q.sound = e.Track, true
	case player.TrackEnded:
		q.sound = false
	}
	q.mu.Unlock()
	select {
	case q.wake <- struct{}{}:
	default:
	}
}

// sounding returns the track whose play has started and not ended, if any.
func (q *eventQueue) sounding() (track.ID, bool) {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.cur, q.sound
}

func (q *eventQueue) take() []player.Event {
	q.mu.Lock()
	defer q.mu.Unlock()
	evs := q.evs
	q.evs = nil
	return evs
}
