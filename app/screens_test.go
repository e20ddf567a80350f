package app

import (
	"flag"
	"image"
	"image/png"
	"os"
	"path/filepath"
	"testing"
	"time"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/widget"
)

var updateScreens = flag.Bool("update-screens", false, "write the screenshots of every screen to docs/screens")

// TestScreens renders every screen with the demo catalogue, a track playing
// and a busy swarm, and checks each is drawn (not blank). With
// -update-screens it writes them to docs/screens/ for the README.
func TestScreens(t *testing.T) {
	u, p := newTestUI(t, SwarmStatus{
		FromCache: 120 << 10, FromPeers: 610 << 10, FromOrigin: 64 << 10,
		Peers:       []string{"k3v7q2ma 192.0.2.14:7000", "p9x1w4rt 198.51.100.7:7000", "c2n8d5ye 203.0.113.9:7000"},
		BytesServed: 14 << 20, BufferedAhead: 38 * time.Second, CacheUsed: 420 << 20, CacheLimit: 2 << 30,
		NodeID: "xk4m2p7q9w3e5r8t1y6u0i2o4p6a8s0d",
	})
	lib := u.library.shown
	p.Play(lib[1].ID)
	p.Seek(17 * time.Second)
	for _, tr := range lib[2:5] {
		p.Enqueue(tr.ID)
	}
	u.deps.Playlists.Create("Sunday morning")
	u.deps.Playlists.Add("Sunday morning", lib[3].ID, lib[0].ID, lib[5].ID)
	u.deps.Playlists.Like(lib[1].ID, true)
	u.deps.Offline.Pin(lib[3].ID)
	u.playlists.reload()
	u.refresh()
	u.Window().Resize(fyne.NewSize(960, 640))
	shoot := func(name string) {
		t.Helper()
		img := u.Window().Canvas().Capture()
		if colors(img) < 8 {
			t.Errorf("%s screen looks blank", name)
		}
		if *updateScreens {
			writePNG(t, filepath.Join("..", "docs", "screens", name+".png"), img)
		}
	}
	for i, name := range []string{"library", "albums", "artists", "playlists", "queue", "swarm", "settings"} {
		u.tabs.SelectIndex(i)
		shoot(name)
	}
	u.openAlbum(u.albums.albums[0])
	shoot("album")
	u.tabs.SelectIndex(3)
	u.playlists.open("Sunday morning")
	shoot("playlist")

	// The tray's menu, as the desktop's tray draws it.
	tray := fyne.CurrentApp().NewWindow("tray")
	tray.SetContent(widget.NewMenu(u.TrayMenu()))
	tray.Resize(fyne.NewSize(220, 190))
	img := tray.Canvas().Capture()
	if colors(img) < 4 {
		t.Error("the tray menu looks blank")
	}
	if *updateScreens {
		writePNG(t, filepath.Join("..", "docs", "screens", "tray.png"), img)
	}
}

// colors counts distinct colours in a sample of the image.
func colors(img image.Image) int {
	seen := map[[4]uint32]bool{}
	b := img.Bounds()
	for y := b.Min.Y; y < b.Max.Y; y += 7 {
		for x := b.Min.X; x < b.Max.X; x += 7 {
			r, g, bl, a := img.At(x, y).RGBA()
			seen[[4]uint32{r, g, bl, a}] = true
		}
	}
	return len(seen)
}

func writePNG(t *testing.T, path string, img image.Image) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := png.Encode(f, img); err != nil {
		t.Fatal(err)
	}
}
