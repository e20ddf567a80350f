package sim

import (
	"runtime"
	"runtime/metrics"
	"sync"
)

// memPeak tracks the peak of the Go runtime's memory in use: everything it
// mapped less what it returned to the OS (about the process's RSS).
type memPeak struct {
	mu   sync.Mutex
	peak int64
	// goroutines is the peak of the process's goroutines.
	goroutines int
}

var memSamples = []metrics.Sample{
	{Name: "/memory/classes/total:bytes"},
	{Name: "/memory/classes/heap/released:bytes"},
}

func (m *memPeak) sample() {
	s := make([]metrics.Sample, len(memSamples))
	copy(s, memSamples)
	metrics.Read(s)
	if s[0].Value.Kind() != metrics.KindUint64 || s[1].Value.Kind() != metrics.KindUint64 {
		return
	}
	used := int64(s[0].Value.Uint64() - s[1].Value.Uint64())
	g := runtime.NumGoroutine()
	m.mu.Lock()
	m.peak = max(m.peak, used)
	m.goroutines = max(m.goroutines, g)
	m.mu.Unlock()
}
