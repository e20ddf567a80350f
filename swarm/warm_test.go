package swarm

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/potluckfm/potluck/track"
)

// waitWarmed waits for n's warming to go idle.
func waitWarmed(t *testing.T, n *Node) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		n.warm.mu.Lock()
		running := n.warm.running
		n.warm.mu.Unlock()
		if !running {
			return
		}
		if time.Now().After(deadline) {
			t.Fatal("manifest warming still at work after 10 s")
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestWarmManifestsFetchesAhead: the manifests of the tracks likely next
// are in the store soon after WarmManifests, at most maxWarm of them, the
// latest call's first, so that opening one asks the origin only for
// chunks.
func TestWarmManifestsFetchesAhead(t *testing.T) {
	ts := newTestSwarm(t)
	n := ts.node(func(c *Config) { c.NoAnnounce = true })
	var known []track.ID
	for _, e := range ts.origin.Catalog().Entries() {
		known = append(known, e.Manifest.ID)
	}
	// Past the bound, with made-up IDs the origin does not know (a 404
	// does not end the round), and the known tracks last.
	var ids []track.ID
	for len(ids) < maxWarm {
		ids = append(ids, track.ID{byte(len(ids)), 0xee})
	}
	ids = append(ids, known...)
	n.WarmManifests(ids)
	// A later call's tracks go first: the known ones are fetched though
	// the first call left them past the bound.
	n.WarmManifests(known)
	waitWarmed(t, n)
	for _, id := range known {
		if _, _, ok := n.Store().Manifest(id); !ok {
			t.Errorf("manifest of %s not warmed", id)
		}
	}
	if got := n.warm.warmed.Load(); got != int64(len(known)) {
		t.Errorf("%d manifests warmed, want %d", got, len(known))
	}
	s, err := n.Open(context.Background(), known[0], ModePlay)
	if err != nil {
		t.Fatal(err)
	}
	s.Close()
}

// countingManifests counts the manifests asked of the origin.
type countingManifests struct {
	Origin
	asked atomic.Int32
}

func (o *countingManifests) Manifest(ctx context.Context, id track.ID) (*track.Manifest, []byte, error) {
	o.asked.Add(1)
	return o.Origin.Manifest(ctx, id)
}

// TestWarmManifestsStopsAtAnOriginThatDoesNotAnswer: with the origin
// down, warming asks once and drops the rest of its queue, rather than
// wait out a timeout per track.
func TestWarmManifestsStopsAtAnOriginThatDoesNotAnswer(t *testing.T) {
	ts := newTestSwarm(t)
	o := &countingManifests{}
	n := ts.node(func(c *Config) { o.Origin = c.Origin; c.NoAnnounce, c.Origin = true, o })
	var ids []track.ID
	for _, e := range ts.origin.Catalog().Entries() {
		ids = append(ids, e.Manifest.ID)
	}
	if len(ids) < 2 {
		t.Fatalf("%d tracks in the test library, want 2 or more", len(ids))
	}
	ts.stopOrigin()
	n.WarmManifests(ids)
	waitWarmed(t, n)
	if got := o.asked.Load(); got != 1 {
		t.Errorf("%d manifests asked of a stopped origin, want 1", got)
	}
	if got := n.warm.warmed.Load(); got != 0 {
		t.Errorf("%d manifests warmed from a stopped origin", got)
	}
}
