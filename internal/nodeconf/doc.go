// Package nodeconf opens a Potluck data directory and starts the swarm
// node on it: the one node wiring of the desktop app and potluckd, so that
// a directory used by both is one node with one identity.
//
// # Layout
//
// A data directory DIR holds
//
//	DIR/node.key    the node key; the peer ID derives from it
//	DIR/peers.json  the peers that delivered good chunks
//	DIR/cache/      the cache of verified chunks and manifests
//
// The desktop app may keep the cache elsewhere (Options.CacheDir: by
// default it lives in the user's cache directory). Older desktop apps kept
// the key and peers in DIR/node/; Start moves them into DIR (see Migrate).
//
// It does disk I/O and starts a node, so it is no place for the app
// package (which only renders); it is internal because only the two
// binaries use it. It also adapts a swarm Stream to a player Source
// (Opener, Source), so that player need not import swarm.
package nodeconf
