package nat

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"sync"
	"time"
)

// PacketType is the first byte of every punch datagram. It has both top
// bits clear, so a quic.Transport hands such datagrams to
// ReadNonQUICPacket rather than to QUIC.
const PacketType byte = 0x02

// PacketVersion is the version of the punch datagram this package speaks.
// Datagrams of other versions are ignored.
const PacketVersion byte = 1

// PacketLen is the length of a punch datagram.
const PacketLen = 3 + NonceLen

// NonceLen is the length of a Nonce.
const NonceLen = 16

// flagSeen in a punch datagram says that its sender has received a punch
// with the same nonce: the hole is open both ways.
const flagSeen byte = 0x01

// Nonce names one punching attempt. The rendezvous chooses it (NewNonce)
// and tells it to both sides; a side accepts a punch only if it carries the
// nonce of an attempt under way, so stray or forged datagrams without it
// open nothing.
type Nonce [NonceLen]byte

// NewNonce returns a random Nonce.
func NewNonce() Nonce {
	var n Nonce
	rand.Read(n[:])
	return n
}

// String is the nonce in hex.
func (n Nonce) String() string { return hex.EncodeToString(n[:]) }

// ParseNonce reads a nonce written by Nonce.String.
func ParseNonce(s string) (Nonce, error) {
	var n Nonce
	b, err := hex.DecodeString(s)
	if err != nil || len(b) != NonceLen {
		return n, fmt.Errorf("nat: bad nonce %q", s)
	}
	copy(n[:], b)
	return n, nil
}

// AppendPacket appends the punch datagram for nonce to b: PacketType,
// PacketVersion, a flags byte (0x01 when seen: the sender has already
// received the other side's punch; other bits zero) and the nonce.
func AppendPacket(b []byte, nonce Nonce, seen bool) []byte {
	var flags byte
	if seen {
		flags |= flagSeen
	}
	b = append(b, PacketType, PacketVersion, flags)
	return append(b, nonce[:]...)
}

// ParsePacket reads a punch datagram. ok is false if b is not one of this
// version (wrong type, version or length).
func ParsePacket(b []byte) (nonce Nonce, seen, ok bool) {
	if len(b) != PacketLen || b[0] != PacketType || b[1] != PacketVersion {
		return nonce, false, false
	}
	copy(nonce[:], b[3:])
	return nonce, b[2]&flagSeen != 0, true
}

// Writer sends a datagram from the node's socket. *quic.Transport is one.
type Writer interface {
	WriteTo(b []byte, addr net.Addr) (int, error)
}

// Schedule says when punches are sent. The zero value means the defaults.
type Schedule struct {
	// Interval is the time between two punches (default 50 ms).
	Interval time.Duration
	// Timeout is how long after the start moment a Punch gives up
	// (default 5 s).
	Timeout time.Duration
	// Linger is how long after its own success a side still answers the
	// other side's punches (default 3 s), so that the other side, if it
	// has not yet received a punch, learns that the hole is open.
	Linger time.Duration
}

// Defaults measured against nftables masquerade routers (see the package
// documentation).
const (
	DefaultInterval = 50 * time.Millisecond
	DefaultTimeout  = 5 * time.Second
	DefaultLinger   = 3 * time.Second
)

func (s Schedule) withDefaults() Schedule {
	if s.Interval <= 0 {
		s.Interval = DefaultInterval
	}
	if s.Timeout <= 0 {
		s.Timeout = DefaultTimeout
	}
	if s.Linger <= 0 {
		s.Linger = DefaultLinger
	}
	return s
}

// maxAttempts bounds the punching attempts a Puncher tracks at once
// (attempts under way and lingering ones).
const maxAttempts = 64

// Errors returned by Punch.
var (
	// ErrPunchTimeout: no punch from the remote arrived before the
	// schedule's Timeout.
	ErrPunchTimeout = errors.New("nat: no punch from the remote in time")
	// ErrPunchBusy: an attempt with the same nonce is under way, or
	// maxAttempts are.
	ErrPunchBusy = errors.New("nat: too many punching attempts, or this nonce is in use")
)

// Result is what a successful Punch learnt.
type Result struct {
	// Remote is the address the remote's punch came from: the address to
	// dial. It may differ from the address Punch was given if the remote's
	// router chose another port.
	Remote net.Addr
	// Sent is how many punches this side sent before it received one.
	Sent int
	// Elapsed is the time from the start moment (or the call, if later)
	// to the first punch received.
	Elapsed time.Duration
	// Seen is true if the remote's first punch said it had already
	// received one of ours.
	Seen bool
}

// Puncher punches UDP holes through NAT routers from the node's socket.
// It sends with a Writer and is fed the datagrams the node reads whose
// first byte is PacketType through HandlePacket. It starts no goroutines
// and needs no Close; it is safe for concurrent use.
type Puncher struct {
	w Writer

	mu       sync.Mutex
	attempts map[Nonce]*attempt
	now      func() time.Time
}

type attempt struct {
	got   chan struct{} // closed on the first punch received
	from  net.Addr
	seen  bool
	until time.Time // forgotten after this
	done  bool
}

// NewPuncher returns a Puncher that sends with w, normally the node's
// *quic.Transport.
func NewPuncher(w Writer) *Puncher {
	return &Puncher{w: w, attempts: make(map[Nonce]*attempt), now: time.Now}
}

// HandlePacket takes one datagram read from the node's socket. It reports
// whether b was a punch datagram (then the Puncher has dealt with it);
// false means it is someone else's. b is not kept. A punch whose nonce
// belongs to an attempt under way or lingering marks that attempt a
// success and, unless it says seen, is answered with a seen punch to its
// sender; a punch with an unknown nonce is dropped without an answer.
// HandlePacket never blocks for long: call it from the node's read loop.
func (p *Puncher) HandlePacket(b []byte, from net.Addr) bool {
	if len(b) == 0 || b[0] != PacketType {
		return false
	}
	nonce, seen, ok := ParsePacket(b)
	if !ok {
		return true
	}
	p.mu.Lock()
	p.pruneLocked()
	a := p.attempts[nonce]
	if a == nil {
		p.mu.Unlock()
		return true
	}
	if a.from == nil {
		a.from = from
		a.seen = seen
		close(a.got)
	}
	p.mu.Unlock()
	if !seen {
		p.w.WriteTo(AppendPacket(make([]byte, 0, PacketLen), nonce, true), from)
	}
	return true
}

// pruneLocked forgets finished attempts whose linger time is over.
func (p *Puncher) pruneLocked() {
	now := p.now()
	for n, a := range p.attempts {
		if a.done && now.After(a.until) {
			delete(p.attempts, n)
		}
	}
}

// Punch punches a hole to remote, the other side's address as the
// rendezvous observed it, for the attempt nonce. From the moment at (at
// once if at has passed) it sends a punch every s.Interval to remote until
// a punch with nonce arrives from the other side (through HandlePacket),
// s.Timeout after at passes (ErrPunchTimeout) or ctx ends (its error).
// Both sides must call Punch with the same nonce and about the same at.
// On success the caller dials Result.Remote over QUIC from the same socket
// (or waits to be dialled); the Puncher keeps answering the other side's
// punches for s.Linger.
func (p *Puncher) Punch(ctx context.Context, remote net.Addr, nonce Nonce, at time.Time, s Schedule) (Result, error) {
	s = s.withDefaults()
	a := &attempt{got: make(chan struct{})}
	p.mu.Lock()
	p.pruneLocked()
	if _, busy := p.attempts[nonce]; busy || len(p.attempts) >= maxAttempts {
		p.mu.Unlock()
		return Result{}, ErrPunchBusy
	}
	p.attempts[nonce] = a
	p.mu.Unlock()

	res, err := p.punch(ctx, a, remote, nonce, at, s)

	p.mu.Lock()
	a.done = true
	a.until = p.now()
	if err == nil {
		a.until = a.until.Add(s.Linger)
	}
	p.pruneLocked()
	p.mu.Unlock()
	return res, err
}

func (p *Puncher) punch(ctx context.Context, a *attempt, remote net.Addr, nonce Nonce, at time.Time, s Schedule) (Result, error) {
	if wait := time.Until(at); wait > 0 {
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return Result{}, ctx.Err()
		case <-t.C:
		}
	}
	start := time.Now()
	if at.After(start) {
		start = at
	}
	deadline := time.NewTimer(time.Until(at.Add(s.Timeout)))
	defer deadline.Stop()
	tick := time.NewTicker(s.Interval)
	defer tick.Stop()
	pkt := AppendPacket(make([]byte, 0, PacketLen), nonce, false)
	sent := 0
	for {
		select {
		case <-a.got:
		default:
			// A send error (no route yet, say) is like a lost packet:
			// the next tick tries again.
			p.w.WriteTo(pkt, remote)
			sent++
		}
		select {
		case <-a.got:
			p.mu.Lock()
			res := Result{Remote: a.from, Sent: sent, Elapsed: time.Since(start), Seen: a.seen}
			p.mu.Unlock()
			return res, nil
		case <-ctx.Done():
			return Result{}, ctx.Err()
		case <-deadline.C:
			return Result{Sent: sent}, ErrPunchTimeout
		case <-tick.C:
		}
	}
}
