package app

import (
	"context"
	"crypto/ed25519"
	"io"
	"log/slog"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/driver/desktop"
	"fyne.io/fyne/v2/test"

	"github.com/potluckfm/potluck/assets"
	"github.com/potluckfm/potluck/origin"
	"github.com/potluckfm/potluck/track"
)

// recordingPlayer is a Player that keeps its state in memory and records
// what the UI asked of it. (The real player and audio are exercised by the
// real-window test in cmd/potluck.)
type recordingPlayer struct {
	mu    sync.Mutex
	st    PlayerState
	calls []string
}

func (p *recordingPlayer) record(s string, f func()) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.calls = append(p.calls, s)
	f()
}

// Play plays id alone.
func (p *recordingPlayer) Play(id track.ID) { p.PlayContext([]track.ID{id}, 0) }
func (p *recordingPlayer) PlayContext(ids []track.ID, start int) {
	p.record("play", func() {
		p.st.Current, p.st.Playing, p.st.Position = ids[start], true, 0
		p.st.Duration = time.Minute
		p.st.Upcoming = slices.Clone(ids[start+1:])
		p.st.Queue, p.st.Index = slices.Clone(ids), start
	})
}
func (p *recordingPlayer) PlayNext(ids ...track.ID) {
	p.record("playnext", func() { p.st.Upcoming = append(slices.Clone(ids), p.st.Upcoming...) })
}
func (p *recordingPlayer) Enqueue(ids ...track.ID) {
	p.record("enqueue", func() { p.st.Upcoming = append(p.st.Upcoming, ids...) })
}
func (p *recordingPlayer) TogglePause() { p.record("toggle", func() { p.st.Playing = !p.st.Playing }) }
func (p *recordingPlayer) Next() {
	p.record("next", func() {
		if len(p.st.Upcoming) > 0 {
			p.st.Current, p.st.Upcoming = p.st.Upcoming[0], p.st.Upcoming[1:]
		}
	})
}
func (p *recordingPlayer) Previous() { p.record("previous", func() {}) }
func (p *recordingPlayer) Seek(t time.Duration) {
	p.record("seek", func() { p.st.Position = t })
}
func (p *recordingPlayer) SetVolume(v float64) { p.record("volume", func() { p.st.Volume = v }) }
func (p *recordingPlayer) Remove(i int, _ track.ID) {
	p.record("remove", func() { p.st.Upcoming = slices.Delete(p.st.Upcoming, i, i+1) })
}
func (p *recordingPlayer) Move(from, to int, _ track.ID) {
	p.record("move", func() {
		id := p.st.Upcoming[from]
		p.st.Upcoming = slices.Insert(slices.Delete(p.st.Upcoming, from, from+1), to, id)
	})
}
func (p *recordingPlayer) Clear()             { p.record("clear", func() { p.st.Upcoming = nil }) }
func (p *recordingPlayer) SetShuffle(on bool) { p.record("shuffle", func() { p.st.Shuffle = on }) }
func (p *recordingPlayer) SetRepeat(r Repeat) { p.record("repeat", func() { p.st.Repeat = r }) }
func (p *recordingPlayer) State() PlayerState {
	p.mu.Lock()
	defer p.mu.Unlock()
	st := p.st
	st.Upcoming = slices.Clone(p.st.Upcoming)
	return st
}
func (p *recordingPlayer) called(s string) int {
	p.mu.Lock()
	defer p.mu.Unlock()
	n := 0
	for _, c := range p.calls {
		if c == s {
			n++
		}
	}
	return n
}

type fixedSwarm struct{ s SwarmStatus }

func (f fixedSwarm) Status() SwarmStatus { return f.s }

// newTestUI starts a real origin on the demo library and a UI on fyne's
// test driver, with the catalogue loaded.
func newTestUI(t *testing.T, sw SwarmStatus) (*UI, *recordingPlayer) {
	t.Helper()
	p := &recordingPlayer{st: PlayerState{Volume: 1, Index: -1}}
	return newTestUIWith(t, sw, p), p
}

// newTestUIWith is newTestUI with the player p.
func newTestUIWith(t *testing.T, sw SwarmStatus, p Player) *UI {
	t.Helper()
	test.NewTempApp(t)
	_, key, _ := ed25519.GenerateKey(nil)
	srv, err := origin.Start(context.Background(), origin.Config{
		Library: assets.Demo(), Key: key, Listen: "127.0.0.1:0",
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Shutdown(context.Background()) })
	client := origin.NewClient(srv.URL(), origin.ClientOptions{})
	t.Cleanup(func() { client.Close() })
	settings, err := OpenSettings(filepath.Join(t.TempDir(), "settings.json"))
	if err != nil {
		t.Fatal(err)
	}
	playlists, err := OpenPlaylists(filepath.Join(t.TempDir(), "playlists.json"))
	if err != nil {
		t.Fatal(err)
	}
	u := New(fyne.CurrentApp(), Deps{Catalog: OriginCatalog{client}, Player: p, Swarm: fixedSwarm{sw}, Settings: settings,
		Playlists: playlists, Offline: &memOffline{}})
	u.Window().Resize(fyne.NewSize(960, 640))
	u.loadCatalog(context.Background())
	return u
}

func TestLibraryListsTheCatalogueAndSearchFilters(t *testing.T) {
	u, _ := newTestUI(t, SwarmStatus{})
	if u.Window().Title() != "Potluck" {
		t.Errorf("title %q", u.Window().Title())
	}
	if n := u.library.tracks.list.Length(); n != 6 {
		t.Fatalf("library lists %d tracks, want the 6 demo tracks", n)
	}
	test.Type(u.library.search, "waltz")
	if n := u.library.tracks.list.Length(); n != 1 || u.library.shown[0].Title != "Kettle Hill Waltz" {
		t.Fatalf("search 'waltz' shows %d tracks: %v", n, u.library.shown)
	}
	u.library.search.SetText("lantern radio")
	if n := u.library.tracks.list.Length(); n != 1 {
		t.Errorf("search by track artist shows %d tracks, want 1", n)
	}
	// The album artist finds the whole album, the one track by another
	// artist included.
	u.library.search.SetText("potluck ensemble")
	if n := u.library.tracks.list.Length(); n != 6 {
		t.Errorf("search by album artist shows %d tracks, want 6", n)
	}
	u.library.search.SetText("no such thing")
	if n := u.library.tracks.list.Length(); n != 0 {
		t.Errorf("search for nothing shows %d", n)
	}
	u.library.search.SetText("")
	if n := u.library.tracks.list.Length(); n != 6 {
		t.Errorf("cleared search shows %d", n)
	}
}

func TestPlayAndPauseReachThePlayer(t *testing.T) {
	u, p := newTestUI(t, SwarmStatus{})
	// Space with nothing playing plays the first track of the library.
	press(u, fyne.KeySpace)
	if p.called("play") != 1 || p.State().Current != u.library.shown[0].ID {
		t.Fatalf("space with nothing playing: calls %v", p.calls)
	}
	u.refresh()
	if got := u.playing.title.Text; got != u.library.shown[0].Title {
		t.Errorf("now playing shows %q", got)
	}
	if !strings.Contains(u.Window().Title(), "Potluck") || !strings.Contains(u.Window().Title(), u.library.shown[0].Title) {
		t.Errorf("window title %q", u.Window().Title())
	}
	press(u, fyne.KeySpace)
	if p.called("toggle") != 1 || p.State().Playing {
		t.Fatal("space while playing did not pause")
	}
	test.Tap(u.playing.playPause)
	if p.called("toggle") != 2 || !p.State().Playing {
		t.Fatal("the play button did not resume")
	}
	// Select another row and double-tap it: it plays, and the rest of
	// the library is queued after it.
	u.library.tracks.list.Select(3)
	row := findRow(t, u, 3)
	test.DoubleTap(row)
	if p.State().Current != u.library.shown[3].ID {
		t.Fatal("double tap did not play the row's track")
	}
	if want := trackIDs(u.library.shown[4:]); !slices.Equal(p.State().Upcoming, want) {
		t.Fatalf("after a double tap on row 3 the queue is %v, want the rest of the library %v", p.State().Upcoming, want)
	}
	// Add to queue, then Play, with the buttons.
	u.library.tracks.list.Select(2)
	test.Tap(u.library.addBtn)
	if up := p.State().Upcoming; len(up) != 3 || up[2] != u.library.shown[2].ID {
		t.Fatalf("Add to queue: upcoming %v", up)
	}
	test.Tap(u.library.playBtn)
	if p.State().Current != u.library.shown[2].ID {
		t.Fatal("the Play button did not play the selected track")
	}
}

// press types a key on the window with no widget focused.
func press(u *UI, k fyne.KeyName) { u.Window().Canvas().OnTypedKey()(&fyne.KeyEvent{Name: k}) }

func findRow(t *testing.T, u *UI, index int) *trackRow {
	t.Helper()
	return findRowIn(t, u.Window().Content(), index)
}

func findRowIn(t *testing.T, root fyne.CanvasObject, index int) *trackRow {
	t.Helper()
	var found *trackRow
	var walk func(o fyne.CanvasObject)
	walk = func(o fyne.CanvasObject) {
		if r, ok := o.(*trackRow); ok && r.index == index {
			found = r
		}
		if c, ok := o.(*fyne.Container); ok {
			for _, ch := range c.Objects {
				walk(ch)
			}
		}
		if w, ok := o.(fyne.Widget); ok {
			if r := test.WidgetRenderer(w); r != nil {
				for _, ch := range r.Objects() {
					walk(ch)
				}
			}
		}
	}
	walk(root)
	if found == nil {
		t.Fatalf("row %d not rendered", index)
	}
	return found
}

func TestSeekSliderFollowsAndDrives(t *testing.T) {
	u, p := newTestUI(t, SwarmStatus{})
	p.Play(u.library.shown[0].ID)
	p.Seek(12 * time.Second)
	u.refresh()
	if v := u.playing.seek.Value; v != 12 {
		t.Fatalf("slider at %v, want 12 (following playback)", v)
	}
	if u.playing.elapsed.Text != "0:12" || u.playing.remaining.Text != "-0:48" {
		t.Errorf("times %q %q", u.playing.elapsed.Text, u.playing.remaining.Text)
	}
	calls := p.called("seek")
	// The listener drags the slider to 30 s.
	u.playing.seek.OnChanged(30)
	u.playing.seek.OnChangeEnded(30)
	if p.called("seek") != calls+1 || p.State().Position != 30*time.Second {
		t.Fatalf("dragging the slider did not seek: position %v", p.State().Position)
	}
	// Arrow keys seek too.
	press(u, fyne.KeyRight)
	if p.State().Position != 35*time.Second {
		t.Errorf("right arrow: position %v, want 35s", p.State().Position)
	}
	press(u, fyne.KeyLeft)
	press(u, fyne.KeyLeft)
	if p.State().Position != 25*time.Second {
		t.Errorf("left arrow: position %v, want 25s", p.State().Position)
	}
	// A refresh while not dragging moves the slider back to the player's position.
	u.refresh()
	if u.playing.seek.Value != 25 {
		t.Errorf("slider %v after refresh", u.playing.seek.Value)
	}
}

func TestQueueReorders(t *testing.T) {
	u, p := newTestUI(t, SwarmStatus{})
	ids := []track.ID{u.library.shown[0].ID, u.library.shown[1].ID, u.library.shown[2].ID}
	for _, id := range ids {
		p.Enqueue(id)
	}
	u.refresh()
	if u.queue.list.Length() != 3 {
		t.Fatalf("queue shows %d", u.queue.list.Length())
	}
	u.queue.list.Select(0)
	u.queue.move(+1)
	want := []track.ID{ids[1], ids[0], ids[2]}
	if got := p.State().Upcoming; !slices.Equal(got, want) {
		t.Fatalf("after moving the first down: %v, want %v", got, want)
	}
	if u.queue.selected != 1 {
		t.Errorf("selection did not follow the moved track: %d", u.queue.selected)
	}
	u.queue.list.Select(2)
	u.queue.move(-1)
	want = []track.ID{ids[1], ids[2], ids[0]}
	if got := p.State().Upcoming; !slices.Equal(got, want) {
		t.Fatalf("after moving the last up: %v, want %v", got, want)
	}
	test.Tap(u.queue.shuffle)
	u.queue.repeat.SetSelected("Repeat one")
	if st := p.State(); !st.Shuffle || st.Repeat != RepeatOne {
		t.Errorf("shuffle %v repeat %v", st.Shuffle, st.Repeat)
	}
	u.refresh()
	if u.queue.list.Length() != 3 {
		t.Errorf("queue shows %d after refresh", u.queue.list.Length())
	}
}

func TestSwarmPanelShowsTheSplit(t *testing.T) {
	u, _ := newTestUI(t, SwarmStatus{
		FromCache: 100 << 10, FromPeers: 600 << 10, FromOrigin: 100 << 10,
		Peers: []string{"abcd1234 10.0.0.2:7000", "efgh5678 10.0.0.3:7000"}, BytesServed: 3 << 20,
		BufferedAhead: 42 * time.Second, CacheUsed: 1 << 30, CacheLimit: 4 << 30, NodeID: "me",
	})
	u.refresh()
	if s := u.swarm.bar.Shares(); s != [3]float64{0.125, 0.75, 0.125} {
		t.Errorf("bar shares %v", s)
	}
	for _, want := range []string{"cache 12%", "peers 75%", "origin 12%"} {
		found := false
		for _, l := range u.swarm.legend {
			found = found || strings.HasPrefix(l.Text, want)
		}
		if !found {
			t.Errorf("legend lacks %q", want)
		}
	}
	if u.swarm.peers.Text != "2 peers connected" || !strings.Contains(u.swarm.served.Text, "3.0 MiB") ||
		!strings.Contains(u.swarm.buffered.Text, "0:42") || u.swarm.cache.Value != 0.25 {
		t.Errorf("panel: %q %q %q %v", u.swarm.peers.Text, u.swarm.served.Text, u.swarm.buffered.Text, u.swarm.cache.Value)
	}
	// The bar is drawn in those proportions.
	u.swarm.bar.Resize(fyne.NewSize(400, 28))
	test.WidgetRenderer(u.swarm.bar).Layout(fyne.NewSize(400, 28))
	if w := u.swarm.bar.parts[1].Size().Width; w != 300 {
		t.Errorf("peers part is %v wide of 400, want 300", w)
	}
}

func TestSettingsAreKept(t *testing.T) {
	u, _ := newTestUI(t, SwarmStatus{})
	v := u.settings
	v.cache.SetText("2GiB")
	v.upload.SetText("500KB")
	v.port.SetText("7700")
	if !v.background.Checked || v.notify.Checked {
		t.Errorf("defaults: background serving %v, notifications %v", v.background.Checked, v.notify.Checked)
	}
	v.background.SetChecked(false)
	v.notify.SetChecked(true)
	v.save()
	if !strings.HasPrefix(v.result.Text, "Saved") {
		t.Fatalf("save: %q", v.result.Text)
	}
	again, err := OpenSettings(u.deps.Settings.path)
	if err != nil {
		t.Fatal(err)
	}
	if s := again.Get(); s.CacheSize != "2GiB" || s.UploadLimit != "500KB" || s.ListenPort != 7700 ||
		s.ServesInBackground() || !s.NotifyTrackChange {
		t.Errorf("reopened settings %+v", s)
	}
	v.origin.SetText("not a url")
	v.save()
	if !strings.HasPrefix(v.result.Text, "Not saved") {
		t.Errorf("a bad origin URL was saved: %q", v.result.Text)
	}
	if again, _ := OpenSettings(u.deps.Settings.path); again.Get().OriginURL != "" {
		t.Error("the bad value reached the file")
	}
}

func TestCtrlFFocusesSearch(t *testing.T) {
	u, _ := newTestUI(t, SwarmStatus{})
	u.tabs.SelectIndex(2)
	u.Window().Canvas().(interface{ TypedShortcut(fyne.Shortcut) }).TypedShortcut(&desktop.CustomShortcut{KeyName: fyne.KeyF, Modifier: fyne.KeyModifierShortcutDefault})
	if u.Window().Canvas().Focused() != u.library.search || u.tabs.SelectedIndex() != 0 {
		t.Fatal("Ctrl+F did not focus the search box on the library")
	}
}
