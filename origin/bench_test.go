package origin

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/potluckfm/potluck/assets"
)

// BenchmarkScanLibrary measures how fast a library is indexed: read, frame
// index, chunk hashes, tags and signatures. MB/s is of MP3 bytes scanned.
func BenchmarkScanLibrary(b *testing.B) {
	var total int64
	for _, f := range demoFiles(b) {
		total += int64(len(f))
	}
	key := testKey(b)
	b.SetBytes(total)
	for b.Loop() {
		if _, err := ScanLibrary(context.Background(), assets.Demo(), key, ScanOptions{}); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkServeChunks measures chunk serving over loopback with 1 and 50
// concurrent clients, each on its own connection. MB/s is of chunk bytes
// delivered and verified; chunks/s is reported too.
func BenchmarkServeChunks(b *testing.B) {
	for _, tr := range []Transport{TransportQUIC, TransportTCP} {
		for _, clients := range []int{1, 50} {
			b.Run(fmt.Sprintf("transport=%s/clients=%d", tr, clients), func(b *testing.B) {
				benchServe(b, tr, clients)
			})
		}
	}
}

func benchServe(b *testing.B, tr Transport, clients int) {
	s := startOrigin(b, "", nil)
	ctx := context.Background()
	entries := s.Catalog().Entries()
	cs := make([]*Client, clients)
	for i := range cs {
		cs[i] = newTestClient(b, s.URL(), tr)
		// Connect before timing starts.
		if _, err := cs[i].Chunk(ctx, entries[0].Manifest, 0); err != nil {
			b.Fatal(err)
		}
	}
	var next atomic.Int64
	var bytes atomic.Int64
	b.ResetTimer()
	var wg sync.WaitGroup
	for ci := range cs {
		wg.Go(func() {
			for {
				n := int(next.Add(1)) - 1
				if n >= b.N {
					return
				}
				m := entries[n%len(entries)].Manifest
				chunk, err := cs[ci].Chunk(ctx, m, (n/len(entries))%m.NumChunks())
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
