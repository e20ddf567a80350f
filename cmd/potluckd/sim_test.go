package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestSimOriginDown runs a tiny real-time sim whose origin goes down
// part-way and checks that the report says how plays fared after it.
func TestSimOriginDown(t *testing.T) {
	if testing.Short() {
		t.Skip("a real-time run")
	}
	out := filepath.Join(t.TempDir(), "sim.json")
	code, stdout, errOut := runCmd(t, "sim", "--lite", "--peers", "3", "--tracks", "4", "--track-length", "0",
		"--history", "2", "--duration", "8s", "--origin-down-at", "4s", "--away", "0", "--json", out)
	if code != 0 {
		t.Fatalf("sim exited %d: %s", code, errOut)
	}
	if !strings.Contains(stdout, "plays after the origin went down") {
		t.Errorf("the table has no origin-down rows:\n%s", stdout)
	}
	b, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	var rep map[string]any
	if err := json.Unmarshal(b, &rep); err != nil {
		t.Fatal(err)
	}
	if rep["origin_down_at_s"] != 4.0 {
		t.Errorf("origin_down_at_s = %v, want 4", rep["origin_down_at_s"])
	}
	for _, f := range []string{"plays_after_origin_down", "plays_ok_after_origin_down", "origin_down_play_share", "origin_down_held_share"} {
		if _, ok := rep[f]; !ok {
			t.Errorf("the JSON has no %s", f)
		}
	}
}

func TestSimOriginDownUsage(t *testing.T) {
	code, _, errOut := runCmd(t, "sim", "--origin-down-at", "-1s")
	if code != 2 || !strings.Contains(errOut, "--origin-down-at") {
		t.Errorf("sim --origin-down-at -1s: exit %d %q", code, errOut)
	}
}
