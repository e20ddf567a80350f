package app

import (
	"bufio"
	"encoding/json"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"unicode/utf8"

	"github.com/potluckfm/potluck/internal/atomicfile"
	"github.com/potluckfm/potluck/origin"
	"github.com/potluckfm/potluck/track"
)

// Playlist is a named, ordered list of tracks; a track may appear twice.
type Playlist struct {
	Name   string     `json:"name"`
	Tracks []track.ID `json:"tracks"`
}

// MaxPlaylistName is the longest playlist name, in characters.
const MaxPlaylistName = 200

// Errors of the PlaylistStore; they come wrapped with the name concerned.
var (
	ErrNoPlaylist     = errors.New("no such playlist")
	ErrPlaylistExists = errors.New("a playlist of that name exists")
	ErrPlaylistName   = errors.New("bad playlist name")
)

// playlistsVersion is the version of the playlists file this code writes.
const playlistsVersion = 1

// playlistsFile is the playlists file: the playlists in the order they were
// made, and the liked tracks, most recently liked first.
type playlistsFile struct {
	Version   int        `json:"version"`
	Playlists []Playlist `json:"playlists"`
	Likes     []track.ID `json:"likes"`
}

// PlaylistStore keeps the listener's playlists and likes in one JSON file,
// rewritten whole and atomically on every change. Likes are a set apart
// from the playlists: a track is liked or not, and no playlist name is
// taken by them. Safe for concurrent use.
type PlaylistStore struct {
	path    string
	changed chan struct{}

	mu    sync.Mutex
	f     playlistsFile
	liked map[track.ID]bool
}

// OpenPlaylists reads the playlists file at path; a missing file means no
// playlists yet. A file that cannot be read is an error naming it, and is
// left untouched for the listener to look at.
func OpenPlaylists(path string) (*PlaylistStore, error) {
	st := &PlaylistStore{path: path, changed: make(chan struct{}, 1), liked: map[track.ID]bool{}}
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		st.f.Version = playlistsVersion
		return st, nil
	}
	if err != nil {
		return nil, fmt.Errorf("playlists: %w", err)
	}
	damaged := func(format string, args ...any) error {
		return fmt.Errorf("playlists file %s is damaged (%s); it was left as it is: move it away to start with no playlists",
			path, fmt.Sprintf(format, args...))
	}
	if err := json.Unmarshal(b, &st.f); err != nil {
		return nil, damaged("%v", err)
	}
	if st.f.Version > playlistsVersion {
		return nil, fmt.Errorf("playlists file %s is of version %d, written by a newer Potluck; this one reads version %d",
			path, st.f.Version, playlistsVersion)
	}
	st.f.Version = playlistsVersion
	for i, p := range st.f.Playlists {
		if err := checkPlaylistName(p.Name); err != nil {
			return nil, damaged("playlist %d: %v", i+1, err)
		}
		if st.index(p.Name) != i {
			return nil, damaged("two playlists are named %q", p.Name)
		}
	}
	st.f.Likes = slices.DeleteFunc(st.f.Likes, func(id track.ID) bool {
		dup := st.liked[id]
		st.liked[id] = true
		return dup
	})
	return st, nil
}

// Changed receives a value after every change (buffered: several changes
// may be reported once). It is meant for one reader, the UI.
func (st *PlaylistStore) Changed() <-chan struct{} { return st.changed }

// List returns every playlist, in the order they were made.
func (st *PlaylistStore) List() []Playlist {
	st.mu.Lock()
	defer st.mu.Unlock()
	out := make([]Playlist, len(st.f.Playlists))
	for i, p := range st.f.Playlists {
		out[i] = Playlist{Name: p.Name, Tracks: slices.Clone(p.Tracks)}
	}
	return out
}

// Get returns the playlist named name (ignoring case).
func (st *PlaylistStore) Get(name string) (Playlist, bool) {
	st.mu.Lock()
	defer st.mu.Unlock()
	i := st.index(name)
	if i < 0 {
		return Playlist{}, false
	}
	p := st.f.Playlists[i]
	return Playlist{Name: p.Name, Tracks: slices.Clone(p.Tracks)}, true
}

// Create makes an empty playlist. The name is trimmed; an empty name, one
// of over MaxPlaylistName characters, one with control characters or one
// already taken (ignoring case) is refused.
func (st *PlaylistStore) Create(name string) error {
	name = strings.TrimSpace(name)
	if err := checkPlaylistName(name); err != nil {
		return err
	}
	return st.update(func(f *playlistsFile) error {
		if st.index(name) >= 0 {
			return fmt.Errorf("%w: %q", ErrPlaylistExists, name)
		}
		f.Playlists = append(f.Playlists, Playlist{Name: name, Tracks: []track.ID{}})
		return nil
	})
}

// Rename gives playlist old the name new, under the rules of Create; a
// change of case alone is allowed.
func (st *PlaylistStore) Rename(old, new string) error {
	new = strings.TrimSpace(new)
	if err := checkPlaylistName(new); err != nil {
		return err
	}
	return st.update(func(f *playlistsFile) error {
		i, err := st.mustIndex(old)
		if err != nil {
			return err
		}
		if j := st.index(new); j >= 0 && j != i {
			return fmt.Errorf("%w: %q", ErrPlaylistExists, new)
		}
		f.Playlists[i].Name = new
		return nil
	})
}

// Delete removes a playlist.
func (st *PlaylistStore) Delete(name string) error {
	return st.update(func(f *playlistsFile) error {
		i, err := st.mustIndex(name)
		if err != nil {
			return err
		}
		f.Playlists = slices.Delete(f.Playlists, i, i+1)
		return nil
	})
}

// Add appends tracks to a playlist.
func (st *PlaylistStore) Add(name string, ids ...track.ID) error {
	return st.update(func(f *playlistsFile) error {
		i, err := st.mustIndex(name)
		if err != nil {
			return err
		}
		f.Playlists[i].Tracks = append(f.Playlists[i].Tracks, ids...)
		return nil
	})
}

// Remove takes the track at index out of a playlist.
func (st *PlaylistStore) Remove(name string, index int) error {
	return st.update(func(f *playlistsFile) error {
		i, err := st.mustIndex(name)
		if err != nil {
			return err
		}
		p := &f.Playlists[i]
		if index < 0 || index >= len(p.Tracks) {
			return fmt.Errorf("playlist %q has no track %d (it has %d)", p.Name, index, len(p.Tracks))
		}
		p.Tracks = slices.Delete(p.Tracks, index, index+1)
		return nil
	})
}

// Move moves the track at index from to index to, as in a list where it
// is dragged: the tracks between shift by one.
func (st *PlaylistStore) Move(name string, from, to int) error {
	return st.update(func(f *playlistsFile) error {
		i, err := st.mustIndex(name)
		if err != nil {
			return err
		}
		p := &f.Playlists[i]
		n := len(p.Tracks)
		if from < 0 || from >= n || to < 0 || to >= n {
			return fmt.Errorf("playlist %q: cannot move track %d to %d (it has %d)", p.Name, from, to, n)
		}
		id := p.Tracks[from]
		p.Tracks = slices.Insert(slices.Delete(p.Tracks, from, from+1), to, id)
		return nil
	})
}

// Like likes a track (on) or takes the like back. Liking a liked track
// makes it the most recent like.
func (st *PlaylistStore) Like(id track.ID, on bool) error { return st.LikeAll(on, id) }

// LikeAll likes (on) or unlikes ids in one write; liked ones go to the
// front in the order given.
func (st *PlaylistStore) LikeAll(on bool, ids ...track.ID) error {
	return st.update(func(f *playlistsFile) error {
		f.Likes = slices.DeleteFunc(f.Likes, func(x track.ID) bool { return slices.Contains(ids, x) })
		if on {
			f.Likes = slices.Insert(f.Likes, 0, ids...)
		}
		return nil
	})
}

// Liked reports whether a track is liked.
func (st *PlaylistStore) Liked(id track.ID) bool {
	st.mu.Lock()
	defer st.mu.Unlock()
	return st.liked[id]
}

// Likes returns the liked tracks, most recently liked first.
func (st *PlaylistStore) Likes() []track.ID {
	st.mu.Lock()
	defer st.mu.Unlock()
	return slices.Clone(st.f.Likes)
}

// update applies change to a copy of the state, writes the copy and only
// then makes it the state: a change that cannot be saved is not made.
// The index helpers called inside change see the state before it.
func (st *PlaylistStore) update(change func(f *playlistsFile) error) error {
	st.mu.Lock()
	defer st.mu.Unlock()
	next := playlistsFile{Version: playlistsVersion, Likes: slices.Clone(st.f.Likes)}
	for _, p := range st.f.Playlists {
		next.Playlists = append(next.Playlists, Playlist{Name: p.Name, Tracks: slices.Clone(p.Tracks)})
	}
	if err := change(&next); err != nil {
		return err
	}
	if err := st.save(&next); err != nil {
		return err
	}
	st.f = next
	clear(st.liked)
	for _, id := range next.Likes {
		st.liked[id] = true
	}
	select {
	case st.changed <- struct{}{}:
	default:
	}
	return nil
}

// save writes f to a temporary file, flushes it to the disk and renames it
// over the playlists file, so a crash leaves the old file or the new one.
func (st *PlaylistStore) save(f *playlistsFile) error {
	if f.Playlists == nil {
		f.Playlists = []Playlist{}
	}
	if f.Likes == nil {
		f.Likes = []track.ID{}
	}
	b, err := json.MarshalIndent(f, "", "  ")
	if err != nil {
		return err
	}
	if err := atomicfile.Write(st.path, append(b, '\n')); err != nil {
		return fmt.Errorf("playlists not saved: %w", err)
	}
	return nil
}

// index returns the index of the playlist named name (ignoring case and
// surrounding space), or -1. Callers hold st.mu.
func (st *PlaylistStore) index(name string) int {
	name = strings.TrimSpace(name)
	return slices.IndexFunc(st.f.Playlists, func(p Playlist) bool { return strings.EqualFold(p.Name, name) })
}

func (st *PlaylistStore) mustIndex(name string) (int, error) {
	i := st.index(name)
	if i < 0 {
		return -1, fmt.Errorf("%w: %q", ErrNoPlaylist, name)
	}
	return i, nil
}

func checkPlaylistName(name string) error {
	switch {
	case name == "":
		return fmt.Errorf("%w: a playlist needs a name", ErrPlaylistName)
	case !utf8.ValidString(name):
		return fmt.Errorf("%w: %q is not valid text", ErrPlaylistName, name)
	case utf8.RuneCountInString(name) > MaxPlaylistName:
		return fmt.Errorf("%w: names are at most %d characters", ErrPlaylistName, MaxPlaylistName)
	case strings.ContainsFunc(name, func(r rune) bool { return r < ' ' || r == 0x7f }):
		return fmt.Errorf("%w: %q holds a control character", ErrPlaylistName, name)
	}
	return nil
}

// TrackURI names a track by its ID, whatever holds it: "potluck:track:<id>".
func TrackURI(id track.ID) string { return "potluck:track:" + id.String() }

// exportLocation is where an exported playlist says a track is: what the
// caller's location gives, else the track's URI.
func exportLocation(location func(track.ID) string, id track.ID) string {
	if location != nil {
		if l := location(id); l != "" {
			return l
		}
	}
	return TrackURI(id)
}

// oneLine keeps text on one line of an M3U file.
var oneLine = strings.NewReplacer("\r\n", " ", "\r", " ", "\n", " ")

// WriteM3U writes tracks as an extended M3U playlist (UTF-8, so fit for
// ".m3u8" too): #EXTM3U, #PLAYLIST:name, then per track
// "#EXTINF:seconds,Artist - Title" and its location. location gives a file
// path or URL for a track; a nil location, or an empty answer, writes the
// track's URI (TrackURI). Unknown durations are written as -1.
func WriteM3U(w io.Writer, name string, tracks []origin.TrackInfo, location func(track.ID) string) error {
	bw := bufio.NewWriter(w)
	fmt.Fprintf(bw, "#EXTM3U\n#PLAYLIST:%s\n", oneLine.Replace(name))
	for _, t := range tracks {
		secs := int64(-1)
		if t.DurationMS > 0 {
			secs = (t.DurationMS + 500) / 1000
		}
		label := t.Title
		if t.Artist != "" {
			label = t.Artist + " - " + t.Title
		}
		fmt.Fprintf(bw, "#EXTINF:%d,%s\n%s\n", secs, oneLine.Replace(label), oneLine.Replace(exportLocation(location, t.ID)))
	}
	return bw.Flush()
}

// XSPF is the document WriteXSPF writes (XSPF version 1).
type XSPF struct {
	XMLName xml.Name    `xml:"http://xspf.org/ns/0/ playlist"`
	Version int         `xml:"version,attr"`
	Title   string      `xml:"title,omitempty"`
	Tracks  []XSPFTrack `xml:"trackList>track"`
}

// XSPFTrack is one track of an XSPF playlist.
type XSPFTrack struct {
	Location   string `xml:"location,omitempty"`
	Identifier string `xml:"identifier,omitempty"`
	Title      string `xml:"title,omitempty"`
	Creator    string `xml:"creator,omitempty"`
	Album      string `xml:"album,omitempty"`
	TrackNum   int    `xml:"trackNum,omitempty"`
	DurationMS int64  `xml:"duration,omitempty"`
}

// WriteXSPF writes tracks as an XSPF playlist titled name: per track its
// location, identifier (TrackURI), title, creator (the artist), album,
// track number and duration in milliseconds. location is as for WriteM3U;
// an absolute file path becomes a file: URL, as XSPF wants URIs.
func WriteXSPF(w io.Writer, name string, tracks []origin.TrackInfo, location func(track.ID) string) error {
	doc := XSPF{Version: 1, Title: name, Tracks: make([]XSPFTrack, 0, len(tracks))}
	for _, t := range tracks {
		doc.Tracks = append(doc.Tracks, XSPFTrack{
			Location:   fileURL(exportLocation(location, t.ID)),
			Identifier: TrackURI(t.ID),
			Title:      t.Title,
			Creator:    t.Artist,
			Album:      t.Album,
			TrackNum:   max(t.TrackNumber, 0),
			DurationMS: max(t.DurationMS, 0),
		})
	}
	if _, err := io.WriteString(w, xml.Header); err != nil {
		return err
	}
	enc := xml.NewEncoder(w)
	enc.Indent("", "  ")
	if err := enc.Encode(doc); err != nil {
		return err
	}
	if err := enc.Close(); err != nil {
		return err
	}
	_, err := io.WriteString(w, "\n")
	return err
}

// fileURL turns an absolute file path into a file: URL; anything else is
// returned as it is.
func fileURL(loc string) string {
	if !filepath.IsAbs(loc) {
		return loc
	}
	p := filepath.ToSlash(loc)
	if !strings.HasPrefix(p, "/") {
		p = "/" + p // C:/Music → /C:/Music
	}
	return (&url.URL{Scheme: "file", Path: p}).String()
}
