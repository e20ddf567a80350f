package track

import (
	"bytes"
	"crypto/ed25519"
	"encoding/json"
	"errors"
	"math/rand/v2"
	"testing"
	"time"
)

// testManifest cuts data into chunks of chunkSize and returns a valid manifest.
func testManifest(t *testing.T, data []byte, chunkSize int) *Manifest {
	t.Helper()
	var hashes []Hash
	for off := 0; off < len(data); off += chunkSize {
		hashes = append(hashes, HashChunk(data[off:min(off+chunkSize, len(data))]))
	}
	m := &Manifest{
		Version: ManifestVersion, Title: "Song", Artist: "Band",
		Size: int64(len(data)), ChunkSize: chunkSize, ChunkHashes: hashes,
		Audio: Audio{
			DurationMS: 3000, SampleRate: 44100, Channels: 2, SamplesPerFrame: 1152,
			AudioStart: 10, AudioEnd: int64(len(data)),
			Seek: []SeekPoint{{0, 10}, {44100, 4000}, {88200, 9000}},
		},
	}
	m.ID = DeriveID(m.Size, chunkSize, hashes)
	return m
}

func randomBytes(n int, seed uint64) []byte {
	r := rand.New(rand.NewPCG(seed, seed))
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(r.Uint32())
	}
	return b
}

func TestChunkBounds(t *testing.T) {
	for _, tc := range []struct {
		size, chunk int
		wantChunks  int
		wantLast    int
	}{
		{size: 1024, chunk: 1024, wantChunks: 1, wantLast: 1024},
		{size: 1025, chunk: 1024, wantChunks: 2, wantLast: 1},
		{size: 5000, chunk: 1024, wantChunks: 5, wantLast: 904},
		{size: 3 * 16384, chunk: 16384, wantChunks: 3, wantLast: 16384},
	} {
		data := randomBytes(tc.size, 1)
		m := testManifest(t, data, tc.chunk)
		if m.NumChunks() != tc.wantChunks {
			t.Errorf("size %d: %d chunks, want %d", tc.size, m.NumChunks(), tc.wantChunks)
			continue
		}
		var joined []byte
		for i := range m.NumChunks() {
			off, n := m.ChunkBounds(i)
			if m.ChunkAt(off) != i || m.ChunkAt(off+int64(n)-1) != i {
				t.Errorf("ChunkAt disagrees with ChunkBounds for chunk %d", i)
			}
			joined = append(joined, data[off:off+int64(n)]...)
			if err := m.VerifyChunk(i, data[off:off+int64(n)]); err != nil {
				t.Errorf("chunk %d: %v", i, err)
			}
		}
		if _, n := m.ChunkBounds(m.NumChunks() - 1); n != tc.wantLast {
			t.Errorf("size %d: last chunk %d bytes, want %d", tc.size, n, tc.wantLast)
		}
		if !bytes.Equal(joined, data) {
			t.Errorf("size %d: chunks do not join back to the file", tc.size)
		}
	}
}

func TestVerifyChunkRejects(t *testing.T) {
	data := randomBytes(5000, 2)
	m := testManifest(t, data, 1024)
	flipped := bytes.Clone(data[:1024])
	flipped[100] ^= 1
	for name, tc := range map[string]struct {
		i int
		b []byte
	}{
		"flipped bit":  {0, flipped},
		"wrong chunk":  {1, data[:1024]},
		"short":        {0, data[:1023]},
		"long":         {4, data[4096:5000:5000]},
		"out of range": {5, data[:904]},
		"negative":     {-1, data[:1024]},
	} {
		if name == "long" {
			tc.b = append(bytes.Clone(tc.b), 0)
		}
		if err := m.VerifyChunk(tc.i, tc.b); !errors.Is(err, ErrBadChunk) {
			t.Errorf("%s: got %v, want ErrBadChunk", name, err)
		}
	}
}

func TestDeriveIDStableAndContentBound(t *testing.T) {
	data := randomBytes(40000, 3)
	a := testManifest(t, data, 16384)
	b := testManifest(t, bytes.Clone(data), 16384)
	if a.ID != b.ID {
		t.Fatal("same bytes, different IDs")
	}
	data[39999] ^= 0x80
	if c := testManifest(t, data, 16384); c.ID == a.ID {
		t.Fatal("different bytes, same ID")
	}
	if d := testManifest(t, data, 8192); d.ID == a.ID {
		t.Fatal("different chunking, same ID")
	}
	got, err := ParseID(a.ID.String())
	if err != nil || got != a.ID {
		t.Fatalf("ParseID(String()) = %v, %v", got, err)
	}
	for _, s := range []string{"", "abc", a.ID.String() + "0", "ZZ" + a.ID.String()[2:], "AB" + a.ID.String()[2:]} {
		if _, err := ParseID(s); err == nil {
			t.Errorf("ParseID(%q) accepted", s)
		}
	}
}

func TestSignOpen(t *testing.T) {
	pub, priv, _ := ed25519.GenerateKey(nil)
	otherPub, _, _ := ed25519.GenerateKey(nil)
	m := testManifest(t, randomBytes(50000, 4), 16384)
	signed, err := Sign(m, priv)
	if err != nil {
		t.Fatal(err)
	}
	got, err := Open(signed, pub)
	if err != nil {
		t.Fatal(err)
	}
	if got.ID != m.ID || got.Title != m.Title || len(got.ChunkHashes) != len(m.ChunkHashes) ||
		got.ChunkHashes[2] != m.ChunkHashes[2] || len(got.Audio.Seek) != 3 || got.Audio.Seek[1] != m.Audio.Seek[1] {
		t.Fatalf("round trip changed the manifest: %+v", got)
	}

	if _, err := Open(signed, otherPub); !errors.Is(err, ErrBadSignature) {
		t.Errorf("other key: got %v, want ErrBadSignature", err)
	}
	if _, err := Open(signed, nil); !errors.Is(err, ErrBadSignature) {
		t.Errorf("no key: got %v, want ErrBadSignature", err)
	}

	// A peer that edits the title (re-encoding the body) breaks the signature.
	var env Signed
	if err := json.Unmarshal(signed, &env); err != nil {
		t.Fatal(err)
	}
	env.Manifest = bytes.Replace(env.Manifest, []byte(`"Song"`), []byte(`"Spam"`), 1)
	tampered, _ := json.Marshal(env)
	if _, err := Open(tampered, pub); !errors.Is(err, ErrBadSignature) {
		t.Errorf("tampered body: got %v, want ErrBadSignature", err)
	}

	for name, data := range map[string][]byte{
		"empty":    nil,
		"not json": []byte("hello"),
		"no body":  []byte(`{"signature":"AAAA"}`),
	} {
		if _, err := Open(data, pub); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

func TestOpenRejectsSignedButInconsistent(t *testing.T) {
	pub, priv, _ := ed25519.GenerateKey(nil)
	base := testManifest(t, randomBytes(50000, 5), 16384)
	for name, edit := range map[string]func(m *Manifest){
		"id not derived":  func(m *Manifest) { m.ID[0] ^= 1 },
		"missing hash":    func(m *Manifest) { m.ChunkHashes = m.ChunkHashes[:2] },
		"tiny chunks":     func(m *Manifest) { m.ChunkSize = 1 },
		"zero size":       func(m *Manifest) { m.Size = 0 },
		"version":         func(m *Manifest) { m.Version = 99 },
		"seek disordered": func(m *Manifest) { m.Audio.Seek[1], m.Audio.Seek[2] = m.Audio.Seek[2], m.Audio.Seek[1] },
		"seek past end":   func(m *Manifest) { m.Audio.Seek[2].Offset = m.Size + 1 },
	} {
		m := *base
		m.ChunkHashes = append([]Hash(nil), base.ChunkHashes...)
		m.Audio.Seek = append([]SeekPoint(nil), base.Audio.Seek...)
		edit(&m)
		if _, err := Sign(&m, priv); !errors.Is(err, ErrBadManifest) {
			t.Errorf("%s: Sign accepted it (%v)", name, err)
		}
		// Even if an origin signed it, Open must refuse it.
		body, _ := json.Marshal(&m)
		signed, _ := json.Marshal(Signed{Manifest: body, Signature: ed25519.Sign(priv, append([]byte(signingContext), body...))})
		if _, err := Open(signed, pub); !errors.Is(err, ErrBadManifest) {
			t.Errorf("%s: Open got %v, want ErrBadManifest", name, err)
		}
	}
}

func TestSeekPointAt(t *testing.T) {
	m := testManifest(t, randomBytes(10000, 6), 1024)
	for _, tc := range []struct {
		t    time.Duration
		want SeekPoint
	}{
		{0, SeekPoint{0, 10}},
		{-time.Second, SeekPoint{0, 10}},
		{999 * time.Millisecond, SeekPoint{0, 10}},
		{time.Second, SeekPoint{44100, 4000}},
		{1500 * time.Millisecond, SeekPoint{44100, 4000}},
		{time.Hour, SeekPoint{88200, 9000}},
	} {
		if got := m.SeekPointAt(tc.t); got != tc.want {
			t.Errorf("SeekPointAt(%v) = %v, want %v", tc.t, got, tc.want)
		}
	}
}

func FuzzOpen(f *testing.F) {
	pub, priv, _ := ed25519.GenerateKey(nil)
	m := &Manifest{Version: ManifestVersion, Title: "x", Size: 2000, ChunkSize: 1024}
	m.ChunkHashes = []Hash{HashChunk(make([]byte, 1024)), HashChunk(make([]byte, 976))}
	m.ID = DeriveID(m.Size, m.ChunkSize, m.ChunkHashes)
	m.Audio = Audio{SampleRate: 44100, AudioEnd: 2000}
	signed, err := Sign(m, priv)
	if err != nil {
		f.Fatal(err)
	}
	f.Add(signed)
	f.Add([]byte(`{"manifest":{},"signature":""}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		got, err := Open(data, pub)
		if err == nil && got.Validate() != nil {
			t.Fatal("Open returned an invalid manifest")
		}
	})
}
