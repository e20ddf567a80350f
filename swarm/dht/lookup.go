package dht

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"sync"
	"time"

	anacrolix "github.com/anacrolix/dht/v2"
	"github.com/anacrolix/dht/v2/int160"
	k_nearest_nodes "github.com/anacrolix/dht/v2/k-nearest-nodes"
	"github.com/anacrolix/dht/v2/krpc"
	"github.com/anacrolix/dht/v2/traversal"
	"github.com/anacrolix/dht/v2/types"
)

// Lookups.
const (
	lookupK          = 8                      // nodes a lookup converges on; an announce goes to them
	lookupMax        = 30 * time.Second       // no lookup runs longer, whatever ctx allows
	maxTokenLen      = 64                     // longer tokens are not kept
	nodesPerAnswer   = 8                      // nodes taken from one answer, per address family
	reannounceEvery  = 12 * time.Minute       // KeepAnnounced refreshes this often (entries live 30 min)
	reannounceRetry  = 250 * time.Millisecond // first retry of an announce that reached too few nodes, doubling
	announceParallel = 4                      // announces KeepAnnounced runs at once
)

type traversalElem = k_nearest_nodes.Elem

// ErrNotStored is returned by Announce when no node accepted the announce.
var ErrNotStored = errors.New("dht: no node stored the announce")

// traverse runs an iterative lookup of target over query, calling onReply
// with each answer, until the k closest nodes found have answered or none
// is left to ask, ctx ends, or lookupMax passes. A lookup takes at most
// IDsPerIP addresses of one IP (/64), at most 8 nodes per address family
// named by one IP (IDsPerIP if more), never this node, and only nodes
// whose ID fits their IP where BEP 42 applies. It returns the operation,
// stopped, for its closest nodes.
func (d *DHT) traverse(ctx context.Context, target krpc.ID, k int,
	query func(context.Context, anacrolix.Addr) anacrolix.QueryResult,
	onReply func(krpc.NodeAddr, anacrolix.QueryResult),
) *traversal.Operation {
	ctx, cancel := context.WithTimeout(ctx, lookupMax)
	defer cancel()
	self := int160.FromByteArray(d.id)
	var mu sync.Mutex
	perIP := map[netip.Addr]int{}
	taken := map[netip.AddrPort]bool{}
	named := map[netip.AddrPort][2]int{} // nodes taken from each answering IP: IPv4, IPv6
	namesPerIP := max(nodesPerAnswer, d.cfg.IDsPerIP)
	filter := func(n types.AddrMaybeId) bool {
		ap := n.Addr.AddrPort
		if ap.Addr().Is4In6() { // the same node comes as plain IPv4 too
			return false
		}
		if !validAddr(ap) || (n.Id.Ok && n.Id.Value == self) || !d.srv.TraversalNodeFilter(n) {
			return false
		}
		mu.Lock()
		defer mu.Unlock()
		if taken[ap] {
			return true
		}
		p := sourcePrefix(ap.Addr())
		if perIP[p] >= d.cfg.IDsPerIP {
			return false
		}
		perIP[p]++
		taken[ap] = true
		return true
	}
	op := traversal.Start(traversal.OperationInput{
		Target: target,
		Alpha:  3,
		K:      k,
		DoQuery: func(qctx context.Context, addr krpc.NodeAddr) traversal.QueryResult {
			res := query(qctx, anacrolix.NewAddr(addr.UDP()))
			if res.Err != nil || res.Reply.R == nil {
				return traversal.QueryResult{}
			}
			if onReply != nil {
				onReply(addr, res)
			}
			qr := res.TraversalQueryResult(addr)
			// An honest answer names at most 8 nodes per family; more is
			// a flood, of nodes that may not exist. And one IP (/64) may
			// name at most namesPerIP per family in a whole lookup,
			// however many node IDs answer from it, so made-up nodes cost
			// a lookup a bounded number of timeouts. (Where one IP holds
			// many nodes, as on loopback, 8 would stop a lookup short of
			// the nodes closest to its target.)
			p := netip.AddrPort{}
			if ap, ok := nodeAddrPort(addr); ok {
				p = netip.AddrPortFrom(sourcePrefix(ap.Addr()), 0)
			}
			mu.Lock()
			n4 := min(len(qr.Nodes), nodesPerAnswer, namesPerIP-named[p][0])
			n6 := min(len(qr.Nodes6), nodesPerAnswer, namesPerIP-named[p][1])
			named[p] = [2]int{named[p][0] + n4, named[p][1] + n6}
			mu.Unlock()
			qr.Nodes = qr.Nodes[:n4]
			qr.Nodes6 = qr.Nodes6[:n6]
			return qr
		},
		NodeFilter: filter,
		DataFilter: func(data any) bool {
			s, ok := data.(string)
			return ok && len(s) > 0 && len(s) <= maxTokenLen
		},
	})
	if nodes, err := d.srv.TraversalStartingNodes(); err == nil {
		op.AddNodes(nodes)
	}
	select {
	case <-op.Stalled():
	case <-ctx.Done():
	}
	op.Stop()
	<-op.Stopped()
	return op
}

func (d *DHT) getPeers(key [20]byte) func(context.Context, anacrolix.Addr) anacrolix.QueryResult {
	return func(ctx context.Context, a anacrolix.Addr) anacrolix.QueryResult {
		return d.srv.Query(ctx, a, "get_peers", anacrolix.QueryInput{
			MsgArgs: krpc.MsgArgs{InfoHash: key, Want: d.want},
		})
	}
}

// Announce looks up the nodes closest to key and announces this node to
// them as a holder, with implied_port: they store the address they see
// the announce come from, which is this node's shared socket as mapped by
// any NAT on the way. It returns how many nodes stored it (ErrNotStored if
// none). Entries live 30 minutes: re-announce before then, or let
// KeepAnnounced do it.
func (d *DHT) Announce(ctx context.Context, key [20]byte) (int, error) {
	if !d.begin() {
		return 0, ErrClosed
	}
	defer d.wg.Done()
	ctx, cancel := d.callCtx(ctx)
	defer cancel()
	return d.announce(ctx, key)
}

func (d *DHT) announce(ctx context.Context, key [20]byte) (int, error) {
	op := d.traverse(ctx, key, lookupK, d.getPeers(key), nil)
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	port := d.conn.LocalAddr().(interface{ AddrPort() netip.AddrPort }).AddrPort().Port()
	var wg sync.WaitGroup
	var mu sync.Mutex
	stored := 0
	op.Closest().Range(func(e traversalElem) {
		token, _ := e.Data.(string)
		addr := e.Key.Addr
		wg.Add(1)
		go func() {
			defer wg.Done()
			p := int(port)
			res := d.srv.Query(ctx, anacrolix.NewAddr(addr.UDP()), "announce_peer", anacrolix.QueryInput{
				MsgArgs: krpc.MsgArgs{
					InfoHash:    key,
					ImpliedPort: true,
					Port:        &p,
					Token:       token,
				},
			})
			if res.ToError() == nil {
				mu.Lock()
				stored++
				mu.Unlock()
			}
		}()
	})
	wg.Wait()
	if stored == 0 {
		if err := ctx.Err(); err != nil {
			return 0, err
		}
		return 0, ErrNotStored
	}
	return stored, nil
}

// Find looks up the holders of key and sends each new one on the channel
// as soon as an answer names it, so the first answers reach the caller
// early; the channel is closed when the lookup ends (ctx, Close, or at
// most 30 s). The caller must read it until it is closed or end ctx.
// Holders are hearsay: an answer may name any address. Holders this node
// stores itself come first.
func (d *DHT) Find(ctx context.Context, key [20]byte) <-chan netip.AddrPort {
	out := make(chan netip.AddrPort, holdersReturned)
	if !d.begin() {
		close(out)
		return out
	}
	ctx, cancel := d.callCtx(ctx)
	go func() {
		defer d.wg.Done()
		defer cancel()
		defer close(out)
		var mu sync.Mutex
		sent := map[netip.AddrPort]bool{}
		emit := func(a netip.AddrPort) bool {
			mu.Lock()
			dup := sent[a]
			sent[a] = true
			mu.Unlock()
			if dup || !validAddr(a) {
				return true
			}
			select {
			case out <- a:
				return true
			case <-ctx.Done():
				return false
			}
		}
		for _, a := range d.store.get(key) {
			if !emit(a) {
				return
			}
		}
		d.traverse(ctx, key, lookupK, d.getPeers(key), func(_ krpc.NodeAddr, res anacrolix.QueryResult) {
			vals := res.Reply.R.Values
			if len(vals) > holdersReturned {
				vals = vals[:holdersReturned]
			}
			for _, v := range vals {
				a, ok := nodeAddrPort(v)
				if ok && !emit(a) {
					return
				}
			}
		})
	}()
	return out
}

// Holders looks up the holders of key and returns them all once the
// lookup ends (see Find). It returns an error only if ctx ended or d was
// closed before any holder was found.
func (d *DHT) Holders(ctx context.Context, key [20]byte) ([]netip.AddrPort, error) {
	var out []netip.AddrPort
	for a := range d.Find(ctx, key) {
		out = append(out, a)
	}
	if len(out) == 0 {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		if d.ctx.Err() != nil {
			return nil, ErrClosed
		}
	}
	return out, nil
}

// KeepAnnounced makes keys the set this node keeps announced: new keys
// are announced now, all of them every 12 minutes (entries live 30). An
// announce that reached fewer than 8 nodes, or made while the table held
// fewer than 16 good nodes, is repeated after 0.25 s, 0.5 s, 1 s ... up to
// 12 minutes, so a key announced while the network is young reaches the
// nodes closest to it once the table knows them. Keys left out are no longer
// refreshed and expire from the network within 30 minutes. A goroutine of
// d does the work until Close; KeepAnnounced does not block.
func (d *DHT) KeepAnnounced(keys [][20]byte) {
	d.mu.Lock()
	d.kept = make(map[[20]byte]bool, len(keys))
	for _, k := range keys {
		d.kept[k] = true
	}
	d.mu.Unlock()
	select {
	case d.keptKick <- struct{}{}:
	default:
	}
}

// keeper announces the kept keys when they are due.
func (d *DHT) keeper() {
	defer d.wg.Done()
	due := map[[20]byte]time.Time{}       // when each kept key is next announced
	retry := map[[20]byte]time.Duration{} // the wait after an announce to too few nodes
	for {
		now := time.Now()
		d.mu.Lock()
		for k := range due {
			if !d.kept[k] {
				delete(due, k)
				delete(retry, k)
			}
		}
		for k := range d.kept {
			if _, ok := due[k]; !ok {
				due[k] = now
				retry[k] = reannounceRetry
			}
		}
		d.mu.Unlock()

		var run [][20]byte
		next := now.Add(reannounceEvery)
		for k, t := range due {
			if !t.After(now) {
				run = append(run, k)
			} else if t.Before(next) {
				next = t
			}
		}
		if len(run) > 0 {
			sem := make(chan struct{}, announceParallel)
			var mu sync.Mutex
			var wg sync.WaitGroup
			for _, k := range run {
				select {
				case sem <- struct{}{}:
				case <-d.ctx.Done():
				}
				if d.ctx.Err() != nil {
					break
				}
				wg.Add(1)
				go func() {
					defer wg.Done()
					defer func() { <-sem }()
					good := d.srv.Stats().GoodNodes
					stored, _ := d.announce(d.ctx, k)
					mu.Lock()
					if stored < lookupK || good < 2*lookupK {
						// A young or thin table may not yet know the
						// nodes closest to k: try again soon.
						due[k] = time.Now().Add(retry[k])
						retry[k] = min(2*retry[k], reannounceEvery)
					} else {
						due[k] = time.Now().Add(reannounceEvery)
						retry[k] = reannounceRetry
					}
					mu.Unlock()
				}()
			}
			wg.Wait()
			if d.ctx.Err() != nil {
				return
			}
			continue
		}
		t := time.NewTimer(time.Until(next))
		select {
		case <-d.ctx.Done():
			t.Stop()
			return
		case <-d.keptKick:
			t.Stop()
		case <-t.C:
		}
	}
}

// String names the node by the start of its ID and its socket address.
func (d *DHT) String() string { return fmt.Sprintf("dht node %x on %v", d.id[:4], d.Addr()) }
