package origin

import (
	"cmp"
	"context"
	"crypto/ed25519"
	"crypto/sha256"
	"crypto/tls"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/quic-go/quic-go"
	"github.com/quic-go/quic-go/http3"
)

// Config configures an origin Server.
type Config struct {
	// Library holds the music; it is scanned for MP3 files at any depth.
	Library fs.FS
	// Key signs manifests and is the key of the TLS certificate.
	Key ed25519.PrivateKey
	// Listen is the host:port to serve on, UDP (HTTP/3) and TCP (HTTPS) on
	// the same port number. Port 0 picks a free one.
	Listen string
	// Advertise is the host clients reach the origin at, put in its URL.
	// Empty means the host of Listen, or 127.0.0.1 when that is unspecified.
	Advertise string
	// Metrics, if set, is the host:port of the /metrics and /healthz listener.
	Metrics string
	// TrackerTTL is how long an announce lists a peer; 0 means DefaultTrackerTTL.
	TrackerTTL time.Duration
	// TrackerLimits bound the tracker; zero fields take their defaults.
	TrackerLimits TrackerLimits
	// NoConnectBack lists an announced port on the announcer's IP without
	// first checking that the node answers there (see docs/protocol.md).
	// Only for tests that announce made-up ports.
	NoConnectBack bool
	// ChunkSize overrides track.DefaultChunkSize (tests and benchmarks).
	ChunkSize int
	// NoQUIC serves HTTPS/TCP only; NoTCP serves HTTP/3 only.
	NoQUIC, NoTCP bool
	// PacketConn, if set, carries HTTP/3 instead of a socket bound on
	// Listen (an emulated network hands one in); it implies NoTCP.
	PacketConn net.PacketConn
	// Logger receives structured logs; nil means slog.Default().
	Logger *slog.Logger
	// Limits bound what one client can hold; zero fields take defaults.
	Limits Limits
}

// Server is a running origin. Start it with Start and stop it with Shutdown.
type Server struct {
	cfg     Config
	key     ed25519.PrivateKey
	library fs.FS
	log     *slog.Logger
	tracker *Tracker
	metrics *metrics
	limits  Limits
	conns   *connLimiter // the API's TCP and QUIC connections
	// connectBack proves announced addresses (see listedAddr).
	connectBack *connectBack
	// rendezvous relays punches (see postPunch).
	rendezvous *rendezvous
	bites      *biteLog
	catalog    atomic.Pointer[Catalog]
	url        URL

	scanMu sync.Mutex // one scan at a time

	// chunkBytes is the chunk payload bytes written to 200 answers (chunk
	// and start requests).
	chunkBytes atomic.Int64

	udp      net.PacketConn
	tr       *quic.Transport
	h3       *http3.Server
	https    *http.Server
	tcpLn    net.Listener
	metricLn net.Listener
	metricSv *http.Server

	cancel   context.CancelFunc
	wg       sync.WaitGroup
	errc     chan error
	shutOnce sync.Once
	shutErr  error
}

// Start scans the library, binds the sockets and starts serving. It
// returns once the origin answers requests; its URL is then final.
func Start(ctx context.Context, cfg Config) (*Server, error) {
	if cfg.Library == nil || cfg.Key == nil {
		return nil, errors.New("origin: Library and Key are required")
	}
	if cfg.NoQUIC && cfg.NoTCP {
		return nil, errors.New("origin: NoQUIC and NoTCP leave nothing to serve")
	}
	s := &Server{
		cfg:     cfg,
		key:     cfg.Key,
		library: cfg.Library,
		log:     cmp.Or(cfg.Logger, slog.Default()),
		tracker: NewTrackerWith(cfg.TrackerTTL, cfg.TrackerLimits),
		errc:    make(chan error, 3),
		limits:  cfg.Limits.withDefaults(),
	}
	s.metrics = newMetrics(func() float64 { return float64(s.tracker.Len()) })
	s.metrics.reg.MustRegister(s.tracker.collectors()...)
	s.bites = newBiteLog(s.log)
	s.conns = newConnLimiter(s.limits.ConnsPerAddr, s.limits.MaxConns, s.metrics.refused, s.bites)
	if err := s.Rescan(ctx); err != nil {
		return nil, err
	}
	if err := s.listen(); err != nil {
		return nil, err
	}
	runCtx, cancel := context.WithCancel(context.Background())
	s.cancel = cancel
	s.serve(runCtx)
	s.log.Info("origin serving", "url", s.url.String(), "tracks", s.Catalog().Len(),
		"quic", !cfg.NoQUIC, "tcp", !cfg.NoTCP, "metrics", cfg.Metrics,
		"body_timeout", s.limits.BodyTimeout, "conns_per_addr", s.limits.ConnsPerAddr,
		"max_conns", s.limits.MaxConns, "streams_per_conn", s.limits.StreamsPerConn)
	return s, nil
}

// URL is the origin's URL, the one clients take as --origin.
func (s *Server) URL() URL { return s.url }

// Catalog returns the catalogue being served now.
func (s *Server) Catalog() *Catalog { return s.catalog.Load() }

// ChunkBytesServed returns the chunk payload bytes the origin has written
// to its answers to chunk and start requests (the chunks of 200 answers,
// not the wire: no headers, framing or retransmissions).
func (s *Server) ChunkBytesServed() int64 { return s.chunkBytes.Load() }

// Tracker returns the origin's peer tracker.
func (s *Server) Tracker() *Tracker { return s.tracker }

// Err returns a channel that receives an error if a listener fails while
// the server runs.
func (s *Server) Err() <-chan error { return s.errc }

// Rescan scans the library again and swaps the new catalogue in; requests
// in flight finish on the old one. Files that did not change are not read.
func (s *Server) Rescan(ctx context.Context) error {
	s.scanMu.Lock()
	defer s.scanMu.Unlock()
	start := time.Now()
	c, err := ScanLibrary(ctx, s.library, s.key, ScanOptions{
		ChunkSize: s.cfg.ChunkSize, Previous: s.catalog.Load(), Logger: s.log,
	})
	if err != nil {
		return err
	}
	s.catalog.Store(c)
	took := time.Since(start)
	s.metrics.tracks.Set(float64(c.Len()))
	s.metrics.libBytes.Set(float64(c.Bytes()))
	s.metrics.skipped.Set(float64(c.Skipped()))
	s.metrics.scanSeconds.Set(took.Seconds())
	s.log.Info("library scanned", "tracks", c.Len(), "bytes", c.Bytes(), "skipped", c.Skipped(), "took", took.Round(time.Millisecond))
	return nil
}

// listen binds UDP and TCP on one port number and the metrics listener.
func (s *Server) listen() error {
	if pc := s.cfg.PacketConn; pc != nil {
		s.cfg.NoTCP, s.cfg.NoQUIC = true, false
		s.udp = pc
		s.url = URL{Addr: pc.LocalAddr().String(), Key: s.key.Public().(ed25519.PublicKey)}
		return nil
	}
	host, port, err := net.SplitHostPort(cmp.Or(s.cfg.Listen, ":4433"))
	if err != nil {
		return fmt.Errorf("origin: listen address: %w", err)
	}
	for attempt := 0; ; attempt++ {
		err = s.bindPair(host, port)
		// With port 0 the kernel picks a UDP port; its TCP twin may be
		// taken by someone else, so pick again.
		if err == nil || port != "0" || attempt == 20 || !errors.Is(err, syscall.EADDRINUSE) {
			break
		}
	}
	if err != nil {
		return fmt.Errorf("origin: %w", err)
	}
	if s.cfg.Metrics != "" {
		if s.metricLn, err = net.Listen("tcp", s.cfg.Metrics); err != nil {
			s.closeSockets()
			return fmt.Errorf("origin: metrics: %w", err)
		}
	}
	return nil
}

func (s *Server) bindPair(host, port string) error {
	var bound string
	if !s.cfg.NoQUIC {
		udp, err := net.ListenPacket("udp", net.JoinHostPort(host, port))
		if err != nil {
			return err
		}
		s.udp = udp
		_, bound, _ = net.SplitHostPort(udp.LocalAddr().String())
	}
	if !s.cfg.NoTCP {
		ln, err := net.Listen("tcp", net.JoinHostPort(host, cmp.Or(bound, port)))
		if err != nil {
			s.closeSockets()
			return err
		}
		s.tcpLn = ln
		_, bound, _ = net.SplitHostPort(ln.Addr().String())
	}
	adv := s.cfg.Advertise
	if adv == "" {
		adv = host
		if ip := net.ParseIP(host); host == "" || (ip != nil && ip.IsUnspecified()) {
			adv = "127.0.0.1"
		}
	}
	s.url = URL{Addr: net.JoinHostPort(adv, bound), Key: s.key.Public().(ed25519.PublicKey)}
	return nil
}

func (s *Server) closeSockets() {
	if s.udp != nil {
		s.udp.Close()
		s.udp = nil
	}
	if s.tcpLn != nil {
		s.tcpLn.Close()
		s.tcpLn = nil
	}
	if s.metricLn != nil {
		s.metricLn.Close()
	}
}

// serve starts one goroutine per listener and the tracker's sweeper; all
// end in Shutdown.
func (s *Server) serve(ctx context.Context) {
	host, _, _ := net.SplitHostPort(s.url.Addr)
	cert, err := selfSignedCert(s.key, host)
	if err != nil {
		panic("bug: cannot make a certificate from an Ed25519 key: " + err.Error())
	}
	h := s.limitRequests(s.handler())
	lim := s.limits
	if s.udp != nil {
		s.tr = &quic.Transport{Conn: s.udp, StatelessResetKey: statelessResetKey(s.key)}
	}
	s.connectBack = newConnectBack(cert, s.tr)
	s.rendezvous = newRendezvous(s.connectBack)
	if s.tr != nil {
		tlsConf := http3.ConfigureTLSConfig(&tls.Config{MinVersion: tls.VersionTLS13, Certificates: []tls.Certificate{cert}})
		ln, err := s.tr.ListenEarly(tlsConf, quicConfig(lim, s.conns))
		if err != nil {
			panic("bug: quic listen on a fresh transport: " + err.Error())
		}
		s.h3 = &http3.Server{Handler: h, IdleTimeout: lim.IdleTimeout, MaxHeaderBytes: maxHeaderBytes, Logger: s.log}
		s.goServe("http3", func() error { return s.h3.ServeListener(&quicListener{EarlyListener: ln, m: s.metrics, lim: s.conns}) })
	}
	if s.tcpLn != nil {
		s.https = &http.Server{
			Handler:           h,
			TLSConfig:         &tls.Config{MinVersion: tls.VersionTLS12, Certificates: []tls.Certificate{cert}},
			ReadHeaderTimeout: lim.HeaderTimeout,
			// A backstop: limitRequests sets each body's own deadline.
			ReadTimeout:    lim.HeaderTimeout + lim.BodyTimeout,
			IdleTimeout:    lim.IdleTimeout,
			MaxHeaderBytes: maxHeaderBytes,
			HTTP2:          &http.HTTP2Config{MaxConcurrentStreams: lim.StreamsPerConn},
			ErrorLog:       slog.NewLogLogger(s.log.Handler(), slog.LevelDebug),
			ConnState: func(_ net.Conn, st http.ConnState) {
				switch st {
				case http.StateNew:
					s.metrics.conns.WithLabelValues("tcp").Inc()
					s.metrics.openConns.WithLabelValues("tcp").Inc()
				case http.StateClosed, http.StateHijacked:
					s.metrics.openConns.WithLabelValues("tcp").Dec()
				}
			},
		}
		ln := &limitedListener{Listener: s.tcpLn, lim: s.conns, transport: "tcp"}
		s.goServe("https", func() error { return s.https.ServeTLS(ln, "", "") })
	}
	if s.metricLn != nil {
		s.metricSv = &http.Server{
			Handler:           s.metrics.handler(func() bool { return s.Catalog() != nil }),
			ReadHeaderTimeout: metricsTimeout,
			ReadTimeout:       metricsTimeout,
			WriteTimeout:      3 * metricsTimeout,
			IdleTimeout:       3 * metricsTimeout,
			MaxHeaderBytes:    maxHeaderBytes,
		}
		ln := &limitedListener{
			Listener:  s.metricLn,
			lim:       newConnLimiter(metricsConnsPerAddr, metricsMaxConns, s.metrics.refused, s.bites),
			transport: "metrics",
		}
		s.goServe("metrics", func() error { return s.metricSv.Serve(ln) })
	}
	s.wg.Go(func() {
		t := time.NewTicker(max(s.tracker.TTL()/4, time.Second))
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
				s.tracker.Expire()
				s.rendezvous.rate.sweep()
			}
		}
	})
}

func (s *Server) goServe(name string, serve func() error) {
	s.wg.Go(func() {
		if err := serve(); err != nil && !errors.Is(err, http.ErrServerClosed) && !errors.Is(err, quic.ErrServerClosed) {
			s.log.Error("listener failed", "listener", name, "err", err)
			select {
			case s.errc <- fmt.Errorf("%s: %w", name, err):
			default:
			}
		}
	})
}

// Shutdown stops accepting requests, lets those in flight finish until ctx
// ends, then closes every connection and socket and waits for its goroutines.
// Calling it again returns what the first call returned.
func (s *Server) Shutdown(ctx context.Context) error {
	s.shutOnce.Do(func() { s.shutErr = s.shutdown(ctx) })
	return s.shutErr
}

func (s *Server) shutdown(ctx context.Context) error {
	var errs []error
	if s.h3 != nil {
		if err := s.h3.Shutdown(ctx); err != nil && !errors.Is(err, context.DeadlineExceeded) {
			errs = append(errs, err)
		}
		s.h3.Close()
	}
	if s.https != nil {
		if err := s.https.Shutdown(ctx); err != nil {
			s.https.Close()
		}
	}
	if s.metricSv != nil {
		s.metricSv.Close()
	}
	if s.tr != nil {
		s.tr.Close()
	}
	s.closeSockets()
	s.cancel()
	s.wg.Wait()
	return errors.Join(errs...)
}

// statelessResetKey derives the key of the QUIC stateless resets the
// origin sends for a connection it does not know, from its own key, so
// that a restarted origin (or a replica with the same key) resets the
// connections of the one before at their next packet: their clients learn
// at once that the connection is gone, instead of after their idle
// timeout, and ask again on a new one.
func statelessResetKey(key ed25519.PrivateKey) *quic.StatelessResetKey {
	k := quic.StatelessResetKey(sha256.Sum256(append([]byte("potluck stateless reset v1\x00"), key.Seed()...)))
	return &k
}
