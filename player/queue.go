package player

import (
	"fmt"
	"math/rand/v2"
	"slices"

	"github.com/potluckfm/potluck/track"
)

// Repeat is the queue's repeat mode.
type Repeat int

// Repeat modes.
const (
	RepeatOff Repeat = iota // stop after the last track
	RepeatAll               // go on from the first track after the last
	RepeatOne               // play the current track again when it ends
)

func (r Repeat) String() string {
	switch r {
	case RepeatOff:
		return "off"
	case RepeatAll:
		return "all"
	case RepeatOne:
		return "one"
	}
	return fmt.Sprintf("Repeat(%d)", int(r))
}

// Queue is the play order of a list of tracks: the current track, next,
// previous, jump, repeat and shuffle. It does no I/O; the Player owns one.
// A Queue is not safe for concurrent use.
//
// The list keeps the order tracks were added in (Tracks, Jump index into
// it); the play order is that order, or a shuffle of it that starts with
// the track current when shuffle was turned on.
type Queue struct {
	ids     []track.ID
	order   []int // play order: indexes into ids
	cur     int   // index into order; len(order) when past the end, -1 before the start
	repeat  Repeat
	shuffle bool
	rng     *rand.Rand
}

// NewQueue returns an empty queue that shuffles with a generator seeded by
// seed (tests pass a fixed seed).
func NewQueue(seed uint64) *Queue {
	return &Queue{cur: -1, rng: rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))}
}

// Set replaces the list. ids[start] becomes current; a start out of range
// leaves nothing current (the next Next starts at the beginning).
func (q *Queue) Set(ids []track.ID, start int) {
	q.ids = slices.Clone(ids)
	q.order = make([]int, len(ids))
	for i := range q.order {
		q.order[i] = i
	}
	q.cur = -1
	if start >= 0 && start < len(ids) {
		q.cur = start
	}
	if q.shuffle {
		q.reshuffle()
	}
}

// Append adds tracks at the end of the list; in shuffle, at random places
// among the tracks still to come.
func (q *Queue) Append(ids ...track.ID) {
	for _, id := range ids {
		q.ids = append(q.ids, id)
		i := len(q.ids) - 1
		at := len(q.order)
		if q.shuffle {
			lo := min(max(q.cur+1, 0), len(q.order))
			at = lo + q.rng.IntN(len(q.order)-lo+1)
		}
		q.order = slices.Insert(q.order, at, i)
		if at <= q.cur {
			q.cur++
		}
	}
}

// Len is the number of tracks in the list.
func (q *Queue) Len() int { return len(q.ids) }

// Tracks returns the list in the order it was built.
func (q *Queue) Tracks() []track.ID { return slices.Clone(q.ids) }

// Current returns the current track and its index in the list.
func (q *Queue) Current() (id track.ID, index int, ok bool) {
	if q.cur < 0 || q.cur >= len(q.order) {
		return track.ID{}, -1, false
	}
	i := q.order[q.cur]
	return q.ids[i], i, true
}

// Repeat returns the repeat mode.
func (q *Queue) Repeat() Repeat { return q.repeat }

// Shuffled reports whether the play order is shuffled.
func (q *Queue) Shuffled() bool { return q.shuffle }

// SetRepeat sets the repeat mode.
func (q *Queue) SetRepeat(r Repeat) { q.repeat = r }

// SetShuffle turns shuffle on (a new random order that starts with the
// current track, the others after it) or off (list order, from the
// current track).
func (q *Queue) SetShuffle(on bool) {
	if on == q.shuffle {
		return
	}
	q.shuffle = on
	if on {
		q.reshuffle()
		return
	}
	_, i, ok := q.Current()
	for j := range q.order {
		q.order[j] = j
	}
	if ok {
		q.cur = i
	}
}

// reshuffle puts the current track first and the others in random order.
func (q *Queue) reshuffle() {
	_, cur, ok := q.Current()
	rest := make([]int, 0, len(q.ids))
	for i := range q.ids {
		if !ok || i != cur {
			rest = append(rest, i)
		}
	}
	q.rng.Shuffle(len(rest), func(i, j int) { rest[i], rest[j] = rest[j], rest[i] })
	if ok {
		q.order = append([]int{cur}, rest...)
		q.cur = 0
	} else {
		q.order = rest
		q.cur = -1
	}
}

// Jump makes track i of the list current. It reports false (and changes
// nothing) if i is out of range.
func (q *Queue) Jump(i int) bool {
	if i < 0 || i >= len(q.ids) {
		return false
	}
	q.cur = slices.Index(q.order, i)
	return true
}

// Rewind makes the first track of the play order current. It reports
// false if the queue is empty.
func (q *Queue) Rewind() bool {
	if len(q.order) == 0 {
		return false
	}
	q.cur = 0
	return true
}

// next returns the order index after the current one, following repeat
// all (and repeat one, which a skip treats as all).
func (q *Queue) next() (int, bool) {
	if len(q.order) == 0 {
		return 0, false
	}
	n := q.cur + 1
	if n >= len(q.order) {
		if q.repeat == RepeatOff {
			return len(q.order), false
		}
		n = 0
	}
	return n, true
}

// Next skips to the next track (a user's skip: repeat one does not hold
// it). At the end of the list it wraps with repeat (one or all); without,
// it reports false and nothing is current any more.
func (q *Queue) Next() bool {
	n, ok := q.next()
	q.cur = n
	return ok
}

// Previous goes back one track. At the start of the list it wraps to the
// last with repeat; without, it reports false and stays.
func (q *Queue) Previous() bool {
	if len(q.order) == 0 {
		return false
	}
	p := q.cur - 1
	if p < 0 {
		if q.repeat == RepeatOff {
			q.cur = min(max(q.cur, 0), len(q.order)-1)
			return false
		}
		p = len(q.order) - 1
	}
	q.cur = min(p, len(q.order)-1)
	return true
}

// Advance moves on when the current track has ended: the same track
// again with repeat one, else as Next.
func (q *Queue) Advance() bool {
	if q.repeat == RepeatOne && q.cur >= 0 && q.cur < len(q.order) {
		return true
	}
	return q.Next()
}

// PeekAdvance returns the track Advance would make current, without
// moving: what to prefetch.
func (q *Queue) PeekAdvance() (track.ID, bool) {
	if q.repeat == RepeatOne {
		id, _, ok := q.Current()
		return id, ok
	}
	n, ok := q.next()
	if !ok {
		return track.ID{}, false
	}
	return q.ids[q.order[n]], true
}
