package origin

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"errors"
	"io"
	"net"
	"net/http"
	"net/netip"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/quic-go/quic-go"
	"github.com/quic-go/quic-go/http3"

	"github.com/potluckfm/potluck/track"
)

// fetchAll downloads every track of the origin through c and checks each is
// byte-identical to the demo file it came from.
func fetchAll(t *testing.T, c *Client, files map[string][]byte) {
	t.Helper()
	ctx := context.Background()
	tracks, err := c.Tracks(ctx, "")
	if err != nil {
		t.Fatal(err)
	}
	if len(tracks) != len(files) {
		t.Fatalf("catalogue lists %d tracks, want %d", len(tracks), len(files))
	}
	want := map[track.ID][]byte{}
	for _, b := range files {
		want[scanOne(t, b).ID] = b
	}
	for _, ti := range tracks {
		m, _, err := c.Manifest(ctx, ti.ID)
		if err != nil {
			t.Fatal(err)
		}
		var got []byte
		for i := range m.NumChunks() {
			b, err := c.Chunk(ctx, m, i)
			if err != nil {
				t.Fatalf("%s chunk %d: %v", ti.Title, i, err)
			}
			got = append(got, b...)
		}
		if !bytes.Equal(got, want[ti.ID]) {
			t.Errorf("%s: fetched %d bytes that differ from the library file (%d bytes)", ti.Title, len(got), len(want[ti.ID]))
		}
		if ti.DurationMS != m.Audio.DurationMS || ti.Title != m.Title {
			t.Errorf("%s: catalogue and manifest disagree", ti.Title)
		}
	}
}

func TestFetchEveryTrackOverQUIC(t *testing.T) {
	s := startOrigin(t, "", nil)
	c := newTestClient(t, s.URL(), TransportQUIC)
	fetchAll(t, c, demoFiles(t))
	if c.LastTransport() != TransportQUIC {
		t.Errorf("answered over %q, want quic", c.LastTransport())
	}
}

func TestFetchOverTCPWhenUDPIsBlackholed(t *testing.T) {
	s := startOrigin(t, "", func(c *Config) { c.NoQUIC = true })
	// Hold the origin's UDP port and swallow every datagram: QUIC handshakes
	// go unanswered, as behind a firewall that drops UDP.
	hole, err := net.ListenPacket("udp", s.URL().Addr)
	if err != nil {
		t.Fatal(err)
	}
	defer hole.Close()
	go func() {
		buf := make([]byte, 2048)
		for {
			if _, _, err := hole.ReadFrom(buf); err != nil {
				return
			}
		}
	}()
	c := NewClient(s.URL(), ClientOptions{QUICDialTimeout: 300 * time.Millisecond})
	defer c.Close()
	fetchAll(t, c, demoFiles(t))
	if c.LastTransport() != TransportTCP {
		t.Errorf("answered over %q, want tcp", c.LastTransport())
	}
}

func TestClientRefusesAnOriginWithAnotherKey(t *testing.T) {
	s := startOrigin(t, "", nil)
	other, _, _ := ed25519.GenerateKey(nil)
	for _, tr := range []Transport{TransportQUIC, TransportTCP} {
		c := newTestClient(t, URL{Addr: s.URL().Addr, Key: other}, tr)
		_, err := c.Tracks(context.Background(), "")
		if err == nil || !strings.Contains(err.Error(), ErrKeyMismatch.Error()) {
			t.Errorf("%s: got %v, want the key mismatch", tr, err)
		}
	}
}

func TestURLRoundTrip(t *testing.T) {
	pub, _, _ := ed25519.GenerateKey(nil)
	u := URL{Addr: "127.0.0.1:4433", Key: pub}
	got, err := ParseURL(u.String())
	if err != nil || got.Addr != u.Addr || !got.Key.Equal(pub) {
		t.Fatalf("ParseURL(%s) = %v, %v", u, got, err)
	}
	for _, bad := range []string{
		"", "http://127.0.0.1:4433/#key=" + u.String()[len(u.String())-43:],
		"https://127.0.0.1/#key=abc", "https://127.0.0.1:4433/", "https://127.0.0.1:4433/#key=short",
	} {
		if _, err := ParseURL(bad); err == nil {
			t.Errorf("ParseURL(%q) accepted", bad)
		}
	}
}

// rawGet sends one request over HTTP/3 and returns status and body.
func rawGet(t *testing.T, s *Server, method, path string, body io.Reader) (int, string) {
	t.Helper()
	tr := &http3.Transport{TLSClientConfig: pinnedTLSConfig(s.URL().Key, []string{http3.NextProtoH3}), QUICConfig: &quic.Config{}}
	defer tr.Close()
	req, err := http.NewRequest(method, "https://"+s.URL().Addr+path, body)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := tr.RoundTrip(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func TestBadRequestsGet4xx(t *testing.T) {
	s := startOrigin(t, "", nil)
	id := s.Catalog().Entries()[0].Manifest.ID.String()
	unknown := strings.Repeat("0", 32)
	for _, tc := range []struct {
		method, path, body string
		want               int
	}{
		{"GET", "/v1/tracks/not-an-id/manifest", "", 400},
		{"GET", "/v1/tracks/" + strings.ToUpper(id) + "/manifest", "", 400},
		{"GET", "/v1/tracks/" + unknown + "/manifest", "", 404},
		{"GET", "/v1/tracks/" + id + "/chunks/999999", "", 404},
		{"GET", "/v1/tracks/" + id + "/chunks/-1", "", 404},
		{"GET", "/v1/tracks/" + id + "/chunks/01", "", 404},
		{"GET", "/v1/tracks/" + id + "/chunks/abc", "", 404},
		{"GET", "/v1/tracks/../../../../etc/passwd", "", 400},
		{"GET", "/v1//tracks", "", 400},
		{"GET", "/v1/tracks/%2e%2e%2f%2e%2e%2fetc%2fpasswd/manifest", "", 400},
		{"GET", "/etc/passwd", "", 404},
		{"GET", "/v1/tracks?limit=-3", "", 400},
		{"DELETE", "/v1/tracks/" + id + "/manifest", "", 405},
		{"POST", "/v1/tracker/announce", "{not json", 400},
		{"POST", "/v1/tracker/announce", `{"peer_id":"a b","addr":"1.2.3.4:5","tracks":[]}`, 400},
		{"POST", "/v1/tracker/announce", `{"peer_id":"ab","addr":"nowhere","tracks":[]}`, 400},
		{"POST", "/v1/tracker/announce", `{"peer_id":"ab","addr":"1.2.3.4:5","tracks":["zz"]}`, 400},
		{"POST", "/v1/tracker/announce", `{"peer_id":"ab","addr":"1.2.3.4:5","tracks":["` + strings.Repeat("a", 5<<20) + `"]}`, 400},
		{"GET", "/v1/tracker/peers?track=nope", "", 400},
		{"GET", "/v1/tracker/peers?track=" + id + "&limit=x", "", 400},
	} {
		code, body := rawGet(t, s, tc.method, tc.path, strings.NewReader(tc.body))
		if code != tc.want {
			t.Errorf("%s %s: %d %q, want %d", tc.method, tc.path[:min(len(tc.path), 80)], code, body, tc.want)
		}
	}
	// The origin still serves after all that.
	if code, _ := rawGet(t, s, "GET", "/v1/tracks/"+id+"/chunks/0", nil); code != 200 {
		t.Fatalf("chunk after bad requests: %d", code)
	}
}

func TestChunkResponsesAreImmutable(t *testing.T) {
	s := startOrigin(t, "", nil)
	m := s.Catalog().Entries()[0].Manifest
	tr := &http.Transport{TLSClientConfig: pinnedTLSConfig(s.URL().Key, nil)}
	defer tr.CloseIdleConnections()
	get := func(h http.Header) *http.Response {
		req, _ := http.NewRequest("GET", "https://"+s.URL().Addr+"/v1/tracks/"+m.ID.String()+"/chunks/1", nil)
		maps(req.Header, h)
		resp, err := tr.RoundTrip(req)
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return resp
	}
	resp := get(nil)
	if cc := resp.Header.Get("Cache-Control"); !strings.Contains(cc, "immutable") || !strings.Contains(cc, "max-age=") {
		t.Errorf("Cache-Control %q", cc)
	}
	if resp.Header.Get("ETag") != `"`+m.ChunkHashes[1].String()+`"` {
		t.Errorf("ETag %q", resp.Header.Get("ETag"))
	}
	if again := get(http.Header{"If-None-Match": {resp.Header.Get("ETag")}}); again.StatusCode != http.StatusNotModified {
		t.Errorf("revalidation: %d, want 304", again.StatusCode)
	}
}

func maps(dst, src http.Header) {
	for k, v := range src {
		dst[k] = v
	}
}

func TestCoverAndSearch(t *testing.T) {
	s := startOrigin(t, "", nil)
	c := newTestClient(t, s.URL(), TransportAuto)
	e := s.Catalog().Entries()[0]
	img, typ, err := c.Cover(context.Background(), e.Manifest.ID)
	if err != nil || !bytes.Equal(img, e.Cover) || typ != e.Manifest.Cover {
		t.Fatalf("cover: %d bytes %q %v", len(img), typ, err)
	}
	got, err := c.Tracks(context.Background(), strings.ToLower(e.Manifest.Title))
	if err != nil || len(got) == 0 || got[0].ID != e.Manifest.ID && len(got) == 1 {
		t.Fatalf("search: %v %v", got, err)
	}
	if _, _, err := c.Manifest(context.Background(), track.ID{1}); !errors.Is(err, ErrNotFound) {
		t.Fatalf("unknown track: %v, want ErrNotFound", err)
	}
}

// signed is an announce of tracks by the node holding key, to s.
func signed(s *Server, key ed25519.PrivateKey, addr string, tracks []track.ID) AnnounceRequest {
	req := AnnounceRequest{Addr: addr, Tracks: tracks}
	req.Sign(key, s.URL().Key, time.Now())
	return req
}

func TestTracker(t *testing.T) {
	s := startOrigin(t, "", func(c *Config) { c.TrackerTTL = time.Second })
	c := newTestClient(t, s.URL(), TransportQUIC)
	ctx := context.Background()
	keyA, keyB := testKey(t), testKey(t)
	ids := []track.ID{s.Catalog().Entries()[0].Manifest.ID, s.Catalog().Entries()[1].Manifest.ID}
	reqA := signed(s, keyA, ":7001", ids)
	a, err := c.Announce(ctx, reqA)
	if err != nil {
		t.Fatal(err)
	}
	if a.Addr != "127.0.0.1:7001" || a.TTL != 1 {
		t.Errorf("announce answer %+v: want the observed host and the TTL", a)
	}
	reqB := signed(s, keyB, "127.0.0.1:7002", ids[:1])
	if _, err := c.Announce(ctx, reqB); err != nil {
		t.Fatal(err)
	}
	peers, err := c.Peers(ctx, ids[0], reqA.PeerID, 10)
	if err != nil || len(peers) != 1 || peers[0] != (PeerInfo{ID: reqB.PeerID, Addr: "127.0.0.1:7002"}) {
		t.Fatalf("peers of track 0 for A: %v %v; want only B", peers, err)
	}
	if peers, _ := c.Peers(ctx, ids[1], "", 10); len(peers) != 1 || peers[0].ID != reqA.PeerID {
		t.Fatalf("peers of track 1: %v, want A", peers)
	}
	// Announcing again replaces what a peer holds.
	if _, err := c.Announce(ctx, signed(s, keyA, ":7001", ids[:1])); err != nil {
		t.Fatal(err)
	}
	if peers, _ := c.Peers(ctx, ids[1], "", 10); len(peers) != 0 {
		t.Fatalf("A dropped track 1 but is still listed: %v", peers)
	}
	// Entries expire when not refreshed.
	deadline := time.Now().Add(5 * time.Second)
	for {
		peers, _ := c.Peers(ctx, ids[0], "", 10)
		if len(peers) == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("peers still listed after their TTL: %v", peers)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func TestTrackerLimit(t *testing.T) {
	tr := NewTracker(time.Minute)
	id := track.ID{7}
	for i := range 80 {
		src := netip.AddrFrom4([4]byte{10, 0, byte(i), 1})
		if err := tr.Announce(PeerInfo{ID: "p" + string(rune('A'+i%26)) + string(rune('a'+i/26)), Addr: src.String() + ":1000"}, src, 1, []track.ID{id}); err != nil {
			t.Fatal(err)
		}
	}
	if got := tr.Peers(id, "", 1000); len(got) != MaxPeersPerAsk {
		t.Errorf("asked for 1000, got %d, want the cap %d", len(got), MaxPeersPerAsk)
	}
	if got := tr.Peers(id, "", 5); len(got) != 5 {
		t.Errorf("asked for 5, got %d", len(got))
	}
}

func TestChangedFileIsNotServed(t *testing.T) {
	dir := demoLibrary(t)
	s := startOrigin(t, dir, nil)
	e := s.Catalog().Entries()[0]
	data, err := os.ReadFile(filepath.Join(dir, e.Path))
	if err != nil {
		t.Fatal(err)
	}
	data[len(data)-200] ^= 0xff
	if err := os.WriteFile(filepath.Join(dir, e.Path), data, 0o644); err != nil {
		t.Fatal(err)
	}
	c := newTestClient(t, s.URL(), TransportQUIC)
	_, err = c.Chunk(context.Background(), e.Manifest, e.Manifest.NumChunks()-1)
	var se *StatusError
	if !errors.As(err, &se) || se.Code != http.StatusServiceUnavailable {
		t.Fatalf("changed file: got %v, want 503", err)
	}
	// After a rescan the new content is served under its new ID.
	if err := s.Rescan(context.Background()); err != nil {
		t.Fatal(err)
	}
	if s.Catalog().Lookup(e.Manifest.ID) != nil {
		t.Error("the old ID is still listed after a rescan")
	}
	if s.Catalog().Len() != len(demoFiles(t)) {
		t.Errorf("rescan lists %d tracks", s.Catalog().Len())
	}
}

func TestMetricsAndHealth(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	s := startOrigin(t, "", func(c *Config) { c.Metrics = addr })
	c := newTestClient(t, s.URL(), TransportQUIC)
	m := s.Catalog().Entries()[0].Manifest
	if _, err := c.Chunk(context.Background(), m, 0); err != nil {
		t.Fatal(err)
	}
	get := func(path string) string {
		resp, err := http.Get("http://" + addr + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != 200 {
			t.Fatalf("%s: %d", path, resp.StatusCode)
		}
		return string(b)
	}
	if h := get("/healthz"); h != "ok\n" {
		t.Errorf("/healthz = %q", h)
	}
	text := get("/metrics")
	for _, want := range []string{
		`potluck_origin_requests_total{code="200",kind="chunk"} 1`,
		`potluck_origin_bytes_served_total{kind="chunk"} 16384`,
		`potluck_origin_connections_total{transport="quic"} 1`,
		`potluck_origin_connections_open{transport="quic"} 1`,
		"potluck_origin_tracks 6",
		"potluck_origin_tracker_peers 0",
	} {
		if want == "potluck_origin_tracks 6" {
			want = "potluck_origin_tracks " + strconv.Itoa(s.Catalog().Len())
		}
		if !strings.Contains(text, want) {
			t.Errorf("metrics lack %q", want)
		}
	}
}

func TestShutdownAndCloseTwice(t *testing.T) {
	s := startOrigin(t, "", nil)
	c := NewClient(s.URL(), ClientOptions{Transport: TransportQUIC})
	if _, err := c.Info(context.Background()); err != nil {
		t.Fatal(err)
	}
	before := runtime.NumGoroutine()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	for i := range 2 {
		if err := s.Shutdown(ctx); err != nil {
			t.Fatalf("Shutdown %d: %v", i+1, err)
		}
		if err := c.Close(); err != nil {
			t.Errorf("Client.Close %d: %v", i+1, err)
		}
	}
	if after := runtime.NumGoroutine(); after >= before {
		t.Errorf("%d goroutines before Shutdown, %d after: the server's are not gone", before, after)
	}
	if _, err := c.Info(ctx); err == nil {
		t.Error("a shut-down origin still answers")
	}
}

// TestChunkBytesServed checks that the origin counts the chunk payload it
// serves: every chunk of every track once (the tracks' bytes), nothing for
// a revalidation answered 304 or a chunk that does not exist, and the
// chunks of a start answer.
func TestChunkBytesServed(t *testing.T) {
	s := startOrigin(t, "", nil)
	c := newTestClient(t, s.URL(), TransportQUIC)
	files := demoFiles(t)
	fetchAll(t, c, files)
	var want int64
	for _, b := range files {
		want += int64(len(b))
	}
	if got := s.ChunkBytesServed(); got != want {
		t.Errorf("chunk bytes served %d after fetching every track, want %d", got, want)
	}
	m := s.Catalog().Entries()[0].Manifest
	tr := &http.Transport{TLSClientConfig: pinnedTLSConfig(s.URL().Key, nil)}
	defer tr.CloseIdleConnections()
	for _, path := range []string{"/chunks/0", "/chunks/99999"} {
		req, _ := http.NewRequest("GET", "https://"+s.URL().Addr+"/v1/tracks/"+m.ID.String()+path, nil)
		req.Header.Set("If-None-Match", `"`+m.ChunkHashes[0].String()+`"`)
		resp, err := tr.RoundTrip(req)
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
	}
	if got := s.ChunkBytesServed(); got != want {
		t.Errorf("chunk bytes served %d after a 304 and a 404, want still %d", got, want)
	}
	// A start answer's chunks count too (its manifest does not).
	sr, err := c.Start(context.Background(), m.ID, 2)
	if err != nil {
		t.Fatal(err)
	}
	defer sr.Close()
	for {
		_, b, err := sr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		want += int64(len(b))
	}
	if got := s.ChunkBytesServed(); got != want {
		t.Errorf("chunk bytes served %d after a start, want %d", got, want)
	}
}

// A manifest goes gzip-compressed to a client that takes gzip (the
// HTTP/3 client asks for it on its own and inflates it), whole to one
// that does not.
func TestManifestTravelsCompressedWhenAccepted(t *testing.T) {
	s := startOrigin(t, "", nil)
	e := s.Catalog().Entries()[0]
	tr := &http3.Transport{TLSClientConfig: pinnedTLSConfig(s.URL().Key, []string{http3.NextProtoH3}), QUICConfig: &quic.Config{}}
	defer tr.Close()
	for _, tc := range []struct {
		accept string
		gzip   bool
	}{
		{"gzip", true},
		{"br, GZIP;q=0.5", true},
		{"gzip;q=0", false},
		{"gzip; x=1; Q=0", false},
		{"gzip;q=0.001", true},
		{"identity", false},
		{"", false},
	} {
		req, err := http.NewRequest("GET", "https://"+s.URL().Addr+"/v1/tracks/"+e.Manifest.ID.String()+"/manifest", nil)
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Accept-Encoding", tc.accept)
		resp, err := tr.RoundTrip(req)
		if err != nil {
			t.Fatal(err)
		}
		b, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil {
			t.Fatal(err)
		}
		if got := resp.Header.Get("Content-Encoding") == "gzip"; got != tc.gzip {
			t.Errorf("Accept-Encoding %q: compressed %v, want %v", tc.accept, got, tc.gzip)
		}
		if tc.gzip {
			if b, err = gunzipBytes(b, maxStartManifest); err != nil {
				t.Fatalf("Accept-Encoding %q: %v", tc.accept, err)
			}
		}
		if !bytes.Equal(b, e.Signed) {
			t.Errorf("Accept-Encoding %q: %d bytes that are not the signed manifest", tc.accept, len(b))
		}
	}
	c := NewClient(s.URL(), ClientOptions{Transport: TransportQUIC})
	defer c.Close()
	if _, signed, err := c.Manifest(context.Background(), e.Manifest.ID); err != nil || !bytes.Equal(signed, e.Signed) {
		t.Errorf("client: %v, or bytes that are not the signed manifest", err)
	}
}

// TestAGETOutlivesAnOriginCrash: an origin that comes back on the same
// address and key after a crash (its connections never closed) resets
// the old ones at their next packet, and the client asks again on a new
// connection: the GET succeeds at once, not after the dead connection's
// idle timeout or an error.
func TestAGETOutlivesAnOriginCrash(t *testing.T) {
	key := testKey(t)
	s1 := startOrigin(t, "", func(c *Config) { c.Key = key })
	c := newTestClient(t, s1.URL(), TransportQUIC)
	id := s1.Catalog().Entries()[0].Manifest.ID
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if _, _, err := c.Manifest(ctx, id); err != nil {
		t.Fatal(err)
	}
	addr := s1.URL().Addr
	// A crash: its sockets close, and no CONNECTION_CLOSE reaches the client.
	s1.udp.Close()
	s1.tcpLn.Close()
	startOrigin(t, "", func(c *Config) { c.Key, c.Listen = key, addr })
	start := time.Now()
	if _, _, err := c.Manifest(ctx, id); err != nil {
		t.Fatalf("a manifest after the origin came back: %v", err)
	}
	if took := time.Since(start); took > 5*time.Second {
		t.Errorf("the manifest took %v after the origin came back", took)
	}
}
