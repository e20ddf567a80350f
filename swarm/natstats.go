package swarm

// Traversal statistics: how this node's attempts to reach peers ended
// (directly, through a punched hole, or not at all) and how long a punched
// connection took, for benchmarks (internal/sim) to read.

import (
	"sync"
	"time"
)

// Bounds of the traversal statistics: peers tracked and punch times kept.
const (
	maxTraversalPeers = 4096
	maxPunchTimes     = 4096
	// traversalAttempt is how long after the first dial of a peer
	// another dial of it belongs to the same attempt: a direct dial's
	// timeout (5 s) and punching's budget (8 s), and some.
	traversalAttempt = 20 * time.Second
)

// PeerReach is what happened between this node and one peer.
type PeerReach struct {
	// Tried: this node dialled the peer (by its ID) at least once.
	Tried bool `json:"tried"`
	// Direct, Punched and LAN count the connections made with the peer,
	// by either side, by how they were made (see Reachability).
	Direct  int `json:"direct"`
	Punched int `json:"punched"`
	LAN     int `json:"lan"`
}

// TraversalStats are a node's figures of NAT traversal since it started.
type TraversalStats struct {
	// PunchesOK and PunchesFailed count the punches that made a hole
	// and those that did not, this node asking or answering (the counts
	// Reachability's state rests on).
	PunchesOK     int `json:"punches_ok"`
	PunchesFailed int `json:"punches_failed"`
	// PunchTimes are, for each connection this node dialled through a
	// punched hole, the time from the first dial of the attempt (the
	// direct one) to the connection (at most maxPunchTimes).
	PunchTimes []time.Duration `json:"punch_times"`
	// Peers is what happened with each peer this node dialled or
	// connected with (at most maxTraversalPeers).
	Peers map[PeerID]PeerReach `json:"peers"`
}

// traversalStats gathers TraversalStats. It has its own lock: its hooks
// run with and without n.mu held.
type traversalStats struct {
	mu         sync.Mutex
	dialStart  map[PeerID]time.Time // first dial of the attempt under way, by peer
	peers      map[PeerID]PeerReach
	punchTimes []time.Duration
}

// initLocked makes the maps on first use; t.mu held.
func (t *traversalStats) initLocked() {
	if t.peers == nil {
		t.dialStart = map[PeerID]time.Time{}
		t.peers = map[PeerID]PeerReach{}
	}
}

// dialing notes a dial of peer id.
func (t *traversalStats) dialing(id PeerID) {
	if id == "" {
		return
	}
	now := time.Now()
	t.mu.Lock()
	defer t.mu.Unlock()
	t.initLocked()
	if at, ok := t.dialStart[id]; !ok || now.Sub(at) > traversalAttempt {
		if len(t.dialStart) >= maxTraversalPeers {
			for p, at := range t.dialStart {
				if now.Sub(at) > traversalAttempt {
					delete(t.dialStart, p)
				}
			}
		}
		if len(t.dialStart) < maxTraversalPeers {
			t.dialStart[id] = now
		}
	}
	if r, ok := t.peers[id]; ok || len(t.peers) < maxTraversalPeers {
		r.Tried = true
		t.peers[id] = r
	}
}

// connected notes a connection with peer id made as kind says.
func (t *traversalStats) connected(id PeerID, kind connKind, outbound bool) {
	now := time.Now()
	t.mu.Lock()
	defer t.mu.Unlock()
	t.initLocked()
	if r, ok := t.peers[id]; ok || len(t.peers) < maxTraversalPeers {
		switch kind {
		case kindPunched:
			r.Punched++
		case kindLAN:
			r.LAN++
		default:
			r.Direct++
		}
		t.peers[id] = r
	}
	if !outbound {
		return
	}
	if at, ok := t.dialStart[id]; ok {
		delete(t.dialStart, id)
		if kind == kindPunched && len(t.punchTimes) < maxPunchTimes {
			t.punchTimes = append(t.punchTimes, now.Sub(at))
		}
	}
}

// TraversalStats returns the node's figures of NAT traversal so far. It
// may be called after Close.
func (n *Node) TraversalStats() TraversalStats {
	n.mu.Lock()
	out := TraversalStats{PunchesOK: n.reach.punchedOK, PunchesFailed: n.reach.punchFailed}
	n.mu.Unlock()
	t := &n.traversal
	t.mu.Lock()
	defer t.mu.Unlock()
	out.PunchTimes = append([]time.Duration(nil), t.punchTimes...)
	out.Peers = make(map[PeerID]PeerReach, len(t.peers))
	for id, r := range t.peers {
		out.Peers[id] = r
	}
	return out
}
