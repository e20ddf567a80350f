package sim

import (
	"context"
	"io/fs"
	"math"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/potluckfm/potluck/assets"
	"github.com/potluckfm/potluck/origin"
	"github.com/potluckfm/potluck/player"
	"github.com/potluckfm/potluck/track"
)

func testConfig(mode Mode) Config {
	return Config{
		Mode:      mode,
		Library:   LiteLibrary(),
		Listeners: testListeners,
		Tracks:    24,
		Duration:  testDuration,
		Seed:      7,
		// Tracks of the lite files joined to a minute or more, and a
		// short history in every cache: the default run's workload,
		// scaled down.
		TrackLength: time.Minute,
		Workload:    Workload{History: 3},
		Net:         NetProfile{NAT: testNAT},
	}
}

type result struct {
	rep   *Report
	plays []PlayRecord
	wall  time.Duration
}

// TestSim runs the benchmark in virtual time, Potluck twice and the
// client-server baseline once, and checks that the figures make sense:
// every play completes, the bytes add up, peers take load off the origin,
// and one seed gives (about) the same figures twice.
func TestSim(t *testing.T) {
	runs := map[string]*result{"p2p": nil, "p2p-again": nil, "client-server": nil}
	decode, err := MeasureFrameDecode(testConfig(ModeP2P))
	if err != nil {
		t.Fatal(err)
	}
	// The runs go at once, each in its own bubble: a run leaves a core
	// idle much of the time (virtual time waits for every goroutine).
	var wg sync.WaitGroup
	for name := range runs {
		mode := ModeP2P
		if name == "client-server" {
			mode = ModeClientServer
		}
		res := &result{}
		runs[name] = res
		wg.Go(func() {
			t.Run(name, func(t *testing.T) {
				start := time.Now()
				cfg := testConfig(mode)
				cfg.FrameDecode = decode
				synctest.Test(t, func(t *testing.T) {
					rep, plays, err := Run(context.Background(), cfg)
					if err != nil {
						t.Fatal(err)
					}
					res.rep, res.plays = rep, plays
				})
				res.wall = time.Since(start)
				if res.rep != nil {
					t.Logf("%s: %d listeners, %s simulated in %s of wall time", name, res.rep.Listeners,
						testDuration, res.wall.Round(time.Millisecond))
					checkRun(t, res.rep, res.plays)
				}
			})
		})
	}
	wg.Wait()
	p2p, again, cs := runs["p2p"].rep, runs["p2p-again"].rep, runs["client-server"].rep
	if p2p == nil || again == nil || cs == nil {
		t.FailNow()
	}
	t.Logf("\n%s", Compare(p2p, cs).Markdown())

	if cs.PeerShare != 0 || cs.PeerServedBytes != 0 {
		t.Errorf("client-server: %.1f%% of bytes from peers, %d served: want none", 100*cs.PeerShare, cs.PeerServedBytes)
	}
	if p2p.OriginShare >= cs.OriginShare {
		t.Errorf("origin share %.3f with peers, %.3f without: want less with peers", p2p.OriginShare, cs.OriginShare)
	}
	if p2p.OriginEgressBytes >= cs.OriginEgressBytes {
		t.Errorf("origin egress %d with peers, %d without: want less with peers", p2p.OriginEgressBytes, cs.OriginEgressBytes)
	}
	if p2p.PeerShare == 0 {
		t.Error("no bytes came from peers")
	}

	// One seed, two runs: the workload is the same, only the timing of
	// goroutines differs.
	diffs := []struct {
		name string
		a, b float64
		tol  float64 // relative
	}{
		{"plays", float64(p2p.Plays), float64(again.Plays), 0.10},
		{"origin_share", p2p.OriginShare, again.OriginShare, 0.15},
		{"peer_share", p2p.PeerShare, again.PeerShare, 0.15},
		{"cache_share", p2p.CacheShare, again.CacheShare, 0.15},
		{"origin_egress_bytes", float64(p2p.OriginEgressBytes), float64(again.OriginEgressBytes), 0.15},
		{"listener_hours", p2p.ListenerHours, again.ListenerHours, 0.05},
		{"start_latency_ms.p90", p2p.StartLatencyMS.P90, again.StartLatencyMS.P90, 0.5},
	}
	for _, d := range diffs {
		rel := relDiff(d.a, d.b)
		t.Logf("same seed twice: %-22s %12.4g %12.4g  differ by %5.1f%%", d.name, d.a, d.b, 100*rel)
		if rel > d.tol {
			t.Errorf("%s: %g and %g from one seed differ by %.0f%%, more than %.0f%%", d.name, d.a, d.b, 100*rel, 100*d.tol)
		}
	}
}

func relDiff(a, b float64) float64 {
	if a == b {
		return 0
	}
	return math.Abs(a-b) / max(math.Abs(a), math.Abs(b))
}

// checkRun checks one run's sanity: plays end well and bytes add up.
func checkRun(t *testing.T, rep *Report, plays []PlayRecord) {
	t.Helper()
	if rep.Tracks != 24 || rep.Listeners != testListeners {
		t.Errorf("report of %d tracks, %d listeners", rep.Tracks, rep.Listeners)
	}
	if len(plays) < rep.Listeners {
		t.Errorf("%d plays by %d listeners", len(plays), rep.Listeners)
	}
	var fromPeers, fromOrigin int64
	for _, p := range plays {
		st := p.Stats
		fromPeers += st.Swarm.FromPeers
		fromOrigin += st.Swarm.FromOrigin
		if st.Err != nil {
			t.Errorf("listener %d, track %s: play failed: %v", p.Listener, p.Track, st.Err)
			continue
		}
		if !p.Started() && !p.Interrupted {
			t.Errorf("listener %d, track %s: play ended without audio: %+v", p.Listener, p.Track, st)
		}
		if p.Delivered() > p.Size {
			t.Errorf("listener %d, track %s: %d bytes delivered of a %d byte track", p.Listener, p.Track, p.Delivered(), p.Size)
		}
		if p.Completed() {
			if p.Delivered() != p.Size {
				t.Errorf("listener %d, track %s: completed play delivered %d bytes (%+v) of %d",
					p.Listener, p.Track, p.Delivered(), st.Swarm, p.Size)
			}
			// Audio played: all of it, or from a seek on.
			if st.Seeks == 0 && st.Played < p.Dur-50*time.Millisecond {
				t.Errorf("listener %d, track %s: completed play of %s played %s", p.Listener, p.Track, p.Dur, st.Played)
			}
		}
	}
	b := rep.Bytes
	if b.Total != b.Origin+b.Peers+b.Cache || b.Peers != fromPeers || b.Origin != fromOrigin {
		t.Errorf("bytes %+v do not add up (peers %d, origin %d)", b, fromPeers, fromOrigin)
	}
	if sum := rep.OriginShare + rep.PeerShare + rep.CacheShare; math.Abs(sum-1) > 0.001 {
		t.Errorf("shares add up to %g", sum)
	}
	// Every byte a stream got from a peer was uploaded by one; every byte
	// from the origin crossed the origin's link.
	if fromPeers > rep.PeerServedBytes {
		t.Errorf("streams got %d bytes from peers, peers served %d", fromPeers, rep.PeerServedBytes)
	}
	if fromOrigin > rep.OriginEgressBytes {
		t.Errorf("streams got %d bytes from the origin, which sent %d", fromOrigin, rep.OriginEgressBytes)
	}
	if rep.PlaysFailed != 0 || rep.PlaysStarted == 0 || rep.ListenerHours <= 0 {
		t.Errorf("plays: %d failed, %d started, %g listener-hours", rep.PlaysFailed, rep.PlaysStarted, rep.ListenerHours)
	}
	if rep.StutterShare > 0.05 {
		t.Errorf("%.1f%% of plays stuttered", 100*rep.StutterShare)
	}
	if len(rep.Timeline) < int(testDuration/Defaults().Sample) {
		t.Errorf("timeline of %d samples", len(rep.Timeline))
	}
	checkFloor(t, rep, plays)
}

// checkFloor checks start_latency_vs_floor: plays to measure it on, and
// none of them faster than its floor (a round trip and a chunk), which
// would mean the floor or the plays it leaves out are wrong.
func checkFloor(t *testing.T, rep *Report, plays []PlayRecord) {
	t.Helper()
	f := rep.StartLatencyVsFloor
	t.Logf("start_latency_vs_floor %+v over %d started plays; one frame decodes in %.3f ms", f, rep.PlaysStarted, rep.FrameDecodeMS)
	if f.N == 0 || f.N > rep.PlaysStarted || rep.FrameDecodeMS <= 0 {
		t.Errorf("start_latency_vs_floor %+v of %d started plays, frame_decode_ms %g", f, rep.PlaysStarted, rep.FrameDecodeMS)
	}
	if !(f.P50 >= 1 && f.P50 <= f.P90 && f.P90 <= f.P99 && f.P99 < 100) {
		t.Errorf("start_latency_vs_floor %+v: want 1 ≤ p50 ≤ p90 ≤ p99", f)
	}
	for _, p := range plays {
		// Under synctest decoding takes no time, so a start can miss
		// the floor's decoding part; it cannot beat the network's.
		if p.floorEligible() && p.Stats.StartLatency < p.Floor*95/100 {
			t.Errorf("listener %d, track %s (%s): started in %s, under its floor %s", p.Listener, p.Track, p.Kind,
				p.Stats.StartLatency, p.Floor)
		}
	}
}

// TestCatalogue checks that the catalogue is M distinct, valid tracks of
// the library's audio: its files repeated, or joined to a song's length.
func TestCatalogue(t *testing.T) {
	for _, lib := range []struct {
		name   string
		fs     fs.FS
		length time.Duration
	}{
		{"demo", assets.Demo(), -1},
		{"lite", LiteLibrary(), -1},
		{"demo-joined", assets.Demo(), Defaults().TrackLength},
		{"lite-joined", LiteLibrary(), Defaults().TrackLength},
	} {
		t.Run(lib.name, func(t *testing.T) {
			const m = 14
			fsys, err := catalogueFS(lib.fs, m, lib.length)
			if err != nil {
				t.Fatal(err)
			}
			cat, err := origin.ScanLibrary(context.Background(), fsys, testKey(), origin.ScanOptions{})
			if err != nil {
				t.Fatal(err)
			}
			if cat.Len() != m || cat.Skipped() != 0 {
				t.Fatalf("catalogue of %d tracks (%d skipped), want %d", cat.Len(), cat.Skipped(), m)
			}
			durs := map[time.Duration]int{}
			for _, e := range cat.Entries() {
				durs[e.Manifest.Duration()]++
				if d := e.Manifest.Duration(); lib.length > 0 && (d < lib.length-time.Second || d > lib.length+80*time.Second) {
					t.Errorf("%s lasts %s, want at least %s (and less than one more file)", e.Path, d, lib.length)
				}
			}
			if len(durs) != 6 {
				t.Errorf("durations %v: want 6, one for each file a track starts with", durs)
			}
			// A track decodes to its end: its last two seconds, from a seek.
			e := cat.Entries()[m-1]
			data, _ := fs.ReadFile(fsys, e.Path)
			decodeTail(t, data, e.Manifest, 2*time.Second)
		})
	}
	// Joined tracks decode across their joins: all of a lite one.
	fsys, err := catalogueFS(LiteLibrary(), 1, Defaults().TrackLength)
	if err != nil {
		t.Fatal(err)
	}
	cat, err := origin.ScanLibrary(context.Background(), fsys, testKey(), origin.ScanOptions{})
	if err != nil {
		t.Fatal(err)
	}
	e := cat.Entries()[0]
	data, _ := fs.ReadFile(fsys, e.Path)
	decodeTail(t, data, e.Manifest, 0)
}

// decodeTail decodes the last d of a track (all of it if d is 0) and
// checks that it yields d of audio.
func decodeTail(t *testing.T, data []byte, m *track.Manifest, d time.Duration) {
	t.Helper()
	dec, err := player.NewDecoder(player.NewReaderSource(bytesReader(data), m))
	if err != nil {
		t.Fatal(err)
	}
	if d == 0 {
		d = dec.Duration()
	}
	from := dec.Duration() - d
	if err := dec.Seek(from); err != nil {
		t.Fatal(err)
	}
	n, err := ioCopyDiscard(dec)
	if err != nil {
		t.Fatal(err)
	}
	got := time.Duration(n / player.BytesPerFrame * int64(time.Second) / int64(dec.SampleRate()))
	if diff := got - d; diff < -time.Millisecond || diff > time.Millisecond {
		t.Errorf("decoded %s from %s to the end, want %s", got, from, d)
	}
}
