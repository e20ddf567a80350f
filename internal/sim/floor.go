package sim

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"slices"
	"time"

	"github.com/potluckfm/potluck/assets"
	"github.com/potluckfm/potluck/origin"
	"github.com/potluckfm/potluck/player"
	"github.com/potluckfm/potluck/track"
)

// startFloor is the least start latency of a play whose track the
// listener does not hold: one round trip to ask for the first chunk, that
// chunk's transfer at the listener's downlink (chunk bytes at bps bit/s),
// and one frame's decoding. Nothing a node does beats it; a start that
// takes twice it spends a round trip or a chunk's transfer on something
// else (a manifest, a lookup).
func startFloor(rtt time.Duration, bps int, chunk int, decode time.Duration) time.Duration {
	if bps <= 0 {
		return 0
	}
	transfer := time.Duration(float64(chunk) * 8 / float64(bps) * float64(time.Second))
	return rtt + transfer + decode
}

// floorOf is the start floor of a play of m by listener l, in simulated
// time: its round trip to the origin, the first chunk's transfer at its
// downlink (or the origin's link, if slower) and decode (wall time) of
// decoding.
func (r *run) floorOf(l *listener, m *track.Manifest, decode time.Duration) time.Duration {
	if m == nil || m.NumChunks() == 0 {
		return 0
	}
	_, chunk := m.ChunkBounds(0)
	return startFloor(l.rtt, min(l.link.down, r.cfg.Net.OriginRate), chunk, r.cfg.simTime(decode))
}

// frameDecodeSamples is how many frames frameDecodeTime times.
const frameDecodeSamples = 15

// frameDecodeTime returns the median wall time the player's decoder
// (go-mp3) takes for one MP3 frame of the track data (manifest m): it
// reads one frame's PCM at a time, frameDecodeSamples times, after one
// frame that sets the decoder up.
func frameDecodeTime(data []byte, m *track.Manifest) (time.Duration, error) {
	dec, err := player.NewDecoder(player.NewReaderSource(bytes.NewReader(data), m))
	if err != nil {
		return 0, err
	}
	buf := make([]byte, max(m.Audio.SamplesPerFrame, 1)*player.BytesPerFrame)
	if _, err := io.ReadFull(dec, buf); err != nil {
		return 0, fmt.Errorf("decoding track %s: %w", m.ID, err)
	}
	times := make([]time.Duration, 0, frameDecodeSamples)
	for range frameDecodeSamples {
		start := time.Now()
		if _, err := io.ReadFull(dec, buf); err != nil {
			return 0, fmt.Errorf("decoding track %s: %w", m.ID, err)
		}
		times = append(times, time.Since(start))
	}
	slices.Sort(times)
	return times[len(times)/2], nil
}

// MeasureFrameDecode returns the time one MP3 frame of cfg's catalogue
// (its first track, from cfg.Library or the demo library) takes to decode
// on this machine: what Run measures when Config.FrameDecode is zero.
// Under synctest, where the clock stands still while the CPU works, call
// it outside the bubble and set Config.FrameDecode.
func MeasureFrameDecode(cfg Config) (time.Duration, error) {
	cfg = cfg.withDefaults()
	src := cfg.Library
	if src == nil {
		src = assets.Demo()
	}
	lib, err := catalogueFS(src, 1, cfg.TrackLength)
	if err != nil {
		return 0, err
	}
	_, key, err := ed25519.GenerateKey(nil)
	if err != nil {
		return 0, err
	}
	cat, err := origin.ScanLibrary(context.Background(), lib, key, origin.ScanOptions{Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		return 0, err
	}
	if cat.Len() == 0 {
		return 0, fmt.Errorf("sim: no track to decode")
	}
	e := cat.Entries()[0]
	data, err := fs.ReadFile(lib, e.Path)
	if err != nil {
		return 0, err
	}
	return frameDecodeTime(data, e.Manifest)
}
