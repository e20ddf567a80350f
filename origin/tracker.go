package origin

import (
	"bytes"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"net/netip"
	"regexp"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/potluckfm/potluck/track"
	"github.com/prometheus/client_golang/prometheus"
)

// Tracker limits.
const (
	DefaultTrackerTTL    = 2 * time.Minute
	DefaultPeersPerAsk   = 20
	MaxPeersPerAsk       = 50
	MaxTracksPerAnnounce = 100_000
)

// ErrBadAnnounce is returned for an announce the tracker refuses.
var ErrBadAnnounce = errors.New("bad announce")

// ErrStaleAnnounce is returned for an announce whose time is not after the
// last one the tracker accepted from the same peer (a replay, or two
// announces that crossed).
var ErrStaleAnnounce = errors.New("announce is not newer than the peer's last one")

var peerIDPattern = regexp.MustCompile(`^[A-Za-z0-9_-]{1,128}$`)

// PeerInfo is how the tracker tells one node about another.
type PeerInfo struct {
	ID   string `json:"peer_id"`
	Addr string `json:"addr"`
	// Reach is how the peer said others reach it (AnnounceRequest.Reach),
	// if it said.
	Reach string `json:"reach,omitempty"`
}

// TrackerLimits bound what strangers can make the tracker hold and do.
// A zero field takes its DefaultTrackerLimits value; a negative one means
// no limit.
type TrackerLimits struct {
	PeersPerIP    int     // peers listed per source address
	PeersPerNet   int     // peers listed per /24 (IPv4) or /64 (IPv6)
	TracksPerPeer int     // tracks one peer may list
	MaxPeers      int     // peers listed in all
	MaxEntries    int     // (peer, track) entries in all
	AnnounceRate  float64 // announces per second per source (IPv6: per /64)
	AnnounceBurst int
	LookupRate    float64 // lookups per second per source (IPv6: per /64)
	LookupBurst   int
}

// DefaultTrackerLimits are generous for honest nodes (one announce a
// minute, a few lookups per track played, a few hundred nodes behind one
// carrier-grade NAT) and keep a flood from one source to a small share.
func DefaultTrackerLimits() TrackerLimits {
	return TrackerLimits{
		PeersPerIP:    64,
		PeersPerNet:   256,
		TracksPerPeer: 10_000,
		MaxPeers:      200_000,
		MaxEntries:    2_000_000,
		AnnounceRate:  5,
		AnnounceBurst: 50,
		LookupRate:    50,
		LookupBurst:   500,
	}
}

func (l TrackerLimits) withDefaults() TrackerLimits {
	d := DefaultTrackerLimits()
	pick := func(v *int, def int) {
		if *v == 0 {
			*v = def
		} else if *v < 0 {
			*v = int(^uint(0) >> 1)
		}
	}
	pick(&l.PeersPerIP, d.PeersPerIP)
	pick(&l.PeersPerNet, d.PeersPerNet)
	pick(&l.TracksPerPeer, d.TracksPerPeer)
	l.TracksPerPeer = min(l.TracksPerPeer, MaxTracksPerAnnounce)
	pick(&l.MaxPeers, d.MaxPeers)
	pick(&l.MaxEntries, d.MaxEntries)
	pick(&l.AnnounceBurst, d.AnnounceBurst)
	pick(&l.LookupBurst, d.LookupBurst)
	if l.AnnounceRate == 0 {
		l.AnnounceRate = d.AnnounceRate
	}
	if l.LookupRate == 0 {
		l.LookupRate = d.LookupRate
	}
	return l
}

// LimitError is a request refused because a limit is reached. The client
// may try again after RetryAfter.
type LimitError struct {
	Reason     string // the limit, a metric label: peers_per_ip, announce_rate, …
	RetryAfter time.Duration
}

func (e *LimitError) Error() string {
	return fmt.Sprintf("tracker limit %s reached; retry after %s", e.Reason, e.RetryAfter.Round(time.Second))
}

// Limit reasons, the "reason" label of potluck_origin_tracker_refused_total.
const (
	LimitPeersPerIP    = "peers_per_ip"
	LimitPeersPerNet   = "peers_per_net"
	LimitTracksPerPeer = "tracks_per_peer"
	LimitMaxPeers      = "max_peers"
	LimitMaxEntries    = "max_entries"
	LimitAnnounceRate  = "announce_rate"
	LimitLookupRate    = "lookup_rate"
)

// LimitReasons lists every limit reason.
var LimitReasons = []string{LimitPeersPerIP, LimitPeersPerNet, LimitTracksPerPeer, LimitMaxPeers, LimitMaxEntries, LimitAnnounceRate, LimitLookupRate}

// maxLeft bounds the peers whose last announce time the tracker keeps
// after they leave, so a replay of an earlier announce cannot list them
// again within the clock skew.
const maxLeft = 100_000

// Tracker remembers which live peers hold which tracks. A peer is live for
// its TTL after its last announce; each announce replaces the set of tracks
// the peer said it holds. Announces are serialized; lookups take only the
// read lock of one shard of tracks and touch O(answer) entries. When a limit
// is reached newcomers are refused: nobody already listed is pushed out.
// Safe for concurrent use.
type Tracker struct {
	ttl time.Duration
	now func() time.Time
	lim TrackerLimits

	mu      sync.Mutex // peers, perIP, perNet, entries; held by announces and sweeps
	peers   map[string]*trackedPeer
	perIP   map[netip.Addr]int
	perNet  map[netip.Prefix]int
	left    map[string]int64 // time (ms) of the last announce of peers no longer listed
	entries int
	npeers  atomic.Int64
	nentry  atomic.Int64

	shards [64]holderShard

	announceRate *rateTable
	lookupRate   *rateTable
	refused      *prometheus.CounterVec
}

type holderShard struct {
	mu      sync.RWMutex
	holders map[track.ID]*holderList
}

// holderList is the peers listed for one track: a slice to sample from
// and an index to remove from it in O(1) (swap with the last).
type holderList struct {
	peers []*trackedPeer
	at    map[string]int
}

type trackedPeer struct {
	info     PeerInfo
	ip       netip.Addr
	tracks   []track.ID // sorted, no duplicates
	expires  atomic.Int64
	lastTime int64 // the announce time (ms) last accepted; under Tracker.mu
}

// NewTracker returns a tracker whose entries expire ttl after their last
// announce, with the default limits.
func NewTracker(ttl time.Duration) *Tracker { return NewTrackerWith(ttl, TrackerLimits{}) }

// NewTrackerWith returns a tracker with the given limits (zero fields take
// their defaults).
func NewTrackerWith(ttl time.Duration, lim TrackerLimits) *Tracker {
	if ttl <= 0 {
		ttl = DefaultTrackerTTL
	}
	lim = lim.withDefaults()
	t := &Tracker{
		ttl: ttl, now: time.Now, lim: lim,
		peers:  map[string]*trackedPeer{},
		perIP:  map[netip.Addr]int{},
		perNet: map[netip.Prefix]int{},
		left:   map[string]int64{},
	}
	t.announceRate = newRateTable(lim.AnnounceRate, lim.AnnounceBurst, LimitAnnounceRate)
	t.lookupRate = newRateTable(lim.LookupRate, lim.LookupBurst, LimitLookupRate)
	t.refused = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "potluck_origin_tracker_refused_total",
		Help: "Tracker announces and lookups refused (429) because a limit was reached, by limit.",
	}, []string{"reason"})
	for _, r := range LimitReasons {
		t.refused.WithLabelValues(r)
	}
	for i := range t.shards {
		t.shards[i].holders = map[track.ID]*holderList{}
	}
	return t
}

// TTL is how long an announce keeps a peer listed.
func (t *Tracker) TTL() time.Duration { return t.ttl }

// Limits returns the limits in force.
func (t *Tracker) Limits() TrackerLimits { return t.lim }

func (t *Tracker) shard(id track.ID) *holderShard {
	return &t.shards[id[0]%byte(len(t.shards))]
}

// netOf is the network a source address counts against: its /24 (IPv4)
// or /64 (IPv6).
func netOf(ip netip.Addr) netip.Prefix {
	bits := 64
	if ip.Is4() {
		bits = 24
	}
	p, _ := ip.Prefix(bits)
	return p
}

// CheckAddr reports whether addr is a listable peer address: an IP
// literal (no zone) and a decimal port 1–65535 without sign or leading
// zero. The host may be empty or unspecified, to be completed by the
// tracker.
func CheckAddr(addr string) (netip.Addr, uint16, error) {
	if len(addr) > 64 {
		return netip.Addr{}, 0, fmt.Errorf("%w: addr is %d bytes, at most 64", ErrBadAnnounce, len(addr))
	}
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return netip.Addr{}, 0, fmt.Errorf("%w: addr %q is not host:port", ErrBadAnnounce, addr)
	}
	n, err := strconv.ParseUint(port, 10, 16)
	if err != nil || n == 0 || strconv.FormatUint(n, 10) != port {
		return netip.Addr{}, 0, fmt.Errorf("%w: addr %q: port must be a number 1-65535", ErrBadAnnounce, addr)
	}
	if host == "" {
		return netip.Addr{}, uint16(n), nil
	}
	ip, err := netip.ParseAddr(host)
	if err != nil || ip.Zone() != "" {
		return netip.Addr{}, 0, fmt.Errorf("%w: addr %q: host must be an IP address", ErrBadAnnounce, addr)
	}
	return ip.Unmap(), uint16(n), nil
}

// Announce records that peer p, reachable at p.Addr (an IP:port), holds
// tracks. src is the address the announce came from, which the per-source
// limits count against; at is the announce's time in ms, which must be
// after the peer's previous one. An empty list unlists the peer.
func (t *Tracker) Announce(p PeerInfo, src netip.Addr, at int64, tracks []track.ID) error {
	if !peerIDPattern.MatchString(p.ID) {
		return fmt.Errorf("%w: peer_id must be 1-128 characters of A-Z a-z 0-9 _ -", ErrBadAnnounce)
	}
	if ip, _, err := CheckAddr(p.Addr); err != nil {
		return err
	} else if !ip.IsValid() || ip.IsUnspecified() {
		return fmt.Errorf("%w: addr %q has no host", ErrBadAnnounce, p.Addr)
	}
	if len(tracks) > t.lim.TracksPerPeer {
		return t.limited(LimitTracksPerPeer, t.ttl)
	}
	tracks = slices.Clone(tracks)
	slices.SortFunc(tracks, func(a, b track.ID) int { return bytes.Compare(a[:], b[:]) })
	tracks = slices.Compact(tracks)
	src = src.Unmap()
	expires := t.now().Add(t.ttl).UnixNano()

	t.mu.Lock()
	defer t.mu.Unlock()
	old := t.peers[p.ID]
	if old != nil && at <= old.lastTime {
		return ErrStaleAnnounce
	}
	if last, ok := t.left[p.ID]; ok {
		if at <= last {
			return ErrStaleAnnounce // a replay of an announce from before the peer left
		}
		delete(t.left, p.ID)
	}
	if len(tracks) == 0 {
		if old != nil {
			t.dropLocked(old)
		}
		return nil
	}
	if old != nil && old.info == p && old.ip == src && slices.Equal(old.tracks, tracks) {
		old.expires.Store(expires) // a refresh: nothing moves
		old.lastTime = at
		return nil
	}
	// Limits count what the tables would hold with this announce in place
	// of the peer's last one.
	sameSrc := old != nil && old.ip == src
	sameNet := old != nil && netOf(old.ip) == netOf(src)
	switch {
	case old == nil && len(t.peers) >= t.lim.MaxPeers:
		return t.limited(LimitMaxPeers, t.ttl)
	case !sameSrc && t.perIP[src] >= t.lim.PeersPerIP:
		return t.limited(LimitPeersPerIP, t.ttl)
	case !sameNet && t.perNet[netOf(src)] >= t.lim.PeersPerNet:
		return t.limited(LimitPeersPerNet, t.ttl)
	}
	entries := t.entries + len(tracks)
	if old != nil {
		entries -= len(old.tracks)
	}
	if entries > t.lim.MaxEntries {
		return t.limited(LimitMaxEntries, t.ttl)
	}
	if old != nil {
		t.dropLocked(old)
	}
	np := &trackedPeer{info: p, ip: src, tracks: tracks, lastTime: at}
	np.expires.Store(expires)
	t.peers[p.ID] = np
	delete(t.left, p.ID)
	t.perIP[src]++
	t.perNet[netOf(src)]++
	t.entries += len(tracks)
	for _, id := range tracks {
		sh := t.shard(id)
		sh.mu.Lock()
		h := sh.holders[id]
		if h == nil {
			h = &holderList{at: map[string]int{}}
			sh.holders[id] = h
		}
		h.at[p.ID] = len(h.peers)
		h.peers = append(h.peers, np)
		sh.mu.Unlock()
	}
	t.npeers.Store(int64(len(t.peers)))
	t.nentry.Store(int64(t.entries))
	return nil
}

// Peers returns up to n live peers holding id, in random order, never the
// peer named exclude (the asker). It reads a window of the track's holders
// from a random start: the work is O(n) however many hold the track.
func (t *Tracker) Peers(id track.ID, exclude string, n int) []PeerInfo {
	if n <= 0 || n > MaxPeersPerAsk {
		n = min(max(n, DefaultPeersPerAsk), MaxPeersPerAsk)
	}
	now := t.now().UnixNano()
	sh := t.shard(id)
	sh.mu.RLock()
	var out []PeerInfo
	if h := sh.holders[id]; h != nil {
		l := len(h.peers)
		start := rand.IntN(l)
		// Expired entries wait for the sweep; look a little past n for them.
		for i := 0; i < l && i < 4*n+8 && len(out) < n; i++ {
			p := h.peers[(start+i)%l]
			if p.info.ID == exclude || now > p.expires.Load() {
				continue
			}
			out = append(out, p.info)
		}
	}
	sh.mu.RUnlock()
	rand.Shuffle(len(out), func(i, j int) { out[i], out[j] = out[j], out[i] })
	return out
}

// Lookup returns the listing of the peer id, if it is live: announced
// within the TTL.
func (t *Tracker) Lookup(id string) (PeerInfo, bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	p := t.peers[id]
	if p == nil || t.now().UnixNano() > p.expires.Load() {
		return PeerInfo{}, false
	}
	return p.info, true
}

// AllowAnnounce reports whether src may announce now, or a *LimitError.
func (t *Tracker) AllowAnnounce(src netip.Addr) error { return t.count(t.announceRate.allow(src)) }

// AllowLookup reports whether src may look up peers now, or a *LimitError.
func (t *Tracker) AllowLookup(src netip.Addr) error { return t.count(t.lookupRate.allow(src)) }

func (t *Tracker) limited(reason string, retry time.Duration) error {
	return t.count(&LimitError{Reason: reason, RetryAfter: retry})
}

func (t *Tracker) count(err error) error {
	if le, ok := err.(*LimitError); ok {
		t.refused.WithLabelValues(le.Reason).Inc()
	}
	return err
}

// collectors are the tracker's Prometheus collectors.
func (t *Tracker) collectors() []prometheus.Collector {
	return []prometheus.Collector{t.refused, prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "potluck_origin_tracker_entries", Help: "(peer, track) entries listed by the tracker.",
	}, func() float64 { return float64(t.Entries()) })}
}

// Expire forgets peers whose TTL ran out and returns how many are left.
func (t *Tracker) Expire() int {
	now := t.now().UnixNano()
	t.mu.Lock()
	for _, p := range t.peers {
		if now > p.expires.Load() {
			t.dropLocked(p)
		}
	}
	// An announce older than the clock skew is refused anyway.
	for id, last := range t.left {
		if t.now().Sub(time.UnixMilli(last)) > AnnounceClockSkew {
			delete(t.left, id)
		}
	}
	n := len(t.peers)
	t.mu.Unlock()
	t.announceRate.sweep()
	t.lookupRate.sweep()
	return n
}

// Len is the number of peers listed, live or not yet expired.
func (t *Tracker) Len() int { return int(t.npeers.Load()) }

// Entries is the number of (peer, track) entries listed.
func (t *Tracker) Entries() int { return int(t.nentry.Load()) }

func (t *Tracker) dropLocked(p *trackedPeer) {
	for _, id := range p.tracks {
		sh := t.shard(id)
		sh.mu.Lock()
		if h := sh.holders[id]; h != nil {
			if i, ok := h.at[p.info.ID]; ok {
				last := len(h.peers) - 1
				h.peers[i] = h.peers[last]
				h.at[h.peers[i].info.ID] = i
				h.peers[last] = nil
				h.peers = h.peers[:last]
				delete(h.at, p.info.ID)
			}
			if len(h.peers) == 0 {
				delete(sh.holders, id)
			}
		}
		sh.mu.Unlock()
	}
	if t.peers[p.info.ID] == p {
		delete(t.peers, p.info.ID)
		if len(t.left) < maxLeft {
			t.left[p.info.ID] = p.lastTime
		}
	}
	if t.perIP[p.ip]--; t.perIP[p.ip] <= 0 {
		delete(t.perIP, p.ip)
	}
	nw := netOf(p.ip)
	if t.perNet[nw]--; t.perNet[nw] <= 0 {
		delete(t.perNet, nw)
	}
	t.entries -= len(p.tracks)
	t.npeers.Store(int64(len(t.peers)))
	t.nentry.Store(int64(t.entries))
}
