package swarm

import (
	"bytes"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"testing"

	"github.com/potluckfm/potluck/cache"
	"github.com/potluckfm/potluck/track"
)

var testNonce = [16]byte{0xa0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 0xaf}

var testID = track.ID{0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08, 0x09, 0x0a, 0x0b, 0x0c, 0x0d, 0x0e, 0x0f, 0x10}

// Golden bytes: a change here is a change of the wire format. One that an
// older node misreads needs a new protocol version; an addition it reads
// harmlessly (START's packed bit) is written down as such in
// docs/protocol.md.
func TestRequestGoldenBytes(t *testing.T) {
	for _, tc := range []struct {
		req  request
		want string
	}{
		{request{typ: msgManifest, id: testID}, "504c4b0101" + "0102030405060708090a0b0c0d0e0f10"},
		{request{typ: msgHave, id: testID}, "504c4b0102" + "0102030405060708090a0b0c0d0e0f10"},
		{request{typ: msgChunk, id: testID, index: 258, priority: PriorityPlaying}, "504c4b0103" + "0102030405060708090a0b0c0d0e0f10" + "00000102" + "01"},
		{request{typ: msgWhoHas, id: testID, ttl: 2}, "504c4b0104" + "0102030405060708090a0b0c0d0e0f10" + "02"},
		{request{typ: msgPeers}, "504c4b0105"},
		{request{typ: msgCatalogue}, "504c4b0106"},
		{request{typ: msgCover, id: testID}, "504c4b0107" + "0102030405060708090a0b0c0d0e0f10"},
		{request{typ: msgStart, id: testID, count: 2}, "504c4b010b" + "0102030405060708090a0b0c0d0e0f10" + "02"},
		{request{typ: msgStart, id: testID, count: 2, packed: true}, "504c4b010b" + "0102030405060708090a0b0c0d0e0f10" + "82"},
		// NAT traversal.
		{request{typ: msgObserved}, "504c4b0108"},
		{request{typ: msgPunchVia, peer: "ab", nonce: testNonce, delay: 100},
			"504c4b0109" + "02" + "6162" + "a00102030405060708090a0b0c0d0eaf" + "0064"},
		{request{typ: msgPunch, peer: "ab", addr: "1.2.3.4:5", nonce: testNonce, delay: 100},
			"504c4b010a" + "02" + "6162" + "09" + "312e322e332e343a35" + "a00102030405060708090a0b0c0d0eaf" + "0064"},
	} {
		var buf bytes.Buffer
		if err := writeRequest(&buf, tc.req); err != nil {
			t.Fatal(err)
		}
		if got := hex.EncodeToString(buf.Bytes()); got != tc.want {
			t.Errorf("request %d: %s, want %s", tc.req.typ, got, tc.want)
		}
		back, err := readRequest(&buf)
		if err != nil || back != tc.req {
			t.Errorf("request %d: read back %+v, %v", tc.req.typ, back, err)
		}
	}
}

func TestResponseGoldenBytes(t *testing.T) {
	var buf bytes.Buffer
	writeBytes(&buf, []byte("abc"))
	if got := hex.EncodeToString(buf.Bytes()); got != "0000000003616263" {
		t.Errorf("bytes response %s", got)
	}
	b, err := readBytes(&buf, 3)
	if err != nil || string(b) != "abc" {
		t.Errorf("read back %q %v", b, err)
	}

	buf.Reset()
	writePeers(&buf, []PeerAddr{{ID: "ab", Addr: "1.2.3.4:5"}})
	if got := hex.EncodeToString(buf.Bytes()); got != "000001"+"02"+"6162"+"09"+"312e322e332e343a35" {
		t.Errorf("peers response %s", got)
	}
	peers, err := readPeers(&buf)
	if err != nil || len(peers) != 1 || peers[0] != (PeerAddr{ID: "ab", Addr: "1.2.3.4:5"}) {
		t.Errorf("read back %v %v", peers, err)
	}

	for st := range byte(10) {
		buf.Reset()
		writeStatus(&buf, st)
		_, err := readBytes(&buf, 10)
		switch {
		case st == statusOK:
			if !errors.Is(err, ErrBadResponse) { // an OK with no length
				t.Errorf("status 0 with nothing after it: %v", err)
			}
		case st > statusGone:
			if !errors.Is(err, ErrBadResponse) {
				t.Errorf("unknown status %d: %v, want ErrBadResponse", st, err)
			}
		default:
			if got := errorToStatus(err); got != st {
				t.Errorf("status %d read back as %v, which answers with status %d", st, err, got)
			}
		}
	}
	for err, want := range map[error]byte{
		nil:                                      statusOK,
		ErrUnknownMagic:                          statusBadRequest,
		fmt.Errorf("x: %w", ErrBusy):             statusBusy,
		fmt.Errorf("%w: disk", cache.ErrCorrupt): statusGone,
		cache.ErrClosed:                          statusGone,
		errors.New("anything else"):              statusBadRequest,
	} {
		if got := errorToStatus(err); got != want {
			t.Errorf("errorToStatus(%v) = %d, want %d", err, got, want)
		}
	}
}

// TestCatalogueAndCoverGoldenBytes: CATALOGUE and COVER answer like
// MANIFEST (length-prefixed bytes, or a status alone), and what an older
// node that knows neither type answers them is a status the asker reads
// as a plain refusal, never as content.
func TestCatalogueAndCoverGoldenBytes(t *testing.T) {
	var buf bytes.Buffer
	writeBytes(&buf, []byte(`{"catalogue":{},"signature":""}`))
	want := "00" + "0000001f" + hex.EncodeToString([]byte(`{"catalogue":{},"signature":""}`))
	if got := hex.EncodeToString(buf.Bytes()); got != want {
		t.Errorf("catalogue answer %s, want %s", got, want)
	}
	buf.Reset()
	writeStatus(&buf, errorToStatus(ErrNotHeld))
	if got := hex.EncodeToString(buf.Bytes()); got != "01" {
		t.Errorf("cover not held: %s, want 01", got)
	}
	if _, err := readBytes(&buf, maxCoverBytes); !errors.Is(err, ErrNotHeld) {
		t.Errorf("cover not held read back as %v", err)
	}
	// A version 1 node from before types 6 and 7: its readRequest fails
	// with ErrBadRequest, which it answers with status 3.
	for _, raw := range []string{"504c4b0106", "504c4b0107" + "0102030405060708090a0b0c0d0e0f10"} {
		b, _ := hex.DecodeString(raw)
		b[4] = 9 // a type unknown to this node, as 6 and 7 are to an older one
		_, err := readRequest(bytes.NewReader(b))
		buf.Reset()
		writeStatus(&buf, errorToStatus(err))
		if got := hex.EncodeToString(buf.Bytes()); got != "03" {
			t.Errorf("unknown type answered %s, want 03", got)
		}
		if _, err := readBytes(&buf, maxCatalogueBytes); !errors.Is(err, ErrBadRequest) {
			t.Errorf("bad request read back as %v", err)
		}
	}
	// A cover request with a short ID is a bad request.
	b, _ := hex.DecodeString("504c4b0107" + "0102")
	if _, err := readRequest(bytes.NewReader(b)); !errors.Is(err, ErrBadRequest) {
		t.Errorf("short cover request: %v", err)
	}
}

func TestRejectsOtherVersionsAndMagic(t *testing.T) {
	for _, tc := range []struct {
		raw  string
		want error
	}{
		{"504c4b0001", ErrTooOldVersion},
		{"504c4b0201", ErrUnknownVersion},
		{"504c4bff01", ErrUnknownVersion},
		{"474554202f", ErrUnknownMagic}, // "GET /"
		{"504c4b0109", ErrBadRequest},   // unknown message type
		{"504c4b0101" + "0102", ErrBadRequest},
		{"504c", ErrBadRequest},
	} {
		raw, _ := hex.DecodeString(tc.raw)
		if _, err := readRequest(bytes.NewReader(raw)); !errors.Is(err, tc.want) {
			t.Errorf("%s: %v, want %v", tc.raw, err, tc.want)
		}
	}
}

func TestResponseLimits(t *testing.T) {
	var buf bytes.Buffer
	writeBytes(&buf, make([]byte, 100))
	if _, err := readBytes(&buf, 99); !errors.Is(err, ErrBadResponse) {
		t.Errorf("oversized: %v", err)
	}
	// A length that promises more than is sent.
	if _, err := readBytes(bytes.NewReader([]byte{0, 0, 0, 0, 50, 1, 2}), 100); !errors.Is(err, ErrBadResponse) {
		t.Errorf("short body: %v", err)
	}
	if _, err := readPeers(bytes.NewReader([]byte{0, 0xff, 0xff})); !errors.Is(err, ErrBadResponse) {
		t.Errorf("too many peers: %v", err)
	}
}

func TestOverPipe(t *testing.T) {
	a, b := net.Pipe()
	defer a.Close()
	go func() {
		defer b.Close()
		req, err := readRequest(b)
		if err != nil || req.typ != msgChunk || req.index != 7 {
			writeStatus(b, statusBadRequest)
			return
		}
		writeBytes(b, []byte("chunk seven"))
	}()
	if err := writeRequest(a, request{typ: msgChunk, id: testID, index: 7}); err != nil {
		t.Fatal(err)
	}
	got, err := readBytes(a, 1<<10)
	if err != nil || string(got) != "chunk seven" {
		t.Fatalf("%q %v", got, err)
	}
	if _, err := readBytes(a, 10); !errors.Is(err, ErrBadResponse) {
		t.Fatalf("after close: %v", err)
	}
}

func FuzzReadRequest(f *testing.F) {
	f.Add([]byte("PLK\x01\x03" + string(testID[:]) + "\x00\x00\x00\x01\x01"))
	f.Add([]byte("PLK\x01\x04"))
	f.Fuzz(func(t *testing.T, b []byte) {
		req, err := readRequest(bytes.NewReader(b))
		if err == nil && req.ttl > MaxWhoHasTTL {
			t.Fatalf("ttl %d above the cap", req.ttl)
		}
	})
}
