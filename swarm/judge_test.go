package swarm

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/potluckfm/potluck/track"
)

// TestJudge runs every kind of answer through judge at a fixed instant.
func TestJudge(t *testing.T) {
	errNet := errors.New("connection reset")
	fromOrigin := func(err error, st originState) answer {
		return answer{now: t0, err: err, origin: true, matched: true, state: st}
	}
	fromPeer := func(err error) answer {
		return answer{now: t0, err: err, onStream: true, claimed: true, mapAt: t0.Add(-time.Second)}
	}
	edit := func(a answer, f func(*answer)) answer { f(&a); return a }
	answered := originState{answered: true, failures: 2, inflight: 1}
	cases := []struct {
		name string
		in   answer
		want verdict
	}{
		{"a chunk from a peer is delivered", fromPeer(nil), verdict{kind: vDeliver}},
		{"a chunk from the origin clears its failures", fromOrigin(nil, originState{failures: 2, inflight: 1}),
			verdict{kind: vDeliver, state: originState{answered: true, inflight: 1}}},
		{"the origin fails: back-off of 500 ms a failure", fromOrigin(errNet, answered),
			verdict{kind: vOriginDown, state: originState{answered: true, failures: 3, inflight: 1, lastErr: errNet, downUntil: t0.Add(1500 * time.Millisecond)}}},
		{"the origin's back-off stops at 5 s", fromOrigin(errNet, originState{answered: true, failures: 11}),
			verdict{kind: vOriginDown, state: originState{answered: true, failures: 12, lastErr: errNet, downUntil: t0.Add(5 * time.Second)}}},
		{"an origin that never answered and times out is down: three failures", fromOrigin(context.DeadlineExceeded, originState{}),
			verdict{kind: vOriginDown, state: originState{failures: 3, lastErr: context.DeadlineExceeded, downUntil: t0.Add(1500 * time.Millisecond)}}},
		{"an origin that answered before and times out: one failure", fromOrigin(context.DeadlineExceeded, originState{answered: true}),
			verdict{kind: vOriginDown, state: originState{answered: true, failures: 1, lastErr: context.DeadlineExceeded, downUntil: t0.Add(500 * time.Millisecond)}}},
		{"the origin: a request this node cancelled is not its fault", fromOrigin(context.Canceled, answered),
			verdict{state: answered}},
		{"the origin: an answer to a cancelled request is not its fault", edit(fromOrigin(errNet, answered), func(a *answer) { a.matched = false }),
			verdict{state: answered}},
		{"the origin: a failure for a chunk a peer delivered is not its fault", edit(fromOrigin(errNet, answered), func(a *answer) { a.got = true }),
			verdict{state: answered}},
		{"a bad chunk bans the peer", fromPeer(track.ErrBadChunk), verdict{kind: vBanBadChunk}},
		{"a bad chunk bans the peer even off the stream", edit(fromPeer(track.ErrBadChunk), func(a *answer) { a.onStream = false }), verdict{kind: vBanBadChunk}},
		{"denying a chunk its fresh map claimed is a lie", fromPeer(ErrNotHeld), verdict{kind: vBanLiar}},
		{"denying a chunk its old map claimed: dropped, asked again",
			edit(fromPeer(ErrNotHeld), func(a *answer) { a.mapAt = t0.Add(-maxMapAge) }), verdict{kind: vDrop}},
		{"denying a chunk its map did not claim: dropped",
			edit(fromPeer(ErrNotHeld), func(a *answer) { a.claimed = false }), verdict{kind: vDrop}},
		{"an evicted track: dropped, not banned", fromPeer(ErrGone), verdict{kind: vDrop}},
		{"busy: left alone 500 ms", fromPeer(ErrBusy), verdict{kind: vBusy, until: t0.Add(busyFor)}},
		{"a request moved elsewhere: nothing", fromPeer(context.Canceled), verdict{}},
		{"a request that timed out: nothing", fromPeer(context.DeadlineExceeded), verdict{}},
		{"another failure: the chunk is asked elsewhere for 5 s", fromPeer(errNet), verdict{kind: vSkip, until: t0.Add(skipFor)}},
		{"a peer whose connection closed: skipped and dropped",
			edit(fromPeer(errNet), func(a *answer) { a.closed = true }), verdict{kind: vVanished, until: t0.Add(skipFor)}},
		{"a peer no longer on the stream: nothing",
			edit(fromPeer(ErrNotHeld), func(a *answer) { a.onStream = false }), verdict{}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got := judge(c.in)
			if fmt.Sprint(got) != fmt.Sprint(c.want) {
				t.Errorf("judge:\n got %+v\nwant %+v", got, c.want)
			}
			// Of a peer's answer: does it count against the chunk's
			// peerTries? Anything but the chunk, "busy" or a cancel.
			wantTry := !c.in.origin && c.want.kind != vNone && c.want.kind != vDeliver && c.want.kind != vBusy
			if got.failedTry() != wantTry {
				t.Errorf("failedTry() = %v, want %v", got.failedTry(), wantTry)
			}
		})
	}
}
