package origin

import (
	"context"
	"crypto/ed25519"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"sync"
	"time"

	"github.com/quic-go/quic-go"

	"github.com/potluckfm/potluck/internal/peerid"
)

// Connect-back bounds. A result is remembered so that a node's announces
// every minute cost one handshake, not one each; a failure is remembered
// for less time, so a node that was not listening yet is soon tried again.
const (
	connectBackTimeout  = 3 * time.Second
	connectBackOKFor    = 10 * time.Minute
	connectBackFailFor  = 30 * time.Second
	connectBackAtOnce   = 32
	connectBackRemember = 100_000
)

// LimitConnectBack is the refusal reason when too many connect-backs are
// under way at once.
const LimitConnectBack = "connect_back"

// errNotThere is a connect-back that found no node with the announcer's
// key at the address.
var errNotThere = errors.New("no node with the announcing key answered there")

// connectBack proves that the holder of a node key answers at an address
// before the tracker lists it there: the origin completes a peer-protocol
// handshake (QUIC, mutual TLS) with the address and checks that the key
// proven is the announcer's. The origin presents its own certificate; it
// sends no request and closes the connection at once.
type connectBack struct {
	cert tls.Certificate
	// dial opens a QUIC connection; it is the origin's own transport, or a
	// throwaway socket when the origin serves no QUIC.
	dial func(ctx context.Context, addr netip.AddrPort, conf *tls.Config) (*quic.Conn, error)
	sem  chan struct{}

	mu   sync.Mutex
	seen map[connectBackKey]connectBackResult
}

type connectBackKey struct {
	id   string
	addr netip.AddrPort
}

type connectBackResult struct {
	ok    bool
	until time.Time
}

func newConnectBack(cert tls.Certificate, tr *quic.Transport) *connectBack {
	cb := &connectBack{cert: cert, sem: make(chan struct{}, connectBackAtOnce), seen: map[connectBackKey]connectBackResult{}}
	cb.dial = func(ctx context.Context, addr netip.AddrPort, conf *tls.Config) (*quic.Conn, error) {
		udp := net.UDPAddrFromAddrPort(addr)
		if tr != nil {
			return tr.Dial(ctx, udp, conf, &quic.Config{HandshakeIdleTimeout: connectBackTimeout})
		}
		return quic.DialAddr(ctx, udp.String(), conf, &quic.Config{HandshakeIdleTimeout: connectBackTimeout})
	}
	return cb
}

// check returns nil if the holder of key answers at addr, from memory or
// by connecting now; errNotThere if not; a *LimitError if too many
// checks are under way. cached says whether it dialled.
func (cb *connectBack) check(ctx context.Context, addr netip.AddrPort, key ed25519.PublicKey) (dialled bool, err error) {
	k := connectBackKey{id: peerid.FromKey(key), addr: addr}
	now := time.Now()
	cb.mu.Lock()
	r, ok := cb.seen[k]
	cb.mu.Unlock()
	if ok && now.Before(r.until) {
		if r.ok {
			return false, nil
		}
		return false, errNotThere
	}
	select {
	case cb.sem <- struct{}{}:
		defer func() { <-cb.sem }()
	default:
		return false, &LimitError{Reason: LimitConnectBack, RetryAfter: 2 * time.Second}
	}
	err = cb.handshake(ctx, addr, k.id)
	r = connectBackResult{ok: err == nil, until: now.Add(connectBackOKFor)}
	if err != nil {
		r.until = now.Add(connectBackFailFor)
	}
	cb.remember(k, r)
	return true, err
}

func (cb *connectBack) handshake(ctx context.Context, addr netip.AddrPort, want string) error {
	ctx, cancel := context.WithTimeout(ctx, connectBackTimeout)
	defer cancel()
	qc, err := cb.dial(ctx, addr, cb.peerTLS(want))
	if err != nil {
		return fmt.Errorf("%w (%s: %v)", errNotThere, addr, err)
	}
	qc.CloseWithError(0, "connect-back done")
	return nil
}

// peerTLS is the client side of a peer-protocol handshake with the node
// whose peer ID is want: the origin's certificate, the peer ALPN, and the
// node's key checked against want.
func (cb *connectBack) peerTLS(want string) *tls.Config {
	return &tls.Config{
		MinVersion:         tls.VersionTLS13,
		Certificates:       []tls.Certificate{cb.cert},
		NextProtos:         []string{peerid.ALPN},
		InsecureSkipVerify: true, // the key is the identity; checked below
		VerifyConnection: func(cs tls.ConnectionState) error {
			if len(cs.PeerCertificates) == 0 {
				return errors.New("no certificate")
			}
			pub, ok := cs.PeerCertificates[0].PublicKey.(ed25519.PublicKey)
			if !ok || peerid.FromKey(pub) != want {
				return errors.New("another key")
			}
			return nil
		},
	}
}

// remember keeps r, forgetting expired results (and, if that is not
// enough, any) so that the table stays bounded.
func (cb *connectBack) remember(k connectBackKey, r connectBackResult) {
	cb.mu.Lock()
	defer cb.mu.Unlock()
	if len(cb.seen) >= connectBackRemember {
		now := time.Now()
		for k, v := range cb.seen {
			if now.After(v.until) {
				delete(cb.seen, k)
			}
		}
		for k := range cb.seen {
			if len(cb.seen) < connectBackRemember*3/4 {
				break
			}
			delete(cb.seen, k)
		}
	}
	cb.seen[k] = r
}
