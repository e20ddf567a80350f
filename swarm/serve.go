package swarm

// Serving: the answers this node gives to the requests of other nodes,
// within its upload limits.

import (
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"sync"
	"time"

	"github.com/quic-go/quic-go"

	"github.com/potluckfm/potluck/cache"
	"github.com/potluckfm/potluck/origin"
)

// serveStream answers one request of another node: with what it asked
// for, or with the status errorToStatus gives for why not.
func (n *Node) serveStream(c *peerConn, str *quic.Stream) {
	defer str.Close()
	defer str.CancelRead(0)
	str.SetDeadline(time.Now().Add(30 * time.Second))
	// A request is a few bytes: one that does not arrive at once is a
	// stream held open for nothing (half-sent requests by the hundred).
	str.SetReadDeadline(time.Now().Add(requestTimeout))
	err := n.answer(c, str)
	if err != nil && !errors.Is(err, errUnsent) {
		err = writeStatus(str, errorToStatus(err))
	}
	if err != nil {
		n.log.Debug("answer not sent", "peer", c.id.Short(), "err", err)
	}
}

// requestTimeout bounds how long a stream may take to send its request.
const requestTimeout = 5 * time.Second

// uploadSlotWait is how long a request waits for an upload slot before it
// is answered "busy" and the asker tries elsewhere.
const uploadSlotWait = 2 * time.Second

// errUnsent wraps the failure to write an answer: the asker is gone, and
// no status can reach it either.
var errUnsent = errors.New("answer not sent")

// sent reports the error of writing an answer, marked errUnsent.
func sent(err error) error {
	if err == nil || errors.Is(err, errUnsent) {
		return err
	}
	return fmt.Errorf("%w: %w", errUnsent, err)
}

// answer reads one request from str and writes its answer; an error it
// returns without errUnsent is the asker's to hear, as a status.
func (n *Node) answer(c *peerConn, str *quic.Stream) error {
	req, err := readRequest(io.LimitReader(str, maxRequestLen))
	if err != nil {
		return err
	}
	n.keepCatalogue()
	switch req.typ {
	case msgManifest:
		_, signed, ok := n.store.Manifest(req.id)
		if !ok {
			return ErrNotHeld
		}
		return sent(writeBytes(str, signed))
	case msgHave:
		n.noteInterest(req.id, c.id)
		// An empty map is an answer too: the node is fetching the track.
		bf := n.store.Have(req.id)
		if bf == nil {
			return ErrNotHeld
		}
		n.mapsOut.Add(1)
		return sent(writeBytes(str, bf))
	case msgChunk:
		return n.serveChunk(c, str, req)
	case msgStart:
		return n.serveStart(c, str, req)
	case msgWhoHas:
		return sent(writePeers(str, n.answerWhoHas(c, req.id, req.ttl)))
	case msgPeers:
		return sent(writePeers(str, n.knownPeers()))
	case msgCatalogue:
		env := n.heldCatalogue()
		if env == nil {
			return ErrNotHeld
		}
		return n.serveBlob(c, str, env)
	case msgCover:
		img, ok := n.cat.covers.get(req.id)
		if !ok {
			return ErrNotHeld
		}
		return n.serveBlob(c, str, img)
	case msgObserved:
		return sent(writeBytes(str, []byte(c.conn.RemoteAddr().String())))
	case msgPunchVia:
		return n.relayPunch(c, str, req)
	case msgPunch:
		return n.answerPunch(c, str, req)
	}
	panic(fmt.Sprintf("bug: readRequest let through type %d", req.typ))
}

// serveChunk uploads one chunk within the upload limits: slots shared by
// peer, and within a peer's share playing-now requests first.
// A chunk missing from a track the node holds is "not held" (and bans a
// peer that claimed it); a track the node no longer holds at all is "gone",
// as is a chunk dropped by its check or a store shutting down.
func (n *Node) serveChunk(c *peerConn, str *quic.Stream, req request) error {
	unpin := n.store.Pin(req.id)
	defer unpin()
	switch have := n.store.Have(req.id); {
	case have == nil:
		return ErrGone
	case !have.Has(int(req.index)):
		return ErrNotHeld
	}
	release, err := n.uploadSlot(c, req.priority)
	if err != nil {
		return err
	}
	defer release()
	b, err := n.store.ReadChunk(req.id, int(req.index))
	switch {
	case errors.Is(err, cache.ErrCorrupt), errors.Is(err, cache.ErrClosed):
		return err
	case err != nil:
		return fmt.Errorf("%w: %w", ErrNotHeld, err)
	}
	return n.sendChunk(b, func(b []byte) error { return writeBytes(str, b) })
}

// uploadSlot waits up to uploadSlotWait for one of the upload slots
// (uploadSlots) for a request of c at priority.
func (n *Node) uploadSlot(c *peerConn, priority byte) (release func(), err error) {
	ctx, cancel := context.WithTimeout(n.ctx, uploadSlotWait)
	defer cancel()
	release, err = n.uploads.acquire(ctx, c.id, priority)
	if err != nil {
		return nil, fmt.Errorf("%w: no upload slot: %w", ErrBusy, err)
	}
	return release, nil
}

// sendChunk paces chunk b through the upload rate limit, writes it with
// write and counts it as served. An error writing is marked errUnsent.
func (n *Node) sendChunk(b []byte, write func([]byte) error) error {
	if n.limiter != nil {
		if err := n.limiter.WaitN(n.ctx, len(b)); err != nil {
			return fmt.Errorf("%w: upload rate: %w", ErrBusy, err)
		}
	}
	if err := write(b); err != nil {
		return sent(err)
	}
	n.bytesServed.Add(int64(len(b)))
	n.chunksOut.Add(1)
	return nil
}

// serveStart answers a START as the origin answers the start of a play:
// the signed manifest at once, then those of the chunks holding the first
// audio (origin.StartChunks) that this node holds, within the upload
// limits as playing-now chunks. Once the manifest is out no status can
// follow, so a chunk that cannot go (no slot in time, a read that fails)
// ends the answer early, cleanly between parts: the asker asks for what
// is missing one chunk at a time.
func (n *Node) serveStart(c *peerConn, str *quic.Stream, req request) error {
	unpin := n.store.Pin(req.id)
	defer unpin()
	m, signed, ok := n.store.Manifest(req.id)
	if !ok {
		return ErrNotHeld
	}
	if err := writeStatus(str, statusOK); err != nil {
		return sent(err)
	}
	if err := origin.WriteStartManifest(str, signed, req.packed); err != nil {
		return sent(err)
	}
	have := n.store.Have(req.id)
	first, end := origin.StartChunks(m, int(req.count))
	if have == nil || first >= end {
		return nil
	}
	release, err := n.uploadSlot(c, PriorityPlaying)
	if err != nil {
		return sent(fmt.Errorf("start of %s ends after its manifest: %w", req.id, err))
	}
	defer release()
	for i := first; i < end; i++ {
		if !have.Has(i) {
			continue
		}
		b, err := n.store.ReadChunk(req.id, i)
		if err == nil {
			err = n.sendChunk(b, func(b []byte) error { return origin.WriteStartChunk(str, i, b) })
		}
		if err != nil {
			return sent(fmt.Errorf("start of %s ends before chunk %d: %w", req.id, i, err))
		}
	}
	return nil
}

// serveBlob uploads a catalogue or a cover within the upload limits, as a
// prefetch chunk: a slot shared by peer, and the rate limit piece by piece.
func (n *Node) serveBlob(c *peerConn, str *quic.Stream, b []byte) error {
	release, err := n.uploadSlot(c, PriorityPrefetch)
	if err != nil {
		return err
	}
	defer release()
	if n.limiter != nil {
		for left := len(b); left > 0; {
			piece := min(left, n.limiter.Burst())
			if err := n.limiter.WaitN(n.ctx, piece); err != nil {
				return fmt.Errorf("%w: upload rate: %w", ErrBusy, err)
			}
			left -= piece
		}
	}
	return sent(writeBytes(str, b))
}

// uploadSlots bounds concurrent uploads and shares them by peer: a freed
// slot goes to a waiting request of the peer that holds the fewest slots,
// so one peer cannot keep more than its share while others wait however
// many requests it sends; among peers holding as many, a playing-now
// request goes before a prefetch request, then the oldest first.
type uploadSlots struct {
	mu      sync.Mutex
	free    int
	held    map[PeerID]int // slots held, by peer
	waiting []*slotWaiter  // oldest first
}

type slotWaiter struct {
	peer PeerID
	prio byte
	ch   chan struct{}
}

func newUploadSlots(n int) *uploadSlots { return &uploadSlots{free: n, held: map[PeerID]int{}} }

func (u *uploadSlots) acquire(ctx context.Context, peer PeerID, prio byte) (func(), error) {
	prio = min(prio, PriorityPlaying)
	release := func() { u.release(peer) }
	u.mu.Lock()
	if u.free > 0 {
		u.free--
		u.held[peer]++
		u.mu.Unlock()
		return release, nil
	}
	w := &slotWaiter{peer: peer, prio: prio, ch: make(chan struct{})}
	u.waiting = append(u.waiting, w)
	u.mu.Unlock()
	select {
	case <-w.ch:
		return release, nil
	case <-ctx.Done():
		u.mu.Lock()
		defer u.mu.Unlock()
		if i := slices.Index(u.waiting, w); i >= 0 {
			u.waiting = slices.Delete(u.waiting, i, i+1)
			return nil, ctx.Err()
		}
		// Handed a slot just as ctx ended: pass it on.
		u.releaseLocked(peer)
		return nil, ctx.Err()
	}
}

func (u *uploadSlots) release(peer PeerID) {
	u.mu.Lock()
	defer u.mu.Unlock()
	u.releaseLocked(peer)
}

func (u *uploadSlots) releaseLocked(peer PeerID) {
	if u.held[peer]--; u.held[peer] <= 0 {
		delete(u.held, peer)
	}
	next := -1
	for i, w := range u.waiting {
		if next < 0 {
			next = i
			continue
		}
		b := u.waiting[next]
		if h, hb := u.held[w.peer], u.held[b.peer]; h < hb || (h == hb && w.prio > b.prio) {
			next = i
		}
	}
	if next < 0 {
		u.free++
		return
	}
	w := u.waiting[next]
	u.waiting = slices.Delete(u.waiting, next, next+1)
	u.held[w.peer]++
	close(w.ch)
}
