package origin

import (
	"context"
	"net"
	"sync"
)

// endpoints picks the address a Client's requests go to, from the origin
// URL's addresses and, for a host name with several addresses, each of
// those in turn. It sticks to one until a request to it fails (fail),
// then moves to the next, wrapping around.
type endpoints struct {
	addrs   []string // host:port, from the URL
	resolve func(ctx context.Context, host string) ([]string, error)

	mu  sync.Mutex
	cur int      // index in addrs
	ips []string // addrs[cur] resolved to several ip:port; nil: addrs[cur] as is
	ip  int      // index in ips
	res bool     // addrs[cur] has been resolved
	gen uint64   // counts moves, so that concurrent failures move once
}

func newEndpoints(addrs []string) *endpoints {
	return &endpoints{addrs: addrs, resolve: net.DefaultResolver.LookupHost}
}

// current returns the address to send to now and the generation to pass
// to fail. A name that resolves to one address (or does not resolve) is
// returned as is, so the HTTP transports resolve and report it.
func (e *endpoints) current(ctx context.Context) (string, uint64) {
	e.mu.Lock()
	if e.res || len(e.addrs) == 0 {
		defer e.mu.Unlock()
		return e.targetLocked(), e.gen
	}
	addr, gen := e.addrs[e.cur], e.gen
	e.mu.Unlock()

	var ips []string
	if host, port, err := net.SplitHostPort(addr); err == nil && net.ParseIP(host) == nil {
		if found, err := e.resolve(ctx, host); err == nil && len(found) > 1 {
			for _, ip := range found {
				ips = append(ips, net.JoinHostPort(ip, port))
			}
		}
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.gen == gen && !e.res {
		e.ips, e.ip, e.res = ips, 0, true
	}
	return e.targetLocked(), e.gen
}

func (e *endpoints) targetLocked() string {
	if len(e.addrs) == 0 {
		return ""
	}
	if e.res && len(e.ips) > 0 {
		return e.ips[e.ip]
	}
	return e.addrs[e.cur]
}

// count is how many addresses one request may try: every address of the
// URL, and every resolved address of the current one.
func (e *endpoints) count() int {
	e.mu.Lock()
	defer e.mu.Unlock()
	return len(e.addrs) - 1 + max(1, len(e.ips))
}

// fail moves past the address current returned with gen, unless another
// failure moved already. It reports whether it moved to another address.
func (e *endpoints) fail(gen uint64) bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	if gen != e.gen {
		return true // moved already: the next try goes elsewhere
	}
	before := e.targetLocked()
	e.gen++
	if e.ip+1 < len(e.ips) {
		e.ip++
	} else {
		e.cur = (e.cur + 1) % len(e.addrs)
		e.ips, e.ip, e.res = nil, 0, false // resolved again when used
	}
	return e.targetLocked() != before || !e.res
}
