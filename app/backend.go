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
	// Playing is true while sound comes out.
	Playing bool
	// Position and Duration of the current track.
	Position, Duration time.Duration
	// Volume is 0..1.
	Volume float64
	// Upcoming lists the queue after the current track, in play order.
	Upcoming []track.ID
	Shuffle  bool
	Repeat   Repeat
	// Err is the last error to show the listener (a track that failed, no
	// audio device), nil if none.
	Err error
}

// Player is what the UI asks of the player. Calls must not block: the
// player does the work on its own goroutine.
type Player interface {
	// Play replaces the current track with id and plays it.
	Play(id track.ID)
	// Enqueue adds id at the end of the queue.
	Enqueue(id track.ID)
	// TogglePause pauses or resumes.
	TogglePause()
	Next()
	Previous()
	// Seek moves within the current track.
	Seek(t time.Duration)
	// SetVolume takes 0..1.
	SetVolume(v float64)
	// Remove, Move and Clear edit the upcoming queue (indexes into Upcoming).
	Remove(i int)
	Move(from, to int)
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
}

// Swarm reports the node's state. Status must be cheap.
type Swarm interface {
	Status() SwarmStatus
}
