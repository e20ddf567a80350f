package origin

import (
	"bytes"
	"cmp"
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"path"
	"runtime"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/dhowden/tag"

	"github.com/potluckfm/potluck/origin/mp3index"
	"github.com/potluckfm/potluck/track"
)

// Entry is one servable track of a Catalog.
type Entry struct {
	// Path is the file's slash-separated path inside the library.
	Path string
	// Manifest is the track's manifest; Signed is its signed encoding, as served.
	Manifest *track.Manifest
	Signed   []byte
	// Cover is the embedded cover art (its MIME type is Manifest.Cover).
	Cover []byte
	// coverSum is Cover's SHA-256 in hex, "" if there is none.
	coverSum string
	// signedGzip is Signed compressed, as the manifest request sends it
	// when asked to; signedPacked is Signed packed (track.PackSigned) and
	// compressed, as the start of a play sends it, or nil if it does not
	// pack and the start sends signedGzip.
	signedGzip   []byte
	signedPacked []byte

	size    int64
	modTime time.Time
}

// Catalog is the result of one library scan. It is immutable once built, so
// a rescan builds a new one and swaps it in while requests go on.
type Catalog struct {
	entries []*Entry
	byID    map[track.ID]*Entry
	bytes   int64
	skipped int
	// The signed catalogue of the scan (see sign): its tracks, version
	// and envelope.
	tracks  []TrackInfo
	version int64
	signed  []byte
}

// Entries returns the tracks in catalogue order (album artist, else artist;
// album; disc; track number; title). The slice must not be modified.
func (c *Catalog) Entries() []*Entry { return c.entries }

// Lookup returns the entry for id, or nil.
func (c *Catalog) Lookup(id track.ID) *Entry { return c.byID[id] }

// Len is the number of tracks.
func (c *Catalog) Len() int { return len(c.entries) }

// Bytes is the total size of the tracks' files.
func (c *Catalog) Bytes() int64 { return c.bytes }

// Skipped is the number of MP3 files that could not be served.
func (c *Catalog) Skipped() int { return c.skipped }

// Search returns the entries whose title, artist, album artist, album or
// genre contain every word of query, ignoring case. An empty query matches
// every track.
func (c *Catalog) Search(query string) []*Entry {
	words := strings.Fields(strings.ToLower(query))
	if len(words) == 0 {
		return c.entries
	}
	var out []*Entry
	for _, e := range c.entries {
		m := e.Manifest
		hay := strings.ToLower(strings.Join([]string{m.Title, m.Artist, m.AlbumArtist, m.Album, m.Genre}, "\n"))
		if !slices.ContainsFunc(words, func(w string) bool { return !strings.Contains(hay, w) }) {
			out = append(out, e)
		}
	}
	return out
}

// ScanOptions tune ScanLibrary.
type ScanOptions struct {
	// ChunkSize is the chunk size of new manifests; 0 means track.DefaultChunkSize.
	ChunkSize int
	// Previous is the last catalog of the same library: files whose size and
	// modification time did not change are reused instead of read again.
	Previous *Catalog
	// Logger receives one line per skipped file; nil means slog.Default().
	Logger *slog.Logger
}

// ErrNoLibrary means the library directory could not be read at all.
var ErrNoLibrary = errors.New("library not readable")

// ScanLibrary walks fsys for MP3 files (any depth, case-insensitive
// extension) and builds the catalog: tags, frame index, chunk hashes and a
// signed manifest per file, and the signed catalogue of them all (whose
// version is opts.Previous's if the tracks did not change). A file that is not MP3, is empty, truncated or
// unreadable is skipped with one log line naming it; the rest is served.
func ScanLibrary(ctx context.Context, fsys fs.FS, key ed25519.PrivateKey, opts ScanOptions) (*Catalog, error) {
	log := cmp.Or(opts.Logger, slog.Default())
	chunkSize := cmp.Or(opts.ChunkSize, track.DefaultChunkSize)
	if _, err := fs.Stat(fsys, "."); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrNoLibrary, err)
	}

	var paths []string
	err := fs.WalkDir(fsys, ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			if p == "." {
				return err
			}
			log.Warn("skipping unreadable path", "path", p, "err", err)
			return nil
		}
		if !d.IsDir() && strings.EqualFold(path.Ext(p), ".mp3") {
			paths = append(paths, p)
		}
		return ctx.Err()
	})
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrNoLibrary, err)
	}

	results := make([]*Entry, len(paths))
	errs := make([]error, len(paths))
	work := make(chan int)
	var wg sync.WaitGroup
	for range runtime.GOMAXPROCS(0) {
		wg.Go(func() {
			for i := range work {
				results[i], errs[i] = scanFile(fsys, paths[i], key, chunkSize, opts.Previous)
			}
		})
	}
feed:
	for i := range paths {
		select {
		case work <- i:
		case <-ctx.Done():
			break feed
		}
	}
	close(work)
	wg.Wait()
	if err := ctx.Err(); err != nil {
		return nil, err
	}

	c := &Catalog{byID: make(map[track.ID]*Entry)}
	for i, e := range results {
		if errs[i] != nil {
			log.Warn("skipping file", "path", paths[i], "err", errs[i])
			c.skipped++
			continue
		}
		if prev := c.byID[e.Manifest.ID]; prev != nil {
			log.Info("skipping duplicate file", "path", paths[i], "same_as", prev.Path)
			continue
		}
		if e.signedPacked == nil {
			log.Warn("manifest does not pack (track.PackSigned); its starts send it compressed", "path", e.Path)
		}
		c.byID[e.Manifest.ID] = e
		c.entries = append(c.entries, e)
		c.bytes += e.size
	}
	slices.SortFunc(c.entries, func(a, b *Entry) int {
		x, y := a.Manifest, b.Manifest
		return cmp.Or(
			cmp.Compare(strings.ToLower(cmp.Or(x.AlbumArtist, x.Artist)), strings.ToLower(cmp.Or(y.AlbumArtist, y.Artist))),
			cmp.Compare(strings.ToLower(x.Album), strings.ToLower(y.Album)),
			cmp.Compare(x.DiscNumber, y.DiscNumber),
			cmp.Compare(x.TrackNumber, y.TrackNumber),
			cmp.Compare(strings.ToLower(x.Title), strings.ToLower(y.Title)),
			cmp.Compare(a.Path, b.Path),
		)
	})
	if err := c.sign(key, opts.Previous, time.Now()); err != nil {
		return nil, err
	}
	return c, nil
}

// scanFile builds the entry for one file, or says why it cannot be served.
func scanFile(fsys fs.FS, p string, key ed25519.PrivateKey, chunkSize int, prev *Catalog) (*Entry, error) {
	// Stat (following links) before opening: opening a FIFO would block.
	st, err := fs.Stat(fsys, p)
	if err != nil {
		return nil, err
	}
	switch {
	case !st.Mode().IsRegular():
		return nil, errors.New("not a regular file")
	case st.Size() == 0:
		return nil, errors.New("empty file")
	case st.Size() > track.MaxFileSize:
		return nil, fmt.Errorf("file of %d bytes is over the %d byte limit", st.Size(), track.MaxFileSize)
	}
	if prev != nil {
		if e := prev.byPath(p); e != nil && e.size == st.Size() && e.modTime.Equal(st.ModTime()) {
			return e, nil
		}
	}
	f, err := fsys.Open(p)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, track.MaxFileSize+1))
	if err != nil {
		return nil, err
	}
	if int64(len(data)) != st.Size() {
		return nil, fmt.Errorf("read %d bytes, file is %d bytes: it changed while scanned", len(data), st.Size())
	}
	e, err := buildEntry(p, data, key, chunkSize)
	if err != nil {
		return nil, err
	}
	e.size, e.modTime = st.Size(), st.ModTime()
	return e, nil
}

// byPath finds the entry read from path p. Rescans are rare, so a linear
// search keeps Catalog small.
func (c *Catalog) byPath(p string) *Entry {
	for _, e := range c.entries {
		if e.Path == p {
			return e
		}
	}
	return nil
}

// buildEntry indexes, hashes and signs the bytes of one MP3 file.
func buildEntry(p string, data []byte, key ed25519.PrivateKey, chunkSize int) (*Entry, error) {
	info, err := mp3index.Scan(bytes.NewReader(data), int64(len(data)), mp3index.Options{})
	if err != nil {
		return nil, err
	}
	m := &track.Manifest{
		Version:   track.ManifestVersion,
		Size:      int64(len(data)),
		ChunkSize: chunkSize,
		Audio: track.Audio{
			DurationMS:      info.Duration.Milliseconds(),
			SampleRate:      info.SampleRate,
			Channels:        info.Channels,
			Bitrate:         info.Bitrate,
			VBR:             info.VBR,
			SamplesPerFrame: info.SamplesPerFrame,
			Samples:         info.Samples,
			EncoderDelay:    info.EncoderDelay,
			EncoderPadding:  info.EncoderPadding,
			AudioStart:      info.AudioStart,
			AudioEnd:        info.AudioEnd,
			Preroll:         info.Preroll,
		},
	}
	for _, sp := range info.Seek {
		m.Audio.Seek = append(m.Audio.Seek, track.SeekPoint{Sample: sp.Sample, Offset: sp.Offset})
	}
	for off := 0; off < len(data); off += chunkSize {
		m.ChunkHashes = append(m.ChunkHashes, track.HashChunk(data[off:min(off+chunkSize, len(data))]))
	}
	m.ID = track.DeriveID(m.Size, chunkSize, m.ChunkHashes)

	e := &Entry{Path: p, Manifest: m}
	applyTags(m, e, data, p)
	if e.Signed, err = track.Sign(m, key); err != nil {
		return nil, err
	}
	if e.signedGzip, err = gzipBytes(e.Signed); err != nil {
		return nil, err
	}
	if e.signedPacked, err = packGzip(e.Signed); errors.Is(err, errNoPack) {
		e.signedPacked, err = nil, nil // the start sends signedGzip
	}
	if err != nil {
		return nil, err
	}
	return e, nil
}

// applyTags fills the manifest's metadata from the file's tags, falling back
// to the file name for the title when tags are missing or unreadable.
func applyTags(m *track.Manifest, e *Entry, data []byte, p string) {
	if md, err := tag.ReadFrom(bytes.NewReader(data)); err == nil {
		m.Title = clean(md.Title())
		m.Artist = clean(cmp.Or(md.Artist(), md.AlbumArtist()))
		m.Album = clean(md.Album())
		m.AlbumArtist = clean(md.AlbumArtist())
		m.DiscNumber, _ = md.Disc()
		m.Genre = clean(md.Genre())
		m.Year = md.Year()
		m.TrackNumber, _ = md.Track()
		if pic := md.Picture(); pic != nil && len(pic.Data) > 0 {
			e.Cover = pic.Data
			e.coverSum = coverSum(pic.Data)
			m.Cover = coverType(pic)
		}
	}
	if m.Title == "" {
		m.Title = titleFromPath(p)
	}
}

func coverType(pic *tag.Picture) string {
	if strings.HasPrefix(pic.MIMEType, "image/") {
		return pic.MIMEType
	}
	switch strings.ToLower(pic.Ext) {
	case "png":
		return "image/png"
	case "gif":
		return "image/gif"
	}
	return "image/jpeg"
}

// clean trims the NUL padding and spaces some taggers leave behind.
func clean(s string) string { return strings.TrimSpace(strings.Trim(s, "\x00")) }

// titleFromPath makes a title from a file name: "02_blue_in_green.mp3"
// becomes "02 blue in green".
func titleFromPath(p string) string {
	name := strings.TrimSuffix(path.Base(p), path.Ext(p))
	return strings.TrimSpace(strings.NewReplacer("_", " ").Replace(name))
}
