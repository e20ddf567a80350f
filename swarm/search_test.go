package swarm

import (
	"context"
	"crypto/rand"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/quic-go/quic-go"

	"github.com/potluckfm/potluck/track"
)

// TestWhoHasFloodStartsFewSearches: one asker sends WHO_HAS with ttl 2 for
// a fresh made-up track each time, as fast as answers come. The node asks
// its neighbours on at most whoHasBurst of them, then one a second: the
// budget is per asker, not per track. Its neighbours count the searches
// they get. In virtual time.
func TestWhoHasFloodStartsFewSearches(t *testing.T) {
	synctest.Test(t, testWhoHasFloodStartsFewSearches)
}

func testWhoHasFloodStartsFewSearches(t *testing.T) {
	ts := newSimSwarm(t, nil)
	n := ts.node(func(c *Config) { c.NoAnnounce = true })
	const neighbours = 3
	var onward atomic.Int64
	for range neighbours {
		c := ts.stranger(n)
		go acceptStreams(c, func(str *quic.Stream) {
			onward.Add(1)
			str.CancelRead(0)
			str.Close()
		})
	}
	waitFor(t, n, "the neighbours connected", func() bool { return len(n.conns) == neighbours })
	asker := ts.stranger(n)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	// A searching neighbour answers at once (it closes the stream): the
	// flood is as fast as the node answers.
	const flood = 60
	start := time.Now()
	for range flood {
		var id track.ID
		rand.Read(id[:])
		if _, err := asker.whoHas(ctx, id, MaxWhoHasTTL); err != nil {
			t.Fatal(err)
		}
	}
	elapsed := time.Since(start)
	synctest.Wait()
	searches := onward.Load() / neighbours
	most := int64(whoHasBurst + elapsed/whoHasEvery + 1)
	t.Logf("%d searches for made-up tracks in %v: %d onward searches (%d WHO_HAS to %d neighbours); bound %d",
		flood, elapsed, searches, onward.Load(), neighbours, most)
	if searches > most {
		t.Errorf("%d searches made %d onward searches in %v, want at most %d", flood, searches, elapsed, most)
	}
	if searches == 0 {
		t.Error("no search went onward at all")
	}
}
