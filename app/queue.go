package app

import (
	"slices"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/container"
	"fyne.io/fyne/v2/theme"
	"fyne.io/fyne/v2/widget"

	"github.com/potluckfm/potluck/track"
)

var repeatNames = []string{"Repeat off", "Repeat all", "Repeat one"}

// queueView shows the upcoming tracks and edits the queue.
type queueView struct {
	u        *UI
	current  *widget.Label // the playing track, above what comes next
	list     *keyList
	upcoming []track.ID
	selected int
	shuffle  *keyCheck
	repeat   *keySelect
	setting  bool
}

func newQueueView(u *UI) *queueView {
	q := &queueView{u: u, selected: -1}
	q.current = widget.NewLabelWithStyle("Nothing playing", fyne.TextAlignLeading, fyne.TextStyle{Bold: true})
	q.current.Importance = widget.HighImportance
	q.current.Truncation = fyne.TextTruncateEllipsis
	q.list = newKeyList(u,
		func() int { return len(q.upcoming) },
		func() fyne.CanvasObject { return widget.NewLabel("") },
		func(i widget.ListItemID, o fyne.CanvasObject) {
			label := q.upcoming[i].String()
			if t, ok := u.info(q.upcoming[i]); ok {
				label = t.Title + " — " + t.Artist
			}
			o.(*widget.Label).SetText(label)
		},
	)
	q.list.OnSelected = func(i widget.ListItemID) { q.selected = i }
	q.list.OnUnselected = func(widget.ListItemID) { q.selected = -1 }
	q.shuffle = newKeyCheck(u, "Shuffle", func(on bool) {
		if !q.setting {
			u.deps.Player.SetShuffle(on)
		}
	})
	q.repeat = newKeySelect(u, repeatNames, func(s string) {
		if !q.setting {
			u.deps.Player.SetRepeat(Repeat(slices.Index(repeatNames, s)))
		}
	})
	return q
}

func (q *queueView) content() fyne.CanvasObject {
	up := widget.NewButtonWithIcon("Up", theme.MoveUpIcon(), func() { q.move(-1) })
	down := widget.NewButtonWithIcon("Down", theme.MoveDownIcon(), func() { q.move(+1) })
	remove := widget.NewButtonWithIcon("Remove", theme.ContentRemoveIcon(), func() {
		if q.selected >= 0 && q.selected < len(q.upcoming) {
			q.u.deps.Player.Remove(q.selected, q.upcoming[q.selected])
			q.list.UnselectAll()
		}
	})
	clear := widget.NewButtonWithIcon("Clear", theme.DeleteIcon(), func() { q.u.deps.Player.Clear() })
	bar := container.NewHBox(up, down, remove, clear, q.shuffle, q.repeat)
	head := container.NewVBox(bar, container.NewBorder(nil, nil, widget.NewIcon(theme.MediaPlayIcon()), nil, q.current),
		widget.NewLabelWithStyle("Next up", fyne.TextAlignLeading, fyne.TextStyle{Italic: true}))
	return container.NewBorder(head, nil, nil, nil, q.list)
}

// move shifts the selected track by delta places and keeps it selected.
func (q *queueView) move(delta int) {
	to := q.selected + delta
	if q.selected < 0 || q.selected >= len(q.upcoming) || to < 0 || to >= len(q.upcoming) {
		return
	}
	q.u.deps.Player.Move(q.selected, to, q.upcoming[q.selected])
	// Show the move at once; the next poll confirms it.
	q.upcoming[q.selected], q.upcoming[to] = q.upcoming[to], q.upcoming[q.selected]
	q.list.Refresh()
	q.list.Select(to)
}

func (q *queueView) render(st PlayerState) {
	switch t, ok := q.u.info(st.Current); {
	case st.Current.IsZero():
		q.current.SetText("Nothing playing")
	case ok:
		q.current.SetText("Now playing: " + t.Title + " — " + t.Artist)
	}
	if !slices.Equal(q.upcoming, st.Upcoming) {
		q.upcoming = slices.Clone(st.Upcoming)
		if q.selected >= len(q.upcoming) {
			q.list.UnselectAll()
		}
		q.list.Refresh()
	}
	q.setting = true
	q.shuffle.SetChecked(st.Shuffle)
	q.repeat.SetSelectedIndex(int(st.Repeat))
	q.setting = false
}
