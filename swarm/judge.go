package swarm

import (
	"context"
	"errors"
	"time"

	"github.com/potluckfm/potluck/track"
)

// answer is what judge decides from: one answer to a chunk request, and
// what the stream knew of its source when it came, read at one instant.
type answer struct {
	now     time.Time
	err     error // nil: a chunk verified against the manifest
	origin  bool  // from the origin
	matched bool  // it answers a request still in flight, not a cancelled one
	got     bool  // the stream has the chunk already

	// The origin's state, its answer already taken off its requests in
	// flight.
	state originState

	// Of a peer's answer: whether the peer is on the stream, on the
	// connection that answered; whether its map claimed the chunk, and
	// when that map came; whether its connection has closed.
	onStream bool
	claimed  bool
	mapAt    time.Time
	closed   bool
}

type verdictKind int

const (
	// vNone: nothing to do (a request this node cancelled, or an answer
	// from a peer no longer on the stream).
	vNone verdictKind = iota
	// vDeliver: the chunk is good; deliver it and cancel its duplicates.
	vDeliver
	// vOriginDown: the origin failed; leave it alone until state.downUntil.
	vOriginDown
	// vBanBadChunk: the peer sent a chunk that fails its hash.
	vBanBadChunk
	// vBanLiar: the peer denied a chunk its fresh map claimed.
	vBanLiar
	// vDrop: take the peer off the stream and ask its map again (its map
	// was old, or it evicted the track).
	vDrop
	// vBusy: leave the peer alone until until.
	vBusy
	// vSkip: do not ask the peer for the chunk until until.
	vSkip
	// vVanished: as vSkip, and drop the peer: its connection closed.
	vVanished
)

// verdict is what judge asks the executor to do with an answer.
type verdict struct {
	kind  verdictKind
	state originState // the origin's state after an answer of the origin
	until time.Time
}

// maxOriginBackoff is the longest a stream leaves the origin out after
// its requests failed.
const maxOriginBackoff = 5 * time.Second

// judge decides what one answer means: deliver, ban, drop, back off. Like
// decide, it reads no clock and changes nothing.
//
// An origin that never delivered a chunk for the stream and lets a
// request time out is down, not flaky: that counts as the three failures
// after which a chunk no peer holds fails (see askOrigin). Its back-off
// grows 500 ms a failure in a row, up to 5 s. A peer that denies a chunk
// is banned only if the map that claimed it is younger than maxMapAge;
// an older map may just be out of date.
func judge(a answer) verdict {
	st := a.state
	if a.err == nil {
		if a.origin {
			st.failures, st.answered = 0, true
		}
		return verdict{kind: vDeliver, state: st}
	}
	cancelled := errors.Is(a.err, context.Canceled)
	if a.origin {
		// A request the scheduler dropped (a seek) or no longer needed (a
		// peer delivered first) was cancelled by us: not the origin's fault.
		if !a.matched || cancelled || a.got {
			return verdict{state: st}
		}
		st.failures++
		if !st.answered && errors.Is(a.err, context.DeadlineExceeded) {
			st.failures = max(st.failures, 3)
		}
		st.lastErr = a.err
		st.downUntil = a.now.Add(min(time.Duration(st.failures)*500*time.Millisecond, maxOriginBackoff))
		return verdict{kind: vOriginDown, state: st}
	}
	switch {
	case errors.Is(a.err, track.ErrBadChunk):
		return verdict{kind: vBanBadChunk}
	case errors.Is(a.err, ErrNotHeld) && a.onStream && a.claimed && a.now.Sub(a.mapAt) < maxMapAge:
		return verdict{kind: vBanLiar}
	case errors.Is(a.err, ErrNotHeld) && a.onStream:
		// Its map is old: the chunk may have failed its check there since.
		return verdict{kind: vDrop}
	case errors.Is(a.err, ErrGone) && a.onStream:
		return verdict{kind: vDrop} // evicted the track: not a liar, just no source
	case errors.Is(a.err, ErrBusy) && a.onStream:
		return verdict{kind: vBusy, until: a.now.Add(busyFor)}
	case cancelled || errors.Is(a.err, context.DeadlineExceeded):
		// Moved elsewhere by watch, or the stream is closing.
		return verdict{}
	case a.onStream && a.closed:
		return verdict{kind: vVanished, until: a.now.Add(skipFor)}
	case a.onStream:
		return verdict{kind: vSkip, until: a.now.Add(skipFor)}
	}
	return verdict{}
}

// failedTry reports whether a peer's answer that got v counts as a failed
// try of its chunk (see peerTries): any answer but the chunk, "busy", or
// a cancel of this node's.
func (v verdict) failedTry() bool {
	switch v.kind {
	case vBanBadChunk, vBanLiar, vDrop, vSkip, vVanished:
		return true
	}
	return false
}
