package swarm

import (
	"bytes"
	"encoding/hex"
	"net/netip"
	"testing"
	"time"
)

// Golden bytes of the NAT traversal requests (docs/protocol.md).
func TestPunchRequestGoldenBytes(t *testing.T) {
	nonce := [16]byte{0xa0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 0xaf}
	for _, tc := range []struct {
		req  request
		want string
	}{
		{request{typ: msgObserved}, "504c4b0108"},
		{request{typ: msgPunchVia, peer: "ab", nonce: nonce, delay: 100},
			"504c4b0109" + "02" + "6162" + "a00102030405060708090a0b0c0d0eaf" + "0064"},
		{request{typ: msgPunch, peer: "ab", addr: "1.2.3.4:5", nonce: nonce, delay: 100},
			"504c4b010a" + "02" + "6162" + "09" + "312e322e332e343a35" + "a00102030405060708090a0b0c0d0eaf" + "0064"},
	} {
		var buf bytes.Buffer
		if err := writeRequest(&buf, tc.req); err != nil {
			t.Fatal(err)
		}
		if got := hex.EncodeToString(buf.Bytes()); got != tc.want {
			t.Errorf("request %d: %s, want %s", tc.req.typ, got, tc.want)
		}
		back, err := readRequest(&buf)
		if err != nil || back != tc.req {
			t.Errorf("request %d: read back %+v, %v", tc.req.typ, back, err)
		}
	}
	// An empty peer ID or a cut body is a bad request.
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
