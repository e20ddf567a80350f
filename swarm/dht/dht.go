package dht

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/netip"
	"sync"
	"time"

	anacrolix "github.com/anacrolix/dht/v2"
	"github.com/anacrolix/dht/v2/int160"
	"github.com/anacrolix/dht/v2/krpc"
	alog "github.com/anacrolix/log"
	"github.com/quic-go/quic-go"
	"golang.org/x/time/rate"
)

// Timing of table maintenance.
const (
	defaultQueryTimeout = 1500 * time.Millisecond // a query unanswered this long failed
	thinTable           = 8                       // fewer good nodes than this: bootstrap again soon
	thinRetryMin        = 500 * time.Millisecond  // first retry of a thin table, doubling ...
	thinRetryMax        = 30 * time.Second        // ... up to this
	refreshEvery        = 5 * time.Minute         // refresh and save a healthy table this often
	maxBootstrap        = 64                      // addresses AddBootstrap remembers
	pingWorkers         = 8                       // pings in flight at once
	sendRate            = 200                     // datagrams a second this node sends, burst as many
)

// Config configures Start.
type Config struct {
	// Mux is the node's demultiplexer; the DHT listens on FrameDHT. If nil,
	// Start makes a Mux over Transport and closes it at Close.
	Mux *Mux
	// Transport is the node's socket, used only when Mux is nil.
	Transport *quic.Transport
	// StateFile, if set, is where the routing table and this node's ID are
	// saved (at Close and every few minutes) and loaded from at Start.
	StateFile string
	// Bootstrap, if set, returns addresses to start from when the table is
	// thin (fewer than 8 good nodes). It is called from the DHT's own
	// goroutine and must not block long. No address is ever built in.
	Bootstrap func() []netip.AddrPort
	// PublicIP, if known, is the IP others see this node at; the node ID
	// is then derived from it as BEP 42 asks, so public nodes keep this one
	// in their tables. A saved ID that does not fit it is replaced.
	PublicIP netip.Addr
	// IDsPerIP caps the node IDs one IP (IPv6: /64) may have in this
	// node's routing table and in one lookup (default 4); above 8, it is
	// also how many nodes one IP's answers may name in one lookup.
	IDsPerIP int
	// Logger receives warnings and errors; nil discards them.
	Logger *slog.Logger

	queryTimeout time.Duration // tests shorten it
}

// DHT is a running node of Potluck's private Kademlia DHT. Its methods are
// safe for concurrent use.
type DHT struct {
	cfg    Config
	log    *slog.Logger
	mux    *Mux
	ownMux bool
	conn   *serverConn
	srv    *anacrolix.Server
	gate   *gate
	store  *store
	id     krpc.ID
	want   []krpc.Want // node lists asked for: those of the socket's families

	ctx    context.Context // ends at Close
	cancel context.CancelFunc
	wg     sync.WaitGroup // every goroutine Start and the methods start

	pingQ chan netip.AddrPort
	kick  chan struct{} // wakes the maintainer early

	mu        sync.Mutex
	closed    bool
	closeErr  error
	closeDone chan struct{}
	boot      []netip.AddrPort
	pinged    map[netip.AddrPort]time.Time
	kept      map[[20]byte]bool
	keptKick  chan struct{}
}

// ErrClosed is returned by the methods of a closed DHT.
var ErrClosed = errors.New("dht: closed")

// Start starts a DHT node on cfg's socket and starts joining the network
// from the saved table and the bootstrap addresses. ctx bounds only the
// call; the node runs until Close.
func Start(ctx context.Context, cfg Config) (*DHT, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if cfg.queryTimeout <= 0 {
		cfg.queryTimeout = defaultQueryTimeout
	}
	if cfg.IDsPerIP <= 0 {
		cfg.IDsPerIP = defaultIDsPerIP
	}
	logger := cfg.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	d := &DHT{
		cfg:       cfg,
		log:       logger,
		mux:       cfg.Mux,
		store:     newStore(),
		pingQ:     make(chan netip.AddrPort, 256),
		kick:      make(chan struct{}, 1),
		keptKick:  make(chan struct{}, 1),
		closeDone: make(chan struct{}),
		pinged:    make(map[netip.AddrPort]time.Time),
		kept:      make(map[[20]byte]bool),
	}
	if d.mux == nil {
		if cfg.Transport == nil {
			return nil, errors.New("dht: Config needs a Mux or a Transport")
		}
		d.mux = NewMux(cfg.Transport)
		d.ownMux = true
	}
	pc, err := d.mux.Listen(FrameDHT)
	if err != nil {
		if d.ownMux {
			d.mux.Close()
		}
		return nil, err
	}
	d.gate = newGate(cfg.IDsPerIP, func(b []byte, to net.Addr) { pc.WriteTo(b, to) }, d.queuePing)
	d.conn = newServerConn(pc, d.gate)

	st, err := loadState(cfg.StateFile)
	if err != nil {
		logger.Warn("dht: ignoring unreadable state file", "file", cfg.StateFile, "err", err)
		st = state{}
	}
	d.id = chooseID(st.ID, cfg.PublicIP)
	d.want = wants(pc.LocalAddr())

	al := alog.NewLogger("dht")
	al.SetHandlers(slogHandler{logger})
	sc := &anacrolix.ServerConfig{
		NodeId:        d.id,
		Conn:          d.conn,
		StartingNodes: d.startingNodes,
		// Not BEP 42's check of others' IDs: a node seldom knows its
		// public IP when its DHT starts (the tracker or its peers tell it
		// later), so on public addresses every node would refuse every
		// other. The gate's cap of IDsPerIP node IDs per IP (and per
		// lookup) is what keeps one address from owning a region.
		NoSecurity:       true,
		PeerStore:        d.store,
		QueryResendDelay: func() time.Duration { return cfg.queryTimeout },
		Logger:           al.WithFilterLevel(alog.Warning),
		DefaultWant:      wants(pc.LocalAddr()),
		SendLimiter:      rate.NewLimiter(sendRate, sendRate),
		Exp:              time.Hour,
	}
	if cfg.PublicIP.IsValid() {
		sc.PublicIP = cfg.PublicIP.AsSlice()
	}
	d.srv, err = anacrolix.NewServer(sc)
	if err != nil {
		d.conn.Close()
		if d.ownMux {
			d.mux.Close()
		}
		return nil, fmt.Errorf("dht: %w", err)
	}
	for _, n := range st.nodes() {
		d.srv.AddNode(n) // as untested nodes: the first refresh pings them
	}
	d.ctx, d.cancel = context.WithCancel(context.Background())
	d.wg.Add(3)
	go d.maintain(st.nodeAddrs())
	go d.pinger()
	go d.keeper()
	return d, nil
}

// ID returns this node's 20-byte ID.
func (d *DHT) ID() [20]byte { return d.id }

// Addr returns the local address of the node's socket.
func (d *DHT) Addr() net.Addr { return d.conn.LocalAddr() }

// Close stops the node, saves the table to the StateFile and returns when
// every goroutine the DHT started has ended. It does not close the Mux or
// Transport it was given. Close may be called again; it then returns what
// the first call returned.
func (d *DHT) Close() error {
	d.mu.Lock()
	if d.closed {
		d.mu.Unlock()
		<-d.closeDone
		return d.closeErr
	}
	d.closed = true
	d.mu.Unlock()

	d.cancel()
	d.wg.Wait()
	err := d.save()
	d.srv.Close()
	d.conn.Close()
	// The server's read loop ends when its read returns after Close. If it
	// was not reading (a datagram in hand), it sees the server closed
	// before it would read again, within microseconds.
	select {
	case <-d.conn.readerOut:
	case <-time.After(time.Second):
	}
	if d.ownMux {
		d.mux.Close()
	}
	d.closeErr = err
	close(d.closeDone)
	return err
}

// begin registers a call that starts work on d's behalf; it fails once
// Close has begun.
func (d *DHT) begin() bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.closed {
		return false
	}
	d.wg.Add(1)
	return true
}

// callCtx is ctx, also ended by Close.
func (d *DHT) callCtx(ctx context.Context) (context.Context, context.CancelFunc) {
	ctx, cancel := context.WithCancel(ctx)
	stop := context.AfterFunc(d.ctx, cancel)
	return ctx, func() { stop(); cancel() }
}

// Stats describes a node's view of the DHT.
type Stats struct {
	GoodNodes int // nodes in the table that answered within 15 minutes
	Nodes     int // nodes in the table
	Keys      int // keys others announced here
	Holders   int // entries under those keys
	Kept      int // keys this node keeps announced (KeepAnnounced)
	// External is the address two or more other nodes say they see this
	// node at (its NAT mapping), or zero if not yet known.
	External netip.AddrPort
	// Dropped counts inbound datagrams the limits or checks dropped.
	Dropped uint64
	// Sent and Received count the DHT datagrams this node wrote and read
	// (queries, answers and pings; Received before the limits and checks).
	Sent, Received uint64
}

// Stats returns a snapshot of d's state.
func (d *DHT) Stats() Stats {
	ss := d.srv.Stats()
	keys, entries := d.store.counts()
	d.mu.Lock()
	kept := len(d.kept)
	d.mu.Unlock()
	return Stats{
		GoodNodes: ss.GoodNodes,
		Nodes:     ss.Nodes,
		Keys:      keys,
		Holders:   entries,
		Kept:      kept,
		External:  d.gate.externalAddr(),
		Dropped:   d.gate.dropped.Load(),
		Sent:      d.conn.PacketConn.sent.Load(),
		Received:  d.conn.PacketConn.received.Load(),
	}
}

// AddBootstrap adds addresses to start from (for instance ones the origin
// gave) and pings them now. The DHT remembers the latest 64.
func (d *DHT) AddBootstrap(addrs ...netip.AddrPort) {
	d.mu.Lock()
	for _, a := range addrs {
		if !validAddr(a) {
			continue
		}
		d.boot = append(d.boot, a)
	}
	if len(d.boot) > maxBootstrap {
		d.boot = append([]netip.AddrPort(nil), d.boot[len(d.boot)-maxBootstrap:]...)
	}
	d.mu.Unlock()
	for _, a := range addrs {
		if validAddr(a) {
			d.queuePing(a)
		}
	}
	select {
	case d.kick <- struct{}{}:
	default:
	}
}

// Ping asks the node at addr for its ID; if it answers it enters the
// routing table as a good node.
func (d *DHT) Ping(ctx context.Context, addr netip.AddrPort) error {
	if !d.begin() {
		return ErrClosed
	}
	defer d.wg.Done()
	ctx, cancel := d.callCtx(ctx)
	defer cancel()
	return d.ping(ctx, addr)
}

func (d *DHT) ping(ctx context.Context, addr netip.AddrPort) error {
	res := d.srv.Query(ctx, anacrolix.NewAddr(net.UDPAddrFromAddrPort(addr)), "ping", anacrolix.QueryInput{})
	if err := res.ToError(); err != nil {
		return err
	}
	if id := res.Reply.SenderID(); id != nil {
		d.srv.NodeRespondedToPing(anacrolix.NewAddr(net.UDPAddrFromAddrPort(addr)), id.Int160())
	}
	return nil
}

// queuePing asks the pinger to ping addr soon, unless it was pinged in the
// last minute. It never blocks.
func (d *DHT) queuePing(addr netip.AddrPort) {
	select {
	case d.pingQ <- addr:
	default:
	}
}

// pinger pings the addresses queued, pingWorkers at a time.
func (d *DHT) pinger() {
	defer d.wg.Done()
	sem := make(chan struct{}, pingWorkers)
	var wg sync.WaitGroup
	defer wg.Wait()
	for {
		var a netip.AddrPort
		select {
		case <-d.ctx.Done():
			return
		case a = <-d.pingQ:
		}
		now := time.Now()
		d.mu.Lock()
		last, ok := d.pinged[a]
		if !ok || now.Sub(last) > time.Minute {
			d.pinged[a] = now
		}
		if len(d.pinged) > 4096 {
			for k, t := range d.pinged {
				if now.Sub(t) > time.Minute {
					delete(d.pinged, k)
				}
			}
		}
		d.mu.Unlock()
		if ok && now.Sub(last) <= time.Minute {
			continue
		}
		select {
		case sem <- struct{}{}:
		case <-d.ctx.Done():
			return
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			d.ping(d.ctx, a)
		}()
	}
}

// startingNodes feeds the server when its table is empty.
func (d *DHT) startingNodes() ([]anacrolix.Addr, error) {
	var out []anacrolix.Addr
	for _, a := range d.bootstrapAddrs() {
		out = append(out, anacrolix.NewAddr(net.UDPAddrFromAddrPort(a)))
	}
	if len(out) == 0 {
		return nil, errors.New("no bootstrap addresses")
	}
	return out, nil
}

func (d *DHT) bootstrapAddrs() []netip.AddrPort {
	d.mu.Lock()
	out := append([]netip.AddrPort(nil), d.boot...)
	d.mu.Unlock()
	if d.cfg.Bootstrap != nil {
		for _, a := range d.cfg.Bootstrap() {
			if validAddr(a) {
				out = append(out, a)
			}
		}
	}
	return out
}

// maintain joins the network and keeps the table full: it pings the saved
// nodes and the bootstrap addresses, then looks up its own ID (and a
// random one) so that the nodes met answer and become good; it repeats
// that soon while the table is thin, backing off from 0.5 s to 30 s, and
// every 5 minutes otherwise, pinging questionable nodes and saving the
// table.
func (d *DHT) maintain(saved []netip.AddrPort) {
	defer d.wg.Done()
	for _, a := range saved {
		d.queuePing(a)
	}
	retry := thinRetryMin
	lastSave := time.Now()
	for {
		d.refresh()
		d.store.expire()
		wait := refreshEvery
		if d.srv.Stats().GoodNodes < thinTable {
			wait = retry
			retry = min(2*retry, thinRetryMax)
		} else {
			retry = thinRetryMin
		}
		if d.cfg.StateFile != "" && time.Since(lastSave) >= refreshEvery {
			if err := d.save(); err != nil {
				d.log.Warn("dht: saving state", "err", err)
			}
			lastSave = time.Now()
		}
		t := time.NewTimer(wait)
		select {
		case <-d.ctx.Done():
			t.Stop()
			return
		case <-d.kick:
			t.Stop()
			retry = thinRetryMin
		case <-t.C:
		}
	}
}

// refresh pings the bootstrap addresses (while the table is thin) and the
// table's nodes that have not answered for 10 minutes, and runs a find_node lookup of the node's own ID and of a random
// ID.
func (d *DHT) refresh() {
	if d.srv.Stats().GoodNodes < thinTable {
		for _, a := range d.bootstrapAddrs() {
			d.queuePing(a)
		}
	}
	for _, n := range d.srv.Nodes() {
		// Questionable nodes: not heard answering lately.
		if a, ok := nodeAddrPort(n.Addr); ok && !d.gate.answeredRecently(a) {
			d.queuePing(a) // the pinger skips what it pinged in the last minute
		}
	}
	d.findNode(d.ctx, d.id)
	var r krpc.ID
	for i := range r {
		r[i] = byte(rand.Uint32())
	}
	d.findNode(d.ctx, r)
}

// findNode runs a find_node lookup of target; the nodes that answer enter
// the table.
func (d *DHT) findNode(ctx context.Context, target krpc.ID) {
	t := int160.FromByteArray(target)
	d.traverse(ctx, target, 16, func(ctx context.Context, a anacrolix.Addr) anacrolix.QueryResult {
		return d.srv.Query(ctx, a, "find_node", anacrolix.QueryInput{
			MsgArgs: krpc.MsgArgs{Target: t.AsByteArray(), Want: d.want},
		})
	}, nil)
}

// wants returns the node lists (BEP 32) a socket bound to local can use:
// IPv4 nodes for an IPv4 socket, IPv6 nodes for an IPv6 one, both for a
// dual-stack one bound to "::".
func wants(local net.Addr) []krpc.Want {
	ua, ok := local.(*net.UDPAddr)
	if !ok {
		return []krpc.Want{krpc.WantNodes}
	}
	ip, _ := netip.AddrFromSlice(ua.IP)
	switch {
	case ip.Is4() || ip.Is4In6():
		return []krpc.Want{krpc.WantNodes}
	case ip.IsUnspecified() && len(ua.IP) == net.IPv6len && ua.IP.To4() == nil:
		return []krpc.Want{krpc.WantNodes, krpc.WantNodes6}
	case !ip.IsValid():
		return []krpc.Want{krpc.WantNodes, krpc.WantNodes6}
	default:
		return []krpc.Want{krpc.WantNodes6}
	}
}

func validAddr(a netip.AddrPort) bool {
	ip := a.Addr().Unmap()
	return ip.IsValid() && !ip.IsUnspecified() && !ip.IsMulticast() && a.Port() != 0
}

// slogHandler passes anacrolix's log records to a slog.Logger.
type slogHandler struct{ l *slog.Logger }

func (h slogHandler) Handle(r alog.Record) {
	lvl := slog.LevelDebug
	switch r.Level {
	case alog.Info:
		lvl = slog.LevelInfo
	case alog.Warning:
		lvl = slog.LevelWarn
	case alog.Error, alog.Critical:
		lvl = slog.LevelError
	}
	h.l.Log(context.Background(), lvl, "dht: "+r.Msg.String())
}
