package origin

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"github.com/quic-go/quic-go"
	"github.com/quic-go/quic-go/http3"
	"golang.org/x/net/http2"
	"golang.org/x/net/http2/hpack"
)

// The attackers of these tests come from 127.0.0.1, the honest client from
// 127.0.0.2: both are loopback, and the limits count by address.
var honestIP = net.IPv4(127, 0, 0, 2)

// value reads a counter or gauge.
func value(c prometheus.Metric) float64 {
	var m dto.Metric
	if err := c.Write(&m); err != nil {
		panic(err)
	}
	if m.Counter != nil {
		return m.Counter.GetValue()
	}
	return m.Gauge.GetValue()
}

// usage is the process's goroutines and live heap at one moment.
type usage struct {
	goroutines int
	heap       int64
}

func measure() usage {
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return usage{runtime.NumGoroutine(), int64(ms.HeapAlloc)}
}

// within checks that the process uses at most goroutines and heap bytes
// more than base, waiting up to 10 s for what an attack held to go (a
// connection's goroutines end a little after it closes).
func (base usage) within(t *testing.T, when string, goroutines int, heap int64) {
	t.Helper()
	var now usage
	for end := time.Now().Add(10 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		now = measure()
		if now.goroutines-base.goroutines <= goroutines && now.heap-base.heap <= heap || time.Now().After(end) {
			break
		}
	}
	t.Logf("%s: goroutines %+d, heap %+d KiB over the baseline", when, now.goroutines-base.goroutines, (now.heap-base.heap)>>10)
	if now.goroutines-base.goroutines > goroutines || now.heap-base.heap > heap {
		t.Errorf("%s: %d goroutines and %d KiB of heap over the baseline, want at most %d and %d KiB",
			when, now.goroutines-base.goroutines, (now.heap-base.heap)>>10, goroutines, heap>>10)
	}
}

// peakInFlight is the most requests s handled at once over d.
func peakInFlight(s *Server, transport string, d time.Duration) float64 {
	var most float64
	for end := time.Now().Add(d); time.Now().Before(end); time.Sleep(10 * time.Millisecond) {
		most = max(most, value(s.metrics.inFlight.WithLabelValues(transport)))
	}
	return most
}

// freeAddr is a free TCP address on 127.0.0.1.
func freeAddr(t *testing.T) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

func insecureTLS(protos ...string) *tls.Config {
	return &tls.Config{InsecureSkipVerify: true, NextProtos: protos}
}

// honestHTTPS is a client over TCP from honestIP.
func honestHTTPS(t *testing.T) *http.Client {
	d := &net.Dialer{LocalAddr: &net.TCPAddr{IP: honestIP}, Timeout: 5 * time.Second}
	tr := &http.Transport{DialContext: d.DialContext, TLSClientConfig: insecureTLS(), ForceAttemptHTTP2: true}
	t.Cleanup(tr.CloseIdleConnections)
	return &http.Client{Transport: tr, Timeout: 5 * time.Second}
}

// honestH3 is a client over QUIC from honestIP.
func honestH3(t *testing.T) *http.Client {
	udp, err := net.ListenUDP("udp", &net.UDPAddr{IP: honestIP})
	if err != nil {
		t.Skipf("cannot bind %v: %v", honestIP, err)
	}
	qt := &quic.Transport{Conn: udp}
	tr := &http3.Transport{TLSClientConfig: insecureTLS(), Dial: func(ctx context.Context, addr string, tc *tls.Config, qc *quic.Config) (*quic.Conn, error) {
		a, err := net.ResolveUDPAddr("udp", addr)
		if err != nil {
			return nil, err
		}
		return qt.DialEarly(ctx, a, tc, qc)
	}}
	t.Cleanup(func() { tr.Close(); qt.Close(); udp.Close() })
	return &http.Client{Transport: tr, Timeout: 5 * time.Second}
}

// timeGet returns how long a GET of /v1/info took; it fails the test if
// the request fails.
func timeGet(t *testing.T, c *http.Client, url string) time.Duration {
	t.Helper()
	start := time.Now()
	resp, err := c.Get(url)
	if err != nil {
		t.Fatalf("honest request: %v", err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("honest request: %s", resp.Status)
	}
	return time.Since(start)
}

func TestSlowBodiesAreCutAndHonestHTTPSIsServed(t *testing.T) {
	const attackers, body = 200, 2 * time.Second
	s := startOrigin(t, "", func(c *Config) {
		c.NoQUIC = true
		c.Limits = Limits{BodyTimeout: body, ConnsPerAddr: 32}
	})
	url := "https://" + s.URL().Addr + "/v1/info"
	honest := honestHTTPS(t)
	before := timeGet(t, honest, url)
	base := measure()

	// Each attacker sends a header announcing 1000 bytes of body, then one
	// byte every 200 ms.
	var wg sync.WaitGroup
	cut := make(chan time.Duration, attackers)
	start := time.Now()
	for range attackers {
		wg.Go(func() {
			c, err := tls.Dial("tcp", s.URL().Addr, insecureTLS("http/1.1"))
			if err != nil {
				cut <- time.Since(start) // refused during the handshake
				return
			}
			defer c.Close()
			fmt.Fprintf(c, "POST /v1/tracker/announce HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\n")
			go io.Copy(io.Discard, c)
			for {
				if _, err := c.Write([]byte(" ")); err != nil {
					cut <- time.Since(start)
					return
				}
				if time.Since(start) > 15*time.Second {
					cut <- time.Since(start)
					return
				}
				time.Sleep(200 * time.Millisecond)
			}
		})
	}
	time.Sleep(body / 2)
	during := timeGet(t, honest, url)
	wg.Wait()
	close(cut)
	var last time.Duration
	for d := range cut {
		last = max(last, d)
	}
	t.Logf("honest GET before %v, during %v; last of %d slow bodies cut after %v", before, during, attackers, last)
	if last > body+4*time.Second {
		t.Errorf("slow bodies held for %v, body timeout %v", last, body)
	}
	if during >= body { // it did not wait for the attack to be cut
		t.Errorf("honest request took %v during the attack", during)
	}
	refused := value(s.metrics.refused.WithLabelValues("tcp", reasonPerAddr))
	timeouts := value(s.metrics.bodyTimeouts.WithLabelValues("tcp"))
	t.Logf("refused per address %v, body timeouts %v", refused, timeouts)
	if refused < attackers-32 || timeouts < 1 {
		t.Errorf("refused %v (want >= %d), body timeouts %v (want > 0)", refused, attackers-32, timeouts)
	}
	base.within(t, "after the attack", 10, 4<<20)
}

func TestHTTP2StreamsAreHeldToTheLimit(t *testing.T) {
	const streams, limit = 500, 20
	s := startOrigin(t, "", func(c *Config) {
		c.NoQUIC = true
		c.Limits = Limits{BodyTimeout: 2 * time.Second, StreamsPerConn: limit}
	})
	url := "https://" + s.URL().Addr + "/v1/info"
	honest := honestHTTPS(t)
	before := timeGet(t, honest, url)
	base := measure()

	c, err := tls.Dial("tcp", s.URL().Addr, insecureTLS("h2"))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	io.WriteString(c, http2.ClientPreface)
	fr := http2.NewFramer(c, c)
	fr.WriteSettings()
	go func() { // read and drop whatever the server says
		for {
			if _, err := fr.ReadFrame(); err != nil {
				return
			}
		}
	}()
	var hb bytes.Buffer
	enc := hpack.NewEncoder(&hb)
	for i := range streams {
		hb.Reset()
		for _, f := range [][2]string{{":method", "POST"}, {":scheme", "https"}, {":authority", "x"}, {":path", "/v1/tracker/announce"}, {"content-length", "1000"}} {
			enc.WriteField(hpack.HeaderField{Name: f[0], Value: f[1]})
		}
		if err := fr.WriteHeaders(http2.HeadersFrameParam{StreamID: uint32(2*i + 1), BlockFragment: hb.Bytes(), EndHeaders: true}); err != nil {
			break
		}
	}
	most := peakInFlight(s, "tcp", time.Second)
	during := timeGet(t, honest, url)
	t.Logf("%d streams opened on one connection: at most %v handlers; honest GET before %v, during %v", streams, most, before, during)
	if most > limit+1 { // +1: the honest request
		t.Errorf("%v handlers in flight, limit %d", most, limit)
	}
	if during > 2*time.Second {
		t.Errorf("honest request took %v", during)
	}
	base.within(t, "during the attack", 2*limit+20, 16<<20)
	c.Close()
	base.within(t, "after the attack", 10, 4<<20)
}

func TestHTTP3StreamsAndConnectionsAreHeldToTheLimits(t *testing.T) {
	const streams, limit, conns, perAddr = 500, 20, 100, 8
	s := startOrigin(t, "", func(c *Config) {
		c.NoTCP = true
		c.Limits = Limits{BodyTimeout: 2 * time.Second, StreamsPerConn: limit, ConnsPerAddr: perAddr}
	})
	url := "https://" + s.URL().Addr + "/v1/info"
	honest := honestH3(t)
	before := timeGet(t, honest, url)
	base := measure()

	// One connection opens 500 requests whose bodies never come.
	tr := &http3.Transport{TLSClientConfig: insecureTLS()}
	defer tr.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	var wg sync.WaitGroup
	var pipes []*io.PipeWriter
	for range streams {
		pr, pw := io.Pipe()
		pipes = append(pipes, pw)
		req, _ := http.NewRequestWithContext(ctx, "POST", "https://"+s.URL().Addr+"/v1/tracker/announce", pr)
		wg.Go(func() {
			if resp, err := tr.RoundTrip(req); err == nil {
				resp.Body.Close()
			}
		})
	}
	most := peakInFlight(s, "quic", time.Second)
	during := timeGet(t, honest, url)

	// And 100 more connections from the same address.
	var open int
	var dialled []*quic.Conn
	for range conns {
		c, err := quic.DialAddr(ctx, s.URL().Addr, insecureTLS(http3.NextProtoH3), nil)
		if err != nil {
			continue
		}
		dialled = append(dialled, c)
		select {
		case <-c.Context().Done():
		case <-time.After(100 * time.Millisecond):
			open++
		}
	}
	duringConns := timeGet(t, honest, url)
	t.Logf("%d requests on one connection: at most %v handlers; %d of %d more connections stayed open; honest GET before %v, during %v and %v",
		streams, most, open, conns, before, during, duringConns)
	if most > limit+1 {
		t.Errorf("%v handlers in flight, limit %d", most, limit)
	}
	if open > perAddr {
		t.Errorf("%d connections from one address stayed open, limit %d", open, perAddr)
	}
	if during > 2*time.Second || duringConns > 2*time.Second {
		t.Errorf("honest request took %v, %v", during, duringConns)
	}
	// The bodies that never came are cut by the body timeout.
	time.Sleep(2500 * time.Millisecond)
	if n := value(s.metrics.bodyTimeouts.WithLabelValues("quic")); n < 1 {
		t.Errorf("no HTTP/3 body timeout counted")
	}
	cancel()
	for _, pw := range pipes {
		pw.Close()
	}
	wg.Wait()
	tr.Close()
	for _, c := range dialled {
		c.CloseWithError(0, "")
	}
	base.within(t, "after the attack", 10, 4<<20)
}

func TestMetricsAnswersUnderIdleSlowloris(t *testing.T) {
	addr := freeAddr(t)
	log, logs := testLogger(t)
	s := startOrigin(t, "", func(c *Config) { c.Metrics = addr; c.Logger = log })
	d := &net.Dialer{LocalAddr: &net.TCPAddr{IP: honestIP}}
	honest := &http.Client{Transport: &http.Transport{DialContext: d.DialContext, DisableKeepAlives: true}, Timeout: 5 * time.Second}
	url := "http://" + addr + "/metrics"
	before := timeGet(t, honest, url)
	var idle []net.Conn
	for range 200 {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			break
		}
		idle = append(idle, c)
		io.WriteString(c, "GET /metrics HTTP/1.1\r\n") // and never the rest
	}
	defer func() {
		for _, c := range idle {
			c.Close()
		}
	}()
	during := timeGet(t, honest, url)
	t.Logf("/metrics before %v, during %d idle connections %v", before, len(idle), during)
	if during > 2*time.Second {
		t.Errorf("/metrics took %v", during)
	}
	if n := value(s.metrics.refused.WithLabelValues("metrics", reasonPerAddr)); n < 200-metricsConnsPerAddr {
		t.Errorf("refused %v metrics connections, want %d", n, 200-metricsConnsPerAddr)
	}
	if n := strings.Count(logs.String(), "limit reached"); n != 1 {
		t.Errorf("%d log lines about the limit, want 1:\n%s", n, logs)
	}
}

func TestConnectionsInAllAreCapped(t *testing.T) {
	const total = 16
	s := startOrigin(t, "", func(c *Config) {
		c.NoQUIC = true
		c.Limits = Limits{ConnsPerAddr: 1000, MaxConns: total}
	})
	var held []net.Conn
	defer func() {
		for _, c := range held {
			c.Close()
		}
	}()
	for range 3 * total {
		c, err := net.Dial("tcp", s.URL().Addr)
		if err != nil {
			t.Fatal(err)
		}
		held = append(held, c)
	}
	refusedTotal := s.metrics.refused.WithLabelValues("tcp", reasonTotal)
	for end := time.Now().Add(5 * time.Second); value(refusedTotal) < float64(len(held)-total) && time.Now().Before(end); {
		time.Sleep(10 * time.Millisecond)
	}
	var open int
	for _, c := range held {
		c.SetReadDeadline(time.Now().Add(50 * time.Millisecond))
		var ne net.Error
		if _, err := c.Read(make([]byte, 1)); errors.As(err, &ne) && ne.Timeout() {
			open++ // still open: the server waits for its handshake
		}
	}
	refused := value(refusedTotal)
	t.Logf("%d connections: %d left open, %v refused", len(held), open, refused)
	if open != total || refused != float64(len(held)-total) {
		t.Errorf("%d open and %v refused, want %d and %d", open, refused, total, len(held)-total)
	}
}
