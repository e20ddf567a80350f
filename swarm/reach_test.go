package swarm

import (
	"bytes"
	"encoding/hex"
	"net/netip"
	"testing"
	"time"
)

// A NAT traversal request with an empty peer ID or a cut body is a bad
// request (their golden bytes are in TestRequestGoldenBytes).
func TestPunchRequestMalformed(t *testing.T) {
	for _, bad := range []string{"504c4b010900", "504c4b010902616", "504c4b010a0261620000"} {
		b, _ := hex.DecodeString(bad)
		if _, err := readRequest(bytes.NewReader(b)); err == nil {
			t.Errorf("%s read as a request", bad)
		}
	}
}

// An observed address is trusted when the origin says it, or when peers
// of two IPs agree; one peer's word is not enough.
func TestPublicAddressTrust(t *testing.T) {
	n := &Node{}
	ip := netip.MustParseAddr
	n.noteObserved(ip("11.0.0.5"), "11.0.0.1:4000")
	if got := n.PublicAddr(); got.IsValid() {
		t.Fatalf("one peer's word trusted: %v", got)
	}
	n.noteObserved(ip("11.0.0.5"), "11.0.0.1:4000") // the same peer again
	n.noteObserved(ip("11.0.0.6"), "11.0.0.9:4000") // another disagrees
	if got := n.PublicAddr(); got.IsValid() {
		t.Fatalf("trusted %v without two agreeing peers", got)
	}
	n.noteObserved(ip("11.0.0.7"), "11.0.0.1:4000")
	if got := n.PublicAddr(); got != netip.MustParseAddrPort("11.0.0.1:4000") {
		t.Fatalf("two agreeing peers: %v", got)
	}
	n.noteOriginSaw("11.0.0.2:5000")
	if got := n.PublicAddr(); got != netip.MustParseAddrPort("11.0.0.2:5000") {
		t.Fatalf("the origin's word: %v", got)
	}
	if got := n.Reachability().State; got != ReachUnknown {
		t.Errorf("state %q with no evidence, want unknown", got)
	}
}

// A LAN peer starts with lanRatePrior as its rate: when it and an untried
// peer hold the same chunks, the scheduler asks the LAN peer first.
func TestLANPeerPreferred(t *testing.T) {
	for _, lan := range []PeerID{"a", "z"} { // whatever the tie rank says
		s := testSnapshot(6, ModeFetch)
		s.cfg.Head = time.Millisecond
		s.got = bits(6, 0, 1)
		s.peers["a"], s.peers["z"] = holder(all(6), 0), holder(all(6), 0)
		s.peers[lan] = holder(all(6), lanRatePrior)
		var asked []PeerID
		for _, a := range decide(s) {
			if a.kind == actRequest {
				asked = append(asked, a.peer)
			}
		}
		if len(asked) == 0 || asked[0] != lan {
			t.Errorf("LAN peer %s: asked %v first", lan, asked)
		}
	}
}
