package swarm

import (
	"context"
	"crypto/ed25519"
	"io"
	"net"
	"net/netip"
	"runtime"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/marcopolo/simnet"
	"github.com/quic-go/quic-go"
)

// TestLyingNeighbourCannotReflectDials: a connected peer answers every
// neighbour search with 200 made-up peers, all at one third party's
// socket. An honest fetch still completes, and the QUIC packets the
// fetching node sends that third party stay within what hearsayRate,
// hearsayBurst and hearsayDials allow.
func TestLyingNeighbourCannotReflectDials(t *testing.T) {
	synctest.Test(t, testLyingNeighbourCannotReflectDials)
}

func testLyingNeighbourCannotReflectDials(t *testing.T) {
	ts := newSimSwarm(t, nil)
	m, data := ts.track()
	ts.seed(m, nil)
	n := ts.node(func(c *Config) { c.NoAnnounce = true })

	victim := ts.net.endpointAt(t, &net.UDPAddr{IP: simnet.IntToPublicIPv4(9999), Port: 4433})
	var packets atomic.Int64
	go func() {
		buf := make([]byte, 2048)
		for {
			if _, _, err := victim.ReadFrom(buf); err != nil {
				return
			}
			packets.Add(1)
		}
	}()
	var lies []PeerAddr
	for range 200 {
		pub, _, _ := ed25519.GenerateKey(nil)
		lies = append(lies, PeerAddr{ID: IDFromKey(pub), Addr: victim.LocalAddr().String()})
	}
	liar := ts.stranger(n)
	go acceptStreams(liar, func(str *quic.Stream) {
		defer str.Close()
		req, err := readRequest(io.LimitReader(str, 64))
		if err == nil && req.typ == msgWhoHas {
			writePeers(str, lies)
			return
		}
		writeStatus(str, statusNotHeld)
	})
	waitFor(t, n, "the liar connected", func() bool { return len(n.conns) == 1 })

	start := time.Now()
	s, err := n.Open(context.Background(), m.ID, ModeFetch)
	if err != nil {
		t.Fatal(err)
	}
	got, err := io.ReadAll(s)
	time.Sleep(6 * time.Second) // open a while, as a player's stream is
	s.Close()
	if err != nil || len(got) != len(data) {
		t.Fatalf("honest fetch: %d of %d bytes, err %v", len(got), len(data), err)
	}
	took := time.Since(start)    // the lookup rounds' time, hearsay's chance
	time.Sleep(10 * time.Second) // the dials under way time out
	// Each hearsay dial sends the victim a handful of Initials before
	// the 2 s map request gives up.
	bound := int64(8 * (hearsayBurst + hearsayRate*int(took.Seconds()+2)))
	t.Logf("fetch took %v; the third party got %d packets (bound %d)", took, packets.Load(), bound)
	if packets.Load() > bound {
		t.Errorf("the third party got %d packets, want at most %d", packets.Load(), bound)
	}
}

// acceptStreams hands each stream c's other side opens to serve, in a
// goroutine of its own, until the connection ends.
func acceptStreams(c *peerConn, serve func(*quic.Stream)) {
	for {
		str, err := c.conn.AcceptStream(context.Background())
		if err != nil {
			return
		}
		go serve(str)
	}
}

// TestFloodFromOneAddressStaysBounded: 200 connections from one address,
// each opening as many half-sent requests as it may, leave the node's
// goroutines and heap within bounds, and both return to their baseline
// once the connections go.
func TestFloodFromOneAddressStaysBounded(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ts := newSimSwarm(t, nil)
		n := ts.node(func(c *Config) { c.NoAnnounce = true })
		synctest.Wait()
		runtime.GC()
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		baseG, baseHeap := runtime.NumGoroutine(), ms.HeapAlloc

		tr := &quic.Transport{Conn: ts.net.endpoint(t)}
		defer tr.Close()
		var conns []*quic.Conn
		for range 200 {
			_, key, _ := ed25519.GenerateKey(nil)
			base, _ := tlsConfig(key, "")
			conf, _ := tlsConfigFor(base, n.ID())
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			qc, err := tr.Dial(ctx, n.Addr(), conf, &quic.Config{MaxIncomingStreams: 1024})
			cancel()
			if err == nil {
				conns = append(conns, qc)
			}
		}
		synctest.Wait()
		streams := 0
		for _, qc := range conns {
			for range 256 {
				str, err := qc.OpenStream()
				if err != nil {
					break
				}
				str.Write(wireMagic[:2]) // half a request
				streams++
			}
		}
		time.Sleep(time.Second)
		synctest.Wait()
		runtime.GC()
		runtime.ReadMemStats(&ms)
		g, heap := runtime.NumGoroutine()-baseG, int64(ms.HeapAlloc)-int64(baseHeap)
		t.Logf("200 connections from one address, %d half-sent requests opened: %d goroutines, %d MB more heap", streams, g, heap>>20)
		const maxG, maxHeap = 2000, 64 << 20
		if g > maxG || heap > maxHeap {
			t.Errorf("goroutines +%d, heap +%d MB; want at most %d and %d MB", g, heap>>20, maxG, maxHeap>>20)
		}
		for _, qc := range conns {
			qc.CloseWithError(0, "")
		}
		tr.Close()
		waitFor(t, n, "the connections gone", func() bool { return len(n.live) == 0 })
		time.Sleep(time.Second)
		synctest.Wait()
		runtime.GC()
		runtime.ReadMemStats(&ms)
		g, heap = runtime.NumGoroutine()-baseG, int64(ms.HeapAlloc)-int64(baseHeap)
		t.Logf("after: %d goroutines, %d MB heap over the baseline", g, heap>>20)
		if g > 20 || heap > 8<<20 {
			t.Errorf("after the flood: goroutines +%d, heap +%d MB; want back near the baseline", g, heap>>20)
		}
	})
}

// TestAddressBookAges: a full book takes a newcomer in place of peers not
// heard of for knownTTL, and aging forgets them, and the peers that
// delivered once goodTTL has passed since they last did.
func TestAddressBookAges(t *testing.T) {
	ts := newTestSwarm(t)
	n := ts.node(func(c *Config) { c.NoAnnounce = true })
	setLimits(n, func(l *limits) { l.known = 4 })
	var told []PeerAddr
	for range 4 {
		pub, _, _ := ed25519.GenerateKey(nil)
		told = append(told, PeerAddr{ID: IDFromKey(pub), Addr: "192.0.2.1:4433"})
	}
	n.learn(netip.Prefix{}, told)
	n.confirm(told...)
	good := &peerConn{id: told[0].ID, addr: told[0].Addr}
	n.markGood(good)
	pub, _, _ := ed25519.GenerateKey(nil)
	late := PeerAddr{ID: IDFromKey(pub), Addr: "192.0.2.2:4433"}
	n.learn(netip.Prefix{}, []PeerAddr{late})
	n.mu.Lock()
	_, in := n.known[late.ID]
	n.mu.Unlock()
	if in {
		t.Fatal("a full book of fresh peers took a newcomer")
	}

	// Two hours on: the peers never heard of again are stale.
	n.mu.Lock()
	for id, k := range n.known {
		k.seen = k.seen.Add(-2 * time.Hour)
		n.known[id] = k
	}
	for p, at := range n.confirmed {
		n.confirmed[p] = at.Add(-2 * time.Hour)
	}
	n.mu.Unlock()
	n.learn(netip.Prefix{}, []PeerAddr{late})
	n.mu.Lock()
	_, in = n.known[late.ID]
	_, goodKept := n.known[good.id]
	book, confirmed := len(n.known), len(n.confirmed)
	n.mu.Unlock()
	if !in || !goodKept || book != 2 || confirmed != 0 {
		t.Errorf("after 2 h: newcomer in %v, good peer kept %v, %d in the book, %d confirmed; want true, true, 2, 0", in, goodKept, book, confirmed)
	}

	n.mu.Lock()
	k := n.known[good.id]
	k.LastGood = k.LastGood.Add(-goodTTL - time.Hour)
	n.known[good.id] = k
	n.mu.Unlock()
	n.age()
	n.mu.Lock()
	_, goodKept = n.known[good.id]
	n.mu.Unlock()
	if goodKept {
		t.Error("a peer that last delivered past goodTTL is kept")
	}
}

// TestProvenNeighbourVouchesForItsAnswer: the answer to a neighbour search
// confirms what it lists when the answering peer has delivered good chunks
// (a peer that has proved itself), and stays hearsay when it has not.
func TestProvenNeighbourVouchesForItsAnswer(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ts := newSimSwarm(t, nil)
		n := ts.node(func(c *Config) { c.NoAnnounce = true })
		var listed []PeerAddr
		for i := range 3 {
			pub, _, _ := ed25519.GenerateKey(nil)
			listed = append(listed, PeerAddr{ID: IDFromKey(pub), Addr: (&net.UDPAddr{IP: simnet.IntToPublicIPv4(9000 + i), Port: 4433}).String()})
		}
		neighbour := ts.stranger(n)
		go acceptStreams(neighbour, func(str *quic.Stream) {
			defer str.Close()
			if req, err := readRequest(io.LimitReader(str, 64)); err == nil && req.typ == msgWhoHas {
				writePeers(str, listed)
				return
			}
			writeStatus(str, statusNotHeld)
		})
		waitFor(t, n, "the neighbour connected", func() bool { return len(n.conns) == 1 })
		confirmed := func() int {
			n.mu.Lock()
			defer n.mu.Unlock()
			k := 0
			for _, p := range listed {
				if _, ok := n.confirmed[p]; ok {
					k++
				}
			}
			return k
		}
		ctx := context.Background()
		var id [16]byte
		n.askNeighbours(ctx, id, 1, "")
		if k := confirmed(); k != 0 {
			t.Fatalf("an untried neighbour's answer confirmed %d addresses", k)
		}
		var c *peerConn
		n.mu.Lock()
		for _, pc := range n.conns {
			c = pc // the one connection: the neighbour's
		}
		n.mu.Unlock()
		n.markGood(c) // it delivered a good chunk
		id[0] = 1
		n.askNeighbours(ctx, id, 1, "")
		if k := confirmed(); k != len(listed) {
			t.Fatalf("a proven neighbour's answer confirmed %d of %d addresses", k, len(listed))
		}
	})
}

// TestHearsayPerSourceBounded: peer exchange answers from one network take
// at most hearsayPerSource places in the address book, however many they
// give; another source's word and the node's own findings still get in.
func TestHearsayPerSourceBounded(t *testing.T) {
	ts := newTestSwarm(t)
	n := ts.node(func(c *Config) { c.NoAnnounce = true })
	stranger := netip.MustParsePrefix("198.51.100.7/32")
	fresh := func(k int, host string) []PeerAddr {
		var ps []PeerAddr
		for range k {
			pub, _, _ := ed25519.GenerateKey(nil)
			ps = append(ps, PeerAddr{ID: IDFromKey(pub), Addr: host + ":4433"})
		}
		return ps
	}
	for range 20 { // 20 answers of 8
		n.learn(stranger, fresh(8, "192.0.2.1"))
	}
	other := fresh(3, "192.0.2.9")
	n.learn(netip.MustParsePrefix("203.0.113.4/32"), other)
	own := fresh(3, "192.0.2.10")
	n.learn(netip.Prefix{}, own)
	n.mu.Lock()
	defer n.mu.Unlock()
	if got, bound := n.toldBy(stranger), n.lim.hearsayPerSource; got != bound {
		t.Errorf("one source put %d peers in the book, want the bound %d", got, bound)
	}
	for _, p := range append(other, own...) {
		if _, ok := n.known[p.ID]; !ok {
			t.Errorf("%s (%s) was kept out of the book", p.ID.Short(), p.Addr)
		}
	}
}
