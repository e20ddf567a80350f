package cache

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/potluckfm/potluck/track"
)

func openDisk(t testing.TB, dir string, limit int64) (*Disk, *warnings) {
	t.Helper()
	pub, _ := originKey(1)
	w := &warnings{}
	d, err := OpenDisk(dir, pub, Options{Limit: limit, Logger: w.logger()})
	if err != nil {
		t.Fatal(err)
	}
	return d, w
}

func TestRoundTrip(t *testing.T) {
	dir := t.TempDir()
	_, priv := originKey(1)
	a := makeTrack(t, 1, 10*chunk+123, priv) // 11 chunks, the last short
	b := makeTrack(t, 2, 3*chunk, priv)      // 3 chunks
	d, w := openDisk(t, dir, 1<<30)
	changed := d.Subscribe()

	put(t, d, a, 0, 3, 10)
	put(t, d, b)
	if err := d.PutManifest(a.m, a.signed); err != nil { // idempotent
		t.Fatal(err)
	}
	select {
	case <-changed:
	default:
		t.Error("no change notified after writing chunks")
	}
	check := func(d *Disk) {
		t.Helper()
		checkHeld(t, d, a, 0, 3, 10)
		checkHeld(t, d, b, 0, 1, 2)
		m, signed, ok := d.Manifest(a.m.ID)
		if !ok || m.ID != a.m.ID || !bytes.Equal(signed, a.signed) {
			t.Fatalf("Manifest(a) = %v, %d bytes, %v", m, len(signed), ok)
		}
		if _, _, ok := d.Manifest(track.ID{1}); ok {
			t.Fatal("Manifest of an unknown track: ok")
		}
		if d.Have(track.ID{1}) != nil {
			t.Fatal("Have of an unknown track is not nil")
		}
		ts := d.Tracks()
		want := []TrackState{
			{ID: b.m.ID, Chunks: 3, Held: 3, Bytes: b.bytesOf(0, 1, 2)},
			{ID: a.m.ID, Chunks: 11, Held: 3, Bytes: a.bytesOf(0, 3, 10)},
		}
		for i := range ts {
			ts[i].LastUsed = time.Time{}
		}
		if !slices.Equal(ts, want) {
			t.Fatalf("Tracks() = %+v\nwant %+v", ts, want)
		}
		if used, _ := d.Usage(); used != a.bytesOf(0, 3, 10)+b.bytesOf(0, 1, 2) {
			t.Fatalf("Usage() = %d", used)
		}
	}
	check(d)
	if err := d.Close(); err != nil {
		t.Fatal(err)
	}
	if _, ok := <-changed; ok {
		t.Error("Subscribe channel not closed by Close")
	}
	if _, err := d.ReadChunk(a.m.ID, 0); !errors.Is(err, ErrClosed) {
		t.Errorf("ReadChunk after Close: %v", err)
	}

	d, w2 := openDisk(t, dir, 1<<30)
	defer d.Close()
	check(d)
	put(t, d, a, 1) // still writable after reopening
	checkHeld(t, d, a, 0, 1, 3, 10)
	if msgs := append(w.list(), w2.list()...); len(msgs) > 0 {
		t.Errorf("warnings: %q", msgs)
	}
}

func TestErrors(t *testing.T) {
	_, priv := originKey(1)
	a := makeTrack(t, 1, 3*chunk, priv)
	for name, s := range map[string]Store{"disk": tempDisk(t, 1<<30), "mem": NewMem(0)} {
		t.Run(name, func(t *testing.T) {
			if err := s.WriteChunk(a.m.ID, 0, a.chunk(0)); !errors.Is(err, ErrNoManifest) {
				t.Errorf("WriteChunk before PutManifest: %v, want ErrNoManifest", err)
			}
			if _, err := s.ReadChunk(a.m.ID, 0); !errors.Is(err, ErrNotHeld) {
				t.Errorf("ReadChunk of an unknown track: %v, want ErrNotHeld", err)
			}
			put(t, s, a, 1)
			bad := bytes.Clone(a.chunk(0))
			bad[100] ^= 1
			for _, tc := range []struct {
				i    int
				data []byte
			}{{0, bad}, {0, a.chunk(0)[:100]}, {0, a.chunk(1)}, {-1, a.chunk(0)}, {3, a.chunk(0)}} {
				if err := s.WriteChunk(a.m.ID, tc.i, tc.data); !errors.Is(err, track.ErrBadChunk) {
					t.Errorf("WriteChunk(%d) of bad data: %v, want ErrBadChunk", tc.i, err)
				}
			}
			for _, i := range []int{-1, 0, 2, 3, 1 << 30} {
				if _, err := s.ReadChunk(a.m.ID, i); !errors.Is(err, ErrNotHeld) {
					t.Errorf("ReadChunk(%d): %v, want ErrNotHeld", i, err)
				}
			}
			checkHeld(t, s, a, 1)
			checkUsage(t, s)
		})
	}
}

// tempDisk returns a Disk in a fresh directory, closed when the test ends.
func tempDisk(t testing.TB, limit int64) *Disk {
	d, _ := openDisk(t, t.TempDir(), limit)
	t.Cleanup(func() { d.Close() })
	return d
}

func TestPutManifestChecksSignature(t *testing.T) {
	d, _ := openDisk(t, t.TempDir(), 1<<30)
	defer d.Close()
	_, priv := originKey(1)
	_, other := originKey(2)
	a := makeTrack(t, 1, 3*chunk, priv)
	b := makeTrack(t, 2, 3*chunk, priv)
	x := makeTrack(t, 1, 3*chunk, other)
	if err := d.PutManifest(x.m, x.signed); !errors.Is(err, track.ErrBadSignature) {
		t.Errorf("PutManifest signed by another key: %v", err)
	}
	if err := d.PutManifest(a.m, b.signed); !errors.Is(err, track.ErrBadManifest) {
		t.Errorf("PutManifest with another track's bytes: %v", err)
	}
	if len(d.Tracks()) != 0 {
		t.Errorf("tracks stored: %v", d.Tracks())
	}
}

func TestCorruptionOnDisk(t *testing.T) {
	dir := t.TempDir()
	_, priv := originKey(1)
	a := makeTrack(t, 1, 4*chunk, priv)
	d, _ := openDisk(t, dir, 1<<30)
	put(t, d, a)
	changed := d.Subscribe()

	// Flip a byte of chunk 2 behind the store's back.
	f, err := os.OpenFile(filepath.Join(dir, a.m.ID.String(), "data"), os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	off, _ := a.m.ChunkBounds(2)
	var b [1]byte
	if _, err := f.ReadAt(b[:], off+500); err != nil {
		t.Fatal(err)
	}
	b[0] ^= 0x10
	if _, err := f.WriteAt(b[:], off+500); err != nil {
		t.Fatal(err)
	}
	f.Close()

	got, err := d.ReadChunk(a.m.ID, 2)
	if !errors.Is(err, ErrCorrupt) || !errors.Is(err, ErrNotHeld) || got != nil {
		t.Fatalf("ReadChunk of a corrupt chunk = %d bytes, %v; want ErrCorrupt", len(got), err)
	}
	select {
	case <-changed:
	default:
		t.Error("no change notified after dropping a chunk")
	}
	checkHeld(t, d, a, 0, 1, 3)
	checkUsage(t, d)
	d.Close()

	d, _ = openDisk(t, dir, 1<<30) // the drop was recorded
	defer d.Close()
	checkHeld(t, d, a, 0, 1, 3)
	put(t, d, a, 2) // and the chunk can be fetched again
	checkHeld(t, d, a, 0, 1, 2, 3)
}

func TestEviction(t *testing.T) {
	dir := t.TempDir()
	_, priv := originKey(1)
	var tr []testTrack
	for i := range 5 {
		tr = append(tr, makeTrack(t, uint64(i), 10*chunk, priv))
	}
	limit := int64(3*10*chunk + chunk/2) // three tracks and a bit
	d, w := openDisk(t, dir, limit)
	for _, x := range tr[:3] {
		put(t, d, x)
	}
	// Played order: 1, then 0, then 2. Track 1 is least recent but pinned.
	d.Touch(tr[1].m.ID)
	d.Touch(tr[0].m.ID)
	d.Touch(tr[2].m.ID)
	unpin := d.Pin(tr[1].m.ID)
	put(t, d, tr[3]) // evicts 0, the least recently used unpinned track
	put(t, d, tr[4]) // evicts 2
	want := []track.ID{tr[4].m.ID, tr[3].m.ID, tr[1].m.ID}
	if got := ids(d.Tracks()); !slices.Equal(got, want) {
		t.Fatalf("tracks after eviction %v, want %v", got, want)
	}
	if !d.Tracks()[2].Pinned {
		t.Error("track 1 not reported pinned")
	}
	for _, x := range []testTrack{tr[0], tr[2]} {
		if d.Have(x.m.ID) != nil {
			t.Errorf("evicted track %s still has a bitfield", x.m.ID)
		}
		if _, err := os.Stat(filepath.Join(dir, x.m.ID.String())); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("evicted track %s still on disk: %v", x.m.ID, err)
		}
	}
	checkUsage(t, d)
	unpin()
	unpin() // harmless
	if d.Tracks()[2].Pinned {
		t.Error("track 1 still pinned after unpin")
	}
	d.Close()

	d, _ = openDisk(t, dir, limit)
	if got := ids(d.Tracks()); !slices.Equal(got, want) {
		t.Fatalf("tracks after reopening %v, want %v (LRU order kept)", got, want)
	}
	checkUsage(t, d)
	for _, x := range []testTrack{tr[1], tr[3], tr[4]} {
		checkHeld(t, d, x, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9)
	}
	d.Close()

	// A smaller limit evicts at once, least recently used first.
	d, _ = openDisk(t, dir, 2*10*chunk)
	defer d.Close()
	if got := ids(d.Tracks()); !slices.Equal(got, want[:2]) {
		t.Fatalf("tracks after reopening with a smaller limit %v, want %v", got, want[:2])
	}
	checkUsage(t, d)
	if msgs := w.list(); len(msgs) > 0 {
		t.Errorf("warnings: %q", msgs)
	}
}

func TestFull(t *testing.T) {
	_, priv := originKey(1)
	a := makeTrack(t, 1, 4*chunk, priv)
	b := makeTrack(t, 2, 4*chunk, priv)
	for name, s := range map[string]Store{"disk": tempDisk(t, 6*chunk), "mem": NewMem(6 * chunk)} {
		t.Run(name, func(t *testing.T) {
			put(t, s, a)
			unpin := s.Pin(a.m.ID)
			put(t, s, b, 0, 1)
			if err := s.WriteChunk(b.m.ID, 2, b.chunk(2)); !errors.Is(err, ErrFull) {
				t.Fatalf("WriteChunk over the limit with the rest pinned: %v, want ErrFull", err)
			}
			checkHeld(t, s, a, 0, 1, 2, 3)
			checkHeld(t, s, b, 0, 1)
			unpin()
			put(t, s, b, 2, 3) // now a goes
			checkHeld(t, s, b, 0, 1, 2, 3)
			if s.Have(a.m.ID) != nil {
				t.Error("a not evicted")
			}
			checkUsage(t, s)
			// A pin taken before the manifest counts too.
			unpin = s.Pin(a.m.ID)
			defer unpin()
			put(t, s, a, 0, 1)
			if err := s.WriteChunk(b.m.ID, 3, b.chunk(3)); err != nil { // held already: no room needed
				t.Fatal(err)
			}
			checkUsage(t, s)
		})
	}
}

func TestOtherKeyDroppedOnReopen(t *testing.T) {
	dir := t.TempDir()
	_, priv := originKey(1)
	a := makeTrack(t, 1, 3*chunk, priv)
	d, _ := openDisk(t, dir, 1<<30)
	put(t, d, a)
	d.Close()

	other, _ := originKey(2)
	w := &warnings{}
	d2, err := OpenDisk(dir, other, Options{Limit: 1 << 30, Logger: w.logger()})
	if err != nil {
		t.Fatal(err)
	}
	defer d2.Close()
	if len(d2.Tracks()) != 0 || d2.Have(a.m.ID) != nil {
		t.Fatalf("track signed by another key kept: %v", d2.Tracks())
	}
	if _, err := os.Stat(filepath.Join(dir, a.m.ID.String())); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("its directory is still there: %v", err)
	}
	if len(w.list()) != 1 {
		t.Errorf("want one warning, got %q", w.list())
	}
}

func TestBrokenTracksDroppedOnOpen(t *testing.T) {
	dir := t.TempDir()
	_, priv := originKey(1)
	var tr []testTrack
	for i := range 5 {
		tr = append(tr, makeTrack(t, uint64(i), 3*chunk, priv))
	}
	d, _ := openDisk(t, dir, 1<<30)
	for _, x := range tr {
		put(t, d, x)
	}
	d.Close()
	p := func(i int, name string) string { return filepath.Join(dir, tr[i].m.ID.String(), name) }
	os.Truncate(p(0, "data"), 2*chunk) // short data file
	os.Remove(p(1, "have"))            // no bitfield
	os.WriteFile(p(2, "manifest"), []byte("{}"), 0o644)
	os.Truncate(p(3, "have"), 0)                            // short bitfield
	os.MkdirAll(filepath.Join(dir, ".tmp-123", "x"), 0o755) // unfinished put
	os.MkdirAll(filepath.Join(dir, ".trash", "y"), 0o755)   // unfinished eviction
	os.WriteFile(filepath.Join(dir, "README"), nil, 0o644)  // not ours: left alone

	d, w := openDisk(t, dir, 1<<30)
	defer d.Close()
	if got := ids(d.Tracks()); !slices.Equal(got, []track.ID{tr[4].m.ID}) {
		t.Fatalf("tracks %v, want only %v", got, tr[4].m.ID)
	}
	checkHeld(t, d, tr[4], 0, 1, 2)
	if n := len(w.list()); n != 4 {
		t.Errorf("%d warnings, want 4: %q", n, w.list())
	}
	ents, _ := os.ReadDir(dir)
	var names []string
	for _, e := range ents {
		names = append(names, e.Name())
	}
	if want := []string{".trash", "README", tr[4].m.ID.String(), "lock"}; !slices.Equal(names, want) {
		t.Errorf("directory holds %q, want %q", names, want)
	}
	if ents, _ := os.ReadDir(filepath.Join(dir, ".trash")); len(ents) != 0 {
		t.Errorf("trash not emptied: %v", ents)
	}
}

func TestLocked(t *testing.T) {
	dir := t.TempDir()
	d, _ := openDisk(t, dir, 1<<30)
	pub, _ := originKey(1)
	if d2, err := OpenDisk(dir, pub, Options{Limit: 1 << 30}); err == nil {
		d2.Close()
		t.Fatal("a second OpenDisk of the same directory succeeded")
	}
	d.Close()
	d, _ = openDisk(t, dir, 1<<30)
	d.Close()
}

func TestManyTracksFewFiles(t *testing.T) {
	dir := t.TempDir()
	_, priv := originKey(1)
	d, _ := openDisk(t, dir, 1<<30)
	defer d.Close()
	d.maxOpen = 3
	var tr []testTrack
	for i := range 10 {
		tr = append(tr, makeTrack(t, uint64(i), 2*chunk+1, priv))
		put(t, d, tr[i])
		if d.nopen > 3 {
			t.Fatalf("%d tracks open, want at most 3", d.nopen)
		}
	}
	for _, x := range tr {
		checkHeld(t, d, x, 0, 1, 2)
	}
	if d.nopen > 3 {
		t.Fatalf("%d tracks open, want at most 3", d.nopen)
	}
}

func TestDefaultLimit(t *testing.T) {
	n, err := DefaultLimit(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	if n <= 0 || n > MaxDefaultLimit {
		t.Fatalf("DefaultLimit = %d", n)
	}
	d, _ := openDisk(t, t.TempDir(), 0)
	defer d.Close()
	if _, limit := d.Usage(); limit != n && (limit < n*9/10 || limit > n*11/10) {
		t.Errorf("OpenDisk with no limit: limit %d, DefaultLimit %d", limit, n)
	}
}
