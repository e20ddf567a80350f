// Package origin is Potluck's source of truth: it scans a music library,
// builds and signs a manifest per track, and serves the catalogue, manifests,
// chunks, cover art and a peer tracker over HTTP/3 and, for networks that
// block UDP, the same handler over HTTPS/TCP on the same port number.
//
// Server runs the origin; Client talks to one. An origin is named by a URL
// (see URL) that carries its address and the pin of its Ed25519 key: the key
// signs every manifest and is the key of the TLS certificate, so a client that
// holds the URL needs no certificate authority to trust what it receives.
//
// Lifetimes: a context passed to Start bounds the start itself (the library
// scan) and lends its values; the server then runs until Shutdown, however
// ctx ends. Shutdown waits for every goroutine Start began and may be called
// again (it then returns what the first call returned); so may Client.Close.
//
// The HTTP API is written down in docs/protocol.md.
package origin
