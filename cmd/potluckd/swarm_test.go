package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestMain lets a test run potluckd as a separate process: the test binary
// re-executes itself with POTLUCKD_MAIN=1 and becomes potluckd.
func TestMain(m *testing.M) {
	if os.Getenv("POTLUCKD_MAIN") == "1" {
		main()
		return
	}
	os.Exit(m.Run())
}

// proc is potluckd running as a child process.
type proc struct {
	cmd    *exec.Cmd
	lines  chan string
	stderr *syncBuffer
}

func startProc(t *testing.T, args ...string) *proc {
	t.Helper()
	cmd := exec.Command(os.Args[0], args...)
	cmd.Env = append(os.Environ(), "POTLUCKD_MAIN=1")
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	p := &proc{cmd: cmd, lines: make(chan string, 16), stderr: &syncBuffer{}}
	cmd.Stderr = p.stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			p.lines <- sc.Text()
		}
		close(p.lines)
	}()
	t.Cleanup(func() {
		cmd.Process.Kill()
		cmd.Wait()
	})
	return p
}

// line waits for the process's next stdout line, which must start with prefix.
func (p *proc) line(t *testing.T, prefix string) string {
	t.Helper()
	select {
	case l, ok := <-p.lines:
		if !ok || !strings.HasPrefix(l, prefix) {
			t.Fatalf("%s: got %q (open %v), want %s...; stderr:\n%s", p.cmd.Args[1], l, ok, prefix, p.stderr)
		}
		return strings.TrimPrefix(l, prefix)
	case <-time.After(60 * time.Second):
		t.Fatalf("%s printed no %q line; stderr:\n%s", p.cmd.Args[1], prefix, p.stderr)
	}
	return ""
}

// runProc runs potluckd to the end and returns its stdout.
func runProc(t *testing.T, args ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, os.Args[0], args...)
	cmd.Env = append(os.Environ(), "POTLUCKD_MAIN=1")
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("potluckd %v: %v\n%s", args, err, stderr.String())
	}
	return stdout.String()
}

// TestPeerServesWhatItFetched runs each role as its own process: an origin;
// A fetches a track, then serves it as `potluckd peer` on the same data
// directory; B fetches it and gets it mostly from A.
func TestPeerServesWhatItFetched(t *testing.T) {
	tmp := t.TempDir()
	origin := startProc(t, "origin", "--listen", "127.0.0.1:0", "--data", filepath.Join(tmp, "origin"), "--log-level", "warn")
	url := origin.line(t, "origin-url: ")

	var tracks []lsTrack
	if err := json.Unmarshal([]byte(runProc(t, "ls", "--origin", url, "--json")), &tracks); err != nil {
		t.Fatal(err)
	}
	big := tracks[0]
	for _, tr := range tracks {
		if tr.DurationMS > big.DurationMS {
			big = tr
		}
	}

	dirA := filepath.Join(tmp, "a")
	var st fetchStats
	json.Unmarshal([]byte(runProc(t, "fetch", "--origin", url, "--track", big.ID, "--out", filepath.Join(tmp, "a.mp3"), "--data", dirA)), &st)
	if st.FromOrigin != st.Bytes || st.Bytes == 0 {
		t.Fatalf("A's fetch: %+v, want all from the origin", st)
	}
	// Again from the same data directory: all from the cache.
	json.Unmarshal([]byte(runProc(t, "fetch", "--origin", url, "--track", big.ID, "--out", filepath.Join(tmp, "a2.mp3"), "--data", dirA)), &st)
	if st.FromCache != st.Bytes {
		t.Fatalf("A's second fetch: %+v, want all from the cache", st)
	}

	peer := startProc(t, "peer", "--origin", url, "--data", dirA, "--listen", "127.0.0.1:0", "--log-level", "warn")
	ready := strings.Fields(peer.line(t, "peer-ready: "))
	if len(ready) != 2 || len(ready[0]) != 32 || !strings.Contains(ready[1], ":") {
		t.Fatalf("peer-ready line %q: want ID and ADDR", ready)
	}

	out := runProc(t, "fetch", "--origin", url, "--track", big.ID, "--out", filepath.Join(tmp, "b.mp3"), "--data", filepath.Join(tmp, "b"))
	if err := json.Unmarshal([]byte(out), &st); err != nil {
		t.Fatal(err)
	}
	t.Logf("B: %s", strings.TrimSpace(out))
	a, _ := os.ReadFile(filepath.Join(tmp, "a.mp3"))
	b, _ := os.ReadFile(filepath.Join(tmp, "b.mp3"))
	if !bytes.Equal(a, b) || len(b) == 0 {
		t.Fatal("B's file differs from A's")
	}
	if st.FromPeers < st.Bytes*8/10 || st.Peers != 1 {
		t.Errorf("B got %d of %d bytes from %d peers, want at least 80%% from A", st.FromPeers, st.Bytes, st.Peers)
	}
	if st.FromOrigin > 5*16384 {
		t.Errorf("B got %d bytes from the origin, more than the head", st.FromOrigin)
	}

	// SIGTERM ends the peer and the origin cleanly.
	for _, p := range []*proc{peer, origin} {
		p.cmd.Process.Signal(syscall.SIGTERM)
		done := make(chan error, 1)
		go func() { done <- p.cmd.Wait() }()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("%s exited with %v after SIGTERM; stderr:\n%s", p.cmd.Args[1], err, p.stderr)
			}
		case <-time.After(10 * time.Second):
			t.Errorf("%s did not stop on SIGTERM", p.cmd.Args[1])
		}
	}
}
