package main

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"image/png"
	"io"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/godbus/dbus/v5"

	"github.com/potluckfm/potluck/internal/testbus"
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
	// SIGTERM, not SIGKILL: Xvfb then removes its lock file and socket, and
	// the next test's server does not trip over them.
	t.Cleanup(func() { cmd.Process.Signal(syscall.SIGTERM); cmd.Wait() })
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

// realApp is the app started by a real-window test: its own process (the
// test binary re-executed as main) on a virtual display, with ALSA pointed
// at a FIFO the test drains, and a session bus of its own.
type realApp struct {
	t       *testing.T
	display string
	bus     string
	home    string
	data    string
	cmd     *exec.Cmd
	logs    *lockedBuffer
	exited  chan error
	heard   *atomic.Int64
	win     string
	args    []string // the app's flags besides --data and --log-level
}

// startRealApp starts Xvfb, a session bus and the app with --data in a
// temporary home and args, and waits for the window and the library.
func startRealApp(t *testing.T, args ...string) *realApp {
	t.Helper()
	if testing.Short() {
		t.Skip("real window test skipped in -short mode")
	}
	ra := &realApp{t: t, display: startXvfb(t), bus: testbus.Start(t), home: t.TempDir(), heard: &atomic.Int64{}, args: args}
	ra.data = filepath.Join(ra.home, "data")
	// ALSA's file plugin over the null device has no clock: oto writes as
	// fast as it can. A FIFO that the test drains keeps that off the disk
	// and paces the writer.
	captured := filepath.Join(ra.home, "captured.raw")
	if err := syscall.Mkfifo(captured, 0o600); err != nil {
		t.Fatal(err)
	}
	go countSound(t, captured, ra.heard)
	asoundrc := fmt.Sprintf("pcm.!default {\n  type file\n  slave.pcm \"null\"\n  file %q\n  format \"raw\"\n}\n", captured)
	if err := os.WriteFile(filepath.Join(ra.home, ".asoundrc"), []byte(asoundrc), 0o644); err != nil {
		t.Fatal(err)
	}
	ra.launch()
	return ra
}

// launch starts the app and waits for its window and library.
func (ra *realApp) launch() {
	t := ra.t
	t.Helper()
	ra.cmd, ra.logs = ra.command(), &lockedBuffer{}
	ra.cmd.Stdout, ra.cmd.Stderr = ra.logs, ra.logs
	if err := ra.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	cmd, logs := ra.cmd, ra.logs
	ra.exited = make(chan error, 1)
	exited := ra.exited
	go func() { exited <- cmd.Wait() }()
	t.Cleanup(func() {
		cmd.Process.Kill()
		if t.Failed() {
			t.Logf("app log:\n%s", logs)
		}
	})
	ra.waitFor("the Potluck window", 60*time.Second, func() bool {
		out, err := ra.xdotool("search", "--name", "Potluck")
		if err == nil && out != "" {
			ra.win = strings.Fields(out)[0]
			return true
		}
		return false
	})
	ra.waitFor("the library to load", 30*time.Second, func() bool { return strings.Contains(ra.logs.String(), "library shown") })
	if !strings.Contains(ra.logs.String(), "tracks=6") {
		t.Errorf("the library did not show the 6 demo tracks:\n%s", ra.logs)
	}
	if _, err := ra.xdotool("windowfocus", "--sync", ra.win); err != nil {
		t.Logf("windowfocus: %v (no window manager; keys go to the focused window anyway)", err)
	}
}

// command is the app's command line in this test's environment.
func (ra *realApp) command(extra ...string) *exec.Cmd {
	args := append([]string{"--data", ra.data, "--log-level", "debug"}, ra.args...)
	cmd := exec.Command(os.Args[0], append(args, extra...)...)
	cmd.Env = append(os.Environ(), "POTLUCK_MAIN=1", "DISPLAY="+ra.display, "HOME="+ra.home,
		"XDG_CONFIG_HOME="+filepath.Join(ra.home, ".config"), "XDG_CACHE_HOME="+filepath.Join(ra.home, ".cache"),
		"DBUS_SESSION_BUS_ADDRESS="+ra.bus)
	return cmd
}

func (ra *realApp) xdotool(args ...string) (string, error) {
	c := exec.Command("xdotool", args...)
	c.Env = append(os.Environ(), "DISPLAY="+ra.display)
	out, err := c.Output()
	return strings.TrimSpace(string(out)), err
}

func (ra *realApp) key(k string) {
	ra.t.Helper()
	if _, err := ra.xdotool("key", "--window", ra.win, k); err != nil {
		ra.t.Fatal(err)
	}
}

func (ra *realApp) waitFor(what string, d time.Duration, ok func() bool) {
	ra.t.Helper()
	deadline := time.Now().Add(d)
	for !ok() {
		select {
		case err := <-ra.exited:
			ra.t.Fatalf("the app exited (%v) while waiting for %s", err, what)
		default:
		}
		if time.Now().After(deadline) {
			ra.t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// stop ends the app with SIGTERM and checks that it exits cleanly.
func (ra *realApp) stop() {
	ra.t.Helper()
	ra.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case err := <-ra.exited:
		if err != nil {
			ra.t.Errorf("the app exited with %v after SIGTERM", err)
		}
	case <-time.After(45 * time.Second):
		// Quitting takes a few frames of the main loop, and under -race on
		// a busy machine one frame of software GL can take seconds (cover
		// art rescaled with checkptr on). Past this, it is stuck: ask for a
		// goroutine dump, so the log says what it waits for.
		ra.cmd.Process.Signal(syscall.SIGQUIT)
		select {
		case <-ra.exited:
		case <-time.After(5 * time.Second):
		}
		ra.t.Error("the app did not stop on SIGTERM")
	}
}

// waitPlaying waits until the track titled title plays (its length known,
// sound out) and returns its length in microseconds.
func (ra *realApp) waitPlaying(m *mpris, title string) int64 {
	ra.t.Helper()
	var length int64
	ra.waitFor(title+" to play", 30*time.Second, func() bool {
		if m.title() != title || m.prop("PlaybackStatus") != "Playing" {
			return false
		}
		length, _ = m.prop("Metadata").(map[string]dbus.Variant)["mpris:length"].Value().(int64)
		return length > 0
	})
	return length
}

// mpris is what a sound menu sees of the app on the session bus.
type mpris struct {
	t   *testing.T
	obj dbus.BusObject
}

func (ra *realApp) mpris() *mpris {
	ra.t.Helper()
	conn, err := dbus.Connect(ra.bus)
	if err != nil {
		ra.t.Fatal(err)
	}
	ra.t.Cleanup(func() { conn.Close() })
	m := &mpris{t: ra.t, obj: conn.Object("org.mpris.MediaPlayer2.potluck", "/org/mpris/MediaPlayer2")}
	ra.waitFor("the app on the session bus", 10*time.Second, func() bool {
		_, err := m.obj.GetProperty("org.mpris.MediaPlayer2.Player.PlaybackStatus")
		return err == nil
	})
	return m
}

func (m *mpris) prop(name string) any {
	v, err := m.obj.GetProperty("org.mpris.MediaPlayer2.Player." + name)
	if err != nil {
		m.t.Fatalf("MPRIS %s: %v", name, err)
	}
	return v.Value()
}

func (m *mpris) title() string {
	md, _ := m.prop("Metadata").(map[string]dbus.Variant)
	s, _ := md["xesam:title"].Value().(string)
	return s
}

func (m *mpris) call(method string, args ...any) {
	if c := m.obj.Call("org.mpris.MediaPlayer2.Player."+method, 0, args...); c.Err != nil {
		m.t.Fatalf("MPRIS %s: %v", method, c.Err)
	}
}

// tray is the app's tray icon menu on the session bus.
type tray struct {
	t   *testing.T
	obj dbus.BusObject
}

// trayMenu finds the app's StatusNotifierItem on the bus.
func (ra *realApp) trayMenu() *tray {
	ra.t.Helper()
	conn, err := dbus.Connect(ra.bus)
	if err != nil {
		ra.t.Fatal(err)
	}
	ra.t.Cleanup(func() { conn.Close() })
	var name string
	ra.waitFor("the tray icon on the session bus", 10*time.Second, func() bool {
		var names []string
		conn.BusObject().Call("org.freedesktop.DBus.ListNames", 0).Store(&names)
		for _, n := range names {
			if strings.HasPrefix(n, "org.kde.StatusNotifierItem-") {
				name = n
				return true
			}
		}
		return false
	})
	return &tray{t: ra.t, obj: conn.Object(name, "/StatusNotifierMenu")}
}

type menuLayout struct {
	ID       int32
	Props    map[string]dbus.Variant
	Children []dbus.Variant
}

// items maps the menu's labels to their item IDs.
func (tr *tray) items() map[string]int32 {
	var rev uint32
	var root menuLayout
	if err := tr.obj.Call("com.canonical.dbusmenu.GetLayout", 0, int32(0), int32(-1), []string{}).Store(&rev, &root); err != nil {
		tr.t.Fatalf("tray GetLayout: %v", err)
	}
	out := map[string]int32{}
	for _, c := range root.Children {
		var item menuLayout
		if err := dbus.Store([]any{c.Value()}, &item); err != nil {
			tr.t.Fatal(err)
		}
		if label, ok := item.Props["label"].Value().(string); ok {
			out[label] = item.ID
		}
	}
	return out
}

// clickUntil clicks the item labelled label until ok holds. The menu may
// be built again after it first appears (new item IDs), so it is read
// before each click, as a tray does when it opens; and the tray library
// drops a click that arrives while the app's reader of that item is not
// waiting, so a click with no effect after a while is made again, as a
// listener would.
func (tr *tray) clickUntil(ra *realApp, label, what string, ok func() bool) {
	tr.t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		tr.click(tr.items()[label])
		clicked := time.Now()
		for time.Since(clicked) < 3*time.Second {
			if ok() {
				return
			}
			time.Sleep(100 * time.Millisecond)
		}
		if time.Now().After(deadline) {
			ra.t.Fatalf("timed out waiting for %s", what)
		}
	}
}

func (tr *tray) click(id int32) {
	if err := tr.obj.Call("com.canonical.dbusmenu.Event", 0, id, "clicked", dbus.MakeVariant(""), uint32(0)).Err; err != nil {
		tr.t.Fatalf("tray click: %v", err)
	}
}

// TestRealWindow starts the app under Xvfb with a real session bus and
// ALSA pointed at a file, plays the first track with the space key, and
// checks that the window shows the library, that real audio reached ALSA,
// that MPRIS (through main.go's own wiring) names the track and obeys
// PlayPause, Next and Seek, that the tray menu is on the bus and works,
// and that SIGTERM ends the app cleanly. The
// screenshot is kept in the artifact directory.
func TestRealWindow(t *testing.T) {
	ra := startRealApp(t)
	m := ra.mpris()
	if st := m.prop("PlaybackStatus"); st != "Stopped" {
		t.Errorf("PlaybackStatus %v before any play", st)
	}
	// Space with nothing playing plays the first track of the library.
	ra.key("space")
	ra.waitFor("audio in ALSA's file", 30*time.Second, func() bool { return ra.heard.Load() > 44100 })
	ra.waitFor("the title in MPRIS Metadata", 10*time.Second, func() bool { return m.title() == "First Light" })
	if st := m.prop("PlaybackStatus"); st != "Playing" {
		t.Errorf("PlaybackStatus %v while playing", st)
	}

	m.call("PlayPause")
	ra.waitFor("PlayPause to pause", 10*time.Second, func() bool { return m.prop("PlaybackStatus") == "Paused" })
	m.call("PlayPause")
	ra.waitFor("PlayPause to resume", 10*time.Second, func() bool { return m.prop("PlaybackStatus") == "Playing" })
	// Next plays the library's next track: the library is the context.
	m.call("Next")
	ra.waitFor("Next to play the library's second track", 10*time.Second, func() bool { return m.title() == "Late Supper" })
	m.call("Seek", int64(20*time.Second/time.Microsecond))
	ra.waitFor("Seek to move 20 s on", 10*time.Second, func() bool {
		pos, _ := m.prop("Position").(int64)
		return pos >= int64(20*time.Second/time.Microsecond)
	})

	// The tray: its menu is on the session bus (StatusNotifierItem with a
	// dbusmenu), as a desktop's tray reads it; clicking Play / Pause there
	// pauses.
	tray := ra.trayMenu()
	items := tray.items()
	for _, want := range []string{"Show Potluck", "Play / Pause", "Next", "Quit"} {
		if _, ok := items[want]; !ok {
			t.Errorf("the tray menu lacks %q: %v", want, items)
		}
	}
	tray.clickUntil(ra, "Play / Pause", "the tray's Play / Pause to pause", func() bool { return m.prop("PlaybackStatus") == "Paused" })
	tray.clickUntil(ra, "Play / Pause", "the tray's Play / Pause to resume", func() bool { return m.prop("PlaybackStatus") == "Playing" })

	shot := filepath.Join(artifactDir(t), "potluck-window.png")
	imp := exec.Command("import", "-window", "root", shot)
	imp.Env = append(os.Environ(), "DISPLAY="+ra.display)
	if out, err := imp.CombinedOutput(); err != nil {
		t.Fatalf("screenshot: %v\n%s", err, out)
	}
	if n := distinctColours(t, shot); n < 16 {
		t.Errorf("the screenshot has %d colours: the window looks empty", n)
	}
	t.Logf("screenshot: %s; %d frames of sound reached ALSA", shot, ra.heard.Load())
	if strings.Contains(ra.logs.String(), "panic") {
		t.Errorf("the app logged a panic")
	}
	ra.stop()
}

// TestRealWindowPlaysThroughTheAlbum plays the album's first track near
// its end and hears the album's next track start after it, with no key
// pressed: play goes on through the context.
func TestRealWindowPlaysThroughTheAlbum(t *testing.T) {
	ra := startRealApp(t)
	m := ra.mpris()
	ra.key("space")
	length := ra.waitPlaying(m, "First Light")
	m.call("SetPosition", dbus.ObjectPath("/org/potluck/track/t"), length-int64(2*time.Second/time.Microsecond))
	ra.waitFor("the album's next track after the first ends", 20*time.Second, func() bool { return m.title() == "Late Supper" })
	before := ra.heard.Load()
	ra.waitFor("sound of the next track", 10*time.Second, func() bool { return ra.heard.Load() > before+44100 })
	if st := m.prop("PlaybackStatus"); st != "Playing" {
		t.Errorf("PlaybackStatus %v on the second track", st)
	}
	ra.stop()
}

// TestRealWindowServesInBackground closes the window (Ctrl+W, what the
// close button does) with background serving on, as by default, and then
// fetches the track it played from it with potluckd fetch: the app is
// still a swarm node. A second start on the same data directory shows the
// window again instead of failing.
func TestRealWindowServesInBackground(t *testing.T) {
	potluckd := filepath.Join(t.TempDir(), "potluckd")
	build := exec.Command("go", "build", "-o", potluckd, "./cmd/potluckd")
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("building potluckd: %v\n%s", err, out)
	}
	ra := startRealApp(t)
	m := ra.mpris()
	ra.key("space")
	// Play it through to the end, so the app holds it whole.
	length := ra.waitPlaying(m, "First Light")
	m.call("SetPosition", dbus.ObjectPath("/org/potluck/track/t"), length-int64(time.Second/time.Microsecond))
	ra.waitFor("the next track", 20*time.Second, func() bool { return m.title() == "Late Supper" })
	m.call("Pause")

	ra.key("ctrl+w")
	ra.waitFor("the window to close", 10*time.Second, func() bool {
		out, _ := ra.xdotool("search", "--onlyvisible", "--name", "Potluck")
		return out == "" && strings.Contains(ra.logs.String(), "serving in the background")
	})
	url := regexp.MustCompile(`built-in origin on the demo library"? url="?([^"\s]+)`).FindStringSubmatch(ra.logs.String())
	if url == nil {
		t.Fatal("the app did not log its origin URL")
	}
	list, err := exec.Command(potluckd, "ls", "--origin", url[1], "--json").Output()
	if err != nil {
		t.Fatal(err)
	}
	var tracks []struct{ ID, Title string }
	if err := json.Unmarshal(list, &tracks); err != nil {
		t.Fatal(err)
	}
	var id string
	for _, tr := range tracks {
		if tr.Title == "First Light" {
			id = tr.ID
		}
	}
	out, err := exec.Command(potluckd, "fetch", "--origin", url[1], "--track", id, "--out", filepath.Join(t.TempDir(), "a.mp3")).Output()
	if err != nil {
		t.Fatalf("potluckd fetch: %v\n%s", err, out)
	}
	var got struct {
		FromPeers int64 `json:"from_peers"`
		Peers     int   `json:"peers"`
	}
	if err := json.Unmarshal(out, &got); err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	if got.FromPeers == 0 || got.Peers == 0 {
		t.Fatalf("the closed app served nothing: %s", out)
	}
	t.Logf("fetched from the app with its window closed: %s", out)

	// A second start brings the window back and exits at once.
	second := ra.command()
	secondOut, err := second.CombinedOutput()
	if err != nil {
		t.Fatalf("the second start failed: %v\n%s", err, secondOut)
	}
	if !strings.Contains(string(secondOut), "already running") {
		t.Errorf("the second start said: %s", secondOut)
	}
	ra.waitFor("the window to come back", 10*time.Second, func() bool {
		out, _ := ra.xdotool("search", "--onlyvisible", "--name", "Potluck")
		return out != "" && strings.Contains(ra.logs.String(), "window shown")
	})
	ra.stop()
}

// TestRealWindowRestoresTheSession: the queue, the track, the position,
// the volume, shuffle and repeat come back after a restart, paused.
func TestRealWindowRestoresTheSession(t *testing.T) {
	ra := startRealApp(t)
	m := ra.mpris()
	ra.key("space")
	ra.waitPlaying(m, "First Light")
	m.call("Next")
	ra.waitPlaying(m, "Late Supper")
	m.call("SetPosition", dbus.ObjectPath("/org/potluck/track/t"), int64(12*time.Second/time.Microsecond))
	if err := m.obj.SetProperty("org.mpris.MediaPlayer2.Player.Volume", dbus.MakeVariant(0.5)); err != nil {
		t.Fatal(err)
	}
	ra.waitFor("the volume and the position", 10*time.Second, func() bool {
		pos, _ := m.prop("Position").(int64)
		return m.prop("Volume") == 0.5 && pos >= int64(12*time.Second/time.Microsecond)
	})
	// Paused, the position holds still while the app stops.
	m.call("Pause")
	ra.waitFor("the pause", 10*time.Second, func() bool { return m.prop("PlaybackStatus") == "Paused" })
	time.Sleep(500 * time.Millisecond)
	saved, _ := m.prop("Position").(int64)
	ra.stop()

	ra.launch()
	m = ra.mpris()
	ra.waitFor("the session to come back", 10*time.Second, func() bool { return m.title() == "Late Supper" })
	if st := m.prop("PlaybackStatus"); st != "Paused" {
		t.Errorf("PlaybackStatus %v after a restart, want Paused", st)
	}
	if pos, _ := m.prop("Position").(int64); pos < saved-int64(300*time.Millisecond/time.Microsecond) || pos > saved+int64(300*time.Millisecond/time.Microsecond) {
		t.Errorf("position %v after a restart, want %v", time.Duration(pos)*time.Microsecond, time.Duration(saved)*time.Microsecond)
	}
	if v := m.prop("Volume"); v != 0.5 {
		t.Errorf("volume %v after a restart", v)
	}
	// Paused means silent until the listener plays; then the queue goes on.
	before := ra.heard.Load()
	time.Sleep(time.Second)
	if ra.heard.Load() != before {
		t.Error("sound while restored and paused")
	}
	m.call("Play")
	ra.waitFor("sound after Play", 10*time.Second, func() bool { return ra.heard.Load() > before+44100 })
	m.call("Next")
	ra.waitFor("the restored queue's next track", 10*time.Second, func() bool { return m.title() == "Kettle Hill Waltz" })
	ra.stop()
}

// buildPotluckd builds cmd/potluckd, pure Go, into a temporary directory.
func buildPotluckd(t *testing.T) string {
	t.Helper()
	potluckd := filepath.Join(t.TempDir(), "potluckd")
	build := exec.Command("go", "build", "-o", potluckd, "./cmd/potluckd")
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("building potluckd: %v\n%s", err, out)
	}
	return potluckd
}

// startOriginProcess runs `potluckd origin` on the demo library and
// returns it and the URL it printed. It is killed when the test ends.
func startOriginProcess(t *testing.T, potluckd string) (*exec.Cmd, string) {
	t.Helper()
	cmd := exec.Command(potluckd, "origin", "--listen", "127.0.0.1:0", "--data", t.TempDir(), "--log-level", "warn")
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	logs := &lockedBuffer{}
	cmd.Stderr = logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cmd.Process.Kill()
		cmd.Wait()
		if t.Failed() {
			t.Logf("origin log:\n%s", logs)
		}
	})
	line, err := bufio.NewReader(stdout).ReadString('\n')
	url, ok := strings.CutPrefix(strings.TrimSpace(line), "origin-url: ")
	if err != nil || !ok {
		t.Fatalf("potluckd origin printed %q (%v)", line, err)
	}
	return cmd, url
}

// TestRealWindowWithTheOriginDown: the app plays a track from an origin
// (a potluckd process) and stops; the origin dies; started again on the
// same data directory, the app shows the last catalogue, says that the
// origin is unreachable, and plays the track it holds.
func TestRealWindowWithTheOriginDown(t *testing.T) {
	potluckd := buildPotluckd(t)
	originCmd, url := startOriginProcess(t, potluckd)
	ra := startRealApp(t, "--origin", url)
	if !strings.Contains(ra.logs.String(), "origin_reachable=true") {
		t.Errorf("with the origin up the app did not log it reachable")
	}
	m := ra.mpris()
	ra.key("space")
	ra.waitPlaying(m, "First Light")
	before := ra.heard.Load()
	ra.waitFor("two seconds of sound", 20*time.Second, func() bool { return ra.heard.Load() > before+2*44100 })
	m.call("Pause")
	ra.waitFor("the pause", 10*time.Second, func() bool { return m.prop("PlaybackStatus") == "Paused" })
	ra.stop()

	if err := originCmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	originCmd.Wait()

	ra.launch() // waits for "library shown" with the 6 tracks
	if !strings.Contains(ra.logs.String(), "origin_reachable=false") {
		t.Errorf("with the origin down the app did not log it unreachable")
	}
	m = ra.mpris()
	ra.waitFor("the session to come back", 10*time.Second, func() bool { return m.title() == "First Light" })
	before = ra.heard.Load()
	m.call("Play")
	ra.waitFor("sound of the held track with the origin down", 20*time.Second, func() bool { return ra.heard.Load() > before+3*44100 })
	if st := m.prop("PlaybackStatus"); st != "Playing" {
		t.Errorf("PlaybackStatus %v with the origin down", st)
	}
	m.call("Pause")
	ra.waitFor("the pause", 10*time.Second, func() bool { return m.prop("PlaybackStatus") == "Paused" })
	ra.stop()
}

// TestNoDisplayIsASentence: started where there is no display (over SSH,
// say) the app says so and names the headless peer, without a Go panic.
func TestNoDisplayIsASentence(t *testing.T) {
	cmd := exec.Command(os.Args[0], "--data", t.TempDir())
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "DISPLAY=") && !strings.HasPrefix(kv, "WAYLAND_DISPLAY=") {
			env = append(env, kv)
		}
	}
	cmd.Env = append(env, "POTLUCK_MAIN=1")
	out, err := cmd.CombinedOutput()
	var exit *exec.ExitError
	if !errors.As(err, &exit) || exit.ExitCode() != 1 {
		t.Fatalf("exit: %v\n%s", err, out)
	}
	if !strings.Contains(string(out), "no display") || !strings.Contains(string(out), "potluckd peer") {
		t.Errorf("the app said: %s", out)
	}
	if strings.Contains(string(out), "goroutine") || strings.Contains(string(out), "panic") {
		t.Errorf("a panic trace: %s", out)
	}
}

// countSound reads float32 stereo frames from the FIFO at path, adding
// the frames with sound to n, through every process that opens it for
// writing (a restarted app opens it again), until the test ends.
func countSound(t *testing.T, path string, n *atomic.Int64) {
	var done atomic.Bool
	t.Cleanup(func() {
		done.Store(true)
		// Wake a reader blocked in open, waiting for a writer.
		if w, err := os.OpenFile(path, os.O_WRONLY|syscall.O_NONBLOCK, 0); err == nil {
			w.Close()
		}
	})
	buf := make([]byte, 1<<16)
	for !done.Load() {
		f, err := os.Open(path) // blocks until ALSA opens it
		if err != nil {
			return
		}
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
				break
			}
		}
		f.Close()
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
