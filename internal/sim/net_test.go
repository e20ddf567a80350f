package sim

import (
	"encoding/binary"
	"testing"
	"testing/synctest"
	"time"
)

// TestNetwork checks the link model: a packet between two listeners takes
// the sum of their access delays, and each link loses its share each way.
func TestNetwork(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		cfg := Config{Net: NetProfile{Loss: 0.1, Jitter: -1}}.withDefaults()
		nw := newNetwork(cfg)
		a := nw.newEndpoint(linkSpec{down: 10 * Mbps, up: 10 * Mbps, delay: 10 * time.Millisecond, loss: 0.1}, false, 1)
		b := nw.newEndpoint(linkSpec{down: 10 * Mbps, up: 10 * Mbps, delay: 25 * time.Millisecond, loss: 0.1}, false, 2)
		nw.sn.Start()
		defer nw.sn.Close()
		defer a.Close()
		defer b.Close()

		const n = 2000
		got := make(chan time.Duration, n)
		go func() {
			buf := make([]byte, 1500)
			for {
				if _, _, err := b.ReadFrom(buf); err != nil {
					close(got)
					return
				}
				got <- time.Since(time.Unix(0, int64(binary.BigEndian.Uint64(buf))))
			}
		}()
		pkt := make([]byte, 100)
		for range n {
			binary.BigEndian.PutUint64(pkt, uint64(time.Now().UnixNano()))
			a.WriteTo(pkt, b.LocalAddr())
			time.Sleep(time.Millisecond) // well under both links' rates
		}
		time.Sleep(time.Second)
		b.Close()
		var recv int
		var minDelay time.Duration = time.Hour
		for d := range got {
			recv++
			minDelay = min(minDelay, d)
		}
		// Both links lose 10%: 81% arrive.
		if share := float64(recv) / n; share < 0.77 || share > 0.85 {
			t.Errorf("%d of %d packets arrived (%.1f%%), want about 81%%", recv, n, 100*share)
		}
		if minDelay < 35*time.Millisecond || minDelay > 36*time.Millisecond {
			t.Errorf("one-way delay %s, want 35ms (10ms + 25ms)", minDelay)
		}
		if sent := nw.peerBytes.Load(); sent != n*100 {
			t.Errorf("counted %d bytes sent, want %d", sent, n*100)
		}
	})
}
