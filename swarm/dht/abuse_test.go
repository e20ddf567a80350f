package dht

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"sync"
	"testing"
	"time"

	"github.com/anacrolix/dht/v2/krpc"
	"github.com/anacrolix/torrent/bencode"
)

// rawPeer is a bare UDP socket speaking framed KRPC by hand.
type rawPeer struct {
	t   *testing.T
	c   *net.UDPConn
	ap  netip.AddrPort
	id  krpc.ID
	seq int
}

func newRawPeer(t *testing.T, ip netip.Addr) *rawPeer {
	t.Helper()
	c, err := net.ListenUDP("udp", net.UDPAddrFromAddrPort(netip.AddrPortFrom(ip, 0)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return &rawPeer{t: t, c: c, ap: c.LocalAddr().(*net.UDPAddr).AddrPort(), id: krpc.RandomNodeID()}
}

func (p *rawPeer) send(to netip.AddrPort, m krpc.Msg) {
	p.t.Helper()
	b, err := bencode.Marshal(m)
	if err != nil {
		p.t.Fatal(err)
	}
	p.sendRaw(to, append([]byte{FrameDHT}, b...))
}

func (p *rawPeer) sendRaw(to netip.AddrPort, b []byte) {
	if _, err := p.c.WriteToUDPAddrPort(b, to); err != nil {
		p.t.Fatal(err)
	}
}

// query sends q with args a and returns the answer, or an error after
// 500 ms.
func (p *rawPeer) query(to netip.AddrPort, q string, a krpc.MsgArgs) (krpc.Msg, error) {
	p.seq++
	tid := string(rune('a' + p.seq%26))
	a.ID = p.id
	p.send(to, krpc.Msg{T: tid, Y: "q", Q: q, A: &a})
	buf := make([]byte, 1<<16)
	p.c.SetReadDeadline(time.Now().Add(500 * time.Millisecond))
	defer p.c.SetReadDeadline(time.Time{})
	for {
		n, _, err := p.c.ReadFromUDPAddrPort(buf)
		if err != nil {
			return krpc.Msg{}, err
		}
		if n < 2 || buf[0] != FrameDHT {
			continue
		}
		var m krpc.Msg
		if bencode.Unmarshal(buf[1:n], &m) != nil || m.T != tid {
			continue
		}
		return m, nil
	}
}

func port(p int) *int { return &p }

// TestAnnounceBoundToSender: an announce without a valid token, with a
// token issued to another address, or naming a port instead of
// implied_port is refused; a valid one stores only the sender's own
// source address.
func TestAnnounceBoundToSender(t *testing.T) {
	v := startNode(t, loopback(0), nil)
	honest := startNode(t, loopback(1), []netip.AddrPort{v.ap})
	key := [20]byte{0xa1}
	evil := newRawPeer(t, netip.MustParseAddr("127.0.2.1"))
	accomplice := newRawPeer(t, netip.MustParseAddr("127.0.2.2"))

	// A token for evil's address.
	m, err := evil.query(v.ap, "get_peers", krpc.MsgArgs{InfoHash: key})
	if err != nil || m.R == nil || m.R.Token == nil {
		t.Fatalf("get_peers: %+v, %v", m, err)
	}
	token := *m.R.Token

	refused := []struct {
		name string
		from *rawPeer
		args krpc.MsgArgs
	}{
		{"no token", evil, krpc.MsgArgs{InfoHash: key, ImpliedPort: true}},
		{"forged token", evil, krpc.MsgArgs{InfoHash: key, ImpliedPort: true, Token: "0123456789abcdef0123"}},
		{"token of another IP", accomplice, krpc.MsgArgs{InfoHash: key, ImpliedPort: true, Token: token}},
		{"port of someone else", evil, krpc.MsgArgs{InfoHash: key, Port: port(int(honest.ap.Port())), Token: token}},
	}
	for _, c := range refused {
		m, err := c.from.query(v.ap, "announce_peer", c.args)
		if err == nil && m.Y != "e" {
			t.Errorf("%s: answered %+v, want an error or no answer", c.name, m)
		}
	}
	if hs := v.d.store.get(key); len(hs) != 0 {
		t.Fatalf("after refused announces the store holds %v", hs)
	}

	// The one announce that counts: evil's own address, port implied.
	m, err = evil.query(v.ap, "announce_peer", krpc.MsgArgs{InfoHash: key, ImpliedPort: true, Port: port(1), Token: token})
	if err != nil || m.Y != "r" {
		t.Fatalf("valid announce: %+v, %v", m, err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var hs []netip.AddrPort
	waitFor(t, 5*time.Second, func() bool {
		hs, _ = honest.d.Holders(ctx, key)
		return len(hs) > 0
	})
	if len(hs) != 1 || hs[0] != evil.ap {
		t.Fatalf("holders %v, want only the announcer's own address %v", hs, evil.ap)
	}
}

// rogues are many sockets on one IP, each with its own node ID close to
// target, that answer queries as a hostile node would.
type rogues struct {
	peers []*rawPeer
	wg    sync.WaitGroup
	done  chan struct{}
}

// answer is what a rogue sends back for query m; nil sends nothing.
type answer func(r *rogues, self *rawPeer, m krpc.Msg) []byte

func startRogues(t *testing.T, ip netip.Addr, n int, target [20]byte, ans answer) *rogues {
	r := &rogues{done: make(chan struct{})}
	for i := range n {
		p := newRawPeer(t, ip)
		p.id = krpc.ID(target)
		p.id[18] ^= byte(i + 1)
		p.id[19] ^= 0x5a
		r.peers = append(r.peers, p)
	}
	for _, p := range r.peers {
		r.wg.Add(1)
		go func() {
			defer r.wg.Done()
			buf := make([]byte, 1<<16)
			for {
				p.c.SetReadDeadline(time.Now().Add(50 * time.Millisecond))
				n, from, err := p.c.ReadFromUDPAddrPort(buf)
				select {
				case <-r.done:
					return
				default:
				}
				var ne net.Error
				if errors.As(err, &ne) && ne.Timeout() {
					continue
				}
				if err != nil {
					return
				}
				var m krpc.Msg
				if n < 2 || buf[0] != FrameDHT || bencode.Unmarshal(buf[1:n], &m) != nil || m.Y != "q" {
					continue
				}
				if b := ans(r, p, m); b != nil {
					p.c.WriteToUDPAddrPort(b, from)
				}
			}
		}()
	}
	t.Cleanup(r.stop)
	return r
}

func (r *rogues) stop() {
	select {
	case <-r.done:
	default:
		close(r.done)
	}
	r.wg.Wait()
}

// nodes lists every rogue, as KRPC compact node info.
func (r *rogues) nodes() krpc.CompactIPv4NodeInfo {
	var out krpc.CompactIPv4NodeInfo
	for _, p := range r.peers {
		var ni krpc.NodeInfo
		ni.ID = p.id
		ni.Addr.FromAddrPort(p.ap)
		out = append(out, ni)
	}
	return out
}

func frame(m krpc.Msg) []byte {
	return append([]byte{FrameDHT}, bencode.MustMarshal(m)...)
}

// honestAnswer answers like a node that knows only the rogues.
func honestAnswer(r *rogues, self *rawPeer, m krpc.Msg) []byte {
	token := "tok"
	return frame(krpc.Msg{T: m.T, Y: "r", R: &krpc.Return{ID: self.id, Nodes: r.nodes(), Token: &token}})
}

// junkAnswer answers get_peers with junk of every kind: bytes that are
// not bencode, a dict of wrong types, values that are not addresses, and
// nodes that do not exist; it answers other queries honestly so that it
// looks good.
func junkAnswer(r *rogues, self *rawPeer, m krpc.Msg) []byte {
	if m.Q != "get_peers" {
		return honestAnswer(r, self, m)
	}
	switch self.seq++; self.seq % 4 {
	case 0:
		return []byte("\x01\xff\xfe garbage that is not bencode")
	case 1:
		return append([]byte{FrameDHT}, []byte("d1:t"+itoa(len(m.T))+":"+m.T+"1:y1:r1:rd2:id3:abc6:valuesi7eee")...)
	case 2:
		token := "tok"
		return frame(krpc.Msg{T: m.T, Y: "r", R: &krpc.Return{
			ID: self.id, Token: &token,
			Values: []krpc.NodeAddr{{IP: net.IPv4zero.To4(), Port: 0}, {IP: net.IPv4(127, 0, 5, 5).To4(), Port: 0}},
			Nodes:  r.nodes(),
		}})
	default:
		var ghosts krpc.CompactIPv4NodeInfo
		for i := range 50 {
			var ni krpc.NodeInfo
			ni.ID = krpc.RandomNodeID()
			ni.Addr.FromAddrPort(netip.AddrPortFrom(netip.AddrFrom4([4]byte{127, 0, 6, byte(i + 1)}), 9))
			ghosts = append(ghosts, ni)
		}
		return frame(krpc.Msg{T: m.T, Y: "r", R: &krpc.Return{ID: self.id, Nodes: ghosts}})
	}
}

func itoa(i int) string {
	return string(rune('0' + i)) // transaction IDs here are short
}

// TestSybilsFromOneIP: forty node IDs on one IP, all next to the key,
// all answering properly, take at most IDsPerIP places in a node's table
// and in a lookup, and the lookup still finds the honest holder.
func TestSybilsFromOneIP(t *testing.T) {
	nodes := startNetwork(t, 8)
	key := [20]byte{0xbe, 0xef}
	sy := startRogues(t, netip.MustParseAddr("127.0.3.1"), 40, key, honestAnswer)
	v := nodes[5]
	// Every sybil introduces itself to v and to the bootstrap node.
	for _, p := range sy.peers {
		for _, to := range []netip.AddrPort{v.ap, nodes[0].ap} {
			p.seq++
			p.send(to, krpc.Msg{T: "p" + itoa(p.seq%10), Y: "q", Q: "ping", A: &krpc.MsgArgs{ID: p.id}})
		}
	}
	holder := nodes[2]
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	waitFor(t, 10*time.Second, func() bool {
		n, _ := holder.d.Announce(ctx, key)
		return n > 0
	})
	time.Sleep(500 * time.Millisecond) // let v ping the sybils back

	for _, n := range []*testNode{v, nodes[0]} {
		count := 0
		for _, ni := range n.d.srv.Nodes() {
			if ni.Addr.IP.Equal(net.IPv4(127, 0, 3, 1)) {
				count++
			}
		}
		if count > defaultIDsPerIP {
			t.Errorf("%v has %d sybil IDs in its table, want at most %d", n.ap, count, defaultIDsPerIP)
		}
		t.Logf("%v: %d of 40 sybil IDs in the table", n.ap, count)
	}
	waitFor(t, 10*time.Second, func() bool {
		hs, _ := v.d.Holders(ctx, key)
		return contains(hs, holder.ap)
	})
}

// TestHostileAnswers: a node that answers get_peers with junk is ignored;
// the lookup finds the honest holder and ends in bounded time.
func TestHostileAnswers(t *testing.T) {
	nodes := startNetwork(t, 8)
	key := [20]byte{0x0b, 0xad}
	bad := startRogues(t, netip.MustParseAddr("127.0.4.1"), 3, key, junkAnswer)
	for _, p := range bad.peers {
		for _, n := range nodes {
			p.send(n.ap, krpc.Msg{T: "pp", Y: "q", Q: "ping", A: &krpc.MsgArgs{ID: p.id}})
		}
	}
	holder := nodes[3]
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	waitFor(t, 10*time.Second, func() bool {
		n, _ := holder.d.Announce(ctx, key)
		return n > 0
	})
	time.Sleep(300 * time.Millisecond)
	for i, n := range []*testNode{nodes[0], nodes[5], nodes[7]} {
		// The holder comes early on Find's channel, however long the
		// rest of the lookup spends on nodes that do not exist.
		var first time.Duration
		waitFor(t, 10*time.Second, func() bool {
			start := time.Now()
			found := false
			for h := range n.d.Find(ctx, key) {
				if !validAddr(h) {
					t.Errorf("node %d: junk holder %v", i, h)
				}
				if h == holder.ap && !found {
					found, first = true, time.Since(start)
				}
			}
			if d := time.Since(start); d >= lookupMax {
				t.Errorf("node %d: lookup ran %v", i, d)
			}
			return found
		})
		if first > 5*time.Second {
			t.Errorf("node %d: first holder after %v", i, first)
		}
	}
	t.Logf("junk answers dropped by node 0's gate: %d", nodes[0].d.Stats().Dropped)
}
