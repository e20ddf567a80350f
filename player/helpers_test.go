package player

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"encoding/binary"
	"errors"
	"io"
	"io/fs"
	"log/slog"
	"math"
	"strings"
	"sync"
	"testing"
	"time"

	mp3 "github.com/hajimehoshi/go-mp3"

	"github.com/potluckfm/potluck/assets"
	"github.com/potluckfm/potluck/origin"
	"github.com/potluckfm/potluck/origin/mp3index"
	"github.com/potluckfm/potluck/track"
)

// demoTrack is a track of the embedded demo library with its manifest
// (as the origin builds it) and a reference decode.
type demoTrack struct {
	name string
	m    *track.Manifest
	data []byte
	info *mp3index.Info

	mu      sync.Mutex
	decoded *refDecode
}

var demo struct {
	once   sync.Once
	tracks []*demoTrack
	err    error
}

// demoTracks returns the demo library, in file name order.
func demoTracks(t testing.TB) []*demoTrack {
	t.Helper()
	demo.once.Do(func() {
		_, key, _ := ed25519.GenerateKey(nil)
		cat, err := origin.ScanLibrary(context.Background(), assets.Demo(), key, origin.ScanOptions{})
		if err != nil {
			demo.err = err
			return
		}
		for _, e := range cat.Entries() {
			data, err := fs.ReadFile(assets.Demo(), e.Path)
			if err != nil {
				demo.err = err
				return
			}
			info, err := mp3index.Scan(bytes.NewReader(data), int64(len(data)), mp3index.Options{})
			if err != nil {
				demo.err = err
				return
			}
			demo.tracks = append(demo.tracks, &demoTrack{name: e.Path, m: e.Manifest, data: data, info: info})
		}
		for i := range demo.tracks {
			for j := i + 1; j < len(demo.tracks); j++ {
				if demo.tracks[j].name < demo.tracks[i].name {
					demo.tracks[i], demo.tracks[j] = demo.tracks[j], demo.tracks[i]
				}
			}
		}
	})
	if demo.err != nil {
		t.Fatal(demo.err)
	}
	if len(demo.tracks) != 6 {
		t.Fatalf("%d demo tracks, want 6", len(demo.tracks))
	}
	return demo.tracks
}

// demoTrackNamed returns the demo track whose file name starts with prefix.
func demoTrackNamed(t testing.TB, prefix string) *demoTrack {
	t.Helper()
	for _, d := range demoTracks(t) {
		if strings.HasPrefix(d.name, prefix) {
			return d
		}
	}
	t.Fatalf("no demo track %s", prefix)
	return nil
}

// source returns a fresh Source over the track's bytes.
func (d *demoTrack) source() Source { return NewReaderSource(bytes.NewReader(d.data), d.m) }

// first is the sample index (from AudioStart) of time 0.
func (d *demoTrack) first() int64 { return int64(d.m.Audio.EncoderDelay) + DecoderDelay }

// end is the sample index just past the track's audio.
func (d *demoTrack) end() int64 {
	a := d.m.Audio
	return d.first() + a.Samples - int64(a.EncoderDelay) - int64(a.EncoderPadding)
}

// at is the index of the first sample at or after time t.
func (d *demoTrack) at(t time.Duration) int64 {
	return d.first() + int64(math.Ceil(t.Seconds()*float64(d.m.Audio.SampleRate)-1e-6))
}

// refDecode is a straight go-mp3 decode of the whole file, from its first
// byte, through a plain io.Reader: the reference every test compares
// with. It is decoded only as far as tests ask (go-mp3 is slow under the
// race detector) and shared between tests.
type refDecode struct {
	dec   *mp3.Decoder
	pcm   []byte // from the first decoded sample
	shift int64  // samples go-mp3 yields before AudioStart's frame (a Xing frame)
	eof   bool
}

// ref returns the reference PCM of samples [from, to) in the numbering of
// the manifest (from AudioStart), shorter if the file ends first.
func (d *demoTrack) ref(t testing.TB, from, to int64) []byte {
	t.Helper()
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.decoded == nil {
		dec, err := mp3.NewDecoder(io.MultiReader(bytes.NewReader(d.data)))
		if err != nil {
			t.Fatal(err)
		}
		r := &refDecode{dec: dec}
		if d.info.HeaderFrame {
			r.shift = int64(d.info.SamplesPerFrame)
		}
		d.decoded = r
	}
	r := d.decoded
	buf := make([]byte, 64<<10)
	for !r.eof && int64(len(r.pcm)) < (r.shift+to)*BytesPerFrame {
		n, err := r.dec.Read(buf)
		r.pcm = append(r.pcm, buf[:n]...)
		if err == io.EOF {
			r.eof = true
		} else if err != nil {
			t.Fatal(err)
		}
	}
	lo := min((r.shift+from)*BytesPerFrame, int64(len(r.pcm)))
	hi := min((r.shift+to)*BytesPerFrame, int64(len(r.pcm)))
	return r.pcm[lo:hi]
}

// refTime returns the reference PCM of the track from time t0 for n samples.
func (d *demoTrack) refTime(t testing.TB, t0 time.Duration, n int64) []byte {
	s := d.at(t0)
	return d.ref(t, s, min(s+n, d.end()))
}

// firstDiff returns the index of the first frame where a and b differ, or
// -1 if the shorter is a prefix of the longer.
func firstDiff(a, b []byte) int {
	n := min(len(a), len(b))
	for i := 0; i < n; i++ {
		if a[i] != b[i] {
			return i / BytesPerFrame
		}
	}
	return -1
}

// samplesEqual fails the test unless got equals want exactly.
func samplesEqual(t testing.TB, what string, got, want []byte) {
	t.Helper()
	if len(got) != len(want) {
		t.Errorf("%s: %d frames, want %d", what, len(got)/BytesPerFrame, len(want)/BytesPerFrame)
	}
	if i := firstDiff(got, want); i >= 0 {
		t.Errorf("%s: differs from the reference decode from frame %d on", what, i)
	}
}

// readN reads n frames (or to the end) from a Decoder.
func readN(t testing.TB, d *Decoder, n int64) ([]byte, error) {
	t.Helper()
	out := make([]byte, 0, n*BytesPerFrame)
	buf := make([]byte, 8192)
	for int64(len(out)) < n*BytesPerFrame {
		k, err := d.Read(buf[:min(len(buf), int(n*BytesPerFrame)-len(out))])
		out = append(out, buf[:k]...)
		if err != nil {
			return out, err
		}
	}
	return out, nil
}

// frame returns frame i of pcm as (left, right).
func frame(pcm []byte, i int) (int16, int16) {
	b := pcm[i*BytesPerFrame:]
	return int16(binary.LittleEndian.Uint16(b)), int16(binary.LittleEndian.Uint16(b[2:]))
}

// gatedSource serves data, but only the bytes a test released: Read
// blocks at the gate until Release or Close, like a swarm Stream waiting
// for chunks. A Seek wakes a blocked Read, which then reads at the new
// position.
type gatedSource struct {
	m    *track.Manifest
	data []byte

	mu      sync.Mutex
	cond    *sync.Cond
	avail   int64
	pos     int64
	maxRead int64 // the furthest byte handed out
	blocked chan struct{}
	closed  bool
	failAt  int64 // Read fails at this offset with failErr (if failErr != nil)
	failErr error
	setPos  []time.Duration
	// stubborn makes a Read blocked at the gate stay blocked through a
	// Seek, as a swarm Stream's does for bytes behind the new position.
	stubborn bool
}

func newGatedSource(m *track.Manifest, data []byte, avail int64) *gatedSource {
	g := &gatedSource{m: m, data: data, avail: avail, blocked: make(chan struct{}, 1)}
	g.cond = sync.NewCond(&g.mu)
	return g
}

// Release lets the reader have the bytes before offset n.
func (g *gatedSource) Release(n int64) {
	g.mu.Lock()
	g.avail = max(g.avail, n)
	g.cond.Broadcast()
	g.mu.Unlock()
}

// Blocked is signalled each time a Read starts waiting at the gate.
func (g *gatedSource) Blocked() <-chan struct{} { return g.blocked }

func (g *gatedSource) Read(p []byte) (int, error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	for {
		if g.closed {
			return 0, errors.New("gated source closed")
		}
		if g.failErr != nil && g.pos >= g.failAt {
			return 0, g.failErr
		}
		if g.pos >= int64(len(g.data)) {
			return 0, io.EOF
		}
		if g.pos < g.avail {
			break
		}
		select {
		case g.blocked <- struct{}{}:
		default:
		}
		if g.stubborn {
			for !g.closed {
				g.cond.Wait()
			}
			continue
		}
		g.cond.Wait()
	}
	end := min(g.avail, int64(len(g.data)))
	if g.failErr != nil {
		end = min(end, max(g.failAt, g.pos))
	}
	n := copy(p, g.data[g.pos:end])
	g.pos += int64(n)
	g.maxRead = max(g.maxRead, g.pos)
	return n, nil
}

func (g *gatedSource) Seek(off int64, whence int) (int64, error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if whence != io.SeekStart {
		return 0, errors.New("gated source: only SeekStart")
	}
	g.pos = off
	g.cond.Broadcast()
	return off, nil
}

func (g *gatedSource) Close() error {
	g.mu.Lock()
	g.closed = true
	g.cond.Broadcast()
	g.mu.Unlock()
	return nil
}

func (g *gatedSource) SetPosition(t time.Duration) {
	g.mu.Lock()
	g.setPos = append(g.setPos, t)
	g.mu.Unlock()
}

func (g *gatedSource) Manifest() *track.Manifest { return g.m }

func (g *gatedSource) positions() []time.Duration {
	g.mu.Lock()
	defer g.mu.Unlock()
	return append([]time.Duration(nil), g.setPos...)
}

func (g *gatedSource) furthest() int64 {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.maxRead
}

// captureSink records what it is given, split into segments at each
// Start and Flush, so tests can compare each with the reference.
type captureSink struct {
	mu       sync.Mutex
	rate     int
	fixed    int // if set, the only rate it plays at
	segs     [][]byte
	starts   []int
	firstPCM chan struct{}
	once     sync.Once
}

func newCaptureSink() *captureSink { return &captureSink{firstPCM: make(chan struct{})} }

func (c *captureSink) Start(rate int) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.fixed != 0 {
		rate = c.fixed
	}
	c.rate = rate
	c.starts = append(c.starts, rate)
	c.segs = append(c.segs, nil)
	return rate, nil
}

func (c *captureSink) Write(p []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.segs) == 0 {
		return 0, errors.New("capture: Write before Start")
	}
	c.segs[len(c.segs)-1] = append(c.segs[len(c.segs)-1], p...)
	c.once.Do(func() { close(c.firstPCM) })
	return len(p), nil
}

func (c *captureSink) Flush() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.segs = append(c.segs, nil)
	return nil
}

func (c *captureSink) Close() error { return nil }

// segments returns the non-empty segments.
func (c *captureSink) segments() [][]byte {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out [][]byte
	for _, s := range c.segs {
		if len(s) > 0 {
			out = append(out, append([]byte(nil), s...))
		}
	}
	return out
}

// events collects a Player's events for a test.
type events struct {
	ch chan Event
}

func newEvents() *events { return &events{ch: make(chan Event, 256)} }

func (e *events) on(ev Event) {
	select {
	case e.ch <- ev:
	default:
		panic("test event buffer full")
	}
}

// next waits for the next event of kind (skipping others).
func (e *events) next(t testing.TB, kind EventKind) Event {
	t.Helper()
	timeout := time.After(30 * time.Second)
	for {
		select {
		case ev := <-e.ch:
			if ev.Kind == kind {
				return ev
			}
		case <-timeout:
			t.Fatalf("no %s event within 30s", kind)
		}
	}
}

// sources is an Opener over demo tracks (or custom sources), counting opens.
type sources struct {
	mu    sync.Mutex
	make  map[track.ID]func() (Source, error)
	opens map[track.ID]int
	when  map[track.ID][]time.Time
}

func newSources(tracks ...*demoTrack) *sources {
	s := &sources{make: map[track.ID]func() (Source, error){}, opens: map[track.ID]int{}, when: map[track.ID][]time.Time{}}
	for _, d := range tracks {
		s.add(d.m.ID, func() (Source, error) { return d.source(), nil })
	}
	return s
}

func (s *sources) add(id track.ID, f func() (Source, error)) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.make[id] = f
}

func (s *sources) Open(ctx context.Context, id track.ID) (Source, error) {
	s.mu.Lock()
	f := s.make[id]
	s.opens[id]++
	s.when[id] = append(s.when[id], time.Now())
	s.mu.Unlock()
	if f == nil {
		return nil, errors.New("no such track")
	}
	return f()
}

func (s *sources) count(id track.ID) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.opens[id]
}

// newPlayer starts a Player for a test; it is closed with the test.
func newPlayer(t testing.TB, sink Sink, op Opener, edit func(*Config)) (*Player, *events) {
	t.Helper()
	ev := newEvents()
	cfg := Config{Sink: sink, Opener: op, OnEvent: ev.on, Seed: 1, Logger: testLogger(t)}
	if edit != nil {
		edit(&cfg)
	}
	p, err := New(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close() })
	return p, ev
}

// waitState polls the Player's state until cond holds (the Player
// publishes state; there is no event for every change).
func waitState(t testing.TB, p *Player, what string, cond func(State) bool) State {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		if s := p.State(); cond(s) {
			return s
		}
		time.Sleep(2 * time.Millisecond)
	}
	t.Fatalf("player never reached: %s (state %+v)", what, p.State())
	return State{}
}

// testLogger logs to the test's log.
func testLogger(t testing.TB) *slog.Logger {
	return slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

type testWriter struct{ t testing.TB }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimSpace(string(p)))
	return len(p), nil
}
