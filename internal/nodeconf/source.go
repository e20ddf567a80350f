package nodeconf

import (
	"context"

	"github.com/potluckfm/potluck/player"
	"github.com/potluckfm/potluck/swarm"
	"github.com/potluckfm/potluck/track"
)

// Source is a swarm Stream as the player reads it: a player.StatsSource.
type Source struct{ *swarm.Stream }

var _ player.StatsSource = Source{}

// SourceStats implements player.StatsSource.
func (s Source) SourceStats() player.SourceStats { return SourceStats(s.Stats()) }

// SourceStats is a Stream's Stats as the player reports them.
func SourceStats(st swarm.Stats) player.SourceStats {
	return player.SourceStats{
		FromCache: st.FromCache, FromPeers: st.FromPeers, FromOrigin: st.FromOrigin,
		Peers: st.Peers, FirstByte: st.FirstByte, Dropped: st.Dropped,
	}
}

// Opener opens tracks as Streams of n, in swarm.ModePlay (chunk deadlines
// follow the position the player reports); a prefetch is a swarm.Prefetch. opened, if set, is told of
// each Stream it opens.
func Opener(n *swarm.Node, opened func(track.ID, *swarm.Stream)) player.Opener {
	return player.OpenFunc(func(ctx context.Context, id track.ID) (player.Source, error) {
		if player.IsPrefetch(ctx) {
			ctx = swarm.Prefetch(ctx)
		}
		s, err := n.Open(ctx, id, swarm.ModePlay)
		if err != nil {
			return nil, err
		}
		if opened != nil {
			opened(id, s)
		}
		return Source{s}, nil
	})
}
