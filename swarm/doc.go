// Package swarm implements Potluck's peer-to-peer side: a node's identity,
// the peer protocol over raw QUIC, peer discovery (the origin's tracker,
// neighbour search, peer exchange), the deadline-driven chunk scheduler,
// upload serving and Stream, the reader the player and fetch consume.
//
// A Node owns one UDP socket (a quic.Transport) on which it both listens and
// dials, so the address a peer sees is the address it can call back. It
// keeps at most one connection per pair of nodes and opens a stream per
// request. Every chunk, from a peer or the origin, is checked against the
// signed manifest before it reaches the cache or a reader; a peer that sends
// one bad byte or a manifest the origin did not sign is disconnected and
// banned for the node's lifetime.
//
// Every table another node can grow is bounded (see limits): the address
// book, the confirmed addresses, bans, the holders noted per track and the
// neighbour searches remembered per asker. A full table keeps what it found
// itself and the newest word, and forgets the oldest; the address book and
// the confirmations also age. Connections are bounded in all and per source
// IP (/64 for IPv6), and streams per connection (maxStreams). Nobody speaks
// for another peer: an address only hearsay vouches for (WHO_HAS and PEERS
// answers, peers.json) is taken at most hearsayPerAns from one answer,
// takes at most hearsayPerSource places in the address book per source
// network, and is dialled at most hearsayRate a second and hearsayDials at once, until the
// tracker lists it, it connects, a handshake with it succeeds, or a
// neighbour that delivered good chunks lists it. No one peer can starve
// the rest:
// upload slots are shared by peer, the neighbour searches an asker can
// start onward are rate-limited, and a chunk that peers fail to deliver
// goes to the origin after three tries or 10 s (docs/scheduler.md), so a
// stream ends in bounded time whatever its peers do while the origin is up.
//
// Lifetimes: a context passed to Start or NewKeeper bounds nothing but the
// call and lends its values; what the call starts runs until Close, however
// ctx ends. Close ends every goroutine the value started, waits for them,
// and may be called again (it then returns what the first call returned).
//
// The wire format is written down in docs/protocol.md.
package swarm
