package swarm

// Hole punching through a rendezvous peer: when a dial fails, the node
// asks peers it is connected to (PUNCH_VIA) to tell the peer it wants
// (PUNCH) to punch toward it; both punch from their one socket (frame 0x02
// on the node's demultiplexer) and then the asker dials as usual. See
// docs/protocol.md, "NAT traversal (version 1)".

import (
	"context"
	"errors"
	"fmt"
	"net"
	"time"

	"golang.org/x/time/rate"

	"github.com/potluckfm/potluck/swarm/dht"
	"github.com/potluckfm/potluck/swarm/nat"
)

// Punching's bounds and timings.
const (
	// punchBudget bounds one attempt to reach a peer by punching, every
	// rendezvous tried included.
	punchBudget = 8 * time.Second
	// punchRendezvous is how many connected peers are asked to relay.
	punchRendezvous = 3
	// punchDelay is the delay a PUNCH_VIA asks for: both sides start
	// punching this long after they hear of the attempt.
	punchDelay = 100 * time.Millisecond
	// punchTimeout is how long each side punches (nat.Schedule.Timeout).
	punchTimeout = 3 * time.Second
	// punchBackoff is how long after a failed attempt a peer is not tried
	// again.
	punchBackoff = 30 * time.Second
	// maxPunchDelay bounds the delay a PUNCH may ask for.
	maxPunchDelay = 2 * time.Second
	// A peer may ask this node to relay relayBurst punches at once, then
	// one every relayEvery; this node answers punchBurst PUNCHes at
	// once, then punchRate a second, whoever relays them.
	relayBurst = 4
	relayEvery = 2 * time.Second
	punchBurst = 8
	punchRate  = 2
	// The origin may deliver originPunchBurst PUNCHes at once, then
	// originPunchRate a second; each of its connections carries at most
	// originPunchesPerConn.
	originPunchBurst     = 4
	originPunchRate      = 1
	originPunchesPerConn = 4
)

// punchState is the node's punching: attempts under way by peer and the
// peers recently given up on. n.mu guards the maps.
type punchState struct {
	p      *nat.Puncher
	ownMux bool          // the mux is the node's own (no DHT)
	lim    *rate.Limiter // PUNCHes answered
	// fromOrigin bounds the PUNCHes the origin delivers (its own
	// connections; see serveOrigin), before lim.
	fromOrigin *rate.Limiter
	active     map[PeerID]chan struct{}
	failed     map[PeerID]time.Time
}

// startPuncher wires a Puncher to the node's socket (frame 0x02 of the
// demultiplexer, made here if the DHT did not make it).
func (n *Node) startPuncher() error {
	if n.mux == nil {
		n.mux = dht.NewMux(n.tr)
		n.punch.ownMux = true
	}
	pc, err := n.mux.Listen(dht.FrameHolePunch)
	if err != nil {
		return err
	}
	n.punch.p = nat.NewPuncherConn(pc)
	n.punch.lim = rate.NewLimiter(punchRate, punchBurst)
	n.punch.fromOrigin = rate.NewLimiter(originPunchRate, originPunchBurst)
	n.punch.active = map[PeerID]chan struct{}{}
	n.punch.failed = map[PeerID]time.Time{}
	return nil
}

// closePuncher stops the Puncher, and the mux if it is the node's own.
func (n *Node) closePuncher() {
	if n.punch.p == nil {
		return
	}
	n.punch.p.Close()
	if n.punch.ownMux {
		n.mux.Close()
	}
}

// punchAfterFail is called when a direct dial of p failed: it starts an
// attempt to reach p by punching (or joins the one under way) and waits
// for it within ctx. The attempt goes on after ctx ends, bounded by
// punchBudget, so that a lookup's next round finds the connection.
func (n *Node) punchAfterFail(ctx context.Context, p PeerAddr) (*peerConn, error) {
	if n.punch.p == nil {
		return nil, errors.New("no puncher")
	}
	n.mu.Lock()
	if at, ok := n.punch.failed[p.ID]; ok && time.Since(at) < punchBackoff {
		n.mu.Unlock()
		return nil, errors.New("punching failed recently")
	}
	done, busy := n.punch.active[p.ID]
	if !busy {
		done = make(chan struct{})
		n.punch.active[p.ID] = done
	}
	n.mu.Unlock()
	if !busy {
		started := n.wg.Go(func() {
			err := n.punchPeer(p)
			n.mu.Lock()
			delete(n.punch.active, p.ID)
			if err != nil {
				if len(n.punch.failed) >= n.lim.known {
					for id, at := range n.punch.failed {
						if time.Since(at) > punchBackoff {
							delete(n.punch.failed, id)
						}
					}
				}
				if len(n.punch.failed) < n.lim.known {
					n.punch.failed[p.ID] = time.Now()
				}
			}
			n.mu.Unlock()
			close(done)
			if err != nil {
				n.log.Debug("punching failed", "peer", p.ID.Short(), "err", err)
			}
		})
		if !started {
			return nil, ErrNodeClosed
		}
	}
	select {
	case <-done:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	if c := n.conns[p.ID]; c != nil && c.conn.Context().Err() == nil {
		return c, nil
	}
	return nil, fmt.Errorf("peer %s: not reached by punching", p.ID.Short())
}

// punchPeer asks up to punchRendezvous connected peers in turn to relay
// a punch to p, then the origin if none could, and punches and dials
// with the first that does.
func (n *Node) punchPeer(p PeerAddr) error {
	ctx, cancel := context.WithTimeout(n.ctx, punchBudget)
	defer cancel()
	tried, relayed := 0, false
	var last error = errors.New("no peer to relay the punch")
	for _, rv := range n.connected() {
		if rv.id == p.ID || tried >= punchRendezvous {
			continue
		}
		if n.connectedTo(p.ID) {
			return nil // a direct dial got there meanwhile
		}
		tried++
		c, err := n.punchVia(ctx, rv, p)
		if err == nil {
			return nil
		}
		last = fmt.Errorf("via %s: %w", rv.id.Short(), err)
		if c != nil || ctx.Err() != nil {
			relayed = c != nil // the relay reached p; the punch or dial failed
			break
		}
	}
	// No peer could relay: the origin, which every node announces to, is
	// the rendezvous of last resort.
	if !relayed && ctx.Err() == nil && !n.connectedTo(p.ID) {
		if ro, ok := n.origin.(rendezvousOrigin); ok {
			tried++
			err := n.punchViaOrigin(ctx, ro, p)
			if err == nil {
				return nil
			}
			last = fmt.Errorf("via the origin: %w", err)
		}
	}
	if n.connectedTo(p.ID) {
		return nil // the dial beside the punch got there
	}
	if tried > 0 {
		n.mu.Lock()
		n.reach.punchFailed++
		n.mu.Unlock()
	}
	return last
}

// connectedTo reports whether the node holds a live connection to id.
func (n *Node) connectedTo(id PeerID) bool {
	n.mu.Lock()
	defer n.mu.Unlock()
	c := n.conns[id]
	return c != nil && c.conn.Context().Err() == nil
}

// punchVia asks rv to relay a punch to p, punches toward p's address as
// rv sees it and dials p there. A non-nil *peerConn with an error means
// rv relayed but the punch or the dial failed (asking another relay will
// not help).
func (n *Node) punchVia(ctx context.Context, rv *peerConn, p PeerAddr) (*peerConn, error) {
	nonce := nat.NewNonce()
	rctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	b, err := rv.getBytes(rctx, request{typ: msgPunchVia, peer: p.ID, nonce: nonce, delay: uint16(punchDelay / time.Millisecond)}, maxPunchAddr)
	cancel()
	if err != nil {
		return nil, err
	}
	at := time.Now().Add(punchDelay)
	if _, err := n.punchAndDial(ctx, p, string(b), nonce, at, rv.id.Short()); err != nil {
		return rv, err
	}
	return rv, nil
}

// punchAndDial punches toward p at addr (as a rendezvous saw it) from the
// moment at, then dials p where its punch came from. via names the
// rendezvous, for the log.
func (n *Node) punchAndDial(ctx context.Context, p PeerAddr, addr string, nonce nat.Nonce, at time.Time, via string) (*peerConn, error) {
	remote, err := net.ResolveUDPAddr("udp", addr)
	if err != nil {
		return nil, fmt.Errorf("rendezvous named %q: %w", addr, err)
	}
	n.mu.Lock()
	n.notePunchedLocked(remote.String())
	n.mu.Unlock()
	res, err := n.punch.p.Punch(ctx, remote, nonce, at, nat.Schedule{Timeout: punchTimeout})
	if err != nil {
		return nil, err
	}
	punched := res.Remote.String()
	n.mu.Lock()
	n.notePunchedLocked(punched)
	n.reach.punchedOK++
	c := n.conns[p.ID]
	n.mu.Unlock()
	if c != nil && c.conn.Context().Err() == nil {
		return c, nil // a direct dial got there meanwhile
	}
	conf, err := tlsConfigFor(n.tlsConf, p.ID)
	if err != nil {
		return nil, err
	}
	dctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	qc, err := n.tr.Dial(dctx, res.Remote, conf, quicConfig())
	if err != nil {
		return nil, fmt.Errorf("dial after punching (%d sent, %v): %w", res.Sent, res.Elapsed, err)
	}
	n.confirm(PeerAddr{ID: p.ID, Addr: punched})
	c, err = n.addConn(qc, p.ID, punched, true, kindPunched)
	if err != nil {
		return nil, err
	}
	n.log.Info("reached peer by punching", "peer", p.ID.Short(), "addr", punched, "via", via, "punches", res.Sent, "took", res.Elapsed)
	return c, nil
}

// mayRelayPunch takes one relayed punch from the budget of the node on
// the other side of c.
func (c *peerConn) mayRelayPunch() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.punches == nil {
		c.punches = rate.NewLimiter(rate.Every(relayEvery), relayBurst)
	}
	return c.punches.Allow()
}

// relayPunch answers a PUNCH_VIA of asker c: it tells the peer named, if
// connected, to punch toward c's address as this node sees it, and
// answers with that peer's address as this node sees it. Nothing the
// asker says is sent anywhere but its nonce: the addresses are the ones
// QUIC proved, so a relay cannot be made to aim punches at a third party.
func (n *Node) relayPunch(c *peerConn, str interface{ Write([]byte) (int, error) }, req request) error {
	if req.peer == c.id || req.peer == n.id {
		return ErrBadRequest
	}
	if !c.mayRelayPunch() {
		return ErrBusy
	}
	n.mu.Lock()
	target := n.conns[req.peer]
	n.mu.Unlock()
	if target == nil || target.conn.Context().Err() != nil {
		return ErrNotHeld
	}
	ctx, cancel := context.WithTimeout(n.ctx, 1500*time.Millisecond)
	defer cancel()
	fwd := request{typ: msgPunch, peer: c.id, addr: c.conn.RemoteAddr().String(), nonce: req.nonce, delay: req.delay}
	if _, err := target.getBytes(ctx, fwd, 0); err != nil {
		return fmt.Errorf("%w: %s did not take the punch: %v", ErrNotHeld, target.id.Short(), err)
	}
	return sent(writeBytes(str, []byte(target.conn.RemoteAddr().String())))
}

// answerPunch answers a PUNCH relayed by c: it punches toward the asker's
// address for the nonce given, within the node's punch budget, and
// answers at once.
func (n *Node) answerPunch(c *peerConn, str interface{ Write([]byte) (int, error) }, req request) error {
	if n.punch.p == nil || req.peer == n.id || n.isBanned(req.peer) {
		return ErrNotHeld
	}
	remote, err := net.ResolveUDPAddr("udp", req.addr)
	if err != nil || remote.IP == nil || remote.Port == 0 {
		return ErrBadRequest
	}
	if !n.punch.lim.Allow() {
		return ErrBusy
	}
	delay := min(time.Duration(req.delay)*time.Millisecond, maxPunchDelay)
	at := time.Now().Add(delay)
	n.mu.Lock()
	n.notePunchedLocked(remote.String())
	n.mu.Unlock()
	nonce := nat.Nonce(req.nonce)
	from, asker := c.id, req.peer
	n.wg.Go(func() {
		res, err := n.punch.p.Punch(n.ctx, remote, nonce, at, nat.Schedule{Timeout: punchTimeout})
		n.mu.Lock()
		if err == nil {
			n.notePunchedLocked(res.Remote.String())
			n.reach.punchedOK++
		} else {
			n.reach.punchFailed++
		}
		n.mu.Unlock()
		n.log.Debug("punched for a peer", "peer", asker.Short(), "via", from.Short(), "addr", remote, "err", err)
	})
	return sent(writeBytes(str, nil))
}
