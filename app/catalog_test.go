package app

import (
	"context"
	"strings"
	"sync"
	"testing"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/test"
	"fyne.io/fyne/v2/widget"

	"github.com/potluckfm/potluck/origin"
	"github.com/potluckfm/potluck/track"
)

// switchableCatalog is an OfflineCatalog whose origin a test turns on and
// off; with it off, it answers with the same tracks, as a node's kept
// copy does.
type switchableCatalog struct {
	mu       sync.Mutex
	tracks   []origin.TrackInfo
	online   bool
	playable map[track.ID]bool
}

func (c *switchableCatalog) Tracks(ctx context.Context) ([]origin.TrackInfo, error) {
	t, _, err := c.Catalogue(ctx)
	return t, err
}

func (c *switchableCatalog) Catalogue(context.Context) ([]origin.TrackInfo, bool, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.tracks, c.online, nil
}

func (c *switchableCatalog) Cover(context.Context, track.ID) ([]byte, error) {
	return nil, origin.ErrNotFound
}

func (c *switchableCatalog) Playable(id track.ID) bool { return c.playable[id] }

func (c *switchableCatalog) setOnline(on bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.online = on
}

// TestOfflineCatalogueIsShownAndSaidSo: with the origin down the library
// shows the kept catalogue, the status line says the origin is
// unreachable, and the tracks not held here are dimmed; when the origin
// answers again, both go away.
func TestOfflineCatalogueIsShownAndSaidSo(t *testing.T) {
	test.NewTempApp(t)
	held, missing := track.ID{1}, track.ID{2}
	cat := &switchableCatalog{
		tracks: []origin.TrackInfo{
			{ID: held, Title: "Held Here", Artist: "A", Album: "X", DurationMS: 1000},
			{ID: missing, Title: "Not Held", Artist: "A", Album: "X", DurationMS: 1000},
		},
		playable: map[track.ID]bool{held: true},
	}
	u := New(fyne.CurrentApp(), Deps{Catalog: cat, Player: &recordingPlayer{st: PlayerState{Volume: 1, Index: -1}}})
	u.Window().Resize(fyne.NewSize(960, 640))
	u.loadCatalog(context.Background())
	if n := u.library.tracks.list.Length(); n != 2 {
		t.Fatalf("library lists %d tracks with the origin down, want the 2 kept", n)
	}
	if !strings.Contains(u.status.Text, "origin is unreachable") {
		t.Errorf("status line %q: want it to say the origin is unreachable", u.status.Text)
	}
	dimmed := func(title string) bool {
		for i := range 2 {
			if r := findRow(t, u, i); r.title.Text == title {
				return r.title.Importance == widget.LowImportance
			}
		}
		t.Fatalf("no row shows %q", title)
		return false
	}
	if dimmed("Held Here") || !dimmed("Not Held") {
		t.Errorf("with the origin down: held track dimmed %v, missing one dimmed %v; want only the missing one",
			dimmed("Held Here"), dimmed("Not Held"))
	}

	cat.setOnline(true)
	tracks, online, err := u.fetchCatalog(context.Background())
	if err != nil || !online {
		t.Fatal(online, err)
	}
	u.catalogFetched(tracks, online)
	if strings.Contains(u.status.Text, "unreachable") {
		t.Errorf("status line %q after the origin came back", u.status.Text)
	}
	if dimmed("Not Held") {
		t.Error("a track is still dimmed after the origin came back")
	}
}
