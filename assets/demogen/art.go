package main

import (
	"bytes"
	"fmt"
	"image"
	"image/color"
	"image/png"
	"math"
	"math/rand/v2"
	"os"
	"strings"
)

// This file draws the cover art and the application icon: a tiny
// anti-aliased vector canvas, a handful of shapes, a 5×7 pixel font and one
// motif per song.

const coverSize = 320

// canvas is an NRGBA image painted with anti-aliased shapes: each pixel is
// sampled ss×ss times and the covered share is blended over what is there.
type canvas struct {
	img *image.NRGBA
	ss  int
}

func newCanvas(size, ss int) *canvas {
	return &canvas{img: image.NewNRGBA(image.Rect(0, 0, size, size)), ss: ss}
}

// shape reports whether a point, in pixel coordinates, is inside.
type shape func(x, y float64) bool

// fill paints a shape in a colour.
func (c *canvas) fill(s shape, col color.NRGBA) { c.fillIn(c.img.Bounds(), s, col) }

// fillIn paints the part of a shape that lies within r.
func (c *canvas) fillIn(r image.Rectangle, s shape, col color.NRGBA) {
	r = r.Intersect(c.img.Bounds())
	step := 1 / float64(c.ss)
	for y := r.Min.Y; y < r.Max.Y; y++ {
		for x := r.Min.X; x < r.Max.X; x++ {
			hits := 0
			for sy := 0; sy < c.ss; sy++ {
				for sx := 0; sx < c.ss; sx++ {
					if s(float64(x)+(float64(sx)+0.5)*step, float64(y)+(float64(sy)+0.5)*step) {
						hits++
					}
				}
			}
			if hits > 0 {
				c.blend(x, y, col, float64(hits)/float64(c.ss*c.ss))
			}
		}
	}
}

// blend composites col, at the given coverage, over pixel (x, y).
func (c *canvas) blend(x, y int, col color.NRGBA, coverage float64) {
	a := coverage * float64(col.A) / 255
	if a == 0 {
		return
	}
	dst := c.img.NRGBAAt(x, y)
	da := float64(dst.A) / 255
	oa := a + da*(1-a)
	mix := func(s, d uint8) uint8 {
		return uint8(math.Round((float64(s)*a + float64(d)*da*(1-a)) / oa))
	}
	c.img.SetNRGBA(x, y, color.NRGBA{mix(col.R, dst.R), mix(col.G, dst.G), mix(col.B, dst.B), uint8(math.Round(oa * 255))})
}

// gradient fills the canvas top to bottom from one colour to another in a
// number of flat bands (0 = smooth).
func (c *canvas) gradient(top, bottom color.NRGBA, bands int) {
	h := c.img.Bounds().Dy()
	for y := 0; y < h; y++ {
		t := float64(y) / float64(h-1)
		if bands > 1 {
			t = math.Floor(t*float64(bands)) / float64(bands-1)
			t = math.Min(t, 1)
		}
		col := mixColor(top, bottom, t)
		for x := 0; x < c.img.Bounds().Dx(); x++ {
			c.img.SetNRGBA(x, y, col)
		}
	}
}

func rgb(hex uint32) color.NRGBA {
	return color.NRGBA{uint8(hex >> 16), uint8(hex >> 8), uint8(hex), 255}
}

func mixColor(a, b color.NRGBA, t float64) color.NRGBA {
	l := func(x, y uint8) uint8 { return uint8(math.Round(float64(x) + (float64(y)-float64(x))*t)) }
	return color.NRGBA{l(a.R, b.R), l(a.G, b.G), l(a.B, b.B), l(a.A, b.A)}
}

func alpha(c color.NRGBA, a uint8) color.NRGBA { c.A = a; return c }

// Shapes.

func circle(cx, cy, r float64) shape {
	return func(x, y float64) bool { return (x-cx)*(x-cx)+(y-cy)*(y-cy) <= r*r }
}

func ellipse(cx, cy, rx, ry, angle float64) shape {
	sin, cos := math.Sincos(angle)
	return func(x, y float64) bool {
		dx, dy := x-cx, y-cy
		u, v := dx*cos+dy*sin, -dx*sin+dy*cos
		return u*u/(rx*rx)+v*v/(ry*ry) <= 1
	}
}

func rect(x0, y0, x1, y1 float64) shape {
	return func(x, y float64) bool { return x >= x0 && x < x1 && y >= y0 && y < y1 }
}

func roundRect(x0, y0, x1, y1, r float64) shape {
	return func(x, y float64) bool {
		dx := math.Max(math.Max(x0+r-x, x-(x1-r)), 0)
		dy := math.Max(math.Max(y0+r-y, y-(y1-r)), 0)
		return x >= x0 && x <= x1 && y >= y0 && y <= y1 && dx*dx+dy*dy <= r*r
	}
}

// capsule is a thick line from (ax, ay) to (bx, by) with round ends.
func capsule(ax, ay, bx, by, r float64) shape {
	return func(x, y float64) bool {
		px, py, vx, vy := x-ax, y-ay, bx-ax, by-ay
		t := math.Max(0, math.Min(1, (px*vx+py*vy)/(vx*vx+vy*vy)))
		dx, dy := px-t*vx, py-t*vy
		return dx*dx+dy*dy <= r*r
	}
}

// arc is a ring segment between angles a0 and a1 (radians, y pointing down)
// with round ends.
func arc(cx, cy, r, width, a0, a1 float64) shape {
	band := func(x, y float64) bool {
		d := math.Hypot(x-cx, y-cy)
		a := math.Atan2(y-cy, x-cx)
		return math.Abs(d-r) <= width/2 && a >= a0 && a <= a1
	}
	s0, c0 := math.Sincos(a0)
	s1, c1 := math.Sincos(a1)
	return union(band, circle(cx+r*c0, cy+r*s0, width/2), circle(cx+r*c1, cy+r*s1, width/2))
}

// under is everything below the curve y = f(x).
func under(f func(x float64) float64) shape {
	return func(x, y float64) bool { return y >= f(x) }
}

// wavy is a thick vertical squiggle centred on x = f(y) between y0 and y1.
func wavy(f func(y float64) float64, y0, y1, r float64) shape {
	return func(x, y float64) bool { return y >= y0 && y <= y1 && math.Abs(x-f(y)) <= r }
}

func union(shapes ...shape) shape {
	return func(x, y float64) bool {
		for _, s := range shapes {
			if s(x, y) {
				return true
			}
		}
		return false
	}
}

func minus(a, b shape) shape {
	return func(x, y float64) bool { return a(x, y) && !b(x, y) }
}

// coverStyle is a song's palette and the motif drawn with it.
type coverStyle struct {
	motif                    func(c *canvas, st coverStyle, rng *rand.Rand)
	top, bottom, accent, ink color.NRGBA
}

// drawCover paints a song's cover: motif, artist and track number at the
// top, title in a band at the bottom.
func drawCover(s *song, num int) *image.NRGBA {
	c := newCanvas(coverSize, 3)
	rng := rand.New(rand.NewPCG(s.seed, 7))
	s.cover.motif(c, s.cover, rng)

	lines := wrap(strings.ToUpper(s.title), 12)
	const scale, margin = 4, 16
	lineH := 9 * scale
	bandTop := coverSize - margin - len(lines)*lineH
	c.fill(rect(0, float64(bandTop-margin/2), coverSize, coverSize), alpha(rgb(0x000000), 120))
	for i, line := range lines {
		drawText(c, line, margin, bandTop+i*lineH, scale, s.cover.ink)
	}
	shadow := alpha(rgb(0x000000), 90)
	drawText(c, strings.ToUpper(s.artist), margin+1, margin+1, 2, shadow)
	drawText(c, strings.ToUpper(s.artist), margin, margin, 2, s.cover.ink)
	n := fmt.Sprintf("%02d", num)
	drawText(c, n, coverSize-margin-textWidth(n, 3)+1, margin+1, 3, shadow)
	drawText(c, n, coverSize-margin-textWidth(n, 3), margin, 3, s.cover.ink)
	return c.img
}

// sunrise: a striped retro sun rising behind dark hills, with rays.
func sunrise(c *canvas, st coverStyle, _ *rand.Rand) {
	c.gradient(st.top, st.bottom, 12)
	cx, cy := 160.0, 190.0
	for k := 0; k < 12; k++ {
		a := math.Pi + float64(k)*math.Pi/11
		c.fill(capsule(cx+95*math.Cos(a), cy+95*math.Sin(a), cx+260*math.Cos(a), cy+260*math.Sin(a), 3), alpha(st.accent, 70))
	}
	stripes := func(x, y float64) bool {
		d := y - 175
		return d > 0 && math.Mod(d, 15) < 2+d/9
	}
	c.fill(minus(circle(cx, cy, 82), stripes), st.accent)
	dark := mixColor(st.top, rgb(0x000000), 0.35)
	c.fill(under(func(x float64) float64 { return 232 + 14*math.Sin(x/37) }), mixColor(st.top, st.bottom, 0.35))
	c.fill(under(func(x float64) float64 { return 250 + 10*math.Sin(x/23+1) }), dark)
}

// supper: a steaming cup under a crescent moon; the steam curls like sound.
func supper(c *canvas, st coverStyle, rng *rand.Rand) {
	c.gradient(st.top, st.bottom, 10)
	for i := 0; i < 40; i++ {
		c.fill(circle(rng.Float64()*coverSize, rng.Float64()*200, 0.6+rng.Float64()*1.2), alpha(st.ink, 200))
	}
	c.fill(minus(circle(240, 80, 38), circle(256, 68, 34)), st.accent)
	cup := st.ink
	c.fill(ellipse(150, 238, 86, 16, 0), mixColor(st.ink, st.bottom, 0.35))
	c.fill(arc(208, 196, 18, 9, -math.Pi/2, math.Pi/2), cup)
	c.fill(roundRect(92, 160, 208, 236, 26), cup)
	c.fill(rect(92, 160, 208, 176), cup)
	c.fill(ellipse(150, 162, 58, 8, 0), mixColor(rgb(0x4a2c2a), st.accent, 0.2))
	for i, x := range []float64{124, 150, 176} {
		phase := float64(i) * 1.7
		base := x
		c.fill(wavy(func(y float64) float64 { return base + 7*math.Sin(y/9+phase) }, 92, 146, 3), alpha(st.accent, 220))
	}
}

// hills: rolling green hills under a pale sun, with a winding path.
func hills(c *canvas, st coverStyle, _ *rand.Rand) {
	c.gradient(st.top, st.bottom, 8)
	c.fill(circle(86, 92, 34), rgb(0xfff1a8))
	far := mixColor(st.accent, st.top, 0.55)
	mid := mixColor(st.accent, st.top, 0.25)
	c.fill(under(func(x float64) float64 { return 150 + 22*math.Sin(x/45+0.6) }), far)
	c.fill(under(func(x float64) float64 { return 185 + 26*math.Sin(x/60+2.2) }), mid)
	c.fill(under(func(x float64) float64 { return 220 + 18*math.Sin(x/50+4) }), st.accent)
	for i := 0; i < 9; i++ {
		t := float64(i) / 8
		c.fill(circle(160+60*math.Sin(t*4), 300-t*110, 4-2.5*t), alpha(rgb(0xf2e8cf), 220))
	}
	for _, b := range [][2]float64{{200, 70}, {226, 84}, {214, 56}} {
		x, y := b[0], b[1]
		c.fill(union(capsule(x-8, y-4, x, y, 1.4), capsule(x, y, x+8, y-4, 1.4)), rgb(0x2b2d42))
	}
}

// tide: layered waves under a low moon.
func tide(c *canvas, st coverStyle, _ *rand.Rand) {
	c.gradient(st.top, st.bottom, 14)
	c.fill(circle(208, 86, 40), alpha(st.accent, 230))
	for k := 0; k < 6; k++ {
		y0 := 130 + float64(k)*26
		amp, freq, phase := 8+float64(k)*1.5, 0.03+float64(k)*0.004, float64(k)*1.3
		col := mixColor(st.top, st.accent, 0.15+0.12*float64(k))
		if k%2 == 1 {
			col = mixColor(st.bottom, st.top, 0.2*float64(k)/5)
		}
		c.fill(under(func(x float64) float64 { return y0 + amp*math.Sin(x*freq+phase) }), col)
	}
}

// neonGrid: a striped synth-wave sun over a glowing perspective grid, with
// a few orange "fruit" hanging in the sky.
func neonGrid(c *canvas, st coverStyle, rng *rand.Rand) {
	c.gradient(st.top, st.bottom, 16)
	for i := 0; i < 30; i++ {
		c.fill(circle(rng.Float64()*coverSize, rng.Float64()*150, 0.8), alpha(st.ink, 180))
	}
	horizon := 190.0
	stripes := func(x, y float64) bool {
		d := y - 130
		return d > 0 && math.Mod(d, 12) < 1.5+d/14
	}
	sunTop, sunBottom := rgb(0xffd166), st.accent
	for k := 0; k < 8; k++ { // vertical colour bands inside the sun
		y0 := 80 + float64(k)*14
		band := rect(0, y0, coverSize, y0+14)
		c.fill(minus(func(x, y float64) bool { return circle(160, 150, 72)(x, y) && band(x, y) }, stripes),
			mixColor(sunTop, sunBottom, float64(k)/7))
	}
	c.fill(rect(0, horizon, coverSize, coverSize), rgb(0x14001f))
	line := alpha(st.accent, 200)
	for k := 1; k <= 7; k++ {
		t := float64(k) / 7
		y := horizon + 130*t*t
		c.fill(rect(0, y-0.8, coverSize, y+0.8), line)
	}
	for k := -8; k <= 8; k++ {
		c.fill(capsule(160+float64(k)*8, horizon, 160+float64(k)*70, coverSize+40, 0.9), line)
	}
	for _, f := range [][3]float64{{52, 60, 13}, {268, 112, 10}, {44, 150, 8}} {
		c.fill(circle(f[0], f[1], f[2]), rgb(0xff9f1c))
		c.fill(ellipse(f[0]+f[2]*0.5, f[1]-f[2]-2, f[2]*0.55, f[2]*0.25, -0.5), rgb(0x2ec4b6))
	}
}

// marigold: a big marigold bloom behind TV scanlines and static.
func marigold(c *canvas, st coverStyle, rng *rand.Rand) {
	c.gradient(st.top, st.bottom, 10)
	cx, cy := 160.0, 140.0
	outer, inner := st.accent, mixColor(st.accent, rgb(0xc8553d), 0.6)
	for ring, spec := range []struct{ n, r, size float64 }{{14, 70, 26}, {11, 44, 22}, {8, 20, 16}} {
		col := outer
		if ring == 1 {
			col = inner
		}
		if ring == 2 {
			col = mixColor(outer, rgb(0xffe8a3), 0.4)
		}
		for i := 0.0; i < spec.n; i++ {
			a := i*2*math.Pi/spec.n + float64(ring)*0.3
			c.fill(ellipse(cx+spec.r*math.Cos(a), cy+spec.r*math.Sin(a), spec.size, spec.size*0.6, a), col)
		}
	}
	c.fill(circle(cx, cy, 14), rgb(0x6b3e26))
	scan := alpha(rgb(0x000000), 40)
	for y := 0; y < coverSize; y += 4 {
		c.fillIn(image.Rect(0, y, coverSize, y+1), rect(0, 0, coverSize, coverSize), scan)
	}
	for i := 0; i < 160; i++ {
		x, y := rng.IntN(coverSize), rng.IntN(coverSize)
		c.blend(x, y, st.ink, 0.5)
	}
}

// drawIcon paints the Potluck app icon: a cooking pot on a warm rounded
// square, sending out sound waves and a musical note instead of steam.
func drawIcon(size int) *image.NRGBA {
	c := newCanvas(size, 4)
	k := float64(size) / 256 // the design is laid out on a 256 grid
	s := func(v float64) float64 { return v * k }
	bg := roundRect(s(8), s(8), s(248), s(248), s(52))
	top, bottom := rgb(0xff9a3c), rgb(0xd6455d)
	for y := 0; y < size; y++ {
		row := image.Rect(0, y, size, y+1)
		c.fillIn(row, bg, mixColor(top, bottom, float64(y)/float64(size-1)))
	}
	cream, pot, rim := rgb(0xfff3d6), rgb(0x243b55), rgb(0x33507a)

	for i, r := range []float64{58, 80, 102} {
		c.fill(arc(s(128), s(142), s(r), s(11), -math.Pi*0.78, -math.Pi*0.22), alpha(cream, uint8(255-50*i)))
	}
	c.fill(ellipse(s(116), s(124), s(11), s(8), -0.35), cream) // note head
	c.fill(capsule(s(126), s(122), s(126), s(84), s(2.6)), cream)
	c.fill(capsule(s(126), s(85), s(140), s(101), s(2.6)), cream)

	c.fill(roundRect(s(28), s(156), s(66), s(172), s(8)), pot) // handles
	c.fill(roundRect(s(190), s(156), s(228), s(172), s(8)), pot)
	c.fill(union(roundRect(s(56), s(146), s(200), s(214), s(34)), rect(s(56), s(146), s(200), s(170))), pot)
	c.fill(roundRect(s(44), s(136), s(212), s(154), s(9)), rim)
	c.fill(roundRect(s(72), s(164), s(84), s(198), s(6)), alpha(cream, 60)) // highlight
	return c.img
}

// encodePNG returns the image as PNG bytes.
func encodePNG(img image.Image) ([]byte, error) {
	var buf bytes.Buffer
	enc := png.Encoder{CompressionLevel: png.BestCompression}
	if err := enc.Encode(&buf, img); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

func writePNG(path string, img image.Image) error {
	b, err := encodePNG(img)
	if err != nil {
		return err
	}
	return os.WriteFile(path, b, 0o644)
}

// wrap splits text into lines of at most width characters at spaces.
func wrap(text string, width int) []string {
	var lines []string
	line := ""
	for _, w := range strings.Fields(text) {
		switch {
		case line == "":
			line = w
		case len(line)+1+len(w) <= width:
			line += " " + w
		default:
			lines = append(lines, line)
			line = w
		}
	}
	return append(lines, line)
}

// drawText draws text in the 5×7 font, each font pixel a scale×scale block.
func drawText(c *canvas, text string, x, y, scale int, col color.NRGBA) {
	for _, r := range text {
		g, ok := font[r]
		if !ok {
			g = font['?']
		}
		for row, bits := range g {
			for colI, b := range bits {
				if b == '#' {
					px, py := x+colI*scale, y+row*scale
					c.fillIn(image.Rect(px, py, px+scale, py+scale), rect(0, 0, 1e9, 1e9), col)
				}
			}
		}
		x += 6 * scale
	}
}

func textWidth(text string, scale int) int { return len(text)*6*scale - scale }

// font is a 5×7 pixel font: capitals, digits and a little punctuation.
var font = map[rune][7]string{
	'A':  {".###.", "#...#", "#...#", "#####", "#...#", "#...#", "#...#"},
	'B':  {"####.", "#...#", "#...#", "####.", "#...#", "#...#", "####."},
	'C':  {".###.", "#...#", "#....", "#....", "#....", "#...#", ".###."},
	'D':  {"####.", "#...#", "#...#", "#...#", "#...#", "#...#", "####."},
	'E':  {"#####", "#....", "#....", "####.", "#....", "#....", "#####"},
	'F':  {"#####", "#....", "#....", "####.", "#....", "#....", "#...."},
	'G':  {".###.", "#...#", "#....", "#.###", "#...#", "#...#", ".####"},
	'H':  {"#...#", "#...#", "#...#", "#####", "#...#", "#...#", "#...#"},
	'I':  {".###.", "..#..", "..#..", "..#..", "..#..", "..#..", ".###."},
	'J':  {"..###", "...#.", "...#.", "...#.", "...#.", "#..#.", ".##.."},
	'K':  {"#...#", "#..#.", "#.#..", "##...", "#.#..", "#..#.", "#...#"},
	'L':  {"#....", "#....", "#....", "#....", "#....", "#....", "#####"},
	'M':  {"#...#", "##.##", "#.#.#", "#.#.#", "#...#", "#...#", "#...#"},
	'N':  {"#...#", "#...#", "##..#", "#.#.#", "#..##", "#...#", "#...#"},
	'O':  {".###.", "#...#", "#...#", "#...#", "#...#", "#...#", ".###."},
	'P':  {"####.", "#...#", "#...#", "####.", "#....", "#....", "#...."},
	'Q':  {".###.", "#...#", "#...#", "#...#", "#.#.#", "#..#.", ".##.#"},
	'R':  {"####.", "#...#", "#...#", "####.", "#.#..", "#..#.", "#...#"},
	'S':  {".####", "#....", "#....", ".###.", "....#", "....#", "####."},
	'T':  {"#####", "..#..", "..#..", "..#..", "..#..", "..#..", "..#.."},
	'U':  {"#...#", "#...#", "#...#", "#...#", "#...#", "#...#", ".###."},
	'V':  {"#...#", "#...#", "#...#", "#...#", "#...#", ".#.#.", "..#.."},
	'W':  {"#...#", "#...#", "#...#", "#.#.#", "#.#.#", "#.#.#", ".#.#."},
	'X':  {"#...#", "#...#", ".#.#.", "..#..", ".#.#.", "#...#", "#...#"},
	'Y':  {"#...#", "#...#", ".#.#.", "..#..", "..#..", "..#..", "..#.."},
	'Z':  {"#####", "....#", "...#.", "..#..", ".#...", "#....", "#####"},
	'0':  {".###.", "#...#", "#..##", "#.#.#", "##..#", "#...#", ".###."},
	'1':  {"..#..", ".##..", "..#..", "..#..", "..#..", "..#..", ".###."},
	'2':  {".###.", "#...#", "....#", "...#.", "..#..", ".#...", "#####"},
	'3':  {"####.", "....#", "....#", ".###.", "....#", "....#", "####."},
	'4':  {"...#.", "..##.", ".#.#.", "#..#.", "#####", "...#.", "...#."},
	'5':  {"#####", "#....", "####.", "....#", "....#", "#...#", ".###."},
	'6':  {"..##.", ".#...", "#....", "####.", "#...#", "#...#", ".###."},
	'7':  {"#####", "....#", "...#.", "..#..", ".#...", ".#...", ".#..."},
	'8':  {".###.", "#...#", "#...#", ".###.", "#...#", "#...#", ".###."},
	'9':  {".###.", "#...#", "#...#", ".####", "....#", "...#.", ".##.."},
	' ':  {".....", ".....", ".....", ".....", ".....", ".....", "....."},
	'-':  {".....", ".....", ".....", "#####", ".....", ".....", "....."},
	'.':  {".....", ".....", ".....", ".....", ".....", ".##..", ".##.."},
	'\'': {"..#..", "..#..", ".#...", ".....", ".....", ".....", "....."},
	'&':  {".##..", "#..#.", "#.#..", ".#...", "#.#.#", "#..#.", ".##.#"},
	'?':  {".###.", "#...#", "....#", "...#.", "..#..", ".....", "..#.."},
}
