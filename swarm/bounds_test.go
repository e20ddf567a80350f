package swarm

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"fmt"
	"net"
	"testing"
	"testing/synctest"
	"time"

	"github.com/quic-go/quic-go"

	"github.com/potluckfm/potluck/track"
)

// stranger dials n over real QUIC with a fresh identity, as anyone on the
// swarm's network can, and returns the connection as a peerConn to send
// requests on.
func (ts *testSwarm) stranger(n *Node) *peerConn {
	ts.t.Helper()
	c, err := ts.dialStranger(n)
	if err != nil {
		ts.t.Fatal(err)
	}
	return c
}

func (ts *testSwarm) dialStranger(n *Node) (*peerConn, error) {
	_, key, _ := ed25519.GenerateKey(nil)
	return ts.dialAs(n, key)
}

// dialAs dials n over real QUIC with the identity of key.
func (ts *testSwarm) dialAs(n *Node, key ed25519.PrivateKey) (*peerConn, error) {
	t := ts.t
	base, err := tlsConfig(key, "")
	if err != nil {
		return nil, err
	}
	conf, err := tlsConfigFor(base, n.ID())
	if err != nil {
		return nil, err
	}
	var pc net.PacketConn
	if ts.net != nil {
		pc = ts.net.endpoint(t)
	} else if pc, err = net.ListenPacket("udp", "127.0.0.1:0"); err != nil {
		return nil, err
	}
	tr := &quic.Transport{Conn: pc}
	t.Cleanup(func() { tr.Close() })
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	qc, err := tr.Dial(ctx, n.Addr(), conf, quicConfig())
	if err != nil {
		return nil, err
	}
	t.Cleanup(func() { qc.CloseWithError(0, "") })
	return &peerConn{id: n.ID(), addr: n.Addr().String(), conn: qc, outbound: true}, nil
}

// setLimits changes n's table bounds; call it before anything connects.
func setLimits(n *Node, edit func(*limits)) {
	n.mu.Lock()
	edit(&n.lim)
	n.mu.Unlock()
}

// waitFor polls cond under n.mu until it holds or time runs out.
func waitFor(t *testing.T, n *Node, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		n.mu.Lock()
		ok := cond()
		n.mu.Unlock()
		if ok {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
	}
}

func TestFloodOfInboundPeersKeepsAddressBookBounded(t *testing.T) {
	synctest.Test(t, testFloodOfInboundPeersKeepsAddressBookBounded)
}

func testFloodOfInboundPeersKeepsAddressBookBounded(t *testing.T) {
	ts := newSimSwarm(t, nil)
	n := ts.node(func(c *Config) { c.NoAnnounce = true })
	const bound, flood = 12, 40
	setLimits(n, func(l *limits) { l.known = bound })
	for range flood {
		ts.stranger(n)
	}
	waitFor(t, n, "every stranger connected", func() bool { return len(n.conns) == flood })
	n.mu.Lock()
	known := len(n.known)
	n.mu.Unlock()
	if known != bound {
		t.Errorf("%d strangers connected, address book holds %d, want the bound %d", flood, known, bound)
	}
	// A peer that delivers still gets in, in place of one that never did.
	good := &peerConn{id: "goodpeer", addr: "127.0.0.1:9"}
	n.markGood(good)
	n.mu.Lock()
	_, kept := n.known[good.id]
	known = len(n.known)
	n.mu.Unlock()
	if !kept || known != bound {
		t.Errorf("after a good peer: kept %v, %d known, want true, %d", kept, known, bound)
	}
	if got := len(n.knownPeers()); got != bound {
		t.Errorf("PEERS would list %d, want %d", got, bound)
	}
}

// TestFloodOfConnectionsIsRefused: strangers connecting past the bound are
// turned away; the connections a node holds stay bounded.
func TestFloodOfConnectionsIsRefused(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ts := newSimSwarm(t, nil)
		n := ts.node(func(c *Config) { c.NoAnnounce = true })
		const bound, flood = 6, 20
		setLimits(n, func(l *limits) { l.conns = bound })
		for range flood {
			ts.dialStranger(n) // past the bound the node hangs up
		}
		synctest.Wait()
		time.Sleep(time.Second)
		n.mu.Lock()
		live, conns := len(n.live), len(n.conns)
		n.mu.Unlock()
		if live > bound || conns > bound {
			t.Errorf("%d strangers connected: the node holds %d live connections, %d registered; bound %d", flood, live, conns, bound)
		}
		if conns == 0 {
			t.Error("no stranger got in at all")
		}
	})
}

func TestFloodOfSearchesKeepsSearchTableBounded(t *testing.T) {
	synctest.Test(t, testFloodOfSearchesKeepsSearchTableBounded)
}

func testFloodOfSearchesKeepsSearchTableBounded(t *testing.T) {
	ts := newSimSwarm(t, nil)
	n := ts.node(func(c *Config) { c.NoAnnounce = true })
	const bound, flood = 8, 100
	setLimits(n, func(l *limits) { l.whoHasPerAsker = bound })
	c := ts.stranger(n)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	for range flood {
		var id track.ID
		rand.Read(id[:])
		if _, err := c.whoHas(ctx, id, MaxWhoHasTTL); err != nil {
			t.Fatal(err)
		}
	}
	n.mu.Lock()
	askers, searches := len(n.whoHas), 0
	for _, m := range n.whoHas {
		searches += len(m)
	}
	n.mu.Unlock()
	if askers != 1 || searches != bound {
		t.Errorf("%d searches for made-up tracks left %d askers, %d searches; want 1, %d", flood, askers, searches, bound)
	}
	c.conn.CloseWithError(0, "")
	waitFor(t, n, "the asker's searches forgotten once it left", func() bool { return len(n.whoHas) == 0 })
}

func TestFloodOfBansAndHoldersStaysBounded(t *testing.T) {
	ts := newTestSwarm(t)
	n := ts.node(func(c *Config) { c.NoAnnounce = true })
	setLimits(n, func(l *limits) { l.banned, l.holderTracks, l.holdersPerTrack = 8, 4, 5 })
	var ids []PeerID
	for i := range 30 {
		ids = append(ids, PeerID(fmt.Sprintf("peer%02d", i)))
	}
	var tracks []track.ID
	for i := range 10 {
		tracks = append(tracks, track.ID{byte(i + 1)})
	}
	for _, tr := range tracks {
		for _, id := range ids {
			n.noteHolder(tr, id)
		}
	}
	for _, id := range ids {
		n.ban(id, "test")
	}
	n.mu.Lock()
	bans, holderTracks := len(n.banned), len(n.holders)
	most := 0
	for _, h := range n.holders {
		most = max(most, len(h))
	}
	n.mu.Unlock()
	if bans != 8 {
		t.Errorf("30 bans kept %d, want 8", bans)
	}
	if _, ok := n.Banned(ids[len(ids)-1]); !ok {
		t.Error("the latest ban was forgotten")
	}
	if _, ok := n.Banned(ids[0]); ok {
		t.Error("the oldest ban is kept past the bound")
	}
	if holderTracks > 4 || most > 5 {
		t.Errorf("holders: %d tracks, up to %d a track; want at most 4 and 5", holderTracks, most)
	}

	// Holders again, without bans: the newest word is what is kept.
	for _, tr := range tracks {
		for _, id := range ids {
			n.noteHolder(tr, id)
		}
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	if len(n.holders) != 4 {
		t.Errorf("%d tracks with holders, want 4", len(n.holders))
	}
	if h := n.holders[tracks[len(tracks)-1]]; len(h) != 5 || h[ids[len(ids)-1]].IsZero() {
		t.Errorf("the newest track's holders %v: want 5, the latest among them", h)
	}
}
