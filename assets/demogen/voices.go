package main

import (
	"math"
	"math/rand/v2"
)

// This file holds the pitched instruments. Each one is a voice: a function
// that renders a single note to mono samples, release tail included.

// note is one sounding event handed to a voice.
type note struct {
	start float64 // seconds from the start of the track
	gate  float64 // seconds the key is held
	pitch float64 // MIDI note number; fractional values detune
	vel   float64 // velocity, 0..1
}

// voice renders one note. rng belongs to that note alone, which keeps the
// whole render deterministic.
type voice func(sr float64, rng *rand.Rand, n note) []float64

// epiano is a two-operator FM electric piano: a 1:1 modulator whose index
// falls as the note decays (bright attack, mellow body) plus a short "tine"
// bark from a 1:14 pair.
func epiano(sr float64, _ *rand.Rand, n note) []float64 {
	f := mtof(n.pitch)
	env := adsr{a: 0.002, d: 1.4 * math.Pow(220/f, 0.3), s: 0.15, r: 0.3}
	out := make([]float64, env.samples(sr, n.gate))
	for i := range out {
		t := float64(i) / sr
		w := twoPi * f * t
		index := 0.25 + (0.4+1.2*n.vel)*math.Exp(-4*t)
		body := math.Sin(w + index*math.Sin(w))
		tine := 0.2 * n.vel * math.Exp(-30*t) * math.Sin(w+1.1*math.Sin(14*w))
		out[i] = (body + tine) * env.level(t, n.gate) * (0.35 + 0.65*n.vel)
	}
	fadeTail(out, sr)
	return out
}

// vibes is a vibraphone: a sine bar with its two-octave partial, a touch of
// FM on the strike and the slow tremolo of the motor-driven resonators.
func vibes(sr float64, _ *rand.Rand, n note) []float64 {
	f := mtof(n.pitch)
	env := adsr{a: 0.0015, d: 1.3, s: 0, r: 0.35}
	out := make([]float64, env.samples(sr, n.gate))
	for i := range out {
		t := float64(i) / sr
		w := twoPi * f * t
		strike := 0.9 * n.vel * math.Exp(-7*t)
		x := math.Sin(w+strike*math.Sin(w)) + 0.22*math.Exp(-5*t)*math.Sin(4*w)
		tremolo := 1 - 0.22*(0.5+0.5*math.Sin(twoPi*4.8*t))
		out[i] = x * tremolo * env.level(t, n.gate) * n.vel
	}
	fadeTail(out, sr)
	return out
}

// bell is an FM bell or mallet: ratio sets the modulator frequency relative
// to the carrier (2 is a warm glassy mallet, 3.5 a proper bell) and decay
// the ring time constant in seconds.
func bell(ratio, decay float64) voice {
	return func(sr float64, _ *rand.Rand, n note) []float64 {
		f := mtof(n.pitch)
		env := adsr{a: 0.002, d: decay, s: 0, r: decay / 2}
		out := make([]float64, env.samples(sr, n.gate))
		for i := range out {
			t := float64(i) / sr
			w := twoPi * f * t
			index := 0.2 + 1.6*n.vel*math.Exp(-t*2.5/decay)
			x := math.Sin(w + index*math.Sin(ratio*w))
			out[i] = x * env.level(t, n.gate) * n.vel
		}
		fadeTail(out, sr)
		return out
	}
}

// pluck is a Karplus–Strong plucked string: a burst of filtered noise
// circulating in a tuned delay line whose averaging filter drains the high
// harmonics first. A first-order all-pass supplies the fractional part of
// the delay so that every note is in tune. bright (0..1) is the pick's
// brightness and decay the seconds to fall by 60 dB while the note is held;
// after the gate the string is damped quickly.
func pluck(bright, decay float64) voice {
	return func(sr float64, rng *rand.Rand, n note) []float64 {
		f := mtof(n.pitch)
		period := sr / f
		size := int(period - 0.6) // loop = size + 0.5 (average) + frac (all-pass)
		frac := period - 0.5 - float64(size)
		c := (1 - frac) / (1 + frac)

		line := pickNoise(sr, rng, size, 300+bright*bright*9000*(0.5+0.5*n.vel))
		for i := range line {
			line[i] *= n.vel
		}
		held := math.Pow(0.001, 1/(decay*f))
		damped := math.Pow(0.001, 1/(0.12*f))

		out := make([]float64, int((n.gate+0.2)*sr))
		gateEnd := int(n.gate * sr)
		var prev, apIn, apOut float64
		k := 0
		for i := range out {
			y := line[k]
			out[i] = y
			loss := held
			if i > gateEnd {
				loss = damped
			}
			avg := loss * 0.5 * (y + prev)
			prev = y
			ap := c*avg + apIn - c*apOut
			apIn, apOut = avg, ap
			line[k] = ap
			if k++; k == size {
				k = 0
			}
		}
		fadeTail(out, sr)
		return out
	}
}

// pickNoise is the excitation of a plucked string: low-passed white noise
// with its DC removed, normalised to a peak of 1.
func pickNoise(sr float64, rng *rand.Rand, size int, cutoff float64) []float64 {
	lp := newOnePole(sr, cutoff)
	buf := make([]float64, size)
	var mean float64
	for i := range buf {
		buf[i] = lp.process(rng.Float64()*2 - 1)
		mean += buf[i]
	}
	mean /= float64(size)
	var peak float64
	for i := range buf {
		buf[i] -= mean
		peak = math.Max(peak, math.Abs(buf[i]))
	}
	for i := range buf {
		buf[i] /= peak
	}
	return buf
}

// pad is a soft synth pad: two slightly detuned band-limited saws through
// a gentle low-pass filter, with slow attack and release.
func pad(cutoff, attack, release float64) voice {
	return func(sr float64, rng *rand.Rand, n note) []float64 {
		f := mtof(n.pitch)
		env := adsr{a: attack, d: 2, s: 0.8, r: release}
		out := make([]float64, env.samples(sr, n.gate))
		a, b := osc{rng.Float64()}, osc{rng.Float64()}
		lp := newSVF(sr, cutoff, 0.6)
		for i := range out {
			t := float64(i) / sr
			low, _, _ := lp.process(a.saw(f*1.003, sr) + b.saw(f/1.003, sr))
			out[i] = 0.5 * low * env.level(t, n.gate) * n.vel
		}
		fadeTail(out, sr)
		return out
	}
}

// synthBass is a saw-plus-sine bass through a resonant low-pass whose
// cutoff snaps shut after each attack, then a little tanh drive.
func synthBass(cutoff, sweep float64) voice {
	return func(sr float64, rng *rand.Rand, n note) []float64 {
		f := mtof(n.pitch)
		env := adsr{a: 0.003, d: 0.3, s: 0.65, r: 0.05}
		out := make([]float64, env.samples(sr, n.gate))
		saw, sine := osc{rng.Float64()}, osc{}
		lp := newSVF(sr, cutoff, 1.2)
		for i := range out {
			t := float64(i) / sr
			if i%16 == 0 {
				lp.tune(sr, cutoff+sweep*n.vel*math.Exp(-12*t), 1.2)
			}
			low, _, _ := lp.process(0.6*saw.saw(f, sr) + 0.8*sine.sine(f, sr))
			out[i] = math.Tanh(1.4*low) * env.level(t, n.gate) * n.vel
		}
		fadeTail(out, sr)
		return out
	}
}

// upright is an acoustic double bass: a plucked additive tone whose upper
// harmonics die away faster than the fundamental, with a soft finger thump.
func upright(sr float64, rng *rand.Rand, n note) []float64 {
	f := mtof(n.pitch)
	env := adsr{a: 0.006, d: 0.45, s: 0.3, r: 0.08}
	out := make([]float64, env.samples(sr, n.gate))
	thump := newSVF(sr, 180, 0.8)
	for i := range out {
		t := float64(i) / sr
		w := twoPi * f * t
		x := math.Sin(w) + 0.5*math.Exp(-3*t)*math.Sin(2*w) +
			0.25*math.Exp(-6*t)*math.Sin(3*w) + 0.1*math.Exp(-9*t)*math.Sin(4*w)
		low, _, _ := thump.process(rng.Float64()*2 - 1)
		x += 1.5 * low * math.Exp(-40*t)
		out[i] = x * env.level(t, n.gate) * n.vel
	}
	fadeTail(out, sr)
	return out
}

// subBass is a round sine bass with a hint of second harmonic.
func subBass(sr float64, _ *rand.Rand, n note) []float64 {
	f := mtof(n.pitch)
	env := adsr{a: 0.008, d: 0.8, s: 0.6, r: 0.12}
	out := make([]float64, env.samples(sr, n.gate))
	for i := range out {
		t := float64(i) / sr
		w := twoPi * f * t
		x := math.Sin(w) + 0.18*math.Sin(2*w)
		out[i] = math.Tanh(1.2*x) * env.level(t, n.gate) * n.vel
	}
	fadeTail(out, sr)
	return out
}

// sawLead is a synth-pop lead: a square and a saw a few cents apart through
// a low-pass that opens on each note, with delayed vibrato.
func sawLead(sr float64, rng *rand.Rand, n note) []float64 {
	f := mtof(n.pitch)
	env := adsr{a: 0.01, d: 0.4, s: 0.7, r: 0.16}
	out := make([]float64, env.samples(sr, n.gate))
	a, b := osc{rng.Float64()}, osc{rng.Float64()}
	lp := newSVF(sr, 2000, 0.9)
	for i := range out {
		t := float64(i) / sr
		if i%16 == 0 {
			lp.tune(sr, 1400+3200*n.vel*math.Exp(-3*t), 0.9)
		}
		fv := f * vibrato(t, 0.2, 5.5, 0.15)
		x := 0.5*a.square(fv*1.0025, sr) + 0.6*b.saw(fv/1.0025, sr)
		low, _, _ := lp.process(x)
		out[i] = low * env.level(t, n.gate) * n.vel
	}
	fadeTail(out, sr)
	return out
}

// flute is a breathy wooden flute: a few soft harmonics, band-passed breath
// noise with a chiff on the attack, and delayed vibrato.
func flute(sr float64, rng *rand.Rand, n note) []float64 {
	f := mtof(n.pitch)
	env := adsr{a: 0.06, d: 0.3, s: 0.85, r: 0.12}
	out := make([]float64, env.samples(sr, n.gate))
	breath := newSVF(sr, 2*f, 1.5)
	var o osc
	for i := range out {
		t := float64(i) / sr
		w := twoPi * o.phase
		o.step(f*vibrato(t, 0.15, 5, 0.12), sr)
		x := math.Sin(w) + 0.2*math.Sin(2*w) + 0.07*math.Sin(3*w)
		_, band, _ := breath.process(rng.Float64()*2 - 1)
		x += 0.35 * band * (1 + 3*math.Exp(-25*t))
		out[i] = x * env.level(t, n.gate) * n.vel
	}
	fadeTail(out, sr)
	return out
}

// vibrato returns a frequency multiplier: after delay seconds it fades in a
// rate-Hz wobble of depth semitones.
func vibrato(t, delay, rate, depth float64) float64 {
	amount := math.Min(math.Max(t-delay, 0)/0.3, 1) * depth
	return math.Pow(2, amount*math.Sin(twoPi*rate*t)/12)
}

// surf is a wave washing in and out: noise through a low-pass filter that
// opens and closes with the swell, for the whole length of the note.
func surf(sr float64, rng *rand.Rand, n note) []float64 {
	out := make([]float64, int(n.gate*sr))
	lp := newSVF(sr, 300, 0.7)
	for i := range out {
		t := float64(i) / sr
		swell := math.Sin(math.Pi * t / n.gate)
		if i%32 == 0 {
			lp.tune(sr, 250+1600*swell*swell, 0.7)
		}
		low, _, _ := lp.process(rng.Float64()*2 - 1)
		out[i] = low * swell * swell * n.vel
	}
	return out
}
