package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/potluckfm/potluck/internal/nodeconf"
	"github.com/potluckfm/potluck/swarm"
)

// fetchStats is the JSON line `potluckd fetch` prints. Field names are a
// contract with scripts: extend, never rename.
type fetchStats struct {
	Track       string `json:"track"`
	Bytes       int64  `json:"bytes"`
	FromCache   int64  `json:"from_cache"`
	FromPeers   int64  `json:"from_peers"`
	FromOrigin  int64  `json:"from_origin"`
	Peers       int    `json:"peers"`
	Chunks      int    `json:"chunks"`
	FirstByteMS int64  `json:"first_byte_ms"`
	ElapsedMS   int64  `json:"elapsed_ms"`
}

func runFetch(ctx context.Context, args []string, stdout io.Writer) error {
	fset := flag.NewFlagSet("potluckd fetch", flag.ContinueOnError)
	client := originFlags(fset)
	trackID := fset.String("track", "", "ID of the track to fetch (required; see potluckd ls)")
	out := fset.String("out", "", "file to write the track to (required)")
	node := nodeFlags(fset, "", ":0")
	logger := logFlags(fset)
	if err := parseFlags(fset, args); err != nil {
		return err
	}
	log, err := logger()
	if err != nil {
		return err
	}
	c, id, err := originAndTrack(client, *trackID)
	if err != nil {
		return err
	}
	defer c.Close()
	if *out == "" {
		return usageError("--out FILE is required")
	}
	removeStale(log, *out)

	start := time.Now()
	n, err := startNode(ctx, node, c, log, func(cfg *swarm.Config) { cfg.NoAnnounce = true })
	if err != nil {
		return err
	}
	defer n.Close()
	s, err := n.Open(ctx, id, swarm.ModeFetch)
	if err != nil {
		return err
	}
	defer s.Close()
	if err := writeAtomically(ctx, *out, s); err != nil {
		return err
	}
	st := s.Stats()
	return json.NewEncoder(stdout).Encode(fetchStats{
		Track:       id.String(),
		Bytes:       s.Manifest().Size,
		FromCache:   st.FromCache,
		FromPeers:   st.FromPeers,
		FromOrigin:  st.FromOrigin,
		Peers:       st.Peers,
		Chunks:      s.Manifest().NumChunks(),
		FirstByteMS: st.FirstByte.Milliseconds(),
		ElapsedMS:   time.Since(start).Milliseconds(),
	})
}

// partPattern names the temporary file writeAtomically writes path to:
// hidden, next to path, with the writer's PID, so that a later run can tell
// a file left by a killed fetch from one another fetch is writing.
func partPattern(path string) string {
	return "." + filepath.Base(path) + ".part-" + strconv.Itoa(os.Getpid()) + "-*"
}

// removeStale removes the .part files of out that a fetch killed before
// it could clean up left behind. (nodeconf removes the throwaway data
// directories of killed nodes.)
func removeStale(log *slog.Logger, out string) {
	for _, p := range nodeconf.StaleIn(filepath.Dir(out), func(name string) bool {
		rest, ok := strings.CutPrefix(name, "."+filepath.Base(out)+".part")
		return ok && strings.Trim(rest, "-0123456789") == "" && rest != ""
	}) {
		if err := os.Remove(p); err != nil {
			log.Warn("cannot remove what an earlier fetch left behind", "path", p, "err", err)
			continue
		}
		log.Info("removed what an earlier fetch left behind", "path", p)
	}
}

// writeAtomically copies r (verified bytes) to path. The file appears only
// once complete; on any error nothing is left behind.
func writeAtomically(ctx context.Context, path string, r io.Reader) (err error) {
	tmp, err := os.CreateTemp(filepath.Dir(path), partPattern(path))
	if err != nil {
		return err
	}
	defer func() {
		if err != nil {
			tmp.Close()
			os.Remove(tmp.Name())
		}
	}()
	done := make(chan error, 1)
	go func() {
		_, err := io.Copy(tmp, r)
		done <- err
	}()
	select {
	case err = <-done:
	case <-ctx.Done():
		if c, ok := r.(io.Closer); ok {
			c.Close()
		}
		<-done
		return errors.Join(ctx.Err(), fmt.Errorf("fetch interrupted"))
	}
	if err != nil {
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
