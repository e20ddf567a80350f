package main

import (
	"math"
	"math/rand/v2"
	"sort"
)

// This file holds the music theory: scales, diatonic chords, voicings and
// the melody writer. Pitches are MIDI note numbers; melodies are written in
// scale degrees (0 = tonic, 7 = tonic an octave up, -1 = leading tone
// below), so everything stays in key.

// scale lists semitone offsets above the tonic.
type scale []int

var (
	major = scale{0, 2, 4, 5, 7, 9, 11}
	minor = scale{0, 2, 3, 5, 7, 8, 10}
)

// pitch returns the MIDI note of scale degree deg above root.
func (s scale) pitch(root, deg int) int {
	n := len(s)
	oct := floorDiv(deg, n)
	return root + 12*oct + s[deg-oct*n]
}

func floorDiv(a, b int) int {
	return int(math.Floor(float64(a) / float64(b)))
}

// chord is a diatonic chord built in thirds on a scale degree: size 3 is a
// triad, 4 a seventh chord.
type chord struct{ deg, size int }

// tones returns the chord's scale degrees, reduced to 0..6.
func (c chord) tones() []int {
	var t []int
	for i := 0; i < c.size; i++ {
		t = append(t, (c.deg+2*i)%7)
	}
	return t
}

// has reports whether scale degree deg (any octave) belongs to the chord.
func (c chord) has(deg int) bool {
	d := ((deg % 7) + 7) % 7
	for _, t := range c.tones() {
		if t == d {
			return true
		}
	}
	return false
}

// voicing places each chord tone in the octave nearest to center and
// returns the pitches sorted low to high; consecutive chords voiced around
// the same center move smoothly.
func (s scale) voicing(root int, c chord, center int) []int {
	var out []int
	for i := 0; i < c.size; i++ {
		p := s.pitch(root, c.deg+2*i)
		for p < center-6 {
			p += 12
		}
		for p >= center+6 {
			p -= 12
		}
		out = append(out, p)
	}
	sort.Ints(out)
	return out
}

// bassNote returns the chord's root in the octave starting at lo.
func (s scale) bassNote(root int, c chord, lo int) int {
	p := s.pitch(root, c.deg)
	for p < lo {
		p += 12
	}
	for p >= lo+12 {
		p -= 12
	}
	return p
}

// mnote is one melody note: onset and length in beats from the start of
// the phrase, a scale degree and a velocity.
type mnote struct {
	beat, dur float64
	deg       int
	vel       float64
}

// melodyStyle is the rhythmic and melodic character of a song's tunes.
type melodyStyle struct {
	cellA, cellB []float64 // note onsets within a bar (in beats)
	cadence      []float64 // onsets of a phrase-ending bar; the last note is held
	lo, hi       int       // scale-degree range
	leap, repeat float64   // chances of a skip or a repeated note on weak beats
	legato       float64   // share of the gap to the next note that sounds
}

// melodyWriter writes phrases over a chord progression, one chord per bar.
// Strong beats and long notes land on chord tones, the short notes between
// them move stepwise,
// the third bar of each half-phrase repeats the rhythm and shape of the
// first (a sequence), and phrases close on a cadence: a "question" ends
// away from the tonic, an "answer" on it.
type melodyWriter struct {
	style melodyStyle
	rng   *rand.Rand
	prog  []chord
	meter int
}

// theme returns a question phrase and its answer. The answer repeats the
// question's first half and writes a new, resolving second half.
func (w *melodyWriter) theme(start int) (question, answer []mnote) {
	n := len(w.prog)
	question, _ = w.extend(nil, 0, n, start, false)
	half := float64(n / 2 * w.meter)
	cur := start
	for _, m := range question {
		if m.beat < half {
			answer = append(answer, m)
			cur = m.deg
		}
	}
	answer, _ = w.extend(answer, n/2, n, cur, true)
	return question, answer
}

// extend appends bars from..to-1 of a phrase to notes, starting from
// degree cur, and returns the notes and the final degree.
func (w *melodyWriter) extend(notes []mnote, from, to, cur int, answer bool) ([]mnote, int) {
	n := len(w.prog)
	for bar := from; bar < to; bar++ {
		c := w.prog[bar%n]
		cadence := bar == n-1 || (n >= 8 && bar == n/2-1)
		if !cadence && bar%4 == 2 {
			if src := inBar(notes, bar-2, w.meter); len(src) > 0 {
				notes, cur = w.sequence(notes, src, bar, c)
				continue
			}
		}
		cell := w.style.cellA
		switch {
		case cadence:
			cell = w.style.cadence
		case bar%2 == 1:
			cell = w.style.cellB
		}
		dir := w.direction(bar, cur)
		for i, on := range cell {
			end := float64(w.meter)
			if i+1 < len(cell) {
				end = cell[i+1]
			}
			last := cadence && i == len(cell)-1
			strong := isStrong(on, w.meter)
			switch {
			case last:
				cur = w.cadenceTone(cur, c, answer && bar == n-1)
			case i == 0 || strong || end-on >= 1: // downbeats and long notes
				cur = w.chordTone(cur+dir, c)
			default:
				cur = w.step(cur, &dir)
			}
			dur := (end - on) * w.style.legato
			if last {
				dur = end - on
			}
			vel := 0.7 + 0.1*w.rng.Float64()
			if strong {
				vel += 0.15
			}
			notes = append(notes, mnote{beat: float64(bar*w.meter) + on, dur: dur, deg: cur, vel: vel})
		}
	}
	return notes, cur
}

// sequence repeats the rhythm and contour of src (an earlier bar) in bar,
// shifted to start on a tone of the new chord; strong beats and long notes
// are nudged onto chord tones.
func (w *melodyWriter) sequence(notes, src []mnote, bar int, c chord) ([]mnote, int) {
	shift := w.nearest(src[0].deg, c, false) - src[0].deg
	offset := float64((bar - 2) * w.meter)
	cur := 0
	for _, m := range src {
		on := m.beat - offset
		cur = m.deg + shift
		if isStrong(on, w.meter) || m.dur >= 1 {
			cur = w.nearest(cur, c, false)
		}
		cur = w.clamp(cur)
		notes = append(notes, mnote{beat: float64(bar*w.meter) + on, dur: m.dur, deg: cur, vel: m.vel})
	}
	return notes, cur
}

// direction picks the melodic direction for a bar: rising through the
// first half of each half-phrase and falling towards its cadence, with the
// odd surprise, and always turning back near the edges of the range.
func (w *melodyWriter) direction(bar, cur int) int {
	half := max(len(w.prog)/2, 2)
	dir := 1
	if bar%half >= half/2 {
		dir = -1
	}
	if w.rng.Float64() < 0.25 {
		dir = -dir
	}
	switch {
	case cur >= w.style.hi-1:
		dir = -1
	case cur <= w.style.lo+1:
		dir = 1
	}
	return dir
}

// chordTone returns a chord tone near target: usually the nearest one,
// sometimes the next nearest, for variety.
func (w *melodyWriter) chordTone(target int, c chord) int {
	var cands []int
	for d := w.style.lo; d <= w.style.hi; d++ {
		if c.has(d) {
			cands = append(cands, d)
		}
	}
	sort.Slice(cands, func(i, j int) bool {
		di, dj := abs(cands[i]-target), abs(cands[j]-target)
		if di != dj {
			return di < dj
		}
		return cands[i] < cands[j]
	})
	if len(cands) > 1 && w.rng.Float64() < 0.2 {
		return cands[1]
	}
	return cands[0]
}

// nearest returns the chord tone closest to target, optionally only the
// tonic (when the chord contains it).
func (w *melodyWriter) nearest(target int, c chord, tonic bool) int {
	best, bestDist := target, math.MaxInt
	for d := w.style.lo; d <= w.style.hi; d++ {
		if !c.has(d) || (tonic && d%7 != 0) {
			continue
		}
		if dist := abs(d - target); dist < bestDist {
			best, bestDist = d, dist
		}
	}
	return best
}

// cadenceTone ends a phrase: on the tonic for a final answer when the chord
// allows it, otherwise on the nearest chord tone other than the tonic.
func (w *melodyWriter) cadenceTone(cur int, c chord, final bool) int {
	if final && c.has(0) {
		return w.nearest(cur, c, true)
	}
	best, bestDist := w.nearest(cur, c, false), math.MaxInt
	for d := w.style.lo; d <= w.style.hi; d++ {
		if c.has(d) && d%7 != 0 && abs(d-cur) < bestDist {
			best, bestDist = d, abs(d-cur)
		}
	}
	return best
}

// step moves to the next weak-beat note: mostly a scale step in the current
// direction, sometimes a skip or a repeat; it bounces off the range edges.
func (w *melodyWriter) step(cur int, dir *int) int {
	r := w.rng.Float64()
	move := *dir
	switch {
	case r < w.style.repeat:
		move = 0
	case r < w.style.repeat+w.style.leap:
		move = 2 * *dir
	}
	next := cur + move
	if next > w.style.hi || next < w.style.lo {
		*dir = -*dir
		next = cur + *dir
	}
	return next
}

func (w *melodyWriter) clamp(d int) int {
	for d > w.style.hi {
		d -= 7
	}
	for d < w.style.lo {
		d += 7
	}
	return d
}

// inBar returns the notes starting in the given bar.
func inBar(notes []mnote, bar, meter int) []mnote {
	var out []mnote
	lo, hi := float64(bar*meter), float64((bar+1)*meter)
	for _, m := range notes {
		if m.beat >= lo && m.beat < hi {
			out = append(out, m)
		}
	}
	return out
}

// isStrong reports whether an onset (beats into the bar) is a strong beat:
// the downbeat, and beat 3 in 4/4.
func isStrong(on float64, meter int) bool {
	return on == 0 || (meter == 4 && on == 2)
}

func abs(x int) int {
	if x < 0 {
		return -x
	}
	return x
}
