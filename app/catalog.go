package app

import (
	"context"

	"github.com/potluckfm/potluck/origin"
	"github.com/potluckfm/potluck/track"
)

// OriginCatalog is the Catalog of an origin, through its client.
type OriginCatalog struct{ Client *origin.Client }

// Tracks lists the origin's catalogue.
func (c OriginCatalog) Tracks(ctx context.Context) ([]origin.TrackInfo, error) {
	return c.Client.Tracks(ctx, "")
}

// Cover fetches a track's cover art.
func (c OriginCatalog) Cover(ctx context.Context, id track.ID) ([]byte, error) {
	b, _, err := c.Client.Cover(ctx, id)
	return b, err
}

// CatalogueNode is what NodeCatalog needs of a swarm node; *swarm.Node
// has it.
type CatalogueNode interface {
	Catalogue(ctx context.Context) ([]origin.TrackInfo, bool, error)
	Cover(ctx context.Context, id track.ID) ([]byte, error)
	Playable(id track.ID) bool
}

// NodeCatalog is the Catalog of a swarm node: the origin's catalogue while
// the origin answers; else the one the node kept or its peers pass on,
// and covers from the node's store or its peers. It is an OfflineCatalog.
type NodeCatalog struct{ Node CatalogueNode }

var _ OfflineCatalog = NodeCatalog{}

// Tracks lists the catalogue, from the origin or the node's copy.
func (c NodeCatalog) Tracks(ctx context.Context) ([]origin.TrackInfo, error) {
	t, _, err := c.Node.Catalogue(ctx)
	return t, err
}

// Catalogue lists the catalogue and reports whether the origin answered.
func (c NodeCatalog) Catalogue(ctx context.Context) ([]origin.TrackInfo, bool, error) {
	return c.Node.Catalogue(ctx)
}

// Cover returns a track's cover art, from the node's store, the origin or
// a peer.
func (c NodeCatalog) Cover(ctx context.Context, id track.ID) ([]byte, error) {
	return c.Node.Cover(ctx, id)
}

// Playable reports whether the node's cache holds the track whole.
func (c NodeCatalog) Playable(id track.ID) bool { return c.Node.Playable(id) }
