package swarm

import (
	"context"
	"crypto/ed25519"
	"errors"
	"testing"
	"time"

	"github.com/potluckfm/potluck/origin"
)

// TestOriginPunchesBounded: a connection with the origin's key may
// deliver PUNCHes, and nothing else; the node answers at most
// originPunchBurst at once, then busy, and never takes the origin for a
// peer.
func TestOriginPunchesBounded(t *testing.T) {
	var key ed25519.PrivateKey
	ts := startTestSwarm(t, nil, func(c *origin.Config) { key = c.Key })
	n := ts.node(nil)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	m, _ := ts.track()
	punch := request{typ: msgPunch, peer: "asker", addr: "127.0.0.1:9", delay: 0}

	c, err := ts.dialAs(n, key)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.manifest(ctx, m.ID); !errors.Is(err, ErrBadRequest) {
		t.Errorf("the origin's MANIFEST: %v, want bad request", err)
	}
	ok, busy := 0, 0
	for i := 1; i < 2*originPunchesPerConn; i++ {
		if i == originPunchesPerConn { // the first connection's requests are spent
			c.conn.CloseWithError(0, "")
			if c, err = ts.dialAs(n, key); err != nil {
				t.Fatal(err)
			}
		}
		_, err := c.getBytes(ctx, punch, 0)
		switch {
		case err == nil:
			ok++
		case errors.Is(err, ErrBusy):
			busy++
		default:
			t.Errorf("PUNCH %d: %v", i, err)
		}
	}
	if ok < originPunchBurst || ok > originPunchBurst+2 || busy == 0 {
		t.Errorf("%d PUNCHes taken, %d busy; want %d taken (one a second more), then busy", ok, busy, originPunchBurst)
	}
	if peers := n.Peers(); len(peers) != 0 {
		t.Errorf("the node lists %v as peers", peers)
	}
	if got := n.Reachability(); got.State == ReachPublic || got.Direct != 0 {
		t.Errorf("the origin's connections count: %+v", got)
	}
}
