package swarm

// Neighbour search: who holds a track, asked of and answered for the
// connected peers (WHO_HAS in docs/protocol.md).

import (
	"context"
	"sync"
	"time"

	"golang.org/x/time/rate"

	"github.com/potluckfm/potluck/track"
)

// whoHas asks c which peers hold id: a neighbour search ttl hops deep.
func (c *peerConn) whoHas(ctx context.Context, id track.ID, ttl byte) ([]PeerAddr, error) {
	return c.getPeers(ctx, request{typ: msgWhoHas, id: id, ttl: ttl})
}

// answerWhoHas answers a neighbour search: the peers this node knows to
// hold id (itself included), and with ttl > 1 what its own neighbours say.
// A search for the same track by the same asker within a few seconds is
// answered from local knowledge only, so retries cannot start a storm; so
// is any search past the asker's budget of onward searches (whoHasBurst,
// then one every whoHasEvery), so searches for ever new tracks cannot
// start one either.
func (n *Node) answerWhoHas(c *peerConn, id track.ID, ttl byte) []PeerAddr {
	asker := c.id
	var out []PeerAddr
	if n.store.Have(id).Count() > 0 {
		out = append(out, PeerAddr{ID: n.id, Addr: n.announceAddr()})
	}
	n.mu.Lock()
	fresh := n.searchServedLocked(asker, id)
	for pid, seen := range n.holders[id] {
		if c := n.conns[pid]; c != nil && pid != asker && time.Since(seen) < holderTTL {
			out = append(out, PeerAddr{ID: pid, Addr: c.addr})
		}
	}
	n.mu.Unlock()
	if ttl > 1 && fresh && c.mayStartSearch() {
		ctx, cancel := context.WithTimeout(n.ctx, 700*time.Millisecond)
		defer cancel()
		out = append(out, n.askNeighbours(ctx, id, ttl-1, asker)...)
	}
	return dedupe(out, asker)
}

// An asker may start whoHasBurst onward neighbour searches at once, then
// one every whoHasEvery.
const (
	whoHasBurst = 4
	whoHasEvery = time.Second
)

// mayStartSearch takes one onward search from the budget of the node on
// the other side of c, and reports whether there was one.
func (c *peerConn) mayStartSearch() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.searches == nil {
		c.searches = rate.NewLimiter(rate.Every(whoHasEvery), whoHasBurst)
	}
	return c.searches.Allow()
}

// searchServedLocked records that asker searched for id and reports
// whether the search is fresh: the first by this asker for this track in
// 5 s. An asker remembered with as many searches as it may have is not
// fresh either, so a flood of searches for made-up tracks neither grows the
// table nor starts searches further on. n.mu held.
func (n *Node) searchServedLocked(asker PeerID, id track.ID) bool {
	now := time.Now()
	m := n.whoHas[asker]
	if m == nil {
		m = map[track.ID]time.Time{}
		n.whoHas[asker] = m
	}
	if last, ok := m[id]; ok {
		m[id] = now
		return now.Sub(last) > 5*time.Second
	}
	if len(m) >= n.lim.whoHasPerAsker {
		for t, last := range m {
			if now.Sub(last) > time.Minute {
				delete(m, t)
			}
		}
		if len(m) >= n.lim.whoHasPerAsker {
			return false
		}
	}
	m[id] = now
	return true
}

// askNeighbours sends a neighbour search to every connected peer but skip
// and merges their answers, at most hearsayPerAns addresses of each: one
// peer's word counts for no more than that. The answer of a peer that has
// proved itself (it delivered good chunks) confirms what it lists; any
// other answer stays hearsay.
func (n *Node) askNeighbours(ctx context.Context, id track.ID, ttl byte, skip PeerID) []PeerAddr {
	var mu sync.Mutex
	var out []PeerAddr
	var wg sync.WaitGroup
	for _, c := range n.connected() {
		if c.id == skip {
			continue
		}
		wg.Go(func() {
			peers, err := c.whoHas(ctx, id, ttl)
			if err != nil {
				return
			}
			peers = peers[:min(len(peers), n.lim.hearsayPerAns)]
			if n.proven(c.id) {
				// A peer that delivered good chunks vouches for its answer.
				n.confirm(peers...)
			}
			mu.Lock()
			out = append(out, peers...)
			mu.Unlock()
		})
	}
	wg.Wait()
	return out
}

func dedupe(peers []PeerAddr, skip PeerID) []PeerAddr {
	seen := map[PeerID]bool{skip: true}
	out := peers[:0]
	for _, p := range peers {
		if !seen[p.ID] {
			seen[p.ID] = true
			out = append(out, p)
		}
	}
	return out
}
