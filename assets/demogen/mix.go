package main

import (
	"encoding/binary"
	"math"
	"math/rand/v2"
	"os"
)

// This file holds the mixer: channels with pan and effect sends, a shared
// reverb and ping-pong echo, and the mastering chain (loudness, look-ahead
// limiter, fades, 16-bit WAV with dither).

// part is one instrument channel: a voice plus its mixer settings.
type part struct {
	voice  voice
	gain   float64 // fader
	pan    float64 // -1 left … +1 right
	reverb float64 // send to the shared reverb
	echo   float64 // send to the tempo-synced echo
	duck   float64 // depth (0..1) of the pumping that dips the channel on every beat
	jitter float64 // humanising: random timing spread in seconds
}

// event is a note played on a part. seed feeds the note's own random
// source (noise, oscillator phases).
type event struct {
	note
	part *part
	seed uint64
}

// stereo is a pair of sample buffers, left and right.
type stereo [2][]float64

func newStereo(frames int) stereo {
	return stereo{make([]float64, frames), make([]float64, frames)}
}

// mixer sums rendered notes into a dry bus and two effect send buses.
type mixer struct {
	sr     float64
	spb    float64 // seconds per beat, for the pumping
	origin float64 // time of the first downbeat
	dry    stereo
	rev    stereo
	echo   stereo

	pumpShape []float64 // see pump
}

func newMixer(sr, spb, origin float64, frames int) *mixer {
	return &mixer{sr: sr, spb: spb, origin: origin,
		dry: newStereo(frames), rev: newStereo(frames), echo: newStereo(frames)}
}

// add renders one event and mixes it in.
func (m *mixer) add(e event) {
	p := e.part
	buf := p.voice(m.sr, rand.New(rand.NewPCG(e.seed, 0x9e3779b97f4a7c15)), e.note)
	gl, gr := panGains(p.pan)
	first := int(math.Round(e.start * m.sr))
	for j, x := range buf {
		i := first + j
		if i < 0 {
			continue
		}
		if i >= len(m.dry[0]) {
			break
		}
		x *= p.gain
		if p.duck > 0 {
			x *= m.pump(i, p.duck)
		}
		l, r := x*gl, x*gr
		m.dry[0][i] += l
		m.dry[1][i] += r
		m.rev[0][i] += l * p.reverb
		m.rev[1][i] += r * p.reverb
		m.echo[0][i] += l * p.echo
		m.echo[1][i] += r * p.echo
	}
}

// pump is the sidechain-style gain dip: down by depth on each beat,
// recovering over about a tenth of a second. The shape is computed once.
func (m *mixer) pump(i int, depth float64) float64 {
	if m.pumpShape == nil {
		m.pumpShape = make([]float64, len(m.dry[0]))
		for j := range m.pumpShape {
			if t := float64(j)/m.sr - m.origin; t >= 0 {
				m.pumpShape[j] = math.Exp(-math.Mod(t, m.spb) / 0.1)
			}
		}
	}
	return 1 - depth*m.pumpShape[i]
}

// panGains is a constant-power pan law.
func panGains(pan float64) (l, r float64) {
	a := (pan + 1) * math.Pi / 4
	return math.Cos(a), math.Sin(a)
}

// Freeverb-style reverb: eight damped feedback combs in parallel followed
// by four all-passes in series, per channel, the right channel slightly
// detuned from the left for width. Delay lengths are for 44.1 kHz.
var (
	combTuning    = [...]int{1116, 1188, 1277, 1356, 1422, 1491, 1557, 1617}
	allpassTuning = [...]int{556, 441, 341, 225}
)

const stereoSpread = 23

type comb struct {
	buf             []float64
	i               int
	fb, damp, store float64
}

func (c *comb) process(x float64) float64 {
	y := c.buf[c.i]
	c.store = y*(1-c.damp) + c.store*c.damp
	c.buf[c.i] = x + c.store*c.fb
	if c.i++; c.i == len(c.buf) {
		c.i = 0
	}
	return y
}

type allpass struct {
	buf []float64
	i   int
}

func (a *allpass) process(x float64) float64 {
	b := a.buf[a.i]
	a.buf[a.i] = x + b*0.5
	if a.i++; a.i == len(a.buf) {
		a.i = 0
	}
	return b - x
}

// reverb returns the wet signal of a room of the given size (0..1) and
// high-frequency damping (0..1).
func reverb(in stereo, sr, room, damp float64) stereo {
	out := newStereo(len(in[0]))
	scale := sr / 44100
	for ch := range out {
		spread := ch * stereoSpread
		var combs []*comb
		for _, n := range combTuning {
			size := int(float64(n+spread) * scale)
			combs = append(combs, &comb{buf: make([]float64, size), fb: 0.7 + 0.28*room, damp: 0.4 * damp})
		}
		var aps []*allpass
		for _, n := range allpassTuning {
			aps = append(aps, &allpass{buf: make([]float64, int(float64(n+spread)*scale))})
		}
		for i := range out[ch] {
			x := (in[0][i] + in[1][i]) * 0.015
			var y float64
			for _, c := range combs {
				y += c.process(x)
			}
			for _, a := range aps {
				y = a.process(y)
			}
			out[ch][i] = 3 * y
		}
	}
	return out
}

// pingPong is a stereo echo that bounces left, right, left…, each repeat
// quieter (fb) and darker than the last.
func pingPong(in stereo, sr, delay, fb float64) stereo {
	out := newStereo(len(in[0]))
	n := int(delay * sr)
	if n < 1 {
		return out
	}
	left, right := make([]float64, n), make([]float64, n)
	lpL, lpR := newOnePole(sr, 3500), newOnePole(sr, 3500)
	for i := range out[0] {
		k := i % n
		dl, dr := left[k], right[k]
		out[0][i], out[1][i] = dl, dr
		left[k] = lpL.process(0.5*(in[0][i]+in[1][i]) + dr*fb)
		right[k] = lpR.process(dl * fb)
	}
	return out
}

// masterOptions are the per-song mastering settings.
type masterOptions struct {
	room, damp  float64 // reverb
	echoDelay   float64 // seconds; 0 = no echo
	echoFB      float64
	lofi        bool // low-pass, tape hiss and vinyl crackle
	mono        bool
	targetRMS   float64 // loudness the mix is brought to before limiting
	ceiling     float64 // peak ceiling of the limiter
	fadeOut     float64 // seconds
	crackleSeed uint64
}

// master sums the buses, adds the effect returns and finishes the mix.
func (m *mixer) master(o masterOptions) stereo {
	out := m.dry
	wet := reverb(m.rev, m.sr, o.room, o.damp)
	echo := pingPong(m.echo, m.sr, o.echoDelay, o.echoFB)
	for ch := range out {
		for i := range out[ch] {
			out[ch][i] += wet[ch][i] + echo[ch][i]
		}
	}
	if o.lofi {
		lofi(out, m.sr, o.crackleSeed)
	}
	if o.mono {
		for i := range out[0] {
			v := 0.5 * (out[0][i] + out[1][i])
			out[0][i], out[1][i] = v, v
		}
	}
	dcBlock(out, m.sr)
	loudness(out, o.targetRMS, o.ceiling)
	limit(out, m.sr, o.ceiling)
	fades(out, m.sr, o.fadeOut)
	return out
}

// lofi darkens the mix like a worn cassette and lays vinyl crackle and a
// little hiss under it.
func lofi(s stereo, sr float64, seed uint64) {
	rng := rand.New(rand.NewPCG(seed, 1))
	for ch := range s {
		lp1, lp2 := newOnePole(sr, 6500), newOnePole(sr, 6500)
		crackle := newOnePole(sr, 3000)
		for i, x := range s[ch] {
			pop := 0.0
			if rng.Float64() < 6/sr {
				pop = (rng.Float64()*2 - 1) * 0.25
			}
			hiss := (rng.Float64()*2 - 1) * 0.004
			s[ch][i] = lp2.process(lp1.process(x)) + crackle.process(pop) + hiss
		}
	}
}

// dcBlock removes any DC offset with a 20 Hz high-pass.
func dcBlock(s stereo, sr float64) {
	r := 1 - twoPi*20/sr
	for ch := range s {
		var x1, y1 float64
		for i, x := range s[ch] {
			y := x - x1 + r*y1
			x1, y1 = x, y
			s[ch][i] = y
		}
	}
}

// loudness scales the mix to the target RMS level, but never pushes peaks
// more than 8 dB into the limiter.
func loudness(s stereo, target, ceiling float64) {
	var sum, peak float64
	for ch := range s {
		for _, x := range s[ch] {
			sum += x * x
			peak = math.Max(peak, math.Abs(x))
		}
	}
	rms := math.Sqrt(sum / float64(2*len(s[0])))
	if rms == 0 {
		return
	}
	g := math.Min(target/rms, 2.5*ceiling/peak)
	for ch := range s {
		for i := range s[ch] {
			s[ch][i] *= g
		}
	}
}

// limit is a look-ahead peak limiter: the gain starts falling 3 ms before a
// peak that would cross the ceiling and recovers over about 80 ms, so the
// output never exceeds the ceiling and transients are not clipped.
func limit(s stereo, sr, ceiling float64) {
	n := len(s[0])
	gain := make([]float64, n)
	for i := range gain {
		p := math.Max(math.Abs(s[0][i]), math.Abs(s[1][i]))
		gain[i] = 1
		if p > ceiling {
			gain[i] = ceiling / p
		}
	}
	slope := 1 / (0.003 * sr)
	for i := n - 2; i >= 0; i-- { // attack: ramp down ahead of each peak
		gain[i] = math.Min(gain[i], gain[i+1]+slope)
	}
	release := 1 - math.Exp(-1/(0.08*sr))
	g := 1.0
	for i := range gain { // release: recover smoothly after it
		g = math.Min(gain[i], g+(1-g)*release)
		s[0][i] *= g
		s[1][i] *= g
	}
}

// fades applies a 5 ms fade-in and a cosine fade-out of the given length.
func fades(s stereo, sr, out float64) {
	n := len(s[0])
	in := int(0.005 * sr)
	tail := int(out * sr)
	for i := 0; i < n; i++ {
		g := 1.0
		if i < in {
			g = float64(i) / float64(in)
		}
		if k := n - 1 - i; k < tail {
			g *= 0.5 - 0.5*math.Cos(math.Pi*float64(k)/float64(tail))
		}
		s[0][i] *= g
		s[1][i] *= g
	}
}

// writeWAV writes 16-bit PCM with TPDF dither; one channel when mono.
func writeWAV(path string, s stereo, sr int, mono bool, seed uint64) error {
	channels := 2
	if mono {
		channels = 1
	}
	frames := len(s[0])
	data := make([]byte, 44+frames*channels*2)
	le := binary.LittleEndian
	copy(data[0:], "RIFF")
	le.PutUint32(data[4:], uint32(len(data)-8))
	copy(data[8:], "WAVEfmt ")
	le.PutUint32(data[16:], 16)
	le.PutUint16(data[20:], 1) // PCM
	le.PutUint16(data[22:], uint16(channels))
	le.PutUint32(data[24:], uint32(sr))
	le.PutUint32(data[28:], uint32(sr*channels*2))
	le.PutUint16(data[32:], uint16(channels*2))
	le.PutUint16(data[34:], 16)
	copy(data[36:], "data")
	le.PutUint32(data[40:], uint32(frames*channels*2))
	rng := rand.New(rand.NewPCG(seed, 2))
	off := 44
	for i := 0; i < frames; i++ {
		for ch := 0; ch < channels; ch++ {
			v := s[ch][i]*32767 + rng.Float64() - rng.Float64()
			v = math.Max(-32768, math.Min(32767, math.Round(v)))
			le.PutUint16(data[off:], uint16(int16(v)))
			off += 2
		}
	}
	return os.WriteFile(path, data, 0o644)
}
