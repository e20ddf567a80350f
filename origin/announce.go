package origin

import (
	"bytes"
	"crypto/ed25519"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/potluckfm/potluck/internal/peerid"
	"github.com/potluckfm/potluck/track"
)

// AnnounceClockSkew is how far an announce's time may be from the origin's
// clock.
const AnnounceClockSkew = 5 * time.Minute

// MaxAnnounceBytes bounds the body of an announce: room for
// MaxTracksPerAnnounce track IDs in JSON.
const MaxAnnounceBytes = 40*MaxTracksPerAnnounce + 4096

// announceBodyLimit bounds an announce body by the tracks a peer may list.
func announceBodyLimit(lim TrackerLimits) int64 {
	return int64(min(MaxAnnounceBytes, 40*lim.TracksPerPeer+4096))
}

// announceDomain starts every signed announce message, so that no
// signature made for anything else is ever a valid announce.
const announceDomain = "potluck-announce/2\x00"

// Sign makes r an announce of the node holding key, to the origin whose
// key is originKey, at time now: it sets PeerID (derived from the key as
// on the peer protocol), Key, Time and Sig.
func (r *AnnounceRequest) Sign(key ed25519.PrivateKey, originKey ed25519.PublicKey, now time.Time) {
	r.PeerID, r.Key, r.Time = nodeIdentity(key, now)
	r.Sig = nodeSig(key, r.message(originKey))
}

// nodeIdentity is what a node's signed request says of its signer: the
// peer ID and base64url public key of key, and the time now in ms.
func nodeIdentity(key ed25519.PrivateKey, now time.Time) (id, pub string, ms int64) {
	k := key.Public().(ed25519.PublicKey)
	return peerid.FromKey(k), base64.RawURLEncoding.EncodeToString(k), now.UnixMilli()
}

// nodeSig is key's base64url signature of msg.
func nodeSig(key ed25519.PrivateKey, msg []byte) string {
	return base64.RawURLEncoding.EncodeToString(ed25519.Sign(key, msg))
}

// checkNodeSig checks a node's signed request (what names it in errors):
// key and sig base64url Ed25519, time at (ms) within AnnounceClockSkew of
// now, peerID the key's ID, sig key's signature of msg().
func checkNodeSig(what, peerID, key, sig string, at int64, now time.Time, msg func() []byte) error {
	pub, err := base64.RawURLEncoding.DecodeString(key)
	if err != nil || len(pub) != ed25519.PublicKeySize {
		return badRequest("%s: key must be a base64url Ed25519 public key", what)
	}
	s, err := base64.RawURLEncoding.DecodeString(sig)
	if err != nil || len(s) != ed25519.SignatureSize {
		return badRequest("%s: sig must be a base64url Ed25519 signature", what)
	}
	if skew := now.Sub(time.UnixMilli(at)); skew > AnnounceClockSkew || skew < -AnnounceClockSkew {
		return badRequest("%s: time_ms is %s off the origin's clock, at most %s; check the node's clock",
			what, skew.Round(time.Second), AnnounceClockSkew)
	}
	if want := peerid.FromKey(pub); peerID != want {
		return httpError{code: http.StatusForbidden, msg: fmt.Sprintf("%s: peer_id %q is not the ID of key %s (%s)", what, peerID, key, want)}
	}
	if !ed25519.Verify(pub, msg(), s) {
		return httpError{code: http.StatusForbidden, msg: what + ": bad signature (signed for another origin, or altered)"}
	}
	return nil
}

// message is what an announce's signature covers: the domain, the origin's
// key, the time, the peer ID, the address and the tracks, each with its
// length, so no two announces share a message.
func (r *AnnounceRequest) message(originKey ed25519.PublicKey) []byte {
	b := make([]byte, 0, len(announceDomain)+len(originKey)+8+2+len(r.PeerID)+2+len(r.Addr)+4+16*len(r.Tracks))
	b = append(b, announceDomain...)
	b = append(b, originKey...)
	b = binary.BigEndian.AppendUint64(b, uint64(r.Time))
	b = binary.BigEndian.AppendUint16(b, uint16(len(r.PeerID)))
	b = append(b, r.PeerID...)
	b = binary.BigEndian.AppendUint16(b, uint16(len(r.Addr)))
	b = append(b, r.Addr...)
	b = binary.BigEndian.AppendUint32(b, uint32(len(r.Tracks)))
	for _, id := range r.Tracks {
		b = append(b, id[:]...)
	}
	return b
}

// decodeAnnounce parses and checks an announce body: well-formed, signed by
// the key it carries for the origin whose key is originKey, within
// AnnounceClockSkew of now, its peer ID the key's, its address a valid
// host:port. It does not check the tracker's limits.
func decodeAnnounce(body []byte, originKey ed25519.PublicKey, now time.Time) (AnnounceRequest, error) {
	var req AnnounceRequest
	dec := json.NewDecoder(bytes.NewReader(body))
	if err := dec.Decode(&req); err != nil {
		return req, badRequest("announce: %v", err)
	}
	if req.Key == "" && req.Sig == "" {
		return req, httpError{code: http.StatusBadRequest, msg: fmt.Sprintf(
			"announce: unsigned announce refused: this origin speaks API v%d, where a node signs its announces with its node key; upgrade the node", APIVersion)}
	}
	if len(req.PeerID) > 128 || len(req.Addr) > 64 {
		return req, badRequest("announce: peer_id or addr too long")
	}
	if err := checkNodeSig("announce", req.PeerID, req.Key, req.Sig, req.Time, now, func() []byte { return req.message(originKey) }); err != nil {
		return req, err
	}
	if _, _, err := CheckAddr(req.Addr); err != nil {
		return req, badRequest("%v", err)
	}
	return req, nil
}

// limitStatus maps tracker refusals to their HTTP answer.
func limitStatus(err error) error {
	var le *LimitError
	switch {
	case errors.As(err, &le):
		return httpError{code: http.StatusTooManyRequests, msg: le.Error(), retryAfter: le.RetryAfter}
	case errors.Is(err, ErrBadAnnounce):
		return badRequest("%v", err)
	}
	return err
}

// checkTracks refuses track lists too long to consider.
func checkTracks(ids []track.ID) error {
	if len(ids) > MaxTracksPerAnnounce {
		return badRequest("announce: %d tracks, at most %d", len(ids), MaxTracksPerAnnounce)
	}
	return nil
}
