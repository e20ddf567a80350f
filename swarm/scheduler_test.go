package swarm

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/potluckfm/potluck/track"
)

// silentSource is a source that answers nothing until its request is
// cancelled.
type silentSource struct{}

func (silentSource) sourceID() PeerID { return originID }
func (silentSource) fetchChunk(ctx context.Context, _ *track.Manifest, _ int, _ byte) ([]byte, error) {
	<-ctx.Done()
	return nil, ctx.Err()
}

// A seek cancels the request for a chunk and a seek back asks for it
// again: the late answer of the first request must not retire the second,
// which a later seek must still be able to cancel.
func TestLateAnswerToACancelledRequestKeepsTheNewOne(t *testing.T) {
	ts := newTestSwarm(t)
	m, _ := ts.track()
	b := ts.node(func(c *Config) { c.NoPeers = true })
	s, err := b.Open(context.Background(), m.ID, ModePlay)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	// A scheduler of the stream's, not running: its steps are taken by hand.
	sc := newScheduler(s)
	sc.origSrc = silentSource{}
	const i = 3
	now := time.Now()
	sc.apply(ctx, action{kind: actRequest, chunk: i, peer: originID}, now)
	first := sc.inflight[i][0]
	sc.apply(ctx, action{kind: actCancel, chunk: i, req: first.id}, now)   // the seek
	sc.apply(ctx, action{kind: actRequest, chunk: i, peer: originID}, now) // the seek back
	if len(sc.inflight[i]) != 1 {
		t.Fatalf("%d requests for chunk %d, want 1", len(sc.inflight[i]), i)
	}
	second := sc.inflight[i][0]
	r := <-sc.results
	if r.req != first.id || !errors.Is(r.err, context.Canceled) {
		t.Fatalf("answer %+v, want request %d cancelled", r, first.id)
	}
	sc.handle(r)
	if ps := sc.inflight[i]; len(ps) != 1 || ps[0] != second {
		t.Fatalf("after the late answer of request %d, chunk %d has requests %v, want request %d", first.id, i, ps, second.id)
	}
	if sc.origin.failures != 0 {
		t.Errorf("a cancelled request counted as %d origin failures", sc.origin.failures)
	}
	// A second seek can still cancel the newer request.
	sc.apply(ctx, action{kind: actCancel, chunk: i, req: second.id}, now)
	select {
	case r := <-sc.results:
		if r.req != second.id {
			t.Errorf("answer to request %d, want %d", r.req, second.id)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the newer request was not cancelled")
	}
}
