package app

import (
	"time"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/driver/desktop"
)

// seekStep is how far the arrow keys seek.
const seekStep = 5 * time.Second

// bindKeys wires the keyboard: space plays or pauses, left and right seek,
// Ctrl+F focuses the search box, Enter plays the selected track. Keys typed
// into a focused entry go to the entry instead.
func (u *UI) bindKeys() {
	c := u.win.Canvas()
	c.SetOnTypedKey(func(e *fyne.KeyEvent) {
		switch e.Name {
		case fyne.KeySpace:
			u.playing.togglePause()
		case fyne.KeyLeft:
			u.seekBy(-seekStep)
		case fyne.KeyRight:
			u.seekBy(seekStep)
		case fyne.KeyReturn, fyne.KeyEnter:
			u.library.playSelected()
		}
	})
	c.AddShortcut(&desktop.CustomShortcut{KeyName: fyne.KeyF, Modifier: fyne.KeyModifierShortcutDefault}, func(fyne.Shortcut) {
		u.tabs.SelectIndex(0)
		c.Focus(u.library.search)
	})
}

func (u *UI) seekBy(d time.Duration) {
	st := u.deps.Player.State()
	if st.Current.IsZero() {
		return
	}
	u.deps.Player.Seek(min(max(st.Position+d, 0), st.Duration))
}
