//go:build race

package sim

import "time"

// Under the race detector the MP3 decoder runs about ten times slower, so
// the test swarm is smaller and shorter (docs/benchmark.md, "Tests").
const (
	testListeners = 4
	testDuration  = 90 * time.Second
	raceEnabled   = true
)
