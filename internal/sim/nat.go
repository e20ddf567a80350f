package sim

// NAT on the emulated network: a listener behind a home router's NAT
// (NetProfile.NAT) sends from a mapped address and receives only from
// the addresses it has sent to lately. The router's translation and
// filtering happen where a packet enters the emulated internet (the
// simnet router's LatencyFunc, network.latency): a packet's source is
// rewritten to its mapping, and a packet to a NATed address that its
// router would not let in is sent nowhere.

import (
	"math/rand/v2"
	"net"
	"time"

	"github.com/marcopolo/simnet"
)

// natType is the kind of NAT in front of an endpoint.
type natType uint8

const (
	natNone natType = iota
	// natCone maps the endpoint's port to the same external port for
	// every destination (endpoint-independent mapping, RFC 4787) and
	// lets in only packets from an address and port it sent to
	// (address-and-port-dependent filtering): a "port-restricted cone",
	// the common home router, which hole punching gets through.
	natCone
	// natSymmetric maps each destination to its own random external port
	// (address-and-port-dependent mapping) and filters as natCone does: a
	// peer told the address another node saw cannot get in, so punching
	// fails, unless the other side is public.
	natSymmetric
)

func (t natType) String() string {
	switch t {
	case natCone:
		return "cone"
	case natSymmetric:
		return "symmetric"
	}
	return "public"
}

// natTimeout is how long a mapping lives after the last packet through
// it, either way (simulated time): the two minutes RFC 4787 (REQ-5) asks
// of a UDP mapping at least, and Linux conntrack's timeout of a UDP flow
// that saw replies (nf_conntrack_udp_timeout_stream, 120 s), which many
// home routers run.
const natTimeout = 2 * time.Minute

// natMapping is one mapping of a NAT: the external port packets to dst
// leave from, and when a packet last went through it.
type natMapping struct {
	port int
	dst  string
	last time.Time
}

// natBox is the NAT of one endpoint; network.mu guards it.
type natBox struct {
	typ     natType
	ip      net.IP // the endpoint's (and the router's external) IP
	port    int    // the endpoint's port
	timeout time.Duration
	rng     *rand.Rand
	out     map[string]*natMapping // by destination
	byPort  map[int]*natMapping    // natSymmetric: by external port
}

func newNATBox(typ natType, addr *net.UDPAddr, timeout time.Duration, rng *rand.Rand) *natBox {
	return &natBox{typ: typ, ip: addr.IP, port: addr.Port, timeout: timeout, rng: rng,
		out: map[string]*natMapping{}, byPort: map[int]*natMapping{}}
}

func (b *natBox) fresh(m *natMapping, now time.Time) bool {
	return m != nil && now.Sub(m.last) <= b.timeout
}

// outbound returns the external port a packet to dst leaves from now.
func (b *natBox) outbound(dst string, now time.Time) int {
	m := b.out[dst]
	if !b.fresh(m, now) {
		if m != nil && b.typ == natSymmetric {
			delete(b.byPort, m.port)
		}
		b.sweep(now)
		m = &natMapping{port: b.port, dst: dst}
		if b.typ == natSymmetric {
			for {
				m.port = 1024 + b.rng.IntN(65536-1024)
				if _, used := b.byPort[m.port]; !used && m.port != b.port {
					break
				}
			}
			b.byPort[m.port] = m
		}
		b.out[dst] = m
	}
	m.last = now
	return m.port
}

// inbound reports whether a packet from src to the external port may in
// now, and keeps its mapping alive if so.
func (b *natBox) inbound(src string, port int, now time.Time) bool {
	var m *natMapping
	if b.typ == natSymmetric {
		m = b.byPort[port]
	} else if port == b.port {
		m = b.out[src]
	}
	if !b.fresh(m, now) || m.dst != src {
		return false
	}
	m.last = now
	return true
}

// sweep forgets the mappings that timed out, once there are many.
func (b *natBox) sweep(now time.Time) {
	if len(b.out) < 256 {
		return
	}
	for dst, m := range b.out {
		if !b.fresh(m, now) {
			delete(b.out, dst)
			delete(b.byPort, m.port)
		}
	}
}

// nowhere is where a packet a NAT drops is sent: no endpoint has it, so
// the router drops it.
var nowhere = &net.UDPAddr{IP: net.IPv6zero, Port: 0}

// translate passes p through the NATs of its two ends, if any: the
// sender's rewrites its source to the mapped address, the receiver's
// lets it in (to the endpoint's own address) or drops it (to nowhere).
// It reports whether p goes on. network.mu held.
func (nw *network) translate(p *simnet.Packet) bool {
	if len(nw.nats) == 0 {
		return true
	}
	now := time.Now()
	if b := nw.nats[ipKey(p.From)]; b != nil {
		p.From = &net.UDPAddr{IP: b.ip, Port: b.outbound(p.To.String(), now)}
	}
	to, ok := p.To.(*net.UDPAddr)
	if !ok {
		return true
	}
	if b := nw.nats[ipKey(to)]; b != nil {
		if !b.inbound(p.From.String(), to.Port, now) {
			p.To = nowhere
			return false
		}
		p.To = &net.UDPAddr{IP: b.ip, Port: b.port}
	}
	return true
}

// assignNATs puts NetProfile.NAT of the listeners behind NATs, drawn from
// the seed, NetProfile.NATSymmetric of those (rounded) behind symmetric
// ones.
func (r *run) assignNATs() {
	n := r.cfg.Net
	natted := int(max(n.NAT, 0)*float64(len(r.listeners)) + 0.5)
	symmetric := int(max(n.NATSymmetric, 0)*float64(natted) + 0.5)
	for k, i := range r.rng(0, streamNAT, 0).Perm(len(r.listeners))[:natted] {
		typ := natCone
		if k < symmetric {
			typ = natSymmetric
		}
		r.listeners[i].link.nat = typ
	}
}
