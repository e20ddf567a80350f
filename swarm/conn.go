package swarm

// Connections: dialing and accepting, one connection per pair of nodes, and
// the requests this node sends on them.

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"sync"
	"time"

	"github.com/quic-go/quic-go"
	"golang.org/x/time/rate"

	"github.com/potluckfm/potluck/origin"
	"github.com/potluckfm/potluck/track"
)

// QUIC application error codes a node closes connections with.
const (
	errCodeBanned    quic.ApplicationErrorCode = 0x10
	errCodeDuplicate quic.ApplicationErrorCode = 0x11
	errCodeFull      quic.ApplicationErrorCode = 0x12
)

// peerConn is this node's one connection to another node. Requests each
// open a stream; the connection's own goroutine serves the other side's.
type peerConn struct {
	id       PeerID
	addr     string
	conn     *quic.Conn
	outbound bool
	kind     connKind // direct, punched or LAN (see Reachability)

	mu       sync.Mutex
	inflight int           // our requests to it, not yet answered
	rate     float64       // smoothed bytes/s of its chunk answers
	strikes  int           // timeouts and failures in a row
	searches *rate.Limiter // its onward neighbour searches (see answerWhoHas)
	punches  *rate.Limiter // the punches it asks this node to relay
}

// connected returns the live connections.
func (n *Node) connected() []*peerConn {
	n.mu.Lock()
	defer n.mu.Unlock()
	out := make([]*peerConn, 0, len(n.conns))
	for _, c := range n.conns {
		out = append(out, c)
	}
	return out
}

// conn returns the connection to p, dialing it if there is none. Concurrent
// callers for one peer share one dial.
func (n *Node) conn(ctx context.Context, p PeerAddr) (*peerConn, error) {
	if p.ID == n.id {
		return nil, errors.New("will not connect to itself")
	}
	for {
		n.mu.Lock()
		if b, bad := n.banned[p.ID]; bad {
			n.mu.Unlock()
			return nil, fmt.Errorf("peer %s is banned: %s", p.ID.Short(), b.why)
		}
		if c := n.conns[p.ID]; c != nil && c.conn.Context().Err() == nil {
			n.mu.Unlock()
			return c, nil
		}
		wait, busy := n.dialing[p.ID]
		if !busy {
			wait = make(chan struct{})
			n.dialing[p.ID] = wait
		}
		n.mu.Unlock()
		if busy {
			select {
			case <-wait:
				continue
			case <-ctx.Done():
				return nil, ctx.Err()
			}
		}
		var c *peerConn
		release, err := n.mayDial(p)
		if err == nil {
			c, err = n.dialOrPunch(ctx, p, release)
		}
		n.mu.Lock()
		delete(n.dialing, p.ID)
		close(wait)
		n.mu.Unlock()
		return c, err
	}
}

// punchHeadStart is how long a direct dial runs alone before a punch is
// asked for beside it, unless the peer is known to be behind a NAT: a
// dial that will succeed has mostly done so by then (one round trip and
// a handshake), and one that will fail takes seconds to say so.
const punchHeadStart = 400 * time.Millisecond

// dialOrPunch dials p directly and, once the dial fails, or has not
// succeeded within punchHeadStart, or at once if the tracker said p is
// behind a NAT, also tries to reach it by punching (punchAfterFail). The
// first connection made is taken; the other attempt is called off. The
// dial's claim ends (release) when the dial does.
func (n *Node) dialOrPunch(ctx context.Context, p PeerAddr, release func()) (*peerConn, error) {
	if p.ID == "" { // no identity to punch to
		defer release()
		return n.dial(ctx, p)
	}
	type result struct {
		c   *peerConn
		err error
	}
	dctx, cancelDial := context.WithCancel(ctx)
	defer cancelDial()
	pctx, cancelPunch := context.WithCancel(ctx)
	defer cancelPunch()
	dialed := make(chan result, 1)
	go func() {
		defer release()
		c, err := n.dial(dctx, p)
		dialed <- result{c, err}
	}()
	head := punchHeadStart
	n.mu.Lock()
	if recentLocked(n.reach.behindNAT, p.Addr) {
		head = 0
	}
	n.mu.Unlock()
	timer := time.NewTimer(head)
	defer timer.Stop()
	var punched chan result // nil until the punch starts
	startPunch := func() {
		if punched == nil {
			punched = make(chan result, 1)
			go func() {
				c, err := n.punchAfterFail(pctx, p)
				punched <- result{c, err}
			}()
		}
	}
	var dialErr error
	dialing, punchDone := true, false
	for dialing || (punched != nil && !punchDone) {
		select {
		case r := <-dialed:
			dialing = false
			if r.err == nil || errors.Is(r.err, ErrNodeClosed) {
				cancelPunch()
				if punched != nil && !punchDone {
					<-punched
				}
				return r.c, r.err
			}
			// Behind a NAT, perhaps: a rendezvous may get us through.
			dialErr = r.err
			startPunch()
		case <-timer.C:
			startPunch()
		case r := <-punched:
			punchDone = true
			if r.err == nil {
				cancelDial()
				if dialing {
					<-dialed
				}
				return r.c, nil
			}
		}
	}
	return nil, dialErr
}

// errHearsay is a dial of an address only hearsay speaks for, refused
// because hearsay dials are at their rate or their bound.
var errHearsay = errors.New("unconfirmed address: not dialled now")

// mayDial reports whether p may be dialled now, and returns the func that
// ends the dial's claim. An address the node has not confirmed (see
// Node.confirmed) is dialled at most hearsayRate a second and hearsayDials
// at once, so that peers answering with made-up addresses cannot turn the
// node on a third party.
func (n *Node) mayDial(p PeerAddr) (func(), error) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if _, ok := n.confirmed[p]; ok {
		return func() {}, nil
	}
	if n.hearsayOut >= n.lim.hearsayDials || !n.hearsay.Allow() {
		return nil, fmt.Errorf("peer %s at %s: %w", p.ID.Short(), p.Addr, errHearsay)
	}
	n.hearsayOut++
	return func() {
		n.mu.Lock()
		n.hearsayOut--
		n.mu.Unlock()
	}, nil
}

// dial connects to p. A p without an ID (an address the DHT named) takes
// whichever node answers there but this one or a banned one, and the
// handshake names it.
func (n *Node) dial(ctx context.Context, p PeerAddr) (*peerConn, error) {
	if n.ctx.Err() != nil {
		return nil, ErrNodeClosed
	}
	udp, err := net.ResolveUDPAddr("udp", p.Addr)
	if err != nil {
		return nil, fmt.Errorf("peer %s: %w", p.ID.Short(), err)
	}
	conf, err := tlsConfigFor(n.tlsConf, p.ID)
	if err != nil {
		return nil, err
	}
	if p.ID == "" {
		conf.VerifyConnection = n.verifyAnyPeer
	}
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	n.noteSent(udp.String())
	n.traversal.dialing(p.ID)
	qc, err := n.tr.Dial(ctx, udp, conf, quicConfig())
	kind := kindDirect
	n.mu.Lock()
	if recentLocked(n.reach.punched, udp.String()) {
		// Through a hole a punch beside this dial opened.
		kind = kindPunched
	}
	n.mu.Unlock()
	if err != nil {
		return nil, fmt.Errorf("peer %s at %s: %w", p.ID.Short(), p.Addr, err)
	}
	if p.ID == "" {
		if p.ID, err = peerIDOf(qc.ConnectionState().TLS); err != nil {
			qc.CloseWithError(0, "")
			return nil, err
		}
	}
	// The handshake proved that p.ID's key answers at p.Addr.
	n.confirm(p)
	return n.addConn(qc, p.ID, p.Addr, true, kind)
}

// verifyAnyPeer accepts any node's handshake but this node's own or a
// banned one's.
func (n *Node) verifyAnyPeer(cs tls.ConnectionState) error {
	id, err := peerIDOf(cs)
	switch {
	case err != nil:
		return err
	case id == n.id:
		return errors.New("reached this node itself")
	case n.isBanned(id):
		return fmt.Errorf("reached banned peer %s", id.Short())
	}
	return nil
}

// acceptLoop takes the connections other nodes open.
func (n *Node) acceptLoop() {
	for {
		qc, err := n.ln.Accept(n.ctx)
		if err != nil {
			return
		}
		id, err := peerIDOf(qc.ConnectionState().TLS)
		if err != nil || n.isBanned(id) {
			qc.CloseWithError(errCodeBanned, "banned")
			continue
		}
		if n.full(qc.RemoteAddr()) {
			qc.CloseWithError(errCodeFull, "too many connections")
			continue
		}
		if id == n.originPeerID() {
			if !n.wg.Go(func() { n.serveOrigin(qc) }) {
				qc.CloseWithError(0, "node closing")
				return
			}
			continue
		}
		if _, err := n.addConn(qc, id, qc.RemoteAddr().String(), false); err != nil {
			return // closing
		}
	}
}

// full reports whether the node holds as many connections as it will, in
// all or from from's IP (or /64): strangers connecting in a flood must not
// grow n.live and n.conns, nor one address take every place.
func (n *Node) full(from net.Addr) bool {
	n.mu.Lock()
	defer n.mu.Unlock()
	if len(n.live) >= n.lim.conns {
		return true
	}
	pre := ipPrefix(from)
	same := 0
	for c := range n.live {
		if ipPrefix(c.RemoteAddr()) == pre {
			same++
		}
	}
	return same >= n.lim.connsPerIP
}

// ipPrefix is the network a connection's limit is shared by: its IPv4
// address, or its IPv6 /64.
func ipPrefix(a net.Addr) netip.Prefix {
	ap, err := netip.ParseAddrPort(a.String())
	if err != nil {
		return netip.Prefix{}
	}
	ip := ap.Addr().Unmap()
	bits := 32
	if ip.Is6() {
		bits = 64
	}
	p, _ := ip.Prefix(bits)
	return p
}

// addConn registers a new connection and starts serving it; on a node
// that is closing it closes the connection instead. If the pair already
// has a connection (both dialed at once), both nodes keep the one dialed
// by the node with the smaller ID, so they agree without talking.
// An outbound connection is of kind[0] if given (direct if not); an
// inbound one's kind is found here (see inboundKindLocked).
func (n *Node) addConn(qc *quic.Conn, id PeerID, addr string, outbound bool, kind ...connKind) (*peerConn, error) {
	c := &peerConn{id: id, addr: addr, conn: qc, outbound: outbound}
	if len(kind) > 0 {
		c.kind = kind[0]
	}
	dialer := func(pc *peerConn) PeerID {
		if pc.outbound {
			return n.id
		}
		return pc.id
	}
	var drop func() // a connection to close once n.mu is free
	defer func() {
		if drop != nil {
			drop()
		}
	}()
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.closing {
		drop = func() { qc.CloseWithError(0, "node closing") }
		return nil, ErrNodeClosed
	}
	// Not closing: the group takes the goroutines below, and Close, which
	// sets closing under n.mu, finds qc in n.live.
	n.live[qc] = struct{}{}
	if !outbound {
		c.kind = max(c.kind, n.inboundKindLocked(addr))
	}
	if c.kind == kindLAN {
		c.rate = lanRatePrior
	}
	n.traversal.connected(id, c.kind, outbound)
	if old := n.conns[id]; old != nil && old.conn.Context().Err() == nil {
		if dialer(old) < dialer(c) {
			// Serve the loser a while, so requests already in flight on
			// it finish, then close it.
			n.wg.Go(func() { n.serveConn(c, false) })
			n.wg.Go(func() {
				t := time.NewTimer(10 * time.Second)
				defer t.Stop()
				select {
				case <-t.C:
				case <-qc.Context().Done():
				case <-n.ctx.Done():
				}
				qc.CloseWithError(errCodeDuplicate, "duplicate connection")
			})
			return old, nil
		}
		drop = func() { old.conn.CloseWithError(errCodeDuplicate, "duplicate connection") }
	}
	n.conns[id] = c
	if !outbound {
		// An inbound peer's address is its listening socket: nodes dial
		// from the socket they listen on.
		n.rememberLocked(netip.Prefix{}, id, addr)
		n.confirmLocked(PeerAddr{ID: id, Addr: addr})
	}
	n.wg.Go(func() { n.serveConn(c, true) })
	n.wg.Go(func() { n.askObserved(c) })
	return c, nil
}

// serveConn answers the streams the other node opens until the connection
// ends, then forgets it.
func (n *Node) serveConn(c *peerConn, registered bool) {
	defer func() {
		n.mu.Lock()
		delete(n.live, c.conn)
		if registered && n.conns[c.id] == c {
			delete(n.conns, c.id)
			delete(n.whoHas, c.id) // its searches: the table is by connected asker
		}
		n.mu.Unlock()
	}()
	for {
		str, err := c.conn.AcceptStream(n.ctx)
		if err != nil {
			return
		}
		if !n.wg.Go(func() { n.serveStream(c, str) }) {
			str.CancelRead(0)
			str.CancelWrite(0)
			return
		}
	}
}

// request sends one request to c and returns the stream to read the answer
// from. The stream is cancelled when ctx ends.
func (c *peerConn) request(ctx context.Context, req request) (*quic.Stream, func(), error) {
	str, err := c.conn.OpenStreamSync(ctx)
	if err != nil {
		return nil, nil, err
	}
	stop := context.AfterFunc(ctx, func() {
		str.CancelRead(0)
		str.CancelWrite(0)
	})
	done := func() {
		stop()
		str.CancelRead(0)
	}
	if err := writeRequest(str, req); err != nil {
		done()
		return nil, nil, err
	}
	str.Close()
	return str, done, nil
}

func (c *peerConn) getBytes(ctx context.Context, req request, limit int) ([]byte, error) {
	str, done, err := c.request(ctx, req)
	if err != nil {
		return nil, err
	}
	defer done()
	b, err := readBytes(str, limit)
	if err != nil && ctx.Err() != nil {
		return nil, ctx.Err()
	}
	return b, err
}

func (c *peerConn) getPeers(ctx context.Context, req request) ([]PeerAddr, error) {
	str, done, err := c.request(ctx, req)
	if err != nil {
		return nil, err
	}
	defer done()
	return readPeers(str)
}

func (c *peerConn) manifest(ctx context.Context, id track.ID) ([]byte, error) {
	return c.getBytes(ctx, request{typ: msgManifest, id: id}, maxManifestBytes)
}

// start asks c for the start of a play of id, as the origin is asked
// (origin.Client.Start): the manifest, verified against key, and then up
// to n chunks from the one holding the first audio, of those c holds,
// which the returned reader verifies one by one. The answer is read
// under ctx; the caller closes the reader.
func (c *peerConn) start(ctx context.Context, id track.ID, n int, key []byte) (*origin.StartReader, error) {
	str, done, err := c.request(ctx, request{typ: msgStart, id: id, count: byte(min(n, origin.MaxStartChunks)), packed: true})
	if err != nil {
		return nil, err
	}
	err = readStatus(str)
	var sr *origin.StartReader
	if err == nil {
		sr, err = origin.ReadStart(streamBody{str, done}, key, id)
	}
	if err != nil {
		done()
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		return nil, err
	}
	return sr, nil
}

// streamBody is an answer's stream as a body to read and close.
type streamBody struct {
	io.Reader
	done func()
}

func (b streamBody) Close() error {
	b.done()
	return nil
}

func (c *peerConn) have(ctx context.Context, id track.ID) ([]byte, error) {
	return c.getBytes(ctx, request{typ: msgHave, id: id}, track.MaxFileSize/track.MinChunkSize/8+1)
}

func (c *peerConn) chunk(ctx context.Context, id track.ID, i int, size int, prio byte) ([]byte, error) {
	start := time.Now()
	b, err := c.getBytes(ctx, request{typ: msgChunk, id: id, index: uint32(i), priority: prio}, size)
	if err == nil {
		c.observe(len(b), time.Since(start))
	}
	return b, err
}

func (c *peerConn) peers(ctx context.Context) ([]PeerAddr, error) {
	return c.getPeers(ctx, request{typ: msgPeers})
}

// observe folds one answer into the peer's rate estimate.
func (c *peerConn) observe(n int, d time.Duration) {
	r := float64(n) / max(d.Seconds(), 1e-4)
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.rate == 0 {
		c.rate = r
	} else {
		c.rate = 0.7*c.rate + 0.3*r
	}
	c.strikes = 0
}
