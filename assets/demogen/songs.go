package main

import "math"

// This file holds the track list and the arrangement of each song: which
// instruments play what, section by section.

const (
	album       = "Potluck Demo Sessions"
	albumArtist = "The Potluck Ensemble"
	year        = 2026
)

// song is everything needed to compose, mix, encode and tag one track.
type song struct {
	title, artist, genre, slug string

	seed      uint64
	bpm       float64
	meter     int     // beats per bar
	bars      int     // bars before the closing bar
	swing     float64 // long share of a swung pair (0.5 even, 0.66 triplet feel); 0 = straight
	swingUnit float64 // swung subdivision in beats: 0.5 eighths, 0.25 sixteenths
	root      int     // MIDI note of the tonic
	scale     scale
	prog      []chord // one chord per bar, repeated
	ring      float64 // seconds of ring-out after the closing bar
	arrange   func(a *arranger)
	master    masterOptions
	enc       encoding
	cover     coverStyle
}

// songs is the demo album, in track order.
var songs = []*song{
	{
		title: "First Light", artist: albumArtist, genre: "Electronic", slug: "first-light",
		seed: 101, bpm: 128, meter: 4, bars: 16, root: 62, scale: major, ring: 2.2,
		prog:    []chord{{0, 3}, {4, 3}, {5, 3}, {3, 3}}, // I V vi IV in D
		arrange: firstLight,
		master:  masterOptions{room: 0.7, damp: 0.4, echoDelay: 0.75 * 60 / 128, echoFB: 0.35},
		enc:     encoding{rate: 44100, kbps: 128},
		cover:   coverStyle{motif: sunrise, top: rgb(0x1d2b5a), bottom: rgb(0xf7a072), accent: rgb(0xffd166), ink: rgb(0xfff4e0)},
	},
	{
		title: "Late Supper", artist: albumArtist, genre: "Jazz", slug: "late-supper",
		seed: 202, bpm: 104, meter: 4, bars: 16, root: 65, scale: major, ring: 2.2,
		swing: 0.64, swingUnit: 0.5,
		prog:    []chord{{1, 4}, {4, 4}, {0, 4}, {5, 4}}, // ii7 V7 Imaj7 vi7 in F
		arrange: lateSupper,
		master:  masterOptions{room: 0.55, damp: 0.6},
		enc:     encoding{rate: 44100, vbr: 4},
		cover:   coverStyle{motif: supper, top: rgb(0x2a1b3d), bottom: rgb(0x44318d), accent: rgb(0xe9b949), ink: rgb(0xf5efe6)},
	},
	{
		title: "Kettle Hill Waltz", artist: albumArtist, genre: "Folk", slug: "kettle-hill-waltz",
		seed: 303, bpm: 160, meter: 3, bars: 40, root: 67, scale: major, ring: 2.5,
		prog:    []chord{{0, 3}, {3, 3}, {0, 3}, {4, 3}, {0, 3}, {3, 3}, {4, 3}, {0, 3}}, // I IV I V I IV V I in G
		arrange: kettleHill,
		master:  masterOptions{room: 0.5, damp: 0.5, mono: true},
		enc:     encoding{rate: 32000, kbps: 64, mono: true},
		cover:   coverStyle{motif: hills, top: rgb(0x5fa8d3), bottom: rgb(0xf2e8cf), accent: rgb(0x386641), ink: rgb(0xfdfcdc)},
	},
	{
		title: "Slow Tide", artist: albumArtist, genre: "Ambient", slug: "slow-tide",
		seed: 404, bpm: 60, meter: 4, bars: 12, root: 64, scale: minor, ring: 5,
		prog:    []chord{{0, 4}, {5, 4}, {2, 4}, {6, 3}}, // i7 VImaj7 IIImaj7 VII in E minor
		arrange: slowTide,
		master:  masterOptions{room: 0.9, damp: 0.3, echoDelay: 0.75, echoFB: 0.45},
		enc:     encoding{rate: 48000, kbps: 112},
		cover:   coverStyle{motif: tide, top: rgb(0x0b3954), bottom: rgb(0x087e8b), accent: rgb(0xbfd7ea), ink: rgb(0xe8f1f2)},
	},
	{
		title: "Neon Orchard", artist: albumArtist, genre: "SynthPop", slug: "neon-orchard",
		seed: 505, bpm: 112, meter: 4, bars: 28, root: 57, scale: minor, ring: 2,
		prog:    []chord{{0, 3}, {5, 3}, {2, 3}, {6, 3}}, // i VI III VII in A minor
		arrange: neonOrchard,
		master:  masterOptions{room: 0.6, damp: 0.35, echoDelay: 0.75 * 60 / 112, echoFB: 0.3},
		enc:     encoding{rate: 44100, kbps: 96},
		cover:   coverStyle{motif: neonGrid, top: rgb(0x12002e), bottom: rgb(0x5a189a), accent: rgb(0xff5fa2), ink: rgb(0xfdf0ff)},
	},
	{
		title: "Marigold Static", artist: "Lantern Radio", genre: "Lo-Fi", slug: "marigold-static",
		seed: 606, bpm: 86, meter: 4, bars: 12, root: 63, scale: major, ring: 2,
		swing: 0.6, swingUnit: 0.25,
		prog:    []chord{{0, 4}, {5, 4}, {1, 4}, {4, 4}}, // Imaj7 vi7 ii7 V7 in E flat
		arrange: marigoldStatic,
		master:  masterOptions{room: 0.45, damp: 0.7, lofi: true},
		enc:     encoding{rate: 44100, kbps: 128},
		cover:   coverStyle{motif: marigold, top: rgb(0x3d405b), bottom: rgb(0x81667a), accent: rgb(0xf4a259), ink: rgb(0xf4f1de)},
	},
}

// firstLight: bright four-on-the-floor electronica. A plucked arpeggio and
// pad open, the groove enters in bar 5 and a glassy mallet sings the tune
// from bar 9.
func firstLight(a *arranger) {
	var (
		arp   = &part{voice: pluck(0.75, 0.9), gain: 0.6, pan: 0.3, reverb: 0.2, echo: 0.28}
		padL  = &part{voice: pad(1500, 0.5, 1.0), gain: 0.2, pan: -0.65, reverb: 0.3, duck: 0.45}
		padR  = &part{voice: pad(1500, 0.5, 1.0), gain: 0.2, pan: 0.65, reverb: 0.3, duck: 0.45}
		bass  = &part{voice: synthBass(300, 1500), gain: 0.5}
		lead  = &part{voice: bell(2, 0.8), gain: 0.34, pan: -0.2, reverb: 0.3, echo: 0.22, jitter: 0.004}
		kck   = &part{voice: kick(150, 48, 0.15), gain: 0.85}
		clp   = &part{voice: clap, gain: 1.0, pan: 0.1, reverb: 0.25}
		hat   = &part{voice: closedHat, gain: 0.55, pan: 0.3, jitter: 0.003}
		open  = &part{voice: openHat, gain: 0.3, pan: -0.25}
		crash = &part{voice: crashCym, gain: 0.14, pan: -0.3, reverb: 0.2}
	)
	question, answer := a.writer(melodyStyle{
		cellA: []float64{0, 0.75, 1.5, 2, 3}, cellB: []float64{0, 1, 1.5, 2.5, 3}, cadence: []float64{0, 0.5, 1},
		lo: -1, hi: 9, leap: 0.2, repeat: 0.1, legato: 0.9,
	}).theme(4)
	rolling := []int{0, 1, 2, 3, 4, 5, 4, 3, 2, 1, 2, 3, 4, 5, 4, 3}

	for bar := 0; bar < a.s.bars; bar++ {
		c, section := a.chord(bar), bar/4
		padChord(a, padL, padR, bar, a.voicing(c, 64), 4, 0.8)
		a.arp(arp, bar, twoOctaves(a.voicing(c, 70)), rolling, 0.25, 0.5+0.06*float64(section))
		if bar >= 2 {
			a.drums(open, bar, "..x...x...x...x.")
		}
		if section >= 1 {
			a.drums(kck, bar, "X...X...X...X...")
			a.drums(clp, bar, "....X.......X...")
			root := a.bass(c, 38)
			for i, beat := range []float64{0.5, 1.5, 2.5, 3.5} {
				a.play(bass, bar, beat, 0.4, float64(root+12*(i/3)), 0.9)
			}
		}
		if section >= 2 {
			a.drums(hat, bar, "x.gox.gox.gox.go")
		}
		if bar%4 == 0 && bar > 0 {
			a.drums(crash, bar, "X")
		}
	}
	a.melody(lead, 8, question, 1, 0.9)
	a.melody(lead, 12, answer, 1, 0.9)

	end := a.s.bars
	padChord(a, padL, padR, end, a.voicing(tonic(3), 64), 4, 0.8)
	a.play(lead, end, 0, 3, float64(a.s.root+12), 0.9)
	a.play(bass, end, 0, 2, float64(a.bass(tonic(3), 38)), 0.9)
	a.strum(arp, end, 0, 3, twoOctaves(a.voicing(tonic(3), 70)), 0.6, 0.06)
	a.drums(kck, end, "X")
	a.drums(crash, end, "X")
}

// lateSupper: a small after-hours jazz combo on a ii–V–I–vi turnaround:
// swung ride and brushes, walking upright bass, electric-piano comping and
// a vibraphone tune that turns into a short solo.
func lateSupper(a *arranger) {
	var (
		keys  = &part{voice: epiano, gain: 0.2, pan: -0.25, reverb: 0.2, jitter: 0.006}
		bass  = &part{voice: upright, gain: 0.38, pan: 0.1, jitter: 0.004}
		vib   = &part{voice: vibes, gain: 0.42, pan: 0.3, reverb: 0.3, jitter: 0.006}
		ride  = &part{voice: rideCym, gain: 0.2, pan: 0.35, jitter: 0.003}
		pedal = &part{voice: closedHat, gain: 0.3, pan: 0.35}
		brsh  = &part{voice: brush, gain: 1.0, pan: -0.1, jitter: 0.006, reverb: 0.1}
		kck   = &part{voice: kick(90, 45, 0.12), gain: 0.3}
	)
	tune := melodyStyle{
		cellA: []float64{0, 1, 1.5, 2.5}, cellB: []float64{0.5, 1, 2, 3, 3.5}, cadence: []float64{0, 0.5, 1.5},
		lo: -2, hi: 9, leap: 0.25, repeat: 0.1, legato: 0.95,
	}
	solo := melodyStyle{
		cellA: []float64{0, 0.5, 1, 1.5, 2, 3, 3.5}, cellB: []float64{0, 0.5, 1.5, 2, 2.5, 3}, cadence: []float64{0, 0.5, 1, 2},
		lo: 0, hi: 11, leap: 0.3, repeat: 0.05, legato: 0.9,
	}
	question, answer := a.writer(tune).theme(4)
	_, improv := a.writer(solo).theme(4)
	comps := [][]float64{ // onset, length pairs
		{0, 1.4, 2.5, 1},
		{1.5, 0.4, 2, 1.8},
		{0, 0.9, 1.5, 0.4, 3, 0.8},
		{0.5, 1.4, 2.5, 1.2},
	}
	brushes := []string{"g..g.g..", ".g.g..g.", "g.g..gg."}

	for bar := 0; bar < a.s.bars; bar++ {
		comp := comps[a.rng.IntN(len(comps))]
		for i := 0; i < len(comp); i += 2 {
			a.hold(keys, bar, comp[i], comp[i+1], a.voicing(a.chord(bar), 62), 0.6)
		}
		walk(a, bass, bar, 38)
		a.drums(ride, bar, "x.Xox.Xo")
		a.drums(pedal, bar, "..x...x.")
		a.drums(brsh, bar, brushes[a.rng.IntN(len(brushes))])
		a.drums(kck, bar, "g.g.g.g.")
	}
	a.melody(vib, 4, question, 0, 0.9)
	a.melody(vib, 8, answer, 0, 0.9)
	a.melody(vib, 12, improv, 0, 0.85)

	end := a.s.bars
	a.hold(keys, end, 0, 3.5, a.voicing(tonic(4), 62), 0.6)
	a.play(keys, end, 0.05, 3.5, float64(a.s.scale.pitch(a.s.root, 8)), 0.5) // the added ninth
	a.play(vib, end, 0, 3, float64(a.s.root+12), 0.8)
	a.play(bass, end, 0, 3, float64(a.bass(tonic(4), 38)), 0.9)
	a.drums(ride, end, "X")
}

// walk plays a walking bass bar: root, third (or passing tone), fifth, then
// a chromatic approach to the next bar's root.
func walk(a *arranger, p *part, bar, lo int) {
	c, next := a.chord(bar), a.chord(bar+1)
	sc, root := a.s.scale, a.bass(c, lo)
	interval := func(steps int) int { return sc.pitch(a.s.root, c.deg+steps) - sc.pitch(a.s.root, c.deg) }
	second, third, fifth := root+interval(1), root+interval(2), root+interval(4)
	target := a.bass(next, lo)
	approach := target - 1
	if abs(target+1-fifth) < abs(target-1-fifth) {
		approach = target + 1
	}
	line := []int{root, third, fifth, approach}
	if a.rng.Float64() < 0.35 {
		line[1] = second
	}
	for i, n := range line {
		a.play(p, bar, float64(i), 0.95, float64(n), []float64{0.95, 0.75, 0.85, 0.75}[i])
	}
}

// kettleHill: a folk waltz. Guitar oom-pah-pah and bass, a wooden flute
// with the tune, a mandolin taking the third verse and joining for the last.
func kettleHill(a *arranger) {
	var (
		gtr   = &part{voice: pluck(0.5, 2.5), gain: 0.55, pan: -0.2, reverb: 0.2, jitter: 0.005}
		bass  = &part{voice: upright, gain: 0.3}
		flt   = &part{voice: flute, gain: 0.34, pan: 0.15, reverb: 0.3, jitter: 0.005}
		mando = &part{voice: pluck(0.9, 1.2), gain: 1.0, pan: 0.25, reverb: 0.25, jitter: 0.004}
		shk   = &part{voice: shaker, gain: 0.2, pan: 0.35, jitter: 0.006}
		frame = &part{voice: kick(100, 55, 0.2), gain: 0.25}
	)
	question, answer := a.writer(melodyStyle{
		cellA: []float64{0, 1, 2}, cellB: []float64{0, 0.5, 1, 2}, cadence: []float64{0},
		lo: 0, hi: 10, leap: 0.25, repeat: 0.1, legato: 0.92,
	}).theme(4)
	phrase := len(a.s.prog)

	for bar := 0; bar < a.s.bars; bar++ {
		c, verse := a.chord(bar), bar/phrase
		a.play(bass, bar, 0, 0.9, float64(a.bass(c, 40)), 0.9)
		chordNotes := a.voicing(c, 62)
		a.strum(gtr, bar, 1, 0.8, chordNotes, 0.55, 0.012)
		a.strum(gtr, bar, 2, 0.8, chordNotes, 0.45, 0.012)
		if verse >= 1 {
			a.drums(shk, bar, "x.o.o.")
			a.drums(frame, bar, "X.....")
		}
		if verse >= 3 {
			a.drums(frame, bar, "....o.")
		}
	}
	a.melody(flt, 1*phrase, question, 0, 0.85)
	a.melody(flt, 2*phrase, answer, 0, 0.85)
	tremolo(a, mando, 3*phrase, question, 0, 0.7)
	a.melody(flt, 4*phrase, answer, 0, 0.85)
	tremolo(a, mando, 4*phrase, answer, 0, 0.5)

	end := a.s.bars
	a.strum(gtr, end, 0, 3, a.voicing(tonic(3), 62), 0.6, 0.02)
	a.play(bass, end, 0, 2.5, float64(a.bass(tonic(3), 40)), 0.9)
	a.play(flt, end, 0, 2.8, float64(a.s.root), 0.8)
}

// tremolo plays a melody the mandolin way: long notes are re-picked every
// half beat.
func tremolo(a *arranger, p *part, bar int, phrase []mnote, octave int, vel float64) {
	for _, m := range phrase {
		n := float64(a.s.scale.pitch(a.s.root+12*octave, m.deg))
		for t := 0.0; t < m.dur-0.1; t += 0.5 {
			a.play(p, bar, m.beat+t, math.Min(0.5, m.dur-t), n, vel*m.vel*(1-0.15*math.Min(t, 1)))
		}
	}
}

// slowTide: beatless-then-breathing ambient in E minor. Long pads, waves of
// filtered noise, droplets of plucked harmonics, a bell melody and a faint
// heartbeat in the middle.
func slowTide(a *arranger) {
	var (
		padL  = &part{voice: pad(1100, 1.8, 3), gain: 0.22, pan: -0.7, reverb: 0.45}
		padR  = &part{voice: pad(1100, 1.8, 3), gain: 0.22, pan: 0.7, reverb: 0.45}
		sub   = &part{voice: subBass, gain: 0.3}
		bellP = &part{voice: bell(3.5, 2.2), gain: 0.26, pan: 0.2, reverb: 0.55, echo: 0.35, jitter: 0.01}
		dropL = &part{voice: pluck(0.8, 1.5), gain: 0.6, pan: -0.5, reverb: 0.6, echo: 0.4}
		dropR = &part{voice: pluck(0.8, 1.5), gain: 0.6, pan: 0.5, reverb: 0.6, echo: 0.4}
		waveL = &part{voice: surf, gain: 0.35, pan: -0.6, reverb: 0.3}
		waveR = &part{voice: surf, gain: 0.35, pan: 0.6, reverb: 0.3}
		pulse = &part{voice: kick(70, 42, 0.3), gain: 0.35, reverb: 0.1}
	)
	question, answer := a.writer(melodyStyle{
		cellA: []float64{0, 1.5}, cellB: []float64{0, 2, 3}, cadence: []float64{0},
		lo: -2, hi: 9, leap: 0.3, repeat: 0.1, legato: 1,
	}).theme(4)

	for bar := 0; bar < a.s.bars; bar++ {
		c := a.chord(bar)
		padChord(a, padL, padR, bar, a.voicing(c, 60), 4, 0.8)
		a.play(sub, bar, 0, 3.8, float64(a.bass(c, 40)), 0.7)
		if bar%2 == 0 {
			a.play([]*part{waveL, waveR}[bar/2%2], bar, 0, 8, 0, 0.8)
		}
		if bar >= 2 {
			tones := a.voicing(c, 84)
			for step := 0.0; step < 4; step += 0.5 {
				if a.rng.Float64() < 0.2 {
					drop := []*part{dropL, dropR}[a.rng.IntN(2)]
					a.play(drop, bar, step, 0.5, float64(tones[a.rng.IntN(len(tones))]), 0.5)
				}
			}
		}
		if bar >= 4 && bar < 10 {
			a.drums(pulse, bar, "X..o............")
		}
	}
	a.melody(bellP, 4, question, 1, 0.8)
	a.melody(bellP, 8, answer, 1, 0.8)

	end := a.s.bars
	ninth := append(a.voicing(tonic(3), 60), a.s.scale.pitch(a.s.root, 1))
	padChord(a, padL, padR, end, ninth, 4, 0.8)
	a.play(sub, end, 0, 4, float64(a.bass(tonic(3), 40)), 0.7)
	a.play(bellP, end, 0, 4, float64(a.s.root+12), 0.7)
}

// neonOrchard: synth-pop in A minor. Pumping pad, octave bass, a saw lead
// with a breakdown in the middle and a snare roll back into the last
// chorus.
func neonOrchard(a *arranger) {
	var (
		padL  = &part{voice: pad(2400, 0.08, 0.5), gain: 0.17, pan: -0.6, reverb: 0.3, duck: 0.6}
		padR  = &part{voice: pad(2400, 0.08, 0.5), gain: 0.17, pan: 0.6, reverb: 0.3, duck: 0.6}
		bass  = &part{voice: synthBass(260, 1800), gain: 0.45}
		arp   = &part{voice: pluck(0.85, 0.6), gain: 0.7, pan: -0.35, reverb: 0.15, echo: 0.3}
		lead  = &part{voice: sawLead, gain: 0.36, pan: 0.1, reverb: 0.25, echo: 0.2}
		kck   = &part{voice: kick(160, 50, 0.14), gain: 0.85}
		snr   = &part{voice: snare(190, 0.12), gain: 0.5, reverb: 0.45}
		hat   = &part{voice: closedHat, gain: 0.5, pan: 0.3, jitter: 0.002}
		open  = &part{voice: openHat, gain: 0.3, pan: -0.3}
		crash = &part{voice: crashCym, gain: 0.14, pan: 0.3, reverb: 0.2}
	)
	question, answer := a.writer(melodyStyle{
		cellA: []float64{0, 0.5, 1, 2, 2.5, 3}, cellB: []float64{0, 1, 1.5, 2, 3}, cadence: []float64{0, 0.5, 1.5},
		lo: -1, hi: 9, leap: 0.2, repeat: 0.15, legato: 0.85,
	}).theme(4)
	_, breakdown := a.writer(melodyStyle{
		cellA: []float64{0, 1.5, 3}, cellB: []float64{0, 2}, cadence: []float64{0},
		lo: 0, hi: 10, leap: 0.3, repeat: 0.1, legato: 1,
	}).theme(7)
	order := []int{0, 2, 4, 1, 3, 5, 4, 2}

	for bar := 0; bar < a.s.bars; bar++ {
		c, section := a.chord(bar), bar/4
		full := section >= 1 && section != 4
		padChord(a, padL, padR, bar, a.voicing(c, 62), 4, 0.8)
		a.arp(arp, bar, twoOctaves(a.voicing(c, 69)), order, 0.5, 0.55)
		if full {
			root := a.bass(c, 33)
			for i := 0; i < 8; i++ {
				a.play(bass, bar, float64(i)*0.5, 0.4, float64(root+12*(i%2)), 0.9-0.2*float64(i%2))
			}
			a.drums(kck, bar, "X.......X.x.....")
			a.drums(hat, bar, "x.o.x.o.x.o.x.o.")
		}
		if full && section >= 2 {
			a.drums(snr, bar, "....X.......X...")
		}
		if full && section%2 == 1 && section > 1 {
			a.drums(open, bar, "..x...x...x...x.")
		}
		if bar%4 == 0 && full {
			a.drums(crash, bar, "X")
		}
		if bar == 19 {
			a.drums(snr, bar, "ggooooxxxxXXXXXX")
		}
	}
	for _, at := range []int{8, 20} {
		a.melody(lead, at, question, 1, 0.85)
		a.melody(lead, at+4, answer, 1, 0.85)
	}
	a.melody(lead, 16, breakdown, 1, 0.6)

	end := a.s.bars
	padChord(a, padL, padR, end, a.voicing(tonic(3), 62), 4, 0.8)
	a.play(lead, end, 0, 3, float64(a.s.root+12), 0.8)
	a.play(bass, end, 0, 2, float64(a.bass(tonic(3), 33)), 0.9)
	a.drums(kck, end, "X")
	a.drums(crash, end, "X")
}

// marigoldStatic: a lo-fi hip-hop loop on a ii–V-flavoured progression in
// E flat. Dusty electric piano, sub bass, lazy swung boom-bap and a nylon
// guitar tune, all under tape hiss and vinyl crackle.
func marigoldStatic(a *arranger) {
	var (
		keys = &part{voice: epiano, gain: 0.2, pan: -0.15, reverb: 0.25, jitter: 0.008}
		bass = &part{voice: subBass, gain: 0.5}
		gtr  = &part{voice: pluck(0.4, 1.2), gain: 1.7, pan: 0.2, reverb: 0.3, jitter: 0.008}
		kck  = &part{voice: kick(110, 46, 0.2), gain: 0.8}
		snr  = &part{voice: snare(170, 0.09), gain: 0.55, reverb: 0.2, jitter: 0.004}
		hat  = &part{voice: closedHat, gain: 0.45, pan: 0.25, jitter: 0.006}
	)
	question, answer := a.writer(melodyStyle{
		cellA: []float64{0, 0.75, 1.5, 2.5}, cellB: []float64{0.5, 1, 2, 3}, cadence: []float64{0, 0.75},
		lo: 2, hi: 11, leap: 0.25, repeat: 0.1, legato: 0.9,
	}).theme(4)

	for bar := 0; bar < a.s.bars; bar++ {
		c, section := a.chord(bar), bar/4
		wobble := 0.08 * (a.rng.Float64()*2 - 1) // tape wow: a few cents off
		for _, n := range a.voicing(c, 60) {
			a.play(keys, bar, 0, 1.6, float64(n)+wobble, 0.55)
			a.play(keys, bar, 2.5, 1.2, float64(n)+wobble, 0.4)
		}
		root := a.bass(c, 36)
		next := a.bass(a.chord(bar+1), 36)
		a.play(bass, bar, 0, 1.5, float64(root), 0.9)
		a.play(bass, bar, 2.5, 0.75, float64(root), 0.7)
		a.play(bass, bar, 3.5, 0.4, float64(next-1), 0.6)
		a.drums(hat, bar, "x.o.x.ogx.o.x.og")
		if section >= 1 {
			a.drums(kck, bar, "X......x..X.....")
			a.drums(snr, bar, "....X.......X..g")
		}
	}
	a.melody(gtr, 4, question, 0, 0.8)
	a.melody(gtr, 8, answer, 0, 0.8)

	end := a.s.bars
	ninth := append(a.voicing(tonic(4), 60), a.s.scale.pitch(a.s.root, 8))
	a.hold(keys, end, 0, 3, ninth, 0.55)
	a.play(bass, end, 0, 2, float64(a.bass(tonic(4), 36)), 0.9)
	a.play(gtr, end, 0.5, 2, float64(a.s.root+12), 0.7)
	a.drums(kck, end, "X")
}

// padChord plays a chord on a pair of pad channels panned apart and
// detuned a few cents from each other, for width.
func padChord(a *arranger, l, r *part, bar int, pitches []int, beats, vel float64) {
	for _, n := range pitches {
		a.play(l, bar, 0, beats, float64(n)-0.04, vel)
		a.play(r, bar, 0, beats, float64(n)+0.04, vel)
	}
}

// twoOctaves returns the pitches followed by the same an octave higher.
func twoOctaves(pitches []int) []int {
	out := append([]int(nil), pitches...)
	for _, n := range pitches {
		out = append(out, n+12)
	}
	return out
}
