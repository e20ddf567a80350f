package sim

import (
	"context"
	"encoding/json"
	"os"
	"testing"
	"testing/synctest"
)

// TestVirtualRun runs one benchmark run in virtual time, where the
// machine's CPU does not count, and writes its report as JSON: the runs
// of docs/benchmark.md's tuning record. It runs only when asked:
//
//	POTLUCK_SIM_RUN=out.json go test -run TestVirtualRun -timeout 1h -v ./internal/sim/
//
// with the default configuration, changed as envConfig says.
func TestVirtualRun(t *testing.T) {
	out := os.Getenv("POTLUCK_SIM_RUN")
	if out == "" {
		t.Skip("set POTLUCK_SIM_RUN=FILE to run the benchmark once in virtual time")
	}
	cfg := envConfig(t)
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
