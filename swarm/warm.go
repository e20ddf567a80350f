package swarm

import (
	"errors"
	"net/http"
	"slices"
	"sync"
	"sync/atomic"

	"github.com/potluckfm/potluck/origin"
	"github.com/potluckfm/potluck/track"
)

// maxWarm bounds the manifests waiting to be warmed: a call's tracks go
// first, and those waiting longest are dropped past it.
const maxWarm = 32

// warmState is the node's manifest warming (WarmManifests).
type warmState struct {
	mu      sync.Mutex
	queue   []track.ID // to fetch, in order
	running bool       // a goroutine works through queue
	warmed  atomic.Int64
}

// drop empties the queue.
func (w *warmState) drop() {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.queue = nil
}

// WarmManifests fetches, in the background, the manifests of tracks the
// listener is likely to play next (the queue after the playing track, the
// rows of the library in view), so that starting one costs only its first
// chunk. It returns at once. The tracks of the latest call go first, then
// those of earlier calls still waiting, up to maxWarm; those the store
// holds are skipped. An origin that does not answer (or did not a moment
// ago, see noteOrigin) ends the round: a later call tries again.
func (n *Node) WarmManifests(ids []track.ID) {
	w := &n.warm
	w.mu.Lock()
	defer w.mu.Unlock()
	q := make([]track.ID, 0, maxWarm)
	for _, id := range slices.Concat(ids, w.queue) {
		if len(q) == maxWarm {
			break
		}
		if !id.IsZero() && !slices.Contains(q, id) {
			q = append(q, id)
		}
	}
	w.queue = q
	if w.running || len(q) == 0 {
		return
	}
	w.running = n.wg.Go(n.warmQueued) // false: the node is closing
}

// warmQueued fetches the queued manifests one at a time until none is
// left, the origin fails to answer, or the node closes.
func (n *Node) warmQueued() {
	w := &n.warm
	for {
		w.mu.Lock()
		if len(w.queue) == 0 || n.ctx.Err() != nil {
			w.running = false
			w.mu.Unlock()
			return
		}
		id := w.queue[0]
		w.queue = w.queue[1:]
		w.mu.Unlock()
		if _, _, ok := n.store.Manifest(id); ok {
			continue
		}
		if n.originSilent() {
			w.drop()
			continue
		}
		if _, err := n.manifestFromOrigin(n.ctx, id); err != nil {
			n.log.Debug("manifest not warmed", "track", id, "err", err)
			var se *origin.StatusError
			if !errors.As(err, &se) || se.Code >= http.StatusInternalServerError {
				w.drop()
			}
			continue
		}
		w.warmed.Add(1)
	}
}
