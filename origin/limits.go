package origin

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/quic-go/quic-go"
	"github.com/quic-go/quic-go/http3"
)

// Defaults of Limits: what one client may hold of an origin.
const (
	DefaultBodyTimeout    = 20 * time.Second
	DefaultHeaderTimeout  = 10 * time.Second
	DefaultIdleTimeout    = time.Minute
	DefaultConnsPerAddr   = 32
	DefaultStreamsPerConn = 100
	// DefaultMaxConns applies when the file descriptor limit is unknown;
	// otherwise the default is three quarters of it, less a reserve.
	DefaultMaxConns = 4096

	maxHeaderBytes = 64 << 10

	// The metrics listener serves a few scrapers, never the public.
	metricsMaxConns     = 64
	metricsConnsPerAddr = 8
	metricsTimeout      = 10 * time.Second
)

// Limits bound what one client can hold of an origin, so that no one
// client starves the rest. A zero field takes its default; see
// README.md, "Running an origin".
type Limits struct {
	// BodyTimeout is how long a request may take to send its body, from
	// the moment its handler starts. Past it, reads of the body fail.
	BodyTimeout time.Duration
	// HeaderTimeout is how long a TCP connection may take to send a
	// request's header (and the TLS handshake before the first).
	HeaderTimeout time.Duration
	// IdleTimeout closes a connection (TCP or QUIC) idle for that long.
	IdleTimeout time.Duration
	// ConnsPerAddr caps the open connections, TCP and QUIC together, from
	// one IP address (one /64 for IPv6). Connections past it are closed
	// as soon as accepted.
	ConnsPerAddr int
	// MaxConns caps the open connections, TCP and QUIC together, from
	// everyone. The default keeps a quarter of the process's file
	// descriptors free, so the library, /metrics and the TLS handshakes of
	// honest clients always have some.
	MaxConns int
	// StreamsPerConn caps the concurrent requests of one HTTP/2 or HTTP/3
	// connection (the QUIC or HTTP/2 stream limit the client is told).
	StreamsPerConn int
}

func (l Limits) withDefaults() Limits {
	if l.BodyTimeout <= 0 {
		l.BodyTimeout = DefaultBodyTimeout
	}
	if l.HeaderTimeout <= 0 {
		l.HeaderTimeout = DefaultHeaderTimeout
	}
	if l.IdleTimeout <= 0 {
		l.IdleTimeout = DefaultIdleTimeout
	}
	if l.ConnsPerAddr <= 0 {
		l.ConnsPerAddr = DefaultConnsPerAddr
	}
	if l.MaxConns <= 0 {
		l.MaxConns = defaultMaxConns()
	}
	if l.StreamsPerConn <= 0 {
		l.StreamsPerConn = DefaultStreamsPerConn
	}
	return l
}

// defaultMaxConns is three quarters of the file descriptor limit, less a
// reserve for everything else the process opens.
func defaultMaxConns() int {
	n := fileLimit()
	if n <= 0 {
		return DefaultMaxConns
	}
	return max(64, (n-128)*3/4)
}

// Reasons a connection is refused, the "reason" label of
// potluck_origin_connections_refused_total.
const (
	reasonPerAddr = "per_address"
	reasonTotal   = "total"
)

// addrKey is the address a limit counts by: the IP, or its /64 for IPv6,
// since one client easily holds a whole /64.
func addrKey(a net.Addr) string {
	var ip net.IP
	switch a := a.(type) {
	case *net.TCPAddr:
		ip = a.IP
	case *net.UDPAddr:
		ip = a.IP
	default:
		host, _, err := net.SplitHostPort(a.String())
		if err != nil {
			return a.String()
		}
		ip = net.ParseIP(host)
		if ip == nil {
			return host
		}
	}
	if ip4 := ip.To4(); ip4 != nil {
		return ip4.String()
	}
	return (&net.IPNet{IP: ip.Mask(net.CIDRMask(64, 128)), Mask: net.CIDRMask(64, 128)}).String()
}

// connLimiter counts open connections per address and in all, and refuses
// those past either cap.
type connLimiter struct {
	perAddr, total int
	refused        *prometheus.CounterVec // transport, reason
	bites          *biteLog

	mu     sync.Mutex
	n      int
	byAddr map[string]int
}

func newConnLimiter(perAddr, total int, refused *prometheus.CounterVec, bites *biteLog) *connLimiter {
	return &connLimiter{perAddr: perAddr, total: total, refused: refused, bites: bites, byAddr: map[string]int{}}
}

// admits says whether a new connection from a would be admitted, without
// counting it (a refusal is counted and logged): QUIC asks before the
// handshake, when the address may still be spoofed.
func (l *connLimiter) admits(a net.Addr, transport string) bool {
	k := addrKey(a)
	l.mu.Lock()
	reason := l.reason(k)
	l.mu.Unlock()
	if reason != "" {
		l.refuse(k, transport, reason)
	}
	return reason == ""
}

// reason is why a new connection from k would be refused, or "". l.mu held.
func (l *connLimiter) reason(k string) string {
	switch {
	case l.byAddr[k] >= l.perAddr:
		return reasonPerAddr
	case l.n >= l.total:
		return reasonTotal
	}
	return ""
}

// acquire counts a new connection from a, or refuses it (counted and
// logged). release must be called once when the connection closes.
func (l *connLimiter) acquire(a net.Addr, transport string) (release func(), ok bool) {
	k := addrKey(a)
	l.mu.Lock()
	reason := l.reason(k)
	if reason == "" {
		l.n++
		l.byAddr[k]++
	}
	l.mu.Unlock()
	if reason != "" {
		l.refuse(k, transport, reason)
		return nil, false
	}
	var once sync.Once
	return func() {
		once.Do(func() {
			l.mu.Lock()
			defer l.mu.Unlock()
			l.n--
			if l.byAddr[k]--; l.byAddr[k] <= 0 {
				delete(l.byAddr, k)
			}
		})
	}, true
}

func (l *connLimiter) refuse(k, transport, reason string) {
	l.refused.WithLabelValues(transport, reason).Inc()
	if reason == reasonPerAddr {
		l.bites.log("connections per address", k, transport, "max", l.perAddr)
	} else {
		l.bites.log("connections in all", "", transport, "max", l.total)
	}
}

// limitedListener is a TCP listener whose connections a connLimiter counts.
type limitedListener struct {
	net.Listener
	lim       *connLimiter
	transport string
}

func (l *limitedListener) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		release, ok := l.lim.acquire(c.RemoteAddr(), l.transport)
		if !ok {
			c.Close() // the descriptor is back at once
			continue
		}
		return &limitedConn{Conn: c, release: release}, nil
	}
}

type limitedConn struct {
	net.Conn
	release func()
}

func (c *limitedConn) Close() error {
	c.release()
	return c.Conn.Close()
}

// quicListener counts QUIC connections for the metrics and the limits.
type quicListener struct {
	*quic.EarlyListener
	m   *metrics
	lim *connLimiter
}

func (l *quicListener) Accept(ctx context.Context) (*quic.Conn, error) {
	for {
		c, err := l.EarlyListener.Accept(ctx)
		if err != nil {
			return nil, err
		}
		release, ok := l.lim.acquire(c.RemoteAddr(), "quic")
		if !ok {
			c.CloseWithError(quic.ApplicationErrorCode(http3.ErrCodeExcessiveLoad), "too many connections")
			continue
		}
		l.m.conns.WithLabelValues("quic").Inc()
		open := l.m.openConns.WithLabelValues("quic")
		open.Inc()
		context.AfterFunc(c.Context(), func() {
			open.Dec()
			release()
		})
		return c, nil
	}
}

// quicConfig is the QUIC configuration of the HTTP/3 listener: streams,
// handshake and idle timeouts bounded, and connections from an address
// already at its cap refused before the handshake.
func quicConfig(lim Limits, cl *connLimiter) *quic.Config {
	base := &quic.Config{
		MaxIdleTimeout:        lim.IdleTimeout,
		HandshakeIdleTimeout:  min(5*time.Second, lim.HeaderTimeout),
		MaxIncomingStreams:    int64(lim.StreamsPerConn),
		MaxIncomingUniStreams: 16,   // HTTP/3 needs 3: control and QPACK
		Allow0RTT:             true, // clients send only GETs in 0-RTT (docs/protocol.md)
	}
	conf := *base
	conf.GetConfigForClient = func(info *quic.ClientInfo) (*quic.Config, error) {
		if !cl.admits(info.RemoteAddr, "quic") {
			return nil, errors.New("too many connections")
		}
		return base, nil
	}
	return &conf
}

// limitRequests bounds how long a request may take to send its body and
// counts the requests in flight. HTTP/1 and HTTP/2 take a read deadline;
// HTTP/3 streams do not, so the body is closed when it passes.
func (s *Server) limitRequests(h http.Handler) http.Handler {
	timeout := s.limits.BodyTimeout
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		transport := "tcp"
		if r.ProtoMajor == 3 {
			transport = "quic"
		}
		inFlight := s.metrics.inFlight.WithLabelValues(transport)
		inFlight.Inc()
		defer inFlight.Dec()
		if r.Body == nil || r.Body == http.NoBody {
			h.ServeHTTP(w, r)
			return
		}
		b := &timedBody{ReadCloser: r.Body, s: s, addr: r.RemoteAddr, transport: transport}
		if err := http.NewResponseController(w).SetReadDeadline(time.Now().Add(timeout)); err != nil {
			t := time.AfterFunc(timeout, func() {
				b.expired.Store(true)
				b.ReadCloser.Close()
			})
			defer t.Stop()
		}
		r.Body = b
		h.ServeHTTP(w, r)
	})
}

// timedBody is a request body under the body timeout; it counts and logs
// the first read the timeout cuts.
type timedBody struct {
	io.ReadCloser
	s         *Server
	addr      string
	transport string
	expired   atomic.Bool
	counted   atomic.Bool
}

func (b *timedBody) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	if err == nil || err == io.EOF {
		return n, err
	}
	var ne net.Error
	if b.expired.Load() || errors.Is(err, os.ErrDeadlineExceeded) || (errors.As(err, &ne) && ne.Timeout()) {
		if !b.counted.Swap(true) {
			b.s.metrics.bodyTimeouts.WithLabelValues(b.transport).Inc()
			addr := b.addr
			if host, _, err := net.SplitHostPort(addr); err == nil {
				addr = addrKey(&net.TCPAddr{IP: net.ParseIP(host)})
			}
			b.s.bites.log("request body timeout", addr, b.transport, "timeout", b.s.limits.BodyTimeout)
		}
		err = fmt.Errorf("request body not sent within %v: %w", b.s.limits.BodyTimeout, os.ErrDeadlineExceeded)
	}
	return n, err
}
