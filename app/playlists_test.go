package app

import (
	"bytes"
	"encoding/xml"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/potluckfm/potluck/origin"
	"github.com/potluckfm/potluck/track"
)

func openPlaylists(t *testing.T, path string) *PlaylistStore {
	t.Helper()
	st, err := OpenPlaylists(path)
	if err != nil {
		t.Fatal(err)
	}
	return st
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func TestPlaylistStoreKeepsAcrossRestarts(t *testing.T) {
	path := filepath.Join(t.TempDir(), "data", "playlists.json")
	st := openPlaylists(t, path)
	if len(st.List()) != 0 || len(st.Likes()) != 0 {
		t.Fatal("a new store is not empty")
	}
	a, b, c := modelID(1), modelID(2), modelID(3)
	must(t, st.Create("Road trip"))
	must(t, st.Create("  Café <&> \"Ünïcode\" 夜  "))
	must(t, st.Add("Road trip", a, b, c, a)) // a track may come twice
	must(t, st.Move("road trip", 3, 0))      // names ignore case
	must(t, st.Remove("Road trip", 2))       // b, at index 2 after the move
	must(t, st.Add("Café <&> \"Ünïcode\" 夜", c))
	must(t, st.Rename("Road trip", "Road Trip 2"))
	must(t, st.Like(a, true))
	must(t, st.Like(b, true))
	must(t, st.Like(c, true))
	must(t, st.Like(b, false))
	must(t, st.Like(a, true)) // liked again: the most recent like

	check := func(st *PlaylistStore) {
		t.Helper()
		want := []Playlist{
			{Name: "Road Trip 2", Tracks: []track.ID{a, a, c}},
			{Name: "Café <&> \"Ünïcode\" 夜", Tracks: []track.ID{c}},
		}
		got := st.List()
		if len(got) != len(want) {
			t.Fatalf("List = %+v, want %+v", got, want)
		}
		for i := range want {
			if got[i].Name != want[i].Name || !slices.Equal(got[i].Tracks, want[i].Tracks) {
				t.Errorf("playlist %d = %+v, want %+v", i, got[i], want[i])
			}
		}
		if likes := st.Likes(); !slices.Equal(likes, []track.ID{a, c}) {
			t.Errorf("Likes = %v, want a then c", likes)
		}
		if !st.Liked(a) || st.Liked(b) || !st.Liked(c) {
			t.Errorf("Liked: a %v b %v c %v", st.Liked(a), st.Liked(b), st.Liked(c))
		}
		if p, ok := st.Get("ROAD TRIP 2"); !ok || len(p.Tracks) != 3 {
			t.Errorf("Get = %+v, %v", p, ok)
		}
		if _, ok := st.Get("Road trip"); ok {
			t.Error("the old name still finds the renamed playlist")
		}
	}
	check(st)
	check(openPlaylists(t, path))
	if _, err := os.Stat(path + ".tmp"); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("temporary file left behind: %v", err)
	}

	// What List and Get return is a copy.
	st.List()[0].Tracks[0] = b
	if p, _ := st.Get("Road Trip 2"); p.Tracks[0] != a {
		t.Error("List shares its slices with the store")
	}

	must(t, st.Delete("road trip 2"))
	if got := openPlaylists(t, path).List(); len(got) != 1 || got[0].Name != "Café <&> \"Ünïcode\" 夜" {
		t.Errorf("after Delete: %+v", got)
	}
}

func TestPlaylistStoreRefuses(t *testing.T) {
	st := openPlaylists(t, filepath.Join(t.TempDir(), "playlists.json"))
	must(t, st.Create("Mix"))
	must(t, st.Create("Other"))
	must(t, st.Add("Mix", modelID(1), modelID(2)))
	for _, tc := range []struct {
		what string
		err  error
		want error
	}{
		{"empty name", st.Create(""), ErrPlaylistName},
		{"blank name", st.Create(" \t "), ErrPlaylistName},
		{"duplicate", st.Create(" mix "), ErrPlaylistExists},
		{"too long", st.Create(strings.Repeat("é", MaxPlaylistName+1)), ErrPlaylistName},
		{"newline", st.Create("two\nlines"), ErrPlaylistName},
		{"invalid UTF-8", st.Create("bad \xff"), ErrPlaylistName},
		{"rename onto another", st.Rename("Other", "MIX"), ErrPlaylistExists},
		{"rename to empty", st.Rename("Other", ""), ErrPlaylistName},
		{"rename missing", st.Rename("Nope", "Yes"), ErrNoPlaylist},
		{"delete missing", st.Delete("Nope"), ErrNoPlaylist},
		{"add to missing", st.Add("Nope", modelID(1)), ErrNoPlaylist},
		{"remove from missing", st.Remove("Nope", 0), ErrNoPlaylist},
		{"move in missing", st.Move("Nope", 0, 1), ErrNoPlaylist},
		{"remove out of range", st.Remove("Mix", 2), nil},
		{"remove negative", st.Remove("Mix", -1), nil},
		{"move out of range", st.Move("Mix", 0, 2), nil},
	} {
		if tc.err == nil || (tc.want != nil && !errors.Is(tc.err, tc.want)) {
			t.Errorf("%s: error %v, want %v", tc.what, tc.err, tc.want)
		}
	}
	if err := st.Create(strings.Repeat("é", MaxPlaylistName)); err != nil {
		t.Errorf("a name of the longest length: %v", err)
	}
	if err := st.Rename("Other", "OTHER"); err != nil {
		t.Errorf("a change of case alone: %v", err)
	}
	if p, _ := st.Get("mix"); !slices.Equal(p.Tracks, []track.ID{modelID(1), modelID(2)}) {
		t.Errorf("refused changes changed the playlist: %v", p.Tracks)
	}
}

func TestPlaylistStoreDamagedFileIsKept(t *testing.T) {
	dir := t.TempDir()
	for _, tc := range []struct{ name, content, want string }{
		{"truncated.json", `{"version":1,"playlists":[{"name":"Mix","tr`, "damaged"},
		{"notjson.json", "my favourite songs\n", "damaged"},
		{"badid.json", `{"version":1,"playlists":[{"name":"Mix","tracks":["zz"]}]}`, "damaged"},
		{"twice.json", `{"version":1,"playlists":[{"name":"Mix"},{"name":"MIX"}]}`, "two playlists"},
		{"noname.json", `{"version":1,"playlists":[{"name":""}]}`, "damaged"},
		{"newer.json", `{"version":2,"playlists":[]}`, "newer"},
	} {
		path := filepath.Join(dir, tc.name)
		if err := os.WriteFile(path, []byte(tc.content), 0o600); err != nil {
			t.Fatal(err)
		}
		_, err := OpenPlaylists(path)
		if err == nil || !strings.Contains(err.Error(), path) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: error %v, want one naming the file and saying %q", tc.name, err, tc.want)
		}
		if b, _ := os.ReadFile(path); string(b) != tc.content {
			t.Errorf("%s: the file was changed to %q", tc.name, b)
		}
	}
}

func TestPlaylistStoreUnsavedChangeIsNotMade(t *testing.T) {
	dir := t.TempDir()
	st := openPlaylists(t, filepath.Join(dir, "sub", "playlists.json"))
	// The directory cannot be made: a file stands in its place.
	if err := os.WriteFile(filepath.Join(dir, "sub"), nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := st.Create("Mix"); err == nil || !strings.Contains(err.Error(), "not saved") {
		t.Fatalf("Create with nowhere to save: %v", err)
	}
	if err := st.Like(modelID(1), true); err == nil {
		t.Fatal("Like with nowhere to save succeeded")
	}
	if len(st.List()) != 0 || st.Liked(modelID(1)) {
		t.Error("a change that was not saved was made")
	}
	select {
	case <-st.Changed():
		t.Error("Changed reported a change that was not made")
	default:
	}
}

func TestPlaylistStoreConcurrentUse(t *testing.T) {
	path := filepath.Join(t.TempDir(), "playlists.json")
	st := openPlaylists(t, path)
	must(t, st.Create("Mix"))
	<-st.Changed()
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Go(func() {
			for i := range 25 {
				id := modelID(g*100 + i)
				if err := st.Add("Mix", id); err != nil {
					t.Error(err)
				}
				if err := st.Like(id, i%2 == 0); err != nil {
					t.Error(err)
				}
				st.Liked(id)
				st.List()
			}
		})
	}
	wg.Wait()
	select {
	case <-st.Changed():
	default:
		t.Error("no change reported")
	}
	again := openPlaylists(t, path)
	if p, _ := again.Get("Mix"); len(p.Tracks) != 100 {
		t.Errorf("%d tracks kept, want 100", len(p.Tracks))
	}
	if n := len(again.Likes()); n != 52 {
		t.Errorf("%d likes kept, want 52", n)
	}
}

// exportTracks covers a plain track, XML and M3U specials, an untagged
// track and an 8-minute one.
func exportTracks() []origin.TrackInfo {
	return []origin.TrackInfo{
		{ID: modelID(1), Title: "Crème <brûlée> & \"friends\"", Artist: "Beyoncé", Album: "Ärger & Co",
			TrackNumber: 3, DurationMS: 215_400},
		{ID: modelID(2), Title: "track03", DurationMS: 0},
		{ID: modelID(3), Title: "Long\nsong", Artist: "坂本龍一", Album: "Mix", DurationMS: 8 * 60_000},
	}
}

func exportLocations(id track.ID) string {
	switch id {
	case modelID(1):
		return "/home/me/.cache/potluck/Crème brûlée #1.mp3"
	case modelID(2):
		return "" // not held: its URI instead
	}
	return "https://example.org/t?a=1&b=2"
}

func TestPlaylistWriteM3U(t *testing.T) {
	var b bytes.Buffer
	if err := WriteM3U(&b, "Road <trip> & Café", exportTracks(), exportLocations); err != nil {
		t.Fatal(err)
	}
	want := "#EXTM3U\n" +
		"#PLAYLIST:Road <trip> & Café\n" +
		"#EXTINF:215,Beyoncé - Crème <brûlée> & \"friends\"\n" +
		"/home/me/.cache/potluck/Crème brûlée #1.mp3\n" +
		"#EXTINF:-1,track03\n" +
		"potluck:track:" + modelID(2).String() + "\n" +
		"#EXTINF:480,坂本龍一 - Long song\n" +
		"https://example.org/t?a=1&b=2\n"
	if got := b.String(); got != want {
		t.Errorf("M3U:\n%s\nwant:\n%s", got, want)
	}
}

func TestPlaylistWriteXSPF(t *testing.T) {
	var b bytes.Buffer
	name := "Road <trip> & \"Café\" \x01"
	if err := WriteXSPF(&b, name, exportTracks(), exportLocations); err != nil {
		t.Fatal(err)
	}
	out := b.String()
	if !strings.HasPrefix(out, `<?xml version="1.0" encoding="UTF-8"?>`) ||
		!strings.Contains(out, `<playlist xmlns="http://xspf.org/ns/0/" version="1">`) {
		t.Errorf("not an XSPF 1 document:\n%s", out)
	}
	if !strings.Contains(out, "Crème &lt;brûlée&gt; &amp;") {
		t.Errorf("special characters not escaped:\n%s", out)
	}

	// Read back with a reader that knows nothing of ours: plain XML.
	var doc struct {
		XMLName xml.Name `xml:"http://xspf.org/ns/0/ playlist"`
		Version string   `xml:"version,attr"`
		Title   string   `xml:"title"`
		Tracks  []struct {
			Location   string `xml:"location"`
			Identifier string `xml:"identifier"`
			Title      string `xml:"title"`
			Creator    string `xml:"creator"`
			Album      string `xml:"album"`
			TrackNum   string `xml:"trackNum"`
			Duration   string `xml:"duration"`
		} `xml:"trackList>track"`
	}
	dec := xml.NewDecoder(strings.NewReader(out))
	dec.Strict = true
	if err := dec.Decode(&doc); err != nil {
		t.Fatalf("XSPF does not parse: %v\n%s", err, out)
	}
	if doc.Version != "1" || doc.Title != "Road <trip> & \"Café\" \uFFFD" {
		t.Errorf("version %q title %q", doc.Version, doc.Title)
	}
	type row struct{ loc, ident, title, creator, album, num, dur string }
	want := []row{
		{"file:///home/me/.cache/potluck/Cr%C3%A8me%20br%C3%BBl%C3%A9e%20%231.mp3", "potluck:track:" + modelID(1).String(),
			"Crème <brûlée> & \"friends\"", "Beyoncé", "Ärger & Co", "3", "215400"},
		{"potluck:track:" + modelID(2).String(), "potluck:track:" + modelID(2).String(), "track03", "", "", "", ""},
		{"https://example.org/t?a=1&b=2", "potluck:track:" + modelID(3).String(), "Long\nsong", "坂本龍一", "Mix", "", "480000"},
	}
	if len(doc.Tracks) != len(want) {
		t.Fatalf("%d tracks read back, want %d", len(doc.Tracks), len(want))
	}
	for i, tr := range doc.Tracks {
		got := row{tr.Location, tr.Identifier, tr.Title, tr.Creator, tr.Album, tr.TrackNum, tr.Duration}
		if got != want[i] {
			t.Errorf("track %d = %+v\nwant %+v", i, got, want[i])
		}
	}

	// An empty playlist is still a valid document with a trackList.
	b.Reset()
	if err := WriteXSPF(&b, "Empty", nil, nil); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(b.String(), "<trackList></trackList>") {
		t.Errorf("empty playlist:\n%s", b.String())
	}
}
