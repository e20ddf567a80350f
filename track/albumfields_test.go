package track

import (
	"bytes"
	"crypto/ed25519"
	"encoding/json"
	"testing"
)

// Manifests signed before album_artist and disc_number existed must still
// open, and the new fields stay out of manifests that have no value for them.
func TestAlbumFieldsAreOptional(t *testing.T) {
	pub, key, err := ed25519.GenerateKey(nil)
	if err != nil {
		t.Fatal(err)
	}
	m := testManifest(t, randomBytes(10000, 7), 1024)
	m.Album = "Kitchen Radio Hits"

	signed, err := Sign(m, key)
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(signed, []byte("album_artist")) || bytes.Contains(signed, []byte("disc_number")) {
		t.Errorf("empty album artist and disc are encoded: %s", signed)
	}

	// An old origin's manifest: signed bytes written without the fields,
	// in its own key order. Open verifies those bytes, not a re-encoding.
	var fields map[string]any
	body, _ := json.Marshal(m)
	if err := json.Unmarshal(body, &fields); err != nil {
		t.Fatal(err)
	}
	old, err := json.Marshal(fields) // sorted keys: not the struct's order
	if err != nil {
		t.Fatal(err)
	}
	env, _ := json.Marshal(Signed{Manifest: old, Signature: ed25519.Sign(key, append([]byte(signingContext), old...))})
	got, err := Open(env, pub)
	if err != nil {
		t.Fatalf("old manifest: %v", err)
	}
	if got.ID != m.ID || got.AlbumArtist != "" || got.DiscNumber != 0 || got.Album != m.Album {
		t.Errorf("old manifest opened as %+v", got)
	}

	m.AlbumArtist, m.DiscNumber = "Various Artists", 2
	if signed, err = Sign(m, key); err != nil {
		t.Fatal(err)
	}
	got, err = Open(signed, pub)
	if err != nil {
		t.Fatal(err)
	}
	if got.AlbumArtist != "Various Artists" || got.DiscNumber != 2 {
		t.Errorf("album artist %q disc %d after a round trip", got.AlbumArtist, got.DiscNumber)
	}
	if !bytes.Contains(signed, []byte(`"album_artist":"Various Artists"`)) {
		t.Errorf("album_artist not in the signed manifest: %s", signed)
	}
}
