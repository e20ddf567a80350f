package player

import (
	"encoding/binary"
	"math"
)

// envelope is a gain that moves linearly to a target over a ramp, so that
// pauses, resumes and volume changes do not click.
type envelope struct {
	gain, target float64
	step         float64 // per frame
}

// rampTime is how long a gain change takes.
const rampMillis = 5

// set moves the gain to target over rampMillis at rate.
func (e *envelope) set(target float64, rate int) {
	e.target = target
	frames := max(rate*rampMillis/1000, 1)
	e.step = math.Abs(target-e.gain) / float64(frames)
	if e.step == 0 {
		e.gain = target
	}
}

// jump sets the gain at once.
func (e *envelope) jump(g float64) { e.gain, e.target, e.step = g, g, 0 }

func (e *envelope) steady() bool { return e.gain == e.target }

// apply scales pcm in place. With stopAtZero it stops at the first frame
// after the gain reached zero and returns how many bytes it processed;
// otherwise it processes all of pcm.
func (e *envelope) apply(pcm []byte, stopAtZero bool) int {
	if e.steady() && e.gain == 1 {
		return len(pcm) // bit-exact pass-through
	}
	for i := 0; i+BytesPerFrame <= len(pcm); i += BytesPerFrame {
		if stopAtZero && e.steady() && e.gain == 0 {
			return i
		}
		if !e.steady() {
			if e.gain < e.target {
				e.gain = math.Min(e.gain+e.step, e.target)
			} else {
				e.gain = math.Max(e.gain-e.step, e.target)
			}
		}
		for c := 0; c < 2; c++ {
			j := i + 2*c
			v := float64(int16(binary.LittleEndian.Uint16(pcm[j:]))) * e.gain
			binary.LittleEndian.PutUint16(pcm[j:], uint16(int16(math.Round(math.Max(-32768, math.Min(32767, v))))))
		}
	}
	return len(pcm) - len(pcm)%BytesPerFrame
}

// resampler converts PCM between rates by linear interpolation, carrying
// its state across blocks. It is for sinks that cannot play a track's
// rate (an audio device opened at one rate); it is not hi-fi.
type resampler struct {
	from, to int
	pos      int64 // position of the next output frame, in 1/to input frames, from prev
	prev     [2]float64
	havePrev bool
	out      []byte
}

func newResampler(from, to int) *resampler { return &resampler{from: from, to: to} }

// process converts pcm; the result is valid until the next call.
func (r *resampler) process(pcm []byte) []byte {
	n := len(pcm) / BytesPerFrame
	frame := func(i int) (float64, float64) { // i counts from prev (-1 when there is none)
		if r.havePrev {
			if i == 0 {
				return r.prev[0], r.prev[1]
			}
			i--
		}
		b := pcm[i*BytesPerFrame:]
		return float64(int16(binary.LittleEndian.Uint16(b))), float64(int16(binary.LittleEndian.Uint16(b[2:])))
	}
	total := n
	if r.havePrev {
		total++
	}
	r.out = r.out[:0]
	to := int64(r.to)
	for {
		i := int(r.pos / to)
		if i+1 >= total {
			break
		}
		f := float64(r.pos%to) / float64(r.to)
		l0, r0 := frame(i)
		l1, r1 := frame(i + 1)
		r.out = binary.LittleEndian.AppendUint16(r.out, uint16(int16(math.Round(l0+(l1-l0)*f))))
		r.out = binary.LittleEndian.AppendUint16(r.out, uint16(int16(math.Round(r0+(r1-r0)*f))))
		r.pos += int64(r.from)
	}
	if total > 0 {
		r.prev[0], r.prev[1] = frame(total - 1)
		r.pos -= int64(total-1) * to
		r.havePrev = true
	}
	return r.out
}
