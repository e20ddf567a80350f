package sim

import (
	"context"
	"errors"
	"fmt"
	"net"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/potluckfm/potluck/swarm/nat"
)

// natLab is a network of endpoints, some behind NATs, and a public
// rendezvous that tells each what address it sees it at.
type natLab struct {
	t  *testing.T
	nw *network
	rv *endpoint
	mu sync.Mutex
}

func newNATLab(t *testing.T) *natLab {
	cfg := Config{Net: NetProfile{Loss: -1, Jitter: -1}}.withDefaults()
	lab := &natLab{t: t, nw: newNetwork(cfg)}
	lab.rv = lab.endpoint(natNone)
	return lab
}

var labStream uint64

func (lab *natLab) endpoint(typ natType) *endpoint {
	labStream++
	e := lab.nw.newEndpoint(linkSpec{down: 10 * Mbps, up: 10 * Mbps, delay: 10 * time.Millisecond, nat: typ}, false, labStream)
	lab.t.Cleanup(func() { e.Close() })
	return e
}

// recv returns the next packet e receives within a second, or nil.
func recv(e *endpoint) (string, net.Addr) {
	e.SetReadDeadline(time.Now().Add(time.Second))
	defer e.SetReadDeadline(time.Time{})
	buf := make([]byte, 1500)
	n, from, err := e.ReadFrom(buf)
	if err != nil {
		return "", nil
	}
	return string(buf[:n]), from
}

// observed is e's address as the rendezvous sees it.
func (lab *natLab) observed(e *endpoint) net.Addr {
	lab.t.Helper()
	e.WriteTo([]byte("hello"), lab.rv.LocalAddr())
	msg, from := recv(lab.rv)
	if msg != "hello" {
		lab.t.Fatalf("the rendezvous got %q from %v, want hello", msg, from)
	}
	return from
}

// TestNATFiltering checks the emulated NATs packet by packet: a NAT lets
// in only what comes from an address its endpoint sent to in the last
// natTimeout; a cone NAT keeps the endpoint's port for every destination,
// a symmetric one gives each destination its own.
func TestNATFiltering(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		lab := newNATLab(t)
		pub, cone, sym := lab.endpoint(natNone), lab.endpoint(natCone), lab.endpoint(natSymmetric)
		lab.nw.sn.Start()
		defer lab.nw.sn.Close()

		pub.WriteTo([]byte("unsolicited"), cone.LocalAddr())
		if msg, _ := recv(cone); msg != "" {
			t.Errorf("an unsolicited packet got through a cone NAT: %q", msg)
		}
		if got := lab.observed(cone); got.String() != cone.LocalAddr().String() {
			t.Errorf("the rendezvous sees the cone NAT's endpoint at %v, want its own port, %v", got, cone.LocalAddr())
		}
		cone.WriteTo([]byte("out"), pub.LocalAddr())
		if msg, from := recv(pub); msg != "out" || from.String() != cone.LocalAddr().String() {
			t.Errorf("public endpoint got %q from %v, want out from %v", msg, from, cone.LocalAddr())
		}
		pub.WriteTo([]byte("reply"), cone.LocalAddr())
		if msg, _ := recv(cone); msg != "reply" {
			t.Errorf("a reply did not get through a cone NAT (got %q)", msg)
		}
		time.Sleep(natTimeout + time.Second)
		pub.WriteTo([]byte("late"), cone.LocalAddr())
		if msg, _ := recv(cone); msg != "" {
			t.Errorf("a packet got through a cone NAT %s after its mapping's last packet: %q", natTimeout, msg)
		}

		seenByRV := lab.observed(sym)
		sym.WriteTo([]byte("out"), pub.LocalAddr())
		_, seenByPub := recv(pub)
		if seenByPub == nil || seenByRV.String() == seenByPub.String() || seenByRV.String() == sym.LocalAddr().String() {
			t.Fatalf("a symmetric NAT's endpoint seen at %v by one and %v by another (its own %v): want two new ports",
				seenByRV, seenByPub, sym.LocalAddr())
		}
		pub.WriteTo([]byte("via the rendezvous's port"), seenByRV)
		if msg, _ := recv(sym); msg != "" {
			t.Errorf("a symmetric NAT let in a packet to another destination's port: %q", msg)
		}
		pub.WriteTo([]byte("reply"), seenByPub)
		if msg, _ := recv(sym); msg != "reply" {
			t.Errorf("a reply did not get through a symmetric NAT (got %q)", msg)
		}
	})
}

// TestNATPunch punches holes with the swarm's Puncher between endpoints
// behind the emulated NATs, each aiming at the other's address as a
// rendezvous saw it: cone NATs get punched, a symmetric one does not
// unless the other side is public.
func TestNATPunch(t *testing.T) {
	cases := []struct {
		a, b natType
		ok   bool
	}{
		{natNone, natCone, true},
		{natCone, natCone, true},
		{natNone, natSymmetric, true},
		{natCone, natSymmetric, false},
		{natSymmetric, natSymmetric, false},
	}
	for _, c := range cases {
		t.Run(fmt.Sprintf("%s-%s", c.a, c.b), func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				lab := newNATLab(t)
				a, b := lab.endpoint(c.a), lab.endpoint(c.b)
				lab.nw.sn.Start()
				defer lab.nw.sn.Close()
				aAddr, bAddr := lab.observed(a), lab.observed(b)
				pa, pb := nat.NewPuncherConn(a), nat.NewPuncherConn(b)
				defer pa.Close()
				defer pb.Close()
				nonce := nat.NewNonce()
				at := time.Now().Add(100 * time.Millisecond)
				sched := nat.Schedule{Timeout: 3 * time.Second}
				var resA, resB nat.Result
				var errA, errB error
				var wg sync.WaitGroup
				wg.Go(func() { resA, errA = pa.Punch(context.Background(), bAddr, nonce, at, sched) })
				wg.Go(func() { resB, errB = pb.Punch(context.Background(), aAddr, nonce, at, sched) })
				wg.Wait()
				if !c.ok {
					if errA == nil || errB == nil {
						t.Errorf("punching succeeded (%v from %v, %v from %v), want it to fail", errA, resA.Remote, errB, resB.Remote)
					}
					if !errors.Is(errA, nat.ErrPunchTimeout) && errA != nil {
						t.Errorf("a: %v, want a timeout", errA)
					}
					return
				}
				if errA != nil || errB != nil {
					t.Fatalf("punching failed: a %v, b %v", errA, errB)
				}
				// Each side then reaches the other where the punch came
				// from (once the Punchers stop reading).
				pa.Close()
				pb.Close()
				for _, d := range []struct {
					from, to *endpoint
					addr     net.Addr
				}{{a, b, resA.Remote}, {b, a, resB.Remote}} {
					d.from.WriteTo([]byte("after"), d.addr)
					msg := "?"
					for msg != "" && msg != "after" { // punches still in flight come first
						msg, _ = recv(d.to)
					}
					if msg != "after" {
						t.Errorf("a packet to %v did not get through the punched hole", d.addr)
					}
				}
			})
		})
	}
}
