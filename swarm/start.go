package swarm

// The start of an uncached play: one request to the origin brings the
// manifest and then the chunks holding the first audio, on one stream
// (origin.Client.Start). Open returns as soon as the first of those
// chunks is verified; the scheduler takes the rest of the response as
// requests out to the origin.

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

// startPart is one verified chunk of a start response, or the error that
// ended it.
type startPart struct {
	i   int
	b   []byte
	err error
}

// startRest is what a start response has still to bring when Open
// returns; the stream's scheduler takes it (adoptStart).
type startRest struct {
	parts  <-chan startPart // closed after the response's last part
	want   []int            // chunks still to come
	cancel context.CancelFunc
}

// manifestAndFirst finds the manifest of id as manifest does. When it has
// to ask the origin, it asks for the start of the play (the manifest and
// the chunks holding the first audio) in one request, and returns the
// first chunk with the manifest if it arrives soon after it: a play then
// starts one round trip after Open is called. The chunks still on their
// way come back as a startRest for the stream to take.
func (n *Node) manifestAndFirst(ctx context.Context, id track.ID) (*track.Manifest, map[int][]byte, *startRest, error) {
	hs, ok := n.origin.(headStarter)
	prefetch, _ := ctx.Value(prefetchKey{}).(bool)
	_, _, cached := n.store.Manifest(id)
	if have := n.store.Have(id); cached || !ok || prefetch || (have != nil && have.Count() > 0) {
		m, err := n.manifest(ctx, id)
		return m, nil, nil, err
	}
	// The response outlives Open (its last chunks go to the stream), so it
	// runs under the node's context, cut short if the caller gives up
	// before the stream takes it, or if the manifest is late.
	rctx, cancel := context.WithCancel(n.ctx)
	stop := context.AfterFunc(ctx, cancel)
	late := time.AfterFunc(originManifestTimeout, cancel)
	asked := time.Now()
	sr, err := hs.Start(rctx, id, firstChunks)
	late.Stop()
	if err != nil {
		stop()
		cancel()
		if ctx.Err() != nil {
			return nil, nil, nil, ctx.Err()
		}
		m, err := n.afterFailedStart(ctx, id, err)
		return m, nil, nil, err
	}
	m := sr.Manifest
	n.store.PutManifest(m, sr.Signed)
	from, end := origin.StartChunks(m, firstChunks)
	parts := make(chan startPart, end-from+1) // every chunk and an error: the reader never blocks
	if !n.wg.Go(func() { readStartParts(rctx, sr, from, end, parts) }) {
		stop()
		cancel()
		sr.Close()
		return nil, nil, nil, ErrNodeClosed
	}
	first := map[int][]byte{}
	// The chunks follow the manifest on its stream: they are due about a
	// chunk's transfer after it. Waiting longer than the manifest took
	// would make Open slower than asking after it.
	wait := time.NewTimer(max(100*time.Millisecond, time.Since(asked)))
	defer wait.Stop()
	select {
	case p, ok := <-parts:
		switch {
		case ok && p.err == nil:
			first[p.i] = p.b
		case ok:
			n.log.Warn("origin's start of a play failed after its manifest", "track", id, "err", p.err)
		}
	case <-wait.C:
	case <-ctx.Done():
	}
	stop()
	var want []int
	for i := from; i < end; i++ {
		if first[i] == nil && (len(first) == 0 || i > from) {
			want = append(want, i)
		}
	}
	if len(want) == 0 {
		cancel()
		return m, first, nil, nil
	}
	return m, first, &startRest{parts: parts, want: want, cancel: cancel}, nil
}

// startSource is the chunks of a start response (*origin.StartReader).
type startSource interface {
	Next() (int, []byte, error)
	Close() error
}

// readStartParts passes the chunks from..end-1 of a start response to
// parts until it ends, then closes the response and parts. A chunk
// outside them ends the response with an error: parts has room for the
// chunks asked and one error, no more. It returns when ctx ends, taken
// or not, so that it never waits on a taker that is gone.
func readStartParts(ctx context.Context, sr startSource, from, end int, parts chan<- startPart) {
	defer close(parts)
	defer sr.Close()
	for {
		i, b, err := sr.Next()
		if err == nil && (i < from || i >= end) {
			err = fmt.Errorf("origin sent chunk %d in a start of chunks %d to %d", i, from, end-1)
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
// did not answer is not asked again, and peers are.
func (n *Node) afterFailedStart(ctx context.Context, id track.ID, err error) (*track.Manifest, error) {
	if errors.Is(err, track.ErrBadSignature) || errors.Is(err, track.ErrBadManifest) {
		return nil, err
	}
	var se *origin.StatusError
	if errors.As(err, &se) && se.Code < http.StatusInternalServerError {
		return n.manifest(ctx, id)
	}
	return n.manifestFromPeers(ctx, id, err)
}

// adoptStart makes the chunks a start response still brings requests out
// to the origin, answered as the response delivers them: decide neither
// asks the origin for them again nor counts them as missing while they
// come.
func (sc *scheduler) adoptStart(ctx context.Context, r *startRest) {
	// The origin answered the start: a late chunk of it is a slow
	// origin, not one that never answered (judge's first timeout).
	sc.origin.answered = true
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
		sc.inflight[i] = append(sc.inflight[i], &pending{id: sc.lastReq, src: sc.origSrc, started: time.Now(), cancel: func() {}})
		sc.origin.inflight++
	}
	if len(ids) == 0 {
		r.cancel()
		return
	}
	started := sc.n.wg.Go(func() {
		defer r.cancel()
		send := func(res result) bool {
			select {
			case sc.results <- res:
				return true
			case <-ctx.Done():
				return false
			}
		}
		// What is not delivered fails with the response's error, so that
		// its chunks are asked again at once.
		failRest := func(err error) {
			for i, id := range ids {
				if !send(result{req: id, chunk: i, err: err}) {
					return
				}
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
					if !send(result{req: id, chunk: p.i, data: p.b}) {
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
	if !started {
		r.cancel()
	}
}
