package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/potluckfm/potluck/assets"
)

// syncBuffer lets a test read what a running command wrote.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// startOriginCmd runs `potluckd origin` in-process and returns its URL
// once it printed the origin-url line. The origin stops with the test.
func startOriginCmd(t *testing.T, args ...string) string {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	out := &syncBuffer{}
	done := make(chan int, 1)
	go func() {
		done <- run(ctx, append([]string{"origin", "--listen", "127.0.0.1:0", "--data", t.TempDir(), "--log-level", "warn"}, args...), out, io.Discard)
	}()
	t.Cleanup(func() {
		cancel()
		if code := <-done; code != 0 {
			t.Errorf("origin exited %d", code)
		}
	})
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		sc := bufio.NewScanner(strings.NewReader(out.String()))
		var lines []string
		for sc.Scan() {
			lines = append(lines, sc.Text())
		}
		if len(lines) > 0 {
			if len(lines) != 1 || !strings.HasPrefix(lines[0], "origin-url: https://") {
				t.Fatalf("origin stdout %q: want exactly one origin-url line", out.String())
			}
			return strings.TrimPrefix(lines[0], "origin-url: ")
		}
		select {
		case code := <-done:
			t.Fatalf("origin exited %d before serving", code)
		case <-time.After(20 * time.Millisecond):
		}
	}
	t.Fatal("origin printed no origin-url line")
	return ""
}

func runCmd(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	var stdout, stderr bytes.Buffer
	code := run(context.Background(), args, &stdout, &stderr)
	return code, stdout.String(), stderr.String()
}

type lsTrack struct {
	ID         string `json:"id"`
	Title      string `json:"title"`
	Artist     string `json:"artist"`
	Album      string `json:"album"`
	DurationMS int64  `json:"duration_ms"`
}

func TestOriginLsFetch(t *testing.T) {
	url := startOriginCmd(t)

	code, out, errOut := runCmd(t, "ls", "--origin", url, "--json")
	if code != 0 {
		t.Fatalf("ls --json exited %d: %s", code, errOut)
	}
	var tracks []lsTrack
	if err := json.Unmarshal([]byte(out), &tracks); err != nil {
		t.Fatalf("ls --json: %v\n%s", err, out)
	}
	if len(tracks) < 6 {
		t.Fatalf("ls lists %d tracks", len(tracks))
	}
	for _, tr := range tracks {
		if len(tr.ID) != 32 || tr.Title == "" || tr.Artist == "" || tr.Album == "" || tr.DurationMS < 30000 {
			t.Errorf("ls --json entry lacks fields: %+v", tr)
		}
	}

	code, out, _ = runCmd(t, "ls", "--origin", url)
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if code != 0 || len(lines) != len(tracks) {
		t.Fatalf("ls: exit %d, %d lines for %d tracks", code, len(lines), len(tracks))
	}
	for i, line := range lines {
		f := strings.Fields(line)
		if f[0] != tracks[i].ID || !strings.Contains(line, tracks[i].Title) || !strings.Contains(line, tracks[i].Artist) ||
			!strings.Contains(f[len(f)-1], ":") {
			t.Errorf("ls line %q: want ID, artist, title, duration", line)
		}
	}

	demo := map[string][]byte{}
	fs.WalkDir(assets.Demo(), ".", func(p string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			demo[p], _ = fs.ReadFile(assets.Demo(), p)
		}
		return err
	})
	dir := t.TempDir()
	for _, tr := range tracks {
		dst := filepath.Join(dir, tr.ID+".mp3")
		code, out, errOut := runCmd(t, "fetch", "--origin", url, "--track", tr.ID, "--out", dst)
		if code != 0 {
			t.Fatalf("fetch %s exited %d: %s", tr.Title, code, errOut)
		}
		var st fetchStats
		if err := json.Unmarshal([]byte(out), &st); err != nil || strings.Count(out, "\n") != 1 {
			t.Fatalf("fetch stats %q: %v", out, err)
		}
		got, err := os.ReadFile(dst)
		if err != nil {
			t.Fatal(err)
		}
		if st.Bytes != int64(len(got)) || st.FromOrigin != st.Bytes || st.FromPeers != 0 || st.FromCache != 0 || st.FirstByteMS > st.ElapsedMS {
			t.Errorf("fetch stats %+v for a %d byte file", st, len(got))
		}
		found := false
		for _, b := range demo {
			found = found || bytes.Equal(b, got)
		}
		if !found {
			t.Errorf("fetched %s differs from every demo file", tr.Title)
		}
	}
	if entries, _ := os.ReadDir(dir); len(entries) != len(tracks) {
		t.Errorf("fetch left %d files for %d tracks (temporary files?)", len(entries), len(tracks))
	}
}

func TestFetchWithAWrongPinWritesNothing(t *testing.T) {
	url := startOriginCmd(t)
	_, out, _ := runCmd(t, "ls", "--origin", url, "--json")
	var tracks []lsTrack
	json.Unmarshal([]byte(out), &tracks)
	other := startOriginCmd(t) // another origin, another key
	i := strings.Index(url, "#key=")
	j := strings.Index(other, "#key=")
	forged := url[:i] + other[j:]
	dir := t.TempDir()
	code, _, errOut := runCmd(t, "fetch", "--origin", forged, "--track", tracks[0].ID, "--out", filepath.Join(dir, "x.mp3"))
	if code == 0 || !strings.Contains(errOut, "key") {
		t.Fatalf("fetch from an origin with another key: exit %d, %q", code, errOut)
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 0 {
		t.Fatalf("fetch left %d files behind", len(entries))
	}
}

func TestUsageErrors(t *testing.T) {
	missing := filepath.Join(t.TempDir(), "no-such-dir")
	for _, tc := range []struct {
		args []string
		code int
		msg  string
	}{
		{[]string{"origin", "--library", missing, "--data", t.TempDir(), "--listen", "127.0.0.1:0"}, 1, "no-such-dir"},
		{[]string{"ls"}, 2, "--origin URL is required"},
		{[]string{"ls", "--origin", "https://x:1/"}, 2, "#key="},
		{[]string{"fetch", "--origin", "https://127.0.0.1:1/#key=" + strings.Repeat("A", 43), "--track", "xyz", "--out", "f"}, 2, "track"},
		{[]string{"peer", "--origin", "https://127.0.0.1:1/#key=" + strings.Repeat("A", 43), "--log-level", "loud"}, 2, `--log-level "loud": want debug, info, warn or error`},
		{[]string{"sim", "--log-format", "xml"}, 2, `--log-format "xml"`},
		{[]string{"nope"}, 2, "unknown command"},
		{nil, 2, "usage"},
	} {
		code, _, errOut := runCmd(t, tc.args...)
		if code != tc.code || !strings.Contains(errOut, tc.msg) {
			t.Errorf("potluckd %v: exit %d %q, want %d and %q", tc.args, code, errOut, tc.code, tc.msg)
		}
	}
}
