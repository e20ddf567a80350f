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
	var sb Signed
	if err := json.Unmarshal(back, &sb); err != nil || !bytes.Equal(sb.Manifest, s.Manifest) || !bytes.Equal(sb.Signature, s.Signature) {
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
func UnpackSigned(b []byte, limit int) ([]byte, error) {
	bad := func(format string, args ...any) error {
		return fmt.Errorf("%w: packed manifest: %s", ErrBadManifest, fmt.Sprintf(format, args...))
	}
	if len(b) < 1+ed25519.SignatureSize || b[0] != packedVersion {
		return nil, bad("no version %d header", packedVersion)
	}
	sig := b[1 : 1+ed25519.SignatureSize]
	r := b[1+ed25519.SignatureSize:]
	// uvarint reads a number of at most max(), asked once the number's
	// own bytes are read: a count is bounded by what follows it.
	uvarint := func(max func() uint64) (uint64, bool) {
		v, n := binary.Uvarint(r)
		if n <= 0 {
			return 0, false
		}
		r = r[n:]
		return v, v <= max()
	}
	rest := func() uint64 { return uint64(len(r)) }
	skLen, ok := uvarint(rest)
	if !ok {
		return nil, bad("skeleton length")
	}
	skeleton := r[:skLen]
	r = r[skLen:]
	inSkeleton := func() uint64 { return skLen }
	hashesAt, ok := uvarint(inSkeleton)
	if !ok {
		return nil, bad("chunk hashes' place")
	}
	nHashes, ok := uvarint(func() uint64 { return rest() / uint64(len(Hash{})) })
	if !ok {
		return nil, bad("chunk hash count")
	}
	hashes := make([]Hash, nHashes)
	for i := range hashes {
		r = r[copy(hashes[i][:], r):]
	}
	seekAt, ok := uvarint(inSkeleton)
	if !ok {
		return nil, bad("seek table's place")
	}
	nSeek, ok := uvarint(func() uint64 { return rest() / 2 })
	if !ok {
		return nil, bad("seek point count")
	}
	seek := make([]SeekPoint, nSeek)
	// The result's length, known before any of it is built: a hash
	// renders in 66 bytes and a seek point in its digits and 3 more, each
	// with a comma before all but the first.
	size := uint64(len(`{"manifest":,"signature":""}`)) + uint64(base64.StdEncoding.EncodedLen(len(sig))) +
		uint64(len(skeleton)) + 67*nHashes + 4*nSeek
	for _, n := range []uint64{nHashes, nSeek} {
		if n > 0 {
			size-- // no comma before the first
		}
	}
	var last SeekPoint
	for i := range seek {
		ds, ok1 := uvarint(func() uint64 { return maxSample })
		do, ok2 := uvarint(func() uint64 { return MaxFileSize })
		if !ok1 || !ok2 {
			return nil, bad("seek point %d", i)
		}
		last = SeekPoint{last.Sample + int64(ds), last.Offset + int64(do)}
		if last.Offset > MaxFileSize || last.Sample > maxSample {
			return nil, bad("seek point %d out of range", i)
		}
		seek[i] = last
		size += uint64(digits(last.Sample) + digits(last.Offset))
	}
	if len(r) != 0 {
		return nil, bad("%d bytes after the seek table", len(r))
	}
	if size > uint64(limit) {
		return nil, bad("rebuilds to %d bytes, more than the %d allowed", size, limit)
	}

	type insert struct {
		at   uint64
		json []byte
	}
	ins := []insert{{hashesAt, appendHashesJSON(nil, hashes)}, {seekAt, appendSeekJSON(nil, seek)}}
	if seekAt < hashesAt {
		ins[0], ins[1] = ins[1], ins[0]
	}
	out := append(make([]byte, 0, 256+len(skeleton)+len(ins[0].json)+len(ins[1].json)), `{"manifest":`...)
	prev := uint64(0)
	for _, in := range ins {
		out = append(out, skeleton[prev:in.at]...)
		out = append(out, in.json...)
		prev = in.at
	}
	out = append(out, skeleton[prev:]...)
	out = append(out, `,"signature":"`...)
	out = base64.StdEncoding.AppendEncode(out, sig)
	out = append(out, `"}`...)
	return out, nil
}

// maxSample bounds a seek point's sample number: a file of MaxFileSize
// bytes cannot hold more frames than bytes, nor a frame more than 1152
// samples.
const maxSample = MaxFileSize * 1152

// digits is how many bytes v renders in, in decimal.
func digits(v int64) int {
	var buf [20]byte
	return len(strconv.AppendInt(buf[:0], v, 10))
}

// appendHashesJSON renders hashes as json.Marshal renders a []Hash,
// without the brackets.
func appendHashesJSON(b []byte, hashes []Hash) []byte {
	for i, h := range hashes {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, '"')
		b = hex.AppendEncode(b, h[:])
		b = append(b, '"')
	}
	return b
}

// appendSeekJSON renders points as json.Marshal renders a []SeekPoint,
// without the brackets.
func appendSeekJSON(b []byte, points []SeekPoint) []byte {
	for i, p := range points {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, '[')
		b = strconv.AppendInt(b, p.Sample, 10)
		b = append(b, ',')
		b = strconv.AppendInt(b, p.Offset, 10)
		b = append(b, ']')
	}
	return b
}
