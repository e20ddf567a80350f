package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/potluckfm/potluck/internal/nodeconf"
	"github.com/potluckfm/potluck/player"
	"github.com/potluckfm/potluck/swarm"
	"github.com/potluckfm/potluck/track"
)

// playStats is the JSON line `potluckd play` prints. Field names are a
// contract with scripts: extend, never rename.
type playStats struct {
	Track          string `json:"track"`
	StartLatencyMS int64  `json:"start_latency_ms"`
	Underruns      int    `json:"underruns"`
	UnderrunMS     int64  `json:"underrun_ms"`
	FromCache      int64  `json:"from_cache"`
	FromPeers      int64  `json:"from_peers"`
	FromOrigin     int64  `json:"from_origin"`
	// DurationMS is the audio played, from the seek position on.
	DurationMS int64 `json:"duration_ms"`
	Peers      int   `json:"peers"`
	SeekMS     int64 `json:"seek_ms"`
	ElapsedMS  int64 `json:"elapsed_ms"`
	// Completed is true if the track played to its end.
	Completed bool   `json:"completed"`
	Error     string `json:"error,omitempty"`
}

func runPlay(ctx context.Context, args []string, stdout io.Writer) error {
	fset := flag.NewFlagSet("potluckd play", flag.ContinueOnError)
	client := originFlags(fset)
	trackID := fset.String("track", "", "ID of the track to play (required; see potluckd ls)")
	sinkFlag := fset.String("sink", "null", "where the audio goes: null (discarded in real time) or wav:FILE (written to FILE in real time)")
	seek := fset.Float64("seek", 0, "start this many seconds into the track")
	speed := fset.Float64("speed", 1, "play this many times faster than real time")
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
	if *seek < 0 || *speed <= 0 {
		return usageError("--seek must be at least 0 and --speed above 0")
	}
	var inner player.Sink
	switch {
	case *sinkFlag == "null":
	case strings.HasPrefix(*sinkFlag, "wav:") && len(*sinkFlag) > 4:
		f, err := os.Create((*sinkFlag)[4:])
		if err != nil {
			return err
		}
		inner = player.NewWAVSink(f)
	default:
		return usageError("--sink %q: want null or wav:FILE", *sinkFlag)
	}
	var sink *player.PacedSink
	if inner == nil {
		sink = player.NewNullSink(*speed)
	} else {
		sink = player.Paced(inner, *speed, 0)
	}
	defer sink.Close()

	start := time.Now()
	n, err := startNode(ctx, node, c, log, func(cfg *swarm.Config) { cfg.NoAnnounce = true })
	if err != nil {
		return err
	}
	defer n.Close()
	ended := make(chan player.PlayStats, 1)
	p, err := player.New(ctx, player.Config{
		Sink:           sink,
		Opener:         nodeconf.Opener(n.Node, nil),
		PrefetchBefore: -1,
		OnEvent: func(ev player.Event) {
			if ev.Kind == player.TrackEnded {
				select {
				case ended <- ev.Stats:
				default:
				}
			}
		},
	})
	if err != nil {
		return err
	}
	defer p.Close()
	if err := p.SetQueue([]track.ID{id}, -1); err != nil {
		return err
	}
	if err := p.PlayAt(0, time.Duration(*seek*float64(time.Second))); err != nil {
		return err
	}
	var st player.PlayStats
	select {
	case st = <-ended:
	case <-p.Done(): // interrupted: the play ends as skipped
		st = <-ended
	}
	p.Close()
	sinkErr := sink.Close()
	out := playStats{
		Track:          id.String(),
		StartLatencyMS: st.StartLatency.Milliseconds(),
		Underruns:      st.Underruns,
		UnderrunMS:     st.UnderrunTime.Milliseconds(),
		FromCache:      st.Swarm.FromCache,
		FromPeers:      st.Swarm.FromPeers,
		FromOrigin:     st.Swarm.FromOrigin,
		DurationMS:     st.Played.Milliseconds(),
		Peers:          st.Swarm.Peers,
		SeekMS:         st.SeekLatency.Milliseconds(),
		ElapsedMS:      time.Since(start).Milliseconds(),
		Completed:      st.Err == nil && !st.Skipped,
	}
	if st.Err != nil {
		out.Error = st.Err.Error()
	}
	if err := json.NewEncoder(stdout).Encode(out); err != nil {
		return err
	}
	switch {
	case st.Err != nil:
		return st.Err
	case sinkErr != nil:
		return fmt.Errorf("closing the sink: %w", sinkErr)
	case ctx.Err() != nil && !errors.Is(ctx.Err(), context.Canceled):
		return ctx.Err()
	}
	return nil
}
