package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"github.com/potluckfm/potluck/track"
)

// fetchStats is the JSON line `potluckd fetch` prints. Field names are a
// contract with scripts: extend, never rename.
type fetchStats struct {
	Track       string `json:"track"`
	Bytes       int64  `json:"bytes"`
	FromOrigin  int64  `json:"from_origin"`
	FromPeers   int64  `json:"from_peers"`
	FromCache   int64  `json:"from_cache"`
	Chunks      int    `json:"chunks"`
	FirstByteMS int64  `json:"first_byte_ms"`
	ElapsedMS   int64  `json:"elapsed_ms"`
}

// fetchParallel is how many chunk requests are in flight at once.
const fetchParallel = 8

func runFetch(ctx context.Context, args []string, stdout io.Writer) error {
	fset := flag.NewFlagSet("potluckd fetch", flag.ContinueOnError)
	client := originFlags(fset)
	trackID := fset.String("track", "", "ID of the track to fetch (required; see potluckd ls)")
	out := fset.String("out", "", "file to write the track to (required)")
	fset.String("data", "", "data directory (cache); used once the swarm lands")
	if err := parseFlags(fset, args); err != nil {
		return err
	}
	c, err := client()
	if err != nil {
		return err
	}
	defer c.Close()
	id, err := track.ParseID(*trackID)
	if err != nil {
		return usageError("--track: %v", err)
	}
	if *out == "" {
		return usageError("--out FILE is required")
	}
	start := time.Now()
	m, _, err := c.Manifest(ctx, id)
	if err != nil {
		return err
	}
	stats := fetchStats{Track: id.String(), Chunks: m.NumChunks()}
	var firstByte sync.Once
	err = writeVerified(ctx, *out, m, func(ctx context.Context, i int) ([]byte, error) {
		b, err := c.Chunk(ctx, m, i)
		if err == nil {
			firstByte.Do(func() { stats.FirstByteMS = time.Since(start).Milliseconds() })
		}
		return b, err
	})
	if err != nil {
		return err
	}
	stats.Bytes, stats.FromOrigin = m.Size, m.Size
	stats.ElapsedMS = time.Since(start).Milliseconds()
	return json.NewEncoder(stdout).Encode(stats)
}

// writeVerified fetches every chunk of m with get, several at a time, and
// writes them to path. The file appears at path only once complete; on any
// error nothing is left behind.
func writeVerified(parent context.Context, path string, m *track.Manifest, get func(context.Context, int) ([]byte, error)) (err error) {
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".part*")
	if err != nil {
		return err
	}
	defer func() {
		if err != nil {
			tmp.Close()
			os.Remove(tmp.Name())
		}
	}()
	ctx, cancel := context.WithCancelCause(parent)
	defer cancel(nil)
	var next atomic.Int64
	var wg sync.WaitGroup
	for range min(fetchParallel, m.NumChunks()) {
		wg.Go(func() {
			for ctx.Err() == nil {
				i := int(next.Add(1) - 1)
				if i >= m.NumChunks() {
					return
				}
				b, err := get(ctx, i)
				if err == nil {
					if err = m.VerifyChunk(i, b); err == nil {
						off, _ := m.ChunkBounds(i)
						_, err = tmp.WriteAt(b, off)
					}
				}
				if err != nil {
					cancel(fmt.Errorf("chunk %d: %w", i, err))
					return
				}
			}
		})
	}
	wg.Wait()
	if err := context.Cause(ctx); err != nil {
		return err
	}
	if err := tmp.Sync(); err != nil {
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), path)
}
