package dht

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"io"
	"math/big"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"runtime"
	"testing"
	"time"
)

func testTLS(t *testing.T) (*tls.Config, *tls.Config) {
	t.Helper()
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), NotAfter: time.Now().Add(time.Hour), DNSNames: []string{"node"}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, pub, priv)
	if err != nil {
		t.Fatal(err)
	}
	cert := tls.Certificate{Certificate: [][]byte{der}, PrivateKey: priv}
	pool := x509.NewCertPool()
	c, _ := x509.ParseCertificate(der)
	pool.AddCert(c)
	srv := &tls.Config{Certificates: []tls.Certificate{cert}, NextProtos: []string{"test"}}
	cli := &tls.Config{RootCAs: pool, ServerName: "node", NextProtos: []string{"test"}}
	return srv, cli
}

// TestQUICBesideDHT runs QUIC between two nodes' Transports while their
// DHTs talk over the same sockets.
func TestQUICBesideDHT(t *testing.T) {
	base := runtime.NumGoroutine()
	func() {
		a := startNode(t, loopback(0), nil)
		b := startNode(t, loopback(1), []netip.AddrPort{a.ap})
		defer a.close()
		defer b.close()
		srvTLS, cliTLS := testTLS(t)
		ln, err := a.tr.Listen(srvTLS, nil)
		if err != nil {
			t.Fatal(err)
		}
		defer ln.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()

		echoed := make(chan error, 1)
		go func() {
			conn, err := ln.Accept(ctx)
			if err != nil {
				echoed <- err
				return
			}
			str, err := conn.AcceptStream(ctx)
			if err != nil {
				echoed <- err
				return
			}
			_, err = io.Copy(str, str)
			str.Close()
			echoed <- err
		}()
		conn, err := b.tr.Dial(ctx, net.UDPAddrFromAddrPort(a.ap), cliTLS, nil)
		if err != nil {
			t.Fatal(err)
		}
		defer conn.CloseWithError(0, "")
		str, err := conn.OpenStreamSync(ctx)
		if err != nil {
			t.Fatal(err)
		}

		// DHT traffic on the same sockets, while the stream is open.
		if err := b.d.Ping(ctx, a.ap); err != nil {
			t.Fatalf("DHT ping beside QUIC: %v", err)
		}
		key := [20]byte{0x51}
		if _, err := b.d.Announce(ctx, key); err != nil {
			t.Fatalf("announce: %v", err)
		}

		msg := []byte("hello over quic")
		if _, err := str.Write(msg); err != nil {
			t.Fatal(err)
		}
		str.Close()
		got, err := io.ReadAll(str)
		if err != nil || string(got) != string(msg) {
			t.Fatalf("echo %q, %v", got, err)
		}
		if err := <-echoed; err != nil {
			t.Fatal(err)
		}
		hs, err := a.d.Holders(ctx, key)
		if err != nil || !contains(hs, b.ap) {
			t.Fatalf("holders %v, %v; want %v", hs, err, b.ap)
		}
		conn.CloseWithError(0, "")
		ln.Close()
	}()
	waitGoroutines(t, base)
}

// TestStateFile restarts a node on a new port with no bootstrap address:
// it keeps its ID and finds the network again from the saved table.
func TestStateFile(t *testing.T) {
	file := filepath.Join(t.TempDir(), "dht", "state.json")
	boot := startNode(t, loopback(0), nil)
	var others []*testNode
	for i := 1; i < 4; i++ {
		others = append(others, startNode(t, loopback(i), []netip.AddrPort{boot.ap}))
	}
	n := startNode(t, loopback(9), []netip.AddrPort{boot.ap}, func(c *Config) { c.StateFile = file })
	waitFor(t, 10*time.Second, func() bool { return n.d.Stats().GoodNodes >= 3 })
	id := n.d.ID()
	n.close()
	if _, err := os.Stat(file); err != nil {
		t.Fatal(err)
	}
	st, err := loadState(file)
	if err != nil || len(st.nodes()) < 3 {
		t.Fatalf("saved state %+v, %v", st, err)
	}

	again := startNode(t, loopback(9), nil, func(c *Config) { c.StateFile = file })
	if again.d.ID() != id {
		t.Errorf("ID %x after restart, want %x", again.d.ID(), id)
	}
	waitFor(t, 10*time.Second, func() bool { return again.d.Stats().GoodNodes >= 3 })
}

func waitFor(t *testing.T, d time.Duration, ok func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !ok() {
		if time.Now().After(deadline) {
			t.Fatalf("condition not met within %v", d)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
