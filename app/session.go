package app

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"time"

	"github.com/potluckfm/potluck/internal/atomicfile"
	"github.com/potluckfm/potluck/track"
)

// Session is what the player was doing when the app last stopped; it comes
// back, paused, at the next start.
type Session struct {
	// Queue is the queue in list order and Index the current track in it
	// (-1: none).
	Queue []track.ID `json:"queue"`
	Index int        `json:"index"`
	// PositionMS is how far into the current track playback was.
	PositionMS int64   `json:"position_ms"`
	Volume     float64 `json:"volume"`
	Shuffle    bool    `json:"shuffle"`
	Repeat     Repeat  `json:"repeat"`
}

// SessionOf is the session a player state describes.
func SessionOf(st PlayerState) Session {
	return Session{Queue: st.Queue, Index: st.Index, PositionMS: st.Position.Milliseconds(),
		Volume: st.Volume, Shuffle: st.Shuffle, Repeat: st.Repeat}
}

// Position is PositionMS as a duration.
func (s Session) Position() time.Duration { return time.Duration(s.PositionMS) * time.Millisecond }

// LoadSession reads the session file at path. A missing file is an empty
// session (ok false); a damaged one is an error that names the file.
func LoadSession(path string) (s Session, ok bool, err error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return Session{Index: -1, Volume: 1}, false, nil
	}
	if err != nil {
		return Session{Index: -1, Volume: 1}, false, err
	}
	s = Session{Index: -1, Volume: 1}
	if err := json.Unmarshal(b, &s); err != nil {
		return Session{Index: -1, Volume: 1}, false, fmt.Errorf("session %s: %w", path, err)
	}
	if s.Index >= len(s.Queue) {
		s.Index = -1
	}
	s.Volume = min(max(s.Volume, 0), 1)
	if s.Repeat < RepeatOff || s.Repeat > RepeatOne {
		s.Repeat = RepeatOff
	}
	return s, true, nil
}

// SaveSession writes s to path atomically.
func SaveSession(path string, s Session) error {
	b, err := json.Marshal(s)
	if err != nil {
		return err
	}
	return atomicfile.Write(path, b)
}
