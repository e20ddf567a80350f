package swarm

import (
	"context"
	"sync"
	"testing"
	"testing/synctest"
	"time"
)

// TestUploadSlotsAreSharedByPeer: one connection keeps 256 playing-now
// chunk requests in flight to a seed; an honest peer fetching one
// prefetch chunk at a time still gets its share of the 8 upload slots.
// Its chunks a second before and during the flood are compared. In
// virtual time.
func TestUploadSlotsAreSharedByPeer(t *testing.T) {
	synctest.Test(t, testUploadSlotsAreSharedByPeer)
}

func testUploadSlotsAreSharedByPeer(t *testing.T) {
	ts := newSimSwarm(t, nil)
	m, _ := ts.track()
	seed := ts.seed(m, nil)
	n := m.NumChunks()
	honest := ts.stranger(seed)
	// rate is the honest peer's chunks a second over 3 s, and its failures.
	rate := func() (float64, int) {
		t.Helper()
		got, failed := 0, 0
		start := time.Now()
		for i := 0; time.Since(start) < 3*time.Second; i++ {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			if _, err := honest.fetchChunk(ctx, m, i%n, PriorityPrefetch); err != nil {
				failed++
			} else {
				got++
			}
			cancel()
		}
		return float64(got) / time.Since(start).Seconds(), failed
	}
	before, _ := rate()

	hog := ts.stranger(seed)
	ctx, stop := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	for w := range 256 {
		wg.Go(func() {
			for i := w; ctx.Err() == nil; i++ {
				hog.fetchChunk(ctx, m, i%n, PriorityPlaying)
			}
		})
	}
	time.Sleep(500 * time.Millisecond) // the flood holds every slot
	during, failed := rate()
	stop()
	wg.Wait()
	t.Logf("honest peer: %.1f chunks/s before, %.1f during a flood of 256 playing-now requests (%d failed)", before, during, failed)
	if during < before/4 || failed > 0 {
		t.Errorf("honest peer got %.1f chunks/s during the flood (%d failed), want at least a quarter of %.1f", during, failed, before)
	}
}

// A freed slot goes to the waiting peer that holds the fewest, before a
// playing-now request of a peer that holds more.
func TestUploadSlotsGoToThePeerHoldingFewest(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		u := newUploadSlots(2)
		var releases []func()
		for range 2 {
			r, err := u.acquire(context.Background(), "hog", PriorityPlaying)
			if err != nil {
				t.Fatal(err)
			}
			releases = append(releases, r)
		}
		got := make(chan PeerID, 3)
		var wg sync.WaitGroup
		for _, w := range []struct {
			peer PeerID
			prio byte
		}{{"hog", PriorityPlaying}, {"hog", PriorityPlaying}, {"honest", PriorityPrefetch}} {
			wg.Go(func() {
				if r, err := u.acquire(context.Background(), w.peer, w.prio); err == nil {
					got <- w.peer
					defer r()
					time.Sleep(time.Second)
				}
			})
			synctest.Wait()
		}
		releases[0]()
		synctest.Wait()
		if first := <-got; first != "honest" {
			t.Errorf("a freed slot went to %s, want the honest peer that held none", first)
		}
		releases[1]()
		wg.Wait()
	})
}
