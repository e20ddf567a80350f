package swarm

import (
	"hash/fnv"
	"math"
	"slices"
	"time"

	"github.com/potluckfm/potluck/cache"
	"github.com/potluckfm/potluck/track"
)

// snapshot is everything one scheduling pass decides from, read at one
// instant: the stream, its requests in flight, its sources and the clock.
// decide reads it and never changes it.
type snapshot struct {
	now     time.Time
	cfg     SchedulerConfig // with defaults
	mode    Mode
	self    PeerID
	noPeers bool // Config.NoPeers: every chunk from the origin
	m       *track.Manifest
	pts     []time.Duration // playback time of each chunk's first byte

	got      cache.Bitfield
	failed   map[int]bool  // chunks that failed for want of a source
	pos      int           // chunk at the read position
	runStart int           // chunk where the current run of reading began
	playTime time.Duration // playback position now (ModePlay, if clocked)
	clocked  bool          // ModePlay: playTime is known

	requests map[int][]flight // chunk → requests in flight, oldest first
	peers    map[PeerID]peerView
	origin   originState
	waiting  map[int]time.Time // when a chunk began waiting for a mate

	// Of each chunk: the peer requests for it that failed (timed out, or
	// answered with anything but the chunk or "busy"), and when it was
	// first asked of a peer. See peerTries and peerChunkTime.
	tries    map[int]int
	firstTry map[int]time.Time

	discovered bool // the first lookup ended, or DiscoveryWait passed
	lookedUp   bool // the first lookup ended

	announced         bool // the node announced after the stream's first chunk
	announcedComplete bool // the node announced the whole track

	// When the next lookup round and the next refresh of the maps that
	// can grow are due; zero while the stream does not look up peers
	// (NoPeers, a complete track, the first round not ended yet).
	lookupAt, refreshAt time.Time
}

// flight is one request in flight.
type flight struct {
	id      reqID
	chunk   int
	from    PeerID // originID for the origin
	started time.Time
}

// peerView is what a stream knows of one peer, as decide sees it.
type peerView struct {
	have     cache.Bitfield
	inflight int     // this stream's requests to it
	rate     float64 // measured bytes/s, 0 if untried
	alive    bool    // its connection is open
	skip     map[int]time.Time
	busy     time.Time
	strikes  int  // requests in a row that timed out
	lan      bool // found on the local network (see lan.go)
}

// usable reports whether p may be asked for chunk i now.
func (p peerView) usable(i int, now time.Time) bool {
	return p.have.Has(i) && now.After(p.skip[i]) && now.After(p.busy)
}

type actionKind int

const (
	// actRequest asks source peer (originID: the origin) for chunk.
	actRequest actionKind = iota + 1
	// actCancel cancels request req: a seek moved past its chunk.
	actCancel
	// actTimeout cancels request req of peer, which took too long: the
	// chunk is not asked of it for skipFor, and it gets a strike.
	actTimeout
	// actDropPeer takes peer off the stream (three stalls in a row).
	actDropPeer
	// actWait starts chunk's wait for the mate it is left to.
	actWait
	// actFail fails chunk: no peer holds it and the origin is down.
	actFail
	// actRetry clears chunk's failure: a source may have it now.
	actRetry
	// actAnnounce announces the node's holdings to the tracker now.
	actAnnounce
	// actEndLookups stops looking up peers: the stream is complete.
	actEndLookups
	// actLookup starts a lookup round (the tracker, the neighbours, the
	// known peers), unless the last one is still going.
	actLookup
	// actRefresh asks the chunk maps that can still grow.
	actRefresh
)

// A chunk goes to the origin once peerTries requests for it to peers
// failed, or peerChunkTime after it was first asked of a peer, whatever
// the peers' maps say: peers that claim a chunk and never deliver it (or
// stall it) cannot keep it from the origin, in ModeFetch as in ModePlay.
// A peer request still in flight then gets a duplicate to the origin.
const (
	peerTries     = 3
	peerChunkTime = 10 * time.Second
)

// lookupEvery is how often a stream looks up peers; SchedulerConfig.Refresh
// how often it asks the maps that can still grow.
const lookupEvery = 2 * time.Second

// nextDue is when a timer of period every, last due at at, is due next
// after now: missed periods are skipped, as a time.Ticker drops ticks.
func nextDue(at time.Time, every time.Duration, now time.Time) time.Time {
	for !at.After(now) {
		at = at.Add(every)
	}
	return at
}

// action is one thing decide asks the executor to do.
type action struct {
	kind  actionKind
	chunk int
	peer  PeerID
	req   reqID
}

// decide is one scheduling pass: from a snapshot, the requests to send,
// cancel or move, peers to drop and chunks to fail, in the order the
// executor must carry them out. It is a pure function of its input.
//
// It walks the missing chunks from the read position, most urgent first,
// by the rules of docs/scheduler.md: head, emergency, peers by expected
// delivery, nobody has it (and mates), seek, stalls and timeouts; and
// when to look up peers again.
func decide(in *snapshot) []action {
	d := decider{
		in:        in,
		inflight:  map[PeerID]int{},
		originOut: in.origin.inflight,
		dropped:   map[PeerID]bool{},
		strikes:   map[PeerID]int{},
		waiting:   map[int]bool{},
	}
	for id, p := range in.peers {
		d.inflight[id] = p.inflight
		d.strikes[id] = p.strikes
	}
	d.ids = make([]PeerID, 0, len(in.peers))
	for id := range in.peers {
		d.ids = append(d.ids, id)
	}
	slices.Sort(d.ids)
	n := in.m.NumChunks()
	complete := in.got.Count() == n
	if complete && !in.announcedComplete {
		// Once: the stream of a whole track stays open while it plays.
		d.out = append(d.out, action{kind: actAnnounce}, action{kind: actEndLookups})
	}
	if !in.announced && in.got.Count() > 0 {
		d.out = append(d.out, action{kind: actAnnounce})
	}
	if complete {
		return d.out
	}
	d.plan()
	if !in.lookupAt.IsZero() && !in.now.Before(in.lookupAt) {
		d.emit(action{kind: actLookup})
	}
	if !in.refreshAt.IsZero() && !in.now.Before(in.refreshAt) {
		d.emit(action{kind: actRefresh})
	}
	return d.out
}

// decider is decide's working state: what its own actions changed so far
// in the pass.
type decider struct {
	in        *snapshot
	out       []action
	ids       []PeerID       // the peers, sorted
	inflight  map[PeerID]int // requests to each peer, after this pass's
	originOut int            // requests to the origin, after this pass's
	dropped   map[PeerID]bool
	strikes   map[PeerID]int
	waiting   map[int]bool // chunks that began waiting in this pass
}

func (d *decider) emit(a action) { d.out = append(d.out, a) }

func (d *decider) plan() {
	in := d.in
	n := in.m.NumChunks()
	order := make([]int, 0, n)
	for i := in.pos; i < n; i++ {
		order = append(order, i)
	}
	cancelled := map[int]bool{}
	if in.mode == ModeFetch {
		for i := 0; i < in.pos; i++ {
			order = append(order, i)
		}
	} else {
		// Seek: stop fetching the chunks a seek moved past.
		var behind []int
		for i := range in.requests {
			if i < in.pos {
				behind = append(behind, i)
			}
		}
		slices.Sort(behind)
		for _, i := range behind {
			for _, f := range in.requests[i] {
				d.emit(action{kind: actCancel, chunk: i, peer: f.from, req: f.id})
				if f.from != originID {
					d.inflight[f.from]--
				}
			}
			cancelled[i] = true
		}
	}
	now := in.now
	for _, i := range order {
		if in.got.Has(i) {
			continue
		}
		if in.failed[i] {
			// Try again once a source may have it: a peer appeared, or the
			// origin's back-off ran out.
			if !d.anyPeerHolds(i) && now.Before(in.origin.downUntil) {
				continue
			}
			d.emit(action{kind: actRetry, chunk: i})
		}
		// In ModePlay a chunk is due when playback reaches it; a cued
		// stream's chunks are not due yet, and its head waits until
		// playback is less than Head away.
		due := time.Duration(math.MaxInt64)
		if in.mode == ModePlay && in.clocked {
			due = in.pts[i] - in.playTime
		}
		head := in.pts[i]-in.pts[in.runStart] < in.cfg.Head && i >= in.runStart &&
			(in.mode != ModePlay || due < in.cfg.Head)
		urgent := due < in.cfg.Emergency
		if fs := in.requests[i]; len(fs) > 0 && !cancelled[i] {
			d.watch(i, fs, urgent)
			continue
		}
		if !in.noPeers && !d.peersSpent(i) {
			// LAN first: a LAN peer that holds the chunk and is not
			// failing gets it before any other peer or the origin.
			if p, room, held := d.lanPeer(i); room {
				d.emit(action{kind: actRequest, chunk: i, peer: p})
				d.inflight[p]++
				continue
			} else if held && !urgent {
				continue // its queue is full: a slot frees soon
			}
		}
		originUp := !now.Before(in.origin.downUntil)
		if in.noPeers || ((head || urgent || d.peersSpent(i)) && originUp) {
			d.askOrigin(i)
			continue
		}
		if p, ok := d.bestPeer(i); ok {
			d.emit(action{kind: actRequest, chunk: i, peer: p})
			d.inflight[p]++
			continue
		}
		if in.discovered && !d.anyPeerHas(i) && !d.leaveToMate(i) {
			d.askOrigin(i)
		}
	}
}

// watch moves a peer request that takes too long; for an urgent chunk a
// slow peer gets a duplicate request to the origin.
func (d *decider) watch(i int, fs []flight, urgent bool) {
	for _, f := range fs {
		if f.from == originID {
			return // the origin has it in hand
		}
	}
	f := fs[0]
	in := d.in
	limit := in.cfg.PeerTimeout
	p, ok := in.peers[f.from]
	ok = ok && !d.dropped[f.from]
	if ok {
		if p.rate > 0 {
			_, l := in.m.ChunkBounds(i)
			limit = max(limit, 4*time.Duration(float64(l)*float64(d.inflight[f.from])/p.rate*float64(time.Second)))
		}
	}
	switch age := in.now.Sub(f.started); {
	case age > limit:
		d.emit(action{kind: actTimeout, chunk: i, peer: f.from, req: f.id})
		d.inflight[f.from]--
		if ok {
			d.strikes[f.from]++
			if d.strikes[f.from] >= 3 {
				d.emit(action{kind: actDropPeer, peer: f.from})
				d.dropped[f.from] = true
			}
		}
	case urgent && age > limit/3, d.peersSpent(i):
		d.askOrigin(i)
	}
}

// peersSpent reports whether chunk i had its share of peers: peerTries
// failed requests, or peerChunkTime since it was first asked of one.
func (d *decider) peersSpent(i int) bool {
	in := d.in
	if in.tries[i] >= peerTries {
		return true
	}
	first, ok := in.firstTry[i]
	return ok && in.now.Sub(first) >= peerChunkTime
}

// askOrigin asks the origin for chunk i if it has room and is up; if it
// is down and no peer holds the chunk, the chunk fails.
func (d *decider) askOrigin(i int) {
	in := d.in
	down := in.now.Before(in.origin.downUntil)
	if d.originOut >= in.cfg.OriginParallel || down {
		if down && in.lookedUp && !d.anyPeerHolds(i) && in.origin.failures >= 3 {
			d.emit(action{kind: actFail, chunk: i})
		}
		return
	}
	d.emit(action{kind: actRequest, chunk: i, peer: originID})
	d.originOut++
}

// bestPeer picks, among the peers holding chunk i with room in their
// queue, the one expected to deliver soonest (queued bytes over measured
// rate). Ties go by a rank of the peer's ID that differs from node to
// node, so that a crowd does not pick the same untried peer first.
func (d *decider) bestPeer(i int) (PeerID, bool) {
	in := d.in
	var best PeerID
	var bestETA float64
	var bestRank uint64
	found := false
	for _, id := range d.ids {
		p := in.peers[id]
		if d.dropped[id] || !p.usable(i, in.now) || d.inflight[id] >= in.cfg.PerPeer || !p.alive {
			continue
		}
		r := p.rate
		if r == 0 {
			r = 1 << 20 // untried: assume 1 MB/s so it gets a chance
		}
		eta := float64(d.inflight[id]+1) * float64(in.m.ChunkSize) / r
		rank := tieRank(in.self, id)
		if !found || eta < bestETA || (eta == bestETA && rank < bestRank) {
			best, bestETA, bestRank, found = id, eta, rank, true
		}
	}
	return best, found
}

// lanPeer picks, among the LAN peers that hold chunk i and are not
// failing (no stall in a row, not skipped or busy for it), the one with
// room in its queue expected to deliver soonest. held reports whether
// any such LAN peer holds the chunk, room whether one of them can take
// it now.
func (d *decider) lanPeer(i int) (best PeerID, room, held bool) {
	in := d.in
	var bestETA float64
	for _, id := range d.ids {
		p := in.peers[id]
		if !p.lan || d.dropped[id] || !p.alive || d.strikes[id] > 0 || !p.usable(i, in.now) {
			continue
		}
		held = true
		if d.inflight[id] >= in.cfg.PerPeer {
			continue
		}
		r := p.rate
		if r == 0 {
			r = lanRatePrior
		}
		eta := float64(d.inflight[id]+1) * float64(in.m.ChunkSize) / r
		if !room || eta < bestETA {
			best, bestETA, room = id, eta, true
		}
	}
	return best, room, held
}

// tieRank orders the peers of equal expected delivery, differently on
// every node.
func tieRank(self, id PeerID) uint64 {
	h := fnv.New64a()
	h.Write([]byte(self))
	h.Write([]byte{0})
	h.Write([]byte(id))
	return h.Sum64()
}

// anyPeerHas reports whether a peer that may be asked now holds chunk i.
func (d *decider) anyPeerHas(i int) bool {
	for _, id := range d.ids {
		if p := d.in.peers[id]; !d.dropped[id] && p.usable(i, d.in.now) && p.alive {
			return true
		}
	}
	return false
}

// anyPeerHolds reports whether any peer holds chunk i, asked now or later.
func (d *decider) anyPeerHolds(i int) bool {
	for _, id := range d.ids {
		if !d.dropped[id] && d.in.peers[id].have.Has(i) {
			return true
		}
	}
	return false
}

// leaveToMate reports whether chunk i, which no peer holds yet, should be
// left to a swarm-mate (a peer fetching the same track) to get from the
// origin. Mates split the chunks among them by rank of ID, so a crowd
// fetching one track costs the origin about one copy, not one per node; a
// chunk left to a mate goes to the origin anyway after MateWait.
func (d *decider) leaveToMate(i int) bool {
	in := d.in
	ids := []PeerID{in.self}
	for _, id := range d.ids {
		p := in.peers[id]
		if !d.dropped[id] && p.have.Count() < in.m.NumChunks() && p.alive {
			ids = append(ids, id)
		}
	}
	if len(ids) == 1 {
		return false
	}
	slices.Sort(ids)
	if ids[i%len(ids)] == in.self {
		return false
	}
	since, ok := in.waiting[i]
	if !ok {
		if !d.waiting[i] {
			d.waiting[i] = true
			d.emit(action{kind: actWait, chunk: i})
		}
		return true
	}
	return in.now.Sub(since) < in.cfg.MateWait
}
