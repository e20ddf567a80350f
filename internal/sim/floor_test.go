package sim

import (
	"math"
	"testing"
	"time"

	"github.com/potluckfm/potluck/player"
	"github.com/potluckfm/potluck/track"
)

func TestStartFloor(t *testing.T) {
	for _, c := range []struct {
		rtt    time.Duration
		bps    int
		chunk  int
		decode time.Duration
		want   time.Duration
	}{
		// 16 KiB at 10 Mbit/s: 131072 bits, 13.1072 ms.
		{40 * time.Millisecond, 10 * Mbps, 16 << 10, 0, 53107200 * time.Nanosecond},
		{40 * time.Millisecond, 10 * Mbps, 16 << 10, 100 * time.Microsecond, 53207200 * time.Nanosecond},
		// 16 KiB at 50 Mbit/s: 2.62144 ms.
		{20 * time.Millisecond, 50 * Mbps, 16 << 10, 0, 22621440 * time.Nanosecond},
		// A 64 KiB chunk (a manifest's chunk_size) at 8 Mbit/s: 65.536 ms.
		{80 * time.Millisecond, 8 * Mbps, 64 << 10, 0, 145536 * time.Microsecond},
		// No link, no floor.
		{40 * time.Millisecond, 0, 16 << 10, 0, 0},
	} {
		got := startFloor(c.rtt, c.bps, c.chunk, c.decode)
		if d := got - c.want; d < -time.Microsecond || d > time.Microsecond {
			t.Errorf("startFloor(%s, %d bit/s, %d B, %s) = %s, want %s", c.rtt, c.bps, c.chunk, c.decode, got, c.want)
		}
	}
}

// TestStartLatencyVsFloor checks the report's start_latency_vs_floor: each
// eligible play's start latency over its listener's floor, and the plays
// it leaves out.
func TestStartLatencyVsFloor(t *testing.T) {
	cfg := Config{}.withDefaults()
	r := &run{cfg: cfg, nw: newNetwork(cfg), frameDecode: 100 * time.Microsecond}
	m := &track.Manifest{Size: 40000, ChunkSize: 16 << 10, ChunkHashes: make([]track.Hash, 3)}
	small := &track.Manifest{Size: 4096, ChunkSize: 16 << 10, ChunkHashes: make([]track.Hash, 1)}
	// Floors: 40 + 13.1072 + 0.1 = 53.2072 ms; 20 + 2.62144 + 0.1 =
	// 22.72144 ms; a 4 KiB track at 10 Mbit/s, 60 ms: 60 + 3.2768 + 0.1.
	slow := &listener{idx: 0, rtt: 40 * time.Millisecond, link: linkSpec{down: 10 * Mbps}}
	fast := &listener{idx: 1, rtt: 20 * time.Millisecond, link: linkSpec{down: 50 * Mbps}}
	far := &listener{idx: 2, rtt: 60 * time.Millisecond, link: linkSpec{down: 10 * Mbps}}
	if f := r.floorOf(slow, m, r.frameDecode); f != 53207200*time.Nanosecond {
		t.Errorf("floor of the slow listener %s, want 53.2072ms", f)
	}
	ms := func(v float64) time.Duration { return time.Duration(v * float64(time.Millisecond)) }
	play := func(l *listener, m *track.Manifest, latency time.Duration, kind string) PlayRecord {
		return PlayRecord{
			Listener: l.idx, Kind: kind, Floor: r.floorOf(l, m, r.frameDecode),
			Stats: player.PlayStats{StartLatency: latency, Played: time.Second},
		}
	}
	prefetched := play(slow, m, 0, KindHeldByPeers)
	prefetched.Prefetched = true
	headCached := play(fast, m, ms(1), KindHeldByPeers)
	headCached.HeadCached = true
	resumed := play(fast, m, ms(3), KindFirstInSwarm)
	resumed.Resumed = true
	unstarted := play(slow, m, 0, KindFirstInSwarm)
	unstarted.Stats.Played = 0
	r.plays = []PlayRecord{
		play(slow, m, ms(106.4144), KindFirstInSwarm),  // 2.00
		play(fast, m, ms(22.72144*3), KindHeldByPeers), // 3.00
		play(far, small, ms(63.3768), KindHeldByPeers), // 1.00
		play(slow, m, ms(4), KindCached),               // left out: cached
		prefetched, headCached, resumed, unstarted,     // left out
	}
	rep := r.report(time.Minute, time.Minute, 0, 0, nil)
	want := Percentiles{P50: 2, P90: 3, P99: 3, N: 3}
	if rep.StartLatencyVsFloor != want {
		t.Errorf("start_latency_vs_floor %+v, want %+v", rep.StartLatencyVsFloor, want)
	}
	if rep.FrameDecodeMS != 0.1 {
		t.Errorf("frame_decode_ms %g, want 0.1", rep.FrameDecodeMS)
	}
}

func TestUpperBound95(t *testing.T) {
	for _, c := range []struct {
		k, n int
		want float64 // exact one-sided 95% Clopper–Pearson upper bound
	}{
		{0, 5000, 0.000599},  // 1 − 0.05^(1/5000) = 0.00059897
		{0, 100, 0.0295},     // 1 − 0.05^(1/100) = 0.029513
		{0, 10, 0.2589},      // 1 − 0.05^(1/10) = 0.25887
		{1, 100, 0.0466},     // P(X ≤ 1 | 100, p) = 0.05
		{5, 5000, 0.002101},  // Beta(6, 4995) at 0.95; Poisson's 10.51 / 5000
		{1, 1, 1},            // k = n
		{0, 0, 1},            // no trials
		{50, 100, 0.5864},    // Beta(51, 50) at 0.95: 0.505 + 1.645 × 0.0495
		{10, 1000, 0.016903}, // Poisson's 16.96 / 1000, a little less
	} {
		got := upperBound95(c.k, c.n)
		tol := 5e-4 * c.want
		if c.want >= 0.01 {
			tol = 1e-4
		}
		if math.Abs(got-c.want) > tol {
			t.Errorf("upperBound95(%d, %d) = %.6f, want %.6f", c.k, c.n, got, c.want)
		}
		if c.n > 0 && c.k < c.n {
			// The definition: k or fewer happen 5% of the time at the bound.
			if cdf := binomialCDF(c.k, c.n, got); math.Abs(cdf-0.05) > 1e-6 {
				t.Errorf("P(X ≤ %d | %d, %.6f) = %.6f, want 0.05", c.k, c.n, got, cdf)
			}
		}
	}
	// The rule of three: for 0 of n, about 3/n.
	if got := upperBound95(0, 5000); math.Abs(got-3.0/5000)/(3.0/5000) > 0.01 {
		t.Errorf("0 of 5000: %g, not about 3/5000", got)
	}
}
