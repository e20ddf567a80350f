package dht

import (
	"context"
	"math/rand/v2"
	"net/netip"
	"slices"
	"sync"
	"testing"
	"time"
)

// startNetwork starts n nodes on distinct loopback addresses at once,
// each bootstrapped from node 0 alone.
func startNetwork(t testing.TB, n int) []*testNode {
	t.Helper()
	nodes := make([]*testNode, n)
	nodes[0] = startNode(t, loopback(0), nil)
	boot := []netip.AddrPort{nodes[0].ap}
	var wg sync.WaitGroup
	for i := 1; i < n; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			nodes[i] = startNode(t, loopback(i), boot)
		}()
	}
	wg.Wait()
	return nodes
}

// convergence starts a network of n nodes and returns how long after the
// start a lookup from one random node first found a holder that
// announced at another random node as soon as it started.
func convergence(t testing.TB, n int, seed uint64) time.Duration {
	start := time.Now()
	nodes := startNetwork(t, n)
	defer func() {
		for _, nd := range nodes {
			nd.close()
		}
	}()
	r := rand.New(rand.NewPCG(seed, 1))
	a := nodes[r.IntN(n)]
	b := a
	for b == a {
		b = nodes[r.IntN(n)]
	}
	key := [20]byte{byte(seed), 0xd, 0x7}
	a.d.KeepAnnounced([][20]byte{key})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for ctx.Err() == nil {
		hs, _ := b.d.Holders(ctx, key)
		if contains(hs, a.ap) {
			return time.Since(start)
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("no lookup found the holder within 30 s")
	return 0
}

func TestConvergence(t *testing.T) {
	const n = 30
	var worst time.Duration
	for seed := range uint64(3) {
		d := convergence(t, n, seed)
		t.Logf("%d nodes, seed %d: a lookup found the holder %v after start", n, seed, d.Round(time.Millisecond))
		worst = max(worst, d)
	}
	if worst > 15*time.Second {
		t.Errorf("slowest convergence %v, want under 15 s", worst)
	}
}

// BenchmarkConvergence reports, per op, the time from starting a 30-node
// network (each node bootstrapped from node 0 alone) until a lookup from
// a random node finds a holder that announced at another random node.
func BenchmarkConvergence(b *testing.B) {
	var ds []time.Duration
	for i := 0; i < b.N; i++ {
		ds = append(ds, convergence(b, 30, uint64(i)))
	}
	slices.Sort(ds)
	b.ReportMetric(float64(ds[len(ds)/2].Milliseconds()), "median-ms")
	b.ReportMetric(float64(ds[len(ds)-1].Milliseconds()), "max-ms")
}
