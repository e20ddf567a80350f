package sim

import (
	"context"
	"testing"
	"testing/synctest"
	"time"

	"github.com/potluckfm/potluck/track"
)

// TestOriginFloorBytes checks the floor on a constructed case: each played
// chunk counts once, by its own length (the last chunk is short), and
// chunks a cache held at the start or of unknown tracks count nothing.
func TestOriginFloorBytes(t *testing.T) {
	a := &track.Manifest{ID: track.ID{1}, Size: 2500, ChunkSize: 1000, ChunkHashes: make([]track.Hash, 3)}
	b := &track.Manifest{ID: track.ID{2}, Size: 4000, ChunkSize: 1000, ChunkHashes: make([]track.Hash, 4)}
	manifests := map[track.ID]*track.Manifest{a.ID: a, b.ID: b}
	var played chunkSet
	for _, k := range []chunkKey{
		{a.ID, 0}, {a.ID, 2}, {a.ID, 0}, // 1000 + 500, the repeat once
		{b.ID, 1}, {b.ID, 3}, // 1000 + 1000, but b's chunk 3 was cached at the start
		{track.ID{9}, 0}, // not in the catalogue
		{a.ID, 7},        // no such chunk
	} {
		played.add(k.track, k.index)
	}
	held := map[chunkKey]bool{{b.ID, 3}: true, {a.ID, 1}: true}
	if got, want := floorBytes(played.keys(), held, manifests), int64(1000+500+1000); got != want {
		t.Errorf("floor %d bytes, want %d", got, want)
	}
	if got := amplification(5000, 2500); got != 2 {
		t.Errorf("amplification of 5000 over 2500: %g, want 2", got)
	}
	if got := amplification(0, 0); got != 0 {
		t.Errorf("amplification with no floor: %g, want 0", got)
	}
}

// TestOriginAmplificationRun runs a small swarm in virtual time, Potluck
// and client-server, each with a short history in its caches, and checks
// that the origin's chunk bytes are at or above their floor: every chunk a
// listener played that no cache held at the start left the origin at
// least once.
func TestOriginAmplificationRun(t *testing.T) {
	decode, err := MeasureFrameDecode(testConfig(ModeP2P))
	if err != nil {
		t.Fatal(err)
	}
	reps := map[Mode]*Report{}
	for _, mode := range []Mode{ModeP2P, ModeClientServer} {
		t.Run(string(mode), func(t *testing.T) {
			cfg := testConfig(mode)
			cfg.Listeners, cfg.Duration, cfg.FrameDecode = 4, time.Minute, decode
			synctest.Test(t, func(t *testing.T) {
				rep, plays, err := Run(context.Background(), cfg)
				if err != nil {
					t.Fatal(err)
				}
				reps[mode] = rep
				var fromOrigin int64
				for _, p := range plays {
					fromOrigin += p.Stats.Swarm.FromOrigin
				}
				t.Logf("%s: origin chunk bytes %d, floor %d, amplification %.3f; plays' bytes from the origin %d",
					mode, rep.OriginChunkBytes, rep.OriginFloorBytes, rep.OriginAmplification, fromOrigin)
				if rep.OriginFloorBytes <= 0 || fromOrigin <= 0 {
					t.Fatalf("floor %d bytes, %d bytes from the origin: want plays of uncached chunks", rep.OriginFloorBytes, fromOrigin)
				}
				if rep.OriginAmplification < 1 || rep.OriginChunkBytes < rep.OriginFloorBytes {
					t.Errorf("origin served %d chunk bytes for a floor of %d (%.3f): under the floor",
						rep.OriginChunkBytes, rep.OriginFloorBytes, rep.OriginAmplification)
				}
				if rep.OriginChunkBytes < fromOrigin {
					t.Errorf("origin served %d chunk bytes, but the plays got %d from it", rep.OriginChunkBytes, fromOrigin)
				}
			})
		})
	}
}
