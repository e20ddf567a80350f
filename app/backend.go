package app

import (
	"context"
	"time"

	"github.com/potluckfm/potluck/origin"
	"github.com/potluckfm/potluck/track"
)

// Catalog is the library the UI lists: the origin's catalogue.
type Catalog interface {
	// Tracks lists every track. It may block on the network.
	Tracks(ctx context.Context) ([]origin.TrackInfo, error)
	// Cover returns a track's cover art. It may block on the network.
	Cover(ctx context.Context, id track.ID) ([]byte, error)
}

// OfflineCatalog is a Catalog that outlives the origin: a swarm node's,
// which keeps the origin's signed catalogue and gets it from peers. With
// one, the UI shows the kept catalogue while the origin is down, says so,
// dims the tracks that cannot play from here, and asks again every
// catalogOfflineRetry until the origin answers.
type OfflineCatalog interface {
	Catalog
	// Catalogue lists every track and reports whether the origin
	// answered; if it did not, the list is the one kept from before or
	// passed on by peers. It may block on the network.
	Catalogue(ctx context.Context) (tracks []origin.TrackInfo, online bool, err error)
	// Playable reports whether a track plays without the origin: the
	// cache holds it whole. It must be cheap.
	Playable(id track.ID) bool
}

// Repeat says what happens at the end of the queue.
type Repeat int

// Repeat modes.
const (
	RepeatOff Repeat = iota
	RepeatAll
	RepeatOne
)

// PlayerState is a snapshot of the player, as the UI shows it.
type PlayerState struct {
	// Current is the track loaded (playing or paused); zero when idle.
	Current track.ID
	// Playing is true while sound comes out, or is about to: a track
	// asked for and still loading counts (Loading says which).
	Playing bool
	// Loading is true while the current track is asked for and no sound
	// of it has come out yet.
	Loading bool
	// Position and Duration of the current track.
	Position, Duration time.Duration
	// Volume is 0..1.
	Volume float64
	// Upcoming lists the queue after the current track, in play order.
	Upcoming []track.ID
	// Queue is the whole queue in list order and Index the current
	// track's place in it (-1 if none): what a restart restores.
	Queue   []track.ID
	Index   int
	Shuffle bool
	Repeat  Repeat
	// Err is the last error to show the listener (a track that failed, no
	// audio device), nil if none. ErrTrack is the track it is about, if
	// any, so the message can name it.
	Err      error
	ErrTrack track.ID
}

// Player is what the UI asks of the player. Calls must not block: the
// player does the work on its own goroutine.
type Player interface {
	// PlayContext plays ids[start] and queues the rest of ids around it:
	// the context the track was chosen from (the library as shown, an
	// album, an artist, a playlist, search results), so that play goes on
	// through it and Previous walks back in it.
	PlayContext(ids []track.ID, start int)
	// PlayNext puts ids right after the current track, in order.
	PlayNext(ids ...track.ID)
	// Enqueue adds ids at the end of the queue.
	Enqueue(ids ...track.ID)
	// TogglePause pauses or resumes.
	TogglePause()
	Next()
	Previous()
	// Seek moves within the current track.
	Seek(t time.Duration)
	// SetVolume takes 0..1.
	SetVolume(v float64)
	// Remove, Move and Clear edit the upcoming queue (indexes into
	// Upcoming). Remove and Move name the track the UI showed at i or
	// from, so that the player edits that track even if one ended since.
	Remove(i int, id track.ID)
	Move(from, to int, id track.ID)
	Clear()
	SetShuffle(on bool)
	SetRepeat(r Repeat)
	// State returns a snapshot; it must be cheap.
	State() PlayerState
}

// SwarmStatus is what the swarm panel shows.
type SwarmStatus struct {
	// Where the current track's bytes came from.
	FromCache, FromPeers, FromOrigin int64
	// Peers connected now, as short IDs with addresses.
	Peers []string
	// BytesServed to other listeners since start.
	BytesServed int64
	// BufferedAhead is how much audio past the playback position has arrived.
	BufferedAhead time.Duration
	// Cache use and limit, in bytes.
	CacheUsed, CacheLimit int64
	// NodeID is this node's peer ID.
	NodeID string
	// Reach says how other listeners reach this node ("public", "port
	// mapped", "reachable after punching", "not reachable", "unknown"),
	// and PublicAddr the address they see it at, if known.
	Reach, PublicAddr string
	// DirectPeers, PunchedPeers and LANPeers count the connections by how
	// they were made: as is, through a punched NAT hole, on the local
	// network.
	DirectPeers, PunchedPeers, LANPeers int
	// Background is true while the window is closed and the node serves
	// on (the UI fills it in).
	Background bool
}

// Swarm reports the node's state. Status must be cheap.
type Swarm interface {
	Status() SwarmStatus
}

// Offline keeps tracks whole in the cache for offline play: pinned tracks
// are fetched in full in the background, never evicted, and served to the
// swarm. Its methods must not block on the network.
type Offline interface {
	// Pin pins tracks; Unpin lets them be evicted again.
	Pin(ids ...track.ID) error
	Unpin(ids ...track.ID) error
	// Pinned reports whether id is pinned.
	Pinned(id track.ID) bool
	// Progress describes every pinned track; it must be cheap.
	Progress() []PinProgress
}

// PinProgress is how far a pinned track is from being held whole.
type PinProgress struct {
	ID track.ID
	// Held and Total count chunks; Total is 0 until the manifest is known.
	Held, Total int
	Done        bool
	// Err is why the last attempt failed, in words, "" if none.
	Err string
}
