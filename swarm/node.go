package swarm

import (
	"bytes"
	"cmp"
	"context"
	"crypto/ed25519"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"math/rand/v2"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/quic-go/quic-go"
	"golang.org/x/time/rate"

	"github.com/potluckfm/potluck/cache"
	"github.com/potluckfm/potluck/internal/atomicfile"
	"github.com/potluckfm/potluck/origin"
	"github.com/potluckfm/potluck/swarm/dht"
	"github.com/potluckfm/potluck/track"
)

// Config configures a Node.
type Config struct {
	// DataDir keeps the node key and the peers it found good.
	DataDir string
	// Origin is the client of the origin this node's swarm belongs to. Its
	// URL's key is the one every manifest must be signed with.
	Origin Origin
	// Store is the node's cache: what it plays from and serves.
	Store cache.Store
	// Listen is the UDP host:port of the peer protocol (default ":0").
	Listen string
	// PacketConn, if set, is used instead of listening on Listen (emulated
	// networks hand one in).
	PacketConn net.PacketConn
	// Transport, if set, is the QUIC transport to listen and dial on,
	// shared with the origin client (origin.ClientOptions.QUIC) so a node
	// uses one socket for everything. The node does not close it.
	Transport *quic.Transport
	// AnnounceAddr is the address given to the tracker; default the
	// socket's, with an unspecified host left for the tracker to fill in.
	// The tracker lists only the address announces come from, so its host
	// must be empty, unspecified or that address (an IP, not a name).
	AnnounceAddr string
	// MaxUploads bounds concurrent chunk uploads (default 8).
	MaxUploads int
	// UploadRate bounds upload bytes per second; 0 means no limit.
	UploadRate int64
	// Scheduler tunes the chunk scheduler; zero fields take defaults.
	Scheduler SchedulerConfig
	// NoAnnounce keeps the node off the tracker (a one-shot fetch that
	// exits soon should not be listed as a source).
	NoAnnounce bool
	// NoPeers turns peer-to-peer off: everything comes from the origin
	// (the client-server baseline). The node still serves.
	NoPeers bool
	// DHT runs a node of Potluck's DHT on the node's socket (see
	// discover.go): holders are looked up there beside the tracker, and
	// the tracks held are announced there unless NoAnnounce. Its routing
	// table is kept in DataDir.
	DHT bool
	// Bootstrap lists DHT nodes to join through, beside the saved table,
	// the peers the tracker names and the peers met.
	Bootstrap []netip.AddrPort
	// dhtIDsPerIP overrides the DHT's cap on node IDs from one IP, and
	// on the nodes one IP's answers may name in a lookup: tests on
	// loopback, where every node has the same one.
	dhtIDsPerIP int
	// Logger receives structured logs; nil means slog.Default().
	Logger *slog.Logger
	// LAN advertises the node on the local network by mDNS and dials the
	// nodes of the same swarm found there at their LAN addresses (lan.go).
	LAN bool
	// NoPunch turns hole punching off (punch.go): the node neither asks
	// peers to punch to it nor answers their punches, and a peer it cannot
	// dial is not reached (benchmarks of NAT without traversal). It still
	// relays punches between its peers.
	NoPunch bool

	inNet func(func()) // tests: runs mDNS's socket calls in a namespace
}

// Node is a swarm member: it fetches tracks for local readers (Open) and
// serves what its store holds to other nodes. Start it with Start, stop it
// with Close.
type Node struct {
	cfg     Config
	id      PeerID
	key     ed25519.PrivateKey
	log     *slog.Logger
	origin  Origin
	store   cache.Store
	tlsConf *tls.Config
	tr      *quic.Transport
	ln      *quic.Listener
	uploads *uploadSlots
	limiter *rate.Limiter

	ctx       context.Context
	cancel    context.CancelFunc
	wg        group // every goroutine the node starts, streams' included
	closeOnce sync.Once
	closeErr  error

	mu      sync.Mutex
	closing bool // set by Close; no connection is registered after it
	conns   map[PeerID]*peerConn
	live    map[*quic.Conn]struct{} // every connection being served, duplicates included
	dialing map[PeerID]chan struct{}
	lim     limits
	known   map[PeerID]knownPeer
	// confirmed holds the addresses vouched for: listed by the tracker,
	// connected to us, or reached and proved by the handshake. Others are
	// hearsay, dialled only within hearsayDials and hearsayRate.
	confirmed  map[PeerAddr]time.Time
	hearsay    *rate.Limiter
	cat        catalogueState // see catalogue.go
	dht        *dht.DHT       // nil unless Config.DHT; see discover.go
	mux        *dht.Mux       // the socket's non-QUIC datagrams, by frame
	hearsayOut int            // hearsay dials under way
	banned     map[PeerID]banned
	holders    map[track.ID]map[PeerID]time.Time // who told us they hold what
	open       map[track.ID]int                  // tracks with open streams
	books      map[track.ID]map[*haveBook]bool   // the streams' haveBooks, by track
	whoHas     map[PeerID]map[track.ID]time.Time // recent neighbour searches served, by asker
	reach      reachState                        // see reach.go
	punch      punchState                        // see punch.go
	traversal  traversalStats                    // see natstats.go
	lan        lanState                          // see lan.go
	warm       warmState                         // see warm.go

	announce     chan struct{}
	lastAnnounce atomic.Int64 // Unix ms of the last signed announce
	bytesServed  atomic.Int64
	chunksOut    atomic.Int64
	mapsOut      atomic.Int64
}

// limits bound the tables other nodes can grow. Each is a count of
// entries; when one is full the oldest entry gives way, or the newcomer is
// not recorded where it has no age to compare.
type limits struct {
	known           int // address book (peer exchange, inbound peers, good peers)
	banned          int // bans, the oldest forgotten first
	holderTracks    int // tracks with holders noted
	holdersPerTrack int // holders noted per track
	whoHasPerAsker  int // neighbour searches remembered per asker
	conns           int // live connections; inbound ones past it are refused
	connsPerIP      int // live connections from one IP (IPv6: one /64)
	hearsayPerAns   int // addresses taken from one WHO_HAS or PEERS answer
	// hearsayPerSource bounds the book's entries that peers from one IP
	// (IPv6: /64) told of and that never delivered, so that one source
	// cannot fill it however many answers it gives.
	hearsayPerSource int
	hearsayDials     int // hearsay dials under way at once
}

func defaultLimits() limits {
	return limits{
		known:           1000,
		banned:          1024,
		holderTracks:    256,
		holdersPerTrack: maxPeersListed,
		whoHasPerAsker:  64,
		// Early Spotify's clients kept about 50 connections, 60 at most;
		// a node here dials its own and serves up to this many in all.
		conns:            128,
		connsPerIP:       16,
		hearsayPerAns:    8,
		hearsayPerSource: 32,
		hearsayDials:     4,
	}
}

// Hearsay (an address only another peer spoke for) is dialled at most
// hearsayRate a second, hearsayBurst at once.
const (
	hearsayRate  = 2
	hearsayBurst = 2
)

// maxDHTAnnounced bounds the tracks a node keeps announced in the DHT:
// each costs a lookup and a few announces every 12 minutes.
const maxDHTAnnounced = 256

// maxStreams is the number of requests one peer may have open on a
// connection: a stream's scheduler keeps PerPeer (4) chunks in flight, and
// maps, searches and manifests come on top.
const maxStreams = 32

// knownTTL is how long the address book keeps a peer that never delivered
// after it was last heard of; goodTTL, one that did after it last did.
const (
	knownTTL = time.Hour
	goodTTL  = 30 * 24 * time.Hour
)

// holderTTL is how long a peer's word that it holds a track is believed.
const holderTTL = 10 * time.Minute

type banned struct {
	why string
	at  time.Time
}

type knownPeer struct {
	Addr     string    `json:"addr"`
	LastGood time.Time `json:"last_good"`
	seen     time.Time // last heard of (this run)
	// from is the network of the peer whose word put the entry in the
	// book (peer exchange), or the zero prefix for what the node found
	// itself; see hearsayPerSource.
	from netip.Prefix
}

// stale reports whether the book may forget k at now.
func (k knownPeer) stale(now time.Time) bool {
	if !k.LastGood.IsZero() {
		return now.Sub(k.LastGood) > goodTTL
	}
	return now.Sub(k.seen) > knownTTL
}

// Start creates the node's identity (or loads it from DataDir), binds its
// socket and starts serving and announcing. The node runs until Close,
// whatever becomes of ctx (see the package doc).
func Start(ctx context.Context, cfg Config) (*Node, error) {
	if cfg.Origin == nil || cfg.Store == nil || cfg.DataDir == "" {
		return nil, errors.New("swarm: Origin, Store and DataDir are required")
	}
	key, err := loadOrCreateKey(cfg.DataDir)
	if err != nil {
		return nil, fmt.Errorf("swarm: %w", err)
	}
	tlsConf, err := tlsConfig(key, "")
	if err != nil {
		return nil, err
	}
	tr := cfg.Transport
	if tr == nil {
		pc := cfg.PacketConn
		if pc == nil {
			if pc, err = net.ListenPacket("udp", cmp.Or(cfg.Listen, ":0")); err != nil {
				return nil, fmt.Errorf("swarm: %w", err)
			}
		}
		tr = &quic.Transport{Conn: pc}
	}
	n := &Node{
		cfg:       cfg,
		id:        IDFromKey(key.Public().(ed25519.PublicKey)),
		key:       key,
		log:       cmp.Or(cfg.Logger, slog.Default()),
		origin:    cfg.Origin,
		store:     cfg.Store,
		tlsConf:   tlsConf,
		tr:        tr,
		uploads:   newUploadSlots(cmp.Or(cfg.MaxUploads, 8)),
		conns:     map[PeerID]*peerConn{},
		live:      map[*quic.Conn]struct{}{},
		dialing:   map[PeerID]chan struct{}{},
		lim:       defaultLimits(),
		known:     map[PeerID]knownPeer{},
		confirmed: map[PeerAddr]time.Time{},
		hearsay:   rate.NewLimiter(hearsayRate, hearsayBurst),
		banned:    map[PeerID]banned{},
		holders:   map[track.ID]map[PeerID]time.Time{},
		whoHas:    map[PeerID]map[track.ID]time.Time{},
		open:      map[track.ID]int{},
		books:     map[track.ID]map[*haveBook]bool{},
		announce:  make(chan struct{}, 1),
	}
	if cfg.UploadRate > 0 {
		n.limiter = rate.NewLimiter(rate.Limit(cfg.UploadRate), max(int(cfg.UploadRate), track.MaxChunkSize))
	}
	n.log = n.log.With("node", n.id.Short())
	n.ln, err = n.tr.Listen(tlsConf, quicConfig())
	if err != nil {
		n.closeTransport()
		return nil, fmt.Errorf("swarm: %w", err)
	}
	n.loadKnown()
	if err := n.initCatalogue(); err != nil {
		n.closeTransport()
		return nil, fmt.Errorf("swarm: %w", err)
	}
	if cfg.DHT {
		if err := n.startDHT(ctx); err != nil {
			n.closeTransport()
			return nil, fmt.Errorf("swarm: %w", err)
		}
	}
	if !cfg.NoPunch { // without a puncher, punchAfterFail and answerPunch refuse
		if err := n.startPuncher(); err != nil {
			n.closeDHT()
			n.closeTransport()
			return nil, fmt.Errorf("swarm: %w", err)
		}
	}
	n.ctx, n.cancel = context.WithCancel(context.WithoutCancel(ctx))
	n.wg.Go(n.acceptLoop)
	if !cfg.NoAnnounce {
		n.wg.Go(n.announceLoop)
	}
	n.wg.Go(n.exchangeLoop)
	if cfg.LAN {
		n.lan.do = cfg.inNet
		n.startLAN()
	}
	return n, nil
}

func quicConfig() *quic.Config {
	return &quic.Config{
		MaxIdleTimeout:        30 * time.Second,
		KeepAlivePeriod:       10 * time.Second,
		HandshakeIdleTimeout:  3 * time.Second,
		MaxIncomingStreams:    maxStreams,
		MaxIncomingUniStreams: -1,
	}
}

// ID is the node's peer ID.
func (n *Node) ID() PeerID { return n.id }

// Addr is the UDP address the node listens and dials on.
func (n *Node) Addr() net.Addr { return n.tr.Conn.LocalAddr() }

// Transport is the node's one socket, for others that speak from it (the
// origin client, so that the tracker sees the address peers can reach).
// It closes with the node.
func (n *Node) Transport() *quic.Transport { return n.tr }

// Store is the node's cache.
func (n *Node) Store() cache.Store { return n.store }

// BytesServed counts chunk bytes this node uploaded to others.
func (n *Node) BytesServed() int64 { return n.bytesServed.Load() }

// MapsServed counts the chunk maps this node sent to others (of tracks it
// holds or is fetching): the swarm's control traffic.
func (n *Node) MapsServed() int64 { return n.mapsOut.Load() }

// Peers lists the nodes connected now.
func (n *Node) Peers() []PeerAddr {
	n.mu.Lock()
	defer n.mu.Unlock()
	out := make([]PeerAddr, 0, len(n.conns))
	for id, c := range n.conns {
		out = append(out, PeerAddr{ID: id, Addr: c.addr})
	}
	slices.SortFunc(out, func(a, b PeerAddr) int { return cmp.Compare(a.ID, b.ID) })
	return out
}

// Banned reports whether id was banned, and why.
func (n *Node) Banned(id PeerID) (string, bool) {
	n.mu.Lock()
	defer n.mu.Unlock()
	b, ok := n.banned[id]
	return b.why, ok
}

// ErrNodeClosed is returned by Open and by dials on a node that is closing.
var ErrNodeClosed = errors.New("swarm: node closed")

// Close stops the node: connections, listeners, and every goroutine it
// started, streams' schedulers included; it returns once they have ended.
// It remembers the good peers for next time. Calling it again returns the
// first call's result.
func (n *Node) Close() error {
	n.closeOnce.Do(func() { n.closeErr = n.close() })
	return n.closeErr
}

func (n *Node) close() error {
	n.cancel() // stops the loops first, so no announce lands after the leave
	n.mu.Lock()
	n.closing = true
	conns := make([]*quic.Conn, 0, len(n.live))
	for c := range n.live {
		conns = append(conns, c)
	}
	n.mu.Unlock()
	for _, c := range conns {
		c.CloseWithError(0, "node closing")
	}
	n.ln.Close()
	n.wg.Wait()
	if !n.cfg.NoAnnounce {
		// Leave the tracker's lists now rather than when its TTL runs out.
		ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
		_, err := n.origin.Announce(ctx, n.signedAnnounce([]track.ID{}))
		cancel()
		if err != nil {
			n.log.Debug("leaving the tracker failed; it forgets this node when its TTL runs out", "err", err)
		}
	}
	n.saveKnown()
	n.closeLAN()
	n.closePuncher()
	return errors.Join(n.closeDHT(), n.closeTransport())
}

// group is a WaitGroup that refuses new goroutines once Wait has begun,
// so nothing can start behind a Close that is waiting for the rest.
type group struct {
	mu     sync.Mutex
	closed bool
	wg     sync.WaitGroup
}

// Go runs f in a goroutine of the group and reports true, or reports false
// and does nothing once Wait has begun.
func (g *group) Go(f func()) bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.closed {
		return false
	}
	g.wg.Go(f)
	return true
}

// Wait closes the group to new goroutines and waits for those it has.
func (g *group) Wait() {
	g.mu.Lock()
	g.closed = true
	g.mu.Unlock()
	g.wg.Wait()
}

func (n *Node) closeTransport() error {
	if n.cfg.Transport != nil {
		return nil // the caller's
	}
	return n.tr.Close()
}

// AnnounceNow asks the node to announce its holdings to the tracker soon.
func (n *Node) AnnounceNow() {
	select {
	case n.announce <- struct{}{}:
	default:
	}
}

// announceAddr is the address the tracker lists for this node.
func (n *Node) announceAddr() string {
	if n.cfg.AnnounceAddr != "" {
		return n.cfg.AnnounceAddr
	}
	return n.Addr().String()
}

// Announce tells the tracker what this node holds now.
func (n *Node) Announce(ctx context.Context) (origin.AnnounceResponse, error) {
	resp, err := n.origin.Announce(ctx, n.signedAnnounce(n.holdings()))
	if err == nil {
		n.noteOriginSaw(resp.Addr)
	}
	return resp, err
}

// signedAnnounce is an announce of tracks signed with the node key for
// this node's origin. Its time is after the previous one's, even within a
// millisecond, since the tracker ignores an announce not newer than the
// last it accepted.
func (n *Node) signedAnnounce(tracks []track.ID) origin.AnnounceRequest {
	at := time.Now()
	for {
		last := n.lastAnnounce.Load()
		if at.UnixMilli() <= last {
			at = time.UnixMilli(last + 1)
		}
		if n.lastAnnounce.CompareAndSwap(last, at.UnixMilli()) {
			break
		}
	}
	req := origin.AnnounceRequest{Addr: n.announceAddr(), Tracks: tracks}
	if st := n.Reachability().State; st != ReachUnknown {
		req.Reach = st
	}
	req.Sign(n.key, n.origin.URL().Key, at)
	return req
}

// holdings lists the tracks to announce, sorted.
func (n *Node) holdings() []track.ID {
	// Tracks being fetched count too: a node that has none of a track yet
	// is a swarm-mate of others fetching it (as leechers are in BitTorrent).
	n.mu.Lock()
	ids := make([]track.ID, 0, len(n.open))
	for id := range n.open {
		ids = append(ids, id)
	}
	n.mu.Unlock()
	for _, t := range n.store.Tracks() {
		if t.Held > 0 && !slices.Contains(ids, t.ID) {
			ids = append(ids, t.ID)
		}
	}
	slices.SortFunc(ids, func(a, b track.ID) int { return bytes.Compare(a[:], b[:]) })
	return ids
}

// announceLoop announces on start, when asked (new content) and before the
// tracker forgets this node.
func (n *Node) announceLoop() {
	interval := time.Minute
	timer := time.NewTimer(0)
	defer timer.Stop()
	changed := n.store.Subscribe()
	var last []track.ID
	for {
		select {
		case <-n.ctx.Done():
			return
		case <-timer.C:
		case _, ok := <-changed:
			if !ok {
				changed = nil // store closed
				continue
			}
			if !n.debounce() {
				return
			}
			if slices.Equal(n.holdings(), last) {
				continue // more chunks of tracks already announced
			}
		case <-n.announce:
			if !n.debounce() {
				return
			}
		}
		ctx, cancel := context.WithTimeout(n.ctx, 10*time.Second)
		last = n.holdings()
		n.keepDHTAnnounced(last[:min(len(last), maxDHTAnnounced)])
		resp, err := n.Announce(ctx)
		cancel()
		next := interval
		if err != nil {
			n.log.Debug("announce failed", "err", err)
			next = 5 * time.Second
		} else if resp.Interval > 0 {
			interval = time.Duration(resp.Interval) * time.Second
			next = interval
		}
		timer.Reset(next)
	}
}

// debounce waits a moment so a burst of new chunks makes one announce. It
// reports false if the node is closing.
func (n *Node) debounce() bool {
	select {
	case <-time.After(300 * time.Millisecond):
		return true
	case <-n.ctx.Done():
		return false
	}
}

// exchangeLoop asks a random connected peer for the peers it knows (peer
// exchange) now and then, and saves the address book.
func (n *Node) exchangeLoop() {
	t := time.NewTicker(20 * time.Second)
	defer t.Stop()
	for {
		select {
		case <-n.ctx.Done():
			return
		case <-t.C:
		}
		conns := n.connected()
		if len(conns) == 0 {
			continue
		}
		c := conns[rand.IntN(len(conns))]
		ctx, cancel := context.WithTimeout(n.ctx, 5*time.Second)
		peers, err := c.peers(ctx)
		cancel()
		if err == nil {
			n.learn(ipPrefix(c.conn.RemoteAddr()), peers[:min(len(peers), n.lim.hearsayPerAns)])
		}
		n.age()
		n.saveKnown()
	}
}

// learn adds peers to the address book (not the node itself, not the
// banned); from is the network of the peer that told of them, or the zero
// prefix for what the node found itself (the tracker).
func (n *Node) learn(from netip.Prefix, peers []PeerAddr) {
	n.mu.Lock()
	defer n.mu.Unlock()
	for _, p := range peers {
		if p.ID == n.id || !p.fits() {
			continue
		}
		if _, bad := n.banned[p.ID]; bad {
			continue
		}
		n.rememberLocked(from, p.ID, p.Addr)
	}
}

// rememberLocked adds a peer to the address book if it is new and the book
// has room (after stale entries go): what peers tell us never pushes out
// what we found, and one source's word takes at most hearsayPerSource
// places. n.mu held.
func (n *Node) rememberLocked(from netip.Prefix, id PeerID, addr string) {
	now := time.Now()
	if k, ok := n.known[id]; ok {
		if k.Addr == addr {
			k.seen = now
			n.known[id] = k
		}
		return
	}
	if len(n.known) >= n.lim.known {
		n.ageLocked(now)
	}
	if from.IsValid() && n.toldBy(from) >= n.lim.hearsayPerSource {
		return
	}
	if len(n.known) < n.lim.known {
		n.known[id] = knownPeer{Addr: addr, seen: now, from: from}
	}
}

// toldBy counts the book's entries that peers of network from told of and
// that never delivered. n.mu held.
func (n *Node) toldBy(from netip.Prefix) int {
	told := 0
	for _, k := range n.known {
		if k.from == from && k.LastGood.IsZero() {
			told++
		}
	}
	return told
}

// age forgets the address book's stale entries and the confirmations not
// renewed within knownTTL.
func (n *Node) age() {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.ageLocked(time.Now())
}

func (n *Node) ageLocked(now time.Time) {
	for id, k := range n.known {
		if k.stale(now) {
			delete(n.known, id)
		}
	}
	for p, at := range n.confirmed {
		if now.Sub(at) > knownTTL {
			delete(n.confirmed, p)
		}
	}
}

// confirm records that p's address is vouched for (see Node.confirmed).
func (n *Node) confirm(ps ...PeerAddr) {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.confirmLocked(ps...)
}

func (n *Node) confirmLocked(ps ...PeerAddr) {
	now := time.Now()
	for _, p := range ps {
		if _, ok := n.confirmed[p]; !ok && len(n.confirmed) >= n.lim.known {
			delete(n.confirmed, minKey(n.confirmed, func(at time.Time) time.Time { return at }))
		}
		n.confirmed[p] = now
	}
}

// markGood records that p delivered, so it is remembered across restarts.
func (n *Node) markGood(p *peerConn) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if _, ok := n.known[p.id]; !ok && len(n.known) >= n.lim.known {
		// A peer that delivered outranks the one that delivered least
		// recently (or never).
		oldest := minKey(n.known, func(k knownPeer) time.Time { return k.LastGood })
		delete(n.known, oldest)
	}
	n.known[p.id] = knownPeer{Addr: p.addr, LastGood: time.Now(), seen: time.Now()}
	n.confirmLocked(PeerAddr{ID: p.id, Addr: p.addr})
}

// proven reports whether id has delivered good chunks to this node.
func (n *Node) proven(id PeerID) bool {
	n.mu.Lock()
	defer n.mu.Unlock()
	k, ok := n.known[id]
	return ok && !k.LastGood.IsZero()
}

// minKey returns the key of m whose value has the earliest time.
func minKey[K comparable, V any](m map[K]V, at func(V) time.Time) K {
	var key K
	var first time.Time
	for k, v := range m {
		if t := at(v); first.IsZero() || t.Before(first) {
			key, first = k, t
		}
	}
	return key
}

const knownFile = "peers.json"

func (n *Node) loadKnown() {
	b, err := os.ReadFile(filepath.Join(n.cfg.DataDir, knownFile))
	if err != nil {
		return
	}
	var m map[PeerID]knownPeer
	if err := json.Unmarshal(b, &m); err != nil {
		n.log.Warn("ignoring unreadable peer list", "err", err)
		return
	}
	// The newest first, as many as the book holds.
	ids := slices.Collect(maps.Keys(m))
	slices.SortFunc(ids, func(a, b PeerID) int { return m[b].LastGood.Compare(m[a].LastGood) })
	for _, id := range ids {
		if k := m[id]; id != n.id && k.Addr != "" && len(n.known) < n.lim.known && !k.stale(time.Now()) {
			k.seen = time.Now()
			n.known[id] = k
		}
	}
}

// saveKnown writes the peers that delivered good chunks, newest first.
func (n *Node) saveKnown() {
	n.mu.Lock()
	good := map[PeerID]knownPeer{}
	for id, k := range n.known {
		if !k.LastGood.IsZero() {
			good[id] = k
		}
	}
	n.mu.Unlock()
	b, err := json.MarshalIndent(good, "", "  ")
	if err != nil {
		panic("bug: peer list does not encode: " + err.Error())
	}
	if err := atomicfile.Write(filepath.Join(n.cfg.DataDir, knownFile), b); err != nil {
		n.log.Warn("peer list not saved", "err", err)
	}
}

// knownPeers returns the address book, good peers first.
func (n *Node) knownPeers() []PeerAddr {
	n.mu.Lock()
	defer n.mu.Unlock()
	out := make([]PeerAddr, 0, len(n.known))
	for id, k := range n.known {
		if _, bad := n.banned[id]; !bad {
			out = append(out, PeerAddr{ID: id, Addr: k.Addr})
		}
	}
	slices.SortFunc(out, func(a, b PeerAddr) int {
		return n.known[b.ID].LastGood.Compare(n.known[a.ID].LastGood)
	})
	return out
}

// ban disconnects a peer and refuses it for the node's lifetime.
func (n *Node) ban(id PeerID, why string) {
	n.mu.Lock()
	if _, already := n.banned[id]; already {
		n.mu.Unlock()
		return
	}
	if len(n.banned) >= n.lim.banned {
		delete(n.banned, minKey(n.banned, func(b banned) time.Time { return b.at }))
	}
	n.banned[id] = banned{why: why, at: time.Now()}
	c := n.conns[id]
	delete(n.conns, id)
	delete(n.known, id)
	for t, h := range n.holders {
		delete(h, id)
		if len(h) == 0 {
			delete(n.holders, t)
		}
	}
	n.mu.Unlock()
	n.log.Warn("banned peer", "peer", id.Short(), "why", why)
	if c != nil {
		c.conn.CloseWithError(errCodeBanned, why)
	}
}

func (n *Node) isBanned(id PeerID) bool {
	n.mu.Lock()
	defer n.mu.Unlock()
	_, bad := n.banned[id]
	return bad
}

// noteHolder records that peer id holds (some of) track t.
func (n *Node) noteHolder(t track.ID, id PeerID) {
	n.mu.Lock()
	defer n.mu.Unlock()
	now := time.Now()
	h := n.holders[t]
	if h == nil {
		if len(n.holders) >= n.lim.holderTracks {
			// Make room: the track whose latest word is oldest goes.
			delete(n.holders, minKey(n.holders, latest))
		}
		h = map[PeerID]time.Time{}
		n.holders[t] = h
	}
	if _, ok := h[id]; !ok && len(h) >= n.lim.holdersPerTrack {
		for pid, seen := range h {
			if now.Sub(seen) > holderTTL {
				delete(h, pid)
			}
		}
		if len(h) >= n.lim.holdersPerTrack {
			delete(h, minKey(h, func(seen time.Time) time.Time { return seen }))
		}
	}
	h[id] = now
}

// latest is the time of the newest word among a track's holders.
func latest(h map[PeerID]time.Time) time.Time {
	var t time.Time
	for _, seen := range h {
		if seen.After(t) {
			t = seen
		}
	}
	return t
}

// watchInterest registers a stream's haveBook for track id until the
// returned func is called: a peer that asks this node for its map of id is
// fetching id, so a stream of id should ask for the peer's map again.
func (n *Node) watchInterest(id track.ID, b *haveBook) (stop func()) {
	n.mu.Lock()
	if n.books[id] == nil {
		n.books[id] = map[*haveBook]bool{}
	}
	n.books[id][b] = true
	n.mu.Unlock()
	return func() {
		n.mu.Lock()
		delete(n.books[id], b)
		if len(n.books[id]) == 0 {
			delete(n.books, id)
		}
		n.mu.Unlock()
	}
}

// noteInterest tells the streams of id that peer asked for this node's map
// of it.
func (n *Node) noteInterest(id track.ID, peer PeerID) {
	n.mu.Lock()
	defer n.mu.Unlock()
	for b := range n.books[id] {
		b.interested(peer)
	}
}
