package main

import (
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"

	"github.com/potluckfm/potluck/internal/nodeconf"
)

func TestFetchRemovesWhatAKilledFetchLeft(t *testing.T) {
	cmd := exec.Command("true")
	if err := cmd.Run(); err != nil {
		t.Skip("no true(1):", err)
	}
	dead, self := strconv.Itoa(cmd.Process.Pid), strconv.Itoa(os.Getpid())
	tmp := t.TempDir()
	t.Setenv("TMPDIR", tmp)
	dir := t.TempDir()
	out := filepath.Join(dir, "song.mp3")
	mk := func(p string, isDir bool) string {
		var err error
		if isDir {
			err = os.MkdirAll(filepath.Join(p, "cache"), 0o755)
		} else {
			err = os.WriteFile(p, []byte("x"), 0o644)
		}
		if err != nil {
			t.Fatal(err)
		}
		return p
	}
	gone := []string{
		mk(filepath.Join(dir, ".song.mp3.part-"+dead+"-123"), false),
		mk(filepath.Join(dir, ".song.mp3.part456"), false), // older naming
		mk(filepath.Join(tmp, nodeconf.TempPrefix+dead+"-789"), true),
	}
	kept := []string{
		mk(filepath.Join(dir, ".song.mp3.part-"+self+"-1"), false), // a fetch still running
		mk(filepath.Join(dir, ".song.mp3.partner"), false),
		mk(filepath.Join(dir, ".other.mp3.part-"+dead+"-1"), false),
		mk(filepath.Join(tmp, nodeconf.TempPrefix+self+"-1"), true),
		mk(filepath.Join(tmp, nodeconf.TempPrefix+"123456"), true), // older naming: owner unknown
	}
	removeStale(slog.New(slog.NewTextHandler(io.Discard, nil)), out, true)
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
