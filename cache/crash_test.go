//go:build linux

package cache

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// The crash test's tracks: six of about 24 chunks, and room for three.
const (
	crashTracks = 6
	crashLimit  = 3 * 24 * chunk
)

func crashTrackSet(t testing.TB) []testTrack {
	_, priv := originKey(1)
	var tr []testTrack
	for i := range crashTracks {
		tr = append(tr, makeTrack(t, uint64(100+i), 23*chunk+1000*(i+1), priv))
	}
	return tr
}

// TestCrashHelper is the child process of TestCrash: it writes chunks as
// fast as it can until killed, and reports on stdout (unbuffered, one line
// per write(2)):
//
//	A t i   about to call WriteChunk(track t, chunk i)
//	E t     track t was evicted (by the last WriteChunk)
//	W t i   WriteChunk(t, i) returned nil
func TestCrashHelper(t *testing.T) {
	dir := os.Getenv("POTLUCK_CACHE_CRASH_DIR")
	if dir == "" {
		t.Skip("child process of TestCrash")
	}
	seed, _ := strconv.ParseUint(os.Getenv("POTLUCK_CACHE_CRASH_SEED"), 10, 64)
	r := rand.New(rand.NewPCG(seed, 1))
	tr := crashTrackSet(t)
	pub, _ := originKey(1)
	d, err := OpenDisk(dir, pub, Options{Limit: crashLimit})
	if err != nil {
		fmt.Printf("X %v\n", err)
		os.Exit(3)
	}
	present := make(map[int]bool)
	for ti, x := range tr {
		present[ti] = d.Have(x.m.ID) != nil
	}
	fmt.Println("READY")
	for deadline := time.Now().Add(20 * time.Second); time.Now().Before(deadline); {
		ti := r.IntN(crashTracks)
		x := tr[ti]
		if !present[ti] {
			if err := d.PutManifest(x.m, x.signed); err != nil {
				fmt.Printf("X %v\n", err)
				os.Exit(3)
			}
			present[ti] = true
		}
		if r.IntN(4) == 0 {
			d.Touch(x.m.ID)
		}
		for range 1 + r.IntN(16) {
			i := r.IntN(x.m.NumChunks())
			fmt.Printf("A %d %d\n", ti, i)
			err := d.WriteChunk(x.m.ID, i, x.chunk(i))
			for p := range present {
				if present[p] && d.Have(tr[p].m.ID) == nil {
					fmt.Printf("E %d\n", p)
					present[p] = false
				}
			}
			if err != nil {
				fmt.Printf("X %v\n", err)
				os.Exit(3)
			}
			fmt.Printf("W %d %d\n", ti, i)
		}
	}
	os.Exit(4) // never killed
}

// TestCrash kills a writing process with SIGKILL at random instants, again
// and again in the same directory, and checks after each kill that the
// store holds every chunk the child was told was written, and that
// everything it holds reads back right.
func TestCrash(t *testing.T) {
	rounds := 20
	if testing.Short() {
		rounds = 5
	}
	dir := t.TempDir()
	tr := crashTrackSet(t)
	model := make(map[int]map[int]bool) // chunks reported written, by track
	r := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 2))
	var written, reads, lost int

	for round := range rounds {
		cmd := exec.Command(os.Args[0], "-test.run=^TestCrashHelper$")
		cmd.Env = append(os.Environ(),
			"POTLUCK_CACHE_CRASH_DIR="+dir,
			"POTLUCK_CACHE_CRASH_SEED="+strconv.FormatUint(r.Uint64(), 10))
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		out, err := cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		ready := make(chan struct{})
		done := make(chan []string)
		go func() {
			var lines []string
			br := bufio.NewReader(out)
			for {
				l, err := br.ReadString('\n')
				if err != nil {
					break // a line without its newline was cut by the kill
				}
				if l == "READY\n" {
					close(ready)
				}
				lines = append(lines, strings.TrimSuffix(l, "\n"))
			}
			done <- lines
		}()
		select {
		case <-ready:
		case <-time.After(30 * time.Second):
			cmd.Process.Kill()
			t.Fatalf("round %d: child not ready; stderr: %s", round, stderr.String())
		}
		time.Sleep(time.Duration(20+r.IntN(180)) * time.Millisecond)
		cmd.Process.Kill()
		lines := <-done
		cmd.Wait()
		if ws, ok := cmd.ProcessState.Sys().(syscall.WaitStatus); !ok || ws.Signal() != syscall.SIGKILL {
			t.Fatalf("round %d: child ended by itself (%v); last output %q; stderr: %s",
				round, cmd.ProcessState, lines[max(0, len(lines)-3):], stderr.String())
		}

		pending := -1 // track of a WriteChunk cut by the kill
		for _, l := range lines {
			var op string
			var ti, i int
			fmt.Sscan(l, &op, &ti, &i)
			switch op {
			case "A":
				pending = ti
			case "E":
				delete(model, ti)
			case "W":
				if model[ti] == nil {
					model[ti] = make(map[int]bool)
				}
				model[ti][i] = true
				written++
				pending = -1
			}
		}

		pub, _ := originKey(1)
		w := &warnings{}
		d, err := OpenDisk(dir, pub, Options{Limit: crashLimit, Logger: w.logger()})
		if err != nil {
			t.Fatalf("round %d: reopening: %v", round, err)
		}
		if pending >= 0 {
			// The cut WriteChunk may have evicted other tracks.
			for ti := range model {
				if ti != pending && d.Have(tr[ti].m.ID) == nil {
					delete(model, ti)
				}
			}
		}
		for ti, x := range tr {
			have := d.Have(x.m.ID)
			for i := range model[ti] {
				if !have.Has(i) {
					t.Errorf("round %d: chunk %d of track %d was written but is not held", round, i, ti)
					lost++
				}
			}
			for i := range x.m.NumChunks() {
				if !have.Has(i) {
					continue
				}
				b, err := d.ReadChunk(x.m.ID, i)
				if err != nil || !bytes.Equal(b, x.chunk(i)) {
					t.Errorf("round %d: chunk %d of track %d held but reads back wrong: %v", round, i, ti, err)
				}
				reads++
			}
		}
		checkUsage(t, d)
		if msgs := w.list(); len(msgs) > 0 {
			t.Errorf("round %d: warnings on reopening: %q", round, msgs)
		}
		if ents, _ := os.ReadDir(filepath.Join(dir, trashDir)); len(ents) > 0 {
			t.Errorf("round %d: trash not emptied", round)
		}
		d.Close()
		if t.Failed() {
			t.FailNow()
		}
	}
	t.Logf("%d rounds: %d writes reported, %d chunks read back after kills", rounds, written, reads)
	if written < rounds {
		t.Errorf("only %d writes in %d rounds: the kills did not hit heavy writing", written, rounds)
	}
}

// TestWriteErrorHelper is the child process of TestWriteError: with a file
// size limit that makes writes past 3 chunks fail (EFBIG, like ENOSPC on a
// full disk), WriteChunk fails cleanly and the store stays usable.
func TestWriteErrorHelper(t *testing.T) {
	dir := os.Getenv("POTLUCK_CACHE_FSIZE_DIR")
	if dir == "" {
		t.Skip("child process of TestWriteError")
	}
	_, priv := originKey(1)
	a := makeTrack(t, 1, 8*chunk, priv)
	d, _ := openDisk(t, dir, 1<<30)
	put(t, d, a, 7) // created before the size limit, and one chunk past it
	signal.Ignore(syscall.SIGXFSZ)
	var old syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_FSIZE, &old); err != nil {
		t.Fatal(err)
	}
	lim := old
	lim.Cur = 3*chunk + 100
	if err := syscall.Setrlimit(syscall.RLIMIT_FSIZE, &lim); err != nil {
		t.Fatal(err)
	}
	for i := range 7 {
		err := d.WriteChunk(a.m.ID, i, a.chunk(i))
		if i < 3 && err != nil {
			t.Fatalf("chunk %d: %v", i, err)
		}
		if i >= 3 && !errors.Is(err, syscall.EFBIG) {
			t.Fatalf("chunk %d past the file size limit: %v, want EFBIG", i, err)
		}
	}
	checkHeld(t, d, a, 0, 1, 2, 7)
	checkUsage(t, d)
	if err := syscall.Setrlimit(syscall.RLIMIT_FSIZE, &old); err != nil {
		t.Fatal(err)
	}
	put(t, d, a, 3, 4, 5, 6)
	checkHeld(t, d, a, 0, 1, 2, 3, 4, 5, 6, 7)
	d.Close()
	d, _ = openDisk(t, dir, 1<<30)
	checkHeld(t, d, a, 0, 1, 2, 3, 4, 5, 6, 7)
	d.Close()
	fmt.Println("write-error-ok")
}

func TestWriteError(t *testing.T) {
	cmd := exec.Command(os.Args[0], "-test.run=^TestWriteErrorHelper$", "-test.v")
	cmd.Env = append(os.Environ(), "POTLUCK_CACHE_FSIZE_DIR="+t.TempDir())
	out, err := cmd.CombinedOutput()
	if err != nil || !bytes.Contains(out, []byte("write-error-ok")) {
		t.Fatalf("child: %v\n%s", err, out)
	}
}
