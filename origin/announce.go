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
	pub := key.Public().(ed25519.PublicKey)
	r.PeerID = peerid.FromKey(pub)
	r.Key = base64.RawURLEncoding.EncodeToString(pub)
	r.Time = now.UnixMilli()
	r.Sig = base64.RawURLEncoding.EncodeToString(ed25519.Sign(key, r.message(originKey)))
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
	pub, err := base64.RawURLEncoding.DecodeString(req.Key)
	if err != nil || len(pub) != ed25519.PublicKeySize {
		return req, badRequest("announce: key must be a base64url Ed25519 public key")
	}
	sig, err := base64.RawURLEncoding.DecodeString(req.Sig)
	if err != nil || len(sig) != ed25519.SignatureSize {
		return req, badRequest("announce: sig must be a base64url Ed25519 signature")
	}
	if skew := now.Sub(time.UnixMilli(req.Time)); skew > AnnounceClockSkew || skew < -AnnounceClockSkew {
		return req, badRequest("announce: time_ms is %s off the origin's clock, at most %s; check the node's clock",
			skew.Round(time.Second), AnnounceClockSkew)
	}
	if want := peerid.FromKey(pub); req.PeerID != want {
		return req, httpError{code: http.StatusForbidden, msg: fmt.Sprintf("announce: peer_id %q is not the ID of key %s (%s)", req.PeerID, req.Key, want)}
	}
	if !ed25519.Verify(pub, req.message(originKey), sig) {
		return req, httpError{code: http.StatusForbidden, msg: "announce: bad signature (signed for another origin, or altered)"}
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
