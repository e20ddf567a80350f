package track

import (
	"bytes"
	"crypto/ed25519"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
)

// A packed manifest is a signed manifest (as Sign writes it) in the form
// the start of a play sends it, where every byte before the first chunk
// delays the first sound: the chunk hashes travel as raw bytes instead of
// hex, and the seek table as varint deltas instead of decimal pairs. For
// a 3m30s track that is about 7 KB compressed instead of 11 KB.
//
// It holds the signature and what rebuilds the exact bytes the origin
// signed: the manifest's JSON with the two arrays emptied (the skeleton),
// and where each goes back. UnpackSigned rebuilds them and the caller
// checks them with Open as any signed manifest, so a packed manifest can
// say nothing the origin did not sign; fields a newer origin adds stay in
// the skeleton untouched.
//
// Layout: a version byte, the 64-byte signature, then uvarints: the
// skeleton's length and bytes; where the hashes go, their count and
// 32 bytes each; where the seek table goes, its count and per point the
// sample and offset steps from the point before (from 0 for the first).
const packedVersion = 1

var (
	hashesKey = []byte(`"chunk_hashes":[`)
	seekKey   = []byte(`"seek":[`)
)

// PackSigned packs a signed manifest. It fails if signed does not parse,
// or if its JSON is not in the form this package renders (the packed form
// would not rebuild it byte for byte); the caller sends it unpacked then.
func PackSigned(signed []byte) ([]byte, error) {
	var s Signed
	if err := json.Unmarshal(signed, &s); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrBadManifest, err)
	}
	if len(s.Signature) != ed25519.SignatureSize {
		return nil, fmt.Errorf("%w: signature of %d bytes", ErrBadManifest, len(s.Signature))
	}
	var m Manifest
	if err := json.Unmarshal(s.Manifest, &m); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrBadManifest, err)
	}
	hashesAt, hashesLen, err := locate(s.Manifest, hashesKey, appendHashesJSON(nil, m.ChunkHashes))
	if err != nil {
		return nil, fmt.Errorf("chunk hashes: %w", err)
	}
	seekAt, seekLen, err := locate(s.Manifest, seekKey, appendSeekJSON(nil, m.Audio.Seek))
	if err != nil {
		return nil, fmt.Errorf("seek table: %w", err)
	}
	if hashesAt == seekAt {
		return nil, errors.New("chunk hashes and seek table in one place")
	}
	// The skeleton is the body without the two arrays' contents; the
	// offsets say where they go in it.
	cuts := [][2]int{{hashesAt, hashesLen}, {seekAt, seekLen}}
	if seekAt < hashesAt {
		cuts[0], cuts[1] = cuts[1], cuts[0]
	}
	skeleton := make([]byte, 0, len(s.Manifest)-hashesLen-seekLen)
	prev := 0
	for _, c := range cuts {
		skeleton = append(skeleton, s.Manifest[prev:c[0]]...)
		prev = c[0] + c[1]
	}
	skeleton = append(skeleton, s.Manifest[prev:]...)
	if seekAt > hashesAt {
		seekAt -= hashesLen
	} else {
		hashesAt -= seekLen
	}

	out := append([]byte{packedVersion}, s.Signature...)
	out = binary.AppendUvarint(out, uint64(len(skeleton)))
	out = append(out, skeleton...)
	out = binary.AppendUvarint(out, uint64(hashesAt))
	out = binary.AppendUvarint(out, uint64(len(m.ChunkHashes)))
	for _, h := range m.ChunkHashes {
		out = append(out, h[:]...)
	}
	out = binary.AppendUvarint(out, uint64(seekAt))
	out = binary.AppendUvarint(out, uint64(len(m.Audio.Seek)))
	var last SeekPoint
	for _, p := range m.Audio.Seek {
		if p.Sample < last.Sample || p.Offset < last.Offset {
			return nil, fmt.Errorf("%w: seek table out of order", ErrBadManifest)
		}
		out = binary.AppendUvarint(out, uint64(p.Sample-last.Sample))
		out = binary.AppendUvarint(out, uint64(p.Offset-last.Offset))
		last = p
	}

	// Rebuilding is the only use of the packed form: check it gives back
	// the very bytes that were signed before anyone is sent it.
	back, err := UnpackSigned(out, len(signed))
	if err != nil {
		return nil, fmt.Errorf("packed manifest does not unpack: %w", err)
	}
	if !bytes.Equal(back, signed) {
		return nil, errors.New("packed manifest does not rebuild the signed bytes")
	}
	return out, nil
}

// locate finds key followed by rendered and "]" in body, once, and
// returns where rendered starts and its length. An empty array is not
// cut: it rebuilds as nothing inserted anywhere.
func locate(body, key, rendered []byte) (at, n int, err error) {
	if len(rendered) == 0 {
		return 0, 0, nil
	}
	whole := append(append(append([]byte(nil), key...), rendered...), ']')
	i := bytes.Index(body, whole)
	if i < 0 || bytes.Count(body, whole) != 1 {
		return 0, 0, errors.New("not found once in the form this package renders")
	}
	return i + len(key), len(rendered), nil
}

// UnpackSigned rebuilds the signed manifest that b packs, refusing one
// of more than limit bytes. The result is unverified: check it with Open.
// It holds no more than b and the result: the result's size is known
// from b before it is built, and the hashes and points are rendered
// straight from b.
func UnpackSigned(b []byte, limit int) ([]byte, error) {
	bad := func(format string, args ...any) error {
		return fmt.Errorf("%w: packed manifest: %s", ErrBadManifest, fmt.Sprintf(format, args...))
	}
	if len(b) < 1+ed25519.SignatureSize || b[0] != packedVersion || limit < 0 {
		return nil, bad("no version %d header", packedVersion)
	}
	sig := b[1 : 1+ed25519.SignatureSize]
	r := packedReader{b: b[1+ed25519.SignatureSize:]}
	skeleton := r.array(r.uvarint(), 1)
	hashesAt := r.uvarint()
	hashes := r.array(r.uvarint(), hashLen)
	seekAt := r.uvarint()
	nSeek := r.uvarint()
	seek := r.b
	switch {
	case r.short:
		return nil, bad("cut short")
	case hashesAt > uint64(len(skeleton)) || seekAt > uint64(len(skeleton)):
		return nil, bad("an array placed past the skeleton")
	case nSeek > uint64(len(seek))/2:
		return nil, bad("%d seek points in %d bytes", nSeek, len(seek))
	}

	size := uint64(len(`{"manifest":,"signature":""}`)) + uint64(base64.StdEncoding.EncodedLen(len(sig))) + uint64(len(skeleton))
	size += uint64(len(appendHashJSON(nil, 1, Hash{}))) * uint64(len(hashes)/hashLen)
	if err := eachSeekPoint(seek, nSeek, func(i int, p SeekPoint) {
		size += uint64(len(appendSeekPointJSON(make([]byte, 0, 48), i, p)))
	}); err != nil {
		return nil, bad("%v", err)
	}
	if len(hashes) > 0 {
		size-- // no comma before the first hash
	}
	if size > uint64(limit) {
		return nil, bad("rebuilds to %d bytes, more than the %d allowed", size, limit)
	}

	out := append(make([]byte, 0, size), `{"manifest":`...)
	appendHashes := func(out []byte) []byte {
		for i := 0; i < len(hashes)/hashLen; i++ {
			out = appendHashJSON(out, i, Hash(hashes[i*hashLen:]))
		}
		return out
	}
	appendSeek := func(out []byte) []byte {
		eachSeekPoint(seek, nSeek, func(i int, p SeekPoint) { out = appendSeekPointJSON(out, i, p) })
		return out
	}
	first, second := appendHashes, appendSeek
	firstAt, secondAt := hashesAt, seekAt
	if seekAt < hashesAt {
		first, second, firstAt, secondAt = second, first, secondAt, firstAt
	}
	out = first(append(out, skeleton[:firstAt]...))
	out = second(append(out, skeleton[firstAt:secondAt]...))
	out = append(out, skeleton[secondAt:]...)
	out = append(out, `,"signature":"`...)
	out = base64.StdEncoding.AppendEncode(out, sig)
	out = append(out, `"}`...)
	if uint64(len(out)) != size {
		return nil, fmt.Errorf("bug: packed manifest rebuilt in %d bytes, counted %d", len(out), size)
	}
	return out, nil
}

// hashLen is the size of a chunk hash.
const hashLen = len(Hash{})

// packedReader reads a packed manifest's fields in order; past the end,
// it reads zeros and notes that it ran short.
type packedReader struct {
	b     []byte
	short bool
}

func (r *packedReader) uvarint() uint64 {
	v, n := binary.Uvarint(r.b)
	if n <= 0 {
		r.short = true
		return 0
	}
	r.b = r.b[n:]
	return v
}

// array reads n items of size bytes each.
func (r *packedReader) array(n uint64, size int) []byte {
	if n > uint64(len(r.b)/size) {
		r.short = true
		return nil
	}
	out := r.b[:n*uint64(size)]
	r.b = r.b[len(out):]
	return out
}

// eachSeekPoint decodes the n seek points of b (steps from the point
// before, as PackSigned writes them), which must be all of b, and calls
// f with each in turn.
func eachSeekPoint(b []byte, n uint64, f func(i int, p SeekPoint)) error {
	r := packedReader{b: b}
	var p SeekPoint
	for i := range n {
		ds, do := r.uvarint(), r.uvarint()
		if r.short || ds > maxSample || do > MaxFileSize {
			return fmt.Errorf("seek point %d", i)
		}
		p = SeekPoint{p.Sample + int64(ds), p.Offset + int64(do)}
		if p.Sample > maxSample || p.Offset > MaxFileSize {
			return fmt.Errorf("seek point %d out of range", i)
		}
		f(int(i), p)
	}
	if len(r.b) != 0 {
		return fmt.Errorf("%d bytes after the seek table", len(r.b))
	}
	return nil
}

// maxSample bounds a seek point's sample number: a file of MaxFileSize
// bytes cannot hold more frames than bytes, nor a frame more than 1152
// samples.
const maxSample = MaxFileSize * 1152

// appendHashesJSON renders hashes as json.Marshal renders a []Hash,
// without the brackets; appendHashJSON renders the i-th of them.
func appendHashesJSON(b []byte, hashes []Hash) []byte {
	for i, h := range hashes {
		b = appendHashJSON(b, i, h)
	}
	return b
}

func appendHashJSON(b []byte, i int, h Hash) []byte {
	if i > 0 {
		b = append(b, ',')
	}
	b = append(b, '"')
	b = hex.AppendEncode(b, h[:])
	return append(b, '"')
}

// appendSeekJSON renders points as json.Marshal renders a []SeekPoint,
// without the brackets; appendSeekPointJSON renders the i-th of them.
func appendSeekJSON(b []byte, points []SeekPoint) []byte {
	for i, p := range points {
		b = appendSeekPointJSON(b, i, p)
	}
	return b
}

func appendSeekPointJSON(b []byte, i int, p SeekPoint) []byte {
	if i > 0 {
		b = append(b, ',')
	}
	b = append(b, '[')
	b = strconv.AppendInt(b, p.Sample, 10)
	b = append(b, ',')
	b = strconv.AppendInt(b, p.Offset, 10)
	return append(b, ']')
}
