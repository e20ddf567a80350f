package nat

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"sync"
	"sync/atomic"
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
	if len(b) == 0 || b[0] != PacketType {
		return nonce, false, false
	}
	return parseBody(b[1:])
}

// parseBody is ParsePacket for a datagram without its first byte.
func parseBody(body []byte) (nonce Nonce, seen, ok bool) {
	if len(body) != PacketLen-1 || body[0] != PacketVersion {
		return nonce, false, false
	}
	copy(nonce[:], body[2:])
	return nonce, body[1]&flagSeen != 0, true
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
// It is safe for concurrent use. It comes in two forms:
//
//   - NewPuncher(w): it sends whole datagrams with w (the node's
//     *quic.Transport) and is fed, through HandlePacket, the datagrams the
//     node's read loop got whose first byte is PacketType. It starts no
//     goroutine.
//   - NewPuncherConn(c): c is a net.PacketConn that carries punch datagrams
//     without their first byte, as a demultiplexer that strips and adds
//     the frame byte gives (one listener per frame byte). The Puncher
//     reads c in a goroutine of its own until Close.
type Puncher struct {
	send func(body []byte, to net.Addr) // a datagram without PacketType
	conn net.PacketConn                 // NewPuncherConn only

	mu       sync.Mutex
	attempts map[Nonce]*attempt
	now      func() time.Time

	closed    chan struct{}
	closing   atomic.Bool
	closeOnce sync.Once
	wg        sync.WaitGroup
}

type attempt struct {
	got   chan struct{} // closed on the first punch received
	from  net.Addr
	seen  bool
	until time.Time // forgotten after this
	done  bool
}

func newPuncher(send func([]byte, net.Addr)) *Puncher {
	return &Puncher{send: send, attempts: make(map[Nonce]*attempt), now: time.Now, closed: make(chan struct{})}
}

// NewPuncher returns a Puncher that sends whole datagrams with w, normally
// the node's *quic.Transport, and is fed with HandlePacket.
func NewPuncher(w Writer) *Puncher {
	return newPuncher(func(body []byte, to net.Addr) {
		// A send error (no route yet, say) is like a lost datagram: the
		// schedule sends again.
		w.WriteTo(append([]byte{PacketType}, body...), to)
	})
}

// NewPuncherConn returns a Puncher over c, whose datagrams are punch
// datagrams without their first byte: c.WriteTo must prepend PacketType
// and c.ReadFrom must strip it. The Puncher reads c until Close or until
// c is closed; Close does not close c but sets its read deadline to wake
// the reader.
func NewPuncherConn(c net.PacketConn) *Puncher {
	p := newPuncher(func(body []byte, to net.Addr) { c.WriteTo(body, to) })
	p.conn = c
	p.wg.Add(1)
	go func() {
		defer p.wg.Done()
		p.read(c)
	}()
	return p
}

func (p *Puncher) read(c net.PacketConn) {
	buf := make([]byte, 1500)
	for {
		n, from, err := c.ReadFrom(buf)
		if err != nil {
			var ne net.Error
			if !p.closing.Load() && errors.As(err, &ne) && ne.Timeout() {
				continue // someone else's deadline
			}
			return
		}
		p.handleBody(buf[:n], from)
	}
}

// Close ends the attempts under way (Punch returns net.ErrClosed) and,
// for a Puncher from NewPuncherConn, stops its reader and waits for it.
// It may be called more than once.
func (p *Puncher) Close() error {
	p.closeOnce.Do(func() {
		p.closing.Store(true)
		close(p.closed)
		if p.conn != nil {
			p.conn.SetReadDeadline(time.Now())
		}
		p.wg.Wait()
	})
	return nil
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
	p.handleBody(b[1:], from)
	return true
}

// handleBody handles a punch datagram without its first byte.
func (p *Puncher) handleBody(body []byte, from net.Addr) {
	nonce, seen, ok := parseBody(body)
	if !ok {
		return
	}
	p.mu.Lock()
	p.pruneLocked()
	a := p.attempts[nonce]
	if a == nil {
		p.mu.Unlock()
		return
	}
	if a.from == nil {
		a.from = from
		a.seen = seen
		close(a.got)
	}
	p.mu.Unlock()
	if !seen {
		p.send(AppendPacket(nil, nonce, true)[1:], from)
	}
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
// a punch with nonce arrives from the other side (through HandlePacket or
// the PacketConn), s.Timeout after at passes (ErrPunchTimeout), ctx ends
// (its error) or the Puncher is closed (net.ErrClosed).
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
		case <-p.closed:
			t.Stop()
			return Result{}, net.ErrClosed
		case <-a.got: // the other side was early and our router let it in
			t.Stop()
		case <-t.C:
		}
	}
	start := time.Now()
	deadline := time.NewTimer(time.Until(at.Add(s.Timeout)))
	defer deadline.Stop()
	tick := time.NewTicker(s.Interval)
	defer tick.Stop()
	body := AppendPacket(nil, nonce, false)[1:]
	sent := 0
	for {
		select {
		case <-a.got:
		default:
			p.send(body, remote)
			sent++
		}
		select {
		case <-p.closed:
			return Result{Sent: sent}, net.ErrClosed
		case <-a.got:
			p.mu.Lock()
			res := Result{Remote: a.from, Sent: sent, Elapsed: time.Since(start), Seen: a.seen}
			p.mu.Unlock()
			return res, nil
		case <-ctx.Done():
			return Result{Sent: sent}, ctx.Err()
		case <-deadline.C:
			return Result{Sent: sent}, ErrPunchTimeout
		case <-tick.C:
		}
	}
}
