//go:build linux

package natlab

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"sync"
	"testing"

	"golang.org/x/sys/unix"
)

// PublicIP is the inet namespace's address. The lab's internet is
// 11.0.0.0/24, an unreserved range the namespaces reach nothing outside
// of.
const PublicIP = "11.0.0.254"

// Kind is how a lab router translates and filters.
type Kind int

const (
	// Cone is a home router: masquerade out of the WAN side (keeping the
	// host's port when it is free), forward only what the LAN started,
	// and drop new flows that reach the router itself from the WAN.
	Cone Kind = iota
	// Symmetric is Cone with "masquerade random": a new public port for
	// every destination, which defeats hole punching.
	Symmetric
	// OpenInput is Cone without the input drop: an early punch reaches
	// the router itself and leaves a conntrack entry that makes
	// masquerade give the host's own punches another port.
	OpenInput
)

// Lab is a set of namespaces for one test.
type Lab struct {
	t      testing.TB
	prefix string
	mu     sync.Mutex
	nss    []string
}

// labPrefix starts every lab namespace's name, followed by the test
// process's PID.
const labPrefix = "potluck-lab-"

// Need skips the test unless it can build namespaces and nft rules.
func Need(t testing.TB) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root for network namespaces")
	}
	for _, tool := range []string{"ip", "nft"} {
		if _, err := exec.LookPath(tool); err != nil {
			labSkip(t, "needs %s (%v)", tool, err)
		}
	}
}

// New makes the inet namespace and its bridge, or skips the test.
func New(t testing.TB) *Lab {
	Need(t)
	sweep(t)
	var b [3]byte
	rand.Read(b[:])
	l := &Lab{t: t, prefix: fmt.Sprintf("%s%d-%s-", labPrefix, os.Getpid(), hex.EncodeToString(b[:]))}
	t.Cleanup(l.cleanup)
	probe := l.NS("probe")
	if out, err := exec.Command("ip", "netns", "add", probe).CombinedOutput(); err != nil {
		labSkip(t, "cannot make network namespaces here: %v %s", err, out)
	}
	l.nss = append(l.nss, probe)
	l.ipIn(l.addNS("inet"),
		"link add name bridge0 type bridge",
		"addr add "+PublicIP+"/24 dev bridge0",
		"link set bridge0 up")
	return l
}

// sweep deletes the namespaces of labs whose test process is gone.
func sweep(t testing.TB) {
	out, err := exec.Command("ip", "netns", "list").Output()
	if err != nil {
		return
	}
	for _, line := range strings.Split(string(out), "\n") {
		name, _, _ := strings.Cut(line, " ")
		rest, ok := strings.CutPrefix(name, labPrefix)
		if !ok {
			continue
		}
		pid, _, _ := strings.Cut(rest, "-")
		if _, err := os.Stat("/proc/" + pid); err == nil {
			continue
		}
		if err := exec.Command("ip", "netns", "del", name).Run(); err == nil {
			t.Logf("deleted %s, left by a test process that is gone", name)
		}
	}
}

// NS is the full name of the lab's namespace name ("inet", "r1", "h1").
func (l *Lab) NS(name string) string { return l.prefix + name }

// AddNS makes namespace name with its loopback up, and returns its full
// name.
func (l *Lab) AddNS(name string) string { return l.addNS(name) }

func (l *Lab) addNS(name string) string {
	ns := l.NS(name)
	l.mu.Lock()
	l.nss = append(l.nss, ns)
	l.mu.Unlock()
	l.run(nil, "ip", "netns", "add", ns)
	l.ipIn(ns, "link set lo up")
	return ns
}

func (l *Lab) cleanup() {
	l.mu.Lock()
	defer l.mu.Unlock()
	for i := len(l.nss) - 1; i >= 0; i-- {
		if out, err := exec.Command("ip", "netns", "del", l.nss[i]).CombinedOutput(); err != nil {
			l.t.Logf("ip netns del %s: %v %s", l.nss[i], err, out)
		}
	}
	l.nss = nil
}

func (l *Lab) ipIn(ns string, cmds ...string) {
	l.t.Helper()
	l.run(strings.NewReader(strings.Join(cmds, "\n")+"\n"), "ip", "-n", ns, "-batch", "-")
}

// Run runs a command and returns its output; it fails the test if the
// command fails.
func (l *Lab) Run(name string, args ...string) string {
	l.t.Helper()
	return l.run(nil, name, args...)
}

func (l *Lab) run(stdin io.Reader, name string, args ...string) string {
	l.t.Helper()
	cmd := exec.Command(name, args...)
	cmd.Stdin = stdin
	out, err := cmd.CombinedOutput()
	if err != nil {
		l.t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
	return string(out)
}

// NFT loads an nftables ruleset into namespace ns.
func (l *Lab) NFT(ns, rules string) {
	l.t.Helper()
	l.nft(ns, rules)
}

func (l *Lab) nft(ns, rules string) {
	l.t.Helper()
	cmd := exec.Command("ip", "netns", "exec", ns, "nft", "-f", "-")
	cmd.Stdin = strings.NewReader(rules)
	if out, err := cmd.CombinedOutput(); err != nil {
		l.t.Fatalf("nft in %s: %v\n%s\n%s", ns, err, out, rules)
	}
}

// Rules is the nftables ruleset of a router of kind (PLATFORM notes).
func Rules(kind Kind) string {
	masq := "masquerade"
	if kind == Symmetric {
		masq = "masquerade random"
	}
	input := `iifname "rw" ct state new drop`
	if kind == OpenInput {
		input = ""
	}
	return `
table ip nat {
  chain post {
    type nat hook postrouting priority 100;
    oifname "rw" ` + masq + `
  }
}
table ip filter {
  chain forwarding {
    type filter hook forward priority 0; policy drop;
    ct state established,related accept
    iifname "rl" accept
  }
  chain input {
    type filter hook input priority 0; policy accept;
    ` + input + `
  }
}
`
}

// NATHost makes router rN of kind on the bridge (WAN 11.0.0.N) and host
// hN behind it (10.0.N.2), and returns the host's namespace.
func (l *Lab) NATHost(n int, kind Kind) string {
	l.t.Helper()
	l.nft(l.AddRouter(n), Rules(kind))
	return l.AddHost(n)
}

// AddRouter makes router rN on the bridge (WAN 11.0.0.N, LAN
// 10.0.N.0/24), forwarding but without rules, and returns its namespace;
// AddHost puts a host behind it.
func (l *Lab) AddRouter(n int) string {
	l.t.Helper()
	inet, r := l.NS("inet"), l.addNS(fmt.Sprintf("r%d", n))
	l.ipIn(r,
		fmt.Sprintf("link add name rw type veth peer name w%d netns %s", n, inet),
		fmt.Sprintf("addr add 11.0.0.%d/24 dev rw", n),
		"link set rw up")
	l.ipIn(inet, fmt.Sprintf("link set w%d master bridge0 up", n))
	l.run(nil, "ip", "netns", "exec", r, "sysctl", "-q", "-w", "net.ipv4.ip_forward=1")
	return r
}

// AddHost makes host hN (10.0.N.2) behind router rN and returns its
// namespace.
func (l *Lab) AddHost(n int) string {
	l.t.Helper()
	r, h := l.NS(fmt.Sprintf("r%d", n)), l.addNS(fmt.Sprintf("h%d", n))
	l.ipIn(r,
		fmt.Sprintf("link add name rl type veth peer name eth0 netns %s", h),
		fmt.Sprintf("addr add 10.0.%d.1/24 dev rl", n),
		"link set rl up")
	l.ipIn(h,
		fmt.Sprintf("addr add 10.0.%d.2/24 dev eth0", n),
		"link set eth0 up",
		fmt.Sprintf("route add default via 10.0.%d.1", n))
	return h
}

// ListenUDP opens a UDP socket at addr inside namespace ns: the socket
// belongs to ns however the process uses it. It closes when the test
// ends.
func (l *Lab) ListenUDP(ns, addr string) net.PacketConn {
	l.t.Helper()
	pc, err := ListenUDPIn(ns, addr)
	if err != nil {
		l.t.Fatal(err)
	}
	l.t.Cleanup(func() { pc.Close() })
	return pc
}

// ListenUDPIn opens a UDP socket at addr inside the named namespace. It
// does so on an OS thread of its own that enters the namespace and is
// thrown away after, so no other goroutine runs there.
func ListenUDPIn(ns, addr string) (pc net.PacketConn, err error) {
	if derr := Do(ns, func() { pc, err = net.ListenPacket("udp4", addr) }); derr != nil {
		return nil, derr
	}
	return pc, err
}

// PublicHost makes host pN on the inet bridge at 11.0.0.(100+N), with
// routes for unicast and multicast there, and returns its namespace:
// hosts made so share one network, as a home LAN's do.
func (l *Lab) PublicHost(n int) string {
	l.t.Helper()
	inet, h := l.NS("inet"), l.addNS(fmt.Sprintf("p%d", n))
	l.ipIn(h,
		fmt.Sprintf("link add name eth0 type veth peer name p%d netns %s", n, inet),
		fmt.Sprintf("addr add 11.0.0.%d/24 dev eth0", 100+n),
		"link set eth0 up",
		"route add 224.0.0.0/4 dev eth0")
	l.ipIn(inet, fmt.Sprintf("link set p%d master bridge0 up", n))
	return h
}

// Do runs f on an OS thread that has entered namespace ns, so the sockets
// f opens belong to ns; the thread is thrown away after.
func Do(ns string, f func()) error {
	errc := make(chan error, 1)
	go func() {
		// Left locked: the thread ends with the goroutine.
		runtime.LockOSThread()
		fd, err := os.Open("/run/netns/" + ns)
		if err != nil {
			errc <- err
			return
		}
		defer fd.Close()
		if err := unix.Setns(int(fd.Fd()), unix.CLONE_NEWNET); err != nil {
			errc <- fmt.Errorf("setns %s: %v", ns, err)
			return
		}
		f()
		errc <- nil
	}()
	return <-errc
}

// labSkip skips a lab test that cannot run here, saying why; where the
// test script runs as root (POTLUCK_NAT_LAB=require) it fails instead, so
// that a lab that cannot be built never passes for one that worked.
func labSkip(t testing.TB, format string, args ...any) {
	t.Helper()
	if os.Getenv("POTLUCK_NAT_LAB") == "require" {
		t.Fatalf("NAT lab required (POTLUCK_NAT_LAB=require) but: "+format, args...)
	}
	t.Skipf(format, args...)
}
