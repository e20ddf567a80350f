package main

import (
	"math"
	"math/rand/v2"
	"testing"
)

// pitchOf estimates the fundamental of x (Hz) by autocorrelation near guess.
func pitchOf(x []float64, sr, guess float64) float64 {
	ac := func(lag int) float64 {
		var s float64
		for i := 0; i+lag < len(x); i++ {
			s += x[i] * x[i+lag]
		}
		return s
	}
	best, lag := math.Inf(-1), 0
	for l := int(sr / (guess * 1.1)); l <= int(sr/(guess*0.9))+1; l++ {
		if v := ac(l); v > best {
			best, lag = v, l
		}
	}
	a, b, c := ac(lag-1), best, ac(lag+1)
	return sr / (float64(lag) + 0.5*(a-c)/(a-2*b+c))
}

func TestPluckedStringsAreInTune(t *testing.T) {
	for _, sr := range []float64{32000, 44100, 48000} {
		for p := 40; p <= 90; p += 7 {
			buf := pluck(0.5, 2)(sr, rand.New(rand.NewPCG(1, 2)), note{gate: 1, pitch: float64(p), vel: 0.8})
			want := mtof(float64(p))
			got := pitchOf(buf[int(0.2*sr):int(0.5*sr)], sr, want)
			if cents := 1200 * math.Log2(got/want); math.Abs(cents) > 5 {
				t.Errorf("pluck at %g Hz, MIDI %d: %.1f cents out", sr, p, cents)
			}
		}
	}
}

func TestMelodyStrongBeatsAreChordTones(t *testing.T) {
	for _, s := range songs {
		style := melodyStyle{cellA: []float64{0, 1, 1.5, 2.5}, cellB: []float64{0, 0.5, 2, 3}, cadence: []float64{0},
			lo: -2, hi: 9, leap: 0.3, repeat: 0.1, legato: 0.9}
		if s.meter == 3 {
			style.cellA, style.cellB = []float64{0, 1, 1.5, 2}, []float64{0, 0.5, 1, 2}
		}
		w := &melodyWriter{style: style, rng: rand.New(rand.NewPCG(s.seed, 1)), prog: s.prog, meter: s.meter}
		q, a := w.theme(4)
		for _, m := range append(q, a...) {
			bar := int(m.beat) / s.meter
			on := m.beat - float64(bar*s.meter)
			if (isStrong(on, s.meter) || m.dur >= 1) && !s.prog[bar%len(s.prog)].has(m.deg) {
				t.Errorf("%s: degree %d at beat %g is not in the chord %v", s.title, m.deg, m.beat, s.prog[bar%len(s.prog)])
			}
		}
		if last := a[len(a)-1]; s.prog[len(s.prog)-1].has(0) && last.deg%7 != 0 {
			t.Errorf("%s: answer ends on degree %d, not the tonic", s.title, last.deg)
		}
	}
}

func TestArrangementIsDeterministic(t *testing.T) {
	for _, s := range songs {
		a, b := newArranger(s), newArranger(s)
		s.arrange(a)
		s.arrange(b)
		if len(a.events) == 0 || len(a.events) != len(b.events) {
			t.Fatalf("%s: %d and %d events", s.title, len(a.events), len(b.events))
		}
		for i := range a.events {
			ea, eb := a.events[i], b.events[i]
			if ea.note != eb.note || ea.seed != eb.seed || ea.part.gain != eb.part.gain {
				t.Errorf("%s: event %d differs between runs", s.title, i)
				break
			}
		}
	}
}

func TestSongsFitTheBrief(t *testing.T) {
	for _, s := range songs {
		a := newArranger(s)
		if d := a.duration(); d < 30 || d > 90 {
			t.Errorf("%s lasts %.1fs, want 30–90", s.title, d)
		}
	}
}
