package origin

import (
	"context"
	"crypto/ed25519"
	"encoding/json"
	"os"
	"strings"
	"testing"

	"github.com/potluckfm/potluck/track"
)

// id3v24 builds an ID3v2.4 tag of UTF-8 text frames (TIT2, TPE1, TPE2,
// TALB, TPOS, TRCK, TDRC...), as a tagger writes them.
func id3v24(frames map[string]string) []byte {
	syncsafe := func(n int) []byte {
		return []byte{byte(n >> 21 & 0x7f), byte(n >> 14 & 0x7f), byte(n >> 7 & 0x7f), byte(n & 0x7f)}
	}
	var body []byte
	for _, id := range []string{"TIT2", "TPE1", "TPE2", "TALB", "TPOS", "TRCK", "TDRC", "TCON"} {
		v, ok := frames[id]
		if !ok {
			continue
		}
		payload := append([]byte{3}, v...) // 3: UTF-8
		body = append(body, id...)
		body = append(body, syncsafe(len(payload))...)
		body = append(body, 0, 0)
		body = append(body, payload...)
	}
	tag := append([]byte("ID3\x04\x00\x00"), syncsafe(len(body))...)
	return append(tag, body...)
}

// taggedFile is one library file of TestAlbumArtistAndDisc.
type taggedFile struct {
	name   string
	frames map[string]string
}

func TestAlbumArtistAndDisc(t *testing.T) {
	audio := stripTags(t, demoFiles(t)["03-kettle-hill-waltz.mp3"])
	// A compilation on two discs, its tracks by different artists, written
	// in an order the catalogue must not keep; and an album by one artist
	// that sorts before "Various Artists" by its artist, after it by title.
	files := []taggedFile{
		{"comp/2-01.mp3", map[string]string{"TIT2": "Ünder the Bridge", "TPE1": "Beyoncé", "TPE2": "Various Artists",
			"TALB": "Kitchen Radio Hits", "TPOS": "2/2", "TRCK": "1/3", "TDRC": "1999"}},
		{"comp/1-02.mp3", map[string]string{"TIT2": "Second <Song> & Co", "TPE1": "Zoë Keating", "TPE2": "Various Artists",
			"TALB": "Kitchen Radio Hits", "TPOS": "1/2", "TRCK": "2/3", "TDRC": "1999"}},
		{"comp/1-01.mp3", map[string]string{"TIT2": "Opener", "TPE1": "Aaron Adams", "TPE2": "Various Artists",
			"TALB": "Kitchen Radio Hits", "TPOS": "1/2", "TRCK": "1", "TDRC": "1999"}},
		{"solo/01.mp3", map[string]string{"TIT2": "Zebra", "TPE1": "Bob Brown",
			"TALB": "Aardvark", "TRCK": "1", "TDRC": "2001"}},
		// Only an album artist: it is the track's artist too.
		{"solo/02.mp3", map[string]string{"TIT2": "Yak", "TPE2": "Bob Brown", "TALB": "Aardvark", "TRCK": "2"}},
	}
	dir := t.TempDir()
	for _, f := range files {
		writeFile(t, dir, f.name, append(id3v24(f.frames), audio...))
	}
	key := testKey(t)
	c, err := ScanLibrary(context.Background(), os.DirFS(dir), key, ScanOptions{})
	if err != nil {
		t.Fatal(err)
	}
	type row struct {
		title, artist, albumArtist, album string
		disc, num                         int
	}
	want := []row{
		{"Zebra", "Bob Brown", "", "Aardvark", 0, 1},
		{"Yak", "Bob Brown", "Bob Brown", "Aardvark", 0, 2},
		{"Opener", "Aaron Adams", "Various Artists", "Kitchen Radio Hits", 1, 1},
		{"Second <Song> & Co", "Zoë Keating", "Various Artists", "Kitchen Radio Hits", 1, 2},
		{"Ünder the Bridge", "Beyoncé", "Various Artists", "Kitchen Radio Hits", 2, 1},
	}
	if c.Len() != len(want) {
		t.Fatalf("catalogue has %d tracks, want %d", c.Len(), len(want))
	}
	for i, e := range c.Entries() {
		m := e.Manifest
		got := row{m.Title, m.Artist, m.AlbumArtist, m.Album, m.DiscNumber, m.TrackNumber}
		if got != want[i] {
			t.Errorf("entry %d (%s) = %+v, want %+v", i, e.Path, got, want[i])
		}
		opened, err := track.Open(e.Signed, key.Public().(ed25519.PublicKey))
		if err != nil {
			t.Fatalf("%s: %v", e.Path, err)
		}
		if opened.AlbumArtist != m.AlbumArtist || opened.DiscNumber != m.DiscNumber {
			t.Errorf("%s: signed manifest says album artist %q disc %d, want %q %d",
				e.Path, opened.AlbumArtist, opened.DiscNumber, m.AlbumArtist, m.DiscNumber)
		}
	}
	if got := c.Search("various"); len(got) != 3 {
		t.Errorf(`Search("various") found %d tracks, want the compilation's 3`, len(got))
	}

	// The API lists the new fields, and leaves them out when empty.
	s := startOrigin(t, dir, nil)
	infos, err := newTestClient(t, s.URL(), TransportTCP).Tracks(context.Background(), "")
	if err != nil {
		t.Fatal(err)
	}
	if len(infos) != len(want) {
		t.Fatalf("API lists %d tracks, want %d", len(infos), len(want))
	}
	for i, ti := range infos {
		w := want[i]
		if ti.Title != w.title || ti.AlbumArtist != w.albumArtist || ti.DiscNumber != w.disc {
			t.Errorf("API track %d = %q album artist %q disc %d, want %q %q %d",
				i, ti.Title, ti.AlbumArtist, ti.DiscNumber, w.title, w.albumArtist, w.disc)
		}
		b, err := json.Marshal(ti)
		if err != nil {
			t.Fatal(err)
		}
		if has := strings.Contains(string(b), `"album_artist":`); has != (w.albumArtist != "") {
			t.Errorf("track %q: album_artist in JSON %v: %s", ti.Title, has, b)
		}
		if has := strings.Contains(string(b), `"disc_number":`); has != (w.disc != 0) {
			t.Errorf("track %q: disc_number in JSON %v: %s", ti.Title, has, b)
		}
	}
}
