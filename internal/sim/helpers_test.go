package sim

import (
	"bytes"
	"crypto/ed25519"
	"io"
)

func testKey() ed25519.PrivateKey {
	_, key, _ := ed25519.GenerateKey(nil)
	return key
}

func bytesReader(b []byte) io.ReadSeeker { return bytes.NewReader(b) }

func ioCopyDiscard(r io.Reader) (int64, error) { return io.Copy(io.Discard, r) }
