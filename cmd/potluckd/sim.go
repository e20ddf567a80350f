package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/potluckfm/potluck/cache"
	"github.com/potluckfm/potluck/internal/sim"
	"github.com/potluckfm/potluck/swarm"
)

// runSim runs the swarm benchmark (internal/sim) in real time and prints
// its figures as a Markdown table; docs/benchmark.md explains them.
func runSim(ctx context.Context, args []string, stdout io.Writer) error {
	def := sim.Defaults()
	fset := flag.NewFlagSet("potluckd sim", flag.ContinueOnError)
	peers := fset.Int("peers", def.Listeners, "number of listener nodes (N)")
	tracks := fset.Int("tracks", def.Tracks, "catalogue size (M): the library repeated under distinct track IDs")
	trackLength := fset.Duration("track-length", def.TrackLength, "join the library's files into tracks at least this long; 0 plays each file as it is")
	history := fset.Int("history", def.Workload.History, "plays each listener made before the run, whose tracks start in its cache; 0 starts every cache empty")
	head := fset.Duration("head", 0, "the scheduler's head: audio asked from the origin as a play starts (0: the swarm's default)")
	emergency := fset.Duration("emergency", 0, "the scheduler's emergency threshold: a chunk due sooner goes to the origin (0: the swarm's default)")
	sinkBuffer := fset.Duration("sink-buffer", def.SinkBuffer, "audio each listener's sink holds, as a sound device does (the default is the desktop app's)")
	duration := fset.Duration("duration", def.Duration, "simulated time the run lasts")
	plays := fset.Int("plays", 0, "end the run once this many plays started and ended (0: no limit; --duration still ends it)")
	seed := fset.Uint64("seed", def.Seed, "seed of the workload, link profiles and loss")
	jsonOut := fset.String("json", "", "write the figures as JSON to `FILE`")
	chartOut := fset.String("chart", "", "write a PNG chart to `FILE` (traffic over time; with --scale, origin egress by swarm size)")
	baseline := fset.String("baseline", "", "also run the same workload as `client-server` (peer-to-peer off) and report both and their ratios")
	speed := fset.Float64("speed", def.Speed, "run the clock this many times faster than real time (link rates scale with it; approximate above 1)")
	lite := fset.Bool("lite", false, "play silent 16 kHz mono tracks instead of the demo library: the same bytes per second, a third of the decoding CPU")
	library := fset.String("library", "", "build the catalogue from the MP3 files in `DIR` instead of the embedded demo library")
	originDown := fset.Duration("origin-down-at", 0, "the origin stops answering for good at this point of the run (simulated); listeners run the DHT, each joining through one or two others (0: never)")
	dhtOn := fset.Bool("dht", false, "run every listener's DHT, each joining through one or two others (implied by --origin-down-at)")
	scale := fset.String("scale", "", "run both modes at each of these comma-separated swarm sizes (e.g. 10,25,50,100) and report origin egress by size")
	n := def.Net
	rttMin := fset.Duration("rtt-min", n.RTTMin, "least round-trip time from a listener to the origin")
	rttMax := fset.Duration("rtt-max", n.RTTMax, "most round-trip time from a listener to the origin")
	downMin := fset.Float64("down-min", float64(n.DownMin)/sim.Mbps, "least listener downlink, Mbit/s")
	downMax := fset.Float64("down-max", float64(n.DownMax)/sim.Mbps, "most listener downlink, Mbit/s")
	upMin := fset.Float64("up-min", float64(n.UpMin)/sim.Mbps, "least listener uplink, Mbit/s")
	upMax := fset.Float64("up-max", float64(n.UpMax)/sim.Mbps, "most listener uplink, Mbit/s")
	loss := fset.Float64("loss", n.Loss, "share of packets lost on each listener link, each way")
	jitter := fset.Duration("jitter", n.Jitter, "most extra one-way delay per packet (no reordering)")
	originRate := fset.Float64("origin-rate", float64(n.OriginRate)/sim.Mbps, "origin link rate, Mbit/s")
	originRTT := fset.Duration("origin-rtt", n.OriginRTT, "the origin's own share of round-trip time")
	natShare := fset.Float64("nat", n.NAT, "share of listeners behind a home router's NAT, which lets in only what comes from addresses they sent to (0: none; the default is a measured share, docs/benchmark.md)")
	natSymmetric := fset.Float64("nat-symmetric", n.NATSymmetric, "share of those NATs that map each destination to its own port (symmetric: punching does not get through)")
	natTraversal := fset.Bool("nat-traversal", true, "listeners punch holes through their NATs; false reaches a NATed listener only if it dialled first")
	natCompare := fset.Bool("nat-compare", false, "run the workload three ways (behind NATs with traversal, without traversal, and without NATs) and report them side by side")
	w := def.Workload
	zipf := fset.Float64("zipf", w.Zipf, "Zipf exponent of track popularity (> 1)")
	skip := fset.Float64("skip", w.Skip, "share of plays skipped part-way")
	seek := fset.Float64("seek", w.Seek, "share of plays with a seek")
	session := fset.Duration("session", w.Session, "mean time a listener stays online (churn)")
	away := fset.Duration("away", w.Away, "mean time a listener stays away before it comes back; 0 turns churn off")
	restart := fset.Float64("restart", w.Restart, "share of listeners whose app restarts mid-play: they leave mid-play and come back soon with their cache and session")
	cacheSize := fset.String("cache-size", "1GiB", "each listener's cache limit")
	logger := logFlags(fset)
	fset.Usage = func() {
		fmt.Fprintln(fset.Output(), "usage: potluckd sim [flags]\n\nRuns one origin and N listeners in this process over emulated links and reports\nstart latency, stutter and where the bytes came from (docs/benchmark.md).\n\nflags:")
		fset.PrintDefaults()
	}
	if err := parseFlags(fset, args); err != nil {
		return err
	}
	log, err := logger()
	if err != nil {
		return err
	}
	if *baseline != "" && *baseline != "client-server" && *baseline != "none" {
		return usageError("--baseline %q: the only baseline is client-server", *baseline)
	}
	if *natShare < 0 || *natShare > 1 || *natSymmetric < 0 || *natSymmetric > 1 {
		return usageError("--nat %g, --nat-symmetric %g: want shares from 0 to 1", *natShare, *natSymmetric)
	}
	if *natCompare && (*scale != "" || *baseline == "client-server") {
		return usageError("--nat-compare: not with --scale or --baseline")
	}
	if *originDown < 0 {
		return usageError("--origin-down-at %s: want 0 (never) or more", *originDown)
	}
	limit, err := cache.ParseSize(*cacheSize)
	if err != nil {
		return usageError("--cache-size: %v", err)
	}
	mbps := func(v float64) int { return int(v * sim.Mbps) }
	// The sim takes zero as "default"; a flag set to zero means none.
	none := func(v float64) float64 {
		if v == 0 {
			return -1
		}
		return v
	}
	cfg := sim.Config{
		Listeners:    *peers,
		Tracks:       *tracks,
		TrackLength:  time.Duration(none(float64(*trackLength))),
		Duration:     *duration,
		Plays:        *plays,
		Seed:         *seed,
		Speed:        *speed,
		OriginDownAt: *originDown,
		DHT:          *dhtOn,
		SinkBuffer:   *sinkBuffer,
		Scheduler:    swarm.SchedulerConfig{Head: *head, Emergency: *emergency},
		Net: sim.NetProfile{
			RTTMin: *rttMin, RTTMax: *rttMax,
			DownMin: mbps(*downMin), DownMax: mbps(*downMax),
			UpMin: mbps(*upMin), UpMax: mbps(*upMax),
			Loss:         none(*loss),
			Jitter:       time.Duration(none(float64(*jitter))),
			OriginRate:   mbps(*originRate),
			OriginRTT:    *originRTT,
			NAT:          none(*natShare),
			NATSymmetric: none(*natSymmetric),
		},
		NoTraversal: !*natTraversal,
		Workload: sim.Workload{
			Zipf:      *zipf,
			Skip:      none(*skip),
			Seek:      none(*seek),
			Session:   *session,
			Away:      time.Duration(none(float64(*away))),
			Restart:   *restart,
			CacheSize: limit,
			History:   int(none(float64(*history))),
		},
		Progress: os.Stderr,
		Logger:   log,
	}
	levelSet := false
	fset.Visit(func(f *flag.Flag) { levelSet = levelSet || f.Name == "log-level" })
	if !levelSet {
		// Fifty nodes at info level drown the progress line.
		cfg.Logger = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	}
	switch {
	case *lite && *library != "":
		return usageError("--lite and --library: choose one")
	case *lite:
		cfg.Library = sim.LiteLibrary()
	case *library != "":
		cfg.Library = os.DirFS(*library)
	}

	if *scale != "" {
		return runSimScale(ctx, cfg, *scale, *jsonOut, *chartOut, stdout)
	}
	if *natCompare {
		return runSimNATCompare(ctx, cfg, *jsonOut, stdout)
	}
	// A run that ends early (interrupted, or a node failed to start)
	// still reports what it measured, then fails.
	p2p, _, runErr := sim.Run(ctx, cfg)
	if p2p == nil {
		return runErr
	}
	var base *sim.Report
	if *baseline == "client-server" && runErr == nil {
		cfg.Mode = sim.ModeClientServer
		base, _, runErr = sim.Run(ctx, cfg)
	}
	cmp := sim.Compare(p2p, base)
	if *jsonOut != "" {
		if err := writeJSONFile(*jsonOut, cmp); err != nil {
			return err
		}
	}
	if *chartOut != "" {
		var buf bytes.Buffer
		if err := sim.WriteTimelineChart(&buf, p2p, base); err != nil {
			return fmt.Errorf("chart: %w", err)
		}
		if err := os.WriteFile(*chartOut, buf.Bytes(), 0o644); err != nil {
			return err
		}
	}
	if _, err := io.WriteString(stdout, cmp.Markdown()); err != nil {
		return err
	}
	return runErr
}

func runSimScale(ctx context.Context, cfg sim.Config, list, jsonOut, chartOut string, stdout io.Writer) error {
	var sizes []int
	for f := range strings.SplitSeq(list, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || n < 1 {
			return usageError("--scale %q: want comma-separated numbers of listeners", list)
		}
		sizes = append(sizes, n)
	}
	points, err := sim.Scale(ctx, cfg, sizes)
	if err != nil {
		return err
	}
	if jsonOut != "" {
		if err := writeJSONFile(jsonOut, points); err != nil {
			return err
		}
	}
	if chartOut != "" {
		var buf bytes.Buffer
		if err := sim.WriteScalingChart(&buf, points); err != nil {
			return fmt.Errorf("chart: %w", err)
		}
		if err := os.WriteFile(chartOut, buf.Bytes(), 0o644); err != nil {
			return err
		}
	}
	_, err = io.WriteString(stdout, sim.ScalingMarkdown(points))
	return err
}

// runSimNATCompare runs cfg behind NATs with traversal, without
// traversal and without NATs, one after the other, and reports them side
// by side.
func runSimNATCompare(ctx context.Context, cfg sim.Config, jsonOut string, stdout io.Writer) error {
	trav, noTrav, noNAT := sim.NATConfigs(cfg)
	cmp := &sim.NATComparison{}
	var errs []error
	for _, run := range []struct {
		cfg sim.Config
		rep **sim.Report
	}{{trav, &cmp.Traversal}, {noTrav, &cmp.NoTraversal}, {noNAT, &cmp.NoNAT}} {
		rep, _, err := sim.Run(ctx, run.cfg)
		*run.rep = rep
		if err != nil {
			errs = append(errs, err)
		}
		if rep == nil || ctx.Err() != nil {
			break
		}
	}
	if jsonOut != "" {
		if err := writeJSONFile(jsonOut, cmp); err != nil {
			return err
		}
	}
	if _, err := io.WriteString(stdout, cmp.Markdown()); err != nil {
		return err
	}
	return errors.Join(errs...)
}

func writeJSONFile(path string, v any) error {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(path, append(b, '\n'), 0o644)
}
