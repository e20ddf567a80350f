package dht

import (
	"errors"
	"net"
	"os"
	"testing"
	"time"

	"github.com/quic-go/quic-go"
)

func newTransport(t *testing.T) (*quic.Transport, *net.UDPConn) {
	t.Helper()
	udp, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	tr := &quic.Transport{Conn: udp}
	t.Cleanup(func() { tr.Close(); udp.Close() })
	return tr, udp
}

func TestMuxRoutesByFirstByte(t *testing.T) {
	tr, udp := newTransport(t)
	m := NewMux(tr)
	defer m.Close()
	dhtConn, err := m.Listen(FrameDHT)
	if err != nil {
		t.Fatal(err)
	}
	punch, err := m.Listen(FrameHolePunch)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := m.Listen(FrameDHT); err == nil {
		t.Fatal("second listener on one frame byte")
	}
	if _, err := m.Listen(0x40); err == nil {
		t.Fatal("listener on a byte QUIC claims")
	}

	sender, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer sender.Close()
	to := udp.LocalAddr()
	time.Sleep(20 * time.Millisecond) // quic-go drops non-QUIC datagrams until the first read
	for _, p := range []string{"\x03nobody", "\x01d1:ae", "\x02punch"} {
		if _, err := sender.WriteTo([]byte(p), to); err != nil {
			t.Fatal(err)
		}
	}
	buf := make([]byte, 100)
	dhtConn.SetReadDeadline(time.Now().Add(5 * time.Second))
	n, from, err := dhtConn.ReadFrom(buf)
	if err != nil || string(buf[:n]) != "d1:ae" || from.String() != sender.LocalAddr().String() {
		t.Fatalf("dht conn read %q from %v, %v", buf[:n], from, err)
	}
	punch.SetReadDeadline(time.Now().Add(5 * time.Second))
	n, _, err = punch.ReadFrom(buf)
	if err != nil || string(buf[:n]) != "punch" {
		t.Fatalf("punch conn read %q, %v", buf[:n], err)
	}
	if m.Dropped() != 1 {
		t.Errorf("dropped %d, want 1 (the 0x03 datagram)", m.Dropped())
	}

	// Writes carry the frame byte.
	if _, err := punch.WriteTo([]byte("back"), sender.LocalAddr()); err != nil {
		t.Fatal(err)
	}
	sender.SetReadDeadline(time.Now().Add(5 * time.Second))
	n, _, err = sender.ReadFrom(buf)
	if err != nil || string(buf[:n]) != "\x02back" {
		t.Fatalf("sender read %q, %v", buf[:n], err)
	}

	// A deadline ends a read with a timeout; one set while a read waits
	// applies to it.
	dhtConn.SetReadDeadline(time.Now().Add(30 * time.Millisecond))
	_, _, err = dhtConn.ReadFrom(buf)
	var ne net.Error
	if !errors.As(err, &ne) || !ne.Timeout() || !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("read past deadline: %v", err)
	}
	dhtConn.SetReadDeadline(time.Time{})
	done := make(chan error, 1)
	go func() { _, _, err := dhtConn.ReadFrom(buf); done <- err }()
	time.Sleep(20 * time.Millisecond)
	dhtConn.SetReadDeadline(time.Now())
	if err := <-done; !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("waiting read after deadline moved: %v", err)
	}

	// Close ends a waiting read and frees the byte.
	dhtConn.SetReadDeadline(time.Time{})
	go func() { _, _, err := dhtConn.ReadFrom(buf); done <- err }()
	time.Sleep(20 * time.Millisecond)
	dhtConn.Close()
	if err := <-done; !errors.Is(err, net.ErrClosed) {
		t.Fatalf("read after Close: %v", err)
	}
	if _, err := dhtConn.WriteTo([]byte("x"), sender.LocalAddr()); !errors.Is(err, net.ErrClosed) {
		t.Fatalf("write after Close: %v", err)
	}
	again, err := m.Listen(FrameDHT)
	if err != nil {
		t.Fatalf("listen after Close: %v", err)
	}

	// Closing the Mux closes its conns.
	m.Close()
	if _, _, err := again.ReadFrom(buf); !errors.Is(err, net.ErrClosed) {
		t.Fatalf("read after Mux.Close: %v", err)
	}
	if _, err := m.Listen(FrameDHT); err == nil {
		t.Fatal("listen on a closed Mux")
	}
}
