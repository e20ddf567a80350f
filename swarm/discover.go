package swarm

// Discovery through the DHT: the node's tracks are announced there as well
// as on the tracker, and holders are looked up there beside the tracker,
// so that a node finds peers with the origin down.

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"path/filepath"
	"sync"
	"time"

	"github.com/potluckfm/potluck/swarm/dht"
	"github.com/potluckfm/potluck/track"
)

// dhtStateFile keeps the DHT's routing table across restarts, in DataDir.
const dhtStateFile = "dht.json"

// dhtLookupTimeout bounds a DHT lookup within one round of candidates.
const dhtLookupTimeout = 5 * time.Second

// startDHT starts the node's DHT on its socket.
func (n *Node) startDHT(ctx context.Context) error {
	n.mux = dht.NewMux(n.tr)
	boot := append([]netip.AddrPort(nil), n.cfg.Bootstrap...)
	d, err := dht.Start(ctx, dht.Config{
		Mux:       n.mux,
		StateFile: filepath.Join(n.cfg.DataDir, dhtStateFile),
		Bootstrap: func() []netip.AddrPort { return boot },
		IDsPerIP:  n.cfg.dhtIDsPerIP,
		Logger:    n.log.With("part", "dht"),
	})
	if err != nil {
		n.mux.Close()
		return fmt.Errorf("dht: %w", err)
	}
	n.dht = d
	return nil
}

// closeDHT stops the DHT (saving its table) and the demultiplexer.
func (n *Node) closeDHT() error {
	if n.dht == nil {
		return nil
	}
	return errors.Join(n.dht.Close(), n.mux.Close())
}

// DHT is the node's DHT, or nil if Config.DHT is off.
func (n *Node) DHT() *dht.DHT { return n.dht }

// dhtKey is the DHT key of a track of this node's origin.
func (n *Node) dhtKey(id track.ID) [20]byte { return dht.Key(n.origin.URL().Key, id) }

// keepDHTAnnounced makes the DHT announce what the node holds.
func (n *Node) keepDHTAnnounced(ids []track.ID) {
	if n.dht == nil {
		return
	}
	keys := make([][20]byte, len(ids))
	for i, id := range ids {
		keys[i] = n.dhtKey(id)
	}
	n.dht.KeepAnnounced(keys)
}

// meetDHT tells the DHT of a peer's address: every node's DHT listens on
// its peer socket, so each peer met is a way into the DHT.
func (n *Node) meetDHT(addr string) {
	if n.dht == nil {
		return
	}
	if ap, err := netip.ParseAddrPort(addr); err == nil {
		n.dht.AddBootstrap(netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port()))
	}
}

// dhtHolders looks id up in the DHT and connects to the holders it names,
// calling found (from several goroutines at once) with each that answers,
// as soon as it does; it returns when the lookup and the dials are done.
// The DHT names addresses, not peers, and any DHT node may name any
// address: each is dialled as hearsay is (see mayDial), and the handshake
// tells who answers there.
func (n *Node) dhtHolders(ctx context.Context, id track.ID, found func(PeerAddr)) {
	if n.dht == nil {
		return
	}
	ctx, cancel := context.WithTimeout(ctx, dhtLookupTimeout)
	defer cancel()
	self := n.Addr().String()
	var wg sync.WaitGroup
	for a := range n.dht.Find(ctx, n.dhtKey(id)) {
		addr := a.String()
		if addr == self {
			continue
		}
		wg.Go(func() {
			if c, err := n.connAt(ctx, addr); err == nil {
				found(PeerAddr{ID: c.id, Addr: c.addr})
			}
		})
	}
	wg.Wait()
}

// mayDialWait is mayDial, waiting within ctx for the hearsay budget
// rather than failing: the holders a lookup names are few and worth it.
func (n *Node) mayDialWait(ctx context.Context, p PeerAddr) (func(), error) {
	for {
		release, err := n.mayDial(p)
		if !errors.Is(err, errHearsay) {
			return release, err
		}
		select {
		case <-ctx.Done():
			return nil, err
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// connAt returns a connection to whichever node answers at addr, dialing
// if the node has none to that address. The dial counts as hearsay unless
// the address is confirmed.
func (n *Node) connAt(ctx context.Context, addr string) (*peerConn, error) {
	n.mu.Lock()
	for _, c := range n.conns {
		if c.addr == addr && c.conn.Context().Err() == nil {
			n.mu.Unlock()
			return c, nil
		}
	}
	n.mu.Unlock()
	p := PeerAddr{Addr: addr}
	release, err := n.mayDialWait(ctx, p)
	if err != nil {
		return nil, err
	}
	defer release()
	return n.dial(ctx, p)
}
