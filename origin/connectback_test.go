package origin

import (
	"context"
	"crypto/ed25519"
	"crypto/tls"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/quic-go/quic-go"

	"github.com/potluckfm/potluck/internal/peerid"
	"github.com/potluckfm/potluck/track"
)

// peerListener answers peer-protocol handshakes (QUIC, mutual TLS, the
// peer ALPN) with key's certificate, as a node does, and counts the
// handshakes begun. It counts ClientHellos, not accepted connections: the
// origin closes a connect-back the moment its side of the handshake is
// done, and a close that overtakes the client's Finished leaves a
// handshake the listener never completes.
func peerListener(t *testing.T, key ed25519.PrivateKey) (netip.AddrPort, *atomic.Int32) {
	t.Helper()
	handshakes := new(atomic.Int32)
	conf := peerServerTLS(t, key)
	conf.GetConfigForClient = func(*tls.ClientHelloInfo) (*tls.Config, error) {
		handshakes.Add(1)
		return nil, nil
	}
	ln, err := quic.ListenAddr("127.0.0.1:0", conf, nil)
	if err != nil {
		t.Fatal(err)
	}
	servePeerConns(t, ln, func(_ context.Context, qc *quic.Conn) {
		qc.CloseWithError(0, "")
	})
	return netip.MustParseAddrPort(ln.Addr().String()), handshakes
}

// servePeerConns hands each connection ln accepts to serve, one after
// the other, until the test ends; then it closes ln.
func servePeerConns(t *testing.T, ln *quic.Listener, serve func(context.Context, *quic.Conn)) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			qc, err := ln.Accept(ctx)
			if err != nil {
				return
			}
			serve(ctx, qc)
		}
	}()
	t.Cleanup(func() { cancel(); ln.Close(); <-done })
}

// peerServerTLS is the server side of a node's peer-protocol TLS: key's
// certificate, the peer ALPN, a client certificate required.
func peerServerTLS(t *testing.T, key ed25519.PrivateKey) *tls.Config {
	t.Helper()
	cert, err := selfSignedCert(key, "")
	if err != nil {
		t.Fatal(err)
	}
	return &tls.Config{
		MinVersion: tls.VersionTLS13, Certificates: []tls.Certificate{cert},
		NextProtos: []string{peerid.ALPN}, ClientAuth: tls.RequireAnyClientCert,
	}
}

// TestAnnounceConnectBack: an announced port is listed only once the
// announcer's key answers there; the check is remembered, a key that is not
// the one listening there is refused, and so is a port nobody answers on.
func TestAnnounceConnectBack(t *testing.T) {
	s := startOrigin(t, "", func(c *Config) { c.NoConnectBack = false })
	st := newStranger(t, s) // HTTPS: the tracker cannot see a UDP port
	id := s.Catalog().Entries()[0].Manifest.ID
	key := testKey(t)
	at, handshakes := peerListener(t, key)
	port := ":" + strconv.Itoa(int(at.Port()))

	code, _, msg := st.announce(t, signed(s, key, port, []track.ID{id}))
	if code != 200 || !strings.Contains(msg, at.String()) {
		t.Fatalf("announce where the node answers: %d %q, want 200 listing %s", code, msg, at)
	}
	if n := handshakes.Load(); n != 1 {
		t.Errorf("%d handshakes begun by one announce, want 1", n)
	}
	if value(s.metrics.connectBacks.WithLabelValues("ok")) != 1 {
		t.Errorf("%v ok connect-backs counted, want 1", value(s.metrics.connectBacks.WithLabelValues("ok")))
	}
	if peers := s.Tracker().Peers(id, "", 10); len(peers) != 1 || peers[0].Addr != at.String() {
		t.Errorf("listed %v, want the node at %s", peers, at)
	}
	time.Sleep(2 * time.Millisecond) // a later announce time
	if code, _, _ := st.announce(t, signed(s, key, port, []track.ID{id})); code != 200 {
		t.Errorf("second announce: %d, want 200", code)
	}

	time.Sleep(100 * time.Millisecond)
	if n := handshakes.Load(); n != 1 {
		t.Errorf("%d handshakes after two announces, want 1: the check is remembered", n)
	}

	// Another key claims the port where key's node answers.
	other := testKey(t)
	if code, _, msg := st.announce(t, signed(s, other, port, []track.ID{id})); code != 403 || !strings.Contains(msg, "same_socket") {
		t.Errorf("announce of a port another key answers on: %d %q, want 403 saying how to be listed", code, msg)
	}
	// Nobody answers on a closed port.
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := pc.LocalAddr().(*net.UDPAddr).Port
	pc.Close()
	start := time.Now()
	if code, _, _ := st.announce(t, signed(s, testKey(t), ":"+strconv.Itoa(closed), []track.ID{id})); code != 403 {
		t.Errorf("announce of a closed port: %d, want 403", code)
	}
	if took := time.Since(start); took > connectBackTimeout+2*time.Second {
		t.Errorf("the refused announce took %s", took)
	}
	if got := value(s.metrics.connectBacks.WithLabelValues("failed")); got != 2 {
		t.Errorf("%v failed connect-backs counted, want 2", got)
	}
	if peers := s.Tracker().Peers(id, "", 10); len(peers) != 1 {
		t.Errorf("after the refusals the tracker lists %v", peers)
	}
}

// TestAnnounceSameSocketListsObserved: a node whose client dials from its
// swarm socket is listed at the address the origin sees over HTTP/3,
// whatever port it announced; over HTTPS the claim means nothing.
func TestAnnounceSameSocketListsObserved(t *testing.T) {
	s := startOrigin(t, "", func(c *Config) { c.NoConnectBack = false })
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	tr := &quic.Transport{Conn: pc}
	t.Cleanup(func() { tr.Close() })
	c := NewClient(s.URL(), ClientOptions{Transport: TransportQUIC, QUIC: tr})
	t.Cleanup(func() { c.Close() })
	id := s.Catalog().Entries()[0].Manifest.ID
	key := testKey(t)
	resp, err := c.Announce(context.Background(), signed(s, key, ":7001", []track.ID{id}))
	if err != nil {
		t.Fatal(err)
	}
	if resp.Addr != pc.LocalAddr().String() {
		t.Errorf("listed at %s, want the socket's address %s", resp.Addr, pc.LocalAddr())
	}

	req := signed(s, testKey(t), ":7001", []track.ID{id})
	req.SameSocket = true
	if code, _, _ := newStranger(t, s).announce(t, req); code != 403 {
		t.Errorf("same_socket over HTTPS to a port nobody answers on: %d, want 403", code)
	}

	// UseQUIC switches a client with sockets of its own to the node's.
	pc2, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	tr2 := &quic.Transport{Conn: pc2}
	t.Cleanup(func() { tr2.Close() })
	c2 := NewClient(s.URL(), ClientOptions{Transport: TransportQUIC})
	t.Cleanup(func() { c2.Close() }) // before tr2 closes, so the origin hears it
	if _, err := c2.Info(context.Background()); err != nil {
		t.Fatal(err)
	}
	c2.UseQUIC(tr2)
	resp, err = c2.Announce(context.Background(), signed(s, testKey(t), ":7001", []track.ID{id}))
	if err != nil {
		t.Fatal(err)
	}
	if resp.Addr != pc2.LocalAddr().String() {
		t.Errorf("after UseQUIC listed at %s, want %s", resp.Addr, pc2.LocalAddr())
	}
}

// TestClientResumesIn0RTT: a client's second HTTP/3 connection resumes
// the first one's TLS session and sends its GET in 0-RTT, with no
// handshake round trip before it; the answer is the same.
func TestClientResumesIn0RTT(t *testing.T) {
	s := startOrigin(t, "", nil)
	c := newTestClient(t, s.URL(), TransportQUIC)
	ctx := context.Background()
	first, err := c.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if c.Used0RTT() {
		t.Error("the first connection cannot have used 0-RTT")
	}
	// The ticket arrives after the handshake; wait for it, then start over.
	time.Sleep(100 * time.Millisecond)
	c.h3.Load().CloseIdleConnections()
	again, err := c.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if !c.Used0RTT() {
		t.Error("the second connection did not use 0-RTT")
	}
	if again.Tracks != first.Tracks {
		t.Errorf("info in 0-RTT %+v, before %+v", again, first)
	}
}
