package origin

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"regexp"
	"sync"
	"time"

	"github.com/potluckfm/potluck/track"
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

var peerIDPattern = regexp.MustCompile(`^[A-Za-z0-9_-]{1,128}$`)

// PeerInfo is how the tracker tells one node about another.
type PeerInfo struct {
	ID   string `json:"peer_id"`
	Addr string `json:"addr"`
}

// Tracker remembers which live peers hold which tracks. A peer is live for
// its TTL after its last announce; each announce replaces the set of tracks
// the peer said it holds. Safe for concurrent use.
type Tracker struct {
	ttl time.Duration
	now func() time.Time

	mu      sync.Mutex
	peers   map[string]*trackedPeer
	holders map[track.ID]map[string]struct{}
}

type trackedPeer struct {
	info    PeerInfo
	tracks  []track.ID
	expires time.Time
}

// NewTracker returns a tracker whose entries expire ttl after their last announce.
func NewTracker(ttl time.Duration) *Tracker {
	if ttl <= 0 {
		ttl = DefaultTrackerTTL
	}
	return &Tracker{ttl: ttl, now: time.Now, peers: map[string]*trackedPeer{}, holders: map[track.ID]map[string]struct{}{}}
}

// TTL is how long an announce keeps a peer listed.
func (t *Tracker) TTL() time.Duration { return t.ttl }

// Announce records that peer p, reachable at p.Addr, holds tracks.
func (t *Tracker) Announce(p PeerInfo, tracks []track.ID) error {
	if !peerIDPattern.MatchString(p.ID) {
		return fmt.Errorf("%w: peer_id must be 1-128 characters of A-Z a-z 0-9 _ -", ErrBadAnnounce)
	}
	if _, port, err := net.SplitHostPort(p.Addr); err != nil || port == "" || port == "0" {
		return fmt.Errorf("%w: addr %q is not host:port", ErrBadAnnounce, p.Addr)
	}
	if len(tracks) > MaxTracksPerAnnounce {
		return fmt.Errorf("%w: %d tracks, at most %d", ErrBadAnnounce, len(tracks), MaxTracksPerAnnounce)
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	t.dropLocked(p.ID)
	t.peers[p.ID] = &trackedPeer{info: p, tracks: tracks, expires: t.now().Add(t.ttl)}
	for _, id := range tracks {
		h := t.holders[id]
		if h == nil {
			h = map[string]struct{}{}
			t.holders[id] = h
		}
		h[p.ID] = struct{}{}
	}
	return nil
}

// Peers returns up to n live peers holding id, in random order, never the
// peer named exclude (the asker).
func (t *Tracker) Peers(id track.ID, exclude string, n int) []PeerInfo {
	if n <= 0 || n > MaxPeersPerAsk {
		n = min(max(n, DefaultPeersPerAsk), MaxPeersPerAsk)
	}
	now := t.now()
	t.mu.Lock()
	defer t.mu.Unlock()
	var out []PeerInfo
	for pid := range t.holders[id] {
		p := t.peers[pid]
		if pid == exclude || p == nil || now.After(p.expires) {
			continue
		}
		out = append(out, p.info)
	}
	rand.Shuffle(len(out), func(i, j int) { out[i], out[j] = out[j], out[i] })
	return out[:min(n, len(out))]
}

// Expire forgets peers whose TTL ran out and returns how many are left.
func (t *Tracker) Expire() int {
	now := t.now()
	t.mu.Lock()
	defer t.mu.Unlock()
	for id, p := range t.peers {
		if now.After(p.expires) {
			t.dropLocked(id)
		}
	}
	return len(t.peers)
}

// Len is the number of peers listed, live or not yet expired.
func (t *Tracker) Len() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return len(t.peers)
}

func (t *Tracker) dropLocked(peerID string) {
	p := t.peers[peerID]
	if p == nil {
		return
	}
	for _, id := range p.tracks {
		if h := t.holders[id]; h != nil {
			delete(h, peerID)
			if len(h) == 0 {
				delete(t.holders, id)
			}
		}
	}
	delete(t.peers, peerID)
}
