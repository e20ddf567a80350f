package swarm

import (
	"bytes"
	"context"
	"sync"
	"testing"
	"testing/synctest"
	"time"
)

// TestStallersCannotKeepAChunkFromTheOrigin: a track whose one honest
// holder lacks its last chunk, and 20 fake holders that claim every chunk
// and never answer. The fetch finishes in bounded time: the chunk goes to
// the origin after peerTries failed peer requests, though the stallers'
// maps, read again every Refresh, still claim it. In virtual time.
func TestStallersCannotKeepAChunkFromTheOrigin(t *testing.T) {
	synctest.Test(t, testStallersCannotKeepAChunkFromTheOrigin)
}

func testStallersCannotKeepAChunkFromTheOrigin(t *testing.T) {
	ts := newSimSwarm(t, nil)
	m, want := ts.track()
	seed := ts.seed(m, nil)
	n := m.NumChunks()
	honest := ts.node(func(c *Config) { c.Store = copyChunks(t, seed.Store(), m.ID, n-1) })
	ts.waitListed(honest, m.ID)
	seed.Close()
	timed := func() (time.Duration, Stats) {
		t.Helper()
		start := time.Now()
		nd := ts.node(nil)
		got, st := fetch(t, nd, m.ID)
		if !bytes.Equal(got, want) {
			t.Fatal("fetched bytes differ")
		}
		nd.Close() // it must not serve the last chunk to the next
		return time.Since(start), st
	}
	before, _ := timed()

	quit := make(chan struct{})
	unstall := sync.OnceFunc(func() { close(quit) })
	const stallers = 20
	for range stallers {
		l := &lyingStore{Store: copyChunks(t, honest.Store(), m.ID, 0), claimAll: true, m: m, stall: true, quit: quit, serving: true}
		fake := ts.node(func(c *Config) { c.Store = l })
		t.Cleanup(unstall) // before the fake closes
		ts.waitListed(fake, m.ID)
	}
	during, st := timed()
	const bound = 15 * time.Second
	t.Logf("fetch with the honest holder alone: %v; with %d stallers: %v (%+v)", before, stallers, during, st)
	if during > bound {
		t.Errorf("fetch with %d stallers took %v, want at most %v", stallers, during, bound)
	}
	// No live node but the origin holds the last chunk: finishing is the
	// proof that the origin was asked for it.

	// A track cued in play mode (a prefetch, not yet playing): nothing is
	// due, so only the peers' budget sends the chunk to the origin.
	s, err := ts.node(func(c *Config) { c.NoAnnounce = true }).Open(context.Background(), m.ID, ModePlay)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	start := time.Now()
	for !s.Complete() && time.Since(start) < 2*bound {
		time.Sleep(20 * time.Millisecond)
	}
	t.Logf("cued in play mode with %d stallers: complete %v after %v (%+v)", stallers, s.Complete(), time.Since(start), s.Stats())
	if !s.Complete() || time.Since(start) > bound {
		t.Errorf("cued stream with %d stallers: complete %v after %v, want complete within %v", stallers, s.Complete(), time.Since(start), bound)
	}
}
