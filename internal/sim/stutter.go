package sim

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/potluckfm/potluck/track"
)

// underrunEvent is one time a listener's sink ran dry, as its player
// logged it.
type underrunEvent struct {
	track track.ID
	at    time.Duration // since the run started, simulated
	pos   time.Duration // in the track (audio time)
	dry   time.Duration // how long the sink had been dry (wall time)
}

// underrunTap is the slog.Handler of a listener's player: it keeps the
// player's "underrun" debug records (track, position, how long the sink
// was dry), so that a play with stutter says when it ran dry, and passes
// every record on to the run's logger as that logger's level says.
type underrunTap struct {
	slog.Handler
	l *listener
}

const underrunMsg = "underrun" // the player's debug message (player.loop)

func (h underrunTap) Enabled(ctx context.Context, level slog.Level) bool {
	return level >= slog.LevelDebug || h.Handler.Enabled(ctx, level)
}

func (h underrunTap) Handle(ctx context.Context, rec slog.Record) error {
	if rec.Message == underrunMsg {
		ev := underrunEvent{at: h.l.r.cfg.simTime(time.Since(h.l.r.start))}
		rec.Attrs(func(a slog.Attr) bool {
			switch a.Key {
			case "track":
				if id, ok := a.Value.Any().(track.ID); ok {
					ev.track = id
				}
			case "at":
				if a.Value.Kind() == slog.KindDuration {
					ev.pos = a.Value.Duration()
				}
			case "dry":
				if a.Value.Kind() == slog.KindDuration {
					ev.dry = a.Value.Duration()
				}
			}
			return true
		})
		h.l.mu.Lock()
		h.l.underruns = append(h.l.underruns, ev)
		h.l.mu.Unlock()
	}
	if !h.Handler.Enabled(ctx, rec.Level) {
		return nil
	}
	return h.Handler.Handle(ctx, rec)
}

func (h underrunTap) WithAttrs(as []slog.Attr) slog.Handler {
	return underrunTap{h.Handler.WithAttrs(as), h.l}
}

func (h underrunTap) WithGroup(name string) slog.Handler {
	return underrunTap{h.Handler.WithGroup(name), h.l}
}

// takeUnderruns returns the listener's underruns of track id not yet
// taken, and forgets them: the ones of the play of id that just ended.
func (l *listener) takeUnderruns(id track.ID) []underrunEvent {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []underrunEvent
	kept := l.underruns[:0]
	for _, e := range l.underruns {
		if e.track == id {
			out = append(out, e)
		} else {
			kept = append(kept, e)
		}
	}
	l.underruns = kept
	return out
}

// stallEvent is one read of a stream that blocked past the audio the
// player holds.
type stallEvent struct {
	at      time.Duration // since the run started, simulated
	blocked time.Duration // the read's time, wall time
}

// maxStallEvents bounds the stalls a play keeps the times of.
const maxStallEvents = 5

// stutterRecord says why a play ran dry: which track, when, and whether
// its stream stalled (the network) or not (the sink or the decoder: the
// CPU). It is one line of Report.Stutters.
func (r *run) stutterRecord(p PlayRecord) string {
	sim := r.cfg.simTime
	ms := func(d time.Duration) string { return fmt.Sprintf("%.0f ms", float64(d)/float64(time.Millisecond)) }
	var sb strings.Builder
	fmt.Fprintf(&sb, "listener %d, track %s (%s", p.Listener, p.Track, p.Kind)
	switch {
	case p.Prefetched:
		sb.WriteString(", prefetched")
	case p.Resumed:
		sb.WriteString(", restored after a restart")
	}
	fmt.Fprintf(&sb, "), opened at %s of the run: %d underrun(s), %s dry", p.OpenedAt.Round(time.Millisecond),
		p.Stats.Underruns, ms(sim(p.Stats.UnderrunTime)))
	for i, u := range p.UnderrunEvents {
		if i == 0 {
			sb.WriteString(" (")
		} else {
			sb.WriteString("; ")
		}
		fmt.Fprintf(&sb, "at %s of the run, %s into the track, after %s dry", u.at.Round(time.Millisecond),
			u.pos.Round(time.Millisecond), ms(sim(u.dry)))
		if i == len(p.UnderrunEvents)-1 {
			sb.WriteString(")")
		}
	}
	if p.Stalls > 0 {
		fmt.Fprintf(&sb, "; cause: the network, %d read(s) of its stream blocked past the %s of audio the player holds, %s beyond it in all",
			p.Stalls, ms(sim(p.StallLimit)), ms(sim(p.StallTime)))
		for i, s := range p.StallEvents {
			if i == 0 {
				sb.WriteString(" (")
			} else {
				sb.WriteString("; ")
			}
			fmt.Fprintf(&sb, "a read that ended at %s of the run blocked %s", s.at.Round(time.Millisecond), ms(sim(s.blocked)))
			if i == len(p.StallEvents)-1 {
				sb.WriteString(")")
			}
		}
	} else {
		sb.WriteString("; cause: not the network (no read of its stream blocked past the audio the player holds): the sink was not fed in time, for want of CPU or by the decode loop")
	}
	if p.Interrupted {
		sb.WriteString("; the listener left during the play")
	}
	return sb.String()
}
