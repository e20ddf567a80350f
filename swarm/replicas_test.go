package swarm

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"net/netip"
	"testing"
	"time"

	"github.com/potluckfm/potluck/assets"
	"github.com/potluckfm/potluck/cache"
	"github.com/potluckfm/potluck/origin"
)

// TestReplicasFormOneSwarm: two replicas of one origin (one key, one
// library), each with its own tracker, and a listener of each, both
// joined to the DHT through a third. The first listener holds a track;
// the second, whose tracker has never heard of the first, fetches it
// mostly from it.
func TestReplicasFormOneSwarm(t *testing.T) {
	_, key, _ := ed25519.GenerateKey(nil)
	ts := startTestSwarm(t, nil, func(c *origin.Config) { c.Key = key })
	second, err := origin.Start(context.Background(), origin.Config{
		Library: assets.Demo(), Key: key, Listen: "127.0.0.1:0", Logger: ts.log, TrackerTTL: time.Minute,
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
		defer cancel()
		second.Shutdown(ctx)
	})
	a, b := ts.url.Addr, second.URL().Addr
	// Both listeners have the replicas' URL; each sticks to the replica
	// it reached first, here one each.
	listener := func(first, other string, boot []netip.AddrPort) (*Node, *origin.Client) {
		cfg := ts.config(cache.NewMem(64 << 20))
		u := origin.URL{Addr: first, Addrs: []string{first, other}, Key: ts.url.Key}
		c := origin.NewClient(u, origin.ClientOptions{Transport: origin.TransportQUIC})
		t.Cleanup(func() { c.Close() })
		cfg.Origin, cfg.DHT, cfg.Bootstrap = c, true, boot
		return ts.start(cfg), c
	}
	m, want := ts.track()

	// A third listener is the DHT's bootstrap node for both.
	boot, _ := listener(a, b, nil)
	holder, _ := listener(a, b, []netip.AddrPort{addrPort(t, boot)})
	if got, _ := fetch(t, holder, m.ID); !bytes.Equal(got, want) {
		t.Fatalf("holder fetched %d bytes of %d", len(got), len(want))
	}
	ts.waitListed(holder, m.ID)
	dkey := holder.dhtKey(m.ID)
	for try := 0; ; try++ {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		stored, err := holder.DHT().Announce(ctx, dkey)
		cancel()
		if stored > 0 {
			break
		}
		if try == 5 {
			t.Fatalf("holder could not announce in the DHT: %v", err)
		}
		time.Sleep(200 * time.Millisecond)
	}

	newcomer, client := listener(b, a, []netip.AddrPort{addrPort(t, boot)})
	if peers := second.Tracker().Peers(m.ID, "", 50); len(peers) != 0 {
		t.Fatalf("the second replica's tracker lists %v: the trackers are meant to be apart", peers)
	}
	got, st := fetch(t, newcomer, m.ID)
	if !bytes.Equal(got, want) {
		t.Fatalf("newcomer fetched %d bytes of %d", len(got), len(want))
	}
	if addr := client.Addr(); addr != b {
		t.Errorf("the newcomer's requests went to %s, want its replica %s", addr, b)
	}
	t.Logf("size %d: %d bytes from peers, %d from the origin", m.Size, st.FromPeers, st.FromOrigin)
	if st.FromPeers < m.Size/2 {
		t.Errorf("only %d of %d bytes from the other replica's listener, want at least half", st.FromPeers, m.Size)
	}
}
