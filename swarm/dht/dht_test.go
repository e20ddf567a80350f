package dht

import (
	"context"

	"net"
	"net/netip"
	"path/filepath"
	"runtime"
	"testing"
	"time"

	"github.com/quic-go/quic-go"
)

// testNode is a DHT on its own quic.Transport on a loopback address.
type testNode struct {
	t   testing.TB
	udp *net.UDPConn
	tr  *quic.Transport
	mux *Mux
	d   *DHT
	ap  netip.AddrPort
}

type nodeOpt func(*Config)

// loopback returns the i-th distinct loopback address (127.0.1.i etc), so
// that per-IP limits see distinct nodes.
func loopback(i int) netip.Addr {
	return netip.AddrFrom4([4]byte{127, 0, byte(1 + i/250), byte(1 + i%250)})
}

func startNode(t testing.TB, ip netip.Addr, boot []netip.AddrPort, opts ...nodeOpt) *testNode {
	t.Helper()
	udp, err := net.ListenUDP("udp", net.UDPAddrFromAddrPort(netip.AddrPortFrom(ip, 0)))
	if err != nil {
		t.Fatal(err)
	}
	tr := &quic.Transport{Conn: udp}
	mux := NewMux(tr)
	cfg := Config{
		Mux:          mux,
		Bootstrap:    func() []netip.AddrPort { return boot },
		queryTimeout: time.Second,
	}
	for _, o := range opts {
		o(&cfg)
	}
	d, err := Start(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	n := &testNode{t: t, udp: udp, tr: tr, mux: mux, d: d, ap: udp.LocalAddr().(*net.UDPAddr).AddrPort()}
	t.Cleanup(n.close)
	return n
}

func (n *testNode) close() {
	n.d.Close()
	n.mux.Close()
	n.tr.Close()
	n.udp.Close()
}

// waitGoroutines fails t if the goroutine count does not come back to
// base within a few seconds (anacrolix and quic-go end some goroutines
// just after Close returns).
func waitGoroutines(t *testing.T, base int) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		n := runtime.NumGoroutine()
		if n <= base {
			return
		}
		if time.Now().After(deadline) {
			buf := make([]byte, 1<<20)
			buf = buf[:runtime.Stack(buf, true)]
			t.Fatalf("%d goroutines left, %d before:\n%s", n, base, buf)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestAnnounceAndFind(t *testing.T) {
	base := runtime.NumGoroutine()
	func() {
		boot := startNode(t, loopback(0), nil, func(c *Config) { c.StateFile = filepath.Join(t.TempDir(), "dht.json") })
		var nodes []*testNode
		for i := 1; i < 6; i++ {
			nodes = append(nodes, startNode(t, loopback(i), []netip.AddrPort{boot.ap}))
		}
		key := [20]byte{1, 2, 3}
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		var n int
		var err error
		for ctx.Err() == nil {
			if n, err = nodes[0].d.Announce(ctx, key); err == nil {
				break
			}
			time.Sleep(100 * time.Millisecond)
		}
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("announce stored at %d nodes", n)
		hs, err := nodes[4].d.Holders(ctx, key)
		if err != nil {
			t.Fatal(err)
		}
		if !contains(hs, nodes[0].ap) {
			t.Fatalf("holders %v, want %v", hs, nodes[0].ap)
		}
		// Others tell a node the address they see it at.
		waitFor(t, 10*time.Second, func() bool { return nodes[4].d.Stats().External == nodes[4].ap })
		for _, n := range append(nodes, boot) {
			n.close()
		}
	}()
	waitGoroutines(t, base)
}

func contains(s []netip.AddrPort, a netip.AddrPort) bool {
	for _, x := range s {
		if x == a {
			return true
		}
	}
	return false
}

// TestIPv6 runs a few nodes on ::1, where node lists are IPv6 (nodes6).
func TestIPv6(t *testing.T) {
	probe, err := net.ListenUDP("udp6", &net.UDPAddr{IP: net.IPv6loopback})
	if err != nil {
		t.Skipf("no IPv6 loopback: %v", err)
	}
	probe.Close()
	lo := netip.IPv6Loopback()
	boot := startNode(t, lo, nil, func(c *Config) { c.IDsPerIP = 8 })
	var nodes []*testNode
	for range 4 {
		nodes = append(nodes, startNode(t, lo, []netip.AddrPort{boot.ap}, func(c *Config) { c.IDsPerIP = 8 }))
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	key := [20]byte{6}
	waitFor(t, 5*time.Second, func() bool {
		n, _ := nodes[0].d.Announce(ctx, key)
		return n > 0
	})
	waitFor(t, 5*time.Second, func() bool {
		hs, _ := nodes[3].d.Holders(ctx, key)
		return contains(hs, nodes[0].ap)
	})
}

// TestStartOnTransport: a DHT given only the Transport makes its own Mux
// and ends it at Close, leaving the Transport to its owner.
func TestStartOnTransport(t *testing.T) {
	peer := startNode(t, loopback(0), nil)
	tr, _ := newTransport(t)
	for range 2 { // again on the same Transport after Close
		d, err := Start(context.Background(), Config{Transport: tr, queryTimeout: time.Second})
		if err != nil {
			t.Fatal(err)
		}
		if err := d.Ping(context.Background(), peer.ap); err != nil {
			t.Fatal(err)
		}
		if err := d.Close(); err != nil {
			t.Fatal(err)
		}
		if err := d.Close(); err != nil {
			t.Fatal(err)
		}
		if _, err := d.Announce(context.Background(), [20]byte{}); err != ErrClosed {
			t.Fatalf("Announce after Close: %v", err)
		}
	}
}
