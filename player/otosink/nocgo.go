//go:build !cgo

package otosink

import (
	"errors"
	"fmt"
	"time"

	"github.com/potluckfm/potluck/player"
)

// Sink is the audio device sink; built without cgo there is none.
type Sink struct{}

var errNoCgo = fmt.Errorf("%w: built without cgo, so without oto and ALSA", player.ErrNoAudioDevice)

// New fails: this build has no audio device support.
func New(Options) (*Sink, error) { return nil, errNoCgo }

func (*Sink) Start(int) (int, error)    { return 0, errNoCgo }
func (*Sink) Write([]byte) (int, error) { return 0, errNoCgo }
func (*Sink) Latency() time.Duration    { return 0 }
func (*Sink) Flush() error              { return nil }
func (*Sink) Idle() error               { return nil }
func (*Sink) Wake() error               { return errNoCgo }
func (*Sink) Close() error              { return errors.New("otosink: no sink") }
