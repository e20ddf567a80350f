package player

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"sync"
)

// WAVSink writes what it plays to a WAV file (PCM, 16-bit stereo) as fast
// as it is given: wrap it in Paced to play in real time. The file's rate
// is that of the first track; later tracks at other rates are converted.
// Close writes the sizes into the header.
type WAVSink struct {
	mu      sync.Mutex
	w       io.WriteSeeker
	rate    int
	data    int64 // PCM bytes written
	err     error
	closed  bool
	started bool
}

// NewWAVSink returns a sink writing a WAV file to w, which must be at its
// start. Close patches the header and then closes w if it is an io.Closer.
func NewWAVSink(w io.WriteSeeker) *WAVSink { return &WAVSink{w: w} }

const wavHeaderLen = 44

// Start writes the header on the first call; the file keeps that rate.
func (s *WAVSink) Start(rate int) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.started {
		return s.rate, s.err
	}
	if rate <= 0 {
		return 0, fmt.Errorf("player: WAV sample rate %d", rate)
	}
	s.started, s.rate = true, rate
	_, s.err = s.w.Write(wavHeader(rate, 0))
	return rate, s.err
}

// wavHeader is the 44-byte header of a 16-bit stereo PCM WAV file with
// data bytes of samples.
func wavHeader(rate int, data int64) []byte {
	data = min(data, 0xFFFFFFFF-36)
	h := make([]byte, 0, wavHeaderLen)
	h = append(h, "RIFF"...)
	h = binary.LittleEndian.AppendUint32(h, uint32(36+data))
	h = append(h, "WAVEfmt "...)
	h = binary.LittleEndian.AppendUint32(h, 16)
	h = binary.LittleEndian.AppendUint16(h, 1) // PCM
	h = binary.LittleEndian.AppendUint16(h, 2) // channels
	h = binary.LittleEndian.AppendUint32(h, uint32(rate))
	h = binary.LittleEndian.AppendUint32(h, uint32(rate*BytesPerFrame))
	h = binary.LittleEndian.AppendUint16(h, BytesPerFrame)
	h = binary.LittleEndian.AppendUint16(h, 16)
	h = append(h, "data"...)
	return binary.LittleEndian.AppendUint32(h, uint32(data))
}

// Write appends PCM to the file.
func (s *WAVSink) Write(pcm []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	switch {
	case s.closed:
		return 0, errSinkClosed
	case !s.started:
		return 0, errors.New("player: Write before Start")
	case s.err != nil:
		return 0, s.err
	}
	n, err := s.w.Write(pcm)
	s.data += int64(n)
	s.err = err
	return n, err
}

// Flush does nothing: a file keeps what was written.
func (s *WAVSink) Flush() error { return nil }

// Close writes the final sizes into the header.
func (s *WAVSink) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil
	}
	s.closed = true
	err := s.err
	if err == nil && !s.started {
		// Nothing played: still leave a valid (empty) file.
		s.rate = 44100
	}
	if err == nil {
		if _, err = s.w.Seek(0, io.SeekStart); err == nil {
			_, err = s.w.Write(wavHeader(s.rate, s.data))
		}
		if err == nil {
			_, err = s.w.Seek(0, io.SeekEnd)
		}
	}
	if c, ok := s.w.(io.Closer); ok {
		err = errors.Join(err, c.Close())
	}
	return err
}
