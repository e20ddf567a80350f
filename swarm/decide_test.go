package swarm

import (
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/potluckfm/potluck/cache"
	"github.com/potluckfm/potluck/track"
)

// t0 is the clock of every decide case: decide reads time only from its
// snapshot, so the cases run in virtual time.
var t0 = time.Date(2025, 1, 1, 12, 0, 0, 0, time.UTC)

// testSnapshot is a stream of n chunks of 16 KiB, one second of audio
// each, at its start, in mode, with nothing fetched, no peer known and the
// first lookup done.
func testSnapshot(n int, mode Mode) *snapshot {
	m := &track.Manifest{ChunkSize: 16 << 10, Size: int64(n) * 16 << 10, ChunkHashes: make([]track.Hash, n)}
	pts := make([]time.Duration, n)
	for i := range pts {
		pts[i] = time.Duration(i) * time.Second
	}
	return &snapshot{
		now: t0, cfg: SchedulerConfig{}.WithDefaults(), mode: mode, self: "m",
		m: m, pts: pts, got: cache.NewBitfield(n), failed: map[int]bool{},
		requests: map[int][]flight{}, peers: map[PeerID]peerView{}, waiting: map[int]time.Time{},
		discovered: true, lookedUp: true, announced: true,
	}
}

func bits(n int, chunks ...int) cache.Bitfield {
	b := cache.NewBitfield(n)
	for _, i := range chunks {
		b.Set(i)
	}
	return b
}

func all(n int) cache.Bitfield {
	b := cache.NewBitfield(n)
	for i := range n {
		b.Set(i)
	}
	return b
}

func holder(have cache.Bitfield, rate float64) peerView {
	return peerView{have: have, rate: rate, alive: true, skip: map[int]time.Time{}}
}

// stalling is a stream of 6 chunks missing only chunk 3, which was asked
// of peer p (measured at rate, with strikes stalls in a row) age ago.
func stalling(age time.Duration, rate float64, strikes int) func(*snapshot) {
	return func(s *snapshot) {
		s.got = bits(6, 0, 1, 2, 4, 5)
		p := holder(all(6), rate)
		p.inflight, p.strikes = 1, strikes
		s.peers["p"] = p
		s.requests[3] = []flight{{id: 9, chunk: 3, from: "p", started: t0.Add(-age)}}
	}
}

// mateWaited is a stream of 6 chunks missing only chunk 4, left to mate a
// for wait.
func mateWaited(wait time.Duration) func(*snapshot) {
	return func(s *snapshot) {
		s.got = bits(6, 0, 1, 2, 3, 5)
		s.peers["a"] = holder(bits(6), 0)
		s.waiting[4] = t0.Add(-wait)
	}
}

func ask(i int, from PeerID) action { return action{kind: actRequest, chunk: i, peer: from} }

func (a action) String() string {
	names := map[actionKind]string{actRequest: "request", actCancel: "cancel", actTimeout: "timeout",
		actDropPeer: "drop", actWait: "wait", actFail: "fail", actRetry: "retry", actAnnounce: "announce",
		actEndLookups: "end-lookups", actLookup: "lookup", actRefresh: "refresh"}
	from := string(a.peer)
	if from == "" {
		from = "origin"
	}
	return fmt.Sprintf("%s(chunk %d, %s, req %d)", names[a.kind], a.chunk, from, a.req)
}

// decideCase is a snapshot of a stream of n chunks in mode, changed by
// edit, and the actions decide must take from it.
type decideCase struct {
	name string
	mode Mode
	edit func(*snapshot)
	want []action
}

func runDecideCases(t *testing.T, n int, cases []decideCase) {
	t.Helper()
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			in := testSnapshot(n, c.mode)
			c.edit(in)
			if got := decide(in); !slices.Equal(got, c.want) {
				t.Errorf("decide:\n got %v\nwant %v", got, c.want)
			}
		})
	}
}

// TestDecide drives decide through every rule of docs/scheduler.md.
func TestDecide(t *testing.T) {
	const n = 6
	const o = originID
	cases := []decideCase{
		{
			name: "head: the first 3 s go to the origin while peers are looked up",
			mode: ModeFetch,
			edit: func(s *snapshot) { s.discovered, s.lookedUp = false, false },
			want: []action{ask(0, o), ask(1, o), ask(2, o)},
		},
		{
			name: "head after a seek: from the new run's start",
			mode: ModeFetch,
			edit: func(s *snapshot) { s.discovered, s.pos, s.runStart = false, 2, 2 },
			want: []action{ask(2, o), ask(3, o), ask(4, o)},
		},
		{
			name: "head of a cued stream: from the peer that holds it, 4 in flight",
			mode: ModePlay,
			edit: func(s *snapshot) { s.peers["p"] = holder(all(n), 0) },
			want: []action{ask(0, "p"), ask(1, "p"), ask(2, "p"), ask(3, "p")},
		},
		{
			name: "head of a prefetch due within Head: the origin",
			mode: ModePlay,
			edit: func(s *snapshot) {
				s.clocked, s.playTime = true, -2500*time.Millisecond
				s.peers["p"] = holder(all(n), 0)
			},
			want: []action{ask(0, o), ask(1, "p"), ask(2, "p"), ask(3, "p"), ask(4, "p")},
		},
		{
			name: "emergency: due within 2 s goes to the origin though a peer holds it",
			mode: ModePlay,
			edit: func(s *snapshot) {
				s.cfg.Head = time.Millisecond
				s.clocked, s.playTime = true, 0
				s.peers["p"] = holder(all(n), 0)
			},
			want: []action{ask(0, o), ask(1, o), ask(2, "p"), ask(3, "p"), ask(4, "p"), ask(5, "p")},
		},
		{
			name: "emergency: a peer slower than a third of its timeout gets a duplicate at the origin",
			mode: ModePlay,
			edit: func(s *snapshot) {
				s.cfg.Head = time.Millisecond
				s.clocked, s.playTime, s.pos, s.runStart = true, 4*time.Second, 4, 4
				p := holder(all(n), 0)
				p.inflight = 1
				s.peers["p"] = p
				s.requests[5] = []flight{{id: 7, chunk: 5, from: "p", started: t0.Add(-600 * time.Millisecond)}}
				s.got = bits(n, 4)
			},
			want: []action{ask(5, o)},
		},
		{
			name: "no emergency: a slow peer of a chunk not due keeps it",
			mode: ModePlay,
			edit: func(s *snapshot) {
				s.cfg.Head = time.Millisecond
				s.clocked, s.playTime, s.pos, s.runStart = true, 0, 4, 4
				p := holder(all(n), 0)
				p.inflight = 1
				s.peers["p"] = p
				s.requests[5] = []flight{{id: 7, chunk: 5, from: "p", started: t0.Add(-600 * time.Millisecond)}}
				s.got = bits(n, 4)
			},
		},
		{
			name: "peers: the soonest expected delivery, until its queue is full",
			mode: ModeFetch,
			edit: func(s *snapshot) {
				s.cfg.Head = time.Millisecond
				s.peers["fast"] = holder(all(n), 1e6)
				s.peers["slow"] = holder(all(n), 1e4)
			},
			want: []action{ask(0, o), ask(1, "fast"), ask(2, "fast"), ask(3, "fast"), ask(4, "fast"), ask(5, "slow")},
		},
		{
			name: "peers: an untried peer counts as 1 MB/s",
			mode: ModeFetch,
			edit: func(s *snapshot) {
				s.cfg.Head = time.Millisecond
				s.got = bits(n, 0, 1, 2, 3)
				s.peers["new"] = holder(all(n), 0)
				s.peers["slow"] = holder(all(n), 2e5)
			},
			want: []action{ask(4, "new"), ask(5, "new")},
		},
		{
			name: "peers: only what they hold, not a chunk they failed lately, not while busy",
			mode: ModeFetch,
			edit: func(s *snapshot) {
				s.cfg.Head = time.Millisecond
				s.discovered = false
				s.got = bits(n, 0)
				a := holder(bits(n, 1, 2, 3), 0)
				a.skip[2] = t0.Add(time.Second)
				s.peers["a"] = a
				b := holder(all(n), 0)
				b.busy = t0.Add(100 * time.Millisecond)
				s.peers["b"] = b
			},
			want: []action{ask(1, "a"), ask(3, "a")},
		},
		{
			name: "nobody has it: waits for the first lookup",
			mode: ModeFetch,
			edit: func(s *snapshot) { s.discovered, s.got = false, bits(n, 0, 1, 2) },
		},
		{
			name: "nobody has it: the origin, once the lookup answered, 4 at a time",
			mode: ModeFetch,
			edit: func(s *snapshot) { s.got = bits(n, 0) },
			want: []action{ask(1, o), ask(2, o), ask(3, o), ask(4, o)},
		},
		{
			name: "nobody has it, origin down three times: the chunk fails",
			mode: ModeFetch,
			edit: func(s *snapshot) {
				s.got = bits(n, 0, 1, 2, 3)
				s.origin = originState{failures: 3, downUntil: t0.Add(time.Second)}
			},
			want: []action{{kind: actFail, chunk: 4}, {kind: actFail, chunk: 5}},
		},
		{
			name: "a failed chunk is tried again once the origin's back-off ran out",
			mode: ModeFetch,
			edit: func(s *snapshot) {
				s.got = bits(n, 0, 1, 2, 3, 5)
				s.failed[4] = true
				s.origin = originState{failures: 3, downUntil: t0.Add(-time.Millisecond)}
			},
			want: []action{{kind: actRetry, chunk: 4}, ask(4, o)},
		},
		{
			name: "a failed chunk waits while the origin is down and no peer holds it",
			mode: ModeFetch,
			edit: func(s *snapshot) {
				s.got = bits(n, 0, 1, 2, 3, 5)
				s.failed[4] = true
				s.origin = originState{failures: 3, downUntil: t0.Add(time.Second)}
			},
		},
		{
			name: "mates: chunks of the mate's rank wait for it, ours go to the origin",
			mode: ModeFetch,
			edit: func(s *snapshot) {
				s.got = bits(n, 0, 1, 2)
				s.peers["a"] = holder(bits(n), 0) // a < m: even chunks are a's
			},
			want: []action{ask(3, o), {kind: actWait, chunk: 4}, ask(5, o)},
		},
		{
			name: "mates: a chunk left to a mate goes to the origin after MateWait",
			mode: ModeFetch,
			edit: mateWaited(2001 * time.Millisecond),
			want: []action{ask(4, o)},
		},
		{
			name: "mates: still within MateWait",
			mode: ModeFetch,
			edit: mateWaited(1999 * time.Millisecond),
		},
		{
			name: "mates: a peer holding the whole track is no mate",
			mode: ModeFetch,
			edit: func(s *snapshot) {
				s.got = bits(n, 0, 1, 2, 3, 5)
				p := holder(all(n), 0)
				p.skip[4] = t0.Add(time.Second)
				s.peers["a"] = p
			},
			want: []action{ask(4, o)},
		},
		{
			name: "seek: requests before the new position are cancelled",
			mode: ModePlay,
			edit: func(s *snapshot) {
				s.pos, s.runStart = 4, 4
				p := holder(all(n), 0)
				p.inflight = 4
				s.peers["p"] = p
				s.requests[0] = []flight{{id: 1, chunk: 0, from: o, started: t0}}
				s.requests[2] = []flight{{id: 2, chunk: 2, from: "p", started: t0}, {id: 3, chunk: 2, from: o, started: t0}}
				s.requests[3] = []flight{{id: 4, chunk: 3, from: "p", started: t0}}
				s.requests[5] = []flight{{id: 5, chunk: 5, from: "p", started: t0}}
				s.got = bits(n, 4)
			},
			want: []action{
				{kind: actCancel, chunk: 0, req: 1},
				{kind: actCancel, chunk: 2, peer: "p", req: 2}, {kind: actCancel, chunk: 2, req: 3},
				{kind: actCancel, chunk: 3, peer: "p", req: 4},
			},
		},
		{
			name: "fetch mode: no seek cancels, chunks before the position come last",
			mode: ModeFetch,
			edit: func(s *snapshot) {
				s.pos, s.runStart = 4, 4
				s.cfg.Head = time.Millisecond
				s.requests[0] = []flight{{id: 1, chunk: 0, from: o, started: t0}}
				s.origin.inflight = 1
			},
			want: []action{ask(4, o), ask(5, o), ask(1, o)},
		},
		{
			name: "stall: a peer request older than PeerTimeout moves",
			mode: ModeFetch,
			edit: stalling(1501*time.Millisecond, 0, 0),
			want: []action{{kind: actTimeout, chunk: 3, peer: "p", req: 9}},
		},
		{
			name: "stall: within PeerTimeout it waits",
			mode: ModeFetch,
			edit: stalling(1499*time.Millisecond, 0, 0),
		},
		{
			name: "stall: a slow peer gets 4x its expected time",
			mode: ModeFetch,
			edit: stalling(7*time.Second, 8<<10, 0), // 2 s a chunk: 8 s before it moves
		},
		{
			name: "stall: the third in a row drops the peer",
			mode: ModeFetch,
			edit: stalling(2*time.Second, 0, 2),
			want: []action{{kind: actTimeout, chunk: 3, peer: "p", req: 9}, {kind: actDropPeer, peer: "p"}},
		},
		{
			name: "peers spent: after 3 failed peer requests a chunk goes to the origin though peers hold it",
			mode: ModeFetch,
			edit: func(s *snapshot) {
				s.got = bits(n, 0, 1, 2, 4, 5)
				s.peers["p"] = holder(all(n), 0)
				s.tries = map[int]int{3: peerTries}
			},
			want: []action{ask(3, o)},
		},
		{
			name: "peers spent: 2 failed peer requests, a peer is asked again",
			mode: ModeFetch,
			edit: func(s *snapshot) {
				s.got = bits(n, 0, 1, 2, 4, 5)
				s.peers["p"] = holder(all(n), 0)
				s.tries = map[int]int{3: peerTries - 1}
			},
			want: []action{ask(3, "p")},
		},
		{
			name: "peers spent: 10 s after its first peer request, a chunk still with a slow peer gets a duplicate to the origin",
			mode: ModeFetch,
			edit: func(s *snapshot) {
				stalling(7*time.Second, 8<<10, 0)(s)
				s.firstTry = map[int]time.Time{3: t0.Add(-peerChunkTime)}
			},
			want: []action{ask(3, o)},
		},
		{
			name: "peers spent, the origin down: the peers again",
			mode: ModeFetch,
			edit: func(s *snapshot) {
				s.got = bits(n, 0, 1, 2, 4, 5)
				s.peers["p"] = holder(all(n), 0)
				s.tries = map[int]int{3: peerTries}
				s.origin.downUntil = t0.Add(time.Second)
			},
			want: []action{ask(3, "p")},
		},
		{
			name: "the origin has it in hand: no timeout of the peer's duplicate",
			mode: ModeFetch,
			edit: func(s *snapshot) {
				s.got = bits(n, 0, 1, 2, 4, 5)
				s.peers["p"] = holder(all(n), 0)
				s.requests[3] = []flight{{id: 8, chunk: 3, from: "p", started: t0.Add(-time.Minute)}, {id: 9, chunk: 3, from: o, started: t0}}
			},
		},
		{
			name: "NoPeers: everything from the origin",
			mode: ModeFetch,
			edit: func(s *snapshot) {
				s.noPeers = true
				s.peers["p"] = holder(all(n), 0)
				s.got = bits(n, 0)
			},
			want: []action{ask(1, o), ask(2, o), ask(3, o), ask(4, o)},
		},
		{
			name: "announce after the first chunk",
			mode: ModeFetch,
			edit: func(s *snapshot) {
				s.announced = false
				s.got = bits(n, 0, 1, 2, 3, 4)
				s.requests[5] = []flight{{id: 1, chunk: 5, from: o, started: t0}}
			},
			want: []action{{kind: actAnnounce}},
		},
		{
			name: "a complete stream announces once and ends its lookups",
			mode: ModePlay,
			edit: func(s *snapshot) { s.got = all(n) },
			want: []action{{kind: actAnnounce}, {kind: actEndLookups}},
		},
		{
			name: "lookups: a round once it is due, a refresh once it is, after the requests",
			mode: ModeFetch,
			edit: func(s *snapshot) {
				s.got = bits(n, 0, 1, 2, 3, 4)
				s.lookupAt, s.refreshAt = t0, t0.Add(-time.Millisecond)
			},
			want: []action{ask(5, o), {kind: actLookup}, {kind: actRefresh}},
		},
		{
			name: "lookups: not before they are due",
			mode: ModeFetch,
			edit: func(s *snapshot) {
				s.got = bits(n, 0, 1, 2, 3, 4)
				s.requests[5] = []flight{{id: 1, chunk: 5, from: o, started: t0}}
				s.lookupAt, s.refreshAt = t0.Add(time.Millisecond), t0.Add(time.Millisecond)
			},
		},
		{
			name: "lookups: a complete stream ends them instead",
			mode: ModePlay,
			edit: func(s *snapshot) { s.got, s.lookupAt, s.refreshAt = all(n), t0, t0 },
			want: []action{{kind: actAnnounce}, {kind: actEndLookups}},
		},
		{
			name: "a complete stream that announced does nothing",
			mode: ModePlay,
			edit: func(s *snapshot) { s.got, s.announcedComplete = all(n), true },
		},
	}
	runDecideCases(t, n, cases)
}

// decide must not change its snapshot: the executor still reads it.
func TestDecideLeavesItsInputAlone(t *testing.T) {
	in := testSnapshot(6, ModePlay)
	p := holder(all(6), 0)
	p.inflight, p.strikes = 1, 2
	in.peers["p"] = p
	in.pos = 1
	in.requests[0] = []flight{{id: 1, chunk: 0, from: "p", started: t0}}
	in.requests[3] = []flight{{id: 2, chunk: 3, from: "p", started: t0.Add(-time.Minute)}}
	in.peers["a"] = holder(bits(6), 0)
	decide(in)
	if q := in.peers["p"]; q.inflight != 1 || q.strikes != 2 || len(q.skip) != 0 {
		t.Errorf("peer after decide: %+v", q)
	}
	if len(in.requests) != 2 || len(in.waiting) != 0 || in.origin.inflight != 0 {
		t.Errorf("snapshot changed: requests %v, waiting %v, origin %+v", in.requests, in.waiting, in.origin)
	}
}

// lanHolder is a peer on the local network holding have, measured at
// rate (0: untried).
func lanHolder(have cache.Bitfield, rate float64) peerView {
	p := holder(have, rate)
	p.lan = true
	return p
}

// TestDecideLANFirst: a chunk a LAN peer holds goes to it before any
// other peer or the origin, head and emergency included, unless the LAN
// peer is failing (a stall in a row, skipped for the chunk) or the chunk
// had its share of peers; a chunk due now whose LAN holder's queue is
// full goes by the usual rules, any other waits for a slot.
func TestDecideLANFirst(t *testing.T) {
	const n = 6
	const o = originID
	cases := []decideCase{
		{
			name: "head: the LAN peer, not the origin; past its queue the chunks wait",
			mode: ModeFetch,
			edit: func(s *snapshot) {
				s.discovered, s.lookedUp = false, false
				s.peers["l"] = lanHolder(all(n), 0)
			},
			want: []action{ask(0, "l"), ask(1, "l"), ask(2, "l"), ask(3, "l")},
		},
		{
			name: "a faster peer on the Internet: the LAN peer still first, the rest wait",
			mode: ModeFetch,
			edit: func(s *snapshot) {
				s.cfg.Head = time.Millisecond
				s.got = bits(n, 0)
				s.peers["l"] = lanHolder(all(n), 100<<10)
				s.peers["w"] = holder(all(n), 50<<20)
			},
			want: []action{ask(1, "l"), ask(2, "l"), ask(3, "l"), ask(4, "l")},
		},
		{
			name: "chunks the LAN peer lacks go by the usual rules",
			mode: ModeFetch,
			edit: func(s *snapshot) {
				s.cfg.Head = time.Millisecond
				s.got = bits(n, 0)
				s.peers["l"] = lanHolder(bits(n, 1, 2), 0)
				s.peers["w"] = holder(all(n), 1<<20)
			},
			want: []action{ask(1, "l"), ask(2, "l"), ask(3, "w"), ask(4, "w"), ask(5, "w")},
		},
		{
			name: "a failing LAN peer (a stall in a row) is one peer among others",
			mode: ModeFetch,
			edit: func(s *snapshot) {
				s.cfg.Head = time.Millisecond
				s.got = bits(n, 0, 1, 2)
				l := lanHolder(all(n), 100<<10)
				l.strikes = 1
				s.peers["l"] = l
				s.peers["w"] = holder(all(n), 50<<20)
			},
			want: []action{ask(3, "w"), ask(4, "w"), ask(5, "w")},
		},
		{
			name: "a chunk the LAN peer is skipped for goes elsewhere",
			mode: ModeFetch,
			edit: func(s *snapshot) {
				s.cfg.Head = time.Millisecond
				s.got = bits(n, 0, 1, 2, 3, 5)
				l := lanHolder(all(n), 0)
				l.skip[4] = t0.Add(time.Minute)
				s.peers["l"] = l
				s.peers["w"] = holder(all(n), 0)
			},
			want: []action{ask(4, "w")},
		},
		{
			name: "emergency: the LAN peer before the origin; past its queue, the origin",
			mode: ModePlay,
			edit: func(s *snapshot) {
				s.cfg.Head = time.Millisecond
				s.clocked, s.playTime = true, 0
				l := lanHolder(all(n), 0)
				l.inflight = 3
				s.peers["l"] = l
			},
			want: []action{ask(0, "l"), ask(1, o)},
		},
		{
			name: "peers spent: the origin, LAN peer or not",
			mode: ModeFetch,
			edit: func(s *snapshot) {
				s.cfg.Head = time.Millisecond
				s.got = bits(n, 0, 1, 2, 3, 5)
				s.peers["l"] = lanHolder(all(n), 0)
				s.tries = map[int]int{4: peerTries}
			},
			want: []action{ask(4, o)},
		},
	}
	runDecideCases(t, n, cases)
}
