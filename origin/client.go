package origin

import (
	"bytes"
	"cmp"
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/quic-go/quic-go"
	"github.com/quic-go/quic-go/http3"

	"github.com/potluckfm/potluck/track"
)

// Transport chooses how a Client reaches its origin.
type Transport string

// Transports a Client can use. TransportAuto tries HTTP/3 and falls back to
// HTTPS/TCP when QUIC cannot connect (UDP blocked), retrying QUIC later.
const (
	TransportAuto Transport = "auto"
	TransportQUIC Transport = "quic"
	TransportTCP  Transport = "tcp"
)

// ParseTransport parses a --transport flag value.
func ParseTransport(s string) (Transport, error) {
	switch t := Transport(s); t {
	case TransportAuto, TransportQUIC, TransportTCP:
		return t, nil
	}
	return "", fmt.Errorf("transport %q: want auto, quic or tcp", s)
}

// ClientOptions tune a Client. The zero value is ready to use.
type ClientOptions struct {
	// Transport defaults to TransportAuto.
	Transport Transport
	// QUICDialTimeout bounds how long TransportAuto waits for a QUIC
	// handshake before it falls back to TCP; default 1.5s.
	QUICDialTimeout time.Duration
	// QUICRetryAfter is how long the fallback sticks before QUIC is tried
	// again; default 5 minutes.
	QUICRetryAfter time.Duration
	// QUIC, if set, is the QUIC transport to dial from: the swarm node's
	// own (so announces are listed at the address the origin sees; see
	// UseQUIC). By default each connection gets its own socket.
	QUIC *quic.Transport
	// TCPDialTimeout bounds a TCP connect; default 5s.
	TCPDialTimeout time.Duration
	// ResponseTimeout bounds the wait for an answer's header once a
	// request is sent; past it the address counts as failed (see
	// Client). Default 10s.
	ResponseTimeout time.Duration
}

// StatusError is an HTTP error answer from the origin.
type StatusError struct {
	Code int
	Msg  string
}

func (e *StatusError) Error() string {
	return fmt.Sprintf("origin answered %d %s: %s", e.Code, http.StatusText(e.Code), e.Msg)
}

// ErrNotFound matches (with errors.Is) a StatusError with code 404.
var ErrNotFound = errors.New("not found on the origin")

// Is makes errors.Is(err, ErrNotFound) true for 404 answers.
func (e *StatusError) Is(target error) bool {
	return target == ErrNotFound && e.Code == http.StatusNotFound
}

// Client talks to one origin and trusts only the key its URL pins: the TLS
// certificate and every manifest must carry it, and every chunk must match
// its manifest. Safe for concurrent use; Close it when done.
//
// An origin run as replicas has several addresses in its URL, and a host
// name may resolve to several addresses. The client sends every request
// to one of them and sticks to it until a request there fails to connect,
// times out (ResponseTimeout, or three requests in a row at their
// caller's deadline with no answer between) or gets a 5xx answer; it then
// moves to the next, wrapping around, and sends the failed request again
// there, until each address has had one try.
type Client struct {
	url  URL
	opts ClientOptions
	tcp  *http.Transport
	ep   *endpoints
	// stalls counts requests in a row that reached their caller's
	// deadline without an answer.
	stalls atomic.Int32

	quicBrokenUntil atomic.Int64 // unix nanos; TCP is used until then
	lastTransport   atomic.Value // Transport that answered last
	// h3 is the HTTP/3 transport, and quicTr the QUIC transport it dials
	// from (nil: a socket per connection). UseQUIC replaces both and
	// retires the old h3, whose connections close once idle.
	h3     atomic.Pointer[http3.Transport]
	quicTr atomic.Pointer[quic.Transport]
	// sessions keeps TLS session tickets across connections, so a new one
	// resumes and sends its GETs in 0-RTT.
	sessions tls.ClientSessionCache
	lastConn atomic.Pointer[quic.Conn]
	mu       sync.Mutex
	retired  []*http3.Transport
}

// dialError marks a failure to set up QUIC, as opposed to a failed request.
type dialError struct{ err error }

func (e dialError) Error() string { return "quic: " + e.err.Error() }
func (e dialError) Unwrap() error { return e.err }

// NewClient returns a client for the origin at u.
func NewClient(u URL, opts ClientOptions) *Client {
	opts.Transport = cmp.Or(opts.Transport, TransportAuto)
	opts.QUICDialTimeout = cmp.Or(opts.QUICDialTimeout, 1500*time.Millisecond)
	opts.QUICRetryAfter = cmp.Or(opts.QUICRetryAfter, 5*time.Minute)
	opts.TCPDialTimeout = cmp.Or(opts.TCPDialTimeout, 5*time.Second)
	opts.ResponseTimeout = cmp.Or(opts.ResponseTimeout, 10*time.Second)
	c := &Client{url: u, opts: opts, ep: newEndpoints(u.AllAddrs()), sessions: tls.NewLRUClientSessionCache(32)}
	c.h3.Store(c.newH3(opts.QUIC))
	c.quicTr.Store(opts.QUIC)
	c.tcp = &http.Transport{
		DialContext:         (&net.Dialer{Timeout: opts.TCPDialTimeout}).DialContext,
		TLSClientConfig:     pinnedTLSConfig(u.Key, []string{"h2", "http/1.1"}),
		ForceAttemptHTTP2:   true,
		MaxIdleConnsPerHost: 64,
		IdleConnTimeout:     time.Minute,
		TLSHandshakeTimeout: 10 * time.Second,
	}
	return c
}

// UseQUIC makes the client dial HTTP/3 from tr from now on, and closes
// its idle HTTP/3 connections, which were dialled from elsewhere; a
// request in flight finishes where it started. tr must be the swarm
// node's one socket: the client's announces then say so (same_socket),
// and over HTTP/3 the tracker lists the address it sees, which peers can
// call back through any NAT. UseQUIC(nil) goes back to a socket per
// connection (before the node's socket closes).
func (c *Client) UseQUIC(tr *quic.Transport) {
	c.mu.Lock()
	defer c.mu.Unlock()
	old := c.h3.Swap(c.newH3(tr))
	c.quicTr.Store(tr) // after the swap: announces say so only when true
	old.CloseIdleConnections()
	c.retired = append(c.retired, old)
}

// closeRetired closes the retired transports' connections that are idle
// now: a request that was in flight at UseQUIC has finished by then.
func (c *Client) closeRetired() {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, t := range c.retired {
		t.CloseIdleConnections()
	}
}

// newH3 returns an HTTP/3 transport whose connections dial from tr, or
// each from its own socket if tr is nil.
func (c *Client) newH3(tr *quic.Transport) *http3.Transport {
	tlsConf := pinnedTLSConfig(c.url.Key, []string{http3.NextProtoH3})
	tlsConf.ClientSessionCache = c.sessions // resumption and 0-RTT on the next connection
	return &http3.Transport{
		TLSClientConfig: tlsConf,
		QUICConfig:      &quic.Config{MaxIdleTimeout: time.Minute, KeepAlivePeriod: 20 * time.Second},
		Dial: func(ctx context.Context, addr string, tlsConf *tls.Config, conf *quic.Config) (*quic.Conn, error) {
			ctx, cancel := context.WithTimeout(ctx, c.opts.QUICDialTimeout)
			defer cancel()
			var conn *quic.Conn
			var err error
			if tr != nil {
				var udp *net.UDPAddr
				if udp, err = net.ResolveUDPAddr("udp", addr); err == nil {
					conn, err = tr.DialEarly(ctx, udp, tlsConf, conf)
				}
			} else {
				conn, err = quic.DialAddrEarly(ctx, addr, tlsConf, conf)
			}
			if err != nil {
				return nil, dialError{err}
			}
			c.lastConn.Store(conn)
			return conn, nil
		},
	}
}

// Used0RTT reports whether the newest HTTP/3 connection sent its first
// requests in 0-RTT (a resumed session with no handshake round trip).
func (c *Client) Used0RTT() bool {
	conn := c.lastConn.Load()
	if conn == nil {
		return false
	}
	select {
	case <-conn.HandshakeComplete():
	case <-conn.Context().Done():
	}
	return conn.ConnectionState().Used0RTT
}

// URL is the origin this client talks to.
func (c *Client) URL() URL { return c.url }

// Addr is the address requests go to now: one of the URL's, or one its
// host name resolved to.
func (c *Client) Addr() string {
	c.ep.mu.Lock()
	defer c.ep.mu.Unlock()
	return c.ep.targetLocked()
}

// LastTransport reports which transport answered the last request ("quic"
// or "tcp"), or "" before the first.
func (c *Client) LastTransport() Transport {
	t, _ := c.lastTransport.Load().(Transport)
	return t
}

// Close closes idle connections.
func (c *Client) Close() error {
	c.tcp.CloseIdleConnections()
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, t := range c.retired {
		t.Close()
	}
	c.retired = nil
	return c.h3.Load().Close()
}

// do sends a request built by newReq over QUIC or TCP, falling back from
// the one to the other as the options allow. The caller closes the body of
// a 2xx response; any other status is returned as a *StatusError.
func (c *Client) do(ctx context.Context, method, path string, body []byte) (*http.Response, error) {
	return c.doWith(ctx, method, path, body, nil)
}

// doWith is do with extra request headers. It tries the current address
// and, if that fails, the next ones (see Client).
func (c *Client) doWith(ctx context.Context, method, path string, body []byte, hdr http.Header) (*http.Response, error) {
	target, gen := c.ep.current(ctx)
	tries := c.ep.count()
	for try := 1; ; try++ {
		resp, err := c.attempt(ctx, target, method, path, body, hdr)
		failed := err != nil || resp.StatusCode >= 500
		if failed && ctx.Err() != nil {
			// The caller gave up: not the address's fault, unless
			// that keeps happening with nothing answering.
			if resp == nil && errors.Is(ctx.Err(), context.DeadlineExceeded) && c.stalls.Add(1) >= 3 {
				c.stalls.Store(0)
				c.ep.fail(gen)
			}
			failed = false
		}
		if resp != nil {
			c.stalls.Store(0)
		}
		if !failed || try >= tries {
			if err != nil {
				return nil, fmt.Errorf("origin %s: %w", target, err)
			}
			if resp.StatusCode/100 != 2 {
				defer resp.Body.Close()
				msg, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
				return nil, &StatusError{Code: resp.StatusCode, Msg: strings.TrimSpace(string(msg))}
			}
			return resp, nil
		}
		if resp != nil {
			resp.Body.Close()
		}
		c.ep.fail(gen)
		target, gen = c.ep.current(ctx)
	}
}

// attempt sends one request to target over QUIC or TCP, falling back from
// the one to the other as the options allow.
func (c *Client) attempt(ctx context.Context, target, method, path string, body []byte, hdr http.Header) (*http.Response, error) {
	// The request's context ends at ResponseTimeout unless an answer
	// came by then; the body is read under the caller's context alone.
	actx, cancel := context.WithCancel(ctx)
	timer := time.AfterFunc(c.opts.ResponseTimeout, cancel)
	req := func(method string) *http.Request {
		r, err := http.NewRequestWithContext(actx, method, "https://"+target+path, bytes.NewReader(body))
		if err != nil {
			panic("bug: bad request path " + path)
		}
		for k, v := range hdr {
			r.Header[k] = v
		}
		if body != nil {
			r.Header.Set("Content-Type", "application/json")
		}
		return r
	}
	var (
		resp       *http.Response
		err        error
		quicFailed bool
	)
	useQUIC := c.opts.Transport == TransportQUIC ||
		(c.opts.Transport == TransportAuto && time.Now().UnixNano() >= c.quicBrokenUntil.Load())
	if useQUIC {
		c.closeRetired()
		h3method := method
		if method == http.MethodGet {
			// Safe to replay (see docs/protocol.md, "0-RTT"): sent in
			// 0-RTT on a resumed connection, with no handshake first.
			h3method = http3.MethodGet0RTT
		}
		resp, err = c.h3.Load().RoundTrip(req(h3method))
		if method == http.MethodGet && actx.Err() == nil && connectionLost(err) {
			// The connection had died unseen (a restarted origin reset
			// it, or it went silent past its idle timeout): the transport
			// has let it go, and a GET is safe to send again, on a new one.
			resp, err = c.h3.Load().RoundTrip(req(h3method))
		}
		for try := 0; try < 2 && errors.Is(err, quic.Err0RTTRejected); try++ {
			// Another replica, or a restarted origin, cannot read the
			// ticket: the handshake is done by now; ask again. (Twice: a
			// request can still meet the rejected connection before the
			// transport lets it go.)
			resp, err = c.h3.Load().RoundTrip(req(method))
		}
		var de dialError
		if err != nil && c.opts.Transport == TransportAuto && errors.As(err, &de) && actx.Err() == nil {
			useQUIC, quicFailed = false, true
		}
	}
	if !useQUIC {
		resp, err = c.tcp.RoundTrip(req(method))
		// TCP answers where QUIC could not connect: UDP is blocked on
		// the way. If TCP fails too, the address is down instead.
		if quicFailed && err == nil {
			c.quicBrokenUntil.Store(time.Now().Add(c.opts.QUICRetryAfter).UnixNano())
		}
	}
	if fired := !timer.Stop(); err != nil || fired {
		cancel()
		if resp != nil {
			resp.Body.Close()
			resp = nil
		}
		switch {
		case err == nil:
			err = fmt.Errorf("no answer in %v", c.opts.ResponseTimeout)
		case fired && ctx.Err() == nil:
			err = fmt.Errorf("no answer in %v: %w", c.opts.ResponseTimeout, err)
		}
		return nil, err
	}
	c.lastTransport.Store(map[bool]Transport{true: TransportQUIC, false: TransportTCP}[useQUIC])
	resp.Body = &cancelBody{ReadCloser: resp.Body, cancel: cancel}
	return resp, nil
}

// connectionLost reports whether err ended a request because its QUIC
// connection was gone, not because of the request.
func connectionLost(err error) bool {
	var idle *quic.IdleTimeoutError
	var reset *quic.StatelessResetError
	return errors.As(err, &idle) || errors.As(err, &reset)
}

// cancelBody ends a request's context when its body is closed.
type cancelBody struct {
	io.ReadCloser
	cancel context.CancelFunc
}

func (b *cancelBody) Close() error {
	err := b.ReadCloser.Close()
	b.cancel()
	return err
}

// get fetches path and returns at most limit bytes of its body.
func (c *Client) get(ctx context.Context, path string, limit int64) ([]byte, http.Header, error) {
	return c.getWith(ctx, path, limit, nil)
}

// getWith is get with extra request headers.
func (c *Client) getWith(ctx context.Context, path string, limit int64, hdr http.Header) ([]byte, http.Header, error) {
	resp, err := c.doWith(ctx, http.MethodGet, path, nil, hdr)
	if err != nil {
		return nil, nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, limit+1))
	if err != nil {
		return nil, nil, fmt.Errorf("origin %s: reading %s: %w", c.Addr(), path, err)
	}
	if int64(len(b)) > limit {
		return nil, nil, fmt.Errorf("origin %s: %s is over %d bytes", c.Addr(), path, limit)
	}
	return b, resp.Header, nil
}

func (c *Client) getJSON(ctx context.Context, path string, v any) error {
	b, _, err := c.get(ctx, path, 64<<20)
	if err != nil {
		return err
	}
	if err := json.Unmarshal(b, v); err != nil {
		return fmt.Errorf("origin %s: %s: %w", c.Addr(), path, err)
	}
	return nil
}

// Info returns the origin's description of itself.
func (c *Client) Info(ctx context.Context) (Info, error) {
	var info Info
	return info, c.getJSON(ctx, "/v1/info", &info)
}

// Tracks lists the catalogue, or the tracks matching query if it is not empty.
func (c *Client) Tracks(ctx context.Context, query string) ([]TrackInfo, error) {
	path := "/v1/tracks"
	if query != "" {
		path += "?q=" + url.QueryEscape(query)
	}
	var out []TrackInfo
	return out, c.getJSON(ctx, path, &out)
}

// Manifest fetches the manifest of id and verifies it against the pinned
// key. It returns the manifest and its signed encoding (to cache or pass on).
func (c *Client) Manifest(ctx context.Context, id track.ID) (*track.Manifest, []byte, error) {
	b, _, err := c.get(ctx, "/v1/tracks/"+id.String()+"/manifest", 64<<20)
	if err != nil {
		return nil, nil, err
	}
	m, err := track.Open(b, c.url.Key)
	if err != nil {
		return nil, nil, fmt.Errorf("origin %s: manifest of %s: %w", c.Addr(), id, err)
	}
	if m.ID != id {
		return nil, nil, fmt.Errorf("origin %s: %w: asked for %s, got %s", c.Addr(), track.ErrBadManifest, id, m.ID)
	}
	return m, b, nil
}

// Chunk fetches chunk i of the track m describes and verifies it.
func (c *Client) Chunk(ctx context.Context, m *track.Manifest, i int) ([]byte, error) {
	if i < 0 || i >= m.NumChunks() {
		return nil, fmt.Errorf("chunk %d of track %s: out of range", i, m.ID)
	}
	b, _, err := c.get(ctx, "/v1/tracks/"+m.ID.String()+"/chunks/"+strconv.Itoa(i), int64(m.ChunkSize))
	if err != nil {
		return nil, err
	}
	if err := m.VerifyChunk(i, b); err != nil {
		return nil, fmt.Errorf("origin %s: %w", c.Addr(), err)
	}
	return b, nil
}

// ChunkUnchecked fetches chunk i of track id without its manifest, so that
// it can travel beside the manifest's request (one round trip to a first
// chunk). The bytes are unverified: the caller checks them against the
// manifest (Manifest.VerifyChunk) before any use, and drops them if they
// do not match.
func (c *Client) ChunkUnchecked(ctx context.Context, id track.ID, i int) ([]byte, error) {
	b, _, err := c.get(ctx, "/v1/tracks/"+id.String()+"/chunks/"+strconv.Itoa(i), track.MaxChunkSize)
	return b, err
}

// Cover fetches the cover art of id and its MIME type.
func (c *Client) Cover(ctx context.Context, id track.ID) ([]byte, string, error) {
	b, h, err := c.get(ctx, "/v1/tracks/"+id.String()+"/cover", 16<<20)
	if err != nil {
		return nil, "", err
	}
	return b, h.Get("Content-Type"), nil
}

// Announce tells the tracker that this node holds req.Tracks.
func (c *Client) Announce(ctx context.Context, req AnnounceRequest) (AnnounceResponse, error) {
	var out AnnounceResponse
	// Over HTTP/3 from the node's socket, the origin sees the address
	// peers can reach (see UseQUIC).
	req.SameSocket = c.quicTr.Load() != nil
	return out, c.postJSON(ctx, "/v1/tracker/announce", req, &out, 1<<20)
}

// postJSON posts in as JSON to path and decodes the answer, at most limit
// bytes, into out.
func (c *Client) postJSON(ctx context.Context, path string, in, out any, limit int64) error {
	body, err := json.Marshal(in)
	if err != nil {
		return err
	}
	resp, err := c.do(ctx, http.MethodPost, path, body)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	return json.NewDecoder(io.LimitReader(resp.Body, limit)).Decode(out)
}

// Peers asks the tracker for up to n live peers holding id, never self.
func (c *Client) Peers(ctx context.Context, id track.ID, self string, n int) ([]PeerInfo, error) {
	q := url.Values{"track": {id.String()}, "limit": {strconv.Itoa(n)}}
	if self != "" {
		q.Set("peer", self)
	}
	var out PeersResponse
	return out.Peers, c.getJSON(ctx, "/v1/tracker/peers?"+q.Encode(), &out)
}

// Punch asks the origin to be the rendezvous of a hole punch (POST
// /v1/punch): it tells req.Target to punch toward the address this
// request comes from, and answers with the target's address. The request
// must come from the node's swarm socket (see UseQUIC), where the punches
// start and the target's come in.
func (c *Client) Punch(ctx context.Context, req PunchRequest) (PunchResponse, error) {
	var out PunchResponse
	if c.quicTr.Load() == nil {
		return out, errors.New("punch: the client does not speak from the node's socket")
	}
	return out, c.postJSON(ctx, "/v1/punch", req, &out, 4096)
}
