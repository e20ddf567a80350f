package swarm

import (
	"bytes"
	"context"
	"errors"
	"runtime/pprof"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"
)

// nodeGoroutines returns the stacks of the goroutines running swarm code
// other than tests' own.
func nodeGoroutines() []string {
	var buf bytes.Buffer
	pprof.Lookup("goroutine").WriteTo(&buf, 2)
	var out []string
	for _, g := range strings.Split(buf.String(), "\n\n") {
		if strings.Contains(g, "potluck/swarm.") && !strings.Contains(g, "swarm.Test") && !strings.Contains(g, "swarm.nodeGoroutines") {
			out = append(out, g)
		}
	}
	return out
}

func TestNodeCloseEndsEveryGoroutine(t *testing.T) { synctest.Test(t, testNodeCloseEndsEveryGoroutine) }

func testNodeCloseEndsEveryGoroutine(t *testing.T) {
	ts := newSimSwarm(t, nil)
	m, _ := ts.track()
	a := ts.node(func(c *Config) { c.NoAnnounce = true })
	b := ts.node(func(c *Config) { c.NoAnnounce = true })
	if a.ID() > b.ID() {
		a, b = b, a
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	// a dials b; then b, having lost track of it, dials a: a keeps its own
	// (the smaller ID dialed it) and serves b's for a while, on a timer.
	if _, err := a.conn(ctx, PeerAddr{ID: b.ID(), Addr: b.Addr().String()}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, b, "b to register a's connection", func() bool { return b.conns[a.ID()] != nil })
	b.mu.Lock()
	delete(b.conns, a.ID())
	b.mu.Unlock()
	if _, err := b.conn(ctx, PeerAddr{ID: a.ID(), Addr: a.Addr().String()}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, a, "a to serve the duplicate", func() bool { return len(a.live) == 2 })
	// A stream that keeps its scheduler and fetches running.
	s, err := a.Open(ctx, m.ID, ModePlay)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if !slicesContain(nodeGoroutines(), "addConn.func") {
		t.Fatal("no duplicate-connection goroutine seen: the check below would prove nothing")
	}

	start := time.Now()
	for _, n := range []*Node{a, b} {
		if err := n.Close(); err != nil {
			t.Fatal(err)
		}
		if err := n.Close(); err != nil {
			t.Errorf("second Close: %v", err)
		}
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("Close took %v: it waited out the duplicate connection's timer", d)
	}
	if left := nodeGoroutines(); len(left) > 0 {
		t.Errorf("%d goroutines left after Close, the first:\n%s", len(left), left[0])
	}
	if _, err := a.Open(ctx, m.ID, ModeFetch); !errors.Is(err, ErrNodeClosed) {
		t.Errorf("Open after Close: %v, want ErrNodeClosed", err)
	}
	if _, err := b.conn(ctx, PeerAddr{ID: a.ID(), Addr: a.Addr().String()}); !errors.Is(err, ErrNodeClosed) {
		t.Errorf("dial after Close: %v, want ErrNodeClosed", err)
	}
}

func slicesContain(stacks []string, s string) bool {
	for _, g := range stacks {
		if strings.Contains(g, s) {
			return true
		}
	}
	return false
}

// A Close racing connections, requests and Opens starts nothing behind it
// (the race detector and the goroutine check would both see it).
func TestCloseRacesNewWork(t *testing.T) { synctest.Test(t, testCloseRacesNewWork) }

func testCloseRacesNewWork(t *testing.T) {
	ts := newSimSwarm(t, nil)
	m, _ := ts.track()
	n := ts.node(func(c *Config) { c.NoAnnounce = true })
	c := ts.stranger(n)
	done := make(chan struct{})
	var dials sync.WaitGroup
	go func() {
		defer close(done)
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		for range 20 {
			dials.Go(func() { ts.dialStranger(n) })
			c.peers(ctx)
			n.Open(ctx, m.ID, ModeFetch)
		}
	}()
	time.Sleep(50 * time.Millisecond)
	if err := n.Close(); err != nil {
		t.Fatal(err)
	}
	<-done
	dials.Wait()
	if left := nodeGoroutines(); len(left) > 0 {
		t.Errorf("%d goroutines left after Close, the first:\n%s", len(left), left[0])
	}
}
