package player

import (
	"bytes"
	"context"
	"errors"
	"math"
	"runtime"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"github.com/potluckfm/potluck/track"
)

// playedAtLeast waits until the current track's position reaches pos.
func playedAtLeast(t testing.TB, p *Player, pos time.Duration) State {
	t.Helper()
	return waitState(t, p, "position "+pos.String(), func(s State) bool {
		return s.Status == Playing && s.Position >= pos
	})
}

// TestPlayerPlaysAndSeeksExactly plays a track, seeks forward and back
// while it plays, and checks that every stretch of PCM the sink got is the
// reference decode from the right sample: no glitch at a seek.
func TestPlayerPlaysAndSeeksExactly(t *testing.T) {
	d := demoTrackNamed(t, "06")
	capture := newCaptureSink()
	src := newGatedSource(d.m, d.data, d.m.Size)
	op := newSources()
	op.add(d.m.ID, func() (Source, error) { return src, nil })
	p, ev := newPlayer(t, Paced(capture, 2, 0), op, nil)
	if err := p.SetQueue([]track.ID{d.m.ID}, 0); err != nil {
		t.Fatal(err)
	}
	ev.next(t, TrackStarted)
	playedAtLeast(t, p, 300*time.Millisecond)
	seeks := []time.Duration{5250 * time.Millisecond, 1234567 * time.Microsecond}
	for _, to := range seeks {
		if err := p.Seek(to); err != nil {
			t.Fatal(err)
		}
		if s := p.State(); s.Position < to || s.Position > to+50*time.Millisecond {
			t.Errorf("position %s right after a seek to %s", s.Position, to)
		}
		playedAtLeast(t, p, to+300*time.Millisecond)
	}
	p.Close()
	st := ev.next(t, TrackEnded).Stats
	if !st.Skipped || st.Err != nil || st.Seeks != 2 || st.SeekLatency <= 0 || st.StartLatency <= 0 {
		t.Errorf("stats %+v", st)
	}
	segs := capture.segments()
	if len(segs) != 3 {
		t.Fatalf("%d stretches of audio, want 3 (start, and after each seek)", len(segs))
	}
	for i, from := range append([]time.Duration{0}, seeks...) {
		n := int64(len(segs[i]) / BytesPerFrame)
		if n < int64(d.m.Audio.SampleRate)/5 {
			t.Errorf("only %d frames from %s", n, from)
		}
		samplesEqual(t, "from "+from.String(), segs[i], d.refTime(t, from, n))
	}
	// The position went to the Source on each seek and as playback went on.
	pos := src.positions()
	for _, to := range seeks {
		found := false
		for _, p := range pos {
			found = found || p == to
		}
		if !found {
			t.Errorf("SetPosition(%s) never called on the seek: %v", to, pos)
		}
	}
	if len(pos) < 4 {
		t.Errorf("SetPosition called %d times: %v", len(pos), pos)
	}
}

// TestPlayerStartsBeforeTheLastByte: with a source that has only its
// first kilobytes, the first PCM goes out; the rest is read as it comes.
func TestPlayerStartsBeforeTheLastByte(t *testing.T) {
	d := demoTrackNamed(t, "02")
	head := d.m.Audio.AudioStart + 24<<10
	src := newGatedSource(d.m, d.data, head)
	op := newSources()
	op.add(d.m.ID, func() (Source, error) { return src, nil })
	capture := newCaptureSink()
	p, ev := newPlayer(t, Paced(capture, 1, 0), op, nil)
	p.SetQueue([]track.ID{d.m.ID}, 0)
	started := ev.next(t, TrackStarted)
	if f := src.furthest(); f > head || f*20 > d.m.Size {
		t.Fatalf("the first PCM went out after reading %d of %d bytes", f, d.m.Size)
	}
	if s := p.State(); s.Status != Playing || s.Duration != time.Duration(d.m.Audio.DurationMS)*time.Millisecond+s.Duration%time.Millisecond {
		t.Errorf("state %+v", s)
	}
	t.Logf("start latency %s with %d of %d bytes there", started.Stats.StartLatency, src.furthest(), d.m.Size)
	src.Release(d.m.Size)
	playedAtLeast(t, p, 2*time.Second)
	p.Close()
	segs := capture.segments()
	if len(segs) != 1 {
		t.Fatalf("%d stretches of audio, want 1", len(segs))
	}
	samplesEqual(t, "streamed", segs[0], d.refTime(t, 0, int64(len(segs[0])/BytesPerFrame)))
}

// TestPlayerCountsUnderruns: a source that stops delivering makes the
// sink run dry, which counts as an underrun and is timed; a well-fed play
// has none.
//
// The sink runs at half speed with a 400 ms buffer: CI runs these tests
// under the race detector, where go-mp3 decodes at about 3x real time,
// beside other packages' tests on two cores; a decoder short of CPU must
// not pass for a source short of bytes.
func TestPlayerCountsUnderruns(t *testing.T) {
	d := demoTrackNamed(t, "01")
	sink := func() Sink { return Paced(discard{}, 0.5, 400*time.Millisecond) }

	// Well fed: all the bytes are there.
	p, ev := newPlayer(t, sink(), newSources(d), nil)
	p.SetQueue([]track.ID{d.m.ID}, 0)
	playedAtLeast(t, p, time.Second)
	p.Close()
	if st := ev.next(t, TrackEnded).Stats; st.Underruns != 0 || st.UnderrunTime != 0 || st.Played < time.Second {
		t.Errorf("well-fed play: %d underruns, %s dry, %s played", st.Underruns, st.UnderrunTime, st.Played)
	}

	// Starved: the bytes stop after about half a second of audio.
	src := newGatedSource(d.m, d.data, d.m.Audio.AudioStart+8<<10)
	op := newSources()
	op.add(d.m.ID, func() (Source, error) { return src, nil })
	p, ev = newPlayer(t, sink(), op, nil)
	p.SetQueue([]track.ID{d.m.ID}, 0)
	ev.next(t, TrackStarted)
	s := waitState(t, p, "buffering", func(s State) bool { return s.Buffering })
	if s.Status != Playing || s.Position > 600*time.Millisecond {
		t.Errorf("buffering at %s, state %v", s.Position, s.Status)
	}
	const starve = 150 * time.Millisecond
	time.Sleep(starve) // the stall itself: the sink stays dry this long
	src.Release(d.m.Size)
	playedAtLeast(t, p, s.Position+300*time.Millisecond)
	p.Close()
	st := ev.next(t, TrackEnded).Stats
	if st.Underruns != 1 || st.UnderrunTime < starve || st.UnderrunTime > starve+2*time.Second {
		t.Errorf("starved play: %d underruns, %s dry; want 1, at least %s", st.Underruns, st.UnderrunTime, starve)
	}
	t.Logf("starved play: %d underrun, %s", st.Underruns, st.UnderrunTime)
}

// TestPlayerPauseResume: pause ramps the gain down and holds the rest;
// resume ramps it up and goes on from the very next sample: nothing lost,
// nothing repeated, no step to or from silence.
func TestPlayerPauseResume(t *testing.T) {
	d := demoTrackNamed(t, "06")
	capture := newCaptureSink()
	sink := Paced(capture, 2, 0)
	p, ev := newPlayer(t, sink, newSources(d), nil)
	p.SetQueue([]track.ID{d.m.ID}, 0)
	ev.next(t, TrackStarted)
	playedAtLeast(t, p, 500*time.Millisecond)
	if err := p.Pause(); err != nil {
		t.Fatal(err)
	}
	if s := p.State(); s.Status != Paused {
		t.Fatalf("status %v after Pause", s.Status)
	}
	waitState(t, p, "the sink drained", func(State) bool { return sink.Latency() == 0 })
	before := len(capture.segments()[0])
	time.Sleep(100 * time.Millisecond) // nothing may go out while paused
	if after := len(capture.segments()[0]); after != before {
		t.Fatalf("while paused, %d more bytes went out", after-before)
	}
	pos := p.State().Position
	if err := p.Play(); err != nil {
		t.Fatal(err)
	}
	playedAtLeast(t, p, pos+300*time.Millisecond)
	p.Close()

	got := capture.segments()[0]
	n := int64(len(got) / BytesPerFrame)
	want := d.refTime(t, 0, n)
	k := firstDiff(got, want)
	if k < 0 || int64(k) > n-1000 {
		t.Fatalf("no pause ramp found in %d frames (first difference at %d)", n, k)
	}
	ramp := d.m.Audio.SampleRate * rampMillis / 1000
	tail := k + 2*ramp + 2
	samplesEqual(t, "after the resume ramp", got[tail*BytesPerFrame:], want[tail*BytesPerFrame:])
	quiet := math.MaxFloat64
	for i := k; i < tail; i++ {
		g, _ := frame(got, i)
		w, _ := frame(want, i)
		if math.Abs(float64(g)) > math.Abs(float64(w))+1 {
			t.Fatalf("frame %d in the ramp: %d, louder than the audio (%d)", i, g, w)
		}
		quiet = math.Min(quiet, math.Abs(float64(g)))
	}
	if quiet > 1 {
		t.Errorf("the ramps never reach silence (lowest %f)", quiet)
	}
	t.Logf("paused at frame %d (%s), ramps of %d frames", k, time.Duration(k)*time.Second/time.Duration(d.m.Audio.SampleRate), ramp)
}

// TestPlayerVolume scales the samples, and a change ramps.
func TestPlayerVolume(t *testing.T) {
	d := demoTrackNamed(t, "06")
	capture := newCaptureSink()
	p, ev := newPlayer(t, Paced(capture, 2, 0), newSources(d), nil)
	p.SetVolume(0.25)
	p.SetQueue([]track.ID{d.m.ID}, 0)
	ev.next(t, TrackStarted)
	playedAtLeast(t, p, 300*time.Millisecond)
	p.Close()
	got := capture.segments()[0]
	want := d.refTime(t, 0, int64(len(got)/BytesPerFrame))
	for i := range len(got) / BytesPerFrame {
		l, r := frame(got, i)
		wl, wr := frame(want, i)
		if l != int16(math.Round(float64(wl)*0.25)) || r != int16(math.Round(float64(wr)*0.25)) {
			t.Fatalf("frame %d at volume 0.25: %d/%d from %d/%d", i, l, r, wl, wr)
		}
	}
	if s := p.State(); s.Volume != 0.25 {
		t.Errorf("state volume %g", s.Volume)
	}
}

// TestPlayerConvertsRates: a sink fixed at 48 kHz gets a 44.1 kHz track
// converted.
func TestPlayerConvertsRates(t *testing.T) {
	d := demoTrackNamed(t, "06")
	capture := newCaptureSink()
	capture.fixed = 48000
	p, ev := newPlayer(t, Paced(capture, 2, 0), newSources(d), nil)
	p.SetQueue([]track.ID{d.m.ID}, 0)
	ev.next(t, TrackStarted)
	playedAtLeast(t, p, 500*time.Millisecond)
	p.Close()
	st := ev.next(t, TrackEnded).Stats
	got := len(capture.segments()[0]) / BytesPerFrame
	want := int(st.Played.Seconds() * 48000)
	if got < want-2 || got > want+2 {
		t.Errorf("%s at 44.1 kHz became %d frames at 48 kHz, want %d", st.Played, got, want)
	}
}

// renamed returns a copy of m with another ID, so that a test can queue
// several versions of one track.
func renamed(m *track.Manifest, b byte) *track.Manifest {
	c := *m
	c.ID[0] ^= b
	return &c
}

// TestPlayerMovesOnPastBrokenTracks: a corrupt track, one that cannot be
// opened and a truncated one each end with a clear error, and the queue
// goes on to the next.
func TestPlayerMovesOnPastBrokenTracks(t *testing.T) {
	d := demoTrackNamed(t, "01")
	good := demoTrackNamed(t, "06")
	off := d.m.Audio.AudioStart + 8<<10 // half a second in
	corrupt, missing, truncated := renamed(d.m, 1), renamed(d.m, 2), renamed(d.m, 3)
	op := newSources(good)
	op.add(corrupt.ID, func() (Source, error) {
		return NewReaderSource(bytes.NewReader(damaged(d, off, 20<<10, false)), corrupt), nil
	})
	op.add(truncated.ID, func() (Source, error) { return NewReaderSource(bytes.NewReader(d.data[:off]), truncated), nil })
	p, ev := newPlayer(t, NewNullSink(4), op, nil)
	p.SetQueue([]track.ID{corrupt.ID, missing.ID, truncated.ID, good.m.ID}, 0)
	for _, tc := range []struct {
		id   track.ID
		want error
	}{{corrupt.ID, ErrCorrupt}, {missing.ID, nil}, {truncated.ID, ErrTruncated}} {
		st := ev.next(t, TrackEnded).Stats
		if st.Track != tc.id || st.Err == nil || (tc.want != nil && !errors.Is(st.Err, tc.want)) || st.Skipped {
			t.Errorf("track %s ended with %+v, want error %v", tc.id, st, tc.want)
		}
		t.Logf("%v", st.Err)
	}
	if ev := ev.next(t, TrackStarted); ev.Track != good.m.ID || ev.Index != 3 {
		t.Errorf("after the broken tracks, %s (index %d) started", ev.Track, ev.Index)
	}
	if s := p.State(); s.Err != nil {
		t.Errorf("state error %v while a good track plays", s.Err)
	}

	// A queue of nothing but broken tracks, on repeat, stops.
	p.SetRepeat(RepeatOne)
	p.SetQueue([]track.ID{corrupt.ID, missing.ID}, 0)
	ev.next(t, QueueEnded)
	if s := p.State(); s.Status != Stopped || !errors.Is(s.Err, ErrCorrupt) && s.Err == nil {
		t.Errorf("state %+v after a broken queue", s)
	}
}

// TestPlayerAdvancesAndPrefetches: the next track is opened before the
// current one ends, and starts when it ends; the end of the first track
// is exact (the padding trimmed).
func TestPlayerAdvancesAndPrefetches(t *testing.T) {
	a, b := demoTrackNamed(t, "01"), demoTrackNamed(t, "03") // 44.1 kHz stereo, then 32 kHz mono
	op := newSources(a, b)
	capture := newCaptureSink()
	p, ev := newPlayer(t, Paced(capture, 2, 0), op, nil)
	p.SetQueue([]track.ID{a.m.ID, b.m.ID}, -1)
	durA := time.Duration(a.end()-a.first()) * time.Second / time.Duration(a.m.Audio.SampleRate)
	from := durA - 1200*time.Millisecond
	if err := p.PlayAt(0, from); err != nil {
		t.Fatal(err)
	}
	if ev := ev.next(t, TrackStarted); ev.Track != a.m.ID || ev.Stats.Seeks != 1 {
		t.Fatalf("first started: %+v", ev)
	}
	endA := ev.next(t, TrackEnded)
	if endA.Track != a.m.ID || endA.Stats.Err != nil || endA.Stats.Skipped {
		t.Fatalf("first ended: %+v", endA.Stats)
	}
	if n := op.count(b.m.ID); n != 1 {
		t.Fatalf("next track opened %d times before the first ended, want 1 (prefetch)", n)
	}
	startB := ev.next(t, TrackStarted)
	if startB.Track != b.m.ID || startB.Index != 1 {
		t.Fatalf("then started: %+v", startB)
	}
	playedAtLeast(t, p, 300*time.Millisecond)
	p.Close()
	if n := op.count(b.m.ID); n != 1 {
		t.Errorf("next track opened %d times, want once", n)
	}
	t.Logf("prefetched track started %s after asked", startB.Stats.StartLatency)
	segs := capture.segments()
	if len(segs) != 2 {
		t.Fatalf("%d stretches of audio, want 2", len(segs))
	}
	samplesEqual(t, "the end of the first track", segs[0], a.ref(t, a.at(from), a.end()))
	samplesEqual(t, "the start of the second", segs[1], b.refTime(t, 0, int64(len(segs[1])/BytesPerFrame)))
}

func TestPlayerSeekEdges(t *testing.T) {
	d := demoTrackNamed(t, "06")
	p, ev := newPlayer(t, NewNullSink(4), newSources(d), nil)
	if err := p.Seek(time.Second); err == nil {
		t.Error("seek with nothing playing succeeded")
	}
	p.SetQueue([]track.ID{d.m.ID}, 0)
	ev.next(t, TrackStarted)
	dur := p.State().Duration
	if err := p.Seek(dur + time.Second); !errors.Is(err, ErrSeekPastEnd) {
		t.Errorf("seek past the end: %v", err)
	}
	if err := p.Seek(dur); err != nil {
		t.Fatal(err)
	}
	if st := ev.next(t, TrackEnded).Stats; st.Err != nil || st.Skipped {
		t.Errorf("seek to the end: the play ended with %+v", st)
	}
	ev.next(t, QueueEnded)
	if s := p.State(); s.Status != Stopped || s.Index != -1 {
		t.Errorf("state %+v after the queue ended", s)
	}
	// A start position past the end.
	p.SetQueue([]track.ID{d.m.ID}, -1)
	p.PlayAt(0, time.Hour)
	if st := ev.next(t, TrackEnded).Stats; !errors.Is(st.Err, ErrSeekPastEnd) {
		t.Errorf("starting past the end: %v", st.Err)
	}
	// A seek right after the play was asked for, whether the track is
	// open yet or not, lands where asked.
	capture := newCaptureSink()
	p, ev = newPlayer(t, Paced(capture, 4, 0), newSources(d), nil)
	p.SetQueue([]track.ID{d.m.ID}, 0)
	p.Seek(2 * time.Second)
	ev.next(t, TrackStarted)
	playedAtLeast(t, p, 2300*time.Millisecond)
	p.Close()
	segs := capture.segments()
	last := segs[len(segs)-1]
	samplesEqual(t, "after a seek at the start", last, d.refTime(t, 2*time.Second, int64(len(last)/BytesPerFrame)))
}

func TestPlayerNextPreviousJump(t *testing.T) {
	ts := demoTracks(t)[:3]
	op := newSources(ts...)
	p, ev := newPlayer(t, NewNullSink(4), op, nil)
	list := []track.ID{ts[0].m.ID, ts[1].m.ID, ts[2].m.ID}
	started := func(want int) {
		t.Helper()
		if e := ev.next(t, TrackStarted); e.Index != want || e.Track != list[want] {
			t.Fatalf("started track %d, want %d", e.Index, want)
		}
	}
	if err := p.Play(); err == nil {
		t.Error("Play with an empty queue succeeded")
	}
	p.SetQueue(list, 0)
	started(0)
	p.Next()
	if e := ev.next(t, TrackEnded); !e.Stats.Skipped || e.Index != 0 {
		t.Errorf("Next ended %+v", e)
	}
	started(1)
	p.Previous()
	started(0)
	p.Seek(5 * time.Second)
	p.Previous() // more than 3 s in: back to the start of the same track
	if s := p.State(); s.Index != 0 || s.Position > time.Second {
		t.Errorf("Previous 5 s into a track: %+v", s)
	}
	p.Jump(2)
	started(2)
	if err := p.Jump(3); err == nil {
		t.Error("Jump(3) in a queue of 3 succeeded")
	}
	p.PlayAt(1, 2*time.Second)
	if e := ev.next(t, TrackStarted); e.Index != 1 || e.Stats.Seeks != 1 {
		t.Errorf("PlayAt(1, 2s) started %+v", e)
	}
	if s := p.State(); s.Position < 2*time.Second {
		t.Errorf("PlayAt(1, 2s): position %s", s.Position)
	}
	p.Jump(2)
	started(2)
	p.Next()
	ev.next(t, QueueEnded)
	p.Play() // from the start again
	started(0)
	p.SetRepeat(RepeatAll)
	p.Previous()
	started(2)
	p.SetShuffle(true)
	if s := p.State(); !s.Shuffle || s.Repeat != RepeatAll || s.Index != 2 || len(s.Queue) != 3 {
		t.Errorf("state %+v", s)
	}
	p.Append(ts[0].m.ID)
	if s := p.State(); len(s.Queue) != 4 {
		t.Errorf("queue of %d after Append", len(s.Queue))
	}
}

// TestPlayerCloseStopsEverything: Close returns while the decoder waits
// for bytes that never come, and leaves no goroutine behind.
func TestPlayerCloseStopsEverything(t *testing.T) {
	d := demoTrackNamed(t, "01")
	before := runtime.NumGoroutine()
	src := newGatedSource(d.m, d.data, d.m.Audio.AudioStart+2000)
	op := newSources()
	op.add(d.m.ID, func() (Source, error) { return src, nil })
	p, err := New(context.Background(), Config{Sink: NewNullSink(1), Opener: op})
	if err != nil {
		t.Fatal(err)
	}
	p.SetQueue([]track.ID{d.m.ID}, 0)
	<-src.Blocked()
	done := make(chan struct{})
	go func() {
		p.Close()
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("Close hangs while the source blocks")
	}
	if err := p.Play(); !errors.Is(err, ErrClosed) {
		t.Errorf("Play after Close: %v", err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for runtime.NumGoroutine() > before && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	if n := runtime.NumGoroutine(); n > before {
		t.Errorf("%d goroutines after Close, %d before", n, before)
	}
}

// TestPlayerSeekWithAStuckRead: a seek while the decoder waits in a Read
// that the Source does not wake (a swarm Stream waiting for a chunk
// before the new position) goes on from a Source opened again, exactly.
func TestPlayerSeekWithAStuckRead(t *testing.T) {
	d := demoTrackNamed(t, "06")
	stuck := newGatedSource(d.m, d.data, d.m.Audio.AudioStart+20<<10)
	stuck.stubborn = true
	op := newSources()
	op.add(d.m.ID, func() (Source, error) {
		if op.count(d.m.ID) == 1 {
			return stuck, nil
		}
		return d.source(), nil
	})
	capture := newCaptureSink()
	p, ev := newPlayer(t, Paced(capture, 2, 0), op, nil)
	p.SetQueue([]track.ID{d.m.ID}, 0)
	ev.next(t, TrackStarted)
	<-stuck.Blocked()
	const to = 3 * time.Second
	if err := p.Seek(to); err != nil {
		t.Fatal(err)
	}
	playedAtLeast(t, p, to+300*time.Millisecond)
	p.Close()
	st := ev.next(t, TrackEnded).Stats
	if n := op.count(d.m.ID); n != 2 {
		t.Errorf("opened %d times, want 2", n)
	}
	segs := capture.segments()
	if len(segs) != 2 {
		t.Fatalf("%d stretches of audio, want 2", len(segs))
	}
	samplesEqual(t, "after the seek", segs[1], d.refTime(t, to, int64(len(segs[1])/BytesPerFrame)))
	t.Logf("seek latency %s", st.SeekLatency)
}

// lateSeekSource applies the first Seek after arm only after a delay: a
// Source whose Seek, called by the player to wake a blocked Read, lands
// after the decoder has already taken the seek up and read on.
type lateSeekSource struct {
	*gatedSource
	armed atomic.Bool
}

func (s *lateSeekSource) Seek(off int64, whence int) (int64, error) {
	if s.armed.Swap(false) {
		time.Sleep(100 * time.Millisecond)
	}
	return s.gatedSource.Seek(off, whence)
}

// The player's own Seek of the Source must not land after the decoder's:
// that would move the Source back under a decoder that has read on, and
// the frames would no longer line up.
func TestPlayerSeekRacesTheDecoder(t *testing.T) {
	d := demoTrackNamed(t, "06")
	src := &lateSeekSource{gatedSource: newGatedSource(d.m, d.data, d.m.Size)}
	op := newSources()
	op.add(d.m.ID, func() (Source, error) { return src, nil })
	capture := newCaptureSink()
	p, ev := newPlayer(t, Paced(capture, 2, 0), op, nil)
	p.SetQueue([]track.ID{d.m.ID}, 0)
	ev.next(t, TrackStarted)
	playedAtLeast(t, p, 300*time.Millisecond)
	const to = 4 * time.Second
	src.armed.Store(true)
	if err := p.Seek(to); err != nil {
		t.Fatal(err)
	}
	playedAtLeast(t, p, to+time.Second)
	p.Close()
	if st := ev.next(t, TrackEnded).Stats; st.Err != nil {
		t.Fatalf("play failed: %v", st.Err)
	}
	segs := capture.segments()
	if len(segs) != 2 {
		t.Fatalf("%d stretches of audio, want 2", len(segs))
	}
	samplesEqual(t, "after the seek", segs[1], d.refTime(t, to, int64(len(segs[1])/BytesPerFrame)))
}

// TestPlayerCue: Cue opens the track at the given time, paused, and
// nothing reaches the sink until Play; then the audio from that time
// plays, sample for sample.
func TestPlayerCue(t *testing.T) {
	ts := demoTracks(t)
	d, d2 := ts[0], ts[1]
	op := newSources(d, d2)
	capture := newCaptureSink()
	p, ev := newPlayer(t, Paced(capture, 2, 0), op, nil)
	list := []track.ID{d2.m.ID, d.m.ID}
	if err := p.Cue(list, 2, 0); err == nil {
		t.Error("Cue of track 2 in a queue of 2 succeeded")
	}
	const at = 4 * time.Second
	if err := p.Cue(list, 1, at); err != nil {
		t.Fatal(err)
	}
	if s := p.State(); s.Status != Paused || s.Track != d.m.ID || s.Index != 1 || s.Position != at {
		t.Errorf("right after Cue: %+v", s)
	}
	dur := time.Duration(d.m.Audio.Samples-int64(d.m.Audio.EncoderDelay)-int64(d.m.Audio.EncoderPadding)) * time.Second / time.Duration(d.m.Audio.SampleRate)
	s := waitState(t, p, "the cued track open", func(s State) bool { return s.Duration > 0 })
	if s.Status != Paused || s.Position != at || s.Duration < dur-time.Millisecond || s.Duration > dur+time.Millisecond || s.Manifest == nil {
		t.Errorf("cued and open: %+v, want paused at %s of %s", s, at, dur)
	}
	if n := op.count(d.m.ID); n != 1 {
		t.Errorf("the cued track was opened %d times, want once", n)
	}
	time.Sleep(300 * time.Millisecond)
	if segs := capture.segments(); len(segs) != 0 {
		t.Fatalf("%d bytes reached the sink before Play", len(segs[0]))
	}
	select {
	case e := <-ev.ch:
		t.Fatalf("event %s before Play", e.Kind)
	default:
	}
	if s := p.State(); s.Status != Paused || s.Position != at {
		t.Errorf("300 ms after Cue: %+v", s)
	}
	asked := time.Now()
	if err := p.Play(); err != nil {
		t.Fatal(err)
	}
	st := ev.next(t, TrackStarted).Stats
	if st.Index != 1 || st.StartLatency > time.Since(asked) {
		t.Errorf("started %+v; start latency must count from Play (%s ago)", st, time.Since(asked))
	}
	playedAtLeast(t, p, at+500*time.Millisecond)
	got := capture.segments()[0]
	samplesEqual(t, "played after Cue", got, d.refTime(t, at, int64(len(got)/BytesPerFrame)))
}

// TestPlayerCueSkipsAFailedTrackPaused: a restored session whose track
// cannot be opened any more moves on to the next one, still paused:
// nothing is heard until Play.
func TestPlayerCueSkipsAFailedTrackPaused(t *testing.T) {
	ts := demoTracks(t)
	d := ts[0]
	op := newSources(d)
	capture := newCaptureSink()
	p, ev := newPlayer(t, Paced(capture, 2, 0), op, nil)
	gone := track.ID{0xde, 0xad}
	if err := p.Cue([]track.ID{gone, d.m.ID}, 0, 3*time.Second); err != nil {
		t.Fatal(err)
	}
	if e := ev.next(t, TrackEnded); e.Track != gone || e.Stats.Err == nil {
		t.Fatalf("the missing track ended with %+v", e)
	}
	s := waitState(t, p, "the next track open", func(s State) bool { return s.Track == d.m.ID && s.Duration > 0 })
	if s.Status != Paused {
		t.Fatalf("after a cued track failed the next one is %s, want paused", s.Status)
	}
	time.Sleep(300 * time.Millisecond)
	if segs := capture.segments(); len(segs) != 0 {
		t.Fatalf("%d bytes reached the sink before Play", len(segs[0]))
	}
	if err := p.Play(); err != nil {
		t.Fatal(err)
	}
	if e := ev.next(t, TrackStarted); e.Track != d.m.ID {
		t.Fatalf("Play started %v", e.Track)
	}
}

// TestPlayerQueueAfterTheEnd: tracks appended after the queue ended are
// what Play plays next; InsertNext plays right after the current track;
// Previous goes back to what was played, which State lists.
func TestPlayerQueueAfterTheEnd(t *testing.T) {
	ts := demoTracks(t)
	a, b, c := ts[0], ts[1], ts[2]
	p, ev := newPlayer(t, NewNullSink(8), newSources(a, b, c), nil)
	p.SetQueue([]track.ID{a.m.ID}, -1)
	p.PlayAt(0, a.m.Duration()-500*time.Millisecond)
	ev.next(t, TrackStarted)
	ev.next(t, QueueEnded)
	p.Append(b.m.ID)
	if s := p.State(); !slices.Equal(s.Upcoming, []track.ID{b.m.ID}) || !slices.Equal(s.Played, []track.ID{a.m.ID}) {
		t.Errorf("after the end and an Append: upcoming %v, played %v", s.Upcoming, s.Played)
	}
	if err := p.Play(); err != nil {
		t.Fatal(err)
	}
	if e := ev.next(t, TrackStarted); e.Track != b.m.ID || e.Index != 1 {
		t.Fatalf("Play after the end started %v (%d), want the appended track", e.Track, e.Index)
	}
	p.InsertNext(c.m.ID)
	if s := p.State(); !slices.Equal(s.Queue, []track.ID{a.m.ID, b.m.ID, c.m.ID}) || !slices.Equal(s.Upcoming, []track.ID{c.m.ID}) {
		t.Errorf("after InsertNext: queue %v, upcoming %v", s.Queue, s.Upcoming)
	}
	p.Next()
	if e := ev.next(t, TrackStarted); e.Track != c.m.ID {
		t.Fatalf("Next after InsertNext started %v", e.Track)
	}
	p.Previous()
	if e := ev.next(t, TrackStarted); e.Track != b.m.ID {
		t.Fatalf("Previous started %v, want the track played before", e.Track)
	}
	if s := p.State(); !slices.Equal(s.Played, []track.ID{a.m.ID}) || !slices.Equal(s.Upcoming, []track.ID{c.m.ID}) {
		t.Errorf("after Previous: played %v, upcoming %v", s.Played, s.Upcoming)
	}
}

// TestPlayerTogglePause: one command pauses what plays or loads and plays
// what is paused or stopped.
func TestPlayerTogglePause(t *testing.T) {
	ts := demoTracks(t)
	a := ts[0]
	p, ev := newPlayer(t, NewNullSink(1), newSources(a), nil)
	p.SetQueue([]track.ID{a.m.ID}, -1)
	if err := p.TogglePause(); err != nil {
		t.Fatal(err)
	}
	ev.next(t, TrackStarted)
	if err := p.TogglePause(); err != nil {
		t.Fatal(err)
	}
	if s := p.State(); s.Status != Paused {
		t.Fatalf("status %v after toggling a play", s.Status)
	}
	if err := p.TogglePause(); err != nil {
		t.Fatal(err)
	}
	if s := p.State(); s.Status != Playing {
		t.Fatalf("status %v after toggling a pause", s.Status)
	}
}

// TestPlayerEditsNameTheirTrack: an edit of the upcoming tracks made with
// the index seen before a track ended applies to the track it names.
func TestPlayerEditsNameTheirTrack(t *testing.T) {
	ts := demoTracks(t)
	a, b, c, d := ts[0], ts[1], ts[2], ts[3]
	p, ev := newPlayer(t, NewNullSink(8), newSources(a, b, c, d), nil)
	ids := []track.ID{a.m.ID, b.m.ID, c.m.ID, d.m.ID}
	p.SetQueue(ids, -1)
	p.PlayAt(0, a.m.Duration()-300*time.Millisecond)
	ev.next(t, TrackStarted)
	seen := p.State().Upcoming // b, c, d
	if e := ev.next(t, TrackStarted); e.Track != b.m.ID {
		t.Fatalf("started %v, want the second track", e.Track)
	}
	p.Pause()
	// Upcoming is now c, d: c moved from 1 to 0.
	if err := p.RemoveUpcoming(1, seen[1]); err != nil {
		t.Fatal(err)
	}
	if s := p.State(); !slices.Equal(s.Upcoming, []track.ID{d.m.ID}) {
		t.Errorf("after removing the third track: upcoming %v, want only the fourth", s.Upcoming)
	}
	if err := p.RemoveUpcoming(1, c.m.ID); err == nil {
		t.Error("removing a track no longer upcoming did not fail")
	}
	p.Append(a.m.ID) // upcoming d, a; seen one track earlier as x, d, a
	if err := p.MoveUpcoming(1, 2, d.m.ID); err != nil {
		t.Fatal(err)
	}
	if s := p.State(); !slices.Equal(s.Upcoming, []track.ID{a.m.ID, d.m.ID}) {
		t.Errorf("after a stale move of the fourth track down: upcoming %v", s.Upcoming)
	}
}
