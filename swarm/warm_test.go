package swarm

import (
	"context"
	"testing"
	"time"

	"github.com/potluckfm/potluck/track"
)

// TestWarmManifestsFetchesAhead: the manifests of the tracks queued next
// are in the store soon after WarmManifests, at most maxWarm of them, so
// that opening one asks the origin only for chunks.
func TestWarmManifestsFetchesAhead(t *testing.T) {
	ts := newTestSwarm(t)
	n := ts.node(func(c *Config) { c.NoAnnounce = true })
	var ids []track.ID
	for _, e := range ts.origin.Catalog().Entries() {
		ids = append(ids, e.Manifest.ID)
	}
	for len(ids) <= maxWarm { // past the bound, with made-up IDs the origin does not know
		ids = append(ids, track.ID{byte(len(ids)), 0xee})
	}
	n.WarmManifests(ids)
	n.WarmManifests(ids) // dropped while the first works
	deadline := time.Now().Add(10 * time.Second)
	for n.warm.busy.Load() && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	known := len(ts.origin.Catalog().Entries())
	for i, id := range ids {
		_, _, ok := n.Store().Manifest(id)
		if want := i < min(known, maxWarm); ok != want {
			t.Errorf("manifest %d (%s) held %v, want %v", i, id, ok, want)
		}
	}
	if got := n.warm.warmed.Load(); got != int64(min(known, maxWarm)) {
		t.Errorf("%d manifests warmed, want %d", got, min(known, maxWarm))
	}
	s, err := n.Open(context.Background(), ids[0], ModePlay)
	if err != nil {
		t.Fatal(err)
	}
	s.Close()
}
