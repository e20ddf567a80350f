package app

import (
	"strings"
	"testing"
)

func TestReachText(t *testing.T) {
	got := reachText(SwarmStatus{Reach: "reachable after punching", PublicAddr: "203.0.113.9:7000", DirectPeers: 2, PunchedPeers: 1, LANPeers: 3})
	for _, want := range []string{"hole punching", "203.0.113.9:7000", "2 direct, 1 punched, 3 on this network"} {
		if !strings.Contains(got, want) {
			t.Errorf("%q does not say %q", got, want)
		}
	}
	if got := reachText(SwarmStatus{}); !strings.Contains(got, "not known yet") {
		t.Errorf("unknown: %q", got)
	}
}
