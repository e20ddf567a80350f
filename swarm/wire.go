package swarm

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"slices"

	"github.com/potluckfm/potluck/cache"
	"github.com/potluckfm/potluck/origin"
	"github.com/potluckfm/potluck/track"
)

// The peer protocol, version 1 (docs/protocol.md, "Peer protocol"). Every
// request is one QUIC stream: the asker writes a request and closes its side;
// the other writes a response and closes. These functions read and write
// plain io.Readers and io.Writers, so they are tested over pipes.

// ProtocolVersion is the version every request carries.
const ProtocolVersion = 1

var wireMagic = [3]byte{'P', 'L', 'K'}

// Message types.
const (
	msgManifest byte = 1 // track ID → signed manifest
	msgHave     byte = 2 // track ID → bitfield of chunks held
	msgChunk    byte = 3 // track ID, index, priority → chunk bytes
	msgWhoHas   byte = 4 // track ID, TTL → peers known to hold it
	msgPeers    byte = 5 // → peers this node knows (peer exchange)
	// Added to version 1 later: a node that does not know them answers
	// statusBadRequest, which askers take as "not here" (docs/protocol.md).
	msgCatalogue byte = 6 // → the newest signed catalogue the node holds
	msgCover     byte = 7 // track ID → the track's cover image
	// NAT traversal (docs/protocol.md, "NAT traversal (version 1)").
	msgObserved byte = 8  // → the asker's address as the answerer sees it
	msgPunchVia byte = 9  // peer ID, nonce, delay → the peer's address; the answerer relays a PUNCH to it
	msgPunch    byte = 10 // asker ID, asker address, nonce, delay → OK: the answerer punches
	// The start of a play in one answer, as the origin's start request.
	msgStart byte = 11 // track ID, count → signed manifest, then the first chunks of audio held
)

// startPacked is the high bit of a START's count: the asker reads a
// packed manifest (track.PackSigned). A node older than it takes the
// count as MaxStartChunks and sends the manifest unpacked, which is read
// as well.
const startPacked byte = 0x80

// Status codes of a response.
const (
	statusOK             byte = 0
	statusNotHeld        byte = 1 // the node does not hold what was asked
	statusBusy           byte = 2 // upload slots full; ask elsewhere or later
	statusBadRequest     byte = 3
	statusTooOldVersion  byte = 4
	statusUnknownVersion byte = 5
	statusGone           byte = 6 // the node no longer holds the track (evicted, or its copy failed a check)
)

// Priorities of a chunk request: a node serves PriorityPlaying first.
const (
	PriorityPrefetch byte = 0
	PriorityPlaying  byte = 1
)

// Errors of the peer protocol. Each is returned to the asker for the status
// of the same name, or by the reader of a malformed message.
var (
	ErrUnknownMagic   = errors.New("peer protocol: unknown magic")
	ErrTooOldVersion  = errors.New("peer protocol: version too old")
	ErrUnknownVersion = errors.New("peer protocol: unknown (newer) version")
	ErrNotHeld        = errors.New("peer does not hold it")
	ErrGone           = errors.New("peer no longer holds the track")
	ErrBusy           = errors.New("peer is busy")
	ErrBadRequest     = errors.New("peer protocol: bad request")
	ErrBadResponse    = errors.New("peer protocol: malformed response")
)

// errorToStatus is the status a node answers with for err: the one place
// where errors become status codes, statusToError being the way back.
// What a request reader could not make sense of (ErrUnknownMagic,
// ErrBadRequest, anything else) is a bad request.
func errorToStatus(err error) byte {
	switch {
	case err == nil:
		return statusOK
	case errors.Is(err, ErrNotHeld):
		return statusNotHeld
	case errors.Is(err, ErrBusy):
		return statusBusy
	case errors.Is(err, ErrTooOldVersion):
		return statusTooOldVersion
	case errors.Is(err, ErrUnknownVersion):
		return statusUnknownVersion
	case errors.Is(err, ErrGone), errors.Is(err, cache.ErrCorrupt), errors.Is(err, cache.ErrClosed):
		return statusGone
	default:
		return statusBadRequest
	}
}

// statusToError is the error an asker gets for a response's status: nil
// for OK, ErrBadResponse wrapped for a status this version does not know.
func statusToError(st byte) error {
	switch st {
	case statusOK:
		return nil
	case statusNotHeld:
		return ErrNotHeld
	case statusBusy:
		return ErrBusy
	case statusBadRequest:
		return ErrBadRequest
	case statusTooOldVersion:
		return ErrTooOldVersion
	case statusUnknownVersion:
		return ErrUnknownVersion
	case statusGone:
		return ErrGone
	default:
		return fmt.Errorf("%w: status %d", ErrBadResponse, st)
	}
}

// Limits on what a response may carry.
const (
	maxManifestBytes = 64 << 20
	// maxCatalogueBytes bounds a CATALOGUE answer (as the origin client
	// bounds GET /v1/catalogue), maxCoverBytes a COVER answer.
	maxCatalogueBytes = origin.MaxCatalogueBytes
	maxCoverBytes     = 16 << 20
	maxPeersListed    = 200
	maxAddrLen        = 255
	// MaxWhoHasTTL bounds neighbour search: a node asks its neighbours, who
	// may ask theirs once more, and no further.
	MaxWhoHasTTL = 2
)

// request is a decoded request.
type request struct {
	typ      byte
	id       track.ID
	index    uint32 // msgChunk
	priority byte   // msgChunk
	ttl      byte   // msgWhoHas
	count    byte   // msgStart: chunks asked, from the first audio
	packed   bool   // msgStart: the asker reads a packed manifest
	// msgPunchVia, msgPunch: the peer to punch to (PUNCH_VIA) or from
	// (PUNCH), its address (PUNCH), the punch nonce and the delay in
	// milliseconds before punching.
	peer  PeerID
	addr  string
	nonce [16]byte
	delay uint16
}

// maxPunchAddr bounds a PUNCH request's address ("[v6]:port" fits).
const maxPunchAddr = 64

// maxRequestLen bounds a request on the wire (a PUNCH is the longest).
const maxRequestLen = 5 + 1 + 255 + 1 + maxPunchAddr + 16 + 2

func writeRequest(w io.Writer, r request) error {
	buf := append(wireMagic[:], ProtocolVersion, r.typ)
	switch r.typ {
	case msgManifest, msgHave, msgCover:
		buf = append(buf, r.id[:]...)
	case msgChunk:
		buf = append(buf, r.id[:]...)
		buf = binary.BigEndian.AppendUint32(buf, r.index)
		buf = append(buf, r.priority)
	case msgWhoHas:
		buf = append(buf, r.id[:]...)
		buf = append(buf, r.ttl)
	case msgStart:
		buf = append(buf, r.id[:]...)
		count := min(r.count, origin.MaxStartChunks)
		if r.packed {
			count |= startPacked
		}
		buf = append(buf, count)
	case msgPeers, msgCatalogue, msgObserved:
	case msgPunchVia, msgPunch:
		if r.peer == "" || len(r.peer) > 255 || len(r.addr) > maxPunchAddr {
			return fmt.Errorf("bug: punch request for %q at %q", r.peer, r.addr)
		}
		buf = append(buf, byte(len(r.peer)))
		buf = append(buf, r.peer...)
		if r.typ == msgPunch {
			buf = append(buf, byte(len(r.addr)))
			buf = append(buf, r.addr...)
		}
		buf = append(buf, r.nonce[:]...)
		buf = binary.BigEndian.AppendUint16(buf, r.delay)
	default:
		return fmt.Errorf("bug: request type %d", r.typ)
	}
	_, err := w.Write(buf)
	return err
}

// readRequest decodes a request; its errors are the ones to answer with.
func readRequest(r io.Reader) (request, error) {
	var hdr [5]byte
	if _, err := io.ReadFull(r, hdr[:]); err != nil {
		return request{}, fmt.Errorf("%w: %v", ErrBadRequest, err)
	}
	if [3]byte(hdr[:3]) != wireMagic {
		return request{}, ErrUnknownMagic
	}
	switch v := hdr[3]; {
	case v < ProtocolVersion:
		return request{}, ErrTooOldVersion
	case v > ProtocolVersion:
		return request{}, ErrUnknownVersion
	}
	req := request{typ: hdr[4]}
	var bodyLen int
	switch req.typ {
	case msgManifest, msgHave, msgCover:
		bodyLen = track.IDLen
	case msgChunk:
		bodyLen = track.IDLen + 5
	case msgWhoHas, msgStart:
		bodyLen = track.IDLen + 1
	case msgPeers, msgCatalogue, msgObserved:
	case msgPunchVia, msgPunch:
		return readPunch(r, req)
	default:
		return req, fmt.Errorf("%w: type %d", ErrBadRequest, req.typ)
	}
	body := make([]byte, bodyLen)
	if _, err := io.ReadFull(r, body); err != nil {
		return req, fmt.Errorf("%w: %v", ErrBadRequest, err)
	}
	if bodyLen >= track.IDLen {
		req.id = track.ID(body[:track.IDLen])
	}
	switch req.typ {
	case msgChunk:
		req.index = binary.BigEndian.Uint32(body[track.IDLen:])
		req.priority = body[track.IDLen+4]
	case msgWhoHas:
		req.ttl = min(body[track.IDLen], MaxWhoHasTTL)
	case msgStart:
		req.count = min(body[track.IDLen]&^startPacked, origin.MaxStartChunks)
		req.packed = body[track.IDLen]&startPacked != 0
	}
	return req, nil
}

// readPunch reads the body of a PUNCH_VIA or PUNCH request.
func readPunch(r io.Reader, req request) (request, error) {
	str := func(limit int) (string, error) {
		var l [1]byte
		if _, err := io.ReadFull(r, l[:]); err != nil {
			return "", err
		}
		if l[0] == 0 || int(l[0]) > limit {
			return "", fmt.Errorf("length %d", l[0])
		}
		b := make([]byte, l[0])
		_, err := io.ReadFull(r, b)
		return string(b), err
	}
	id, err := str(255)
	if err != nil {
		return req, fmt.Errorf("%w: peer: %v", ErrBadRequest, err)
	}
	req.peer = PeerID(id)
	if req.typ == msgPunch {
		if req.addr, err = str(maxPunchAddr); err != nil {
			return req, fmt.Errorf("%w: address: %v", ErrBadRequest, err)
		}
	}
	var tail [18]byte
	if _, err := io.ReadFull(r, tail[:]); err != nil {
		return req, fmt.Errorf("%w: %v", ErrBadRequest, err)
	}
	req.nonce = [16]byte(tail[:16])
	req.delay = binary.BigEndian.Uint16(tail[16:])
	return req, nil
}

// writeStatus writes a response that carries only a status (an error).
func writeStatus(w io.Writer, status byte) error {
	_, err := w.Write([]byte{status})
	return err
}

// writeBytes writes an OK response carrying a length-prefixed blob (a
// manifest, a bitfield, a chunk, a catalogue or a cover).
func writeBytes(w io.Writer, b []byte) error {
	buf := binary.BigEndian.AppendUint32([]byte{statusOK}, uint32(len(b)))
	if _, err := w.Write(buf); err != nil {
		return err
	}
	_, err := w.Write(b)
	return err
}

// readStatus reads a response's status and returns its error, if any.
func readStatus(r io.Reader) error {
	var st [1]byte
	if _, err := io.ReadFull(r, st[:]); err != nil {
		return fmt.Errorf("%w: %v", ErrBadResponse, err)
	}
	return statusToError(st[0])
}

// readBytes reads a response written by writeBytes, refusing more than limit bytes.
func readBytes(r io.Reader, limit int) ([]byte, error) {
	if err := readStatus(r); err != nil {
		return nil, err
	}
	var n [4]byte
	if _, err := io.ReadFull(r, n[:]); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrBadResponse, err)
	}
	size := binary.BigEndian.Uint32(n[:])
	if int64(size) > int64(limit) {
		return nil, fmt.Errorf("%w: %d bytes, limit %d", ErrBadResponse, size, limit)
	}
	// Grow as bytes arrive rather than trust the announced size up front.
	b, err := io.ReadAll(io.LimitReader(r, int64(size)))
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrBadResponse, err)
	}
	if len(b) != int(size) {
		return nil, fmt.Errorf("%w: %d of %d bytes", ErrBadResponse, len(b), size)
	}
	return b, nil
}

// PeerAddr is a node and where it listens.
type PeerAddr struct {
	ID   PeerID `json:"id"`
	Addr string `json:"addr"`
}

// fits reports whether p can be written in a peer list.
func (p PeerAddr) fits() bool {
	return p.ID != "" && p.Addr != "" && len(p.ID) <= 255 && len(p.Addr) <= maxAddrLen
}

// writePeers writes an OK response listing peers; entries too long for the
// format are left out.
func writePeers(w io.Writer, peers []PeerAddr) error {
	peers = slices.DeleteFunc(slices.Clone(peers), func(p PeerAddr) bool { return !p.fits() })
	peers = peers[:min(len(peers), maxPeersListed)]
	buf := binary.BigEndian.AppendUint16([]byte{statusOK}, uint16(len(peers)))
	for _, p := range peers {
		buf = append(buf, byte(len(p.ID)))
		buf = append(buf, p.ID...)
		buf = append(buf, byte(len(p.Addr)))
		buf = append(buf, p.Addr...)
	}
	_, err := w.Write(buf)
	return err
}

func readPeers(r io.Reader) ([]PeerAddr, error) {
	if err := readStatus(r); err != nil {
		return nil, err
	}
	var n [2]byte
	if _, err := io.ReadFull(r, n[:]); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrBadResponse, err)
	}
	count := int(binary.BigEndian.Uint16(n[:]))
	if count > maxPeersListed {
		return nil, fmt.Errorf("%w: %d peers listed", ErrBadResponse, count)
	}
	out := make([]PeerAddr, 0, count)
	str := func() (string, error) {
		var l [1]byte
		if _, err := io.ReadFull(r, l[:]); err != nil {
			return "", err
		}
		b := make([]byte, l[0])
		_, err := io.ReadFull(r, b)
		return string(b), err
	}
	for range count {
		id, err := str()
		if err != nil {
			return nil, fmt.Errorf("%w: %v", ErrBadResponse, err)
		}
		addr, err := str()
		if err != nil {
			return nil, fmt.Errorf("%w: %v", ErrBadResponse, err)
		}
		out = append(out, PeerAddr{ID: PeerID(id), Addr: addr})
	}
	return out, nil
}
