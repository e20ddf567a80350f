package sim

import (
	"encoding/binary"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/marcopolo/simnet"
)

// network is the emulated internet of a run: a simnet whose router delays
// each packet by the access delays of its two ends plus jitter, and
// endpoints that lose packets at a seeded rate and count what they send.
type network struct {
	cfg Config
	sn  *simnet.Simnet

	mu     sync.Mutex
	access map[uint32]time.Duration // endpoint IP → one-way access delay
	last   map[[2]uint32]time.Time  // path → latest delivery, so a path never reorders
	jitter *rand.Rand
	nats   map[uint32]*natBox // endpoint IP → its NAT, if behind one (nat.go)

	next atomic.Uint32 // endpoint IPs handed out

	origin     *endpoint
	peerBytes  atomic.Int64 // wire bytes listeners sent to listeners
	toOrigin   atomic.Int64 // wire bytes listeners sent to the origin
	originSent atomic.Int64 // wire bytes the origin sent (egress)
}

func newNetwork(cfg Config) *network {
	nw := &network{
		cfg:    cfg,
		access: map[uint32]time.Duration{},
		last:   map[[2]uint32]time.Time{},
		jitter: rand.New(rand.NewPCG(cfg.Seed, 0x6a17)),
		nats:   map[uint32]*natBox{},
	}
	nw.sn = &simnet.Simnet{
		LatencyFunc: nw.latency,
		Logger:      slog.New(slog.NewTextHandler(io.Discard, nil)),
	}
	return nw
}

func ipKey(a net.Addr) uint32 {
	if u, ok := a.(*net.UDPAddr); ok {
		if ip4 := u.IP.To4(); ip4 != nil {
			return binary.BigEndian.Uint32(ip4)
		}
	}
	return 0
}

// latency is the simnet router's LatencyFunc: the one-way delay of p. It is
// called from the router's goroutine. It passes p through the NATs of its
// ends first (translate): one that drops p sends it nowhere at once.
func (nw *network) latency(p *simnet.Packet) time.Duration {
	nw.mu.Lock()
	defer nw.mu.Unlock()
	if !nw.translate(p) {
		return 0
	}
	from, to := ipKey(p.From), ipKey(p.To)
	d := nw.access[from] + nw.access[to]
	if j := nw.cfg.Net.Jitter; j > 0 {
		d += time.Duration(nw.jitter.Int64N(int64(nw.cfg.wall(j)) + 1))
	}
	now := time.Now()
	at := now.Add(d)
	path := [2]uint32{from, to}
	if prev := nw.last[path]; at.Before(prev) {
		at = prev // FIFO per path: jitter delays, never reorders
	}
	nw.last[path] = at
	return at.Sub(now)
}

// linkSpec is one endpoint's link.
type linkSpec struct {
	down, up int           // bit/s, simulated
	delay    time.Duration // one-way access delay, simulated
	loss     float64
	nat      natType // the home router's NAT in front of it, if any
}

// endpoint is a simnet endpoint that drops packets it sends and receives
// with probability loss (a seeded RNG) and counts the bytes it sends.
// It is the net.PacketConn a node's (or the origin's) QUIC transport uses.
type endpoint struct {
	*simnet.SimConn
	nw       *network
	isOrigin bool
	loss     float64
	// down: the endpoint (the origin's) drops everything (Config.OriginDownAt).
	down atomic.Bool

	mu  sync.Mutex
	rng *rand.Rand
}

// newEndpoint adds an endpoint with link l to the network; stream seeds its
// loss RNG.
func (nw *network) newEndpoint(l linkSpec, isOrigin bool, stream uint64) *endpoint {
	n := int(nw.next.Add(1))
	addr := &net.UDPAddr{IP: simnet.IntToPublicIPv4(n), Port: 4433}
	nw.mu.Lock()
	nw.access[ipKey(addr)] = nw.cfg.wall(l.delay)
	if l.nat != natNone {
		nw.nats[ipKey(addr)] = newNATBox(l.nat, addr, nw.cfg.wall(natTimeout),
			rand.New(rand.NewPCG(nw.cfg.Seed, stream^0x4e4154)))
	}
	nw.mu.Unlock()
	scale := func(bps int) int { return max(int(float64(bps)*nw.cfg.Speed), 8000) }
	conn := nw.sn.NewEndpoint(addr, simnet.NodeBiDiLinkSettings{
		Downlink: simnet.LinkSettings{BitsPerSecond: scale(l.down)},
		Uplink:   simnet.LinkSettings{BitsPerSecond: scale(l.up)},
	})
	e := &endpoint{SimConn: conn, nw: nw, isOrigin: isOrigin, loss: max(l.loss, 0),
		rng: rand.New(rand.NewPCG(nw.cfg.Seed, stream))}
	if isOrigin {
		nw.origin = e
	}
	return e
}

func (e *endpoint) drop() bool {
	if e.loss <= 0 {
		return false
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.rng.Float64() < e.loss
}

// WriteTo sends p unless the uplink loses it; either way it counts as sent.
func (e *endpoint) WriteTo(p []byte, addr net.Addr) (int, error) {
	if e.down.Load() {
		return len(p), nil
	}
	switch {
	case e.isOrigin:
		e.nw.originSent.Add(int64(len(p)))
	case e.nw.origin != nil && ipKey(addr) == ipKey(e.nw.origin.LocalAddr()):
		e.nw.toOrigin.Add(int64(len(p)))
	default:
		e.nw.peerBytes.Add(int64(len(p)))
	}
	if e.drop() {
		return len(p), nil
	}
	if u, ok := addr.(*net.UDPAddr); ok && len(u.IP) == net.IPv4len {
		// The simnet routes by the 16-byte form of an IPv4 address (its
		// endpoints'): a 4-byte one (the DHT's, and any netip address
		// unmapped) would go nowhere.
		a := *u
		a.IP = u.IP.To16()
		addr = &a
	}
	return e.SimConn.WriteTo(p, addr)
}

// ReadFrom returns the next packet the downlink did not lose.
func (e *endpoint) ReadFrom(p []byte) (int, net.Addr, error) {
	for {
		n, addr, err := e.SimConn.ReadFrom(p)
		if err == nil && e.down.Load() {
			continue
		}
		if err != nil || !e.drop() {
			if u, ok := addr.(*net.UDPAddr); ok && len(u.IP) == net.IPv6len && u.IP.To4() != nil {
				// Plain IPv4, as a UDP socket reports it: the DHT takes
				// an IPv4-mapped address for a duplicate.
				a := *u
				a.IP = u.IP.To4()
				addr = &a
			}
			return n, addr, err
		}
	}
}
