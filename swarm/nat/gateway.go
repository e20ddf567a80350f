package nat

import (
	"context"
	"fmt"
	mrand "math/rand/v2"
	"net"
	"net/netip"
	"strings"
	"sync"
	"time"

	"github.com/huin/goupnp/dcps/internetgateway2"
	natpmp "github.com/jackpal/go-nat-pmp"
)

// gateway is one router protocol that can map a UDP port: a UPnP IGD
// connection service or NAT-PMP.
type gateway interface {
	// method names the protocol for logs and Mapping.Method.
	method() string
	// externalIP asks the router for its external address.
	externalIP(ctx context.Context) (netip.Addr, error)
	// add maps external UDP port ext (0: any) to the node's internal port
	// for lease and returns the external port and lease granted (0: until
	// removed).
	add(ctx context.Context, internal, ext uint16, lease time.Duration) (uint16, time.Duration, error)
	// remove deletes the mapping of external port ext.
	remove(ctx context.Context, internal, ext uint16) error
}

// igdClient is what WANIPConnection1, WANIPConnection2 and
// WANPPPConnection1 clients have in common.
type igdClient interface {
	AddPortMappingCtx(ctx context.Context, remoteHost string, extPort uint16, proto string, intPort uint16, intClient string, enabled bool, desc string, lease uint32) error
	DeletePortMappingCtx(ctx context.Context, remoteHost string, extPort uint16, proto string) error
	GetExternalIPAddressCtx(ctx context.Context) (string, error)
	LocalAddr() net.IP
}

type upnpGateway struct {
	name string
	c    igdClient
	desc string
}

func (g *upnpGateway) method() string { return "UPnP " + g.name }

func (g *upnpGateway) externalIP(ctx context.Context) (netip.Addr, error) {
	s, err := g.c.GetExternalIPAddressCtx(ctx)
	if err != nil {
		return netip.Addr{}, err
	}
	a, err := netip.ParseAddr(s)
	if err != nil {
		return netip.Addr{}, fmt.Errorf("bad external address %q: %w", s, err)
	}
	return a.Unmap(), nil
}

// upnpOnlyPermanent is the UPnP error code "OnlyPermanentLeasesSupported".
const upnpOnlyPermanent = "725"

// upnpConflict is the UPnP error code "ConflictInMappingEntry".
const upnpConflict = "718"

func (g *upnpGateway) add(ctx context.Context, internal, ext uint16, lease time.Duration) (uint16, time.Duration, error) {
	if ext == 0 {
		ext = internal
	}
	local := g.c.LocalAddr()
	if local == nil {
		return 0, 0, fmt.Errorf("no local address toward the gateway")
	}
	try := func(ext uint16) error {
		err := g.c.AddPortMappingCtx(ctx, "", ext, "UDP", internal, local.String(), true, g.desc, uint32(lease/time.Second))
		if err != nil && lease > 0 && containsCode(err, upnpOnlyPermanent) {
			lease = 0
			err = g.c.AddPortMappingCtx(ctx, "", ext, "UDP", internal, local.String(), true, g.desc, 0)
		}
		return err
	}
	err := try(ext)
	// Another host holds the port: try a few random ones, as a router
	// that speaks NAT-PMP would choose one itself.
	for i := 0; i < 3 && err != nil && containsCode(err, upnpConflict) && ctx.Err() == nil; i++ {
		ext = uint16(1024 + mrand.IntN(65535-1024))
		err = try(ext)
	}
	if err != nil {
		return 0, 0, err
	}
	return ext, lease, nil
}

func (g *upnpGateway) remove(ctx context.Context, internal, ext uint16) error {
	return g.c.DeletePortMappingCtx(ctx, "", ext, "UDP")
}

// containsCode reports whether a SOAP error names the UPnP error code.
func containsCode(err error, code string) bool {
	return strings.Contains(err.Error(), code)
}

// discoverUPnP searches the LAN for IGD connection services (SSDP takes
// about 2 s) and returns one gateway per service found, IGDv2 first.
func discoverUPnP(ctx context.Context, desc string) []gateway {
	var (
		mu     sync.Mutex
		wg     sync.WaitGroup
		ip2    []gateway
		ip1    []gateway
		ppp1   []gateway
		search = func(f func() []gateway, into *[]gateway) {
			wg.Add(1)
			go func() {
				defer wg.Done()
				gs := f()
				mu.Lock()
				*into = gs
				mu.Unlock()
			}()
		}
	)
	search(func() (gs []gateway) {
		cs, _, _ := internetgateway2.NewWANIPConnection2ClientsCtx(ctx)
		for _, c := range cs {
			gs = append(gs, &upnpGateway{name: "WANIPConnection2", c: c, desc: desc})
		}
		return gs
	}, &ip2)
	search(func() (gs []gateway) {
		cs, _, _ := internetgateway2.NewWANIPConnection1ClientsCtx(ctx)
		for _, c := range cs {
			gs = append(gs, &upnpGateway{name: "WANIPConnection1", c: c, desc: desc})
		}
		return gs
	}, &ip1)
	search(func() (gs []gateway) {
		cs, _, _ := internetgateway2.NewWANPPPConnection1ClientsCtx(ctx)
		for _, c := range cs {
			gs = append(gs, &upnpGateway{name: "WANPPPConnection1", c: c, desc: desc})
		}
		return gs
	}, &ppp1)
	wg.Wait()
	all := append(append(ip2, ip1...), ppp1...)
	return all
}

type pmpGateway struct {
	c *natpmp.Client
}

func (g *pmpGateway) method() string { return "NAT-PMP" }

// The NAT-PMP client has no context; its own timeout (pmpTimeout) bounds
// every call.
func (g *pmpGateway) externalIP(ctx context.Context) (netip.Addr, error) {
	r, err := g.c.GetExternalAddress()
	if err != nil {
		return netip.Addr{}, err
	}
	return netip.AddrFrom4(r.ExternalIPAddress), nil
}

func (g *pmpGateway) add(ctx context.Context, internal, ext uint16, lease time.Duration) (uint16, time.Duration, error) {
	if ext == 0 {
		ext = internal
	}
	r, err := g.c.AddPortMapping("udp", int(internal), int(ext), int(lease/time.Second))
	if err != nil {
		return 0, 0, err
	}
	if r.PortMappingLifetimeInSeconds == 0 {
		return 0, 0, fmt.Errorf("gateway granted a zero lease")
	}
	return r.MappedExternalPort, time.Duration(r.PortMappingLifetimeInSeconds) * time.Second, nil
}

func (g *pmpGateway) remove(ctx context.Context, internal, ext uint16) error {
	// RFC 6886 3.4: a request with lifetime 0 and external port 0 deletes
	// the mapping of the internal port.
	_, err := g.c.AddPortMapping("udp", int(internal), 0, 0)
	return err
}

// pmpTimeout bounds one NAT-PMP call, retries included (the client
// resends after 250 ms, 500 ms, ...).
const pmpTimeout = 2 * time.Second
