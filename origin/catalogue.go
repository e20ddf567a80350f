package origin

import (
	"context"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"time"
)

// The signed catalogue (docs/protocol.md, "Signed catalogue"): the list of
// tracks, signed like a manifest, so that nodes can keep it and pass it on
// while the origin is unreachable, and nobody but the origin can change it.

// Catalogue is the signed catalogue's content.
type Catalogue struct {
	// Version grows with every change of the content (the Unix
	// milliseconds of the scan that produced it); a node keeps the
	// catalogue with the highest version it has seen.
	Version int64 `json:"version"`
	// Tracks lists the tracks as GET /v1/tracks does, in the same order.
	Tracks []TrackInfo `json:"tracks"`
}

// SignedCatalogue is a catalogue as it travels: the exact bytes that were
// signed and the signature over them. Keeping the bytes (not re-encoding)
// lets a newer origin add fields without breaking older clients' checks.
type SignedCatalogue struct {
	Catalogue json.RawMessage `json:"catalogue"`
	Signature []byte          `json:"signature"`
}

// MaxCatalogueBytes bounds a signed catalogue read from the origin or a peer.
const MaxCatalogueBytes = 64 << 20

// catalogueContext separates catalogue signatures from any other use of the key.
const catalogueContext = "potluck catalogue v1\x00"

// Errors of OpenCatalogue; callers branch on them with errors.Is.
var (
	// ErrBadCatalogueSignature means the pinned origin key did not sign
	// exactly these bytes: the sender lies or speaks for another origin.
	ErrBadCatalogueSignature = errors.New("catalogue signature does not match the origin key")
	// ErrBadCatalogue means the envelope or the catalogue does not parse.
	ErrBadCatalogue = errors.New("malformed catalogue")
)

// SignCatalogue encodes c and signs it with the origin's key, returning
// the envelope as served.
func SignCatalogue(c Catalogue, key ed25519.PrivateKey) ([]byte, error) {
	if c.Tracks == nil {
		c.Tracks = []TrackInfo{} // "tracks": [], not null
	}
	body, err := json.Marshal(c)
	if err != nil {
		return nil, err
	}
	return json.Marshal(SignedCatalogue{
		Catalogue: body,
		Signature: ed25519.Sign(key, append([]byte(catalogueContext), body...)),
	})
}

// OpenCatalogue verifies a signed catalogue (as SignCatalogue writes it,
// from the origin or a peer) against the pinned origin key, then parses
// it. It fails with ErrBadCatalogueSignature if the origin did not sign
// exactly these bytes, and with ErrBadCatalogue if they do not parse.
func OpenCatalogue(envelope []byte, key ed25519.PublicKey) (*Catalogue, error) {
	if len(envelope) > MaxCatalogueBytes {
		return nil, fmt.Errorf("%w: %d bytes, limit %d", ErrBadCatalogue, len(envelope), MaxCatalogueBytes)
	}
	var s SignedCatalogue
	if err := json.Unmarshal(envelope, &s); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrBadCatalogue, err)
	}
	if len(key) != ed25519.PublicKeySize {
		return nil, fmt.Errorf("%w: no valid origin key pinned", ErrBadCatalogueSignature)
	}
	if len(s.Signature) != ed25519.SignatureSize ||
		!ed25519.Verify(key, append([]byte(catalogueContext), s.Catalogue...), s.Signature) {
		return nil, ErrBadCatalogueSignature
	}
	var c Catalogue
	if err := json.Unmarshal(s.Catalogue, &c); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrBadCatalogue, err)
	}
	if c.Version <= 0 {
		return nil, fmt.Errorf("%w: version %d", ErrBadCatalogue, c.Version)
	}
	return &c, nil
}

// coverSum is the hex SHA-256 of a cover image, "" for none.
func coverSum(b []byte) string {
	if len(b) == 0 {
		return ""
	}
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

// signCatalog builds and signs the catalogue of c. A catalogue whose
// tracks are those of prev keeps prev's version and bytes (a rescan that
// changes nothing changes nothing for the nodes either); a changed one
// gets the scan's time, and always more than prev's version.
func (c *Catalog) sign(key ed25519.PrivateKey, prev *Catalog, now time.Time) error {
	tracks := make([]TrackInfo, 0, len(c.entries))
	for _, e := range c.entries {
		tracks = append(tracks, entryInfo(e))
	}
	if prev != nil && prev.signed != nil && slices.Equal(prev.tracks, tracks) {
		c.tracks, c.version, c.signed = prev.tracks, prev.version, prev.signed
		return nil
	}
	version := now.UnixMilli()
	if prev != nil && version <= prev.version {
		version = prev.version + 1
	}
	signed, err := SignCatalogue(Catalogue{Version: version, Tracks: tracks}, key)
	if err != nil {
		return err
	}
	c.tracks, c.version, c.signed = tracks, version, signed
	return nil
}

// SignedCatalogue returns the catalogue as the origin signed it at the
// scan (the body of GET /v1/catalogue). The slice must not be modified.
func (c *Catalog) SignedCatalogue() []byte { return c.signed }

// CatalogueVersion is the version of the signed catalogue.
func (c *Catalog) CatalogueVersion() int64 { return c.version }

// SignedCatalogue fetches the origin's signed catalogue and verifies it
// against the pinned key. It returns the catalogue and the envelope's
// bytes, to keep or pass on to peers (OpenCatalogue verifies them again).
func (cl *Client) SignedCatalogue(ctx context.Context) (*Catalogue, []byte, error) {
	return cl.SignedCatalogueSince(ctx, 0)
}

// ErrCatalogueNotModified is what SignedCatalogueSince returns when the
// origin's catalogue is the version the caller holds.
var ErrCatalogueNotModified = errors.New("the origin's catalogue is the version held")

// catalogueETag is the entity tag of a catalogue version: the version
// names the bytes.
func catalogueETag(version int64) string { return `"` + strconv.FormatInt(version, 10) + `"` }

// SignedCatalogueSince is SignedCatalogue for a caller that holds version
// held (0: none): if the origin's catalogue is that version, the origin
// answers 304 without it and this returns ErrCatalogueNotModified, so a
// periodic check costs a few bytes however big the catalogue.
func (cl *Client) SignedCatalogueSince(ctx context.Context, held int64) (*Catalogue, []byte, error) {
	var hdr http.Header
	if held > 0 {
		hdr = http.Header{"If-None-Match": {catalogueETag(held)}}
	}
	b, _, err := cl.getWith(ctx, "/v1/catalogue", MaxCatalogueBytes, hdr)
	var se *StatusError
	if errors.As(err, &se) && se.Code == http.StatusNotModified {
		return nil, nil, ErrCatalogueNotModified
	}
	if err != nil {
		return nil, nil, err
	}
	c, err := OpenCatalogue(b, cl.url.Key)
	if err != nil {
		return nil, nil, fmt.Errorf("origin %s: %w", cl.url.Addr, err)
	}
	return c, b, nil
}
