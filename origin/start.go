package origin

// The start of a play in one request: GET /v1/tracks/{id}/start answers
// with the signed manifest and then the chunks that hold the first audio,
// in that order on one stream, so that a listener's first sound is one
// round trip away and the first chunk is not slowed by the ones after it
// (responses on parallel streams share the link and finish together).
// Peers answer a START request with the same parts (swarm's peer
// protocol), which is why the framing is exported.

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"

	"github.com/potluckfm/potluck/track"
)

// Start response framing: each part is a header (kind, chunk index, length,
// big-endian) and its bytes. The manifest part comes first, then chunk
// parts in increasing index.
const (
	startPartManifest     byte = 'M'
	startPartManifestGzip byte = 'Z' // the signed manifest, gzip-compressed
	// the signed manifest packed (track.PackSigned) and gzip-compressed,
	// sent to an asker that says it reads it (startPackedQuery)
	startPartManifestPacked byte = 'P'
	startPartChunk          byte = 'C'
	startHeaderLen               = 1 + 4 + 4

	// StartContentType is the media type of a start response.
	StartContentType = "application/vnd.potluck.start"
	// DefaultStartChunks is how many chunks a start sends when the request
	// does not say; MaxStartChunks the most it sends.
	DefaultStartChunks = 2
	MaxStartChunks     = 4
	// maxStartManifest bounds a manifest part, as Client.Manifest bounds
	// a manifest.
	maxStartManifest = 64 << 20
	// startPackedQuery is the start request's query parameter by which a
	// client says it reads a packed manifest part (manifest=packed): an
	// origin older than the packed form ignores it and sends the
	// compressed one.
	startPackedQuery, startPacked = "manifest", "packed"
)

// StartChunks returns the chunks a start of m sends: n of them from the
// one holding the first audio frame (the decoder begins there; chunks
// before it hold only tags and cover art).
func StartChunks(m *track.Manifest, n int) (first, end int) {
	if m.NumChunks() == 0 {
		return 0, 0
	}
	first = int(max(m.Audio.AudioStart, 0) / int64(m.ChunkSize))
	first = min(first, m.NumChunks()-1)
	return first, min(first+n, m.NumChunks())
}

func (s *Server) getStart(w http.ResponseWriter, r *http.Request) error {
	e, err := s.entry(r)
	if err != nil {
		return err
	}
	n := DefaultStartChunks
	query := r.URL.Query()
	if v := query.Get("chunks"); v != "" {
		n, err = strconv.Atoi(v)
		if err != nil || n < 0 || n > MaxStartChunks {
			return badRequest("chunks %q: want 0 to %d", v, MaxStartChunks)
		}
	}
	m := e.Manifest
	first, end := StartChunks(m, n)
	// Read every chunk before the first byte goes out: a file changed
	// since the scan is then a clean 503, not a cut response.
	chunks := make([][]byte, 0, end-first)
	for i := first; i < end; i++ {
		b, err := s.readChunk(e, i)
		if err != nil {
			return err
		}
		chunks = append(chunks, b)
	}
	w.Header().Set("Content-Type", StartContentType)
	w.Header().Set("Cache-Control", immutable)
	rc := http.NewResponseController(w)
	manifest, kind := e.signedGzip, startPartManifestGzip
	switch {
	case e.signedPacked != nil && query.Get(startPackedQuery) == startPacked:
		manifest, kind = e.signedPacked, startPartManifestPacked
	case manifest == nil:
		manifest, kind = e.Signed, startPartManifest
	}
	if err := writeStartPart(w, kind, 0, manifest); err != nil {
		return err
	}
	_ = rc.Flush() // the manifest leaves at once; a writer that cannot flush sends it with the rest
	for k, b := range chunks {
		if err := writeStartPart(w, startPartChunk, first+k, b); err != nil {
			return err
		}
		s.chunkBytes.Add(int64(len(b)))
		_ = rc.Flush()
	}
	return nil
}

// WriteStartManifest writes a start response's first part: the signed
// manifest, uncompressed, or, if packed, packed and compressed, as the
// origin sends it to a client that reads that form (and compressed if it
// does not pack: such a client reads that too).
func WriteStartManifest(w io.Writer, signed []byte, packed bool) error {
	if !packed {
		return writeStartPart(w, startPartManifest, 0, signed)
	}
	kind := startPartManifestPacked
	b, err := packGzip(signed)
	if errors.Is(err, errNoPack) {
		kind = startPartManifestGzip
		b, err = gzipBytes(signed)
	}
	if err != nil {
		return err
	}
	return writeStartPart(w, kind, 0, b)
}

// errNoPack is packGzip's error for a manifest that does not pack.
var errNoPack = errors.New("manifest does not pack")

// packGzip packs a signed manifest (track.PackSigned) and compresses it,
// as a start's packed part carries it.
func packGzip(signed []byte) ([]byte, error) {
	packed, err := track.PackSigned(signed)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", errNoPack, err)
	}
	return gzipBytes(packed)
}

// WriteStartChunk writes a start response's part carrying chunk i.
func WriteStartChunk(w io.Writer, i int, b []byte) error {
	return writeStartPart(w, startPartChunk, i, b)
}

func writeStartPart(w io.Writer, kind byte, index int, b []byte) error {
	var h [startHeaderLen]byte
	h[0] = kind
	binary.BigEndian.PutUint32(h[1:5], uint32(index))
	binary.BigEndian.PutUint32(h[5:9], uint32(len(b)))
	if _, err := w.Write(h[:]); err != nil {
		return err
	}
	_, err := w.Write(b)
	return err
}

// StartReader reads a start response: the verified manifest at once, then
// the chunks one at a time as they arrive, each verified against it.
type StartReader struct {
	// Manifest is the track's manifest, verified against the pinned key;
	// Signed its signed encoding.
	Manifest *track.Manifest
	Signed   []byte

	body io.ReadCloser
	next int // the least index the next chunk part may have
	addr string
}

// Start asks the origin for the start of a play of id: the manifest and n
// chunks from the one holding the first audio (DefaultStartChunks if n is
// 0 or less). It returns once the manifest has arrived and been verified;
// Next then reads the chunks. ctx governs the whole response, chunks
// included; the caller closes the StartReader.
//
// An origin older than this request answers 404 for every track, as it
// does for a track it does not have: the caller can ask for the manifest
// alone then.
func (c *Client) Start(ctx context.Context, id track.ID, n int) (*StartReader, error) {
	if n <= 0 {
		n = DefaultStartChunks
	}
	n = min(n, MaxStartChunks)
	resp, err := c.do(ctx, http.MethodGet, "/v1/tracks/"+id.String()+"/start?chunks="+strconv.Itoa(n)+"&"+startPackedQuery+"="+startPacked, nil)
	if err != nil {
		return nil, err
	}
	sr, err := ReadStart(resp.Body, c.url.Key, id)
	if err != nil {
		resp.Body.Close()
		return nil, fmt.Errorf("origin %s: start of %s: %w", c.Addr(), id, err)
	}
	sr.addr = c.Addr()
	return sr, nil
}

// ReadStart reads a start response's manifest part from body and checks
// it is id's, signed by key; the StartReader it returns reads the chunks
// and closes body.
func ReadStart(body io.ReadCloser, key []byte, id track.ID) (*StartReader, error) {
	kind, _, b, err := readStartPart(body, maxStartManifest)
	if err != nil {
		return nil, fmt.Errorf("manifest part: %w", err)
	}
	switch kind {
	case startPartManifest:
	case startPartManifestGzip, startPartManifestPacked:
		if b, err = gunzipBytes(b, maxStartManifest); err != nil {
			return nil, fmt.Errorf("%w: compressed manifest: %v", track.ErrBadManifest, err)
		}
		if kind == startPartManifestPacked {
			if b, err = track.UnpackSigned(b, maxStartManifest); err != nil {
				return nil, err
			}
		}
	default:
		return nil, fmt.Errorf("%w: start response begins with part %q, want the manifest", track.ErrBadManifest, kind)
	}
	m, err := track.Open(b, key)
	if err != nil {
		return nil, err
	}
	if m.ID != id {
		return nil, fmt.Errorf("%w: asked for %s, got %s", track.ErrBadManifest, id, m.ID)
	}
	return &StartReader{Manifest: m, Signed: b, body: body}, nil
}

// Next returns the next chunk of the start, verified, and its index. It
// returns io.EOF after the last one. A chunk that does not match the
// manifest, an index out of order or a malformed part ends the response
// with an error.
func (sr *StartReader) Next() (int, []byte, error) {
	kind, i, b, err := readStartPart(sr.body, track.MaxChunkSize)
	if err != nil {
		if !errors.Is(err, io.EOF) && sr.addr != "" {
			err = fmt.Errorf("origin %s: start of %s: %w", sr.addr, sr.Manifest.ID, err)
		}
		return 0, nil, err
	}
	m := sr.Manifest
	if kind != startPartChunk || i < sr.next || i >= m.NumChunks() {
		return 0, nil, fmt.Errorf("%w: start of %s: unexpected part %q for chunk %d", track.ErrBadManifest, m.ID, kind, i)
	}
	if err := m.VerifyChunk(i, b); err != nil {
		return 0, nil, err
	}
	sr.next = i + 1
	return i, b, nil
}

// Close ends the response; chunks not read yet are not sent.
func (sr *StartReader) Close() error { return sr.body.Close() }

// readStartPart reads one part of at most limit bytes. io.EOF means the
// response ended cleanly between parts.
func readStartPart(r io.Reader, limit int) (kind byte, index int, b []byte, err error) {
	var h [startHeaderLen]byte
	if _, err := io.ReadFull(r, h[:]); err != nil {
		if errors.Is(err, io.ErrUnexpectedEOF) {
			err = errors.New("start response cut inside a part header")
		}
		return 0, 0, nil, err
	}
	kind = h[0]
	index = int(binary.BigEndian.Uint32(h[1:5]))
	size := binary.BigEndian.Uint32(h[5:9])
	if uint64(size) > uint64(limit) {
		return 0, 0, nil, fmt.Errorf("start part of %d bytes, more than the %d allowed", size, limit)
	}
	// Grow as bytes arrive rather than trust the announced size up front:
	// a peer answers starts too.
	b, err = io.ReadAll(io.LimitReader(r, int64(size)))
	if err == nil && len(b) != int(size) {
		err = io.ErrUnexpectedEOF
	}
	if err != nil {
		return 0, 0, nil, fmt.Errorf("start response cut inside a part: %w", err)
	}
	return kind, index, b, nil
}

// gzipBytes compresses b (a signed manifest: its hex chunk hashes take
// about half the room compressed).
func gzipBytes(b []byte) ([]byte, error) {
	var buf bytes.Buffer
	w, err := gzip.NewWriterLevel(&buf, gzip.BestCompression)
	if err != nil {
		return nil, err
	}
	if _, err := w.Write(b); err != nil {
		return nil, err
	}
	if err := w.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// gunzipBytes decompresses b, refusing more than limit bytes.
func gunzipBytes(b []byte, limit int) ([]byte, error) {
	r, err := gzip.NewReader(bytes.NewReader(b))
	if err != nil {
		return nil, err
	}
	out, err := io.ReadAll(io.LimitReader(r, int64(limit)+1))
	if err != nil {
		return nil, err
	}
	if len(out) > limit {
		return nil, fmt.Errorf("more than %d bytes", limit)
	}
	return out, nil
}
