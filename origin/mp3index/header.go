package mp3index

// MPEG versions as coded in header bits 19-20.
const (
	mpeg25   = 0
	mpegRes  = 1 // reserved
	mpeg2    = 2
	mpeg1    = 3
	layerRes = 0 // reserved
	layer3   = 1
	layer2   = 2
	layer1   = 3
)

// bitrates in kbit/s, by [lsf][layer][index]; lsf is 1 for MPEG-2 and 2.5.
// Index 0 (free format) and 15 (bad) are 0.
var bitrates = [2][4][16]int{
	{ // MPEG-1
		{},
		{0, 32, 40, 48, 56, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320, 0},  // Layer III
		{0, 32, 48, 56, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320, 384, 0}, // Layer II
		{0, 32, 64, 96, 128, 160, 192, 224, 256, 288, 320, 352, 384, 416, 448, 0},
	},
	{ // MPEG-2, MPEG-2.5
		{},
		{0, 8, 16, 24, 32, 40, 48, 56, 64, 80, 96, 112, 128, 144, 160, 0},
		{0, 8, 16, 24, 32, 40, 48, 56, 64, 80, 96, 112, 128, 144, 160, 0},
		{0, 32, 48, 56, 64, 80, 96, 112, 128, 144, 160, 176, 192, 224, 256, 0},
	},
}

// sampleRates by [version][index]; index 3 is reserved.
var sampleRates = [4][4]int{
	mpeg25: {11025, 12000, 8000, 0},
	mpeg2:  {22050, 24000, 16000, 0},
	mpeg1:  {44100, 48000, 32000, 0},
}

// header is a parsed 4-byte MPEG audio frame header.
type header struct {
	raw        uint32
	version    int // mpeg1, mpeg2, mpeg25
	layer      int // layer1..layer3
	bitrate    int // bit/s
	sampleRate int
	padding    int
	crc        bool // protected by a 16-bit CRC after the header
	mono       bool
	length     int // bytes in the frame, header included
	samples    int // PCM samples per channel in the frame
}

// maxFrameLen bounds the length of any frame parseHeader accepts
// (MPEG-1 Layer II, 384 kbit/s at 32 kHz, padded: 1729 bytes).
const maxFrameLen = 1729

// parseHeader parses the 4 bytes at b as a frame header. It reports false for
// anything that is not a usable header: no sync, a reserved version, layer,
// sample rate or emphasis, or a free-format or bad bitrate index.
func parseHeader(b []byte) (header, bool) {
	if len(b) < 4 || b[0] != 0xFF || b[1]&0xE0 != 0xE0 {
		return header{}, false
	}
	raw := uint32(b[0])<<24 | uint32(b[1])<<16 | uint32(b[2])<<8 | uint32(b[3])
	h := header{
		raw:     raw,
		version: int(raw>>19) & 3,
		layer:   int(raw>>17) & 3,
		crc:     raw&(1<<16) == 0,
		padding: int(raw>>9) & 1,
		mono:    (raw>>6)&3 == 3,
	}
	brIndex := int(raw>>12) & 15
	srIndex := int(raw>>10) & 3
	if h.version == mpegRes || h.layer == layerRes || srIndex == 3 || raw&3 == 2 {
		return header{}, false
	}
	lsf := 0
	if h.version != mpeg1 {
		lsf = 1
	}
	kbps := bitrates[lsf][h.layer][brIndex]
	if kbps == 0 {
		return header{}, false
	}
	h.bitrate = kbps * 1000
	h.sampleRate = sampleRates[h.version][srIndex]
	switch h.layer {
	case layer1:
		h.samples = 384
		h.length = (12*h.bitrate/h.sampleRate + h.padding) * 4
	case layer2:
		h.samples = 1152
		h.length = 144*h.bitrate/h.sampleRate + h.padding
	default:
		h.samples = 1152 >> lsf
		h.length = (144>>lsf)*h.bitrate/h.sampleRate + h.padding
	}
	return h, true
}

// sameStream reports whether h can belong to the same stream as ref: the
// version, layer and sample rate are fixed for a stream.
func (h header) sameStream(ref header) bool {
	const fixed = 0xFFFE0C00 // sync, version, layer, sample rate index
	return h.raw&fixed == ref.raw&fixed
}

// sideInfoLen is the length of the Layer III side information.
func (h header) sideInfoLen() int {
	switch {
	case h.version == mpeg1 && h.mono:
		return 17
	case h.version == mpeg1:
		return 32
	case h.mono:
		return 9
	default:
		return 17
	}
}

// mainDataLen is the number of main data bytes a Layer III frame carries:
// what follows the header, CRC and side information.
func (h header) mainDataLen() int {
	n := h.length - 4 - h.sideInfoLen()
	if h.crc {
		n -= 2
	}
	return max(n, 0)
}

// mainDataBegin returns the Layer III main_data_begin field of the frame in
// b: how many bytes before this frame's main data its main data starts, in
// the main data of earlier frames (the bit reservoir). b must hold at least
// the header, CRC and first two bytes of side information; if it does not,
// mainDataBegin returns 0.
func (h header) mainDataBegin(b []byte) int {
	i := 4
	if h.crc {
		i += 2
	}
	if len(b) < i+2 {
		return 0
	}
	if h.version == mpeg1 {
		return int(b[i])<<1 | int(b[i+1])>>7
	}
	return int(b[i])
}
