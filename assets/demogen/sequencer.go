package main

import (
	"math"
	"math/rand/v2"
)

// This file holds the sequencer: it turns bars and beats into seconds
// (with swing and a little human timing) and offers the patterns songs are
// written with — held chords, strums, arpeggios, drum grids and melodies.

// preroll is a moment of silence before the first downbeat.
const preroll = 0.05

// arranger collects the events of one song.
type arranger struct {
	s      *song
	rng    *rand.Rand
	spb    float64 // seconds per beat
	events []event
}

func newArranger(s *song) *arranger {
	return &arranger{s: s, rng: rand.New(rand.NewPCG(s.seed, 0)), spb: 60 / s.bpm}
}

// duration is the length of the song: its bars, a final bar and the ring-out.
func (a *arranger) duration() float64 {
	return preroll + float64((a.s.bars+1)*a.s.meter)*a.spb + a.s.ring
}

// at converts a position (bar, beats into the bar — may run past the bar)
// to seconds, applying swing.
func (a *arranger) at(bar int, beat float64) float64 {
	pos := float64(bar*a.s.meter) + beat
	whole := math.Floor(pos)
	return preroll + (whole+a.swing(pos-whole))*a.spb
}

// swing delays the off-beats: each pair of subdivisions (eighths, or
// sixteenths) is split long–short in the ratio s.swing instead of evenly.
func (a *arranger) swing(f float64) float64 {
	ratio, unit := a.s.swing, a.s.swingUnit
	if ratio == 0 || unit == 0 {
		return f
	}
	pair := 2 * unit
	k := math.Floor(f / pair)
	x := (f - k*pair) / pair
	if x < 0.5 {
		x = x / 0.5 * ratio
	} else {
		x = ratio + (x-0.5)/0.5*(1-ratio)
	}
	return (k + x) * pair
}

// chord returns the chord of a bar.
func (a *arranger) chord(bar int) chord { return a.s.prog[bar%len(a.s.prog)] }

// play schedules one note on a part: position in bars and beats, length
// in beats.
func (a *arranger) play(p *part, bar int, beat, beats, pitch, vel float64) {
	start := a.at(bar, beat)
	gate := a.at(bar, beat+beats) - start
	if p.jitter > 0 {
		start += p.jitter * (a.rng.Float64()*2 - 1)
	}
	a.events = append(a.events, event{
		note: note{start: math.Max(start, 0), gate: gate, pitch: pitch, vel: vel},
		part: p,
		seed: a.rng.Uint64(),
	})
}

// hold plays all pitches together.
func (a *arranger) hold(p *part, bar int, beat, beats float64, pitches []int, vel float64) {
	for _, n := range pitches {
		a.play(p, bar, beat, beats, float64(n), vel)
	}
}

// strum plays pitches low to high, spread seconds apart, like a guitar.
func (a *arranger) strum(p *part, bar int, beat, beats float64, pitches []int, vel, spread float64) {
	for i, n := range pitches {
		delay := float64(i) * spread / a.spb
		a.play(p, bar, beat+delay, beats-delay, float64(n), vel*(1-0.06*float64(i)))
	}
}

// arp plays notes[order[i]] on each step (in beats) across one bar.
func (a *arranger) arp(p *part, bar int, notes, order []int, step, vel float64) {
	steps := int(float64(a.s.meter) / step)
	for i := 0; i < steps; i++ {
		accent := 0.8
		if i%4 == 0 {
			accent = 1
		}
		n := notes[order[i%len(order)]%len(notes)]
		a.play(p, bar, float64(i)*step, step*0.9, float64(n), vel*accent)
	}
}

// drums plays a one-bar grid: each character is a step, '.' a rest and
// 'X', 'x', 'o', 'g' hits from loud to ghostly.
func (a *arranger) drums(p *part, bar int, grid string) {
	step := float64(a.s.meter) / float64(len(grid))
	for i, c := range grid {
		if v := hitVelocity(c); v > 0 {
			a.play(p, bar, float64(i)*step, step, 0, v*(0.93+0.07*a.rng.Float64()))
		}
	}
}

func hitVelocity(c rune) float64 {
	switch c {
	case 'X':
		return 1
	case 'x':
		return 0.75
	case 'o':
		return 0.5
	case 'g':
		return 0.28
	}
	return 0
}

// melody plays a phrase written in scale degrees starting at bar, an
// octave offset (in octaves) above the song's root.
func (a *arranger) melody(p *part, bar int, phrase []mnote, octave int, vel float64) {
	for _, m := range phrase {
		n := a.s.scale.pitch(a.s.root+12*octave, m.deg)
		a.play(p, bar, m.beat, m.dur, float64(n), vel*m.vel)
	}
}

// voicing voices a chord around center.
func (a *arranger) voicing(c chord, center int) []int {
	return a.s.scale.voicing(a.s.root, c, center)
}

// bass returns the root of a chord in the octave starting at lo.
func (a *arranger) bass(c chord, lo int) int {
	return a.s.scale.bassNote(a.s.root, c, lo)
}

// writer returns a melody writer for the song's progression.
func (a *arranger) writer(style melodyStyle) *melodyWriter {
	return &melodyWriter{style: style, rng: a.rng, prog: a.s.prog, meter: a.s.meter}
}

// tonic is the chord on the first degree, for endings.
func tonic(size int) chord { return chord{0, size} }
