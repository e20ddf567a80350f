package player

import (
	"context"
	"io"
	"sync"
	"time"
)

// pcmBlock is what a decodeLoop sends its owner: PCM of seek generation
// gen, or the end of the track (end, with err nil at a clean end).
type pcmBlock struct {
	gen int
	pcm []byte
	end bool
	err error
}

type seekRequest struct {
	gen int
	t   time.Duration
}

// decodeBlock is the PCM per block: one MPEG-1 frame's worth.
const decodeBlock = 1152 * BytesPerFrame

// decodeAhead is how many blocks the decoder may run ahead of the sink
// (about 200 ms at 44.1 kHz).
const decodeAhead = 8

// startBlocks is the size, in blocks, of the first block after a start or
// a seek: the sink gets about 50 ms at once, so that its clock does not
// outrun the decoder while it has no audio ahead yet.
const startBlocks = 2

// decodeLoop is the goroutine that reads and decodes one play's Source.
// It is the only reader of the Source. Its owner (the Player's goroutine)
// asks it to seek with request; it applies the request between reads, and
// a read that a request interrupts is dropped. It stops when its context
// is cancelled; the owner then closes the Source, which unblocks a Read.
type decodeLoop struct {
	dec  *Decoder
	out  chan pcmBlock
	wake chan struct{}
	done chan struct{}

	mu  sync.Mutex
	req *seekRequest // pending, applied by run
}

func newDecodeLoop(dec *Decoder, first seekRequest) *decodeLoop {
	l := &decodeLoop{
		dec:  dec,
		out:  make(chan pcmBlock, decodeAhead),
		wake: make(chan struct{}, 1),
		done: make(chan struct{}),
		req:  &first,
	}
	dec.fr.interrupt = l.pending
	return l
}

// request asks for a seek; it replaces a request not yet applied. Before
// the loop can take the request up, it calls moveSource (if not nil): the
// owner's move of the Source that wakes a Read blocked at the old
// position. Done later, that move could land after the loop's own seek
// and the reads that follow it, and put the Source out of step with the
// frames the decoder expects.
func (l *decodeLoop) request(r seekRequest, moveSource func()) {
	l.mu.Lock()
	l.req = &r
	if moveSource != nil {
		moveSource()
	}
	l.mu.Unlock()
	select {
	case l.wake <- struct{}{}:
	default:
	}
}

func (l *decodeLoop) pending() bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.req != nil
}

func (l *decodeLoop) take() *seekRequest {
	l.mu.Lock()
	defer l.mu.Unlock()
	r := l.req
	l.req = nil
	return r
}

func (l *decodeLoop) run(ctx context.Context) {
	defer close(l.done)
	gen, ended, fresh := 0, false, true
	for ctx.Err() == nil {
		if r := l.take(); r != nil {
			gen, ended, fresh = r.gen, false, true
			if err := l.dec.Seek(r.t); err != nil {
				ended = l.send(ctx, pcmBlock{gen: gen, end: true, err: err})
			}
			continue
		}
		if ended {
			select {
			case <-ctx.Done():
			case <-l.wake:
			}
			continue
		}
		// Whole blocks: the first read after a seek may yield a few
		// samples only, too little to keep a sink going.
		size := decodeBlock
		if fresh {
			size *= startBlocks
		}
		buf := make([]byte, size)
		n, err := 0, error(nil)
		for n < len(buf) && err == nil {
			var k int
			k, err = l.dec.Read(buf[n:])
			n += k
		}
		if err == errInterrupted {
			continue // a seek is pending
		}
		fresh = false
		if n > 0 && !l.send(ctx, pcmBlock{gen: gen, pcm: buf[:n]}) {
			continue
		}
		if err != nil {
			if err == io.EOF {
				err = nil
			}
			ended = l.send(ctx, pcmBlock{gen: gen, end: true, err: err})
		}
	}
}

// send hands b to the owner. It reports false if a seek request or the
// end of the loop came first: b is stale then and dropped.
func (l *decodeLoop) send(ctx context.Context, b pcmBlock) bool {
	for {
		select {
		case l.out <- b:
			return true
		case <-ctx.Done():
			return false
		case <-l.wake:
			if l.pending() {
				return false
			}
			// A wake-up for a request already taken: go on waiting.
		}
	}
}
