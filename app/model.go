package app

import (
	"bytes"
	"cmp"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"golang.org/x/text/unicode/norm"

	"github.com/potluckfm/potluck/origin"
	"github.com/potluckfm/potluck/track"
)

// Names the model gives to what the tags leave out.
const (
	UnknownArtist = "Unknown artist"
	UnknownAlbum  = "Unknown album"
)

// Album is a group of tracks filed together: one album of one album artist.
type Album struct {
	// Key identifies the album within a Model, and across models built
	// from catalogues that still hold it: its folded artist and title.
	Key string
	// Title is the album's name, UnknownAlbum for an artist's tracks that
	// have no album tag.
	Title string
	// Artist is the album artist (e.g. "Various Artists" on a compilation),
	// or the track artist when the tags name no album artist.
	Artist string
	// Unknown marks the UnknownAlbum group of an artist's album-less tracks.
	Unknown bool
	// Year is the latest year of its tracks (a compilation's release), 0 if
	// none is tagged.
	Year int
	// Tracks in order of disc, then track number, then title.
	Tracks []origin.TrackInfo
	// Cover is the first track with cover art; zero if none has any.
	Cover track.ID
	// Duration is the playing time of all its tracks.
	Duration time.Duration

	titleKey string // folded Title, "" for the UnknownAlbum group
}

// Artist is an album artist and its albums. A compilation is filed under
// its album artist, not under each of its track artists.
type Artist struct {
	Name string
	// Albums by year, then title; the UnknownAlbum group, if any, last.
	Albums []*Album
	// Tracks counts the tracks in Albums.
	Tracks int
}

// Model is the catalogue arranged for browsing and searching. It is
// immutable once built, so it is safe for concurrent use; a new catalogue
// makes a new Model.
type Model struct {
	tracks  []origin.TrackInfo // by artist, album, disc, track number
	byID    map[track.ID]int   // index into tracks
	albumOf map[track.ID]*Album
	albums  []*Album
	artists []*Artist
	hay     []string // folded search text of tracks[i]
}

// BuildModel arranges tracks (in any order) into albums and artists.
// Tracks without an album tag form one UnknownAlbum per artist, listed
// after the artist's albums; tracks without artist or album artist belong
// to UnknownArtist, listed after every other artist. Names that differ only
// in case or accents are one artist or one album.
func BuildModel(tracks []origin.TrackInfo) *Model {
	m := &Model{
		byID:    make(map[track.ID]int, len(tracks)),
		albumOf: make(map[track.ID]*Album, len(tracks)),
	}
	type keyed struct {
		t                   origin.TrackInfo
		artistKey, albumKey string
		titleKey            string
		unknownArtist       bool
	}
	ks := make([]keyed, 0, len(tracks))
	for _, t := range tracks {
		if _, dup := m.byID[t.ID]; dup {
			continue
		}
		m.byID[t.ID] = -1
		name := albumArtistOf(t)
		ks = append(ks, keyed{t: t, artistKey: searchFold(name), albumKey: searchFold(t.Album),
			titleKey: searchFold(t.Title), unknownArtist: name == ""})
	}
	slices.SortFunc(ks, func(a, b keyed) int {
		return cmp.Or(
			compareArtistKeys(a.artistKey, a.unknownArtist, b.artistKey, b.unknownArtist),
			compareAlbumKeys(a.albumKey, b.albumKey),
			cmp.Compare(a.t.DiscNumber, b.t.DiscNumber),
			cmp.Compare(a.t.TrackNumber, b.t.TrackNumber),
			strings.Compare(a.titleKey, b.titleKey),
			bytes.Compare(a.t.ID[:], b.t.ID[:]),
		)
	})

	m.tracks = make([]origin.TrackInfo, len(ks))
	m.hay = make([]string, len(ks))
	var artist *Artist
	var album *Album
	for i, k := range ks {
		t := k.t
		if i == 0 || k.artistKey != ks[i-1].artistKey || k.unknownArtist != ks[i-1].unknownArtist {
			artist = &Artist{Name: cmp.Or(albumArtistOf(t), UnknownArtist)}
			m.artists = append(m.artists, artist)
			album = nil
		}
		if album == nil || k.albumKey != ks[i-1].albumKey {
			album = &Album{
				Key:      k.artistKey + "\x00" + k.albumKey,
				Title:    cmp.Or(t.Album, UnknownAlbum),
				Artist:   artist.Name,
				Unknown:  k.albumKey == "",
				titleKey: k.albumKey,
			}
			if k.unknownArtist {
				album.Key = "\x01" + album.Key // never the key of a named artist's album
			}
			artist.Albums = append(artist.Albums, album)
		}
		album.Tracks = append(album.Tracks, t)
		album.Year = max(album.Year, t.Year)
		album.Duration += time.Duration(t.DurationMS) * time.Millisecond
		if t.Cover && album.Cover.IsZero() {
			album.Cover = t.ID
		}
		artist.Tracks++
		m.albumOf[t.ID] = album
	}
	// Names spelled several ways take their most common spelling, and
	// the tracks take the order of the albums.
	i := 0
	for _, a := range m.artists {
		slices.SortStableFunc(a.Albums, compareAlbumsOfArtist)
		m.albums = append(m.albums, a.Albums...)
		if name := commonSpelling(a.Albums, albumArtistOf); name != "" {
			a.Name = name
		}
		for _, al := range a.Albums {
			al.Artist = a.Name
			if !al.Unknown {
				al.Title = commonSpelling([]*Album{al}, func(t origin.TrackInfo) string { return strings.TrimSpace(t.Album) })
			}
			for _, t := range al.Tracks {
				m.tracks[i] = t
				m.byID[t.ID] = i
				m.hay[i] = searchHaystack(t)
				i++
			}
		}
	}
	return m
}

// commonSpelling returns the most common name(t) of the albums' tracks;
// of equally common ones, the one that reached that count first.
func commonSpelling(albums []*Album, name func(origin.TrackInfo) string) string {
	counts := map[string]int{}
	best, bestN := "", 0
	for _, a := range albums {
		for _, t := range a.Tracks {
			n := name(t)
			counts[n]++
			if counts[n] > bestN {
				best, bestN = n, counts[n]
			}
		}
	}
	return best
}

// Track returns the track with this ID.
func (m *Model) Track(id track.ID) (origin.TrackInfo, bool) {
	i, ok := m.byID[id]
	if !ok {
		return origin.TrackInfo{}, false
	}
	return m.tracks[i], true
}

// Len is the number of tracks.
func (m *Model) Len() int { return len(m.tracks) }

// Tracks returns every track in browsing order: by artist (album artist
// first), album, disc, track number. The slice must not be modified.
func (m *Model) Tracks() []origin.TrackInfo { return m.tracks }

// Albums returns every album by artist, then year, then title, ignoring
// case and accents. The slice must not be modified.
func (m *Model) Albums() []*Album { return m.albums }

// Artists returns the album artists by name, ignoring case and accents,
// UnknownArtist last. The slice must not be modified.
func (m *Model) Artists() []*Artist { return m.artists }

// AlbumOf returns the album a track is filed in, nil for an unknown track.
func (m *Model) AlbumOf(id track.ID) *Album { return m.albumOf[id] }

// Search returns the tracks, in browsing order, whose title, artist, album
// artist, album, genre or year contain every word of query, ignoring case
// and accents: "cafe" finds "Café", "1999" finds that year's tracks. An
// empty query returns every track. The result is the caller's.
func (m *Model) Search(query string) []origin.TrackInfo {
	words := strings.Fields(searchFold(query))
	if len(words) == 0 {
		return slices.Clone(m.tracks)
	}
	// Gather indexes first: a wide match then copies each track once.
	var hits []int32
	for i, h := range m.hay {
		if matchesAll(h, words) {
			hits = append(hits, int32(i))
		}
	}
	if len(hits) == 0 {
		return nil
	}
	out := make([]origin.TrackInfo, len(hits))
	for j, i := range hits {
		out[j] = m.tracks[i]
	}
	return out
}

func matchesAll(hay string, words []string) bool {
	for _, w := range words {
		if !strings.Contains(hay, w) {
			return false
		}
	}
	return true
}

// albumArtistOf is the name a track is filed under.
func albumArtistOf(t origin.TrackInfo) string {
	return strings.TrimSpace(cmp.Or(strings.TrimSpace(t.AlbumArtist), t.Artist))
}

func compareArtistKeys(a string, aUnknown bool, b string, bUnknown bool) int {
	if aUnknown != bUnknown {
		if aUnknown {
			return 1
		}
		return -1
	}
	return strings.Compare(a, b)
}

// compareAlbumKeys puts an artist's album-less tracks (key "") after its albums.
func compareAlbumKeys(a, b string) int {
	if (a == "") != (b == "") {
		if a == "" {
			return 1
		}
		return -1
	}
	return strings.Compare(a, b)
}

func compareAlbumsOfArtist(a, b *Album) int {
	if a.Unknown != b.Unknown {
		if a.Unknown {
			return 1
		}
		return -1
	}
	return cmp.Or(cmp.Compare(a.Year, b.Year), strings.Compare(a.titleKey, b.titleKey))
}

// searchHaystack is the folded text Search matches a track against.
func searchHaystack(t origin.TrackInfo) string {
	parts := []string{t.Title, t.Artist, t.AlbumArtist, t.Album, t.Genre}
	if t.Year != 0 {
		parts = append(parts, strconv.Itoa(t.Year))
	}
	return searchFold(strings.Join(parts, "\n"))
}

// searchFold lowers s and strips its accents, as NFD followed by removing
// the nonspacing marks (Mn) would, and spells out the few letters whose
// accent does not come apart ("ß" as "ss", "ø" as "o"), the way people type
// them on a keyboard without them: "Beyoncé" becomes "beyonce". It trims
// surrounding space, so names that differ only in it are equal. It works a
// rune at a time from the decomposition tables, without a transformer's
// buffers, as it runs for every track when a model is built.
func searchFold(s string) string {
	s = strings.TrimSpace(s)
	ascii := true
	for i := 0; i < len(s); i++ {
		if s[i] >= utf8.RuneSelf {
			ascii = false
			break
		}
	}
	if ascii {
		return strings.ToLower(s)
	}
	var b strings.Builder
	b.Grow(len(s))
	for i := 0; i < len(s); {
		if c := s[i]; c < utf8.RuneSelf {
			if 'A' <= c && c <= 'Z' {
				c += 'a' - 'A'
			}
			b.WriteByte(c)
			i++
			continue
		}
		p := norm.NFD.PropertiesString(s[i:])
		n := max(p.Size(), 1)
		d := p.Decomposition()
		if d == nil {
			d = []byte(s[i : i+n])
		}
		for len(d) > 0 {
			r, size := utf8.DecodeRune(d)
			d = d[size:]
			if !unicode.Is(unicode.Mn, r) {
				foldRune(&b, unicode.ToLower(r))
			}
		}
		i += n
	}
	return b.String()
}

func foldRune(b *strings.Builder, r rune) {
	switch r {
	case 'ß':
		b.WriteString("ss")
	case 'æ':
		b.WriteString("ae")
	case 'œ':
		b.WriteString("oe")
	case 'þ':
		b.WriteString("th")
	case 'ø':
		b.WriteByte('o')
	case 'ł':
		b.WriteByte('l')
	case 'đ', 'ð':
		b.WriteByte('d')
	case 'ı':
		b.WriteByte('i')
	default:
		b.WriteRune(r)
	}
}
