package swarm

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/quic-go/quic-go"

	"github.com/potluckfm/potluck/assets"
	"github.com/potluckfm/potluck/cache"
	"github.com/potluckfm/potluck/origin"
	"github.com/potluckfm/potluck/track"
)

// testSwarm is an origin on the demo library plus the nodes a test starts,
// all in this process over real QUIC: on loopback, or on an emulated
// network (newSimSwarm). Everything stops with the test.
type testSwarm struct {
	t      testing.TB
	origin *origin.Server
	url    origin.URL
	log    *slog.Logger
	net    *simNet // nil: loopback
}

func newTestSwarm(t testing.TB) *testSwarm {
	return startTestSwarm(t, nil, nil)
}

// startTestSwarm starts the origin, on nw if it is not nil, its config
// changed by edit if that is not nil.
func startTestSwarm(t testing.TB, nw *simNet, edit func(*origin.Config)) *testSwarm {
	t.Helper()
	_, key, _ := ed25519.GenerateKey(nil)
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	if testing.Verbose() {
		log = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	cfg := origin.Config{Library: assets.Demo(), Key: key, Listen: "127.0.0.1:0", Logger: log, TrackerTTL: time.Minute}
	if nw != nil {
		cfg.Listen, cfg.PacketConn = "", nw.endpoint(t)
	}
	if edit != nil {
		edit(&cfg)
	}
	srv, err := origin.Start(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	ts := &testSwarm{t: t, origin: srv, url: srv.URL(), log: log, net: nw}
	t.Cleanup(func() { ts.stopOrigin() })
	return ts
}

func (ts *testSwarm) stopOrigin() {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	ts.origin.Shutdown(ctx)
}

// track returns the demo track with the most chunks and its bytes.
func (ts *testSwarm) track() (*track.Manifest, []byte) {
	ts.t.Helper()
	var best *origin.Entry
	for _, e := range ts.origin.Catalog().Entries() {
		if best == nil || e.Manifest.Size > best.Manifest.Size {
			best = e
		}
	}
	data, err := fsReadFile(best.Path)
	if err != nil {
		ts.t.Fatal(err)
	}
	return best.Manifest, data
}

func fsReadFile(p string) ([]byte, error) {
	f, err := assets.Demo().Open(p)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return io.ReadAll(f)
}

// TestingConfig returns a node config for tests: loopback, port 0, a fresh
// data directory and disk cache, and a client of the swarm's origin.
func (ts *testSwarm) config(store cache.Store) Config {
	ts.t.Helper()
	dir := ts.t.TempDir()
	if store == nil {
		d, err := cache.OpenDisk(filepath.Join(dir, "cache"), ts.url.Key, cache.Options{Limit: 1 << 30, Logger: ts.log})
		if err != nil {
			ts.t.Fatal(err)
		}
		ts.t.Cleanup(func() { d.Close() })
		store = d
	}
	if ts.net != nil {
		// One emulated socket for the node and its origin client, as
		// the app shares one UDP socket.
		tr := &quic.Transport{Conn: ts.net.endpoint(ts.t)}
		ts.t.Cleanup(func() { tr.Close() })
		c := origin.NewClient(ts.url, origin.ClientOptions{Transport: origin.TransportQUIC, QUIC: tr})
		ts.t.Cleanup(func() { c.Close() })
		return Config{DataDir: dir, Origin: c, Store: store, Transport: tr, Logger: ts.log}
	}
	c := origin.NewClient(ts.url, origin.ClientOptions{Transport: origin.TransportQUIC})
	ts.t.Cleanup(func() { c.Close() })
	return Config{DataDir: dir, Origin: c, Store: store, Listen: "127.0.0.1:0", Logger: ts.log}
}

func (ts *testSwarm) start(cfg Config) *Node {
	ts.t.Helper()
	n, err := Start(context.Background(), cfg)
	if err != nil {
		ts.t.Fatal(err)
	}
	ts.t.Cleanup(func() { n.Close() })
	return n
}

func (ts *testSwarm) node(edit func(*Config)) *Node {
	cfg := ts.config(nil)
	if edit != nil {
		edit(&cfg)
	}
	return ts.start(cfg)
}

// seed makes a node that holds all of m, fetched from the origin, and
// waits until the tracker lists it.
func (ts *testSwarm) seed(m *track.Manifest, edit func(*Config)) *Node {
	ts.t.Helper()
	n := ts.node(edit)
	got, _ := fetch(ts.t, n, m.ID)
	if len(got) != int(m.Size) {
		ts.t.Fatalf("seed fetched %d bytes of %d", len(got), m.Size)
	}
	if l, ok := n.Store().(*lyingStore); ok {
		l.mu.Lock()
		l.serving = true
		l.mu.Unlock()
	}
	ts.waitListed(n, m.ID)
	return n
}

// waitListed waits until the tracker lists n as a holder of id.
func (ts *testSwarm) waitListed(n *Node, id track.ID) {
	ts.t.Helper()
	if _, err := n.Announce(context.Background()); err != nil {
		ts.t.Fatal(err)
	}
	for _, p := range ts.origin.Tracker().Peers(id, "", 50) {
		if p.ID == string(n.ID()) {
			return
		}
	}
	ts.t.Fatalf("tracker does not list %s", n.ID().Short())
}

// fetch reads a whole track through n in ModeFetch. It fails t with
// Error, not Fatal, and returns nil bytes: tests fetch on goroutines of
// their own, where FailNow may not be called.
func fetch(t testing.TB, n *Node, id track.ID) ([]byte, Stats) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	s, err := n.Open(ctx, id, ModeFetch)
	if err != nil {
		t.Errorf("open %s: %v", id, err)
		return nil, Stats{}
	}
	defer s.Close()
	done := make(chan struct{})
	var b []byte
	go func() {
		defer close(done)
		b, err = io.ReadAll(s)
	}()
	select {
	case <-done:
	case <-ctx.Done():
		s.Close()
		<-done
		t.Errorf("fetch of %s did not finish: %v", id, err)
		return nil, s.Stats()
	}
	if err != nil {
		t.Errorf("fetch %s: %v", id, err)
		return nil, s.Stats()
	}
	return b, s.Stats()
}

// copyChunks returns a new memory store holding the manifest of id and its
// first n chunks, copied from src.
func copyChunks(t testing.TB, src cache.Store, id track.ID, n int) *cache.Mem {
	t.Helper()
	dst := cache.NewMem(0)
	m, signed, ok := src.Manifest(id)
	if !ok {
		t.Fatalf("no manifest of %s to copy", id)
	}
	if err := dst.PutManifest(m, signed); err != nil {
		t.Fatal(err)
	}
	for i := range n {
		b, err := src.ReadChunk(id, i)
		if err != nil {
			t.Fatal(err)
		}
		if err := dst.WriteChunk(id, i, b); err != nil {
			t.Fatal(err)
		}
	}
	return dst
}

func headBytes(m *track.Manifest, head time.Duration) int64 {
	times := chunkTimes(m)
	var n int64
	for i, ct := range times {
		if ct < head {
			_, l := m.ChunkBounds(i)
			n += int64(l)
		}
	}
	return n
}

func TestFetchFromOriginAlone(t *testing.T) {
	ts := newTestSwarm(t)
	m, want := ts.track()
	n := ts.node(nil)
	got, st := fetch(t, n, m.ID)
	if !bytes.Equal(got, want) {
		t.Fatal("fetched bytes differ from the library file")
	}
	if st.FromOrigin != m.Size || st.FromPeers != 0 || st.FromCache != 0 {
		t.Errorf("stats %+v", st)
	}
	// A second read comes from the cache.
	_, st = fetch(t, n, m.ID)
	if st.FromCache != m.Size || st.FromOrigin != 0 {
		t.Errorf("second fetch stats %+v, want all from cache", st)
	}
}

func TestFetchFromPeer(t *testing.T) {
	ts := newTestSwarm(t)
	m, want := ts.track()
	ts.seed(m, nil)
	b := ts.node(nil)
	got, st := fetch(t, b, m.ID)
	if !bytes.Equal(got, want) {
		t.Fatal("fetched bytes differ from the library file")
	}
	head := headBytes(m, defaultHead())
	t.Logf("size %d, head %d, stats %+v", m.Size, head, st)
	if st.FromPeers < m.Size*8/10 {
		t.Errorf("only %d of %d bytes from peers, want at least 80%%", st.FromPeers, m.Size)
	}
	if st.FromOrigin > head {
		t.Errorf("%d bytes from the origin, more than the head (%d)", st.FromOrigin, head)
	}
	if st.Peers != 1 {
		t.Errorf("peers used: %d, want 1", st.Peers)
	}
}

func defaultHead() time.Duration { return SchedulerConfig{}.WithDefaults().Head }

func TestFetchFromPeerWithOriginDown(t *testing.T) {
	ts := newTestSwarm(t)
	m, want := ts.track()
	a := ts.seed(m, nil)
	b := ts.node(nil)
	// B gets the manifest and learns from the tracker who holds the track,
	// then the origin goes away before B has fetched a chunk.
	ctx := context.Background()
	if _, err := b.manifest(ctx, m.ID); err != nil {
		t.Fatal(err)
	}
	if found := b.candidates(ctx, m.ID, false, false); len(found) != 1 || found[0].ID != a.ID() {
		t.Fatalf("tracker lookup found %v, want A", found)
	}
	ts.stopOrigin()
	got, st := fetch(t, b, m.ID)
	if !bytes.Equal(got, want) {
		t.Fatal("fetched bytes differ")
	}
	if st.FromPeers+st.FromOrigin+st.FromCache != m.Size || st.FromPeers == 0 || st.FromOrigin != 0 {
		t.Errorf("stats %+v: want the rest from peers, nothing from the stopped origin", st)
	}
	if st.Peers != 1 || a.BytesServed() == 0 {
		t.Errorf("peers used %d, A served %d bytes", st.Peers, a.BytesServed())
	}
}

func TestBadPeersAreBannedAndRoutedAround(t *testing.T) {
	ts := newTestSwarm(t)
	m, want := ts.track()
	good := ts.seed(m, nil)
	garbage := ts.seed(m, func(c *Config) { c.Store = &lyingStore{Store: c.Store, garbage: true} })
	liar := ts.node(func(c *Config) { c.Store = &lyingStore{Store: c.Store, claimAll: true, m: m} })
	ts.waitListed(liar, m.ID)
	quit := make(chan struct{})
	staller := ts.seed(m, func(c *Config) { c.Store = &lyingStore{Store: c.Store, stall: true, quit: quit} })
	t.Cleanup(func() { close(quit) }) // runs before the nodes close

	b := ts.node(func(c *Config) { c.Scheduler.PeerTimeout = 500 * time.Millisecond })
	got, st := fetch(t, b, m.ID)
	if !bytes.Equal(got, want) {
		t.Fatal("fetched bytes differ: a bad byte got through")
	}
	if _, ok := b.Banned(garbage.ID()); !ok {
		t.Error("the peer that served garbage is not banned")
	}
	if _, ok := b.Banned(liar.ID()); !ok {
		t.Error("the peer that lied about what it has is not banned")
	}
	if _, ok := b.Banned(good.ID()); ok {
		t.Error("the good peer was banned")
	}
	t.Logf("stats %+v; staller %s", st, staller.ID().Short())
}

// lyingStore wraps a real store to make a node misbehave on the wire.
type lyingStore struct {
	cache.Store
	garbage  bool // serve flipped bytes
	stall    bool // answer no chunk read until quit closes
	quit     chan struct{}
	claimAll bool            // claim every chunk of m, hold none
	m        *track.Manifest // for claimAll
	mu       sync.Mutex
	serving  bool
}

func (l *lyingStore) ReadChunk(id track.ID, i int) ([]byte, error) {
	b, err := l.Store.ReadChunk(id, i)
	switch {
	case l.stall && l.isServing():
		<-l.quit
	case l.garbage && err == nil && l.isServing():
		b = bytes.Clone(b)
		b[len(b)/2] ^= 0x55
	}
	return b, err
}

// isServing is false while the node fetches for itself (seed) and true
// once it serves others.
func (l *lyingStore) isServing() bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.serving
}

func (l *lyingStore) Have(id track.ID) cache.Bitfield {
	if l.claimAll && l.m != nil && id == l.m.ID {
		bf := cache.NewBitfield(l.m.NumChunks())
		for i := range l.m.NumChunks() {
			bf.Set(i)
		}
		return bf
	}
	return l.Store.Have(id)
}

func (l *lyingStore) Tracks() []cache.TrackState {
	if l.claimAll && l.m != nil {
		return []cache.TrackState{{ID: l.m.ID, Chunks: l.m.NumChunks(), Held: l.m.NumChunks()}}
	}
	return l.Store.Tracks()
}
