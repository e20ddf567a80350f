// Package cache is Potluck's store of verified chunks and manifests, shared
// by every role (desktop app, headless peer, fetch) through a data directory.
//
// A Store holds whole manifests and any subset of their chunks, knows which
// chunks of each track it holds (a Bitfield per track, for announcing and
// serving), and keeps the bytes of chunks held under a limit by evicting
// whole tracks, least recently played first. A pinned track (being played or
// served) is never evicted. Every chunk is checked against its manifest hash
// when written and again when read, so bytes that do not match never reach a
// reader, whatever happened to the disk.
//
// Disk is the Store on disk: one directory per track holding the signed
// manifest, a sparse data file and a bitfield file. It is crash-safe: a
// process killed at any instant (kill -9) keeps, after a restart, every chunk
// whose WriteChunk returned nil. docs/cache.md explains the layout, the
// write ordering and why. Mem is the same Store in memory, for tests of other
// packages.
//
// Lifetimes: OpenDisk and NewMem take no context and start no goroutine
// that outlives them; Close may be called more than once, and operations
// after it fail with ErrClosed.
package cache
