package sim

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"testing"
	"testing/synctest"
	"time"
)

// TestScaling measures how the origin's egress grows with the swarm: both
// modes at 10, 25, 50 and 100 listeners, in virtual time (100 listeners
// decoding MP3 in real time do not fit on two cores). It takes about half
// an hour of wall time on two cores, so it runs only when asked:
//
//	POTLUCK_SIM_SCALING=docs go test -run TestScaling -timeout 3h -v ./internal/sim/
//
// writes DIR/benchmark-scaling.{png,md,json} (DIR relative to the
// repository root). POTLUCK_SIM_SIZES (e.g. "10,25") and the settings of
// envConfig (but the number of listeners and the mode) change the runs;
// POTLUCK_SIM_REPLOT=1 only redraws the table and chart from DIR's JSON.
func TestScaling(t *testing.T) {
	dir := envOutDir(t, "POTLUCK_SIM_SCALING", "to measure origin egress by swarm size")
	if os.Getenv("POTLUCK_SIM_REPLOT") != "" {
		b, err := os.ReadFile(filepath.Join(dir, "benchmark-scaling.json"))
		if err != nil {
			t.Fatal(err)
		}
		var points []ScalePoint
		if err := json.Unmarshal(b, &points); err != nil {
			t.Fatal(err)
		}
		writeScaling(t, dir, points)
		return
	}
	sizes := envSizes(t, []int{10, 25, 50, 100})
	cfg := envConfig(t)
	var points []ScalePoint
	for _, n := range sizes {
		pt := ScalePoint{Listeners: n}
		// Both modes at once, each in its own bubble, to use both cores.
		var wg sync.WaitGroup
		for _, mode := range []Mode{ModeP2P, ModeClientServer} {
			wg.Go(func() { runScalePoint(t, cfg, &pt, mode, nil) })
		}
		wg.Wait()
		if pt.P2P == nil || pt.Baseline == nil {
			t.FailNow()
		}
		points = append(points, pt)
	}
	writeScaling(t, dir, points)
}

// writeScaling writes the table, chart and JSON of a scaling run to dir.
func writeScaling(t *testing.T, dir string, points []ScalePoint) {
	table := ScalingMarkdown(points)
	for _, pt := range points {
		table += fmt.Sprintf("\n### %d listeners (virtual time)\n\n%s", pt.Listeners, Compare(pt.P2P, pt.Baseline).Markdown())
	}
	t.Logf("\n%s", table)
	var png bytes.Buffer
	if err := WriteScalingChart(&png, points); err != nil {
		t.Fatal(err)
	}
	for _, pt := range points {
		pt.P2P.Timeline, pt.Baseline.Timeline = nil, nil
	}
	js, _ := json.MarshalIndent(points, "", "  ")
	for name, b := range map[string][]byte{
		"benchmark-scaling.png":  png.Bytes(),
		"benchmark-scaling.md":   []byte(table),
		"benchmark-scaling.json": append(js, '\n'),
	} {
		if err := os.WriteFile(filepath.Join(dir, name), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// runScalePoint runs cfg with pt.Listeners listeners in mode, in a
// subtest of its own and in virtual time, and sets pt's report for the
// mode (left nil if the run failed). during, if not nil, is started
// beside the run, in its bubble, with the run's configuration.
func runScalePoint(t *testing.T, cfg Config, pt *ScalePoint, mode Mode, during func(t *testing.T, c Config)) {
	t.Run(strconv.Itoa(pt.Listeners)+"-"+string(mode), func(t *testing.T) {
		start := time.Now()
		synctest.Test(t, func(t *testing.T) {
			c := cfg
			c.Listeners, c.Mode = pt.Listeners, mode
			if during != nil {
				go during(t, c)
			}
			rep, _, err := Run(context.Background(), c)
			if err != nil {
				t.Fatal(err)
			}
			if mode == ModeP2P {
				pt.P2P = rep
			} else {
				pt.Baseline = rep
			}
		})
		t.Logf("%d listeners, %s: %s of wall time", pt.Listeners, mode, time.Since(start).Round(time.Second))
	})
}
