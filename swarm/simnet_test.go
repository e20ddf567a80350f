package swarm

import (
	"io"
	"log/slog"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/marcopolo/simnet"

	"github.com/potluckfm/potluck/origin"
)

// simNet is an emulated network for swarm tests: every endpoint is a
// net.PacketConn on a link of 100 Mbit/s each way, 5 ms from every other.
// Under it the QUIC stack is the real one; inside testing/synctest no one
// waits on a socket, so the virtual clock runs while the test sleeps.
type simNet struct {
	sn   *simnet.Simnet
	mu   sync.Mutex // guards next and sn's endpoints
	next int
}

// newSimSwarm is newTestSwarm on an emulated network: the origin (QUIC,
// HTTP/3 and the tracker) and every node the test starts reach each other
// only through it. Call it inside synctest.Test. edit, if not nil, changes
// the origin's config.
func newSimSwarm(t *testing.T, edit func(*origin.Config)) *testSwarm {
	t.Helper()
	return startTestSwarm(t, newSimNet(t), edit)
}

// newSimNet starts an emulated network; it stops with the test.
func newSimNet(t testing.TB) *simNet {
	nw := &simNet{sn: &simnet.Simnet{
		LatencyFunc: simnet.StaticLatency(5 * time.Millisecond),
		Logger:      slog.New(slog.NewTextHandler(io.Discard, nil)),
	}}
	nw.sn.Start()
	t.Cleanup(nw.sn.Close)
	return nw
}

// endpoint adds an endpoint at the next address; it closes with the test.
func (nw *simNet) endpoint(t testing.TB) net.PacketConn {
	nw.mu.Lock()
	nw.next++
	n := nw.next
	nw.mu.Unlock()
	return nw.endpointAt(t, &net.UDPAddr{IP: simnet.IntToPublicIPv4(n), Port: 4433})
}

// endpointAt adds an endpoint at addr, in place of one closed there (a
// server that restarts where it was); it closes with the test.
func (nw *simNet) endpointAt(t testing.TB, addr *net.UDPAddr) net.PacketConn {
	link := simnet.LinkSettings{BitsPerSecond: 100_000_000}
	nw.mu.Lock() // simnet's NewEndpoint is not safe for concurrent use
	c := nw.sn.NewEndpoint(addr, simnet.NodeBiDiLinkSettings{Downlink: link, Uplink: link})
	nw.mu.Unlock()
	t.Cleanup(func() { c.Close() })
	return c
}
