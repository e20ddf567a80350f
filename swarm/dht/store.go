package dht

import (
	"net/netip"
	"sync"
	"time"

	"github.com/anacrolix/dht/v2/krpc"
	peer_store "github.com/anacrolix/dht/v2/peer-store"
)

// Limits of the holder store: what other nodes announced to this one.
const (
	holderTTL       = 30 * time.Minute // an entry not re-announced is forgotten
	holdersPerKey   = 64               // newest kept, oldest forgotten
	holdersPerIP    = 4                // entries of one IP (/64) under one key
	keysTotal       = 16384            // keys held; a new key past this evicts the stalest
	keysPerIP       = 2048             // entries one IP (/64) may hold in all
	holdersReturned = 32               // values in one get_peers answer
)

// store is the bounded peer_store.Interface the server answers get_peers
// from and adds valid announces to. Every entry is the announcer's own
// source address (implied_port is required, see gate).
type store struct {
	now func() time.Time

	mu    sync.Mutex
	keys  map[[20]byte]*holders
	perIP map[netip.Addr]int // entries by source prefix (IPv4, or IPv6 /64)
}

type holders struct {
	list    []holder // oldest first
	touched time.Time
}

type holder struct {
	addr netip.AddrPort
	seen time.Time
}

var _ peer_store.Interface = (*store)(nil)

func newStore() *store {
	return &store{
		now:   time.Now,
		keys:  make(map[[20]byte]*holders),
		perIP: make(map[netip.Addr]int),
	}
}

// sourcePrefix is the unit of per-address limits: an IPv4 address or an
// IPv6 /64.
func sourcePrefix(a netip.Addr) netip.Addr {
	a = a.Unmap()
	if a.Is6() {
		p, _ := a.Prefix(64)
		return p.Addr()
	}
	return a
}

func (s *store) AddPeer(ih peer_store.InfoHash, na krpc.NodeAddr) {
	ip, ok := netip.AddrFromSlice(na.IP)
	if !ok || na.Port <= 0 || na.Port > 65535 {
		return
	}
	ap := netip.AddrPortFrom(ip.Unmap(), uint16(na.Port))
	s.add([20]byte(ih), ap)
}

func (s *store) add(key [20]byte, ap netip.AddrPort) {
	now := s.now()
	src := sourcePrefix(ap.Addr())
	s.mu.Lock()
	defer s.mu.Unlock()
	hs := s.keys[key]
	if hs != nil {
		s.expireLocked(key, hs, now)
		hs = s.keys[key]
	}
	if hs != nil {
		for i, h := range hs.list {
			if h.addr == ap { // a refresh moves it to the newest end
				copy(hs.list[i:], hs.list[i+1:])
				hs.list[len(hs.list)-1] = holder{ap, now}
				hs.touched = now
				return
			}
		}
	}
	if s.perIP[src] >= keysPerIP {
		return
	}
	if hs == nil {
		if len(s.keys) >= keysTotal {
			s.evictStalestLocked()
		}
		hs = &holders{}
		s.keys[key] = hs
	}
	same, oldestSame := 0, -1
	for i, h := range hs.list {
		if sourcePrefix(h.addr.Addr()) == src {
			same++
			if oldestSame < 0 {
				oldestSame = i
			}
		}
	}
	switch {
	case same >= holdersPerIP:
		s.removeLocked(hs, oldestSame)
	case len(hs.list) >= holdersPerKey:
		s.removeLocked(hs, 0)
	}
	hs.list = append(hs.list, holder{ap, now})
	hs.touched = now
	s.perIP[src]++
}

func (s *store) removeLocked(hs *holders, i int) {
	src := sourcePrefix(hs.list[i].addr.Addr())
	if s.perIP[src]--; s.perIP[src] <= 0 {
		delete(s.perIP, src)
	}
	hs.list = append(hs.list[:i], hs.list[i+1:]...)
}

func (s *store) expireLocked(key [20]byte, hs *holders, now time.Time) {
	for len(hs.list) > 0 && now.Sub(hs.list[0].seen) > holderTTL {
		s.removeLocked(hs, 0)
	}
	if len(hs.list) == 0 {
		delete(s.keys, key)
	}
}

func (s *store) evictStalestLocked() {
	var stalest [20]byte
	var at time.Time
	first := true
	for k, hs := range s.keys {
		if first || hs.touched.Before(at) {
			stalest, at, first = k, hs.touched, false
		}
	}
	if hs := s.keys[stalest]; hs != nil {
		for len(hs.list) > 0 {
			s.removeLocked(hs, 0)
		}
		delete(s.keys, stalest)
	}
}

func (s *store) GetPeers(ih peer_store.InfoHash) []krpc.NodeAddr {
	var out []krpc.NodeAddr
	for _, ap := range s.get([20]byte(ih)) {
		out = append(out, krpc.NodeAddr{IP: ap.Addr().AsSlice(), Port: int(ap.Port())})
	}
	return out
}

// get returns the newest holdersReturned holders of key.
func (s *store) get(key [20]byte) []netip.AddrPort {
	s.mu.Lock()
	defer s.mu.Unlock()
	hs := s.keys[key]
	if hs == nil {
		return nil
	}
	s.expireLocked(key, hs, s.now())
	var out []netip.AddrPort
	for i := len(hs.list) - 1; i >= 0 && len(out) < holdersReturned; i-- {
		out = append(out, hs.list[i].addr)
	}
	return out
}

// expire forgets every entry older than holderTTL.
func (s *store) expire() {
	now := s.now()
	s.mu.Lock()
	defer s.mu.Unlock()
	for k, hs := range s.keys {
		s.expireLocked(k, hs, now)
	}
}

// counts returns the number of keys and entries held.
func (s *store) counts() (keys, entries int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, hs := range s.keys {
		entries += len(hs.list)
	}
	return len(s.keys), entries
}
