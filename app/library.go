package app

import (
	"strings"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/canvas"
	"fyne.io/fyne/v2/container"
	"fyne.io/fyne/v2/layout"
	"fyne.io/fyne/v2/theme"
	"fyne.io/fyne/v2/widget"

	"github.com/potluckfm/potluck/origin"
)

// libraryView lists the catalogue with a search box that filters as you type.
type libraryView struct {
	u        *UI
	search   *widget.Entry
	list     *widget.List
	all      []origin.TrackInfo
	shown    []origin.TrackInfo
	selected int
	playBtn  *widget.Button
	addBtn   *widget.Button
}

func newLibraryView(u *UI) *libraryView {
	v := &libraryView{u: u, selected: -1}
	v.search = widget.NewEntry()
	v.search.SetPlaceHolder("Search title, artist, album, genre (Ctrl+F)")
	v.search.OnChanged = func(string) { v.filter() }
	v.search.OnSubmitted = func(string) {
		if len(v.shown) > 0 {
			v.play(0)
		}
	}
	v.list = widget.NewList(
		func() int { return len(v.shown) },
		func() fyne.CanvasObject { return newTrackRow(v) },
		func(i widget.ListItemID, o fyne.CanvasObject) { o.(*trackRow).set(i, v.shown[i]) },
	)
	v.list.OnSelected = func(i widget.ListItemID) { v.selected = i }
	v.list.OnUnselected = func(widget.ListItemID) { v.selected = -1 }
	return v
}

func (v *libraryView) content() fyne.CanvasObject {
	v.playBtn = widget.NewButtonWithIcon("Play", theme.MediaPlayIcon(), func() {
		if v.selected >= 0 {
			v.play(v.selected)
		}
	})
	v.addBtn = widget.NewButtonWithIcon("Add to queue", theme.ContentAddIcon(), func() {
		if v.selected >= 0 && v.selected < len(v.shown) {
			v.u.deps.Player.Enqueue(v.shown[v.selected].ID)
		}
	})
	bar := container.NewBorder(nil, nil, nil, container.NewHBox(v.playBtn, v.addBtn), v.search)
	return container.NewBorder(bar, nil, nil, nil, v.list)
}

func (v *libraryView) setTracks(t []origin.TrackInfo) {
	v.all = t
	v.filter()
}

// filter shows the tracks matching every word of the search box.
func (v *libraryView) filter() {
	words := strings.Fields(strings.ToLower(v.search.Text))
	v.shown = v.shown[:0]
	for _, t := range v.all {
		hay := strings.ToLower(t.Title + "\n" + t.Artist + "\n" + t.Album + "\n" + t.Genre)
		match := true
		for _, w := range words {
			match = match && strings.Contains(hay, w)
		}
		if match {
			v.shown = append(v.shown, t)
		}
	}
	v.list.UnselectAll()
	v.selected = -1
	v.list.Refresh()
}

func (v *libraryView) play(i int) {
	if i >= 0 && i < len(v.shown) {
		v.u.deps.Player.Play(v.shown[i].ID)
	}
}

// playSelected plays the selected track, or the first one shown.
func (v *libraryView) playSelected() {
	if v.selected >= 0 {
		v.play(v.selected)
	} else {
		v.play(0)
	}
}

// trackRow is one line of the library; a double tap plays it.
type trackRow struct {
	widget.BaseWidget
	v      *libraryView
	index  int
	cover  *canvas.Image
	title  *widget.Label
	detail *widget.Label
	length *widget.Label
}

func newTrackRow(v *libraryView) *trackRow {
	r := &trackRow{v: v, index: -1,
		cover:  canvas.NewImageFromResource(theme.MediaMusicIcon()),
		title:  widget.NewLabelWithStyle("", fyne.TextAlignLeading, fyne.TextStyle{Bold: true}),
		detail: widget.NewLabel(""),
		length: widget.NewLabel("00:00"), // wide enough for any m:ss
	}
	r.cover.FillMode = canvas.ImageFillContain
	r.cover.SetMinSize(fyne.NewSquareSize(40))
	r.title.Truncation = fyne.TextTruncateEllipsis
	r.detail.Truncation = fyne.TextTruncateEllipsis
	r.ExtendBaseWidget(r)
	return r
}

func (r *trackRow) set(i int, t origin.TrackInfo) {
	r.index = i
	r.title.SetText(t.Title)
	r.detail.SetText(strings.TrimPrefix(t.Artist+" — "+t.Album, " — "))
	r.length.SetText(clock(durationMS(t.DurationMS)))
	if c := r.v.u.cover(t.ID); c != nil {
		r.cover.Resource = c
	} else {
		r.cover.Resource = theme.MediaMusicIcon()
	}
	r.cover.Refresh()
}

func (r *trackRow) CreateRenderer() fyne.WidgetRenderer {
	text := container.New(layout.NewGridLayoutWithColumns(2), r.title, r.detail)
	return widget.NewSimpleRenderer(container.NewBorder(nil, nil, r.cover, r.length, text))
}

// Tapped selects the row (the list's own selection follows taps on rows
// that are not tappable themselves, so it is forwarded).
func (r *trackRow) Tapped(*fyne.PointEvent) {
	if r.index >= 0 {
		r.v.list.Select(r.index)
	}
}

// DoubleTapped plays the row's track.
func (r *trackRow) DoubleTapped(*fyne.PointEvent) {
	if r.index >= 0 {
		r.v.list.Select(r.index)
		r.v.play(r.index)
	}
}
