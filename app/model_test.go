package app

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"
	"unicode"

	"golang.org/x/text/runes"
	"golang.org/x/text/transform"
	"golang.org/x/text/unicode/norm"

	"github.com/potluckfm/potluck/origin"
	"github.com/potluckfm/potluck/track"
)

// modelID makes a distinct track ID from n.
func modelID(n int) track.ID {
	var id track.ID
	id[0], id[1], id[15] = byte(n>>8), byte(n), 0xa5
	return id
}

// modelLibrary is a small catalogue with the cases a browser must get right,
// given in no useful order.
func modelLibrary() []origin.TrackInfo {
	const va = "Various Artists"
	return []origin.TrackInfo{
		{ID: modelID(1), Title: "Ünder the Bridge", Artist: "Beyoncé", AlbumArtist: va, Album: "Kitchen Radio Hits",
			DiscNumber: 2, TrackNumber: 1, Year: 2001, Genre: "Pop", DurationMS: 200_000},
		{ID: modelID(2), Title: "Second Song", Artist: "Zoë Keating", AlbumArtist: va, Album: "Kitchen Radio hits",
			DiscNumber: 1, TrackNumber: 2, Year: 1999, Genre: "Classical", DurationMS: 100_000, Cover: true},
		{ID: modelID(3), Title: "Opener", Artist: "Aaron Adams", AlbumArtist: va, Album: "Kitchen Radio Hits",
			DiscNumber: 1, TrackNumber: 1, Year: 1999, DurationMS: 60_000},
		{ID: modelID(4), Title: "Café Society", Artist: "Émile", Album: "Ärger", TrackNumber: 1, Year: 2005,
			DurationMS: 8 * 60_000, Cover: true},
		{ID: modelID(5), Title: "Straße", Artist: "emile", Album: "Blue", TrackNumber: 1, Year: 1990, DurationMS: 30_000},
		{ID: modelID(6), Title: "track03"}, // untagged: the file name is its title
		{ID: modelID(7), Title: "Demo", Artist: "Bob", DurationMS: 10_000},
		{ID: modelID(8), Title: "Zed Side", Artist: "Bob", Album: "Zed", TrackNumber: 1, DurationMS: 10_000},
		{ID: modelID(9), Title: "Yak", AlbumArtist: "Bob", Album: "Zed", TrackNumber: 2, Genre: "Jazz", DurationMS: 10_000},
		{ID: modelID(10), Title: "Noël", Artist: "Émile", Album: "Ärger", TrackNumber: 2, Year: 2005, DurationMS: 60_000},
		{ID: modelID(3), Title: "Opener (listed twice)", Artist: "Aaron Adams"},
	}
}

func titles(ts []origin.TrackInfo) []string {
	var out []string
	for _, t := range ts {
		out = append(out, t.Title)
	}
	return out
}

func TestModelAlbumsAndArtists(t *testing.T) {
	m := BuildModel(modelLibrary())
	if m.Len() != 10 {
		t.Errorf("Len = %d, want 10 (a repeated ID counts once)", m.Len())
	}

	type wantAlbum struct {
		title, artist string
		unknown       bool
		year          int
		tracks        []string
		cover         track.ID
		duration      time.Duration
	}
	want := []wantAlbum{
		{"Zed", "Bob", false, 0, []string{"Zed Side", "Yak"}, track.ID{}, 20 * time.Second},
		{UnknownAlbum, "Bob", true, 0, []string{"Demo"}, track.ID{}, 10 * time.Second},
		{"Blue", "Émile", false, 1990, []string{"Straße"}, track.ID{}, 30 * time.Second},
		{"Ärger", "Émile", false, 2005, []string{"Café Society", "Noël"}, modelID(4), 9 * time.Minute},
		{"Kitchen Radio Hits", "Various Artists", false, 2001,
			[]string{"Opener", "Second Song", "Ünder the Bridge"}, modelID(2), 6 * time.Minute},
		{UnknownAlbum, UnknownArtist, true, 0, []string{"track03"}, track.ID{}, 0},
	}
	albums := m.Albums()
	if len(albums) != len(want) {
		var got []string
		for _, a := range albums {
			got = append(got, a.Artist+"/"+a.Title)
		}
		t.Fatalf("albums %q, want %d", got, len(want))
	}
	keys := map[string]bool{}
	for i, a := range albums {
		w := want[i]
		if a.Title != w.title || a.Artist != w.artist || a.Unknown != w.unknown || a.Year != w.year ||
			!slices.Equal(titles(a.Tracks), w.tracks) || a.Cover != w.cover || a.Duration != w.duration {
			t.Errorf("album %d = {%q %q unknown=%v %d %q cover %v %v}, want %+v", i, a.Title, a.Artist,
				a.Unknown, a.Year, titles(a.Tracks), a.Cover, a.Duration, w)
		}
		if a.Key == "" || keys[a.Key] {
			t.Errorf("album %q: key %q empty or repeated", a.Title, a.Key)
		}
		keys[a.Key] = true
		for _, tr := range a.Tracks {
			if m.AlbumOf(tr.ID) != a {
				t.Errorf("AlbumOf(%q) is not %q", tr.Title, a.Title)
			}
		}
	}

	// A compilation is filed under its album artist only: Beyoncé, Zoë
	// Keating and Aaron Adams are no artists of their own. Émile, spelled
	// so twice and "emile" once, is one artist and keeps the accent.
	var names []string
	var counts []int
	for _, a := range m.Artists() {
		names = append(names, a.Name)
		counts = append(counts, a.Tracks)
	}
	if want := []string{"Bob", "Émile", "Various Artists", UnknownArtist}; !slices.Equal(names, want) {
		t.Errorf("artists %q, want %q", names, want)
	}
	if want := []int{3, 3, 3, 1}; !slices.Equal(counts, want) {
		t.Errorf("artists' track counts %v, want %v", counts, want)
	}
	if got := m.Artists()[1].Albums; len(got) != 2 || got[0].Title != "Blue" || got[1].Title != "Ärger" {
		t.Errorf("Émile's albums are not by year: %v", got)
	}

	if tr, ok := m.Track(modelID(1)); !ok || tr.Artist != "Beyoncé" {
		t.Errorf("Track(1) = %+v, %v", tr, ok)
	}
	if _, ok := m.Track(modelID(99)); ok || m.AlbumOf(modelID(99)) != nil {
		t.Error("an unknown ID was found")
	}
	if got := titles(m.Tracks()); !slices.Equal(got, []string{"Zed Side", "Yak", "Demo", "Straße", "Café Society", "Noël",
		"Opener", "Second Song", "Ünder the Bridge", "track03"}) {
		t.Errorf("Tracks() in order %q", got)
	}

	// The same catalogue in another order makes the same model.
	lib := modelLibrary()
	slices.Reverse(lib[:10])
	again := BuildModel(lib)
	for i, a := range again.Albums() {
		if a.Key != albums[i].Key || !slices.Equal(titles(a.Tracks), titles(albums[i].Tracks)) {
			t.Errorf("album %d differs when the input is reversed: %q", i, a.Title)
		}
	}
}

func TestModelSearch(t *testing.T) {
	m := BuildModel(modelLibrary())
	all := titles(m.Tracks())
	for _, tc := range []struct {
		query string
		want  []string
	}{
		{"", all},
		{"   ", all},
		{"cafe", []string{"Café Society"}},
		{"CAFÉ", []string{"Café Society"}},
		{"beyonce", []string{"Ünder the Bridge"}},
		{"under", []string{"Ünder the Bridge"}},
		{"zoe", []string{"Second Song"}},
		{"strasse", []string{"Straße"}},
		{"1999", []string{"Opener", "Second Song"}},
		{"various", []string{"Opener", "Second Song", "Ünder the Bridge"}},
		{"kitchen 2001", []string{"Ünder the Bridge"}},
		{"emile arger", []string{"Café Society", "Noël"}},
		{"noel", []string{"Noël"}},
		{"jazz", []string{"Yak"}},
		{"track03", []string{"track03"}},
		{"bob zed", []string{"Zed Side", "Yak"}},
		{"beyonce 1999", nil},
		{"unknown", nil}, // the model's own names are not tags
		{"nothing like it", nil},
	} {
		if got := titles(m.Search(tc.query)); !slices.Equal(got, tc.want) {
			t.Errorf("Search(%q) = %q, want %q", tc.query, got, tc.want)
		}
	}
	// The result is the caller's to change.
	got := m.Search("")
	got[0].Title = "changed"
	if m.Tracks()[0].Title == "changed" {
		t.Error("Search returned the model's own slice")
	}
}

// searchFold agrees with the textbook fold: NFD, drop the nonspacing
// marks, NFC, lower case; then the letters with no separable accent.
func TestModelSearchFold(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"Beyoncé", "beyonce"},
		{"  Café Society ", "cafe society"},
		{"Cafe\u0301", "cafe"}, // already decomposed
		{"Straße", "strasse"},
		{"Sigur Rós", "sigur ros"},
		{"Motörhead", "motorhead"},
		{"Ærøskøbing", "aeroskobing"},
		{"Łódź", "lodz"},
		{"ÉMILE", "emile"},
		{"Ωmega Ψ", "ωmega ψ"},
		{"坂本龍一", "坂本龍一"},
		{"한국어", "한국어"},
		{"ﬁle", "ﬁle"}, // a compatibility ligature stays (NFD, not NFKD)
		{"AC/DC", "ac/dc"},
		{"bad \xff byte", "bad \ufffd byte"},
	} {
		got := searchFold(tc.in)
		if got != tc.want {
			t.Errorf("searchFold(%q) = %q, want %q", tc.in, got, tc.want)
		}
		ref, _, err := transform.String(transform.Chain(norm.NFD, runes.Remove(runes.In(unicode.Mn)), norm.NFC), strings.TrimSpace(tc.in))
		if err != nil {
			t.Fatal(err)
		}
		ref = strings.NewReplacer("ß", "ss", "æ", "ae", "ø", "o", "ł", "l").Replace(strings.ToLower(ref))
		if got != ref {
			t.Errorf("searchFold(%q) = %q, the x/text fold gives %q", tc.in, got, ref)
		}
	}
}

func TestModelEmpty(t *testing.T) {
	m := BuildModel(nil)
	if m.Len() != 0 || len(m.Albums()) != 0 || len(m.Artists()) != 0 || len(m.Search("a")) != 0 || len(m.Search("")) != 0 {
		t.Error("an empty catalogue has content")
	}
}

// benchLibrary makes n tracks: albums of 10 tracks by 1 of 500 artists,
// some names accented, a compilation every 20 albums.
func benchLibrary(n int) []origin.TrackInfo {
	names := []string{"Beyoncé", "Sigur Rós", "Björk", "Motörhead", "Daft Punk", "Miles Davis", "Zoë Keating", "The Beatles"}
	out := make([]origin.TrackInfo, n)
	for i := range out {
		album := i / 10
		artist := fmt.Sprintf("%s %d", names[album%len(names)], album%500)
		t := origin.TrackInfo{
			ID: modelID(i), Title: fmt.Sprintf("Song number %d of the café", i), Artist: artist,
			Album: fmt.Sprintf("Album %d", album), TrackNumber: i%10 + 1, Year: 1960 + album%60,
			Genre: "Rock", DurationMS: 200_000, Cover: i%10 == 0,
		}
		if album%20 == 0 {
			t.AlbumArtist = "Various Artists"
		}
		out[i] = t
	}
	return out
}

func BenchmarkModelSearch(b *testing.B) {
	m := BuildModel(benchLibrary(10_000))
	for _, q := range []string{"b", "beyonce", "beyonce 19", "sigur ros album 42", "zzz"} {
		b.Run(q, func(b *testing.B) {
			for b.Loop() {
				m.Search(q)
			}
		})
	}
}

func BenchmarkBuildModel(b *testing.B) {
	lib := benchLibrary(10_000)
	for b.Loop() {
		BuildModel(lib)
	}
}
