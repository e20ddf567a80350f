package swarm

import (
	"context"

	"github.com/potluckfm/potluck/origin"
	"github.com/potluckfm/potluck/track"
)

// Origin is what a Node needs of the origin its swarm belongs to:
// manifests, chunks, the tracker. *origin.Client implements it.
type Origin interface {
	// Manifest returns a track's manifest, verified, and its signed bytes.
	Manifest(ctx context.Context, id track.ID) (*track.Manifest, []byte, error)
	// Chunk returns chunk i of the track m describes, verified against m.
	Chunk(ctx context.Context, m *track.Manifest, i int) ([]byte, error)
	// Announce lists the node with the tracker.
	Announce(ctx context.Context, req origin.AnnounceRequest) (origin.AnnounceResponse, error)
	// Peers asks the tracker for up to n peers holding id, other than self.
	Peers(ctx context.Context, id track.ID, self string, n int) ([]origin.PeerInfo, error)
	// URL is the origin's address and the key manifests are signed with.
	URL() origin.URL
}

var _ Origin = (*origin.Client)(nil)

// originID is the scheduler's name of the origin among its sources.
const originID PeerID = ""

// chunkSource is anywhere chunks come from, to the scheduler's executor:
// the origin, or a peer however it was found (the tracker, a neighbour
// search, peer exchange). What the decision needs of a peer (its map, its
// rate, whether it still answers) reaches it in the snapshot.
type chunkSource interface {
	// sourceID is the peer's ID, or originID.
	sourceID() PeerID
	// fetchChunk returns chunk i of m, verified against m.
	fetchChunk(ctx context.Context, m *track.Manifest, i int, prio byte) ([]byte, error)
}

func (c *peerConn) sourceID() PeerID { return c.id }

func (c *peerConn) fetchChunk(ctx context.Context, m *track.Manifest, i int, prio byte) ([]byte, error) {
	_, size := m.ChunkBounds(i)
	b, err := c.chunk(ctx, m.ID, i, size, prio)
	if err == nil {
		err = m.VerifyChunk(i, b)
	}
	return b, err
}

// deliveryRate is the measured rate of c's answers in bytes/s; 0 if
// untried.
func (c *peerConn) deliveryRate() float64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.rate
}

// alive reports whether c can still be asked.
func (c *peerConn) alive() bool { return c.conn.Context().Err() == nil }

// originSource is the origin as a chunk source.
type originSource struct{ o Origin }

func (o originSource) sourceID() PeerID { return originID }

func (o originSource) fetchChunk(ctx context.Context, m *track.Manifest, i int, _ byte) ([]byte, error) {
	return o.o.Chunk(ctx, m, i)
}
