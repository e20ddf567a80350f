package app

import (
	"time"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/driver/desktop"
	"fyne.io/fyne/v2/widget"
)

// seekStep is how far the arrow keys seek.
const seekStep = 5 * time.Second

// bindKeys wires the keyboard: space plays or pauses, left and right seek,
// Ctrl+F focuses the search box, Enter plays the selected track, Ctrl+W
// closes the window, Ctrl+Q quits. Keys typed
// into a focused entry go to the entry instead. Other widgets that take
// focus when clicked (the shuffle box, the sliders, the lists) are built
// with the key-forwarding types below, so a click never steals these keys.
func (u *UI) bindKeys() {
	c := u.win.Canvas()
	c.SetOnTypedKey(func(e *fyne.KeyEvent) { u.typedKey(e) })
	c.AddShortcut(&desktop.CustomShortcut{KeyName: fyne.KeyF, Modifier: fyne.KeyModifierShortcutDefault}, func(fyne.Shortcut) {
		u.tabs.SelectIndex(0)
		c.Focus(u.library.search)
	})
	// Ctrl+W does what the window's close button does; Ctrl+Q quits.
	c.AddShortcut(&desktop.CustomShortcut{KeyName: fyne.KeyW, Modifier: fyne.KeyModifierShortcutDefault}, func(fyne.Shortcut) {
		u.closeWindow()
	})
	c.AddShortcut(&desktop.CustomShortcut{KeyName: fyne.KeyQ, Modifier: fyne.KeyModifierShortcutDefault}, func(fyne.Shortcut) {
		u.Quit()
	})
}

// typedKey handles the player's keys; it reports whether k was one.
func (u *UI) typedKey(e *fyne.KeyEvent) bool {
	switch e.Name {
	case fyne.KeySpace:
		u.playing.togglePause()
	case fyne.KeyLeft:
		u.seekBy(-seekStep)
	case fyne.KeyRight:
		u.seekBy(seekStep)
	case fyne.KeyReturn, fyne.KeyEnter:
		if u.tabs.SelectedIndex() == 0 {
			u.library.playSelected()
		}
	default:
		return false
	}
	return true
}

func (u *UI) seekBy(d time.Duration) {
	st := u.deps.Player.State()
	if st.Current.IsZero() {
		return
	}
	u.deps.Player.Seek(min(max(st.Position+d, 0), st.Duration))
}

// keyCheck is a check box that leaves the player's keys to the player: a
// focused widget.Check would toggle itself on space.
type keyCheck struct {
	widget.Check
	u *UI
}

func newKeyCheck(u *UI, label string, changed func(bool)) *keyCheck {
	c := &keyCheck{u: u}
	c.Text, c.OnChanged = label, changed
	c.ExtendBaseWidget(c)
	return c
}

func (c *keyCheck) TypedKey(e *fyne.KeyEvent) { c.u.typedKey(e) }
func (c *keyCheck) TypedRune(rune)            {}

// keySlider is a slider that leaves the player's keys to the player: a
// focused widget.Slider would move by its step on left and right.
type keySlider struct {
	widget.Slider
	u *UI
}

func newKeySlider(u *UI, lo, hi float64) *keySlider {
	s := &keySlider{u: u}
	s.Min, s.Max, s.Step = lo, hi, 1
	s.Orientation = widget.Horizontal
	s.ExtendBaseWidget(s)
	return s
}

func (s *keySlider) TypedKey(e *fyne.KeyEvent) { s.u.typedKey(e) }
func (s *keySlider) TypedRune(rune)            {}

// keySelect is a drop-down that leaves the player's keys to the player.
type keySelect struct {
	widget.Select
	u *UI
}

func newKeySelect(u *UI, options []string, changed func(string)) *keySelect {
	s := &keySelect{u: u}
	s.Options, s.OnChanged = options, changed
	s.ExtendBaseWidget(s)
	return s
}

func (s *keySelect) TypedKey(e *fyne.KeyEvent) { s.u.typedKey(e) }
func (s *keySelect) TypedRune(rune)            {}

// keyList is a list whose arrow keys up and down move through it, whose
// Enter acts on it, and whose other keys are the player's.
type keyList struct {
	widget.List
	u *UI
	// move, if set, moves the selection by delta rows (a track list's own
	// selection); else up and down move the list's focus ring.
	move func(delta int)
	// enter, if set, is what Enter does with the list focused; else
	// Enter opens the row under the focus ring.
	enter func()
}

func newKeyList(u *UI, length func() int, create func() fyne.CanvasObject, update func(widget.ListItemID, fyne.CanvasObject)) *keyList {
	l := &keyList{u: u}
	l.Length, l.CreateItem, l.UpdateItem = length, create, update
	l.ExtendBaseWidget(l)
	return l
}

func (l *keyList) TypedKey(e *fyne.KeyEvent) {
	switch e.Name {
	case fyne.KeyUp, fyne.KeyDown:
		if l.move == nil {
			l.List.TypedKey(e)
		} else if e.Name == fyne.KeyUp {
			l.move(-1)
		} else {
			l.move(+1)
		}
	case fyne.KeyReturn, fyne.KeyEnter:
		if l.enter != nil {
			l.enter()
		} else {
			l.List.TypedKey(&fyne.KeyEvent{Name: fyne.KeySpace}) // selects the focused row
		}
	default:
		l.u.typedKey(e)
	}
}
