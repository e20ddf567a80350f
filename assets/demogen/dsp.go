package main

import "math"

// This file holds the small signal-processing building blocks the
// instruments are made of: pitch conversion, envelopes, band-limited
// oscillators and filters.

const twoPi = 2 * math.Pi

// mtof converts a MIDI note number (69 = A4 = 440 Hz) to a frequency in Hz.
func mtof(m float64) float64 { return 440 * math.Pow(2, (m-69)/12) }

// adsr is an attack/decay/sustain/release envelope. Attack is linear, decay
// is exponential with time constant d towards sustain level s, and release
// falls by about 43 dB over r seconds. Times are in seconds.
type adsr struct{ a, d, s, r float64 }

// level returns the envelope t seconds after note-on for a note held for
// gate seconds.
func (e adsr) level(t, gate float64) float64 {
	switch {
	case t < 0:
		return 0
	case t >= gate:
		return e.held(gate) * math.Exp(-5*(t-gate)/e.r)
	default:
		return e.held(t)
	}
}

func (e adsr) held(t float64) float64 {
	if t < e.a {
		return t / e.a
	}
	return e.s + (1-e.s)*math.Exp(-(t-e.a)/e.d)
}

// samples is the number of samples a note of the given gate needs,
// release tail included.
func (e adsr) samples(sr, gate float64) int { return int((gate + e.r) * sr) }

// polyBLEP is the polynomial band-limited step correction used to take the
// aliasing edge off naive sawtooth and square oscillators.
func polyBLEP(t, dt float64) float64 {
	switch {
	case t < dt:
		t /= dt
		return t + t - t*t - 1
	case t > 1-dt:
		t = (t - 1) / dt
		return t*t + t + t + 1
	}
	return 0
}

// osc is a phase accumulator with sine, saw and square read-outs.
type osc struct{ phase float64 }

// step advances the phase by f/sr cycles and returns the phase increment.
func (o *osc) step(f, sr float64) float64 {
	dt := f / sr
	o.phase += dt
	if o.phase >= 1 {
		o.phase -= math.Floor(o.phase)
	}
	return dt
}

func (o *osc) sine(f, sr float64) float64 {
	p := o.phase
	o.step(f, sr)
	return math.Sin(twoPi * p)
}

func (o *osc) saw(f, sr float64) float64 {
	p := o.phase
	dt := o.step(f, sr)
	return 2*p - 1 - polyBLEP(p, dt)
}

func (o *osc) square(f, sr float64) float64 {
	p := o.phase
	dt := o.step(f, sr)
	v := 1.0
	if p >= 0.5 {
		v = -1
	}
	return v + polyBLEP(p, dt) - polyBLEP(math.Mod(p+0.5, 1), dt)
}

// svf is a state-variable filter (the trapezoidal "TPT" form), giving
// low-, band- and high-pass outputs at once and staying stable when the
// cutoff moves.
type svf struct {
	k, a1, a2, a3 float64
	ic1, ic2      float64
}

func newSVF(sr, cutoff, q float64) *svf {
	f := &svf{}
	f.tune(sr, cutoff, q)
	return f
}

// tune sets cutoff (Hz) and resonance q (0.5 = soft, 0.707 = Butterworth).
func (f *svf) tune(sr, cutoff, q float64) {
	cutoff = math.Min(cutoff, sr*0.45)
	g := math.Tan(math.Pi * cutoff / sr)
	f.k = 1 / q
	f.a1 = 1 / (1 + g*(g+f.k))
	f.a2 = g * f.a1
	f.a3 = g * f.a2
}

func (f *svf) process(x float64) (low, band, high float64) {
	v3 := x - f.ic2
	v1 := f.a1*f.ic1 + f.a2*v3
	v2 := f.ic2 + f.a2*f.ic1 + f.a3*v3
	f.ic1 = 2*v1 - f.ic1
	f.ic2 = 2*v2 - f.ic2
	return v2, v1, x - f.k*v1 - v2
}

// onePole is a 6 dB/octave low-pass filter.
type onePole struct{ a, y float64 }

func newOnePole(sr, cutoff float64) *onePole {
	return &onePole{a: 1 - math.Exp(-twoPi*cutoff/sr)}
}

func (f *onePole) process(x float64) float64 {
	f.y += f.a * (x - f.y)
	return f.y
}

// fadeTail ramps the last few milliseconds of a voice to zero so that a
// note never stops with a click.
func fadeTail(buf []float64, sr float64) {
	n := int(0.004 * sr)
	if n > len(buf)/2 {
		n = len(buf) / 2
	}
	for i := 0; i < n; i++ {
		g := float64(i) / float64(n)
		buf[len(buf)-1-i] *= g
	}
}
