package app

import (
	"slices"
	"sync"
	"time"

	"github.com/potluckfm/potluck/track"
)

// Warmer is a Player that can fetch ahead, cheaply, what the start of a
// track's play needs first (its manifest), so that a click costs only the
// first audio. The UI tells it the tracks a listener is likely to play
// next: the rows in view once they stop moving, and the album of the
// track that starts. Warm must return at once.
type Warmer interface {
	Warm(ids []track.ID)
}

// warmDelay is how long the rows drawn must stay still before their tracks
// are warmed, so that scrolling past rows warms nothing; maxWarmRows bounds
// the rows warmed at once (a tall window's worth).
const (
	warmDelay   = 300 * time.Millisecond
	maxWarmRows = 32
)

// rowWarmer collects the tracks of the rows drawn and, once no new one
// has been drawn for warmDelay, warms the latest of them. A track is
// warmed once.
type rowWarmer struct {
	w      Warmer // nil: nothing is warmed
	mu     sync.Mutex
	drawn  []track.ID // not warmed yet, latest last
	warmed map[track.ID]bool
	timer  *time.Timer
	closed bool
}

func newRowWarmer(p Player) *rowWarmer {
	w, _ := p.(Warmer)
	return &rowWarmer{w: w, warmed: map[track.ID]bool{}}
}

// drew notes a row of id drawn. A row drawn again (the list refreshes
// while music plays) does not put the warming off.
func (rw *rowWarmer) drew(id track.ID) {
	if rw.w == nil || id.IsZero() {
		return
	}
	rw.mu.Lock()
	defer rw.mu.Unlock()
	if rw.closed || rw.warmed[id] || slices.Contains(rw.drawn, id) {
		return
	}
	rw.drawn = append(rw.drawn, id)
	if n := len(rw.drawn); n > maxWarmRows {
		rw.drawn = slices.Delete(rw.drawn, 0, n-maxWarmRows)
	}
	if rw.timer == nil {
		rw.timer = time.AfterFunc(warmDelay, rw.fire)
	} else {
		rw.timer.Reset(warmDelay)
	}
}

// fire warms the rows drawn.
func (rw *rowWarmer) fire() {
	rw.mu.Lock()
	ids := rw.drawn
	rw.drawn = nil
	for _, id := range ids {
		rw.warmed[id] = true
	}
	closed := rw.closed
	rw.mu.Unlock()
	if len(ids) > 0 && !closed {
		rw.w.Warm(ids)
	}
}

// warmNow warms ids at once (the album of a track that starts).
func (rw *rowWarmer) warmNow(ids []track.ID) {
	if rw.w == nil || len(ids) == 0 {
		return
	}
	rw.mu.Lock()
	closed := rw.closed
	rw.mu.Unlock()
	if !closed {
		rw.w.Warm(ids)
	}
}

// stop ends the warming: a timer set is stopped, and none is set again.
func (rw *rowWarmer) stop() {
	rw.mu.Lock()
	defer rw.mu.Unlock()
	rw.closed = true
	if rw.timer != nil {
		rw.timer.Stop()
	}
}
