package nat

import (
	"bytes"
	"context"
	"errors"
	"net"
	"sync"
	"testing"
	"testing/synctest"
	"time"
)

func testNonce() Nonce {
	var n Nonce
	for i := range n {
		n[i] = byte(i)
	}
	return n
}

func TestPacketGolden(t *testing.T) {
	n := testNonce()
	want := []byte{0x02, 0x01, 0x00, 0x00, 0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08, 0x09, 0x0a, 0x0b, 0x0c, 0x0d, 0x0e, 0x0f}
	if got := AppendPacket(nil, n, false); !bytes.Equal(got, want) {
		t.Errorf("punch  % x\nwant   % x", got, want)
	}
	wantSeen := append([]byte{0x02, 0x01, 0x01}, want[3:]...)
	if got := AppendPacket(nil, n, true); !bytes.Equal(got, wantSeen) {
		t.Errorf("seen   % x\nwant   % x", got, wantSeen)
	}
	if len(want) != PacketLen {
		t.Errorf("PacketLen %d, golden %d", PacketLen, len(want))
	}
	for _, c := range []struct {
		b          []byte
		seen, ok   bool
		nonceMatch bool
	}{
		{want, false, true, true},
		{wantSeen, true, true, true},
		{append([]byte{0x01}, want[1:]...), false, false, false}, // the DHT's frame
		{append([]byte{0x02, 0x02}, want[2:]...), false, false, false},
		{want[:PacketLen-1], false, false, false},
		{append(append([]byte(nil), want...), 0), false, false, false},
		{nil, false, false, false},
	} {
		nonce, seen, ok := ParsePacket(c.b)
		if ok != c.ok || seen != c.seen || (nonce == n) != c.nonceMatch {
			t.Errorf("ParsePacket(% x) = %v %v %v", c.b, nonce, seen, ok)
		}
	}
	if p, err := ParseNonce(n.String()); err != nil || p != n {
		t.Errorf("ParseNonce(%s) = %v, %v", n, p, err)
	}
	if _, err := ParseNonce("00"); err == nil {
		t.Error("ParseNonce took a short nonce")
	}
}

// recorder is a Writer that keeps what was sent.
type recorder struct {
	mu   sync.Mutex
	sent [][]byte
	to   []net.Addr
}

func (r *recorder) WriteTo(b []byte, addr net.Addr) (int, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.sent = append(r.sent, append([]byte(nil), b...))
	r.to = append(r.to, addr)
	return len(b), nil
}

func (r *recorder) count() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.sent)
}

var (
	addrA = &net.UDPAddr{IP: net.IPv4(11, 0, 0, 1), Port: 1000}
	addrB = &net.UDPAddr{IP: net.IPv4(11, 0, 0, 2), Port: 2000}
)

// TestPunchSchedule: punches go out from the start moment every Interval
// until Timeout, then Punch gives up.
func TestPunchSchedule(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		w := &recorder{}
		p := NewPuncher(w)
		start := time.Now()
		at := start.Add(time.Second)
		res, err := p.Punch(context.Background(), addrB, testNonce(), at, Schedule{Interval: 100 * time.Millisecond, Timeout: 2 * time.Second})
		if !errors.Is(err, ErrPunchTimeout) {
			t.Fatalf("err %v, want ErrPunchTimeout", err)
		}
		if took := time.Since(start); took != 3*time.Second {
			t.Errorf("gave up after %v, want 3s", took)
		}
		if res.Sent < 20 || res.Sent > 21 || w.count() != res.Sent {
			t.Errorf("sent %d (recorded %d), want 20 or 21", res.Sent, w.count())
		}
		for i, b := range w.sent {
			if !bytes.Equal(b, AppendPacket(nil, testNonce(), false)) || w.to[i] != addrB {
				t.Fatalf("datagram %d: % x to %v", i, b, w.to[i])
			}
		}
	})
}

// TestPunchAnswer: a punch with the attempt's nonce ends Punch with its
// sender's address and is answered with a seen punch; after Linger the
// nonce is forgotten, and unknown nonces are never answered.
func TestPunchAnswer(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		w := &recorder{}
		p := NewPuncher(w)
		nonce := testNonce()
		var (
			res Result
			err error
		)
		done := make(chan struct{})
		go func() {
			res, err = p.Punch(context.Background(), addrB, nonce, time.Now(), Schedule{})
			close(done)
		}()
		time.Sleep(120 * time.Millisecond) // three punches: 0, 50, 100 ms
		synctest.Wait()
		if p.HandlePacket(AppendPacket(nil, NewNonce(), false), addrA) != true {
			t.Error("HandlePacket did not claim a punch datagram")
		}
		if p.HandlePacket([]byte{0x01, 'd'}, addrA) != false {
			t.Error("HandlePacket claimed a DHT datagram")
		}
		if w.count() != 3 {
			t.Fatalf("%d datagrams sent, want 3 punches and no answer to a stranger", w.count())
		}
		// The remote's router chose another port: the punch comes from addrA.
		p.HandlePacket(AppendPacket(nil, nonce, false), addrA)
		<-done
		if err != nil || res.Remote != addrA || res.Sent != 3 || res.Seen {
			t.Fatalf("Punch = %+v, %v", res, err)
		}
		if w.count() != 4 || !bytes.Equal(w.sent[3], AppendPacket(nil, nonce, true)) || w.to[3] != addrA {
			t.Fatalf("answer % x to %v", w.sent[len(w.sent)-1], w.to[len(w.to)-1])
		}
		// Lingering: still answered; a seen punch needs no answer.
		time.Sleep(DefaultLinger - time.Second)
		p.HandlePacket(AppendPacket(nil, nonce, false), addrA)
		p.HandlePacket(AppendPacket(nil, nonce, true), addrA)
		if w.count() != 5 {
			t.Fatalf("%d datagrams, want one more answer while lingering", w.count())
		}
		time.Sleep(2 * time.Second)
		p.HandlePacket(AppendPacket(nil, nonce, false), addrA)
		if w.count() != 5 {
			t.Fatalf("answered after Linger")
		}
	})
}

func TestPunchBusyAndClose(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		p := NewPuncher(&recorder{})
		nonce := testNonce()
		errc := make(chan error, 1)
		go func() {
			_, err := p.Punch(context.Background(), addrB, nonce, time.Now(), Schedule{})
			errc <- err
		}()
		synctest.Wait()
		if _, err := p.Punch(context.Background(), addrB, nonce, time.Now(), Schedule{}); !errors.Is(err, ErrPunchBusy) {
			t.Errorf("second attempt with one nonce: %v", err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		go func() { time.Sleep(time.Second); cancel() }()
		if _, err := p.Punch(ctx, addrB, NewNonce(), time.Now().Add(time.Hour), Schedule{}); !errors.Is(err, context.Canceled) {
			t.Errorf("cancelled attempt: %v", err)
		}
		p.Close()
		p.Close()
		if err := <-errc; !errors.Is(err, net.ErrClosed) {
			t.Errorf("attempt at Close: %v", err)
		}
	})
}

// framedConn is a net.PacketConn over a UDP socket that strips the first
// byte of what it reads and prepends PacketType to what it writes, as the
// node's demultiplexer does.
type framedConn struct {
	*net.UDPConn
}

func (c framedConn) ReadFrom(b []byte) (int, net.Addr, error) {
	buf := make([]byte, 1500)
	for {
		n, from, err := c.UDPConn.ReadFrom(buf)
		if err != nil {
			return 0, nil, err
		}
		if n > 0 && buf[0] == PacketType {
			return copy(b, buf[1:n]), from, nil
		}
	}
}

func (c framedConn) WriteTo(b []byte, addr net.Addr) (int, error) {
	return c.UDPConn.WriteTo(append([]byte{PacketType}, b...), addr)
}

func listenLoopback(t *testing.T) *net.UDPConn {
	c, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// TestPunchLoopback: over real sockets, a Puncher fed by HandlePacket and
// one reading a framed PacketConn find each other.
func TestPunchLoopback(t *testing.T) {
	ca, cb := listenLoopback(t), listenLoopback(t)
	pa := NewPuncher(ca)
	go func() {
		buf := make([]byte, 1500)
		for {
			n, from, err := ca.ReadFrom(buf)
			if err != nil {
				return
			}
			pa.HandlePacket(buf[:n], from)
		}
	}()
	pb := NewPuncherConn(framedConn{cb})
	nonce := NewNonce()
	at := time.Now().Add(50 * time.Millisecond)
	var wg sync.WaitGroup
	var ra, rb Result
	var ea, eb error
	wg.Add(2)
	go func() {
		defer wg.Done()
		ra, ea = pa.Punch(context.Background(), cb.LocalAddr(), nonce, at, Schedule{})
	}()
	go func() {
		defer wg.Done()
		rb, eb = pb.Punch(context.Background(), ca.LocalAddr(), nonce, at, Schedule{})
	}()
	wg.Wait()
	if ea != nil || eb != nil {
		t.Fatalf("punch: %v, %v", ea, eb)
	}
	if ra.Remote.String() != cb.LocalAddr().String() || rb.Remote.String() != ca.LocalAddr().String() {
		t.Errorf("remotes %v and %v", ra.Remote, rb.Remote)
	}
	t.Logf("a: %+v; b: %+v", ra, rb)

	// Close stops the reader without closing the conn.
	pb.Close()
	if _, err := cb.WriteTo([]byte{0x01}, ca.LocalAddr()); err != nil {
		t.Errorf("conn closed by the Puncher: %v", err)
	}
}

// TestPunchEarlyArrival: a punch that gets in before this side's start
// moment ends the attempt at once, without a punch of its own.
func TestPunchEarlyArrival(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		w := &recorder{}
		p := NewPuncher(w)
		nonce := testNonce()
		go func() {
			time.Sleep(500 * time.Millisecond)
			p.HandlePacket(AppendPacket(nil, nonce, false), addrB)
		}()
		start := time.Now()
		res, err := p.Punch(context.Background(), addrB, nonce, start.Add(time.Second), Schedule{})
		if err != nil || res.Sent != 0 || res.Remote != addrB || time.Since(start) != 500*time.Millisecond {
			t.Fatalf("Punch = %+v, %v after %v", res, err, time.Since(start))
		}
		if w.count() != 1 || !bytes.Equal(w.sent[0], AppendPacket(nil, nonce, true)) {
			t.Errorf("sent %d datagrams, want only the seen answer", w.count())
		}
	})
}
