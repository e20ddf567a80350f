package nodeconf

import (
	"context"
	"crypto/ed25519"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"testing"
	"time"

	"github.com/potluckfm/potluck/assets"
	"github.com/potluckfm/potluck/cache"
	"github.com/potluckfm/potluck/internal/testorigin"
	"github.com/potluckfm/potluck/origin"
	"github.com/potluckfm/potluck/swarm"
)

func quiet() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// TestStartMigratesTheOldAppLayout: a data directory an older desktop app
// left (the key and peers in DIR/node, the cache in DIR/cache) starts as
// the same node, with the same cached chunks, in potluckd's layout.
func TestStartMigratesTheOldAppLayout(t *testing.T) {
	srv := testorigin.Start(t)
	c := origin.NewClient(srv.URL(), origin.ClientOptions{})
	t.Cleanup(func() { c.Close() })
	ctx := context.Background()
	tracks, err := c.Tracks(ctx, "")
	if err != nil || len(tracks) == 0 {
		t.Fatalf("catalogue: %v, %d tracks", err, len(tracks))
	}
	id := tracks[0].ID
	cfg := swarm.Config{Origin: c, Listen: "127.0.0.1:0", NoAnnounce: true, Logger: quiet()}

	// The old app's layout, made as the old app made it.
	dir := t.TempDir()
	store, err := cache.OpenDisk(filepath.Join(dir, "cache"), srv.URL().Key, cache.Options{})
	if err != nil {
		t.Fatal(err)
	}
	old := cfg
	old.DataDir, old.Store = filepath.Join(dir, "node"), store
	n, err := swarm.Start(ctx, old)
	if err != nil {
		t.Fatal(err)
	}
	s, err := n.Open(ctx, id, swarm.ModeFetch)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.Copy(io.Discard, s); err != nil {
		t.Fatal(err)
	}
	s.Close()
	oldID := n.ID()
	n.Close()
	chunks := store.Have(id).Count()
	store.Close()
	if chunks == 0 {
		t.Fatal("the old node cached nothing")
	}

	for start := range 2 { // the second start finds the new layout
		nn, err := Start(ctx, Options{Dir: dir, NoPortMap: true, NoLAN: true}, cfg)
		if err != nil {
			t.Fatal(err)
		}
		gotID, got := nn.ID(), nn.Store.Have(id).Count()
		if err := nn.Close(); err != nil {
			t.Fatal(err)
		}
		if gotID != oldID || got != chunks {
			t.Errorf("start %d: node %s with %d chunks, want %s with %d", start, gotID, got, oldID, chunks)
		}
	}
	if _, err := os.Stat(filepath.Join(dir, keyFile)); err != nil {
		t.Errorf("the key is not in the data directory: %v", err)
	}
	if _, err := os.Stat(filepath.Join(dir, oldNodeDir)); !os.IsNotExist(err) {
		t.Errorf("the old node directory is still there (%v)", err)
	}
}

// TestMigrateFinishesAnInterruptedMove: a migration stopped after the key
// moved and before the peers did is finished by the next start; a key
// already in place wins over one left in the old directory.
func TestMigrateFinishesAnInterruptedMove(t *testing.T) {
	dir := t.TempDir()
	write := func(name, body string) {
		t.Helper()
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o700); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	read := func(name string) string {
		b, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil {
			return "(" + err.Error() + ")"
		}
		return string(b)
	}
	write(keyFile, "moved key")
	write(filepath.Join(oldNodeDir, peersFile), "peers")
	write(filepath.Join(oldNodeDir, peersFile+".tmp"), "half-written peers")
	for range 2 {
		if err := Migrate(dir, quiet()); err != nil {
			t.Fatal(err)
		}
		if read(keyFile) != "moved key" || read(peersFile) != "peers" {
			t.Fatalf("after the migration: key %q, peers %q", read(keyFile), read(peersFile))
		}
		if _, err := os.Stat(filepath.Join(dir, oldNodeDir)); !os.IsNotExist(err) {
			t.Fatalf("the old node directory is still there (%v)", err)
		}
	}

	write(filepath.Join(oldNodeDir, keyFile), "another key")
	if err := Migrate(dir, quiet()); err != nil {
		t.Fatal(err)
	}
	if read(keyFile) != "moved key" || read(filepath.Join(oldNodeDir, keyFile)) != "another key" {
		t.Errorf("two keys: kept %q, left %q", read(keyFile), read(filepath.Join(oldNodeDir, keyFile)))
	}
}

// TestStartSharesTheSwarmSocketWithTheOrigin: the node's origin client
// dials from the node's socket, so the tracker lists the node at the
// address the origin saw, which is the node's own; after Close the client
// still answers, from sockets of its own.
func TestStartSharesTheSwarmSocketWithTheOrigin(t *testing.T) {
	srv := testorigin.Start(t)
	c := origin.NewClient(srv.URL(), origin.ClientOptions{Transport: origin.TransportQUIC})
	t.Cleanup(func() { c.Close() })
	ctx := context.Background()
	// A connection from the client's own socket, open before the node.
	if _, err := c.Info(ctx); err != nil {
		t.Fatal(err)
	}
	cfg := swarm.Config{Origin: c, Listen: "127.0.0.1:0", NoAnnounce: true, AnnounceAddr: "127.0.0.1:1", Logger: quiet()}
	n, err := Start(ctx, Options{Dir: t.TempDir(), NoPortMap: true, NoLAN: true}, cfg)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := n.Announce(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if resp.Addr != n.Addr().String() {
		t.Errorf("the tracker lists the node at %s, want its socket's address %s", resp.Addr, n.Addr())
	}
	if err := n.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Info(ctx); err != nil {
		t.Errorf("the client after the node closed: %v", err)
	}
}

// TestStartRemovesTheTempDirsOfKilledNodes: a node started without a data
// directory removes the throwaway ones that nodes killed before they could
// clean up left behind, and only those.
func TestStartRemovesTheTempDirsOfKilledNodes(t *testing.T) {
	cmd := exec.Command("true")
	if err := cmd.Run(); err != nil {
		t.Skip("no true(1):", err)
	}
	dead, self := strconv.Itoa(cmd.Process.Pid), strconv.Itoa(os.Getpid())
	tmp := t.TempDir()
	t.Setenv("TMPDIR", tmp)
	mk := func(name string) string {
		p := filepath.Join(tmp, name)
		if err := os.MkdirAll(filepath.Join(p, "cache"), 0o755); err != nil {
			t.Fatal(err)
		}
		return p
	}
	gone := mk(TempPrefix + dead + "-789")
	kept := []string{
		mk(TempPrefix + self + "-1"), // a node still running
		mk(TempPrefix + "123456"),    // an older name: owner unknown
		mk("potluck-other-" + dead + "-1"),
	}
	srv := testorigin.Start(t)
	c := origin.NewClient(srv.URL(), origin.ClientOptions{})
	t.Cleanup(func() { c.Close() })
	n, err := Start(context.Background(), Options{NoPortMap: true, NoLAN: true}, swarm.Config{Origin: c, Listen: "127.0.0.1:0", NoAnnounce: true, Logger: quiet()})
	if err != nil {
		t.Fatal(err)
	}
	n.Close()
	if _, err := os.Stat(gone); err == nil {
		t.Errorf("%s left behind", gone)
	}
	for _, p := range kept {
		if _, err := os.Stat(p); err != nil {
			t.Errorf("%s removed: %v", p, err)
		}
	}
}

// TestTheOriginConnectionIsOpenBeforeTheFirstPlay: a node opens its
// connection to the origin as it starts (its first announce), from its
// own socket, before anything is asked of it; the catalogue and the first
// play's manifest and chunks then travel on that connection, so no
// handshake waits for the listener's click.
func TestTheOriginConnectionIsOpenBeforeTheFirstPlay(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	metricsAddr := ln.Addr().String()
	ln.Close()
	_, key, err := ed25519.GenerateKey(nil)
	if err != nil {
		t.Fatal(err)
	}
	srv, err := origin.Start(context.Background(), origin.Config{
		Library: assets.Demo(), Key: key, Listen: "127.0.0.1:0", Metrics: metricsAddr, Logger: quiet(),
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Shutdown(context.Background()) })
	metric := func(series string) string {
		resp, err := http.Get("http://" + metricsAddr + "/metrics")
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		m := regexp.MustCompile(regexp.QuoteMeta(series) + ` (\d+)`).FindSubmatch(b)
		if m == nil {
			return "0"
		}
		return string(m[1])
	}
	quicConns := func() (total, open string) {
		return metric(`potluck_origin_connections_total{transport="quic"}`), metric(`potluck_origin_connections_open{transport="quic"}`)
	}
	announces := func() int {
		n, _ := strconv.Atoi(metric(`potluck_origin_requests_total{code="200",kind="tracker"}`))
		return n
	}

	for run := range 5 { // the first announce and the sharing of the socket must not race
		c := origin.NewClient(srv.URL(), origin.ClientOptions{Transport: origin.TransportQUIC})
		ctx := context.Background()
		before, _ := quicConns()
		announcedBefore := announces()
		n, err := Start(ctx, Options{Dir: t.TempDir(), NoPortMap: true, NoLAN: true},
			swarm.Config{Origin: c, Listen: "127.0.0.1:0", Logger: quiet()})
		if err != nil {
			t.Fatal(err)
		}
		want, _ := strconv.Atoi(before)
		want++
		deadline := time.Now().Add(10 * time.Second)
		for {
			if total, _ := quicConns(); total == strconv.Itoa(want) {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("run %d: the node did not connect to the origin as it started", run)
			}
			time.Sleep(10 * time.Millisecond)
		}
		tracks, online, err := n.Catalogue(ctx)
		if err != nil || !online || len(tracks) == 0 {
			t.Fatalf("run %d: catalogue: %d tracks, online %v, %v", run, len(tracks), online, err)
		}
		s, err := n.Open(ctx, tracks[0].ID, swarm.ModePlay)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := io.ReadFull(s, make([]byte, 4096)); err != nil {
			t.Fatal(err)
		}
		s.Close()
		if total, open := quicConns(); total != strconv.Itoa(want) || open != "1" {
			t.Errorf("run %d: after the catalogue and a play the origin saw %s QUIC connections in all (%s open), want %d (1 open): a handshake waited for the play",
				run, total, open, want)
		}
		if err := n.Close(); err != nil {
			t.Fatal(err)
		}
		if total, _ := quicConns(); total != strconv.Itoa(want) {
			t.Errorf("run %d: the origin saw %s QUIC connections once the node closed, want %d: its leave dialled anew", run, total, want)
		}
		if n := announces() - announcedBefore; n != 2 {
			t.Errorf("run %d: the tracker answered %d announces, want 2: the first and the leave", run, n)
		}
		c.Close()
	}
}
