package sim

import (
	"context"
	"fmt"
	"strings"
)

// Scale runs cfg at each swarm size in sizes, in both modes, one run after
// another, and returns the reports. It stops at the first error.
func Scale(ctx context.Context, cfg Config, sizes []int) ([]ScalePoint, error) {
	var out []ScalePoint
	for _, n := range sizes {
		pt := ScalePoint{Listeners: n}
		for _, mode := range []Mode{ModeP2P, ModeClientServer} {
			c := cfg
			c.Listeners, c.Mode = n, mode
			rep, _, err := Run(ctx, c)
			if err != nil {
				return out, fmt.Errorf("%d listeners, %s: %w", n, mode, err)
			}
			if mode == ModeP2P {
				pt.P2P = rep
			} else {
				pt.Baseline = rep
			}
		}
		out = append(out, pt)
	}
	return out, nil
}

// ScalingMarkdown renders the origin's load at each swarm size as a table.
func ScalingMarkdown(points []ScalePoint) string {
	var sb strings.Builder
	sb.WriteString("| listeners | origin egress, client-server (Mbit/s) | origin egress, Potluck (Mbit/s) | Potluck ÷ client-server | origin MB per listener-hour, client-server | origin MB per listener-hour, Potluck | origin share, client-server | origin share, Potluck | peer traffic on the wire, Potluck (Mbit/s) | chunk bytes peers uploaded, Potluck (Mbit/s) | plays with stutter, client-server | plays with stutter, Potluck |\n")
	sb.WriteString("|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n")
	for _, pt := range points {
		p, b := pt.P2P, pt.Baseline
		if p == nil || b == nil {
			continue
		}
		pe, be := mbps(p.OriginEgressBytes, p), mbps(b.OriginEgressBytes, b)
		ratio := "–"
		if be > 0 {
			ratio = fmt.Sprintf("%.2f", pe/be)
		}
		fmt.Fprintf(&sb, "| %d | %.2f | %.2f | %s | %.1f | %.1f | %.1f%% | %.1f%% | %.2f | %.2f | %.1f%% | %.1f%% |\n",
			pt.Listeners, be, pe, ratio, b.OriginEgressPerListenerHourMB, p.OriginEgressPerListenerHourMB,
			100*b.OriginShare, 100*p.OriginShare, mbps(p.PeerTrafficBytes, p), mbps(p.PeerServedBytes, p),
			100*b.StutterShare, 100*p.StutterShare)
	}
	return sb.String()
}
