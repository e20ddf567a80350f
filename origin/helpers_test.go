package origin

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/potluckfm/potluck/assets"
)

// demoLibrary copies the embedded demo library into a fresh directory, so a
// test can add, break or remove files. It returns the directory.
func demoLibrary(t testing.TB) string {
	t.Helper()
	dir := t.TempDir()
	if err := os.CopyFS(dir, assets.Demo()); err != nil {
		t.Fatal(err)
	}
	return dir
}

// demoFiles returns the demo library's MP3 files by name.
func demoFiles(t testing.TB) map[string][]byte {
	t.Helper()
	out := map[string][]byte{}
	err := fs.WalkDir(assets.Demo(), ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := fs.ReadFile(assets.Demo(), p)
		out[p] = b
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(out) < 6 {
		t.Fatalf("demo library has %d files, want at least 6", len(out))
	}
	return out
}

func testKey(t testing.TB) ed25519.PrivateKey {
	t.Helper()
	_, key, err := ed25519.GenerateKey(nil)
	if err != nil {
		t.Fatal(err)
	}
	return key
}

// logBuffer is a goroutine-safe log sink for checking what was logged.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Write(p)
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.String()
}

func testLogger(t testing.TB) (*slog.Logger, *logBuffer) {
	lb := &logBuffer{}
	return slog.New(slog.NewTextHandler(lb, &slog.HandlerOptions{Level: slog.LevelInfo})), lb
}

// startOrigin starts an origin on 127.0.0.1, port 0, over libDir (the demo
// library if empty) and stops it when the test ends.
func startOrigin(t testing.TB, libDir string, edit func(*Config)) *Server {
	t.Helper()
	var lib fs.FS = assets.Demo()
	if libDir != "" {
		lib = os.DirFS(libDir)
	}
	log, _ := testLogger(t)
	// Most tests announce made-up ports, where no node answers a
	// connect-back; the connect-back tests turn it on again.
	cfg := Config{Library: lib, Key: testKey(t), Listen: "127.0.0.1:0", Logger: log, NoConnectBack: true}
	if edit != nil {
		edit(&cfg)
	}
	s, err := Start(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		s.Shutdown(ctx)
	})
	return s
}

func newTestClient(t testing.TB, u URL, tr Transport) *Client {
	t.Helper()
	c := NewClient(u, ClientOptions{Transport: tr})
	t.Cleanup(func() { c.Close() })
	return c
}

func writeFile(t testing.TB, dir, name string, data []byte) {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, data, 0o644); err != nil {
		t.Fatal(err)
	}
}
