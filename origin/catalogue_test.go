package origin

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"os"
	"testing"
	"time"
)

func TestSignedCatalogueFromTheOrigin(t *testing.T) {
	s := startOrigin(t, "", nil)
	c := newTestClient(t, s.URL(), TransportAuto)
	ctx := context.Background()
	cat, env, err := c.SignedCatalogue(ctx)
	if err != nil {
		t.Fatal(err)
	}
	tracks, err := c.Tracks(ctx, "")
	if err != nil {
		t.Fatal(err)
	}
	if cat.Version <= 0 || len(cat.Tracks) != len(tracks) {
		t.Fatalf("catalogue version %d with %d tracks; /v1/tracks lists %d", cat.Version, len(cat.Tracks), len(tracks))
	}
	for i := range tracks {
		if cat.Tracks[i] != tracks[i] {
			t.Errorf("track %d: catalogue %+v, /v1/tracks %+v", i, cat.Tracks[i], tracks[i])
		}
	}
	covers := 0
	for _, ti := range cat.Tracks {
		if !ti.Cover {
			if ti.CoverSHA256 != "" {
				t.Errorf("%s: cover hash without a cover", ti.Title)
			}
			continue
		}
		covers++
		img, _, err := c.Cover(ctx, ti.ID)
		if err != nil {
			t.Fatal(err)
		}
		if sum := sha256.Sum256(img); hex.EncodeToString(sum[:]) != ti.CoverSHA256 {
			t.Errorf("%s: cover_sha256 %q does not match the cover", ti.Title, ti.CoverSHA256)
		}
	}
	if covers == 0 {
		t.Error("no demo track has a cover: the cover hash went untested")
	}
	if !bytes.Equal(env, s.Catalog().SignedCatalogue()) {
		t.Error("the client's envelope is not the bytes the origin signed")
	}
	again, err := OpenCatalogue(env, s.URL().Key)
	if err != nil || again.Version != cat.Version {
		t.Fatalf("reopening the envelope: %v", err)
	}
	// A client that holds this version is told so in a few bytes; one
	// that holds another gets the catalogue.
	for _, tr := range []Transport{TransportQUIC, TransportTCP} {
		c := newTestClient(t, s.URL(), tr)
		if _, _, err := c.SignedCatalogueSince(ctx, cat.Version); !errors.Is(err, ErrCatalogueNotModified) {
			t.Errorf("%s: held version: %v, want ErrCatalogueNotModified", tr, err)
		}
		if got, _, err := c.SignedCatalogueSince(ctx, cat.Version-1); err != nil || got.Version != cat.Version {
			t.Errorf("%s: older version held: %v", tr, err)
		}
	}
}

func TestOpenCatalogueRefusesTamperingAndOtherKeys(t *testing.T) {
	pub, key, _ := ed25519.GenerateKey(nil)
	otherPub, otherKey, _ := ed25519.GenerateKey(nil)
	cat := Catalogue{Version: 1767312000000, Tracks: []TrackInfo{{Title: "Blue in Green", Artist: "Miles Davis", DurationMS: 337000, Size: 1}}}
	env, err := SignCatalogue(cat, key)
	if err != nil {
		t.Fatal(err)
	}
	got, err := OpenCatalogue(env, pub)
	if err != nil || got.Version != cat.Version || len(got.Tracks) != 1 || got.Tracks[0] != cat.Tracks[0] {
		t.Fatalf("open: %+v %v", got, err)
	}

	// One changed byte of the catalogue, whatever it is, breaks the signature.
	i := bytes.Index(env, []byte("Blue"))
	tampered := bytes.Clone(env)
	tampered[i] = 'G'
	if _, err := OpenCatalogue(tampered, pub); !errors.Is(err, ErrBadCatalogueSignature) {
		t.Errorf("tampered title: %v, want ErrBadCatalogueSignature", err)
	}
	// Re-encoded (same meaning, other bytes): refused too, as the
	// signature is over the bytes.
	spaced := bytes.Replace(env, []byte(`"version":`), []byte(`"version": `), 1)
	if _, err := OpenCatalogue(spaced, pub); !errors.Is(err, ErrBadCatalogueSignature) {
		t.Errorf("re-encoded catalogue: %v, want ErrBadCatalogueSignature", err)
	}
	// Signed by another key.
	forged, _ := SignCatalogue(cat, otherKey)
	if _, err := OpenCatalogue(forged, pub); !errors.Is(err, ErrBadCatalogueSignature) {
		t.Errorf("another key's catalogue: %v, want ErrBadCatalogueSignature", err)
	}
	if _, err := OpenCatalogue(env, otherPub); !errors.Is(err, ErrBadCatalogueSignature) {
		t.Errorf("checked against another key: %v, want ErrBadCatalogueSignature", err)
	}
	if _, err := OpenCatalogue(env, nil); !errors.Is(err, ErrBadCatalogueSignature) {
		t.Errorf("no key: %v, want ErrBadCatalogueSignature", err)
	}
	for _, bad := range [][]byte{nil, []byte("{"), []byte(`{"catalogue":1}`)} {
		if _, err := OpenCatalogue(bad, pub); err == nil {
			t.Errorf("%q opened", bad)
		}
	}
	// Signed, but no version: refused.
	zero, _ := SignCatalogue(Catalogue{}, key)
	if _, err := OpenCatalogue(zero, pub); !errors.Is(err, ErrBadCatalogue) {
		t.Errorf("version 0: %v, want ErrBadCatalogue", err)
	}
}

func TestCatalogueVersionGrowsOnlyWithChanges(t *testing.T) {
	dir := demoLibrary(t)
	key := testKey(t)
	ctx := context.Background()
	first, err := ScanLibrary(ctx, os.DirFS(dir), key, ScanOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if first.CatalogueVersion() <= 0 || first.SignedCatalogue() == nil {
		t.Fatalf("first scan: version %d", first.CatalogueVersion())
	}
	same, err := ScanLibrary(ctx, os.DirFS(dir), key, ScanOptions{Previous: first})
	if err != nil {
		t.Fatal(err)
	}
	if same.CatalogueVersion() != first.CatalogueVersion() || !bytes.Equal(same.SignedCatalogue(), first.SignedCatalogue()) {
		t.Errorf("a rescan that changed nothing changed the catalogue: version %d, was %d", same.CatalogueVersion(), first.CatalogueVersion())
	}
	for _, b := range demoFiles(t) {
		writeFile(t, dir, "new/untagged.mp3", stripTags(t, b))
		break
	}
	changed, err := ScanLibrary(ctx, os.DirFS(dir), key, ScanOptions{Previous: same})
	if err != nil {
		t.Fatal(err)
	}
	if changed.CatalogueVersion() <= first.CatalogueVersion() {
		t.Errorf("a new file left the version at %d (was %d)", changed.CatalogueVersion(), first.CatalogueVersion())
	}
	cat, err := OpenCatalogue(changed.SignedCatalogue(), key.Public().(ed25519.PublicKey))
	if err != nil || len(cat.Tracks) != first.Len()+1 || cat.Version != changed.CatalogueVersion() {
		t.Fatalf("changed catalogue: %v", err)
	}

	// Through the server: GET /v1/catalogue follows Rescan.
	s := startOrigin(t, dir, nil)
	c := newTestClient(t, s.URL(), TransportQUIC)
	before, _, err := c.SignedCatalogue(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Rescan(ctx); err != nil {
		t.Fatal(err)
	}
	if after, _, _ := c.SignedCatalogue(ctx); after == nil || after.Version != before.Version {
		t.Errorf("rescan of an unchanged library: version %v, was %d", after, before.Version)
	}
	os.Remove(dir + "/new/untagged.mp3")
	time.Sleep(2 * time.Millisecond)
	if err := s.Rescan(ctx); err != nil {
		t.Fatal(err)
	}
	after, _, err := c.SignedCatalogue(ctx)
	if err != nil || after.Version <= before.Version || len(after.Tracks) != len(before.Tracks)-1 {
		t.Errorf("rescan after a removal: %+v %v", after, err)
	}
}
