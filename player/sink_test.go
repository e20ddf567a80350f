package player

import (
	"bytes"
	"encoding/binary"
	"math"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/potluckfm/potluck/track"
)

// sine returns n frames of a sine of freq Hz at rate, amplitude amp.
func sine(n, rate int, freq, amp float64) []byte {
	b := make([]byte, 0, n*BytesPerFrame)
	for i := range n {
		v := int16(math.Round(amp * math.Sin(2*math.Pi*freq*float64(i)/float64(rate))))
		b = binary.LittleEndian.AppendUint16(b, uint16(v))
		b = binary.LittleEndian.AppendUint16(b, uint16(-v))
	}
	return b
}

// TestNullSinkPaces: the null sink takes audio at speed times real time,
// holding one buffer's worth ahead.
func TestNullSinkPaces(t *testing.T) {
	const rate, speed = 44100, 20.0
	s := NewNullSink(speed)
	if r, err := s.Start(rate); r != rate || err != nil {
		t.Fatalf("Start: %d, %v", r, err)
	}
	block := make([]byte, rate/100*BytesPerFrame) // 10 ms
	start := time.Now()
	for range 400 { // 4 s of audio
		if _, err := s.Write(block); err != nil {
			t.Fatal(err)
		}
	}
	took := time.Since(start)
	want := time.Duration(float64(4*time.Second-DefaultBuffer) / speed) // 195 ms
	// (Loose above: a loaded machine wakes sleepers late.)
	if took < want-10*time.Millisecond || took > want+time.Second {
		t.Errorf("4 s of audio at speed %g took %s, want about %s", speed, took, want)
	}
	if l := s.Latency(); l <= 0 || l > time.Duration(float64(DefaultBuffer)/speed)+time.Millisecond {
		t.Errorf("latency %s with a full buffer, want up to %s", l, time.Duration(float64(DefaultBuffer)/speed))
	}
	s.Flush()
	if l := s.Latency(); l != 0 {
		t.Errorf("latency %s after Flush", l)
	}
	// Close unblocks a Write.
	done := make(chan error, 1)
	go func() {
		_, err := s.Write(make([]byte, rate*10*BytesPerFrame))
		done <- err
	}()
	s.Close()
	select {
	case err := <-done:
		if err == nil {
			t.Error("Write to a closed sink succeeded")
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Close did not unblock Write")
	}
}

func TestWAVSink(t *testing.T) {
	path := filepath.Join(t.TempDir(), "out.wav")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	s := NewWAVSink(f)
	if _, err := s.Write([]byte{1, 2, 3, 4}); err == nil {
		t.Error("Write before Start succeeded")
	}
	if r, err := s.Start(32000); r != 32000 || err != nil {
		t.Fatalf("Start: %d, %v", r, err)
	}
	if r, _ := s.Start(48000); r != 32000 {
		t.Errorf("a second Start changed the rate to %d", r)
	}
	pcm := sine(32000, 32000, 440, 10000)
	for i := 0; i < len(pcm); i += 4000 {
		if _, err := s.Write(pcm[i:min(i+4000, len(pcm))]); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	le := binary.LittleEndian
	if len(b) != 44+len(pcm) || string(b[0:4]) != "RIFF" || le.Uint32(b[4:]) != uint32(36+len(pcm)) ||
		string(b[8:16]) != "WAVEfmt " || le.Uint32(b[16:]) != 16 || le.Uint16(b[20:]) != 1 || le.Uint16(b[22:]) != 2 ||
		le.Uint32(b[24:]) != 32000 || le.Uint32(b[28:]) != 32000*4 || le.Uint16(b[32:]) != 4 || le.Uint16(b[34:]) != 16 ||
		string(b[36:40]) != "data" || le.Uint32(b[40:]) != uint32(len(pcm)) {
		t.Fatalf("bad WAV header % x", b[:44])
	}
	if !bytes.Equal(b[44:], pcm) {
		t.Error("WAV data differs from what was written")
	}

	// A sink that never played still leaves a valid, empty file.
	path = filepath.Join(t.TempDir(), "empty.wav")
	f, _ = os.Create(path)
	if err := NewWAVSink(f).Close(); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(path); len(b) != 44 || le.Uint32(b[40:]) != 0 || le.Uint32(b[24:]) == 0 {
		t.Errorf("empty WAV: % x", b)
	}
}

func TestEnvelope(t *testing.T) {
	const rate = 44100
	pcm := sine(rate/10, rate, 1000, 20000)
	var e envelope
	e.jump(1)
	got := bytes.Clone(pcm)
	if n := e.apply(got, false); n != len(got) || !bytes.Equal(got, pcm) {
		t.Fatal("gain 1 is not bit-exact")
	}
	e.set(0, rate)
	got = bytes.Clone(pcm)
	n := e.apply(got, true)
	ramp := rate * rampMillis / 1000
	if n/BytesPerFrame < ramp-1 || n/BytesPerFrame > ramp+1 {
		t.Errorf("ramp down took %d frames, want %d", n/BytesPerFrame, ramp)
	}
	for i := range n / BytesPerFrame {
		g, _ := frame(got, i)
		w, _ := frame(pcm, i)
		wantMax := math.Abs(float64(w))*(1-float64(i)/float64(ramp)) + 1
		if math.Abs(float64(g)) > wantMax {
			t.Fatalf("frame %d: %d, louder than the ramp allows (%f)", i, g, wantMax)
		}
	}
	if l, r := frame(got, n/BytesPerFrame-1); l != 0 || r != 0 {
		t.Errorf("the ramp ends at %d/%d, not silence", l, r)
	}
	e.set(0.5, rate)
	got = bytes.Clone(pcm)
	e.apply(got, false)
	for i := ramp + 1; i < len(pcm)/BytesPerFrame; i++ {
		g, _ := frame(got, i)
		w, _ := frame(pcm, i)
		if g != int16(math.Round(float64(w)*0.5)) {
			t.Fatalf("frame %d at gain 0.5: %d from %d", i, g, w)
		}
	}
}

// TestResampler: a sine converted to another rate is the same sine, and
// converting in blocks gives what converting at once does.
func TestResampler(t *testing.T) {
	const from, to, freq = 32000, 48000, 440.0
	in := sine(from, from, freq, 16000)
	whole := bytes.Clone(newResampler(from, to).process(in))
	if n := len(whole) / BytesPerFrame; n < to-2 || n > to {
		t.Fatalf("1 s at %d Hz became %d frames at %d Hz", from, n, to)
	}
	for i := range len(whole) / BytesPerFrame {
		l, r := frame(whole, i)
		want := 16000 * math.Sin(2*math.Pi*freq*float64(i)/to)
		if math.Abs(float64(l)-want) > 40 || l != -r {
			t.Fatalf("frame %d: %d/%d, want about %.0f", i, l, r, want)
		}
	}
	rs := newResampler(from, to)
	var blocks []byte
	sizes := []int{1000, 333, 1, 2500, 7}
	for i, k := 0, 0; i < len(in); k++ {
		j := min(i+sizes[k%len(sizes)]*BytesPerFrame, len(in))
		blocks = append(blocks, rs.process(in[i:j])...)
		i = j
	}
	if !bytes.Equal(blocks, whole) {
		t.Errorf("in blocks: %d frames, differs from frame %d", len(blocks)/4, firstDiff(blocks, whole))
	}
}

// idleSink is a null sink that is an Idler and records, in order, its
// calls to Idle, Wake and Write (a run of writes as one "write"); a Write
// while idle is recorded as "write-while-idle".
type idleSink struct {
	*PacedSink
	mu   sync.Mutex
	idle bool
	log  []string
}

func (s *idleSink) record(what string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if what == "write" && s.idle {
		what = "write-while-idle"
	}
	if n := len(s.log); n == 0 || s.log[n-1] != what || what != "write" {
		s.log = append(s.log, what)
	}
	switch what {
	case "idle":
		s.idle = true
	case "wake":
		s.idle = false
	}
}

func (s *idleSink) calls() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.log)
}

func (s *idleSink) Idle() error { s.record("idle"); return nil }
func (s *idleSink) Wake() error { s.record("wake"); return nil }
func (s *idleSink) Write(p []byte) (int, error) {
	s.record("write")
	return s.PacedSink.Write(p)
}

// TestPlayerIdlesTheSink: the Player idles an Idler sink before the first
// play, after the queue ended and when paused, wakes it before it writes
// again, and never idles it between two tracks of a queue.
func TestPlayerIdlesTheSink(t *testing.T) {
	ts := demoTracks(t)
	a, b := ts[0], ts[1]
	sink := &idleSink{PacedSink: NewNullSink(20)}
	p, ev := newPlayer(t, sink, newSources(a, b), nil)
	waitFor := func(what string, cond func([]string) bool) []string {
		t.Helper()
		deadline := time.Now().Add(30 * time.Second)
		for {
			c := sink.calls()
			if cond(c) {
				return c
			}
			if time.Now().After(deadline) {
				t.Fatalf("waiting for %s: calls %v", what, c)
			}
			time.Sleep(time.Millisecond)
		}
	}
	waitFor("idle before the first play", func(c []string) bool { return slices.Equal(c, []string{"idle"}) })

	// Two tracks, the first from near its end: one run of writes over
	// both, then idle once the queue ended.
	p.SetQueue([]track.ID{a.m.ID, b.m.ID}, -1)
	p.PlayAt(0, a.m.Duration()-time.Second)
	ev.next(t, TrackStarted)
	if e := ev.next(t, TrackStarted); e.Index != 1 {
		t.Fatalf("started %d, want the second track", e.Index)
	}
	ev.next(t, QueueEnded)
	want := []string{"idle", "wake", "write", "idle"}
	waitFor("idle after the queue ended", func(c []string) bool { return len(c) >= len(want) })
	time.Sleep(100 * time.Millisecond)
	if c := sink.calls(); !slices.Equal(c, want) {
		t.Fatalf("a queue of two tracks: calls %v, want %v", c, want)
	}

	// Play again, then pause: wake, writes (the ramp among them), idle.
	p.Play()
	ev.next(t, TrackStarted)
	p.Pause()
	want = append(want, "wake", "write", "idle")
	waitFor("idle after the pause ramp", func(c []string) bool { return len(c) >= len(want) })
	if st := p.State(); st.Status != Paused {
		t.Errorf("status %s, want paused", st.Status)
	}
	time.Sleep(100 * time.Millisecond)
	if c := sink.calls(); !slices.Equal(c, want) {
		t.Fatalf("after a pause: calls %v, want %v", c, want)
	}
	p.Play()
	want = append(want, "wake", "write")
	waitFor("writes after Play", func(c []string) bool { return len(c) >= len(want) })
	if c := sink.calls(); !slices.Equal(c[:len(want)], want) {
		t.Fatalf("after Play: calls %v, want %v", c, want)
	}
}
