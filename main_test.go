package main

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"fmt"
	"image/png"
	"io"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// TestMain lets the test re-execute its own binary as the app (the test
// binary is the app plus tests): POTLUCK_MAIN=1 runs main.
func TestMain(m *testing.M) {
	if os.Getenv("POTLUCK_MAIN") == "1" {
		main()
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// artifactDir is where the real-window test leaves its screenshot; CI
// keeps it. POTLUCK_ARTIFACTS overrides it.
func artifactDir(t *testing.T) string {
	dir := os.Getenv("POTLUCK_ARTIFACTS")
	if dir == "" {
		dir = filepath.Join("out", "artifacts")
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	return dir
}

type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// startXvfb starts a virtual display and returns its DISPLAY value.
func startXvfb(t *testing.T) string {
	t.Helper()
	bin, err := exec.LookPath("Xvfb")
	if err != nil {
		t.Fatal("Xvfb is not installed; ./scripts/test installs it (Debian package xvfb)")
	}
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, "-displayfd", "3", "-screen", "0", "1024x768x24", "-nolisten", "tcp")
	cmd.ExtraFiles = []*os.File{w}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	w.Close()
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	line, err := bufio.NewReader(r).ReadString('\n')
	if err != nil {
		t.Fatalf("Xvfb did not report its display: %v", err)
	}
	display := ":" + strings.TrimSpace(line)
	// Xvfb reports its display number once it has a socket, which can be
	// before it takes clients: an app started then may fail to open the
	// display. Wait until a client gets an answer.
	deadline := time.Now().Add(10 * time.Second)
	for {
		probe := exec.Command("xdotool", "getdisplaygeometry")
		probe.Env = append(os.Environ(), "DISPLAY="+display)
		if probe.Run() == nil {
			return display
		}
		if time.Now().After(deadline) {
			t.Fatalf("Xvfb on %s does not answer clients", display)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestRealWindow starts the app under Xvfb with ALSA pointed at a file,
// plays the first track with the space key, and checks that the window
// shows the library, that real audio reached ALSA, and that SIGTERM ends
// the app cleanly. The screenshot is kept in the artifact directory.
func TestRealWindow(t *testing.T) {
	if testing.Short() {
		t.Skip("real window test skipped in -short mode")
	}
	display := startXvfb(t)
	home := t.TempDir()
	// ALSA's file plugin over the null device has no clock: oto writes as
	// fast as it can, silence included. A FIFO that the test drains keeps
	// that off the disk and paces the writer.
	captured := filepath.Join(home, "captured.raw")
	if err := syscall.Mkfifo(captured, 0o600); err != nil {
		t.Fatal(err)
	}
	var heard atomic.Int64
	go countSound(captured, &heard)
	asoundrc := fmt.Sprintf("pcm.!default {\n  type file\n  slave.pcm \"null\"\n  file %q\n  format \"raw\"\n}\n", captured)
	if err := os.WriteFile(filepath.Join(home, ".asoundrc"), []byte(asoundrc), 0o644); err != nil {
		t.Fatal(err)
	}

	cmd := exec.Command(os.Args[0], "--data", filepath.Join(home, "data"), "--log-level", "debug")
	cmd.Env = append(os.Environ(), "POTLUCK_MAIN=1", "DISPLAY="+display, "HOME="+home,
		"XDG_CONFIG_HOME="+filepath.Join(home, ".config"), "XDG_CACHE_HOME="+filepath.Join(home, ".cache"),
		"DBUS_SESSION_BUS_ADDRESS=unix:path="+filepath.Join(home, "no-bus"))
	logs := &lockedBuffer{}
	cmd.Stdout, cmd.Stderr = logs, logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	t.Cleanup(func() {
		cmd.Process.Kill()
		if t.Failed() {
			t.Logf("app log:\n%s", logs)
		}
	})

	xdotool := func(args ...string) (string, error) {
		c := exec.Command("xdotool", args...)
		c.Env = append(os.Environ(), "DISPLAY="+display)
		out, err := c.Output()
		return strings.TrimSpace(string(out)), err
	}
	waitFor := func(what string, d time.Duration, ok func() bool) {
		t.Helper()
		deadline := time.Now().Add(d)
		for !ok() {
			select {
			case err := <-exited:
				t.Fatalf("the app exited (%v) while waiting for %s", err, what)
			default:
			}
			if time.Now().After(deadline) {
				t.Fatalf("timed out waiting for %s", what)
			}
			time.Sleep(100 * time.Millisecond)
		}
	}

	var win string
	waitFor("the Potluck window", 60*time.Second, func() bool {
		out, err := xdotool("search", "--name", "Potluck")
		if err == nil && out != "" {
			win = strings.Fields(out)[0]
			return true
		}
		return false
	})
	waitFor("the library to load", 30*time.Second, func() bool { return strings.Contains(logs.String(), "library shown") })
	if !strings.Contains(logs.String(), "tracks=6") {
		t.Errorf("the library did not show the 6 demo tracks:\n%s", logs)
	}

	// Space with nothing playing plays the first track of the library.
	if _, err := xdotool("windowfocus", "--sync", win); err != nil {
		t.Logf("windowfocus: %v (no window manager; keys go to the focused window anyway)", err)
	}
	if _, err := xdotool("key", "--window", win, "space"); err != nil {
		t.Fatal(err)
	}
	waitFor("audio in ALSA's file", 30*time.Second, func() bool { return heard.Load() > 44100 })

	shot := filepath.Join(artifactDir(t), "potluck-window.png")
	imp := exec.Command("import", "-window", "root", shot)
	imp.Env = append(os.Environ(), "DISPLAY="+display)
	if out, err := imp.CombinedOutput(); err != nil {
		t.Fatalf("screenshot: %v\n%s", err, out)
	}
	if n := distinctColours(t, shot); n < 16 {
		t.Errorf("the screenshot has %d colours: the window looks empty", n)
	}
	t.Logf("screenshot: %s; %d frames of sound reached ALSA", shot, heard.Load())

	cmd.Process.Signal(syscall.SIGTERM)
	select {
	case err := <-exited:
		if err != nil {
			t.Errorf("the app exited with %v after SIGTERM", err)
		}
	case <-time.After(15 * time.Second):
		t.Error("the app did not stop on SIGTERM")
	}
}

// countSound reads float32 stereo frames from the FIFO at path until its
// writer closes it, adding the frames with sound to n.
func countSound(path string, n *atomic.Int64) {
	f, err := os.Open(path) // blocks until ALSA opens it
	if err != nil {
		return
	}
	defer f.Close()
	buf := make([]byte, 1<<16)
	for {
		k, err := io.ReadFull(f, buf)
		for i := 0; i+8 <= k; i += 8 {
			l := math.Float32frombits(binary.LittleEndian.Uint32(buf[i:]))
			r := math.Float32frombits(binary.LittleEndian.Uint32(buf[i+4:]))
			if l != 0 || r != 0 {
				n.Add(1)
			}
		}
		if err != nil {
			return
		}
	}
}

func distinctColours(t *testing.T, path string) int {
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	img, err := png.Decode(f)
	if err != nil {
		t.Fatal(err)
	}
	seen := map[[4]uint32]bool{}
	b := img.Bounds()
	for y := b.Min.Y; y < b.Max.Y; y += 5 {
		for x := b.Min.X; x < b.Max.X; x += 5 {
			r, g, bl, a := img.At(x, y).RGBA()
			seen[[4]uint32{r, g, bl, a}] = true
		}
	}
	return len(seen)
}
