package sim

import (
	"context"
	"log/slog"
)

// quietCancels is a slog.Handler that drops the origin's logs of requests
// that failed because the client went away or cancelled them: a swarm node
// cancels origin requests whenever a peer delivers first or a play ends,
// and in a churn benchmark listeners leave mid-request all the time, so
// the origin's error lines about them are noise here.
type quietCancels struct{ slog.Handler }

func (h quietCancels) Handle(ctx context.Context, r slog.Record) error {
	if r.Message == "request failed" {
		return nil
	}
	return h.Handler.Handle(ctx, r)
}

func (h quietCancels) WithAttrs(as []slog.Attr) slog.Handler {
	return quietCancels{h.Handler.WithAttrs(as)}
}

func (h quietCancels) WithGroup(name string) slog.Handler {
	return quietCancels{h.Handler.WithGroup(name)}
}
