package nodeconf

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"github.com/quic-go/quic-go"

	"github.com/potluckfm/potluck/cache"
	"github.com/potluckfm/potluck/swarm"
	"github.com/potluckfm/potluck/swarm/nat"
)

// Files of a data directory (see the package doc). swarm writes the key
// and peers files; their names are its.
const (
	keyFile   = "node.key"
	peersFile = "peers.json"
	cacheDir  = "cache"
	// oldNodeDir is where desktop apps before this layout kept the key and
	// peers files.
	oldNodeDir = "node"
)

// Options say where a node keeps its state.
type Options struct {
	// Dir is the data directory. Empty means a throwaway one, removed by
	// Node.Close.
	Dir string
	// CacheDir, if set, holds the cache instead of Dir/cache.
	CacheDir string
	// CacheLimit bounds the cache in bytes; 0 takes cache's default.
	CacheLimit int64
	// NoPortMap keeps the node from asking the home router to forward its
	// UDP port (NAT-PMP, UPnP IGD); tests that need no router set it.
	NoPortMap bool
	// NoLAN keeps the node off mDNS: it neither advertises itself on the
	// local network nor looks for peers there (swarm.Config.LAN).
	NoLAN bool
}

// Node is a running swarm node with the cache it opened.
type Node struct {
	*swarm.Node
	// Store is the node's cache, in CacheDir.
	Store    *cache.Disk
	CacheDir string
	cleanup  func()
	unshare  func() // gives the origin client its own sockets back
	// closeSocket closes the node's socket, if Start opened it (else the
	// swarm node does, or the caller).
	closeSocket func() error
	mapper      *nat.PortMapper
	mapped      chan struct{} // closed when the mapper's first attempt ended
}

// TempPrefix starts the name of the throwaway data directory of a node
// started without one, in os.TempDir(); the owner's PID and a dash follow.
const TempPrefix = "potluck-node-"

// Start migrates the data directory to the current layout, opens the cache
// and starts a swarm node on it. cfg is the node's configuration but for
// DataDir and Store, which Start fills in; cfg.Origin is required (the
// cache pins its key). Close the Node to stop both.
func Start(ctx context.Context, o Options, cfg swarm.Config) (*Node, error) {
	if cfg.Origin == nil {
		return nil, errors.New("nodeconf: swarm.Config.Origin is required")
	}
	log := cfg.Logger
	if log == nil {
		log = slog.Default()
	}
	n := &Node{cleanup: func() {}}
	dir := o.Dir
	if dir == "" {
		// The name holds the owner's PID, so that a later run can remove
		// the directory of one killed before it could.
		removeStaleTemp(log)
		tmp, err := os.MkdirTemp("", TempPrefix+strconv.Itoa(os.Getpid())+"-*")
		if err != nil {
			return nil, err
		}
		dir = tmp
		n.cleanup = func() { os.RemoveAll(tmp) }
	} else if err := Migrate(dir, log); err != nil {
		return nil, err
	}
	n.CacheDir = o.CacheDir
	if n.CacheDir == "" {
		n.CacheDir = filepath.Join(dir, cacheDir)
	}
	store, err := cache.OpenDisk(n.CacheDir, cfg.Origin.URL().Key, cache.Options{Limit: o.CacheLimit, Logger: log})
	if err != nil {
		n.cleanup()
		return nil, err // OpenDisk's errors say "cache: " already
	}
	n.Store = store
	cfg.DataDir, cfg.Store = dir, store
	// Every node joins the DHT, so that it finds peers with the origin
	// down (its routing table is kept in the data directory).
	cfg.DHT = true
	// Listeners on one network find each other without the Internet.
	cfg.LAN = !o.NoLAN
	// The origin client speaks from the node's socket, so the tracker
	// lists the address it sees, which peers can reach through a NAT. It
	// has the socket before the node starts: the node's first announce
	// then opens the origin's connection as the app starts, on the
	// socket the catalogue and the first play use, so no handshake waits
	// for a click. (Given the socket after, a first announce that won the
	// race dialled from a socket of the client's own, and the next
	// request dialled again.)
	if c, ok := cfg.Origin.(quicUser); ok && cfg.Transport == nil {
		pc := cfg.PacketConn
		if pc == nil {
			if pc, err = net.ListenPacket("udp", cmp.Or(cfg.Listen, ":0")); err != nil {
				store.Close()
				n.cleanup()
				return nil, fmt.Errorf("swarm: %w", err)
			}
		}
		tr := &quic.Transport{Conn: pc}
		cfg.Transport = tr
		c.UseQUIC(tr)
		n.unshare = func() { c.UseQUIC(nil) }
		// quic.Transport does not close a socket it was given.
		n.closeSocket = func() error { return errors.Join(tr.Close(), pc.Close()) }
	}
	if n.Node, err = swarm.Start(ctx, cfg); err != nil {
		if n.unshare != nil {
			n.unshare()
			n.closeSocket()
		}
		store.Close()
		n.cleanup()
		return nil, err
	}
	if c, ok := cfg.Origin.(quicUser); ok && n.unshare == nil {
		c.UseQUIC(n.Node.Transport())
		n.unshare = func() { c.UseQUIC(nil) }
	}
	n.startPortMap(o, log)
	return n, nil
}

// mapWait bounds the wait for the port mapper's first attempt (PortMapped).
const mapWait = 3 * time.Second

// startPortMap asks the home router to forward the node's UDP port, in the
// background so that Start is not delayed (the UPnP search takes 2 s when
// no router answers); the mapping, whatever becomes of it, feeds the node's
// Reachability. It is never fatal.
func (n *Node) startPortMap(o Options, log *slog.Logger) {
	n.mapped = make(chan struct{})
	ua, ok := n.Node.Addr().(*net.UDPAddr)
	if o.NoPortMap || !ok || ua.Port == 0 {
		close(n.mapped)
		return
	}
	n.mapper = nat.NewPortMapper(nat.Config{
		Port:     ua.Port,
		Logf:     func(format string, args ...any) { log.Info(fmt.Sprintf(format, args...)) },
		OnChange: n.Node.NotePortMapping,
	})
	pm, done := n.mapper, n.mapped
	go func() {
		defer close(done)
		ctx, cancel := context.WithTimeout(context.Background(), mapWait)
		defer cancel()
		if err := pm.Start(ctx); err != nil {
			log.Debug("port mapping not started", "err", err)
		}
	}()
}

// PortMapped is closed once the port mapper's first attempt has ended
// (mapped, refused or no router), or after about 3 s, or at once if the
// node maps no port: then Reachability says what mapping there is.
func (n *Node) PortMapped() <-chan struct{} { return n.mapped }

// ResolveBootstrap turns HOST:PORT strings (a --bootstrap flag, the app's
// settings) into DHT bootstrap addresses. A name that does not resolve is
// an error naming it.
func ResolveBootstrap(ctx context.Context, hostPorts []string) ([]netip.AddrPort, error) {
	var out []netip.AddrPort
	for _, hp := range hostPorts {
		host, port, err := net.SplitHostPort(hp)
		if err != nil {
			return nil, fmt.Errorf("%q: want HOST:PORT", hp)
		}
		p, err := strconv.ParseUint(port, 10, 16)
		if err != nil || p == 0 {
			return nil, fmt.Errorf("%q: port must be a number 1-65535", hp)
		}
		ips, err := net.DefaultResolver.LookupNetIP(ctx, "ip", host)
		if err != nil || len(ips) == 0 {
			return nil, fmt.Errorf("%q: cannot resolve %s: %v", hp, host, err)
		}
		out = append(out, netip.AddrPortFrom(ips[0].Unmap(), uint16(p)))
	}
	return out, nil
}

// quicUser is an origin client that can dial from the node's socket
// (*origin.Client).
type quicUser interface{ UseQUIC(*quic.Transport) }

// Close stops the node, closes the cache and removes a throwaway data
// directory.
func (n *Node) Close() error {
	if n.mapper != nil {
		n.mapper.Close() // removes the mapping; safe while Start runs
	}
	// The node leaves the tracker over the origin connection it shares,
	// and only then does the client dial from sockets of its own: a
	// leave sent after the switch cost a handshake of its own (in 0-RTT,
	// where quic-go races, quic-go/quic-go#4303).
	err := n.Node.Close()
	if n.unshare != nil {
		n.unshare()
	}
	if n.closeSocket != nil {
		err = errors.Join(err, n.closeSocket())
	}
	err = errors.Join(err, n.Store.Close())
	n.cleanup()
	return err
}

// Migrate moves the node key and peers of an older desktop app's data
// directory (DIR/node/) into DIR, where potluckd keeps them, and removes
// DIR/node once it is empty. Each move is a rename, so an interrupted
// migration is finished by the next call, and a migrated directory is
// left as it is. A key already in DIR wins: the one in DIR/node is left
// there, with a warning. The cache needs no move: the app kept it in
// DIR/cache too.
func Migrate(dir string, log *slog.Logger) error {
	old := filepath.Join(dir, oldNodeDir)
	for _, name := range []string{keyFile, peersFile} {
		from, to := filepath.Join(old, name), filepath.Join(dir, name)
		if _, err := os.Lstat(from); errors.Is(err, fs.ErrNotExist) {
			continue
		} else if err != nil {
			return fmt.Errorf("data directory: %w", err)
		}
		if _, err := os.Lstat(to); err == nil {
			log.Warn("an older layout's file left in place: the data directory has its own", "kept", to, "left", from)
			continue
		} else if !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("data directory: %w", err)
		}
		if err := os.Rename(from, to); err != nil {
			return fmt.Errorf("data directory: moving %s into place: %w", name, err)
		}
		log.Info("moved into the data directory's new layout", "from", from, "to", to)
	}
	// A peers file that was being written when the old app stopped is
	// stale; then the directory goes if nothing else is in it.
	if err := os.Remove(filepath.Join(old, peersFile+".tmp")); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("data directory: %w", err)
	}
	if err := os.Remove(old); err != nil && !errors.Is(err, fs.ErrNotExist) {
		if entries, rerr := os.ReadDir(old); rerr != nil || len(entries) == 0 {
			return fmt.Errorf("data directory: %w", err)
		}
		// Not empty: what is left (a key kept above) stays for the owner.
	}
	return nil
}
