package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestPlayPrintsStats plays a demo track (fast) into a WAV file and checks
// the JSON line's contract fields and the file.
func TestPlayPrintsStats(t *testing.T) {
	url := startOriginCmd(t)
	_, out, _ := runCmd(t, "ls", "--origin", url, "--json")
	var tracks []lsTrack
	if err := json.Unmarshal([]byte(out), &tracks); err != nil || len(tracks) == 0 {
		t.Fatalf("ls: %v", err)
	}
	tr := tracks[0]
	wav := filepath.Join(t.TempDir(), "out.wav")
	code, out, errOut := runCmd(t, "play", "--origin", url, "--track", tr.ID, "--sink", "wav:"+wav, "--seek", "20", "--speed", "40")
	if code != 0 {
		t.Fatalf("play exited %d: %s", code, errOut)
	}
	var st map[string]any
	if err := json.Unmarshal([]byte(out), &st); err != nil || strings.Count(out, "\n") != 1 {
		t.Fatalf("play printed %q: %v", out, err)
	}
	for _, field := range []string{"start_latency_ms", "underruns", "underrun_ms", "from_cache", "from_peers", "from_origin", "duration_ms"} {
		if _, ok := st[field]; !ok {
			t.Errorf("stats lack %s: %s", field, out)
		}
	}
	if st["from_origin"].(float64) <= 0 {
		t.Errorf("nothing came from the origin: %s", out)
	}
	b, err := os.ReadFile(wav)
	if err != nil || len(b) < 44 || string(b[:4]) != "RIFF" || string(b[8:12]) != "WAVE" {
		t.Fatalf("wav: %v, %d bytes", err, len(b))
	}
	// From 20 s of a 30-90 s track to its end: at least 10 s of 16-bit stereo.
	if len(b) < 10*4*32000 {
		t.Errorf("wav holds %d bytes, less than the rest of the track", len(b))
	}
	// Past the end: a clear error, exit 1.
	code, _, errOut = runCmd(t, "play", "--origin", url, "--track", tr.ID, "--seek", "600", "--speed", "40")
	if code == 0 {
		t.Errorf("play past the end exited 0: %s", errOut)
	}
}
