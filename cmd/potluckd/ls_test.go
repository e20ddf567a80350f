package main

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/potluckfm/potluck/internal/testorigin"
)

// TestLsWithTheOriginDown: `ls --data DIR` keeps the origin's signed
// catalogue in DIR, and with the origin down lists that copy, saying so on
// stderr; with nothing kept it fails in a sentence.
func TestLsWithTheOriginDown(t *testing.T) {
	notes := &syncBuffer{}
	lsNotes = notes
	t.Cleanup(func() { lsNotes = os.Stderr })
	srv := testorigin.Start(t)
	url := srv.URL().String()
	dir := t.TempDir()

	code, out, errOut := runCmd(t, "ls", "--origin", url, "--data", dir, "--json")
	if code != 0 {
		t.Fatalf("ls --data with the origin up exited %d: %s", code, errOut)
	}
	var online []lsTrack
	if err := json.Unmarshal([]byte(out), &online); err != nil || len(online) < 6 {
		t.Fatalf("ls --data --json: %d tracks, %v\n%s", len(online), err, out)
	}
	if notes.String() != "" {
		t.Errorf("ls with the origin up noted %q", notes.String())
	}
	if _, err := os.Stat(filepath.Join(dir, "catalogue.json")); err != nil {
		t.Fatalf("the catalogue was not kept: %v", err)
	}

	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	srv.Shutdown(ctx)
	cancel()

	start := time.Now()
	code, out, errOut = runCmd(t, "ls", "--origin", url, "--data", dir, "--json")
	if code != 0 {
		t.Fatalf("ls --data with the origin down exited %d: %s", code, errOut)
	}
	if took := time.Since(start); took > 10*time.Second {
		t.Errorf("ls with the origin down took %v", took)
	}
	var offline []lsTrack
	if err := json.Unmarshal([]byte(out), &offline); err != nil || len(offline) != len(online) {
		t.Fatalf("ls --data with the origin down: %d tracks of %d, %v", len(offline), len(online), err)
	}
	for i := range online {
		if offline[i] != online[i] {
			t.Errorf("track %d: %+v offline, %+v online", i, offline[i], online[i])
		}
	}
	if !strings.Contains(notes.String(), "unreachable") || !strings.Contains(notes.String(), dir) {
		t.Errorf("stderr note %q: want it to say the origin is unreachable and where the list comes from", notes.String())
	}

	code, out, _ = runCmd(t, "ls", "--origin", url, "--data", dir, "--search", strings.ToLower(online[0].Title))
	if lines := strings.Split(strings.TrimSpace(out), "\n"); code != 0 || len(lines) == 0 || !strings.HasPrefix(lines[0], online[0].ID) {
		t.Errorf("ls --search with the origin down: exit %d, %q", code, out)
	}

	code, _, errOut = runCmd(t, "ls", "--origin", url, "--data", t.TempDir())
	if code != 1 || !strings.Contains(errOut, "no catalogue") {
		t.Errorf("ls on an empty data directory with the origin down: exit %d, %q", code, errOut)
	}
}
