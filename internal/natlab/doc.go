// Package natlab builds real NAT routers for tests: network namespaces
// joined by veth pairs and a bridge, with nftables masquerade in each
// router, and UDP sockets opened inside a namespace for code running in
// the test process or for helper processes (the test binary re-executed
// inside a namespace; see StartHelper). It needs root, ip and nft; New
// skips the test otherwise.
//
// Topology of a lab (names are unique per lab):
//
//	inet: bridge "bridge0", 11.0.0.254/24 (the public hosts)
//	rN:   "rw" 11.0.0.N/24 on the bridge; "rl" 10.0.N.1/24; the NAT
//	hN:   "eth0" 10.0.N.2/24, default route via 10.0.N.1
//
// Every namespace a lab makes is deleted when the test ends; namespaces
// left by a test process that was killed are deleted by the next lab.
package natlab
