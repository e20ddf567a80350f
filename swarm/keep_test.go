package swarm

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"runtime/pprof"
	"slices"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/potluckfm/potluck/assets"
	"github.com/potluckfm/potluck/cache"
	"github.com/potluckfm/potluck/origin"
	"github.com/potluckfm/potluck/track"
)

// keepSwarm is a testSwarm on an emulated network whose origin can be
// started again at the same address with the same key, as after an
// outage. Make it inside synctest.Test: the keeper's waits and back-offs
// run in virtual time.
type keepSwarm struct {
	*testSwarm
	key ed25519.PrivateKey
}

func newKeepSwarm(t *testing.T) *keepSwarm {
	t.Helper()
	_, key, _ := ed25519.GenerateKey(nil)
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	if testing.Verbose() {
		log = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	ks := &keepSwarm{testSwarm: &testSwarm{t: t, log: log, net: newSimNet(t)}, key: key}
	ks.startOrigin(ks.net.endpoint(t))
	ks.url = ks.origin.URL()
	t.Cleanup(func() { ks.stopOrigin() })
	return ks
}

func (ks *keepSwarm) startOrigin(pc net.PacketConn) {
	ks.t.Helper()
	srv, err := origin.Start(context.Background(), origin.Config{
		Library: assets.Demo(), Key: ks.key, PacketConn: pc, Logger: ks.log, TrackerTTL: time.Minute,
	})
	if err != nil {
		ks.t.Fatal(err)
	}
	ks.origin = srv
}

// restartOrigin starts the origin again where it was.
func (ks *keepSwarm) restartOrigin() {
	ks.t.Helper()
	addr, err := net.ResolveUDPAddr("udp", ks.url.Addr)
	if err != nil {
		ks.t.Fatal(err)
	}
	ks.startOrigin(ks.net.endpointAt(ks.t, addr))
	if got := ks.origin.URL(); got.Addr != ks.url.Addr {
		ks.t.Fatalf("origin came back at %s, want %s", got.Addr, ks.url.Addr)
	}
}

// others lists the demo tracks other than m, smallest first.
func (ks *keepSwarm) others(m *track.Manifest) []*track.Manifest {
	var out []*track.Manifest
	for _, e := range ks.origin.Catalog().Entries() {
		if e.Manifest.ID != m.ID {
			out = append(out, e.Manifest)
		}
	}
	slices.SortFunc(out, func(a, b *track.Manifest) int { return int(a.Size - b.Size) })
	return out
}

// diskNode starts a node on a disk cache in cacheDir limited to limit
// bytes, with its data in dataDir (so that a test can start it again).
func (ks *keepSwarm) diskNode(dataDir, cacheDir string, limit int64, edit func(*Config)) (*Node, *cache.Disk) {
	ks.t.Helper()
	d, err := cache.OpenDisk(cacheDir, ks.url.Key, cache.Options{Limit: limit, Logger: ks.log})
	if err != nil {
		ks.t.Fatal(err)
	}
	ks.t.Cleanup(func() { d.Close() })
	cfg := ks.config(d)
	cfg.DataDir = dataDir
	if edit != nil {
		edit(&cfg)
	}
	return ks.start(cfg), d
}

// testKeepConfig retries quickly.
func testKeepConfig() keepConfig {
	return keepConfig{
		parallel:   2,
		minBackoff: 200 * time.Millisecond,
		maxBackoff: time.Second,
		stall:      30 * time.Second,
		settle:     10 * time.Millisecond,
	}
}

func startKeeper(t *testing.T, n *Node, path string) *Keeper {
	t.Helper()
	k, err := newKeeper(context.Background(), n, path, nil, testKeepConfig())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { k.Close() })
	return k
}

func keepStatusOf(k *Keeper, id track.ID) (KeepStatus, bool) {
	for _, st := range k.Status() {
		if st.ID == id {
			return st, true
		}
	}
	return KeepStatus{}, false
}

// waitStatus waits until the status of id satisfies ok, and returns it.
func waitStatus(t *testing.T, k *Keeper, id track.ID, within time.Duration, what string, ok func(KeepStatus) bool) KeepStatus {
	t.Helper()
	deadline := time.After(within)
	ch := k.Subscribe()
	for {
		st, found := keepStatusOf(k, id)
		if found && ok(st) {
			return st
		}
		select {
		case <-ch:
		case <-time.After(50 * time.Millisecond):
		case <-deadline:
			t.Fatalf("%s: not within %v; status %+v (pinned %v)", what, within, st, found)
		}
	}
}

func done(st KeepStatus) bool { return st.Done }

// holdsWhole checks that store holds every chunk of m, byte for byte.
func holdsWhole(t *testing.T, store cache.Store, m *track.Manifest, want []byte) {
	t.Helper()
	have := store.Have(m.ID)
	if have == nil || have.Count() != m.NumChunks() {
		t.Fatalf("store holds %d of %d chunks of %s", have.Count(), m.NumChunks(), m.ID)
	}
	for i := range m.NumChunks() {
		b, err := store.ReadChunk(m.ID, i)
		if err != nil {
			t.Fatalf("chunk %d: %v", i, err)
		}
		off, l := m.ChunkBounds(i)
		if want != nil && !bytes.Equal(b, want[off:off+int64(l)]) {
			t.Fatalf("chunk %d differs from the library file", i)
		}
	}
}

func pinFileIDs(t *testing.T, path string) []track.ID {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var f struct {
		Version int
		Tracks  []struct{ ID track.ID }
	}
	if err := json.Unmarshal(b, &f); err != nil || f.Version != 1 {
		t.Fatalf("pin file %q: version %d, %v", b, f.Version, err)
	}
	var ids []track.ID
	for _, p := range f.Tracks {
		ids = append(ids, p.ID)
	}
	return ids
}

func TestKeepPinFetchesWholeWithProgress(t *testing.T) {
	synctest.Test(t, testKeepPinFetchesWholeWithProgress)
}

func testKeepPinFetchesWholeWithProgress(t *testing.T) {
	ks := newKeepSwarm(t)
	m, want := ks.track()
	n := ks.node(nil)
	path := filepath.Join(t.TempDir(), "pinned.json")
	k := startKeeper(t, n, path)
	ch := k.Subscribe()

	if err := k.Pin(m.ID); err != nil {
		t.Fatal(err)
	}
	if err := k.Pin(m.ID, m.ID); err != nil { // again: harmless
		t.Fatal(err)
	}
	if !k.Pinned(m.ID) || len(k.Status()) != 1 {
		t.Fatalf("pinned %v, status %+v: want one pinned track", k.Pinned(m.ID), k.Status())
	}
	if ids := pinFileIDs(t, path); !slices.Equal(ids, []track.ID{m.ID}) {
		t.Fatalf("pin file lists %v, want just %s", ids, m.ID)
	}

	// Follow the progress until done: chunks held only ever grow, and a
	// state short of done is seen before it.
	var seen []KeepStatus
	deadline := time.After(30 * time.Second)
	for {
		st, ok := keepStatusOf(k, m.ID)
		if !ok {
			t.Fatal("the pin went away")
		}
		if len(seen) == 0 || st != seen[len(seen)-1] {
			seen = append(seen, st)
		}
		if st.Done {
			break
		}
		select {
		case <-ch:
		case <-deadline:
			t.Fatalf("not done in time: %+v", st)
		}
	}
	first, last := seen[0], seen[len(seen)-1]
	if first.Done || first.Held == m.NumChunks() {
		t.Errorf("first status %+v: already done before any fetch", first)
	}
	for i := 1; i < len(seen); i++ {
		if seen[i].Held < seen[i-1].Held {
			t.Errorf("held went down: %+v then %+v", seen[i-1], seen[i])
		}
	}
	if last.Held != m.NumChunks() || last.Chunks != m.NumChunks() || last.Err != nil {
		t.Errorf("final status %+v, want %d of %d chunks and no error", last, m.NumChunks(), m.NumChunks())
	}
	t.Logf("%d distinct states on the way to done", len(seen))
	holdsWhole(t, n.Store(), m, want)
	for _, ts := range n.Store().Tracks() {
		if ts.ID == m.ID && !ts.Pinned {
			t.Error("the cache does not see the track as pinned")
		}
	}
}

func TestKeepPinnedSurvivesCachePressure(t *testing.T) {
	synctest.Test(t, testKeepPinnedSurvivesCachePressure)
}

func testKeepPinnedSurvivesCachePressure(t *testing.T) {
	ks := newKeepSwarm(t)
	m, want := ks.track()
	others := ks.others(m)
	// Room for the pinned track and one more: playing the others must
	// evict, and the pinned track is the least recently used.
	limit := m.Size + others[len(others)-1].Size
	n, store := ks.diskNode(t.TempDir(), t.TempDir(), limit, nil)
	k := startKeeper(t, n, filepath.Join(t.TempDir(), "pinned.json"))
	if err := k.Pin(m.ID); err != nil {
		t.Fatal(err)
	}
	waitStatus(t, k, m.ID, 30*time.Second, "pinned track done", done)

	for _, o := range others {
		fetch(t, n, o.ID)
	}
	holdsWhole(t, store, m, want)
	if st, _ := keepStatusOf(k, m.ID); !st.Done || st.Held != m.NumChunks() {
		t.Errorf("status after pressure %+v, want done", st)
	}
	evicted := 0
	for _, o := range others {
		if h := store.Have(o.ID); h.Count() < o.NumChunks() {
			evicted++
		}
	}
	if evicted == 0 {
		t.Fatalf("no other track was evicted: the test put no pressure on the cache")
	}
	t.Logf("%d of %d other tracks evicted", evicted, len(others))
}

func TestKeepUnpinMakesTrackEvictable(t *testing.T) {
	synctest.Test(t, testKeepUnpinMakesTrackEvictable)
}

func testKeepUnpinMakesTrackEvictable(t *testing.T) {
	ks := newKeepSwarm(t)
	m, _ := ks.track()
	others := ks.others(m)
	limit := m.Size + others[len(others)-1].Size
	n, store := ks.diskNode(t.TempDir(), t.TempDir(), limit, nil)
	path := filepath.Join(t.TempDir(), "pinned.json")
	k := startKeeper(t, n, path)
	if err := k.Pin(m.ID); err != nil {
		t.Fatal(err)
	}
	waitStatus(t, k, m.ID, 30*time.Second, "pinned track done", done)

	if err := k.Unpin(m.ID); err != nil {
		t.Fatal(err)
	}
	if err := k.Unpin(m.ID); err != nil { // again: harmless
		t.Fatal(err)
	}
	if k.Pinned(m.ID) || len(k.Status()) != 0 {
		t.Fatalf("after unpin: pinned %v, status %+v", k.Pinned(m.ID), k.Status())
	}
	if ids := pinFileIDs(t, path); len(ids) != 0 {
		t.Fatalf("pin file still lists %v", ids)
	}
	// Unpinned, not deleted: the track stays until the cache needs room.
	if h := store.Have(m.ID); h.Count() != m.NumChunks() {
		t.Fatalf("unpin dropped the track at once (%d chunks held)", h.Count())
	}
	for _, ts := range store.Tracks() {
		if ts.ID == m.ID && ts.Pinned {
			t.Fatal("the cache still has the track pinned")
		}
	}
	for _, o := range others {
		fetch(t, n, o.ID)
	}
	if h := store.Have(m.ID); h.Count() == m.NumChunks() {
		t.Fatal("the unpinned track survived the cache pressure")
	}
}

func TestKeepRestoresPinsAfterRestart(t *testing.T) {
	synctest.Test(t, testKeepRestoresPinsAfterRestart)
}

func testKeepRestoresPinsAfterRestart(t *testing.T) {
	ks := newKeepSwarm(t)
	m, want := ks.track()
	others := ks.others(m)
	partial := others[0]
	dataDir, cacheDir := t.TempDir(), t.TempDir()
	path := filepath.Join(dataDir, "pinned.json")
	limit := m.Size + partial.Size + others[len(others)-1].Size

	n, store := ks.diskNode(dataDir, cacheDir, limit, func(c *Config) { c.NoAnnounce = true })
	k, err := newKeeper(context.Background(), n, path, nil, testKeepConfig())
	if err != nil {
		t.Fatal(err)
	}
	if err := k.Pin(m.ID); err != nil {
		t.Fatal(err)
	}
	waitStatus(t, k, m.ID, 30*time.Second, "pinned track done", done)
	if err := k.Close(); err != nil {
		t.Fatal(err)
	}
	if err := k.Close(); err != nil { // idempotent
		t.Fatal(err)
	}
	if err := k.Pin(partial.ID); !errors.Is(err, ErrKeeperClosed) {
		t.Fatalf("Pin after Close: %v, want ErrKeeperClosed", err)
	}
	// A second track pinned and fetched in part when the app stopped:
	// its manifest and first chunks are in the cache, the file lists it.
	ctx := context.Background()
	pm, signed, err := n.origin.Manifest(ctx, partial.ID)
	if err != nil {
		t.Fatal(err)
	}
	if err := store.PutManifest(pm, signed); err != nil {
		t.Fatal(err)
	}
	for i := range 3 {
		b, err := n.origin.Chunk(ctx, pm, i)
		if err != nil {
			t.Fatal(err)
		}
		if err := store.WriteChunk(pm.ID, i, b); err != nil {
			t.Fatal(err)
		}
	}
	list := []pinEntry{{ID: m.ID, Since: time.Now()}, {ID: partial.ID, Since: time.Now()}}
	if err := writePinFile(path, list); err != nil {
		t.Fatal(err)
	}
	n.Close()
	store.Close()

	n2, store2 := ks.diskNode(dataDir, cacheDir, limit, func(c *Config) { c.NoAnnounce = true })
	k2 := startKeeper(t, n2, path)
	if !k2.Pinned(m.ID) || !k2.Pinned(partial.ID) {
		t.Fatalf("after restart pinned: %v and %v", k2.Pinned(m.ID), k2.Pinned(partial.ID))
	}
	if st, _ := keepStatusOf(k2, m.ID); !st.Done || st.Held != m.NumChunks() {
		t.Errorf("the whole track is not done at once after restart: %+v", st)
	}
	st := waitStatus(t, k2, partial.ID, 30*time.Second, "partly fetched track resumed and done", done)
	if st.Held != partial.NumChunks() {
		t.Errorf("resumed track: %+v", st)
	}
	holdsWhole(t, store2, m, want)
	holdsWhole(t, store2, partial, nil)
	pinned := 0
	for _, ts := range store2.Tracks() {
		if ts.Pinned {
			pinned++
		}
	}
	if pinned != 2 {
		t.Fatalf("%d tracks pinned in the cache after restart, want 2", pinned)
	}
	// The restored pins hold under pressure.
	for _, o := range others[1:] {
		fetch(t, n2, o.ID)
	}
	holdsWhole(t, store2, m, want)
	holdsWhole(t, store2, partial, nil)
}

func TestKeepBadPinFileIsAnError(t *testing.T) { synctest.Test(t, testKeepBadPinFileIsAnError) }

func testKeepBadPinFileIsAnError(t *testing.T) {
	ks := newKeepSwarm(t)
	n := ks.node(nil)
	dir := t.TempDir()
	for name, body := range map[string]string{
		"garbage":   "{not json",
		"truncated": `{"version":1,"tracks":[{"id":"ab`,
		"bad id":    `{"version":1,"tracks":[{"id":"xyz"}]}`,
		"version":   `{"version":7,"tracks":[]}`,
		"no id":     `{"version":1,"tracks":[{}]}`,
	} {
		path := filepath.Join(dir, name+".json")
		if err := os.WriteFile(path, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
		k, err := NewKeeper(context.Background(), n, path, nil)
		if err == nil {
			k.Close()
			t.Errorf("%s: no error", name)
			continue
		}
		if !errors.Is(err, ErrBadPinFile) {
			t.Errorf("%s: %v, want ErrBadPinFile", name, err)
		}
		if b, _ := os.ReadFile(path); string(b) != body {
			t.Errorf("%s: the file was changed", name)
		}
	}
}

func TestKeepServesPinnedTrackToPeers(t *testing.T) {
	synctest.Test(t, testKeepServesPinnedTrackToPeers)
}

func testKeepServesPinnedTrackToPeers(t *testing.T) {
	ks := newKeepSwarm(t)
	m, want := ks.track()
	a := ks.node(nil)
	k := startKeeper(t, a, filepath.Join(t.TempDir(), "pinned.json"))
	if err := k.Pin(m.ID); err != nil {
		t.Fatal(err)
	}
	waitStatus(t, k, m.ID, 30*time.Second, "pinned track done", done)
	ks.stopOrigin()

	// B knows A's address (as from an earlier session) and nothing else:
	// the manifest and every chunk must come from A.
	b := ks.node(func(c *Config) { c.NoAnnounce = true })
	b.learn(netip.Prefix{}, []PeerAddr{{ID: a.ID(), Addr: a.Addr().String()}})
	got, st := fetch(t, b, m.ID)
	if !bytes.Equal(got, want) {
		t.Fatal("B fetched bytes that differ from the library file")
	}
	if st.FromPeers != m.Size || st.FromOrigin != 0 {
		t.Errorf("B's stats %+v: want everything from A", st)
	}
	if a.BytesServed() < m.Size {
		t.Errorf("A served %d bytes of %d", a.BytesServed(), m.Size)
	}
}

func TestKeepRetriesUntilOriginIsBack(t *testing.T) {
	synctest.Test(t, testKeepRetriesUntilOriginIsBack)
}

func testKeepRetriesUntilOriginIsBack(t *testing.T) {
	ks := newKeepSwarm(t)
	m, want := ks.track()
	other := ks.others(m)[0]
	n := ks.node(func(c *Config) { c.NoAnnounce = true })
	k := startKeeper(t, n, filepath.Join(t.TempDir(), "pinned.json"))
	ks.stopOrigin()

	if err := k.Pin(m.ID, other.ID); err != nil {
		t.Fatal(err)
	}
	st := waitStatus(t, k, m.ID, 30*time.Second, "an error with the origin down", func(st KeepStatus) bool { return st.Err != nil })
	if st.Done || st.Retry.IsZero() {
		t.Errorf("status with the origin down: %+v", st)
	}
	t.Logf("error shown: %v", st.Err)

	// Unpin stops a fetch that is failing and retrying.
	if err := k.Unpin(other.ID); err != nil {
		t.Fatal(err)
	}
	if _, ok := keepStatusOf(k, other.ID); ok || k.Pinned(other.ID) {
		t.Fatal("unpinned track still listed")
	}

	ks.restartOrigin()
	st = waitStatus(t, k, m.ID, 60*time.Second, "done once the origin is back", done)
	if st.Err != nil || st.Held != m.NumChunks() {
		t.Errorf("status after the origin came back: %+v", st)
	}
	holdsWhole(t, n.Store(), m, want)
	if h := n.Store().Have(other.ID); h.Count() != 0 {
		t.Errorf("the unpinned track was fetched anyway: %d chunks", h.Count())
	}
}

func TestKeepReportsCacheFull(t *testing.T) { synctest.Test(t, testKeepReportsCacheFull) }

func testKeepReportsCacheFull(t *testing.T) {
	ks := newKeepSwarm(t)
	m, _ := ks.track()
	others := ks.others(m)
	// Room for the biggest track only: pinning it and another cannot fit.
	n, store := ks.diskNode(t.TempDir(), t.TempDir(), m.Size, nil)
	k := startKeeper(t, n, filepath.Join(t.TempDir(), "pinned.json"))
	if err := k.Pin(m.ID); err != nil {
		t.Fatal(err)
	}
	waitStatus(t, k, m.ID, 30*time.Second, "first pinned track done", done)
	if err := k.Pin(others[0].ID); err != nil {
		t.Fatal(err)
	}
	st := waitStatus(t, k, others[0].ID, 30*time.Second, "cache full reported", func(st KeepStatus) bool { return st.Err != nil })
	if !errors.Is(st.Err, cache.ErrFull) || st.Done {
		t.Fatalf("status %+v: want an error wrapping cache.ErrFull", st)
	}
	t.Logf("error shown: %v", st.Err)
	if h := store.Have(m.ID); h.Count() != m.NumChunks() {
		t.Fatal("the first pinned track lost chunks to the second")
	}
	// Unpinning the first makes room; the second completes on a retry.
	if err := k.Unpin(m.ID); err != nil {
		t.Fatal(err)
	}
	waitStatus(t, k, others[0].ID, 30*time.Second, "second track done after making room", done)
}

// keeperGoroutines counts the goroutines running Keeper code.
func keeperGoroutines() int {
	var buf bytes.Buffer
	pprof.Lookup("goroutine").WriteTo(&buf, 2)
	n := 0
	for _, g := range strings.Split(buf.String(), "\n\n") {
		if strings.Contains(g, "swarm.(*Keeper)") {
			n++
		}
	}
	return n
}

func TestKeepCloseStopsEverything(t *testing.T) { synctest.Test(t, testKeepCloseStopsEverything) }

func testKeepCloseStopsEverything(t *testing.T) {
	ks := newKeepSwarm(t)
	n := ks.node(func(c *Config) { c.NoAnnounce = true })
	k := startKeeper(t, n, filepath.Join(t.TempDir(), "pinned.json"))
	ch := k.Subscribe()
	ks.stopOrigin()
	// Three tracks with the origin down: two attempts fail and back off,
	// one waits for a slot.
	var ids []track.ID
	for _, e := range ks.origin.Catalog().Entries()[:3] {
		ids = append(ids, e.Manifest.ID)
	}
	if err := k.Pin(ids...); err != nil {
		t.Fatal(err)
	}
	waitStatus(t, k, ids[0], 30*time.Second, "an error", func(st KeepStatus) bool { return st.Err != nil })
	if keeperGoroutines() == 0 {
		t.Fatal("no keeper goroutine seen while fetching: the leak check below would prove nothing")
	}
	start := time.Now()
	if err := k.Close(); err != nil {
		t.Fatal(err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("Close took %v", d)
	}
	if g := keeperGoroutines(); g != 0 {
		t.Errorf("%d keeper goroutines left after Close", g)
	}
	n.mu.Lock()
	open := len(n.open)
	n.mu.Unlock()
	if open != 0 {
		t.Errorf("%d streams left open after Close", open)
	}
	for _, ts := range n.Store().Tracks() {
		if ts.Pinned {
			t.Errorf("track %s still pinned in the cache after Close", ts.ID)
		}
	}
	for range ch { // drained, then closed
	}
	if err := k.Unpin(ids...); !errors.Is(err, ErrKeeperClosed) {
		t.Errorf("Unpin after Close: %v", err)
	}
}
