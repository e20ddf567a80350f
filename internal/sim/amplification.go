package sim

import (
	"context"
	"fmt"
	"strings"
	"sync"

	"github.com/potluckfm/potluck/origin"
	"github.com/potluckfm/potluck/track"
)

// chunkKey names one chunk of the catalogue.
type chunkKey struct {
	track track.ID
	index int
}

// chunkSet is a set of chunks, safe for concurrent use: the chunks the
// listeners' players read during a run.
type chunkSet struct {
	mu  sync.Mutex
	set map[chunkKey]struct{}
}

func (s *chunkSet) add(id track.ID, i int) {
	s.mu.Lock()
	if s.set == nil {
		s.set = map[chunkKey]struct{}{}
	}
	s.set[chunkKey{id, i}] = struct{}{}
	s.mu.Unlock()
}

func (s *chunkSet) keys() []chunkKey {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]chunkKey, 0, len(s.set))
	for k := range s.set {
		out = append(out, k)
	}
	return out
}

// floorBytes is the origin's floor: the bytes of the distinct chunks in
// played that no cache held at the start (heldAtStart), each of which must
// have left the origin at least once. Chunks of tracks missing from
// manifests count nothing.
func floorBytes(played []chunkKey, heldAtStart map[chunkKey]bool, manifests map[track.ID]*track.Manifest) int64 {
	var n int64
	for _, k := range played {
		m := manifests[k.track]
		if m == nil || k.index < 0 || k.index >= m.NumChunks() || heldAtStart[k] {
			continue
		}
		_, l := m.ChunkBounds(k.index)
		n += int64(l)
	}
	return n
}

// amplification is origin chunk bytes over the floor (0 with no floor).
func amplification(originChunkBytes, floor int64) float64 {
	if floor <= 0 {
		return 0
	}
	return round(float64(originChunkBytes)/float64(floor), 3)
}

// heldChunks lists every chunk some listener's cache holds now (the run
// calls it once the caches are prefilled).
func (r *run) heldChunks() map[chunkKey]bool {
	held := map[chunkKey]bool{}
	for _, l := range r.listeners {
		for id, m := range r.manifests {
			have := l.store.Have(id)
			if have == nil {
				continue
			}
			for i := range m.NumChunks() {
				if have.Has(i) {
					held[chunkKey{id, i}] = true
				}
			}
		}
	}
	return held
}

// reportAmplification fills the origin-floor figures of rep.
func (r *run) reportAmplification(rep *Report) {
	rep.OriginChunkBytes = r.originChunkBytes
	played := r.played.keys()
	rep.OriginFloorBytes = floorBytes(played, r.heldAtStart, r.manifests)
	rep.OriginAmplification = amplification(rep.OriginChunkBytes, rep.OriginFloorBytes)
	r.fromOrigin.mu.Lock()
	rep.OriginRepeatBytes, rep.OriginUnplayedBytes = avoidable(r.fromOrigin.n, played, r.heldAtStart, r.manifests)
	r.fromOrigin.mu.Unlock()
}

// AmplificationMarkdown renders the origin's cost against its floor at
// each swarm size, both modes, with what each run cost this machine.
func AmplificationMarkdown(points []ScalePoint) string {
	var sb strings.Builder
	sb.WriteString("| listeners | origin ÷ floor, Potluck | origin ÷ floor, client-server | floor (MB), Potluck / client-server | origin chunk MB, Potluck | origin chunk MB, client-server | beyond the floor, Potluck: repeats / unplayed / rest (MB) | beyond the floor, client-server: repeats / unplayed / rest (MB) | plays started, Potluck / client-server | plays with stutter, Potluck / client-server |\n")
	sb.WriteString("|---:|---:|---:|---:|---:|---:|---|---|---:|---:|\n")
	// cell renders a figure of r, or "–" for a mode that did not run.
	cell := func(r *Report, format string, get func(*Report) any) string {
		if r == nil {
			return "–"
		}
		return fmt.Sprintf(format, get(r))
	}
	for _, pt := range points {
		p, b := pt.P2P, pt.Baseline
		if p == nil && b == nil {
			continue
		}
		amp := func(r *Report) any { return r.OriginAmplification }
		floor := func(r *Report) any { return float64(r.OriginFloorBytes) / 1e6 }
		chunks := func(r *Report) any { return float64(r.OriginChunkBytes) / 1e6 }
		split := func(r *Report) any { return beyondFloor(r) }
		started := func(r *Report) any { return r.PlaysStarted }
		stutter := func(r *Report) any { return 100 * r.StutterShare }
		fmt.Fprintf(&sb, "| %d | %s | %s | %s / %s | %s | %s | %s | %s | %s / %s | %s / %s |\n", pt.Listeners,
			cell(p, "%.2f", amp), cell(b, "%.2f", amp), cell(p, "%.1f", floor), cell(b, "%.1f", floor),
			cell(p, "%.1f", chunks), cell(b, "%.1f", chunks), cell(p, "%s", split), cell(b, "%s", split),
			cell(p, "%d", started), cell(b, "%d", started), cell(p, "%.1f%%", stutter), cell(b, "%.1f%%", stutter))
	}
	sb.WriteString("\n| listeners | mode | peak memory (MB) | per listener (MB) | peak goroutines | per listener | CPU (s) | CPU per listener per simulated s (ms) |\n")
	sb.WriteString("|---:|---|---:|---:|---:|---:|---:|---:|\n")
	for _, pt := range points {
		for _, r := range []*Report{pt.P2P, pt.Baseline} {
			if r == nil || r.Listeners == 0 || r.DurationS == 0 {
				continue
			}
			n := float64(r.Listeners)
			fmt.Fprintf(&sb, "| %d | %s | %.0f | %.2f | %d | %.1f | %.0f | %.2f |\n",
				r.Listeners, r.Mode, float64(r.PeakMemoryBytes)/1e6, float64(r.PeakMemoryBytes)/1e6/n,
				r.PeakGoroutines, float64(r.PeakGoroutines)/n, r.CPUSeconds, 1000*r.CPUSeconds/r.DurationS/n)
		}
	}
	return sb.String()
}

// chunkCounts counts the chunk bytes the listeners received from the
// origin, by chunk, safe for concurrent use.
type chunkCounts struct {
	mu sync.Mutex
	n  map[chunkKey]int64
}

func (c *chunkCounts) add(id track.ID, i int, bytes int) {
	c.mu.Lock()
	if c.n == nil {
		c.n = map[chunkKey]int64{}
	}
	c.n[chunkKey{id, i}] += int64(bytes)
	c.mu.Unlock()
}

// countingOrigin is a listener's origin client that counts the chunks its
// chunk requests receive (every other method is the client's own, so the
// node sees the same origin; a start answer's chunks are not counted).
type countingOrigin struct {
	*origin.Client
	counts *chunkCounts
}

func (o countingOrigin) Chunk(ctx context.Context, m *track.Manifest, i int) ([]byte, error) {
	b, err := o.Client.Chunk(ctx, m, i)
	if err == nil {
		o.counts.add(m.ID, i, len(b))
	}
	return b, err
}

func (o countingOrigin) ChunkUnchecked(ctx context.Context, id track.ID, i int) ([]byte, error) {
	b, err := o.Client.ChunkUnchecked(ctx, id, i)
	if err == nil {
		o.counts.add(id, i, len(b))
	}
	return b, err
}

// avoidable splits the chunk bytes listeners received from the origin's
// chunk requests beyond the floor: repeat is what came for played chunks beyond one copy
// of each (and any copy of a chunk a cache held at the start), unplayed
// what came for chunks no listener played.
func avoidable(received map[chunkKey]int64, played []chunkKey, heldAtStart map[chunkKey]bool, manifests map[track.ID]*track.Manifest) (repeat, unplayed int64) {
	isPlayed := make(map[chunkKey]bool, len(played))
	for _, k := range played {
		isPlayed[k] = true
	}
	for k, n := range received {
		if !isPlayed[k] {
			unplayed += n
			continue
		}
		if m := manifests[k.track]; m != nil && !heldAtStart[k] && k.index >= 0 && k.index < m.NumChunks() {
			_, l := m.ChunkBounds(k.index)
			n -= min(n, int64(l)) // the first copy: the floor's
		}
		repeat += n
	}
	return repeat, unplayed
}

// beyondFloor renders the split of a report's origin bytes beyond its
// floor ("–" for a report from before the split).
func beyondFloor(r *Report) string {
	if r.OriginRepeatBytes == 0 && r.OriginUnplayedBytes == 0 {
		return "–"
	}
	rest := r.OriginChunkBytes - r.OriginFloorBytes - r.OriginRepeatBytes - r.OriginUnplayedBytes
	return fmt.Sprintf("%.1f / %.1f / %.1f", float64(r.OriginRepeatBytes)/1e6, float64(r.OriginUnplayedBytes)/1e6, float64(rest)/1e6)
}
