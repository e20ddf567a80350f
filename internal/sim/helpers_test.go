package sim

import (
	"bytes"
	"crypto/ed25519"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/potluckfm/potluck/cache"
)

func testKey() ed25519.PrivateKey {
	_, key, _ := ed25519.GenerateKey(nil)
	return key
}

func bytesReader(b []byte) io.ReadSeeker { return bytes.NewReader(b) }

func ioCopyDiscard(r io.Reader) (int64, error) { return io.Copy(io.Discard, r) }

// envConfig is the configuration of the on-demand runs (TestVirtualRun,
// TestScaling): the default, changed by POTLUCK_SIM_PEERS (N),
// POTLUCK_SIM_DURATION, POTLUCK_SIM_MODE (p2p or client-server),
// POTLUCK_SIM_HISTORY, POTLUCK_SIM_TRACK_LENGTH and
// POTLUCK_SIM_SINK_BUFFER, which mean what potluckd sim's flags of those
// names mean (0: none), POTLUCK_SIM_ORIGIN_DOWN_AT (--origin-down-at),
// POTLUCK_SIM_DHT=1 (--dht), POTLUCK_SIM_NAT (--nat, 0: none),
// POTLUCK_SIM_NAT_TRAVERSAL=0 (--nat-traversal=false) and
// POTLUCK_SIM_LITE=1 (the lite library).
func envConfig(t *testing.T) Config {
	t.Helper()
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
	env("POTLUCK_SIM_TRACKS", func(v string) (err error) { cfg.Tracks, err = strconv.Atoi(v); return })
	env("POTLUCK_SIM_CACHE_SIZE", func(v string) (err error) { cfg.Workload.CacheSize, err = cache.ParseSize(v); return })
	env("POTLUCK_SIM_PLAYS", func(v string) (err error) { cfg.Plays, err = strconv.Atoi(v); return })
	env("POTLUCK_SIM_RESTART", func(v string) (err error) { cfg.Workload.Restart, err = strconv.ParseFloat(v, 64); return })
	env("POTLUCK_SIM_ORIGIN_DOWN_AT", func(v string) (err error) { cfg.OriginDownAt, err = time.ParseDuration(v); return })
	env("POTLUCK_SIM_DHT", func(v string) (err error) { cfg.DHT, err = strconv.ParseBool(v); return })
	env("POTLUCK_SIM_NAT", func(v string) error {
		f, err := strconv.ParseFloat(v, 64)
		cfg.Net.NAT = float64(orNone(int64(f*1e6))) / 1e6
		return err
	})
	env("POTLUCK_SIM_NAT_TRAVERSAL", func(v string) (err error) {
		on, err := strconv.ParseBool(v)
		cfg.NoTraversal = !on
		return err
	})
	env("POTLUCK_SIM_LOSS", func(v string) (err error) { cfg.Net.Loss, err = strconv.ParseFloat(v, 64); return })
	if os.Getenv("POTLUCK_SIM_LITE") != "" {
		cfg.Library = LiteLibrary()
	}
	withFrameDecode(t, &cfg)
	return cfg
}

// withFrameDecode measures one frame's decoding time for cfg, outside
// any synctest bubble.
func withFrameDecode(t *testing.T, cfg *Config) {
	t.Helper()
	d, err := MeasureFrameDecode(*cfg)
	if err != nil {
		t.Fatal(err)
	}
	cfg.FrameDecode = d
}

// envSizes returns the swarm sizes POTLUCK_SIM_SIZES lists (comma
// separated), or def if it is not set.
func envSizes(t *testing.T, def []int) []int {
	t.Helper()
	s := os.Getenv("POTLUCK_SIM_SIZES")
	if s == "" {
		return def
	}
	var sizes []int
	for f := range strings.SplitSeq(s, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || n < 1 {
			t.Fatalf("POTLUCK_SIM_SIZES=%q: want swarm sizes, comma separated", s)
		}
		sizes = append(sizes, n)
	}
	return sizes
}

// envOutDir returns the directory the environment variable name gives for
// an on-demand run's output (relative to the repository root), or skips
// the test, saying to set it to do what.
func envOutDir(t *testing.T, name, what string) string {
	t.Helper()
	dir := os.Getenv(name)
	if dir == "" {
		t.Skipf("set %s=DIR %s", name, what)
	}
	if !filepath.IsAbs(dir) {
		dir = filepath.Join("..", "..", dir)
	}
	return dir
}
