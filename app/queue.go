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
	list     *widget.List
	upcoming []track.ID
	selected int
	shuffle  *widget.Check
	repeat   *widget.Select
	setting  bool
}

func newQueueView(u *UI) *queueView {
	q := &queueView{u: u, selected: -1}
	q.list = widget.NewList(
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
	q.shuffle = widget.NewCheck("Shuffle", func(on bool) {
		if !q.setting {
			u.deps.Player.SetShuffle(on)
		}
	})
	q.repeat = widget.NewSelect(repeatNames, func(s string) {
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
		if q.selected >= 0 {
			q.u.deps.Player.Remove(q.selected)
			q.list.UnselectAll()
		}
	})
	clear := widget.NewButtonWithIcon("Clear", theme.DeleteIcon(), func() { q.u.deps.Player.Clear() })
	bar := container.NewHBox(up, down, remove, clear, q.shuffle, q.repeat)
	return container.NewBorder(bar, nil, nil, nil, q.list)
}

// move shifts the selected track by delta places and keeps it selected.
func (q *queueView) move(delta int) {
	to := q.selected + delta
	if q.selected < 0 || to < 0 || to >= len(q.upcoming) {
		return
	}
	q.u.deps.Player.Move(q.selected, to)
	// Show the move at once; the next poll confirms it.
	q.upcoming[q.selected], q.upcoming[to] = q.upcoming[to], q.upcoming[q.selected]
	q.list.Refresh()
	q.list.Select(to)
}

func (q *queueView) render(st PlayerState) {
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
