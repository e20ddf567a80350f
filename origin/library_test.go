package origin

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"errors"
	"image"
	_ "image/png"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/potluckfm/potluck/assets"
	"github.com/potluckfm/potluck/track"
)

func TestScanDemoLibrary(t *testing.T) {
	files := demoFiles(t)
	key := testKey(t)
	c, err := ScanLibrary(context.Background(), assets.Demo(), key, ScanOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if c.Len() != len(files) || c.Skipped() != 0 {
		t.Fatalf("catalog has %d tracks (%d skipped), want %d", c.Len(), c.Skipped(), len(files))
	}
	var vbr, mono bool
	for _, e := range c.Entries() {
		m := e.Manifest
		data := files[e.Path]
		if m.Size != int64(len(data)) {
			t.Errorf("%s: size %d, file has %d", e.Path, m.Size, len(data))
		}
		for i := range m.NumChunks() {
			off, n := m.ChunkBounds(i)
			if err := m.VerifyChunk(i, data[off:off+int64(n)]); err != nil {
				t.Errorf("%s: %v", e.Path, err)
			}
		}
		if m.Title == "" || m.Artist == "" || m.Album == "" || m.TrackNumber == 0 || m.Year == 0 || m.Genre == "" {
			t.Errorf("%s: tags missing: %+v", e.Path, m)
		}
		if d := m.Duration(); d < 30*time.Second || d > 90*time.Second {
			t.Errorf("%s: duration %v, demo tracks are 30-90 s", e.Path, d)
		}
		if m.Cover == "" || len(e.Cover) == 0 {
			t.Errorf("%s: no cover art", e.Path)
		} else if _, format, err := image.DecodeConfig(bytes.NewReader(e.Cover)); err != nil || "image/"+format != m.Cover {
			t.Errorf("%s: cover art of type %s does not decode: %s %v", e.Path, m.Cover, format, err)
		}
		got, err := track.Open(e.Signed, key.Public().(ed25519.PublicKey))
		if err != nil || got.ID != m.ID {
			t.Errorf("%s: signed manifest does not open: %v", e.Path, err)
		}
		vbr = vbr || m.Audio.VBR
		mono = mono || m.Audio.Channels == 1
	}
	if !vbr || !mono {
		t.Errorf("demo library lacks a VBR (%v) or a mono (%v) track", vbr, mono)
	}
	for _, q := range []string{c.Entries()[0].Manifest.Title, strings.ToUpper(c.Entries()[0].Manifest.Artist)} {
		if got := c.Search(q); len(got) == 0 || len(got) > c.Len() {
			t.Errorf("Search(%q) found %d tracks", q, len(got))
		}
	}
	if got := c.Search("no such words anywhere"); len(got) != 0 {
		t.Errorf("Search for nonsense found %d tracks", len(got))
	}

	// IDs depend on content alone: another key, another scan, same IDs.
	again, err := ScanLibrary(context.Background(), assets.Demo(), testKey(t), ScanOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for i, e := range again.Entries() {
		if e.Manifest.ID != c.Entries()[i].Manifest.ID {
			t.Errorf("%s: ID changed between scans", e.Path)
		}
	}
}

// stripTags returns an MP3 without its ID3v2 and ID3v1 tags.
func stripTags(t testing.TB, b []byte) []byte {
	t.Helper()
	if len(b) > 10 && string(b[:3]) == "ID3" {
		size := int(b[6]&0x7f)<<21 | int(b[7]&0x7f)<<14 | int(b[8]&0x7f)<<7 | int(b[9]&0x7f)
		if b[5]&0x10 != 0 {
			size += 10
		}
		b = b[10+size:]
	}
	if len(b) > 128 && string(b[len(b)-128:len(b)-125]) == "TAG" {
		b = b[:len(b)-128]
	}
	return b
}

func TestScanSkipsBadFilesAndServesTheRest(t *testing.T) {
	dir := demoLibrary(t)
	files := demoFiles(t)
	var some []byte
	var someName string
	for name, b := range files {
		some, someName = b, name
		break
	}
	// Move one good file deeper: the scan is recursive.
	if err := os.MkdirAll(filepath.Join(dir, "sub", "deeper"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(filepath.Join(dir, someName), filepath.Join(dir, "sub", "deeper", "MOVED.MP3")); err != nil {
		t.Fatal(err)
	}
	pngHeader := []byte("\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR")
	bad := map[string][]byte{
		"notes.mp3":        []byte("this is a text file, not music\n"),
		"empty.mp3":        {},
		"truncated.mp3":    some[:len(some)/2+7],
		"picture.mp3":      append(pngHeader, make([]byte, 5000)...),
		"only-a-tag.mp3":   []byte("ID3\x04\x00\x00\x00\x00\x00\x00"),
		"sub/zeros.mp3":    make([]byte, 20000),
		"sub/deeper/x.mp3": bytes.Repeat([]byte{0xff}, 3000),
	}
	for name, b := range bad {
		writeFile(t, dir, name, b)
	}
	if err := os.Symlink(filepath.Join(dir, "nowhere.mp3"), filepath.Join(dir, "dangling.mp3")); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Mkfifo(filepath.Join(dir, "pipe.mp3"), 0o644); err != nil {
		t.Fatal(err)
	}
	writeFile(t, dir, "readme.txt", []byte("not scanned"))

	log, logs := testLogger(t)
	done := make(chan struct{})
	var c *Catalog
	var err error
	go func() {
		defer close(done)
		c, err = ScanLibrary(context.Background(), os.DirFS(dir), testKey(t), ScanOptions{Logger: log})
	}()
	select {
	case <-done:
	case <-time.After(30 * time.Second):
		t.Fatal("scan hangs (on the FIFO?)")
	}
	if err != nil {
		t.Fatal(err)
	}
	if c.Len() != len(files) {
		t.Errorf("catalog has %d tracks, want the %d good ones", c.Len(), len(files))
	}
	wantSkipped := append([]string{"dangling.mp3", "pipe.mp3"}, keys(bad)...)
	if c.Skipped() != len(wantSkipped) {
		t.Errorf("skipped %d files, want %d; log:\n%s", c.Skipped(), len(wantSkipped), logs)
	}
	for _, name := range wantSkipped {
		if n := strings.Count(logs.String(), "path="+name+" "); n != 1 {
			t.Errorf("%s: named in %d log lines, want 1; log:\n%s", name, n, logs)
		}
	}
	if c.Lookup(scanOne(t, files[someName]).ID) == nil {
		t.Error("the file moved into sub/deeper was not found")
	}
}

func keys[M ~map[string]V, V any](m M) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}

func scanOne(t testing.TB, data []byte) *track.Manifest {
	t.Helper()
	e, err := buildEntry("x.mp3", data, testKey(t), track.DefaultChunkSize)
	if err != nil {
		t.Fatal(err)
	}
	return e.Manifest
}

func TestTagFallbackToFileName(t *testing.T) {
	for _, b := range demoFiles(t) {
		e, err := buildEntry("Some Dir/07_blue_in_green.mp3", stripTags(t, b), testKey(t), track.DefaultChunkSize)
		if err != nil {
			t.Fatal(err)
		}
		m := e.Manifest
		if m.Title != "07 blue in green" || m.Artist != "" || m.Cover != "" || e.Cover != nil {
			t.Errorf("untagged file: title %q artist %q cover %q", m.Title, m.Artist, m.Cover)
		}
		if m.Audio.DurationMS < 30000 {
			t.Errorf("untagged file lost its audio: %d ms", m.Audio.DurationMS)
		}
		break
	}
}

func TestScanMissingLibrary(t *testing.T) {
	_, err := ScanLibrary(context.Background(), os.DirFS(filepath.Join(t.TempDir(), "gone")), testKey(t), ScanOptions{})
	if !errors.Is(err, ErrNoLibrary) {
		t.Fatalf("got %v, want ErrNoLibrary", err)
	}
}

func TestRescanReusesUnchangedFiles(t *testing.T) {
	dir := demoLibrary(t)
	key := testKey(t)
	first, err := ScanLibrary(context.Background(), os.DirFS(dir), key, ScanOptions{})
	if err != nil {
		t.Fatal(err)
	}
	var name string
	var data []byte
	for n, b := range demoFiles(t) {
		name, data = n, b
		break
	}
	writeFile(t, dir, "new/untagged.mp3", stripTags(t, data))
	second, err := ScanLibrary(context.Background(), os.DirFS(dir), key, ScanOptions{Previous: first})
	if err != nil {
		t.Fatal(err)
	}
	if second.Len() != first.Len()+1 {
		t.Fatalf("rescan found %d tracks, want %d", second.Len(), first.Len()+1)
	}
	if first.byPath(name) != second.byPath(name) {
		t.Error("an unchanged file was scanned again instead of reused")
	}
}
