package app

import (
	"bytes"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/test"
	"fyne.io/fyne/v2/widget"

	"github.com/potluckfm/potluck/track"
)

// memOffline is the Offline of the UI tests: pins held in memory, each
// pinned track half fetched until done is called. (The real one,
// swarm.Keeper, is tested over real QUIC in package swarm.)
type memOffline struct {
	mu   sync.Mutex
	pins []track.ID
	done map[track.ID]bool
}

func (o *memOffline) Pin(ids ...track.ID) error {
	o.mu.Lock()
	defer o.mu.Unlock()
	for _, id := range ids {
		if !slices.Contains(o.pins, id) {
			o.pins = append(o.pins, id)
		}
	}
	return nil
}
func (o *memOffline) Unpin(ids ...track.ID) error {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.pins = slices.DeleteFunc(o.pins, func(id track.ID) bool { return slices.Contains(ids, id) })
	return nil
}
func (o *memOffline) Pinned(id track.ID) bool {
	o.mu.Lock()
	defer o.mu.Unlock()
	return slices.Contains(o.pins, id)
}
func (o *memOffline) Progress() []PinProgress {
	o.mu.Lock()
	defer o.mu.Unlock()
	var out []PinProgress
	for _, id := range o.pins {
		p := PinProgress{ID: id, Held: 5, Total: 10}
		if o.done[id] {
			p.Held, p.Done = 10, true
		}
		out = append(out, p)
	}
	return out
}
func (o *memOffline) finish(id track.ID) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.done == nil {
		o.done = map[track.ID]bool{}
	}
	o.done[id] = true
}

func TestAlbumsAndTheAlbumPage(t *testing.T) {
	u, p := newTestUI(t, SwarmStatus{})
	if n := u.albums.grid.Length(); n != 1 {
		t.Fatalf("the album grid shows %d albums, want the demo album", n)
	}
	album := u.albums.albums[0]
	if album.Title != "Potluck Demo Sessions" || album.Artist != "The Potluck Ensemble" || len(album.Tracks) != 6 {
		t.Fatalf("album %q by %q with %d tracks", album.Title, album.Artist, len(album.Tracks))
	}
	u.openAlbum(album)
	page := u.albums.page
	if page == nil || page.tracks.list.Length() != 6 {
		t.Fatal("the album page does not list the album's tracks")
	}
	// Track numbers, in order.
	for i, tr := range page.tracks.tracks {
		if tr.TrackNumber != i+1 {
			t.Errorf("row %d is track number %d", i, tr.TrackNumber)
		}
	}
	page.tracks.list.Resize(fyne.NewSize(900, 500))
	row := findRowIn(t, page.tracks.list, 2)
	if row.number.Text != "3" || row.length.Text != clock(durationMS(page.tracks.tracks[2].DurationMS)) {
		t.Errorf("row 3 shows number %q and length %q", row.number.Text, row.length.Text)
	}
	// Double tap plays the track with the album as the context.
	test.DoubleTap(row)
	st := p.State()
	if st.Current != album.Tracks[2].ID || !slices.Equal(st.Upcoming, albumIDs(album)[3:]) {
		t.Fatalf("playing row 3 of the album: current %v, upcoming %v", st.Current, st.Upcoming)
	}
	// The playing track is marked on the album page and in the library.
	u.refresh()
	row = findRowIn(t, page.tracks.list, 2)
	if row.mark.Resource == nil || row.title.Importance != widget.HighImportance {
		t.Error("the playing track is not marked on the album page")
	}
	if other := findRowIn(t, page.tracks.list, 1); other.mark.Resource != nil {
		t.Error("a track not playing is marked")
	}
	if !strings.Contains(u.queue.current.Text, album.Tracks[2].Title) {
		t.Errorf("the queue says %q", u.queue.current.Text)
	}
}

func TestArtistsFileCompilationsUnderTheAlbumArtist(t *testing.T) {
	u, p := newTestUI(t, SwarmStatus{})
	// Marigold Static is by Lantern Radio on the Potluck Ensemble's album:
	// one artist, the album artist.
	if len(u.artists.artists) != 1 || u.artists.artists[0].Name != "The Potluck Ensemble" {
		t.Fatalf("artists %v", u.artists.artists)
	}
	u.artists.list.Select(0)
	if len(p.calls) != 0 {
		t.Fatalf("opening an artist played: %v", p.calls)
	}
	// The artist's page plays all its albums.
	test.Tap(u.artists.playAll)
	if st := p.State(); !slices.Equal(append([]track.ID{st.Current}, st.Upcoming...), albumIDs(u.albums.albums[0])) {
		t.Errorf("Play all: %v then %v", st.Current, st.Upcoming)
	}
}

func TestSearchIgnoresAccentsAndFindsYears(t *testing.T) {
	u, _ := newTestUI(t, SwarmStatus{})
	u.library.search.SetText("KÉTTLE")
	if n := u.library.tracks.list.Length(); n != 1 {
		t.Errorf("'KÉTTLE' finds %d tracks, want Kettle Hill Waltz", n)
	}
	year := u.library.all[0].Year
	if year == 0 {
		t.Fatal("the demo library has no year")
	}
	u.library.search.SetText(fmt.Sprintf("waltz %d", year))
	if n := u.library.tracks.list.Length(); n != 1 {
		t.Errorf("'waltz %d' finds %d tracks, want 1", year, n)
	}
	u.library.search.SetText(fmt.Sprintf("waltz %d", year-7))
	if n := u.library.tracks.list.Length(); n != 0 {
		t.Errorf("'waltz %d' finds %d tracks, want none", year-7, n)
	}
}

func TestPlayNextAndAddToQueueTakeASelection(t *testing.T) {
	u, p := newTestUI(t, SwarmStatus{})
	lib := u.library.shown
	p.PlayContext([]track.ID{lib[0].ID, lib[1].ID}, 0)
	// Select rows 3 and 5 (Ctrl+click) and 2 to 3 ... plain, ctrl, shift.
	l := u.library.tracks
	l.selectOnly(3)
	l.toggle(5)
	test.Tap(u.library.nextBtn)
	if want := []track.ID{lib[3].ID, lib[5].ID, lib[1].ID}; !slices.Equal(p.State().Upcoming, want) {
		t.Fatalf("play next of rows 3 and 5: upcoming %v, want %v", p.State().Upcoming, want)
	}
	l.selectOnly(2)
	l.extendTo(4)
	test.Tap(u.library.addBtn)
	up := p.State().Upcoming
	if want := []track.ID{lib[2].ID, lib[3].ID, lib[4].ID}; !slices.Equal(up[len(up)-3:], want) {
		t.Fatalf("add rows 2 to 4: upcoming %v", up)
	}
	// The album page's buttons take the whole album.
	u.openAlbum(u.albums.albums[0])
	before := len(p.State().Upcoming)
	u.deps.Player.Enqueue(albumIDs(u.albums.albums[0])...)
	if len(p.State().Upcoming) != before+6 {
		t.Errorf("adding the album queued %d tracks", len(p.State().Upcoming)-before)
	}
}

// TestKeysStayWithThePlayer: once a check box, slider, drop-down or list
// has focus (a click gives it), space still plays or pauses and the arrows
// still seek; the widget does not take them.
func TestKeysStayWithThePlayer(t *testing.T) {
	u, p := newTestUI(t, SwarmStatus{})
	c := u.Window().Canvas()
	p.PlayContext([]track.ID{u.library.shown[0].ID}, 0)
	p.Seek(20e9)
	u.refresh()
	typeKey := func(k fyne.KeyName) {
		f := c.Focused()
		if f == nil {
			t.Fatal("nothing has focus")
		}
		f.TypedKey(&fyne.KeyEvent{Name: k})
		if k == fyne.KeySpace {
			f.TypedRune(' ')
		}
	}
	u.tabs.SelectIndex(4)
	c.Focus(u.queue.shuffle)
	typeKey(fyne.KeySpace)
	if u.queue.shuffle.Checked || p.called("shuffle") != 0 || p.called("toggle") != 1 {
		t.Errorf("space on the focused shuffle box: checked %v, calls %v", u.queue.shuffle.Checked, p.calls)
	}
	c.Focus(u.playing.seek)
	typeKey(fyne.KeyRight)
	if pos := p.State().Position; pos != 25e9 {
		t.Errorf("right on the focused seek slider: position %v, want 25s", pos)
	}
	c.Focus(u.playing.volume)
	typeKey(fyne.KeyLeft)
	if v := p.State().Volume; v != 1 || p.State().Position != 20e9 {
		t.Errorf("left on the focused volume slider: volume %v, position %v", v, p.State().Position)
	}
	u.tabs.SelectIndex(0)
	c.Focus(u.library.tracks.list)
	typeKey(fyne.KeySpace)
	if p.called("toggle") != 2 {
		t.Errorf("space on the focused library list: calls %v", p.calls)
	}
	// Typing in the search box is typing.
	c.Focus(u.library.search)
	test.Type(u.library.search, "a b")
	if u.library.search.Text != "a b" || p.called("toggle") != 2 {
		t.Errorf("typing in the search box: %q, calls %v", u.library.search.Text, p.calls)
	}
}

func TestPlaylistsAndLikes(t *testing.T) {
	u, p := newTestUI(t, SwarmStatus{})
	lib := u.library.shown
	if err := u.createPlaylist("Road trip"); err != nil {
		t.Fatal(err)
	}
	if err := u.createPlaylist("liked SONGS"); err == nil {
		t.Error("a playlist took the name of the likes")
	}
	u.addToPlaylist("Road trip", []track.ID{lib[4].ID, lib[1].ID})
	u.like([]track.ID{lib[2].ID}, true)
	if got := u.playlists.names; !slices.Equal(got, []string{likedName, "Road trip"}) {
		t.Fatalf("playlists listed %v", got)
	}
	u.playlists.open("Road trip")
	page := u.playlists.page
	if !slices.Equal(page.tracks.ids(), []track.ID{lib[4].ID, lib[1].ID}) {
		t.Fatalf("the playlist page lists %v", page.tracks.ids())
	}
	page.tracks.play(0)
	if st := p.State(); st.Current != lib[4].ID || !slices.Equal(st.Upcoming, []track.ID{lib[1].ID}) {
		t.Errorf("playing the playlist: %v then %v", st.Current, st.Upcoming)
	}
	var m3u, xspf bytes.Buffer
	if err := page.export(&m3u, ".m3u8"); err != nil {
		t.Fatal(err)
	}
	if err := page.export(&xspf, ".xspf"); err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(m3u.String(), "#EXTM3U") || !strings.Contains(m3u.String(), lib[4].Title) ||
		!strings.Contains(xspf.String(), "<playlist") || !strings.Contains(xspf.String(), lib[1].Title) {
		t.Errorf("exports:\n%s\n%s", m3u.String(), xspf.String())
	}
	// The likes are a context too; the menu says Unlike for a liked track.
	u.playlists.open(likedName)
	if !slices.Equal(u.playlists.page.tracks.ids(), []track.ID{lib[2].ID}) {
		t.Fatalf("likes list %v", u.playlists.page.tracks.ids())
	}
	if menu := u.trackMenu([]track.ID{lib[2].ID}, func() {}); !hasItem(menu, "Unlike") {
		t.Error("the menu of a liked track has no Unlike")
	}
	// Kept across restarts.
	again, err := OpenPlaylists(u.deps.Playlists.path)
	if err != nil {
		t.Fatal(err)
	}
	if pl, ok := again.Get("Road trip"); !ok || len(pl.Tracks) != 2 || !again.Liked(lib[2].ID) {
		t.Errorf("reopened: %v %v", pl, again.Likes())
	}
}

func hasItem(m *fyne.Menu, label string) bool {
	for _, it := range m.Items {
		if it.Label == label {
			return true
		}
	}
	return false
}

func TestPinAnAlbumShowsProgress(t *testing.T) {
	u, _ := newTestUI(t, SwarmStatus{})
	off := u.deps.Offline.(*memOffline)
	album := u.albums.albums[0]
	u.openAlbum(album)
	page := u.albums.page
	if page.pin.Text != "Pin for offline" {
		t.Fatalf("pin button %q", page.pin.Text)
	}
	test.Tap(page.pin)
	for _, id := range albumIDs(album) {
		if !off.Pinned(id) {
			t.Fatal("tapping Pin did not pin every track of the album")
		}
	}
	u.refresh()
	if page.pin.Text != "Pinning 50% (unpin)" {
		t.Errorf("pin button while fetching: %q", page.pin.Text)
	}
	if !strings.Contains(u.swarm.pins.Text, "0 of 6 pinned tracks held whole") {
		t.Errorf("swarm screen: %q", u.swarm.pins.Text)
	}
	for _, id := range albumIDs(album) {
		off.finish(id)
	}
	u.refresh()
	if page.pin.Text != "Pinned for offline (unpin)" || !strings.Contains(u.swarm.pins.Text, "6 of 6") {
		t.Errorf("pin button when done: %q; swarm %q", page.pin.Text, u.swarm.pins.Text)
	}
	test.Tap(page.pin)
	if off.Pinned(album.Tracks[0].ID) {
		t.Error("tapping again did not unpin")
	}
}

func TestClosingTheWindowKeepsServing(t *testing.T) {
	u, _ := newTestUI(t, SwarmStatus{})
	told := make(chan string, 4)
	u.deps.Notify = func(title, body string) { told <- title + ": " + body }
	u.Window().Show()
	u.closeWindow()
	if !u.Hidden() {
		t.Fatal("closing the window with background serving on (the default) did not keep the app")
	}
	if s := <-told; !strings.Contains(s, "still running") {
		t.Errorf("the first close told the listener %q", s)
	}
	u.ShowWindow()
	u.closeWindow()
	select {
	case s := <-told:
		t.Errorf("the second close notified again: %q", s)
	case <-time.After(100 * time.Millisecond):
	}
	u.refresh()
	if !strings.Contains(u.swarm.serving.Text, "keeps serving the swarm in the background") {
		t.Errorf("swarm screen says %q", u.swarm.serving.Text)
	}
	u.ShowWindow()
	if u.Hidden() {
		t.Error("the window did not come back")
	}
	// The tray menu offers the window, play/pause, next and quit.
	menu := u.TrayMenu()
	for _, want := range []string{"Show Potluck", "Play / Pause", "Next", "Quit"} {
		if !hasItem(menu, want) {
			t.Errorf("the tray menu lacks %q", want)
		}
	}
	off := false
	s := u.deps.Settings.Get()
	s.BackgroundServing = &off
	if err := u.deps.Settings.Save(s); err != nil {
		t.Fatal(err)
	}
	u.refresh()
	if !strings.Contains(u.swarm.serving.Text, "quits Potluck") {
		t.Errorf("swarm screen with background serving off says %q", u.swarm.serving.Text)
	}
}

func TestErrorsNameTheTrackAndClear(t *testing.T) {
	u, p := newTestUI(t, SwarmStatus{})
	lib := u.library.shown
	p.mu.Lock()
	p.st.Err, p.st.ErrTrack = errors.New("neither the origin nor any listener who has it can be reached right now"), lib[3].ID
	p.mu.Unlock()
	u.refresh()
	if got := u.status.Text; !strings.Contains(got, "“"+lib[3].Title+"”") || strings.Contains(got, lib[3].ID.String()) {
		t.Errorf("status %q", got)
	}
	p.mu.Lock()
	p.st.Err = nil
	p.mu.Unlock()
	u.refresh()
	if u.status.Text != "" {
		t.Errorf("the error stayed after its cause cleared: %q", u.status.Text)
	}
}

func TestNotificationOnTrackChangeIsOptIn(t *testing.T) {
	u, p := newTestUI(t, SwarmStatus{})
	got := make(chan string, 4)
	u.deps.Notify = func(title, body string) { got <- title }
	lib := u.library.shown
	p.PlayContext([]track.ID{lib[0].ID, lib[1].ID}, 0)
	u.refresh()
	select {
	case s := <-got:
		t.Fatalf("notified %q with notifications off (the default)", s)
	default:
	}
	s := u.deps.Settings.Get()
	s.NotifyTrackChange = true
	u.deps.Settings.Save(s)
	p.Next()
	u.refresh()
	if s := <-got; s != lib[1].Title {
		t.Errorf("notified %q, want %q", s, lib[1].Title)
	}
}

// TestTrackListKeys: up and down move the selection of a focused track
// list, and Enter plays it, on an album page as in the library.
func TestTrackListKeys(t *testing.T) {
	u, p := newTestUI(t, SwarmStatus{})
	album := u.albums.albums[0]
	u.openAlbum(album)
	l := u.albums.page.tracks
	l.selectOnly(0)
	l.list.TypedKey(&fyne.KeyEvent{Name: fyne.KeyDown})
	l.list.TypedKey(&fyne.KeyEvent{Name: fyne.KeyDown})
	l.list.TypedKey(&fyne.KeyEvent{Name: fyne.KeyUp})
	if got := l.selection(); len(got) != 1 || got[0] != album.Tracks[1].ID {
		t.Fatalf("after down, down, up the selection is %v", got)
	}
	l.list.TypedKey(&fyne.KeyEvent{Name: fyne.KeyReturn})
	if st := p.State(); st.Current != album.Tracks[1].ID || len(st.Upcoming) != len(album.Tracks)-2 {
		t.Errorf("Enter played %v then %d more", st.Current, len(st.Upcoming))
	}
}

// TestRemovingFromAPlaylistTakesTheRow: a track twice in a playlist loses
// only the copy removed.
func TestRemovingFromAPlaylistTakesTheRow(t *testing.T) {
	u, _ := newTestUI(t, SwarmStatus{})
	lib := u.library.shown
	pl := u.deps.Playlists
	pl.Create("Twice")
	pl.Add("Twice", lib[0].ID, lib[1].ID, lib[0].ID)
	u.playlists.reload()
	u.playlists.open("Twice")
	page := u.playlists.page
	page.tracks.selectOnly(2)
	page.removeSelected()
	got, _ := pl.Get("Twice")
	if want := []track.ID{lib[0].ID, lib[1].ID}; !slices.Equal(got.Tracks, want) {
		t.Fatalf("after removing row 2: %v, want %v", got.Tracks, want)
	}
	if !slices.Equal(page.tracks.ids(), got.Tracks) {
		t.Errorf("the page shows %v", page.tracks.ids())
	}
	// Likes in one write, most recent first.
	if err := pl.LikeAll(true, lib[3].ID, lib[4].ID); err != nil {
		t.Fatal(err)
	}
	if got := pl.Likes(); !slices.Equal(got, []track.ID{lib[3].ID, lib[4].ID}) {
		t.Errorf("likes %v", got)
	}
}
