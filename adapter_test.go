package main

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/potluckfm/potluck/player"
	"github.com/potluckfm/potluck/track"
)

// TestPlayerAdapterNeverBlocks: the UI's calls return at once while the
// player is busy, seeks waiting at the tail merge into the last one, and
// the adapter's goroutine ends with the player.
func TestPlayerAdapterNeverBlocks(t *testing.T) {
	p, err := player.New(context.Background(), player.Config{
		Sink: player.NewNullSink(1),
		Opener: player.OpenFunc(func(context.Context, track.ID) (player.Source, error) {
			return nil, errors.New("no tracks here")
		}),
	})
	if err != nil {
		t.Fatal(err)
	}
	a := &playerAdapter{p: p}
	busy := make(chan struct{})
	a.send("", func() error { <-busy; return nil })
	start := time.Now()
	for i := range 1000 {
		a.Seek(time.Duration(i) * time.Second)
	}
	a.TogglePause()
	for range 1000 {
		a.SetVolume(0.5)
	}
	if d := time.Since(start); d > time.Second {
		t.Errorf("2000 calls took %s while the player was busy", d)
	}
	a.mu.Lock()
	n := len(a.cmds)
	a.mu.Unlock()
	if n > 4 { // the busy call (until taken), one seek, the toggle, one volume
		t.Errorf("%d calls wait, want the seeks and the volume changes merged", n)
	}
	close(busy)
	p.Close()
	for range 1000 {
		a.Next() // after the player's end: still no wait
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("calls after Close took %s", d)
	}
}
