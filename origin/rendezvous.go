package origin

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/netip"
	"time"
)

// The origin as a hole-punching rendezvous (docs/protocol.md, "NAT
// traversal (version 1)"): a node that cannot reach a listed peer asks
// the origin (POST /v1/punch) to tell that peer to punch toward it. The
// origin sends the peer a PUNCH of the peer protocol over a connection
// from its own server socket, which the peer's router lets in because the
// peer announces to that socket, and answers the asker with the peer's
// listed address.

// Rendezvous bounds.
const (
	// RendezvousRate and RendezvousBurst bound the punches one source
	// address (IPv6: /64) may ask for.
	RendezvousRate  = 1.0
	RendezvousBurst = 4
	// rendezvousAtOnce bounds the PUNCHes being delivered at once.
	rendezvousAtOnce = 16
	// rendezvousTimeout bounds the delivery of one PUNCH, handshake
	// included.
	rendezvousTimeout = 3 * time.Second
	// MaxPunchDelay bounds the delay a punch request may ask for.
	MaxPunchDelay = 2 * time.Second
	// DefaultPunchDelay is the delay when the request names none.
	DefaultPunchDelay = 100 * time.Millisecond
	// maxPunchBody bounds the body of POST /v1/punch.
	maxPunchBody = 2048
)

// Limit reasons of the rendezvous ("reason" of a 429's LimitError).
const (
	LimitPunchRate   = "punch_rate"
	LimitPunchAtOnce = "punch_at_once"
)

// punchDomain starts every signed punch request's message (see
// PunchRequest.message); punchNonceLen is the length of its nonce.
const (
	punchDomain   = "potluck-punch/1\x00"
	punchNonceLen = 16
)

// What the origin speaks of the peer protocol (docs/protocol.md, "Peer
// protocol"): the PUNCH request and the statuses of its answer.
const (
	peerMagic         = "PLK"
	peerVersion       = 1
	peerMsgPunch      = 10
	peerStatusOK      = 0
	peerStatusBusy    = 2
	maxPunchAddrBytes = 64
)

// PunchRequest is the body of POST /v1/punch: the node PeerID (signing
// with Key) asks the origin to have Target punch toward it.
type PunchRequest struct {
	PeerID string `json:"peer_id"`
	Key    string `json:"key"`      // base64url Ed25519 node key
	Target string `json:"target"`   // the peer ID to reach
	Nonce  string `json:"nonce"`    // base64url, 16 bytes: the punches' nonce
	Delay  int    `json:"delay_ms"` // before punching; 0: DefaultPunchDelay
	Time   int64  `json:"time_ms"`
	Sig    string `json:"sig"` // base64url, over message()
}

// PunchResponse is the answer to POST /v1/punch once the target took the
// PUNCH: its address as the tracker lists it, and the delay after which
// the asker punches.
type PunchResponse struct {
	Addr  string `json:"addr"`
	Delay int    `json:"delay_ms"`
}

// Sign makes r a punch request of the node holding key, to the origin
// whose key is originKey, at time now.
func (r *PunchRequest) Sign(key ed25519.PrivateKey, originKey ed25519.PublicKey, now time.Time) {
	r.PeerID, r.Key, r.Time = nodeIdentity(key, now)
	r.Sig = nodeSig(key, r.message(originKey))
}

func (r *PunchRequest) message(originKey ed25519.PublicKey) []byte {
	b := append([]byte(punchDomain), originKey...)
	b = binary.BigEndian.AppendUint64(b, uint64(r.Time))
	for _, s := range []string{r.PeerID, r.Target, r.Nonce} {
		b = binary.BigEndian.AppendUint16(b, uint16(len(s)))
		b = append(b, s...)
	}
	return binary.BigEndian.AppendUint32(b, uint32(r.Delay))
}

// punchAsk is a decoded, checked punch request.
type punchAsk struct {
	asker, target string
	nonce         [punchNonceLen]byte
	delay         time.Duration
}

// decodePunch parses and checks a punch request: signed by the key it
// carries, within AnnounceClockSkew of now, naming another peer.
func decodePunch(body []byte, originKey ed25519.PublicKey, now time.Time) (punchAsk, error) {
	var req PunchRequest
	var ask punchAsk
	if err := json.NewDecoder(bytes.NewReader(body)).Decode(&req); err != nil {
		return ask, badRequest("punch: %v", err)
	}
	if !peerIDPattern.MatchString(req.PeerID) || !peerIDPattern.MatchString(req.Target) {
		return ask, badRequest("punch: peer_id and target must be peer IDs")
	}
	if req.PeerID == req.Target {
		return ask, badRequest("punch: a node does not punch to itself")
	}
	nonce, err := base64.RawURLEncoding.DecodeString(req.Nonce)
	if err != nil || len(nonce) != punchNonceLen {
		return ask, badRequest("punch: nonce must be %d bytes, base64url", punchNonceLen)
	}
	if req.Delay < 0 || int64(req.Delay) > MaxPunchDelay.Milliseconds() { // compared in ms: a duration of a huge delay_ms wraps
		return ask, badRequest("punch: delay_ms must be 0 to %d", MaxPunchDelay.Milliseconds())
	}
	if err := checkNodeSig("punch", req.PeerID, req.Key, req.Sig, req.Time, now, func() []byte { return req.message(originKey) }); err != nil {
		return ask, err
	}
	ask = punchAsk{asker: req.PeerID, target: req.Target, nonce: [punchNonceLen]byte(nonce), delay: time.Duration(req.Delay) * time.Millisecond}
	if ask.delay == 0 {
		ask.delay = DefaultPunchDelay
	}
	return ask, nil
}

// rendezvous delivers PUNCHes within its bounds.
type rendezvous struct {
	cb   *connectBack // its dial and certificate
	rate *rateTable
	sem  chan struct{}
}

func newRendezvous(cb *connectBack) *rendezvous {
	return &rendezvous{cb: cb, rate: newRateTable(RendezvousRate, RendezvousBurst, LimitPunchRate), sem: make(chan struct{}, rendezvousAtOnce)}
}

// errPunchRefused is a PUNCH the target answered with a status other
// than OK.
var errPunchRefused = errors.New("the peer did not take the punch")

// punchMessage is a PUNCH request of the peer protocol (docs/protocol.md,
// "Peer protocol"): the asker's ID and address, the nonce and the delay.
func punchMessage(asker string, addr netip.AddrPort, nonce [punchNonceLen]byte, delay time.Duration) ([]byte, error) {
	a := addr.String()
	if len(asker) > 255 || len(a) > maxPunchAddrBytes {
		return nil, fmt.Errorf("punch for %q at %s does not fit", asker, a)
	}
	b := append([]byte(peerMagic), peerVersion, peerMsgPunch, byte(len(asker)))
	b = append(b, asker...)
	b = append(b, byte(len(a)))
	b = append(b, a...)
	b = append(b, nonce[:]...)
	return binary.BigEndian.AppendUint16(b, uint16(delay/time.Millisecond)), nil
}

// deliver sends the PUNCH msg to the node target at addr over a
// peer-protocol connection from the origin's socket, and reads its
// answer. It holds one of the rendezvous's places, or returns a
// *LimitError if none is free.
func (rv *rendezvous) deliver(ctx context.Context, addr netip.AddrPort, target string, msg []byte) error {
	select {
	case rv.sem <- struct{}{}:
		defer func() { <-rv.sem }()
	default:
		return &LimitError{Reason: LimitPunchAtOnce, RetryAfter: time.Second}
	}
	ctx, cancel := context.WithTimeout(ctx, rendezvousTimeout)
	defer cancel()
	qc, err := rv.cb.dial(ctx, addr, rv.cb.peerTLS(target))
	if err != nil {
		return fmt.Errorf("%w (%s: %v)", errNotThere, addr, err)
	}
	defer qc.CloseWithError(0, "punch delivered")
	str, err := qc.OpenStreamSync(ctx)
	if err != nil {
		return err
	}
	defer str.CancelRead(0)
	stop := context.AfterFunc(ctx, func() { str.CancelRead(0); str.CancelWrite(0) })
	defer stop()
	if _, err := str.Write(msg); err != nil {
		return err
	}
	str.Close()
	var st [1]byte
	if _, err := io.ReadFull(str, st[:]); err != nil {
		return fmt.Errorf("no answer to the punch: %w", err)
	}
	switch st[0] {
	case peerStatusOK:
		return nil
	case peerStatusBusy:
		return fmt.Errorf("%w: busy", errPunchRefused)
	}
	return fmt.Errorf("%w: status %d", errPunchRefused, st[0])
}

// postPunch answers POST /v1/punch. The asker's address is the source of
// the request (over HTTP/3, from the node's swarm socket): nothing in the
// body names an address, so nobody can aim a node's punches at a third
// party.
func (s *Server) postPunch(w http.ResponseWriter, r *http.Request) error {
	if r.ProtoMajor != 3 {
		return badRequest("punch: ask over HTTP/3 from the node's swarm socket: the origin names the address it sees the request come from")
	}
	src, err := sourceAddrPort(r)
	if err != nil {
		return err
	}
	if err := s.rendezvous.rate.allow(src.Addr()); err != nil {
		s.metrics.rendezvous.WithLabelValues("busy").Inc()
		return s.trackerRefusal(err, src.Addr())
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxPunchBody))
	if err != nil {
		return badRequest("punch: %v", err)
	}
	ask, err := decodePunch(body, s.url.Key, time.Now())
	if err != nil {
		s.metrics.rendezvous.WithLabelValues("refused").Inc()
		return err
	}
	listed, ok := s.tracker.Lookup(ask.target)
	if !ok {
		s.metrics.rendezvous.WithLabelValues("not_listed").Inc()
		return notFound("punch: %s has not announced lately", ask.target)
	}
	addr, err := netip.ParseAddrPort(listed.Addr)
	if err != nil {
		return fmt.Errorf("tracker lists %s at %q: %w", ask.target, listed.Addr, err)
	}
	msg, err := punchMessage(ask.asker, src, ask.nonce, ask.delay)
	if err != nil {
		return badRequest("punch: %v", err)
	}
	err = s.rendezvous.deliver(r.Context(), addr, ask.target, msg)
	var le *LimitError
	switch {
	case errors.As(err, &le):
		s.metrics.rendezvous.WithLabelValues("busy").Inc()
		return s.trackerRefusal(err, src.Addr())
	case err != nil:
		s.metrics.rendezvous.WithLabelValues("failed").Inc()
		s.log.Debug("punch not delivered", "asker", ask.asker, "target", ask.target, "addr", addr, "err", err)
		return httpError{code: http.StatusBadGateway, msg: fmt.Sprintf("punch: %s did not take it: %v", ask.target, err)}
	}
	s.metrics.rendezvous.WithLabelValues("ok").Inc()
	s.log.Debug("punch delivered", "asker", ask.asker, "from", src, "target", ask.target, "addr", addr)
	return writeJSON(w, PunchResponse{Addr: addr.String(), Delay: int(ask.delay / time.Millisecond)})
}
