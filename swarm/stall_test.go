package swarm

import (
	"bytes"
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
		got, st := fetch(t, ts.node(nil), m.ID)
		if !bytes.Equal(got, want) {
			t.Fatal("fetched bytes differ")
		}
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
	if st.FromOrigin == 0 {
		t.Error("the origin was never asked")
	}
}
