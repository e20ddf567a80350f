package player

import (
	"context"
	"io"
	"math/rand/v2"
	"path/filepath"
	"slices"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/potluckfm/potluck/cache"
	"github.com/potluckfm/potluck/internal/testorigin"
	"github.com/potluckfm/potluck/origin"
	"github.com/potluckfm/potluck/swarm"
	"github.com/potluckfm/potluck/track"
)

// Benchmarks of the figures the README reports:
//
//	go test -run '^$' -bench . -benchtime 20x ./player/
//
// start-ms and seek-ms are the Player's own measures (play or seek asked →
// first PCM handed to the sink); x-realtime is decoding speed on one core,
// cpu-% the CPU a stream playing in real time costs (of one core).

// BenchmarkDecode decodes a whole demo track from memory.
func BenchmarkDecode(b *testing.B) {
	d := demoTrackNamed(b, "01")
	buf := make([]byte, 64<<10)
	var audio time.Duration
	b.SetBytes(d.m.Size)
	for b.Loop() {
		dec, err := NewDecoder(d.source())
		if err != nil {
			b.Fatal(err)
		}
		for {
			_, err := dec.Read(buf)
			if err == io.EOF {
				break
			} else if err != nil {
				b.Fatal(err)
			}
		}
		audio += dec.Duration()
	}
	x := audio.Seconds() / b.Elapsed().Seconds()
	b.ReportMetric(x, "x-realtime")
	b.ReportMetric(100/x, "cpu-%/stream")
}

// BenchmarkPlayCPU plays in real time to the null sink and measures the
// process's CPU time per second of playback: what one stream costs.
func BenchmarkPlayCPU(b *testing.B) {
	d := demoTrackNamed(b, "01")
	p, ev := newPlayer(b, NewNullSink(1), newSources(d), func(c *Config) { c.Logger = quietLogger() })
	p.SetQueue([]track.ID{d.m.ID}, 0)
	ev.next(b, TrackStarted)
	cpu0, wall0 := cpuTime(), time.Now()
	for i := 0; b.Loop(); i++ {
		playedAtLeast(b, p, time.Duration(i+1)*time.Second)
	}
	b.ReportMetric(100*(cpuTime()-cpu0).Seconds()/time.Since(wall0).Seconds(), "cpu-%")
}

func cpuTime() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// latencies collects per-operation latencies and reports their mean, 50th
// and 95th percentile.
type latencies []time.Duration

func (l latencies) report(b *testing.B, unit string) {
	if len(l) == 0 {
		return
	}
	slices.Sort(l)
	var sum time.Duration
	for _, d := range l {
		sum += d
	}
	ms := func(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
	b.ReportMetric(ms(sum/time.Duration(len(l))), unit)
	b.ReportMetric(ms(l[len(l)/2]), "p50-"+unit)
	b.ReportMetric(ms(l[len(l)*95/100]), "p95-"+unit)
}

// benchNode is a swarm node for a benchmark, whose origin connection is
// open before the clock runs (a player keeps it open).
func benchNode(b *testing.B, srv *origin.Server) *swarm.Node {
	dir := b.TempDir()
	store, err := cache.OpenDisk(filepath.Join(dir, "cache"), srv.URL().Key, cache.Options{Limit: 1 << 30})
	if err != nil {
		b.Fatal(err)
	}
	c := origin.NewClient(srv.URL(), origin.ClientOptions{Transport: origin.TransportQUIC})
	if _, err := c.Info(context.Background()); err != nil {
		b.Fatal(err)
	}
	n, err := swarm.Start(context.Background(), swarm.Config{
		DataDir: dir, Origin: c, Store: store, Listen: "127.0.0.1:0", NoAnnounce: true, Logger: quietLogger(),
	})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() {
		n.Close()
		store.Close()
		c.Close()
	})
	return n
}

// cachedNode is a benchNode that has fetched track id into its cache.
func cachedNode(b *testing.B, srv *origin.Server, id track.ID) *swarm.Node {
	b.Helper()
	n := benchNode(b, srv)
	s, err := n.Open(context.Background(), id, swarm.ModeFetch)
	if err != nil {
		b.Fatal(err)
	}
	io.Copy(io.Discard, s)
	s.Close()
	return n
}

// BenchmarkStartLatency: play asked → first PCM, with the track in the
// node's cache, and with nothing cached (the head comes from an origin on
// loopback, over QUIC).
func BenchmarkStartLatency(b *testing.B) {
	srv := testorigin.Start(b)
	id := demoID(b, srv, "01-first-light.mp3")
	b.Run("cache", func(b *testing.B) {
		n := cachedNode(b, srv, id)
		p, ev := newPlayer(b, NewNullSink(1), nodeOpener(n), func(c *Config) { c.Logger = quietLogger() })
		var lat latencies
		for b.Loop() {
			p.SetQueue([]track.ID{id}, 0)
			lat = append(lat, ev.next(b, TrackStarted).Stats.StartLatency)
		}
		lat.report(b, "start-ms")
	})
	b.Run("origin", func(b *testing.B) {
		var lat latencies
		for b.Loop() {
			b.StopTimer()
			n := benchNode(b, srv)
			p, ev := newPlayer(b, NewNullSink(1), nodeOpener(n), func(c *Config) { c.Logger = quietLogger() })
			b.StartTimer()
			p.SetQueue([]track.ID{id}, 0)
			lat = append(lat, ev.next(b, TrackStarted).Stats.StartLatency)
			b.StopTimer()
			p.Close()
			b.StartTimer()
		}
		lat.report(b, "start-ms")
	})
}

// seekSink signals the first PCM after each Flush (a seek flushes).
type seekSink struct {
	Sink
	mu      sync.Mutex
	flushed bool
	after   chan struct{}
}

func (s *seekSink) Flush() error {
	s.mu.Lock()
	s.flushed = true
	s.mu.Unlock()
	return s.Sink.Flush()
}

func (s *seekSink) Write(p []byte) (int, error) {
	s.mu.Lock()
	if s.flushed {
		s.flushed = false
		s.after <- struct{}{}
	}
	s.mu.Unlock()
	return s.Sink.Write(p)
}

func (s *seekSink) Latency() time.Duration { return s.Sink.(RealTimeSink).Latency() }

// BenchmarkSeekLatency: seek asked → first PCM from the new position,
// to random positions, from memory, from a node's cache, and from an
// origin on loopback (a fresh node each time, the target not fetched yet).
func BenchmarkSeekLatency(b *testing.B) {
	d := demoTrackNamed(b, "01")
	rng := rand.New(rand.NewPCG(1, 1))
	target := func() time.Duration { return time.Duration(rng.Int64N(int64(25 * time.Second))) }
	seekAll := func(b *testing.B, op Opener, id track.ID, fresh func() Opener) {
		var lat latencies
		failed := 0
		for b.Loop() {
			b.StopTimer()
			if fresh != nil {
				op = fresh()
			}
			sink := &seekSink{Sink: NewNullSink(1), after: make(chan struct{}, 1)}
			p, ev := newPlayer(b, sink, op, func(c *Config) { c.Logger = quietLogger() })
			p.SetQueue([]track.ID{id}, 0)
			ev.next(b, TrackStarted)
			to := target()
			b.StartTimer()
			start := time.Now()
			if err := p.Seek(to); err != nil {
				b.Fatal(err)
			}
			select {
			case <-sink.after:
				lat = append(lat, time.Since(start))
			case e := <-ev.ch:
				// The Source failed (a swarm Stream gives up on a chunk).
				failed++
				b.Logf("seek to %s: the play ended: %v", to, e.Stats.Err)
			case <-time.After(30 * time.Second):
				b.Fatalf("seek to %s: no audio after 30s", to)
			}
			b.StopTimer()
			p.Close()
			b.StartTimer()
		}
		lat.report(b, "seek-ms")
		b.ReportMetric(float64(failed), "failed")
	}
	b.Run("memory", func(b *testing.B) { seekAll(b, newSources(d), d.m.ID, nil) })
	srv := testorigin.Start(b)
	id := demoID(b, srv, d.name)
	b.Run("cache", func(b *testing.B) {
		n := cachedNode(b, srv, id)
		seekAll(b, nodeOpener(n), id, nil)
	})
	b.Run("origin", func(b *testing.B) {
		target = func() time.Duration { return 10*time.Second + time.Duration(rng.Int64N(int64(20*time.Second))) }
		seekAll(b, nil, id, func() Opener { return nodeOpener(benchNode(b, srv)) })
	})
}
