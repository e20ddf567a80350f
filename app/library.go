package app

import (
	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/container"
	"fyne.io/fyne/v2/theme"
	"fyne.io/fyne/v2/widget"

	"github.com/potluckfm/potluck/origin"
)

// libraryView lists the catalogue with a search box that filters as you
// type, ignoring case and accents and matching years. Playing a track from
// it queues the rest of what is shown (the search results, or the whole
// library) after it.
type libraryView struct {
	u      *UI
	search *widget.Entry
	tracks *trackList
	all    []origin.TrackInfo
	// shown is what the list shows (tracks.tracks), kept by name for tests.
	shown   []origin.TrackInfo
	playBtn *widget.Button
	nextBtn *widget.Button
	addBtn  *widget.Button
}

func newLibraryView(u *UI) *libraryView {
	v := &libraryView{u: u}
	v.search = widget.NewEntry()
	v.search.SetPlaceHolder("Search title, artist, album, genre, year (Ctrl+F)")
	v.search.OnChanged = func(string) { v.filter() }
	v.search.OnSubmitted = func(string) {
		if len(v.shown) > 0 {
			v.tracks.play(0)
		}
	}
	v.tracks = newTrackList(u, false)
	return v
}

func (v *libraryView) content() fyne.CanvasObject {
	v.playBtn = widget.NewButtonWithIcon("Play", theme.MediaPlayIcon(), v.playSelected)
	v.nextBtn = widget.NewButtonWithIcon("Play next", theme.MediaSkipNextIcon(), func() {
		if ids := v.tracks.selection(); len(ids) > 0 {
			v.u.deps.Player.PlayNext(ids...)
		}
	})
	v.addBtn = widget.NewButtonWithIcon("Add to queue", theme.ContentAddIcon(), func() {
		if ids := v.tracks.selection(); len(ids) > 0 {
			v.u.deps.Player.Enqueue(ids...)
		}
	})
	bar := container.NewBorder(nil, nil, nil, container.NewHBox(v.playBtn, v.nextBtn, v.addBtn), v.search)
	return container.NewBorder(bar, nil, nil, nil, v.tracks.list)
}

func (v *libraryView) setTracks(t []origin.TrackInfo) {
	v.all = t
	v.filter()
}

// filter shows the tracks matching every word of the search box.
func (v *libraryView) filter() {
	if m := v.u.catalogue(); m != nil {
		v.shown = m.Search(v.search.Text)
	} else {
		v.shown = nil
	}
	v.tracks.setTracks(v.shown)
}

// playSelected plays the selected track, or the first one shown.
func (v *libraryView) playSelected() { v.tracks.playSelected() }
