package swarm

// Reachability: the address others see this node at, and whether a node
// that never heard from it can reach it.

import (
	"context"
	"net/netip"
	"time"

	"github.com/potluckfm/potluck/swarm/nat"
)

// Reachability states, as Reachability.State says them.
const (
	ReachPublic   = "public"                   // an unsolicited connection arrived
	ReachMapped   = "port mapped"              // the home router forwards the port
	ReachPunching = "reachable after punching" // behind a NAT; punched paths worked
	ReachNone     = "not reachable"            // behind a NAT; nothing got in
	ReachUnknown  = "unknown"
)

// Reachability is how other nodes reach this one.
type Reachability struct {
	// Public is the address others see this node at, once trusted: the
	// origin said it, or at least two peers of different IPs agree. Zero
	// if not known yet.
	Public netip.AddrPort `json:"public"`
	// State is one of ReachPublic, ReachMapped, ReachPunching, ReachNone,
	// ReachUnknown.
	State string `json:"state"`
	// Mapped is the router's mapping of the node's port, if any.
	Mapped netip.AddrPort `json:"mapped"`
	// Direct, Punched and LAN count the connections open now by how they
	// were made: dialled or accepted as is, through a punched hole, or to
	// a peer found on the local network.
	Direct  int `json:"direct"`
	Punched int `json:"punched"`
	LAN     int `json:"lan"`
}

// connKind says how a connection was made.
type connKind uint8

const (
	kindDirect connKind = iota
	kindPunched
	kindLAN
)

// maxObservers bounds the observations kept (one per peer IP).
const maxObservers = 64

// reachState is the node's knowledge of its own reachability; n.mu guards
// it.
type reachState struct {
	originSaw netip.AddrPort                // the tracker's answer
	observed  map[netip.Addr]netip.AddrPort // peer IP → what it saw
	// unsolicited is when an inbound connection from an address this
	// node had not sent to last arrived.
	unsolicited time.Time
	mapped      netip.AddrPort
	punchedOK   int // punches that succeeded
	punchFailed int // punches that failed
	// sentTo holds the addresses this node dialled or punched to
	// recently: a connection from one of them is not unsolicited.
	sentTo map[string]time.Time
	// punched holds the addresses this node punched a hole to recently
	// (bounded as sentTo is): a connection from one is a punched one.
	punched map[string]time.Time
	// behindNAT holds the addresses of peers the tracker said are behind
	// a NAT with no port mapped (bounded as sentTo is): a dial there
	// starts punching at once (see dialOrPunch).
	behindNAT map[string]time.Time
}

// sentToTTL is how long a dial or punch explains an inbound connection:
// about as long as a router keeps the path open.
const sentToTTL = 2 * time.Minute

// maxSentTo bounds the addresses remembered in reachState.sentTo.
const maxSentTo = 1024

// noteSentLocked records that the node sent to addr. n.mu held.
func (n *Node) noteSentLocked(addr string) {
	if n.reach.sentTo == nil {
		n.reach.sentTo = map[string]time.Time{}
	}
	noteAddr(n.reach.sentTo, addr)
}

// notePunchedLocked records that the node punched a hole to addr. n.mu
// held.
func (n *Node) notePunchedLocked(addr string) {
	if n.reach.punched == nil {
		n.reach.punched = map[string]time.Time{}
	}
	noteAddr(n.reach.punched, addr)
	n.noteSentLocked(addr)
}

// noteAddr sets m[addr] to now, keeping m within maxSentTo entries.
func noteAddr(m map[string]time.Time, addr string) {
	now := time.Now()
	if _, ok := m[addr]; !ok && len(m) >= maxSentTo {
		for a, at := range m {
			if now.Sub(at) > sentToTTL {
				delete(m, a)
			}
		}
		if len(m) >= maxSentTo {
			delete(m, minKey(m, func(at time.Time) time.Time { return at }))
		}
	}
	m[addr] = now
}

// noteBehindNAT records that the peer at addr said it is behind a NAT.
func (n *Node) noteBehindNAT(addr string) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.reach.behindNAT == nil {
		n.reach.behindNAT = map[string]time.Time{}
	}
	noteAddr(n.reach.behindNAT, addr)
}

// recentLocked reports whether m holds addr from within sentToTTL. n.mu
// held.
func recentLocked(m map[string]time.Time, addr string) bool {
	at, ok := m[addr]
	return ok && time.Since(at) < sentToTTL
}

func (n *Node) noteSent(addr string) {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.noteSentLocked(addr)
}

// inboundKindLocked says how an inbound connection from addr came to be,
// and notes an unsolicited one. n.mu held.
func (n *Node) inboundKindLocked(addr string) connKind {
	r := &n.reach
	if n.isLANLocked(addr) {
		return kindLAN
	}
	if at, ok := r.punched[addr]; ok && time.Since(at) < sentToTTL {
		return kindPunched
	}
	if at, ok := r.sentTo[addr]; ok && time.Since(at) < sentToTTL {
		return kindDirect
	}
	if ap, err := netip.ParseAddrPort(addr); err == nil {
		switch ip := ap.Addr().Unmap(); {
		case ip.IsPrivate() || ip.IsLinkLocalUnicast():
			// A neighbour on the LAN: says nothing of the router.
			return kindLAN
		case ip.IsLoopback():
			return kindDirect
		}
	}
	r.unsolicited = time.Now()
	return kindDirect
}

// noteOriginSaw records the address the origin's tracker lists for this
// node (AnnounceResponse.Addr).
func (n *Node) noteOriginSaw(addr string) {
	ap, err := netip.ParseAddrPort(addr)
	if err != nil || !ap.Addr().IsValid() || ap.Addr().IsUnspecified() {
		return
	}
	n.mu.Lock()
	n.reach.originSaw = netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port())
	n.mu.Unlock()
}

// noteObserved records what a peer at IP from says it sees this node at.
func (n *Node) noteObserved(from netip.Addr, saw string) {
	ap, err := netip.ParseAddrPort(saw)
	if err != nil || !from.IsValid() {
		return
	}
	ap = netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port())
	n.mu.Lock()
	defer n.mu.Unlock()
	r := &n.reach
	if r.observed == nil {
		r.observed = map[netip.Addr]netip.AddrPort{}
	}
	if _, ok := r.observed[from]; !ok && len(r.observed) >= maxObservers {
		for k := range r.observed { // any one gives way
			delete(r.observed, k)
			break
		}
	}
	r.observed[from.Unmap()] = ap
}

// NotePortMapping tells the node the state of its port mapping (a
// nat.PortMapper's OnChange).
func (n *Node) NotePortMapping(m nat.Mapping) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if m.State == nat.StateMapped {
		n.reach.mapped = m.External
	} else {
		n.reach.mapped = netip.AddrPort{}
	}
}

// publicLocked is the trusted public address: the origin's word, else
// one that peers of two or more IPs agree on, else the DHT's. n.mu held.
func (n *Node) publicLocked() netip.AddrPort {
	r := &n.reach
	if r.originSaw.IsValid() {
		return r.originSaw
	}
	votes := map[netip.AddrPort]int{}
	var best netip.AddrPort
	for _, ap := range r.observed {
		votes[ap]++
		if votes[ap] >= 2 && votes[ap] > votes[best] {
			best = ap
		}
	}
	return best
}

// PublicAddr is the trusted public address (see Reachability.Public),
// or the zero value.
func (n *Node) PublicAddr() netip.AddrPort {
	n.mu.Lock()
	pub := n.publicLocked()
	n.mu.Unlock()
	if !pub.IsValid() && n.dht != nil {
		pub = n.dht.Stats().External
	}
	return pub
}

// Reachability says how other nodes reach this one now.
func (n *Node) Reachability() Reachability {
	pub := n.PublicAddr()
	n.mu.Lock()
	defer n.mu.Unlock()
	r := &n.reach
	out := Reachability{Public: pub, Mapped: r.mapped, State: ReachUnknown}
	for _, c := range n.conns {
		switch c.kind {
		case kindPunched:
			out.Punched++
		case kindLAN:
			out.LAN++
		default:
			out.Direct++
		}
	}
	switch {
	case !r.unsolicited.IsZero():
		out.State = ReachPublic
	case r.mapped.IsValid():
		out.State = ReachMapped
	case r.punchedOK > 0:
		out.State = ReachPunching
	case r.punchFailed > 0:
		out.State = ReachNone
	}
	return out
}

// askObserved asks c what address it sees this node at, and records it.
// An older node answers "bad request"; that is no answer.
func (n *Node) askObserved(c *peerConn) {
	ctx, cancel := context.WithTimeout(n.ctx, 3*time.Second)
	defer cancel()
	b, err := c.getBytes(ctx, request{typ: msgObserved}, maxAddrLen)
	if err != nil {
		return
	}
	if ap, err := netip.ParseAddrPort(c.conn.RemoteAddr().String()); err == nil {
		n.noteObserved(ap.Addr().Unmap(), string(b))
	}
}
