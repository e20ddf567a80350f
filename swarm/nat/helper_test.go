//go:build linux

package nat

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/netip"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/quic-go/quic-go"

	"github.com/potluckfm/potluck/internal/natlab"
)

// observeType frames the test rendezvous's datagrams: a one-byte request
// "what is my address?", answered with the byte and the address as text.
const observeType byte = 0x03

// TestHelperProcess is not a test: the lab tests run this binary inside a
// namespace as a natlab helper, and it then serves their commands (see
// labNode.do).
func TestHelperProcess(t *testing.T) {
	if !natlab.IsHelper() {
		t.Skip("run by the NAT lab tests inside a namespace")
	}
	n := &labNode{observed: make(chan string, 1)}
	defer n.close()
	natlab.ServeHelper(n.do)
}

// startHelper runs TestHelperProcess in namespace ns of lab l.
func startHelper(l *natlab.Lab, name, ns string) *natlab.Helper {
	return l.StartHelper(name, ns, "TestHelperProcess")
}

// labNode is a node in a namespace: one quic.Transport that listens for
// QUIC (echoing each stream), answers the rendezvous request and punches.
type labNode struct {
	tr       *quic.Transport
	ln       *quic.Listener
	puncher  *Puncher
	observed chan string
	mapper   *PortMapper
	stop     context.CancelFunc
}

func (n *labNode) close() {
	if n.mapper != nil {
		n.mapper.Close()
	}
	if n.stop != nil {
		n.stop()
	}
	if n.tr != nil {
		n.tr.Close()
	}
}

var labALPN = []string{"potluck-nat-test"}

func (n *labNode) do(cmd string, args []string) (string, error) {
	arg := func(i int) string {
		if i < len(args) {
			return args[i]
		}
		return ""
	}
	ms := func(i int) time.Duration {
		v, _ := strconv.Atoi(arg(i))
		return time.Duration(v) * time.Millisecond
	}
	switch cmd {
	case "listen": // listen PORT
		port, _ := strconv.Atoi(arg(0))
		return n.listen(port)
	case "observe": // observe RENDEZVOUS-ADDR
		return n.observe(arg(0))
	case "punch": // punch REMOTE NONCE AT-UNIX-NANO TIMEOUT-MS INTERVAL-MS
		remote, err := net.ResolveUDPAddr("udp4", arg(0))
		if err != nil {
			return "", err
		}
		nonce, err := ParseNonce(arg(1))
		if err != nil {
			return "", err
		}
		at, _ := strconv.ParseInt(arg(2), 10, 64)
		res, err := n.puncher.Punch(context.Background(), remote, nonce, time.Unix(0, at), Schedule{Timeout: ms(3), Interval: ms(4)})
		if err != nil {
			return "", fmt.Errorf("%w (sent %d)", err, res.Sent)
		}
		return fmt.Sprintf("%v %d %d %v", res.Remote, res.Sent, res.Elapsed.Milliseconds(), res.Seen), nil
	case "dial": // dial ADDR TIMEOUT-MS
		return n.dial(arg(0), ms(1))
	case "map": // map any|upnp|natpmp
		if n.tr == nil {
			return "", errors.New("listen first")
		}
		cfg := Config{Port: n.tr.Conn.LocalAddr().(*net.UDPAddr).Port, Lease: 10 * time.Minute, Logf: logStderr}
		cfg.NoUPnP = arg(0) == "natpmp"
		cfg.NoNATPMP = arg(0) == "upnp"
		n.mapper = NewPortMapper(cfg)
		start := time.Now()
		if err := n.mapper.Start(context.Background()); err != nil {
			return "", err
		}
		m := n.mapper.Mapping()
		return fmt.Sprintf("%s %v %s %d", dash(m.State.String()), m.External, dash(m.Method), time.Since(start).Milliseconds()), nil
	case "unmap":
		if n.mapper == nil {
			return "", errors.New("not mapping")
		}
		n.mapper.Close()
		return n.mapper.Mapping().State.String(), nil
	}
	return "", fmt.Errorf("unknown command %q", cmd)
}

func logStderr(format string, args ...any) { fmt.Fprintf(os.Stderr, format+"\n", args...) }

func (n *labNode) listen(port int) (string, error) {
	conn, err := net.ListenUDP("udp4", &net.UDPAddr{Port: port})
	if err != nil {
		return "", err
	}
	n.tr = &quic.Transport{Conn: conn}
	n.puncher = NewPuncher(n.tr)
	n.ln, err = n.tr.Listen(&tls.Config{Certificates: []tls.Certificate{selfSigned()}, NextProtos: labALPN}, &quic.Config{})
	if err != nil {
		return "", err
	}
	ctx, stop := context.WithCancel(context.Background())
	n.stop = stop
	go n.readLoop(ctx)
	go n.acceptLoop(ctx)
	return strconv.Itoa(conn.LocalAddr().(*net.UDPAddr).Port), nil
}

// readLoop is the demultiplexer a node would run: it drains
// ReadNonQUICPacket and hands each datagram to its owner by first byte.
func (n *labNode) readLoop(ctx context.Context) {
	buf := make([]byte, 1500)
	for {
		k, from, err := n.tr.ReadNonQUICPacket(ctx, buf)
		if err != nil {
			return
		}
		b := buf[:k]
		switch {
		case n.puncher.HandlePacket(b, from):
		case len(b) == 1 && b[0] == observeType:
			n.tr.WriteTo(append([]byte{observeType}, from.String()...), from)
		case len(b) > 1 && b[0] == observeType:
			select {
			case n.observed <- string(b[1:]):
			default:
			}
		}
	}
}

func (n *labNode) acceptLoop(ctx context.Context) {
	for {
		conn, err := n.ln.Accept(ctx)
		if err != nil {
			return
		}
		go func() {
			str, err := conn.AcceptStream(ctx)
			if err != nil {
				return
			}
			b, _ := io.ReadAll(str)
			str.Write(append([]byte("echo:"), b...))
			str.Close()
			time.Sleep(time.Second)
			conn.CloseWithError(0, "")
		}()
	}
}

// observe asks the rendezvous at addr for this socket's address as seen
// from outside.
func (n *labNode) observe(addr string) (string, error) {
	ra, err := net.ResolveUDPAddr("udp4", addr)
	if err != nil {
		return "", err
	}
	for range 10 {
		n.tr.WriteTo([]byte{observeType}, ra)
		select {
		case s := <-n.observed:
			return s, nil
		case <-time.After(200 * time.Millisecond):
		}
	}
	return "", errors.New("rendezvous did not answer")
}

// dial opens a QUIC connection from the node's transport, sends a line on
// a stream and returns the echo.
func (n *labNode) dial(addr string, timeout time.Duration) (string, error) {
	ap, err := netip.ParseAddrPort(addr)
	if err != nil {
		return "", err
	}
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	conn, err := n.tr.Dial(ctx, net.UDPAddrFromAddrPort(ap), &tls.Config{InsecureSkipVerify: true, NextProtos: labALPN}, &quic.Config{HandshakeIdleTimeout: timeout})
	if err != nil {
		return "", fmt.Errorf("dial %s: %w", addr, err)
	}
	defer conn.CloseWithError(0, "")
	str, err := conn.OpenStreamSync(ctx)
	if err != nil {
		return "", err
	}
	msg := "hello-from-" + n.tr.Conn.LocalAddr().String()
	if _, err := str.Write([]byte(msg)); err != nil {
		return "", err
	}
	str.Close()
	b, err := io.ReadAll(str)
	if err != nil {
		return "", err
	}
	if string(b) != "echo:"+msg {
		return "", fmt.Errorf("echo %q, want %q", b, "echo:"+msg)
	}
	return string(b), nil
}

func selfSigned() tls.Certificate {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		panic(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour), DNSNames: []string{"potluck"}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		panic(err)
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}
}

// dash makes s one word.
func dash(s string) string {
	if s == "" {
		return "-"
	}
	return strings.ReplaceAll(s, " ", "-")
}
