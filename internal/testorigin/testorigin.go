// Package testorigin starts an origin for a test: the embedded demo
// library on loopback (real QUIC and TCP), with a fresh key and no logs.
package testorigin

import (
	"context"
	"crypto/ed25519"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/potluckfm/potluck/assets"
	"github.com/potluckfm/potluck/origin"
)

// Start starts the origin; it stops with the test.
func Start(t testing.TB) *origin.Server {
	t.Helper()
	_, key, err := ed25519.GenerateKey(nil)
	if err != nil {
		t.Fatal(err)
	}
	srv, err := origin.Start(context.Background(), origin.Config{
		Library: assets.Demo(), Key: key, Listen: "127.0.0.1:0",
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
		defer cancel()
		srv.Shutdown(ctx)
	})
	return srv
}
