package mp3index

import (
	"fmt"
	"io"
)

// blockSize is how much source reads at a time.
const blockSize = 256 << 10

// source reads a file through a window buffer, in large blocks, so that
// walking the frames costs no call to the reader per frame.
type source struct {
	r     io.ReaderAt
	size  int64
	block int // bytes to read at a time
	buf   []byte
	off   int64 // file offset of buf[0]
	n     int   // valid bytes in buf
}

func newSource(r io.ReaderAt, size int64, block int) *source {
	return &source{r: r, size: size, block: block, buf: make([]byte, min(size, int64(block)))}
}

// bytes returns the n bytes at off, or fewer if the file ends before them
// (none if off is past the end). The slice is valid until the next call.
func (s *source) bytes(off int64, n int) ([]byte, error) {
	if off < 0 || off >= s.size || n <= 0 {
		return nil, nil
	}
	n = int(min(int64(n), s.size-off))
	if off >= s.off && off+int64(n) <= s.off+int64(s.n) {
		i := int(off - s.off)
		return s.buf[i : i+n], nil
	}
	if n > len(s.buf) {
		s.buf = make([]byte, n)
	}
	m := int(min(int64(len(s.buf)), s.size-off))
	k, err := s.r.ReadAt(s.buf[:m], off)
	if k < m {
		s.n = 0
		if err == nil || err == io.EOF {
			err = io.ErrUnexpectedEOF
		}
		return nil, fmt.Errorf("mp3index: reading %d bytes at offset %d: %w", m, off, err)
	}
	s.off, s.n = off, m
	return s.buf[:n], nil
}
