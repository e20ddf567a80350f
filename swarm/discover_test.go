package swarm

import (
	"bytes"
	"context"
	"math/rand/v2"
	"net/netip"
	"sync"
	"testing"
	"time"

	"github.com/potluckfm/potluck/cache"
	"github.com/potluckfm/potluck/origin"
)

// dhtNetwork starts size nodes with the DHT on, each bootstrapped from one
// or two nodes started before it, as a network grows.
func dhtNetwork(ts *testSwarm, size int) []*Node {
	ts.t.Helper()
	nodes := make([]*Node, 0, size)
	for i := range size {
		var boot []netip.AddrPort
		for range min(i, 2) {
			boot = append(boot, addrPort(ts.t, nodes[rand.IntN(i)]))
		}
		cfg := ts.config(cache.NewMem(64 << 20))
		cfg.DHT, cfg.Bootstrap = true, boot
		cfg.dhtIDsPerIP = size + 10 // every node is on 127.0.0.1
		// A hundred nodes at once can keep a QUIC handshake with the
		// origin past the default 1.5 s on a loaded machine.
		c := origin.NewClient(ts.url, origin.ClientOptions{Transport: origin.TransportQUIC, QUICDialTimeout: 10 * time.Second})
		ts.t.Cleanup(func() { c.Close() })
		cfg.Origin = c
		nodes = append(nodes, ts.start(cfg))
	}
	return nodes
}

func addrPort(t testing.TB, n *Node) netip.AddrPort {
	t.Helper()
	ap, err := netip.ParseAddrPort(n.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	return ap
}

// TestDHTFindsHoldersWithTheOriginDown: in a network of nodes that each
// joined through one or two others, three hold a track; the origin dies;
// a new node given one bootstrap address that does not hold the track
// finds a holder through the DHT and gets the manifest and every chunk,
// byte for byte. Then again with a fifth of the nodes gone.
func TestDHTFindsHoldersWithTheOriginDown(t *testing.T) {
	size := 100
	if testing.Short() {
		size = 30
	}
	// Every node's origin client comes from 127.0.0.1.
	ts := startTestSwarm(t, nil, func(c *origin.Config) { c.Limits.ConnsPerAddr = 4 * size })
	m, want := ts.track()
	start := time.Now()
	nodes := dhtNetwork(ts, size)
	t.Cleanup(func() { // at once: each waits up to 500 ms to leave the dead origin's tracker
		var wg sync.WaitGroup
		for _, n := range nodes {
			wg.Go(func() { n.Close() })
		}
		wg.Wait()
	})
	holders := nodes[size-3:] // the youngest: the fewest others know them
	for _, h := range holders {
		// A loaded machine can keep the holder's first handshake with the
		// origin past the manifest's 3 s; the fetch is not what is tested.
		// (A manifest, not an announce: announces from one IP are rate
		// limited, and every node here is on 127.0.0.1.)
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		_, _, err := h.origin.Manifest(ctx, m.ID)
		cancel()
		if err != nil {
			t.Fatalf("holder %s cannot reach the origin: %v", h.ID().Short(), err)
		}
		if got, _ := fetch(t, h, m.ID); !bytes.Equal(got, want) {
			t.Fatalf("holder %s fetched %d bytes", h.ID().Short(), len(got))
		}
		h.AnnounceNow()
	}
	key := holders[0].dhtKey(m.ID)
	// Each holder keeps its tracks announced on its own (KeepAnnounced);
	// announcing here as well only makes the wait short and certain.
	for _, h := range holders {
		for try := 0; ; try++ {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			stored, err := h.DHT().Announce(ctx, key)
			cancel()
			if stored > 0 {
				break
			}
			if try == 5 {
				t.Fatalf("holder %s could not announce in the DHT: %v", h.ID().Short(), err)
			}
		}
	}
	for end := time.Now().Add(60 * time.Second); ; {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		found, _ := nodes[0].DHT().Holders(ctx, key)
		cancel()
		if len(found) > 0 {
			break
		}
		if time.Now().After(end) {
			t.Fatal("a node that never met the holders does not find them in the DHT")
		}
		time.Sleep(200 * time.Millisecond)
	}
	t.Logf("%d nodes up and 3 holders announced in %v", size, time.Since(start).Round(time.Millisecond))
	ts.stopOrigin()

	newcomer := func(boot *Node) []byte {
		cfg := ts.config(cache.NewMem(64 << 20))
		cfg.DHT, cfg.Bootstrap, cfg.NoAnnounce = true, []netip.AddrPort{addrPort(t, boot)}, true
		cfg.dhtIDsPerIP = size + 10
		n := ts.start(cfg)
		t0 := time.Now()
		got, st := fetch(t, n, m.ID)
		t.Logf("new node fetched %d bytes in %v, first peer after %v", len(got), time.Since(t0).Round(time.Millisecond), st.FirstPeer.Round(time.Millisecond))
		return got
	}
	if got := newcomer(nodes[size/2]); !bytes.Equal(got, want) {
		t.Fatalf("with the origin down the new node got %d bytes of %d", len(got), len(want))
	}

	// A fifth of the nodes leave (never the holders nor the bootstrap).
	gone, t0 := 0, time.Now()
	var wg sync.WaitGroup
	for _, i := range rand.Perm(size - 3) {
		if i == 1 || gone == size/5 {
			continue
		}
		wg.Go(func() { nodes[i].Close() })
		gone++
	}
	wg.Wait()
	t.Logf("%d nodes closed in %v", gone, time.Since(t0).Round(time.Millisecond))
	if got := newcomer(nodes[1]); !bytes.Equal(got, want) {
		t.Fatalf("with %d nodes gone the new node got %d bytes of %d", gone, len(got), len(want))
	}
}
