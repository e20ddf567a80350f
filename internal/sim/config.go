package sim

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"time"

	"github.com/potluckfm/potluck/player"
	"github.com/potluckfm/potluck/swarm"
)

// Mode says whether listeners use the swarm or the origin alone.
type Mode string

// Modes of a run.
const (
	// ModeP2P is Potluck: the origin serves heads and emergencies, peers
	// the rest.
	ModeP2P Mode = "p2p"
	// ModeClientServer is the baseline: swarm.Config.NoPeers, every byte
	// not cached comes from the origin.
	ModeClientServer Mode = "client-server"
)

// Mbps is a link rate of one megabit per second.
const Mbps = 1_000_000

// Config describes one simulation run. The zero value of every field takes
// the default that Defaults documents.
type Config struct {
	// Mode is ModeP2P or ModeClientServer (default ModeP2P).
	Mode Mode
	// Listeners is N, the number of listener nodes (default 50).
	Listeners int
	// Tracks is M, the catalogue size (default 100): the library's files
	// repeated under distinct track IDs.
	Tracks int
	// TrackLength is how long each catalogue track lasts at least: the
	// library's files joined, frame by frame, until they do (default
	// 3m30s, about a song's length; the demo files last 34 to 64 s). A
	// negative value takes each file as it is.
	TrackLength time.Duration
	// Duration is the simulated time the run lasts (default 5m).
	Duration time.Duration
	// Plays, if more than 0, ends the run early once this many plays
	// have started (reached the sink) and ended: a run sized by its
	// plays, for a stutter figure with a tight bound.
	Plays int
	// Seed makes the workload (track choices, skips, seeks, churn, link
	// profiles, loss) repeat (default 1).
	Seed uint64
	// Speed runs the clock this many times faster than real time: sinks
	// play faster, link rates are multiplied and delays divided by it
	// (default 1). Swarm timers that the swarm does not let us configure
	// (tracker TTL, announce interval) are not scaled, so speeds far
	// above 1 are approximate; prefer synctest for long runs.
	Speed float64
	// OriginDownAt, if more than 0, is the moment of the run (simulated)
	// at which the origin stops answering for good: its endpoint drops
	// every packet it would send or receive. Listeners then run their
	// nodes' DHT (swarm.Config.DHT), each bootstrapped from one or two
	// listeners online as it comes online, as a real network would be,
	// so that they find holders without the tracker.
	OriginDownAt time.Duration
	// DHT runs every listener's DHT even with the origin up (implied by
	// OriginDownAt).
	DHT bool
	// NoTraversal turns NAT traversal off: listeners do not punch holes
	// (swarm.Config.NoPunch), so one behind a NAT is reached only by
	// peers it dialled itself (NetProfile.NAT).
	NoTraversal bool

	Net      NetProfile
	Workload Workload

	// Scheduler tunes every listener's chunk scheduler (zero fields take
	// the swarm's defaults): the knobs the benchmark exists to tune.
	Scheduler swarm.SchedulerConfig

	// SinkBuffer is the audio each listener's null sink holds, as a sound
	// device does (default AppSinkBuffer, what the desktop app's audio
	// path holds). A sink runs dry when its player is late by more.
	SinkBuffer time.Duration

	// FrameDecode is the time one MP3 frame of the catalogue takes to
	// decode on this machine (wall time): part of each play's start
	// floor (Report.StartLatencyVsFloor). Zero: Run measures it as it
	// starts. Under synctest the clock stands still while the CPU works,
	// so a caller there measures it outside the bubble
	// (MeasureFrameDecode).
	FrameDecode time.Duration

	// Library holds the MP3 files the catalogue is made of (default the
	// embedded demo library).
	Library fs.FS
	// Dir holds the nodes' data directories (keys, peer lists); empty
	// means a temporary directory removed at the end.
	Dir string
	// Sample is the simulated interval of the traffic timeline (default 5s).
	Sample time.Duration
	// Progress, if set, receives a progress line every ProgressEvery of
	// wall time (default 5s).
	Progress      io.Writer
	ProgressEvery time.Duration
	// Logger receives the nodes', origin's and players' logs; nil
	// discards them.
	Logger *slog.Logger
}

// NetProfile describes the emulated links. Listener link rates and delays
// are drawn uniformly from their ranges, per listener, from the seed.
type NetProfile struct {
	// RTTMin and RTTMax bound a listener's round-trip time to the origin
	// (default 20ms to 80ms). A listener's access delay is half its RTT
	// less the origin's; between two listeners the delay is the sum of
	// their access delays.
	RTTMin, RTTMax time.Duration
	// DownMin and DownMax bound a listener's downlink in bit/s (default
	// 10 to 50 Mbit/s); UpMin and UpMax its uplink (default 1 to 10).
	DownMin, DownMax int
	UpMin, UpMax     int
	// Loss is the share of packets lost on each listener link, each way
	// (default 0.005; a negative value means none).
	Loss float64
	// Jitter is the most extra one-way delay of a packet, drawn uniformly
	// per packet (default 4ms; negative means none). Packets of one path
	// are never reordered.
	Jitter time.Duration
	// OriginRate is the origin's link rate both ways in bit/s (default
	// 1 Gbit/s) and OriginRTT its own share of round-trip time (default 5ms).
	OriginRate int
	OriginRTT  time.Duration
	// NAT is the share of listeners behind a home router's NAT, drawn
	// from the seed and rounded to a whole number of them (default
	// DefaultNAT; negative means none): such a listener receives only
	// from addresses it sent to in the last two minutes (nat.go).
	// NATSymmetric is the share of those NATs that map each destination
	// to its own port, which punching does not get through (default
	// DefaultNATSymmetric; negative means none); the others keep one
	// port for every destination.
	NAT, NATSymmetric float64
}

// The default shares of NATs. About 64% of the peers of a real P2P
// network sat behind a NAT or firewall that allows UDP hole punching
// (Halkes & Pouwelse, "UDP NAT and Firewall Puncturing in the Wild",
// IFIP Networking 2011), and about 82% of the NATs Ford, Srisuresh &
// Kegel tested ("Peer-to-Peer Communication Across Network Address
// Translators", USENIX ATC 2005) supported UDP hole punching; so about
// 0.64/0.82 ≈ 78% of listeners sit behind a NAT, 18% of those a
// symmetric one.
const (
	DefaultNAT          = 0.78
	DefaultNATSymmetric = 0.18
)

// Workload describes what listeners do.
type Workload struct {
	// Zipf is the exponent s of track popularity, P(rank k) ∝ (1+k)^-s,
	// s > 1 (default 1.1).
	Zipf float64
	// Skip is the share of plays skipped part-way (default 0.15); Seek
	// the share with one seek (default 0.10). Negative means none.
	Skip, Seek float64
	// Session and Away are the mean online and offline times of a listener
	// (exponentially distributed; default 4m and 1m). A listener that
	// leaves closes its node; it comes back with the same identity and
	// cache at a new address. A negative Away means no churn: every
	// listener stays for the whole run.
	Session, Away time.Duration
	// Restart is the share of listeners (drawn from the seed, rounded to
	// a whole number of them) that restart their app: when one
	// of them leaves (Session), it leaves mid-play (its node and player
	// close) and comes back after a restart's time away (RestartAway)
	// with the same identity and cache at a new address, its queue and
	// the play it left cued where it stopped, and plays on (default 0:
	// none; the other listeners come and go as Session and Away say).
	Restart float64
	// RestartAway is the mean time a restarting app stays away
	// (exponentially distributed; default 15s).
	RestartAway time.Duration
	// JoinSpread spreads the first joins of the listeners online at the
	// start over this time (default 20s).
	JoinSpread time.Duration
	// Think is the most time between a listener coming online and its
	// first play (default 3s; uniform).
	Think time.Duration
	// CacheSize bounds each listener's cache in bytes (default 1 GiB).
	CacheSize int64
	// History is how many plays each listener made before the run: their
	// tracks, drawn by the same popularity, start in its cache, as the
	// cache of an app in use does (default 25; negative means none: every
	// cache starts empty, the swarm's first day).
	History int
}

// AppSinkBuffer is the audio the desktop app's sink path holds at
// 44.1 kHz: its pipe (player.DefaultBuffer), then oto's player buffer and
// ALSA's device buffer of 2048 frames each (player/otosink).
const AppSinkBuffer = player.DefaultBuffer + 4096*time.Second/44100

// withDefaults fills zero fields.
func (c Config) withDefaults() Config {
	def := func(v *time.Duration, d time.Duration) {
		if *v == 0 {
			*v = d
		}
	}
	if c.Mode == "" {
		c.Mode = ModeP2P
	}
	if c.Listeners == 0 {
		c.Listeners = 50
	}
	if c.Tracks == 0 {
		c.Tracks = 100
	}
	def(&c.Duration, 5*time.Minute)
	def(&c.TrackLength, 3*time.Minute+30*time.Second)
	def(&c.SinkBuffer, AppSinkBuffer)
	if c.Seed == 0 {
		c.Seed = 1
	}
	if c.Speed == 0 {
		c.Speed = 1
	}
	def(&c.Sample, 5*time.Second)
	def(&c.ProgressEvery, 5*time.Second)
	n := &c.Net
	def(&n.RTTMin, 20*time.Millisecond)
	def(&n.RTTMax, 80*time.Millisecond)
	if n.DownMin == 0 {
		n.DownMin = 10 * Mbps
	}
	if n.DownMax == 0 {
		n.DownMax = 50 * Mbps
	}
	if n.UpMin == 0 {
		n.UpMin = 1 * Mbps
	}
	if n.UpMax == 0 {
		n.UpMax = 10 * Mbps
	}
	if n.Loss == 0 {
		n.Loss = 0.005
	}
	def(&n.Jitter, 4*time.Millisecond)
	if n.OriginRate == 0 {
		n.OriginRate = 1000 * Mbps
	}
	def(&n.OriginRTT, 5*time.Millisecond)
	if n.NAT == 0 {
		n.NAT = DefaultNAT
	}
	if n.NATSymmetric == 0 {
		n.NATSymmetric = DefaultNATSymmetric
	}
	w := &c.Workload
	if w.Zipf == 0 {
		w.Zipf = 1.1
	}
	if w.Skip == 0 {
		w.Skip = 0.15
	}
	if w.Seek == 0 {
		w.Seek = 0.10
	}
	def(&w.Session, 4*time.Minute)
	def(&w.Away, time.Minute)
	def(&w.RestartAway, 15*time.Second)
	def(&w.JoinSpread, 20*time.Second)
	def(&w.Think, 3*time.Second)
	if w.CacheSize == 0 {
		w.CacheSize = 1 << 30
	}
	if w.History == 0 {
		w.History = 25
	}
	return c
}

// Defaults returns the configuration a zero Config stands for.
func Defaults() Config { return Config{}.withDefaults() }

func (c Config) validate() error {
	var errs []error
	bad := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	if c.Mode != ModeP2P && c.Mode != ModeClientServer {
		bad("mode %q: want %q or %q", c.Mode, ModeP2P, ModeClientServer)
	}
	if c.Listeners < 1 {
		bad("listeners %d: want at least 1", c.Listeners)
	}
	if c.Tracks < 1 {
		bad("tracks %d: want at least 1", c.Tracks)
	}
	if c.Duration <= 0 {
		bad("duration %s: want more than 0", c.Duration)
	}
	if c.Speed <= 0 {
		bad("speed %g: want more than 0", c.Speed)
	}
	n := c.Net
	if n.RTTMin <= 0 || n.RTTMax < n.RTTMin || n.RTTMin < n.OriginRTT {
		bad("rtt %s-%s: want 0 < min <= max, min at least the origin's %s", n.RTTMin, n.RTTMax, n.OriginRTT)
	}
	if n.DownMin <= 0 || n.DownMax < n.DownMin || n.UpMin <= 0 || n.UpMax < n.UpMin {
		bad("link rates down %d-%d up %d-%d: want 0 < min <= max", n.DownMin, n.DownMax, n.UpMin, n.UpMax)
	}
	if n.Loss >= 1 {
		bad("loss %g: want less than 1", n.Loss)
	}
	if n.NAT > 1 || n.NATSymmetric > 1 {
		bad("nat %g, symmetric %g: want shares of at most 1", n.NAT, n.NATSymmetric)
	}
	w := c.Workload
	if w.Zipf <= 1 {
		bad("zipf %g: want more than 1", w.Zipf)
	}
	if max(w.Skip, 0)+max(w.Seek, 0) > 1 {
		bad("skip %g, seek %g: want shares that add up to at most 1", w.Skip, w.Seek)
	}
	if w.Restart < 0 || w.Restart > 1 {
		bad("restart %g: want a share from 0 to 1", w.Restart)
	}
	if c.OriginDownAt < 0 {
		bad("origin down at %s: want 0 (never) or more", c.OriginDownAt)
	}
	if c.Plays < 0 {
		bad("plays %d: want 0 (no limit) or more", c.Plays)
	}
	if w.Session <= 0 {
		bad("session %s: want more than 0", w.Session)
	}
	return errors.Join(errs...)
}

// wall converts simulated time to wall time.
func (c Config) wall(d time.Duration) time.Duration {
	return time.Duration(float64(d) / c.Speed)
}

// simTime converts wall time to simulated time.
func (c Config) simTime(d time.Duration) time.Duration {
	return time.Duration(float64(d) * c.Speed)
}
