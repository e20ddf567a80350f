package nodeconf

import (
	"context"
	"testing"
	"time"

	"github.com/potluckfm/potluck/internal/testorigin"
	"github.com/potluckfm/potluck/origin"
	"github.com/potluckfm/potluck/swarm"
)

// The port mapper runs in the background: Start is not held up by the
// search for a router, PortMapped says when its first attempt ended, and
// Close stops it.
func TestPortMapInBackground(t *testing.T) {
	srv := testorigin.Start(t)
	c := origin.NewClient(srv.URL(), origin.ClientOptions{})
	t.Cleanup(func() { c.Close() })
	start := time.Now()
	n, err := Start(context.Background(), Options{Dir: t.TempDir(), NoLAN: true}, swarm.Config{Origin: c, Listen: "127.0.0.1:0", NoAnnounce: true, Logger: quiet()})
	if err != nil {
		t.Fatal(err)
	}
	if d := time.Since(start); d > time.Second {
		t.Errorf("Start took %v", d)
	}
	if n.mapper == nil {
		t.Fatal("no port mapper")
	}
	select {
	case <-n.PortMapped():
	case <-time.After(mapWait + time.Second):
		t.Fatal("the mapper's first attempt did not end in time")
	}
	t.Logf("mapping after %v: %v; reachability %+v", time.Since(start).Round(time.Millisecond), n.mapper.Mapping().State, n.Reachability())
	start = time.Now()
	if err := n.Close(); err != nil {
		t.Fatal(err)
	}
	if d := time.Since(start); d > 6*time.Second {
		t.Errorf("Close took %v", d)
	}
}
