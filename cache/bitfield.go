package cache

import "math/bits"

// Bitfield records which chunks of a track are held: chunk i is bit
// (7 - i%8) of byte i/8, most significant bit first, as in BitTorrent. The
// same bytes are what the store keeps on disk and what the swarm announces.
// Bits past the track's last chunk are always zero.
type Bitfield []byte

// NewBitfield returns an empty bitfield for n chunks.
func NewBitfield(n int) Bitfield {
	if n < 0 {
		n = 0
	}
	return make(Bitfield, (n+7)/8)
}

// Has reports whether chunk i is set. Indexes out of range are not set.
func (b Bitfield) Has(i int) bool {
	return i >= 0 && i/8 < len(b) && b[i/8]&(0x80>>(i%8)) != 0
}

// Set sets chunk i. Indexes out of range are ignored.
func (b Bitfield) Set(i int) {
	if i >= 0 && i/8 < len(b) {
		b[i/8] |= 0x80 >> (i % 8)
	}
}

// unset clears chunk i. Indexes out of range are ignored.
func (b Bitfield) unset(i int) {
	if i >= 0 && i/8 < len(b) {
		b[i/8] &^= 0x80 >> (i % 8)
	}
}

// Count returns how many chunks are set.
func (b Bitfield) Count() int {
	n := 0
	for _, c := range b {
		n += bits.OnesCount8(c)
	}
	return n
}

// clone returns a copy of b.
func (b Bitfield) clone() Bitfield {
	if b == nil {
		return nil
	}
	return append(Bitfield{}, b...)
}

// trim clears the bits past chunk n-1, which a valid bitfield never has.
func (b Bitfield) trim(n int) {
	for i := n; i < len(b)*8; i++ {
		b.unset(i)
	}
}
