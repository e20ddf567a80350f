//go:build race

package sim

import "time"

// Under the race detector the MP3 decoder runs about ten times slower, so
// the test swarm is smaller and shorter (docs/benchmark.md, "Tests").
const (
	testListeners = 4
	testDuration  = 90 * time.Second
	raceEnabled   = true
	// testNAT puts no listener behind a NAT: of four, the default share
	// leaves one public, and the few tracks they share then sit mostly
	// behind NATs that a 90-second run cannot punch through in time, so
	// "peers take load off the origin" would test the draw. NAT is
	// tested on its own (TestNATFiltering, TestNATPunch, and, without
	// the race detector, TestNATTraversal).
	testNAT = -1
)
