package cache

import (
	"bytes"
	"errors"
	"math/rand/v2"
	"sync"
	"testing"

	"github.com/potluckfm/potluck/track"
)

// TestConcurrent has many goroutines write, read, pin, touch and list the
// same and different tracks at once, under a limit that keeps evicting.
// Run it with -race.
func TestConcurrent(t *testing.T) {
	_, priv := originKey(1)
	var tr []testTrack
	for i := range 6 {
		tr = append(tr, makeTrack(t, uint64(i), 12*chunk+i*100, priv))
	}
	limit := int64(3 * 12 * chunk)
	dir := t.TempDir()
	d, w := openDisk(t, dir, limit)
	d.maxOpen = 2 // open and close files all the time too
	mem := NewMem(limit)
	defer mem.Close()
	for name, s := range map[string]Store{"disk": d, "mem": mem} {
		t.Run(name, func(t *testing.T) {
			changed := s.Subscribe()
			go func() {
				for range changed { // until Close
					s.Tracks()
				}
			}()
			var wg sync.WaitGroup
			for g := range 8 {
				wg.Go(func() {
					r := rand.New(rand.NewPCG(uint64(g), 3))
					for range 400 {
						x := tr[r.IntN(len(tr))]
						id, i := x.m.ID, r.IntN(x.m.NumChunks())
						switch r.IntN(6) {
						case 0:
							if err := s.PutManifest(x.m, x.signed); err != nil {
								t.Error(err)
							}
						case 1, 2:
							err := s.WriteChunk(id, i, x.chunk(i))
							if err != nil && !errors.Is(err, ErrNoManifest) && !errors.Is(err, ErrFull) {
								t.Error(err)
							}
						case 3:
							b, err := s.ReadChunk(id, i)
							if err == nil && !bytes.Equal(b, x.chunk(i)) {
								t.Error("ReadChunk returned the wrong bytes")
							} else if err != nil && (!errors.Is(err, ErrNotHeld) || errors.Is(err, ErrCorrupt)) {
								t.Error(err)
							}
						case 4:
							unpin := s.Pin(id)
							s.Touch(id)
							s.Have(id)
							unpin()
						case 5:
							if m, _, ok := s.Manifest(id); ok && m.ID != id {
								t.Error("Manifest returned another track")
							}
							s.Usage()
						}
					}
				})
			}
			wg.Wait()
			checkUsage(t, s)
			for ti, x := range tr {
				have := s.Have(x.m.ID)
				for i := range x.m.NumChunks() {
					if have.Has(i) {
						if b, err := s.ReadChunk(x.m.ID, i); err != nil || !bytes.Equal(b, x.chunk(i)) {
							t.Errorf("track %d chunk %d: %v", ti, i, err)
						}
					}
				}
			}
		})
	}
	before := d.Tracks()
	d.Close()
	d, _ = openDisk(t, dir, limit)
	defer d.Close()
	after := d.Tracks()
	if len(before) != len(after) {
		t.Fatalf("%d tracks before closing, %d after", len(before), len(after))
	}
	for k := range before {
		b, a := before[k], after[k]
		if a.ID != b.ID || a.Held != b.Held || a.Bytes != b.Bytes || !a.LastUsed.Equal(b.LastUsed) {
			t.Errorf("track %d: %+v before closing, %+v after", k, b, a)
		}
	}
	if msgs := w.list(); len(msgs) > 0 {
		t.Errorf("warnings: %q", msgs)
	}
}

func TestMem(t *testing.T) {
	_, priv := originKey(1)
	a := makeTrack(t, 1, 3*chunk+5, priv)
	s := NewMem(0)
	changed := s.Subscribe()
	if err := s.PutManifest(&track.Manifest{}, nil); err == nil {
		t.Error("Mem accepted an invalid manifest")
	}
	put(t, s, a, 0, 3)
	<-changed
	checkHeld(t, s, a, 0, 3)
	if _, signed, ok := s.Manifest(a.m.ID); !ok || !bytes.Equal(signed, a.signed) {
		t.Error("Manifest does not return the signed bytes")
	}
	if used, limit := s.Usage(); used != a.bytesOf(0, 3) || limit <= 0 {
		t.Errorf("Usage() = %d, %d", used, limit)
	}
}

// NewMemNoCopy keeps the written slices: two stores fed one track's bytes
// hold one copy between them, and a change to those bytes (which its
// callers promise not to make) shows in both, caught by the read check.
func TestMemNoCopy(t *testing.T) {
	_, priv := originKey(1)
	a := makeTrack(t, 1, 3*chunk, priv)
	shared, copied := NewMemNoCopy(0), NewMem(0)
	put(t, shared, a)
	put(t, copied, a)
	a.data[0] ^= 0xff
	if _, err := shared.ReadChunk(a.m.ID, 0); !errors.Is(err, ErrCorrupt) {
		t.Errorf("NewMemNoCopy: read after the writer's bytes changed: %v, want ErrCorrupt (the slice was copied)", err)
	}
	if b, err := copied.ReadChunk(a.m.ID, 0); err != nil || b[0] == a.data[0] {
		t.Errorf("NewMem: read after the writer's bytes changed: %v (want its own copy)", err)
	}
	if b, err := shared.ReadChunk(a.m.ID, 1); err != nil || !bytes.Equal(b, a.chunk(1)) {
		t.Errorf("NewMemNoCopy: chunk 1: %v", err)
	}
}

func TestBitfield(t *testing.T) {
	b := NewBitfield(10)
	if len(b) != 2 || b.Count() != 0 {
		t.Fatalf("NewBitfield(10) = %08b", b)
	}
	for _, i := range []int{0, 7, 9, -1, 16, 100} {
		b.Set(i)
	}
	if !bytes.Equal(b, []byte{0b1000_0001, 0b0100_0000}) || b.Count() != 3 {
		t.Fatalf("bits 0, 7, 9 set: %08b, count %d", b, b.Count())
	}
	for i, want := range map[int]bool{0: true, 1: false, 7: true, 8: false, 9: true, -1: false, 16: false} {
		if b.Has(i) != want {
			t.Errorf("Has(%d) = %v", i, !want)
		}
	}
	b.unset(7)
	b.Set(15)
	b.trim(10)
	if !bytes.Equal(b, []byte{0b1000_0000, 0b0100_0000}) {
		t.Errorf("after unset(7) and trim: %08b", b)
	}
	if NewBitfield(0).Count() != 0 || len(NewBitfield(-3)) != 0 || len(NewBitfield(8)) != 1 {
		t.Error("NewBitfield edge cases")
	}
}

func TestParseSize(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want int64
	}{
		{"1500000", 1500000},
		{"0", 0},
		{"512MiB", 512 << 20},
		{"512mib", 512 << 20},
		{"512 MiB", 512 << 20},
		{" 2GB ", 2e9},
		{"10G", 10 << 30},
		{"10g", 10 << 30},
		{"1.5GiB", 3 << 29},
		{"100k", 102400},
		{"100KB", 100000},
		{"3Ti", 3 << 40},
		{"7B", 7},
		{"8388607TiB", 8388607 << 40},
	} {
		got, err := ParseSize(tc.in)
		if err != nil || got != tc.want {
			t.Errorf("ParseSize(%q) = %d, %v; want %d", tc.in, got, err, tc.want)
		}
	}
	for _, in := range []string{"", "  ", "MiB", "-1", "+5", "1..2G", "12XB", "10 G B", "1e9", "8388608TiB", "99999999999999999999", "1.2.3", "0x10"} {
		if got, err := ParseSize(in); err == nil {
			t.Errorf("ParseSize(%q) = %d, want an error", in, got)
		}
	}
	_, err := ParseSize("12XB")
	if err == nil || err.Error() != `invalid size "12XB": unknown unit "XB" (want B, KiB, MiB, GiB, TiB, KB, MB, GB, TB, K, M, G or T)` {
		t.Errorf("error message: %v", err)
	}
}

func BenchmarkWriteChunk(b *testing.B) {
	_, priv := originKey(1)
	// Tracks of 1024 chunks with the same bytes but the first, so that
	// making them is cheap; 256 MiB of room, so that eviction runs too.
	base := makeTrack(b, 1, 1024*chunk, priv).data
	var tr []testTrack
	for k := range 32 {
		data := bytes.Clone(base)
		data[0] = byte(k)
		tr = append(tr, signTrack(b, data, priv))
	}
	d, _ := openDisk(b, b.TempDir(), 256<<20)
	defer d.Close()
	b.SetBytes(chunk)
	b.ResetTimer()
	for n := range b.N {
		x := tr[n/1024%len(tr)]
		i := n % 1024
		if i == 0 {
			d.PutManifest(x.m, x.signed)
		}
		if err := d.WriteChunk(x.m.ID, i, x.chunk(i)); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkReadChunk(b *testing.B) {
	_, priv := originKey(1)
	x := makeTrack(b, 1, 1024*chunk, priv)
	d, _ := openDisk(b, b.TempDir(), 1<<30)
	defer d.Close()
	put(b, d, x)
	b.SetBytes(chunk)
	b.ResetTimer()
	for n := range b.N {
		if _, err := d.ReadChunk(x.m.ID, n%1024); err != nil {
			b.Fatal(err)
		}
	}
}
