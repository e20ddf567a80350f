package track

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"fmt"
)

// IDLen is the length of a track ID in bytes.
const IDLen = 16

// ID names a track by its content: the first IDLen bytes of a SHA-256 over
// the file's size, chunk size and chunk hashes (see DeriveID). The same file
// gets the same ID on every origin, across restarts and rescans, and an ID
// cannot be attached to other bytes.
type ID [IDLen]byte

// DeriveID returns the ID of a file of the given size, cut into chunks of
// chunkSize bytes whose SHA-256 hashes are hashes.
func DeriveID(size int64, chunkSize int, hashes []Hash) ID {
	h := sha256.New()
	h.Write([]byte("potluck track id v1\x00"))
	var buf [16]byte
	binary.BigEndian.PutUint64(buf[:8], uint64(size))
	binary.BigEndian.PutUint64(buf[8:], uint64(chunkSize))
	h.Write(buf[:])
	for _, c := range hashes {
		h.Write(c[:])
	}
	var id ID
	copy(id[:], h.Sum(nil))
	return id
}

// ParseID parses the lower-case hex form of an ID, as String writes it.
func ParseID(s string) (ID, error) {
	var id ID
	if len(s) != 2*IDLen {
		return id, fmt.Errorf("track id %q: want %d hex digits", s, 2*IDLen)
	}
	if _, err := hex.Decode(id[:], []byte(s)); err != nil {
		return id, fmt.Errorf("track id %q: %w", s, err)
	}
	if hex.EncodeToString(id[:]) != s {
		return id, fmt.Errorf("track id %q: not lower-case hex", s)
	}
	return id, nil
}

// String returns the ID as lower-case hex.
func (id ID) String() string { return hex.EncodeToString(id[:]) }

// IsZero reports whether id is the zero ID, which names no track.
func (id ID) IsZero() bool { return id == ID{} }

// MarshalText implements encoding.TextMarshaler.
func (id ID) MarshalText() ([]byte, error) { return []byte(id.String()), nil }

// UnmarshalText implements encoding.TextUnmarshaler.
func (id *ID) UnmarshalText(b []byte) error {
	v, err := ParseID(string(b))
	if err != nil {
		return err
	}
	*id = v
	return nil
}

// Hash is the SHA-256 of one chunk.
type Hash [sha256.Size]byte

// HashChunk returns the Hash of a chunk's bytes.
func HashChunk(b []byte) Hash { return sha256.Sum256(b) }

// String returns the hash as lower-case hex.
func (h Hash) String() string { return hex.EncodeToString(h[:]) }

// MarshalText implements encoding.TextMarshaler.
func (h Hash) MarshalText() ([]byte, error) { return []byte(h.String()), nil }

// UnmarshalText implements encoding.TextUnmarshaler.
func (h *Hash) UnmarshalText(b []byte) error {
	if len(b) != 2*len(h) {
		return fmt.Errorf("chunk hash: want %d hex digits, got %d", 2*len(h), len(b))
	}
	_, err := hex.Decode(h[:], b)
	return err
}
