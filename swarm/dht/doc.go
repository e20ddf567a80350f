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
// Joining. In a private network a node learned only from another's answer
// is not "good" (and is not handed on) until it has answered itself, so a
// young network bootstrapped from one node would find nothing for a long
// while. A node therefore pings back every node that queries it and has
// not answered it lately, and while its table is thin (fewer than 8 good
// nodes) it pings its bootstrap addresses and looks up its own ID and a
// random one again after 0.5 s, 1 s, 2 s ... (30 s at most; every 5 min
// once healthy). KeepAnnounced repeats an announce soon while the table is
// young.
//
// Measured: 30 nodes on loopback, started at once, each bootstrapped from
// node 0 alone; one random node keeps a key announced from its start and
// another looks it up every 50 ms. A lookup first found the holder after
// a median of 0.34 to 1.1 s and at most 1.3 to 3.2 s over 20 such
// networks (two shared cores under a load average of 6 to 8), with
//
//	go test -run XXX -bench Convergence -benchtime 20x ./swarm/dht/
//
// Under the race detector (TestConvergence) it takes 2 to 6 s.
//
// Lifetimes: the context passed to Start bounds only the call; what Start
// starts runs until Close, which ends every goroutine the DHT started,
// waits for them and may be called again.
package dht
