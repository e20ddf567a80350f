package swarm

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
)

// BenchmarkPeerChunks measures chunk transfer from one peer to another over
// loopback QUIC, 4 requests in flight as the scheduler does. MB/s is of
// chunk bytes delivered and verified.
func BenchmarkPeerChunks(b *testing.B) {
	ts := newTestSwarm(b)
	m, _ := ts.track()
	a := ts.seed(m, nil)
	c := ts.node(nil)
	ctx := context.Background()
	pc, err := c.conn(ctx, PeerAddr{ID: a.ID(), Addr: a.Addr().String()})
	if err != nil {
		b.Fatal(err)
	}
	var next atomic.Int64
	var bytes atomic.Int64
	b.ResetTimer()
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			for {
				n := int(next.Add(1)) - 1
				if n >= b.N {
					return
				}
				i := n % m.NumChunks()
				_, size := m.ChunkBounds(i)
				chunk, err := pc.chunk(ctx, m.ID, i, size, PriorityPlaying)
				if err == nil {
					err = m.VerifyChunk(i, chunk)
				}
				if err != nil {
					b.Error(err)
					return
				}
				bytes.Add(int64(len(chunk)))
			}
		})
	}
	wg.Wait()
	b.StopTimer()
	b.SetBytes(bytes.Load() / int64(max(b.N, 1)))
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "chunks/s")
}

// BenchmarkOriginBytesPerFetch measures what one fetch costs the origin as
// the number of peers holding the track grows. Each iteration is a new
// node fetching the whole track.
func BenchmarkOriginBytesPerFetch(b *testing.B) {
	for _, holders := range []int{1, 5, 20} {
		b.Run(fmt.Sprintf("holders=%d", holders), func(b *testing.B) {
			ts := newTestSwarm(b)
			m, _ := ts.track()
			for range holders {
				ts.seed(m, nil)
			}
			var origin, peers int64
			b.ResetTimer()
			for range b.N {
				n := ts.node(nil)
				_, st := fetch(b, n, m.ID)
				origin += st.FromOrigin
				peers += st.FromPeers
				n.Close()
			}
			b.ReportMetric(float64(origin)/float64(b.N), "origin-B/fetch")
			b.ReportMetric(100*float64(origin)/float64(int64(b.N)*m.Size), "origin-%")
			b.ReportMetric(100*float64(peers)/float64(int64(b.N)*m.Size), "peer-%")
		})
	}
}
