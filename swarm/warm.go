package swarm

import (
	"context"
	"sync/atomic"

	"github.com/potluckfm/potluck/track"
)

// maxWarm bounds the manifests one WarmManifests call fetches.
const maxWarm = 8

// warmState is the node's manifest warming (WarmManifests).
type warmState struct {
	busy   atomic.Bool  // a call is at work; others are dropped
	warmed atomic.Int64 // manifests fetched ahead of their play
}

// WarmManifests fetches, in the background, the manifests of tracks the
// listener is likely to play next (the queue after the playing track), so
// that starting one costs only its first chunk. It fetches at most
// maxWarm, skips those the store holds, and returns at once; a call made
// while an earlier one still works is dropped (the next track's start
// makes another).
func (n *Node) WarmManifests(ids []track.ID) {
	if !n.warm.busy.CompareAndSwap(false, true) {
		return
	}
	ids = append([]track.ID(nil), ids[:min(len(ids), maxWarm)]...)
	if !n.wg.Go(func() {
		defer n.warm.busy.Store(false)
		for _, id := range ids {
			if n.ctx.Err() != nil {
				return
			}
			if _, _, ok := n.store.Manifest(id); ok {
				continue
			}
			ctx, cancel := context.WithTimeout(n.ctx, originManifestTimeout)
			m, signed, err := n.origin.Manifest(ctx, id)
			cancel()
			if err != nil {
				n.log.Debug("manifest not warmed", "track", id, "err", err)
				continue
			}
			n.store.PutManifest(m, signed)
			n.warm.warmed.Add(1)
		}
	}) {
		n.warm.busy.Store(false) // the node is closing
	}
}
