package swarm

import (
	"context"
	"crypto/ed25519"
	"errors"
	"net"
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

// TestDialBehindNATPunchesAtOnce: a dial of a peer the tracker said is
// behind a NAT asks for a punch at once, beside the dial; any other dial
// gives the direct dial punchHeadStart first. The peer here never
// answers, so both attempts fail and the dial's error is returned.
func TestDialBehindNATPunchesAtOnce(t *testing.T) {
	ts := newTestSwarm(t)
	n := ts.node(nil)
	for _, behindNAT := range []bool{true, false} {
		silent, err := net.ListenPacket("udp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer silent.Close()
		_, key, _ := ed25519.GenerateKey(nil)
		p := PeerAddr{ID: IDFromKey(key.Public().(ed25519.PublicKey)), Addr: silent.LocalAddr().String()}
		n.confirm(p)
		if behindNAT {
			n.noteBehindNAT(p.Addr)
		}
		start := time.Now()
		done := make(chan error, 1)
		go func() {
			_, err := n.conn(context.Background(), p)
			done <- err
		}()
		var began time.Duration
		for began == 0 {
			n.mu.Lock()
			_, active := n.punch.active[p.ID]
			_, failed := n.punch.failed[p.ID]
			n.mu.Unlock()
			if active || failed {
				began = time.Since(start)
			}
			time.Sleep(time.Millisecond)
		}
		if err := <-done; err == nil {
			t.Fatal("reached a peer that never answers")
		}
		t.Logf("behind a NAT %v: the punch began %v after the dial", behindNAT, began.Round(time.Millisecond))
		if behindNAT && began >= punchHeadStart {
			t.Errorf("a peer behind a NAT: the punch began %v after the dial, want at once", began)
		}
		if !behindNAT && began < punchHeadStart {
			t.Errorf("a peer not known to be behind a NAT: the punch began %v after the dial, before the head start %v", began, punchHeadStart)
		}
	}
}
