package main

import (
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/potluckfm/potluck/app"
	"github.com/potluckfm/potluck/cache"
	"github.com/potluckfm/potluck/origin"
	"github.com/potluckfm/potluck/player"
	"github.com/potluckfm/potluck/swarm"
	"github.com/potluckfm/potluck/track"
)

// playerAdapter is the app.Player the UI drives: it forwards each call to
// the player on one goroutine of its own, in order, so a click never waits
// for the player. Its queue has no bound, so a call never blocks; a seek
// or a volume change replaces one of its kind still waiting at the tail
// (a dragged slider sends many), and every other call is a single player
// command, so that a track ending meanwhile cannot split it.
type playerAdapter struct {
	p    *player.Player
	once sync.Once
	wake chan struct{} // a call was queued
	mu   sync.Mutex
	cmds []adapterCmd
	// failed is the last track whose play failed (see onEvent).
	failed atomic.Pointer[track.ID]
	// warm, if set, fetches ahead the manifests of tracks likely to play
	// next (swarm.Node.WarmManifests): the next queueWarmAhead queued,
	// called as each track starts, and those the UI shows (Warm).
	warm func([]track.ID)
}

// queueWarmAhead is how many of the tracks queued next have their
// manifests fetched as a track starts: enough that a skip costs only the
// chunk. Warming the next 32 cost about 350 KB of origin egress each
// time the queue changed (docs/benchmark.md, "What the median has left").
const queueWarmAhead = 4

// adapterCmd is a queued call; one with a kind replaces the command of
// the same kind at the tail of the queue.
type adapterCmd struct {
	kind string
	run  func() error
}

// onEvent is the player's Config.OnEvent: it remembers which track failed,
// so the UI can name it.
func (a *playerAdapter) onEvent(e player.Event) {
	switch {
	case e.Kind == player.TrackEnded && e.Stats.Err != nil:
		id := e.Track
		a.failed.Store(&id)
	case e.Kind == player.TrackStarted:
		a.failed.Store(nil)
		if a.warm != nil {
			// On the adapter's goroutine: OnEvent runs on the player's.
			a.send("warm", func() error {
				up := a.p.State().Upcoming
				a.warm(up[:min(len(up), queueWarmAhead)])
				return nil
			})
		}
	}
}

// send queues f, of kind (or "" for a call that merges with none), and
// returns at once. The goroutine that runs the queue ends with the player.
func (a *playerAdapter) send(kind string, f func() error) {
	a.once.Do(func() {
		a.wake = make(chan struct{}, 1)
		go a.run()
	})
	a.mu.Lock()
	if n := len(a.cmds); kind != "" && n > 0 && a.cmds[n-1].kind == kind {
		a.cmds[n-1].run = f
	} else {
		a.cmds = append(a.cmds, adapterCmd{kind, f})
	}
	a.mu.Unlock()
	select {
	case a.wake <- struct{}{}:
	default:
	}
}

func (a *playerAdapter) run() {
	for {
		select {
		case <-a.wake:
		case <-a.p.Done():
			return
		}
		for {
			a.mu.Lock()
			if len(a.cmds) == 0 {
				a.mu.Unlock()
				break
			}
			c := a.cmds[0]
			a.cmds = a.cmds[1:]
			a.mu.Unlock()
			// A play's failure shows in State().Err; a command the
			// player refuses (a seek with nothing playing, an edit of a
			// track no longer upcoming) changes nothing.
			if err := c.run(); err != nil {
				slog.Debug("player command refused", "err", err)
			}
		}
	}
}

// Warm is app.Warmer: it fetches ahead the manifests of the tracks the UI
// shows. It returns at once.
func (a *playerAdapter) Warm(ids []track.ID) {
	if a.warm != nil {
		a.warm(ids)
	}
}

var _ app.Warmer = (*playerAdapter)(nil)

func (a *playerAdapter) PlayContext(ids []track.ID, start int) {
	ids = slices.Clone(ids)
	a.send("", func() error { return a.p.SetQueue(ids, start) })
}
func (a *playerAdapter) PlayNext(ids ...track.ID) {
	ids = slices.Clone(ids)
	a.send("", func() error { return a.p.InsertNext(ids...) })
}
func (a *playerAdapter) Enqueue(ids ...track.ID) {
	ids = slices.Clone(ids)
	a.send("", func() error { return a.p.Append(ids...) })
}
func (a *playerAdapter) TogglePause()         { a.send("", a.p.TogglePause) }
func (a *playerAdapter) Next()                { a.send("", a.p.Next) }
func (a *playerAdapter) Previous()            { a.send("", a.p.Previous) }
func (a *playerAdapter) Seek(t time.Duration) { a.send("seek", func() error { return a.p.Seek(t) }) }
func (a *playerAdapter) SetVolume(v float64) {
	a.send("volume", func() error { return a.p.SetVolume(v) })
}

func (a *playerAdapter) Remove(i int, id track.ID) {
	a.send("", func() error { return a.p.RemoveUpcoming(i, id) })
}
func (a *playerAdapter) Move(from, to int, id track.ID) {
	a.send("", func() error { return a.p.MoveUpcoming(from, to, id) })
}
func (a *playerAdapter) Clear()             { a.send("", a.p.ClearUpcoming) }
func (a *playerAdapter) SetShuffle(on bool) { a.send("", func() error { return a.p.SetShuffle(on) }) }
func (a *playerAdapter) SetRepeat(r app.Repeat) {
	a.send("", func() error { return a.p.SetRepeat(player.Repeat(r)) })
}

func (a *playerAdapter) State() app.PlayerState {
	st := a.p.State()
	out := app.PlayerState{
		Playing:  st.Status == player.Playing || st.Status == player.Loading,
		Loading:  st.Status == player.Loading,
		Position: st.Position, Duration: st.Duration,
		Volume: st.Volume, Upcoming: st.Upcoming, Queue: st.Queue, Index: st.Index,
		Shuffle: st.Shuffle, Repeat: app.Repeat(st.Repeat),
	}
	if st.Err != nil {
		out.Err = listenerError(st.Err)
		if id := a.failed.Load(); id != nil {
			out.ErrTrack = *id
		}
	}
	if st.Index >= 0 {
		out.Current = st.Track
	}
	return out
}

// listenerError says why a play failed in words a listener understands
// (no track IDs, no Go error chains); the full error is in the debug log.
func listenerError(err error) error {
	var msg string
	switch {
	case errors.Is(err, player.ErrNoAudioDevice):
		msg = "there is no audio device"
	case errors.Is(err, swarm.ErrUnavailable):
		msg = "neither the origin nor any listener who has it can be reached right now"
	case errors.Is(err, origin.ErrNotFound):
		msg = "the origin no longer has it"
	case errors.Is(err, player.ErrCorrupt), errors.Is(err, player.ErrTruncated), errors.Is(err, player.ErrNoAudio):
		msg = "its audio is damaged"
	default:
		msg = "it could not be loaded"
	}
	return errors.New(msg)
}

// streamTracker remembers the streams the player opened (nodeconf.Opener
// tells it), so the swarm panel can tell where the playing track came
// from.
type streamTracker struct {
	mu   sync.Mutex
	open map[track.ID]*swarm.Stream
}

func (t *streamTracker) opened(id track.ID, s *swarm.Stream) {
	t.mu.Lock()
	t.open[id] = s
	t.mu.Unlock()
}

func (t *streamTracker) stream(id track.ID) *swarm.Stream {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.open[id]
}

// swarmAdapter is the app.Swarm of the swarm panel.
type swarmAdapter struct {
	node    *swarm.Node
	store   cache.Store
	streams *streamTracker
	player  *player.Player
}

func (a *swarmAdapter) Status() app.SwarmStatus {
	used, limit := a.store.Usage()
	st := app.SwarmStatus{BytesServed: a.node.BytesServed(), CacheUsed: used, CacheLimit: limit, NodeID: string(a.node.ID())}
	for _, p := range a.node.Peers() {
		st.Peers = append(st.Peers, fmt.Sprintf("%s %s", p.ID.Short(), p.Addr))
	}
	r := a.node.Reachability()
	st.Reach, st.DirectPeers, st.PunchedPeers, st.LANPeers = r.State, r.Direct, r.Punched, r.LAN
	if r.Public.IsValid() {
		st.PublicAddr = r.Public.String()
	}
	if ps := a.player.State(); ps.Index >= 0 {
		if s := a.streams.stream(ps.Track); s != nil {
			ss := s.Stats()
			st.FromCache, st.FromPeers, st.FromOrigin = ss.FromCache, ss.FromPeers, ss.FromOrigin
			st.BufferedAhead = s.BufferedAhead()
		}
	}
	return st
}

// offlineAdapter is the app.Offline of a swarm.Keeper.
type offlineAdapter struct{ k *swarm.Keeper }

func (o offlineAdapter) Pin(ids ...track.ID) error   { return o.k.Pin(ids...) }
func (o offlineAdapter) Unpin(ids ...track.ID) error { return o.k.Unpin(ids...) }
func (o offlineAdapter) Pinned(id track.ID) bool     { return o.k.Pinned(id) }
func (o offlineAdapter) Progress() []app.PinProgress {
	var out []app.PinProgress
	for _, s := range o.k.Status() {
		p := app.PinProgress{ID: s.ID, Held: s.Held, Total: s.Chunks, Done: s.Done}
		if s.Err != nil {
			p.Err = "waiting to fetch"
			if errors.Is(s.Err, cache.ErrFull) {
				p.Err = "the cache is full of other pinned tracks"
			} else if errors.Is(s.Err, swarm.ErrUnavailable) {
				p.Err = "neither the origin nor a listener who has it can be reached"
			}
		}
		out = append(out, p)
	}
	return out
}
