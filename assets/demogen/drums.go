package main

import (
	"math"
	"math/rand/v2"
)

// This file holds the drum kit: pitched decays for the kick and snare body,
// shaped noise bursts for everything that hisses. Drum voices ignore the
// note's pitch and gate.

// kick is a sine whose pitch falls quickly from f0 to f1 Hz, with an
// exponential decay (time constant in seconds), a tiny noise click for the
// beater and soft saturation.
func kick(f0, f1, decay float64) voice {
	return func(sr float64, rng *rand.Rand, n note) []float64 {
		out := make([]float64, int(decay*7*sr))
		var phase float64
		for i := range out {
			t := float64(i) / sr
			phase += (f1 + (f0-f1)*math.Exp(-30*t)) / sr
			x := math.Sin(twoPi*phase) * math.Exp(-t/decay)
			if t < 0.003 {
				x += 0.25 * (rng.Float64()*2 - 1) * (1 - t/0.003)
			}
			out[i] = math.Tanh(1.5*x) * n.vel
		}
		fadeTail(out, sr)
		return out
	}
}

// snare mixes a short pitched body at tone Hz with a high-passed noise burst
// (the wires) that decays with time constant rattle seconds.
func snare(tone, rattle float64) voice {
	return func(sr float64, rng *rand.Rand, n note) []float64 {
		out := make([]float64, int(rattle*7*sr))
		hp := newSVF(sr, 1400, 0.7)
		for i := range out {
			t := float64(i) / sr
			body := (math.Sin(twoPi*tone*t) + 0.6*math.Sin(twoPi*tone*1.62*t)) * math.Exp(-22*t)
			_, _, wires := hp.process(rng.Float64()*2 - 1)
			out[i] = (0.45*body + 0.8*wires*math.Exp(-t/rattle)) * n.vel
		}
		fadeTail(out, sr)
		return out
	}
}

// metal is the classic analogue cymbal source: six square waves at
// inharmonic frequencies (scaled by tone). phases holds their state.
func metal(phases *[6]float64, tone, sr float64) float64 {
	var sum float64
	for k, f := range [...]float64{205.3, 304.4, 369.6, 522.7, 540, 800} {
		p := phases[k] + f*tone/sr
		if p >= 1 {
			p--
		}
		phases[k] = p
		if p < 0.5 {
			sum++
		} else {
			sum--
		}
	}
	return sum / 6
}

// cymbal is a hi-hat, ride or crash: metallic squares and noise through a
// high-pass filter, decaying with time constant decay seconds. tone shifts
// the metallic partials; noise is the share of white noise (0..1).
func cymbal(decay, cutoff, tone, noise float64) voice {
	return func(sr float64, rng *rand.Rand, n note) []float64 {
		out := make([]float64, int(decay*5*sr))
		hp := newSVF(sr, cutoff, 0.8)
		var phases [6]float64
		env, fall := n.vel, math.Exp(-1/(decay*sr))
		attack := 0.001 * sr
		for i := range out {
			x := noise*(rng.Float64()*2-1) + (1-noise)*metal(&phases, tone, sr)
			_, _, high := hp.process(x)
			out[i] = high * env * math.Min(float64(i)/attack, 1)
			env *= fall
		}
		fadeTail(out, sr)
		return out
	}
}

// clap is three quick band-passed noise bursts and a short diffuse tail,
// like a few hands clapping almost together.
func clap(sr float64, rng *rand.Rand, n note) []float64 {
	out := make([]float64, int(0.6*sr))
	bp := newSVF(sr, 1100, 1.4)
	for i := range out {
		t := float64(i) / sr
		var env float64
		for _, at := range [...]float64{0, 0.011, 0.022} {
			if t >= at {
				env += math.Exp(-(t - at) * 230)
			}
		}
		if t >= 0.031 {
			env += 0.7 * math.Exp(-(t-0.031)/0.1)
		}
		_, band, _ := bp.process(rng.Float64()*2 - 1)
		out[i] = 2 * band * env * n.vel
	}
	fadeTail(out, sr)
	return out
}

// shaker is a short band-passed noise swish with a soft attack.
func shaker(sr float64, rng *rand.Rand, n note) []float64 {
	out := make([]float64, int(0.3*sr))
	bp := newSVF(sr, 6500, 1.2)
	for i := range out {
		t := float64(i) / sr
		env := math.Min(t/0.012, 1) * math.Exp(-math.Max(t-0.012, 0)/0.045)
		_, band, _ := bp.process(rng.Float64()*2 - 1)
		out[i] = 1.5 * band * env * n.vel
	}
	fadeTail(out, sr)
	return out
}

// brush is a jazz brush on a snare: low-passed noise with a slow swipe-in.
func brush(sr float64, rng *rand.Rand, n note) []float64 {
	out := make([]float64, int(0.5*sr))
	lp := newSVF(sr, 4500, 0.6)
	for i := range out {
		t := float64(i) / sr
		env := math.Min(t/0.01, 1) * math.Exp(-math.Max(t-0.01, 0)/0.09)
		low, _, _ := lp.process(rng.Float64()*2 - 1)
		out[i] = low * env * n.vel
	}
	fadeTail(out, sr)
	return out
}

// Ready-made kit pieces shared by several songs.
var (
	closedHat = cymbal(0.03, 7000, 1, 0.5)
	openHat   = cymbal(0.16, 6500, 1, 0.5)
	rideCym   = cymbal(0.7, 5000, 2.6, 0.35)
	crashCym  = cymbal(1.0, 3500, 1.7, 0.7)
)
