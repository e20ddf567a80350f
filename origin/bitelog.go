package origin

import (
	"log/slog"
	"sync"
	"time"
)

// biteLog writes one clear line the first time a limit bites for an
// address, then at most one a minute for that address and limit.
type biteLog struct {
	l     *slog.Logger
	every time.Duration

	mu   sync.Mutex
	last map[string]time.Time
}

const maxBiteKeys = 4096

func newBiteLog(log *slog.Logger) *biteLog {
	return &biteLog{l: log, every: time.Minute, last: map[string]time.Time{}}
}

func (b *biteLog) log(limit, addr, transport string, args ...any) {
	key := limit + "|" + addr + "|" + transport
	now := time.Now()
	b.mu.Lock()
	if t, ok := b.last[key]; ok && now.Sub(t) < b.every {
		b.mu.Unlock()
		return
	}
	if len(b.last) >= maxBiteKeys {
		clear(b.last) // a flood of addresses: forget, rather than grow
	}
	b.last[key] = now
	b.mu.Unlock()
	attrs := append([]any{"limit", limit, "transport", transport}, args...)
	if addr != "" {
		attrs = append(attrs, "addr", addr)
	}
	b.l.Warn("limit reached; refusing what is past it (logged once a minute per address)", attrs...)
}
