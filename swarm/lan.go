package swarm

// LAN peers: nodes on one network find each other by mDNS, without the
// Internet, and dial each other at their LAN addresses (not through their
// router's public address, which two listeners behind one NAT would have
// to hairpin through).

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"time"

	"github.com/hashicorp/mdns"
)

// lanService is the mDNS service a node advertises.
const lanService = "_potluck._udp"

// lanEvery is how often a node looks for LAN peers, lanQuery how long a
// query listens for answers.
const (
	lanEvery = 30 * time.Second
	lanQuery = time.Second
)

// lanRatePrior is the delivery rate a LAN peer is assumed to have until
// its first chunk is measured: an untried peer counts as 1 MB/s in the
// scheduler's choice (decide.go), so a LAN peer that holds a chunk is
// asked first even where the LAN rule (decider.lanPeer) lets go of it.
// Measurements soon replace it (conn.go, observe).
const lanRatePrior = 4 << 20

// maxLANPeers bounds the LAN peers a node remembers and dials per query.
const maxLANPeers = 32

// lanState is the node's mDNS advertisement and the LAN peers it found;
// n.mu guards peers.
type lanState struct {
	server *mdns.Server
	peers  map[string]PeerID // LAN address → peer found there
	nets   []netip.Prefix    // the networks of the host's interfaces
	// do runs f where the node's sockets are (tests: in a network
	// namespace); nil runs it here.
	do func(f func())
}

// swarmTag is the TXT value that keeps swarms apart: the first 8 bytes of
// SHA-256 of the origin key, in hex.
func (n *Node) swarmTag() string {
	h := sha256.Sum256(n.origin.URL().Key)
	return hex.EncodeToString(h[:8])
}

func (n *Node) lanDo(f func()) {
	if n.lan.do != nil {
		n.lan.do(f)
		return
	}
	f()
}

// startLAN advertises the node on the LAN and starts looking for others.
// Failing to advertise (no multicast) is logged, not fatal.
func (n *Node) startLAN() {
	n.lan.peers = map[string]PeerID{}
	ua, ok := n.Addr().(*net.UDPAddr)
	if !ok || ua.Port == 0 {
		return
	}
	var ips []net.IP
	var nets []netip.Prefix
	n.lanDo(func() { ips, nets = lanIPs() })
	n.mu.Lock()
	n.lan.nets = nets
	n.mu.Unlock()
	if !ua.IP.IsUnspecified() {
		ips = []net.IP{ua.IP}
	}
	if len(ips) == 0 {
		n.log.Debug("no LAN address to advertise")
		return
	}
	quiet := log.New(io.Discard, "", 0)
	svc, err := mdns.NewMDNSService(string(n.id), lanService, "", string(n.id)+".local.", ua.Port, ips,
		[]string{"v=1", "id=" + string(n.id), "swarm=" + n.swarmTag()})
	if err != nil {
		n.log.Info("not advertised on the LAN", "err", err)
		return
	}
	n.lanDo(func() { n.lan.server, err = mdns.NewServer(&mdns.Config{Zone: svc, Logger: quiet}) })
	if err != nil {
		n.log.Info("not advertised on the LAN", "err", err)
	}
	n.wg.Go(n.lanLoop)
}

// lanIPs lists the host's IPv4 addresses on interfaces that are up and
// multicast (not loopback), and their networks.
func lanIPs() (out []net.IP, nets []netip.Prefix) {
	ifs, _ := net.Interfaces()
	for _, ifc := range ifs {
		if ifc.Flags&net.FlagUp == 0 || ifc.Flags&net.FlagLoopback != 0 || ifc.Flags&net.FlagMulticast == 0 {
			continue
		}
		addrs, _ := ifc.Addrs()
		for _, a := range addrs {
			if ipn, ok := a.(*net.IPNet); ok && ipn.IP.To4() != nil {
				out = append(out, ipn.IP.To4())
				ip, _ := netip.AddrFromSlice(ipn.IP.To4())
				ones, _ := ipn.Mask.Size()
				if p, err := ip.Prefix(ones); err == nil {
					nets = append(nets, p)
				}
			}
		}
	}
	return out, nets
}

// closeLAN stops advertising.
func (n *Node) closeLAN() {
	if n.lan.server != nil {
		n.lan.server.Shutdown()
	}
}

// lanLoop looks for LAN peers now and every lanEvery.
func (n *Node) lanLoop() {
	t := time.NewTimer(0)
	defer t.Stop()
	for {
		select {
		case <-n.ctx.Done():
			return
		case <-t.C:
		}
		n.lookLAN()
		t.Reset(lanEvery)
	}
}

// lookLAN queries the LAN once and dials the peers of this swarm found.
func (n *Node) lookLAN() {
	entries := make(chan *mdns.ServiceEntry, maxLANPeers)
	ctx, cancel := context.WithTimeout(n.ctx, 2*lanQuery)
	defer cancel()
	var err error
	n.lanDo(func() {
		err = mdns.QueryContext(ctx, &mdns.QueryParam{
			Service: lanService, Domain: "local", Timeout: lanQuery, Entries: entries,
			DisableIPv6: true, Logger: log.New(io.Discard, "", 0),
		})
	})
	close(entries)
	if err != nil {
		n.log.Debug("LAN query failed", "err", err)
	}
	for e := range entries {
		p, err := n.lanPeer(e)
		if err != nil {
			continue
		}
		dctx, dcancel := context.WithTimeout(n.ctx, 3*time.Second)
		if _, err := n.dialLAN(dctx, p); err != nil {
			n.log.Debug("LAN peer not reached", "peer", p.ID.Short(), "addr", p.Addr, "err", err)
		}
		dcancel()
	}
}

// lanPeer is the peer an mDNS answer names, if it is of this swarm and
// not this node.
func (n *Node) lanPeer(e *mdns.ServiceEntry) (PeerAddr, error) {
	var id, tag string
	for _, f := range e.InfoFields {
		if v, ok := strings.CutPrefix(f, "id="); ok {
			id = v
		}
		if v, ok := strings.CutPrefix(f, "swarm="); ok {
			tag = v
		}
	}
	switch {
	case tag != n.swarmTag():
		return PeerAddr{}, errors.New("another swarm")
	case id == "" || PeerID(id) == n.id || len(id) > 255:
		return PeerAddr{}, errors.New("no peer, or this node")
	case e.AddrV4 == nil || e.Port <= 0 || e.Port > 65535:
		return PeerAddr{}, errors.New("no IPv4 address")
	}
	return PeerAddr{ID: PeerID(id), Addr: net.JoinHostPort(e.AddrV4.String(), strconv.Itoa(e.Port))}, nil
}

// dialLAN connects to a LAN peer at its LAN address (the handshake proves
// its ID), unless the node has a connection to it already.
func (n *Node) dialLAN(ctx context.Context, p PeerAddr) (*peerConn, error) {
	if n.isBanned(p.ID) {
		return nil, fmt.Errorf("peer %s is banned", p.ID.Short())
	}
	n.mu.Lock()
	if len(n.lan.peers) < maxLANPeers {
		n.lan.peers[p.Addr] = p.ID
	}
	c := n.conns[p.ID]
	n.mu.Unlock()
	if c != nil && c.conn.Context().Err() == nil {
		return c, nil
	}
	udp, err := net.ResolveUDPAddr("udp", p.Addr)
	if err != nil {
		return nil, err
	}
	conf, err := tlsConfigFor(n.tlsConf, p.ID)
	if err != nil {
		return nil, err
	}
	n.noteSent(p.Addr)
	qc, err := n.tr.Dial(ctx, udp, conf, quicConfig())
	if err != nil {
		return nil, err
	}
	n.confirm(p)
	return n.addConn(qc, p.ID, p.Addr, true, kindLAN)
}

// isLANLocked reports whether addr is where a LAN peer was found, or on
// a network of the host's interfaces (LAN only). n.mu held.
func (n *Node) isLANLocked(addr string) bool {
	if _, ok := n.lan.peers[addr]; ok {
		return true
	}
	ap, err := netip.ParseAddrPort(addr)
	if err != nil {
		return false
	}
	for _, p := range n.lan.nets {
		if p.Contains(ap.Addr().Unmap()) {
			return true
		}
	}
	return false
}
