package swarm

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"strings"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/potluckfm/potluck/cache"
	"github.com/potluckfm/potluck/origin"
	"github.com/potluckfm/potluck/track"
)

// A peer that evicted a track answers "gone", which drops it from the
// stream but does not ban it: eviction is honest.
func TestEvictedTrackIsGoneNotALie(t *testing.T) {
	ts := newTestSwarm(t)
	m, _ := ts.track()
	var other *track.Manifest
	for _, e := range ts.origin.Catalog().Entries() {
		if e.Manifest.ID != m.ID {
			other = e.Manifest
			break
		}
	}
	a := ts.node(func(c *Config) {
		d, err := cache.OpenDisk(t.TempDir(), ts.url.Key, cache.Options{Limit: m.Size})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { d.Close() })
		c.Store, c.NoAnnounce = d, true
	})
	fetch(t, a, m.ID)
	b := ts.node(func(c *Config) { c.NoAnnounce = true })
	ctx := context.Background()
	c, err := b.conn(ctx, PeerAddr{ID: a.ID(), Addr: a.Addr().String()})
	if err != nil {
		t.Fatal(err)
	}
	fetch(t, a, other.ID) // A's small cache evicts m
	_, size := m.ChunkBounds(3)
	if _, err := c.chunk(ctx, m.ID, 3, size, PriorityPlaying); !errors.Is(err, ErrGone) {
		t.Fatalf("chunk of an evicted track: %v, want ErrGone", err)
	}
}

// A peer list never breaks on an entry too long for the wire.
func TestPeerListSkipsOversizeEntries(t *testing.T) {
	ts := newTestSwarm(t)
	a := ts.node(func(c *Config) { c.NoAnnounce = true })
	b := ts.node(func(c *Config) { c.NoAnnounce = true })
	a.mu.Lock()
	a.known["evil"] = knownPeer{Addr: strings.Repeat("x", 300) + ":7000"}
	a.known["good"] = knownPeer{Addr: "127.0.0.1:1"}
	a.mu.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	c, err := b.conn(ctx, PeerAddr{ID: a.ID(), Addr: a.Addr().String()})
	if err != nil {
		t.Fatal(err)
	}
	ps, err := c.peers(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, p := range ps {
		ids = append(ids, string(p.ID))
	}
	if got := strings.Join(ids, " "); !strings.Contains(got, "good") || strings.Contains(got, "evil") {
		t.Fatalf("peers %v: want the good entry and not the oversize one", ps)
	}
	// And such an entry is not learnt in the first place.
	a.learn(netip.Prefix{}, []PeerAddr{{ID: "evil2", Addr: strings.Repeat("y", 300) + ":1"}})
	if _, ok := a.known["evil2"]; ok {
		t.Error("learnt an oversize address")
	}
}

// deadPC swallows every packet once dead: a crash that sends no goodbye.
type deadPC struct {
	net.PacketConn
	dead atomic.Bool
}

func (d *deadPC) WriteTo(b []byte, a net.Addr) (int, error) {
	if d.dead.Load() {
		return len(b), nil
	}
	return d.PacketConn.WriteTo(b, a)
}

// A node that crashed and restarts with its key redials; the other side
// must switch to the new connection, not keep the dead one. In virtual
// time.
func TestRestartedPeerIsReachable(t *testing.T) { synctest.Test(t, testRestartedPeerIsReachable) }

func testRestartedPeerIsReachable(t *testing.T) {
	ts := newSimSwarm(t, nil)
	b := ts.node(func(c *Config) { c.NoAnnounce = true })
	cfgA := ts.config(nil)
	cfgA.NoAnnounce = true
	pc := ts.net.endpoint(t)
	dead := &deadPC{PacketConn: pc}
	cfgA.Transport, cfgA.PacketConn = nil, dead
	a, err := Start(context.Background(), cfgA)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if _, err := a.conn(ctx, PeerAddr{ID: b.ID(), Addr: b.Addr().String()}); err != nil {
		t.Fatal(err)
	}
	dead.dead.Store(true)
	a.Close()
	pc.Close()

	cfgA2 := ts.config(nil)
	cfgA2.DataDir, cfgA2.NoAnnounce = cfgA.DataDir, true
	a2 := ts.start(cfgA2)
	if _, err := a2.conn(ctx, PeerAddr{ID: b.ID(), Addr: b.Addr().String()}); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(2 * time.Second)
	for {
		c, err := b.conn(ctx, PeerAddr{ID: a2.ID(), Addr: a2.Addr().String()})
		if err == nil {
			rctx, cancel := context.WithTimeout(ctx, time.Second)
			_, err = c.peers(rctx)
			cancel()
			if err == nil {
				return
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("B cannot reach the restarted A: %v", err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// losingStore loses one chunk the first time it is read, as a cache does
// whose file was damaged under it.
type losingStore struct {
	cache.Store
	lose int
	lost atomic.Bool
}

func (l *losingStore) ReadChunk(id track.ID, i int) ([]byte, error) {
	if i == l.lose && !l.lost.Swap(true) {
		return nil, fmt.Errorf("%w: chunk %d", cache.ErrCorrupt, i)
	}
	return l.Store.ReadChunk(id, i)
}

// A chunk the cache loses after Open is fetched again and counted once,
// under the source that fetched it: the figures still add up to the track.
func TestLostChunkCountsOnce(t *testing.T) {
	ts := newTestSwarm(t)
	m, want := ts.track()
	full := cache.NewMem(0)
	ts.seed(m, func(c *Config) { c.Store = full })
	mine := copyChunks(t, full, m.ID, m.NumChunks())
	n := ts.node(func(c *Config) { c.Store = &losingStore{Store: mine, lose: 2} })
	got, st := fetch(t, n, m.ID)
	if !bytes.Equal(got, want) {
		t.Fatal("bytes differ")
	}
	_, l := m.ChunkBounds(2)
	if st.FromCache+st.FromPeers+st.FromOrigin != m.Size || st.FromCache != m.Size-int64(l) {
		t.Errorf("stats %+v: want %d bytes from the cache and the lost chunk's %d from the network, %d in all",
			st, m.Size-int64(l), l, m.Size)
	}
}

// announceCounter counts the tracker's announce log lines.
type announceCounter struct {
	slog.Handler
	n *atomic.Int64
}

func (h announceCounter) Enabled(context.Context, slog.Level) bool { return true }
func (h announceCounter) Handle(_ context.Context, r slog.Record) error {
	if r.Message == "announce" {
		h.n.Add(1)
	}
	return nil
}
func (h announceCounter) WithAttrs([]slog.Attr) slog.Handler { return h }
func (h announceCounter) WithGroup(string) slog.Handler      { return h }

// TestWholeTrackStreamAnnouncesOnce: playing a track the cache holds whole
// keeps its stream open for the length of the play; that must not make an
// announce to the tracker every scheduler tick (it made one about every
// 300 ms). In virtual time.
func TestWholeTrackStreamAnnouncesOnce(t *testing.T) {
	synctest.Test(t, testWholeTrackStreamAnnouncesOnce)
}

func testWholeTrackStreamAnnouncesOnce(t *testing.T) {
	var announces atomic.Int64
	ts := newSimSwarm(t, func(c *origin.Config) { c.Logger = slog.New(announceCounter{n: &announces}) })
	m, _ := ts.track()
	n := ts.seed(m, nil)
	time.Sleep(500 * time.Millisecond) // the seed's own announces settle
	before := announces.Load()
	s, err := n.Open(context.Background(), m.ID, ModePlay)
	if err != nil {
		t.Fatal(err)
	}
	s.SetPosition(0)
	time.Sleep(3 * time.Second)
	s.Close()
	if got := announces.Load() - before; got > 2 {
		t.Fatalf("an open stream of a whole track made %d announces in 3 s", got)
	}
}

// gatedStore holds ReadChunk at a gate while armed: a slow disk.
type gatedStore struct {
	cache.Store
	armed   atomic.Bool
	entered chan struct{}
	gate    chan struct{}
}

func (g *gatedStore) ReadChunk(id track.ID, i int) ([]byte, error) {
	if g.armed.Load() {
		g.entered <- struct{}{}
		<-g.gate
	}
	return g.Store.ReadChunk(id, i)
}

// TestReadLeavesTheLockFreeForTheDisk: while a Read waits for the store
// (disk I/O and a hash), the player's SetPosition and Seek do not wait
// for it; the Read then returns bytes of the position sought.
func TestReadLeavesTheLockFreeForTheDisk(t *testing.T) {
	ts := newTestSwarm(t)
	m, data := ts.track()
	full := ts.node(func(c *Config) { c.NoAnnounce = true })
	fetch(t, full, m.ID)
	g := &gatedStore{Store: copyChunks(t, full.Store(), m.ID, m.NumChunks()), entered: make(chan struct{}, 1), gate: make(chan struct{})}
	n := ts.node(func(c *Config) { c.Store, c.NoAnnounce = g, true })
	s, err := n.Open(context.Background(), m.ID, ModePlay)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	g.armed.Store(true)
	type result struct {
		b   []byte
		err error
	}
	read := make(chan result, 1)
	go func() {
		buf := make([]byte, 100)
		k, err := s.Read(buf)
		read <- result{buf[:k], err}
	}()
	<-g.entered // the Read is in the store now
	moved := make(chan struct{})
	target := int64(m.ChunkSize)*2 + 17
	go func() {
		s.SetPosition(time.Second)
		s.Seek(target, io.SeekStart)
		close(moved)
	}()
	select {
	case <-moved:
	case <-time.After(5 * time.Second):
		close(g.gate)
		t.Fatal("SetPosition and Seek waited for a Read's disk I/O")
	}
	g.armed.Store(false)
	close(g.gate)
	r := <-read
	if r.err != nil || !bytes.Equal(r.b, data[target:target+int64(len(r.b))]) || len(r.b) == 0 {
		t.Fatalf("the Read after the seek returned %d bytes, %v; want bytes from %d", len(r.b), r.err, target)
	}
}
