package app

import (
	"fmt"
	"image"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/canvas"
	"fyne.io/fyne/v2/container"
	"fyne.io/fyne/v2/theme"
	"fyne.io/fyne/v2/widget"

	"github.com/potluckfm/potluck/origin"
	"github.com/potluckfm/potluck/track"
)

// albumsView is the album grid (covers, titles, album artists); tapping an
// album opens its page.
type albumsView struct {
	u      *UI
	nav    *nav
	grid   *widget.GridWrap
	albums []*Album
	page   *albumPage   // the page on top, if any
	under  []*albumPage // the pages under it, which Back shows again
}

func newAlbumsView(u *UI) *albumsView {
	v := &albumsView{u: u}
	v.grid = newAlbumGrid(u, func() []*Album { return v.albums }, v.open)
	v.nav = newNav(v.grid)
	return v
}

func (v *albumsView) content() fyne.CanvasObject { return v.nav.content() }

func (v *albumsView) setModel(m *Model) {
	v.albums = m.Albums()
	v.grid.Refresh()
}

// open shows an album's page.
func (v *albumsView) open(a *Album) {
	if v.page != nil {
		v.under = append(v.under, v.page)
	}
	v.page = newAlbumPage(v.u, a)
	v.nav.push(v.page.content(), a.Title, func() {
		v.page = nil
		if n := len(v.under); n > 0 {
			v.page, v.under = v.under[n-1], v.under[:n-1]
			v.page.tracks.list.Refresh()
			v.page.renderPin()
		}
	})
}

// Open shows the album's page on the Albums tab.
func (u *UI) openAlbum(a *Album) {
	u.tabs.SelectIndex(1)
	u.albums.open(a)
}

func (v *albumsView) coverLoaded() {
	v.grid.Refresh()
	if v.page != nil {
		v.page.coverLoaded()
	}
}

func (v *albumsView) refreshTracks() {
	if v.page != nil {
		v.page.tracks.list.Refresh()
	}
}

func (v *albumsView) pinsChanged() {
	if v.page != nil {
		v.page.renderPin()
	}
}

// newAlbumGrid is a grid of album cards; a tap on one calls open.
func newAlbumGrid(u *UI, albums func() []*Album, open func(*Album)) *widget.GridWrap {
	return widget.NewGridWrap(
		func() int { return len(albums()) },
		func() fyne.CanvasObject { return newAlbumCard(u, open) },
		func(i widget.GridWrapItemID, o fyne.CanvasObject) { o.(*albumCard).set(albums()[i]) },
	)
}

// albumCard is one album in a grid: cover, title, album artist and year.
type albumCard struct {
	widget.BaseWidget
	u      *UI
	open   func(*Album)
	album  *Album
	cover  *canvas.Image
	title  *widget.Label
	artist *widget.Label
}

func newAlbumCard(u *UI, open func(*Album)) *albumCard {
	c := &albumCard{u: u, open: open,
		cover:  canvas.NewImageFromResource(theme.MediaMusicIcon()),
		title:  widget.NewLabelWithStyle("", fyne.TextAlignLeading, fyne.TextStyle{Bold: true}),
		artist: widget.NewLabel(""),
	}
	c.cover.FillMode = canvas.ImageFillContain
	c.cover.SetMinSize(fyne.NewSquareSize(180))
	c.title.Truncation = fyne.TextTruncateEllipsis
	c.artist.Truncation = fyne.TextTruncateEllipsis
	c.ExtendBaseWidget(c)
	return c
}

func (c *albumCard) set(a *Album) {
	c.album = a
	c.title.SetText(a.Title)
	c.artist.SetText(albumByline(a))
	var cover image.Image
	if !a.Cover.IsZero() {
		cover = c.u.cover(a.Cover)
	}
	showCover(c.cover, cover)
}

// albumByline is "Artist · Year".
func albumByline(a *Album) string {
	if a.Year > 0 {
		return fmt.Sprintf("%s · %d", a.Artist, a.Year)
	}
	return a.Artist
}

func (c *albumCard) CreateRenderer() fyne.WidgetRenderer {
	return widget.NewSimpleRenderer(container.NewBorder(nil, container.NewVBox(c.title, c.artist), nil, nil, c.cover))
}

// Tapped opens the album.
func (c *albumCard) Tapped(*fyne.PointEvent) {
	if c.album != nil {
		c.open(c.album)
	}
}

// TappedSecondary opens the menu of the album's tracks.
func (c *albumCard) TappedSecondary(e *fyne.PointEvent) {
	if c.album == nil {
		return
	}
	a := c.album
	menu := c.u.trackMenu(albumIDs(a), func() { c.u.deps.Player.PlayContext(albumIDs(a), 0) })
	widget.ShowPopUpMenuAtPosition(menu, fyne.CurrentApp().Driver().CanvasForObject(c), e.AbsolutePosition)
}

func albumIDs(a *Album) []track.ID { return trackIDs(a.Tracks) }

func trackIDs(ts []origin.TrackInfo) []track.ID {
	out := make([]track.ID, len(ts))
	for i, t := range ts {
		out[i] = t.ID
	}
	return out
}

// albumPage is one album: cover, title, artist, year, length, the tracks
// with their numbers and durations, and what to do with them.
type albumPage struct {
	u      *UI
	album  *Album
	cover  *canvas.Image
	tracks *trackList
	pin    *widget.Button
}

func newAlbumPage(u *UI, a *Album) *albumPage {
	p := &albumPage{u: u, album: a, cover: canvas.NewImageFromResource(theme.MediaMusicIcon())}
	p.cover.FillMode = canvas.ImageFillContain
	p.cover.SetMinSize(fyne.NewSquareSize(160))
	p.coverLoaded()
	p.tracks = newTrackList(u, true)
	p.tracks.setTracks(a.Tracks)
	return p
}

func (p *albumPage) content() fyne.CanvasObject {
	a := p.album
	title := widget.NewLabelWithStyle(a.Title, fyne.TextAlignLeading, fyne.TextStyle{Bold: true})
	title.SizeName = theme.SizeNameSubHeadingText
	title.Truncation = fyne.TextTruncateEllipsis
	facts := fmt.Sprintf("%d tracks, %s", len(a.Tracks), longClock(a.Duration))
	ids := albumIDs(a)
	play := widget.NewButtonWithIcon("Play", theme.MediaPlayIcon(), func() { p.u.deps.Player.PlayContext(ids, 0) })
	play.Importance = widget.HighImportance
	next := widget.NewButtonWithIcon("Play next", theme.MediaSkipNextIcon(), func() { p.u.deps.Player.PlayNext(ids...) })
	add := widget.NewButtonWithIcon("Add to queue", theme.ContentAddIcon(), func() { p.u.deps.Player.Enqueue(ids...) })
	p.pin = widget.NewButtonWithIcon("Pin for offline", theme.DownloadIcon(), p.togglePin)
	p.renderPin()
	buttons := container.NewHBox(play, next, add)
	if p.u.deps.Offline != nil {
		buttons.Add(p.pin)
	}
	head := container.NewBorder(nil, nil, p.cover, nil,
		container.NewVBox(title, widget.NewLabel(albumByline(a)), widget.NewLabel(facts), buttons))
	return container.NewBorder(head, nil, nil, nil, p.tracks.list)
}

func (p *albumPage) coverLoaded() {
	if !p.album.Cover.IsZero() {
		if c := p.u.cover(p.album.Cover); c != nil {
			showCover(p.cover, c)
		}
	}
}

// togglePin pins the whole album, or unpins it if it is pinned already.
func (p *albumPage) togglePin() {
	p.u.togglePin(albumIDs(p.album))
	p.renderPin()
}

func (p *albumPage) renderPin() {
	if p.pin == nil || p.u.deps.Offline == nil {
		return
	}
	p.pin.SetText(p.u.pinLabel(albumIDs(p.album)))
}

// artistsView lists album artists; tapping one shows its albums.
type artistsView struct {
	u       *UI
	nav     *nav
	list    *keyList
	artists []*Artist
	playAll *widget.Button // on the artist's page, once open
}

func newArtistsView(u *UI) *artistsView {
	v := &artistsView{u: u}
	v.list = newKeyList(u,
		func() int { return len(v.artists) },
		func() fyne.CanvasObject {
			name := widget.NewLabelWithStyle("", fyne.TextAlignLeading, fyne.TextStyle{Bold: true})
			return container.NewBorder(nil, nil, nil, widget.NewLabel(""), name)
		},
		func(i widget.ListItemID, o fyne.CanvasObject) {
			a := v.artists[i]
			c := o.(*fyne.Container)
			c.Objects[0].(*widget.Label).SetText(a.Name)
			c.Objects[1].(*widget.Label).SetText(fmt.Sprintf("%s, %s", plural(len(a.Albums), "album"), plural(a.Tracks, "track")))
		},
	)
	v.list.OnSelected = func(i widget.ListItemID) {
		v.list.Unselect(i)
		v.open(v.artists[i])
	}
	v.nav = newNav(v.list)
	return v
}

func (v *artistsView) content() fyne.CanvasObject { return v.nav.content() }

func (v *artistsView) setModel(m *Model) {
	v.artists = m.Artists()
	v.list.Refresh()
}

// open shows an artist's albums, with a button that plays them all.
func (v *artistsView) open(a *Artist) {
	var ids []track.ID
	for _, al := range a.Albums {
		ids = append(ids, albumIDs(al)...)
	}
	v.playAll = widget.NewButtonWithIcon("Play all", theme.MediaPlayIcon(), func() { v.u.deps.Player.PlayContext(ids, 0) })
	grid := newAlbumGrid(v.u, func() []*Album { return a.Albums }, v.u.openAlbum)
	v.nav.push(container.NewBorder(container.NewHBox(v.playAll), nil, nil, nil, grid), a.Name, nil)
}

func plural(n int, what string) string {
	if n == 1 {
		return "1 " + what
	}
	return fmt.Sprintf("%d %ss", n, what)
}
