package sim

import (
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"math"
	"math/rand/v2"
	"net/netip"
	"os"
	"path/filepath"
	"runtime/debug"
	"slices"
	"sort"
	"sync"
	"time"

	"github.com/potluckfm/potluck/assets"
	"github.com/potluckfm/potluck/origin"
	"github.com/potluckfm/potluck/player"
	"github.com/potluckfm/potluck/track"
)

// run is the state of one Run.
type run struct {
	cfg Config
	log *slog.Logger
	ctx context.Context
	nw  *network
	url origin.URL

	manifests map[track.ID]*track.Manifest
	ranked    []track.ID // by popularity, most popular first
	cumPop    []float64  // cumulative popularity of ranked, ending at 1

	listeners []*listener
	start     time.Time
	end       time.Time
	stop      chan struct{}
	enough    chan struct{} // closed once Config.Plays plays started and ended
	// frameDecode is one MP3 frame's decoding time (Config.FrameDecode).
	frameDecode time.Duration
	// played is the chunks the players read; heldAtStart the chunks some
	// cache held as the run began; originChunkBytes the chunk payload
	// bytes the origin served (Report.OriginAmplification).
	played           chunkSet
	heldAtStart      map[chunkKey]bool
	originChunkBytes int64
	fromOrigin       chunkCounts // what listeners received from the origin
	// files are the catalogue's bytes, which the caches' chunks share
	// (internedStore).
	files          map[track.ID]internedFile
	peakGoroutines int

	mu       sync.Mutex
	plays    []PlayRecord
	started  int // plays in plays that started
	online   int
	errs     []error
	timeline []Sample
}

// PlayRecord is one play as the sim saw it.
type PlayRecord struct {
	Listener int
	Track    track.ID
	// Kind is what held the track when the play was opened: KindCached,
	// KindFirstInSwarm or KindHeldByPeers.
	Kind string
	Size int64
	Dur  time.Duration
	// Stats are the player's; their times are wall times.
	Stats player.PlayStats
	// Stalls counts the reads of the stream during playback that blocked
	// longer than the audio the player holds; StallTime is their time
	// beyond it (wall time).
	Stalls    int
	StallTime time.Duration
	// Interrupted: the listener left (or the run ended) during the play.
	Interrupted bool

	// OpenedAt is when the play's track was opened, since the run
	// started (simulated).
	OpenedAt time.Duration
	// Prefetched: the player opened the track while the play before it
	// sounded. HeadCached: the listener's cache held the track's first
	// chunk when it was opened. Resumed: the play a restarted app
	// restored, cued where it had stopped (Workload.Restart).
	Prefetched, HeadCached, Resumed bool
	// PeerHeld: another online listener's cache held the whole track
	// when it was opened. Set only for plays opened once the origin was
	// down (Config.OriginDownAt).
	PeerHeld bool
	// Floor is the least start latency the play could have had from the
	// network (simulated): see Report.StartLatencyVsFloor.
	Floor time.Duration
	// UnderrunEvents are the times its sink ran dry; StallEvents the
	// first reads of its stream that stalled; StallLimit the audio the
	// player holds (a read blocking longer stalls), wall time.
	UnderrunEvents []underrunEvent
	StallEvents    []stallEvent
	StallLimit     time.Duration
}

// floorEligible reports whether the play counts in start_latency_vs_floor:
// it started from the start of a track the listener did not hold, opened
// when it was asked for. A cached track, one whose first chunk was cached,
// a prefetched one (opened seconds before it was asked for) and a play a
// restart restored (a seek into a track played before) can start faster
// than a round trip to the origin.
func (p PlayRecord) floorEligible() bool {
	return p.Started() && p.Floor > 0 && p.Kind != "" && p.Kind != KindCached &&
		!p.Prefetched && !p.HeadCached && !p.Resumed
}

// Started reports whether audio of the play reached the sink. (Under
// synctest a start can take no time at all: decoding costs no virtual time.)
func (p PlayRecord) Started() bool { return p.Stats.Played > 0 }

// Completed reports whether the play ran to the end of the track.
func (p PlayRecord) Completed() bool {
	return p.Stats.Err == nil && !p.Stats.Skipped && !p.Interrupted
}

// Delivered is the bytes the play's stream had by its end, by source.
func (p PlayRecord) Delivered() int64 {
	s := p.Stats.Swarm
	return s.FromCache + s.FromPeers + s.FromOrigin
}

// Run runs one simulation and returns its report and every play. If ctx
// ends first, the run stops early and Run returns what it measured with
// ctx's error. Everything Run starts has stopped when it returns.
func Run(ctx context.Context, cfg Config) (*Report, []PlayRecord, error) {
	cfg = cfg.withDefaults()
	if err := cfg.validate(); err != nil {
		return nil, nil, fmt.Errorf("sim: %w", err)
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	src := cfg.Library
	if src == nil {
		src = assets.Demo()
	}
	lib, err := catalogueFS(src, cfg.Tracks, cfg.TrackLength)
	if err != nil {
		return nil, nil, fmt.Errorf("sim: %w", err)
	}
	dir := cfg.Dir
	if dir == "" {
		if dir, err = os.MkdirTemp("", "potluck-sim-"); err != nil {
			return nil, nil, fmt.Errorf("sim: %w", err)
		}
		defer os.RemoveAll(dir)
	}

	r := &run{cfg: cfg, log: log, ctx: ctx, stop: make(chan struct{}), enough: make(chan struct{}), manifests: map[track.ID]*track.Manifest{}}
	r.nw = newNetwork(cfg)
	originEP := r.nw.newEndpoint(linkSpec{
		down: cfg.Net.OriginRate, up: cfg.Net.OriginRate, delay: cfg.Net.OriginRTT / 2,
	}, true, 0)
	r.nw.sn.Start()
	defer r.nw.sn.Close()

	_, key, err := ed25519.GenerateKey(nil)
	if err != nil {
		return nil, nil, err
	}
	srv, err := origin.Start(ctx, origin.Config{Library: lib, Key: key, PacketConn: originEP, Logger: slog.New(quietCancels{log.Handler()})})
	if err != nil {
		originEP.Close()
		return nil, nil, fmt.Errorf("sim: origin: %w", err)
	}
	defer func() {
		sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), cfg.wall(5*time.Second))
		defer cancel()
		srv.Shutdown(sctx)
	}()
	r.url = srv.URL()
	r.rankTracks(srv.Catalog().Entries())
	r.files = catalogueFiles(lib, srv.Catalog().Entries())
	r.frameDecode = cfg.FrameDecode
	if r.frameDecode <= 0 {
		if r.frameDecode, err = r.measureFrameDecode(lib, srv.Catalog().Entries()); err != nil {
			return nil, nil, fmt.Errorf("sim: %w", err)
		}
	}

	for i := range cfg.Listeners {
		l := r.newListener(i)
		l.dir = filepath.Join(dir, fmt.Sprintf("listener-%03d", i))
		r.listeners = append(r.listeners, l)
	}
	r.assignNATs()
	// Workload.Restart of the listeners, drawn from the seed, restart.
	restarters := int(math.Round(cfg.Workload.Restart * float64(cfg.Listeners)))
	for _, i := range r.rng(0, streamRestart, 0).Perm(cfg.Listeners)[:restarters] {
		r.listeners[i].restarts = true
	}

	if err := r.prefill(lib, srv.Catalog().Entries()); err != nil {
		return nil, nil, fmt.Errorf("sim: %w", err)
	}
	r.heldAtStart = r.heldChunks()

	// Start the memory figures from what this run uses: return what an
	// earlier run in this process left behind.
	debug.FreeOSMemory()
	cpu0 := cpuTime()
	r.start = time.Now()
	r.end = r.start.Add(cfg.wall(cfg.Duration))
	mem := &memPeak{}
	mem.sample()
	var wg sync.WaitGroup
	sampled := make(chan struct{})
	go func() {
		defer close(sampled)
		r.sample(mem)
	}()
	var lags []time.Duration
	lagged := make(chan struct{})
	go func() {
		defer close(lagged)
		lags = r.canary()
	}()
	for _, l := range r.listeners {
		wg.Go(l.live)
	}
	if cfg.OriginDownAt > 0 {
		// The origin stops answering for good (Config.OriginDownAt).
		wg.Go(func() {
			if r.sleep(cfg.wall(cfg.OriginDownAt)) {
				originEP.down.Store(true)
				r.log.Info("sim: the origin is down", "at", cfg.OriginDownAt)
			}
		})
	}
	select {
	case <-time.After(time.Until(r.end)):
	case <-r.enough:
	case <-ctx.Done():
	}
	close(r.stop)
	ran := time.Since(r.start)
	wg.Wait()
	<-sampled
	<-lagged
	wall := time.Since(r.start)
	cpu := cpuTime() - cpu0
	r.originChunkBytes = srv.ChunkBytesServed()
	r.peakGoroutines = mem.goroutines

	rep := r.report(ran, wall, cpu, mem.peak, lags)
	plays := r.plays
	r.mu.Lock()
	runErr := errors.Join(r.errs...)
	r.mu.Unlock()
	if err := ctx.Err(); err != nil {
		runErr = errors.Join(err, runErr)
	}
	return rep, plays, runErr
}

// rankTracks orders the catalogue by popularity, a permutation drawn from
// the seed, and computes the Zipf distribution over the ranks.
func (r *run) rankTracks(entries []*origin.Entry) {
	for _, e := range entries {
		r.manifests[e.Manifest.ID] = e.Manifest
		r.ranked = append(r.ranked, e.Manifest.ID)
	}
	// The catalogue's order is by tags; sort by ID first so that the
	// permutation does not depend on how the origin sorts.
	slices.SortFunc(r.ranked, func(a, b track.ID) int { return compareIDs(a, b) })
	rng := r.rng(0, 0, 0)
	rng.Shuffle(len(r.ranked), func(i, j int) { r.ranked[i], r.ranked[j] = r.ranked[j], r.ranked[i] })
	s := r.cfg.Workload.Zipf
	var sum float64
	r.cumPop = make([]float64, len(r.ranked))
	for k := range r.ranked {
		sum += pow(float64(k+1), -s)
		r.cumPop[k] = sum
	}
	for k := range r.cumPop {
		r.cumPop[k] /= sum
	}
}

// prefill puts into each listener's cache the tracks of its listening
// before the run: Workload.History plays drawn by the same popularity as
// the run's. The bytes are the library's, shared by every cache that
// holds them.
func (r *run) prefill(lib fs.FS, entries []*origin.Entry) error {
	if r.cfg.Workload.History <= 0 {
		return nil
	}
	byID := map[track.ID]*origin.Entry{}
	for _, e := range entries {
		byID[e.Manifest.ID] = e
	}
	files := map[track.ID][]byte{}
	for _, l := range r.listeners {
		rng := r.rng(l.idx, streamHistory, 0)
		for range r.cfg.Workload.History {
			k := sort.SearchFloat64s(r.cumPop, rng.Float64())
			e := byID[r.ranked[min(k, len(r.ranked)-1)]]
			m := e.Manifest
			if have := l.store.Have(m.ID); have != nil && have.Count() == m.NumChunks() {
				l.store.Touch(m.ID)
				continue
			}
			data, ok := files[m.ID]
			if !ok {
				var err error
				if data, err = fs.ReadFile(lib, e.Path); err != nil {
					return err
				}
				files[m.ID] = data
			}
			if err := l.store.PutManifest(m, e.Signed); err != nil {
				return err
			}
			for i := range m.NumChunks() {
				off, n := m.ChunkBounds(i)
				if err := l.store.WriteChunk(m.ID, i, data[off:off+int64(n):off+int64(n)]); err != nil {
					return fmt.Errorf("history of listener %d: %w", l.idx, err)
				}
			}
			l.store.Touch(m.ID)
		}
	}
	return nil
}

// queue returns the play queue of a listener's session: Zipf-chosen
// tracks, never the same twice in a row.
func (r *run) queue(listener, session int) []track.ID {
	rng := r.rng(listener, streamQueue, session)
	const length = 400
	q := make([]track.ID, 0, length)
	for len(q) < length {
		k := sort.SearchFloat64s(r.cumPop, rng.Float64())
		id := r.ranked[min(k, len(r.ranked)-1)]
		if len(q) > 0 && q[len(q)-1] == id && len(r.ranked) > 1 {
			continue
		}
		q = append(q, id)
	}
	return q
}

// onlineOthers lists the listeners online now, but l.
func (r *run) onlineOthers(l *listener) []*listener {
	r.mu.Lock()
	defer r.mu.Unlock()
	var others []*listener
	for _, o := range r.listeners {
		if o != l && o.online {
			others = append(others, o)
		}
	}
	return others
}

// classify says what held track id when listener l opened it.
func (r *run) classify(l *listener, id track.ID) string {
	m := r.manifests[id]
	if have := l.store.Have(id); m != nil && have != nil && have.Count() == m.NumChunks() {
		return KindCached
	}
	for _, o := range r.onlineOthers(l) {
		if have := o.store.Have(id); have != nil && have.Count() > 0 {
			return KindHeldByPeers
		}
	}
	return KindFirstInSwarm
}

// peerHolds reports whether another online listener's cache holds all of
// track id.
func (r *run) peerHolds(l *listener, id track.ID) bool {
	m := r.manifests[id]
	if m == nil {
		return false
	}
	for _, o := range r.onlineOthers(l) {
		if have := o.store.Have(id); have != nil && have.Count() == m.NumChunks() {
			return true
		}
	}
	return false
}

// afterOriginDown reports whether the origin is down at at, the time since
// the run started (Config.OriginDownAt).
func (r *run) afterOriginDown(at time.Duration) bool {
	return r.cfg.OriginDownAt > 0 && at >= r.cfg.OriginDownAt
}

// bootstrapFor returns the DHT addresses listener l joins through: one or
// two listeners online now, earlier ones (by index) when there are any,
// drawn from rng.
func (r *run) bootstrapFor(l *listener, rng *rand.Rand) []netip.AddrPort {
	r.mu.Lock()
	var earlier, others []netip.AddrPort
	for _, o := range r.listeners {
		if o == l || !o.online || !o.addr.IsValid() {
			continue
		}
		if o.idx < l.idx {
			earlier = append(earlier, o.addr)
		} else {
			others = append(others, o.addr)
		}
	}
	r.mu.Unlock()
	pool := earlier
	if len(pool) == 0 {
		pool = others
	}
	rng.Shuffle(len(pool), func(i, j int) { pool[i], pool[j] = pool[j], pool[i] })
	return pool[:min(len(pool), 1+rng.IntN(2))]
}

func (r *run) setOnline(l *listener, on bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	l.online = on
	if on {
		r.online++
	} else {
		r.online--
	}
}

// record keeps the play a TrackEnded event describes.
func (r *run) record(l *listener, e player.Event, leaving bool) {
	m := r.manifests[e.Track]
	o := l.lastOpen(e.Track)
	p := PlayRecord{
		Listener:    l.idx,
		Track:       e.Track,
		Kind:        o.kind,
		Stats:       e.Stats,
		Interrupted: leaving && e.Stats.Skipped,
	}
	p.OpenedAt, p.Prefetched, p.HeadCached, p.Resumed, p.Floor = o.at, o.prefetched, o.headCached, o.resumed, o.floor
	p.PeerHeld = o.peerHeld
	if o.src != nil {
		p.Stalls, p.StallTime, p.StallEvents = o.src.stallStats()
		p.StallLimit = o.src.limit
	}
	p.UnderrunEvents = l.takeUnderruns(e.Track)
	if m != nil {
		p.Size, p.Dur = m.Size, m.Duration()
	}
	r.mu.Lock()
	r.plays = append(r.plays, p)
	if p.Started() {
		r.started++
		if r.started == r.cfg.Plays {
			close(r.enough)
		}
	}
	r.mu.Unlock()
	if p.Stats.Underruns > 0 {
		r.log.Warn("sim: a play stuttered", "play", r.stutterRecord(p))
	}
}

// now is the time since the run started, simulated.
func (r *run) now() time.Duration { return r.cfg.simTime(time.Since(r.start)) }

// measureFrameDecode times the decoding of one frame of the catalogue's
// first track (frameDecodeTime).
func (r *run) measureFrameDecode(lib fs.FS, entries []*origin.Entry) (time.Duration, error) {
	if len(entries) == 0 {
		return 0, nil
	}
	e := entries[0]
	data, err := fs.ReadFile(lib, e.Path)
	if err != nil {
		return 0, err
	}
	return frameDecodeTime(data, e.Manifest)
}

func (r *run) fail(err error) {
	r.log.Error("sim", "err", err)
	r.mu.Lock()
	r.errs = append(r.errs, err)
	r.mu.Unlock()
}

// sleep waits d or until the run ends; it reports whether the run goes on.
func (r *run) sleep(d time.Duration) bool {
	return r.sleepUntil(time.Now().Add(d), r.end)
}

// sleepUntil waits until t, or until limit or the end of the run if that
// comes first; it reports whether t was reached.
func (r *run) sleepUntil(t, limit time.Time) bool {
	stopAt := t
	if limit.Before(stopAt) {
		stopAt = limit
	}
	timer := time.NewTimer(time.Until(stopAt))
	defer timer.Stop()
	select {
	case <-timer.C:
		return !stopAt.Before(t)
	case <-r.stop:
		return false
	}
}

// sample records the traffic timeline and peak memory, and prints
// progress, until the run stops.
func (r *run) sample(mem *memPeak) {
	tick := time.NewTicker(r.cfg.wall(r.cfg.Sample))
	defer tick.Stop()
	var progress <-chan time.Time
	if r.cfg.Progress != nil {
		pt := time.NewTicker(r.cfg.ProgressEvery)
		defer pt.Stop()
		progress = pt.C
	}
	var lastOrigin, lastPeer int64
	take := func() {
		o, p := r.nw.originSent.Load(), r.nw.peerBytes.Load()
		r.mu.Lock()
		r.timeline = append(r.timeline, Sample{
			T:           round(r.cfg.simTime(time.Since(r.start)).Seconds(), 1),
			OriginBytes: o - lastOrigin,
			PeerBytes:   p - lastPeer,
			Online:      r.online,
		})
		r.mu.Unlock()
		lastOrigin, lastPeer = o, p
	}
	for {
		select {
		case <-r.stop:
			take()
			if r.cfg.Progress != nil {
				r.progress(true)
			}
			return
		case <-tick.C:
			take()
			mem.sample()
		case <-progress:
			r.progress(false)
		}
	}
}

// canary sleeps 50 ms at a time until the run stops and returns how late
// each sleep ended: the scheduling delay every goroutine of the process
// suffers, sinks included.
func (r *run) canary() []time.Duration {
	const nap = 50 * time.Millisecond
	var lags []time.Duration
	for {
		start := time.Now()
		t := time.NewTimer(nap)
		select {
		case <-r.stop:
			t.Stop()
			return lags
		case <-t.C:
		}
		lags = append(lags, time.Since(start)-nap)
	}
}

// progress prints one line on Progress.
func (r *run) progress(final bool) {
	r.mu.Lock()
	plays, online := len(r.plays), r.online
	var under int
	for _, p := range r.plays {
		under += p.Stats.Underruns
	}
	r.mu.Unlock()
	el := min(r.cfg.simTime(time.Since(r.start)), r.cfg.Duration)
	start, end := "", "\n"
	if isTerminal(r.cfg.Progress) {
		start, end = "\r", "\x1b[K"
		if final {
			end += "\n"
		}
	}
	fmt.Fprintf(r.cfg.Progress, "%ssim %s: %s/%s  listeners %d/%d  plays %d  underruns %d  origin %s  peers %s%s",
		start, r.cfg.Mode, el.Truncate(time.Second), r.cfg.Duration, online, r.cfg.Listeners, plays, under,
		fmtBytes(r.nw.originSent.Load()), fmtBytes(r.nw.peerBytes.Load()), end)
}

func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}

func fmtBytes(n int64) string {
	switch {
	case n >= 1<<30:
		return fmt.Sprintf("%.2f GB", float64(n)/(1<<30))
	case n >= 1<<20:
		return fmt.Sprintf("%.1f MB", float64(n)/(1<<20))
	default:
		return fmt.Sprintf("%.0f kB", float64(n)/(1<<10))
	}
}
