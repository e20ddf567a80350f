package swarm

import (
	"crypto/ed25519"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"fmt"
	"github.com/potluckfm/potluck/internal/keyfile"
	"github.com/potluckfm/potluck/internal/peerid"
	"math/big"
	"path/filepath"
	"time"
)

// PeerID names a node. It is derived from the node's Ed25519 public key
// (see IDFromKey), and the peer protocol's mutual TLS proves it, so no node
// can claim another's ID.
type PeerID string

// IDFromKey derives a node's ID: the first 20 bytes of SHA-256 of its public
// key, in lower-case base32 (32 characters).
// The tracker derives it the same way (package peerid).
func IDFromKey(pub ed25519.PublicKey) PeerID {
	return PeerID(peerid.FromKey(pub))
}

// Short returns the first 8 characters of the ID, for logs.
func (id PeerID) Short() string { return string(id)[:min(8, len(id))] }

const nodeKeyFile = "node.key"

// loadOrCreateKey returns the node key kept in dir, creating it on first use.
func loadOrCreateKey(dir string) (ed25519.PrivateKey, error) {
	return keyfile.LoadOrCreate(filepath.Join(dir, nodeKeyFile), "node key")
}

// ALPN is the peer protocol's TLS application protocol; its suffix is the
// protocol version.
const ALPN = peerid.ALPN

// ErrWrongPeer means a connection reached a node other than the one dialed.
var ErrWrongPeer = errors.New("peer's key does not match the peer ID dialed")

// tlsConfig returns the mutual-TLS config of a node: it presents a
// certificate self-signed by its key and requires one from the other side,
// whose key then names that side (IDFromKey). want, if not empty, is the ID
// the other side must have.
func tlsConfig(key ed25519.PrivateKey, want PeerID) (*tls.Config, error) {
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(time.Now().UnixNano()),
		Subject:      pkix.Name{CommonName: string(IDFromKey(key.Public().(ed25519.PublicKey)))},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(10 * 365 * 24 * time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		return nil, err
	}
	return &tls.Config{
		MinVersion:         tls.VersionTLS13,
		Certificates:       []tls.Certificate{{Certificate: [][]byte{der}, PrivateKey: key}},
		NextProtos:         []string{ALPN},
		ClientAuth:         tls.RequireAnyClientCert,
		InsecureSkipVerify: true, // the key is the identity; checked below
		VerifyConnection: func(cs tls.ConnectionState) error {
			id, err := peerIDOf(cs)
			if err != nil {
				return err
			}
			if want != "" && id != want {
				return fmt.Errorf("%w: dialed %s, reached %s", ErrWrongPeer, want.Short(), id.Short())
			}
			return nil
		},
	}, nil
}

// peerIDOf returns the ID proven by the other side of a TLS connection.
func peerIDOf(cs tls.ConnectionState) (PeerID, error) {
	if len(cs.PeerCertificates) == 0 {
		return "", errors.New("peer sent no certificate")
	}
	pub, ok := cs.PeerCertificates[0].PublicKey.(ed25519.PublicKey)
	if !ok {
		return "", errors.New("peer certificate is not Ed25519")
	}
	return IDFromKey(pub), nil
}

// tlsConfigFor returns a copy of the node's TLS config that accepts only
// the node want.
func tlsConfigFor(base *tls.Config, want PeerID) (*tls.Config, error) {
	conf := base.Clone()
	conf.VerifyConnection = func(cs tls.ConnectionState) error {
		id, err := peerIDOf(cs)
		if err != nil {
			return err
		}
		if id != want {
			return fmt.Errorf("%w: dialed %s, reached %s", ErrWrongPeer, want.Short(), id.Short())
		}
		return nil
	}
	return conf, nil
}
