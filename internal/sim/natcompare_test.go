package sim

import (
	"context"
	"encoding/json"
	"os"
	"sync"
	"testing"
	"testing/synctest"
	"time"
)

// runNATComparison runs cfg's three NAT configurations (NATConfigs) at
// once, each in its own synctest bubble.
func runNATComparison(t *testing.T, cfg Config) *NATComparison {
	t.Helper()
	if cfg.FrameDecode == 0 {
		withFrameDecode(t, &cfg)
	}
	trav, noTrav, noNAT := NATConfigs(cfg)
	cmp := &NATComparison{}
	var wg sync.WaitGroup
	for _, run := range []struct {
		name string
		cfg  Config
		rep  **Report
	}{{"nat-traversal", trav, &cmp.Traversal}, {"nat-no-traversal", noTrav, &cmp.NoTraversal}, {"no-nat", noNAT, &cmp.NoNAT}} {
		wg.Go(func() {
			t.Run(run.name, func(t *testing.T) {
				synctest.Test(t, func(t *testing.T) {
					rep, _, err := Run(context.Background(), run.cfg)
					if err != nil {
						t.Error(err)
					}
					*run.rep = rep
				})
			})
		})
	}
	wg.Wait()
	if cmp.Traversal == nil || cmp.NoTraversal == nil || cmp.NoNAT == nil {
		t.FailNow()
	}
	return cmp
}

// TestNATTraversal runs a small swarm, most of it behind cone NATs, with
// traversal, without, and without NATs, in virtual time, and checks that
// punching connects pairs that could not connect without it, that NATs
// cost peer share and that traversal wins it back.
func TestNATTraversal(t *testing.T) {
	if raceEnabled {
		// Three runs of a swarm big enough to have NATed pairs take
		// minutes under -race; TestNATFiltering and TestNATPunch run
		// there, and scripts/test runs this one without it.
		t.Skip("three swarm runs: too slow under the race detector")
	}
	cfg := testConfig(ModeP2P)
	// Cone NATs only: TestNATPunch covers symmetric ones.
	cfg.Net.NAT, cfg.Net.NATSymmetric = 0.8, -1
	if testing.Short() {
		cfg.Duration = min(cfg.Duration, 2*time.Minute)
	}
	cmp := runNATComparison(t, cfg)
	t.Logf("\n%s", cmp.Markdown())
	trav, noTrav, noNAT := cmp.Traversal.NAT, cmp.NoTraversal.NAT, cmp.NoNAT.NAT
	if trav.Share < 0.7 || noNAT.Share != 0 {
		t.Errorf("NAT shares %.2f and %.2f (no NAT): want 0.8 and 0", trav.Share, noNAT.Share)
	}
	if trav.Pairs.Punched == 0 || trav.TimeToPunchedMS.N == 0 {
		t.Errorf("with traversal no pair connected by punching (%+v)", trav.Pairs)
	}
	if noTrav.Pairs.Punched != 0 {
		t.Errorf("%d pairs punched without traversal: want none", noTrav.Pairs.Punched)
	}
	if trav.UnconnectedShare >= noTrav.UnconnectedShare {
		t.Errorf("%.1f%% of pairs unconnected with traversal, %.1f%% without: want fewer with",
			100*trav.UnconnectedShare, 100*noTrav.UnconnectedShare)
	}
	// A dial lost to the links' loss leaves a pair or two unconnected in
	// any run, NATs or not: "no more" within a tenth of the pairs.
	if noNAT.UnconnectedShare > trav.UnconnectedShare+0.1 {
		t.Errorf("%.1f%% of pairs unconnected without NATs, %.1f%% with NATs and traversal: want no more without",
			100*noNAT.UnconnectedShare, 100*trav.UnconnectedShare)
	}
	// NATs cost peer share; traversal wins it back, up to about the
	// share without NATs.
	if cmp.NoNAT.PeerShare <= cmp.NoTraversal.PeerShare {
		t.Errorf("peer share %.3f without NATs, %.3f behind NATs without traversal: want more without NATs",
			cmp.NoNAT.PeerShare, cmp.NoTraversal.PeerShare)
	}
	if cmp.Traversal.PeerShare <= cmp.NoTraversal.PeerShare {
		t.Errorf("peer share %.3f with traversal, %.3f without: want more with", cmp.Traversal.PeerShare, cmp.NoTraversal.PeerShare)
	}
	if cmp.Traversal.PeerShare > cmp.NoNAT.PeerShare+0.05 {
		t.Errorf("peer share %.3f behind NATs with traversal, %.3f without NATs: want no more than about the same",
			cmp.Traversal.PeerShare, cmp.NoNAT.PeerShare)
	}
}

// TestNATCompare runs the benchmark's NAT comparison in virtual time (the
// figures of docs/benchmark.md, "NAT") and writes it as JSON. It runs only
// when asked:
//
//	POTLUCK_SIM_NAT_COMPARE=out.json go test -run TestNATCompare -timeout 2h -v ./internal/sim/
//
// with the default configuration, changed as envConfig says.
func TestNATCompare(t *testing.T) {
	out := os.Getenv("POTLUCK_SIM_NAT_COMPARE")
	if out == "" {
		t.Skip("set POTLUCK_SIM_NAT_COMPARE=FILE to compare the benchmark with NATs, without traversal and without NATs")
	}
	cmp := runNATComparison(t, envConfig(t))
	b, err := json.MarshalIndent(cmp, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(out, append(b, '\n'), 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("\n%s", cmp.Markdown())
}
