package origin

import (
	"crypto/ed25519"
	"encoding/base64"
	"errors"
	"fmt"
	"net"
	"net/url"
	"strings"
)

// ErrKeyMismatch means the server reached is not the origin the URL pins.
var ErrKeyMismatch = errors.New("origin key does not match the pin in the origin URL")

// URL names an origin: where it listens (UDP for HTTP/3 and TCP for HTTPS,
// the same port number) and the Ed25519 key it signs with. Its text form is
//
//	https://HOST:PORT/#key=BASE64URL
//
// The key rides in the fragment, which HTTP clients never send, so the URL
// is also a working address for ordinary HTTPS tooling.
type URL struct {
	Addr string // host:port
	Key  ed25519.PublicKey
}

// String returns the text form of u.
func (u URL) String() string {
	return "https://" + u.Addr + "/#key=" + base64.RawURLEncoding.EncodeToString(u.Key)
}

// ParseURL parses the text form of an origin URL, as `potluckd origin`
// prints it after "origin-url: ".
func ParseURL(s string) (URL, error) {
	p, err := url.Parse(strings.TrimSpace(s))
	if err != nil {
		return URL{}, fmt.Errorf("origin url: %w", err)
	}
	if p.Scheme != "https" {
		return URL{}, fmt.Errorf("origin url %q: scheme must be https", s)
	}
	if _, port, err := net.SplitHostPort(p.Host); err != nil || port == "" {
		return URL{}, fmt.Errorf("origin url %q: want host:port", s)
	}
	frag, err := url.ParseQuery(p.Fragment)
	if err != nil {
		return URL{}, fmt.Errorf("origin url %q: fragment: %w", s, err)
	}
	enc := frag.Get("key")
	if enc == "" {
		return URL{}, fmt.Errorf("origin url %q: no #key= pin; use the exact line the origin printed", s)
	}
	key, err := base64.RawURLEncoding.DecodeString(enc)
	if err != nil || len(key) != ed25519.PublicKeySize {
		return URL{}, fmt.Errorf("origin url %q: key pin is not a base64url Ed25519 public key", s)
	}
	return URL{Addr: p.Host, Key: ed25519.PublicKey(key)}, nil
}
