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
