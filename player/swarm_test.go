package player

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/potluckfm/potluck/cache"
	"github.com/potluckfm/potluck/internal/testorigin"
	"github.com/potluckfm/potluck/origin"
	"github.com/potluckfm/potluck/swarm"
	"github.com/potluckfm/potluck/track"
)

// nodeOpener opens tracks as Streams of a swarm node, in swarm.ModePlay,
// that tell their stats as internal/nodeconf's do (which imports player,
// so these tests cannot use it).
func nodeOpener(n *swarm.Node) Opener {
	return OpenFunc(func(ctx context.Context, id track.ID) (Source, error) {
		s, err := n.Open(ctx, id, swarm.ModePlay)
		if err != nil {
			return nil, err
		}
		return statsStream{s}, nil
	})
}

type statsStream struct{ *swarm.Stream }

func (s statsStream) SourceStats() SourceStats {
	st := s.Stats()
	return SourceStats{FromCache: st.FromCache, FromPeers: st.FromPeers, FromOrigin: st.FromOrigin, Peers: st.Peers}
}

func quietLogger() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// startNode starts a swarm node with an empty disk cache, talking to srv
// over QUIC; it stops with the test.
func startNode(t testing.TB, srv *origin.Server) *swarm.Node {
	t.Helper()
	dir := t.TempDir()
	store, err := cache.OpenDisk(filepath.Join(dir, "cache"), srv.URL().Key, cache.Options{Limit: 1 << 30})
	if err != nil {
		t.Fatal(err)
	}
	c := origin.NewClient(srv.URL(), origin.ClientOptions{Transport: origin.TransportQUIC})
	n, err := swarm.Start(context.Background(), swarm.Config{
		DataDir: dir, Origin: c, Store: store, Listen: "127.0.0.1:0", NoAnnounce: true, Logger: quietLogger(),
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		n.Close()
		store.Close()
		c.Close()
	})
	return n
}

// demoID returns the ID the origin gave a demo file.
func demoID(t testing.TB, srv *origin.Server, name string) track.ID {
	t.Helper()
	for _, e := range srv.Catalog().Entries() {
		if e.Path == name {
			return e.Manifest.ID
		}
	}
	t.Fatalf("origin has no %s", name)
	return track.ID{}
}

// TestPlayerOverSwarm plays through a swarm node fetching from an origin
// over QUIC: the PCM is exact, the bytes came from the origin; played
// again, they come from the node's cache.
func TestPlayerOverSwarm(t *testing.T) {
	d := demoTrackNamed(t, "01")
	srv := testorigin.Start(t)
	node := startNode(t, srv)
	id := demoID(t, srv, d.name)
	const from = 3 * time.Second
	for _, want := range []string{"origin", "cache"} {
		capture := newCaptureSink()
		p, ev := newPlayer(t, Paced(capture, 1, 0), nodeOpener(node), nil)
		p.SetQueue([]track.ID{id}, -1)
		p.PlayAt(0, from)
		started := ev.next(t, TrackStarted)
		playedAtLeast(t, p, from+700*time.Millisecond)
		p.Close()
		st := ev.next(t, TrackEnded).Stats
		got := capture.segments()[0]
		samplesEqual(t, "played through the swarm", got, d.refTime(t, from, int64(len(got)/BytesPerFrame)))
		switch {
		case want == "origin" && (st.Swarm.FromOrigin == 0 || st.Swarm.FromCache != 0):
			t.Errorf("first play: %+v, want bytes from the origin", st.Swarm)
		case want == "cache" && st.Swarm.FromCache == 0:
			t.Errorf("second play: %+v, want bytes from the cache", st.Swarm)
		}
		// Underruns are not checked here: under the race detector and
		// beside other tests, decoding alone may fall behind real time
		// (TestPlayerCountsUnderruns checks them at half speed).
		t.Logf("from the %s: start latency %s, %d underruns (%s), %+v",
			want, started.Stats.StartLatency, st.Underruns, st.UnderrunTime, st.Swarm)
	}
}

// udpRelay forwards datagrams between clients and an origin's QUIC
// address until it is cut: then it drops them all, as a network does for
// an origin that died without closing its connections (no TCP listens on
// its port, so TCP is refused, as for a killed process).
type udpRelay struct {
	pc     net.PacketConn
	to     *net.UDPAddr
	mu     sync.Mutex
	cut    bool
	uplink map[string]*net.UDPConn
}

func startRelay(t testing.TB, to string) *udpRelay {
	t.Helper()
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr, err := net.ResolveUDPAddr("udp", to)
	if err != nil {
		t.Fatal(err)
	}
	r := &udpRelay{pc: pc, to: addr, uplink: map[string]*net.UDPConn{}}
	t.Cleanup(func() {
		pc.Close()
		r.mu.Lock()
		for _, c := range r.uplink {
			c.Close()
		}
		r.mu.Unlock()
	})
	go r.run()
	return r
}

func (r *udpRelay) Addr() string { return r.pc.LocalAddr().String() }

func (r *udpRelay) setCut(cut bool) {
	r.mu.Lock()
	r.cut = cut
	r.mu.Unlock()
}

func (r *udpRelay) isCut() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.cut
}

func (r *udpRelay) run() {
	buf := make([]byte, 65536)
	for {
		n, from, err := r.pc.ReadFrom(buf)
		if err != nil {
			return
		}
		if r.isCut() {
			continue
		}
		r.mu.Lock()
		up := r.uplink[from.String()]
		if up == nil {
			if up, err = net.DialUDP("udp", nil, r.to); err != nil {
				r.mu.Unlock()
				continue
			}
			r.uplink[from.String()] = up
			go func() {
				b := make([]byte, 65536)
				for {
					n, err := up.Read(b)
					if err != nil {
						return
					}
					if !r.isCut() {
						r.pc.WriteTo(b[:n], from)
					}
				}
			}()
		}
		r.mu.Unlock()
		up.Write(buf[:n])
	}
}

// TestPlayerOriginDownFailsFast: with the origin gone silent (its QUIC
// connection open but unanswered, TCP refused), tracks that are not
// cached fail within seconds with ErrUnavailable, whether their manifest
// is cached or not; the player moves on through the queue without
// removing anything, and State.Err is cleared when a later play starts.
func TestPlayerOriginDownFailsFast(t *testing.T) {
	const within = 5500 * time.Millisecond
	srv := testorigin.Start(t)
	relay := startRelay(t, srv.URL().Addr)
	u := srv.URL()
	u.Addr = relay.Addr()
	dir := t.TempDir()
	store, err := cache.OpenDisk(filepath.Join(dir, "cache"), u.Key, cache.Options{Limit: 1 << 30})
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	c := origin.NewClient(u, origin.ClientOptions{}) // QUIC first, as the app's
	defer c.Close()
	node, err := swarm.Start(context.Background(), swarm.Config{
		DataDir: dir, Origin: c, Store: store, Listen: "127.0.0.1:0", NoAnnounce: true, Logger: quietLogger(),
	})
	if err != nil {
		t.Fatal(err)
	}
	defer node.Close()
	a, b := demoID(t, srv, "01-first-light.mp3"), demoID(t, srv, "02-late-supper.mp3")
	cued := demoID(t, srv, "03-kettle-hill-waltz.mp3")
	m, signed, err := c.Manifest(context.Background(), cued) // over QUIC: the connection is up
	if err != nil {
		t.Fatal(err)
	}
	if c.LastTransport() != origin.TransportQUIC {
		t.Fatalf("the origin answered over %q, want QUIC", c.LastTransport())
	}
	store.PutManifest(m, signed)
	relay.setCut(true)

	p, ev := newPlayer(t, NewNullSink(1), nodeOpener(node), nil)
	list := []track.ID{a, cued, b}
	start := time.Now()
	p.SetQueue(list, 0)
	for k, id := range list {
		e := ev.next(t, TrackEnded)
		took := time.Since(start)
		start = time.Now()
		t.Logf("track %d failed after %s: %v", k, took, e.Stats.Err)
		if e.Track != id || e.Stats.Skipped {
			t.Errorf("track %d: ended %+v, want %v to fail", k, e, id)
		}
		if !errors.Is(e.Stats.Err, swarm.ErrUnavailable) {
			t.Errorf("track %d: error %v, want ErrUnavailable", k, e.Stats.Err)
		}
		if took > within {
			t.Errorf("track %d took %s to fail, want at most %s", k, took, within)
		}
	}
	ev.next(t, QueueEnded)
	s := p.State()
	if !slices.Equal(s.Queue, list) || !errors.Is(s.Err, swarm.ErrUnavailable) || s.Status != Stopped {
		t.Errorf("after the failures: %+v", s)
	}

	// The origin answers again: the next play clears the error.
	relay.setCut(false)
	p.Jump(1)
	ev.next(t, TrackStarted)
	if s := p.State(); s.Err != nil || s.Status != Playing {
		t.Errorf("a play started and the state is %+v", s)
	}
}
