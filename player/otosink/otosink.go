//go:build cgo

package otosink

import (
	"cmp"
	"errors"
	"fmt"
	"io"
	"sync"
	"time"

	"github.com/hajimehoshi/oto/v2"

	"github.com/potluckfm/potluck/player"
)

// The device is opened once per process: oto allows one context.
var (
	ctxMu   sync.Mutex
	ctxDone bool
	theCtx  *oto.Context
	theRate int
	theErr  error
)

// otoContext opens the device at rate, or returns what the first call
// opened (or why it failed: a failed device is not retried, as oto may
// keep a goroutine stuck in ALSA).
func otoContext(rate int, timeout time.Duration) (*oto.Context, int, error) {
	ctxMu.Lock()
	defer ctxMu.Unlock()
	if ctxDone {
		return theCtx, theRate, theErr
	}
	ctxDone = true
	c, ready, err := oto.NewContextWithOptions(&oto.NewContextOptions{
		SampleRate:   rate,
		ChannelCount: 2,
		Format:       oto.FormatSignedInt16LE,
	})
	if err != nil {
		theErr = fmt.Errorf("%w: %w", player.ErrNoAudioDevice, err)
		return nil, 0, theErr
	}
	t := time.NewTimer(timeout)
	defer t.Stop()
	select {
	case <-ready:
	case <-t.C:
		theErr = fmt.Errorf("%w: the audio device did not open within %s", player.ErrNoAudioDevice, timeout)
		return nil, 0, theErr
	}
	if err := c.Err(); err != nil {
		theErr = fmt.Errorf("%w: %w", player.ErrNoAudioDevice, err)
		return nil, 0, theErr
	}
	theCtx, theRate = c, rate
	return c, rate, nil
}

// deviceFrames is what oto's ALSA device buffer holds (two periods of
// 1024 frames, oto's default), and otoFrames what its player buffers.
const (
	deviceFrames = 2048
	otoFrames    = 2048
)

// Sink plays PCM on the audio device. It is a player.RealTimeSink: a pipe
// of Options.Buffer that oto drains at the device's pace.
type Sink struct {
	rate   int
	cap    int // bytes the pipe holds
	ctx    *oto.Context
	player oto.Player

	mu     sync.Mutex
	cond   *sync.Cond
	q      []byte
	buf    []byte // the queue's buffer, of cap bytes; q is a window on it
	closed bool
	taken  int64 // bytes oto took from the pipe

	// The device idles with oto's Context.Suspend (no writes to ALSA at
	// all) and wakes with Resume. idleMu is never held with mu.
	idleMu    sync.Mutex
	idleGen   int // Idle and Wake calls; an Idle's wait ends at the next
	suspended bool
}

var (
	_ player.RealTimeSink = (*Sink)(nil)
	_ player.Idler        = (*Sink)(nil)
)

// New opens the audio device (once per process) and returns a sink that
// plays on it. If there is no device, or it does not open within
// Options.OpenTimeout, New fails with an error wrapping
// player.ErrNoAudioDevice and the system's error; it does not hang.
func New(opts Options) (*Sink, error) {
	rate := cmp.Or(opts.SampleRate, 44100)
	buffer := cmp.Or(opts.Buffer, player.DefaultBuffer)
	c, rate, err := otoContext(rate, cmp.Or(opts.OpenTimeout, 5*time.Second))
	if err != nil {
		return nil, err
	}
	s := &Sink{rate: rate, cap: max(int(float64(rate)*buffer.Seconds()), 256) * player.BytesPerFrame}
	s.cond = sync.NewCond(&s.mu)
	s.player = c.NewPlayer(pipe{s})
	if bs, ok := s.player.(oto.BufferSizeSetter); ok {
		// oto's own buffer: small, so that Flush leaves little behind,
		// but two device periods, or each period would end in silence.
		bs.SetBufferSize(otoFrames * player.BytesPerFrame)
	}
	s.player.Play() // waits in the background for the first PCM
	s.ctx = c
	return s, nil
}

// Idle stops the device once what the sink holds has played (the
// player.Idler contract): oto's Context.Suspend, after which oto writes
// nothing to ALSA, not even silence, until Wake. The Player calls it when
// nothing plays. oto has one context per process, so this stops every
// sink's sound.
func (s *Sink) Idle() error {
	s.idleMu.Lock()
	s.idleGen++
	gen := s.idleGen
	s.idleMu.Unlock()
	go s.suspendWhenPlayed(gen)
	return nil
}

// suspendWhenPlayed suspends the device once the pipe, oto's buffer and
// the device's have played, unless Wake or Close came first.
func (s *Sink) suspendWhenPlayed(gen int) {
	current := func() bool {
		s.idleMu.Lock()
		defer s.idleMu.Unlock()
		return s.idleGen == gen
	}
	for {
		s.mu.Lock()
		left, closed := len(s.q), s.closed
		s.mu.Unlock()
		if closed || !current() {
			return
		}
		if left == 0 && s.player.UnplayedBufferSize() == 0 {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	time.Sleep(time.Duration(deviceFrames) * time.Second / time.Duration(s.rate))
	s.idleMu.Lock()
	defer s.idleMu.Unlock()
	if s.idleGen != gen || s.suspended {
		return
	}
	if err := s.ctx.Suspend(); err == nil {
		s.suspended = true
	}
}

// Wake starts the device again after Idle (oto's Context.Resume).
func (s *Sink) Wake() error {
	s.idleMu.Lock()
	defer s.idleMu.Unlock()
	s.idleGen++
	// Resume even if this sink did not suspend: oto's context is the
	// process's, and a sink closed while idle leaves it suspended.
	if err := s.ctx.Resume(); err != nil {
		return err
	}
	s.suspended = false
	return nil
}

// Start returns the rate the device plays at.
func (s *Sink) Start(rate int) (int, error) {
	if err := s.player.Err(); err != nil {
		return 0, err
	}
	return s.rate, nil
}

// Write queues PCM, blocking while the pipe is full.
func (s *Sink) Write(pcm []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for len(pcm) > 0 {
		for len(s.q) >= s.cap && !s.closed {
			s.cond.Wait()
		}
		if s.closed {
			return n, errors.New("otosink: sink closed")
		}
		k := min(s.cap-len(s.q), len(pcm))
		if len(s.q)+k > cap(s.q) {
			// The queue's tail reached the end of its buffer (reads
			// take from its head): move what is queued to the start,
			// rather than let append allocate a new buffer every time.
			if s.buf == nil {
				s.buf = make([]byte, 0, s.cap)
			}
			s.q = append(s.buf[:0], s.q...)
		}
		s.q = append(s.q, pcm[:k]...)
		pcm, n = pcm[k:], n+k
		s.cond.Broadcast()
	}
	return n, s.player.Err()
}

// Latency is the time until the last PCM written is heard: the pipe,
// oto's buffer and the device's.
func (s *Sink) Latency() time.Duration {
	s.mu.Lock()
	queued := len(s.q)
	s.mu.Unlock()
	frames := (queued+s.player.UnplayedBufferSize())/player.BytesPerFrame + deviceFrames
	return time.Duration(frames) * time.Second / time.Duration(s.rate)
}

// Flush drops the PCM in the pipe (oto's buffer and the device's, about
// 90 ms, still play).
func (s *Sink) Flush() error {
	s.mu.Lock()
	s.q = s.q[:0]
	s.cond.Broadcast()
	s.mu.Unlock()
	return nil
}

// Close stops the sink's player; the device stays open for the process.
func (s *Sink) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	s.cond.Broadcast()
	s.mu.Unlock()
	return s.player.Close()
}

// pipe is what oto reads: it blocks until PCM is queued, and ends at Close.
type pipe struct{ s *Sink }

func (p pipe) Read(b []byte) (int, error) {
	s := p.s
	s.mu.Lock()
	defer s.mu.Unlock()
	for len(s.q) == 0 && !s.closed {
		s.cond.Wait()
	}
	if len(s.q) == 0 {
		return 0, io.EOF
	}
	n := copy(b, s.q)
	n -= n % player.BytesPerFrame
	s.q = s.q[n:]
	s.taken += int64(n)
	s.cond.Broadcast()
	return n, nil
}
