package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestOriginPublicURL: a replica started with the copied key and
// --public-url prints that URL, which ls follows past a dead address; one
// started with another key refuses to start.
func TestOriginPublicURL(t *testing.T) {
	first := t.TempDir()
	url := startOriginCmd(t, "--data", first)
	addr := strings.TrimPrefix(url[:strings.Index(url, "/#")], "https://")
	key := url[strings.Index(url, "#"):]

	second := t.TempDir()
	b, err := os.ReadFile(filepath.Join(first, "origin.key"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(second, "origin.key"), b, 0o600); err != nil {
		t.Fatal(err)
	}
	// The first address of the set answers nothing.
	public := "https://127.0.0.1:1," + addr + "/" + key
	if got := startOriginCmd(t, "--data", second, "--public-url", public); got != public {
		t.Fatalf("replica printed %s, want %s", got, public)
	}
	if code, out, errOut := runCmd(t, "ls", "--origin", public); code != 0 || strings.Count(out, "\n") < 6 {
		t.Fatalf("ls through the replicas' URL: exit %d, %q %s", code, out, errOut)
	}

	code, _, errOut := runCmd(t, "origin", "--listen", "127.0.0.1:0", "--data", t.TempDir(), "--public-url", public)
	if code != 1 || !strings.Contains(errOut, "copy the key file") {
		t.Errorf("replica with another key: exit %d, %q; want 1 and a hint", code, errOut)
	}
}
