package swarm

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/potluckfm/potluck/origin"
)

// connect makes from dial to, as a node does a peer it heard of.
func connect(t *testing.T, from, to *Node) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if _, err := from.conn(ctx, PeerAddr{ID: to.ID(), Addr: to.Addr().String()}); err != nil {
		t.Fatal(err)
	}
}

// coverEntry is a demo track with cover art.
func (ts *testSwarm) coverEntry() *origin.Entry {
	ts.t.Helper()
	for _, e := range ts.origin.Catalog().Entries() {
		if len(e.Cover) > 0 {
			return e
		}
	}
	ts.t.Fatal("no demo track has a cover")
	return nil
}

func sameTracks(a, b []origin.TrackInfo) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// TestCatalogueSurvivesTheOrigin: node A gets the catalogue and a cover
// from the origin; with the origin gone, node B (a fresh data directory)
// gets both from A, verified, and keeps them across a restart.
func TestCatalogueSurvivesTheOrigin(t *testing.T) {
	ts := newTestSwarm(t)
	ctx := context.Background()
	want, _, err := origin.NewClient(ts.url, origin.ClientOptions{}).SignedCatalogue(ctx)
	if err != nil {
		t.Fatal(err)
	}
	a := ts.node(nil)
	tracks, online, err := a.Catalogue(ctx)
	if err != nil || !online || !sameTracks(tracks, want.Tracks) {
		t.Fatalf("A from the origin: %d tracks, online %v, %v", len(tracks), online, err)
	}
	if _, err := os.Stat(filepath.Join(a.cfg.DataDir, catalogueFile)); err != nil {
		t.Fatalf("A did not keep the catalogue: %v", err)
	}
	// Asked again, the origin says "not modified": the same list, online.
	tracks, online, err = a.Catalogue(ctx)
	if err != nil || !online || !sameTracks(tracks, want.Tracks) {
		t.Fatalf("A again: %d tracks, online %v, %v", len(tracks), online, err)
	}
	e := ts.coverEntry()
	img, err := a.Cover(ctx, e.Manifest.ID)
	if err != nil || !bytes.Equal(img, e.Cover) {
		t.Fatalf("A's cover from the origin: %d bytes, %v", len(img), err)
	}

	ts.stopOrigin()
	bDir := t.TempDir()
	b := ts.node(func(c *Config) { c.DataDir = bDir })
	if _, _, err := b.Catalogue(ctx); !errors.Is(err, ErrNoCatalogue) {
		t.Fatalf("B alone with the origin down: %v, want ErrNoCatalogue", err)
	}
	connect(t, b, a)
	start := time.Now()
	tracks, online, err = b.Catalogue(ctx)
	if err != nil || online || !sameTracks(tracks, want.Tracks) {
		t.Fatalf("B from A: %d tracks, online %v, %v", len(tracks), online, err)
	}
	if took := time.Since(start); took > catalogueOriginWait+2*time.Second {
		t.Errorf("B's catalogue took %v with the origin down", took)
	}
	if b.CatalogueVersion() != want.Version {
		t.Errorf("B holds version %d, want %d", b.CatalogueVersion(), want.Version)
	}
	img, err = b.Cover(ctx, e.Manifest.ID)
	if err != nil || !bytes.Equal(img, e.Cover) {
		t.Fatalf("B's cover from A: %d bytes, %v", len(img), err)
	}
	for _, ti := range want.Tracks {
		if !ti.Cover {
			if _, err := b.Cover(ctx, ti.ID); !errors.Is(err, ErrNoCover) {
				t.Errorf("cover of a track without one: %v, want ErrNoCover", err)
			}
			break
		}
	}
	// A delivered (as if chunks): B remembers it in peers.json.
	ca, err := b.conn(ctx, PeerAddr{ID: a.ID(), Addr: a.Addr().String()})
	if err != nil {
		t.Fatal(err)
	}
	b.markGood(ca)
	b.Close()

	// A node connected to no one, with only B's peers.json, dials a known
	// peer and gets the catalogue from it.
	cDir := t.TempDir()
	peers, err := os.ReadFile(filepath.Join(bDir, knownFile))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(cDir, knownFile), peers, 0o644); err != nil {
		t.Fatal(err)
	}
	c := ts.node(func(c *Config) { c.DataDir = cDir })
	tracks, online, err = c.Catalogue(ctx)
	if err != nil || online || !sameTracks(tracks, want.Tracks) {
		t.Fatalf("from a known peer, dialled: %d tracks, online %v, %v", len(tracks), online, err)
	}

	// B again, with A gone too: its data directory kept the catalogue and
	// the cover.
	a.Close()
	b2 := ts.node(func(c *Config) { c.DataDir = bDir })
	tracks, online, err = b2.Catalogue(ctx)
	if err != nil || online || !sameTracks(tracks, want.Tracks) {
		t.Fatalf("B restarted: %d tracks, online %v, %v", len(tracks), online, err)
	}
	if img, err := b2.Cover(ctx, e.Manifest.ID); err != nil || !bytes.Equal(img, e.Cover) {
		t.Fatalf("B restarted, cover: %d bytes, %v", len(img), err)
	}
}

// TestCatalogueFromLyingPeers: a catalogue signed by another key gets its
// sender banned and is not taken; an older one, though signed, does not
// replace the newer one held; a newer one does; a cover that does not
// match the catalogue's hash gets its sender banned.
func TestCatalogueFromLyingPeers(t *testing.T) {
	var key ed25519.PrivateKey
	ts := startTestSwarm(t, nil, func(c *origin.Config) { key = c.Key })
	ctx := context.Background()
	b := ts.node(nil)
	want, online, err := b.Catalogue(ctx)
	if err != nil || !online {
		t.Fatal(online, err)
	}
	held := b.CatalogueVersion()
	e := ts.coverEntry()
	ts.stopOrigin()

	hold := func(n *Node, c origin.Catalogue, k ed25519.PrivateKey) {
		env, err := origin.SignCatalogue(c, k)
		if err != nil {
			t.Fatal(err)
		}
		n.cat.mu.Lock()
		n.cat.set(&c, env)
		n.cat.mu.Unlock()
	}

	// Another key, a higher version: refused, and its sender banned.
	_, otherKey, _ := ed25519.GenerateKey(nil)
	forger := ts.node(nil)
	hold(forger, origin.Catalogue{Version: held + 1000, Tracks: want[:1]}, otherKey)
	connect(t, b, forger)
	tracks, online, err := b.Catalogue(ctx)
	if err != nil || online || !sameTracks(tracks, want) || b.CatalogueVersion() != held {
		t.Fatalf("after a forged catalogue: %d tracks, version %d, %v", len(tracks), b.CatalogueVersion(), err)
	}
	if _, banned := b.Banned(forger.ID()); !banned {
		t.Error("the peer that sent a forged catalogue is not banned")
	}

	// Signed, but older: not taken, the peer not banned (it is behind).
	behind := ts.node(nil)
	hold(behind, origin.Catalogue{Version: held - 1, Tracks: want[:1]}, key)
	behind.cat.covers.put(e.Manifest.ID, []byte("not the cover"))
	connect(t, b, behind)
	tracks, _, err = b.Catalogue(ctx)
	if err != nil || !sameTracks(tracks, want) || b.CatalogueVersion() != held {
		t.Fatalf("after an older catalogue: %d tracks, version %d, %v", len(tracks), b.CatalogueVersion(), err)
	}
	if _, banned := b.Banned(behind.ID()); banned {
		t.Error("a peer with an older catalogue was banned")
	}
	older := origin.Catalogue{Version: held - 1, Tracks: want}
	olderEnv, _ := origin.SignCatalogue(older, key)
	if err := b.adopt(&older, olderEnv); !errors.Is(err, ErrOlderCatalogue) {
		t.Errorf("adopting an older catalogue: %v, want ErrOlderCatalogue", err)
	}

	// Its cover does not match the catalogue: refused, and banned.
	if img, err := b.Cover(ctx, e.Manifest.ID); !errors.Is(err, ErrNoCover) {
		t.Errorf("a wrong cover: %d bytes, %v, want ErrNoCover", len(img), err)
	}
	if _, banned := b.Banned(behind.ID()); !banned {
		t.Error("the peer that sent a wrong cover is not banned")
	}

	// Signed and newer: taken, and kept on disk.
	ahead := ts.node(nil)
	hold(ahead, origin.Catalogue{Version: held + 1, Tracks: want[1:]}, key)
	connect(t, b, ahead)
	tracks, _, err = b.Catalogue(ctx)
	if err != nil || !sameTracks(tracks, want[1:]) || b.CatalogueVersion() != held+1 {
		t.Fatalf("after a newer catalogue: %d tracks, version %d, %v", len(tracks), b.CatalogueVersion(), err)
	}
	kept, err := os.ReadFile(filepath.Join(b.cfg.DataDir, catalogueFile))
	if err != nil || !bytes.Equal(kept, ahead.heldCatalogue()) {
		t.Errorf("kept on disk: %v", err)
	}
}

// TestCoverStoreIsBounded: the store keeps at most maxStoredCovers covers,
// the oldest going first, and lists them again after a restart.
func TestCoverStoreIsBounded(t *testing.T) {
	dir := t.TempDir()
	var s coverStore
	s.init(dir)
	var first, last [16]byte
	for i := range maxStoredCovers + 5 {
		id := [16]byte{byte(i >> 8), byte(i)}
		if i == 0 {
			first = id
		}
		last = id
		s.put(id, []byte{1, 2, 3})
	}
	if len(s.files) != maxStoredCovers {
		t.Fatalf("%d covers kept, want %d", len(s.files), maxStoredCovers)
	}
	if _, ok := s.get(first); ok {
		t.Error("the oldest cover was kept")
	}
	if b, ok := s.get(last); !ok || !bytes.Equal(b, []byte{1, 2, 3}) {
		t.Error("the newest cover was not kept")
	}
	s.put([16]byte{0xff}, make([]byte, maxStoredCover+1))
	if _, ok := s.get([16]byte{0xff}); ok {
		t.Error("an oversized cover was kept")
	}
	var again coverStore
	again.init(dir)
	if len(again.files) != maxStoredCovers || again.bytes != 3*maxStoredCovers {
		t.Errorf("after a restart: %d covers, %d bytes", len(again.files), again.bytes)
	}
}
