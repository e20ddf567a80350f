package mp3index

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"sort"
	"time"
)

var (
	// ErrNotMP3 means no MPEG audio stream was found: an empty file, a file
	// of another type, or tags with no audio frames.
	ErrNotMP3 = errors.New("mp3index: not an MP3 file")

	// ErrUnsupported means the file is MPEG audio this package does not
	// index (Layer I or II). errors.Is(ErrUnsupported, ErrNotMP3) holds.
	ErrUnsupported = fmt.Errorf("%w: unsupported MPEG audio", ErrNotMP3)

	// ErrTruncated means the audio stops short: the last frame is cut off
	// by the end of the file (trailing ID3v1, Lyrics3 and APE tags aside),
	// or a Xing header announces more frames than the file holds.
	ErrTruncated = errors.New("mp3index: truncated MP3 file")
)

// DecoderDelay is the delay, in samples, of a standard Layer III decoder's
// synthesis (528 samples of filterbank delay plus 1), which the LAME tag's
// encoder delay does not include. go-mp3's output has exactly this delay
// (the tests measure it): input sample 0 of a LAME file comes out at
// EncoderDelay+DecoderDelay, counting from the first audio frame.
const DecoderDelay = 529

// reservoirFrames bounds how many frames back Preroll looks for the start of
// a frame's main data. The reservoir holds at most 511 bytes (MPEG-1) or 255
// (MPEG-2/2.5); 32 frames cover it at any bitrate but MPEG-2's lowest.
const reservoirFrames = 32

// DefaultSeekInterval is the seek point spacing used when
// Options.SeekInterval is zero or negative.
const DefaultSeekInterval = 500 * time.Millisecond

// Options tunes Scan.
type Options struct {
	// SeekInterval is the spacing of seek points: a point is placed at the
	// first frame at or after each multiple of SeekInterval, so points are
	// at most SeekInterval plus one frame apart. Zero or negative means
	// DefaultSeekInterval; any interval shorter than a frame gives a point
	// for every frame.
	SeekInterval time.Duration
}

// SeekPoint is a frame boundary.
type SeekPoint struct {
	// Sample is the index of the first PCM sample (per channel) of the
	// frame, counting from the first audio frame at AudioStart.
	Sample int64
	// Offset is the byte offset of the frame's header in the file.
	Offset int64
}

// Info describes an MP3 file's audio stream.
type Info struct {
	SampleRate      int // Hz
	Channels        int // 1 or 2
	SamplesPerFrame int // 1152 for MPEG-1 Layer III, 576 for MPEG-2/2.5

	// Frames counts the audio frames, not a Xing/Info/VBRI header frame.
	Frames int64
	// Samples is Frames*SamplesPerFrame: the PCM samples per channel that a
	// decoder yields for the audio frames, encoder delay and padding
	// included. go-mp3 also decodes a header frame, as SamplesPerFrame
	// samples of silence in front, so from the file's start it yields
	// Samples+SamplesPerFrame when HeaderFrame is true.
	Samples int64

	// EncoderDelay and EncoderPadding are the samples the encoder added
	// at the start and end, from the LAME tag (0 if there is none, or if
	// its values do not fit the stream).
	EncoderDelay   int
	EncoderPadding int
	// Duration is the exact playing time:
	// (Samples-EncoderDelay-EncoderPadding)/SampleRate, rounded down to a
	// nanosecond. Without a LAME tag it includes the delay and padding
	// the encoder added, which are unknown.
	Duration time.Duration

	// VBR is true for a Xing (not "Info") or VBRI header, or for frames of
	// different bitrates.
	VBR bool
	// Bitrate is the average bit rate of the audio frames, in bit/s.
	Bitrate int

	// HeaderFrame is true if a Xing/Info/VBRI frame was found and skipped.
	HeaderFrame bool
	// AudioStart is the offset of the first audio frame, past ID3v2 tags
	// and a header frame. AudioEnd is the end of the last complete frame.
	AudioStart int64
	AudioEnd   int64

	// Preroll is how many frames a fresh decoder started at a frame
	// boundary must decode and throw away before its output is exact:
	// started at frame j-Preroll, it yields frame j and all that follow
	// exactly as a decode of the whole file does. A frame's output needs
	// the main data of its frame and of the frames holding the two
	// granules before it (the IMDCT overlap and the synthesis
	// filterbank's memory), and main data reaches back into earlier
	// frames through the bit reservoir; Preroll is the largest such reach
	// in the file, at least 1. LAME files need 3 to 9.
	Preroll int

	// Seek lists frame boundaries in order, spaced by
	// Options.SeekInterval; the first is {0, AudioStart}.
	Seek []SeekPoint
}

// Lookup returns the last seek point at or before sample (the first point
// if sample is before it, the zero SeekPoint if there are none).
func (in *Info) Lookup(sample int64) SeekPoint {
	i := sort.Search(len(in.Seek), func(i int) bool { return in.Seek[i].Sample > sample })
	if i > 0 {
		i--
	}
	if i >= len(in.Seek) {
		return SeekPoint{}
	}
	return in.Seek[i]
}

// Scan reads the MP3 file of size bytes through r and indexes it. It reads
// in blocks of 256 KiB (the whole file if smaller), going forward, and
// does not read the body of an ID3v2 tag.
//
// Errors wrap ErrNotMP3, ErrUnsupported, ErrTruncated, or the reader's
// error. With ErrTruncated, Scan also returns the Info of the complete
// frames before the cut, if there are any; its Duration then ignores the
// encoder padding, which is lost with the end of the file.
func Scan(r io.ReaderAt, size int64, opts Options) (*Info, error) {
	return scanBlocks(r, size, opts, blockSize)
}

// scanBlocks is Scan reading block bytes at a time.
func scanBlocks(r io.ReaderAt, size int64, opts Options, block int) (*Info, error) {
	if size <= 0 {
		return nil, fmt.Errorf("%w: empty file", ErrNotMP3)
	}
	s := newSource(r, size, block)

	start, err := s.skipID3v2(0)
	if err != nil {
		return nil, err
	}
	end, err := s.trailingTags(start)
	if err != nil {
		return nil, err
	}
	if start >= end {
		return nil, fmt.Errorf("%w: no audio after the tags", ErrNotMP3)
	}

	first, h, ok, err := s.find(start, end, end, nil, 3)
	if err != nil {
		return nil, err
	}
	if !ok {
		return nil, fmt.Errorf("%w: no MPEG audio frames found", ErrNotMP3)
	}
	if h.layer != layer3 {
		return nil, fmt.Errorf("%w: MPEG Layer %s at offset %d", ErrUnsupported, []string{"", "III", "II", "I"}[h.layer], first)
	}
	ref := h

	info := &Info{
		SampleRate:      h.sampleRate,
		SamplesPerFrame: h.samples,
		AudioStart:      first,
		Channels:        2,
	}
	if h.mono {
		info.Channels = 1
	}

	// A Xing/Info/VBRI header frame first?
	b, err := s.bytes(first, h.length)
	if err != nil {
		return nil, err
	}
	vh, isVBRHeader := parseVBRHeader(h, b)
	if isVBRHeader {
		info.HeaderFrame = true
		info.VBR = vh.kind != "Info"
		info.AudioStart = first + int64(h.length)
	}

	interval := opts.SeekInterval
	if interval <= 0 {
		interval = DefaultSeekInterval
	}
	rate := int64(info.SampleRate)
	step := int64(interval/time.Second)*rate + int64(interval%time.Second)*rate/int64(time.Second)
	step = max(step, 1)

	var (
		pos        = info.AudioStart
		nextPoint  int64 // sample at or after which the next seek point goes
		audioBytes int64
		firstRate  = -1
		truncated  error
		// Bit reservoir bookkeeping: the main data sizes of the last
		// frames, by frame number modulo reservoirFrames.
		mainLens       [reservoirFrames]int
		reach1, reach2 int // reservoir reach of the last two frames
	)
	info.Preroll = 1
	last := ref // the last frame accepted
	for pos < end {
		b, err := s.bytes(pos, 8)
		if err != nil {
			return nil, err
		}
		h, ok := parseHeader(b)
		isFrame := false
		if ok && h.sameStream(ref) {
			if pos+int64(h.length) > end {
				if pos+int64(h.length) != size {
					truncated = fmt.Errorf("%w: frame at offset %d needs %d bytes, %d left",
						ErrTruncated, pos, h.length, end-pos)
					break
				}
				// What looked like trailing tags is the end of the
				// last frame.
				end = size
			}
			if isFrame, err = s.isFrame(pos, end, h, last); err != nil {
				return nil, err
			}
		} else if len(b) < 4 && len(b) >= 2 && b[0] == byte(ref.raw>>24) && b[1] == byte(ref.raw>>16) {
			truncated = fmt.Errorf("%w: %d bytes of a frame header at offset %d", ErrTruncated, len(b), pos)
			break
		}
		if !isFrame { // junk: look for the next frame
			q, hh, found, err := s.find(pos+1, end, end, &ref, 1)
			if err != nil {
				return nil, err
			}
			if !found {
				break // trailing junk
			}
			pos, h = q, hh
		}
		last = h
		if b, err = s.bytes(pos, 4+2+2); err != nil { // header, CRC, main_data_begin
			return nil, err
		}

		// A frame at pos.
		sample := info.Frames * int64(info.SamplesPerFrame)
		if sample >= nextPoint {
			info.Seek = append(info.Seek, SeekPoint{Sample: sample, Offset: pos})
			nextPoint = (sample/step + 1) * step
		}
		if firstRate < 0 {
			firstRate = h.bitrate
			info.Channels = 2
			if h.mono {
				info.Channels = 1
			}
		} else if h.bitrate != firstRate {
			info.VBR = true
		}

		// How many earlier frames hold the start of this frame's main
		// data, and so how far back a decoder must start.
		reach, need := 0, h.mainDataBegin(b)
		for reach < reservoirFrames && int64(reach) < info.Frames && need > 0 {
			need -= mainLens[(info.Frames-1-int64(reach))%reservoirFrames]
			reach++
		}
		// The frame's output is exact when its main data and that of the
		// frames holding the two granules before it are whole: the IMDCT
		// overlap carries one granule over, and the polyphase filterbank's
		// memory (15 of a granule's 18 subband slots) one more.
		info.Preroll = max(info.Preroll, reach, reach1+1)
		if h.version != mpeg1 { // one granule per frame
			info.Preroll = max(info.Preroll, reach2+2)
		}
		reach2, reach1 = reach1, reach
		mainLens[info.Frames%reservoirFrames] = h.mainDataLen()

		info.Frames++
		audioBytes += int64(h.length)
		pos += int64(h.length)
		info.AudioEnd = pos
	}

	if info.Frames == 0 {
		if truncated != nil {
			return nil, truncated
		}
		if isVBRHeader && vh.frames > 0 {
			return nil, fmt.Errorf("%w: %s header announces %d frames, none present", ErrTruncated, vh.kind, vh.frames)
		}
		return nil, fmt.Errorf("%w: no audio frames", ErrNotMP3)
	}
	if truncated == nil && isVBRHeader && vh.kind != "VBRI" && vh.frames > info.Frames {
		truncated = fmt.Errorf("%w: %s header announces %d frames, %d present", ErrTruncated, vh.kind, vh.frames, info.Frames)
	}

	info.Samples = info.Frames * int64(info.SamplesPerFrame)
	info.Bitrate = int(audioBytes * 8 * rate / info.Samples)
	if vh.lameValid && int64(vh.delay+vh.padding) < info.Samples {
		info.EncoderDelay, info.EncoderPadding = vh.delay, vh.padding
	}
	n := info.Samples - int64(info.EncoderDelay)
	if truncated == nil {
		n -= int64(info.EncoderPadding)
	}
	info.Duration = time.Duration(n/rate)*time.Second + time.Duration(n%rate*int64(time.Second)/rate)
	return info, truncated
}

// find returns the first offset in [from, limit) that holds a frame header
// confirmed by the confirm frames that follow it (each starting where the
// previous ends and belonging to the same stream), or by a shorter chain
// that ends exactly at end. If ref is not nil, the frames must belong to
// ref's stream.
func (s *source) find(from, limit, end int64, ref *header, confirm int) (int64, header, bool, error) {
	const window = (maxFrameLen + 4) * 4
	limit = min(limit, end-3)
	for pos := from; pos < limit; {
		b, err := s.bytes(pos, s.block)
		if err != nil {
			return 0, header{}, false, err
		}
		b = b[:min(int64(len(b)), limit-pos)]
		i := bytes.IndexByte(b, 0xFF)
		if i < 0 {
			pos += int64(len(b))
			continue
		}
		pos += int64(i)
		hb := b[i:]
		if len(hb) < 4 { // the window ends inside the header
			if hb, err = s.bytes(pos, 4); err != nil {
				return 0, header{}, false, err
			}
		}
		h, ok := parseHeader(hb)
		if !ok || (ref != nil && !h.sameStream(*ref)) {
			pos++
			continue
		}
		if ok, err := s.confirm(pos, end, h, confirm, window); err != nil {
			return 0, header{}, false, err
		} else if ok {
			return pos, h, true, nil
		}
		pos++
	}
	return 0, header{}, false, nil
}

// confirm reports whether the frame h at pos is followed by n more frames of
// the same stream, or by fewer that end exactly at end.
func (s *source) confirm(pos, end int64, h header, n int, window int) (bool, error) {
	// Load the chain's bytes in one go, so that checking it does not
	// make the buffer jump back and forth.
	w, err := s.bytes(pos, window)
	if err != nil {
		return false, err
	}
	p := int64(h.length)
	for range n {
		if pos+p == end {
			return true, nil
		}
		if pos+p+4 > end || p+4 > int64(len(w)) {
			return false, nil
		}
		next, ok := parseHeader(w[p:])
		if !ok || !next.sameStream(h) {
			return false, nil
		}
		p += int64(next.length)
	}
	return true, nil
}

// strictMask covers the header fields that an encoder keeps the same in
// every frame: sync, version, layer, CRC, sample rate, channel mode,
// copyright, original and emphasis.
const strictMask = 0xFFFF0CCF

// isFrame reports whether the header h at pos, where the previous frame
// last ended, starts a real frame that ends by end. It does if a frame of
// the stream follows it, or it ends at end. If junk follows it, it does
// when it matches the last frame in every fixed field, unless a frame
// starts inside it (then it is the start of a frame cut short).
func (s *source) isFrame(pos, end int64, h, last header) (bool, error) {
	next := pos + int64(h.length)
	if next == end {
		return true, nil
	}
	// The frame and the next header in one window, so that the walk does
	// not move the window back and forth.
	w, err := s.bytes(pos, h.length+4)
	if err != nil {
		return false, err
	}
	if f, ok := parseHeader(w[min(h.length, len(w)):]); ok && f.sameStream(h) && next+4 <= end {
		return true, nil
	}
	if h.raw&strictMask != last.raw&strictMask {
		return false, nil
	}
	_, _, inside, err := s.find(pos+1, next, end, &h, 1)
	return !inside, err
}
