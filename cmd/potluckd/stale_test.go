package main

import (
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"
)

func TestFetchRemovesWhatAKilledFetchLeft(t *testing.T) {
	cmd := exec.Command("true")
	if err := cmd.Run(); err != nil {
		t.Skip("no true(1):", err)
	}
	dead, self := strconv.Itoa(cmd.Process.Pid), strconv.Itoa(os.Getpid())
	dir := t.TempDir()
	out := filepath.Join(dir, "song.mp3")
	mk := func(p string) string {
		if err := os.WriteFile(p, []byte("x"), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	gone := []string{
		mk(filepath.Join(dir, ".song.mp3.part-"+dead+"-123")),
		mk(filepath.Join(dir, ".song.mp3.part456")), // older naming
	}
	kept := []string{
		mk(filepath.Join(dir, ".song.mp3.part-"+self+"-1")), // a fetch still running
		mk(filepath.Join(dir, ".song.mp3.partner")),
		mk(filepath.Join(dir, ".other.mp3.part-"+dead+"-1")),
	}
	removeStale(slog.New(slog.NewTextHandler(io.Discard, nil)), out)
	for _, p := range gone {
		if _, err := os.Stat(p); err == nil {
			t.Errorf("%s left behind", p)
		}
	}
	for _, p := range kept {
		if _, err := os.Stat(p); err != nil {
			t.Errorf("%s removed: %v", p, err)
		}
	}
}
