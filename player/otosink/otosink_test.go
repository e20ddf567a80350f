//go:build cgo

package otosink

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"syscall"
	"testing"
	"time"

	mp3 "github.com/hajimehoshi/go-mp3"

	"github.com/potluckfm/potluck/assets"
	"github.com/potluckfm/potluck/origin"
	"github.com/potluckfm/potluck/origin/mp3index"
	"github.com/potluckfm/potluck/player"
	"github.com/potluckfm/potluck/track"
)

// The tests run oto in a child process (this test binary, run again): ALSA
// reads ~/.asoundrc when it first opens a device, and oto opens one device
// per process, so each case needs a process with its own HOME.
const childEnv = "POTLUCK_OTOSINK_CHILD"

// What the capture test plays: a 44.1 kHz stereo demo track from 2 s on,
// for 2 s (the ALSA null device has no clock, so this takes well under a
// second of wall time, but the capture file grows fast meanwhile).
const (
	captureTrack = "06-marigold-static.mp3"
	captureFrom  = 2 * time.Second
	capturePlay  = 2 * time.Second
)

// runChild runs test name in a child process with HOME set to home and
// the given .asoundrc, and fails if it fails.
func runChild(t *testing.T, name, home, asoundrc string) {
	t.Helper()
	if err := os.WriteFile(filepath.Join(home, ".asoundrc"), []byte(asoundrc), 0o644); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, os.Args[0], "-test.run=^"+name+"$", "-test.v", "-test.count=1")
	cmd.Env = append(os.Environ(), "HOME="+home, childEnv+"=1")
	out, err := cmd.CombinedOutput()
	if err != nil || !bytes.Contains(out, []byte("--- PASS: "+name)) {
		t.Fatalf("child %s: %v\n%s", name, err, out)
	}
	t.Logf("child:\n%s", out)
}

func demoTrack(t testing.TB, name string) (*track.Manifest, []byte) {
	t.Helper()
	_, key, _ := ed25519.GenerateKey(nil)
	cat, err := origin.ScanLibrary(context.Background(), assets.Demo(), key, origin.ScanOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range cat.Entries() {
		if e.Path == name {
			data, err := fs.ReadFile(assets.Demo(), name)
			if err != nil {
				t.Fatal(err)
			}
			return e.Manifest, data
		}
	}
	t.Fatalf("no demo track %s", name)
	return nil, nil
}

// TestPlaysThroughALSA plays a few seconds of a demo track with the
// Player through the oto sink into ALSA's file plugin, and compares what
// ALSA received with a straight go-mp3 decode of the same bytes: equal
// sample for sample, once the silence oto writes while it waits for audio
// is stripped.
func TestPlaysThroughALSA(t *testing.T) {
	if os.Getenv(childEnv) != "" {
		return // the child runs TestPlaysThroughALSAChild
	}
	home := t.TempDir()
	raw := filepath.Join(home, "captured.raw")
	runChild(t, "TestPlaysThroughALSAChild", home, fmt.Sprintf(`pcm.!default {
  type file
  slave.pcm "null"
  file %q
  format "raw"
}
`, raw))

	// What ALSA got: float32 little-endian stereo, as oto opens it.
	b, err := os.ReadFile(raw)
	if err != nil {
		t.Fatal(err)
	}
	var got []int16
	for i := 0; i+8 <= len(b); i += 8 {
		l := math.Float32frombits(binary.LittleEndian.Uint32(b[i:]))
		r := math.Float32frombits(binary.LittleEndian.Uint32(b[i+4:]))
		li, ri := int16(math.Round(float64(l)*32768)), int16(math.Round(float64(r)*32768))
		if float32(li)/32768 != l || float32(ri)/32768 != r {
			t.Fatalf("captured frame %d (%g, %g) is not a 16-bit sample", i/8, l, r)
		}
		if li != 0 || ri != 0 {
			got = append(got, li, ri)
		}
	}
	t.Logf("captured %d bytes, %d frames of sound", len(b), len(got)/2)

	// What it should have got: the straight decode from 2 s on.
	m, data := demoTrack(t, captureTrack)
	info, err := mp3index.Scan(bytes.NewReader(data), int64(len(data)), mp3index.Options{})
	if err != nil {
		t.Fatal(err)
	}
	dec, err := mp3.NewDecoder(io.MultiReader(bytes.NewReader(data))) // a plain Reader: no seeking
	if err != nil {
		t.Fatal(err)
	}
	rate := int64(m.Audio.SampleRate)
	skip := int64(m.Audio.EncoderDelay) + player.DecoderDelay + int64(captureFrom)*rate/int64(time.Second)
	if info.HeaderFrame {
		skip += int64(info.SamplesPerFrame) // go-mp3 decodes the Info frame as silence
	}
	pcm := make([]byte, (skip+rate*int64(capturePlay+time.Second)/int64(time.Second))*4)
	if _, err := io.ReadFull(dec, pcm); err != nil {
		t.Fatal(err)
	}
	var want []int16
	for i := skip * 4; i < int64(len(pcm)); i += 2 {
		want = append(want, int16(binary.LittleEndian.Uint16(pcm[i:])))
	}
	for i := 0; i+1 < len(want); {
		if want[i] == 0 && want[i+1] == 0 {
			want = append(want[:i], want[i+2:]...)
			continue
		}
		i += 2
	}

	if n := int64(len(got) / 2); n < rate*int64(capturePlay)/int64(time.Second)*9/10 {
		t.Fatalf("ALSA got %d frames of sound, want about %s worth", n, capturePlay)
	}
	if len(got) > len(want) {
		t.Fatalf("ALSA got %d frames of sound, more than was played", len(got)/2)
	}
	for i := range got {
		if got[i] != want[i] {
			t.Fatalf("ALSA's frame %d differs from the straight decode: %d, want %d", i/2, got[i], want[i])
		}
	}
}

// TestPlaysThroughALSAChild is the child's half of TestPlaysThroughALSA.
// The null device has no clock: left running, oto would write silence at
// memory speed whenever the decoder is behind. So the device waits
// (Suspend) while the Player fills the sink's pipe with the audio to
// capture, runs while oto drains it, and waits again before the sink
// closes: the capture stays small and holds few gaps.
func TestPlaysThroughALSAChild(t *testing.T) {
	if os.Getenv(childEnv) == "" {
		t.Skip("run by TestPlaysThroughALSA")
	}
	m, data := demoTrack(t, captureTrack)
	rate := m.Audio.SampleRate
	sink, err := New(Options{SampleRate: rate, Buffer: capturePlay + 500*time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	if err := theCtx.Suspend(); err != nil {
		t.Fatal(err)
	}
	ended := make(chan player.PlayStats, 1)
	p, err := player.New(context.Background(), player.Config{
		// Not an Idler to the Player: this test suspends the device itself.
		Sink: struct{ player.RealTimeSink }{sink},
		Opener: player.OpenFunc(func(context.Context, track.ID) (player.Source, error) {
			return player.NewReaderSource(bytes.NewReader(data), m), nil
		}),
		OnEvent: func(ev player.Event) {
			if ev.Kind == player.TrackEnded {
				ended <- ev.Stats
			}
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	p.SetQueue([]track.ID{m.ID}, -1)
	p.PlayAt(0, captureFrom)
	want := int64(capturePlay) * int64(rate) / int64(time.Second) * player.BytesPerFrame
	waitFor := func(what string, cond func() bool) {
		deadline := time.Now().Add(60 * time.Second)
		for !cond() {
			if time.Now().After(deadline) {
				t.Fatalf("waiting for %s", what)
			}
			time.Sleep(time.Millisecond)
		}
	}
	waitFor("the pipe to fill", func() bool {
		sink.mu.Lock()
		defer sink.mu.Unlock()
		return int64(len(sink.q)) >= want
	})
	if err := theCtx.Resume(); err != nil {
		t.Fatal(err)
	}
	waitFor("oto to take the audio", func() bool {
		sink.mu.Lock()
		defer sink.mu.Unlock()
		return sink.taken >= want && sink.player.UnplayedBufferSize() == 0
	})
	if err := theCtx.Suspend(); err != nil {
		t.Fatal(err)
	}
	if err := sink.Close(); err != nil {
		t.Fatal(err)
	}
	p.Close()
	st := <-ended // the sink closed under it: that is how this play ends
	if st.Played < capturePlay {
		t.Fatalf("play: %+v", st)
	}
	t.Logf("played %s from %s, start latency %s", st.Played, captureFrom, st.StartLatency)
}

// TestNoAudioDevice: where ALSA has no device, New fails at once with
// ErrNoAudioDevice naming ALSA's error, and playback goes on with the null
// sink.
func TestNoAudioDevice(t *testing.T) {
	if os.Getenv(childEnv) != "" {
		return
	}
	runChild(t, "TestNoAudioDeviceChild", t.TempDir(), "pcm.!default {\n  type hw\n  card 99\n}\n")
}

func TestNoAudioDeviceChild(t *testing.T) {
	if os.Getenv(childEnv) == "" {
		t.Skip("run by TestNoAudioDevice")
	}
	start := time.Now()
	sink, err := New(Options{OpenTimeout: 10 * time.Second})
	took := time.Since(start)
	if !errors.Is(err, player.ErrNoAudioDevice) || sink != nil {
		t.Fatalf("New: %v, %v; want ErrNoAudioDevice", sink, err)
	}
	if took > 5*time.Second {
		t.Errorf("New took %s to fail", took)
	}
	t.Logf("New failed after %s: %v", took, err)
	if _, err2 := New(Options{}); !errors.Is(err2, player.ErrNoAudioDevice) {
		t.Errorf("a second New: %v", err2)
	}

	// The caller goes on without sound.
	m, data := demoTrack(t, captureTrack)
	started := make(chan struct{}, 1)
	p, err := player.New(context.Background(), player.Config{
		Sink: player.NewNullSink(1),
		Opener: player.OpenFunc(func(context.Context, track.ID) (player.Source, error) {
			return player.NewReaderSource(bytes.NewReader(data), m), nil
		}),
		OnEvent: func(ev player.Event) {
			if ev.Kind == player.TrackStarted {
				started <- struct{}{}
			}
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	p.SetQueue([]track.ID{m.ID}, 0)
	select {
	case <-started:
	case <-time.After(30 * time.Second):
		t.Fatal("the null sink never started playing")
	}
}

// TestIdlesThroughALSA: nothing is written to ALSA while nothing plays
// (before the first play, after the queue ended, while paused), and
// writing starts again with a play. ALSA's file plugin writes into a FIFO
// that the child reads at the device's real-time pace.
func TestIdlesThroughALSA(t *testing.T) {
	if os.Getenv(childEnv) != "" {
		return // the child runs TestIdlesThroughALSAChild
	}
	home := t.TempDir()
	fifo := filepath.Join(home, "captured.fifo")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	runChild(t, "TestIdlesThroughALSAChild", home, fmt.Sprintf(`pcm.!default {
  type file
  slave.pcm "null"
  file %q
  format "raw"
}
`, fifo))
}

// capture counts what ALSA writes into a FIFO, read at pace bytes/s.
type capture struct {
	mu           sync.Mutex
	total, sound int64 // bytes; sound: of frames that are not silent
}

func (c *capture) read(f *os.File, pace float64) {
	buf := make([]byte, 8192)
	start := time.Now()
	var n int64
	for {
		k, err := f.Read(buf)
		if err != nil {
			return
		}
		var loud int64
		for i := 0; i+8 <= k; i += 8 {
			if binary.LittleEndian.Uint64(buf[i:]) != 0 {
				loud += 8
			}
		}
		c.mu.Lock()
		c.total += int64(k)
		c.sound += loud
		c.mu.Unlock()
		n += int64(k)
		if ahead := time.Duration(float64(n)/pace*float64(time.Second)) - time.Since(start); ahead > 0 {
			time.Sleep(ahead)
		}
	}
}

func (c *capture) counts() (total, sound int64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.total, c.sound
}

func TestIdlesThroughALSAChild(t *testing.T) {
	if os.Getenv(childEnv) == "" {
		t.Skip("run by TestIdlesThroughALSA")
	}
	// O_RDWR: the open does not wait for ALSA, and reads never see EOF.
	f, err := os.OpenFile(filepath.Join(os.Getenv("HOME"), "captured.fifo"), os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	m, data := demoTrack(t, captureTrack)
	rate := m.Audio.SampleRate
	var c capture
	go c.read(f, float64(rate*8)) // float32 stereo
	sink, err := New(Options{SampleRate: rate})
	if err != nil {
		t.Fatal(err)
	}
	defer sink.Close()
	events := make(chan player.EventKind, 64)
	p, err := player.New(context.Background(), player.Config{
		Sink: sink,
		Opener: player.OpenFunc(func(context.Context, track.ID) (player.Source, error) {
			return player.NewReaderSource(bytes.NewReader(data), m), nil
		}),
		OnEvent: func(ev player.Event) { events <- ev.Kind },
	})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	waitEvent := func(kind player.EventKind) {
		t.Helper()
		timeout := time.After(30 * time.Second)
		for {
			select {
			case k := <-events:
				if k == kind {
					return
				}
			case <-timeout:
				t.Fatalf("no %s event", kind)
			}
		}
	}
	// still checks that the capture does not grow for half a second,
	// once the FIFO had time to drain.
	still := func(when string) int64 {
		t.Helper()
		time.Sleep(600 * time.Millisecond)
		a, sa := c.counts()
		time.Sleep(500 * time.Millisecond)
		b, _ := c.counts()
		if b != a {
			t.Fatalf("%s: ALSA got %d bytes in 500 ms", when, b-a)
		}
		t.Logf("%s: still at %d bytes (%d of sound)", when, a, sa)
		return sa
	}
	growsWithSound := func(when string, fromSound int64) {
		t.Helper()
		deadline := time.Now().Add(10 * time.Second)
		for {
			_, s := c.counts()
			if s-fromSound >= int64(rate*8/4) { // a quarter of a second
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s: ALSA got %d bytes of sound", when, s-fromSound)
			}
			time.Sleep(10 * time.Millisecond)
		}
	}

	sound := still("before the first play")
	p.SetQueue([]track.ID{m.ID}, -1)
	p.PlayAt(0, m.Duration()-time.Second)
	waitEvent(player.TrackStarted)
	growsWithSound("playing", sound)
	waitEvent(player.QueueEnded)
	sound = still("after the queue ended")

	p.PlayAt(0, captureFrom)
	waitEvent(player.TrackStarted)
	growsWithSound("playing again", sound)
	p.Pause()
	sound = still("paused")
	p.Play()
	growsWithSound("after Play", sound)
	p.Pause()
	still("paused again") // and ALSA is quiet when the FIFO closes
}
