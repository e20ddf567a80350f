package app

import (
	"fmt"
	"image/color"
	"strings"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/canvas"
	"fyne.io/fyne/v2/container"
	"fyne.io/fyne/v2/widget"
)

// Colours of the three sources, the same in the bar and its legend.
var (
	colorCache  = color.NRGBA{R: 0x4c, G: 0xaf, B: 0x50, A: 0xff} // green: free
	colorPeers  = color.NRGBA{R: 0x21, G: 0x96, B: 0xf3, A: 0xff} // blue: the swarm
	colorOrigin = color.NRGBA{R: 0xff, G: 0x98, B: 0x00, A: 0xff} // orange: the server
)

// swarmView shows, at a glance, where the playing track came from and what
// this node gives back.
type swarmView struct {
	u        *UI
	bar      *splitBar
	legend   [3]*widget.Label
	peers    *widget.Label
	peerList *widget.Label
	served   *widget.Label
	buffered *widget.Label
	cache    *widget.ProgressBar
	cacheTxt *widget.Label
	node     *widget.Label
	reach    *widget.Label
	serving  *widget.Label
	pins     *widget.Label
}

func newSwarmView(u *UI) *swarmView {
	v := &swarmView{u: u, bar: newSplitBar(),
		peers: widget.NewLabel("0 peers"), peerList: widget.NewLabel(""), served: widget.NewLabel(""),
		buffered: widget.NewLabel(""), cache: widget.NewProgressBar(), cacheTxt: widget.NewLabel(""),
		node: widget.NewLabel(""), reach: widget.NewLabel(""), serving: widget.NewLabel(""), pins: widget.NewLabel("Nothing pinned for offline."),
	}
	v.serving.Wrapping = fyne.TextWrapWord
	v.pins.Wrapping = fyne.TextWrapWord
	for i := range v.legend {
		v.legend[i] = widget.NewLabel("")
	}
	v.peerList.Wrapping = fyne.TextWrapWord
	v.reach.Wrapping = fyne.TextWrapWord
	return v
}

func (v *swarmView) content() fyne.CanvasObject {
	swatch := func(c color.Color) fyne.CanvasObject {
		r := canvas.NewRectangle(c)
		r.SetMinSize(fyne.NewSquareSize(14))
		return container.NewCenter(r)
	}
	legend := container.NewHBox(
		swatch(colorCache), v.legend[0], swatch(colorPeers), v.legend[1], swatch(colorOrigin), v.legend[2])
	heading := func(s string) *widget.Label {
		return widget.NewLabelWithStyle(s, fyne.TextAlignLeading, fyne.TextStyle{Bold: true})
	}
	return container.NewVScroll(container.NewVBox(
		heading("Where this track came from"),
		v.bar, legend,
		widget.NewSeparator(),
		heading("Giving back"),
		v.serving, v.served, v.buffered,
		container.NewBorder(nil, nil, widget.NewLabel("Cache"), v.cacheTxt, v.cache),
		widget.NewSeparator(),
		heading("Pinned for offline"),
		v.pins,
		widget.NewSeparator(),
		heading("Connected peers"),
		v.peers, v.reach, v.peerList, v.node,
	))
}

func (v *swarmView) render(s SwarmStatus) {
	v.bar.set(s.FromCache, s.FromPeers, s.FromOrigin)
	total := s.FromCache + s.FromPeers + s.FromOrigin
	for i, part := range []struct {
		name string
		n    int64
	}{{"cache", s.FromCache}, {"peers", s.FromPeers}, {"origin", s.FromOrigin}} {
		v.legend[i].SetText(fmt.Sprintf("%s %.0f%% (%s)", part.name, percent(part.n, total), size(part.n)))
	}
	v.peers.SetText(fmt.Sprintf("%d peers connected", len(s.Peers)))
	v.peerList.SetText(strings.Join(s.Peers, "\n"))
	v.reach.SetText(reachText(s))
	if s.Background {
		v.serving.SetText("The window is closed: Potluck keeps serving the swarm in the background. Quit from the tray icon.")
	} else if v.u.deps.Settings != nil && v.u.deps.Settings.Get().ServesInBackground() {
		v.serving.SetText("Closing the window keeps Potluck serving the swarm in the background (Settings).")
	} else {
		v.serving.SetText("Closing the window quits Potluck and stops serving the swarm (Settings).")
	}
	v.served.SetText("Served to other listeners: " + size(s.BytesServed))
	v.buffered.SetText("Buffered ahead: " + clock(s.BufferedAhead))
	if s.CacheLimit > 0 {
		v.cache.SetValue(float64(s.CacheUsed) / float64(s.CacheLimit))
	}
	v.cacheTxt.SetText(size(s.CacheUsed) + " of " + size(s.CacheLimit))
	if s.NodeID != "" {
		v.node.SetText("This node: " + s.NodeID)
	}
}

// reachText says how this node is reachable and how its peers were
// reached.
func reachText(s SwarmStatus) string {
	var how string
	switch s.Reach {
	case "public":
		how = "Other listeners can reach this node directly"
	case "port mapped":
		how = "Other listeners can reach this node: the router forwards its port"
	case "reachable after punching":
		how = "This node is behind a router; listeners reach it by hole punching"
	case "not reachable":
		how = "This node is behind a router that listeners cannot get through; it still fetches from them"
	default:
		how = "How other listeners reach this node is not known yet"
	}
	if s.PublicAddr != "" {
		how += " (seen as " + s.PublicAddr + ")"
	}
	return fmt.Sprintf("%s.\n%d direct, %d punched, %d on this network", how, s.DirectPeers, s.PunchedPeers, s.LANPeers)
}

// renderPins sums up the tracks pinned for offline play.
func (v *swarmView) renderPins(pins []PinProgress) {
	if len(pins) == 0 {
		v.pins.SetText("Nothing pinned for offline.")
		return
	}
	done, held, total := 0, 0, 0
	var errs []string
	for _, p := range pins {
		if p.Done {
			done++
		}
		held, total = held+p.Held, total+p.Total
		if p.Err != "" && !p.Done {
			name := "a track"
			if t, ok := v.u.info(p.ID); ok {
				name = t.Title
			}
			errs = append(errs, name+": "+p.Err)
		}
	}
	text := fmt.Sprintf("%d of %d pinned tracks held whole", done, len(pins))
	if total > 0 && done < len(pins) {
		text += fmt.Sprintf(" (%.0f%% of their chunks)", percent(int64(held), int64(total)))
	}
	if len(errs) > 0 {
		text += "\n" + strings.Join(errs[:min(len(errs), 3)], "\n")
	}
	v.pins.SetText(text)
}

// splitBar is a horizontal bar cut in three, one part per source.
type splitBar struct {
	widget.BaseWidget
	parts [3]*canvas.Rectangle
	n     [3]int64
	empty *canvas.Rectangle
}

func newSplitBar() *splitBar {
	b := &splitBar{empty: canvas.NewRectangle(color.NRGBA{A: 0x30})}
	for i, c := range []color.Color{colorCache, colorPeers, colorOrigin} {
		b.parts[i] = canvas.NewRectangle(c)
	}
	b.ExtendBaseWidget(b)
	return b
}

func (b *splitBar) set(cache, peers, origin int64) {
	if b.n == [3]int64{cache, peers, origin} {
		return
	}
	b.n = [3]int64{cache, peers, origin}
	b.Refresh()
}

// Shares returns the fraction of each source, as the bar draws it.
func (b *splitBar) Shares() [3]float64 {
	var out [3]float64
	total := b.n[0] + b.n[1] + b.n[2]
	for i := range out {
		out[i] = percent(b.n[i], total) / 100
	}
	return out
}

func (b *splitBar) CreateRenderer() fyne.WidgetRenderer {
	return &splitBarRenderer{b: b}
}

type splitBarRenderer struct{ b *splitBar }

func (r *splitBarRenderer) Layout(size fyne.Size) {
	r.b.empty.Resize(size)
	x := float32(0)
	for i, share := range r.b.Shares() {
		w := size.Width * float32(share)
		r.b.parts[i].Move(fyne.NewPos(x, 0))
		r.b.parts[i].Resize(fyne.NewSize(w, size.Height))
		x += w
	}
}

func (r *splitBarRenderer) MinSize() fyne.Size { return fyne.NewSize(200, 28) }
func (r *splitBarRenderer) Refresh()           { r.Layout(r.b.Size()); canvas.Refresh(r.b) }
func (r *splitBarRenderer) Destroy()           {}
func (r *splitBarRenderer) Objects() []fyne.CanvasObject {
	return []fyne.CanvasObject{r.b.empty, r.b.parts[0], r.b.parts[1], r.b.parts[2]}
}
