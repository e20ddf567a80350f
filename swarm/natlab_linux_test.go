//go:build linux

package swarm

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/quic-go/quic-go"

	"github.com/potluckfm/potluck/assets"
	"github.com/potluckfm/potluck/cache"
	"github.com/potluckfm/potluck/internal/natlab"
	"github.com/potluckfm/potluck/origin"
	"github.com/potluckfm/potluck/track"
)

// natSwarm is a testSwarm in a lab of real NAT routers: the origin and a
// rendezvous node on the public side, listeners behind routers.
type natSwarm struct {
	*testSwarm
	lab *natlab.Lab
}

func newNATSwarm(t *testing.T) *natSwarm {
	t.Helper()
	l := natlab.New(t)
	_, key, _ := ed25519.GenerateKey(nil)
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	if testing.Verbose() {
		log = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelInfo}))
	}
	ts := &testSwarm{t: t, log: log}
	srv, err := origin.Start(context.Background(), origin.Config{
		Library: assets.Demo(), Key: key, Logger: ts.log, TrackerTTL: time.Minute,
		PacketConn: l.ListenUDP(l.NS("inet"), natlab.PublicIP+":0"),
	})
	if err != nil {
		t.Fatal(err)
	}
	ts.origin, ts.url = srv, srv.URL()
	t.Cleanup(ts.stopOrigin)
	return &natSwarm{testSwarm: ts, lab: l}
}

// nodeIn starts a node whose one socket, shared with its origin client,
// is in namespace ns.
func (ns *natSwarm) nodeIn(name string, edit func(*Config)) *Node {
	t := ns.t
	t.Helper()
	tr := &quic.Transport{Conn: ns.lab.ListenUDP(name, ":0")}
	t.Cleanup(func() { tr.Close() })
	dir := t.TempDir()
	d, err := cache.OpenDisk(filepath.Join(dir, "cache"), ns.url.Key, cache.Options{Limit: 1 << 30, Logger: ns.log})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Close() })
	c := origin.NewClient(ns.url, origin.ClientOptions{Transport: origin.TransportQUIC, QUIC: tr})
	t.Cleanup(func() { c.Close() })
	cfg := Config{DataDir: dir, Origin: c, Store: d, Transport: tr, Logger: ns.log}
	if edit != nil {
		edit(&cfg)
	}
	return ns.start(cfg)
}

// natPair starts the rendezvous R on the public side and A and B behind
// routers of kind, both connected to R; B holds the demo's largest track,
// and the tracker lists it at its router's address.
func natPair(t *testing.T, kind natlab.Kind) (ns *natSwarm, r, a, b *Node, m *track.Manifest, data []byte, listedB string) {
	ns = newNATSwarm(t)
	hA, hB := ns.lab.NATHost(1, kind), ns.lab.NATHost(2, kind)
	r = ns.nodeIn(ns.lab.NS("inet"), nil)
	a = ns.nodeIn(hA, func(c *Config) { c.Scheduler.Head = time.Millisecond })
	b = ns.nodeIn(hB, nil)
	m, data = ns.track()
	got, _ := fetch(t, b, m.ID)
	if !bytes.Equal(got, data) {
		t.Fatal("B's copy differs from the origin's")
	}
	resp, err := b.Announce(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(resp.Addr, "11.0.0.2:") {
		t.Fatalf("the tracker lists B at %s, want its router's address", resp.Addr)
	}
	_, port, _ := net.SplitHostPort(r.Addr().String())
	rAddr := net.JoinHostPort(natlab.PublicIP, port)
	meet(t, a, r, rAddr)
	meet(t, b, r, rAddr)
	return ns, r, a, b, m, data, resp.Addr
}

// TestPunchThroughRendezvous: A and B sit behind two NAT routers. A's
// direct dial of B's listed address fails; A asks the rendezvous they
// both talk to (PUNCH_VIA), both punch, A dials B through the hole and
// fetches the track from B, byte for byte.
func TestPunchThroughRendezvous(t *testing.T) {
	_, r, a, b, m, data, listedB := natPair(t, natlab.Cone)
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	if _, err := a.dial(ctx, PeerAddr{ID: b.ID(), Addr: listedB}); err == nil {
		t.Fatal("A dialled B through its NAT unsolicited")
	}
	cancel()
	if got := r.Reachability(); got.State != ReachPublic || got.Direct != 2 {
		t.Errorf("rendezvous: %+v, want public with 2 direct peers", got)
	}
	if got := a.Reachability(); !strings.HasPrefix(got.Public.String(), "11.0.0.1:") {
		t.Errorf("A's public address %v, want its router's", got.Public)
	}

	start := time.Now()
	ctx, cancel = context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	c, err := a.conn(ctx, PeerAddr{ID: b.ID(), Addr: listedB})
	if err != nil {
		t.Fatalf("A did not reach B by punching: %v", err)
	}
	t.Logf("A reached B at %s in %v from the start of its dial", c.addr, time.Since(start).Round(time.Millisecond))
	if c.kind != kindPunched {
		t.Errorf("A's connection to B is of kind %d, want punched", c.kind)
	}

	got, st := fetch(t, a, m.ID)
	if !bytes.Equal(got, data) {
		t.Fatal("A's copy differs from the origin's")
	}
	t.Logf("A fetched %d bytes: %d from peers, %d from the origin; B served %d", len(got), st.FromPeers, st.FromOrigin, b.BytesServed())
	if st.FromPeers == 0 || b.BytesServed() == 0 {
		t.Errorf("nothing came from B: %+v", st)
	}
	ra, rb := a.Reachability(), b.Reachability()
	if ra.Punched != 1 || ra.State != ReachPunching {
		t.Errorf("A: %+v, want 1 punched peer, reachable after punching", ra)
	}
	if rb.Punched != 1 {
		t.Errorf("B: %+v, want 1 punched peer", rb)
	}
}

// TestPunchThroughOrigin: A and B sit behind two NAT routers and share
// no peer. A's direct dial of B fails and no connected peer can relay,
// so A asks the origin (POST /v1/punch); the origin tells B, over a
// connection from its own socket, to punch toward A's address as the
// origin saw A's request; both punch, A dials B through the hole and
// fetches the track mostly from B.
func TestPunchThroughOrigin(t *testing.T) {
	ns := newNATSwarm(t)
	a := ns.nodeIn(ns.lab.NATHost(1, natlab.Cone), func(c *Config) { c.Scheduler.Head = time.Millisecond })
	b := ns.nodeIn(ns.lab.NATHost(2, natlab.Cone), nil)
	m, data := ns.track()
	if got, _ := fetch(t, b, m.ID); !bytes.Equal(got, data) {
		t.Fatal("B's copy differs from the origin's")
	}
	resp, err := b.Announce(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := a.Announce(context.Background()); err != nil {
		t.Fatal(err)
	}
	if len(a.Peers()) != 0 || len(b.Peers()) != 0 {
		t.Fatalf("A and B have peers before they meet: %v, %v", a.Peers(), b.Peers())
	}

	start := time.Now()
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	c, err := a.conn(ctx, PeerAddr{ID: b.ID(), Addr: resp.Addr})
	if err != nil {
		t.Fatalf("A did not reach B through the origin: %v", err)
	}
	t.Logf("A reached B at %s through the origin in %v", c.addr, time.Since(start).Round(time.Millisecond))
	if c.kind != kindPunched || !strings.HasPrefix(c.addr, "11.0.0.2:") {
		t.Errorf("A's connection to B: kind %d at %s, want punched at B's router", c.kind, c.addr)
	}
	for _, n := range []*Node{a, b} {
		for _, p := range n.Peers() {
			if p.ID == IDFromKey(ns.url.Key) {
				t.Errorf("%s lists the origin as a peer", n.ID().Short())
			}
		}
	}

	got, st := fetch(t, a, m.ID)
	if !bytes.Equal(got, data) {
		t.Fatal("A's copy differs from the origin's")
	}
	t.Logf("A fetched %d bytes: %d from peers, %d from the origin; B served %d", len(got), st.FromPeers, st.FromOrigin, b.BytesServed())
	if st.FromPeers < int64(len(data))*8/10 {
		t.Errorf("%d of %d bytes came from B, want at least 80%%", st.FromPeers, len(data))
	}
	if ra, rb := a.Reachability(), b.Reachability(); ra.Punched != 1 || rb.Punched != 1 || rb.State != ReachPunching {
		t.Errorf("A %+v, B %+v: want one punched peer each, B reachable after punching", ra, rb)
	}
}

// TestPunchFailsCleanly: behind routers that give a new port per
// destination (symmetric NAT), punching cannot work. A, fetching a track
// the tracker says B holds, tries B directly and then by punching, and
// meanwhile fetches the track from the origin in bounded time; then A
// gives up on B and says it is not reachable.
func TestPunchFailsCleanly(t *testing.T) {
	_, _, a, b, m, data, _ := natPair(t, natlab.Symmetric)
	start := time.Now()
	got, st := fetch(t, a, m.ID)
	took := time.Since(start)
	t.Logf("A fetched %d bytes in %v: %d from the origin, %d from peers", len(got), took.Round(time.Millisecond), st.FromOrigin, st.FromPeers)
	if !bytes.Equal(got, data) || st.FromPeers != 0 {
		t.Fatalf("A's copy: equal %v, %d bytes from peers", bytes.Equal(got, data), st.FromPeers)
	}
	if took > 10*time.Second {
		t.Errorf("the fetch took %v", took)
	}
	tried := func() bool {
		a.mu.Lock()
		defer a.mu.Unlock()
		_, failed := a.punch.failed[b.ID()]
		return failed
	}
	for !tried() {
		if time.Since(start) > 5*time.Second+punchBudget {
			t.Fatalf("A never gave up punching to B: %+v", a.Reachability())
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Logf("A gave up on B %v after the fetch began", time.Since(start).Round(time.Millisecond))
	if got := a.Reachability(); got.State != ReachNone || got.Punched != 0 {
		t.Errorf("A: %+v, want not reachable", got)
	}
}

// TestLANPeersFindEachOther: nodes on one network find each other by mDNS
// and connect at their LAN addresses; a node of another swarm (another
// origin key) on the same network is left alone. A fetches a track from
// B over the LAN connection.
func TestLANPeersFindEachOther(t *testing.T) {
	ns := newNATSwarm(t)
	lan := func(name string, key ed25519.PublicKey) *Node {
		return ns.nodeIn(name, func(c *Config) {
			c.LAN = true
			c.inNet = func(f func()) {
				if err := natlab.Do(name, f); err != nil {
					t.Error(err)
				}
			}
			if key != nil {
				u := ns.url
				u.Key = key
				c.Origin = origin.NewClient(u, origin.ClientOptions{Transport: origin.TransportQUIC, QUIC: c.Transport})
				c.NoAnnounce = true
			}
		})
	}
	other, _, _ := ed25519.GenerateKey(nil)
	m, data := ns.track()
	b := lan(ns.lab.PublicHost(2), nil)
	x := lan(ns.lab.PublicHost(3), other)
	got, _ := fetch(t, b, m.ID)
	if !bytes.Equal(got, data) {
		t.Fatal("B's copy differs")
	}
	start := time.Now()
	a := lan(ns.lab.PublicHost(1), nil)
	deadline := time.Now().Add(10 * time.Second)
	for a.Reachability().LAN < 1 || b.Reachability().LAN < 1 {
		if time.Now().After(deadline) {
			t.Fatalf("LAN peers not connected: A %+v, B %+v", a.Reachability(), b.Reachability())
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Logf("A and B connected on the LAN %v after A started", time.Since(start).Round(time.Millisecond))
	for _, n := range []*Node{a, b} {
		for _, p := range n.Peers() {
			if p.ID == x.ID() {
				t.Errorf("%s connected to the node of another swarm", n.ID().Short())
			}
		}
	}
	if len(x.Peers()) != 0 {
		t.Errorf("the other swarm's node has peers: %v", x.Peers())
	}
	got, st := fetch(t, a, m.ID)
	if !bytes.Equal(got, data) || st.FromPeers == 0 {
		t.Fatalf("A's fetch over the LAN: equal %v, %+v", bytes.Equal(got, data), st)
	}
	t.Logf("A fetched %d bytes, %d from B over the LAN", len(got), st.FromPeers)
}
