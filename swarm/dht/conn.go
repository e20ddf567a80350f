package dht

import (
	"errors"
	"net"
	"sync"
)

// serverConn is the net.PacketConn anacrolix's server reads: a
// PacketConn on FrameDHT whose reads pass through the gate. The server
// panics if a read fails before it is closed, so when the Mux ends under
// it, reads wait for serverConn's own Close instead of failing.
type serverConn struct {
	*PacketConn
	gate *gate

	closeOnce sync.Once
	closed    chan struct{}
	readerOut chan struct{} // closed when a read returns after Close
	outOnce   sync.Once
}

func newServerConn(pc *PacketConn, g *gate) *serverConn {
	return &serverConn{
		PacketConn: pc,
		gate:       g,
		closed:     make(chan struct{}),
		readerOut:  make(chan struct{}),
	}
}

func (c *serverConn) ReadFrom(b []byte) (int, net.Addr, error) {
	defer func() {
		select {
		case <-c.closed:
			c.outOnce.Do(func() { close(c.readerOut) })
		default:
		}
	}()
	for {
		n, addr, err := c.PacketConn.ReadFrom(b)
		if err != nil {
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				select {
				case <-c.closed:
					return 0, nil, err
				default:
					continue // nobody sets deadlines on it; the server would panic
				}
			}
			<-c.closed
			return 0, nil, err
		}
		p := c.gate.filter(b[:n], addr)
		if p == nil {
			continue
		}
		if len(p) > len(b) {
			continue
		}
		return copy(b, p), addr, nil
	}
}

func (c *serverConn) Close() error {
	c.closeOnce.Do(func() { close(c.closed) })
	return c.PacketConn.Close()
}
