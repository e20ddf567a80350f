package player

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sync"
	"time"

	"github.com/potluckfm/potluck/track"
)

// Errors of decoding and playing. Callers branch on them with errors.Is.
var (
	// ErrCorrupt means the MP3 data is damaged: no frame goes on where the
	// last one ended. Playback stops at the damage.
	ErrCorrupt = errors.New("corrupt MP3 data")
	// ErrTruncated means the data ends before the audio the manifest describes.
	ErrTruncated = errors.New("truncated track")
	// ErrSeekPastEnd is returned by seeks beyond the end of the track.
	ErrSeekPastEnd = errors.New("seek past the end of the track")
	// ErrNoAudio means a manifest has no usable audio section (no sample
	// rate, frame size or audio range).
	ErrNoAudio = errors.New("manifest describes no playable audio")
	// ErrNoAudioDevice means no audio device could be opened (no sound
	// card, ALSA refused, a cgo-less build). Sinks wrap the system's error
	// in it; callers can go on with NewNullSink.
	ErrNoAudioDevice = errors.New("no audio device")
	// ErrClosed is returned by the methods of a closed Player.
	ErrClosed = errors.New("player closed")
)

// DecodeError says where in which track decoding stopped, and why.
type DecodeError struct {
	Track track.ID
	// At is the playback time of the damage (the last audio decoded).
	At time.Duration
	// Err wraps ErrCorrupt, ErrTruncated or the source's error.
	Err error
}

func (e *DecodeError) Error() string {
	return fmt.Sprintf("track %s at %s: %v", e.Track, e.At.Truncate(time.Millisecond), e.Err)
}

func (e *DecodeError) Unwrap() error { return e.Err }

// Source is what a track is read from: its MP3 bytes in order from any
// position, and its manifest. *swarm.Stream is a Source.
//
// A Source that is also a StatsSource tells where its bytes came from.
//
// Read blocks until bytes arrive. Seek positions the next Read at a byte
// offset; it may be called from another goroutine while a Read is blocked,
// and that Read should then return (bytes from either position, or an
// error) once bytes at the new position arrive: the player drops what it
// returns. (A Read that stays blocked costs a reopen: if the decoder has
// not taken a seek up within 150 ms, the Player opens the track again and
// closes the stuck Source.) SetPosition reports the playback position,
// for a source that paces its fetching by it; it is called from the
// player's goroutine, concurrently with Read. A prefetched Source, not
// playing yet, is told minus the time until the track before it ends.
// Close ends the source and unblocks a Read.
type Source interface {
	io.Reader
	io.Seeker
	io.Closer
	SetPosition(time.Duration)
	Manifest() *track.Manifest
}

// An Opener opens the Source of a track. The Player opens each play's
// Source through it and closes it when the play ends; it opens the next
// track a little before the current one ends (prefetch), so that its head
// is fetched in time.
type Opener interface {
	Open(ctx context.Context, id track.ID) (Source, error)
}

type prefetchKey struct{}

// IsPrefetch reports whether the player opens the track of ctx ahead of
// its turn (the next track, before the current one ends) rather than to
// play it now. An Opener may then fetch less eagerly: the track's start is
// not due yet.
func IsPrefetch(ctx context.Context) bool {
	v, _ := ctx.Value(prefetchKey{}).(bool)
	return v
}

// OpenFunc is a func that is an Opener.
type OpenFunc func(ctx context.Context, id track.ID) (Source, error)

// Open calls f.
func (f OpenFunc) Open(ctx context.Context, id track.ID) (Source, error) { return f(ctx, id) }

// StatsSource is a Source that tells where its bytes came from, as a
// swarm Stream does; the Player reports it in PlayStats.Swarm.
type StatsSource interface {
	Source
	SourceStats() SourceStats
}

// SourceStats say where a Source's bytes came from, in bytes by source.
type SourceStats struct {
	FromCache, FromPeers, FromOrigin int64
	// Peers is how many distinct peers delivered.
	Peers int
	// FirstByte is the time from the open to the first bytes at the read
	// position.
	FirstByte time.Duration
	// Dropped counts pieces refused because they were damaged.
	Dropped int
}

// add sums the stats of two Sources of one play (one replaced the other).
func (a SourceStats) add(b SourceStats) SourceStats {
	a.FromCache += b.FromCache
	a.FromPeers += b.FromPeers
	a.FromOrigin += b.FromOrigin
	a.Peers = max(a.Peers, b.Peers)
	a.Dropped += b.Dropped
	if a.FirstByte == 0 {
		a.FirstByte = b.FirstByte
	}
	return a
}

// readerSource is a Source over an io.ReadSeeker.
type readerSource struct {
	mu sync.Mutex
	r  io.ReadSeeker
	m  *track.Manifest
}

// NewReaderSource returns a Source that reads the track described by m
// from r: a local file, bytes in memory. Its reads and seeks are
// serialised, so a Seek waits for a Read in progress. Close closes r if it
// is an io.Closer.
func NewReaderSource(r io.ReadSeeker, m *track.Manifest) Source {
	return &readerSource{r: r, m: m}
}

func (s *readerSource) Read(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.r.Read(p)
}

func (s *readerSource) Seek(off int64, whence int) (int64, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.r.Seek(off, whence)
}

func (s *readerSource) Close() error {
	if c, ok := s.r.(io.Closer); ok {
		return c.Close()
	}
	return nil
}

func (s *readerSource) SetPosition(time.Duration) {}
func (s *readerSource) Manifest() *track.Manifest { return s.m }
