package main

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/potluckfm/potluck/internal/testbus"
)

// TestMeasureApp measures the real app under Xvfb: the time from launch
// to a drawn, playable library, and its memory idle and while playing. It
// runs only when POTLUCK_MEASURE=N is set (N launches on fresh data
// directories, each followed by a restart on the same directory) and
// asserts nothing about the figures: it reports them.
//
//	POTLUCK_MEASURE=5 go test -run TestMeasureApp -v -timeout 30m .
//
// POTLUCK_APP_BIN names a binary to measure instead of this test binary
// (a plain `go build .`); the app's profiles (POTLUCK_PPROF) give its Go
// heap, and the heap profiles are left in the artifact directory.
//
// Launch is the moment the process is started; "window" is when the
// window exists (xdotool finds it); "logged" is when the app logs
// "library shown" (the rows are set and a click would play: the player
// and the origin's connection are up by then); "drawn" is when a capture
// of the window shows the library's rows painted.
func TestMeasureApp(t *testing.T) {
	n, _ := strconv.Atoi(os.Getenv("POTLUCK_MEASURE"))
	if n <= 0 {
		t.Skip("set POTLUCK_MEASURE=N to measure the app's launch and memory over N launches")
	}
	bin := os.Getenv("POTLUCK_APP_BIN")
	if bin == "" {
		bin = os.Args[0]
	}
	var cold, warm []launchTimes
	var coldMem, warmMem []memSample
	for i := range n {
		t.Run(fmt.Sprint("run", i), func(t *testing.T) {
			ma := newMeasuredApp(t, bin)
			c := ma.launch()
			t.Logf("first start: %v", c)
			cold = append(cold, c)
			coldMem = append(coldMem, ma.memory(i == 0, "first"))
			t.Logf("memory after the first start: %v", coldMem[i])
			ma.stop()
			w := ma.launch()
			t.Logf("restart: %v", w)
			warm = append(warm, w)
			warmMem = append(warmMem, ma.memory(i == 0, "restart"))
			t.Logf("memory after the restart: %v", warmMem[i])
			ma.stop()
		})
	}
	if len(cold) == 0 || len(warm) != len(cold) {
		return
	}
	report := func(name string, ls []launchTimes) {
		pick := func(f func(launchTimes) time.Duration) string {
			var ds []time.Duration
			for _, l := range ls {
				ds = append(ds, f(l))
			}
			slices.Sort(ds)
			return fmt.Sprintf("p50 %4d ms  max %4d ms", ds[len(ds)/2].Milliseconds(), ds[len(ds)-1].Milliseconds())
		}
		t.Logf("%s (n=%d): window %s | logged %s | drawn %s", name, len(ls),
			pick(func(l launchTimes) time.Duration { return l.window }),
			pick(func(l launchTimes) time.Duration { return l.logged }),
			pick(func(l launchTimes) time.Duration { return l.drawn }))
	}
	report("first start", cold)
	report("restart    ", warm)
	median := func(ms []memSample, f func(memSample) int64) float64 {
		var vs []int64
		for _, m := range ms {
			vs = append(vs, f(m))
		}
		slices.Sort(vs)
		return float64(vs[len(vs)/2])
	}
	for _, c := range []struct {
		name string
		ms   []memSample
	}{{"first start", coldMem}, {"restart", warmMem}} {
		t.Logf("%s, medians: RSS idle %.1f MiB, playing %.1f MiB (anonymous %.1f MiB); Go heap objects playing %.1f MiB, Go mapped %.1f MiB", c.name,
			median(c.ms, func(m memSample) int64 { return m.idle.rss })/1024,
			median(c.ms, func(m memSample) int64 { return m.playing.rss })/1024,
			median(c.ms, func(m memSample) int64 { return m.playing.anon })/1024,
			median(c.ms, func(m memSample) int64 { return m.playing.goHeap })/(1<<20),
			median(c.ms, func(m memSample) int64 { return m.playing.goSys - m.playing.goHeapReleased })/(1<<20))
	}
}

// launchTimes are the moments of one launch, from the process's start.
type launchTimes struct{ window, logged, drawn time.Duration }

func (l launchTimes) String() string {
	return fmt.Sprintf("window %v, library logged %v, drawn %v", l.window.Round(time.Millisecond), l.logged.Round(time.Millisecond), l.drawn.Round(time.Millisecond))
}

// measuredApp is one display, bus and home for launches of the app.
type measuredApp struct {
	t       *testing.T
	bin     string
	display string
	bus     string
	home    string
	heard   *atomic.Int64
	cmd     *exec.Cmd
	logs    *lockedBuffer
	exited  chan struct{} // closed when the app has exited
	win     string
}

func newMeasuredApp(t *testing.T, bin string) *measuredApp {
	ma := &measuredApp{t: t, bin: bin, display: startXvfb(t), bus: testbus.Start(t), home: t.TempDir(), heard: &atomic.Int64{}}
	captured := filepath.Join(ma.home, "captured.raw")
	if err := syscall.Mkfifo(captured, 0o600); err != nil {
		t.Fatal(err)
	}
	// Read at the sound card's pace, so that the player plays in real
	// time, as on a desktop.
	go drainPaced(t, captured, ma.heard)
	asoundrc := fmt.Sprintf("pcm.!default {\n  type file\n  slave.pcm \"null\"\n  file %q\n  format \"raw\"\n}\n", captured)
	if err := os.WriteFile(filepath.Join(ma.home, ".asoundrc"), []byte(asoundrc), 0o644); err != nil {
		t.Fatal(err)
	}
	return ma
}

func (ma *measuredApp) xdotool(args ...string) (string, error) {
	c := exec.Command("xdotool", args...)
	c.Env = append(os.Environ(), "DISPLAY="+ma.display)
	out, err := c.Output()
	return strings.TrimSpace(string(out)), err
}

// launch starts the app and returns when its library is drawn.
func (ma *measuredApp) launch() launchTimes {
	t := ma.t
	cmd := exec.Command(ma.bin, "--data", filepath.Join(ma.home, "data"))
	cmd.Env = append(os.Environ(), "POTLUCK_MAIN=1", "DISPLAY="+ma.display, "HOME="+ma.home,
		"XDG_CONFIG_HOME="+filepath.Join(ma.home, ".config"), "XDG_CACHE_HOME="+filepath.Join(ma.home, ".cache"),
		"DBUS_SESSION_BUS_ADDRESS="+ma.bus, profileEnv+"=127.0.0.1:0")
	ma.logs = &lockedBuffer{}
	cmd.Stdout, cmd.Stderr = ma.logs, ma.logs
	start := time.Now()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	ma.cmd = cmd
	exited := make(chan struct{})
	ma.exited = exited
	go func() { cmd.Wait(); close(exited) }()
	logs := ma.logs
	t.Cleanup(func() {
		cmd.Process.Kill()
		<-exited
		if t.Failed() {
			t.Logf("app log:\n%s", logs)
		}
	})
	var lt launchTimes
	var w, h int
	deadline := start.Add(90 * time.Second)
	for lt.logged == 0 || lt.drawn == 0 {
		select {
		case <-exited:
			t.Fatalf("the app exited (%v) at launch", cmd.ProcessState)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("no drawn library after 90 s: %v", lt)
		}
		now := time.Since(start)
		if lt.logged == 0 && strings.Contains(ma.logs.String(), "library shown") {
			lt.logged = now
		}
		if lt.window == 0 {
			if out, err := ma.xdotool("search", "--name", "^Potluck$"); err == nil && out != "" {
				lt.window = now
				ma.win = strings.Fields(out)[0]
			}
		} else if lt.drawn == 0 {
			if w == 0 {
				w, h = ma.geometry()
			}
			if w > 0 && ma.rowsDrawn(w, h) {
				lt.drawn = now
			}
		}
		time.Sleep(10 * time.Millisecond)
	}
	if !strings.Contains(ma.logs.String(), "tracks=6") {
		t.Errorf("the library did not show the 6 demo tracks:\n%s", ma.logs)
	}
	return lt
}

var geometryRE = regexp.MustCompile(`Geometry: (\d+)x(\d+)`)

// geometry is the window's size in pixels, or 0, 0 before it is mapped.
func (ma *measuredApp) geometry() (int, int) {
	out, err := ma.xdotool("getwindowgeometry", ma.win)
	m := geometryRE.FindStringSubmatch(out)
	if err != nil || m == nil {
		return 0, 0
	}
	w, _ := strconv.Atoi(m[1])
	h, _ := strconv.Atoi(m[2])
	return w, h
}

// rowsDrawn captures the window and reports whether the library's list
// shows rows: the band below the search box, where the first rows are,
// is one flat colour while the list is empty, and holds covers and text
// once rows are painted.
func (ma *measuredApp) rowsDrawn(w, h int) bool {
	c := exec.Command("import", "-window", ma.win, "-depth", "8", "rgb:-")
	c.Env = append(os.Environ(), "DISPLAY="+ma.display)
	px, err := c.Output()
	if err != nil || len(px) != w*h*3 {
		return false
	}
	top, bottom := 110, min(110+120, h)
	counts := map[[3]byte]int{}
	for y := top; y < bottom; y++ {
		for x := 0; x < w/2; x++ {
			o := (y*w + x) * 3
			counts[[3]byte{px[o], px[o+1], px[o+2]}]++
		}
	}
	var bg [3]byte
	for c, k := range counts {
		if k > counts[bg] {
			bg = c
		}
	}
	// Text and icons: pixels far from the background, a few rows' worth.
	far := 0
	for c, k := range counts {
		d := 0
		for i := range 3 {
			d += abs(int(c[i]) - int(bg[i]))
		}
		if d > 96 {
			far += k
		}
	}
	return far > 300
}

func abs(x int) int {
	if x < 0 {
		return -x
	}
	return x
}

// memSample is the app's memory idle and while playing.
type memSample struct {
	idle, playing memState
}

func (m memSample) String() string {
	return fmt.Sprintf("\n  idle:    %v\n  playing: %v", m.idle, m.playing)
}

// memState is one look at the process's memory: resident set (VmRSS and
// smaps_rollup's split), and Go's own accounting.
type memState struct {
	rss, anon, file int64 // KiB
	goSys, goHeap   int64 // bytes: mapped by Go; heap objects in use
	goHeapReleased  int64
	bySource        map[string]int64 // KiB of RSS per mapping kind
	heapProfilePath string
	goroutines      int
	totalAlloc, gcs int64         // bytes allocated, GC cycles, since start
	cpu             time.Duration // user and system time since start
	at              time.Time
}

func (s memState) String() string {
	var parts []string
	for k, v := range s.bySource {
		parts = append(parts, fmt.Sprintf("%s %.1f", k, float64(v)/1024))
	}
	slices.Sort(parts)
	return fmt.Sprintf("RSS %.1f MiB (anon %.1f, file %.1f); Go: mapped %.1f MiB (released %.1f), heap objects %.1f MiB; goroutines %d; RSS by mapping (MiB): %s",
		float64(s.rss)/1024, float64(s.anon)/1024, float64(s.file)/1024,
		float64(s.goSys)/(1<<20), float64(s.goHeapReleased)/(1<<20), float64(s.goHeap)/(1<<20), s.goroutines, strings.Join(parts, ", "))
}

// memory waits 10 s idle and looks at the memory, then plays the first
// track with the space key for 20 s and looks again.
func (ma *measuredApp) memory(keepProfiles bool, launch string) memSample {
	t := ma.t
	time.Sleep(10 * time.Second)
	var m memSample
	m.idle = ma.look(launch+"-idle", keepProfiles)
	if _, err := ma.xdotool("windowfocus", "--sync", ma.win); err != nil {
		t.Logf("windowfocus: %v", err)
	}
	before := ma.heard.Load()
	if _, err := ma.xdotool("key", "--window", ma.win, "space"); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(30 * time.Second)
	for ma.heard.Load() < before+44100 {
		if time.Now().After(deadline) {
			t.Fatal("no sound 30 s after space")
		}
		time.Sleep(50 * time.Millisecond)
	}
	time.Sleep(20 * time.Second)
	m.playing = ma.look(launch+"-playing", keepProfiles)
	span := m.playing.at.Sub(m.idle.at)
	t.Logf("%s: from idle to 20 s into the play (%v): %.1f MB/s allocated, %.1f GC cycles/s, CPU %.1f%% of a core", launch, span.Round(time.Second),
		float64(m.playing.totalAlloc-m.idle.totalAlloc)/1e6/span.Seconds(), float64(m.playing.gcs-m.idle.gcs)/span.Seconds(),
		100*float64(m.playing.cpu-m.idle.cpu)/float64(span))
	// The pipe is read at the sound card's pace, or slower on a busy
	// machine: well under that is no play.
	if heard := ma.heard.Load() - before; heard < 5*44100 {
		t.Errorf("only %d frames of sound in 20 s of play", heard)
	}
	return m
}

var profileAddrRE = regexp.MustCompile(`profiles served"? addr=([^\s]+)`)

// look reads the process's memory now.
func (ma *measuredApp) look(state string, keepProfiles bool) memState {
	t := ma.t
	pid := ma.cmd.Process.Pid
	var s memState
	rollup, err := os.ReadFile(fmt.Sprintf("/proc/%d/smaps_rollup", pid))
	if err != nil {
		t.Fatal(err)
	}
	s.rss = procField(rollup, "Rss:")
	s.anon = procField(rollup, "Anonymous:")
	s.file = s.rss - s.anon
	s.bySource = smapsBySource(t, pid)
	m := profileAddrRE.FindStringSubmatch(ma.logs.String())
	if m == nil {
		t.Fatal("the app did not log where it serves its profiles")
	}
	base := "http://" + m[1] + "/debug/pprof/"
	text := httpGet(t, base+"heap?debug=1")
	s.goSys = memStat(text, "Sys")
	s.goHeap = memStat(text, "HeapAlloc")
	s.goHeapReleased = memStat(text, "HeapReleased")
	s.totalAlloc = memStat(text, "TotalAlloc")
	s.gcs = memStat(text, "NumGC")
	s.cpu, s.at = processCPU(t, pid), time.Now()
	s.goroutines = strings.Count(httpGet(t, base+"goroutine?debug=2"), "\ngoroutine ") + 1
	if keepProfiles {
		dir := artifactDir(t)
		s.heapProfilePath = filepath.Join(dir, "potluck-heap-"+state+".pb.gz")
		if err := os.WriteFile(s.heapProfilePath, []byte(httpGet(t, base+"heap")), 0o644); err != nil {
			t.Fatal(err)
		}
		smaps, _ := os.ReadFile(fmt.Sprintf("/proc/%d/smaps", pid))
		os.WriteFile(filepath.Join(dir, "potluck-smaps-"+state+".txt"), smaps, 0o644)
		t.Logf("%s: heap profile %s", state, s.heapProfilePath)
	}
	return s
}

func httpGet(t *testing.T, url string) string {
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// memStat reads "# Name = N" from a heap profile's text form.
func memStat(text, name string) int64 {
	m := regexp.MustCompile(`(?m)^# ` + name + ` = (\d+)`).FindStringSubmatch(text)
	if m == nil {
		return -1
	}
	v, _ := strconv.ParseInt(m[1], 10, 64)
	return v
}

// processCPU is the user and system time process pid has used.
func processCPU(t *testing.T, pid int) time.Duration {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		t.Fatal(err)
	}
	// Fields after the command name, which ends at the last ')'.
	f := strings.Fields(string(b[bytes.LastIndexByte(b, ')')+1:]))
	utime, _ := strconv.ParseInt(f[11], 10, 64)
	stime, _ := strconv.ParseInt(f[12], 10, 64)
	return time.Duration(utime+stime) * time.Second / 100 // USER_HZ
}

// procField reads "Name:   N kB" from a /proc file.
func procField(b []byte, name string) int64 {
	for line := range bytes.Lines(b) {
		if f := strings.Fields(string(line)); len(f) >= 2 && f[0] == name {
			v, _ := strconv.ParseInt(f[1], 10, 64)
			return v
		}
	}
	return -1
}

// smapsBySource sums the resident KiB of the process's mappings by what
// they hold: the binary, Mesa's GL driver and LLVM, other libraries, C's
// heap, anonymous memory (Go's heap and stacks, C's large mallocs,
// threads' stacks, GL buffers).
func smapsBySource(t *testing.T, pid int) map[string]int64 {
	f, err := os.Open(fmt.Sprintf("/proc/%d/smaps", pid))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	exe, _ := os.Readlink(fmt.Sprintf("/proc/%d/exe", pid))
	out := map[string]int64{}
	kind := ""
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := sc.Text()
		fields := strings.Fields(line)
		if len(fields) >= 5 && strings.Contains(fields[0], "-") && !strings.HasSuffix(fields[0], ":") {
			path := ""
			if len(fields) >= 6 {
				path = fields[5]
			}
			switch {
			case path == exe:
				kind = "binary"
			case strings.Contains(path, "LLVM") || strings.Contains(path, "dri") || strings.Contains(path, "gallium") || strings.Contains(path, "libGL"):
				kind = "mesa+llvm libs"
			case strings.HasPrefix(path, "/") && strings.Contains(path, ".so"):
				kind = "other libs"
			case path == "[heap]":
				kind = "C heap (brk)"
			case path == "" || path == "[stack]":
				kind = "anon"
			default:
				kind = "other"
			}
			continue
		}
		if len(fields) >= 2 && fields[0] == "Rss:" {
			v, _ := strconv.ParseInt(fields[1], 10, 64)
			out[kind] += v
		}
	}
	return out
}

// stop ends the app with SIGTERM and waits for it.
func (ma *measuredApp) stop() {
	ma.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-ma.exited:
	case <-time.After(45 * time.Second):
		ma.t.Error("the app did not stop on SIGTERM")
	}
	// Let the next launch's window be the only one.
	time.Sleep(200 * time.Millisecond)
}

var silentFrame [8]byte

// drainPaced reads the FIFO at path at 44.1 kHz float32 stereo (352,800
// bytes a second), counting the frames with sound into n, through every
// process that opens it, until the test ends.
func drainPaced(t *testing.T, path string, n *atomic.Int64) {
	var done atomic.Bool
	t.Cleanup(func() {
		done.Store(true)
		if w, err := os.OpenFile(path, os.O_WRONLY|syscall.O_NONBLOCK, 0); err == nil {
			w.Close()
		}
	})
	const rate = 352800
	buf := make([]byte, rate/40) // 25 ms
	for !done.Load() {
		f, err := os.Open(path)
		if err != nil {
			return
		}
		start, read := time.Now(), int64(0)
		for {
			k, err := io.ReadFull(f, buf)
			read += int64(k)
			for i := 0; i+8 <= k; i += 8 {
				if !bytes.Equal(buf[i:i+8], silentFrame[:]) {
					n.Add(1)
				}
			}
			if err != nil {
				break
			}
			// Ahead of the clock: wait. Far behind it, the writer was
			// silent (nothing played): start the clock again rather than
			// let it catch up at full speed.
			switch ahead := time.Duration(read)*time.Second/rate - time.Since(start); {
			case ahead > 0:
				time.Sleep(ahead)
			case ahead < -100*time.Millisecond:
				start = start.Add(-ahead)
			}
		}
		f.Close()
	}
}
