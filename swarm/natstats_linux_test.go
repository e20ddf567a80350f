//go:build linux

package swarm

import (
	"context"
	"net"
	"testing"
	"time"

	"github.com/potluckfm/potluck/internal/natlab"
)

// TestNATTraversalStats: A reaches B, both behind cone NATs, by punching
// through the rendezvous; A's TraversalStats say it tried B, connected by
// punching, and how long that took from the first dial.
func TestNATTraversalStats(t *testing.T) {
	_, _, a, b, _, _, listedB := natPair(t, natlab.Cone)
	start := time.Now()
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	if _, err := a.conn(ctx, PeerAddr{ID: b.ID(), Addr: listedB}); err != nil {
		t.Fatalf("A did not reach B: %v", err)
	}
	took := time.Since(start)
	st := a.TraversalStats()
	if got := st.Peers[b.ID()]; !got.Tried || got.Punched != 1 || got.Direct != 0 {
		t.Errorf("A's record of B: %+v, want tried and 1 punched connection", got)
	}
	if len(st.PunchTimes) != 1 || st.PunchTimes[0] <= 0 || st.PunchTimes[0] > took {
		t.Errorf("A's punch times %v, want one within the %v the dial took", st.PunchTimes, took)
	}
	if st.PunchesOK == 0 {
		t.Errorf("A counts no punch that made a hole: %+v", st)
	}
	// B accepts A's connection as A's handshake ends.
	var got PeerReach
	for wait := time.Now(); time.Since(wait) < 2*time.Second; time.Sleep(10 * time.Millisecond) {
		if got = b.TraversalStats().Peers[a.ID()]; got.Punched > 0 {
			break
		}
	}
	if got.Tried || got.Punched != 1 {
		t.Errorf("B's record of A: %+v, want not tried, 1 punched connection", got)
	}
}

// TestNATNoPunch: with Config.NoPunch, A behind a cone NAT does not
// punch: B behind another is not reached, and A's stats say it tried.
func TestNATNoPunch(t *testing.T) {
	ns := newNATSwarm(t)
	hA, hB := ns.lab.NATHost(1, natlab.Cone), ns.lab.NATHost(2, natlab.Cone)
	r := ns.nodeIn(ns.lab.NS("inet"), nil)
	a := ns.nodeIn(hA, func(c *Config) { c.NoPunch = true })
	b := ns.nodeIn(hB, nil)
	resp, err := b.Announce(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	_, port, _ := net.SplitHostPort(r.Addr().String())
	rAddr := net.JoinHostPort(natlab.PublicIP, port)
	meet(t, a, r, rAddr)
	meet(t, b, r, rAddr)
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	if c, err := a.conn(ctx, PeerAddr{ID: b.ID(), Addr: resp.Addr}); err == nil {
		t.Fatalf("A reached B (kind %d) with punching off", c.kind)
	}
	st := a.TraversalStats()
	if got := st.Peers[b.ID()]; !got.Tried || got.Direct+got.Punched != 0 {
		t.Errorf("A's record of B: %+v, want tried, never connected", got)
	}
	if got := st.Peers[r.ID()]; !got.Tried || got.Direct != 1 {
		t.Errorf("A's record of the rendezvous: %+v, want tried, 1 direct connection", got)
	}
	if len(st.PunchTimes) != 0 || st.PunchesOK+st.PunchesFailed != 0 {
		t.Errorf("A punched with punching off: %+v", st)
	}
}
