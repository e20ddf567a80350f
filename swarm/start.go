package swarm

// The start of an uncached play: one request to the origin brings the
// manifest and then the chunks holding the first audio, on one stream
// (origin.Client.Start); with the origin down, one request to a peer
// (START) does the same. Open returns as soon as the first of those
// chunks is verified; the scheduler takes the rest of the answer as
// requests out to whoever sends it.

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"time"

	"github.com/potluckfm/potluck/origin"
	"github.com/potluckfm/potluck/track"
)

// headStarter is an origin that answers the start of a play in one
// request (*origin.Client).
type headStarter interface {
	Start(ctx context.Context, id track.ID, n int) (*origin.StartReader, error)
}

var _ headStarter = (*origin.Client)(nil)

// firstChunks is how many chunks a start asks for with the manifest: the
// first alone may hold less audio than the next round trip takes (a high
// bitrate, a slow link, a frame that begins near its end), and the
// decoder reads ahead.
const firstChunks = 2

// startPart is one verified chunk of a start answer, or the error that
// ended it.
type startPart struct {
	i   int
	b   []byte
	err error
}

// started is what the start of a play brought by the time Open returns.
type started struct {
	first map[int][]byte // verified chunks, by index
	from  *peerConn      // who sent them; nil for the origin
	rest  *startRest     // the chunks still on their way, or nil
}

// release lets go of what a start brought, for a play that will not take
// it.
func (st started) release() {
	if st.rest != nil {
		st.rest.cancel()
	}
}

// startRest is what a start answer has still to bring when Open returns;
// the stream's scheduler takes it (adoptStart).
type startRest struct {
	parts  <-chan startPart // closed after the answer's last part
	want   []int            // chunks still to come
	from   *peerConn        // nil for the origin
	cancel context.CancelFunc
}

// manifestAndFirst finds the manifest of id as manifest does. When it has
// to ask the origin, it asks for the start of the play (the manifest and
// the chunks holding the first audio) in one request, and returns the
// first chunk with the manifest if it arrives soon after it: a play then
// starts one round trip after Open is called. With the origin down, a
// peer is asked the same way.
func (n *Node) manifestAndFirst(ctx context.Context, id track.ID) (*track.Manifest, started, error) {
	hs, ok := n.origin.(headStarter)
	prefetch, _ := ctx.Value(prefetchKey{}).(bool)
	_, _, cached := n.store.Manifest(id)
	if have := n.store.Have(id); cached || !ok || prefetch || (have != nil && have.Count() > 0) {
		m, err := n.manifest(ctx, id)
		return m, started{}, err
	}
	if n.originSilent() {
		// Peers first, rather than wait out the origin once more; if
		// none has the track, the origin may be back.
		m, st, err := n.fromPeers(ctx, id, errOriginSilent, true)
		if err == nil || ctx.Err() != nil || errors.Is(err, ErrNodeClosed) {
			return m, st, err
		}
		m, st, err = n.startFromOrigin(ctx, id, hs)
		if err != nil && ctx.Err() == nil {
			return n.afterFailedStart(ctx, id, err, true)
		}
		return m, st, err
	}
	return n.raceStart(ctx, id, hs)
}

// originHeadStart is how long the origin has the start of a play to
// itself before peers are asked beside it: more than a handshake on a
// lossy link takes, much less than originManifestTimeout.
const originHeadStart = time.Second

// errOriginSlow is why peers were asked beside the origin.
var errOriginSlow = fmt.Errorf("no answer in %v yet", originHeadStart)

// raceStart asks the origin for the start of the play of id and, if it
// has not answered within originHeadStart, peers beside it (fromPeers);
// the first answer wins, and one that comes after it is let go. So an
// origin gone down costs a start originHeadStart, not its full timeout.
func (n *Node) raceStart(ctx context.Context, id track.ID, hs headStarter) (*track.Manifest, started, error) {
	type result struct {
		m   *track.Manifest
		st  started
		err error
	}
	// The origin's request runs to its end even when peers win: whether
	// it answered is worth knowing (noteOrigin), and it is bounded by
	// originManifestTimeout. The peers' search ends with the race.
	pctx, cancelPeers := context.WithCancel(ctx)
	defer cancelPeers()
	run := func(f func() (*track.Manifest, started, error)) <-chan result {
		ch := make(chan result, 1)
		if !n.wg.Go(func() { m, st, err := f(); ch <- result{m, st, err} }) {
			ch <- result{err: ErrNodeClosed}
		}
		return ch
	}
	// letGo releases what a path still to answer brings, once it does.
	letGo := func(ch <-chan result) {
		n.wg.Go(func() {
			if r := <-ch; r.err == nil {
				r.st.release()
			}
		})
	}
	fromOrigin := run(func() (*track.Manifest, started, error) { return n.startFromOrigin(ctx, id, hs) })
	headStart := time.NewTimer(originHeadStart)
	defer headStart.Stop()
	select {
	case r := <-fromOrigin:
		if r.err == nil || ctx.Err() != nil || errors.Is(r.err, ErrNodeClosed) {
			return r.m, r.st, r.err
		}
		return n.afterFailedStart(ctx, id, r.err, false)
	case <-headStart.C:
	}
	fromPeers := run(func() (*track.Manifest, started, error) { return n.fromPeers(pctx, id, errOriginSlow, true) })
	var originErr error
	for fromOrigin != nil || fromPeers != nil {
		var r result
		select {
		case r = <-fromOrigin:
			fromOrigin, originErr = nil, r.err
		case r = <-fromPeers:
			fromPeers = nil
		}
		if r.err == nil {
			cancelPeers()
			for _, ch := range []<-chan result{fromOrigin, fromPeers} {
				if ch != nil {
					letGo(ch)
				}
			}
			return r.m, r.st, nil
		}
	}
	if ctx.Err() != nil {
		return nil, started{}, ctx.Err()
	}
	return n.afterFailedStart(ctx, id, originErr, true)
}

// startFromOrigin asks the origin for the start of the play of id; its
// error is the origin's, or ctx's.
func (n *Node) startFromOrigin(ctx context.Context, id track.ID, hs headStarter) (*track.Manifest, started, error) {
	a := n.newStartAnswer(ctx, nil)
	late := time.AfterFunc(originManifestTimeout, a.cut)
	asked := time.Now()
	sr, err := hs.Start(a.ctx, id, firstChunks)
	if !late.Stop() && err != nil {
		err = fmt.Errorf("no answer in %v: %w", originManifestTimeout, context.DeadlineExceeded)
	}
	if ctx.Err() == nil {
		n.noteOrigin(err)
	}
	if err != nil {
		a.drop()
		if ctx.Err() != nil {
			return nil, started{}, ctx.Err()
		}
		return nil, started{}, err
	}
	a.sr = sr
	st, err := n.takeStart(ctx, a, time.Since(asked))
	return sr.Manifest, st, err
}

// startAnswer is the answer to a start of a play, the origin's or a
// peer's. The answer outlives Open (its last chunks go to the stream), so
// it is read under ctx, a context of the node's: detach unties it from
// the caller's context, which until then ends it too, and cut ends it.
type startAnswer struct {
	sr     *origin.StartReader // nil until its manifest has come
	from   *peerConn           // nil for the origin
	ctx    context.Context
	detach func() bool
	cut    context.CancelFunc
}

// newStartAnswer returns the answer of from (nil: the origin) to a start
// that a caller whose context is ctx is about to ask for.
func (n *Node) newStartAnswer(ctx context.Context, from *peerConn) startAnswer {
	rctx, cut := context.WithCancel(n.ctx)
	return startAnswer{from: from, ctx: rctx, detach: context.AfterFunc(ctx, cut), cut: cut}
}

// drop lets go of an answer that did not come or will not be read.
func (a startAnswer) drop() {
	a.detach()
	a.cut()
}

// takeStart keeps the manifest of an answer that came after took, and
// waits briefly for its first chunk. The chunks still to come come back
// in started.rest.
func (n *Node) takeStart(ctx context.Context, a startAnswer, took time.Duration) (started, error) {
	m, from := a.sr.Manifest, a.from
	n.store.PutManifest(m, a.sr.Signed)
	first, end := origin.StartChunks(m, firstChunks)
	parts := make(chan startPart, end-first+1) // every chunk and an error: the reader never blocks
	if !n.wg.Go(func() { readStartParts(a.ctx, a.sr, first, end, parts) }) {
		a.drop()
		a.sr.Close()
		return started{}, ErrNodeClosed
	}
	st := started{first: map[int][]byte{}, from: from}
	// The chunks follow the manifest on its stream: they are due about a
	// chunk's transfer after it. Waiting longer than the manifest took
	// would make Open slower than asking after it.
	wait := time.NewTimer(max(100*time.Millisecond, took))
	defer wait.Stop()
	select {
	case p, ok := <-parts:
		switch {
		case ok && p.err == nil:
			st.first[p.i] = p.b
		case ok && from != nil && errors.Is(p.err, track.ErrBadChunk):
			n.ban(from.id, fmt.Sprintf("sent a chunk of %s that fails its hash in the start of a play", m.ID))
		case ok && from != nil:
			n.log.Info("peer's start of a play failed after its manifest", "track", m.ID, "peer", from.id.Short(), "err", p.err)
		case ok:
			n.log.Warn("origin's start of a play failed after its manifest", "track", m.ID, "err", p.err)
		}
	case <-wait.C:
	case <-ctx.Done():
	}
	a.detach()
	var want []int
	for i := first; i < end; i++ {
		if st.first[i] == nil && (len(st.first) == 0 || i > first) {
			want = append(want, i)
		}
	}
	if len(want) == 0 {
		a.cut()
		return st, nil
	}
	st.rest = &startRest{parts: parts, want: want, from: from, cancel: a.cut}
	return st, nil
}

// startSource is the chunks of a start response (*origin.StartReader).
type startSource interface {
	Next() (int, []byte, error)
	Close() error
}

// readStartParts passes the chunks from..end-1 of a start response to
// parts until it ends, then closes the response and parts. A chunk
// before them ends the response with an error: parts has room for the
// chunks asked and one error, no more. A chunk past them ends it
// cleanly: a node older than START's packed bit reads the count as 4.
// It returns when ctx ends, taken or not, so that it never waits on a
// taker that is gone.
func readStartParts(ctx context.Context, sr startSource, from, end int, parts chan<- startPart) {
	defer close(parts)
	defer sr.Close()
	for {
		i, b, err := sr.Next()
		if err == nil && i >= end {
			return
		}
		if err == nil && i < from {
			err = fmt.Errorf("chunk %d sent in a start of chunks %d to %d", i, from, end-1)
		}
		p := startPart{i: i, b: b}
		if err != nil {
			if errors.Is(err, io.EOF) || ctx.Err() != nil {
				return
			}
			p = startPart{err: err}
		}
		select {
		case parts <- p:
		case <-ctx.Done():
			return
		}
		if err != nil {
			return
		}
	}
}

// afterFailedStart finds the manifest of id once the origin's start of
// the play failed with err: an origin that answered (it lacks the track,
// or predates the start request) is asked for the manifest alone; one that
// did not answer is not asked again, and peers are, unless peersAsked
// says they were just now.
func (n *Node) afterFailedStart(ctx context.Context, id track.ID, err error, peersAsked bool) (*track.Manifest, started, error) {
	if errors.Is(err, track.ErrBadSignature) || errors.Is(err, track.ErrBadManifest) {
		return nil, started{}, err
	}
	var se *origin.StatusError
	if errors.As(err, &se) && se.Code < http.StatusInternalServerError {
		m, err := n.manifest(ctx, id)
		return m, started{}, err
	}
	if peersAsked {
		return nil, started{}, noManifest(id, err)
	}
	return n.fromPeers(ctx, id, err, true)
}

// askPeer asks c for the manifest of id, verified against the origin's
// key, and with it the start of the play if withStart (and c knows
// START). lctx bounds the asking; the start's chunks, once its manifest
// is in, are bounded by ctx alone, as the origin's are.
func (n *Node) askPeer(ctx, lctx context.Context, c *peerConn, id track.ID, withStart bool) (*track.Manifest, started, error) {
	key := n.origin.URL().Key
	if withStart {
		a := n.newStartAnswer(ctx, c)
		stopAsking := context.AfterFunc(lctx, a.cut)
		asked := time.Now()
		sr, err := c.start(a.ctx, id, firstChunks, key)
		stopAsking()
		if err == nil {
			a.sr = sr
			st, err := n.takeStart(ctx, a, time.Since(asked))
			return sr.Manifest, st, err
		}
		a.drop()
		// A node older than START answers it as a bad request: it is
		// asked for the manifest alone.
		if !errors.Is(err, ErrBadRequest) {
			return nil, started{}, n.banForManifest(c, err)
		}
	}
	signed, err := c.manifest(lctx, id)
	if err != nil {
		return nil, started{}, err
	}
	m, err := track.Open(signed, key)
	if err == nil && m.ID != id {
		err = fmt.Errorf("%w: asked for %s, got %s", track.ErrBadManifest, id, m.ID)
	}
	if err != nil {
		return nil, started{}, n.banForManifest(c, err)
	}
	n.store.PutManifest(m, signed)
	return m, started{}, nil
}

// banForManifest bans c if err says it sent a manifest the origin did not
// sign (or another track's), and returns err.
func (n *Node) banForManifest(c *peerConn, err error) error {
	if errors.Is(err, track.ErrBadSignature) || errors.Is(err, track.ErrBadManifest) {
		n.ban(c.id, fmt.Sprintf("sent a manifest the origin did not sign: %v", err))
	}
	return err
}

// adoptStart makes the chunks a start answer still brings requests out
// to its sender, answered as the answer delivers them: decide neither
// asks for them again nor counts them as missing while they come.
func (sc *scheduler) adoptStart(ctx context.Context, r *startRest) {
	// A peer sender is not on the stream yet (discovery has not run):
	// addPeer counts these requests in its queue when it joins.
	src := sc.origSrc
	if r.from != nil {
		src = r.from
	} else {
		// The origin answered the start: a late chunk of it is a slow
		// origin, not one that never answered (judge's first timeout).
		sc.origin.answered = true
	}
	ids := map[int]reqID{}
	got := sc.s.view().got
	for _, i := range r.want {
		if got.Has(i) {
			continue
		}
		sc.lastReq++
		ids[i] = sc.lastReq
		// Cancelling one chunk's request would cut the others': the
		// response is short, and ends on its own.
		sc.inflight[i] = append(sc.inflight[i], &pending{id: sc.lastReq, src: src, peer: r.from, started: time.Now(), cancel: func() {}})
		if r.from == nil {
			sc.origin.inflight++
		}
	}
	if len(ids) == 0 {
		r.cancel()
		return
	}
	running := sc.n.wg.Go(func() {
		defer r.cancel()
		send := func(res result) bool {
			select {
			case sc.results <- res:
				return true
			case <-ctx.Done():
				return false
			}
		}
		// What is not delivered fails at once, so that its chunks are
		// asked again: one of them with the answer's error (a bad chunk
		// is judged once), the others as cut short.
		failRest := func(err error) {
			for i, id := range ids {
				if !send(result{req: id, chunk: i, peer: r.from, err: err}) {
					return
				}
				err = io.ErrUnexpectedEOF
			}
		}
		late := time.NewTimer(originFirstTimeout)
		defer late.Stop()
		var ended error = io.ErrUnexpectedEOF
		for len(ids) > 0 {
			select {
			case p, ok := <-r.parts:
				if !ok {
					failRest(ended)
					return
				}
				if p.err != nil {
					ended = p.err
					continue
				}
				if id, ok := ids[p.i]; ok {
					delete(ids, p.i)
					if !send(result{req: id, chunk: p.i, peer: r.from, data: p.b}) {
						return
					}
				}
			case <-late.C:
				failRest(context.DeadlineExceeded)
				return
			case <-ctx.Done():
				return
			}
		}
	})
	if !running {
		r.cancel()
	}
}
