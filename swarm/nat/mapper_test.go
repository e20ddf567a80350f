package nat

import (
	"context"
	"errors"
	"net/netip"
	"sync"
	"testing"
	"testing/synctest"
	"time"
)

// fakeGateway is a router at the protocol edge: it grants or refuses.
type fakeGateway struct {
	mu      sync.Mutex
	lease   time.Duration // granted
	refuse  error
	adds    []uint16 // external ports asked for
	removes int
}

func (g *fakeGateway) method() string { return "fake" }

func (g *fakeGateway) externalIP(ctx context.Context) (netip.Addr, error) {
	return netip.MustParseAddr("11.0.0.9"), nil
}

func (g *fakeGateway) add(ctx context.Context, internal, ext uint16, lease time.Duration) (uint16, time.Duration, error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.adds = append(g.adds, ext)
	if g.refuse != nil {
		return 0, 0, g.refuse
	}
	if ext == 0 {
		ext = internal + 1
	}
	return ext, min(lease, g.lease), nil
}

func (g *fakeGateway) remove(ctx context.Context, internal, ext uint16) error {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.removes++
	return nil
}

func (g *fakeGateway) counts() (int, int) {
	g.mu.Lock()
	defer g.mu.Unlock()
	return len(g.adds), g.removes
}

func testMapper(t *testing.T, discover func(context.Context) []gateway) (*PortMapper, *[]Mapping) {
	var changes []Mapping
	pm := NewPortMapper(Config{Port: 4000, Logf: t.Logf, OnChange: func(m Mapping) { changes = append(changes, m) }})
	pm.discover = discover
	return pm, &changes
}

// TestMapperRenewsAndRemoves: mapped at Start, renewed at half the lease
// the router granted, removed at Close.
func TestMapperRenewsAndRemoves(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		g := &fakeGateway{lease: 10 * time.Minute}
		pm, changes := testMapper(t, func(context.Context) []gateway { return []gateway{g} })
		if pm.Mapping().State != StateIdle {
			t.Fatalf("before Start: %v", pm.Mapping())
		}
		if err := pm.Start(context.Background()); err != nil {
			t.Fatal(err)
		}
		m := pm.Mapping()
		if m.State != StateMapped || m.External != netip.MustParseAddrPort("11.0.0.9:4001") || m.Method != "fake" || m.Expires != time.Now().Add(10*time.Minute) {
			t.Fatalf("after Start: %+v", m)
		}
		if err := pm.Start(context.Background()); !errors.Is(err, ErrStarted) {
			t.Errorf("second Start: %v", err)
		}
		time.Sleep(5*time.Minute + time.Second)
		synctest.Wait()
		if adds, _ := g.counts(); adds != 2 || g.adds[1] != 4001 {
			t.Fatalf("adds %v, want a renewal of port 4001 at half the lease", g.adds)
		}
		pm.Close()
		pm.Close()
		if _, removes := g.counts(); removes != 1 {
			t.Errorf("%d removes at Close", removes)
		}
		if pm.Mapping().State != StateIdle || len(*changes) != 3 {
			t.Errorf("after Close: %v; changes %v", pm.Mapping(), *changes)
		}
		if err := pm.Start(context.Background()); !errors.Is(err, ErrClosed) {
			t.Errorf("Start after Close: %v", err)
		}
	})
}

// TestMapperNoGatewayThenOne: no gateway at Start (not an error), one
// found at the next look.
func TestMapperNoGatewayThenOne(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		g := &fakeGateway{lease: time.Hour}
		var mu sync.Mutex
		looks := 0
		pm, _ := testMapper(t, func(context.Context) []gateway {
			mu.Lock()
			defer mu.Unlock()
			looks++
			if looks == 1 {
				return nil
			}
			return []gateway{g}
		})
		defer pm.Close()
		if err := pm.Start(context.Background()); err != nil {
			t.Fatal(err)
		}
		if m := pm.Mapping(); m.State != StateNoGateway || !errors.Is(m.Err, ErrNoGateway) {
			t.Fatalf("after Start: %+v", m)
		}
		time.Sleep(5*time.Minute + time.Second)
		synctest.Wait()
		if m := pm.Mapping(); m.State != StateMapped {
			t.Fatalf("after a retry: %+v", m)
		}
	})
}

// TestMapperRefused: a router that refuses leaves the state StateRefused
// with its reason, and a renewal that fails sends the mapper looking
// again.
func TestMapperRefused(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		no := errors.New("718 ConflictInMappingEntry")
		g := &fakeGateway{lease: 10 * time.Minute}
		pm, _ := testMapper(t, func(context.Context) []gateway { return []gateway{g} })
		defer pm.Close()
		pm.Start(context.Background())
		g.mu.Lock()
		g.refuse = no
		g.mu.Unlock()
		time.Sleep(5*time.Minute + time.Second)
		synctest.Wait()
		if m := pm.Mapping(); m.State != StateRefused || !errors.Is(m.Err, no) || m.Method != "fake" {
			t.Fatalf("after a refused renewal: %+v", m)
		}
		if adds, _ := g.counts(); adds != 3 {
			t.Errorf("adds %v, want map, renew, map again", g.adds)
		}
	})
}

// TestMapperStartBounded: Start returns when its ctx ends even if the
// search has not; the mapper carries on and Close waits for it.
func TestMapperStartBounded(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		g := &fakeGateway{lease: time.Hour}
		pm, _ := testMapper(t, func(ctx context.Context) []gateway {
			<-ctx.Done() // a search that takes its whole Timeout
			return []gateway{g}
		})
		ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
		defer cancel()
		start := time.Now()
		pm.Start(ctx)
		if took := time.Since(start); took != 100*time.Millisecond {
			t.Errorf("Start took %v", took)
		}
		time.Sleep(pm.cfg.Timeout)
		synctest.Wait()
		if m := pm.Mapping(); m.State != StateMapped {
			t.Errorf("after the search: %+v", m)
		}
		pm.Close()
		if _, removes := g.counts(); removes != 1 {
			t.Errorf("%d removes", removes)
		}
	})
}

func TestMapperCloseWithoutStart(t *testing.T) {
	pm := NewPortMapper(Config{Port: 1})
	pm.Close()
	pm.Close()
	if err := NewPortMapper(Config{}).Start(context.Background()); err == nil {
		t.Error("Start without a port")
	}
}
