package main

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"errors"
	"io/fs"
	"log/slog"
	"slices"
	"testing"
	"time"

	"github.com/potluckfm/potluck/assets"
	"github.com/potluckfm/potluck/origin"
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

// TestTrackStartWarmsTheNextQueued: as a track starts, the adapter warms
// the manifests of the next queueWarmAhead tracks of the queue, no more.
func TestTrackStartWarmsTheNextQueued(t *testing.T) {
	lib := assets.Demo()
	_, key, err := ed25519.GenerateKey(nil)
	if err != nil {
		t.Fatal(err)
	}
	cat, err := origin.ScanLibrary(context.Background(), lib, key, origin.ScanOptions{Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	e := cat.Entries()[0]
	data, err := fs.ReadFile(lib, e.Path)
	if err != nil {
		t.Fatal(err)
	}
	warmed := make(chan []track.ID, 10)
	a := &playerAdapter{warm: func(ids []track.ID) { warmed <- ids }}
	p, err := player.New(context.Background(), player.Config{
		Sink: player.NewNullSink(1), // real time: the first track plays for 34 s, well past the check
		Opener: player.OpenFunc(func(context.Context, track.ID) (player.Source, error) {
			return player.NewReaderSource(bytes.NewReader(data), e.Manifest), nil
		}),
		OnEvent: a.onEvent,
	})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	a.p = p
	queue := make([]track.ID, 10)
	for i := range queue {
		queue[i][0] = byte(i + 1)
	}
	if err := p.SetQueue(queue, 0); err != nil {
		t.Fatal(err)
	}
	select {
	case ids := <-warmed:
		if want := queue[1 : 1+queueWarmAhead]; !slices.Equal(ids, want) {
			t.Errorf("warmed %v as the first track started, want the next %d queued: %v", ids, queueWarmAhead, want)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("nothing warmed 10 s after the queue was set")
	}
}
