package sim

import (
	"bytes"
	"fmt"
	"io/fs"
	"path"
	"slices"
	"strings"
	"testing/fstest"
	"time"

	"github.com/potluckfm/potluck/origin/mp3index"
)

// catalogueFS returns an in-memory library of m MP3 files made from the
// MP3 files of src. With length ≤ 0, file k is src's file k mod len, and
// every copy after the first carries its copy number in its ID3v1
// comment, so that its bytes, and hence its track ID, differ while it
// stays a valid MP3 of the same audio. With length > 0, file k joins the
// audio frames of src's files, starting at file k mod len and going on in
// order, until it lasts at least length: a track of realistic length made
// of short ones (see joinFrames). A file without an ID3v1 tag gets one.
func catalogueFS(src fs.FS, m int, length time.Duration) (fs.FS, error) {
	var names []string
	err := fs.WalkDir(src, ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if !d.IsDir() && strings.EqualFold(path.Ext(p), ".mp3") {
			names = append(names, p)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	if len(names) == 0 {
		return nil, fmt.Errorf("sim: no MP3 files in the library")
	}
	slices.Sort(names)
	files := make([][]byte, len(names))
	for i, n := range names {
		if files[i], err = fs.ReadFile(src, n); err != nil {
			return nil, err
		}
	}
	var parts []audioPart
	if length > 0 {
		if parts, err = audioParts(names, files); err != nil {
			return nil, err
		}
	}
	out := fstest.MapFS{}
	modTime := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	for k := range m {
		i, copyNo := k%len(names), k/len(names)
		data := files[i]
		switch {
		case length > 0:
			data = withComment(joinFrames(parts, i, length), fmt.Sprintf("potluck sim track %d", k))
		case copyNo > 0:
			data = withComment(data, fmt.Sprintf("potluck sim copy %d", copyNo))
		}
		name := fmt.Sprintf("%03d-%s", k, path.Base(names[i]))
		out[name] = &fstest.MapFile{Data: data, Mode: 0o444, ModTime: modTime}
	}
	return out, nil
}

// audioPart is the audio frames of one library file.
type audioPart struct {
	frames   []byte
	duration time.Duration
	format   [2]int // sample rate, channels: only parts of one format join
}

// audioParts cuts the audio frames out of each file: no tags, no
// Xing/Info header frame.
func audioParts(names []string, files [][]byte) ([]audioPart, error) {
	parts := make([]audioPart, len(files))
	for i, data := range files {
		info, err := mp3index.Scan(bytes.NewReader(data), int64(len(data)), mp3index.Options{})
		if err != nil {
			return nil, fmt.Errorf("sim: %s: %w", names[i], err)
		}
		parts[i] = audioPart{
			frames:   data[info.AudioStart:info.AudioEnd],
			duration: time.Duration(info.Samples) * time.Second / time.Duration(info.SampleRate),
			format:   [2]int{info.SampleRate, info.Channels},
		}
	}
	return parts, nil
}

// joinFrames joins the frames of part start and of the parts after it
// (round again) that share its format, until they last at least length.
// A Layer III stream may be cut and joined at frame boundaries where the
// next frame's main data does not reach back into the previous one, and
// the first audio frame of an encoder's output never does (its bit
// reservoir starts empty), so the joined stream decodes as the parts one
// after another.
func joinFrames(parts []audioPart, start int, length time.Duration) []byte {
	var out []byte
	var d time.Duration
	for i := start; d < length; i++ {
		p := parts[i%len(parts)]
		if p.format != parts[start].format {
			continue
		}
		out = append(out, p.frames...)
		d += p.duration
	}
	return out
}

// withComment returns a copy of an MP3 file whose ID3v1 comment is c.
func withComment(data []byte, c string) []byte {
	const tagLen = 128
	out := bytes.Clone(data)
	if len(out) < tagLen || string(out[len(out)-tagLen:len(out)-tagLen+3]) != "TAG" {
		tag := make([]byte, tagLen)
		copy(tag, "TAG")
		tag[tagLen-1] = 255 // genre: none
		out = append(out, tag...)
	}
	tag := out[len(out)-tagLen:]
	// ID3v1.1: comment at 97..124, a zero byte, then the track number.
	comment := tag[97:125]
	clear(comment)
	copy(comment, c)
	return out
}

// LiteLibrary returns a library of six silent MP3 files, 34 to 64 seconds
// of MPEG-2 Layer III at 16 kHz mono, 96 to 160 kbit/s: as many bytes per
// second as the demo library, at about a fifth of its decoding cost (the
// decoder's work grows with samples times channels). Benchmarks with many
// listeners, and the tests, use it where decoding would dominate.
func LiteLibrary() fs.FS {
	out := fstest.MapFS{}
	modTime := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	bitrates := []int{128, 96, 160, 112, 144, 128}
	for i, kbps := range bitrates {
		secs := 34 + 6*i
		out[fmt.Sprintf("%02d-silence.mp3", i+1)] = &fstest.MapFile{Data: silentMP3(kbps, secs), Mode: 0o444, ModTime: modTime}
	}
	return out
}

// silentMP3 encodes secs seconds of silence as MPEG-2 Layer III, 16 kHz
// mono at kbps kbit/s (a Layer III bitrate of MPEG-2: 8 to 160): frames
// whose side information codes no audio bits, the rest of each frame
// ancillary data.
func silentMP3(kbps, secs int) []byte {
	index := map[int]byte{8: 1, 16: 2, 24: 3, 32: 4, 40: 5, 48: 6, 56: 7, 64: 8, 80: 9, 96: 10, 112: 11, 128: 12, 144: 13, 160: 14}[kbps]
	if index == 0 {
		panic(fmt.Sprintf("bug: %d kbit/s is not an MPEG-2 Layer III bitrate", kbps))
	}
	const rate, samplesPerFrame = 16000, 576
	frameLen := 72 * kbps * 1000 / rate
	frames := secs * rate / samplesPerFrame
	// Sync, MPEG-2, Layer III, no CRC; bitrate, 16 kHz, no padding;
	// mono, original. The 9 bytes of side information stay zero.
	header := []byte{0xFF, 0xF3, index<<4 | 2<<2, 0xC4}
	out := make([]byte, frames*frameLen)
	for f := range frames {
		copy(out[f*frameLen:], header)
	}
	return out
}
