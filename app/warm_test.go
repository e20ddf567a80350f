package app

import (
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/potluckfm/potluck/track"
)

// warmingPlayer is a recordingPlayer that is a Warmer too.
type warmingPlayer struct {
	*recordingPlayer
	wmu    sync.Mutex
	warmed [][]track.ID
}

func (p *warmingPlayer) Warm(ids []track.ID) {
	p.wmu.Lock()
	defer p.wmu.Unlock()
	p.warmed = append(p.warmed, slices.Clone(ids))
}

func (p *warmingPlayer) calls() [][]track.ID {
	p.wmu.Lock()
	defer p.wmu.Unlock()
	return slices.Clone(p.warmed)
}

// waitWarm waits for the player to have been asked to warm n times.
func (p *warmingPlayer) waitWarm(t *testing.T, n int) [][]track.ID {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for len(p.calls()) < n {
		if time.Now().After(deadline) {
			t.Fatalf("warmed %d times, want %d", len(p.calls()), n)
		}
		time.Sleep(20 * time.Millisecond)
	}
	return p.calls()
}

// TestTheRowsInViewAreWarmed: once the library's rows are drawn and stay
// still, the player is asked to warm their tracks, once; the list
// redrawing the same rows (as it does while music plays) asks nothing
// more; a track that starts warms the rest of its album.
func TestTheRowsInViewAreWarmed(t *testing.T) {
	p := &warmingPlayer{recordingPlayer: &recordingPlayer{st: PlayerState{Volume: 1, Index: -1}}}
	u := newTestUIWith(t, SwarmStatus{}, p)
	t.Cleanup(u.Stop)
	lib := u.library.shown
	got := p.waitWarm(t, 1)[0]
	if len(got) != len(lib) {
		t.Fatalf("warmed %d tracks, want the %d rows in view", len(got), len(lib))
	}
	for _, ti := range lib {
		if !slices.Contains(got, ti.ID) {
			t.Errorf("row %q in view not warmed", ti.Title)
		}
	}
	for range 4 {
		u.library.tracks.list.Refresh()
		time.Sleep(warmDelay / 2)
	}
	time.Sleep(2 * warmDelay)
	if n := len(p.calls()); n != 1 {
		t.Errorf("redrawing the same rows warmed %d times in all, want 1", n)
	}

	u.deps.Player.PlayContext([]track.ID{lib[0].ID}, 0)
	u.refresh()
	album := u.catalogue().AlbumOf(lib[0].ID)
	got = p.waitWarm(t, 2)[1]
	if want := trackIDs(album.Tracks); !slices.Equal(got, want) {
		t.Errorf("a track that starts warmed %v, want its album %v", got, want)
	}
}
