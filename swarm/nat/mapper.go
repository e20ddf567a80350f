package nat

import (
	"context"
	"errors"
	"fmt"
	"log"
	"net"
	"net/netip"
	"sync"
	"time"

	defaultroute "github.com/jackpal/gateway"
	natpmp "github.com/jackpal/go-nat-pmp"
)

// State is where a PortMapper stands.
type State int

const (
	// StateIdle: not started yet, or closed.
	StateIdle State = iota
	// StateNoGateway: no router answered UPnP or NAT-PMP (or the host has
	// no default route). The mapper looks again every RetryInterval.
	StateNoGateway
	// StateRefused: a router answered but would not map the port.
	StateRefused
	// StateMapped: the port is mapped; Mapping.External is the address
	// the outside world can reach the node at.
	StateMapped
)

func (s State) String() string {
	switch s {
	case StateIdle:
		return "idle"
	case StateNoGateway:
		return "no gateway"
	case StateRefused:
		return "refused"
	case StateMapped:
		return "mapped"
	}
	return fmt.Sprintf("State(%d)", int(s))
}

// Mapping is a PortMapper's state for the app to show.
type Mapping struct {
	State State
	// Method is how the port was mapped ("NAT-PMP", "UPnP
	// WANIPConnection2", ...), or the router that refused.
	Method string
	// External is the external address and port (valid in StateMapped).
	External netip.AddrPort
	// Expires is when the router forgets the mapping unless renewed; zero
	// if it lasts until removed. The mapper renews at half the lease.
	Expires time.Time
	// Err is why the last attempt failed (StateNoGateway, StateRefused).
	Err error
}

// Config configures a PortMapper.
type Config struct {
	// Port is the node's local UDP port to map (required).
	Port int
	// Lease is the lease asked for (default 1 h). Routers may grant less;
	// the mapper renews at half the granted lease.
	Lease time.Duration
	// Description names the mapping in the router's UPnP table (default
	// "Potluck").
	Description string
	// Timeout bounds one search for a gateway and one mapping attempt
	// (default 5 s; the SSDP search alone takes 2 s).
	Timeout time.Duration
	// RetryInterval is how long the mapper waits to look again for a
	// gateway after none answered or one refused (default 5 min).
	RetryInterval time.Duration
	// NoUPnP and NoNATPMP turn a protocol off.
	NoUPnP, NoNATPMP bool
	// Gateway is the NAT-PMP gateway (default: the default route's).
	Gateway netip.Addr
	// Logf logs state changes (default log.Printf).
	Logf func(format string, args ...any)
	// OnChange, if set, is called with the new Mapping after every change,
	// on the mapper's goroutine; it must not block or call Close.
	OnChange func(Mapping)
}

// Errors returned by PortMapper methods.
var (
	ErrStarted = errors.New("nat: port mapper already started")
	ErrClosed  = errors.New("nat: port mapper closed")
	// ErrNoGateway is Mapping.Err when the host has no default route or no
	// router answered.
	ErrNoGateway = errors.New("no default gateway, or it answered neither NAT-PMP nor UPnP")
)

// PortMapper keeps the node's UDP port mapped on the home router, by
// NAT-PMP or UPnP IGD, for as long as it runs. It never fails because no
// router answers: it then reports StateNoGateway and looks again later.
//
// One goroutine, started by Start and ended by Close, owns the mapping:
// it maps the port, renews it at half its lease, looks for a gateway
// again when there is none, and removes the mapping on Close.
type PortMapper struct {
	cfg Config

	mu      sync.Mutex
	m       Mapping
	started bool
	closed  bool

	stop      context.CancelFunc
	wg        sync.WaitGroup
	closeOnce sync.Once

	// discover finds the gateways; tests may replace it.
	discover func(ctx context.Context) []gateway
}

// NewPortMapper returns a PortMapper for cfg; it does nothing until Start.
func NewPortMapper(cfg Config) *PortMapper {
	if cfg.Lease <= 0 {
		cfg.Lease = time.Hour
	}
	if cfg.Description == "" {
		cfg.Description = "Potluck"
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = 5 * time.Second
	}
	if cfg.RetryInterval <= 0 {
		cfg.RetryInterval = 5 * time.Minute
	}
	if cfg.Logf == nil {
		cfg.Logf = log.Printf
	}
	pm := &PortMapper{cfg: cfg}
	pm.discover = pm.discoverGateways
	return pm
}

// Start maps the port: it returns when the first attempt has finished
// (mapped, refused or no gateway; about 2 s when no router answers UPnP,
// at once when the host has no default route) or when ctx ends, whichever
// is first. ctx bounds only the call: the mapper runs on until Close,
// renewing and retrying, whatever ctx does. Start fails only if called
// twice (ErrStarted), after Close (ErrClosed) or without a port; it does
// not fail when no router answers.
func (pm *PortMapper) Start(ctx context.Context) error {
	if pm.cfg.Port <= 0 || pm.cfg.Port > 65535 {
		return fmt.Errorf("nat: bad port %d", pm.cfg.Port)
	}
	pm.mu.Lock()
	if pm.closed {
		pm.mu.Unlock()
		return ErrClosed
	}
	if pm.started {
		pm.mu.Unlock()
		return ErrStarted
	}
	pm.started = true
	runCtx, stop := context.WithCancel(context.Background())
	pm.stop = stop
	first := make(chan struct{})
	pm.wg.Add(1)
	pm.mu.Unlock()
	go func() {
		defer pm.wg.Done()
		pm.run(runCtx, first)
	}()
	select {
	case <-first:
	case <-ctx.Done():
	}
	return nil
}

// Mapping returns the current state. Safe to call from any goroutine.
func (pm *PortMapper) Mapping() Mapping {
	pm.mu.Lock()
	defer pm.mu.Unlock()
	return pm.m
}

// Close removes the mapping from the router (waiting at most Timeout for
// it to answer), stops the mapper's goroutine and waits for it; a NAT-PMP
// request under way is not cancelled, so Close can take a few seconds
// when the router is slow. It may be called more than once, and without
// Start.
func (pm *PortMapper) Close() error {
	pm.closeOnce.Do(func() {
		pm.mu.Lock()
		pm.closed = true
		stop := pm.stop
		pm.mu.Unlock()
		if stop != nil {
			stop()
		}
		pm.wg.Wait()
	})
	return nil
}

func (pm *PortMapper) set(m Mapping) {
	pm.mu.Lock()
	old := pm.m
	pm.m = m
	pm.mu.Unlock()
	if old.State != m.State || old.External != m.External || old.Method != m.Method {
		switch m.State {
		case StateMapped:
			pm.cfg.Logf("nat: UDP port %d mapped to %v by %s", pm.cfg.Port, m.External, m.Method)
		case StateIdle:
			if old.State == StateMapped {
				pm.cfg.Logf("nat: UDP port %d no longer mapped", pm.cfg.Port)
			}
		default:
			pm.cfg.Logf("nat: UDP port %d not mapped (%s): %v; trying again in %v", pm.cfg.Port, m.State, m.Err, pm.cfg.RetryInterval)
		}
	}
	if pm.cfg.OnChange != nil {
		pm.cfg.OnChange(m)
	}
}

// run is the mapper's goroutine.
func (pm *PortMapper) run(ctx context.Context, first chan struct{}) {
	var (
		gw  gateway
		ext uint16
	)
	for {
		var wait time.Duration
		if gw != nil {
			// Renew the mapping we hold.
			m, err := pm.mapOn(ctx, gw, ext)
			if err != nil {
				if ctx.Err() == nil {
					gw = nil // look again; on Close, remove what we held
				}
			} else {
				pm.set(m)
				wait = renewAfter(m)
			}
		}
		if gw == nil && ctx.Err() == nil {
			var m Mapping
			gw, m = pm.findAndMap(ctx)
			if gw != nil {
				ext = m.External.Port()
				wait = renewAfter(m)
			} else {
				wait = pm.cfg.RetryInterval
			}
			if ctx.Err() == nil {
				pm.set(m)
			}
		}
		if first != nil {
			close(first)
			first = nil
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			if gw != nil {
				rctx, cancel := context.WithTimeout(context.Background(), pm.cfg.Timeout)
				if err := gw.remove(rctx, uint16(pm.cfg.Port), ext); err != nil {
					pm.cfg.Logf("nat: removing the mapping of UDP port %d by %s: %v", pm.cfg.Port, gw.method(), err)
				}
				cancel()
			}
			pm.set(Mapping{State: StateIdle})
			return
		case <-t.C:
		}
	}
}

// renewAfter is when to renew m: at half its lease, or after an hour if
// the lease is permanent (to notice a router that rebooted).
func renewAfter(m Mapping) time.Duration {
	if m.Expires.IsZero() {
		return time.Hour
	}
	return max(time.Until(m.Expires)/2, time.Second)
}

// findAndMap looks for gateways and maps the port on the first that
// agrees. It returns that gateway and the mapping, or nil and why not.
func (pm *PortMapper) findAndMap(ctx context.Context) (gateway, Mapping) {
	dctx, cancel := context.WithTimeout(ctx, pm.cfg.Timeout)
	gws := pm.discover(dctx)
	cancel()
	if len(gws) == 0 {
		return nil, Mapping{State: StateNoGateway, Err: ErrNoGateway}
	}
	var last Mapping
	for _, gw := range gws {
		m, err := pm.mapOn(ctx, gw, 0)
		if err == nil {
			return gw, m
		}
		last = Mapping{State: StateRefused, Method: gw.method(), Err: err}
		if ctx.Err() != nil {
			break
		}
	}
	return nil, last
}

// mapOn maps (or renews, with ext set) the port on gw.
func (pm *PortMapper) mapOn(ctx context.Context, gw gateway, ext uint16) (Mapping, error) {
	ctx, cancel := context.WithTimeout(ctx, pm.cfg.Timeout)
	defer cancel()
	ip, err := gw.externalIP(ctx)
	if err != nil {
		return Mapping{}, fmt.Errorf("%s: external address: %w", gw.method(), err)
	}
	port, lease, err := gw.add(ctx, uint16(pm.cfg.Port), ext, pm.cfg.Lease)
	if err != nil {
		return Mapping{}, fmt.Errorf("%s: mapping UDP port %d: %w", gw.method(), pm.cfg.Port, err)
	}
	m := Mapping{State: StateMapped, Method: gw.method(), External: netip.AddrPortFrom(ip, port)}
	if lease > 0 {
		m.Expires = time.Now().Add(lease)
	}
	return m, nil
}

// discoverGateways asks NAT-PMP at the default gateway and searches for
// UPnP IGDs at the same time, and returns what answered, NAT-PMP first.
// Without a default route it returns nothing at once: a router that maps
// ports for the internet is the host's way to it.
func (pm *PortMapper) discoverGateways(ctx context.Context) []gateway {
	gwIP := pm.cfg.Gateway
	if !gwIP.IsValid() {
		ip, err := defaultroute.DiscoverGateway()
		if err != nil {
			return nil
		}
		a, ok := netip.AddrFromSlice(ip)
		if !ok {
			return nil
		}
		gwIP = a.Unmap()
	}
	var (
		wg   sync.WaitGroup
		pmp  gateway
		upnp []gateway
	)
	if !pm.cfg.NoNATPMP && gwIP.Is4() {
		wg.Add(1)
		go func() {
			defer wg.Done()
			g := &pmpGateway{c: natpmp.NewClientWithTimeout(net.IP(gwIP.AsSlice()), pmpTimeout)}
			if _, err := g.externalIP(ctx); err == nil {
				pmp = g
			}
		}()
	}
	if !pm.cfg.NoUPnP {
		wg.Add(1)
		go func() {
			defer wg.Done()
			upnp = discoverUPnP(ctx, pm.cfg.Description)
		}()
	}
	wg.Wait()
	var gws []gateway
	if pmp != nil {
		gws = append(gws, pmp)
	}
	return append(gws, upnp...)
}
