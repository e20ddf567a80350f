package sim

import (
	"context"
	"encoding/json"
	"os"
	"strconv"
	"testing"
	"testing/synctest"
	"time"
)

// TestVirtualRun runs one benchmark run in virtual time, where the
// machine's CPU does not count, and writes its report as JSON: the runs
// of docs/benchmark.md's tuning record. It runs only when asked:
//
//	POTLUCK_SIM_RUN=out.json go test -run TestVirtualRun -timeout 1h -v ./internal/sim/
//
// with the default configuration, changed by POTLUCK_SIM_PEERS (N),
// POTLUCK_SIM_DURATION, POTLUCK_SIM_MODE (p2p or client-server), POTLUCK_SIM_HISTORY,
// POTLUCK_SIM_TRACK_LENGTH and POTLUCK_SIM_SINK_BUFFER, which mean what
// potluckd sim's flags of those names mean (0: none).
func TestVirtualRun(t *testing.T) {
	out := os.Getenv("POTLUCK_SIM_RUN")
	if out == "" {
		t.Skip("set POTLUCK_SIM_RUN=FILE to run the benchmark once in virtual time")
	}
	cfg := Config{}
	env := func(name string, set func(string) error) {
		if v := os.Getenv(name); v != "" {
			if err := set(v); err != nil {
				t.Fatalf("%s=%q: %v", name, v, err)
			}
		}
	}
	orNone := func(v int64) int64 {
		if v == 0 {
			return -1
		}
		return v
	}
	env("POTLUCK_SIM_PEERS", func(v string) (err error) { cfg.Listeners, err = strconv.Atoi(v); return })
	env("POTLUCK_SIM_DURATION", func(v string) (err error) { cfg.Duration, err = time.ParseDuration(v); return })
	env("POTLUCK_SIM_MODE", func(v string) error { cfg.Mode = Mode(v); return nil })
	env("POTLUCK_SIM_HISTORY", func(v string) error {
		n, err := strconv.Atoi(v)
		cfg.Workload.History = int(orNone(int64(n)))
		return err
	})
	env("POTLUCK_SIM_TRACK_LENGTH", func(v string) error {
		d, err := time.ParseDuration(v)
		cfg.TrackLength = time.Duration(orNone(int64(d)))
		return err
	})
	env("POTLUCK_SIM_SINK_BUFFER", func(v string) (err error) { cfg.SinkBuffer, err = time.ParseDuration(v); return })
	synctest.Test(t, func(t *testing.T) {
		rep, _, err := Run(context.Background(), cfg)
		if err != nil {
			t.Error(err)
		}
		if rep == nil {
			return
		}
		b, err := json.MarshalIndent(rep, "", "  ")
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(out, append(b, '\n'), 0o644); err != nil {
			t.Fatal(err)
		}
		t.Logf("\n%s", Compare(rep, nil).Markdown())
	})
}
