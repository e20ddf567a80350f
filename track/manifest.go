package track

import (
	"crypto/ed25519"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"time"
)

// DefaultChunkSize is the chunk size the origin cuts files into. Why 16 KiB
// is written down in docs/protocol.md ("Chunks").
const DefaultChunkSize = 16 << 10

// ManifestVersion is the version of the manifest format this package writes
// and the only one Open accepts.
const ManifestVersion = 1

// Limits that keep a hostile manifest from costing much.
const (
	MinChunkSize = 1 << 10
	MaxChunkSize = 4 << 20
	MaxFileSize  = 2 << 30
)

// Errors returned by Open and Manifest.VerifyChunk. Callers branch on them
// with errors.Is: a bad signature or bad chunk means a lying sender.
var (
	ErrBadSignature = errors.New("manifest signature does not match the origin key")
	ErrBadManifest  = errors.New("malformed manifest")
	ErrBadChunk     = errors.New("chunk does not match its hash")
)

// Manifest describes one track: what it is, how it is cut into chunks, the
// hash of every chunk and where its frames start in time.
type Manifest struct {
	Version int `json:"version"`
	ID      ID  `json:"id"`

	Title  string `json:"title"`
	Artist string `json:"artist,omitempty"`
	Album  string `json:"album,omitempty"`
	// AlbumArtist is the artist the album is filed under (ID3 TPE2), e.g.
	// "Various Artists" on a compilation; empty when the tag has none.
	AlbumArtist string `json:"album_artist,omitempty"`
	// DiscNumber is the disc of a multi-disc album, 0 when untagged.
	DiscNumber  int    `json:"disc_number,omitempty"`
	TrackNumber int    `json:"track_number,omitempty"`
	Year        int    `json:"year,omitempty"`
	Genre       string `json:"genre,omitempty"`
	// Cover is the MIME type of the embedded cover art, empty when there is none.
	Cover string `json:"cover,omitempty"`

	Audio Audio `json:"audio"`

	Size        int64  `json:"size"`
	ChunkSize   int    `json:"chunk_size"`
	ChunkHashes []Hash `json:"chunk_hashes"`
}

// Audio is what the origin learned from the MP3 frame headers.
type Audio struct {
	DurationMS      int64 `json:"duration_ms"`
	SampleRate      int   `json:"sample_rate"`
	Channels        int   `json:"channels"`
	Bitrate         int   `json:"bitrate"`
	VBR             bool  `json:"vbr,omitempty"`
	SamplesPerFrame int   `json:"samples_per_frame"`
	// Samples counts the PCM samples per channel in the audio frames, as a
	// decoder yields them (the encoder delay and padding included).
	Samples        int64 `json:"samples"`
	EncoderDelay   int   `json:"encoder_delay,omitempty"`
	EncoderPadding int   `json:"encoder_padding,omitempty"`
	// AudioStart and AudioEnd bound the MPEG frames in the file, past any
	// tags and the Xing/Info frame.
	AudioStart int64 `json:"audio_start"`
	AudioEnd   int64 `json:"audio_end"`
	// Preroll is how many frames before a target frame a decoder must start
	// for the target to decode exactly as in a whole-file decode (the bit
	// reservoir reaches back that far).
	Preroll int `json:"preroll"`
	// Seek lists frame starts in time order, the first at AudioStart.
	Seek []SeekPoint `json:"seek"`
}

// SeekPoint is a frame boundary: the frame at byte Offset starts with PCM
// sample number Sample (per channel, counted from AudioStart).
type SeekPoint struct {
	Sample int64
	Offset int64
}

// MarshalJSON writes a SeekPoint as [sample, offset], to keep manifests small.
func (p SeekPoint) MarshalJSON() ([]byte, error) {
	return json.Marshal([2]int64{p.Sample, p.Offset})
}

// UnmarshalJSON reads the form MarshalJSON writes.
func (p *SeekPoint) UnmarshalJSON(b []byte) error {
	var v [2]int64
	if err := json.Unmarshal(b, &v); err != nil {
		return err
	}
	p.Sample, p.Offset = v[0], v[1]
	return nil
}

// Duration is the track's playing time.
func (m *Manifest) Duration() time.Duration {
	return time.Duration(m.Audio.DurationMS) * time.Millisecond
}

// NumChunks is the number of chunks the file is cut into.
func (m *Manifest) NumChunks() int { return len(m.ChunkHashes) }

// ChunkBounds returns the byte offset and length of chunk i.
// It panics if i is out of range; check against NumChunks.
func (m *Manifest) ChunkBounds(i int) (offset int64, length int) {
	if i < 0 || i >= len(m.ChunkHashes) {
		panic(fmt.Sprintf("bug: chunk %d of %d", i, len(m.ChunkHashes)))
	}
	offset = int64(i) * int64(m.ChunkSize)
	return offset, int(min(int64(m.ChunkSize), m.Size-offset))
}

// ChunkAt returns the index of the chunk holding byte offset off.
func (m *Manifest) ChunkAt(off int64) int { return int(off / int64(m.ChunkSize)) }

// VerifyChunk checks that b is chunk i of this track, whole and unaltered.
func (m *Manifest) VerifyChunk(i int, b []byte) error {
	if i < 0 || i >= len(m.ChunkHashes) {
		return fmt.Errorf("%w: chunk %d out of range (track has %d)", ErrBadChunk, i, len(m.ChunkHashes))
	}
	if _, n := m.ChunkBounds(i); len(b) != n {
		return fmt.Errorf("%w: chunk %d is %d bytes, want %d", ErrBadChunk, i, len(b), n)
	}
	if HashChunk(b) != m.ChunkHashes[i] {
		return fmt.Errorf("%w: chunk %d of track %s", ErrBadChunk, i, m.ID)
	}
	return nil
}

// SeekPointAt returns the last seek point at or before time t (clamped to
// the track): where to start decoding to reach t.
func (m *Manifest) SeekPointAt(t time.Duration) SeekPoint {
	seek := m.Audio.Seek
	if len(seek) == 0 {
		return SeekPoint{Offset: m.Audio.AudioStart}
	}
	sample := int64(t.Seconds() * float64(m.Audio.SampleRate))
	i := sort.Search(len(seek), func(i int) bool { return seek[i].Sample > sample })
	if i == 0 {
		return seek[0]
	}
	return seek[i-1]
}

// Validate checks a manifest's internal consistency: sizes, chunk count,
// seek index order, and that its ID is derived from its chunk hashes.
func (m *Manifest) Validate() error {
	bad := func(format string, args ...any) error {
		return fmt.Errorf("%w: %s", ErrBadManifest, fmt.Sprintf(format, args...))
	}
	switch {
	case m.Version != ManifestVersion:
		return bad("version %d, want %d", m.Version, ManifestVersion)
	case m.ChunkSize < MinChunkSize || m.ChunkSize > MaxChunkSize:
		return bad("chunk size %d", m.ChunkSize)
	case m.Size <= 0 || m.Size > MaxFileSize:
		return bad("size %d", m.Size)
	}
	if want := (m.Size + int64(m.ChunkSize) - 1) / int64(m.ChunkSize); int64(len(m.ChunkHashes)) != want {
		return bad("%d chunk hashes for %d bytes, want %d", len(m.ChunkHashes), m.Size, want)
	}
	if DeriveID(m.Size, m.ChunkSize, m.ChunkHashes) != m.ID {
		return bad("id %s is not derived from its chunk hashes", m.ID)
	}
	a := m.Audio
	if a.SampleRate <= 0 || a.DurationMS < 0 || a.AudioStart < 0 || a.AudioEnd > m.Size || a.AudioStart > a.AudioEnd {
		return bad("audio fields out of range")
	}
	for i, p := range a.Seek {
		if p.Offset < a.AudioStart || p.Offset >= a.AudioEnd || p.Sample < 0 ||
			(i > 0 && (p.Sample <= a.Seek[i-1].Sample || p.Offset <= a.Seek[i-1].Offset)) {
			return bad("seek point %d out of order or range", i)
		}
	}
	return nil
}

// signingContext separates manifest signatures from any other use of the key.
const signingContext = "potluck manifest v1\x00"

// Signed is a manifest as it travels: the exact bytes that were signed and
// the signature over them. Keeping the bytes (not re-encoding) lets a newer
// origin add fields without breaking older clients' signature checks.
type Signed struct {
	Manifest  json.RawMessage `json:"manifest"`
	Signature []byte          `json:"signature"`
}

// Sign validates m, encodes it and signs it with the origin's key.
func Sign(m *Manifest, key ed25519.PrivateKey) ([]byte, error) {
	if err := m.Validate(); err != nil {
		return nil, err
	}
	body, err := json.Marshal(m)
	if err != nil {
		return nil, err
	}
	return json.Marshal(Signed{
		Manifest:  body,
		Signature: ed25519.Sign(key, append([]byte(signingContext), body...)),
	})
}

// Open verifies a signed manifest (as Sign writes it) against the pinned
// origin key and returns it. It fails with ErrBadSignature if the origin did
// not sign exactly these bytes, and with ErrBadManifest if they do not parse
// or do not hold together.
func Open(data []byte, originKey ed25519.PublicKey) (*Manifest, error) {
	var s Signed
	if err := json.Unmarshal(data, &s); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrBadManifest, err)
	}
	if len(originKey) != ed25519.PublicKeySize {
		return nil, fmt.Errorf("%w: no valid origin key pinned", ErrBadSignature)
	}
	if len(s.Signature) != ed25519.SignatureSize ||
		!ed25519.Verify(originKey, append([]byte(signingContext), s.Manifest...), s.Signature) {
		return nil, ErrBadSignature
	}
	var m Manifest
	if err := json.Unmarshal(s.Manifest, &m); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrBadManifest, err)
	}
	if err := m.Validate(); err != nil {
		return nil, err
	}
	return &m, nil
}
