package origin

import (
	"bytes"
	"context"
	"errors"
	"io"
	"strings"
	"testing"

	"github.com/potluckfm/potluck/track"
)

// TestStartBringsTheManifestThenTheFirstAudio: a start answers with the
// manifest and then the chunks from the one holding the first audio
// frame, each as the library file has it, over QUIC and over TCP.
func TestStartBringsTheManifestThenTheFirstAudio(t *testing.T) {
	s := startOrigin(t, "", nil)
	files := demoFiles(t)
	for _, tr := range []Transport{TransportQUIC, TransportTCP} {
		c := newTestClient(t, s.URL(), tr)
		for _, e := range s.Catalog().Entries() {
			for _, n := range []int{1, DefaultStartChunks, MaxStartChunks + 3} {
				sr, err := c.Start(context.Background(), e.Manifest.ID, n)
				if err != nil {
					t.Fatalf("%s: start of %s: %v", tr, e.Path, err)
				}
				if !bytes.Equal(sr.Signed, e.Signed) {
					t.Errorf("%s: start of %s: manifest differs from the catalogue's", tr, e.Path)
				}
				from, end := StartChunks(e.Manifest, min(n, MaxStartChunks))
				if off, _ := e.Manifest.ChunkBounds(from); off > e.Manifest.Audio.AudioStart {
					t.Errorf("%s: start sends chunk %d, past the first audio at byte %d", e.Path, from, e.Manifest.Audio.AudioStart)
				}
				want := files[e.Path]
				for i := from; i < end; i++ {
					got, b, err := sr.Next()
					if err != nil || got != i {
						t.Fatalf("%s: start of %s: part %d, %v; want chunk %d", tr, e.Path, got, err, i)
					}
					off, l := e.Manifest.ChunkBounds(i)
					if !bytes.Equal(b, want[off:off+int64(l)]) {
						t.Errorf("%s: chunk %d of %s differs from the file", tr, i, e.Path)
					}
				}
				if _, _, err := sr.Next(); err != io.EOF {
					t.Errorf("%s: after %d chunks: %v, want io.EOF", tr, end-from, err)
				}
				sr.Close()
			}
		}
	}
	e := s.Catalog().Entries()[0]
	if len(e.signedGzip) == 0 || len(e.signedGzip) >= len(e.Signed) {
		t.Errorf("compressed manifest of %d bytes for %d signed", len(e.signedGzip), len(e.Signed))
	}
	if len(e.signedPacked) == 0 || len(e.signedPacked) >= len(e.signedGzip) {
		t.Errorf("packed manifest of %d bytes for %d compressed", len(e.signedPacked), len(e.signedGzip))
	}
	id := e.Manifest.ID.String()
	// The packed form goes only to a client that says it reads it.
	for q, want := range map[string]byte{"": startPartManifestGzip, "?" + startPackedQuery + "=" + startPacked: startPartManifestPacked} {
		if code, body := rawGet(t, s, "GET", "/v1/tracks/"+id+"/start"+q, nil); code != 200 || len(body) == 0 || body[0] != want {
			t.Errorf("start%s: %d, first part %q, want %q", q, code, body[:min(len(body), 1)], want)
		}
	}
	for _, q := range []string{"-1", "x", "99"} {
		if code, body := rawGet(t, s, "GET", "/v1/tracks/"+id+"/start?chunks="+q, nil); code != 400 {
			t.Errorf("start with chunks=%s: %d %q, want 400", q, code, body)
		}
	}
	if code, _ := rawGet(t, s, "GET", "/v1/tracks/"+strings.Repeat("0", 32)+"/start", nil); code != 404 {
		t.Errorf("start of an unknown track: %d, want 404", code)
	}
}

// TestStartResponseIsChecked: a start response that lies (a chunk that
// fails its hash, parts out of order, a manifest of another track, a cut
// or oversized part) gives a clear error and never a byte unverified.
func TestStartResponseIsChecked(t *testing.T) {
	s := startOrigin(t, "", nil)
	entries := s.Catalog().Entries()
	e, other := entries[0], entries[1]
	m := e.Manifest
	key := s.URL().Key
	chunk := func(i int) []byte {
		b, err := s.readChunk(e, i)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	body := func(parts ...func(*bytes.Buffer)) io.ReadCloser {
		var buf bytes.Buffer
		for _, p := range parts {
			p(&buf)
		}
		return io.NopCloser(&buf)
	}
	part := func(kind byte, i int, b []byte) func(*bytes.Buffer) {
		return func(w *bytes.Buffer) { writeStartPart(w, kind, i, b) }
	}
	bad := append([]byte(nil), chunk(1)...)
	bad[7] ^= 1
	for _, tc := range []struct {
		name    string
		body    io.ReadCloser
		openErr bool // readStart fails; else the first Next does
		want    error
	}{
		{"another track's manifest", body(part(startPartManifest, 0, other.Signed)), true, track.ErrBadManifest},
		{"a chunk first", body(part(startPartChunk, 0, chunk(0))), true, track.ErrBadManifest},
		{"a forged manifest", body(part(startPartManifest, 0, append([]byte(nil), e.Signed[:len(e.Signed)-3]...))), true, nil},
		{"empty", body(), true, io.EOF},
		{"a compressed manifest that is not gzip", body(part(startPartManifestGzip, 0, e.Signed)), true, track.ErrBadManifest},
		{"a compressed manifest of another track", body(func(w *bytes.Buffer) {
			z, _ := gzipBytes(other.Signed)
			writeStartPart(w, startPartManifestGzip, 0, z)
		}), true, track.ErrBadManifest},
		{"a packed manifest of another track", body(part(startPartManifestPacked, 0, other.signedPacked)), true, track.ErrBadManifest},
		{"a packed manifest that does not unpack", body(part(startPartManifestPacked, 0, mustGzip(t, e.Signed))), true, track.ErrBadManifest},
		{"a packed manifest with a hash changed", body(func(w *bytes.Buffer) {
			packed, err := track.PackSigned(e.Signed)
			if err != nil {
				t.Fatal(err)
			}
			at := bytes.Index(packed, m.ChunkHashes[1][:])
			if at < 0 {
				t.Fatal("chunk hash 1 not found raw in the packed manifest")
			}
			packed[at] ^= 1
			writeStartPart(w, startPartManifestPacked, 0, mustGzip(t, packed))
		}), true, track.ErrBadSignature},
		{"a chunk that fails its hash", body(part(startPartManifest, 0, e.Signed), part(startPartChunk, 1, bad)), false, track.ErrBadChunk},
		{"chunk 1 sent as chunk 0", body(part(startPartManifest, 0, e.Signed), part(startPartChunk, 0, chunk(1))), false, track.ErrBadChunk},
		{"an index past the track", body(part(startPartManifest, 0, e.Signed), part(startPartChunk, m.NumChunks(), chunk(0))), false, track.ErrBadManifest},
		{"a second manifest", body(part(startPartManifest, 0, e.Signed), part(startPartManifest, 0, e.Signed)), false, track.ErrBadManifest},
		{"a part bigger than a chunk", body(part(startPartManifest, 0, e.Signed), part(startPartChunk, 0, make([]byte, track.MaxChunkSize+1))), false, nil},
		{"a cut part", body(part(startPartManifest, 0, e.Signed), func(w *bytes.Buffer) {
			writeStartPart(w, startPartChunk, 0, chunk(0))
			w.Truncate(w.Len() - 10)
		}), false, nil},
	} {
		sr, err := ReadStart(tc.body, key, m.ID)
		if !tc.openErr {
			if err != nil {
				t.Fatalf("%s: manifest refused: %v", tc.name, err)
			}
			var b []byte
			_, b, err = sr.Next()
			if b != nil {
				t.Errorf("%s: Next returned %d bytes", tc.name, len(b))
			}
		}
		if err == nil || (tc.want != nil && !errors.Is(err, tc.want)) {
			t.Errorf("%s: got %v, want an error (%v)", tc.name, err, tc.want)
		}
	}
	// A plain manifest part is read as well as a compressed or packed
	// one; a compressed one that inflates past the limit is refused.
	for kind, b := range map[byte][]byte{startPartManifest: e.Signed, startPartManifestGzip: e.signedGzip, startPartManifestPacked: e.signedPacked} {
		if sr, err := ReadStart(body(part(kind, 0, b)), key, m.ID); err != nil || !bytes.Equal(sr.Signed, e.Signed) {
			t.Errorf("a manifest part %q: %v", kind, err)
		}
	}
	if _, err := gunzipBytes(mustGzip(t, make([]byte, 1<<20)), 1<<19); err == nil {
		t.Error("a compressed part that inflates past its limit was read")
	}

	// Out of order: chunk 1, then chunk 0 again.
	sr, err := ReadStart(body(part(startPartManifest, 0, e.Signed), part(startPartChunk, 1, chunk(1)), part(startPartChunk, 0, chunk(0))), key, m.ID)
	if err != nil {
		t.Fatal(err)
	}
	if i, _, err := sr.Next(); err != nil || i != 1 {
		t.Fatalf("first part: chunk %d, %v", i, err)
	}
	if _, _, err := sr.Next(); !errors.Is(err, track.ErrBadManifest) {
		t.Errorf("a chunk before the last one: %v, want refused", err)
	}
}

func mustGzip(t *testing.T, b []byte) []byte {
	t.Helper()
	z, err := gzipBytes(b)
	if err != nil {
		t.Fatal(err)
	}
	return z
}
