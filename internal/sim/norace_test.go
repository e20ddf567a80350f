//go:build !race

package sim

import "time"

const (
	testListeners = 10
	testDuration  = 3 * time.Minute
	raceEnabled   = false
	testNAT       = 0 // the default share of listeners behind NATs
)
