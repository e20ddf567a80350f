package assets

import (
	"bytes"
	"image/png"
	"io/fs"
	"strings"
	"testing"
)

const maxDemoBytes = 6 << 20 // the whole library must stay under 6 MB

func TestDemoLibrary(t *testing.T) {
	files, err := fs.Glob(Demo(), "*.mp3")
	if err != nil {
		t.Fatal(err)
	}
	if len(files) < 6 {
		t.Fatalf("found %d demo MP3s, want at least 6", len(files))
	}
	var total int
	for _, name := range files {
		b, err := fs.ReadFile(Demo(), name)
		if err != nil {
			t.Fatal(err)
		}
		total += len(b)
		if !bytes.HasPrefix(b, []byte("ID3")) {
			t.Errorf("%s does not start with an ID3v2 tag", name)
		}
		if len(b) < 100<<10 {
			t.Errorf("%s is only %d bytes", name, len(b))
		}
	}
	if total >= maxDemoBytes {
		t.Errorf("demo library is %d bytes, want under %d", total, maxDemoBytes)
	}
}

func TestDemoHasOnlyMP3s(t *testing.T) {
	err := fs.WalkDir(Demo(), ".", func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if !d.IsDir() && !strings.HasSuffix(path, ".mp3") {
			t.Errorf("unexpected file %s in the demo library", path)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

func TestIcon(t *testing.T) {
	img, err := png.Decode(bytes.NewReader(Icon))
	if err != nil {
		t.Fatalf("icon is not a valid PNG: %v", err)
	}
	if b := img.Bounds(); b.Dx() != b.Dy() || b.Dx() < 256 {
		t.Errorf("icon is %dx%d, want a square of at least 256 pixels", b.Dx(), b.Dy())
	}
}
