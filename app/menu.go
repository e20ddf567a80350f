package app

import (
	"fmt"
	"strings"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/dialog"
	"fyne.io/fyne/v2/widget"

	"github.com/potluckfm/potluck/track"
)

// trackMenu is what a right click on tracks offers: play, play next, add
// to the queue, like, add to a playlist, pin for offline, and the album.
// play plays the tracks in their context.
func (u *UI) trackMenu(ids []track.ID, play func()) *fyne.Menu {
	items := []*fyne.MenuItem{
		fyne.NewMenuItem("Play", play),
		fyne.NewMenuItem("Play next", func() { u.deps.Player.PlayNext(ids...) }),
		fyne.NewMenuItem("Add to queue", func() { u.deps.Player.Enqueue(ids...) }),
	}
	if pl := u.deps.Playlists; pl != nil {
		liked := true
		for _, id := range ids {
			liked = liked && pl.Liked(id)
		}
		like := fyne.NewMenuItem("Like", func() { u.like(ids, true) })
		if liked {
			like = fyne.NewMenuItem("Unlike", func() { u.like(ids, false) })
		}
		add := fyne.NewMenuItem("Add to playlist", nil)
		var sub []*fyne.MenuItem
		for _, p := range pl.List() {
			name := p.Name
			sub = append(sub, fyne.NewMenuItem(name, func() { u.addToPlaylist(name, ids) }))
		}
		sub = append(sub, fyne.NewMenuItem("New playlist…", func() { u.newPlaylist(ids) }))
		add.ChildMenu = fyne.NewMenu("", sub...)
		items = append(items, fyne.NewMenuItemSeparator(), like, add)
	}
	if u.deps.Offline != nil {
		items = append(items, fyne.NewMenuItem(u.pinLabel(ids), func() { u.togglePin(ids) }))
	}
	if m := u.catalogue(); m != nil && len(ids) == 1 {
		if a := m.AlbumOf(ids[0]); a != nil && !a.Unknown {
			items = append(items, fyne.NewMenuItemSeparator(), fyne.NewMenuItem("Go to album", func() { u.openAlbum(a) }))
		}
	}
	return fyne.NewMenu("", items...)
}

func (u *UI) like(ids []track.ID, on bool) {
	if err := u.deps.Playlists.LikeAll(on, ids...); err != nil {
		u.status.SetText("Could not save the like: " + err.Error())
		return
	}
	u.playlists.reload()
}

func (u *UI) addToPlaylist(name string, ids []track.ID) {
	if err := u.deps.Playlists.Add(name, ids...); err != nil {
		u.status.SetText("Could not add to the playlist: " + err.Error())
		return
	}
	u.playlists.reload()
}

// newPlaylist asks for a name and creates a playlist holding ids.
func (u *UI) newPlaylist(ids []track.ID) {
	name := widget.NewEntry()
	name.SetPlaceHolder("Playlist name")
	dialog.ShowForm("New playlist", "Create", "Cancel", []*widget.FormItem{widget.NewFormItem("Name", name)}, func(ok bool) {
		if !ok {
			return
		}
		if err := u.createPlaylist(name.Text); err != nil {
			dialog.ShowError(err, u.win)
			return
		}
		if len(ids) > 0 {
			u.addToPlaylist(name.Text, ids)
		}
		u.playlists.reload()
	}, u.win)
}

// createPlaylist creates a playlist; the name of the likes is taken.
func (u *UI) createPlaylist(name string) error {
	if strings.EqualFold(strings.TrimSpace(name), likedName) {
		return fmt.Errorf("%q is the name of your likes: choose another", likedName)
	}
	return u.deps.Playlists.Create(name)
}

// togglePin pins ids for offline play, or unpins them if they all are
// pinned, and says so if it cannot.
func (u *UI) togglePin(ids []track.ID) {
	if u.allPinned(ids) {
		if err := u.deps.Offline.Unpin(ids...); err != nil {
			u.status.SetText("Could not unpin: " + err.Error())
		}
		return
	}
	if err := u.deps.Offline.Pin(ids...); err != nil {
		u.status.SetText("Could not pin for offline: " + err.Error())
	}
}

func (u *UI) allPinned(ids []track.ID) bool {
	if u.deps.Offline == nil || len(ids) == 0 {
		return false
	}
	for _, id := range ids {
		if !u.deps.Offline.Pinned(id) {
			return false
		}
	}
	return true
}

// pinLabel says what pinning ids would do, or how far pinning them is.
func (u *UI) pinLabel(ids []track.ID) string {
	if !u.allPinned(ids) {
		return "Pin for offline"
	}
	u.mu.Lock()
	pins := u.lastPins
	u.mu.Unlock()
	want := map[track.ID]bool{}
	for _, id := range ids {
		want[id] = true
	}
	done, held, total := 0, 0, 0
	for _, p := range pins {
		if want[p.ID] {
			held, total = held+p.Held, total+p.Total
			if p.Done {
				done++
			}
		}
	}
	if done == len(ids) {
		return "Pinned for offline (unpin)"
	}
	if total == 0 {
		return "Pinning… (unpin)"
	}
	return fmt.Sprintf("Pinning %.0f%% (unpin)", percent(int64(held), int64(total)))
}
