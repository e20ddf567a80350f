package app

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/potluckfm/potluck/track"
)

func TestSessionRoundTrip(t *testing.T) {
	path := filepath.Join(t.TempDir(), "session.json")
	if s, ok, err := LoadSession(path); ok || err != nil || s.Index != -1 || s.Volume != 1 {
		t.Fatalf("no file: %+v %v %v", s, ok, err)
	}
	st := PlayerState{Queue: []track.ID{{1}, {2}, {3}}, Index: 1, Position: 12345 * time.Millisecond,
		Volume: 0.4, Shuffle: true, Repeat: RepeatAll}
	if err := SaveSession(path, SessionOf(st)); err != nil {
		t.Fatal(err)
	}
	s, ok, err := LoadSession(path)
	if !ok || err != nil {
		t.Fatal(ok, err)
	}
	if len(s.Queue) != 3 || s.Queue[1] != (track.ID{2}) || s.Index != 1 || s.Position() != 12345*time.Millisecond ||
		s.Volume != 0.4 || !s.Shuffle || s.Repeat != RepeatAll {
		t.Errorf("reloaded %+v", s)
	}
}

func TestSessionDamagedOrOdd(t *testing.T) {
	dir := t.TempDir()
	bad := filepath.Join(dir, "bad.json")
	os.WriteFile(bad, []byte("{not json"), 0o600)
	if _, ok, err := LoadSession(bad); ok || err == nil || !strings.Contains(err.Error(), bad) {
		t.Errorf("damaged file: ok %v, err %v", ok, err)
	}
	odd := filepath.Join(dir, "odd.json")
	os.WriteFile(odd, []byte(`{"queue":["01000000000000000000000000000000"],"index":5,"volume":7,"repeat":9}`), 0o600)
	s, ok, err := LoadSession(odd)
	if !ok || err != nil || s.Index != -1 || s.Volume != 1 || s.Repeat != RepeatOff {
		t.Errorf("out-of-range values kept: %+v %v %v", s, ok, err)
	}
}
