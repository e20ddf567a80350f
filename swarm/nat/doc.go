// Package nat gets a node's one UDP socket reachable through home routers:
// PortMapper asks the router to forward the node's port (NAT-PMP or UPnP
// IGD), and Puncher opens a path between two nodes that are both behind
// NAT routers by UDP hole punching. Both work on the socket the node's
// quic.Transport owns, so the address a peer reaches is the one QUIC
// listens and dials on.
//
// # Port mapping
//
// A node makes a PortMapper for its UDP port, calls Start when it starts
// and Close when it stops:
//
//	pm := nat.NewPortMapper(nat.Config{Port: port})
//	pm.Start(ctx) // about 2 s when no router answers; never fatal
//	defer pm.Close()
//	m := pm.Mapping() // State (mapped, no gateway, refused), External
//
// Start asks the default gateway over NAT-PMP (RFC 6886) and searches the
// LAN for UPnP IGD services (WANIPConnection2, WANIPConnection1,
// WANPPPConnection1) at the same time, and maps the port on the first
// that agrees, asking for the same external port (UPnP: a few random
// ones if another host holds it; routers that grant only permanent
// leases get one, removed at Close). The mapper's goroutine renews the
// mapping at half its lease, looks for a gateway again every
// RetryInterval while there is none, and removes the mapping on Close. A
// host with no default route has no gateway at once; one whose router
// answers neither protocol learns so after the 2 s SSDP search. Mapping
// is for IPv4, where home routers translate; opening an IPv6 pinhole
// (WANIPv6FirewallControl, PCP) is not done.
//
// # Hole punching
//
// Two nodes behind NAT routers cannot dial each other: each router drops
// what arrives from an address its host has not sent to. A rendezvous
// both already talk to (a peer or the origin, over the peer protocol)
// tells each the other's address as the rendezvous observed it, a nonce
// (NewNonce) and a moment. At that moment both call Punch: each sends
// punch datagrams to the other's observed address, which opens its own
// router toward the other; the first punch that gets through the other
// router shows the path is open both ways. Then the dialling side dials
// QUIC to Result.Remote from the same socket, as usual, and the other
// accepts. The rendezvous message itself is the peer protocol's
// business; docs/protocol.md gives the steps.
//
// A node wires the Puncher to its socket in one of two ways: with
// NewPuncher(transport) and a call to HandlePacket for each non-QUIC
// datagram its read loop gets, or with NewPuncherConn over the
// net.PacketConn its demultiplexer gives for the frame byte PacketType
// (0x02).
//
// # The punch datagram
//
//	byte 0     PacketType, 0x02 (top two bits clear: not QUIC)
//	byte 1     PacketVersion, 1
//	byte 2     flags: 0x01 "seen" (the sender has received a punch with
//	           this nonce); other bits zero, ignored
//	bytes 3-18 the nonce, 16 bytes chosen by the rendezvous
//
// A datagram of another length or version is ignored, and so is one whose
// nonce belongs to no attempt under way: a punch opens nothing and is
// never answered unless both sides were told its nonce. A punch that is
// not "seen" is answered with a "seen" one (same size: no
// amplification), during the attempt and for Linger after it succeeded,
// so a side whose early punches were lost still learns that the path is
// open. The first punch received may come from another port than the
// rendezvous observed (a router that chose a new one); Result.Remote is
// where it came from.
//
// # Timings
//
// Measured between two hosts, each behind its own Linux router doing
// nftables masquerade (the tests build them in network namespaces; no
// delay or loss on the links):
//
//   - Both start together: each side sends 1 punch; both succeed within
//     2 ms.
//   - One side starts late by d: the early side sends about d/Interval+1
//     punches (6-7 for 300 ms and 19-21 for 1 s at 50 ms, 5-6 for 1 s
//     at 200 ms) and succeeds within a few ms of the late side's first
//     punch; the late side sends exactly 1. The routers drop the early punches (a
//     new flow to the router itself), leaving no state behind, so any
//     interval works: the interval bounds only how soon a lost punch is
//     replaced, and what a late peer costs in datagrams.
//   - A router that picks a new port per destination (masquerade random,
//     a "symmetric" NAT) defeats punching to the observed address: both
//     sides give up at Timeout, having sent Timeout/Interval+1 punches.
//   - A router that lets a new flow from the WAN reach the router itself
//     (no drop in its input hook) keeps a conntrack entry for the early
//     side's punches, and then masquerade gives its own host's punches
//     another port, which the early side's router does not expect.
//     Against such a router punching works only if the start moments
//     differ by less than the one-way delay between the sides: with one
//     side 300 ms late it always failed; starting together, with a delay
//     well under a millisecond, it succeeded in some runs and failed in
//     others. A mapped port (PortMapper) is the remedy.
//
// The defaults, Interval 50 ms and Timeout 5 s, allow the sides' clocks or
// delays from the rendezvous to differ by up to about 4 s, and cost at
// most 101 datagrams of 19 bytes. A punched path is a conntrack entry in
// each router; Linux forgets an unanswered UDP flow after 30 s and an
// answered one after 120 s (home routers: 30 s to a few minutes), so the
// node should dial within seconds and keep the QUIC connection alive
// (KeepAlivePeriod) at well under 30 s.
package nat
