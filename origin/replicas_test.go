package origin

import (
	"context"
	"crypto/ed25519"
	"errors"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"
)

func TestURLWithSeveralAddrs(t *testing.T) {
	pub, _, _ := ed25519.GenerateKey(nil)
	one := URL{Addr: "127.0.0.1:4433", Key: pub}
	key := one.String()[len(one.String())-43:]
	if want := "https://127.0.0.1:4433/#key=" + key; one.String() != want {
		t.Errorf("one address prints %s, want %s", one, want)
	}
	for _, c := range []struct {
		in    string
		addrs []string
		out   string
	}{
		{"https://127.0.0.1:4433/#key=" + key, []string{"127.0.0.1:4433"}, "https://127.0.0.1:4433/#key=" + key},
		{"https://127.0.0.1:4433#key=" + key, []string{"127.0.0.1:4433"}, "https://127.0.0.1:4433/#key=" + key},
		{"https://h1.example:4433,h2.example:4434/#key=" + key, []string{"h1.example:4433", "h2.example:4434"},
			"https://h1.example:4433,h2.example:4434/#key=" + key},
		{"https://[::1]:4433,10.0.0.2:4433,[2001:db8::2]:443#key=" + key, []string{"[::1]:4433", "10.0.0.2:4433", "[2001:db8::2]:443"},
			"https://[::1]:4433,10.0.0.2:4433,[2001:db8::2]:443/#key=" + key},
	} {
		u, err := ParseURL(c.in)
		if err != nil {
			t.Errorf("ParseURL(%q): %v", c.in, err)
			continue
		}
		if !slices.Equal(u.AllAddrs(), c.addrs) || u.Addr != c.addrs[0] || !u.Key.Equal(pub) || u.String() != c.out {
			t.Errorf("ParseURL(%q) = %v %v, printed %s; want %v, %s", c.in, u.Addr, u.AllAddrs(), u, c.addrs, c.out)
		}
	}
	for _, bad := range []string{
		"https://h1:4433,h2/#key=" + key, "https://h1:4433,/#key=short", "https://,/#key=" + key,
		"http://h1:1,h2:2/#key=" + key, "https://h1:1,h2:2/",
	} {
		if u, err := ParseURL(bad); err == nil {
			t.Errorf("ParseURL(%q) accepted: %v", bad, u.AllAddrs())
		}
	}
	// A caller that points Addr elsewhere gets that address alone.
	u, _ := ParseURL("https://h1:1,h2:2/#key=" + key)
	u.Addr = "relay:3"
	if got := u.AllAddrs(); !slices.Equal(got, []string{"relay:3"}) {
		t.Errorf("after Addr changed: %v", got)
	}
}

// startReplicas starts n origins on loopback with one key over copies of
// the demo library, and returns them and their shared URL.
func startReplicas(t *testing.T, n int) ([]*Server, []string, URL) {
	key := testKey(t)
	var (
		srvs []*Server
		dirs []string
		u    = URL{Key: key.Public().(ed25519.PublicKey)}
	)
	for range n {
		dir := demoLibrary(t)
		s := startOrigin(t, dir, func(c *Config) { c.Key = key })
		srvs, dirs = append(srvs, s), append(dirs, dir)
		u.Addrs = append(u.Addrs, s.URL().Addr)
	}
	u.Addr = u.Addrs[0]
	return srvs, dirs, u
}

func shutdown(t *testing.T, s *Server) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := s.Shutdown(ctx); err != nil {
		t.Log(err)
	}
}

// fetchFirst fetches the catalogue and every chunk of its first track.
func fetchFirst(t *testing.T, c *Client) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	tracks, err := c.Tracks(ctx, "")
	if err != nil {
		t.Fatal(err)
	}
	m, _, err := c.Manifest(ctx, tracks[0].ID)
	if err != nil {
		t.Fatal(err)
	}
	for i := range m.NumChunks() {
		if _, err := c.Chunk(ctx, m, i); err != nil {
			t.Fatalf("chunk %d: %v", i, err)
		}
	}
}

func TestClientFailsOverBetweenReplicas(t *testing.T) {
	for _, tr := range []Transport{TransportAuto, TransportQUIC, TransportTCP} {
		t.Run(string(tr), func(t *testing.T) {
			srvs, _, u := startReplicas(t, 2)
			c := NewClient(u, ClientOptions{Transport: tr, QUICDialTimeout: 300 * time.Millisecond})
			defer c.Close()
			fetchFirst(t, c)
			if c.Addr() != u.Addrs[0] {
				t.Fatalf("first requests went to %s, want %s", c.Addr(), u.Addrs[0])
			}
			// The first replica dies: the same requests go on through
			// the second, and stay there.
			shutdown(t, srvs[0])
			start := time.Now()
			fetchFirst(t, c)
			t.Logf("failover took the first request %v", time.Since(start))
			if c.Addr() != u.Addrs[1] {
				t.Fatalf("after the first replica stopped, requests go to %s, want %s", c.Addr(), u.Addrs[1])
			}
			if want := map[Transport]Transport{TransportTCP: TransportTCP}[tr]; want == "" && c.LastTransport() != TransportQUIC {
				t.Errorf("answered over %s after failover, want quic (a dead address is not a blocked UDP)", c.LastTransport())
			}
			// The first comes back at its address and the second dies:
			// the client wraps around.
			back := startOrigin(t, "", func(c *Config) {
				c.Key = srvs[0].cfg.Key
				c.Listen = u.Addrs[0]
			})
			shutdown(t, srvs[1])
			fetchFirst(t, c)
			if c.Addr() != back.URL().Addr {
				t.Fatalf("requests go to %s, want %s", c.Addr(), back.URL().Addr)
			}
		})
	}
}

func TestClientMovesOnA5xx(t *testing.T) {
	srvs, dirs, u := startReplicas(t, 2)
	// The first replica's copy of a file changes under it: it answers
	// that track's chunks with 503, and the second serves them.
	e := srvs[0].Catalog().Entries()[0]
	p := filepath.Join(dirs[0], e.Path)
	data, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	data[len(data)-200] ^= 0xff
	if err := os.WriteFile(p, data, 0o644); err != nil {
		t.Fatal(err)
	}
	c := newTestClient(t, u, TransportQUIC)
	last := e.Manifest.NumChunks() - 1
	if _, err := c.Chunk(context.Background(), e.Manifest, last); err != nil {
		t.Fatalf("chunk from the replicas: %v", err)
	}
	if c.Addr() != u.Addrs[1] {
		t.Errorf("after a 503 requests go to %s, want %s", c.Addr(), u.Addrs[1])
	}
	// With one address the 503 is the answer, as before.
	one := newTestClient(t, srvs[0].URL(), TransportQUIC)
	var se *StatusError
	if _, err := one.Chunk(context.Background(), e.Manifest, last); !errors.As(err, &se) || se.Code != http.StatusServiceUnavailable {
		t.Errorf("one address: got %v, want 503", err)
	}
}

func TestClientTriesEveryAddressOfAName(t *testing.T) {
	key := testKey(t)
	a := startOrigin(t, "", func(c *Config) { c.Key = key })
	_, port, _ := net.SplitHostPort(a.URL().Addr)
	b, err := Start(context.Background(), Config{Library: a.cfg.Library, Key: key, Listen: "127.0.0.2:" + port, Logger: a.log, NoConnectBack: true})
	if err != nil {
		t.Skipf("127.0.0.2 on loopback: %v", err)
	}
	defer shutdown(t, b)
	u := URL{Addr: "replicas.potluck.test:" + port, Key: key.Public().(ed25519.PublicKey)}
	c := newTestClient(t, u, TransportAuto)
	c.opts.QUICDialTimeout = 300 * time.Millisecond
	c.ep.resolve = func(ctx context.Context, host string) ([]string, error) {
		if host != "replicas.potluck.test" {
			return nil, &net.DNSError{Err: "no such host", Name: host, IsNotFound: true}
		}
		return []string{"127.0.0.1", "127.0.0.2"}, nil
	}
	fetchFirst(t, c)
	if c.Addr() != a.URL().Addr {
		t.Fatalf("requests go to %s, want %s", c.Addr(), a.URL().Addr)
	}
	shutdown(t, a)
	fetchFirst(t, c)
	if want := "127.0.0.2:" + port; c.Addr() != want {
		t.Fatalf("after the first address stopped, requests go to %s, want %s", c.Addr(), want)
	}
}
