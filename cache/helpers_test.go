package cache

import (
	"bytes"
	"crypto/ed25519"
	"errors"
	"log/slog"
	"math/rand/v2"
	"sync"
	"testing"

	"github.com/potluckfm/potluck/track"
)

const chunk = track.DefaultChunkSize

// originKey returns a fixed origin key pair, so that parent and child
// processes in the crash test agree on it.
func originKey(seed byte) (ed25519.PublicKey, ed25519.PrivateKey) {
	priv := ed25519.NewKeyFromSeed(bytes.Repeat([]byte{seed}, ed25519.SeedSize))
	return priv.Public().(ed25519.PublicKey), priv
}

// testTrack is a track's bytes with its signed manifest.
type testTrack struct {
	data   []byte
	m      *track.Manifest
	signed []byte
}

// makeTrack returns a track of size random bytes (from seed), signed by priv.
func makeTrack(t testing.TB, seed uint64, size int, priv ed25519.PrivateKey) testTrack {
	t.Helper()
	r := rand.New(rand.NewPCG(seed, 7))
	data := make([]byte, size)
	for i := range data {
		data[i] = byte(r.Uint32())
	}
	return signTrack(t, data, priv)
}

func signTrack(t testing.TB, data []byte, priv ed25519.PrivateKey) testTrack {
	t.Helper()
	var hashes []track.Hash
	for off := 0; off < len(data); off += chunk {
		hashes = append(hashes, track.HashChunk(data[off:min(off+chunk, len(data))]))
	}
	m := &track.Manifest{
		Version: track.ManifestVersion, Title: "Song",
		Size: int64(len(data)), ChunkSize: chunk, ChunkHashes: hashes,
		Audio: track.Audio{DurationMS: 1000, SampleRate: 44100, Channels: 2, SamplesPerFrame: 1152, AudioEnd: int64(len(data))},
	}
	m.ID = track.DeriveID(m.Size, chunk, hashes)
	signed, err := track.Sign(m, priv)
	if err != nil {
		t.Fatal(err)
	}
	m, err = track.Open(signed, priv.Public().(ed25519.PublicKey))
	if err != nil {
		t.Fatal(err)
	}
	return testTrack{data: data, m: m, signed: signed}
}

func (tt testTrack) chunk(i int) []byte {
	off, n := tt.m.ChunkBounds(i)
	return tt.data[off : off+int64(n)]
}

func (tt testTrack) bytesOf(chunks ...int) int64 {
	var sum int64
	for _, i := range chunks {
		sum += int64(len(tt.chunk(i)))
	}
	return sum
}

// put stores tt's manifest and the given chunks (all if none given).
func put(t testing.TB, s Store, tt testTrack, chunks ...int) {
	t.Helper()
	if err := s.PutManifest(tt.m, tt.signed); err != nil {
		t.Fatal(err)
	}
	if len(chunks) == 0 {
		for i := range tt.m.NumChunks() {
			chunks = append(chunks, i)
		}
	}
	for _, i := range chunks {
		if err := s.WriteChunk(tt.m.ID, i, tt.chunk(i)); err != nil {
			t.Fatalf("WriteChunk(%s, %d): %v", tt.m.ID, i, err)
		}
	}
}

// checkHeld checks that s holds exactly the chunks listed of tt, and that
// they read back right.
func checkHeld(t testing.TB, s Store, tt testTrack, chunks ...int) {
	t.Helper()
	want := NewBitfield(tt.m.NumChunks())
	for _, i := range chunks {
		want.Set(i)
	}
	have := s.Have(tt.m.ID)
	if !bytes.Equal(have, want) {
		t.Fatalf("Have(%s) = %08b, want %08b", tt.m.ID, have, want)
	}
	for i := range tt.m.NumChunks() {
		b, err := s.ReadChunk(tt.m.ID, i)
		switch {
		case want.Has(i) && err != nil:
			t.Fatalf("ReadChunk(%d): %v", i, err)
		case want.Has(i) && !bytes.Equal(b, tt.chunk(i)):
			t.Fatalf("ReadChunk(%d) returned the wrong bytes", i)
		case !want.Has(i) && !errors.Is(err, ErrNotHeld):
			t.Fatalf("ReadChunk(%d) of a chunk not held: %v, want ErrNotHeld", i, err)
		}
	}
}

// checkUsage checks that Usage agrees with Tracks and keeps the limit.
func checkUsage(t testing.TB, s Store) {
	t.Helper()
	used, limit := s.Usage()
	var sum int64
	for _, ts := range s.Tracks() {
		sum += ts.Bytes
		if got := s.Have(ts.ID).Count(); got != ts.Held {
			t.Errorf("track %s: Held %d, Have counts %d", ts.ID, ts.Held, got)
		}
	}
	if used != sum || used > limit {
		t.Errorf("Usage() = %d, %d; tracks hold %d", used, limit, sum)
	}
}

func ids(ts []TrackState) []track.ID {
	var out []track.ID
	for _, s := range ts {
		out = append(out, s.ID)
	}
	return out
}

// warnings is a slog handler that records warnings and errors.
type warnings struct {
	mu   sync.Mutex
	msgs []string
}

func (w *warnings) logger() *slog.Logger {
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: slog.LevelWarn}))
}

func (w *warnings) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.msgs = append(w.msgs, string(p))
	return len(p), nil
}

func (w *warnings) list() []string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return append([]string(nil), w.msgs...)
}
