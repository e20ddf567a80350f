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
// or, for an origin run as replicas that share one key (docs/replicas.md),
// the addresses of all of them, comma-separated:
//
//	https://HOST1:PORT1,HOST2:PORT2/#key=BASE64URL
//
// The key rides in the fragment, which HTTP clients never send, so the URL
// of a single origin is also a working address for ordinary HTTPS tooling.
type URL struct {
	// Addr is the first (or only) address, host:port.
	Addr string
	// Addrs lists every address, Addr first; nil means Addr alone. If a
	// caller changes Addr so that it is no longer Addrs[0], Addr alone
	// counts (see AllAddrs).
	Addrs []string
	// Key is the pinned key.
	Key ed25519.PublicKey
}

// AllAddrs returns the addresses a client may use, in order: Addrs if it
// starts with Addr, else Addr alone.
func (u URL) AllAddrs() []string {
	if len(u.Addrs) > 0 && u.Addrs[0] == u.Addr {
		return u.Addrs
	}
	return []string{u.Addr}
}

// String returns the text form of u.
func (u URL) String() string {
	return "https://" + strings.Join(u.AllAddrs(), ",") + "/#key=" + base64.RawURLEncoding.EncodeToString(u.Key)
}

// ParseURL parses the text form of an origin URL, as `potluckd origin`
// prints it after "origin-url: ", with one address or several.
func ParseURL(s string) (URL, error) {
	s = strings.TrimSpace(s)
	addrs, rest, multi := splitAuthority(s)
	p, err := url.Parse(rest)
	if err != nil {
		return URL{}, fmt.Errorf("origin url: %w", err)
	}
	if p.Scheme != "https" {
		return URL{}, fmt.Errorf("origin url %q: scheme must be https", s)
	}
	if !multi {
		addrs = []string{p.Host}
	}
	for _, a := range addrs {
		if _, port, err := net.SplitHostPort(a); err != nil || port == "" {
			return URL{}, fmt.Errorf("origin url %q: want host:port (several joined by commas)", s)
		}
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
	return URL{Addr: addrs[0], Addrs: addrs, Key: ed25519.PublicKey(key)}, nil
}

// splitAuthority splits the comma-separated addresses off an https URL
// and returns them and the URL with the first of them alone, for
// url.Parse (which would refuse "[::1]:1,[::2]:2"). multi is false when s
// names one address or is not of that form; then rest is s.
func splitAuthority(s string) (addrs []string, rest string, multi bool) {
	const scheme = "https://"
	if len(s) < len(scheme) || !strings.EqualFold(s[:len(scheme)], scheme) {
		return nil, s, false
	}
	auth := s[len(scheme):]
	end := strings.IndexAny(auth, "/?#")
	if end < 0 {
		end = len(auth)
	}
	auth, tail := auth[:end], auth[end:]
	if !strings.Contains(auth, ",") || strings.Contains(auth, "@") {
		return nil, s, false
	}
	for a := range strings.SplitSeq(auth, ",") {
		if a = strings.TrimSpace(a); a != "" {
			addrs = append(addrs, a)
		}
	}
	if len(addrs) == 0 {
		return nil, s, false
	}
	return addrs, s[:len(scheme)] + addrs[0] + tail, true
}
