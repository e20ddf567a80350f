package player

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"sync"
	"time"

	"github.com/potluckfm/potluck/track"
)

// Config configures a Player.
type Config struct {
	// Sink plays the audio (required). The caller keeps it: close it
	// after the Player.
	Sink Sink
	// Opener opens the Source of each track (required).
	Opener Opener
	// OnEvent, if set, is called on the Player's goroutine for each
	// Event. It must return quickly and must not call the Player's
	// methods other than State (they wait for that goroutine).
	OnEvent func(Event)
	// PrefetchBefore is how long before the end of a track the next one
	// is opened, so that its head is fetched in time (default 10s;
	// negative turns prefetch off).
	PrefetchBefore time.Duration
	// PositionInterval is how often the position is reported to the
	// Source (default 250ms).
	PositionInterval time.Duration
	// Seed seeds shuffle; 0 means a random seed.
	Seed uint64
	// Logger receives debug logs; nil means slog.Default().
	Logger *slog.Logger
}

// Status is what the Player is doing.
type Status int

// Statuses.
const (
	Stopped Status = iota // nothing to play
	Loading               // a track was asked for and no audio has gone out yet
	Playing
	Paused
)

func (s Status) String() string {
	return [...]string{"stopped", "loading", "playing", "paused"}[s]
}

// State is a snapshot of the Player.
type State struct {
	Status Status
	// Track and Index (in the queue's list) are the current track; Index
	// is -1 when there is none.
	Track track.ID
	Index int
	// Manifest is the current track's, once its Source is open.
	Manifest *track.Manifest
	// Position is the time of the audio being heard (for a
	// RealTimeSink; else the audio handed to the sink), Duration the
	// track's length.
	Position, Duration time.Duration
	// Buffering is true while a started play waits for audio: an
	// underrun is going on.
	Buffering bool
	Volume    float64
	Repeat    Repeat
	Shuffle   bool
	// Queue is the list of tracks, in list order.
	Queue []track.ID
	// Upcoming are the tracks after the current one, in play order.
	Upcoming []track.ID
	// Played are the tracks played before the current one, in the order
	// they were played, the most recent last: where Previous goes.
	Played []track.ID
	// Err is the error that ended the last play that failed; it is
	// cleared when a play starts.
	Err error
}

// PlayStats describe one play of a track.
type PlayStats struct {
	Track track.ID
	Index int
	// StartLatency is the time from asking for the play to the first PCM
	// handed to the sink (zero if none was).
	StartLatency time.Duration
	// Underruns counts the times the sink ran dry during the play, and
	// UnderrunTime is how long it was dry in all: the stutter.
	Underruns    int
	UnderrunTime time.Duration
	// Played is the audio handed to the sink.
	Played time.Duration
	// Seeks counts seeks; SeekLatency is the longest time from a seek to
	// the first PCM from its new position.
	Seeks       int
	SeekLatency time.Duration
	// Skipped is true if the play was left before its end (next,
	// previous, jump, a new queue, Close).
	Skipped bool
	// Swarm says where the bytes came from, if the Source is a
	// StatsSource (a swarm Stream, adapted by the caller).
	Swarm SourceStats
	// Err is why the play stopped early: a *DecodeError (ErrCorrupt,
	// ErrTruncated, the Source's error), the Opener's or the sink's error.
	Err error
}

// EventKind says what an Event is about.
type EventKind int

// Event kinds.
const (
	// TrackStarted: the first PCM of a play went to the sink.
	TrackStarted EventKind = iota
	// TrackEnded: a play ended (played out, skipped or failed); Stats
	// describe it.
	TrackEnded
	// QueueEnded: the last play ended and nothing plays. The sink may
	// still be playing what it holds.
	QueueEnded
)

func (k EventKind) String() string {
	return [...]string{"track-started", "track-ended", "queue-ended"}[k]
}

// Event is what Config.OnEvent receives.
type Event struct {
	Kind  EventKind
	Track track.ID
	Index int
	// Stats are the play's, complete for TrackEnded.
	Stats PlayStats
}

// Player plays a queue of tracks to a sink. One goroutine owns its state;
// the methods queue commands to it and wait until they are applied, so a
// method returns after its effect (but audio already in the sink still
// plays: see Sink.Flush and RealTimeSink.Latency). All methods are safe
// for concurrent use; after Close they return ErrClosed.
type Player struct {
	cmds   chan command
	done   chan struct{}
	cancel context.CancelFunc

	mu      sync.Mutex
	state   State
	flowing bool      // for State.Buffering, which State computes live
	dryAt   time.Time // when the sink runs dry
}

type command struct {
	fn    func(*loop) error
	reply chan error
}

// New starts a Player, which runs until Close. As everywhere in Potluck,
// ctx lends its values to what the Player does and bounds only the call:
// its end does not stop the Player.
func New(ctx context.Context, cfg Config) (*Player, error) {
	if cfg.Sink == nil || cfg.Opener == nil {
		return nil, errors.New("player: Config.Sink and Config.Opener are required")
	}
	if cfg.PrefetchBefore == 0 {
		cfg.PrefetchBefore = 10 * time.Second
	}
	if cfg.PositionInterval <= 0 {
		cfg.PositionInterval = 250 * time.Millisecond
	}
	if cfg.Seed == 0 {
		cfg.Seed = rand.Uint64()
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	ctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	p := &Player{cmds: make(chan command), done: make(chan struct{}), cancel: cancel}
	l := &loop{
		p:      p,
		cfg:    cfg,
		ctx:    ctx,
		log:    cfg.Logger,
		q:      NewQueue(cfg.Seed),
		sink:   cfg.Sink,
		volume: 1,
	}
	l.rt, _ = cfg.Sink.(RealTimeSink)
	l.idl, _ = cfg.Sink.(Idler)
	l.env.jump(1)
	l.publish()
	go l.run()
	return p, nil
}

// Close stops the Player: the current play ends (as skipped) and its
// Source is closed. It does not close the sink.
func (p *Player) Close() error {
	p.cancel()
	<-p.done
	return nil
}

// Done is closed when the Player has stopped.
func (p *Player) Done() <-chan struct{} { return p.done }

// State returns a snapshot of the Player's state.
func (p *Player) State() State {
	p.mu.Lock()
	defer p.mu.Unlock()
	s := p.state
	s.Buffering = p.flowing && time.Now().After(p.dryAt)
	return s
}

func (p *Player) do(fn func(*loop) error) error {
	c := command{fn: fn, reply: make(chan error, 1)}
	select {
	case p.cmds <- c:
	case <-p.done:
		return ErrClosed
	}
	select {
	case err := <-c.reply:
		return err
	case <-p.done:
		return ErrClosed
	}
}

// SetQueue replaces the queue with ids and plays ids[start]; a start out
// of range stops playback (Play then starts at the beginning).
func (p *Player) SetQueue(ids []track.ID, start int) error {
	return p.do(func(l *loop) error {
		l.stop(true)
		l.q.Set(ids, start)
		l.startCurrent(true, 0)
		return nil
	})
}

// Cue loads a queue as SetQueue does, with ids[index] current at time
// at, but paused: the track is opened (so that its head is fetched) and
// no audio reaches the sink until Play. State then shows Status Paused,
// the track, Position at and, once the track is open, its Duration. It
// is how a session is restored.
func (p *Player) Cue(ids []track.ID, index int, at time.Duration) error {
	return p.do(func(l *loop) error {
		if index < 0 || index >= len(ids) {
			return fmt.Errorf("player: no track %d in a queue of %d", index, len(ids))
		}
		l.stop(true)
		l.q.Set(ids, index)
		l.startCurrent(true, max(at, 0))
		l.pause()
		l.cued = true
		return nil
	})
}

// Append adds tracks at the end of what is upcoming ("add to queue"), in
// shuffle too. After the queue ended they are what Play plays next.
func (p *Player) Append(ids ...track.ID) error {
	return p.do(func(l *loop) error {
		l.q.Append(ids...)
		l.checkPrefetch()
		return nil
	})
}

// InsertNext puts tracks right after the current one, in the given order
// ("play next"), in shuffle too.
func (p *Player) InsertNext(ids ...track.ID) error {
	return p.do(func(l *loop) error {
		l.q.InsertNext(ids...)
		l.syncIndex()
		l.checkPrefetch()
		return nil
	})
}

// Play resumes after Pause (or Cue), or starts the queue if nothing
// plays: after the queue ended, with what was added since, else with a
// new pass over the whole list.
func (p *Player) Play() error { return p.do((*loop).play) }

func (l *loop) play() error {
	if l.cur != nil {
		l.resume()
		return nil
	}
	if _, _, ok := l.q.Current(); !ok && !l.q.Rewind() {
		return errors.New("player: the queue is empty")
	}
	l.startCurrent(true, 0)
	return nil
}

// TogglePause pauses a track that plays or loads, and otherwise does what
// Play does, in one command: a track that ends meanwhile cannot turn a
// pause into a play.
func (p *Player) TogglePause() error {
	return p.do(func(l *loop) error {
		if l.cur != nil && !l.paused && !l.pausing {
			l.pause()
			return nil
		}
		return l.play()
	})
}

// Pause pauses playback: the gain ramps down over a few milliseconds,
// and the audio after the ramp waits for Play.
func (p *Player) Pause() error {
	return p.do(func(l *loop) error {
		l.pause()
		return nil
	})
}

// Next skips to the next track in the play order.
func (p *Player) Next() error {
	return p.do(func(l *loop) error {
		l.stop(true)
		if l.q.Next() {
			l.startCurrent(true, 0)
		} else {
			l.queueEnded()
		}
		return nil
	})
}

// Previous goes back to the start of the current track if it has played
// for more than 3 seconds, else to the track played before it (State's
// Played, most recent last), or to the start of the current track when
// none was.
func (p *Player) Previous() error {
	return p.do(func(l *loop) error {
		if c := l.cur; c != nil && c.dec != nil && l.position() > 3*time.Second {
			return l.seek(0)
		}
		l.stop(true)
		l.q.Previous()
		l.startCurrent(true, 0)
		return nil
	})
}

// Jump plays track i of the queue's list.
func (p *Player) Jump(i int) error { return p.PlayAt(i, 0) }

// PlayAt plays track i of the queue's list from time at: the first PCM
// is the audio at that time (a start past the end of the track ends the
// play with ErrSeekPastEnd). The start latency counts from this call.
func (p *Player) PlayAt(i int, at time.Duration) error {
	return p.do(func(l *loop) error {
		if i < 0 || i >= l.q.Len() {
			return fmt.Errorf("player: no track %d in a queue of %d", i, l.q.Len())
		}
		l.stop(true)
		l.q.Jump(i)
		l.startCurrent(true, max(at, 0))
		return nil
	})
}

// Seek moves playback of the current track to t. Beyond the track's end
// it fails with ErrSeekPastEnd; exactly at the end, the track ends. A seek
// while the track is still opening applies when it opens.
func (p *Player) Seek(t time.Duration) error {
	return p.do(func(l *loop) error { return l.seek(t) })
}

// SetVolume sets the gain, from 0 (silence) to 1 (the decoded samples
// unchanged); it is clamped to that range and ramps over a few ms.
func (p *Player) SetVolume(v float64) error {
	return p.do(func(l *loop) error {
		l.volume = min(max(v, 0), 1)
		if !l.paused && !l.pausing {
			l.env.set(l.volume, l.rate())
		}
		return nil
	})
}

// SetRepeat sets the repeat mode.
func (p *Player) SetRepeat(r Repeat) error {
	return p.do(func(l *loop) error {
		l.q.SetRepeat(r)
		l.checkPrefetch()
		return nil
	})
}

// SetShuffle turns shuffle on or off; the current track stays current.
func (p *Player) SetShuffle(on bool) error {
	return p.do(func(l *loop) error {
		l.q.SetShuffle(on)
		l.checkPrefetch()
		return nil
	})
}

// openResult is the outcome of an Opener.Open run in the background.
type openResult struct {
	src Source
	err error
}

// play is one play of a track, from the moment it was asked for.
type play struct {
	id      track.ID
	index   int
	asked   time.Time
	opening chan openResult // until the Source is open
	src     Source
	dec     *decodeLoop
	stopDec context.CancelFunc
	gen     int
	startAt time.Duration // where to start (a seek before the Source opened)
	rate    int
	dur     time.Duration
	base    time.Duration // position of the first PCM of generation gen
	written int64         // frames handed to the sink since base
	seekAt  time.Time     // a seek waiting for its first PCM
	seekTo  time.Duration // the target of the last seek
	started bool
	stats   PlayStats
	// reopening is a new Source for a seek that the decoder did not take
	// up (see stuckSeek).
	reopening chan openResult
	prevSwarm SourceStats // what Sources replaced by reopening fetched
}

// prefetch is the next track, opened ahead.
type prefetch struct {
	id      track.ID
	opening chan openResult
	src     Source
	err     error
}

// loop is the state owned by the Player's goroutine.
type loop struct {
	p    *Player
	cfg  Config
	ctx  context.Context
	log  *slog.Logger
	q    *Queue
	sink Sink
	rt   RealTimeSink // nil if the sink has no clock
	idl  Idler        // nil if the sink cannot idle
	idle bool         // Idle was called, and Wake not since

	volume  float64
	env     envelope
	paused  bool   // no PCM goes out until Play
	pausing bool   // the gain ramps down; then paused
	held    []byte // PCM after the pause ramp, for Play
	flowing bool   // PCM went out and the sink has not been flushed, paused or left to run dry since
	dryAt   time.Time
	rs      *resampler
	sinkErr error

	cur *play
	pre *prefetch
	// cued is true from Cue until the listener plays: a cued track that
	// fails to open moves the queue on, still paused.
	cued bool
	// failures counts plays in a row that failed, so a queue of broken
	// tracks does not loop.
	failures int
	lastErr  error

	// stuckCheck fires stuckSeekAfter after a seek (see checkStuckSeek).
	stuckCheck <-chan time.Time

	wg sync.WaitGroup // opens and teardowns in the background
}

func (l *loop) run() {
	defer close(l.p.done)
	tick := time.NewTicker(l.cfg.PositionInterval)
	defer tick.Stop()
	for {
		l.checkIdle()
		if l.held != nil && !l.paused && l.cur != nil {
			h := l.held
			l.held = nil
			l.output(h)
			continue
		}
		var pcm <-chan pcmBlock
		var opened, reopened, preOpened <-chan openResult
		if c := l.cur; c != nil {
			if c.dec != nil && !l.paused {
				pcm = c.dec.out
			}
			opened, reopened = c.opening, c.reopening
		}
		if l.pre != nil {
			preOpened = l.pre.opening
		}
		select {
		case <-l.ctx.Done():
			l.stop(true)
			l.dropPrefetch()
			l.wg.Wait()
			l.publish()
			return
		case c := <-l.p.cmds:
			// Publish before replying, so that a State right after the
			// command returns shows what the command did.
			err := c.fn(l)
			l.publish()
			c.reply <- err
		case r := <-opened:
			l.opened(r)
			l.publish()
		case r := <-reopened:
			l.reopened(r)
		case r := <-preOpened:
			l.pre.opening, l.pre.src, l.pre.err = nil, r.src, r.err
		case b := <-pcm:
			l.block(b)
			if l.cur == nil || b.end {
				l.publish()
			}
		case <-tick.C:
			l.tick()
		case <-l.stuckCheck:
			l.stuckCheck = nil
			l.checkStuckSeek()
		}
	}
}

// emit publishes the state (so that State agrees with the event) and
// calls OnEvent.
func (l *loop) emit(kind EventKind, c *play) {
	l.publish()
	if l.cfg.OnEvent != nil {
		l.cfg.OnEvent(Event{Kind: kind, Track: c.id, Index: c.index, Stats: c.stats})
	}
}

func (l *loop) rate() int {
	if l.cur != nil && l.cur.rate > 0 {
		return l.cur.rate
	}
	return 44100
}

// open runs the Opener in the background; the result arrives on the
// returned channel.
func (l *loop) open(id track.ID, prefetch bool) chan openResult {
	ch := make(chan openResult, 1)
	ctx := l.ctx
	if prefetch {
		ctx = context.WithValue(ctx, prefetchKey{}, true)
	}
	l.wg.Go(func() {
		src, err := l.cfg.Opener.Open(ctx, id)
		ch <- openResult{src, err}
	})
	return ch
}

// discard closes what an open that is no longer wanted returns.
func (l *loop) discard(ch chan openResult, src Source) {
	if src != nil {
		l.wg.Go(func() { src.Close() })
		return
	}
	if ch != nil {
		l.wg.Go(func() {
			if r := <-ch; r.src != nil {
				r.src.Close()
			}
		})
	}
}

// startCurrent starts a play of the queue's current track, if any, from
// time at; user says whether a user's command asked for it (not the end
// of a track).
func (l *loop) startCurrent(user bool, at time.Duration) {
	id, index, ok := l.q.Current()
	if !ok {
		return
	}
	c := &play{id: id, index: index, asked: time.Now(), startAt: at}
	if user {
		l.failures = 0
		l.cued = false
	}
	c.stats.Track, c.stats.Index = id, index
	l.cur = c
	l.paused, l.pausing, l.held, l.flowing = false, false, nil, false
	l.env.jump(l.volume)
	if pre := l.pre; pre != nil && pre.id == id {
		l.pre = nil
		if pre.opening == nil {
			l.opened(openResult{pre.src, pre.err})
			return
		}
		c.opening = pre.opening
		return
	}
	c.opening = l.open(id, false)
}

// opened starts decoding the current play once its Source is open.
func (l *loop) opened(r openResult) {
	c := l.cur
	c.opening = nil
	if r.err != nil {
		l.end(fmt.Errorf("opening track %s: %w", c.id, r.err), false)
		return
	}
	c.src = r.src
	dec, err := NewDecoder(c.src)
	if err == nil && c.startAt > dec.Duration() {
		err = fmt.Errorf("%w: %s of %s", ErrSeekPastEnd, c.startAt, dec.Duration())
	}
	if err != nil {
		l.end(err, false)
		return
	}
	c.rate, c.dur = dec.SampleRate(), dec.Duration()
	c.stopDec = func() {}
	sinkRate, err := l.sink.Start(c.rate)
	if err != nil {
		l.sinkFailed(err)
		return
	}
	l.rs = nil
	if sinkRate != c.rate {
		l.rs = newResampler(c.rate, sinkRate)
	}
	l.env.jump(l.volume)
	if l.paused {
		l.env.jump(0)
	}
	c.base = max(c.startAt, 0)
	c.seekTo = c.base
	l.startDecoder(c, dec)
	if c.startAt > 0 {
		c.stats.Seeks++
		c.seekAt = c.asked
	}
	l.checkPrefetch() // a track (or what is left of it) may be short
}

// startDecoder starts the decode loop of c at c.seekTo.
func (l *loop) startDecoder(c *play, dec *Decoder) {
	c.dec = newDecodeLoop(dec, seekRequest{gen: c.gen, t: c.seekTo})
	ctx, cancel := context.WithCancel(l.ctx)
	c.stopDec = cancel
	d := c.dec
	l.wg.Go(func() { d.run(ctx) })
	c.src.SetPosition(c.seekTo)
}

// stuckSeekAfter is how long a seek may wait for the decoder to take it
// up before the Source is opened again (see checkStuckSeek).
const stuckSeekAfter = 150 * time.Millisecond

// checkStuckSeek handles a decoder stuck in a Read that a seek did not
// wake: a Source that, unlike the Source contract says, leaves a Read
// blocked for bytes before its new position (a swarm Stream does not
// fetch those). The play goes on from a fresh Source, opened again.
func (l *loop) checkStuckSeek() {
	c := l.cur
	if c == nil || c.dec == nil || c.reopening != nil || c.seekAt.IsZero() || !c.dec.pending() || time.Since(c.seekAt) < stuckSeekAfter {
		return
	}
	l.log.Debug("the decoder did not take up a seek; opening the track again", "track", c.id, "to", c.seekTo)
	c.reopening = l.open(c.id, false)
}

// reopened swaps in the Source opened for a stuck seek.
func (l *loop) reopened(r openResult) {
	c := l.cur
	c.reopening = nil
	if r.err == nil && !c.dec.pending() {
		// The old Source woke up meanwhile and the decoder took the
		// seek up: keep it.
		l.discard(nil, r.src)
		return
	}
	if r.err != nil {
		l.end(fmt.Errorf("opening track %s again after a seek: %w", c.id, r.err), false)
		return
	}
	if s, ok := c.src.(StatsSource); ok {
		c.prevSwarm = c.prevSwarm.add(s.SourceStats())
	}
	l.teardown(c)
	c.src, c.dec = r.src, nil
	c.gen++ // what the old decoder still sends is stale
	dec, err := NewDecoder(c.src)
	if err != nil {
		l.end(err, false)
		return
	}
	l.startDecoder(c, dec)
}

// block takes a block from the decoder.
func (l *loop) block(b pcmBlock) {
	c := l.cur
	if b.gen != c.gen {
		return // from before a seek
	}
	if b.end {
		l.end(b.err, false)
		return
	}
	if l.flowing && l.rt != nil {
		if now := time.Now(); now.After(l.dryAt) {
			c.stats.Underruns++
			c.stats.UnderrunTime += now.Sub(l.dryAt)
			l.log.Debug("underrun", "track", c.id, "at", l.position(), "dry", now.Sub(l.dryAt))
		}
	}
	l.output(b.pcm)
}

// output applies the gain, hands PCM to the sink and keeps the clock.
func (l *loop) output(pcm []byte) {
	c := l.cur
	if l.pausing {
		n := l.env.apply(pcm, true)
		if n < len(pcm) {
			l.held = pcm[n:]
			l.pausing, l.paused = false, true
		}
		pcm = pcm[:n]
	} else {
		l.env.apply(pcm, false)
	}
	if len(pcm) == 0 {
		return
	}
	now := time.Now()
	if !c.seekAt.IsZero() {
		c.stats.SeekLatency = max(c.stats.SeekLatency, now.Sub(c.seekAt))
		c.seekAt = time.Time{}
	}
	first := !c.started
	if first {
		c.started = true
		c.stats.StartLatency = now.Sub(c.asked)
		l.lastErr = nil
	}
	out := pcm
	if l.rs != nil {
		out = l.rs.process(pcm)
	}
	if l.idle {
		l.idle = false
		if err := l.idl.Wake(); err != nil {
			l.sinkFailed(err)
			return
		}
	}
	if _, err := l.sink.Write(out); err != nil {
		l.sinkFailed(err)
		return
	}
	frames := int64(len(pcm) / BytesPerFrame)
	c.written += frames
	c.stats.Played += time.Duration(frames * int64(time.Second) / int64(c.rate))
	l.flowing = !l.paused
	if l.rt != nil {
		l.dryAt = time.Now().Add(l.rt.Latency())
	}
	if first {
		l.emit(TrackStarted, c)
	} else {
		l.publish()
	}
}

// checkIdle tells an Idler sink to idle when nothing will be written for
// a while: no play (before the first, after the queue ended or stopped)
// or a pause whose ramp is written. A play that is loading (the next
// track of the queue, too) keeps the sink awake; output wakes it.
func (l *loop) checkIdle() {
	if l.idl == nil || l.idle || (l.cur != nil && !l.paused) {
		return
	}
	l.idle = true
	if err := l.idl.Idle(); err != nil {
		l.log.Debug("the sink could not idle", "err", err)
	}
}

// position is the time of the current play's audio being heard.
func (l *loop) position() time.Duration {
	c := l.cur
	if c == nil {
		return 0
	}
	if c.rate == 0 {
		return max(c.startAt, 0) // not open yet
	}
	pos := c.base + time.Duration(c.written*int64(time.Second)/int64(c.rate))
	if l.rt != nil {
		pos -= l.rt.Latency()
	}
	return min(max(pos, c.base, 0), c.dur)
}

func (l *loop) pause() {
	if l.paused || l.pausing {
		return
	}
	l.flowing = false
	if c := l.cur; c == nil || !c.started {
		l.paused = true
		l.env.jump(0)
		return
	}
	l.pausing = true
	l.env.set(0, l.rate())
}

func (l *loop) resume() {
	l.cued = false
	if !l.paused && !l.pausing {
		return
	}
	l.paused, l.pausing = false, false
	l.env.set(l.volume, l.rate())
	if c := l.cur; c != nil && !c.started {
		// Cued: no audio went out, so none to ramp from (a play starts
		// at full gain, as PlayAt does), and the start (and a seek's)
		// latency counts from Play.
		l.env.jump(l.volume)
		c.asked = time.Now()
		if !c.seekAt.IsZero() {
			c.seekAt = c.asked
		}
	}
}

func (l *loop) seek(t time.Duration) error {
	c := l.cur
	if c == nil {
		return errors.New("player: nothing to seek in")
	}
	t = max(t, 0)
	if c.dec == nil {
		if c.src == nil {
			c.startAt = t // applied when the Source is open
			return nil
		}
		return errors.New("player: the track has ended")
	}
	if t > c.dur {
		return fmt.Errorf("%w: %s of %s", ErrSeekPastEnd, t, c.dur)
	}
	c.gen++
	// Move the Source too: a Read blocked at the old position returns once
	// bytes at the new one arrive, and a swarm Stream fetches for the new
	// position at once. The decoder seeks again between reads.
	off := c.dec.dec.seekPoint(c.dec.dec.sampleAt(t)).Offset
	c.dec.request(seekRequest{gen: c.gen, t: t}, func() {
		// The position first: a swarm Stream plans for the new read
		// position with the new clock.
		c.src.SetPosition(t)
		if _, err := c.src.Seek(off, io.SeekStart); err != nil {
			l.log.Debug("seek of the source failed", "track", c.id, "err", err)
		}
	})
	if err := l.sink.Flush(); err != nil {
		l.sinkFailed(err)
		return err
	}
	c.base, c.written, c.seekTo = t, 0, t
	c.seekAt = time.Now()
	l.stuckCheck = time.After(stuckSeekAfter)
	c.stats.Seeks++
	l.held, l.flowing = nil, false
	if l.pausing {
		l.pausing, l.paused = false, true
	}
	if l.rs != nil {
		l.rs = newResampler(l.rs.from, l.rs.to)
	}
	return nil
}

// end ends the current play: played out (err nil), failed, or skipped.
// Then the queue moves on, unless the play was skipped (the caller
// decides what plays next).
func (l *loop) end(err error, skipped bool) {
	c := l.cur
	if c == nil {
		return
	}
	l.cur = nil
	c.stats.Err, c.stats.Skipped = err, skipped
	c.stats.Swarm = c.prevSwarm
	if s, ok := c.src.(StatsSource); ok {
		c.stats.Swarm = c.prevSwarm.add(s.SourceStats())
	}
	if err != nil {
		l.lastErr = err
		l.log.Debug("play failed", "track", c.id, "err", err)
	}
	l.teardown(c)
	l.emit(TrackEnded, c)
	if skipped {
		return
	}
	if err != nil {
		l.failures++
	} else {
		l.failures = 0
	}
	next := false
	switch {
	case l.sinkErr != nil:
	case err != nil:
		// Move on past a broken track even with repeat one, and stop
		// once every track of the queue failed in a row.
		next = l.failures < l.q.Len() && l.q.Next()
	default:
		next = l.q.Advance()
	}
	if next {
		l.startCurrent(false, 0)
		if l.cued {
			l.pause()
		}
		return
	}
	l.queueEnded()
}

// stop ends the current play as skipped and drops its audio from the sink.
func (l *loop) stop(skipped bool) {
	if l.cur == nil {
		return
	}
	l.end(nil, skipped)
	if err := l.sink.Flush(); err != nil {
		l.log.Debug("sink flush failed", "err", err)
	}
	l.flowing, l.held, l.pausing = false, nil, false
}

func (l *loop) queueEnded() {
	l.flowing, l.held = false, nil
	l.dropPrefetch()
	l.publish()
	if l.cfg.OnEvent != nil {
		l.cfg.OnEvent(Event{Kind: QueueEnded, Index: -1})
	}
}

// sinkFailed stops playback: the sink cannot play.
func (l *loop) sinkFailed(err error) {
	l.sinkErr = fmt.Errorf("sink: %w", err)
	l.end(l.sinkErr, false)
	l.sinkErr = nil
}

// teardown stops a play's decoder and closes its Source, in the
// background: a Source's Close may wait (a swarm Stream's scheduler).
func (l *loop) teardown(c *play) {
	if c.reopening != nil {
		l.discard(c.reopening, nil)
		c.reopening = nil
	}
	if c.opening != nil {
		l.discard(c.opening, nil)
		c.opening = nil
		return
	}
	src, dec, stop := c.src, c.dec, c.stopDec
	if src == nil {
		return
	}
	l.wg.Go(func() {
		if stop != nil {
			stop()
		}
		src.Close()
		if dec != nil {
			<-dec.done
		}
	})
}

func (l *loop) dropPrefetch() {
	if pre := l.pre; pre != nil {
		l.pre = nil
		l.discard(pre.opening, pre.src)
	}
}

// tick reports the position to the Source, prefetches, and publishes.
func (l *loop) tick() {
	if c := l.cur; c != nil && c.dec != nil {
		c.src.SetPosition(l.position())
	}
	l.checkPrefetch()
	if pre := l.pre; pre != nil && pre.src != nil {
		// Not playing yet: it starts when the current track ends. (While
		// the current one loads, that time is not known: leave it cued.)
		if c := l.cur; c != nil && c.dec != nil {
			pre.src.SetPosition(-max(c.dur-l.position(), 0))
		}
	}
	l.publish()
}

// checkPrefetch opens the track that comes next once the current one is
// within PrefetchBefore of its end, and drops a prefetch the queue no
// longer wants.
func (l *loop) checkPrefetch() {
	next, ok := l.q.PeekAdvance()
	c := l.cur
	if l.pre != nil && (!ok || l.pre.id != next) {
		l.dropPrefetch()
	}
	if l.cfg.PrefetchBefore < 0 || !ok || c == nil || c.dec == nil || l.pre != nil || next == c.id {
		return
	}
	if c.dur-l.position() > l.cfg.PrefetchBefore {
		return
	}
	l.log.Debug("prefetching", "track", next)
	l.pre = &prefetch{id: next, opening: l.open(next, true)}
}

// syncIndex updates the current play's index after an edit of the
// queue's list moved its track.
func (l *loop) syncIndex() {
	if c := l.cur; c != nil {
		if id, i, ok := l.q.Current(); ok && id == c.id {
			c.index, c.stats.Index = i, i
		}
	}
}

// publish updates the snapshot State returns.
func (l *loop) publish() {
	s := State{
		Index:    -1,
		Volume:   l.volume,
		Repeat:   l.q.Repeat(),
		Shuffle:  l.q.Shuffled(),
		Queue:    l.q.Tracks(),
		Upcoming: l.q.Upcoming(),
		Played:   l.q.Played(),
		Err:      l.lastErr,
	}
	if c := l.cur; c != nil {
		s.Track, s.Index = c.id, c.index
		s.Status = Playing
		switch {
		case l.paused || l.pausing:
			s.Status = Paused
		case !c.started:
			s.Status = Loading
		}
		if c.src != nil {
			s.Manifest = c.src.Manifest()
		}
		s.Position, s.Duration = l.position(), c.dur
	}
	l.p.mu.Lock()
	l.p.state = s
	l.p.flowing = l.cur != nil && l.flowing && l.rt != nil
	l.p.dryAt = l.dryAt
	l.p.mu.Unlock()
}
