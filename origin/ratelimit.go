package origin

import (
	"net/netip"
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// maxRateKeys bounds the sources a rateTable remembers; past it, the
// sources with full buckets are forgotten first, and while it is still
// full the newcomers share one bucket.
const maxRateKeys = 100_000

// rateTable is a token bucket per source: per address for IPv4, per /64
// for IPv6 (where one host holds the whole /64).
type rateTable struct {
	limit  rate.Limit
	burst  int
	reason string

	mu        sync.Mutex
	m         map[netip.Addr]*rate.Limiter
	overflow  *rate.Limiter
	lastSweep time.Time // a full table is swept at most once a second
}

func newRateTable(perSecond float64, burst int, reason string) *rateTable {
	l := rate.Limit(perSecond)
	if perSecond < 0 {
		l = rate.Inf
	}
	return &rateTable{limit: l, burst: burst, reason: reason, m: map[netip.Addr]*rate.Limiter{}, overflow: rate.NewLimiter(l, burst)}
}

func rateKey(ip netip.Addr) netip.Addr {
	ip = ip.Unmap()
	if ip.Is6() {
		p, _ := ip.Prefix(64)
		return p.Addr()
	}
	return ip
}

func (rt *rateTable) allow(src netip.Addr) error {
	if rt.limit == rate.Inf {
		return nil
	}
	k := rateKey(src)
	rt.mu.Lock()
	l := rt.m[k]
	if l == nil {
		if now := time.Now(); len(rt.m) >= maxRateKeys && now.Sub(rt.lastSweep) >= time.Second {
			rt.lastSweep = now
			rt.sweepLocked()
		}
		if len(rt.m) >= maxRateKeys {
			l = rt.overflow
		} else {
			l = rate.NewLimiter(rt.limit, rt.burst)
			rt.m[k] = l
		}
	}
	rt.mu.Unlock()
	r := l.Reserve()
	if d := r.Delay(); !r.OK() || d > 0 {
		r.Cancel()
		return &LimitError{Reason: rt.reason, RetryAfter: max(d, time.Second)}
	}
	return nil
}

// sweep forgets the sources whose buckets are full again: they are as if
// never seen.
func (rt *rateTable) sweep() {
	rt.mu.Lock()
	rt.sweepLocked()
	rt.mu.Unlock()
}

func (rt *rateTable) sweepLocked() {
	now := time.Now()
	for k, l := range rt.m {
		if l.TokensAt(now) >= float64(rt.burst) {
			delete(rt.m, k)
		}
	}
}
