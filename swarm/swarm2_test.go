package swarm

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"errors"
	"io"
	"net/netip"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/potluckfm/potluck/cache"
	"github.com/potluckfm/potluck/origin"
	"github.com/potluckfm/potluck/track"
)

func TestChurnSourceKilledMidTransfer(t *testing.T) {
	ts := newTestSwarm(t)
	m, want := ts.track()
	// A uploads slowly, so B is mid-transfer when A dies.
	a := ts.seed(m, func(c *Config) { c.UploadRate = 64 << 10 })
	b := ts.node(nil)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	s, err := b.Open(ctx, m.ID, ModeFetch)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	// Read a quarter, then kill A.
	quarter := make([]byte, m.Size/4)
	if _, err := io.ReadFull(s, quarter); err != nil {
		t.Fatal(err)
	}
	if s.Stats().FromPeers == 0 {
		t.Fatal("nothing came from A before it died")
	}
	a.Close()
	rest, err := io.ReadAll(s)
	if err != nil {
		t.Fatalf("after A died: %v", err)
	}
	if !bytes.Equal(append(quarter, rest...), want) {
		t.Fatal("bytes differ")
	}
	t.Logf("stats %+v", s.Stats())
}

// TestTenNodesAtOnce: ten nodes fetching one track at the same moment
// split the chunks nobody holds yet, so the origin sends far less than ten
// copies. In virtual time: what goes to the origin is decided by the
// scheduler's waits (DiscoveryWait, MateWait, PeerTimeout), and on the
// real clock a busy machine ran them out before mates could deliver.
func TestTenNodesAtOnce(t *testing.T) { synctest.Test(t, testTenNodesAtOnce) }

func testTenNodesAtOnce(t *testing.T) {
	ts := newSimSwarm(t, nil)
	m, want := ts.track()
	const nodes = 10
	ns := make([]*Node, nodes)
	for i := range ns {
		ns[i] = ts.node(nil)
	}
	var wg sync.WaitGroup
	stats := make([]Stats, nodes)
	for i, n := range ns {
		wg.Go(func() {
			got, st := fetch(t, n, m.ID)
			if !bytes.Equal(got, want) {
				t.Errorf("node %d: bytes differ", i)
			}
			stats[i] = st
		})
	}
	wg.Wait()
	var origin, peers int64
	for _, st := range stats {
		origin += st.FromOrigin
		peers += st.FromPeers
	}
	ratio := float64(origin) / float64(nodes*m.Size)
	t.Logf("origin sent %d bytes for %d fetches of %d bytes: %.2f of client-server; peers sent %d", origin, nodes, m.Size, ratio, peers)
	// About 0.4 on the emulated network; 1.0 if nodes do not share.
	if ratio > 0.5 {
		t.Errorf("origin carried %.0f%% of ten fetches, want far less", 100*ratio)
	}
	if origin+peers != nodes*m.Size {
		t.Errorf("bytes do not add up: origin %d + peers %d != %d", origin, peers, nodes*m.Size)
	}
}

func TestOriginDownAndNobodyHasItIsAClearError(t *testing.T) {
	ts := newTestSwarm(t)
	m, _ := ts.track()
	b := ts.node(func(c *Config) { c.Scheduler.DiscoveryWait = 200 * time.Millisecond })
	s, err := b.Open(context.Background(), m.ID, ModeFetch)
	if err != nil {
		t.Fatal(err)
	}
	s.Close()
	ts.stopOrigin()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	s, err = b.Open(ctx, m.ID, ModeFetch)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	_, err = io.ReadAll(s)
	if !errors.Is(err, ErrUnavailable) {
		t.Fatalf("got %v, want ErrUnavailable", err)
	}
	t.Logf("error: %v", err)
}

func TestCachedTrackPlaysWithOriginDown(t *testing.T) {
	ts := newTestSwarm(t)
	m, want := ts.track()
	cfg := ts.config(nil)
	n := ts.start(cfg)
	fetch(t, n, m.ID)
	n.Close()
	ts.stopOrigin()
	// A new node on the same data directory and store: everything is cached.
	n2 := ts.start(cfg)
	got, st := fetch(t, n2, m.ID)
	if !bytes.Equal(got, want) || st.FromCache != m.Size {
		t.Fatalf("cached play with origin down: equal=%v stats %+v", bytes.Equal(got, want), st)
	}
	if n2.ID() != n.ID() {
		t.Error("the node ID changed across restarts on one data directory")
	}
}

func TestNeighbourSearchFindsAHolderTwoHopsAway(t *testing.T) {
	ts := newTestSwarm(t)
	m, want := ts.track()
	holder := ts.seed(m, nil)
	mid := ts.node(nil)
	asker := ts.node(nil)
	ctx := context.Background()
	// holder – mid – asker, and no tracker to ask.
	if _, err := mid.conn(ctx, PeerAddr{ID: holder.ID(), Addr: holder.Addr().String()}); err != nil {
		t.Fatal(err)
	}
	// mid learns that holder has the track (as it would from a HAVE).
	mid.noteHolder(m.ID, holder.ID())
	if _, err := asker.conn(ctx, PeerAddr{ID: mid.ID(), Addr: mid.Addr().String()}); err != nil {
		t.Fatal(err)
	}
	found := asker.askNeighbours(ctx, m.ID, MaxWhoHasTTL, "")
	if len(found) == 0 || found[0].ID != holder.ID() {
		t.Fatalf("neighbour search found %v, want the holder %s", found, holder.ID().Short())
	}
	// And a fetch with the origin gone uses it: the manifest comes from a peer too.
	ts.stopOrigin()
	got, st := fetch(t, asker, m.ID)
	if !bytes.Equal(got, want) || st.FromPeers != m.Size {
		t.Fatalf("fetch through a neighbour: equal=%v stats %+v", bytes.Equal(got, want), st)
	}
}

func TestPeerExchangeAndRememberedPeers(t *testing.T) {
	ts := newTestSwarm(t)
	m, _ := ts.track()
	a := ts.seed(m, nil)
	cfg := ts.config(nil)
	b := ts.start(cfg)
	fetch(t, b, m.ID) // B gets chunks from A: A is a good peer.
	c := ts.node(nil)
	ctx := context.Background()
	pc, err := c.conn(ctx, PeerAddr{ID: b.ID(), Addr: b.Addr().String()})
	if err != nil {
		t.Fatal(err)
	}
	peers, err := pc.peers(ctx)
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for _, p := range peers {
		found = found || p.ID == a.ID()
	}
	if !found {
		t.Errorf("peer exchange from B lists %v, not A", peers)
	}
	b.Close()
	b2 := ts.start(cfg)
	if kp := b2.knownPeers(); len(kp) == 0 || kp[0].ID != a.ID() {
		t.Errorf("after a restart B remembers %v, want A first", kp)
	}
}

func TestManifestFromPeerMustBeSignedByTheOrigin(t *testing.T) {
	ts := newTestSwarm(t)
	m, _ := ts.track()
	// A forger: another origin signs a manifest for the same track.
	other := newTestSwarm(t)
	forger := other.seed(m, nil)
	asker := ts.node(nil)
	ctx := context.Background()
	if _, err := asker.conn(ctx, PeerAddr{ID: forger.ID(), Addr: forger.Addr().String()}); err != nil {
		t.Fatal(err)
	}
	ts.stopOrigin()
	if _, err := asker.Open(ctx, m.ID, ModeFetch); err == nil {
		t.Fatal("opened a track from a manifest the origin did not sign")
	}
	if _, banned := asker.Banned(forger.ID()); !banned {
		t.Error("the forger is not banned")
	}
}

func TestSeekAndPlayMode(t *testing.T) {
	ts := newTestSwarm(t)
	m, want := ts.track()
	n := ts.node(nil)
	ctx := context.Background()
	s, err := n.Open(ctx, m.ID, ModePlay)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	mid := m.Duration() / 2
	sp, err := s.SeekTime(mid)
	if err != nil {
		t.Fatal(err)
	}
	if sp.Offset <= m.Audio.AudioStart || sp.Offset >= m.Size {
		t.Fatalf("seek point %+v for %v", sp, mid)
	}
	buf := make([]byte, 4096)
	if _, err := io.ReadFull(s, buf); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(buf, want[sp.Offset:sp.Offset+4096]) {
		t.Fatal("bytes after a seek differ")
	}
	if _, err := s.Seek(-10, io.SeekEnd); err != nil {
		t.Fatal(err)
	}
	tail, err := io.ReadAll(s)
	if err != nil || !bytes.Equal(tail, want[len(want)-10:]) {
		t.Fatalf("tail: %v", err)
	}
	// In play mode the chunks before the seek point are not all fetched.
	if st := s.Stats(); st.FromOrigin >= m.Size {
		t.Errorf("play mode after a seek fetched the whole track: %+v", st)
	}
	if _, err := s.Seek(-1, io.SeekStart); err == nil {
		t.Error("seek before the start accepted")
	}
}

func TestUploadSlotsServePlayingFirst(t *testing.T) {
	synctest.Test(t, testUploadSlotsServePlayingFirst)
}

func testUploadSlotsServePlayingFirst(t *testing.T) {
	u := newUploadSlots(1)
	release, err := u.acquire(context.Background(), "a", PriorityPrefetch)
	if err != nil {
		t.Fatal(err)
	}
	order := make(chan byte, 2)
	var wg sync.WaitGroup
	for _, p := range []byte{PriorityPrefetch, PriorityPlaying} {
		wg.Go(func() {
			r, err := u.acquire(context.Background(), "a", p)
			if err != nil {
				t.Error(err)
				return
			}
			order <- p
			r()
		})
		synctest.Wait() // prefetch queues first
	}
	release()
	wg.Wait()
	if first := <-order; first != PriorityPlaying {
		t.Errorf("first served priority %d, want playing-now", first)
	}
	ctx, cancel := context.WithCancel(context.Background())
	r, _ := u.acquire(ctx, "a", PriorityPlaying)
	cancel()
	if _, err := u.acquire(ctx, "a", PriorityPlaying); err == nil {
		t.Error("acquire on a full, cancelled context succeeded")
	}
	r()
	if r2, err := u.acquire(context.Background(), "a", PriorityPrefetch); err != nil {
		t.Errorf("slot leaked: %v", err)
	} else {
		r2()
	}
}

// A prefetched track (ModePlay, opened as a Prefetch, cued to start in
// 10 s) takes its head from a peer that holds it; a track played at once
// takes its head from the origin while peers are looked up. In virtual
// time.
func TestPrefetchTakesItsHeadFromPeers(t *testing.T) {
	synctest.Test(t, testPrefetchTakesItsHeadFromPeers)
}

func testPrefetchTakesItsHeadFromPeers(t *testing.T) {
	ts := newSimSwarm(t, nil)
	m, _ := ts.track()
	ts.seed(m, nil)
	open := func(pos *time.Duration) Stats {
		t.Helper()
		n := ts.node(nil)
		ctx := context.Background()
		if pos == nil || *pos < 0 {
			ctx = Prefetch(ctx)
		}
		s, err := n.Open(ctx, m.ID, ModePlay)
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		if pos != nil {
			s.SetPosition(*pos)
		}
		deadline := time.Now().Add(20 * time.Second)
		for !s.Complete() {
			if time.Now().After(deadline) {
				t.Fatalf("stream did not complete: %+v", s.Stats())
			}
			time.Sleep(20 * time.Millisecond)
		}
		return s.Stats()
	}
	in10s := -10 * time.Second
	if st := open(&in10s); st.FromOrigin != 0 || st.FromPeers != m.Size {
		t.Errorf("prefetch due in 10s: %+v, want all %d bytes from the peer", st, m.Size)
	}
	if st := open(nil); st.FromOrigin != 0 {
		t.Errorf("cued stream, never read: %+v, want nothing from the origin", st)
	}
	now := time.Duration(0)
	if st := open(&now); st.FromOrigin == 0 {
		t.Errorf("stream playing at once: %+v, want its head from the origin", st)
	}
}

// While a stream fetches, the half-second refresh asks again the peers
// whose chunk map can grow (one fetching the track), not one that holds it
// all. In virtual time.
func TestRefreshAsksOnlyMapsThatCanGrow(t *testing.T) {
	synctest.Test(t, testRefreshAsksOnlyMapsThatCanGrow)
}

func testRefreshAsksOnlyMapsThatCanGrow(t *testing.T) {
	ts := newSimSwarm(t, nil)
	m, _ := ts.track()
	full := cache.NewMem(0)
	// A holds the whole track and answers no chunk request, so the stream
	// below keeps fetching.
	quit := make(chan struct{})
	defer close(quit)
	a := ts.seed(m, func(c *Config) { c.Store = &lyingStore{Store: full, stall: true, quit: quit} })
	// C holds the first half, as a node still fetching would.
	half := copyChunks(t, full, m.ID, m.NumChunks()/2)
	c := ts.node(func(c *Config) { c.Store = half })
	ts.waitListed(c, m.ID)
	aBefore, cBefore := a.MapsServed(), c.MapsServed()

	// B learns the manifest and both holders, then the origin goes away,
	// so that slow chunks cannot move to it.
	b := ts.node(nil)
	ctx := context.Background()
	if _, err := b.manifest(ctx, m.ID); err != nil {
		t.Fatal(err)
	}
	if found := b.candidates(ctx, m.ID, false, false); len(found) != 2 {
		t.Fatalf("tracker lookup found %v, want A and C", found)
	}
	ts.stopOrigin()
	s, err := b.Open(ctx, m.ID, ModePlay)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	// Once the first lookup has asked both, watch for 2.5 s.
	for wait := time.Now().Add(10 * time.Second); a.MapsServed() == aBefore || c.MapsServed() == cBefore; {
		if time.Now().After(wait) {
			t.Fatalf("the first lookup did not ask both holders: %d and %d maps", a.MapsServed()-aBefore, c.MapsServed()-cBefore)
		}
		time.Sleep(10 * time.Millisecond)
	}
	aBefore, cBefore = a.MapsServed(), c.MapsServed()
	time.Sleep(2500 * time.Millisecond)
	if s.Complete() {
		t.Fatal("the stream completed; the test needs it fetching")
	}
	// Once more at most: dropped from the stream for stalling, it is
	// asked again (a refresh of every map asked it 5 times).
	if n := a.MapsServed() - aBefore; n > 1 {
		t.Errorf("the peer holding the whole track was asked for its map %d more times, want at most 1", n)
	}
	if n := c.MapsServed() - cBefore; n < 3 {
		t.Errorf("the peer holding half was asked for its map %d times in 2.5 s, want a refresh every 500 ms", n)
	}
}

// A peer whose map said it held a chunk, and that now says it does not,
// is lying if the map is fresh, and banned; if the map is old (a whole
// track's map is not asked again), the chunk may have failed its check
// there since: the peer leaves the stream and is asked for its map anew.
func TestStaleMapIsNoLie(t *testing.T) {
	for _, stale := range []bool{false, true} {
		ts := newTestSwarm(t)
		m, _ := ts.track()
		a := ts.seed(m, nil)
		b := ts.node(nil)
		ctx := context.Background()
		s, err := b.Open(ctx, m.ID, ModePlay)
		if err != nil {
			t.Fatal(err)
		}
		c, err := b.conn(ctx, PeerAddr{ID: a.ID(), Addr: a.Addr().String()})
		if err != nil {
			t.Fatal(err)
		}
		// A scheduler of the stream's, not running: handle is called by hand.
		sc := newScheduler(s)
		all := cache.NewBitfield(m.NumChunks())
		for i := range m.NumChunks() {
			all.Set(i)
		}
		sc.addPeer(peerHave{c: c, have: all})
		sc.book.note(c, haveComplete)
		if stale {
			sc.peers[a.ID()].mapAt = time.Now().Add(-time.Minute)
		}
		sc.handle(result{chunk: 1, peer: c, err: ErrNotHeld})
		s.Close()
		if banned := b.isBanned(a.ID()); banned == stale {
			t.Errorf("map stale %v: banned %v", stale, banned)
		}
		if _, ok := sc.peers[a.ID()]; ok {
			t.Errorf("map stale %v: the peer is still on the stream", stale)
		}
		if stale && !sc.book.ask(c, true) {
			t.Error("the peer with a stale map is not asked for it again")
		}
	}
}

// A peer that asks this node for its map of a track is fetching it: a
// stream of the track that heard "not held" from it asks again.
func TestAskingForAMapShowsInterest(t *testing.T) {
	ts := newTestSwarm(t)
	m, _ := ts.track()
	n := ts.node(nil)
	other := ts.node(nil)
	ctx := context.Background()
	toOther, err := n.conn(ctx, PeerAddr{ID: other.ID(), Addr: other.Addr().String()})
	if err != nil {
		t.Fatal(err)
	}
	book := &haveBook{said: map[PeerID]haveEntry{}}
	book.note(toOther, haveNotHeld)
	stop := n.watchInterest(m.ID, book)
	defer stop()
	if book.ask(toOther, true) {
		t.Fatal("a peer that holds nothing is asked at a refresh")
	}
	c, err := other.conn(ctx, PeerAddr{ID: n.ID(), Addr: n.Addr().String()})
	if err != nil {
		t.Fatal(err)
	}
	c.have(ctx, m.ID) // n holds nothing: "not held", and the interest is noted
	if !book.ask(toOther, true) {
		t.Error("a peer that asked for this node's map is not asked for its own at the next refresh")
	}
}

// A peer whose whole-track map was heard on one connection is asked again
// on a new one: it may have come back with less.
func TestCompleteMapIsAskedAgainOnANewConnection(t *testing.T) {
	ts := newTestSwarm(t)
	a, b := ts.node(nil), ts.node(nil)
	ctx := context.Background()
	first, err := b.conn(ctx, PeerAddr{ID: a.ID(), Addr: a.Addr().String()})
	if err != nil {
		t.Fatal(err)
	}
	book := &haveBook{said: map[PeerID]haveEntry{}}
	book.note(first, haveComplete)
	if book.ask(first, true) || book.ask(first, false) {
		t.Fatal("a complete map is asked again on the same connection")
	}
	second := &peerConn{id: first.id} // the same peer, connected anew
	if !book.ask(second, true) {
		t.Error("a complete map heard on an old connection is not asked again on a new one")
	}
}

// countingOrigin counts the chunks asked of its origin one by one; it
// passes the start of a play through.
type countingOrigin struct {
	Origin
	chunks, starts atomic.Int32
}

func (o *countingOrigin) Chunk(ctx context.Context, m *track.Manifest, i int) ([]byte, error) {
	o.chunks.Add(1)
	return o.Origin.Chunk(ctx, m, i)
}

func (o *countingOrigin) Start(ctx context.Context, id track.ID, n int) (*origin.StartReader, error) {
	o.starts.Add(1)
	return o.Origin.(headStarter).Start(ctx, id, n)
}

// TestOpenBringsTheFirstChunkWithTheManifest: a play opened from nothing
// has the chunk holding its first audio when Open returns, sent after the
// manifest in one answer (one round trip to the first sound); the chunk
// after it, still on its way, is not asked for again; and an origin that
// cannot answer a start still serves the play, one request at a time.
func TestOpenBringsTheFirstChunkWithTheManifest(t *testing.T) {
	ts := newTestSwarm(t)
	m, want := ts.track()
	from, end := origin.StartChunks(m, firstChunks)
	if end-from != firstChunks {
		t.Fatalf("track of %d chunks: a start brings %d, want %d", m.NumChunks(), end-from, firstChunks)
	}

	o := &countingOrigin{}
	n := ts.node(func(c *Config) { o.Origin = c.Origin; c.NoAnnounce, c.NoPeers, c.Origin = true, true, o })
	s, err := n.Open(context.Background(), m.ID, ModeFetch)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if !s.view().got.Has(from) {
		t.Errorf("after Open: chunk %d (the first audio, at byte %d) not held", from, m.Audio.AudioStart)
	}
	got, err := io.ReadAll(s)
	if err != nil || !bytes.Equal(got, want) {
		t.Fatalf("read %d bytes (%v), want the track's %d", len(got), err, len(want))
	}
	if asked, wantAsked := int(o.chunks.Load()), m.NumChunks()-firstChunks; asked != wantAsked {
		t.Errorf("%d chunks asked of the origin one by one, want %d (all but the start's %d)", asked, wantAsked, firstChunks)
	}
	if st := s.Stats(); st.FromOrigin != int64(len(want)) {
		t.Errorf("stats %+v: want all %d bytes from the origin", st, len(want))
	}

	old := ts.node(func(c *Config) { c.NoAnnounce, c.NoPeers, c.Origin = true, true, struct{ Origin }{c.Origin} })
	s2, err := old.Open(context.Background(), m.ID, ModeFetch)
	if err != nil {
		t.Fatal(err)
	}
	defer s2.Close()
	if got, err := io.ReadAll(s2); err != nil || !bytes.Equal(got, want) {
		t.Errorf("without a start: read %d bytes (%v), want the track's %d", len(got), err, len(want))
	}
}

// meet connects n to p at addr and waits until both list the connection.
func meet(t *testing.T, n, p *Node, addr string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if _, err := n.conn(ctx, PeerAddr{ID: p.ID(), Addr: addr}); err != nil {
		t.Fatalf("%s cannot reach %s at %s: %v", n.ID().Short(), p.ID().Short(), addr, err)
	}
	for ctx.Err() == nil {
		for _, q := range p.Peers() {
			if q.ID == n.ID() {
				return
			}
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatalf("%s does not list %s", p.ID().Short(), n.ID().Short())
}

// openWithOnlyAPeer starts a node that knows holder, stops the origin and
// opens m there: the start of the play can come from holder alone.
func openWithOnlyAPeer(t *testing.T, ts *testSwarm, holder *Node, m *track.Manifest) *Stream {
	t.Helper()
	b := ts.node(nil)
	meet(t, b, holder, holder.Addr().String())
	ts.stopOrigin()
	s, err := b.Open(context.Background(), m.ID, ModeFetch)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// With the origin down, a peer answers the start of a play as the origin
// does: Open brings the first audio with the manifest, and no chunk
// travels twice.
func TestOpenWithTheOriginDownBringsTheFirstChunkFromAPeer(t *testing.T) {
	ts := newTestSwarm(t)
	m, want := ts.track()
	from, _ := origin.StartChunks(m, firstChunks)
	a := ts.seed(m, nil)
	s := openWithOnlyAPeer(t, ts, a, m)
	if !s.view().got.Has(from) {
		t.Errorf("after Open: chunk %d (the first audio) not held", from)
	}
	got, err := io.ReadAll(s)
	if err != nil || !bytes.Equal(got, want) {
		t.Fatalf("read %d bytes (%v), want the track's %d", len(got), err, len(want))
	}
	if st := s.Stats(); st.FromPeers != m.Size || st.Peers != 1 {
		t.Errorf("stats %+v: want all %d bytes from the one peer", st, m.Size)
	}
	if served := a.chunksOut.Load(); served != int64(m.NumChunks()) {
		t.Errorf("A served %d chunks for a track of %d: a chunk of the start was asked again", served, m.NumChunks())
	}
}

// A peer answers a START with the manifest packed (track.PackSigned) when
// the asker says it reads that form, and as signed otherwise: both give
// the manifest the origin signed, and the packed answer is the smaller.
func TestPeerStartPacksTheManifestForWhoReadsIt(t *testing.T) {
	ts := newTestSwarm(t)
	m, _ := ts.track()
	a := ts.seed(m, nil)
	_, key, _ := ed25519.GenerateKey(nil)
	c, err := ts.dialAs(a, key)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_, signed, _ := a.store.Manifest(m.ID)
	size := map[bool]int{}
	for _, packed := range []bool{false, true} {
		str, done, err := c.request(ctx, request{typ: msgStart, id: m.ID, packed: packed})
		if err != nil {
			t.Fatal(err)
		}
		if err := readStatus(str); err != nil {
			t.Fatal(err)
		}
		answer, err := io.ReadAll(str)
		done()
		if err != nil {
			t.Fatal(err)
		}
		sr, err := origin.ReadStart(io.NopCloser(bytes.NewReader(answer)), ts.url.Key, m.ID)
		if err != nil {
			t.Fatalf("packed %v: %v", packed, err)
		}
		if !bytes.Equal(sr.Signed, signed) {
			t.Errorf("packed %v: the manifest read differs from the one the peer holds", packed)
		}
		size[packed] = len(answer)
	}
	if size[true] >= size[false]-len(signed)/3 {
		t.Errorf("START answered in %d bytes packed, %d not: want the packed manifest to save a third of its %d bytes", size[true], size[false], len(signed))
	}
}

// A peer whose start of a play carries a chunk that fails its hash is
// banned, and nothing of it reaches the stream.
func TestPeerStartWithABadChunkIsBanned(t *testing.T) {
	ts := newTestSwarm(t)
	m, _ := ts.track()
	from, _ := origin.StartChunks(m, firstChunks)
	garbage := ts.seed(m, func(c *Config) { c.Store = &lyingStore{Store: c.Store, garbage: true} })
	s := openWithOnlyAPeer(t, ts, garbage, m) // the manifest itself is good
	if _, banned := s.n.Banned(garbage.ID()); !banned {
		t.Error("the peer that sent a bad chunk in its start is not banned")
	}
	if s.view().got.Has(from) {
		t.Errorf("chunk %d held after a start that sent it corrupt", from)
	}
}

// An origin that did not answer is left out for a while: the next play's
// start goes to a peer at once instead of waiting the origin out again.
func TestASilentOriginIsLeftOutOfTheNextStart(t *testing.T) {
	ts := newTestSwarm(t)
	es := ts.origin.Catalog().Entries()
	if len(es) < 2 {
		t.Fatalf("%d tracks in the test library, want 2 or more", len(es))
	}
	m1, m2 := es[0].Manifest, es[1].Manifest
	a := ts.seed(m1, nil)
	if got, _ := fetch(t, a, m2.ID); len(got) != int(m2.Size) {
		t.Fatalf("A fetched %d bytes of %d", len(got), m2.Size)
	}
	o := &countingOrigin{}
	b := ts.node(func(c *Config) { o.Origin = c.Origin; c.Origin = o })
	ctx := context.Background()
	meet(t, b, a, a.Addr().String())
	ts.stopOrigin()
	for i, m := range []*track.Manifest{m1, m2} {
		s, err := b.Open(ctx, m.ID, ModeFetch)
		if err != nil {
			t.Fatalf("play %d: %v", i+1, err)
		}
		from, _ := origin.StartChunks(m, firstChunks)
		if !s.view().got.Has(from) {
			t.Errorf("play %d: the first audio did not come with the manifest", i+1)
		}
		s.Close()
		// Peers answer the first start while the origin's request is
		// still out (TestASlowOriginRacesThePeers); it ends within
		// originManifestTimeout, and the origin is known silent then.
		for deadline := time.Now().Add(2 * originManifestTimeout); !b.originSilent(); {
			if time.Now().After(deadline) {
				t.Fatal("the stopped origin is not known to be silent")
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	if n := o.starts.Load(); n != 1 {
		t.Errorf("the stopped origin was asked to start %d plays, want 1 (the first)", n)
	}
}

// TestAStartFromAPeerWithTheOriginSilentWaitsForItsMap: with the origin
// known silent, a stream that started from a peer's answer fails a chunk
// no peer holds once the peers are looked up; the peer that answered the
// start holds every chunk, and its map is part of the lookup, so the
// whole track comes from it.
func TestAStartFromAPeerWithTheOriginSilentWaitsForItsMap(t *testing.T) {
	synctest.Test(t, testAStartFromAPeerWithTheOriginSilentWaitsForItsMap)
}

func testAStartFromAPeerWithTheOriginSilentWaitsForItsMap(t *testing.T) {
	ts := newSimSwarm(t, nil)
	m, want := ts.track()
	a := ts.seed(m, nil)
	ts.stopOrigin()
	for try := range 5 { // the lookup and the map's answer race: try a few
		b := ts.node(func(c *Config) { c.NoAnnounce = true })
		b.learn(netip.Prefix{}, []PeerAddr{{ID: a.ID(), Addr: a.Addr().String()}})
		b.noteOrigin(errors.New("no answer"))
		got, st := fetch(t, b, m.ID)
		if !bytes.Equal(got, want) {
			t.Fatalf("try %d: B fetched %d bytes, not the track, with the origin silent and A holding it", try, len(got))
		}
		if st.FromPeers != m.Size {
			t.Errorf("try %d: B's stats %+v: want everything from A", try, st)
		}
		b.Close()
	}
}

// stuckStart is an origin whose start requests get no answer until
// unstuck, whatever their context says: an origin gone silent.
type stuckStart struct {
	Origin
	unstuck chan struct{}
}

func (o *stuckStart) Start(ctx context.Context, id track.ID, n int) (*origin.StartReader, error) {
	<-o.unstuck
	return nil, errors.New("no answer")
}

// An origin that has not answered a start after originHeadStart has
// peers asked beside it: the play starts from a peer while the origin's
// request is still out.
func TestASlowOriginRacesThePeers(t *testing.T) {
	ts := newTestSwarm(t)
	m, _ := ts.track()
	from, _ := origin.StartChunks(m, firstChunks)
	a := ts.seed(m, nil)
	o := &stuckStart{unstuck: make(chan struct{})}
	b := ts.node(func(c *Config) { o.Origin = c.Origin; c.Origin = o })
	t.Cleanup(func() { close(o.unstuck) }) // before b closes, which waits for the request
	meet(t, b, a, a.Addr().String())
	s, err := b.Open(context.Background(), m.ID, ModeFetch)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if !s.view().got.Has(from) {
		t.Errorf("chunk %d (the first audio) did not come with the manifest", from)
	}
	if st := s.Stats(); st.FromPeers == 0 {
		t.Errorf("stats %+v: the start did not come from the peer", st)
	}
}
