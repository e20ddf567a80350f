// Package peerid derives a node's peer ID from its Ed25519 public key. The
// peer protocol (package swarm) and the tracker (package origin) both name
// nodes this way (and both speak the peer protocol's TLS, ALPN), so the ID a node proves on one is the ID it proves on the
// other.
package peerid

import (
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/base32"
	"strings"
)

// ALPN is the peer protocol's TLS application protocol; its suffix is the
// protocol version. The origin speaks it only to prove that a node answers
// at the address it announced (a connect-back).
const ALPN = "potluck-peer/1"

var encoding = base32.StdEncoding.WithPadding(base32.NoPadding)

// FromKey is the first 20 bytes of SHA-256 of pub, in lower-case base32
// without padding (32 characters).
func FromKey(pub ed25519.PublicKey) string {
	sum := sha256.Sum256(pub)
	return strings.ToLower(encoding.EncodeToString(sum[:20]))
}
