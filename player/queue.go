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
	RepeatAll               // go on with a new pass over the list after the last
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

// MaxHistory bounds the played tracks a Queue remembers for Previous.
const MaxHistory = 500

// Queue is the play order of a list of tracks: the current track, what
// comes next, what was played, and repeat and shuffle. It does no I/O; the
// Player owns one. A Queue is not safe for concurrent use.
//
// The list keeps the order tracks were added in (Tracks, and Jump's index
// into it). Three things follow the play:
//
//   - the current track, if any;
//   - the upcoming tracks, in play order (Upcoming): without shuffle, the
//     tracks after the current one in list order; with shuffle, a shuffle
//     of the tracks that were still to come when it was turned on;
//   - the history, the tracks played before the current one, in the order
//     they were played (Played). Previous walks back through it.
//
// After the last track, with repeat off, nothing is current: Append and
// InsertNext then add what plays next. With repeat all a new pass over the
// whole list starts, shuffled anew in shuffle, never with the track that
// just played.
type Queue struct {
	ids     []track.ID
	cur     int   // list index of the current track; -1 for none
	up      []int // upcoming, in play order: list indexes
	history []int // played before cur, most recent last: list indexes
	pass    []int // the next pass of repeat all, once PeekAdvance drew it
	repeat  Repeat
	shuffle bool
	rng     *rand.Rand
}

// NewQueue returns an empty queue that shuffles with a generator seeded by
// seed (tests pass a fixed seed).
func NewQueue(seed uint64) *Queue {
	return &Queue{cur: -1, rng: rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))}
}

// Set replaces the list and forgets the history. ids[start] becomes
// current; a start out of range leaves nothing current (the next Next
// starts at the beginning of the play order).
func (q *Queue) Set(ids []track.ID, start int) {
	q.ids = slices.Clone(ids)
	q.history, q.pass = nil, nil
	q.cur = -1
	if start >= 0 && start < len(ids) {
		q.cur = start
	}
	q.up = nil
	for i := range q.ids {
		if i != q.cur && (q.shuffle || i > q.cur) {
			q.up = append(q.up, i)
		}
	}
	if q.shuffle {
		q.shuffleUp()
	}
}

// Append adds tracks at the end of the list and of what is upcoming ("add
// to queue"), in shuffle too. After the queue ended, they are what plays
// next.
func (q *Queue) Append(ids ...track.ID) {
	q.pass = nil
	for _, id := range ids {
		q.ids = append(q.ids, id)
		q.up = append(q.up, len(q.ids)-1)
	}
}

// InsertNext puts tracks right after the current one ("play next"), in
// the given order, in shuffle too: in the list they follow the current
// track (or come before the first upcoming one when none is current).
func (q *Queue) InsertNext(ids ...track.ID) {
	if len(ids) == 0 {
		return
	}
	q.pass = nil
	at := len(q.ids)
	switch {
	case q.cur >= 0:
		at = q.cur + 1
	case len(q.up) > 0:
		at = slices.Min(q.up)
	}
	n := len(ids)
	shift := func(i int) int {
		if i >= at {
			return i + n
		}
		return i
	}
	q.remap(shift)
	q.ids = slices.Insert(q.ids, at, ids...)
	added := make([]int, n)
	for k := range added {
		added[k] = at + k
	}
	q.up = append(added, q.up...)
}

// remap renumbers every list index the queue holds with f; f returns -1
// for an index that is gone (dropped from history and upcoming; the
// current track must not go).
func (q *Queue) remap(f func(int) int) {
	mapAll := func(s []int) []int {
		out := s[:0]
		for _, i := range s {
			if j := f(i); j >= 0 {
				out = append(out, j)
			}
		}
		return out
	}
	if q.cur >= 0 {
		q.cur = f(q.cur)
	}
	q.up = mapAll(q.up)
	q.history = mapAll(q.history)
	q.pass = nil
}

// Len is the number of tracks in the list.
func (q *Queue) Len() int { return len(q.ids) }

// Tracks returns the list in the order it was built.
func (q *Queue) Tracks() []track.ID { return slices.Clone(q.ids) }

// Current returns the current track and its index in the list.
func (q *Queue) Current() (id track.ID, index int, ok bool) {
	if q.cur < 0 {
		return track.ID{}, -1, false
	}
	return q.ids[q.cur], q.cur, true
}

// Upcoming returns the tracks after the current one, in play order (the
// next pass of repeat all is not included).
func (q *Queue) Upcoming() []track.ID { return q.idsOf(q.up) }

// Played returns the tracks played before the current one, in the order
// they were played (the most recent last): where Previous goes.
func (q *Queue) Played() []track.ID { return q.idsOf(q.history) }

func (q *Queue) idsOf(s []int) []track.ID {
	if len(s) == 0 {
		return nil
	}
	out := make([]track.ID, len(s))
	for k, i := range s {
		out[k] = q.ids[i]
	}
	return out
}

// Repeat returns the repeat mode.
func (q *Queue) Repeat() Repeat { return q.repeat }

// Shuffled reports whether the play order is shuffled.
func (q *Queue) Shuffled() bool { return q.shuffle }

// SetRepeat sets the repeat mode.
func (q *Queue) SetRepeat(r Repeat) {
	q.repeat = r
	q.pass = nil
}

// SetShuffle turns shuffle on or off; the current track stays current and
// the history stays as it was. On, the upcoming tracks are shuffled (the
// played ones do not come back); off, the upcoming tracks become those
// after the current one in list order (with nothing current, those that
// were upcoming, in list order).
func (q *Queue) SetShuffle(on bool) {
	if on == q.shuffle {
		return
	}
	q.shuffle = on
	q.pass = nil
	if on {
		q.shuffleUp()
		return
	}
	if q.cur >= 0 {
		q.listFrom(q.cur)
		return
	}
	slices.Sort(q.up)
}

// listFrom makes the upcoming tracks those after list index i.
func (q *Queue) listFrom(i int) {
	q.up = q.up[:0]
	for j := i + 1; j < len(q.ids); j++ {
		q.up = append(q.up, j)
	}
}

func (q *Queue) shuffleUp() {
	q.rng.Shuffle(len(q.up), func(i, j int) { q.up[i], q.up[j] = q.up[j], q.up[i] })
}

// played moves the current track, if any, to the history.
func (q *Queue) played() {
	if q.cur < 0 {
		return
	}
	q.history = append(q.history, q.cur)
	if len(q.history) > MaxHistory {
		q.history = slices.Delete(q.history, 0, len(q.history)-MaxHistory)
	}
	q.cur = -1
}

// Jump makes track i of the list current; the one that was current goes
// to the history. Without shuffle, what follows i in the list is
// upcoming; in shuffle, the upcoming tracks stay, less i. It reports false
// (and changes nothing) if i is out of range.
func (q *Queue) Jump(i int) bool {
	if i < 0 || i >= len(q.ids) {
		return false
	}
	q.pass = nil
	if i != q.cur {
		q.played()
	}
	q.cur = i
	if q.shuffle {
		q.up = slices.DeleteFunc(q.up, func(j int) bool { return j == i })
	} else {
		q.listFrom(i)
	}
	return true
}

// Rewind makes a track current when none is (Play after the queue ended
// or before it started): the next upcoming one, or, with nothing upcoming,
// the first of a new pass over the whole list. It reports false if the
// queue is empty.
func (q *Queue) Rewind() bool {
	if q.cur >= 0 {
		return true
	}
	if len(q.ids) == 0 {
		return false
	}
	if len(q.up) == 0 {
		q.up = q.newPass()
	}
	q.cur, q.up = q.up[0], q.up[1:]
	return true
}

// newPass returns the play order of a new pass over the whole list: list
// order, or a new shuffle that does not start with the track played last.
func (q *Queue) newPass() []int {
	if q.pass != nil {
		p := q.pass
		q.pass = nil
		return p
	}
	order := make([]int, len(q.ids))
	for i := range order {
		order[i] = i
	}
	if !q.shuffle {
		return order
	}
	q.rng.Shuffle(len(order), func(i, j int) { order[i], order[j] = order[j], order[i] })
	last := q.cur
	if last < 0 && len(q.history) > 0 {
		last = q.history[len(q.history)-1]
	}
	if last >= 0 && q.ids[order[0]] == q.ids[last] {
		for k := 1; k < len(order); k++ {
			if q.ids[order[k]] != q.ids[last] {
				order[0], order[k] = order[k], order[0]
				break
			}
		}
	}
	return order
}

// Next skips to the next track (a user's skip: repeat one does not hold
// it); the current one goes to the history. After the last upcoming track
// a new pass starts with repeat (one or all); without, it reports false
// and nothing is current any more.
func (q *Queue) Next() bool {
	if len(q.ids) == 0 {
		return false
	}
	if len(q.up) == 0 && q.repeat != RepeatOff {
		q.up = q.newPass()
	}
	q.played()
	if len(q.up) == 0 {
		return false
	}
	q.cur, q.up = q.up[0], q.up[1:]
	return true
}

// Previous goes back to the track played before the current one (with
// nothing current, the last one played); the current one becomes the
// next upcoming again (without shuffle, the upcoming tracks are those
// after the new current one in the list). With no history it reports false
// and changes nothing.
func (q *Queue) Previous() bool {
	if len(q.history) == 0 {
		return false
	}
	q.pass = nil
	p := q.history[len(q.history)-1]
	q.history = q.history[:len(q.history)-1]
	if q.shuffle {
		if q.cur >= 0 {
			q.up = append([]int{q.cur}, q.up...)
		}
		q.up = slices.DeleteFunc(q.up, func(j int) bool { return j == p })
		q.cur = p
		return true
	}
	q.cur = p
	q.listFrom(p)
	return true
}

// Advance moves on when the current track has ended: the same track
// again with repeat one, else as Next.
func (q *Queue) Advance() bool {
	if q.repeat == RepeatOne && q.cur >= 0 {
		return true
	}
	return q.Next()
}

// PeekAdvance returns the track Advance would make current, without
// moving: what to prefetch. (A new pass of repeat all is drawn here and
// kept, so that Advance agrees.)
func (q *Queue) PeekAdvance() (track.ID, bool) {
	if q.repeat == RepeatOne && q.cur >= 0 {
		return q.ids[q.cur], true
	}
	if len(q.up) > 0 {
		return q.ids[q.up[0]], true
	}
	if q.repeat == RepeatOff || len(q.ids) == 0 {
		return track.ID{}, false
	}
	if q.pass == nil {
		q.pass = q.newPass()
	}
	return q.ids[q.pass[0]], true
}
