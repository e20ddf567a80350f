package origin

import (
	"crypto/ed25519"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"github.com/potluckfm/potluck/internal/keyfile"
	"math/big"
	"net"
	"path/filepath"
	"time"
)

// keyFile is the origin's Ed25519 key inside its data directory.
const keyFile = "origin.key"

// LoadOrCreateKey returns the origin key kept in dataDir, creating the
// directory and a new key on first use. The key is what clients pin: losing
// it means every client needs a new origin URL.
func LoadOrCreateKey(dataDir string) (ed25519.PrivateKey, error) {
	return keyfile.LoadOrCreate(filepath.Join(dataDir, keyFile), "origin key")
}

// selfSignedCert makes the TLS certificate the origin serves: self-signed by
// the origin key, so that pinning the key pins the connection too.
func selfSignedCert(key ed25519.PrivateKey, host string) (tls.Certificate, error) {
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(time.Now().UnixNano()),
		Subject:      pkix.Name{CommonName: "potluck origin"},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(10 * 365 * 24 * time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		DNSNames:     []string{"localhost"},
	}
	if ip := net.ParseIP(host); ip != nil {
		tmpl.IPAddresses = []net.IP{ip}
	} else if host != "" {
		tmpl.DNSNames = append(tmpl.DNSNames, host)
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		return tls.Certificate{}, err
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}, nil
}

// pinnedTLSConfig returns a client TLS config that accepts exactly the
// origin whose certificate carries key, whatever its name or issuer.
func pinnedTLSConfig(key ed25519.PublicKey, nextProtos []string) *tls.Config {
	return &tls.Config{
		MinVersion:         tls.VersionTLS13,
		NextProtos:         nextProtos,
		InsecureSkipVerify: true, // replaced by the key pin below
		VerifyConnection: func(cs tls.ConnectionState) error {
			if len(cs.PeerCertificates) == 0 {
				return errors.New("origin sent no certificate")
			}
			got, ok := cs.PeerCertificates[0].PublicKey.(ed25519.PublicKey)
			if !ok || !got.Equal(key) {
				return ErrKeyMismatch
			}
			return nil
		},
	}
}
