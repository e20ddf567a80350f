package dht

import (
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"github.com/anacrolix/dht/v2/krpc"
	"github.com/anacrolix/torrent/bencode"
	"golang.org/x/time/rate"
)

// Limits the gate applies to every inbound datagram before the KRPC
// server sees it.
const (
	defaultIDsPerIP = 4                // node IDs one IP (/64) may have in the table
	idIdle          = 30 * time.Minute // an ID unseen this long frees its slot
	gateIPs         = 4096             // sources remembered; past this one is forgotten
	ipRate          = 50               // datagrams a second from one IP (/64) ...
	ipBurst         = 100              // ... after a burst of this many
	answeredFresh   = 10 * time.Minute // a node that answered this recently is not pinged back
	answeredPerIP   = 64               // addresses of one IP whose last answer is remembered
)

// gate sits between the socket and anacrolix's server. It drops what is
// not a well-formed KRPC message, answers queries outside Potluck's four
// (and announce_peer without implied_port) with an error, rate-limits each
// source, keeps at most idsPerIP node IDs per source IP out of the table
// (a message from another ID is passed on marked read-only, BEP 43, so it
// is answered but never added), notes the address others see us at, and
// asks the DHT to ping back nodes that query us but have not answered us,
// so that they become good and are handed on (a young network converges).
type gate struct {
	idsPerIP int
	write    func(b []byte, to net.Addr) // raw write, for error replies
	pingBack func(netip.AddrPort)        // must not block

	mu      sync.Mutex
	sources map[netip.Addr]*source
	seenAs  map[netip.Addr]netip.AddrPort // external address as told by each responder IP

	dropped atomic.Uint64
}

type source struct {
	lim      *rate.Limiter
	ids      map[krpc.ID]time.Time
	answered map[uint16]time.Time // by port: last response from that address
	seen     time.Time
}

func newGate(idsPerIP int, write func([]byte, net.Addr), pingBack func(netip.AddrPort)) *gate {
	if idsPerIP <= 0 {
		idsPerIP = defaultIDsPerIP
	}
	return &gate{
		idsPerIP: idsPerIP,
		write:    write,
		pingBack: pingBack,
		sources:  make(map[netip.Addr]*source),
		seenAs:   make(map[netip.Addr]netip.AddrPort),
	}
}

var allowedQueries = map[string]bool{"ping": true, "find_node": true, "get_peers": true, "announce_peer": true}

// filter returns the message to pass to the server (p itself, or p
// re-encoded read-only) or nil to drop it.
func (g *gate) filter(p []byte, from net.Addr) []byte {
	ua, ok := from.(*net.UDPAddr)
	if !ok {
		g.dropped.Add(1)
		return nil
	}
	ap := ua.AddrPort()
	ap = netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port())
	if !ap.Addr().IsValid() || ap.Port() == 0 {
		g.dropped.Add(1)
		return nil
	}
	now := time.Now()
	g.mu.Lock()
	src := g.sourceLocked(sourcePrefix(ap.Addr()), now)
	ok = src.lim.AllowN(now, 1)
	g.mu.Unlock()
	if !ok {
		g.dropped.Add(1)
		return nil
	}
	if len(p) < 2 || p[0] != 'd' {
		g.dropped.Add(1)
		return nil
	}
	var m krpc.Msg
	if err := bencode.Unmarshal(p, &m); err != nil {
		g.dropped.Add(1)
		return nil
	}
	var id krpc.ID
	switch m.Y {
	case "q":
		if m.A == nil {
			g.dropped.Add(1)
			return nil
		}
		if !allowedQueries[m.Q] {
			g.replyError(m.T, krpc.ErrorMethodUnknown, from)
			return nil
		}
		if m.Q == "announce_peer" && !m.A.ImpliedPort {
			g.replyError(m.T, krpc.Error{Code: krpc.ErrorCodeProtocolError, Msg: "implied_port required"}, from)
			return nil
		}
		id = m.A.ID
	case "r":
		if m.R == nil {
			g.dropped.Add(1)
			return nil
		}
		id = m.R.ID
	case "e":
		return p // matched to our transaction only; adds no node
	default:
		g.dropped.Add(1)
		return nil
	}
	if id.IsZero() {
		g.dropped.Add(1)
		return nil
	}

	g.mu.Lock()
	admitted := g.admitLocked(src, id, now)
	pingBack := false
	if m.Y == "r" {
		src.answered[ap.Port()] = now
		if len(src.answered) > 2*g.idsPerIP {
			for port, t := range src.answered {
				if now.Sub(t) > answeredFresh {
					delete(src.answered, port)
				}
			}
			for port := range src.answered {
				if len(src.answered) <= answeredPerIP {
					break
				}
				delete(src.answered, port)
			}
		}
		if ext, ok := nodeAddrPort(m.IP); ok {
			if len(g.seenAs) >= 64 {
				for k := range g.seenAs {
					delete(g.seenAs, k)
					break
				}
			}
			g.seenAs[ap.Addr()] = ext
		}
	} else if admitted && !m.ReadOnly {
		t, ok := src.answered[ap.Port()]
		pingBack = !ok || now.Sub(t) > answeredFresh
	}
	g.mu.Unlock()

	if pingBack && g.pingBack != nil {
		g.pingBack(ap)
	}
	if admitted || m.ReadOnly {
		return p
	}
	m.ReadOnly = true
	b, err := bencode.Marshal(m)
	if err != nil {
		g.dropped.Add(1)
		return nil
	}
	return b
}

func (g *gate) sourceLocked(ip netip.Addr, now time.Time) *source {
	s := g.sources[ip]
	if s == nil {
		if len(g.sources) >= gateIPs {
			g.evictLocked(now)
		}
		s = &source{
			lim:      rate.NewLimiter(ipRate, ipBurst),
			ids:      make(map[krpc.ID]time.Time),
			answered: make(map[uint16]time.Time),
		}
		g.sources[ip] = s
	}
	s.seen = now
	return s
}

// evictLocked forgets an idle source, or any source if none is idle.
func (g *gate) evictLocked(now time.Time) {
	var any netip.Addr
	for ip, s := range g.sources {
		if now.Sub(s.seen) > idIdle {
			delete(g.sources, ip)
			return
		}
		any = ip
	}
	delete(g.sources, any)
}

// admitLocked says whether id from src may be in the routing table: it
// already holds a slot, a slot is free, or a slot's ID has been idle.
func (g *gate) admitLocked(src *source, id krpc.ID, now time.Time) bool {
	if _, ok := src.ids[id]; ok {
		src.ids[id] = now
		return true
	}
	if len(src.ids) >= g.idsPerIP {
		for old, t := range src.ids {
			if now.Sub(t) > idIdle {
				delete(src.ids, old)
				break
			}
		}
	}
	if len(src.ids) >= g.idsPerIP {
		return false
	}
	src.ids[id] = now
	return true
}

func (g *gate) replyError(t string, e krpc.Error, to net.Addr) {
	if g.write == nil {
		return
	}
	b, err := bencode.Marshal(krpc.Msg{T: t, Y: "e", E: &e})
	if err == nil {
		g.write(b, to)
	}
}

// answeredRecently says whether ap answered one of our queries within
// answeredFresh.
func (g *gate) answeredRecently(ap netip.AddrPort) bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	src := g.sources[sourcePrefix(ap.Addr())]
	if src == nil {
		return false
	}
	t, ok := src.answered[ap.Port()]
	return ok && time.Since(t) <= answeredFresh
}

// externalAddr returns the address most responders say they see us at,
// if at least two distinct responder IPs agree.
func (g *gate) externalAddr() netip.AddrPort {
	g.mu.Lock()
	defer g.mu.Unlock()
	votes := map[netip.AddrPort]int{}
	var best netip.AddrPort
	for _, a := range g.seenAs {
		votes[a]++
		if votes[a] > votes[best] {
			best = a
		}
	}
	if votes[best] < 2 {
		return netip.AddrPort{}
	}
	return best
}

func nodeAddrPort(na krpc.NodeAddr) (netip.AddrPort, bool) {
	ip, ok := netip.AddrFromSlice(na.IP)
	if !ok || na.Port <= 0 || na.Port > 65535 {
		return netip.AddrPort{}, false
	}
	return netip.AddrPortFrom(ip.Unmap(), uint16(na.Port)), true
}
