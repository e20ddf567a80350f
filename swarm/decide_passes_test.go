package swarm

import (
	"slices"
	"testing"
	"testing/synctest"
	"time"
)

// passes runs decide pass after pass on one snapshot in a synctest bubble,
// carrying each pass's actions out on the snapshot the way the scheduler's
// executor carries them out on its state (apply), so that time can pass
// between passes on the virtual clock.
type passes struct {
	t    *testing.T
	in   *snapshot
	last reqID
}

// pass sets the snapshot's clock to now, decides, and carries the actions
// out.
func (p *passes) pass() []action {
	in := p.in
	in.now = time.Now()
	out := decide(in)
	for _, a := range out {
		switch a.kind {
		case actRequest:
			p.last++
			in.requests[a.chunk] = append(in.requests[a.chunk], flight{id: p.last, chunk: a.chunk, from: a.peer, started: in.now})
			if a.peer == originID {
				in.origin.inflight++
			} else {
				p.peer(a.peer, func(v *peerView) { v.inflight++ })
			}
		case actCancel, actTimeout:
			fs := in.requests[a.chunk]
			j := slices.IndexFunc(fs, func(f flight) bool { return f.id == a.req })
			if j < 0 {
				p.t.Fatalf("%v: no such request in flight", a)
			}
			if fs = slices.Delete(fs, j, j+1); len(fs) == 0 {
				delete(in.requests, a.chunk)
			} else {
				in.requests[a.chunk] = fs
			}
			if a.peer == originID {
				in.origin.inflight--
				continue
			}
			p.peer(a.peer, func(v *peerView) {
				v.inflight--
				if a.kind == actTimeout {
					v.skip[a.chunk] = in.now.Add(skipFor)
					v.strikes++
				}
			})
		case actDropPeer:
			delete(in.peers, a.peer)
		case actWait:
			in.waiting[a.chunk] = in.now
		case actFail:
			in.failed[a.chunk] = true
		case actRetry:
			delete(in.failed, a.chunk)
		case actAnnounce:
			in.announced = true
		case actEndLookups:
			in.announcedComplete = true
			in.lookupAt, in.refreshAt = time.Time{}, time.Time{}
		case actLookup:
			in.lookupAt = nextDue(in.lookupAt, lookupEvery, in.now)
		case actRefresh:
			in.refreshAt = nextDue(in.refreshAt, in.cfg.Refresh, in.now)
		}
	}
	return out
}

func (p *passes) peer(id PeerID, f func(*peerView)) {
	if v, ok := p.in.peers[id]; ok {
		f(&v)
		p.in.peers[id] = v
	}
}

// deliver marks chunk i fetched and retires its requests.
func (p *passes) deliver(i int) {
	for _, f := range p.in.requests[i] {
		if f.from == originID {
			p.in.origin.inflight--
		} else {
			p.peer(f.from, func(v *peerView) { v.inflight-- })
		}
	}
	delete(p.in.requests, i)
	p.in.got.Set(i)
}

// expect runs a pass after waiting d on the virtual clock, and checks its
// actions.
func (p *passes) expect(d time.Duration, want ...action) {
	p.t.Helper()
	time.Sleep(d)
	if got := p.pass(); !slices.Equal(got, want) {
		p.t.Errorf("after %v more: decide\n got %v\nwant %v", d, got, want)
	}
}

// A peer that stalls on one chunk after another: each stall turns into a
// timeout once PeerTimeout has passed, the chunk moves on, and the third
// timeout in a row drops the peer; the chunks go to the origin once its
// back-off runs out.
func TestDecidePassesStallTimeoutDrop(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		const n = 6
		in := testSnapshot(n, ModeFetch)
		in.cfg.Head, in.cfg.PerPeer = time.Millisecond, 1
		in.got = bits(n, 0, 1, 2)
		in.peers["p"] = holder(all(n), 0)
		in.origin = originState{failures: 1, downUntil: time.Now().Add(10 * time.Second)}
		p := &passes{t: t, in: in}
		timeout := func(i int, req reqID) action { return action{kind: actTimeout, chunk: i, peer: "p", req: req} }

		p.expect(0, ask(3, "p"))
		p.expect(1499 * time.Millisecond) // a stall, not yet a timeout
		p.expect(2*time.Millisecond, timeout(3, 1), ask(4, "p"))
		if s := in.peers["p"].strikes; s != 1 {
			t.Fatalf("strikes after the first timeout: %d", s)
		}
		p.expect(time.Second)
		p.expect(501*time.Millisecond, timeout(4, 2), ask(5, "p"))
		p.expect(1501*time.Millisecond, timeout(5, 3), action{kind: actDropPeer, peer: "p"})
		p.expect(time.Second) // the origin is still backing off
		if _, ok := in.peers["p"]; ok {
			t.Fatal("peer still on the stream after three timeouts")
		}
		// 10 s after the start the origin's back-off ends.
		p.expect(10*time.Second-5*time.Second-4*time.Millisecond, ask(3, originID), ask(4, originID), ask(5, originID))
	})
}

// The emergency threshold is crossed as the play position advances: a
// slow peer keeps a chunk while it is due later than Emergency, and the
// origin gets a duplicate request in the first pass after.
func TestDecidePassesEmergencyAsPlayAdvances(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		const n = 10
		in := testSnapshot(n, ModePlay)
		in.clocked = true
		in.got = bits(n, 0, 1, 2, 3, 4, 5, 6, 7, 9)
		in.peers["p"] = holder(all(n), 8<<10) // 2 s a chunk: it times out after 8 s
		p := &passes{t: t, in: in}
		start := time.Now()
		p.expect(0, ask(8, "p"))
		for {
			time.Sleep(500 * time.Millisecond)
			in.playTime = time.Since(start)
			out := p.pass()
			if len(out) == 0 {
				continue
			}
			if want := []action{ask(8, originID)}; !slices.Equal(out, want) {
				t.Fatalf("at play time %v: got %v, want %v", in.playTime, out, want)
			}
			// Chunk 8 plays at 8 s: due within 2 s from 6 s on, and the
			// first pass after 6 s is at 6.5 s.
			if in.playTime != 6500*time.Millisecond {
				t.Fatalf("duplicate to the origin at play time %v, want 6.5s", in.playTime)
			}
			break
		}
		p.deliver(8)
		p.expect(time.Second, action{kind: actAnnounce}, action{kind: actEndLookups})
		p.expect(time.Second) // once
	})
}

// A chunk left to a swarm-mate waits MateWait for it on the virtual clock,
// then goes to the origin; the mate's chunk arriving first ends the wait.
func TestDecidePassesMateWait(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		const n = 6
		in := testSnapshot(n, ModeFetch)
		in.cfg.Head = time.Millisecond
		in.got = bits(n, 0, 1)
		in.peers["a"] = holder(bits(n), 0) // a < m: even chunks are a's
		p := &passes{t: t, in: in}
		p.expect(0, action{kind: actWait, chunk: 2}, ask(3, originID), action{kind: actWait, chunk: 4}, ask(5, originID))
		p.expect(time.Second)
		in.peers["a"] = holder(bits(n, 2), 0) // the mate got chunk 2
		p.expect(0, ask(2, "a"))
		p.expect(999 * time.Millisecond)
		p.expect(2*time.Millisecond, ask(4, originID))
	})
}

// While a stream runs, decide asks for a lookup round every 2 s and a
// refresh of the maps every Refresh, on the clock of the first round's
// end, skipping what a late pass missed; once the track is complete it
// ends them.
func TestDecidePassesLookups(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		const n = 6
		in := testSnapshot(n, ModeFetch)
		in.got = bits(n, 0, 1, 2, 3, 4)
		start := time.Now()
		in.lookupAt, in.refreshAt = start.Add(lookupEvery), start.Add(in.cfg.Refresh)
		p := &passes{t: t, in: in}
		p.expect(0, ask(5, originID))
		var lookups, refreshes []time.Duration
		step := func(d time.Duration) {
			time.Sleep(d)
			for _, a := range p.pass() {
				switch a.kind {
				case actLookup:
					lookups = append(lookups, time.Since(start))
				case actRefresh:
					refreshes = append(refreshes, time.Since(start))
				default:
					t.Errorf("at %v: %v", time.Since(start), a)
				}
			}
		}
		for range 30 {
			step(100 * time.Millisecond)
		}
		step(1200 * time.Millisecond) // a late pass: 4.2 s
		ms := time.Millisecond
		if want := []time.Duration{2000 * ms, 4200 * ms}; !slices.Equal(lookups, want) {
			t.Errorf("lookups at %v, want %v", lookups, want)
		}
		if want := []time.Duration{500 * ms, 1000 * ms, 1500 * ms, 2000 * ms, 2500 * ms, 3000 * ms, 4200 * ms}; !slices.Equal(refreshes, want) {
			t.Errorf("refreshes at %v, want %v", refreshes, want)
		}
		if want := start.Add(6 * time.Second); !in.lookupAt.Equal(want) {
			t.Errorf("next lookup at %v, want 6s", in.lookupAt.Sub(start))
		}
		if want := start.Add(4500 * ms); !in.refreshAt.Equal(want) {
			t.Errorf("next refresh at %v, want 4.5s", in.refreshAt.Sub(start))
		}
		p.deliver(5)
		p.expect(2*time.Second, action{kind: actAnnounce}, action{kind: actEndLookups})
		p.expect(2 * time.Second)
	})
}
