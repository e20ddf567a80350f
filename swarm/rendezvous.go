package swarm

// The origin as a rendezvous: when no connected peer can relay a punch,
// a node asks the origin (POST /v1/punch), which delivers the PUNCH over
// a peer-protocol connection of its own. See docs/protocol.md, "NAT
// traversal (version 1)".

import (
	"context"
	"encoding/base64"
	"io"
	"time"

	"github.com/quic-go/quic-go"

	"github.com/potluckfm/potluck/origin"
	"github.com/potluckfm/potluck/swarm/nat"
)

// rendezvousOrigin is an origin that relays punches (origin.Client).
type rendezvousOrigin interface {
	Punch(ctx context.Context, req origin.PunchRequest) (origin.PunchResponse, error)
}

var _ rendezvousOrigin = (*origin.Client)(nil)

// punchViaOrigin asks the origin to be the rendezvous: it tells p, over a
// connection of its own, to punch toward this node's address as the
// origin sees this request, and answers with p's listed address.
func (n *Node) punchViaOrigin(ctx context.Context, ro rendezvousOrigin, p PeerAddr) error {
	nonce := nat.NewNonce()
	req := origin.PunchRequest{Target: string(p.ID), Nonce: base64.RawURLEncoding.EncodeToString(nonce[:]), Delay: int(punchDelay / time.Millisecond)}
	req.Sign(n.key, n.origin.URL().Key, time.Now())
	rctx, cancel := context.WithTimeout(ctx, 4*time.Second)
	resp, err := ro.Punch(rctx, req)
	cancel()
	if err != nil {
		return err
	}
	delay := min(time.Duration(resp.Delay)*time.Millisecond, maxPunchDelay)
	_, err = n.punchAndDial(ctx, p, resp.Addr, nonce, time.Now().Add(delay), "origin")
	return err
}

// originPeerID is the peer ID of the origin's key: the identity its
// connections to this node prove.
func (n *Node) originPeerID() PeerID { return IDFromKey(n.origin.URL().Key) }

// serveOrigin answers a connection the origin opened: a few PUNCHes, and
// nothing else. The origin is no peer: it is not listed, asked or
// counted, and what it delivers is bounded apart from what peers relay.
func (n *Node) serveOrigin(qc *quic.Conn) {
	n.mu.Lock()
	if n.closing {
		n.mu.Unlock()
		qc.CloseWithError(0, "node closing")
		return
	}
	n.live[qc] = struct{}{}
	n.mu.Unlock()
	defer func() {
		n.mu.Lock()
		delete(n.live, qc)
		n.mu.Unlock()
		qc.CloseWithError(0, "")
	}()
	c := &peerConn{id: n.originPeerID(), addr: qc.RemoteAddr().String(), conn: qc}
	for range originPunchesPerConn {
		ctx, cancel := context.WithTimeout(n.ctx, requestTimeout)
		str, err := qc.AcceptStream(ctx)
		cancel()
		if err != nil {
			return
		}
		str.SetDeadline(time.Now().Add(requestTimeout))
		req, err := readRequest(io.LimitReader(str, maxRequestLen))
		switch {
		case err != nil:
		case req.typ != msgPunch:
			err = ErrBadRequest
		case !n.punch.fromOrigin.Allow():
			err = ErrBusy
		default:
			err = n.answerPunch(c, str, req)
		}
		if err != nil {
			writeStatus(str, errorToStatus(err))
		}
		str.Close()
		str.CancelRead(0)
	}
	// The last answer may be on its way: the origin closes once it has
	// read it.
	t := time.NewTimer(requestTimeout)
	defer t.Stop()
	select {
	case <-qc.Context().Done():
	case <-n.ctx.Done():
	case <-t.C:
	}
}
