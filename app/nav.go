package app

import (
	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/container"
	"fyne.io/fyne/v2/theme"
	"fyne.io/fyne/v2/widget"
)

// nav is a tab's stack of pages: a root (the album grid, the artists, the
// playlists) and the pages opened from it, each under a bar with a Back
// button and its title.
type nav struct {
	box   *fyne.Container
	root  fyne.CanvasObject
	pages []navPage
}

type navPage struct {
	title *widget.Label
	view  fyne.CanvasObject
	onPop func()
}

func newNav(root fyne.CanvasObject) *nav {
	return &nav{box: container.NewStack(root), root: root}
}

func (n *nav) content() fyne.CanvasObject { return n.box }

// push shows page on top, titled title; onPop (if not nil) is called
// when Back takes it away.
func (n *nav) push(page fyne.CanvasObject, title string, onPop func()) {
	label := widget.NewLabelWithStyle(title, fyne.TextAlignLeading, fyne.TextStyle{Bold: true})
	label.Truncation = fyne.TextTruncateEllipsis
	back := widget.NewButtonWithIcon("Back", theme.NavigateBackIcon(), n.back)
	view := container.NewBorder(container.NewBorder(nil, nil, back, nil, label), nil, nil, nil, page)
	n.pages = append(n.pages, navPage{title: label, view: view, onPop: onPop})
	n.show()
}

// back shows the page under the top one.
func (n *nav) back() {
	if len(n.pages) == 0 {
		return
	}
	top := n.pages[len(n.pages)-1]
	n.pages = n.pages[:len(n.pages)-1]
	if top.onPop != nil {
		top.onPop()
	}
	n.show()
}

// setTitle renames the top page.
func (n *nav) setTitle(title string) {
	if len(n.pages) > 0 {
		n.pages[len(n.pages)-1].title.SetText(title)
	}
}

func (n *nav) show() {
	top := n.root
	if len(n.pages) > 0 {
		top = n.pages[len(n.pages)-1].view
	}
	n.box.Objects = []fyne.CanvasObject{top}
	n.box.Refresh()
}
