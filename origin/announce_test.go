package origin

import (
	"context"
	"crypto/ed25519"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/potluckfm/potluck/internal/peerid"
	"github.com/potluckfm/potluck/track"
)

// stranger posts to the tracker over HTTPS/TCP, as anyone can, and returns
// the status, the Retry-After header and the body.
type stranger struct {
	s  *Server
	hc *http.Client
}

func newStranger(t testing.TB, s *Server) *stranger {
	tr := &http.Transport{TLSClientConfig: pinnedTLSConfig(s.URL().Key, []string{"h2", "http/1.1"}), ForceAttemptHTTP2: true, MaxIdleConnsPerHost: 16}
	t.Cleanup(tr.CloseIdleConnections)
	return &stranger{s: s, hc: &http.Client{Transport: tr}}
}

func (st *stranger) do(t testing.TB, method, path string, body []byte) (int, string, string) {
	t.Helper()
	req, err := http.NewRequest(method, "https://"+st.s.URL().Addr+path, strings.NewReader(string(body)))
	if err != nil {
		t.Fatal(err)
	}
	resp, err := st.hc.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header.Get("Retry-After"), strings.TrimSpace(string(b))
}

func (st *stranger) announce(t testing.TB, req AnnounceRequest) (int, string, string) {
	t.Helper()
	b, err := json.Marshal(req)
	if err != nil {
		t.Fatal(err)
	}
	return st.do(t, "POST", "/v1/tracker/announce", b)
}

// honest is a node that announced itself over HTTP/3, and how a lookup
// sees it.
type honest struct {
	c   *Client
	key ed25519.PrivateKey
	req AnnounceRequest
	id  track.ID
}

func announceHonest(t testing.TB, s *Server) *honest {
	t.Helper()
	h := &honest{c: newTestClient(t, s.URL(), TransportQUIC), key: testKey(t), id: s.Catalog().Entries()[0].Manifest.ID}
	h.req = signed(s, h.key, ":7001", []track.ID{h.id})
	if _, err := h.c.Announce(context.Background(), h.req); err != nil {
		t.Fatal(err)
	}
	return h
}

// listed reports whether the tracker lists the honest peer at its address
// and whether a lookup over HTTP/3 (which samples up to MaxPeersPerAsk of
// the holders) found it, and how long the lookup took.
func (h *honest) listed(t testing.TB, s *Server) (listed, found bool, took time.Duration) {
	t.Helper()
	start := time.Now()
	peers, err := h.c.Peers(context.Background(), h.id, "", MaxPeersPerAsk)
	took = time.Since(start)
	if err != nil {
		t.Fatal(err)
	}
	want := PeerInfo{ID: h.req.PeerID, Addr: "127.0.0.1:7001"}
	tr := s.Tracker()
	tr.mu.Lock()
	p := tr.peers[h.req.PeerID]
	listed = p != nil && p.info == want && slices.Contains(p.tracks, h.id)
	tr.mu.Unlock()
	return listed, slices.Contains(peers, want), took
}

func TestAnnounceHijackRefused(t *testing.T) {
	s := startOrigin(t, "", nil)
	h := announceHonest(t, s)
	before, _, _ := h.listed(t, s)
	st := newStranger(t, s)
	ids := []track.ID{h.id}

	// An unsigned (API v1) announce in the honest peer's name, to unlist it.
	code, _, msg := st.announce(t, AnnounceRequest{PeerID: h.req.PeerID, Addr: ":7999", Tracks: []track.ID{}})
	if code != 400 || !strings.Contains(msg, "upgrade") {
		t.Errorf("unsigned announce: %d %q, want 400 saying to upgrade", code, msg)
	}
	// Signed with the stranger's own key but the honest peer's ID.
	fake := signed(s, testKey(t), ":7999", ids)
	fake.PeerID = h.req.PeerID
	if code, _, msg := st.announce(t, fake); code != 403 {
		t.Errorf("announce with another's peer_id: %d %q, want 403", code, msg)
	}
	// The honest peer's key, the stranger's signature.
	forged := signed(s, testKey(t), ":7999", []track.ID{})
	forged.PeerID, forged.Key = h.req.PeerID, h.req.Key
	if code, _, msg := st.announce(t, forged); code != 403 {
		t.Errorf("announce with another's key: %d %q, want 403", code, msg)
	}
	// A genuine announce of the honest node, for another origin.
	other := AnnounceRequest{Addr: ":7999", Tracks: []track.ID{}}
	other.Sign(testKey(t), testKey(t).Public().(ed25519.PublicKey), time.Now())
	other.PeerID, other.Key = h.req.PeerID, h.req.Key
	if code, _, _ := st.announce(t, other); code != 403 {
		t.Errorf("announce signed for another origin: %d, want 403", code)
	}
	// Stale clocks.
	old := AnnounceRequest{Addr: ":7999", Tracks: ids}
	old.Sign(testKey(t), s.URL().Key, time.Now().Add(-10*time.Minute))
	if code, _, msg := st.announce(t, old); code != 400 || !strings.Contains(msg, "clock") {
		t.Errorf("announce 10 minutes old: %d %q, want 400", code, msg)
	}
	// A replay of the honest peer's own announce changes nothing.
	if code, _, _ := st.announce(t, h.req); code != 200 {
		t.Errorf("replayed announce: %d, want 200 (a no-op)", code)
	}
	during, found, _ := h.listed(t, s)
	during = during && found
	t.Logf("honest peer listed at its address: before %v, after the hijack attempts %v", before, during)
	if !before || !during {
		t.Fatal("the honest peer was unlisted or re-addressed by a stranger")
	}
	// Once the honest peer leaves, a replay of its earlier announce does
	// not list it again.
	leave := AnnounceRequest{Addr: ":7001", Tracks: []track.ID{}}
	leave.Sign(h.key, s.URL().Key, time.Now())
	if _, err := h.c.Announce(context.Background(), leave); err != nil {
		t.Fatal(err)
	}
	if code, _, _ := st.announce(t, h.req); code != 200 {
		t.Errorf("replay after leaving: %d, want 200 (a no-op)", code)
	}
	if s.Tracker().Len() != 0 {
		t.Errorf("a replay listed the peer again after it left: %d listed", s.Tracker().Len())
	}
}

func TestAnnounceReflectionRefused(t *testing.T) {
	s := startOrigin(t, "", nil)
	h := announceHonest(t, s)
	st := newStranger(t, s)
	victim := signed(s, testKey(t), "192.0.2.10:443", []track.ID{h.id})
	if code, _, msg := st.announce(t, victim); code != 403 || !strings.Contains(msg, "came from") {
		t.Errorf("announce of a victim's address: %d %q, want 403", code, msg)
	}
	own := signed(s, testKey(t), "0.0.0.0:443", []track.ID{h.id})
	code, _, body := st.announce(t, own)
	var ans AnnounceResponse
	if code != 200 || json.Unmarshal([]byte(body), &ans) != nil || ans.Addr != "127.0.0.1:443" {
		t.Errorf("announce of an unspecified host: %d %q, want the source address listed", code, body)
	}
	peers, _ := h.c.Peers(context.Background(), h.id, "", MaxPeersPerAsk)
	for _, p := range peers {
		if !strings.HasPrefix(p.Addr, "127.0.0.1:") {
			t.Errorf("listed %v: only addresses announces came from may be listed", p)
		}
	}
}

func TestAnnounceAddrChecked(t *testing.T) {
	s := startOrigin(t, "", nil)
	st := newStranger(t, s)
	id := s.Catalog().Entries()[0].Manifest.ID
	for _, addr := range []string{
		strings.Repeat("a", 3_900_000) + ":80", strings.Repeat("1", 70) + ":80",
		"127.0.0.1:99999", "127.0.0.1:abc", "127.0.0.1:0", "127.0.0.1:+80", "127.0.0.1:080", "127.0.0.1:",
		"example.com:80", "[fe80::1%eth0]:80", "nowhere", "",
	} {
		code, _, msg := st.announce(t, signed(s, testKey(t), addr, []track.ID{id}))
		if code != 400 {
			t.Errorf("addr %.40q: %d %q, want 400", addr, code, msg)
		}
	}
	for _, addr := range []string{":7000", "0.0.0.0:7000", "[::]:7000", "127.0.0.1:65535"} {
		if code, _, msg := st.announce(t, signed(s, testKey(t), addr, []track.ID{id})); code != 200 {
			t.Errorf("addr %q: %d %q, want 200", addr, code, msg)
		}
	}
}

// TestTrackerFloodKeepsHonestListed floods the tracker from one address
// with announces of made-up peers and oversized track lists, and with
// lookups: the flood gets 429 with Retry-After, the honest peer stays
// listed and lookups stay fast.
func TestTrackerFloodKeepsHonestListed(t *testing.T) {
	log, logs := testLogger(t)
	s := startOrigin(t, "", func(c *Config) { c.Logger = log })
	lim := s.Tracker().Limits()
	h := announceHonest(t, s)
	var beforeLat []time.Duration
	for range 20 {
		ok, found, took := h.listed(t, s)
		if !ok || !found {
			t.Fatal("honest peer not listed")
		}
		beforeLat = append(beforeLat, took)
	}
	st := newStranger(t, s)
	ids := []track.ID{h.id}
	keys := make([]ed25519.PrivateKey, 2000)
	for i := range keys {
		keys[i] = testKey(t)
	}
	base := measure()
	codes := map[int]int{}
	var mu sync.Mutex
	var wg sync.WaitGroup
	var duringLat []time.Duration
	var duringOK = true
	var duringFound int
	stop := make(chan struct{})
	wg.Go(func() {
		for {
			select {
			case <-stop:
				return
			default:
			}
			ok, found, took := h.listed(t, s)
			mu.Lock()
			duringOK = duringOK && ok
			if found {
				duringFound++
			}
			duringLat = append(duringLat, took)
			mu.Unlock()
			time.Sleep(5 * time.Millisecond)
		}
	})
	var retryMissing int
	for w := range 8 {
		wg.Go(func() {
			for i := w; i < len(keys); i += 8 {
				code, retry, _ := st.announce(t, signed(s, keys[i], ":9000", ids))
				mu.Lock()
				codes[code]++
				if code == 429 && retry == "" {
					retryMissing++
				}
				mu.Unlock()
			}
		})
	}
	// Too many tracks for one peer.
	many := make([]track.ID, lim.TracksPerPeer+1)
	for i := range many {
		many[i] = track.ID{byte(i >> 16), byte(i >> 8), byte(i), 1}
	}
	time.Sleep(1500 * time.Millisecond) // the announce bucket refills a little
	bigCode, bigRetry, bigMsg := st.announce(t, signed(s, testKey(t), ":9001", many))
	waitFlood := func() {
		for {
			mu.Lock()
			n := 0
			for _, c := range codes {
				n += c
			}
			mu.Unlock()
			if n == len(keys) {
				return
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
	waitFlood()
	close(stop)
	wg.Wait()
	t.Logf("flood of %d made-up peers from one address: %v (limits: %d peers per address, %.0f announces/s, burst %d)",
		len(keys), codes, lim.PeersPerIP, lim.AnnounceRate, lim.AnnounceBurst)
	t.Logf("honest peer listed: before true, during %v; found by %d of %d lookups (of 50 of up to %d holders); lookup median before %v, during %v",
		duringOK, duringFound, len(duringLat), lim.PeersPerIP, median(beforeLat), median(duringLat))
	if codes[200] > lim.PeersPerIP || codes[429] < len(keys)-lim.PeersPerIP || retryMissing > 0 {
		t.Errorf("flood answers %v (%d 429s without Retry-After): want at most %d listed, the rest 429 with Retry-After", codes, retryMissing, lim.PeersPerIP)
	}
	if bigCode != 429 || bigRetry == "" {
		t.Errorf("announce of %d tracks: %d %q %q, want 429 with Retry-After", len(many), bigCode, bigRetry, bigMsg)
	}
	// What the tracker keeps of the flood is its bounded listings.
	base.within(t, "after the flood", 10, 8<<20)
	if !duringOK {
		t.Error("the flood pushed the honest peer out")
	}
	if s.Tracker().Len() > lim.PeersPerIP {
		t.Errorf("tracker lists %d peers from one address, limit %d", s.Tracker().Len(), lim.PeersPerIP)
	}
	if m := median(duringLat); m > 50*time.Millisecond {
		t.Errorf("lookup median during the flood %v, want fast", m)
	}
	refused := trackerRefused(t, s, LimitAnnounceRate) + trackerRefused(t, s, LimitPeersPerIP)
	if int(refused) < codes[429] {
		t.Errorf("refusals counted %v, answered %d", refused, codes[429])
	}

	// Lookups past the rate are refused too, with Retry-After.
	var lookup429, lookupNoRetry int
	path := "/v1/tracker/peers?track=" + h.id.String()
	var lwg sync.WaitGroup
	for w := range 16 { // at once: faster than the bucket refills, however slow the machine
		lwg.Go(func() {
			for i := w; i < lim.LookupBurst+100; i += 16 {
				code, retry, _ := st.do(t, "GET", path, nil)
				mu.Lock()
				if code == 429 {
					lookup429++
					if retry == "" {
						lookupNoRetry++
					}
				}
				mu.Unlock()
			}
		})
	}
	lwg.Wait()
	t.Logf("%d lookups at once: %d refused", lim.LookupBurst+100, lookup429)
	if lookup429 == 0 || lookupNoRetry > 0 {
		t.Errorf("lookups past the burst: %d refused (%d without Retry-After), want some, all with Retry-After", lookup429, lookupNoRetry)
	}
	// The operator sees it: one line per limit and address, not one per
	// refusal.
	lines := 0
	for _, l := range strings.Split(logs.String(), "\n") {
		if strings.Contains(l, "limit reached") && strings.Contains(l, "tracker: ") {
			lines++
		}
	}
	if lines == 0 || lines > 6 {
		t.Errorf("%d log lines for thousands of tracker refusals, want one per limit bitten", lines)
	}
}

// trackerRefused reads potluck_origin_tracker_refused_total{reason} from
// the origin's registry.
func trackerRefused(t testing.TB, s *Server, reason string) float64 {
	t.Helper()
	mfs, err := s.metrics.reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != "potluck_origin_tracker_refused_total" {
			continue
		}
		for _, m := range mf.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == "reason" && l.GetValue() == reason {
					return m.GetCounter().GetValue()
				}
			}
		}
	}
	t.Fatalf("no refusal counter for %s", reason)
	return 0
}

func median(d []time.Duration) time.Duration {
	if len(d) == 0 {
		return 0
	}
	d = slices.Clone(d)
	slices.Sort(d)
	return d[len(d)/2]
}

// TestTrackerLookupSamples lists 100,000 peers for one track and checks a
// lookup over HTTP/3 costs about what it does with one peer listed: it
// samples a window, it does not walk every holder.
func TestTrackerLookupSamples(t *testing.T) {
	s := startOrigin(t, "", func(c *Config) {
		c.TrackerLimits = TrackerLimits{PeersPerIP: -1, PeersPerNet: -1, LookupRate: -1}
	})
	h := announceHonest(t, s)
	lookups := func() time.Duration {
		var lat []time.Duration
		for range 50 {
			_, _, took := h.listed(t, s)
			lat = append(lat, took)
		}
		return median(lat)
	}
	before := lookups()
	tr := s.Tracker()
	const n = 100_000
	for i := range n {
		src := netip.AddrFrom4([4]byte{10, byte(i >> 16), byte(i >> 8), byte(i)})
		if err := tr.Announce(PeerInfo{ID: "p" + strconv.Itoa(i), Addr: src.String() + ":7000"}, src, 1, []track.ID{h.id}); err != nil {
			t.Fatal(err)
		}
	}
	start := time.Now()
	for range 1000 {
		if got := tr.Peers(h.id, "", MaxPeersPerAsk); len(got) != MaxPeersPerAsk {
			t.Fatalf("lookup got %d peers", len(got))
		}
	}
	direct := time.Since(start) / 1000
	during := lookups()
	t.Logf("lookup median over HTTP/3: %v with 1 holder, %v with %d; in the tracker %v each", before, during, n+1, direct)
	if direct > time.Millisecond {
		t.Errorf("a lookup among %d holders takes %v in the tracker, want well under 1ms", n, direct)
	}
}

// FuzzDecodeAnnounce feeds the announce decoder arbitrary bodies: it never
// panics, and whatever it accepts is signed by the key it carries, whose
// peer ID it names.
func FuzzDecodeAnnounce(f *testing.F) {
	key := ed25519.NewKeyFromSeed([]byte(strings.Repeat("n", ed25519.SeedSize)))
	originKey := ed25519.NewKeyFromSeed([]byte(strings.Repeat("o", ed25519.SeedSize))).Public().(ed25519.PublicKey)
	now := time.UnixMilli(1_800_000_000_000)
	req := AnnounceRequest{Addr: ":7000", Tracks: []track.ID{{1}, {2}}}
	req.Sign(key, originKey, now)
	good, _ := json.Marshal(req)
	f.Add(good)
	f.Add([]byte(`{"peer_id":"ab","addr":"1.2.3.4:5","tracks":[]}`))
	f.Add([]byte(`{"key":"","sig":"x","time_ms":-1,"addr":"[::1]:1"}`))
	f.Add([]byte(`{`))
	f.Fuzz(func(t *testing.T, body []byte) {
		r, err := decodeAnnounce(body, originKey, now)
		if err != nil {
			var he httpError
			if !errors.As(err, &he) || he.code/100 != 4 {
				t.Fatalf("refusal %v is not a 4xx", err)
			}
			return
		}
		if r.PeerID != peerid.FromKey(key.Public().(ed25519.PublicKey)) {
			t.Fatalf("accepted an announce by %q, not the key's ID", r.PeerID)
		}
		if _, _, err := CheckAddr(r.Addr); err != nil {
			t.Fatalf("accepted addr %q: %v", r.Addr, err)
		}
	})
}
