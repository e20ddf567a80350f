package player

import (
	"errors"
	"sync"
	"time"
)

// Sink plays PCM: interleaved 16-bit little-endian stereo frames.
//
// The Player calls a Sink from its one goroutine; Close may come from
// another. The caller that made a Sink closes it, after the Player.
type Sink interface {
	// Start readies the sink for PCM at rate Hz before a track's first
	// Write. It returns the rate the sink plays at: rate itself if the
	// sink can switch, else its own fixed rate, which the Player
	// converts to.
	Start(rate int) (int, error)
	// Write queues whole frames and blocks while the sink's buffer is
	// full: a real-time sink paces playback by it.
	Write(pcm []byte) (int, error)
	// Flush drops what was written and not yet played (a seek, a skip).
	Flush() error
	Close() error
}

// RealTimeSink is a Sink that plays at the pace of a clock, such as an
// audio device. The Player counts underruns and reports the position
// heard (not the position written) only for a RealTimeSink.
type RealTimeSink interface {
	Sink
	// Latency is how long, from now, until the last audio written so far
	// is heard: zero when the sink has run dry.
	Latency() time.Duration
}

// Idler is a Sink whose device can stop while nothing plays, rather than
// play silence (an audio device otherwise keeps writing it).
//
// The Player calls Idle when it has nothing to write for a while: before
// the first play, after the queue ended, when playback stopped, and when
// paused once the pause ramp is written; never between two tracks of a
// queue (the next one is written as soon as it decodes, for gapless
// playback). It calls Wake before it writes again. Both come from the
// Player's goroutine.
type Idler interface {
	Sink
	// Idle lets what the sink holds play out, then stops the device:
	// nothing, not even silence, goes to it until Wake.
	Idle() error
	// Wake starts the device again (a Write does not).
	Wake() error
}

// DefaultBuffer is the audio a Paced sink holds before Write blocks.
const DefaultBuffer = 100 * time.Millisecond

// PacedSink gives a Sink a real-time clock: it takes PCM at the pace a
// device would play it (speed times real time) and holds up to Buffer of
// it, like a device's buffer; what it takes goes on to the inner sink at
// once. It is a RealTimeSink.
type PacedSink struct {
	inner  Sink
	speed  float64
	buffer time.Duration

	mu        sync.Mutex
	rate      int
	queuedEnd time.Time // when all audio written so far will have played
	closed    chan struct{}
	closeOnce sync.Once
}

// Paced returns inner paced at speed times real time (speed ≤ 0 means 1),
// holding up to buffer of audio (≤ 0 means DefaultBuffer).
func Paced(inner Sink, speed float64, buffer time.Duration) *PacedSink {
	if speed <= 0 {
		speed = 1
	}
	if buffer <= 0 {
		buffer = DefaultBuffer
	}
	return &PacedSink{inner: inner, speed: speed, buffer: buffer, closed: make(chan struct{})}
}

// NewNullSink returns a sink that plays nothing, at speed times real time
// (≤ 0 means 1): headless playback and benchmarks, and tests that run
// faster than real time. It takes any sample rate.
func NewNullSink(speed float64) *PacedSink { return Paced(Discard, speed, 0) }

// Discard is a Sink that takes any rate and drops what it is given at
// once: wrapped in Paced, a null device.
var Discard Sink = discard{}

type discard struct{}

func (discard) Start(rate int) (int, error) { return rate, nil }
func (discard) Write(p []byte) (int, error) { return len(p), nil }
func (discard) Flush() error                { return nil }
func (discard) Close() error                { return nil }

// errSinkClosed is returned by writes to a closed sink.
var errSinkClosed = errors.New("sink closed")

// Start starts the inner sink and adopts the rate it plays at.
func (s *PacedSink) Start(rate int) (int, error) {
	r, err := s.inner.Start(rate)
	if err != nil {
		return 0, err
	}
	s.mu.Lock()
	s.rate = r
	s.mu.Unlock()
	return r, nil
}

// wall is the time pcm bytes take to play.
func (s *PacedSink) wall(bytes int) time.Duration {
	return time.Duration(float64(bytes/BytesPerFrame) / float64(s.rate) / s.speed * float64(time.Second))
}

// Write blocks until the buffer has room for pcm, then passes it on.
func (s *PacedSink) Write(pcm []byte) (int, error) {
	s.mu.Lock()
	rate := s.rate
	s.mu.Unlock()
	if rate <= 0 {
		return 0, errors.New("player: Write before Start")
	}
	// Pieces of at most half the buffer, so that a big write still paces.
	piece := max(int(float64(rate)*s.buffer.Seconds()/2), 1) * BytesPerFrame
	written := 0
	for len(pcm) > 0 {
		p := pcm[:min(len(pcm), piece)]
		d := s.wall(len(p))
		s.mu.Lock()
		now := time.Now()
		if s.queuedEnd.Before(now) {
			s.queuedEnd = now // ran dry: the clock starts again
		}
		wait := s.queuedEnd.Add(d).Sub(now) - time.Duration(float64(s.buffer)/s.speed)
		s.mu.Unlock()
		if wait > 0 {
			t := time.NewTimer(wait)
			select {
			case <-t.C:
			case <-s.closed:
				t.Stop()
				return written, errSinkClosed
			}
		}
		n, err := s.inner.Write(p)
		s.mu.Lock()
		if now := time.Now(); s.queuedEnd.Before(now) {
			s.queuedEnd = now
		}
		s.queuedEnd = s.queuedEnd.Add(s.wall(n))
		s.mu.Unlock()
		written += n
		if err != nil {
			return written, err
		}
		pcm = pcm[n:]
	}
	return written, nil
}

// Latency is the time until what was written has played.
func (s *PacedSink) Latency() time.Duration {
	s.mu.Lock()
	defer s.mu.Unlock()
	return max(time.Until(s.queuedEnd), 0)
}

// Flush drops the audio held: the clock has nothing left to play.
func (s *PacedSink) Flush() error {
	s.mu.Lock()
	s.queuedEnd = time.Now()
	s.mu.Unlock()
	return s.inner.Flush()
}

// Close unblocks a Write and closes the inner sink.
func (s *PacedSink) Close() error {
	s.closeOnce.Do(func() { close(s.closed) })
	return s.inner.Close()
}
