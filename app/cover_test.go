package app

import (
	"bytes"
	"context"
	"encoding/binary"
	"hash/crc32"
	"image"
	"image/color"
	"image/jpeg"
	"image/png"
	"sync/atomic"
	"testing"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/test"
	"fyne.io/fyne/v2/theme"

	"github.com/potluckfm/potluck/origin"
	"github.com/potluckfm/potluck/track"
)

// stripes is a w×h image in vertical stripes of red and blue, 10 pixels
// wide, so that a scaled copy can be told from a blank one.
func stripes(w, h int) *image.NRGBA {
	img := image.NewNRGBA(image.Rect(0, 0, w, h))
	for y := range h {
		for x := range w {
			c := color.NRGBA{R: 255, A: 255}
			if (x/10)%2 == 1 {
				c = color.NRGBA{B: 255, A: 255}
			}
			img.SetNRGBA(x, y, c)
		}
	}
	return img
}

func encodePNG(t *testing.T, img image.Image) []byte {
	t.Helper()
	var b bytes.Buffer
	if err := png.Encode(&b, img); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// hugePNG is a PNG header that claims w×h pixels, with no pixels.
func hugePNG(w, h uint32) []byte {
	ihdr := make([]byte, 13)
	binary.BigEndian.PutUint32(ihdr[0:], w)
	binary.BigEndian.PutUint32(ihdr[4:], h)
	ihdr[8], ihdr[9] = 8, 6 // 8-bit RGBA
	chunk := append([]byte("IHDR"), ihdr...)
	out := []byte("\x89PNG\r\n\x1a\n")
	out = binary.BigEndian.AppendUint32(out, 13)
	out = append(out, chunk...)
	return binary.BigEndian.AppendUint32(out, crc32.ChecksumIEEE(chunk))
}

func TestThumbnailFitsTheLargestPlaceACoverIsDrawn(t *testing.T) {
	var jpg bytes.Buffer
	if err := jpeg.Encode(&jpg, stripes(200, 300), nil); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name string
		data []byte
		w, h int
	}{
		{"wide PNG", encodePNG(t, stripes(1200, 800)), coverPixels, coverPixels * 800 / 1200},
		{"tall PNG", encodePNG(t, stripes(500, 1500)), coverPixels * 500 / 1500, coverPixels},
		{"small JPEG kept as it is", jpg.Bytes(), 200, 300},
	} {
		img, err := thumbnail(c.data)
		if err != nil {
			t.Errorf("%s: %v", c.name, err)
			continue
		}
		if b := img.Bounds(); b.Dx() != c.w || b.Dy() != c.h {
			t.Errorf("%s: %v, want %d×%d", c.name, b, c.w, c.h)
		}
		// Still the picture: red at the left edge, blue a stripe on.
		b := img.Bounds()
		r, _, bl, _ := img.At(b.Min.X+1, b.Min.Y+b.Dy()/2).RGBA()
		if r < 0xc000 || bl > 0x4000 {
			t.Errorf("%s: the left edge is not red: r %x b %x", c.name, r, bl)
		}
	}
	for _, c := range []struct {
		name string
		data []byte
	}{
		{"not an image", []byte("ID3 this is an MP3, not a cover")},
		{"empty", nil},
		{"a header claiming 100000×100000 pixels", hugePNG(100000, 100000)},
		{"a header with no pixels after it", hugePNG(100, 100)},
	} {
		if img, err := thumbnail(c.data); err == nil {
			t.Errorf("%s: a %v image, want an error", c.name, img.Bounds())
		}
	}
}

// coverCatalog lists tracks that all have the same cover, and counts
// the covers asked for.
type coverCatalog struct {
	tracks []origin.TrackInfo
	cover  []byte
	asked  atomic.Int32
}

func (c *coverCatalog) Tracks(context.Context) ([]origin.TrackInfo, error) { return c.tracks, nil }
func (c *coverCatalog) Cover(context.Context, track.ID) ([]byte, error) {
	c.asked.Add(1)
	return c.cover, nil
}

// TestCoversAreKeptSmall: a large cover is kept as a thumbnail, not as
// its file or its full-size pixels, and every place it is shown draws
// that one image; a cover that is not an image shows the placeholder and
// is not asked for again.
func TestCoversAreKeptSmall(t *testing.T) {
	test.NewTempApp(t)
	big, bad := track.ID{1}, track.ID{2}
	cat := &coverCatalog{tracks: []origin.TrackInfo{
		{ID: big, Title: "Big Cover", Artist: "A", Album: "X", DurationMS: 1000, Cover: true},
		{ID: bad, Title: "Bad Cover", Artist: "A", Album: "Y", DurationMS: 1000, Cover: true},
	}, cover: encodePNG(t, stripes(1600, 1600))}
	u := New(fyne.CurrentApp(), Deps{Catalog: cat, Player: &recordingPlayer{st: PlayerState{Volume: 1, Index: -1}}})
	u.Window().Resize(fyne.NewSize(960, 640))
	tracks, _ := cat.Tracks(context.Background())
	u.showCatalog(tracks, true)
	u.loadCover(context.Background(), big)
	cat.cover = []byte("not an image")
	u.loadCover(context.Background(), bad)

	img := u.cover(big)
	if img == nil {
		t.Fatal("the big cover was not loaded")
	}
	if b := img.Bounds(); b.Dx() != coverPixels || b.Dy() != coverPixels {
		t.Errorf("the cover is kept at %v, want %d pixels a side", b, coverPixels)
	}
	if u.cover(bad) != nil {
		t.Error("bytes that are no image were kept as a cover")
	}
	for i := range 2 {
		r := findRow(t, u, i)
		switch r.title.Text {
		case "Big Cover":
			if r.cover.Image != img || r.cover.Resource != nil {
				t.Errorf("row %q does not draw the kept thumbnail", r.title.Text)
			}
		case "Bad Cover":
			if r.cover.Resource != theme.MediaMusicIcon() {
				t.Errorf("row %q: no placeholder for a cover that is not an image", r.title.Text)
			}
		}
	}
	asked := cat.asked.Load()
	u.loadCovers(context.Background(), tracks)
	if n := cat.asked.Load(); n != asked {
		t.Errorf("covers asked for again: %d more", n-asked)
	}
}
