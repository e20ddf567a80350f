// Package player turns a swarm Stream into sound: it decodes MP3 with go-mp3
// while the bytes arrive, seeks sample-exactly through the manifest's seek
// index, writes PCM to a Sink (oto, null, WAV), keeps the playback clock,
// counts underruns, and plays a queue with repeat, shuffle and prefetch.
//
// # Pieces
//
//   - Source is what a track is read from: a swarm Stream (a StatsSource
//     once adapted, so that plays say where their bytes came from), or
//     NewReaderSource over any io.ReadSeeker and its manifest. An Opener
//     makes Sources from track IDs. Player does not import swarm: the
//     binaries adapt a node's Streams (internal/nodeconf).
//   - Decoder turns a Source into 16-bit little-endian stereo PCM from any
//     time position. It hands go-mp3 a plain io.Reader (go-mp3 reads a whole
//     io.ReadSeeker before its first sample), walks the MPEG frames itself to
//     stop at damage, and trims the encoder and decoder delay and padding so
//     that time t is exactly sample t×rate of the original audio.
//   - Sink plays PCM. NewNullSink paces it in real time (or faster, for
//     tests) and throws it away; NewWAVSink writes a WAV file; Paced gives
//     any sink a real-time clock; package player/otosink plays through the
//     system's audio device (cgo, ALSA), and is the only cgo code. A sink
//     that is also an Idler is told to idle while nothing plays, so that
//     the device gets no silence then.
//   - Queue is the pure play-order logic: the list, what is upcoming, the
//     history of what was played (Previous walks back through it), jump,
//     "play next" and "add to queue", repeat and shuffle.
//   - Player ties them together. One goroutine owns all its state; its
//     methods send that goroutine commands and wait until they are applied.
//     A track that cannot be had (swarm.ErrUnavailable: not cached, the
//     origin down, no peer holding it) fails within seconds and the queue
//     moves on; Cue restores a session, paused at a position.
//
// # Seeking
//
// go-mp3's output for a file decoded from its first audio frame (Audio.AudioStart
// in the manifest) is sample s for time t = (s − EncoderDelay − 529)/rate
// (origin/mp3index documents how that was measured). Layer III frames
// depend on earlier ones (the bit reservoir, the filterbank's memory), so to
// play from sample s the Decoder starts a fresh go-mp3 decoder at the seek
// point at or before s − Preroll×SamplesPerFrame and throws away what comes
// before s: the first sample out is the one a whole-file decode yields at s.
//
// # Clock, underruns and start latency
//
// The position is the audio handed to the sink, less what a real-time sink
// still holds (RealTimeSink.Latency). An underrun is the sink running dry
// while a track plays: the next PCM arrived after the sink had played all it
// had. Underruns are counted and timed per play (PlayStats), as is the start
// latency, from the moment a play was asked for to the first PCM handed to
// the sink, and the seek latency. The position is reported to the Source
// (Source.SetPosition) every 250 ms and on every seek, so that a swarm
// Stream's chunk deadlines follow playback.
//
// # Lifetime
//
// A context passed to New bounds nothing but the call and lends its values;
// the Player runs until Close, which ends the current play, closes its
// Source and waits for every goroutine the Player started. Close may be
// called again.
package player
