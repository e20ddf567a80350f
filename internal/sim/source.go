package sim

import (
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
}

var _ player.Source = (*watchedSource)(nil)

func newWatchedSource(s *swarm.Stream, speed float64, sinkBuffer time.Duration, clock func() time.Duration) *watchedSource {
	ahead := decodeAhead(s.Manifest().Audio.SampleRate, sinkBuffer)
	return &watchedSource{Stream: s, limit: time.Duration(float64(ahead) / speed), clock: clock}
}

// Read reads the stream. The first read after the open or a seek waits
// for the start (start or seek latency), not a stall; so does a read that
// a seek overtook.
func (w *watchedSource) Read(p []byte) (int, error) {
	w.mu.Lock()
	gen, flowing := w.gen, w.flowing
	w.mu.Unlock()
	start := time.Now()
	n, err := w.Stream.Read(p)
	took := time.Since(start)
	w.mu.Lock()
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
	w.mu.Unlock()
	return n, err
}

func (w *watchedSource) seeking() {
	w.mu.Lock()
	w.gen++
	w.flowing = false
	w.mu.Unlock()
}

func (w *watchedSource) Seek(off int64, whence int) (int64, error) {
	w.seeking()
	return w.Stream.Seek(off, whence)
}

func (w *watchedSource) SeekTime(t time.Duration) (track.SeekPoint, error) {
	w.seeking()
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
