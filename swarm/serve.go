package swarm

// Serving: the answers this node gives to the requests of other nodes,
// within its upload limits.

import (
	"context"
	"errors"
	"io"
	"sync"
	"time"

	"github.com/quic-go/quic-go"

	"github.com/potluckfm/potluck/cache"
)

// serveStream answers one request of another node.
func (n *Node) serveStream(c *peerConn, str *quic.Stream) {
	defer str.Close()
	defer str.CancelRead(0)
	str.SetDeadline(time.Now().Add(30 * time.Second))
	req, err := readRequest(io.LimitReader(str, 64))
	if err != nil {
		writeStatus(str, statusOf(err))
		return
	}
	switch req.typ {
	case msgManifest:
		if _, signed, ok := n.store.Manifest(req.id); ok {
			writeBytes(str, signed)
		} else {
			writeStatus(str, statusNotHeld)
		}
	case msgHave:
		n.noteInterest(req.id, c.id)
		// An empty map is an answer too: the node is fetching the track.
		if bf := n.store.Have(req.id); bf != nil {
			n.mapsOut.Add(1)
			writeBytes(str, bf)
		} else {
			writeStatus(str, statusNotHeld)
		}
	case msgChunk:
		n.serveChunk(str, req)
	case msgWhoHas:
		writePeers(str, n.answerWhoHas(c.id, req.id, req.ttl))
	case msgPeers:
		writePeers(str, n.knownPeers())
	}
}

// serveChunk uploads one chunk within the upload limits: playing-now
// requests take a free slot before prefetch requests.
// A chunk missing from a track the node holds is "not held" (and bans a
// peer that claimed it); a track the node no longer holds at all is "gone".
func (n *Node) serveChunk(str *quic.Stream, req request) {
	unpin := n.store.Pin(req.id)
	defer unpin()
	switch have := n.store.Have(req.id); {
	case have == nil:
		writeStatus(str, statusGone)
		return
	case !have.Has(int(req.index)):
		writeStatus(str, statusNotHeld)
		return
	}
	ctx, cancel := context.WithTimeout(n.ctx, 2*time.Second)
	defer cancel()
	release, err := n.uploads.acquire(ctx, req.priority)
	if err != nil {
		writeStatus(str, statusBusy)
		return
	}
	defer release()
	b, err := n.store.ReadChunk(req.id, int(req.index))
	switch {
	case errors.Is(err, cache.ErrCorrupt), errors.Is(err, cache.ErrClosed):
		writeStatus(str, statusGone) // dropped by its check, or shutting down
		return
	case err != nil:
		writeStatus(str, statusNotHeld)
		return
	}
	if n.limiter != nil {
		if err := n.limiter.WaitN(n.ctx, len(b)); err != nil {
			writeStatus(str, statusBusy)
			return
		}
	}
	if writeBytes(str, b) == nil {
		n.bytesServed.Add(int64(len(b)))
		n.chunksOut.Add(1)
	}
}

// uploadSlots bounds concurrent uploads; a freed slot goes to a waiting
// playing-now request before any prefetch request.
type uploadSlots struct {
	mu      sync.Mutex
	free    int
	waiting [2][]chan struct{} // by priority
}

func newUploadSlots(n int) *uploadSlots { return &uploadSlots{free: n} }

func (u *uploadSlots) acquire(ctx context.Context, prio byte) (func(), error) {
	prio = min(prio, PriorityPlaying)
	u.mu.Lock()
	if u.free > 0 {
		u.free--
		u.mu.Unlock()
		return u.release, nil
	}
	ch := make(chan struct{})
	u.waiting[prio] = append(u.waiting[prio], ch)
	u.mu.Unlock()
	select {
	case <-ch:
		return u.release, nil
	case <-ctx.Done():
		u.mu.Lock()
		defer u.mu.Unlock()
		for i, w := range u.waiting[prio] {
			if w == ch {
				u.waiting[prio] = append(u.waiting[prio][:i], u.waiting[prio][i+1:]...)
				return nil, ctx.Err()
			}
		}
		// Handed a slot just as ctx ended: pass it on.
		u.releaseLocked()
		return nil, ctx.Err()
	}
}

func (u *uploadSlots) release() {
	u.mu.Lock()
	defer u.mu.Unlock()
	u.releaseLocked()
}

func (u *uploadSlots) releaseLocked() {
	for p := PriorityPlaying; ; p-- {
		if q := u.waiting[p]; len(q) > 0 {
			u.waiting[p] = q[1:]
			close(q[0])
			return
		}
		if p == 0 {
			break
		}
	}
	u.free++
}
