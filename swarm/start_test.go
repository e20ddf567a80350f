package swarm

import (
	"context"
	"io"
	"slices"
	"sync/atomic"
	"testing"
	"time"
)

// fakeStart is a start response that brings the chunks idx, then ends.
type fakeStart struct {
	idx    []int
	closed atomic.Bool
}

func (f *fakeStart) Next() (int, []byte, error) {
	if len(f.idx) == 0 {
		return 0, nil, io.EOF
	}
	i := f.idx[0]
	f.idx = f.idx[1:]
	return i, []byte{byte(i)}, nil
}

func (f *fakeStart) Close() error { f.closed.Store(true); return nil }

// TestStartPartsEndWhateverTheOriginSends: an origin whose start brings
// chunks before the first audio (verified, but not asked for) can neither
// pass them on nor hold the reader once its taker is gone; the reader
// ends and closes the response.
func TestStartPartsEndWhateverTheOriginSends(t *testing.T) {
	const from, end = 3, 5
	read := func(ctx context.Context) (*fakeStart, chan startPart, chan struct{}) {
		src := &fakeStart{idx: []int{0, 1, 2, 3, 4}}
		parts := make(chan startPart, end-from+1) // as manifestAndFirst makes it
		done := make(chan struct{})
		go func() { defer close(done); readStartParts(ctx, src, from, end, parts) }()
		return src, parts, done
	}

	// Nobody takes the parts: the taker ended (and cancelled).
	ctx, cancel := context.WithCancel(context.Background())
	src, _, done := read(ctx)
	time.Sleep(50 * time.Millisecond) // let it fill what it can
	cancel()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("the start's reader is still blocked after its context ended")
	}
	if !src.closed.Load() {
		t.Error("the start response was not closed")
	}

	// Someone takes them: no chunk outside from..end comes, and the
	// stray one ends the response with an error.
	_, parts, done := read(context.Background())
	var errs int
	for p := range parts {
		if p.err != nil {
			errs++
			continue
		}
		if p.i < from || p.i >= end {
			t.Errorf("chunk %d passed on from a start of chunks %d to %d", p.i, from, end-1)
		}
	}
	<-done
	if errs != 1 {
		t.Errorf("%d error parts, want 1 (the chunk not asked for)", errs)
	}

	// Chunks past those asked (a node older than START's packed bit
	// sends 4) end the response cleanly, after the ones asked.
	src = &fakeStart{idx: []int{3, 4, 5, 6}}
	parts2 := make(chan startPart, end-from+1)
	readStartParts(context.Background(), src, from, end, parts2)
	var got []int
	for p := range parts2 {
		if p.err != nil {
			t.Errorf("chunks past those asked: error part %v", p.err)
		}
		got = append(got, p.i)
	}
	if !slices.Equal(got, []int{3, 4}) || !src.closed.Load() {
		t.Errorf("chunks past those asked: passed on %v (closed %v), want [3 4] and the response closed", got, src.closed.Load())
	}
}
