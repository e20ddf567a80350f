package cache

import (
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
)

// MaxDefaultLimit caps the size limit DefaultLimit picks.
const MaxDefaultLimit = 10 << 30

// fallbackLimit is the limit used where the free disk cannot be measured.
const fallbackLimit = 1 << 30

// DefaultLimit returns the size limit a cache in dir gets when none is set:
// 10% of the space free to unprivileged users on dir's file system, at most
// MaxDefaultLimit. OpenDisk counts the bytes the cache already holds as free,
// so that the limit does not shrink as the cache fills.
func DefaultLimit(dir string) (int64, error) { return defaultLimit(dir, 0) }

func defaultLimit(dir string, held int64) (int64, error) {
	free, err := freeBytes(dir)
	if err != nil {
		return 0, fmt.Errorf("cache: free space of %s: %w", dir, err)
	}
	return min((free+held)/10, MaxDefaultLimit), nil
}

var units = map[string]int64{
	"": 1, "b": 1,
	"k": 1 << 10, "ki": 1 << 10, "kib": 1 << 10, "kb": 1e3,
	"m": 1 << 20, "mi": 1 << 20, "mib": 1 << 20, "mb": 1e6,
	"g": 1 << 30, "gi": 1 << 30, "gib": 1 << 30, "gb": 1e9,
	"t": 1 << 40, "ti": 1 << 40, "tib": 1 << 40, "tb": 1e12,
}

// ParseSize parses a byte count such as "1500000", "512MiB", "2GB", "10G" or
// "1.5 GiB", as the --cache-size flag takes it. Units are case-insensitive:
// KiB, MiB, GiB, TiB and the bare K, M, G, T are powers of 1024 (as in dd,
// Docker and systemd); KB, MB, GB, TB are powers of 1000; B or no unit is
// bytes.
func ParseSize(s string) (int64, error) {
	bad := func(why string) (int64, error) {
		return 0, fmt.Errorf("invalid size %q: %s", s, why)
	}
	t := strings.TrimSpace(s)
	n := strings.IndexFunc(t, func(r rune) bool { return (r < '0' || r > '9') && r != '.' })
	if n < 0 {
		n = len(t)
	}
	num, unit := t[:n], strings.ToLower(strings.TrimSpace(t[n:]))
	if num == "" {
		return bad("want a number with an optional unit, such as 512MiB, 2GB or 10G")
	}
	mult, ok := units[unit]
	if !ok {
		return bad(fmt.Sprintf("unknown unit %q (want B, KiB, MiB, GiB, TiB, KB, MB, GB, TB, K, M, G or T)", t[n:]))
	}
	if !strings.Contains(num, ".") {
		v, err := strconv.ParseInt(num, 10, 64)
		if errors.Is(err, strconv.ErrRange) || (err == nil && v > math.MaxInt64/mult) {
			return bad("too large")
		}
		if err != nil {
			return bad("not a number")
		}
		return v * mult, nil
	}
	f, err := strconv.ParseFloat(num, 64)
	if err != nil {
		return bad("not a number")
	}
	f = math.Round(f * float64(mult))
	if f >= math.MaxInt64 {
		return bad("too large")
	}
	return int64(f), nil
}
