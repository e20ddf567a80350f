package mp3index

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"math"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	mp3 "github.com/hajimehoshi/go-mp3"
)

// ---- test material -------------------------------------------------------

// synth makes n sample frames of deterministic test audio at rate: chords
// that change every 0.4 s over a sweep that restarts every 1.7 s, so that
// cross-correlation with a decode has one sharp peak. Interleaved samples.
func synth(rate, channels, n int) []int16 {
	chords := [][]float64{
		{261.63, 329.63, 392.00}, {293.66, 369.99, 440.00},
		{220.00, 277.18, 329.63}, {246.94, 311.13, 369.99},
		{196.00, 246.94, 293.66},
	}
	out := make([]int16, 0, n*channels)
	var sweep float64
	for i := range n {
		t := float64(i) / float64(rate)
		v := 0.0
		for k, f := range chords[int(t/0.4)%len(chords)] {
			v += 0.18 * math.Sin(2*math.Pi*f*t+float64(k))
		}
		sweep += 2 * math.Pi * (300 + 2500*math.Mod(t, 1.7)/1.7) / float64(rate)
		v += 0.15 * math.Sin(sweep)
		v *= 0.6 + 0.4*math.Sin(2*math.Pi*1.3*t)
		out = append(out, int16(v*32767*0.9))
		if channels == 2 {
			r := 0.8*v + 0.1*math.Sin(2*math.Pi*523.25*t)
			out = append(out, int16(r*32767*0.9))
		}
	}
	return out
}

// variant is one way of encoding the synthetic audio with lame.
type variant struct {
	name     string
	rate     int // input sample rate
	channels int
	seconds  float64
	args     []string // lame options

	wantRate   int  // output sample rate
	wantSPF    int  // samples per frame
	wantHeader bool // Xing/Info frame expected (lame writes one unless -t)
	wantVBR    bool
	cbrKbps    int  // nominal bitrate of a CBR file
	goMP3      bool // go-mp3 can decode it
}

func (v variant) inputSamples() int { return int(v.seconds * float64(v.rate)) }

var variants = []variant{
	{name: "cbr128", rate: 44100, channels: 2, seconds: 4, args: []string{"-b", "128"},
		wantRate: 44100, wantSPF: 1152, wantHeader: true, cbrKbps: 128, goMP3: true},
	{name: "vbr-V4", rate: 44100, channels: 2, seconds: 4, args: []string{"-V", "4"},
		wantRate: 44100, wantSPF: 1152, wantHeader: true, wantVBR: true, goMP3: true},
	{name: "mono64", rate: 44100, channels: 1, seconds: 4, args: []string{"-b", "64"},
		wantRate: 44100, wantSPF: 1152, wantHeader: true, cbrKbps: 64, goMP3: true},
	{name: "48k", rate: 48000, channels: 2, seconds: 3, args: []string{"-b", "160"},
		wantRate: 48000, wantSPF: 1152, wantHeader: true, cbrKbps: 160, goMP3: true},
	{name: "32k", rate: 32000, channels: 2, seconds: 3, args: []string{"-b", "96"},
		wantRate: 32000, wantSPF: 1152, wantHeader: true, cbrKbps: 96, goMP3: true},
	{name: "mpeg2-resample-22.05k", rate: 44100, channels: 2, seconds: 4, args: []string{"--resample", "22.05", "-b", "64"},
		wantRate: 22050, wantSPF: 576, wantHeader: true, cbrKbps: 64, goMP3: true},
	{name: "mpeg2-24k", rate: 24000, channels: 2, seconds: 3, args: []string{"-b", "64", "--resample", "24"},
		wantRate: 24000, wantSPF: 576, wantHeader: true, cbrKbps: 64, goMP3: true},
	{name: "mpeg2-16k-lowrate", rate: 16000, channels: 2, seconds: 3, args: []string{"-b", "32"},
		wantRate: 16000, wantSPF: 576, wantHeader: false, cbrKbps: 32, goMP3: true}, // frames too small for an Info tag
	{name: "mpeg2.5-8k", rate: 8000, channels: 1, seconds: 3, args: []string{"-b", "32", "--resample", "8"},
		wantRate: 8000, wantSPF: 576, wantHeader: true, cbrKbps: 32, goMP3: false},
	{name: "vbr-V9", rate: 44100, channels: 2, seconds: 4, args: []string{"-V", "9"},
		wantRate: 22050, wantSPF: 576, wantHeader: true, wantVBR: true, goMP3: true}, // lame resamples
	{name: "crc", rate: 44100, channels: 2, seconds: 3, args: []string{"-b", "128", "-p"},
		wantRate: 44100, wantSPF: 1152, wantHeader: true, cbrKbps: 128, goMP3: true},
	{name: "no-info-tag", rate: 44100, channels: 2, seconds: 3, args: []string{"-b", "128", "-t"},
		wantRate: 44100, wantSPF: 1152, wantHeader: false, cbrKbps: 128, goMP3: true},
	{name: "id3v2", rate: 44100, channels: 2, seconds: 3, args: []string{"-b", "128", "--add-id3v2", "--tt", "x", "--pad-id3v2-size", "300"},
		wantRate: 44100, wantSPF: 1152, wantHeader: true, cbrKbps: 128, goMP3: true},
	{name: "id3v1", rate: 44100, channels: 2, seconds: 3, args: []string{"-b", "128", "--id3v1-only", "--tt", "x"},
		wantRate: 44100, wantSPF: 1152, wantHeader: true, cbrKbps: 128, goMP3: true},
}

func variantNamed(tb testing.TB, name string) variant {
	for _, v := range variants {
		if v.name == name {
			return v
		}
	}
	tb.Fatalf("no variant %q", name)
	return variant{}
}

var (
	encodeMu    sync.Mutex
	encodeCache = map[string][]byte{}
)

// encode runs lame on the variant's synthetic audio and returns the MP3. It
// skips the test if lame is not installed.
func encode(tb testing.TB, v variant) []byte {
	tb.Helper()
	lame, err := exec.LookPath("lame")
	if err != nil {
		tb.Skip("lame not in PATH")
	}
	key := v.name + strconv.FormatFloat(v.seconds, 'f', -1, 64)
	encodeMu.Lock()
	defer encodeMu.Unlock()
	if b, ok := encodeCache[key]; ok {
		return b
	}
	dir, err := os.MkdirTemp("", "mp3index")
	if err != nil {
		tb.Fatal(err)
	}
	defer os.RemoveAll(dir)
	raw := make([]byte, 0, v.inputSamples()*v.channels*2)
	for _, s := range synth(v.rate, v.channels, v.inputSamples()) {
		raw = binary.LittleEndian.AppendUint16(raw, uint16(s))
	}
	in, out := filepath.Join(dir, "in.raw"), filepath.Join(dir, "out.mp3")
	if err := os.WriteFile(in, raw, 0o644); err != nil {
		tb.Fatal(err)
	}
	mode := "j"
	if v.channels == 1 {
		mode = "m"
	}
	args := []string{"--quiet", "-r", "--signed", "--little-endian", "--bitwidth", "16",
		"-s", strconv.FormatFloat(float64(v.rate)/1000, 'f', -1, 64), "-m", mode}
	args = append(append(args, v.args...), in, out)
	if msg, err := exec.Command(lame, args...).CombinedOutput(); err != nil {
		tb.Fatalf("lame %v: %v\n%s", args, err, msg)
	}
	b, err := os.ReadFile(out)
	if err != nil {
		tb.Fatal(err)
	}
	encodeCache[key] = b
	return b
}

// newDecoder starts go-mp3 on b. It hides bytes.Reader's Seek so that
// go-mp3 does not walk the whole stream up front.
func newDecoder(b []byte) (*mp3.Decoder, error) {
	return mp3.NewDecoder(struct{ io.Reader }{bytes.NewReader(b)})
}

var decodeCache sync.Map // string(file) -> decoded

type decoded struct {
	pcm  []byte
	rate int
}

// decodeAll decodes b with go-mp3: 16-bit little-endian stereo PCM.
func decodeAll(tb testing.TB, b []byte) (pcm []byte, rate int) {
	tb.Helper()
	if d, ok := decodeCache.Load(string(b)); ok {
		return d.(decoded).pcm, d.(decoded).rate
	}
	d, err := newDecoder(b)
	if err != nil {
		tb.Fatalf("go-mp3: %v", err)
	}
	pcm, err = io.ReadAll(d)
	if err != nil {
		tb.Fatalf("go-mp3: %v", err)
	}
	decodeCache.Store(string(b), decoded{pcm, d.SampleRate()})
	return pcm, d.SampleRate()
}

// decodeN decodes n samples (per channel) with go-mp3 from the start of b.
func decodeN(tb testing.TB, b []byte, n int) []byte {
	tb.Helper()
	d, err := newDecoder(b)
	if err != nil {
		tb.Fatalf("go-mp3: %v", err)
	}
	buf := make([]byte, 4*n)
	if _, err := io.ReadFull(d, buf); err != nil {
		tb.Fatalf("go-mp3: reading %d samples: %v", n, err)
	}
	return buf
}

func scan(tb testing.TB, b []byte, opts Options) *Info {
	tb.Helper()
	info, err := Scan(bytes.NewReader(b), int64(len(b)), opts)
	if err != nil {
		tb.Fatalf("Scan: %v", err)
	}
	checkInfo(tb, info, b, opts)
	return info
}

// checkInfo checks the invariants every Info must satisfy.
func checkInfo(tb testing.TB, info *Info, b []byte, opts Options) {
	tb.Helper()
	size := int64(len(b))
	switch {
	case info.Frames <= 0:
		tb.Fatalf("Frames = %d", info.Frames)
	case info.Samples != info.Frames*int64(info.SamplesPerFrame):
		tb.Fatalf("Samples %d != Frames %d * %d", info.Samples, info.Frames, info.SamplesPerFrame)
	case !slices.Contains([]int{8000, 11025, 12000, 16000, 22050, 24000, 32000, 44100, 48000}, info.SampleRate):
		tb.Fatalf("SampleRate = %d", info.SampleRate)
	case info.SamplesPerFrame != 576 && info.SamplesPerFrame != 1152:
		tb.Fatalf("SamplesPerFrame = %d", info.SamplesPerFrame)
	case info.Channels != 1 && info.Channels != 2:
		tb.Fatalf("Channels = %d", info.Channels)
	case info.AudioStart < 0 || info.AudioStart >= info.AudioEnd || info.AudioEnd > size:
		tb.Fatalf("AudioStart %d AudioEnd %d size %d", info.AudioStart, info.AudioEnd, size)
	case info.Duration < 0 || info.Bitrate <= 0 || info.Preroll < 1:
		tb.Fatalf("Duration %v Bitrate %d Preroll %d", info.Duration, info.Bitrate, info.Preroll)
	case len(info.Seek) == 0 || info.Seek[0] != (SeekPoint{0, info.AudioStart}):
		tb.Fatalf("Seek starts %v, want {0 %d}", info.Seek[:min(1, len(info.Seek))], info.AudioStart)
	}
	interval := opts.SeekInterval
	if interval <= 0 {
		interval = DefaultSeekInterval
	}
	step := max(1, int64(interval.Seconds()*float64(info.SampleRate)+0.5))
	for i, p := range info.Seek {
		if p.Offset < info.AudioStart || p.Offset >= info.AudioEnd || p.Sample%int64(info.SamplesPerFrame) != 0 || p.Sample >= info.Samples {
			tb.Fatalf("seek point %d %+v out of range", i, p)
		}
		if _, ok := parseHeader(b[p.Offset:]); !ok {
			tb.Fatalf("seek point %d %+v: no frame header at offset", i, p)
		}
		if i > 0 {
			q := info.Seek[i-1]
			if p.Sample <= q.Sample || p.Offset <= q.Offset {
				tb.Fatalf("seek points %d %+v and %d %+v out of order", i-1, q, i, p)
			}
			if p.Sample-q.Sample >= step+int64(info.SamplesPerFrame) || p.Sample/step == q.Sample/step {
				tb.Fatalf("seek points %+v %+v not spaced by %d samples", q, p, step)
			}
		}
	}
}

func headerShift(info *Info) int {
	if info.HeaderFrame {
		return info.SamplesPerFrame
	}
	return 0
}

// ---- what lame makes, checked against lame and go-mp3 -------------------

func TestVariants(t *testing.T) {
	for _, v := range variants {
		t.Run(v.name, func(t *testing.T) {
			t.Parallel()
			b := encode(t, v)
			info := scan(t, b, Options{})
			t.Logf("%d bytes: %d frames, delay %d, padding %d, %v, %d bit/s, preroll %d, %d seek points",
				len(b), info.Frames, info.EncoderDelay, info.EncoderPadding, info.Duration, info.Bitrate, info.Preroll, len(info.Seek))

			if info.SampleRate != v.wantRate || info.SamplesPerFrame != v.wantSPF || info.Channels != v.channels ||
				info.HeaderFrame != v.wantHeader || info.VBR != v.wantVBR {
				t.Fatalf("got rate %d spf %d channels %d header %v vbr %v, want %d %d %d %v %v",
					info.SampleRate, info.SamplesPerFrame, info.Channels, info.HeaderFrame, info.VBR,
					v.wantRate, v.wantSPF, v.channels, v.wantHeader, v.wantVBR)
			}
			wantEnd := int64(len(b))
			if string(b[len(b)-128:len(b)-125]) == "TAG" { // lame's ID3v1
				wantEnd -= 128
			}
			if info.AudioEnd != wantEnd {
				t.Errorf("AudioEnd %d, want %d (file size %d)", info.AudioEnd, wantEnd, len(b))
			}

			// Xing/Info frame count (lame's excludes the Info frame).
			if info.HeaderFrame {
				vh := xingOf(t, b)
				if vh.frames != info.Frames {
					t.Errorf("Xing frames %d, walk %d", vh.frames, info.Frames)
				}
			}

			// The exact duration: lame's delay and padding account for
			// every frame, so what remains is the input, resampled.
			want := int64(v.inputSamples()) * int64(v.wantRate) / int64(v.rate)
			net := info.Samples - int64(info.EncoderDelay+info.EncoderPadding)
			if info.HeaderFrame {
				if info.EncoderPadding < DecoderDelay {
					t.Errorf("padding %d < DecoderDelay: the input's end is not in the decoded output", info.EncoderPadding)
				}
				if info.EncoderDelay != 576 || net != want {
					t.Errorf("delay %d, samples minus delay and padding %d, want 576 and %d (input)", info.EncoderDelay, net, want)
				}
				if d := time.Duration(want) * time.Second / time.Duration(v.wantRate); info.Duration != d {
					t.Errorf("Duration %v, want %v", info.Duration, d)
				}
			} else {
				// No LAME tag: the duration is that of all frames, which
				// exceeds the input by less than two frames of delay
				// and padding.
				if info.EncoderDelay != 0 || info.EncoderPadding != 0 || net < want || net > want+2*int64(v.wantSPF)+576 {
					t.Errorf("no tag: delay %d padding %d samples %d, input %d", info.EncoderDelay, info.EncoderPadding, net, want)
				}
			}
			if v.cbrKbps > 0 {
				if d := math.Abs(float64(info.Bitrate)/float64(v.cbrKbps*1000) - 1); d > 0.001 {
					t.Errorf("Bitrate %d, want about %d kbit/s", info.Bitrate, v.cbrKbps)
				}
			} else if info.Bitrate < 32000 || info.Bitrate > 320000 {
				t.Errorf("VBR Bitrate %d", info.Bitrate)
			}

			if !v.goMP3 {
				if _, err := newDecoder(b); err == nil {
					t.Errorf("go-mp3 decodes %s; update the package doc", v.name)
				}
				return
			}
			pcm, rate := decodeAll(t, b)
			if rate != info.SampleRate {
				t.Errorf("go-mp3 sample rate %d, Scan %d", rate, info.SampleRate)
			}
			// go-mp3 decodes the header frame too, as silence.
			hdr := headerShift(info)
			if got := int64(len(pcm) / 4); got != info.Samples+int64(hdr) {
				t.Errorf("go-mp3 yields %d samples, want Samples %d + %d", got, info.Samples, hdr)
			}
			if slices.ContainsFunc(pcm[:4*hdr], func(c byte) bool { return c != 0 }) {
				t.Errorf("go-mp3's decode of the header frame is not silence")
			}
			// Where the input is in go-mp3's output: after the header
			// frame, the encoder delay and the decoder delay. (Without
			// a tag, lame's delay is still 576 samples.)
			if v.wantRate == v.rate {
				delay := info.EncoderDelay
				if !info.HeaderFrame {
					delay = 576
				}
				lag := bestLag(synth(v.rate, v.channels, v.inputSamples()), v.channels, pcm, v.rate, 4*v.wantSPF)
				if want := hdr + delay + DecoderDelay; lag != want {
					t.Errorf("input found at output sample %d, want %d = %d + %d + %d", lag, want, hdr, delay, DecoderDelay)
				}
			}
		})
	}
}

// xingOf parses the header frame of a lame file.
func xingOf(tb testing.TB, b []byte) vbrHeader {
	tb.Helper()
	s := newSource(bytes.NewReader(b), int64(len(b)), blockSize)
	start, _ := s.skipID3v2(0)
	first, h, ok, err := s.find(start, int64(len(b)), int64(len(b)), nil, 3)
	if !ok || err != nil {
		tb.Fatalf("no first frame: %v", err)
	}
	vh, ok := parseVBRHeader(h, b[first:first+int64(h.length)])
	if !ok {
		tb.Fatalf("no Xing/Info header")
	}
	return vh
}

// bestLag returns the lag (in output samples) at which the decoded left
// channel best matches the input's first channel, searched in [0, maxLag).
func bestLag(in []int16, channels int, pcm []byte, rate, maxLag int) int {
	const n = 4096
	w0 := rate // one second in
	x := make([]float64, n)
	for i := range x {
		x[i] = float64(in[(w0+i)*channels])
	}
	y := make([]float64, 0, n+maxLag)
	for i := w0; i < w0+n+maxLag && 4*i+2 <= len(pcm); i++ {
		y = append(y, float64(int16(binary.LittleEndian.Uint16(pcm[4*i:]))))
	}
	best, lag := math.Inf(-1), -1
	for l := 0; l+n <= len(y); l++ {
		s := 0.0
		for i, xi := range x {
			s += xi * y[l+i]
		}
		if s > best {
			best, lag = s, l
		}
	}
	return lag
}

// ---- seeking -------------------------------------------------------------

// TestSeekExact proves the property the player relies on: starting a fresh
// decoder at a seek point Preroll frames before a frame gives that frame's
// PCM exactly as a decode of the whole file does, for every frame; and
// Preroll is no larger than needed.
func TestSeekExact(t *testing.T) {
	for _, v := range variants {
		if !v.goMP3 || v.name == "id3v1" || v.name == "id3v2" {
			continue
		}
		t.Run(v.name, func(t *testing.T) {
			t.Parallel()
			b := encode(t, v)
			info := scan(t, b, Options{SeekInterval: time.Nanosecond}) // a point per frame
			if int64(len(info.Seek)) != info.Frames {
				t.Fatalf("%d seek points for %d frames", len(info.Seek), info.Frames)
			}
			full, _ := decodeAll(t, b)
			spf, hdr, p := info.SamplesPerFrame, headerShift(info), info.Preroll
			frame := func(j int) []byte { return full[4*(hdr+j*spf) : 4*(hdr+(j+1)*spf)] }

			// Decoding from AudioStart is exact from the first frame.
			if got := decodeN(t, b[info.AudioStart:], spf); !bytes.Equal(got, frame(0)) {
				t.Errorf("decoding from AudioStart: frame 0 differs")
			}
			stride := 1
			if raceEnabled {
				stride = 5
			}
			for j := p; j < len(info.Seek); j += stride {
				got := decodeN(t, b[info.Seek[j-p].Offset:], (p+1)*spf)
				if !bytes.Equal(got[4*p*spf:], frame(j)) {
					t.Fatalf("frame %d decoded from frame %d (preroll %d) differs from the full decode", j, j-p, p)
				}
			}
			// Tight: one frame less of priming is wrong somewhere. (The
			// frame that shows it may be a single one: try them all.)
			if p >= 2 && !raceEnabled {
				wrong := 0
				for j := p - 1; j < len(info.Seek); j++ {
					got := decodeN(t, b[info.Seek[j-(p-1)].Offset:], p*spf)
					if !bytes.Equal(got[4*(p-1)*spf:], frame(j)) {
						wrong++
					}
				}
				if wrong == 0 {
					t.Errorf("Preroll %d is more than needed: %d frames always suffice", p, p-1)
				}
				t.Logf("preroll %d; with %d, %d frames come out wrong", p, p-1, wrong)
			}
		})
	}
}

// TestSeekToTime plays from a time the way the player does, with the
// default seek points and Lookup, and compares a second of PCM (or up to
// the end) with the full decode.
func TestSeekToTime(t *testing.T) {
	for _, name := range []string{"cbr128", "vbr-V4", "mpeg2-24k", "mono64", "id3v2"} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			b := encode(t, variantNamed(t, name))
			info := scan(t, b, Options{})
			full, _ := decodeAll(t, b)
			hdr := int64(headerShift(info))
			for _, at := range []time.Duration{0, 10 * time.Millisecond, 480 * time.Millisecond, 1234 * time.Millisecond, 2*time.Second + 500*time.Millisecond, info.Duration - 30*time.Millisecond} {
				// Output sample (from AudioStart) of playback time at.
				s := int64(at.Seconds()*float64(info.SampleRate)) + int64(info.EncoderDelay+DecoderDelay)
				sp := info.Lookup(s - int64(info.Preroll*info.SamplesPerFrame))
				d, err := newDecoder(b[sp.Offset:])
				if err != nil {
					t.Fatal(err)
				}
				n := min(int64(len(full)/4)-hdr-s, int64(info.SampleRate))
				got, err := io.ReadAll(io.LimitReader(d, 4*(s-sp.Sample+n)))
				if err != nil {
					t.Fatal(err)
				}
				got = got[4*(s-sp.Sample):]
				want := full[4*(hdr+s) : 4*(hdr+s+n)]
				if !bytes.Equal(got, want) {
					t.Errorf("at %v (sample %d, from seek point %+v): %d bytes of PCM differ from the full decode's %d", at, s, sp, len(got), len(want))
				}
			}
		})
	}
}

func TestSeekInterval(t *testing.T) {
	b := encode(t, variantNamed(t, "cbr128"))
	every := scan(t, b, Options{SeekInterval: time.Nanosecond})
	for _, iv := range []time.Duration{0, -time.Second, 26 * time.Millisecond, 100 * time.Millisecond, time.Second, time.Hour} {
		info := scan(t, b, Options{SeekInterval: iv})
		for _, p := range info.Seek {
			if every.Seek[p.Sample/int64(info.SamplesPerFrame)] != p {
				t.Fatalf("interval %v: point %+v is not a frame start", iv, p)
			}
		}
		eff := iv
		if eff <= 0 {
			eff = DefaultSeekInterval
		}
		// One point per interval, except that intervals shorter than a
		// frame give one per frame.
		want := min(info.Frames, int64(math.Ceil(float64(info.Samples)/(eff.Seconds()*float64(info.SampleRate)))))
		if d := int64(len(info.Seek)) - want; d < -1 || d > 1 {
			t.Errorf("interval %v: %d points, want about %d", iv, len(info.Seek), want)
		}
	}
}

func TestLookup(t *testing.T) {
	info := &Info{Seek: []SeekPoint{{0, 100}, {1152, 500}, {2304, 900}}}
	for _, c := range []struct{ s, want int64 }{{-5, 100}, {0, 100}, {1151, 100}, {1152, 500}, {2000, 500}, {2304, 900}, {1 << 40, 900}} {
		if got := info.Lookup(c.s); got.Offset != c.want {
			t.Errorf("Lookup(%d) = %+v, want offset %d", c.s, got, c.want)
		}
	}
	if got := (&Info{}).Lookup(7); got != (SeekPoint{}) {
		t.Errorf("Lookup on no points = %+v", got)
	}
}

// ---- tags ----------------------------------------------------------------

func TestTags(t *testing.T) {
	plain := encode(t, variantNamed(t, "cbr128"))
	base := scan(t, plain, Options{})
	same := func(t *testing.T, info *Info, shift int64) {
		t.Helper()
		if info.Frames != base.Frames || info.Duration != base.Duration || info.EncoderDelay != base.EncoderDelay ||
			info.AudioStart != base.AudioStart+shift || info.AudioEnd != base.AudioEnd+shift || len(info.Seek) != len(base.Seek) {
			t.Fatalf("got %d frames %v [%d,%d), want %d frames %v [%d,%d)", info.Frames, info.Duration, info.AudioStart, info.AudioEnd,
				base.Frames, base.Duration, base.AudioStart+shift, base.AudioEnd+shift)
		}
		for i, p := range info.Seek {
			if p != (SeekPoint{base.Seek[i].Sample, base.Seek[i].Offset + shift}) {
				t.Fatalf("seek point %d %+v, want shifted %+v", i, p, base.Seek[i])
			}
		}
	}

	t.Run("lame-id3v2", func(t *testing.T) {
		b := encode(t, variantNamed(t, "id3v2"))
		info := scan(t, b, Options{})
		if string(b[:3]) != "ID3" || info.AudioStart < 10+300 {
			t.Fatalf("AudioStart %d; file starts %q", info.AudioStart, b[:3])
		}
	})
	t.Run("lame-id3v1", func(t *testing.T) {
		b := encode(t, variantNamed(t, "id3v1"))
		info := scan(t, b, Options{})
		if string(b[len(b)-128:len(b)-125]) != "TAG" || info.AudioEnd != int64(len(b)-128) {
			t.Fatalf("AudioEnd %d, size %d", info.AudioEnd, len(b))
		}
	})
	t.Run("two-id3v2-footer-padding", func(t *testing.T) {
		pre := id3v2(50, false)
		pre = append(pre, id3v2(30, true)...)
		pre = append(pre, make([]byte, 77)...) // padding after the tags
		same(t, scan(t, append(pre, plain...), Options{}), int64(len(pre)))
	})
	t.Run("id3v2-size-too-big", func(t *testing.T) {
		pre := []byte("ID3\x03\x00\x00\x7f\x7f\x7f\x7fTIT2\x00\x00\x00\x05\x00\x00\x00abcd")
		same(t, scan(t, append(pre, plain...), Options{}), int64(len(pre)))
	})
	t.Run("ape-lyrics-id3v1", func(t *testing.T) {
		b := append(slices.Clone(plain), apev2([]byte("Title\x00whatever"), true)...)
		b = append(b, []byte("LYRICSBEGININD00002 1EAL00003abc000032LYRICS200")...)
		b = append(b, id3v1()...)
		same(t, scan(t, b, Options{}), 0)
		// and an APE tag without header, after ID3v1 too
		b = append(slices.Clone(plain), id3v1()...)
		b = append(b, apev2([]byte("k\x00v"), false)...)
		same(t, scan(t, b, Options{}), 0)
	})
}

func id3v2(n int, footer bool) []byte {
	flags := byte(0)
	if footer {
		flags = 0x10
	}
	b := []byte{'I', 'D', '3', 4, 0, flags, byte(n >> 21 & 0x7F), byte(n >> 14 & 0x7F), byte(n >> 7 & 0x7F), byte(n & 0x7F)}
	b = append(b, bytes.Repeat([]byte{0xFF}, n)...) // sync-like bytes inside the tag must not matter
	if footer {
		b = append(b, '3', 'D', 'I', 4, 0, flags, b[6], b[7], b[8], b[9])
	}
	return b
}

func id3v1() []byte {
	b := make([]byte, 128)
	copy(b, "TAGtitle")
	return b
}

func apev2(items []byte, withHeader bool) []byte {
	hf := func(isHeader bool) []byte {
		h := make([]byte, 32)
		copy(h, "APETAGEX")
		binary.LittleEndian.PutUint32(h[8:], 2000)
		binary.LittleEndian.PutUint32(h[12:], uint32(len(items)+32))
		binary.LittleEndian.PutUint32(h[16:], 1)
		flags := uint32(0)
		if withHeader {
			flags |= 1 << 31
		}
		if isHeader {
			flags |= 1 << 29
		}
		binary.LittleEndian.PutUint32(h[20:], flags)
		return h
	}
	var b []byte
	if withHeader {
		b = hf(true)
	}
	b = append(b, items...)
	return append(b, hf(false)...)
}

// ---- bad input -----------------------------------------------------------

func TestNotMP3(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	random := make([]byte, 200000)
	for i := range random {
		random[i] = byte(rng.Uint32())
	}
	png := append([]byte("\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x01\x00\x00\x00\x01\x00\x08\x06\x00\x00\x00"), random[:5000]...)
	cases := map[string][]byte{
		"empty":          {},
		"one byte":       {0xFF},
		"random":         random,
		"png":            png,
		"text":           bytes.Repeat([]byte("This is not an MP3 file, it only has its name.\n"), 300),
		"id3v2 only":     id3v2(1000, false),
		"id3v2 + zeros":  append(id3v2(100, false), make([]byte, 5000)...),
		"id3v1 only":     id3v1(),
		"lone header":    {0xFF, 0xFB, 0x90, 0x64},
		"bad id3v2 size": append([]byte("ID3\x04\x00\x00\x7f\x7f\x7f\x7f"), random[:100]...),
	}
	for name, b := range cases {
		t.Run(name, func(t *testing.T) {
			info, err := Scan(bytes.NewReader(b), int64(len(b)), Options{})
			if !errors.Is(err, ErrNotMP3) || info != nil {
				t.Fatalf("Scan = %v, %v; want ErrNotMP3", info, err)
			}
			if errors.Is(err, ErrTruncated) || errors.Is(err, ErrUnsupported) {
				t.Fatalf("Scan = %v", err)
			}
		})
	}
}

func TestUnsupported(t *testing.T) {
	// MPEG-1 Layer II, 128 kbit/s, 44.1 kHz: 417-byte frames.
	var b []byte
	for range 20 {
		f := make([]byte, 417)
		copy(f, []byte{0xFF, 0xFD, 0x80, 0x04})
		b = append(b, f...)
	}
	_, err := Scan(bytes.NewReader(b), int64(len(b)), Options{})
	if !errors.Is(err, ErrUnsupported) || !errors.Is(err, ErrNotMP3) {
		t.Fatalf("Layer II: %v, want ErrUnsupported", err)
	}
	// Free format Layer III (bitrate index 0) is not recognised as MP3.
	for i := range 20 {
		b[i*417+2] = 0x00
		b[i*417+1] = 0xFB
	}
	if _, err := Scan(bytes.NewReader(b), int64(len(b)), Options{}); !errors.Is(err, ErrNotMP3) {
		t.Fatalf("free format: %v, want ErrNotMP3", err)
	}
}

func TestTruncated(t *testing.T) {
	withTag := encode(t, variantNamed(t, "cbr128"))
	noTag := encode(t, variantNamed(t, "no-info-tag"))
	vbr := encode(t, variantNamed(t, "vbr-V4"))
	v1 := encode(t, variantNamed(t, "id3v1"))
	full := scan(t, withTag, Options{})
	last := func(b []byte) int64 { // offset of the last frame
		info := scan(t, b, Options{SeekInterval: time.Nanosecond})
		return info.Seek[len(info.Seek)-1].Offset
	}

	truncated := func(t *testing.T, b []byte, wantFrames int64) {
		t.Helper()
		info, err := Scan(bytes.NewReader(b), int64(len(b)), Options{})
		if !errors.Is(err, ErrTruncated) || errors.Is(err, ErrNotMP3) {
			t.Fatalf("Scan: %v, want ErrTruncated", err)
		}
		if info == nil || (wantFrames >= 0 && info.Frames != wantFrames) {
			t.Fatalf("Scan returned %+v with %v; want the %d complete frames", info, err, wantFrames)
		}
		checkInfo(t, info, b, Options{})
	}
	frames := func(b []byte) int64 { return scan(t, b, Options{}).Frames }
	t.Run("mid-frame", func(t *testing.T) {
		truncated(t, withTag[:len(withTag)-100], full.Frames-1)
		truncated(t, vbr[:len(vbr)-100], frames(vbr)-1)
		truncated(t, noTag[:len(noTag)-100], frames(noTag)-1)
		truncated(t, withTag[:len(withTag)/2+7], -1)
	})
	t.Run("id3v1-removed-then-cut", func(t *testing.T) {
		b := v1[:len(v1)-128]
		truncated(t, b[:len(b)-100], frames(v1)-1)
	})
	t.Run("cut-then-id3v1", func(t *testing.T) {
		b := append(slices.Clone(withTag[:len(withTag)-100]), id3v1()...)
		truncated(t, b, full.Frames-1)
	})
	t.Run("header-bytes-only", func(t *testing.T) {
		end := last(withTag)
		truncated(t, withTag[:end+2], full.Frames-1)
		truncated(t, withTag[:end+3], full.Frames-1)
		truncated(t, withTag[:end+5], full.Frames-1)
	})
	t.Run("frame-boundary-xing-says-more", func(t *testing.T) {
		truncated(t, withTag[:last(withTag)], full.Frames-1)
		truncated(t, vbr[:last(vbr)], frames(vbr)-1)
	})
	t.Run("frame-boundary-no-xing-is-fine", func(t *testing.T) {
		b := noTag[:last(noTag)]
		if info := scan(t, b, Options{}); info.Frames != frames(noTag)-1 {
			t.Fatalf("%d frames, want %d", info.Frames, frames(noTag)-1)
		}
	})
	t.Run("header-frame-only", func(t *testing.T) {
		_, err := Scan(bytes.NewReader(withTag[:full.AudioStart]), full.AudioStart, Options{})
		if !errors.Is(err, ErrTruncated) {
			t.Fatalf("Info frame alone: %v, want ErrTruncated", err)
		}
	})
	t.Run("padding-dropped", func(t *testing.T) {
		info, _ := Scan(bytes.NewReader(withTag[:len(withTag)-100]), int64(len(withTag)-100), Options{})
		want := time.Duration(info.Samples-int64(info.EncoderDelay)) * time.Second / time.Duration(info.SampleRate)
		if info.Duration != want {
			t.Fatalf("truncated Duration %v, want %v", info.Duration, want)
		}
	})
}

// TestGarbage inserts junk between frames: the walk resyncs and counts the
// same frames, with the seek offsets after the junk moved by its length.
func TestGarbage(t *testing.T) {
	for _, name := range []string{"cbr128", "vbr-V4", "mpeg2-24k"} {
		t.Run(name, func(t *testing.T) {
			b := encode(t, variantNamed(t, name))
			every := Options{SeekInterval: time.Nanosecond}
			base := scan(t, b, every)
			rng := rand.New(rand.NewPCG(3, 4))
			junk := make([]byte, 3000)
			for i := range junk {
				junk[i] = byte(rng.Uint32())
			}
			// Some sync-like bytes, and a fake header of the same stream.
			copy(junk[100:], []byte{0xFF, 0xFB, 0x90, 0x64, 0xFF, 0xFF, 0xFF, 0xE0})
			copy(junk[1000:], b[base.Seek[3].Offset:base.Seek[3].Offset+4])

			at := []int{10, 40, 70} // junk before these frames
			var g []byte
			prev := int64(0)
			for _, f := range at {
				off := base.Seek[f].Offset
				g = append(g, b[prev:off]...)
				g = append(g, junk[:100+f*20]...)
				prev = off
			}
			g = append(g, b[prev:]...)
			g = append(g, junk[:333]...) // trailing junk too

			info := scan(t, g, every)
			if info.Frames != base.Frames || info.Samples != base.Samples || info.Duration != base.Duration {
				t.Fatalf("%d frames %v, want %d %v", info.Frames, info.Duration, base.Frames, base.Duration)
			}
			shift := int64(0)
			for i, p := range info.Seek {
				for k, f := range at {
					if i == f {
						shift += int64(100 + at[k]*20)
					}
				}
				if p.Offset != base.Seek[i].Offset+shift || p.Sample != base.Seek[i].Sample {
					t.Fatalf("seek point %d: %+v, want %+v shifted %d", i, p, base.Seek[i], shift)
				}
			}
			if info.AudioEnd != int64(len(g)-333) {
				t.Errorf("AudioEnd %d, want %d", info.AudioEnd, len(g)-333)
			}
		})
	}
}

// TestSplice cuts a frame short in the middle of the stream, as a broken
// download that resumed might: the cut frame is not counted, and the walk
// goes on with the next whole frame. With a Xing/Info header, which counts
// the lost frame, that is ErrTruncated.
func TestSplice(t *testing.T) {
	for _, name := range []string{"no-info-tag", "cbr128", "vbr-V4", "mpeg2-24k"} {
		t.Run(name, func(t *testing.T) {
			b := encode(t, variantNamed(t, name))
			every := Options{SeekInterval: time.Nanosecond}
			base := scan(t, b, every)
			const cut = 20
			keep := base.Seek[cut].Offset + 50
			g := append(slices.Clone(b[:keep]), b[base.Seek[cut+1].Offset:]...)
			info, err := Scan(bytes.NewReader(g), int64(len(g)), every)
			if base.HeaderFrame != errors.Is(err, ErrTruncated) || (err != nil && !errors.Is(err, ErrTruncated)) {
				t.Fatalf("Scan: %v", err)
			}
			checkInfo(t, info, g, every)
			if info.Frames != base.Frames-1 {
				t.Fatalf("%d frames, want %d", info.Frames, base.Frames-1)
			}
			lost := base.Seek[cut+1].Offset - keep
			for i, p := range info.Seek {
				want := base.Seek[i].Offset
				if i >= cut {
					want = base.Seek[i+1].Offset - lost
				}
				if p.Offset != want {
					t.Fatalf("seek point %d at %d, want %d", i, p.Offset, want)
				}
			}
		})
	}
}

// TestJunkBeforeFirstFrame checks that false syncs in junk before the
// audio (e.g. a bad ID3 size, or leftovers) are not taken for the stream.
func TestJunkBeforeFirstFrame(t *testing.T) {
	b := encode(t, variantNamed(t, "cbr128"))
	base := scan(t, b, Options{})
	junk := []byte{0xFF, 0xFB, 0x90, 0x64, 0, 0, 0xFF, 0xFA, 0x10, 0x00, 1, 2, 0xFF, 0xE3}
	junk = append(junk, make([]byte, 500)...)
	copy(junk[200:], b[base.Seek[1].Offset:base.Seek[1].Offset+4]) // a real-looking header, lone
	info := scan(t, append(junk, b...), Options{})
	if info.AudioStart != base.AudioStart+int64(len(junk)) || info.Frames != base.Frames || !info.HeaderFrame {
		t.Fatalf("AudioStart %d frames %d header %v; want %d %d true", info.AudioStart, info.Frames, info.HeaderFrame,
			base.AudioStart+int64(len(junk)), base.Frames)
	}
}

func TestShortFiles(t *testing.T) {
	for _, sec := range []float64{0.001, 0.03, 0.1} {
		v := variantNamed(t, "cbr128")
		v.seconds = sec
		b := encode(t, v)
		info := scan(t, b, Options{})
		if net := info.Samples - int64(info.EncoderDelay+info.EncoderPadding); net != int64(v.inputSamples()) {
			t.Errorf("%v s: %d frames, %d samples net, want %d", sec, info.Frames, net, v.inputSamples())
		}
		pcm, _ := decodeAll(t, b)
		if int64(len(pcm)/4) != info.Samples+int64(headerShift(info)) {
			t.Errorf("%v s: go-mp3 %d samples, Samples %d", sec, len(pcm)/4, info.Samples)
		}
	}
}

type failingReader struct{ err error }

func (r failingReader) ReadAt([]byte, int64) (int, error) { return 0, r.err }

func TestReaderErrors(t *testing.T) {
	boom := errors.New("boom")
	if _, err := Scan(failingReader{boom}, 1000, Options{}); !errors.Is(err, boom) || errors.Is(err, ErrNotMP3) {
		t.Errorf("failing reader: %v", err)
	}
	b := encode(t, variantNamed(t, "cbr128"))
	if _, err := Scan(bytes.NewReader(b), int64(len(b))+5000, Options{}); !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Errorf("size past the data: %v", err)
	}
	if _, err := Scan(bytes.NewReader(b), -1, Options{}); !errors.Is(err, ErrNotMP3) {
		t.Errorf("negative size: %v", err)
	}
	// A size shorter than the data: the rest is not looked at.
	info, err := Scan(bytes.NewReader(b), int64(len(b)/2), Options{})
	if !errors.Is(err, ErrTruncated) || info.AudioEnd > int64(len(b)/2) {
		t.Errorf("half size: %v", err)
	}
}

// TestBlockBoundaries makes the source's window small, so that frames,
// chains and resyncs straddle its refills.
func TestBlockBoundaries(t *testing.T) {
	for _, name := range []string{"vbr-V4", "id3v2", "mpeg2-24k"} {
		b := encode(t, variantNamed(t, name))
		// Junk in the middle, to make the walk resync across refills.
		b = append(append(slices.Clone(b[:20000]), bytes.Repeat([]byte{0xFF, 0xFB, 0x12}, 700)...), b[20000:]...)
		want := scan(t, b, Options{})
		for _, block := range []int{1, 7, 64, 1000, 4099, 10007} {
			got, err := scanBlocks(bytes.NewReader(b), int64(len(b)), Options{}, block)
			if err != nil {
				t.Fatalf("%s, block %d: %v", name, block, err)
			}
			if got.Frames != want.Frames || got.AudioStart != want.AudioStart || got.AudioEnd != want.AudioEnd ||
				got.Preroll != want.Preroll || got.Duration != want.Duration || !slices.Equal(got.Seek, want.Seek) {
				t.Fatalf("%s, block %d: %+v\nwant %+v", name, block, *got, *want)
			}
		}
	}
}

func TestLargeFileFromDisk(t *testing.T) {
	v := variantNamed(t, "vbr-V4")
	v.seconds = 30
	b := encode(t, v)
	path := filepath.Join(t.TempDir(), "a.mp3")
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	cr := &countingReader{r: f}
	info, err := Scan(cr, int64(len(b)), Options{})
	if err != nil {
		t.Fatal(err)
	}
	checkInfo(t, info, b, Options{})
	if want := scan(t, b, Options{}); info.Frames != want.Frames || !slices.Equal(info.Seek, want.Seek) {
		t.Fatal("file and memory scans differ")
	}
	if max := len(b)/blockSize + 4; cr.n > max {
		t.Errorf("%d ReadAt calls for %d bytes, want at most %d", cr.n, len(b), max)
	}
	if net := info.Samples - int64(info.EncoderDelay+info.EncoderPadding); net != int64(v.inputSamples()) {
		t.Errorf("%d samples net, want %d", net, v.inputSamples())
	}
}

type countingReader struct {
	r io.ReaderAt
	n int
}

func (c *countingReader) ReadAt(p []byte, off int64) (int, error) {
	c.n++
	return c.r.ReadAt(p, off)
}

// ---- fuzzing and benchmark -------------------------------------------------

func FuzzScan(f *testing.F) {
	for _, name := range []string{"cbr128", "mpeg2-24k", "mpeg2.5-8k", "vbr-V4", "id3v2"} {
		v := variantNamed(f, name)
		v.seconds = 0.04 // a few frames: small inputs fuzz (and minimize) fast
		b := encode(f, v)
		f.Add(b)
		f.Add(b[:len(b)-50])
		f.Add(append(append(slices.Clone(b[:len(b)/2]), "junk\xff\xfb"...), b[len(b)/2:]...))
	}
	f.Add([]byte{})
	f.Add(id3v2(10, true))
	f.Add([]byte{0xFF, 0xFB, 0x90, 0x64, 0xFF, 0xFB})
	f.Fuzz(checkAnyInput)
}

// checkAnyInput scans b, which may be anything, and checks that Scan
// classifies its errors and that what it returns holds together.
func checkAnyInput(t *testing.T, b []byte) {
	opts := Options{SeekInterval: 10 * time.Millisecond}
	info, err := Scan(bytes.NewReader(b), int64(len(b)), opts)
	if err != nil {
		if !errors.Is(err, ErrNotMP3) && !errors.Is(err, ErrTruncated) {
			t.Fatalf("unexpected error kind: %v", err)
		}
		if info != nil && !errors.Is(err, ErrTruncated) {
			t.Fatalf("Info returned with %v", err)
		}
	}
	if info != nil {
		checkInfo(t, info, b, opts)
	}
}

// TestMutations is a small deterministic fuzz run that needs no -fuzz:
// files damaged at random (bytes changed, cut out, repeated; the end cut
// off) must never make Scan panic, hang or return an inconsistent Info.
func TestMutations(t *testing.T) {
	var seeds [][]byte
	for _, name := range []string{"cbr128", "mpeg2-24k", "mpeg2.5-8k", "vbr-V4", "id3v2", "crc"} {
		v := variantNamed(t, name)
		v.seconds = 0.2
		seeds = append(seeds, encode(t, v))
	}
	n := 20000
	if raceEnabled || testing.Short() {
		n = 2000
	}
	rng := rand.New(rand.NewPCG(9, 9))
	var b []byte
	defer func() {
		if t.Failed() {
			t.Logf("failing input, %d bytes: %x", len(b), b)
		}
	}()
	for range n {
		b = slices.Clone(seeds[rng.IntN(len(seeds))])
		for k := rng.IntN(8); k >= 0 && len(b) > 0; k-- {
			i := rng.IntN(len(b))
			switch rng.IntN(4) {
			case 0:
				b[i] = byte(rng.Uint32())
			case 1:
				b = slices.Delete(b, i, min(len(b), i+rng.IntN(600)))
			case 2:
				j := min(len(b), i+rng.IntN(600))
				b = slices.Insert(b, rng.IntN(len(b)), b[i:j:j]...)
			case 3:
				b = b[:i]
			}
		}
		checkAnyInput(t, b)
	}
}

func BenchmarkScan(b *testing.B) {
	v := variantNamed(b, "vbr-V4")
	v.seconds = 60
	data := encode(b, v)
	b.SetBytes(int64(len(data)))
	b.ResetTimer()
	for b.Loop() {
		if _, err := Scan(bytes.NewReader(data), int64(len(data)), Options{}); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkScanFile scans the same file through an *os.File.
func BenchmarkScanFile(b *testing.B) {
	v := variantNamed(b, "cbr128")
	v.seconds = 60
	data := encode(b, v)
	path := filepath.Join(b.TempDir(), "a.mp3")
	if err := os.WriteFile(path, data, 0o644); err != nil {
		b.Fatal(err)
	}
	f, err := os.Open(path)
	if err != nil {
		b.Fatal(err)
	}
	defer f.Close()
	b.SetBytes(int64(len(data)))
	b.ResetTimer()
	for b.Loop() {
		if _, err := Scan(f, int64(len(data)), Options{}); err != nil {
			b.Fatal(err)
		}
	}
}
