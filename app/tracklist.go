package app

import (
	"fmt"
	"strings"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/canvas"
	"fyne.io/fyne/v2/container"
	"fyne.io/fyne/v2/driver/desktop"
	"fyne.io/fyne/v2/layout"
	"fyne.io/fyne/v2/theme"
	"fyne.io/fyne/v2/widget"

	"github.com/potluckfm/potluck/origin"
	"github.com/potluckfm/potluck/track"
)

// trackList is a list of tracks the listener plays from: the library, an
// album page, a playlist. A double tap (or Enter) plays a track with the
// whole list as its context; a click selects, Ctrl+click adds to the
// selection, Shift+click selects a range; a right click opens the track
// menu (play next, add to queue, like, add to a playlist, pin). The track
// playing is marked wherever it is listed.
type trackList struct {
	u      *UI
	list   *keyList
	tracks []origin.TrackInfo
	// numbered shows track numbers instead of covers (an album page).
	numbered bool
	// selected holds the selected rows; anchor is where a Shift+click
	// range starts.
	selected map[int]bool
	anchor   int
	// onSelect, if set, is told when the selection changes.
	onSelect func()
}

func newTrackList(u *UI, numbered bool) *trackList {
	l := &trackList{u: u, numbered: numbered, selected: map[int]bool{}, anchor: -1}
	l.list = newKeyList(u,
		func() int { return len(l.tracks) },
		func() fyne.CanvasObject { return newTrackRow(l) },
		func(i widget.ListItemID, o fyne.CanvasObject) { o.(*trackRow).set(i, l.tracks[i]) },
	)
	// The list's own selection is not used: rows draw ours.
	l.list.OnSelected = func(i widget.ListItemID) { l.list.Unselect(i); l.selectOnly(i) }
	l.list.move = func(delta int) {
		if len(l.tracks) == 0 {
			return
		}
		i := min(max(l.anchor+delta, 0), len(l.tracks)-1)
		l.selectOnly(i)
		l.list.ScrollTo(i)
	}
	l.list.enter = l.playSelected
	return l
}

// setTracks replaces the tracks shown and clears the selection.
func (l *trackList) setTracks(t []origin.TrackInfo) {
	l.tracks = t
	clear(l.selected)
	l.anchor = -1
	l.list.Refresh()
	l.changed()
}

func (l *trackList) ids() []track.ID { return trackIDs(l.tracks) }

// selection returns the selected tracks in list order.
func (l *trackList) selection() []track.ID {
	var out []track.ID
	for i, t := range l.tracks {
		if l.selected[i] {
			out = append(out, t.ID)
		}
	}
	return out
}

// first returns the first selected row, or -1.
func (l *trackList) first() int {
	for i := range l.tracks {
		if l.selected[i] {
			return i
		}
	}
	return -1
}

func (l *trackList) selectOnly(i int) {
	clear(l.selected)
	if i >= 0 && i < len(l.tracks) {
		l.selected[i] = true
	}
	l.anchor = i
	l.list.Refresh()
	l.changed()
}

func (l *trackList) toggle(i int) {
	if l.selected[i] {
		delete(l.selected, i)
	} else {
		l.selected[i] = true
	}
	l.anchor = i
	l.list.Refresh()
	l.changed()
}

func (l *trackList) extendTo(i int) {
	if l.anchor < 0 {
		l.selectOnly(i)
		return
	}
	clear(l.selected)
	for k := min(l.anchor, i); k <= max(l.anchor, i); k++ {
		l.selected[k] = true
	}
	l.list.Refresh()
	l.changed()
}

func (l *trackList) changed() {
	if l.onSelect != nil {
		l.onSelect()
	}
}

// play plays row i with the whole list as its context.
func (l *trackList) play(i int) {
	if i >= 0 && i < len(l.tracks) {
		l.u.deps.Player.PlayContext(l.ids(), i)
	}
}

// playSelected plays the first selected row, or the first row.
func (l *trackList) playSelected() { l.play(max(l.first(), 0)) }

// actionTargets are the tracks a menu or button acts on: the selection if
// row i is in it, else row i alone.
func (l *trackList) actionTargets(i int) []track.ID {
	if l.selected[i] && len(l.selected) > 1 {
		return l.selection()
	}
	return []track.ID{l.tracks[i].ID}
}

// trackRow is one line of a trackList.
type trackRow struct {
	widget.BaseWidget
	l      *trackList
	index  int
	bg     *canvas.Rectangle
	mark   *widget.Icon
	cover  *canvas.Image
	number *widget.Label
	title  *widget.Label
	detail *widget.Label
	length *widget.Label
	mods   fyne.KeyModifier // of the mouse press that makes the next tap
}

func newTrackRow(l *trackList) *trackRow {
	r := &trackRow{l: l, index: -1,
		bg:     canvas.NewRectangle(theme.Color(theme.ColorNameSelection)),
		mark:   widget.NewIcon(nil),
		cover:  canvas.NewImageFromResource(theme.MediaMusicIcon()),
		number: widget.NewLabel("00"),
		title:  widget.NewLabelWithStyle("", fyne.TextAlignLeading, fyne.TextStyle{Bold: true}),
		detail: widget.NewLabel(""),
		length: widget.NewLabel("00:00"), // wide enough for any m:ss
	}
	r.bg.Hide()
	r.cover.FillMode = canvas.ImageFillContain
	r.cover.SetMinSize(fyne.NewSquareSize(40))
	r.number.Alignment = fyne.TextAlignTrailing
	r.title.Truncation = fyne.TextTruncateEllipsis
	r.detail.Truncation = fyne.TextTruncateEllipsis
	r.ExtendBaseWidget(r)
	return r
}

func (r *trackRow) set(i int, t origin.TrackInfo) {
	r.index = i
	r.l.u.warm.drew(t.ID)
	r.title.SetText(t.Title)
	if r.l.numbered {
		r.number.SetText(trackNumber(t))
		r.detail.SetText(t.Artist)
	} else {
		r.detail.SetText(trackDetail(t))
		showCover(r.cover, r.l.u.cover(t.ID))
	}
	r.length.SetText(clock(durationMS(t.DurationMS)))
	st := r.l.u.playerState()
	switch {
	case st.Current != t.ID || st.Current.IsZero():
		r.mark.SetResource(nil)
		r.title.Importance = widget.MediumImportance
	case st.Playing:
		r.mark.SetResource(theme.MediaPlayIcon())
		r.title.Importance = widget.HighImportance
	default:
		r.mark.SetResource(theme.MediaPauseIcon())
		r.title.Importance = widget.HighImportance
	}
	// With the origin down, a track the cache does not hold is dimmed:
	// it plays only if another listener has it.
	detail := widget.MediumImportance
	if !r.l.u.playableNow(t.ID) {
		detail = widget.LowImportance
		if r.title.Importance == widget.MediumImportance {
			r.title.Importance = widget.LowImportance
		}
	}
	if r.detail.Importance != detail {
		r.detail.Importance = detail
		r.detail.Refresh()
	}
	r.title.Refresh()
	if r.l.selected[i] {
		r.bg.Show()
	} else {
		r.bg.Hide()
	}
}

// trackNumber is "1", "2-3" (disc 2) or "" (untagged).
func trackNumber(t origin.TrackInfo) string {
	if t.TrackNumber <= 0 {
		return ""
	}
	return fmt.Sprint(t.TrackNumber)
}

// trackDetail is "Artist — Album (Year)" with the missing parts left out.
func trackDetail(t origin.TrackInfo) string {
	var parts []string
	if t.Artist != "" {
		parts = append(parts, t.Artist)
	}
	if t.Album != "" {
		album := t.Album
		if t.Year > 0 {
			album += fmt.Sprintf(" (%d)", t.Year)
		}
		parts = append(parts, album)
	} else if t.Year > 0 {
		parts = append(parts, fmt.Sprint(t.Year))
	}
	return strings.Join(parts, " — ")
}

func (r *trackRow) CreateRenderer() fyne.WidgetRenderer {
	text := container.New(layout.NewGridLayoutWithColumns(2), r.title, r.detail)
	lead := container.NewHBox(r.mark, r.cover)
	if r.l.numbered {
		lead = container.NewHBox(r.mark, r.number)
	}
	return widget.NewSimpleRenderer(container.NewStack(r.bg, container.NewBorder(nil, nil, lead, r.length, text)))
}

// MouseDown keeps the modifiers of a click for the tap that follows.
func (r *trackRow) MouseDown(e *desktop.MouseEvent) { r.mods = e.Modifier }

// MouseUp is part of desktop.Mouseable.
func (r *trackRow) MouseUp(*desktop.MouseEvent) {}

// Tapped selects the row; with Ctrl it toggles the row in the selection,
// with Shift it selects the range from the last click.
func (r *trackRow) Tapped(*fyne.PointEvent) {
	if r.index < 0 {
		return
	}
	mods := r.mods
	r.mods = 0
	switch {
	case mods&fyne.KeyModifierShift != 0:
		r.l.extendTo(r.index)
	case mods&(fyne.KeyModifierControl|fyne.KeyModifierSuper) != 0:
		r.l.toggle(r.index)
	default:
		r.l.selectOnly(r.index)
	}
}

// DoubleTapped plays the row's track with its list as the context.
func (r *trackRow) DoubleTapped(*fyne.PointEvent) {
	if r.index >= 0 {
		r.l.selectOnly(r.index)
		r.l.play(r.index)
	}
}

// TappedSecondary opens the track menu for the row (or the selection it
// is part of).
func (r *trackRow) TappedSecondary(e *fyne.PointEvent) {
	if r.index < 0 {
		return
	}
	if !r.l.selected[r.index] {
		r.l.selectOnly(r.index)
	}
	i := r.index
	menu := r.l.u.trackMenu(r.l.actionTargets(i), func() { r.l.play(i) })
	widget.ShowPopUpMenuAtPosition(menu, fyne.CurrentApp().Driver().CanvasForObject(r), e.AbsolutePosition)
}
