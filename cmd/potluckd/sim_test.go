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

// TestSimNATCompare runs a tiny real-time NAT comparison and checks that
// the table and the JSON hold its three runs and their pair figures.
func TestSimNATCompare(t *testing.T) {
	if testing.Short() {
		t.Skip("three real-time runs")
	}
	out := filepath.Join(t.TempDir(), "nat.json")
	code, stdout, errOut := runCmd(t, "sim", "--lite", "--peers", "4", "--tracks", "4", "--track-length", "0",
		"--history", "2", "--duration", "8s", "--away", "0", "--nat", "0.5", "--nat-compare", "--json", out)
	if code != 0 {
		t.Fatalf("sim exited %d: %s", code, errOut)
	}
	for _, want := range []string{"NAT, traversal", "NAT, no traversal", "no NAT", "… by punching", "50% of listeners behind NATs"} {
		if !strings.Contains(stdout, want) {
			t.Errorf("the table has no %q:\n%s", want, stdout)
		}
	}
	b, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	var cmp map[string]struct {
		NAT *struct {
			Share     float64        `json:"share"`
			Traversal bool           `json:"traversal"`
			Pairs     map[string]int `json:"pairs"`
		} `json:"nat"`
	}
	if err := json.Unmarshal(b, &cmp); err != nil {
		t.Fatal(err)
	}
	for name, want := range map[string]struct {
		share     float64
		traversal bool
	}{"nat_traversal": {0.5, true}, "nat_no_traversal": {0.5, false}, "no_nat": {0, true}} {
		got := cmp[name].NAT
		if got == nil {
			t.Errorf("the JSON has no %s.nat", name)
			continue
		}
		if got.Share != want.share || got.Traversal != want.traversal {
			t.Errorf("%s.nat: share %g, traversal %v; want %g, %v", name, got.Share, got.Traversal, want.share, want.traversal)
		}
		if _, ok := got.Pairs["unconnected"]; !ok {
			t.Errorf("%s.nat.pairs has no unconnected count: %v", name, got.Pairs)
		}
	}
}

func TestSimNATUsage(t *testing.T) {
	for _, args := range [][]string{{"--nat", "1.5"}, {"--nat-symmetric", "-0.1"}, {"--nat-compare", "--scale", "2,4"}} {
		code, _, errOut := runCmd(t, append([]string{"sim"}, args...)...)
		if code != 2 || !strings.Contains(errOut, "--nat") {
			t.Errorf("sim %v: exit %d %q", args, code, errOut)
		}
	}
}
