// Package dht implements Potluck's private Kademlia DHT: where a node
// announces the tracks it holds and looks up who holds a track, without
// the origin's tracker. It is BitTorrent's mainline DHT (BEP 5, via
// github.com/anacrolix/dht/v2) on a private network: it runs on the node's
// one UDP socket beside QUIC, every datagram framed by the byte FrameDHT,
// so it never meets the public DHT, and it never contacts an address it
// was not given (no public routers).
//
// A Mux owns the socket's non-QUIC datagrams and routes them by their
// first byte; the DHT takes FrameDHT and leaves the others (hole-punch
// packets, FrameHolePunch) to whoever listens for them.
//
// Keys are per origin and track (Key). Announce stores this node's address,
// as the storing node sees it, under a key at the nodes closest to it;
// Find and Holders look holders up. KeepAnnounced keeps a set of keys
// announced.
//
// Every table a stranger can add to is bounded: node IDs per IP in the
// routing table and per lookup, holders per key, per IP and in all, keys in
// all, datagrams per IP per second; announces are bound to the sender's
// address by the token and implied_port (see docs/protocol.md, "DHT
// (version 1)").
//
// Lifetimes: the context passed to Start bounds only the call; what Start
// starts runs until Close, which ends every goroutine the DHT started,
// waits for them and may be called again.
package dht
