package sim

import (
	"fmt"
	"maps"
	"math"
	"slices"
	"strings"
	"time"

	"github.com/potluckfm/potluck/swarm"
)

// NATReport is how listeners reached each other through their NATs
// (NetProfile.NAT), in the JSON report under "nat".
//
// A pair is an unordered pair of listeners of which at least one dialled
// the other, by its ID, at least once during the run (or that connected
// at all), whichever sessions it took. It connected directly if any of
// its connections was made by a plain dial, by punching if none was and
// one went through a punched hole, and not at all if neither.
type NATReport struct {
	// Share and SymmetricShare are the shares of listeners behind a NAT
	// and behind a symmetric NAT (a part of Share).
	Share          float64 `json:"share"`
	SymmetricShare float64 `json:"symmetric_share"`
	// Traversal: listeners punched holes (Config.NoTraversal unset).
	Traversal bool `json:"traversal"`
	// Pairs counts the pairs by how they connected; ByNAT splits them by
	// the NATs of their two ends ("public", "cone", "symmetric"; e.g.
	// "cone-symmetric").
	Pairs PairCounts            `json:"pairs"`
	ByNAT map[string]PairCounts `json:"pairs_by_nat"`
	// DirectShare, PunchedShare and UnconnectedShare split Pairs.
	DirectShare      float64 `json:"direct_share"`
	PunchedShare     float64 `json:"punched_share"`
	UnconnectedShare float64 `json:"unconnected_share"`
	// PunchesOK and PunchesFailed count the listeners' punches that made
	// a hole and those that did not, asking or answering
	// (swarm.TraversalStats).
	PunchesOK     int `json:"punches_ok"`
	PunchesFailed int `json:"punches_failed"`
	// TimeToPunchedMS is, for each connection a listener dialled through
	// a punched hole, the time from the first dial of the attempt (the
	// direct one) to the connection.
	TimeToPunchedMS Percentiles `json:"time_to_punched_ms"`
}

// PairCounts count pairs of listeners by how they connected.
type PairCounts struct {
	Pairs       int `json:"pairs"`
	Direct      int `json:"direct"`
	Punched     int `json:"punched"`
	Unconnected int `json:"unconnected"`
}

func (c *PairCounts) add(o PairCounts) {
	c.Pairs += o.Pairs
	c.Direct += o.Direct
	c.Punched += o.Punched
	c.Unconnected += o.Unconnected
}

// natReport gathers the listeners' traversal statistics (nil in
// client-server mode, where peers do not connect).
func (r *run) natReport() *NATReport {
	if r.cfg.Mode != ModeP2P {
		return nil
	}
	rep := &NATReport{Traversal: !r.cfg.NoTraversal, ByNAT: map[string]PairCounts{}}
	byID := map[swarm.PeerID]*listener{}
	stats := make([][]swarm.TraversalStats, len(r.listeners))
	for _, l := range r.listeners {
		switch l.link.nat {
		case natCone:
			rep.Share++
		case natSymmetric:
			rep.Share++
			rep.SymmetricShare++
		}
		for _, n := range l.nodes {
			byID[n.ID()] = l
			stats[l.idx] = append(stats[l.idx], n.TraversalStats())
		}
	}
	if n := float64(len(r.listeners)); n > 0 {
		rep.Share, rep.SymmetricShare = round(rep.Share/n, 4), round(rep.SymmetricShare/n, 4)
	}
	type pair struct{ a, b int }
	type outcome struct{ direct, punched bool }
	pairs := map[pair]outcome{}
	var punchMS []float64
	for i, ss := range stats {
		for _, s := range ss {
			rep.PunchesOK += s.PunchesOK
			rep.PunchesFailed += s.PunchesFailed
			for _, d := range s.PunchTimes {
				punchMS = append(punchMS, float64(r.cfg.simTime(d))/float64(time.Millisecond))
			}
			for id, pr := range s.Peers {
				o := byID[id]
				if o == nil || o.idx == i {
					continue
				}
				k := pair{min(i, o.idx), max(i, o.idx)}
				out := pairs[k]
				out.direct = out.direct || pr.Direct > 0 || pr.LAN > 0
				out.punched = out.punched || pr.Punched > 0
				pairs[k] = out
			}
		}
	}
	for k, out := range pairs {
		var c PairCounts
		c.Pairs = 1
		switch {
		case out.direct:
			c.Direct = 1
		case out.punched:
			c.Punched = 1
		default:
			c.Unconnected = 1
		}
		rep.Pairs.add(c)
		ta, tb := r.listeners[k.a].link.nat, r.listeners[k.b].link.nat
		name := fmt.Sprintf("%s-%s", min(ta, tb), max(ta, tb))
		bn := rep.ByNAT[name]
		bn.add(c)
		rep.ByNAT[name] = bn
	}
	if n := int64(rep.Pairs.Pairs); n > 0 {
		rep.DirectShare = share(int64(rep.Pairs.Direct), n)
		rep.PunchedShare = share(int64(rep.Pairs.Punched), n)
		rep.UnconnectedShare = share(int64(rep.Pairs.Unconnected), n)
	}
	rep.TimeToPunchedMS = percentiles(punchMS)
	return rep
}

// NATComparison is one workload run three ways: behind NATs with
// traversal, behind NATs without, and without NATs.
type NATComparison struct {
	Traversal   *Report `json:"nat_traversal"`
	NoTraversal *Report `json:"nat_no_traversal"`
	NoNAT       *Report `json:"no_nat"`
}

// NATConfigs returns cfg's three runs for a NATComparison: cfg as it is
// (NATs by NetProfile.NAT, traversal on), the same without traversal,
// and the same without NATs.
func NATConfigs(cfg Config) (traversal, noTraversal, noNAT Config) {
	cfg.Mode = ModeP2P
	cfg.NoTraversal = false
	traversal, noTraversal, noNAT = cfg, cfg, cfg
	noTraversal.NoTraversal = true
	noNAT.Net.NAT = -1
	return traversal, noTraversal, noNAT
}

// Markdown renders the comparison as a table, one configuration a column.
func (c *NATComparison) Markdown() string {
	reps := []*Report{c.Traversal, c.NoTraversal, c.NoNAT}
	var sb strings.Builder
	if p := c.Traversal; p != nil && p.NAT != nil {
		fmt.Fprintf(&sb, "%d listeners, %d tracks, %s simulated, seed %d; %.0f%% of listeners behind NATs, %.0f%% behind symmetric ones\n\n",
			p.Listeners, p.Tracks, time.Duration(p.DurationS*float64(time.Second)).Round(time.Second), p.Seed,
			100*p.NAT.Share, 100*p.NAT.SymmetricShare)
	}
	sb.WriteString("| figure | NAT, traversal | NAT, no traversal | no NAT |\n|---|---:|---:|---:|\n")
	row := func(name, format string, get func(*Report) float64) {
		cells := []string{name}
		for _, r := range reps {
			v := math.NaN()
			if r != nil && r.NAT != nil {
				v = get(r)
			}
			if math.IsNaN(v) {
				cells = append(cells, "–")
			} else {
				cells = append(cells, fmt.Sprintf(format, v))
			}
		}
		sb.WriteString("| " + strings.Join(cells, " | ") + " |\n")
	}
	pct := "%.1f%%"
	row("bytes from origin", pct, func(r *Report) float64 { return 100 * r.OriginShare })
	row("bytes from peers", pct, func(r *Report) float64 { return 100 * r.PeerShare })
	row("bytes from cache", pct, func(r *Report) float64 { return 100 * r.CacheShare })
	row("origin egress per listener-hour (MB)", "%.1f", func(r *Report) float64 { return r.OriginEgressPerListenerHourMB })
	row("start latency p50 (ms)", "%.0f", func(r *Report) float64 { return r.StartLatencyMS.P50 })
	row("plays with stutter", pct, func(r *Report) float64 { return 100 * r.StutterShare })
	row("peer pairs", "%.0f", func(r *Report) float64 { return float64(r.NAT.Pairs.Pairs) })
	row("… connected directly", pct, func(r *Report) float64 { return 100 * r.NAT.DirectShare })
	row("… by punching", pct, func(r *Report) float64 { return 100 * r.NAT.PunchedShare })
	row("… not at all", pct, func(r *Report) float64 { return 100 * r.NAT.UnconnectedShare })
	punched := func(get func(Percentiles) float64) func(*Report) float64 {
		return func(r *Report) float64 {
			if r.NAT.TimeToPunchedMS.N == 0 {
				return math.NaN()
			}
			return get(r.NAT.TimeToPunchedMS)
		}
	}
	row("time to a punched connection p50 (ms)", "%.0f", punched(func(p Percentiles) float64 { return p.P50 }))
	row("time to a punched connection p90 (ms)", "%.0f", punched(func(p Percentiles) float64 { return p.P90 }))
	row("punched connections", "%.0f", func(r *Report) float64 { return float64(r.NAT.TimeToPunchedMS.N) })
	row("punches that made a hole (either side)", "%.0f", func(r *Report) float64 { return float64(r.NAT.PunchesOK) })
	row("punches that did not", "%.0f", func(r *Report) float64 { return float64(r.NAT.PunchesFailed) })
	if p := c.Traversal; p != nil && p.NAT != nil && len(p.NAT.ByNAT) > 0 {
		sb.WriteString("\nPeer pairs by their ends' NATs, with traversal (direct / punched / not at all):\n\n")
		for _, name := range slices.Sorted(maps.Keys(p.NAT.ByNAT)) {
			b := p.NAT.ByNAT[name]
			fmt.Fprintf(&sb, "- %s: %d pairs, %d / %d / %d\n", name, b.Pairs, b.Direct, b.Punched, b.Unconnected)
		}
	}
	return sb.String()
}
