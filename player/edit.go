package player

import (
	"fmt"
	"slices"

	"github.com/potluckfm/potluck/track"
)

// relist makes the list the tracks at the old list indexes keep, in that
// order; a track not in keep leaves the list (and the history). The
// current track must be kept.
func (q *Queue) relist(keep []int) {
	to := make([]int, len(q.ids))
	for i := range to {
		to[i] = -1
	}
	ids := make([]track.ID, len(keep))
	for k, i := range keep {
		to[i] = k
		ids[k] = q.ids[i]
	}
	q.remap(func(i int) int { return to[i] })
	q.ids = ids
}

// relistUpcoming keeps the list with the upcoming tracks in play order
// after the others: without shuffle, the list order is the play order.
func (q *Queue) relistUpcoming() { q.relist(append(q.notUpcoming(), q.up...)) }

// notUpcoming lists, in list order, the tracks that are not upcoming.
func (q *Queue) notUpcoming() []int {
	up := make(map[int]bool, len(q.up))
	for _, i := range q.up {
		up[i] = true
	}
	var keep []int
	for i := range q.ids {
		if !up[i] {
			keep = append(keep, i)
		}
	}
	return keep
}

// RemoveUpcoming removes the i-th upcoming track from the queue.
func (q *Queue) RemoveUpcoming(i int) error {
	if i < 0 || i >= len(q.up) {
		return fmt.Errorf("player: no upcoming track %d of %d", i, len(q.up))
	}
	gone := q.up[i]
	keep := make([]int, 0, len(q.ids)-1)
	for j := range q.ids {
		if j != gone {
			keep = append(keep, j)
		}
	}
	q.relist(keep)
	return nil
}

// MoveUpcoming moves the upcoming track at from to position to. Without
// shuffle the list is reordered to match.
func (q *Queue) MoveUpcoming(from, to int) error {
	if from < 0 || from >= len(q.up) || to < 0 || to >= len(q.up) {
		return fmt.Errorf("player: cannot move upcoming track %d to %d of %d", from, to, len(q.up))
	}
	i := q.up[from]
	q.up = slices.Insert(slices.Delete(q.up, from, from+1), to, i)
	q.pass = nil
	if !q.shuffle {
		q.relistUpcoming()
	}
	return nil
}

// ClearUpcoming removes every upcoming track from the queue.
func (q *Queue) ClearUpcoming() { q.relist(q.notUpcoming()) }

// RemoveUpcoming removes track id, which the caller saw as the i-th
// track after the current one. The edit names the track it means: if
// tracks ended or moved since the caller looked, the occurrence of id
// nearest to i is removed, and if id is no longer upcoming nothing is.
// The current track plays on.
func (p *Player) RemoveUpcoming(i int, id track.ID) error {
	return p.do(func(l *loop) error {
		at, err := findUpcoming(l.q.Upcoming(), i, id)
		if err != nil {
			return err
		}
		err = l.q.RemoveUpcoming(at)
		l.syncIndex()
		l.checkPrefetch()
		return err
	})
}

// MoveUpcoming moves track id, which the caller saw as the upcoming track
// at from, to position to of what is upcoming. Like RemoveUpcoming it
// finds id where it is now, and shifts to by as much as id moved.
func (p *Player) MoveUpcoming(from, to int, id track.ID) error {
	return p.do(func(l *loop) error {
		up := l.q.Upcoming()
		at, err := findUpcoming(up, from, id)
		if err != nil {
			return err
		}
		err = l.q.MoveUpcoming(at, min(max(to+at-from, 0), len(up)-1))
		l.syncIndex()
		l.checkPrefetch()
		return err
	})
}

// findUpcoming returns the index in up of the occurrence of id nearest to
// i (the earlier one of two as near: a track that ended moved the rest
// up by one).
func findUpcoming(up []track.ID, i int, id track.ID) (int, error) {
	at := -1
	for j, u := range up {
		if u == id && (at < 0 || abs(j-i) < abs(at-i)) {
			at = j
		}
	}
	if at < 0 {
		return 0, fmt.Errorf("player: track %s is no longer upcoming", id)
	}
	return at, nil
}

func abs(n int) int { return max(n, -n) }

// ClearUpcoming removes every track after the current one.
func (p *Player) ClearUpcoming() error {
	return p.do(func(l *loop) error {
		l.q.ClearUpcoming()
		l.syncIndex()
		l.checkPrefetch()
		return nil
	})
}
