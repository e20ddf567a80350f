package sim

import (
	"context"
	"encoding/json"
	"os"
	"testing"
	"testing/synctest"
	"time"
)

// TestStutterRun is a run sized by its plays, in virtual time, for a
// stutter figure with a tight bound: churn, a share of listeners whose app
// restarts mid-play (20% unless POTLUCK_SIM_RESTART says otherwise), and
// no end but the plays (unless POTLUCK_SIM_DURATION sets one). It runs
// only when asked:
//
//	POTLUCK_SIM_PLAYS=5000 POTLUCK_SIM_LITE=1 POTLUCK_SIM_TRACK_LENGTH=0 POTLUCK_SIM_HISTORY=0 \
//	  go test -run TestStutterRun -timeout 2h -v ./internal/sim/
//
// with the default configuration otherwise, changed as envConfig says. It
// writes the report to POTLUCK_SIM_RUN (default stutter.json), logs the
// table, every stutter's record and the wall time, and fails if a play
// stuttered without a record of why.
func TestStutterRun(t *testing.T) {
	if os.Getenv("POTLUCK_SIM_PLAYS") == "" {
		t.Skip("set POTLUCK_SIM_PLAYS=N to run until N plays started and ended, in virtual time")
	}
	cfg := envConfig(t)
	if os.Getenv("POTLUCK_SIM_RESTART") == "" {
		cfg.Workload.Restart = 0.2
	}
	if os.Getenv("POTLUCK_SIM_DURATION") == "" {
		cfg.Duration = 100 * time.Hour // the plays end it
	}
	out := os.Getenv("POTLUCK_SIM_RUN")
	if out == "" {
		out = "stutter.json"
	}
	start := time.Now()
	synctest.Test(t, func(t *testing.T) {
		rep, plays, err := Run(context.Background(), cfg)
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
		var resumed int
		for _, p := range plays {
			if p.Resumed && p.Started() {
				resumed++
			}
			if p.Stats.Underruns > 0 && len(p.UnderrunEvents) == 0 {
				t.Errorf("listener %d, track %s: %d underruns and no record of when", p.Listener, p.Track, p.Stats.Underruns)
			}
		}
		t.Logf("%d plays started (%d restored after a restart), %d with stutter, 95%% upper bound %.4f%%; %s simulated",
			rep.PlaysStarted, resumed, rep.PlaysStuttered, 100*rep.StutterUpper95,
			time.Duration(rep.DurationS*float64(time.Second)).Round(time.Second))
		if rep.PlaysStarted < cfg.Plays {
			t.Errorf("%d plays started, want %d", rep.PlaysStarted, cfg.Plays)
		}
		if rep.Restarts == 0 && cfg.Workload.Restart > 0 {
			t.Error("no app restarted")
		}
	})
	t.Logf("wall time %s", time.Since(start).Round(time.Second))
}
