package sim

import (
	"bytes"
	"fmt"
	"math"
	"slices"
	"strings"
	"time"

	"github.com/potluckfm/potluck/player"
	"github.com/potluckfm/potluck/track"
)

// Report is the figures of one run. Its JSON field names are a contract
// with scripts and docs/benchmark.md: extend, never rename. Times are
// simulated time; bytes are bytes.
type Report struct {
	Mode      Mode    `json:"mode"`
	Listeners int     `json:"listeners"`
	Tracks    int     `json:"tracks"`
	DurationS float64 `json:"duration_s"`
	Seed      uint64  `json:"seed"`
	Speed     float64 `json:"speed"`
	// TrackLengthS is the least length of a catalogue track (0: the
	// library's files as they are), History the plays before the run
	// whose tracks started in each cache, SinkBufferMS what each sink
	// holds.
	TrackLengthS float64 `json:"track_length_s"`
	History      int     `json:"history"`
	SinkBufferMS float64 `json:"sink_buffer_ms"`
	// HeadS and EmergencyS are the schedulers' Head and Emergency.
	HeadS      float64 `json:"head_s"`
	EmergencyS float64 `json:"emergency_s"`

	// Plays counts the plays that ended, however they ended; the other
	// play counts split it. A play is interrupted when its listener left
	// or the run ended during it.
	Plays            int `json:"plays"`
	PlaysCompleted   int `json:"plays_completed"`
	PlaysSkipped     int `json:"plays_skipped"`
	PlaysInterrupted int `json:"plays_interrupted"`
	PlaysFailed      int `json:"plays_failed"`
	// PlaysStarted counts plays whose audio reached the sink: the base
	// of the latency and stutter figures.
	PlaysStarted int `json:"plays_started"`
	Seeks        int `json:"seeks"`
	Sessions     int `json:"sessions"`
	// Restarts counts the times a listener's app restarted mid-play and
	// came back with its session (Workload.Restart, RestartShare).
	Restarts     int     `json:"restarts"`
	RestartShare float64 `json:"restart_share"`

	// OriginDownAtS is when the origin stopped answering for good
	// (Config.OriginDownAt; 0: it never did). PlaysAfterOriginDown counts
	// the plays opened from then on (but those the end of the run or a
	// leave cut before they started), PlaysOKAfterOriginDown those of
	// them that started and did not fail, OriginDownPlayShare their share;
	// OriginDownHeldShare is the share of PlaysAfterOriginDown whose whole
	// track another online listener's cache held as the play was opened.
	OriginDownAtS          float64 `json:"origin_down_at_s"`
	PlaysAfterOriginDown   int     `json:"plays_after_origin_down"`
	PlaysOKAfterOriginDown int     `json:"plays_ok_after_origin_down"`
	OriginDownPlayShare    float64 `json:"origin_down_play_share"`
	OriginDownHeldShare    float64 `json:"origin_down_held_share"`

	// StartLatencyMS is from asking for a play to its first PCM at the
	// sink, over started plays; ByKind splits it by what held the track
	// when the play was opened.
	StartLatencyMS       Percentiles `json:"start_latency_ms"`
	StartLatencyByKindMS ByKind      `json:"start_latency_by_kind_ms"`
	SeekLatencyMS        Percentiles `json:"seek_latency_ms"`
	// StartLatencyVsFloor is each play's start latency divided by its own
	// floor, over the plays that started from the start of a track the
	// listener did not hold (not cached, first chunk not cached, not
	// prefetched, not restored after a restart): the floor is the
	// listener's round trip to the origin, the first chunk's transfer at
	// its downlink and one frame's decoding (FrameDecodeMS). 1 is as fast
	// as a node can start; each extra round trip adds about 1 at a short
	// transfer.
	StartLatencyVsFloor Percentiles `json:"start_latency_vs_floor"`
	// FrameDecodeMS is one MP3 frame's decoding time measured on this
	// machine as the run started (a median): the floor's decoding part.
	FrameDecodeMS float64 `json:"frame_decode_ms"`

	// Underruns counts the times a sink ran dry during a play (stutter).
	Underruns        int     `json:"underruns"`
	UnderrunsPerPlay float64 `json:"underruns_per_play"`
	// StutterShare is the share of started plays with any underrun
	// (PlaysStuttered of PlaysStarted); StutterUpper95 its exact
	// (Clopper–Pearson) one-sided 95% upper confidence bound: with no
	// stutter in n plays, about 3/n.
	StutterShare   float64 `json:"stutter_share"`
	PlaysStuttered int     `json:"plays_stuttered"`
	StutterUpper95 float64 `json:"stutter_upper95"`
	UnderrunTimeS  float64 `json:"underrun_time_s"`
	// Stutters says why plays ran dry (at most 50): which track, when,
	// and whether its stream stalled (the network) or not (the sink).
	Stutters []string `json:"stutters,omitempty"`
	// SourceStalls counts reads of a play's stream that blocked, during
	// playback, longer than the audio the player holds (decoded blocks
	// plus the sink's buffer): the network's part of the stutter, whatever
	// the CPU did. SourceStallShare is the share of started plays with
	// any, SourceStallTimeS their time beyond the buffer.
	SourceStalls     int     `json:"source_stalls"`
	SourceStallShare float64 `json:"source_stall_share"`
	SourceStallTimeS float64 `json:"source_stall_time_s"`
	// TimerLagMS is how late a 50 ms sleep of a canary goroutine woke up,
	// in wall time: above the sinks' buffer (100 ms of audio, 100/speed ms
	// of wall time), sinks run dry because the process had no CPU to give
	// them (many listeners on few cores in real time). Zero under synctest.
	TimerLagMS Percentiles `json:"timer_lag_ms"`
	// Failures lists plays that failed, and why (at most 20).
	Failures []string `json:"failures,omitempty"`

	// Bytes are what the plays' streams delivered, by source: chunks
	// already cached when the play was opened, fetched from peers, fetched
	// from the origin. The shares are of their total.
	Bytes       Bytes   `json:"bytes"`
	OriginShare float64 `json:"origin_share"`
	PeerShare   float64 `json:"peer_share"`
	CacheShare  float64 `json:"cache_share"`
	// BytesByKind splits Bytes by what held the track when its play was
	// opened (see StartLatencyByKindMS).
	BytesByKind map[string]Bytes `json:"bytes_by_kind"`

	// OriginEgressBytes is what the origin sent on the wire (QUIC,
	// retransmissions, manifests and tracker answers included);
	// PeerTrafficBytes what listeners sent each other on the wire;
	// PeerServedBytes the chunk bytes listeners uploaded to peers.
	OriginEgressBytes int64 `json:"origin_egress_bytes"`
	PeerTrafficBytes  int64 `json:"peer_traffic_bytes"`
	PeerServedBytes   int64 `json:"peer_served_bytes"`
	// OriginChunkBytes is the chunk payload bytes the origin served (the
	// bodies of its chunk answers, not the wire). OriginFloorBytes is its
	// floor: the bytes of the distinct chunks (track, index) that any
	// listener's player read during the run and no cache held as it
	// began; each had to leave the origin once. OriginAmplification is
	// OriginChunkBytes ÷ OriginFloorBytes: 1 is the floor, what is above
	// it was avoidable (0: nothing was played).
	OriginChunkBytes    int64   `json:"origin_chunk_bytes"`
	OriginFloorBytes    int64   `json:"origin_floor_bytes"`
	OriginAmplification float64 `json:"origin_amplification"`
	// OriginRepeatBytes and OriginUnplayedBytes split the chunk bytes
	// listeners received from the origin beyond the floor: those of
	// played chunks beyond one copy each (heads and emergencies of tracks
	// peers held, copies fetched twice), and those of chunks no listener
	// played (fetched ahead of a skip, a leave or the end of the run).
	// OriginChunkBytes less the floor and these two is the rest: what the
	// origin sent that no listener received whole (requests cancelled
	// midway), and the chunks of start answers (manifest and first chunks
	// in one request), which listeners' clients do not count chunk by
	// chunk: a chunk a listener had first from a start answer and again
	// from a chunk request counts as its first copy, not a repeat.
	OriginRepeatBytes   int64 `json:"origin_repeat_bytes"`
	OriginUnplayedBytes int64 `json:"origin_unplayed_bytes"`
	// ListenerHours is the audio played by all listeners, in hours.
	ListenerHours float64 `json:"listener_hours"`
	// OriginEgressPerListenerHourMB is OriginEgressBytes (in MB, 10^6
	// bytes) per listener-hour.
	OriginEgressPerListenerHourMB float64 `json:"origin_egress_per_listener_hour_mb"`

	// Resources are the whole process's (origin, network emulation and
	// all listeners), divided by Listeners for the per-node figures.
	CPUSeconds          float64 `json:"cpu_s"`
	CPUPerNodePercent   float64 `json:"cpu_per_node_percent"`
	PeakMemoryBytes     int64   `json:"peak_memory_bytes"`
	PeakMemoryPerNodeMB float64 `json:"peak_memory_per_node_mb"`
	// PeakGoroutines is the most goroutines the process ran at once.
	PeakGoroutines int `json:"peak_goroutines"`
	// WallS is the wall time the run took (virtual under synctest).
	WallS float64 `json:"wall_s"`

	// Timeline is the traffic per Config.Sample interval.
	Timeline []Sample `json:"timeline"`

	// NAT is how listeners reached each other through their NATs
	// (natreport.go; absent in client-server mode).
	NAT *NATReport `json:"nat,omitempty"`
}

// Percentiles summarise a distribution; N is its size.
type Percentiles struct {
	P50 float64 `json:"p50"`
	P90 float64 `json:"p90"`
	P99 float64 `json:"p99"`
	N   int     `json:"n"`
}

// ByKind splits start latency by what held the track.
type ByKind struct {
	Cached       Percentiles `json:"cached"`
	FirstInSwarm Percentiles `json:"first_in_swarm"`
	HeldByPeers  Percentiles `json:"held_by_peers"`
}

// Bytes are bytes by source.
type Bytes struct {
	Origin int64 `json:"origin"`
	Peers  int64 `json:"peers"`
	Cache  int64 `json:"cache"`
	Total  int64 `json:"total"`
}

// Sample is the traffic of one timeline interval ending at T seconds.
type Sample struct {
	T           float64 `json:"t_s"`
	OriginBytes int64   `json:"origin_bytes"`
	PeerBytes   int64   `json:"peer_bytes"`
	Online      int     `json:"listeners_online"`
}

func percentiles(ms []float64) Percentiles {
	if len(ms) == 0 {
		return Percentiles{}
	}
	slices.Sort(ms)
	at := func(q float64) float64 {
		i := int(math.Ceil(q*float64(len(ms)))) - 1 // nearest rank
		return round(ms[min(max(i, 0), len(ms)-1)], 1)
	}
	return Percentiles{P50: at(0.50), P90: at(0.90), P99: at(0.99), N: len(ms)}
}

// ratios summarise ratios as percentiles, rounded to 2 decimals.
func ratios(vs []float64) Percentiles {
	if len(vs) == 0 {
		return Percentiles{}
	}
	slices.Sort(vs)
	at := func(q float64) float64 {
		i := int(math.Ceil(q*float64(len(vs)))) - 1 // nearest rank
		return round(vs[min(max(i, 0), len(vs)-1)], 2)
	}
	return Percentiles{P50: at(0.50), P90: at(0.90), P99: at(0.99), N: len(vs)}
}

func round(v float64, digits int) float64 {
	p := math.Pow(10, float64(digits))
	return math.Round(v*p) / p
}

func share(a, total int64) float64 {
	if total == 0 {
		return 0
	}
	return round(float64(a)/float64(total), 4)
}

func pow(x, y float64) float64 { return math.Pow(x, y) }

func compareIDs(a, b track.ID) int { return bytes.Compare(a[:], b[:]) }

// report computes the figures of the run.
func (r *run) report(ran, wall, cpu time.Duration, peakMem int64, lags []time.Duration) *Report {
	cfg := r.cfg
	ms := func(d time.Duration) float64 { return float64(cfg.simTime(d)) / float64(time.Millisecond) }
	sched := cfg.Scheduler.WithDefaults()
	rep := &Report{
		Mode:          cfg.Mode,
		Listeners:     cfg.Listeners,
		Tracks:        len(r.manifests),
		DurationS:     round(cfg.simTime(ran).Seconds(), 1),
		Seed:          cfg.Seed,
		Speed:         cfg.Speed,
		TrackLengthS:  max(cfg.TrackLength, 0).Seconds(),
		History:       max(cfg.Workload.History, 0),
		SinkBufferMS:  float64(cfg.SinkBuffer) / float64(time.Millisecond),
		HeadS:         sched.Head.Seconds(),
		EmergencyS:    sched.Emergency.Seconds(),
		RestartShare:  cfg.Workload.Restart,
		FrameDecodeMS: round(float64(r.frameDecode)/float64(time.Millisecond), 3),
		Plays:         len(r.plays),
		Timeline:      r.timeline,
		BytesByKind:   map[string]Bytes{},
	}
	var lat, seek, vsFloor []float64
	kinds := map[string][]float64{}
	var played time.Duration
	var stuttered, stalled int
	for _, p := range r.plays {
		st := p.Stats
		switch {
		case st.Err != nil:
			rep.PlaysFailed++
			if len(rep.Failures) < 20 {
				rep.Failures = append(rep.Failures, fmt.Sprintf("listener %d, track %s: %v", p.Listener, p.Track, st.Err))
			}
		case p.Interrupted:
			rep.PlaysInterrupted++
		case st.Skipped:
			rep.PlaysSkipped++
		default:
			rep.PlaysCompleted++
		}
		rep.Seeks += st.Seeks
		if st.Seeks > 0 && p.Started() {
			seek = append(seek, ms(st.SeekLatency))
		}
		rep.Bytes.Origin += st.Swarm.FromOrigin
		rep.Bytes.Peers += st.Swarm.FromPeers
		rep.Bytes.Cache += st.Swarm.FromCache
		if p.Kind != "" {
			k := rep.BytesByKind[p.Kind]
			k.Origin += st.Swarm.FromOrigin
			k.Peers += st.Swarm.FromPeers
			k.Cache += st.Swarm.FromCache
			k.Total += p.Delivered()
			rep.BytesByKind[p.Kind] = k
		}
		played += st.Played
		if !p.Started() {
			continue
		}
		rep.PlaysStarted++
		l := ms(st.StartLatency)
		lat = append(lat, l)
		kinds[p.Kind] = append(kinds[p.Kind], l)
		if p.floorEligible() {
			vsFloor = append(vsFloor, l/(float64(p.Floor)/float64(time.Millisecond)))
		}
		rep.Underruns += st.Underruns
		rep.UnderrunTimeS += cfg.simTime(st.UnderrunTime).Seconds()
		if st.Underruns > 0 {
			stuttered++
			if len(rep.Stutters) < 50 {
				rep.Stutters = append(rep.Stutters, r.stutterRecord(p))
			}
		}
		rep.SourceStalls += p.Stalls
		rep.SourceStallTimeS += cfg.simTime(p.StallTime).Seconds()
		if p.Stalls > 0 {
			stalled++
		}
	}
	rep.StartLatencyMS = percentiles(lat)
	rep.StartLatencyByKindMS = ByKind{
		Cached:       percentiles(kinds[KindCached]),
		FirstInSwarm: percentiles(kinds[KindFirstInSwarm]),
		HeldByPeers:  percentiles(kinds[KindHeldByPeers]),
	}
	rep.SeekLatencyMS = percentiles(seek)
	rep.StartLatencyVsFloor = ratios(vsFloor)
	rep.PlaysStuttered = stuttered
	rep.StutterUpper95 = round(upperBound95(stuttered, rep.PlaysStarted), 6)
	rep.UnderrunTimeS = round(rep.UnderrunTimeS, 2)
	rep.SourceStallTimeS = round(rep.SourceStallTimeS, 2)
	if rep.PlaysStarted > 0 {
		rep.UnderrunsPerPlay = round(float64(rep.Underruns)/float64(rep.PlaysStarted), 4)
		rep.StutterShare = round(float64(stuttered)/float64(rep.PlaysStarted), 4)
		rep.SourceStallShare = round(float64(stalled)/float64(rep.PlaysStarted), 4)
	}
	lagMS := make([]float64, len(lags))
	for i, l := range lags {
		lagMS[i] = float64(l) / float64(time.Millisecond)
	}
	rep.TimerLagMS = percentiles(lagMS)
	b := &rep.Bytes
	b.Total = b.Origin + b.Peers + b.Cache
	rep.OriginShare, rep.PeerShare, rep.CacheShare = share(b.Origin, b.Total), share(b.Peers, b.Total), share(b.Cache, b.Total)
	rep.OriginEgressBytes = r.nw.originSent.Load()
	rep.PeerTrafficBytes = r.nw.peerBytes.Load()
	for _, l := range r.listeners {
		rep.PeerServedBytes += l.bytesServed()
		rep.Sessions += l.sessions
		rep.Restarts += l.restarted
	}
	rep.ListenerHours = round(played.Hours(), 4)
	r.reportAmplification(rep)
	if cfg.OriginDownAt > 0 {
		rep.OriginDownAtS = round(cfg.OriginDownAt.Seconds(), 1)
		var held int
		for _, p := range r.plays {
			if !r.afterOriginDown(p.OpenedAt) || (!p.Started() && p.Stats.Err == nil && p.Interrupted) {
				continue
			}
			rep.PlaysAfterOriginDown++
			if p.Started() && p.Stats.Err == nil {
				rep.PlaysOKAfterOriginDown++
			}
			if p.PeerHeld {
				held++
			}
		}
		if n := rep.PlaysAfterOriginDown; n > 0 {
			rep.OriginDownPlayShare = round(float64(rep.PlaysOKAfterOriginDown)/float64(n), 4)
			rep.OriginDownHeldShare = round(float64(held)/float64(n), 4)
		}
	}
	if played > 0 {
		rep.OriginEgressPerListenerHourMB = round(float64(rep.OriginEgressBytes)/1e6/played.Hours(), 2)
	}
	rep.CPUSeconds = round(cpu.Seconds(), 2)
	if wall > 0 {
		rep.CPUPerNodePercent = round(100*cpu.Seconds()/wall.Seconds()/float64(cfg.Listeners), 2)
	}
	rep.PeakMemoryBytes = peakMem
	rep.PeakGoroutines = r.peakGoroutines
	rep.PeakMemoryPerNodeMB = round(float64(peakMem)/1e6/float64(cfg.Listeners), 2)
	rep.WallS = round(wall.Seconds(), 1)
	rep.NAT = r.natReport()
	return rep
}

// Targets are early Spotify's figures (Kreitz & Niemelä, IEEE P2P 2010).
type Targets struct {
	StartLatencyP50MS float64 `json:"start_latency_ms_p50"`
	OriginShare       float64 `json:"origin_share"`
	PeerShare         float64 `json:"peer_share"`
	CacheShare        float64 `json:"cache_share"`
	StutterShare      float64 `json:"stutter_share"`
}

// SpotifyTargets are the figures Potluck measures itself against.
var SpotifyTargets = Targets{
	StartLatencyP50MS: 265,
	OriginShare:       0.088,
	PeerShare:         0.358,
	CacheShare:        0.554,
	StutterShare:      0.01,
}

// Comparison is the JSON document of potluck sim: the Potluck run's
// figures at the top level, the client-server baseline's (if it ran) under
// "baseline", their ratios (Potluck ÷ baseline) under "vs_baseline", and
// the Spotify targets.
type Comparison struct {
	*Report
	Baseline *Report            `json:"baseline,omitempty"`
	Ratios   map[string]float64 `json:"vs_baseline,omitempty"`
	Targets  Targets            `json:"targets"`
}

// Compare puts a Potluck run and its baseline (nil if none) side by side.
func Compare(p2p, baseline *Report) *Comparison {
	c := &Comparison{Report: p2p, Baseline: baseline, Targets: SpotifyTargets}
	if baseline == nil {
		return c
	}
	c.Ratios = map[string]float64{}
	ratio := func(name string, a, b float64) {
		if b != 0 {
			c.Ratios[name] = round(a/b, 3)
		}
	}
	ratio("start_latency_ms_p50", p2p.StartLatencyMS.P50, baseline.StartLatencyMS.P50)
	ratio("start_latency_ms_p90", p2p.StartLatencyMS.P90, baseline.StartLatencyMS.P90)
	ratio("start_latency_ms_p99", p2p.StartLatencyMS.P99, baseline.StartLatencyMS.P99)
	ratio("underruns_per_play", p2p.UnderrunsPerPlay, baseline.UnderrunsPerPlay)
	ratio("stutter_share", p2p.StutterShare, baseline.StutterShare)
	ratio("source_stall_share", p2p.SourceStallShare, baseline.SourceStallShare)
	ratio("origin_share", p2p.OriginShare, baseline.OriginShare)
	ratio("origin_amplification", p2p.OriginAmplification, baseline.OriginAmplification)
	ratio("origin_egress_bytes", float64(p2p.OriginEgressBytes), float64(baseline.OriginEgressBytes))
	ratio("origin_egress_per_listener_hour_mb", p2p.OriginEgressPerListenerHourMB, baseline.OriginEgressPerListenerHourMB)
	ratio("cpu_per_node_percent", p2p.CPUPerNodePercent, baseline.CPUPerNodePercent)
	ratio("peak_memory_per_node_mb", p2p.PeakMemoryPerNodeMB, baseline.PeakMemoryPerNodeMB)
	return c
}

// Markdown renders the comparison as a table: Potluck, client-server, the
// ratio and the Spotify target, one figure a row.
func (c *Comparison) Markdown() string {
	p, b := c.Report, c.Baseline
	var sb strings.Builder
	fmt.Fprintf(&sb, "%d listeners, %d tracks, %s simulated, seed %d", p.Listeners, p.Tracks,
		time.Duration(p.DurationS*float64(time.Second)).Round(time.Second), p.Seed)
	if p.Speed != 1 {
		fmt.Fprintf(&sb, ", speed %g", p.Speed)
	}
	if p.TrackLengthS > 0 {
		fmt.Fprintf(&sb, "; tracks of %s or more", time.Duration(p.TrackLengthS*float64(time.Second)).Round(time.Second))
	}
	fmt.Fprintf(&sb, "; caches start with %d plays of history; sinks hold %.0f ms; head %gs, emergency %gs",
		p.History, p.SinkBufferMS, p.HeadS, p.EmergencyS)
	if p.RestartShare > 0 {
		fmt.Fprintf(&sb, "; %.0f%% of listeners restart their app mid-play (%d restarts)", 100*p.RestartShare, p.Restarts)
	}
	if p.FrameDecodeMS > 0 {
		fmt.Fprintf(&sb, "; one frame decodes in %.3f ms", p.FrameDecodeMS)
	}
	if p.OriginDownAtS > 0 {
		fmt.Fprintf(&sb, "; the origin goes down for good at %s", time.Duration(p.OriginDownAtS*float64(time.Second)).Round(time.Second))
	}
	if n := p.NAT; n != nil && n.Share > 0 {
		fmt.Fprintf(&sb, "; %.0f%% of listeners behind NATs (%.0f%% symmetric), traversal %s", 100*n.Share, 100*n.SymmetricShare,
			map[bool]string{true: "on", false: "off"}[n.Traversal])
	}
	sb.WriteString("\n\n")
	sb.WriteString("| figure | Potluck | client-server | ratio | early Spotify |\n")
	sb.WriteString("|---|---:|---:|---:|---:|\n")
	row := func(name string, get func(*Report) float64, format string, ratio bool, target string) {
		cell := func(v float64) string {
			if math.IsNaN(v) {
				return "–"
			}
			return fmt.Sprintf(format, v)
		}
		pv := get(p)
		cells := []string{name, cell(pv), "–", "–", target}
		if b != nil {
			bv := get(b)
			cells[2] = cell(bv)
			if ratio && bv != 0 && !math.IsNaN(pv) && !math.IsNaN(bv) {
				cells[3] = fmt.Sprintf("%.2f", pv/bv)
			}
		}
		sb.WriteString("| " + strings.Join(cells, " | ") + " |\n")
	}
	pct := "%.1f%%"
	row("start latency p50 (ms)", func(r *Report) float64 { return r.StartLatencyMS.P50 }, "%.0f", true, "265")
	row("start latency p90 (ms)", func(r *Report) float64 { return r.StartLatencyMS.P90 }, "%.0f", true, "")
	row("start latency p99 (ms)", func(r *Report) float64 { return r.StartLatencyMS.P99 }, "%.0f", true, "")
	p50 := func(p Percentiles) float64 {
		if p.N == 0 {
			return math.NaN()
		}
		return p.P50
	}
	row("p50, track cached (ms)", func(r *Report) float64 { return p50(r.StartLatencyByKindMS.Cached) }, "%.0f", true, "")
	row("p50, first play in swarm (ms)", func(r *Report) float64 { return p50(r.StartLatencyByKindMS.FirstInSwarm) }, "%.0f", true, "")
	row("p50, track held by peers (ms)", func(r *Report) float64 { return p50(r.StartLatencyByKindMS.HeldByPeers) }, "%.0f", true, "")
	row("seek latency p50 (ms)", func(r *Report) float64 { return p50(r.SeekLatencyMS) }, "%.0f", true, "")
	vsFloor := func(get func(Percentiles) float64) func(*Report) float64 {
		return func(r *Report) float64 {
			if r.StartLatencyVsFloor.N == 0 {
				return math.NaN()
			}
			return get(r.StartLatencyVsFloor)
		}
	}
	row("start ÷ floor p50 (not cached, not prefetched)", vsFloor(func(p Percentiles) float64 { return p.P50 }), "%.2f", true, "")
	row("start ÷ floor p90", vsFloor(func(p Percentiles) float64 { return p.P90 }), "%.2f", true, "")
	row("start ÷ floor p99", vsFloor(func(p Percentiles) float64 { return p.P99 }), "%.2f", true, "")
	row("plays for start ÷ floor", func(r *Report) float64 { return float64(r.StartLatencyVsFloor.N) }, "%.0f", false, "")
	row("plays with stutter (sink ran dry)", func(r *Report) float64 { return 100 * r.StutterShare }, pct, true, "< 1%")
	row("plays with stutter: count", func(r *Report) float64 { return float64(r.PlaysStuttered) }, "%.0f", false, "")
	row("plays with stutter: 95% upper bound", func(r *Report) float64 { return 100 * r.StutterUpper95 }, "%.3f%%", false, "")
	row("underruns per play", func(r *Report) float64 { return r.UnderrunsPerPlay }, "%.3f", true, "")
	row("underrun time (s)", func(r *Report) float64 { return r.UnderrunTimeS }, "%.1f", true, "")
	row("plays with a source stall (network)", func(r *Report) float64 { return 100 * r.SourceStallShare }, pct, true, "")
	row("source stall time (s)", func(r *Report) float64 { return r.SourceStallTimeS }, "%.1f", true, "")
	row("CPU starvation: timer lag p99 (ms)", func(r *Report) float64 { return r.TimerLagMS.P99 }, "%.0f", false, "")
	row("bytes from origin", func(r *Report) float64 { return 100 * r.OriginShare }, pct, true, "8.8%")
	row("bytes from peers", func(r *Report) float64 { return 100 * r.PeerShare }, pct, false, "35.8%")
	row("bytes from cache", func(r *Report) float64 { return 100 * r.CacheShare }, pct, false, "55.4%")
	byKind := func(kind string) func(*Report) float64 {
		return func(r *Report) float64 {
			b := r.BytesByKind[kind]
			if b.Total == 0 {
				return math.NaN()
			}
			return 100 * float64(b.Origin) / float64(b.Total)
		}
	}
	row("… from origin, first play in swarm", byKind(KindFirstInSwarm), pct, true, "")
	row("… from origin, track held by peers", byKind(KindHeldByPeers), pct, true, "")
	row("origin chunk bytes ÷ floor (1 = each played chunk once)", func(r *Report) float64 { return r.OriginAmplification }, "%.2f", true, "")
	row("origin egress (MB)", func(r *Report) float64 { return float64(r.OriginEgressBytes) / 1e6 }, "%.1f", true, "")
	row("origin egress per listener-hour (MB)", func(r *Report) float64 { return r.OriginEgressPerListenerHourMB }, "%.1f", true, "")
	row("peer traffic (MB)", func(r *Report) float64 { return float64(r.PeerTrafficBytes) / 1e6 }, "%.1f", false, "")
	row("plays started", func(r *Report) float64 { return float64(r.PlaysStarted) }, "%.0f", false, "")
	sb.WriteString(fmt.Sprintf("| plays completed / skipped / interrupted / failed | %s | %s | | |\n", playCounts(p), playCounts(b)))
	if p.OriginDownAtS > 0 {
		row("plays after the origin went down", func(r *Report) float64 { return float64(r.PlaysAfterOriginDown) }, "%.0f", false, "")
		row("… that played without failing", func(r *Report) float64 { return float64(r.PlaysOKAfterOriginDown) }, "%.0f", false, "")
		row("… share", func(r *Report) float64 { return 100 * r.OriginDownPlayShare }, pct, false, "")
		row("… whose track an online peer held", func(r *Report) float64 { return 100 * r.OriginDownHeldShare }, pct, false, "")
	}
	if p.NAT != nil {
		nat := func(get func(*NATReport) float64) func(*Report) float64 {
			return func(r *Report) float64 {
				if r.NAT == nil {
					return math.NaN()
				}
				return get(r.NAT)
			}
		}
		row("peer pairs connected directly", nat(func(n *NATReport) float64 { return 100 * n.DirectShare }), pct, false, "")
		row("… by punching", nat(func(n *NATReport) float64 { return 100 * n.PunchedShare }), pct, false, "")
		row("… not at all", nat(func(n *NATReport) float64 { return 100 * n.UnconnectedShare }), pct, false, "")
		if p.NAT.TimeToPunchedMS.N > 0 {
			row("time to a punched connection p50 (ms)", nat(func(n *NATReport) float64 { return n.TimeToPunchedMS.P50 }), "%.0f", false, "")
			row("time to a punched connection p90 (ms)", nat(func(n *NATReport) float64 { return n.TimeToPunchedMS.P90 }), "%.0f", false, "")
		}
	}
	row("CPU per node (% of a core)", func(r *Report) float64 { return r.CPUPerNodePercent }, "%.2f", true, "")
	row("peak memory per node (MB)", func(r *Report) float64 { return r.PeakMemoryPerNodeMB }, "%.1f", true, "")
	for _, r := range []*Report{p, b} {
		if r == nil || len(r.Stutters) == 0 {
			continue
		}
		fmt.Fprintf(&sb, "\nPlays with stutter (%s", r.Mode)
		if len(r.Stutters) < r.PlaysStuttered {
			fmt.Fprintf(&sb, ", the first %d of %d", len(r.Stutters), r.PlaysStuttered)
		}
		sb.WriteString("):\n\n")
		for _, s := range r.Stutters {
			sb.WriteString("- " + s + "\n")
		}
	}
	for _, r := range []*Report{p, b} {
		// A sink holds SinkBufferMS of audio: that over speed of wall time.
		if r == nil {
			continue
		}
		held := r.SinkBufferMS
		if held == 0 { // a report from before the field
			held = float64(player.DefaultBuffer / time.Millisecond)
		}
		if buf := held / max(r.speed(), 1e-9); r.TimerLagMS.P99 > buf {
			fmt.Fprintf(&sb, "\nWarning: the %s run was short of CPU: 1%% of the canary's 50 ms sleeps woke %.0f ms late or more, "+
				"past the sinks' %.0f ms buffer. Its stutter and latency figures measure this machine more than the swarm; "+
				"see the source stalls, or run in virtual time (docs/benchmark.md).\n", r.Mode, r.TimerLagMS.P99, buf)
		}
	}
	return sb.String()
}

func (r *Report) speed() float64 {
	if r == nil || r.Speed == 0 {
		return 1
	}
	return r.Speed
}

func playCounts(r *Report) string {
	if r == nil {
		return "–"
	}
	return fmt.Sprintf("%d / %d / %d / %d", r.PlaysCompleted, r.PlaysSkipped, r.PlaysInterrupted, r.PlaysFailed)
}
