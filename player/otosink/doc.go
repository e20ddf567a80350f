// Package otosink plays a Player's audio on the system's audio device
// with oto (ALSA on Linux). It is the only cgo code of the player, kept
// apart so that what does not play sound (cmd/potluckd) builds without
// cgo. Built without cgo, New fails with player.ErrNoAudioDevice.
package otosink

import "time"

// Options configure New.
type Options struct {
	// SampleRate is the rate the device is opened at (default 44100).
	// oto opens the device once per process: later sinks play at the
	// rate of the first, and the Player converts other rates to it.
	SampleRate int
	// Buffer is the audio the sink holds before Write blocks (default
	// 100ms); oto and the device hold about 90ms more.
	Buffer time.Duration
	// OpenTimeout bounds the wait for the device (default 5s).
	OpenTimeout time.Duration
}
