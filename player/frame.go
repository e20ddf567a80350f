package player

import (
	"errors"
	"fmt"
	"io"
)

// mpegHeader is a parsed Layer III frame header.
type mpegHeader struct {
	version    int // 3 MPEG-1, 2 MPEG-2, 0 MPEG-2.5 (the header's own coding)
	rateIndex  int
	sampleRate int
	length     int // bytes, header included
}

var (
	// Layer III bitrates in kbit/s by [lsf][index]; lsf is 1 for MPEG-2 and 2.5.
	l3Bitrates = [2][16]int{
		{0, 32, 40, 48, 56, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320, 0},
		{0, 8, 16, 24, 32, 40, 48, 56, 64, 80, 96, 112, 128, 144, 160, 0},
	}
	// sample rates by [version][index].
	mpegRates = [4][3]int{
		0: {11025, 12000, 8000},  // MPEG-2.5
		2: {22050, 24000, 16000}, // MPEG-2
		3: {44100, 48000, 32000}, // MPEG-1
	}
)

// parseMPEGHeader parses the 4 bytes at b as a Layer III frame header. It
// reports false for anything else: no sync, another layer, a reserved
// version, rate or emphasis, a free-format or bad bitrate.
func parseMPEGHeader(b []byte) (mpegHeader, bool) {
	if len(b) < 4 || b[0] != 0xFF || b[1]&0xE0 != 0xE0 {
		return mpegHeader{}, false
	}
	version := int(b[1]>>3) & 3
	layer := int(b[1]>>1) & 3
	bri := int(b[2]>>4) & 15
	ri := int(b[2]>>2) & 3
	pad := int(b[2]>>1) & 1
	if version == 1 || layer != 1 || ri == 3 || b[3]&3 == 2 {
		return mpegHeader{}, false
	}
	lsf := 0
	if version != 3 {
		lsf = 1
	}
	br := l3Bitrates[lsf][bri] * 1000
	if br == 0 {
		return mpegHeader{}, false
	}
	rate := mpegRates[version][ri]
	coef := 144
	if lsf == 1 {
		coef = 72
	}
	return mpegHeader{version: version, rateIndex: ri, sampleRate: rate, length: coef*br/rate + pad}, true
}

func (h mpegHeader) sameStream(o mpegHeader) bool {
	return h.version == o.version && h.rateIndex == o.rateIndex
}

// maxJunk is how far past a missing frame header the frame walk looks for
// the stream to go on. Junk between frames that short is skipped, as
// decoders do; more is damage.
const maxJunk = 8 << 10

// errInterrupted is returned by reads that a pending seek cut short.
var errInterrupted = errors.New("player: read interrupted by a seek")

// frameReader hands the MPEG frames of a source to go-mp3, checking that a
// frame header is where the last frame ended. It is a plain io.Reader (so
// go-mp3 does not try to seek it), stops with io.EOF at the end of the
// audio (before any trailing tags), and turns damage into errors that say
// where it is: ErrTruncated if the source ends before the audio does,
// ErrCorrupt if no frame goes on within maxJunk bytes.
type frameReader struct {
	src       io.Reader
	interrupt func() bool // reports a pending seek; checked around every source read
	rate      int         // the stream's sample rate, from the manifest
	end       int64       // end of the audio frames (Audio.AudioEnd)

	pos      int64 // file offset of buf[0]: the next byte handed out
	frameEnd int64 // end of the frame being handed out
	ref      mpegHeader
	haveRef  bool
	buf      []byte // bytes read from src, not handed out yet
	srcErr   error  // the source's error (io.EOF included), after buf
	junk     int64  // bytes skipped between frames
}

// reset starts the walk again at off, a frame boundary the source is positioned at.
func (r *frameReader) reset(off int64) {
	r.pos, r.frameEnd = off, off
	r.buf = r.buf[:0]
	r.srcErr = nil
}

// fill reads until buf holds at least n bytes, or the source stops.
func (r *frameReader) fill(n int) error {
	for len(r.buf) < n {
		if r.srcErr != nil {
			return r.srcErr
		}
		if r.interrupt != nil && r.interrupt() {
			return errInterrupted
		}
		if cap(r.buf) < n {
			nb := make([]byte, len(r.buf), max(n, 4<<10))
			copy(nb, r.buf)
			r.buf = nb
		}
		want := min(cap(r.buf), len(r.buf)+max(n-len(r.buf), 4<<10))
		k, err := r.src.Read(r.buf[len(r.buf):want])
		if r.interrupt != nil && r.interrupt() {
			// The bytes may come from before or after the seek: drop them.
			return errInterrupted
		}
		r.buf = r.buf[:len(r.buf)+k]
		if err != nil {
			r.srcErr = err
		}
	}
	return nil
}

func (r *frameReader) drop(n int) {
	r.buf = r.buf[:copy(r.buf, r.buf[n:])]
	r.pos += int64(n)
}

// Read hands out the bytes of validated frames.
func (r *frameReader) Read(p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	if r.pos >= r.end {
		return 0, io.EOF
	}
	if r.pos >= r.frameEnd {
		if err := r.nextFrame(); err != nil {
			return 0, err
		}
	}
	if len(r.buf) == 0 {
		if err := r.fill(1); err != nil {
			return 0, r.sourceErr(err)
		}
	}
	n := copy(p, r.buf[:min(int64(len(r.buf)), r.frameEnd-r.pos)])
	r.drop(n)
	return n, nil
}

// nextFrame checks the header at pos, or finds where the stream goes on.
func (r *frameReader) nextFrame() error {
	if err := r.fill(4); err != nil {
		return r.sourceErr(err)
	}
	if h, ok := r.header(0); ok && r.pos+int64(h.length) <= r.end {
		r.accept(h)
		return nil
	}
	// Damage, or junk between frames: look for a frame that the next
	// frame (or the end of the audio) confirms.
	for skip := 1; skip <= maxJunk && r.pos+int64(skip) < r.end; skip++ {
		if err := r.fill(skip + 4); err != nil {
			if err == errInterrupted {
				return err
			}
			break
		}
		h, ok := r.header(skip)
		if !ok {
			continue
		}
		next := r.pos + int64(skip) + int64(h.length)
		if next > r.end {
			continue
		}
		if next < r.end {
			if err := r.fill(skip + h.length + 4); err != nil {
				if err == errInterrupted {
					return err
				}
				continue
			}
			if h2, ok := r.header(skip + h.length); !ok || !h2.sameStream(h) {
				continue
			}
		}
		r.drop(skip)
		r.junk += int64(skip)
		r.accept(h)
		return nil
	}
	if r.srcErr != nil && r.srcErr != io.EOF {
		return r.srcErr
	}
	return fmt.Errorf("%w: no MPEG frame at byte %d", ErrCorrupt, r.pos)
}

// header parses the header at buf[i:], if it belongs to this stream.
func (r *frameReader) header(i int) (mpegHeader, bool) {
	h, ok := parseMPEGHeader(r.buf[i:])
	if !ok || h.sampleRate != r.rate || (r.haveRef && !h.sameStream(r.ref)) {
		return mpegHeader{}, false
	}
	return h, true
}

func (r *frameReader) accept(h mpegHeader) {
	r.ref, r.haveRef = h, true
	r.frameEnd = r.pos + int64(h.length)
}

// sourceErr explains an error of the source met at pos.
func (r *frameReader) sourceErr(err error) error {
	if err == io.EOF {
		return fmt.Errorf("%w: the data ends at byte %d, the audio at byte %d", ErrTruncated, r.pos+int64(len(r.buf)), r.end)
	}
	return err
}
