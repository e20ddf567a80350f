package track

import (
	"bytes"
	"crypto/ed25519"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"runtime"
	"testing"
)

// signedBody signs body as an origin would, byte for byte, without Sign's
// encoding: a newer origin's manifest, with fields this package does not
// know, or another encoder's.
func signedBody(t *testing.T, body []byte, priv ed25519.PrivateKey) []byte {
	t.Helper()
	sig, err := json.Marshal(ed25519.Sign(priv, append([]byte(signingContext), body...)))
	if err != nil {
		t.Fatal(err)
	}
	return fmt.Appendf(nil, `{"manifest":%s,"signature":%s}`, body, sig)
}

// TestPackedRebuildsTheSignedBytes packs signed manifests, of this
// version and of a newer origin's with fields unknown here, and checks
// that unpacking gives back the very bytes the origin sent, which Open
// accepts, in fewer bytes than they take.
func TestPackedRebuildsTheSignedBytes(t *testing.T) {
	pub, priv, _ := ed25519.GenerateKey(nil)
	m := testManifest(t, randomBytes(200_000, 7), 1024)
	signed, err := Sign(m, priv)
	if err != nil {
		t.Fatal(err)
	}
	noSeek := *m
	noSeek.Audio.Seek = nil
	bare, err := Sign(&noSeek, priv)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := json.Marshal(m)
	newer := signedBody(t, append([]byte(`{"loudness_db":-7.5,"seek":"not this one",`), body[1:]...), priv)

	for _, tc := range []struct {
		name     string
		signed   []byte
		wantSeek int
	}{
		{"this version", signed, len(m.Audio.Seek)},
		{"no seek table", bare, 0},
		{"a newer origin's", newer, len(m.Audio.Seek)},
	} {
		name, signed := tc.name, tc.signed
		packed, err := PackSigned(signed)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if len(packed) >= len(signed)*3/4 {
			t.Errorf("%s: packed in %d bytes for %d signed", name, len(packed), len(signed))
		}
		back, err := UnpackSigned(packed, len(signed))
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if !bytes.Equal(back, signed) {
			t.Fatalf("%s: unpacked differs from what was signed:\n%s\n%s", name, back, signed)
		}
		got, err := Open(back, pub)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if got.ID != m.ID || len(got.Audio.Seek) != tc.wantSeek {
			t.Errorf("%s: opened %s with %d seek points", name, got.ID, len(got.Audio.Seek))
		}
		if _, err := UnpackSigned(packed, len(signed)-1); !errors.Is(err, ErrBadManifest) {
			t.Errorf("%s: unpacked past its limit: %v", name, err)
		}
	}
}

// TestPackedCannotSayWhatWasNotSigned changes each byte of a packed
// manifest in turn, and cuts it at every length: nothing unpacks to a
// manifest Open accepts, and nothing panics.
func TestPackedCannotSayWhatWasNotSigned(t *testing.T) {
	pub, priv, _ := ed25519.GenerateKey(nil)
	m := testManifest(t, randomBytes(20_000, 8), 1024)
	signed, err := Sign(m, priv)
	if err != nil {
		t.Fatal(err)
	}
	packed, err := PackSigned(signed)
	if err != nil {
		t.Fatal(err)
	}
	accepted := func(b []byte) bool {
		back, err := UnpackSigned(b, 1<<20)
		if err != nil {
			if !errors.Is(err, ErrBadManifest) {
				t.Fatalf("unpack error %v, want ErrBadManifest", err)
			}
			return false
		}
		_, err = Open(back, pub)
		return err == nil
	}
	for i := range packed {
		b := bytes.Clone(packed)
		b[i] ^= 0x01
		if accepted(b) {
			// Only a change that rebuilds the same bytes may pass: none
			// does, as every byte of the packed form is used once.
			t.Errorf("byte %d changed, still accepted", i)
		}
		if accepted(packed[:i]) {
			t.Errorf("cut to %d bytes, still accepted", i)
		}
	}
	if !accepted(packed) {
		t.Fatal("the packed manifest itself was refused")
	}
}

// TestPackedRebuildsAnyText: titles and tags with what JSON escapes
// (quotes, <>&, control characters, invalid UTF-8) or with the very text
// the packed form looks for pack and rebuild exactly.
func TestPackedRebuildsAnyText(t *testing.T) {
	pub, priv, _ := ed25519.GenerateKey(nil)
	m := testManifest(t, randomBytes(20_000, 10), 1024)
	seekJSON, _ := json.Marshal(m.Audio.Seek)
	for _, title := range []string{
		"", "Café del Mar ♫ 🎶", `<b>Rock & Roll</b>`, `"quoted" \ back`, "tab\tnew\nline\u2028",
		"\xff\xfe invalid", `"seek":[`, `"chunk_hashes":[`, `x","seek":[[0,10]],"y":"`, string(seekJSON),
	} {
		tm := *m
		tm.Title, tm.Album = title, title
		signed, err := Sign(&tm, priv)
		if err != nil {
			t.Fatal(err)
		}
		packed, err := PackSigned(signed)
		if err != nil {
			t.Errorf("title %q: %v", title, err)
			continue
		}
		back, err := UnpackSigned(packed, len(signed))
		if err != nil || !bytes.Equal(back, signed) {
			t.Errorf("title %q: rebuilt %v, equal %v", title, err, bytes.Equal(back, signed))
			continue
		}
		want, _ := Open(signed, pub) // JSON holds invalid UTF-8 as U+FFFD
		if got, err := Open(back, pub); err != nil || want == nil || got.Title != want.Title {
			t.Errorf("title %q: opened %v", title, err)
		}
	}
}

// TestUnpackHoldsNoMoreThanItIsGiven: a packed manifest whose counts
// promise more than its limit allows is refused before anything the size
// of the counts is made: a few bytes of input must not cost a client
// memory many times their size.
func TestUnpackHoldsNoMoreThanItIsGiven(t *testing.T) {
	const points = 1 << 20
	b := append([]byte{packedVersion}, make([]byte, ed25519.SignatureSize)...)
	b = append(b, 0, 0, 0, 0) // no skeleton, no hashes, seek table at 0
	b = binary.AppendUvarint(b, points)
	b = append(b, make([]byte, 2*points)...) // every step 0
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	_, err := UnpackSigned(b, 1<<10)
	runtime.ReadMemStats(&after)
	if !errors.Is(err, ErrBadManifest) {
		t.Fatalf("%d points for a limit of 1 KiB: %v, want refused", points, err)
	}
	if alloc := after.TotalAlloc - before.TotalAlloc; alloc > 1<<20 {
		t.Errorf("refusing %d bytes of input allocated %d bytes", len(b), alloc)
	}
}

// TestPackSignedRefusesWhatItCannotRebuild: JSON this package would not
// render so (spaces, or a hash in capitals) is not packed, as the packed
// form could not give it back byte for byte.
func TestPackSignedRefusesWhatItCannotRebuild(t *testing.T) {
	_, priv, _ := ed25519.GenerateKey(nil)
	m := testManifest(t, randomBytes(5000, 9), 1024)
	body, _ := json.Marshal(m)
	for name, body := range map[string][]byte{
		"spaced":   bytes.Replace(body, []byte(`"chunk_hashes":[`), []byte(`"chunk_hashes": [`), 1),
		"capitals": bytes.Replace(body, []byte(m.ChunkHashes[1].String()), bytes.ToUpper([]byte(m.ChunkHashes[1].String())), 1),
	} {
		if _, err := PackSigned(signedBody(t, body, priv)); err == nil {
			t.Errorf("%s: packed", name)
		}
	}
	if _, err := PackSigned([]byte(`{"manifest":`)); !errors.Is(err, ErrBadManifest) {
		t.Errorf("a cut manifest: %v", err)
	}
}

func FuzzUnpackSigned(f *testing.F) {
	_, priv, _ := ed25519.GenerateKey(nil)
	m := &Manifest{Version: ManifestVersion, Title: "x", Size: 2000, ChunkSize: 1024}
	m.ChunkHashes = []Hash{HashChunk(make([]byte, 1024)), HashChunk(make([]byte, 976))}
	m.ID = DeriveID(m.Size, m.ChunkSize, m.ChunkHashes)
	m.Audio = Audio{SampleRate: 44100, AudioEnd: 2000, Seek: []SeekPoint{{0, 0}, {1152, 418}}}
	signed, err := Sign(m, priv)
	if err != nil {
		f.Fatal(err)
	}
	packed, err := PackSigned(signed)
	if err != nil {
		f.Fatal(err)
	}
	f.Add(packed)
	f.Fuzz(func(t *testing.T, b []byte) {
		const limit = 4096
		if out, err := UnpackSigned(b, limit); err == nil && len(out) > limit {
			t.Fatalf("unpacked %d bytes, limit %d", len(out), limit)
		}
	})
}
