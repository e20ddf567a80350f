package app

import (
	"errors"
	"fmt"
	"io"
	"strings"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/container"
	"fyne.io/fyne/v2/dialog"
	"fyne.io/fyne/v2/storage"
	"fyne.io/fyne/v2/theme"
	"fyne.io/fyne/v2/widget"

	"github.com/potluckfm/potluck/origin"
	"github.com/potluckfm/potluck/track"
)

// likedName is how the likes are listed among the playlists.
const likedName = "Liked songs"

// playlistsView lists "Liked songs" and the listener's playlists; tapping
// one opens its page.
type playlistsView struct {
	u     *UI
	nav   *nav
	list  *keyList
	names []string // likedName first
	page  *playlistPage
}

func newPlaylistsView(u *UI) *playlistsView {
	v := &playlistsView{u: u}
	v.list = newKeyList(u,
		func() int { return len(v.names) },
		func() fyne.CanvasObject {
			return container.NewBorder(nil, nil, nil, widget.NewLabel(""), widget.NewLabelWithStyle("", fyne.TextAlignLeading, fyne.TextStyle{Bold: true}))
		},
		func(i widget.ListItemID, o fyne.CanvasObject) {
			c := o.(*fyne.Container)
			c.Objects[0].(*widget.Label).SetText(v.names[i])
			c.Objects[1].(*widget.Label).SetText(plural(len(u.known(v.trackIDs(v.names[i]))), "track"))
		},
	)
	v.list.OnSelected = func(i widget.ListItemID) {
		v.list.Unselect(i)
		v.open(v.names[i])
	}
	newBtn := widget.NewButtonWithIcon("New playlist", theme.ContentAddIcon(), func() { u.newPlaylist(nil) })
	root := container.NewBorder(container.NewHBox(newBtn), nil, nil, nil, v.list)
	if u.deps.Playlists == nil {
		root = container.NewCenter(widget.NewLabel("Playlists are not available."))
	}
	v.nav = newNav(root)
	return v
}

func (v *playlistsView) content() fyne.CanvasObject { return v.nav.content() }

// trackIDs are the tracks of a playlist (or the likes), in order.
func (v *playlistsView) trackIDs(name string) []track.ID {
	pl := v.u.deps.Playlists
	if pl == nil {
		return nil
	}
	if name == likedName {
		return pl.Likes()
	}
	p, _ := pl.Get(name)
	return p.Tracks
}

// known are the tracks of ids the catalogue knows, in order.
func (u *UI) known(ids []track.ID) []origin.TrackInfo {
	var out []origin.TrackInfo
	for _, id := range ids {
		if t, ok := u.info(id); ok {
			out = append(out, t)
		}
	}
	return out
}

// reload reads the playlists again after a change.
func (v *playlistsView) reload() {
	pl := v.u.deps.Playlists
	if pl == nil {
		return
	}
	v.names = []string{likedName}
	for _, p := range pl.List() {
		v.names = append(v.names, p.Name)
	}
	v.list.Refresh()
	if v.page != nil {
		v.page.reload()
	}
}

func (v *playlistsView) open(name string) {
	if v.page != nil {
		v.nav.back() // one playlist page at a time
	}
	v.page = newPlaylistPage(v.u, name)
	v.nav.push(v.page.content(), name, func() { v.page = nil })
}

func (v *playlistsView) refreshTracks() {
	if v.page != nil {
		v.page.tracks.list.Refresh()
	}
}

func (v *playlistsView) pinsChanged() {
	if v.page != nil {
		v.page.renderPin()
	}
}

// playlistPage is one playlist (or the likes): its tracks, play, pin,
// export, rename, delete, and removing the selected tracks.
type playlistPage struct {
	u      *UI
	name   string
	tracks *trackList
	// at[i] is the index in the playlist of row i (rows skip tracks the
	// catalogue no longer has).
	at  []int
	pin *widget.Button
}

func newPlaylistPage(u *UI, name string) *playlistPage {
	p := &playlistPage{u: u, name: name, tracks: newTrackList(u, false)}
	p.reload()
	return p
}

func (p *playlistPage) reload() {
	var rows []origin.TrackInfo
	p.at = p.at[:0]
	for i, id := range p.u.playlists.trackIDs(p.name) {
		if t, ok := p.u.info(id); ok {
			rows = append(rows, t)
			p.at = append(p.at, i)
		}
	}
	p.tracks.setTracks(rows)
	p.renderPin()
}

func (p *playlistPage) content() fyne.CanvasObject {
	play := widget.NewButtonWithIcon("Play", theme.MediaPlayIcon(), func() { p.tracks.play(0) })
	play.Importance = widget.HighImportance
	p.pin = widget.NewButtonWithIcon("Pin for offline", theme.DownloadIcon(), func() {
		p.u.togglePin(p.tracks.ids())
		p.renderPin()
	})
	p.renderPin()
	remove := widget.NewButtonWithIcon("Remove", theme.ContentRemoveIcon(), p.removeSelected)
	export := widget.NewButtonWithIcon("Export", theme.DocumentSaveIcon(), p.exportDialog)
	bar := container.NewHBox(play)
	if p.u.deps.Offline != nil {
		bar.Add(p.pin)
	}
	bar.Add(remove)
	bar.Add(export)
	if p.name != likedName {
		bar.Add(widget.NewButtonWithIcon("Rename", theme.DocumentCreateIcon(), p.renameDialog))
		bar.Add(widget.NewButtonWithIcon("Delete", theme.DeleteIcon(), func() {
			dialog.ShowConfirm("Delete playlist", "Delete “"+p.name+"”? Its tracks stay in the library.", func(ok bool) {
				if ok {
					if err := p.u.deps.Playlists.Delete(p.name); err != nil {
						dialog.ShowError(err, p.u.win)
						return
					}
					p.u.playlists.nav.back()
					p.u.playlists.reload()
				}
			}, p.u.win)
		}))
	}
	return container.NewBorder(bar, nil, nil, nil, p.tracks.list)
}

func (p *playlistPage) renderPin() {
	if p.pin != nil && p.u.deps.Offline != nil {
		p.pin.SetText(p.u.pinLabel(p.tracks.ids()))
	}
}

// removeSelected takes the selected rows out of the playlist (or the
// likes); another copy of the same track elsewhere in the playlist stays.
func (p *playlistPage) removeSelected() {
	pl := p.u.deps.Playlists
	var rows []int
	for i := range p.tracks.tracks {
		if p.tracks.selected[i] {
			rows = append(rows, i)
		}
	}
	if len(rows) == 0 {
		return
	}
	var err error
	if p.name == likedName {
		var ids []track.ID
		for _, i := range rows {
			ids = append(ids, p.tracks.tracks[i].ID)
		}
		err = pl.LikeAll(false, ids...)
	} else {
		// From the end, so the indexes still hold.
		for k := len(rows) - 1; k >= 0; k-- {
			err = errors.Join(err, pl.Remove(p.name, p.at[rows[k]]))
		}
	}
	if err != nil {
		p.u.status.SetText("Could not change the playlist: " + err.Error())
	}
	p.u.playlists.reload()
}

func (p *playlistPage) renameDialog() {
	name := widget.NewEntry()
	name.SetText(p.name)
	dialog.ShowForm("Rename playlist", "Rename", "Cancel", []*widget.FormItem{widget.NewFormItem("Name", name)}, func(ok bool) {
		if !ok || name.Text == p.name {
			return
		}
		if strings.EqualFold(strings.TrimSpace(name.Text), likedName) {
			dialog.ShowError(fmt.Errorf("%q is the name of your likes: choose another", likedName), p.u.win)
			return
		}
		if err := p.u.deps.Playlists.Rename(p.name, name.Text); err != nil {
			dialog.ShowError(err, p.u.win)
			return
		}
		p.name = name.Text
		p.u.playlists.nav.setTitle(p.name)
		p.u.playlists.reload()
	}, p.u.win)
}

// exportDialog asks where to save the playlist; the file name's extension
// (.m3u, .m3u8 or .xspf) picks the format.
func (p *playlistPage) exportDialog() {
	d := dialog.NewFileSave(func(w fyne.URIWriteCloser, err error) {
		if err != nil || w == nil {
			return
		}
		err = p.export(w, w.URI().Extension())
		if cerr := w.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			dialog.ShowError(err, p.u.win)
		}
	}, p.u.win)
	d.SetFileName(p.name + ".m3u8")
	d.SetFilter(storage.NewExtensionFileFilter([]string{".m3u", ".m3u8", ".xspf"}))
	d.Show()
}

// export writes the playlist as XSPF (ext ".xspf") or extended M3U.
func (p *playlistPage) export(w io.Writer, ext string) error {
	loc := p.u.deps.Location
	if loc == nil {
		loc = TrackURI
	}
	tracks := p.u.known(p.u.playlists.trackIDs(p.name))
	if strings.EqualFold(ext, ".xspf") {
		return WriteXSPF(w, p.name, tracks, loc)
	}
	return WriteM3U(w, p.name, tracks, loc)
}
