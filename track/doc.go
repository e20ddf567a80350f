// Package track holds the domain types every part of Potluck shares: a
// track's ID, its Manifest (metadata, chunking, chunk hashes, seek index) and
// the origin's signature over it.
//
// A Manifest is the unit of trust. The origin signs it with its Ed25519 key;
// clients pin that key and accept a manifest only through Open, which checks
// the signature, the manifest's internal consistency and that its ID is the
// one derived from its chunk hashes. Every chunk, whoever sent it, is then
// checked with Manifest.VerifyChunk before it is used. Nothing here does I/O.
package track
