//go:build linux

package nat

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/potluckfm/potluck/internal/natlab"
)

const rendezvousPort = 3478

// TestPunchThroughTwoNATs: two hosts, each behind its own masquerading
// router, cannot be dialled unsolicited; after both punch at the moment a
// rendezvous gave them, one dials the other over QUIC from the same socket
// and they exchange bytes.
func TestPunchThroughTwoNATs(t *testing.T) {
	l := natlab.New(t)
	ns1, ns2 := l.NATHost(1, natlab.Cone), l.NATHost(2, natlab.Cone)
	rv := startHelper(l, "rendezvous", l.NS("inet"))
	a, b := startHelper(l, "h1", ns1), startHelper(l, "h2", ns2)
	rv.Call("listen %d", rendezvousPort)
	a.Call("listen 0")
	b.Call("listen 0")
	rvAddr := fmt.Sprintf("%s:%d", natlab.PublicIP, rendezvousPort)
	oa, ob := a.Call("observe %s", rvAddr)[0], b.Call("observe %s", rvAddr)[0]
	if !strings.HasPrefix(oa, "11.0.0.1:") || !strings.HasPrefix(ob, "11.0.0.2:") {
		t.Fatalf("observed %s and %s, want the routers' WAN addresses", oa, ob)
	}

	// The NATs are real: nobody reaches a host unsolicited, neither a
	// public host (other than the rendezvous, which the hosts have talked
	// to) nor the other host.
	stranger := startHelper(l, "stranger", l.NS("inet"))
	stranger.Call("listen 0")
	for _, c := range []struct {
		from *natlab.Helper
		to   string
	}{{stranger, oa}, {stranger, ob}, {a, ob}} {
		if echo, err := c.from.Try("dial %s 1000", c.to); err == nil {
			t.Fatalf("%s dialled %s unsolicited: %v", c.from.Name(), c.to, echo)
		}
	}

	// The rendezvous tells each the other's address, a nonce and a moment.
	nonce := NewNonce()
	at := time.Now().Add(200 * time.Millisecond).UnixNano()
	a.Send("punch %s %s %d 5000 50", ob, nonce, at)
	b.Send("punch %s %s %d 5000 50", oa, nonce, at)
	ra, errA := a.Recv()
	rb, errB := b.Recv()
	if errA != nil || errB != nil {
		t.Fatalf("punch: h1 %v, h2 %v", errA, errB)
	}
	t.Logf("h1 punched: from %s, sent %s, %s ms, seen %s", ra[0], ra[1], ra[2], ra[3])
	t.Logf("h2 punched: from %s, sent %s, %s ms, seen %s", rb[0], rb[1], rb[2], rb[3])
	if ra[0] != ob || rb[0] != oa {
		t.Errorf("punches came from %s and %s, want %s and %s", ra[0], rb[0], ob, oa)
	}

	// Now QUIC both ways, from the sockets that punched.
	if echo := a.Call("dial %s 3000", ra[0]); !strings.HasPrefix(echo[0], "echo:") {
		t.Fatalf("h1 -> h2: %v", echo)
	}
	if echo := b.Call("dial %s 3000", rb[0]); !strings.HasPrefix(echo[0], "echo:") {
		t.Fatalf("h2 -> h1: %v", echo)
	}
	// The hole is for the peer only: a stranger still cannot dial.
	if echo, err := stranger.Try("dial %s 1000", ob); err == nil {
		t.Fatalf("public host dialled %s after the punch: %v", ob, echo)
	}
}

// TestPunchTimings measures punching between two masquerading routers
// when one side starts late (the sides' delays from the rendezvous
// differ), and checks that punching toward a router that maps each
// destination to a new port (a symmetric NAT) gives up in bounded time.
func TestPunchTimings(t *testing.T) {
	l := natlab.New(t)
	ns1, ns2, ns3, ns4 := l.NATHost(1, natlab.Cone), l.NATHost(2, natlab.Cone), l.NATHost(3, natlab.Symmetric), l.NATHost(4, natlab.OpenInput)
	rv := startHelper(l, "rendezvous", l.NS("inet"))
	rv.Call("listen %d", rendezvousPort)
	rvAddr := fmt.Sprintf("%s:%d", natlab.PublicIP, rendezvousPort)

	for _, c := range []struct {
		name     string
		late     time.Duration // how much later h2 starts
		interval time.Duration
		kind     natlab.Kind // h2's router
		fails    bool
	}{
		{"together", 0, 50 * time.Millisecond, natlab.Cone, false},
		{"late 300ms", 300 * time.Millisecond, 50 * time.Millisecond, natlab.Cone, false},
		{"late 1s", time.Second, 50 * time.Millisecond, natlab.Cone, false},
		{"late 1s every 200ms", time.Second, 200 * time.Millisecond, natlab.Cone, false},
		{"symmetric", 0, 50 * time.Millisecond, natlab.Symmetric, true},
		{"open input late 300ms", 300 * time.Millisecond, 50 * time.Millisecond, natlab.OpenInput, true},
	} {
		t.Run(c.name, func(t *testing.T) {
			nsB := map[natlab.Kind]string{natlab.Cone: ns2, natlab.Symmetric: ns3, natlab.OpenInput: ns4}[c.kind]
			// Fresh sockets, so no earlier flow helps.
			a, b := startHelper(l, "h1", ns1), startHelper(l, "h2", nsB)
			a.Call("listen 0")
			b.Call("listen 0")
			oa, ob := a.Call("observe %s", rvAddr)[0], b.Call("observe %s", rvAddr)[0]
			nonce := NewNonce()
			at := time.Now().Add(200 * time.Millisecond)
			timeout := 3 * time.Second
			a.Send("punch %s %s %d %d %d", ob, nonce, at.UnixNano(), timeout.Milliseconds(), c.interval.Milliseconds())
			b.Send("punch %s %s %d %d %d", oa, nonce, at.Add(c.late).UnixNano(), timeout.Milliseconds(), c.interval.Milliseconds())
			ra, errA := a.Recv()
			rb, errB := b.Recv()
			gaveUp := time.Since(at)
			if c.fails {
				if errA == nil || errB == nil {
					t.Fatalf("punched through: %v %v", ra, rb)
				}
				if gaveUp > timeout+2*time.Second {
					t.Errorf("gave up %v after the start, timeout %v", gaveUp, timeout)
				}
				t.Logf("gave up as expected: h1 %v; h2 %v", errA, errB)
				return
			}
			if errA != nil || errB != nil {
				t.Fatalf("punch: h1 %v, h2 %v", errA, errB)
			}
			t.Logf("h1 sent %s, success after %s ms; h2 (late %v) sent %s, success after %s ms", ra[1], ra[2], c.late, rb[1], rb[2])
			if echo := a.Call("dial %s 3000", ra[0]); !strings.HasPrefix(echo[0], "echo:") {
				t.Fatalf("h1 -> h2: %v", echo)
			}
		})
	}
}

// TestNoGateway: on a host with no default route the mapper starts at
// once, is not mapped, and closes cleanly; on a host whose router answers
// neither UPnP nor NAT-PMP it says "no gateway" after one search.
func TestNoGateway(t *testing.T) {
	l := natlab.New(t)
	alone := l.AddNS("alone")
	ns1 := l.NATHost(1, natlab.Cone)
	for _, c := range []struct {
		ns      string
		fastest time.Duration
	}{{alone, time.Second}, {ns1, 6 * time.Second}} {
		h := startHelper(l, "node", c.ns)
		h.Call("listen 0")
		r := h.Call("map any")
		ms, _ := strconv.Atoi(r[len(r)-1])
		t.Logf("%s: %v", c.ns, r)
		if r[0] != "no-gateway" {
			t.Errorf("%s: state %s, want no-gateway", c.ns, r[0])
		}
		if time.Duration(ms)*time.Millisecond > c.fastest {
			t.Errorf("%s: Start took %d ms", c.ns, ms)
		}
		if s := h.Call("unmap"); s[0] != "idle" {
			t.Errorf("after Close: %v", s)
		}
	}
}

// miniupnpdRules is a home router whose forwarding and DNAT chains
// miniupnpd fills in.
const miniupnpdRules = `
table inet miniupnpd {
  chain forward {
    type filter hook forward priority 0; policy drop;
    ct state established,related accept
    jump forwardupnp
    iifname "rl" accept
  }
  chain forwardupnp {
  }
  chain input {
    type filter hook input priority 0; policy accept;
    iifname "rw" ct state new drop
  }
  chain prerouting {
    type nat hook prerouting priority -100; policy accept;
    jump preupnp
  }
  chain preupnp {
  }
  chain postrouting {
    type nat hook postrouting priority 100; policy accept;
    jump postupnp
    oifname "rw" masquerade
  }
  chain postupnp {
  }
}
`

// TestPortMapping: a host behind a router running miniupnpd (UPnP IGD and
// NAT-PMP) maps its port, and the public host dials it unsolicited over
// QUIC; before the mapping and after Close it cannot.
func TestPortMapping(t *testing.T) {
	natlab.Need(t)
	daemon, err := exec.LookPath("miniupnpd")
	if err != nil {
		t.Skipf("needs miniupnpd (%v)", err)
	}
	l := natlab.New(t)
	r := l.AddRouter(5)
	l.NFT(r, miniupnpdRules)
	h5 := l.AddHost(5)

	dir := t.TempDir()
	conf := filepath.Join(dir, "miniupnpd.conf")
	os.WriteFile(conf, []byte(`ext_ifname=rw
listening_ip=rl
http_port=0
enable_natpmp=yes
enable_upnp=yes
secure_mode=yes
system_uptime=no
uuid=8c0b1e9a-5a8e-4c55-9d6e-0c3f4a2b7d11
upnp_table_name=miniupnpd
upnp_nat_table_name=miniupnpd
upnp_forward_chain=forwardupnp
upnp_nat_chain=preupnp
upnp_nat_postrouting_chain=postupnp
lease_file=`+filepath.Join(dir, "leases")+`
allow 1024-65535 10.0.5.0/24 1024-65535
deny 0-65535 0.0.0.0/0 0-65535
`), 0o644)
	cmd := exec.Command("ip", "netns", "exec", r, daemon, "-d", "-f", conf, "-P", filepath.Join(dir, "pid"))
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	log := &natlab.SyncBuffer{}
	cmd.Stdout, cmd.Stderr = log, log
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cmd.Process.Kill()
		cmd.Wait()
		if t.Failed() {
			t.Logf("miniupnpd:\n%s", log.String())
		}
	})
	for deadline := time.Now().Add(10 * time.Second); !strings.Contains(log.String(), "Listening for NAT-PMP"); {
		if time.Now().After(deadline) {
			t.Fatalf("miniupnpd did not start:\n%s", log.String())
		}
		time.Sleep(20 * time.Millisecond)
	}

	rv := startHelper(l, "public", l.NS("inet"))
	rv.Call("listen 0")
	for _, method := range []string{"natpmp", "upnp"} {
		t.Run(method, func(t *testing.T) {
			h := startHelper(l, "h5", h5)
			port := h.Call("listen 0")[0]
			ext := "11.0.0.5:" + port
			if echo, err := rv.Try("dial %s 1000", ext); err == nil {
				t.Fatalf("dialled %s before mapping: %v", ext, echo)
			}
			m := h.Call("map %s", method)
			t.Logf("%s: %v", method, m)
			if m[0] != "mapped" || !strings.HasPrefix(m[1], "11.0.0.5:") {
				t.Fatalf("mapping: %v", m)
			}
			if echo := rv.Call("dial %s 3000", m[1]); !strings.HasPrefix(echo[0], "echo:") {
				t.Fatalf("dial through the mapping: %v", echo)
			}
			rules := l.Run("ip", "netns", "exec", r, "nft", "list", "chain", "inet", "miniupnpd", "preupnp")
			if !strings.Contains(rules, "10.0.5.2") {
				t.Errorf("no DNAT rule in the router:\n%s", rules)
			}
			h.Call("unmap")
			rules = l.Run("ip", "netns", "exec", r, "nft", "list", "chain", "inet", "miniupnpd", "preupnp")
			if strings.Contains(rules, "10.0.5.2") {
				t.Errorf("mapping left after Close:\n%s", rules)
			}
		})
	}
}
