package dht

import (
	"context"
	"fmt"
	"net"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/quic-go/quic-go"
)

// Framing bytes: the first byte of every non-QUIC datagram on a node's
// socket says who it is for. quic-go claims every datagram whose first byte
// has bit 0x40 set, so a frame byte is below 0x40.
const (
	// FrameDHT marks a Potluck DHT v1 datagram: a bencoded KRPC message
	// follows the byte.
	FrameDHT byte = 0x01
	// FrameHolePunch is reserved for NAT hole-punch packets.
	FrameHolePunch byte = 0x02
)

// queuedPerConn is how many datagrams a PacketConn holds for its reader;
// more are dropped, as a full socket buffer would.
const queuedPerConn = 256

// Mux owns the one loop that calls ReadNonQUICPacket on a quic.Transport
// and hands each datagram to the PacketConn registered for its first byte.
// Datagrams with a first byte nobody registered are dropped. quic-go queues
// at most 32 non-QUIC datagrams, so nothing else may call
// ReadNonQUICPacket on a Transport that has a Mux. (quic-go also drops
// non-QUIC datagrams that arrive before the first read, so make the Mux
// when the Transport is made.) Hole punching takes its frame byte with
// nat.NewPuncherConn(mux.Listen(FrameHolePunch)).
type Mux struct {
	tr     *quic.Transport
	cancel context.CancelFunc
	done   chan struct{}

	mu     sync.Mutex
	conns  map[byte]*PacketConn
	closed bool

	dropped atomic.Uint64 // datagrams no PacketConn took
}

// NewMux starts reading tr's non-QUIC datagrams. It does not own tr: Close
// ends the loop and leaves tr open. The loop also ends when tr closes.
func NewMux(tr *quic.Transport) *Mux {
	ctx, cancel := context.WithCancel(context.Background())
	m := &Mux{
		tr:     tr,
		cancel: cancel,
		done:   make(chan struct{}),
		conns:  make(map[byte]*PacketConn),
	}
	go m.run(ctx)
	return m
}

func (m *Mux) run(ctx context.Context) {
	defer close(m.done)
	defer m.closeConns()
	buf := make([]byte, 1<<16)
	for {
		n, addr, err := m.tr.ReadNonQUICPacket(ctx, buf)
		if err != nil {
			return
		}
		if n < 1 {
			m.dropped.Add(1)
			continue
		}
		m.mu.Lock()
		c := m.conns[buf[0]]
		m.mu.Unlock()
		if c == nil || !c.deliver(buf[1:n], addr) {
			m.dropped.Add(1)
		}
	}
}

func (m *Mux) closeConns() {
	m.mu.Lock()
	m.closed = true
	conns := m.conns
	m.conns = map[byte]*PacketConn{}
	m.mu.Unlock()
	for _, c := range conns {
		c.closeLocal()
	}
}

// Close stops the read loop, closes every PacketConn of m and waits for
// the loop to end. It may be called again.
func (m *Mux) Close() error {
	m.cancel()
	<-m.done
	return nil
}

// Dropped returns how many datagrams were dropped because no PacketConn
// was registered for their first byte or its queue was full.
func (m *Mux) Dropped() uint64 { return m.dropped.Load() }

// Listen returns a PacketConn that receives the datagrams starting with
// frame (without that byte) and sends datagrams with frame prepended. A
// frame byte has one PacketConn at a time; closing it frees the byte.
func (m *Mux) Listen(frame byte) (*PacketConn, error) {
	if frame >= 0x40 {
		return nil, fmt.Errorf("dht: frame byte %#x would be taken for QUIC", frame)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return nil, net.ErrClosed
	}
	if m.conns[frame] != nil {
		return nil, fmt.Errorf("dht: frame byte %#x already has a listener", frame)
	}
	c := &PacketConn{
		mux:     m,
		frame:   frame,
		in:      make(chan datagram, queuedPerConn),
		closed:  make(chan struct{}),
		wakeRdl: make(chan struct{}),
	}
	m.conns[frame] = c
	return c, nil
}

type datagram struct {
	b    []byte
	addr net.Addr
}

// PacketConn is a net.PacketConn over one frame byte of a Mux's
// Transport. Reads honour the read deadline; writes do not block on
// anything but the socket, so the write deadline is ignored. Close frees
// the frame byte and makes pending and later reads return net.ErrClosed;
// it does not close the Transport.
type PacketConn struct {
	mux   *Mux
	frame byte
	in    chan datagram

	closeOnce sync.Once
	closed    chan struct{}

	mu      sync.Mutex
	rdl     time.Time
	wakeRdl chan struct{} // closed and replaced when rdl changes

	sent, received atomic.Uint64 // datagrams written and read
}

var _ net.PacketConn = (*PacketConn)(nil)

// deliver queues a copy of b; false if the queue is full or c closed.
func (c *PacketConn) deliver(b []byte, addr net.Addr) bool {
	select {
	case <-c.closed:
		return false
	default:
	}
	d := datagram{b: append([]byte(nil), b...), addr: addr}
	select {
	case c.in <- d:
		return true
	default:
		return false
	}
}

// ReadFrom reads the next datagram for c's frame byte, without that byte.
// A datagram longer than b is cut short, as with UDP.
func (c *PacketConn) ReadFrom(b []byte) (int, net.Addr, error) {
	for {
		c.mu.Lock()
		dl, wake := c.rdl, c.wakeRdl
		c.mu.Unlock()
		// A closed conn reports closure even if datagrams are queued.
		select {
		case <-c.closed:
			return 0, nil, c.opErr("read", net.ErrClosed)
		default:
		}
		var timeout <-chan time.Time
		var timer *time.Timer
		if !dl.IsZero() {
			d := time.Until(dl)
			if d <= 0 {
				return 0, nil, c.opErr("read", os.ErrDeadlineExceeded)
			}
			timer = time.NewTimer(d)
			timeout = timer.C
		}
		n, addr, err, again := c.wait(b, timeout, wake)
		if timer != nil {
			timer.Stop()
		}
		if !again {
			return n, addr, err
		}
	}
}

func (c *PacketConn) wait(b []byte, timeout <-chan time.Time, wake chan struct{}) (int, net.Addr, error, bool) {
	select {
	case d := <-c.in:
		c.received.Add(1)
		return copy(b, d.b), d.addr, nil, false
	case <-c.closed:
		return 0, nil, c.opErr("read", net.ErrClosed), false
	case <-timeout:
		return 0, nil, c.opErr("read", os.ErrDeadlineExceeded), false
	case <-wake:
		return 0, nil, nil, true
	}
}

// WriteTo sends c's frame byte followed by b to addr.
func (c *PacketConn) WriteTo(b []byte, addr net.Addr) (int, error) {
	select {
	case <-c.closed:
		return 0, c.opErr("write", net.ErrClosed)
	default:
	}
	p := make([]byte, 1+len(b))
	p[0] = c.frame
	copy(p[1:], b)
	if _, err := c.mux.tr.WriteTo(p, addr); err != nil {
		return 0, err
	}
	c.sent.Add(1)
	return len(b), nil
}

func (c *PacketConn) opErr(op string, err error) error {
	return &net.OpError{Op: op, Net: "udp", Addr: c.LocalAddr(), Err: err}
}

// Close frees c's frame byte and ends its reads. It may be called again.
func (c *PacketConn) Close() error {
	c.mux.mu.Lock()
	if c.mux.conns[c.frame] == c {
		delete(c.mux.conns, c.frame)
	}
	c.mux.mu.Unlock()
	c.closeLocal()
	return nil
}

func (c *PacketConn) closeLocal() {
	c.closeOnce.Do(func() { close(c.closed) })
}

// LocalAddr returns the Transport's socket address.
func (c *PacketConn) LocalAddr() net.Addr { return c.mux.tr.Conn.LocalAddr() }

// SetDeadline sets the read deadline; see PacketConn.
func (c *PacketConn) SetDeadline(t time.Time) error { return c.SetReadDeadline(t) }

// SetReadDeadline makes reads past t fail with os.ErrDeadlineExceeded; the
// zero time means no deadline. It also applies to a read already waiting.
func (c *PacketConn) SetReadDeadline(t time.Time) error {
	c.mu.Lock()
	c.rdl = t
	close(c.wakeRdl)
	c.wakeRdl = make(chan struct{})
	c.mu.Unlock()
	return nil
}

// SetWriteDeadline does nothing: writes never wait.
func (c *PacketConn) SetWriteDeadline(time.Time) error { return nil }
