package sim

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"slices"
	"testing"
	"testing/synctest"
	"time"

	"github.com/potluckfm/potluck/cache"
	"github.com/potluckfm/potluck/origin"
	"github.com/potluckfm/potluck/track"
)

// TestOriginFloorBytes checks the floor on a constructed case: each played
// chunk counts once, by its own length (the last chunk is short), and
// chunks a cache held at the start or of unknown tracks count nothing.
func TestOriginFloorBytes(t *testing.T) {
	a := &track.Manifest{ID: track.ID{1}, Size: 2500, ChunkSize: 1000, ChunkHashes: make([]track.Hash, 3)}
	b := &track.Manifest{ID: track.ID{2}, Size: 4000, ChunkSize: 1000, ChunkHashes: make([]track.Hash, 4)}
	manifests := map[track.ID]*track.Manifest{a.ID: a, b.ID: b}
	var played chunkSet
	for _, k := range []chunkKey{
		{a.ID, 0}, {a.ID, 2}, {a.ID, 0}, // 1000 + 500, the repeat once
		{b.ID, 1}, {b.ID, 3}, // 1000 + 1000, but b's chunk 3 was cached at the start
		{track.ID{9}, 0}, // not in the catalogue
		{a.ID, 7},        // no such chunk
	} {
		played.add(k.track, k.index)
	}
	held := map[chunkKey]bool{{b.ID, 3}: true, {a.ID, 1}: true}
	if got, want := floorBytes(played.keys(), held, manifests), int64(1000+500+1000); got != want {
		t.Errorf("floor %d bytes, want %d", got, want)
	}
	// Received from the origin: a's chunk 0 twice (one repeat), b's chunk
	// 3 once (cached at the start: a repeat), a's chunk 1 (never played).
	received := map[chunkKey]int64{{a.ID, 0}: 2000, {b.ID, 3}: 1000, {a.ID, 1}: 1000, {a.ID, 2}: 500}
	repeat, unplayed := avoidable(received, played.keys(), held, manifests)
	if repeat != 1000+1000 || unplayed != 1000 {
		t.Errorf("repeat %d, unplayed %d bytes: want 2000 and 1000", repeat, unplayed)
	}
	if got := amplification(5000, 2500); got != 2 {
		t.Errorf("amplification of 5000 over 2500: %g, want 2", got)
	}
	if got := amplification(0, 0); got != 0 {
		t.Errorf("amplification with no floor: %g, want 0", got)
	}
}

// TestOriginAmplificationRun runs a small swarm in virtual time, Potluck
// and client-server, each with a short history in its caches, and checks
// that the origin's chunk bytes are at or above their floor: every chunk a
// listener played that no cache held at the start left the origin at
// least once.
func TestOriginAmplificationRun(t *testing.T) {
	decode, err := MeasureFrameDecode(testConfig(ModeP2P))
	if err != nil {
		t.Fatal(err)
	}
	reps := map[Mode]*Report{}
	for _, mode := range []Mode{ModeP2P, ModeClientServer} {
		t.Run(string(mode), func(t *testing.T) {
			cfg := testConfig(mode)
			cfg.Listeners, cfg.Duration, cfg.FrameDecode = 4, time.Minute, decode
			synctest.Test(t, func(t *testing.T) {
				rep, plays, err := Run(context.Background(), cfg)
				if err != nil {
					t.Fatal(err)
				}
				reps[mode] = rep
				var fromOrigin int64
				for _, p := range plays {
					fromOrigin += p.Stats.Swarm.FromOrigin
				}
				t.Logf("%s: origin chunk bytes %d, floor %d, amplification %.3f (repeats %d, unplayed %d); plays' bytes from the origin %d",
					mode, rep.OriginChunkBytes, rep.OriginFloorBytes, rep.OriginAmplification, rep.OriginRepeatBytes, rep.OriginUnplayedBytes, fromOrigin)
				if rep.OriginFloorBytes <= 0 || fromOrigin <= 0 {
					t.Fatalf("floor %d bytes, %d bytes from the origin: want plays of uncached chunks", rep.OriginFloorBytes, fromOrigin)
				}
				if rep.OriginAmplification < 1 || rep.OriginChunkBytes < rep.OriginFloorBytes {
					t.Errorf("origin served %d chunk bytes for a floor of %d (%.3f): under the floor",
						rep.OriginChunkBytes, rep.OriginFloorBytes, rep.OriginAmplification)
				}
				if rep.OriginChunkBytes < fromOrigin {
					t.Errorf("origin served %d chunk bytes, but the plays got %d from it", rep.OriginChunkBytes, fromOrigin)
				}
				// What listeners received whole the origin sent whole.
				if got := rep.OriginFloorBytes + rep.OriginRepeatBytes + rep.OriginUnplayedBytes; got > rep.OriginChunkBytes {
					t.Errorf("floor %d + repeats %d + unplayed %d = %d bytes received from the origin: want at most the %d it served",
						rep.OriginFloorBytes, rep.OriginRepeatBytes, rep.OriginUnplayedBytes, got, rep.OriginChunkBytes)
				}
			})
		})
	}
}

// TestOriginAmplification measures the origin's chunk bytes against their
// floor at 10, 100 and 1,000 listeners, Potluck and client-server, one run
// after another (so that each run's memory and CPU are its own), in
// virtual time. It runs only when asked:
//
//	POTLUCK_SIM_AMPLIFICATION=docs go test -run TestOriginAmplification -timeout 3h -v ./internal/sim/
//
// writes DIR/benchmark-amplification.{md,json} (DIR relative to the
// repository root) after each size. The runs are the swarm's first day
// (empty caches: every track's first copy must come from the origin), 2
// minutes each, with the lite library's files as they are (34 to 64 s:
// the demo library's bytes per second at a fifth of its decoding cost,
// and tracks short enough that most plays end within the run);
// POTLUCK_SIM_SIZES (e.g. "10,100") and envConfig's settings change
// them.
// POTLUCK_SIM_HEAP_PROFILE=PREFIX writes a heap profile of each run,
// three quarters through it, to PREFIX-N-MODE.pprof. POTLUCK_SIM_MODE
// runs one mode only, adding its reports to those DIR's JSON holds (two
// processes can then run the modes at once, each measuring its own
// memory and CPU). POTLUCK_SIM_REPLOT=1 only redraws the table from
// DIR's JSON.
func TestOriginAmplification(t *testing.T) {
	dir := envOutDir(t, "POTLUCK_SIM_AMPLIFICATION", "to measure the origin's cost against its floor")
	if os.Getenv("POTLUCK_SIM_REPLOT") != "" {
		writeAmplification(t, dir, nil)
		return
	}
	sizes := envSizes(t, []int{10, 100, 1000})
	cfg := envConfig(t)
	if os.Getenv("POTLUCK_SIM_HISTORY") == "" {
		cfg.Workload.History = -1
	}
	if os.Getenv("POTLUCK_SIM_DURATION") == "" {
		cfg.Duration = 2 * time.Minute
	}
	if cfg.Library == nil {
		cfg.Library = LiteLibrary()
	}
	if os.Getenv("POTLUCK_SIM_TRACK_LENGTH") == "" {
		cfg.TrackLength = -1
	}
	withFrameDecode(t, &cfg)
	profile := os.Getenv("POTLUCK_SIM_HEAP_PROFILE")
	modes := []Mode{ModeP2P, ModeClientServer}
	if m := os.Getenv("POTLUCK_SIM_MODE"); m != "" {
		modes = []Mode{Mode(m)}
	}
	var points []ScalePoint
	for _, n := range sizes {
		pt := ScalePoint{Listeners: n}
		for _, mode := range modes {
			var during func(*testing.T, Config)
			if profile != "" {
				during = func(t *testing.T, c Config) {
					writeHeapProfile(t, fmt.Sprintf("%s-%d-%s.pprof", profile, n, mode), c.Duration*3/4)
				}
			}
			runScalePoint(t, cfg, &pt, mode, during)
		}
		if (pt.P2P == nil && slices.Contains(modes, ModeP2P)) || (pt.Baseline == nil && slices.Contains(modes, ModeClientServer)) {
			t.FailNow()
		}
		points = append(points, pt)
		writeAmplification(t, dir, points)
	}
}

// writeAmplification merges points into DIR/benchmark-amplification.json
// (a size's report of a mode replaces the one there) and writes it and
// its table.
func writeAmplification(t *testing.T, dir string, points []ScalePoint) {
	path := filepath.Join(dir, "benchmark-amplification.json")
	var all []ScalePoint
	if b, err := os.ReadFile(path); err == nil {
		if err := json.Unmarshal(b, &all); err != nil {
			t.Fatal(err)
		}
	}
	for _, pt := range points {
		i := slices.IndexFunc(all, func(p ScalePoint) bool { return p.Listeners == pt.Listeners })
		if i < 0 {
			all = append(all, ScalePoint{Listeners: pt.Listeners})
			i = len(all) - 1
		}
		if pt.P2P != nil {
			pt.P2P.Timeline = nil
			all[i].P2P = pt.P2P
		}
		if pt.Baseline != nil {
			pt.Baseline.Timeline = nil
			all[i].Baseline = pt.Baseline
		}
	}
	slices.SortFunc(all, func(a, b ScalePoint) int { return a.Listeners - b.Listeners })
	table := AmplificationMarkdown(all)
	t.Logf("\n%s", table)
	js, _ := json.MarshalIndent(all, "", "  ")
	for name, b := range map[string][]byte{
		"benchmark-amplification.md":   []byte(table),
		"benchmark-amplification.json": append(js, '\n'),
	} {
		if err := os.WriteFile(filepath.Join(dir, name), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// writeHeapProfile writes the heap profile to path after d (in the
// bubble's time), after a garbage collection.
func writeHeapProfile(t *testing.T, path string, d time.Duration) {
	time.Sleep(d)
	runtime.GC()
	f, err := os.Create(path)
	if err != nil {
		t.Error(err)
		return
	}
	defer f.Close()
	if err := pprof.Lookup("heap").WriteTo(f, 0); err != nil {
		t.Error(err)
	}
}

// TestInternedStore checks that a listener's cache keeps a chunk equal to
// the catalogue's as the catalogue's own bytes, and a chunk that differs
// as it came (the store then refuses it, as a cache must).
func TestInternedStore(t *testing.T) {
	lib, err := catalogueFS(LiteLibrary(), 2, -1)
	if err != nil {
		t.Fatal(err)
	}
	cat, err := origin.ScanLibrary(context.Background(), lib, testKey(), origin.ScanOptions{})
	if err != nil {
		t.Fatal(err)
	}
	files := catalogueFiles(lib, cat.Entries())
	if len(files) != 2 {
		t.Fatalf("%d catalogue files to share, want 2", len(files))
	}
	e := cat.Entries()[0]
	m := e.Manifest
	s := internedStore{Mem: cache.NewMemNoCopy(1 << 30), files: files}
	if err := s.PutManifest(m, e.Signed); err != nil {
		t.Fatal(err)
	}
	off, n := m.ChunkBounds(1)
	fetched := bytes.Clone(files[m.ID].data[off : off+int64(n)])
	if err := s.WriteChunk(m.ID, 1, fetched); err != nil {
		t.Fatal(err)
	}
	fetched[0] ^= 0xff // the fetched copy is no longer the cache's
	got, err := s.ReadChunk(m.ID, 1)
	if err != nil {
		t.Fatalf("the chunk, its fetched copy since changed: %v", err)
	}
	if !bytes.Equal(got, files[m.ID].data[off:off+int64(n)]) {
		t.Error("the cache holds other bytes than the catalogue's")
	}
	if err := s.WriteChunk(m.ID, 2, fetched); err == nil {
		t.Error("a chunk unlike the catalogue's was stored")
	}
}

// TestResourceFigures checks that a run reports what it cost this
// machine, the figures TestOriginAmplification divides by its listeners:
// every listener runs goroutines of its own (node, player, session), so
// the peak is above the listeners, and memory and CPU were used.
func TestResourceFigures(t *testing.T) {
	cfg := testConfig(ModeP2P)
	cfg.Listeners, cfg.Duration = 4, 30*time.Second
	withFrameDecode(t, &cfg)
	synctest.Test(t, func(t *testing.T) {
		rep, _, err := Run(context.Background(), cfg)
		if err != nil {
			t.Fatal(err)
		}
		if rep.PeakGoroutines <= 3*cfg.Listeners {
			t.Errorf("peak goroutines %d for %d listeners: want more than 3 each", rep.PeakGoroutines, cfg.Listeners)
		}
		if rep.PeakMemoryBytes <= 0 || rep.PeakMemoryPerNodeMB <= 0 || rep.CPUSeconds <= 0 {
			t.Errorf("peak memory %d bytes (%.2f MB a node), CPU %.2f s: want all above 0",
				rep.PeakMemoryBytes, rep.PeakMemoryPerNodeMB, rep.CPUSeconds)
		}
	})
}
