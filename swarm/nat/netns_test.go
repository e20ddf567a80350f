package nat

// A lab of real NAT routers made of network namespaces and nftables
// masquerade, and helper processes (this test binary, re-executed inside a
// namespace) that speak a line protocol over stdin and stdout.
//
// Topology, one lab per test (names are unique per lab):
//
//	inet: bridge "bridge0", 11.0.0.254/24 (the public host and rendezvous)
//	rN:   "rw" 11.0.0.N/24 on the bridge; "rl" 10.0.N.1/24; masquerade
//	hN:   "eth0" 10.0.N.2/24, default route via 10.0.N.1

import (
	"bufio"
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// publicIP is the inet namespace's address: the public host. The lab's
// internet is 11.0.0.0/24, an unreserved range, because miniupnpd will not
// forward ports on a WAN address that is private or reserved; the
// namespaces reach nothing outside the lab.
const publicIP = "11.0.0.254"

// needLab skips the test unless it can build namespaces and nft rules.
func needLab(t *testing.T) {
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

type lab struct {
	t      *testing.T
	prefix string
	mu     sync.Mutex
	nss    []string
}

// newLab makes the inet namespace and its bridge. Every namespace the lab
// makes is deleted when the test ends, however it ends.
func newLab(t *testing.T) *lab {
	needLab(t)
	sweepLabs(t)
	var b [3]byte
	rand.Read(b[:])
	l := &lab{t: t, prefix: fmt.Sprintf("%s%d-%s-", labPrefix, os.Getpid(), hex.EncodeToString(b[:]))}
	t.Cleanup(l.cleanup)
	probe := l.ns("probe")
	if out, err := exec.Command("ip", "netns", "add", probe).CombinedOutput(); err != nil {
		labSkip(t, "cannot make network namespaces here: %v %s", err, out)
	}
	l.nss = append(l.nss, probe)
	l.ipIn(l.addNS("inet"),
		"link add name bridge0 type bridge",
		"addr add "+publicIP+"/24 dev bridge0",
		"link set bridge0 up")
	return l
}

// labPrefix starts every lab namespace's name, followed by the test
// process's PID.
const labPrefix = "potluck-nat-"

// sweepLabs deletes the namespaces of labs whose test process is gone (a
// test binary killed by its timeout runs no cleanups).
func sweepLabs(t *testing.T) {
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

func (l *lab) ns(name string) string { return l.prefix + name }

// addNS makes a namespace with its loopback up.
func (l *lab) addNS(name string) string {
	ns := l.ns(name)
	l.mu.Lock()
	l.nss = append(l.nss, ns)
	l.mu.Unlock()
	l.run(nil, "ip", "netns", "add", ns)
	l.ipIn(ns, "link set lo up")
	return ns
}

func (l *lab) cleanup() {
	l.mu.Lock()
	defer l.mu.Unlock()
	for i := len(l.nss) - 1; i >= 0; i-- {
		if out, err := exec.Command("ip", "netns", "del", l.nss[i]).CombinedOutput(); err != nil {
			l.t.Logf("ip netns del %s: %v %s", l.nss[i], err, out)
		}
	}
	l.nss = nil
}

// ipIn runs ip commands in namespace ns, one ip process for all.
func (l *lab) ipIn(ns string, cmds ...string) {
	l.t.Helper()
	l.run(strings.NewReader(strings.Join(cmds, "\n")+"\n"), "ip", "-n", ns, "-batch", "-")
}

func (l *lab) run(stdin io.Reader, name string, args ...string) string {
	l.t.Helper()
	cmd := exec.Command(name, args...)
	cmd.Stdin = stdin
	out, err := cmd.CombinedOutput()
	if err != nil {
		l.t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
	return string(out)
}

// nft loads a ruleset into namespace ns.
func (l *lab) nft(ns, rules string) {
	l.t.Helper()
	cmd := exec.Command("ip", "netns", "exec", ns, "nft", "-f", "-")
	cmd.Stdin = strings.NewReader(rules)
	if out, err := cmd.CombinedOutput(); err != nil {
		l.t.Fatalf("nft in %s: %v\n%s\n%s", ns, err, out, rules)
	}
}

// natKind is how a lab router translates and filters.
type natKind int

const (
	// coneNAT is a home router per the platform notes: masquerade out of
	// the WAN side (keeping the host's port when it is free, one public
	// port per host socket), forward only what the LAN started, and drop
	// new flows that reach the router itself from the WAN, so a peer's
	// early punch leaves no conntrack entry behind.
	coneNAT natKind = iota
	// symmetricNAT is coneNAT with "masquerade random": a new public port
	// for every destination.
	symmetricNAT
	// openInputNAT is coneNAT without the input drop: an early punch
	// reaches the router itself and leaves a conntrack entry that makes
	// masquerade give the host's own punches another port.
	openInputNAT
)

func natRules(kind natKind) string {
	masq := "masquerade"
	if kind == symmetricNAT {
		masq = "masquerade random"
	}
	input := `iifname "rw" ct state new drop`
	if kind == openInputNAT {
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

// addRouter makes router rN on the bridge (11.0.0.N) with LAN
// 10.0.N.0/24, without rules; addHost puts a host behind it.
func (l *lab) addRouter(n int) string {
	inet, r := l.ns("inet"), l.addNS(fmt.Sprintf("r%d", n))
	l.ipIn(r,
		fmt.Sprintf("link add name rw type veth peer name w%d netns %s", n, inet),
		fmt.Sprintf("addr add 11.0.0.%d/24 dev rw", n),
		"link set rw up")
	l.ipIn(inet, fmt.Sprintf("link set w%d master bridge0 up", n))
	l.run(nil, "ip", "netns", "exec", r, "sysctl", "-q", "-w", "net.ipv4.ip_forward=1")
	return r
}

// addHost makes host hN behind router rN and returns its namespace.
func (l *lab) addHost(n int) string {
	r, h := l.ns(fmt.Sprintf("r%d", n)), l.addNS(fmt.Sprintf("h%d", n))
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

// natHost makes router rN of kind and host hN behind it.
func (l *lab) natHost(n int, kind natKind) string {
	r := l.addRouter(n)
	l.nft(r, natRules(kind))
	return l.addHost(n)
}

// helper is a helper process in a namespace.
type helper struct {
	t      *testing.T
	name   string
	cmd    *exec.Cmd
	in     io.WriteCloser
	lines  chan string
	stderr *syncBuffer
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// helperEnv marks a re-executed test binary as a helper.
const helperEnv = "POTLUCK_NAT_HELPER"

// startHelper runs TestHelperProcess in namespace ns. The process is
// killed and waited for when the test ends (before the namespaces go).
func (l *lab) startHelper(name, ns string) *helper {
	l.t.Helper()
	exe, err := os.Executable()
	if err != nil {
		l.t.Fatal(err)
	}
	cmd := exec.Command("ip", "netns", "exec", ns, exe, "-test.run=^TestHelperProcess$", "-test.timeout=2m")
	// GORACE: a race-enabled helper would otherwise sleep 1 s at exit.
	cmd.Env = append(os.Environ(), helperEnv+"=1", "GORACE="+os.Getenv("GORACE")+" atexit_sleep_ms=0")
	// If this process dies without cleaning up, so does the helper.
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	h := &helper{t: l.t, name: name, cmd: cmd, lines: make(chan string, 16), stderr: &syncBuffer{}}
	cmd.Stderr = h.stderr
	if h.in, err = cmd.StdinPipe(); err != nil {
		l.t.Fatal(err)
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		l.t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		l.t.Fatal(err)
	}
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			if line, ok := strings.CutPrefix(sc.Text(), "@@ "); ok {
				h.lines <- line
			}
		}
		close(h.lines)
	}()
	// Registered after newLab's cleanup, so it runs before it.
	l.t.Cleanup(func() {
		h.in.Close()
		done := make(chan struct{})
		go func() { cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(3 * time.Second):
			cmd.Process.Kill()
			<-done
		}
		if out := h.stderr.String(); l.t.Failed() && out != "" {
			l.t.Logf("%s stderr:\n%s", name, out)
		}
	})
	return h
}

// call sends one command line and returns the reply's words after "ok".
func (h *helper) call(format string, args ...any) []string {
	h.t.Helper()
	reply, err := h.try(format, args...)
	if err != nil {
		h.t.Fatalf("%s: %v", h.name, err)
	}
	return reply
}

// try is call that returns an "err" reply as an error.
func (h *helper) try(format string, args ...any) ([]string, error) {
	h.t.Helper()
	if err := h.send(format, args...); err != nil {
		return nil, err
	}
	return h.recv()
}

// send sends one command line; recv waits for its reply.
func (h *helper) send(format string, args ...any) error {
	line := fmt.Sprintf(format, args...)
	if _, err := fmt.Fprintln(h.in, line); err != nil {
		return fmt.Errorf("%s: %v\n%s", line, err, h.stderr.String())
	}
	return nil
}

func (h *helper) recv() ([]string, error) {
	select {
	case reply, ok := <-h.lines:
		if !ok {
			return nil, fmt.Errorf("helper exited\n%s", h.stderr.String())
		}
		words := strings.Fields(reply)
		if len(words) > 0 && words[0] == "ok" {
			return words[1:], nil
		}
		return nil, fmt.Errorf("%s", reply)
	case <-time.After(30 * time.Second):
		return nil, fmt.Errorf("no reply\n%s", h.stderr.String())
	}
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
