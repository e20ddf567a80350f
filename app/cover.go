package app

import (
	"bytes"
	"fmt"
	"image"
	_ "image/gif" // cover art formats, besides JPEG and PNG
	_ "image/jpeg"
	_ "image/png"

	"fyne.io/fyne/v2/canvas"
	"fyne.io/fyne/v2/theme"
	xdraw "golang.org/x/image/draw"
)

// coverPixels is the longest side, in pixels, of a cover as the UI keeps
// it: the largest place a cover is drawn (an album card, 180 units) at
// twice the scale of a standard screen. Cover art is often 1000 pixels or
// more a side, 4 MiB and up decoded; at this size it is 0.5 MiB, decoded
// once and shared by every place that shows it.
const coverPixels = 360

// maxCoverPixels bounds the pixels of a cover the UI decodes at all: a
// small file can claim a huge image.
const maxCoverPixels = 50_000_000

// thumbnail decodes cover art (JPEG, PNG or GIF) and scales it down to fit
// a coverPixels square, keeping its shape. A cover that fits already is
// kept as decoded.
func thumbnail(b []byte) (image.Image, error) {
	cfg, _, err := image.DecodeConfig(bytes.NewReader(b))
	if err != nil {
		return nil, fmt.Errorf("cover: %w", err)
	}
	if cfg.Width <= 0 || cfg.Height <= 0 || cfg.Width*cfg.Height > maxCoverPixels {
		return nil, fmt.Errorf("cover: %d×%d pixels is no cover", cfg.Width, cfg.Height)
	}
	src, _, err := image.Decode(bytes.NewReader(b))
	if err != nil {
		return nil, fmt.Errorf("cover: %w", err)
	}
	sb := src.Bounds()
	w, h := sb.Dx(), sb.Dy()
	if w <= coverPixels && h <= coverPixels {
		return src, nil
	}
	if w >= h {
		w, h = coverPixels, max(1, h*coverPixels/w)
	} else {
		w, h = max(1, w*coverPixels/h), coverPixels
	}
	dst := image.NewNRGBA(image.Rect(0, 0, w, h))
	xdraw.CatmullRom.Scale(dst, dst.Bounds(), src, sb, xdraw.Src, nil)
	return dst, nil
}

// showCover makes img show cover, or the placeholder if cover is nil. A
// row shown again with the same cover (a list refreshed to mark the
// playing track) is left alone: a refresh scales the picture again.
func showCover(img *canvas.Image, cover image.Image) {
	if cover != nil {
		if img.Resource == nil && img.Image == cover {
			return
		}
		img.Resource, img.Image = nil, cover
	} else {
		icon := theme.MediaMusicIcon()
		if img.Resource == icon {
			return
		}
		img.Resource, img.Image = icon, nil
	}
	img.Refresh()
}
