package origin

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/quic-go/quic-go"

	"github.com/potluckfm/potluck/internal/peerid"
	"github.com/potluckfm/potluck/track"
)

// punchNode is a node on its own UDP socket: its client speaks to the
// origin from it, and it answers peer-protocol connections there, reading
// the PUNCHes delivered and answering each with status.
type punchNode struct {
	key    ed25519.PrivateKey
	id     string
	c      *Client
	pc     net.PacketConn
	status byte
	got    chan punchSeen
}

// punchSeen is a PUNCH as a node read it, and the key of the connection
// that carried it.
type punchSeen struct {
	from  string // peer ID of the connection's key
	asker string
	addr  string
	nonce [16]byte
	delay uint16
}

func newPunchNode(t *testing.T, s *Server, status byte) *punchNode {
	t.Helper()
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	tr := &quic.Transport{Conn: pc}
	n := &punchNode{key: testKey(t), pc: pc, status: status, got: make(chan punchSeen, 16)}
	n.id = peerid.FromKey(n.key.Public().(ed25519.PublicKey))
	ln, err := tr.Listen(peerServerTLS(t, n.key), nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { tr.Close() }) // last
	n.c = NewClient(s.URL(), ClientOptions{Transport: TransportQUIC, QUIC: tr})
	t.Cleanup(func() { n.c.Close() })
	servePeerConns(t, ln, n.serve)
	return n
}

// serve reads one PUNCH from qc and answers it.
func (n *punchNode) serve(ctx context.Context, qc *quic.Conn) {
	defer qc.CloseWithError(0, "")
	ctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	str, err := qc.AcceptStream(ctx)
	if err != nil {
		return
	}
	b, _ := io.ReadAll(io.LimitReader(str, 512))
	pub := qc.ConnectionState().TLS.PeerCertificates[0].PublicKey.(ed25519.PublicKey)
	seen := punchSeen{from: peerid.FromKey(pub)}
	if len(b) > 7 && string(b[:5]) == "PLK\x01\x0a" {
		r := bytes.NewReader(b[5:])
		str := func() string {
			l, _ := r.ReadByte()
			s := make([]byte, l)
			io.ReadFull(r, s)
			return string(s)
		}
		seen.asker, seen.addr = str(), str()
		io.ReadFull(r, seen.nonce[:])
		binary.Read(r, binary.BigEndian, &seen.delay)
	}
	n.got <- seen
	str.Write([]byte{n.status, 0, 0, 0, 0})
	str.Close()
	time.Sleep(50 * time.Millisecond) // let the answer leave before the close
}

// announce lists n with s's tracker, from its socket.
func (n *punchNode) announce(t *testing.T, s *Server) string {
	t.Helper()
	req := AnnounceRequest{Addr: ":1", Tracks: []track.ID{s.Catalog().Entries()[0].Manifest.ID}}
	req.Sign(n.key, s.URL().Key, time.Now())
	resp, err := n.c.Announce(context.Background(), req)
	if err != nil {
		t.Fatal(err)
	}
	return resp.Addr
}

func punchReq(s *Server, key ed25519.PrivateKey, target string, nonce [16]byte) PunchRequest {
	req := PunchRequest{Target: target, Nonce: base64.RawURLEncoding.EncodeToString(nonce[:]), Delay: 150}
	req.Sign(key, s.URL().Key, time.Now())
	return req
}

// TestPunchRendezvous: A asks the origin to have B punch toward it. The
// origin delivers B a PUNCH over a peer-protocol connection with the
// origin's key, naming A's ID and the address A's request came from,
// A's nonce and delay, and answers A with the address the tracker lists
// for B. A target that is not listed is not dialled.
func TestPunchRendezvous(t *testing.T) {
	s := startOrigin(t, "", nil)
	a, b := newPunchNode(t, s, 0), newPunchNode(t, s, 0)
	listedB := b.announce(t, s)
	nonce := [16]byte{1, 2, 3}
	resp, err := a.c.Punch(context.Background(), punchReq(s, a.key, b.id, nonce))
	if err != nil {
		t.Fatal(err)
	}
	if resp.Addr != listedB || resp.Delay != 150 {
		t.Errorf("answer %+v, want B at %s after 150 ms", resp, listedB)
	}
	seen := <-b.got
	want := punchSeen{from: peerid.FromKey(s.URL().Key), asker: a.id, addr: a.pc.LocalAddr().String(), nonce: nonce, delay: 150}
	if seen != want {
		t.Errorf("B read %+v, want %+v", seen, want)
	}
	if got := value(s.metrics.rendezvous.WithLabelValues("ok")); got != 1 {
		t.Errorf("%v punches counted ok, want 1", got)
	}

	// B's listing lapses when it leaves; nobody is dialled for it.
	leave := AnnounceRequest{Addr: ":1", Tracks: []track.ID{}}
	leave.Sign(b.key, s.URL().Key, time.Now().Add(time.Millisecond))
	if _, err := b.c.Announce(context.Background(), leave); err != nil {
		t.Fatal(err)
	}
	_, err = a.c.Punch(context.Background(), punchReq(s, a.key, b.id, nonce))
	if se := (*StatusError)(nil); !errors.As(err, &se) || se.Code != http.StatusNotFound {
		t.Errorf("punch to a node no longer listed: %v, want 404", err)
	}
	if got := value(s.metrics.rendezvous.WithLabelValues("not_listed")); got != 1 {
		t.Errorf("%v punches counted not_listed, want 1", got)
	}
	select {
	case seen := <-b.got:
		t.Errorf("B got a punch after it left: %+v", seen)
	case <-time.After(100 * time.Millisecond):
	}
}

// TestPunchRendezvousBounds: one source may ask RendezvousBurst punches,
// then is refused (429); with every place taken the origin refuses too;
// a target that does not take the punch makes a 502.
func TestPunchRendezvousBounds(t *testing.T) {
	s := startOrigin(t, "", nil)
	a, b := newPunchNode(t, s, 0), newPunchNode(t, s, 0)
	b.announce(t, s)
	ctx := context.Background()
	busy := newPunchNode(t, s, 2)
	busy.announce(t, s)
	_, err := a.c.Punch(ctx, punchReq(s, a.key, busy.id, [16]byte{}))
	if se := (*StatusError)(nil); !errors.As(err, &se) || se.Code != http.StatusBadGateway {
		t.Errorf("punch to a node that answers busy: %v, want 502", err)
	}
	<-busy.got
	if got := value(s.metrics.rendezvous.WithLabelValues("failed")); got != 1 {
		t.Errorf("%v punches counted failed, want 1", got)
	}
	// Every place taken: refused before any dial.
	for range rendezvousAtOnce {
		s.rendezvous.sem <- struct{}{}
	}
	_, err = a.c.Punch(ctx, punchReq(s, a.key, b.id, [16]byte{}))
	if se := (*StatusError)(nil); !errors.As(err, &se) || se.Code != http.StatusTooManyRequests {
		t.Errorf("punch with every place taken: %v, want 429", err)
	}
	for range rendezvousAtOnce {
		<-s.rendezvous.sem
	}
	// The source's burst is spent by now (the first asks included).
	refused := 0
	for range RendezvousBurst + 2 {
		_, err = a.c.Punch(ctx, punchReq(s, a.key, b.id, [16]byte{}))
		if se := (*StatusError)(nil); errors.As(err, &se) && se.Code == http.StatusTooManyRequests {
			refused++
		}
	}
	if refused < 2 {
		t.Errorf("%d of %d asks past the burst refused", refused, RendezvousBurst+2)
	}
	if got := value(s.metrics.rendezvous.WithLabelValues("busy")); got < 3 {
		t.Errorf("%v punches counted busy, want at least 3", got)
	}
}

// TestPunchRendezvousRefusesAbuse: malformed, forged, stale or
// self-directed punch requests, and any over HTTPS, get a 4xx and
// deliver nothing; an address in the body is never where a punch goes.
func TestPunchRendezvousRefusesAbuse(t *testing.T) {
	s := startOrigin(t, "", nil)
	s.rendezvous.rate = newRateTable(-1, 0, LimitPunchRate) // count every refusal below, not the rate
	a, b := newPunchNode(t, s, 0), newPunchNode(t, s, 0)
	b.announce(t, s)
	good := punchReq(s, a.key, b.id, [16]byte{9})
	body := func(edit func(m map[string]any)) []byte {
		raw, _ := json.Marshal(good)
		var m map[string]any
		json.Unmarshal(raw, &m)
		edit(m)
		out, _ := json.Marshal(m)
		return out
	}
	stale := good
	stale.Sign(a.key, s.URL().Key, time.Now().Add(-time.Hour))
	self := punchReq(s, b.key, b.id, [16]byte{})
	staleBody, _ := json.Marshal(stale)
	selfBody, _ := json.Marshal(self)
	for _, tc := range []struct {
		name string
		body []byte
		code int
	}{
		{"not JSON", []byte("{punch"), 400},
		{"too long", append(bytes.Repeat([]byte(" "), maxPunchBody), '{', '}'), 400},
		{"short nonce", body(func(m map[string]any) { m["nonce"] = "AAAA" }), 400},
		{"long delay", body(func(m map[string]any) { m["delay_ms"] = 60000 }), 400},
		{"target the asker", body(func(m map[string]any) { m["target"] = a.id }), 400},
		{"target altered", body(func(m map[string]any) { m["target"] = strings.Repeat("a", 32) }), 403},
		{"signed by another key", body(func(m map[string]any) { m["peer_id"] = strings.Repeat("b", 32) }), 403},
		{"bad target", body(func(m map[string]any) { m["target"] = "../x" }), 400},
		{"stale", staleBody, 400},
		{"to itself", selfBody, 400},
	} {
		_, err := a.c.do(context.Background(), http.MethodPost, "/v1/punch", tc.body)
		if se := (*StatusError)(nil); !errors.As(err, &se) || se.Code != tc.code {
			t.Errorf("%s: %v, want %d", tc.name, err, tc.code)
		}
	}
	goodBody, _ := json.Marshal(good)
	if code, _, msg := newStranger(t, s).do(t, "POST", "/v1/punch", goodBody); code != 400 || !strings.Contains(msg, "HTTP/3") {
		t.Errorf("punch over HTTPS: %d %q, want 400 saying why", code, msg)
	}
	select {
	case seen := <-b.got:
		t.Fatalf("a refused request delivered %+v", seen)
	case <-time.After(100 * time.Millisecond):
	}
	// A victim's address in the body changes nothing: the PUNCH names
	// the address the request came from.
	resp, err := a.c.do(context.Background(), http.MethodPost, "/v1/punch", body(func(m map[string]any) { m["addr"] = "192.0.2.1:9" }))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if seen := <-b.got; seen.addr != a.pc.LocalAddr().String() {
		t.Errorf("the PUNCH named %s, want the request's source %s", seen.addr, a.pc.LocalAddr())
	}
}

// TestTrackerPassesReach: a node's word on how it is reached goes into
// the tracker's peer lists; a word the tracker does not know is dropped.
func TestTrackerPassesReach(t *testing.T) {
	s := startOrigin(t, "", nil)
	c := newTestClient(t, s.URL(), TransportQUIC)
	id := s.Catalog().Entries()[0].Manifest.ID
	want := map[string]string{}
	for _, reach := range []string{"not reachable", "public", "", "reachable by carrier pigeon"} {
		req := AnnounceRequest{Addr: "127.0.0.1:7000", Tracks: []track.ID{id}, Reach: reach}
		req.Sign(testKey(t), s.URL().Key, time.Now())
		if _, err := c.Announce(context.Background(), req); err != nil {
			t.Fatal(err)
		}
		want[req.PeerID] = reach
		if reach == "reachable by carrier pigeon" {
			want[req.PeerID] = ""
		}
	}
	peers, err := c.Peers(context.Background(), id, "", 10)
	if err != nil {
		t.Fatal(err)
	}
	if len(peers) != len(want) {
		t.Fatalf("listed %v", peers)
	}
	for _, p := range peers {
		if p.Reach != want[p.ID] {
			t.Errorf("peer listed with reach %q, want %q", p.Reach, want[p.ID])
		}
	}
}

// TestPunchDelayThatOverflows: a signed delay_ms so large that it wraps
// when made a duration is refused like any delay past MaxPunchDelay, not
// passed on as the wrapped value.
func TestPunchDelayThatOverflows(t *testing.T) {
	originPub, _, _ := ed25519.GenerateKey(nil)
	_, key, _ := ed25519.GenerateKey(nil)
	_, other, _ := ed25519.GenerateKey(nil)
	target, _, _ := nodeIdentity(other, time.Now())
	nonce := base64.RawURLEncoding.EncodeToString(make([]byte, punchNonceLen))
	// 18446744073710 ms is 2^64 ns and 448 µs: 448 µs once wrapped.
	for _, d := range []int{18446744073710, 9223372036855, int(MaxPunchDelay.Milliseconds()) + 1} {
		req := PunchRequest{Target: target, Nonce: nonce, Delay: d}
		req.Sign(key, originPub, time.Now())
		body, _ := json.Marshal(req)
		ask, err := decodePunch(body, originPub, time.Now())
		if se := (httpError{}); !errors.As(err, &se) || se.code != http.StatusBadRequest {
			t.Errorf("delay_ms %d: %v (delay %v), want 400", d, err, ask.delay)
		}
	}
}
