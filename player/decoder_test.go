package player

import (
	"bytes"
	"errors"
	"io"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/potluckfm/potluck/track"
)

// TestDecoderMatchesStraightDecode: from time 0, the Decoder yields a
// straight go-mp3 decode of the file, sample for sample, without the
// encoder and decoder delay in front and the padding at the end.
func TestDecoderMatchesStraightDecode(t *testing.T) {
	for _, d := range demoTracks(t) {
		t.Run(d.name, func(t *testing.T) {
			t.Parallel()
			dec, err := NewDecoder(d.source())
			if err != nil {
				t.Fatal(err)
			}
			if want := time.Duration(d.m.Audio.DurationMS) * time.Millisecond; dec.Duration().Truncate(time.Millisecond) != want {
				t.Errorf("Duration %s, manifest says %s", dec.Duration(), want)
			}
			n := d.end() - d.first() // the whole track
			if raceEnabled {
				n = int64(2 * d.m.Audio.SampleRate)
			}
			got, err := readN(t, dec, n)
			if err != nil {
				t.Fatal(err)
			}
			if !raceEnabled {
				if k, err := dec.Read(make([]byte, 4096)); k != 0 || err != io.EOF {
					t.Fatalf("after the whole track: %d, %v; want io.EOF", k, err)
				}
			}
			samplesEqual(t, "from 0", got, d.ref(t, d.first(), d.first()+n))
			if d.m.Audio.Channels == 1 {
				// go-mp3 yields mono as stereo with both channels equal.
				for i := range len(got) / BytesPerFrame {
					if l, r := frame(got, i); l != r {
						t.Fatalf("mono track, frame %d: left %d, right %d", i, l, r)
					}
				}
			}
			if pos := dec.Position(); pos != time.Duration(n)*time.Second/time.Duration(d.m.Audio.SampleRate) {
				t.Errorf("Position %s after %d frames", pos, n)
			}
		})
	}
}

// TestDecoderSeek: after a seek to t, the PCM is the straight decode's
// from sample t×rate (after the delay), exactly; at the end there is
// nothing more; past it, ErrSeekPastEnd.
func TestDecoderSeek(t *testing.T) {
	for _, d := range demoTracks(t) {
		t.Run(d.name, func(t *testing.T) {
			t.Parallel()
			full := !raceEnabled || d.name[:2] == "01" // the whole track is decoded for the reference
			dec, err := NewDecoder(d.source())
			if err != nil {
				t.Fatal(err)
			}
			dur := dec.Duration()
			window := int64(d.m.Audio.SampleRate / 2)
			targets := []time.Duration{1500 * time.Millisecond, 0, 1234567 * time.Microsecond, 37 * time.Millisecond}
			if full {
				targets = append(targets, dur/2, dur-time.Second, dur-time.Millisecond, 2*time.Second)
			}
			for _, at := range targets { // one decoder, seeking back and forth
				if err := dec.Seek(at); err != nil {
					t.Fatal(err)
				}
				if pos := dec.Position(); pos < at || pos >= at+time.Second/time.Duration(d.m.Audio.SampleRate) {
					t.Errorf("Position %s after Seek(%s)", pos, at)
				}
				want := d.refTime(t, at, window)
				got, err := readN(t, dec, int64(len(want)/BytesPerFrame))
				if err != nil {
					t.Fatalf("seek to %s: %v", at, err)
				}
				samplesEqual(t, "after a seek to "+at.String(), got, want)
			}
			if !full {
				return
			}
			// At the end: io.EOF at once. Past it: an error, and the
			// decoder stays where it was.
			if err := dec.Seek(dur); err != nil {
				t.Fatalf("seek to the end: %v", err)
			}
			if n, err := dec.Read(make([]byte, 4096)); n != 0 || err != io.EOF {
				t.Errorf("read at the end: %d, %v", n, err)
			}
			dec.Seek(time.Second)
			if err := dec.Seek(dur + time.Millisecond); !errors.Is(err, ErrSeekPastEnd) {
				t.Errorf("seek past the end: %v, want ErrSeekPastEnd", err)
			}
			got, _ := readN(t, dec, 100)
			samplesEqual(t, "after a refused seek", got, d.refTime(t, time.Second, 100))
		})
	}
}

// TestDecoderReadsAsBytesArrive: the first PCM comes out while the source
// has handed over only the first few kilobytes. (go-mp3 given an
// io.ReadSeeker would read the whole file first and block here.)
func TestDecoderReadsAsBytesArrive(t *testing.T) {
	d := demoTrackNamed(t, "02") // VBR
	head := d.m.Audio.AudioStart + 16<<10
	src := newGatedSource(d.m, d.data, head)
	dec, err := NewDecoder(src)
	if err != nil {
		t.Fatal(err)
	}
	got := make(chan []byte, 1)
	go func() {
		b, _ := readN(t, dec, 2000)
		got <- b
	}()
	select {
	case b := <-got:
		samplesEqual(t, "the head", b, d.ref(t, d.first(), d.first()+2000))
	case <-time.After(20 * time.Second):
		src.Close()
		t.Fatal("no PCM from the first 16 KiB of audio")
	}
	if f := src.furthest(); f > head || f > d.m.Size/10 {
		t.Errorf("read %d bytes of %d", f, d.m.Size)
	}
}

// damaged returns a copy of d's bytes with n bytes from off replaced.
func damaged(d *demoTrack, off int64, n int, random bool) []byte {
	b := bytes.Clone(d.data)
	r := rand.New(rand.NewPCG(1, 2))
	for i := off; i < off+int64(n); i++ {
		b[i] = 0
		if random {
			b[i] = byte(r.Uint32())
		}
	}
	return b
}

// offsetTime returns the playback time of byte offset off (by the seek
// index, interpolated).
func offsetTime(d *demoTrack, off int64) time.Duration {
	seek := d.m.Audio.Seek
	i := 0
	for i+1 < len(seek) && seek[i+1].Offset <= off {
		i++
	}
	s := seek[i].Sample
	if i+1 < len(seek) {
		s += (seek[i+1].Sample - seek[i].Sample) * (off - seek[i].Offset) / (seek[i+1].Offset - seek[i].Offset)
	}
	return time.Duration(s-d.first()) * time.Second / time.Duration(d.m.Audio.SampleRate)
}

// TestDecoderStopsAtDamage: damaged or missing bytes stop decoding where
// they are, with an error that says so; what comes before is exact.
func TestDecoderStopsAtDamage(t *testing.T) {
	d := demoTrackNamed(t, "01")
	off := d.m.Audio.AudioStart + 40<<10 // about 2.5 s in
	at := offsetTime(d, off)
	sourceErr := errors.New("chunk unavailable")
	for _, tc := range []struct {
		name string
		src  func() Source
		want error
	}{
		{"zeros", func() Source { return NewReaderSource(bytes.NewReader(damaged(d, off, 24<<10, false)), d.m) }, ErrCorrupt},
		{"random", func() Source { return NewReaderSource(bytes.NewReader(damaged(d, off, 24<<10, true)), d.m) }, ErrCorrupt},
		{"truncated", func() Source { return NewReaderSource(bytes.NewReader(d.data[:off]), d.m) }, ErrTruncated},
		{"truncated-mid-frame", func() Source { return NewReaderSource(bytes.NewReader(d.data[:off+100]), d.m) }, ErrTruncated},
		{"source-error", func() Source {
			g := newGatedSource(d.m, d.data, d.m.Size)
			g.failAt, g.failErr = off, sourceErr
			return g
		}, sourceErr},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			dec, err := NewDecoder(tc.src())
			if err != nil {
				t.Fatal(err)
			}
			got, err := readN(t, dec, d.end())
			var de *DecodeError
			if !errors.Is(err, tc.want) || !errors.As(err, &de) || de.Track != d.m.ID {
				t.Fatalf("error %v, want a DecodeError of track %s wrapping %v", err, d.m.ID, tc.want)
			}
			if de.At < at-200*time.Millisecond || de.At > at+50*time.Millisecond {
				t.Errorf("stopped at %s; the damage is at %s", de.At, at)
			}
			// All but the last frame or two before the damage are exact.
			n := int64(len(got)/BytesPerFrame) - 2*int64(d.m.Audio.SamplesPerFrame)
			if n < int64(d.m.Audio.SampleRate) {
				t.Fatalf("only %d frames before the damage", len(got)/BytesPerFrame)
			}
			samplesEqual(t, "before the damage", got[:n*BytesPerFrame], d.ref(t, d.first(), d.first()+n))
			t.Logf("%v", err)
		})
	}
}

// TestDecoderSkipsJunkBetweenFrames: a few bytes of junk between frames,
// as some files have, are skipped: the audio is not disturbed at all.
func TestDecoderSkipsJunkBetweenFrames(t *testing.T) {
	d := demoTrackNamed(t, "06")
	junkAt := d.m.Audio.Seek[2].Offset // a frame boundary, about 1 s in
	junk := bytes.Repeat([]byte{0x55}, 300)
	b := append(append(bytes.Clone(d.data[:junkAt]), junk...), d.data[junkAt:]...)
	m := *d.m
	m.Audio.AudioEnd += int64(len(junk))
	m.Audio.Seek = append([]track.SeekPoint(nil), d.m.Audio.Seek...)
	for i := range m.Audio.Seek {
		if m.Audio.Seek[i].Offset >= junkAt {
			m.Audio.Seek[i].Offset += int64(len(junk))
		}
	}
	dec, err := NewDecoder(NewReaderSource(bytes.NewReader(b), &m))
	if err != nil {
		t.Fatal(err)
	}
	n := int64(2 * d.m.Audio.SampleRate)
	got, err := readN(t, dec, n)
	if err != nil {
		t.Fatal(err)
	}
	samplesEqual(t, "across the junk", got, d.ref(t, d.first(), d.first()+n))
	if dec.fr.junk != int64(len(junk)) {
		t.Errorf("skipped %d bytes of junk, want %d", dec.fr.junk, len(junk))
	}
}

func TestDecoderRejectsManifestWithoutAudio(t *testing.T) {
	m := &track.Manifest{Size: 10}
	if _, err := NewDecoder(NewReaderSource(bytes.NewReader(make([]byte, 10)), m)); !errors.Is(err, ErrNoAudio) {
		t.Fatalf("%v, want ErrNoAudio", err)
	}
}

func TestParseMPEGHeader(t *testing.T) {
	for _, tc := range []struct {
		b    []byte
		ok   bool
		rate int
		len  int
	}{
		{[]byte{0xFF, 0xFB, 0x90, 0x64}, true, 44100, 417}, // MPEG-1 L3 128k 44.1k
		{[]byte{0xFF, 0xFB, 0x92, 0x64}, true, 44100, 418}, // padded
		{[]byte{0xFF, 0xFB, 0x94, 0x64}, true, 48000, 384}, // 48k
		{[]byte{0xFF, 0xF3, 0x84, 0x64}, true, 24000, 192}, // MPEG-2 64k 24k
		{[]byte{0xFF, 0xE3, 0x84, 0x64}, true, 12000, 384}, // MPEG-2.5 64k 12k
		{[]byte{0xFF, 0xFD, 0x90, 0x64}, false, 0, 0},      // Layer II
		{[]byte{0xFF, 0xFB, 0x00, 0x64}, false, 0, 0},      // free format
		{[]byte{0xFF, 0xFB, 0xF0, 0x64}, false, 0, 0},      // bad bitrate
		{[]byte{0xFF, 0xFB, 0x9C, 0x64}, false, 0, 0},      // reserved rate
		{[]byte{0xFF, 0xEB, 0x90, 0x64}, false, 0, 0},      // reserved version
		{[]byte{0xFF, 0xFB, 0x90, 0x66}, false, 0, 0},      // reserved emphasis
		{[]byte{0xFE, 0xFB, 0x90, 0x64}, false, 0, 0},      // no sync
		{[]byte{0xFF, 0xFB, 0x90}, false, 0, 0},            // short
	} {
		h, ok := parseMPEGHeader(tc.b)
		if ok != tc.ok || (ok && (h.sampleRate != tc.rate || h.length != tc.len)) {
			t.Errorf("% x: %+v %v, want rate %d length %d ok %v", tc.b, h, ok, tc.rate, tc.len, tc.ok)
		}
	}
}
