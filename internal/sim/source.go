package sim

import (
	"io"
	"sync"
	"time"

	"github.com/potluckfm/potluck/internal/nodeconf"
	"github.com/potluckfm/potluck/player"
	"github.com/potluckfm/potluck/swarm"
	"github.com/potluckfm/potluck/track"
)

// decodeAhead is the PCM the player keeps between its decoder and a sink:
// 8 blocks of 1152 frames (player/decodeloop.go) plus the sink's buffer.
// A read of the source that blocks longer than this leaves the sink with
// nothing to play.
func decodeAhead(rate int, sinkBuffer time.Duration) time.Duration {
	return time.Duration(8*1152*int64(time.Second)/int64(max(rate, 1))) + sinkBuffer
}

// watchedSource is a swarm Stream as the player reads it, timing reads:
// a read during playback (not the first after opening or seeking) that
// blocks longer than the audio the pipeline holds is a source stall, the
// network's share of stutter. The player's own underrun count also
// includes sinks that ran dry because the CPU was busy.
type watchedSource struct {
	*swarm.Stream
	limit time.Duration        // wall time
	clock func() time.Duration // the run's time, simulated

	mu        sync.Mutex
	gen       int  // seeks so far
	flowing   bool // a read has returned since the open or the last seek
	stalls    int
	stallTime time.Duration // beyond limit, wall time
	events    []stallEvent  // the first maxStallEvents stalls

	// onChunk, if set, is called with the index of each chunk the player
	// reads bytes of (once per run of reads in one chunk); pos is the
	// byte position of the next read, lastChunk the chunk read last.
	onChunk   func(i int)
	pos       int64
	lastChunk int
}

var _ player.Source = (*watchedSource)(nil)

func newWatchedSource(s *swarm.Stream, speed float64, sinkBuffer time.Duration, clock func() time.Duration) *watchedSource {
	ahead := decodeAhead(s.Manifest().Audio.SampleRate, sinkBuffer)
	return &watchedSource{Stream: s, limit: time.Duration(float64(ahead) / speed), clock: clock, lastChunk: -1}
}

// Read reads the stream. The first read after the open or a seek waits
// for the start (start or seek latency), not a stall; so does a read that
// a seek overtook.
func (w *watchedSource) Read(p []byte) (int, error) {
	w.mu.Lock()
	gen, flowing, pos := w.gen, w.flowing, w.pos
	w.mu.Unlock()
	start := time.Now()
	n, err := w.Stream.Read(p)
	took := time.Since(start)
	w.mu.Lock()
	if gen != w.gen {
		// A seek overtook the read, which returned bytes from where
		// the seek went.
		pos = w.pos
	}
	w.pos = pos + int64(n)
	read := -1
	if m := w.Manifest(); n > 0 && pos < m.Size {
		read = m.ChunkAt(pos)
	}
	if read >= 0 && read != w.lastChunk {
		w.lastChunk = read
	} else {
		read = -1
	}
	if gen == w.gen && err == nil {
		if flowing && took > w.limit {
			w.stalls++
			w.stallTime += took - w.limit
			if len(w.events) < maxStallEvents && w.clock != nil {
				w.events = append(w.events, stallEvent{at: w.clock(), blocked: took})
			}
		}
		w.flowing = true
	}
	onChunk := w.onChunk
	w.mu.Unlock()
	if read >= 0 && onChunk != nil {
		onChunk(read)
	}
	return n, err
}

// seeking notes a seek to byte position to (before the stream takes it,
// so that a read it overtakes counts from there).
func (w *watchedSource) seeking(to func(cur int64) int64) {
	w.mu.Lock()
	w.gen++
	w.flowing = false
	w.pos = to(w.pos)
	w.lastChunk = -1
	w.mu.Unlock()
}

func (w *watchedSource) Seek(off int64, whence int) (int64, error) {
	w.seeking(func(cur int64) int64 {
		switch whence {
		case io.SeekCurrent:
			return cur + off
		case io.SeekEnd:
			return w.Manifest().Size + off
		}
		return off
	})
	return w.Stream.Seek(off, whence)
}

func (w *watchedSource) SeekTime(t time.Duration) (track.SeekPoint, error) {
	sp := w.Manifest().SeekPointAt(t) // where the stream's SeekTime goes
	w.seeking(func(int64) int64 { return sp.Offset })
	return w.Stream.SeekTime(t)
}

// SourceStats are the stream's (the player reports them in
// PlayStats.Swarm).
func (w *watchedSource) SourceStats() player.SourceStats {
	return nodeconf.SourceStats(w.Stream.Stats())
}

// stallStats returns the stalls so far, their time beyond the buffer and
// the first few of them.
func (w *watchedSource) stallStats() (int, time.Duration, []stallEvent) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.stalls, w.stallTime, append([]stallEvent(nil), w.events...)
}
