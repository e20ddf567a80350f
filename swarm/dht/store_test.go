package dht

import (
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/hex"
	"net/netip"
	"testing"
	"time"

	"github.com/potluckfm/potluck/track"
)

func TestKey(t *testing.T) {
	origin := ed25519.PublicKey(make([]byte, ed25519.PublicKeySize))
	origin[0] = 0xaa
	var id track.ID
	id[15] = 7
	k := Key(origin, id)
	h := sha256.Sum256(append(append([]byte("potluck dht key v1\x00"), origin...), id[:]...))
	if k != [20]byte(h[:20]) {
		t.Fatalf("Key = %x, want %x", k, h[:20])
	}
	// Pinned, so that a change of the derivation is seen.
	if got := hex.EncodeToString(k[:]); got != golden {
		t.Fatalf("Key = %s, want %s", got, golden)
	}
	other := ed25519.PublicKey(append([]byte(nil), origin...))
	other[1] = 1
	if Key(other, id) == k {
		t.Fatal("two origins share a key for one track")
	}
}

const golden = "9e17b0706fff93674c02400f4fcd495b80efccd6"

func TestStoreBounds(t *testing.T) {
	s := newStore()
	now := time.Unix(1e9, 0)
	s.now = func() time.Time { return now }
	key := [20]byte{1}
	ap := func(ip string, port uint16) netip.AddrPort {
		return netip.AddrPortFrom(netip.MustParseAddr(ip), port)
	}

	// One IP keeps at most holdersPerIP entries under a key: the newest.
	for p := range uint16(10) {
		s.add(key, ap("10.0.0.1", 1000+p))
	}
	got := s.get(key)
	if len(got) != holdersPerIP || got[0] != ap("10.0.0.1", 1009) {
		t.Fatalf("one IP's entries: %v", got)
	}
	// So does an IPv6 /64.
	for p := range uint16(10) {
		s.add(key, netip.AddrPortFrom(netip.AddrFrom16([16]byte{0x20, 1, 0xd, 0xb8, 15: byte(p)}), 1))
	}
	if got := s.get(key); len(got) != 2*holdersPerIP {
		t.Fatalf("a /64's entries: %d, want %d", len(got), 2*holdersPerIP)
	}

	// A key keeps at most holdersPerKey entries; an answer names at most
	// holdersReturned.
	for i := range 100 {
		s.add(key, ap("10.1."+itoa3(i)+".1", 1))
	}
	if k, n := s.counts(); k != 1 || n != holdersPerKey {
		t.Fatalf("counts %d keys %d entries, want 1, %d", k, n, holdersPerKey)
	}
	if got := s.get(key); len(got) != holdersReturned {
		t.Fatalf("answer of %d holders", len(got))
	}

	// A refresh keeps an entry; silence past holderTTL forgets it.
	s2 := newStore()
	s2.now = s.now
	s2.add(key, ap("10.0.0.2", 1))
	now = now.Add(holderTTL - time.Minute)
	s2.add(key, ap("10.0.0.2", 1))
	s2.add(key, ap("10.0.0.3", 1))
	now = now.Add(holderTTL - time.Second)
	if got := s2.get(key); len(got) != 2 {
		t.Fatalf("refreshed entries: %v", got)
	}
	now = now.Add(2 * time.Second)
	s2.expire()
	if k, n := s2.counts(); k != 0 || n != 0 {
		t.Fatalf("after TTL: %d keys, %d entries", k, n)
	}

	// One IP may hold at most keysPerIP entries in all.
	s3 := newStore()
	for i := range keysPerIP + 10 {
		s3.add([20]byte{byte(i), byte(i >> 8), 9}, ap("10.0.0.4", 1))
	}
	if _, n := s3.counts(); n != keysPerIP {
		t.Fatalf("one IP holds %d entries, want %d", n, keysPerIP)
	}

	// Keys in all are bounded; the stalest goes.
	s4 := newStore()
	s4.now = s.now
	for i := range keysTotal + 5 {
		now = now.Add(time.Millisecond)
		s4.add([20]byte{byte(i), byte(i >> 8), byte(i >> 16)}, ap("10."+itoa3(i%200)+"."+itoa3(i/200%200)+".1", 1))
	}
	if k, _ := s4.counts(); k != keysTotal {
		t.Fatalf("%d keys, want %d", k, keysTotal)
	}
	if s4.get([20]byte{0, 0, 0}) != nil {
		t.Fatal("the stalest key was kept")
	}
}

func itoa3(i int) string {
	const digits = "0123456789"
	if i < 10 {
		return digits[i : i+1]
	}
	return itoa3(i/10) + digits[i%10:i%10+1]
}
