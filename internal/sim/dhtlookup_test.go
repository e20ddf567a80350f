package sim

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net"
	"net/netip"
	"os"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/quic-go/quic-go"

	"github.com/potluckfm/potluck/swarm/dht"
)

// TestDHTLookups measures DHT lookups on the sim's emulated links, in
// virtual time: N nodes with the default NetProfile's links (round trips
// of 20 to 80 ms to the origin, a listener-to-listener delay the sum of
// both access delays, 0.5% loss, jitter), each joining through one or two
// nodes started before it, 50 ms apart; after they settle (60 s), three
// random nodes announce one key, and lookups from random other nodes,
// one at a time, measure the time to the first holder an answer names
// and the DHT datagrams each lookup cost the looking node (sent and
// received, until the lookup ended) and the whole network (sent by all
// nodes while it ran, background maintenance included). The tracker's
// answer, for comparison, is one round trip to the origin. It runs only
// when asked:
//
//	POTLUCK_SIM_DHT_LOOKUPS=100,1000 go test -run TestDHTLookups -timeout 1h -v ./internal/sim/
//
// POTLUCK_SIM_DHT_QUERIES sets the number of lookups (default 100).
func TestDHTLookups(t *testing.T) {
	list := os.Getenv("POTLUCK_SIM_DHT_LOOKUPS")
	if list == "" {
		t.Skip("set POTLUCK_SIM_DHT_LOOKUPS=100,1000 to measure DHT lookups by network size")
	}
	queries := 100
	if v := os.Getenv("POTLUCK_SIM_DHT_QUERIES"); v != "" {
		var err error
		if queries, err = strconv.Atoi(v); err != nil {
			t.Fatal(err)
		}
	}
	for f := range strings.SplitSeq(list, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || n < 5 {
			t.Fatalf("POTLUCK_SIM_DHT_LOOKUPS=%q: want sizes of 5 or more", list)
		}
		t.Run(strconv.Itoa(n), func(t *testing.T) {
			start := time.Now()
			var res dhtLookupResult
			synctest.Test(t, func(t *testing.T) { res = measureDHTLookups(t, n, queries, 1) })
			var ms runtime.MemStats
			runtime.ReadMemStats(&ms)
			t.Logf("%d nodes: %s (%s of wall time, %.0f MB of heap in all)", n, res, time.Since(start).Round(time.Second), float64(ms.HeapSys)/1e6)
		})
	}
}

type dhtLookupResult struct {
	first, tracker          Percentiles // ms
	found, lookups          int
	ownMsgs, ownMsgsAtFirst Percentiles // the looking node's datagrams, sent and received
	netMsgs                 Percentiles // datagrams all nodes sent while the lookup ran
	announceStored, good    []int
	goodMedian              int
}

func (r dhtLookupResult) String() string {
	return fmt.Sprintf("holder found in %d of %d lookups; time to first holder p50 %.0f ms, p90 %.0f ms, p99 %.0f ms "+
		"(tracker: one round trip, p50 %.0f ms, p90 %.0f ms); datagrams of the looking node per lookup p50 %.0f, p90 %.0f "+
		"(%.0f, %.0f until the first holder); datagrams all nodes sent during a lookup p50 %.0f, p90 %.0f; "+
		"announces stored at %v nodes; good nodes in a table, median %d",
		r.found, r.lookups, r.first.P50, r.first.P90, r.first.P99, r.tracker.P50, r.tracker.P90,
		r.ownMsgs.P50, r.ownMsgs.P90, r.ownMsgsAtFirst.P50, r.ownMsgsAtFirst.P90, r.netMsgs.P50, r.netMsgs.P90,
		r.announceStored, r.goodMedian)
}

type dhtTestNode struct {
	ep  *endpoint
	tr  *quic.Transport
	d   *dht.DHT
	ap  netip.AddrPort
	rtt time.Duration
}

func measureDHTLookups(t *testing.T, n, queries int, seed uint64) dhtLookupResult {
	cfg := Config{Seed: seed}.withDefaults()
	r := &run{cfg: cfg}
	r.nw = newNetwork(cfg)
	r.nw.sn.Start()
	defer r.nw.sn.Close()
	rng := rand.New(rand.NewPCG(seed, 0xd47))
	ctx := context.Background()

	nodes := make([]*dhtTestNode, 0, n)
	defer func() {
		for _, nd := range nodes {
			nd.d.Close()
			nd.tr.Close()
			nd.ep.Close()
		}
	}()
	for i := range n {
		l := r.newListener(i)
		ep := r.nw.newEndpoint(l.link, false, uint64(i)|streamLoss<<56)
		tr := &quic.Transport{Conn: ep}
		var boot []netip.AddrPort
		if i > 0 {
			for range 1 + rng.IntN(2) {
				boot = append(boot, nodes[rng.IntN(i)].ap)
			}
		}
		ap := ep.LocalAddr().(*net.UDPAddr).AddrPort()
		// The emulated addresses are public: a node ID must fit its IP
		// (BEP 42) for other nodes to keep it.
		d, err := dht.Start(ctx, dht.Config{Transport: tr, PublicIP: ap.Addr().Unmap(), Bootstrap: func() []netip.AddrPort { return boot }})
		if err != nil {
			t.Fatal(err)
		}
		nodes = append(nodes, &dhtTestNode{ep: ep, tr: tr, d: d, ap: netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port()), rtt: l.rtt})
		time.Sleep(50 * time.Millisecond)
	}
	time.Sleep(time.Minute)

	var res dhtLookupResult
	var good []int
	for _, nd := range nodes {
		good = append(good, nd.d.Stats().GoodNodes)
	}
	slices.Sort(good)
	res.goodMedian = good[len(good)/2]

	key := [20]byte{0x70, 0x07, byte(seed)}
	perm := rng.Perm(n)
	holders := map[netip.AddrPort]bool{}
	for _, i := range perm[:3] {
		stored, err := nodes[i].d.Announce(ctx, key)
		if err != nil {
			t.Logf("announce from node %d: %v", i, err)
		}
		res.announceStored = append(res.announceStored, stored)
		holders[nodes[i].ap] = true
	}
	time.Sleep(time.Second)

	sentByAll := func() uint64 {
		var s uint64
		for _, nd := range nodes {
			s += nd.d.Stats().Sent
		}
		return s
	}
	var first, tracker, own, ownFirst, netMsgs []float64
	for q := range queries {
		nd := nodes[perm[3+q%(n-3)]]
		own0 := nd.d.Stats()
		net0 := sentByAll()
		t0 := time.Now()
		found := false
		lctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		for a := range nd.d.Find(lctx, key) {
			if holders[a] && !found {
				found = true
				first = append(first, float64(time.Since(t0))/float64(time.Millisecond))
				st := nd.d.Stats()
				ownFirst = append(ownFirst, float64(st.Sent+st.Received-own0.Sent-own0.Received))
			}
		}
		cancel()
		st := nd.d.Stats()
		own = append(own, float64(st.Sent+st.Received-own0.Sent-own0.Received))
		netMsgs = append(netMsgs, float64(sentByAll()-net0))
		tracker = append(tracker, float64(nd.rtt)/float64(time.Millisecond))
		if found {
			res.found++
		}
		res.lookups++
		time.Sleep(100 * time.Millisecond)
	}
	res.first, res.tracker = percentiles(first), percentiles(tracker)
	res.ownMsgs, res.ownMsgsAtFirst, res.netMsgs = percentiles(own), percentiles(ownFirst), percentiles(netMsgs)
	return res
}
