// Package mp3index reads the MPEG audio frame headers of an MP3 file and
// builds what a player needs to play and seek it sample-exactly: the exact
// frame and sample counts, the gapless (LAME tag) delay and padding, the
// exact duration, and a seek index of frame boundaries.
//
// It handles MPEG-1, MPEG-2 and MPEG-2.5 Layer III. Layer I/II streams are
// recognised and rejected with ErrUnsupported; free-format streams (bitrate
// index 0) are not recognised at all (ErrNotMP3).
//
// # What is counted
//
// Scan skips leading ID3v2 tags and trailing ID3v1, Lyrics3v2 and APEv2
// tags, finds the first frame (confirmed by the frames that follow it), then
// walks the stream frame by frame. Bytes between frames that are not a frame
// (junk, a stray tag) are skipped by searching forward for the next confirmed
// frame; only real frames are counted. A Xing, Info or VBRI header frame at
// the start is read and skipped: it is not audio, is not counted in
// Info.Frames and does not appear in Info.Seek. All counts come from this walk,
// never from the header's claims.
//
// # Mapping samples to a decoder's output
//
// A Layer III decoder's output is delayed relative to the encoder's input.
// If decoding starts at Info.AudioStart (or at any SeekPoint, after priming,
// see below), output sample n of the decoder is sample n counted from the
// first audio frame, the numbering used by SeekPoint.Sample. The first sample
// of the original audio is at
//
//	EncoderDelay + DecoderDelay
//
// in that numbering (when the file has a LAME tag), and the audio is
// N = Samples - EncoderDelay - EncoderPadding samples long, so a playback
// time t is sample t*SampleRate + EncoderDelay + DecoderDelay, and a gapless
// player plays samples [EncoderDelay+DecoderDelay, EncoderDelay+DecoderDelay+N)
// of the decoder's output. (LAME's padding is at least DecoderDelay, so that
// range ends before Samples.)
//
// github.com/hajimehoshi/go-mp3 (v0.3.4), decoding a whole file from its
// start, also decodes the Xing/Info header frame, as one frame of silence:
// its output then holds SamplesPerFrame extra samples in front, i.e.
// Samples+SamplesPerFrame samples per channel in all when Info.HeaderFrame is
// true. It applies neither the encoder delay nor the padding, and its delay is
// DecoderDelay (529) samples, like the ISO reference decoder. It cannot decode
// MPEG-2.5 or Layer I/II at all.
//
// # Seeking
//
// Layer III frames are not independent: a frame's main data may begin in
// earlier frames (the bit reservoir), and the synthesis filterbank carries
// state from one frame to the next. A decoder that starts at a frame boundary
// produces wrong output for its first frames: not only one or two, but 3 to
// 9 frames in the LAME files the tests make. Info.Preroll is the number of
// frames that, for this file, must be decoded and thrown away before the
// output is exact, computed from every frame's main_data_begin. To play from
// output sample s:
//
//	p := info.Lookup(s - int64(info.Preroll*info.SamplesPerFrame))
//	// start a fresh decoder at byte p.Offset, drop s - p.Sample samples.
package mp3index
