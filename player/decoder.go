package player

import (
	"errors"
	"fmt"
	"io"
	"sort"
	"time"

	mp3 "github.com/hajimehoshi/go-mp3"

	"github.com/potluckfm/potluck/track"
)

// DecoderDelay is go-mp3's synthesis delay in samples (origin/mp3index
// measures it): time 0 of a file with a LAME tag is output sample
// EncoderDelay+DecoderDelay of a decode that starts at the first audio frame.
const DecoderDelay = 529

// BytesPerFrame is the size of one PCM frame (a sample per channel): the
// Decoder and Sinks deal in 16-bit little-endian stereo.
const BytesPerFrame = 4

// defaultPreroll is used for a manifest that does not say its preroll;
// LAME files need 3 to 9 frames.
const defaultPreroll = 10

// Decoder turns a Source into PCM (16-bit little-endian interleaved stereo,
// mono duplicated, at the track's sample rate) from any time position. It
// trims the encoder and decoder delay at the start and the padding at the
// end, so it yields exactly the original audio. It reads the Source
// forward only, as bytes arrive, except where Seek repositions it.
//
// A Decoder is for one goroutine.
type Decoder struct {
	src   Source
	m     *track.Manifest
	rate  int
	spf   int64
	first int64 // sample index (from AudioStart) of time 0
	end   int64 // sample index just past the last one to play

	fr      *frameReader
	mp      *mp3.Decoder
	next    int64  // sample index of go-mp3's next output sample
	out     int64  // sample index of the next sample Read returns
	pending []byte // decoded PCM from out on, not yet returned
	scratch []byte
	err     error // sticky until Seek
}

// NewDecoder returns a Decoder of src positioned at time 0. It seeks src
// but reads nothing yet. It fails with ErrNoAudio if the manifest lacks
// what decoding needs.
func NewDecoder(src Source) (*Decoder, error) {
	m := src.Manifest()
	a := m.Audio
	if a.SampleRate <= 0 || a.SamplesPerFrame <= 0 || a.AudioEnd <= a.AudioStart || a.Samples <= 0 {
		return nil, fmt.Errorf("track %s: %w", m.ID, ErrNoAudio)
	}
	d := &Decoder{
		src:     src,
		m:       m,
		rate:    a.SampleRate,
		spf:     int64(a.SamplesPerFrame),
		first:   int64(a.EncoderDelay) + DecoderDelay,
		scratch: make([]byte, a.SamplesPerFrame*BytesPerFrame),
		fr:      &frameReader{src: src, rate: a.SampleRate, end: a.AudioEnd},
	}
	// The original audio is Samples-EncoderDelay-EncoderPadding long; a
	// file without a LAME tag has no known delay or padding.
	d.end = min(d.first+a.Samples-int64(a.EncoderDelay)-int64(a.EncoderPadding), a.Samples)
	if d.end < d.first {
		d.end = d.first
	}
	if err := d.Seek(0); err != nil {
		return nil, err
	}
	return d, nil
}

// SampleRate is the rate of the PCM, in Hz.
func (d *Decoder) SampleRate() int { return d.rate }

// Duration is the playing time of the track: the audio Read yields from 0.
func (d *Decoder) Duration() time.Duration { return d.toTime(d.end) }

// Position is the time of the next sample Read returns.
func (d *Decoder) Position() time.Duration { return d.toTime(d.out) }

func (d *Decoder) toTime(sample int64) time.Duration {
	return time.Duration((sample - d.first) * int64(time.Second) / int64(d.rate))
}

// sampleAt returns the index of the first sample at or after time t (so
// that sampleAt(toTime(s)) is s).
func (d *Decoder) sampleAt(t time.Duration) int64 {
	return d.first + (int64(t)*int64(d.rate)+int64(time.Second)-1)/int64(time.Second)
}

// seekPoint returns where a decoder must start to yield sample s exactly.
func (d *Decoder) seekPoint(s int64) track.SeekPoint {
	seek := d.m.Audio.Seek
	preroll := int64(d.m.Audio.Preroll)
	if preroll <= 0 {
		preroll = defaultPreroll
	}
	at := s - preroll*d.spf
	i := sort.Search(len(seek), func(i int) bool { return seek[i].Sample > at })
	if i == 0 {
		return track.SeekPoint{Offset: d.m.Audio.AudioStart}
	}
	return seek[i-1]
}

// Seek positions the decoder so that the next Read yields the audio from
// time t (negative means 0). Seeking to the end is allowed (Read then
// returns io.EOF); beyond it, Seek fails with ErrSeekPastEnd and leaves
// the decoder as it was. Seek clears a previous error.
func (d *Decoder) Seek(t time.Duration) error {
	s := d.sampleAt(max(t, 0))
	if s > d.end {
		return fmt.Errorf("%w: %s of %s", ErrSeekPastEnd, t, d.Duration())
	}
	p := d.seekPoint(s)
	if _, err := d.src.Seek(p.Offset, io.SeekStart); err != nil {
		return err
	}
	d.fr.reset(p.Offset)
	d.mp = nil
	d.next, d.out = p.Sample, s
	d.pending = d.pending[:0]
	d.err = nil
	return nil
}

// Read fills p with whole PCM frames (len(p) must be at least
// BytesPerFrame). It blocks while the Source does. At the end of the
// track it returns io.EOF; if the data is damaged or ends early, or the
// Source fails, a *DecodeError (wrapping ErrCorrupt, ErrTruncated or the
// Source's error) after the last good audio.
func (d *Decoder) Read(p []byte) (int, error) {
	if len(p) < BytesPerFrame {
		return 0, io.ErrShortBuffer
	}
	for len(d.pending) == 0 {
		if d.err != nil {
			return 0, d.err
		}
		if d.out >= d.end {
			return 0, io.EOF
		}
		if err := d.decode(); err != nil {
			if err != io.EOF && err != errInterrupted {
				err = &DecodeError{Track: d.m.ID, At: d.toTime(max(d.out, d.first)), Err: err}
			}
			d.err = err
		}
	}
	n := copy(p, d.pending)
	n -= n % BytesPerFrame
	d.pending = d.pending[:copy(d.pending, d.pending[n:])]
	d.out += int64(n / BytesPerFrame)
	return n, nil
}

// decode runs go-mp3 for one frame's worth of output and keeps the part
// of it in [out, end).
func (d *Decoder) decode() (err error) {
	defer func() {
		// go-mp3 indexes slices by what damaged data says.
		if r := recover(); r != nil {
			d.mp = nil
			err = fmt.Errorf("%w: the MP3 decoder failed: %v", ErrCorrupt, r)
		}
	}()
	if d.mp == nil {
		mp, err := mp3.NewDecoder(d.fr)
		if err != nil {
			return d.mp3Err(err)
		}
		d.mp = mp
	}
	k, err := d.mp.Read(d.scratch)
	k -= k % BytesPerFrame
	from, to := d.next, d.next+int64(k/BytesPerFrame)
	d.next = to
	if lo, hi := max(from, d.out), min(to, d.end); lo < hi {
		d.pending = append(d.pending, d.scratch[(lo-from)*BytesPerFrame:(hi-from)*BytesPerFrame]...)
	}
	if err != nil {
		if err == io.EOF && d.next < d.end {
			// The frames ended cleanly but short of the audio the
			// manifest promised.
			return fmt.Errorf("%w: %d samples short", ErrTruncated, d.end-d.next)
		}
		return d.mp3Err(err)
	}
	return nil
}

// mp3Err classifies an error from go-mp3: the frame walk's and the
// source's pass through, go-mp3's own mean damage.
func (d *Decoder) mp3Err(err error) error {
	switch {
	case err == io.EOF, err == errInterrupted, errors.Is(err, ErrCorrupt), errors.Is(err, ErrTruncated):
		return err
	case errors.Is(err, io.ErrUnexpectedEOF):
		return fmt.Errorf("%w: %v", ErrTruncated, err)
	}
	if d.fr.srcErr != nil && d.fr.srcErr != io.EOF && errors.Is(err, d.fr.srcErr) {
		return err // the source failed
	}
	return fmt.Errorf("%w: %v", ErrCorrupt, err)
}
