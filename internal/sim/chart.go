package sim

import (
	"fmt"
	"image/color"
	"io"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
)

var (
	colOrigin   = color.RGBA{R: 0xd6, G: 0x27, B: 0x28, A: 0xff}
	colPeers    = color.RGBA{R: 0x1f, G: 0x77, B: 0xb4, A: 0xff}
	colBaseline = color.RGBA{R: 0x7f, G: 0x7f, B: 0x7f, A: 0xff}
	colServed   = color.RGBA{R: 0x2c, G: 0xa0, B: 0x2c, A: 0xff}
)

// WriteTimelineChart draws, as a PNG, the origin's egress and the traffic
// between peers over the run, in Mbit/s, and the baseline's origin egress
// if baseline is not nil.
func WriteTimelineChart(w io.Writer, p2p, baseline *Report) error {
	p := plot.New()
	p.Title.Text = fmt.Sprintf("Potluck swarm benchmark: %d listeners, %d tracks", p2p.Listeners, p2p.Tracks)
	p.X.Label.Text = "simulated time (minutes)"
	p.Y.Label.Text = "traffic (Mbit/s)"
	p.Y.Min = 0
	p.Legend.Top = true
	p.Add(plotter.NewGrid())
	rate := func(r *Report, bytes func(Sample) int64) plotter.XYs {
		var xys plotter.XYs
		prev := 0.0
		for _, s := range r.Timeline {
			if dt := s.T - prev; dt > 0 {
				xys = append(xys, plotter.XY{X: s.T / 60, Y: float64(bytes(s)) * 8 / dt / 1e6})
			}
			prev = s.T
		}
		return xys
	}
	add := func(name string, xys plotter.XYs, c color.Color, dashed bool) error {
		l, err := plotter.NewLine(xys)
		if err != nil {
			return err
		}
		l.Color = c
		l.Width = vg.Points(1.5)
		if dashed {
			l.Dashes = []vg.Length{vg.Points(4), vg.Points(3)}
		}
		p.Add(l)
		p.Legend.Add(name, l)
		return nil
	}
	if baseline != nil {
		if err := add("client-server: origin egress", rate(baseline, func(s Sample) int64 { return s.OriginBytes }), colBaseline, true); err != nil {
			return err
		}
	}
	if err := add("Potluck: origin egress", rate(p2p, func(s Sample) int64 { return s.OriginBytes }), colOrigin, false); err != nil {
		return err
	}
	if err := add("Potluck: peer-to-peer traffic", rate(p2p, func(s Sample) int64 { return s.PeerBytes }), colPeers, false); err != nil {
		return err
	}
	return save(p, w)
}

// ScalePoint is the origin's load at one swarm size, both modes.
type ScalePoint struct {
	Listeners int     `json:"listeners"`
	P2P       *Report `json:"p2p"`
	Baseline  *Report `json:"client_server"`
}

// mbps is the mean rate of bytes over the run, in Mbit/s.
func mbps(bytes int64, r *Report) float64 {
	if r.DurationS == 0 {
		return 0
	}
	return float64(bytes) * 8 / r.DurationS / 1e6
}

// WriteScalingChart draws, as a PNG, the origin's mean egress against the
// number of listeners, for Potluck and client-server.
func WriteScalingChart(w io.Writer, points []ScalePoint) error {
	p := plot.New()
	p.Title.Text = "Origin egress by swarm size"
	p.X.Label.Text = "listeners"
	p.Y.Label.Text = "traffic, mean over the run (Mbit/s)"
	p.X.Min, p.Y.Min = 0, 0
	p.Legend.Top = true
	p.Legend.Left = true
	p.Add(plotter.NewGrid())
	series := func(name string, get func(ScalePoint) *Report, bytes func(*Report) int64, c color.Color, shape draw.GlyphDrawer) error {
		var xys plotter.XYs
		for _, pt := range points {
			if r := get(pt); r != nil {
				xys = append(xys, plotter.XY{X: float64(pt.Listeners), Y: mbps(bytes(r), r)})
			}
		}
		if len(xys) == 0 {
			return nil
		}
		l, s, err := plotter.NewLinePoints(xys)
		if err != nil {
			return err
		}
		l.Color, s.Color, s.Shape = c, c, shape
		l.Width = vg.Points(1.5)
		p.Add(l, s)
		p.Legend.Add(name, l, s)
		return nil
	}
	egress := func(r *Report) int64 { return r.OriginEgressBytes }
	if err := series("client-server: origin egress", func(p ScalePoint) *Report { return p.Baseline }, egress, colBaseline, draw.BoxGlyph{}); err != nil {
		return err
	}
	if err := series("Potluck: origin egress", func(p ScalePoint) *Report { return p.P2P }, egress, colOrigin, draw.CircleGlyph{}); err != nil {
		return err
	}
	if err := series("Potluck: peer-to-peer traffic (wire)", func(p ScalePoint) *Report { return p.P2P },
		func(r *Report) int64 { return r.PeerTrafficBytes }, colPeers, draw.TriangleGlyph{}); err != nil {
		return err
	}
	if err := series("Potluck: chunk bytes peers uploaded", func(p ScalePoint) *Report { return p.P2P },
		func(r *Report) int64 { return r.PeerServedBytes }, colServed, draw.PyramidGlyph{}); err != nil {
		return err
	}
	return save(p, w)
}

func save(p *plot.Plot, w io.Writer) error {
	wt, err := p.WriterTo(8*vg.Inch, 4.5*vg.Inch, "png")
	if err != nil {
		return err
	}
	_, err = wt.WriteTo(w)
	return err
}
