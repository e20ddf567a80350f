package dht

import (
	"crypto/ed25519"
	"crypto/sha256"

	"github.com/potluckfm/potluck/track"
)

// Key returns the DHT key under which the holders of track id from the
// origin with public key originKey announce themselves:
//
//	SHA-256("potluck dht key v1" || 0x00 || originKey || id)[:20]
//
// The origin key is part of it, so two origins' swarms of the same file
// never mix, and nobody learns which track a key stands for without the
// origin's key.
func Key(originKey ed25519.PublicKey, id track.ID) [20]byte {
	h := sha256.New()
	h.Write([]byte("potluck dht key v1"))
	h.Write([]byte{0})
	h.Write(originKey)
	h.Write(id[:])
	var k [20]byte
	copy(k[:], h.Sum(nil))
	return k
}
