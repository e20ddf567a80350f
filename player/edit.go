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
func (q *Queue) relistUpcoming() {
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
	q.relist(append(keep, q.up...))
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
func (q *Queue) ClearUpcoming() {
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
	q.relist(keep)
}

// RemoveUpcoming removes the i-th track after the current one; the
// current track plays on.
func (p *Player) RemoveUpcoming(i int) error {
	return p.do(func(l *loop) error {
		err := l.q.RemoveUpcoming(i)
		l.syncIndex()
		l.checkPrefetch()
		l.publish()
		return err
	})
}

// MoveUpcoming reorders the tracks after the current one.
func (p *Player) MoveUpcoming(from, to int) error {
	return p.do(func(l *loop) error {
		err := l.q.MoveUpcoming(from, to)
		l.syncIndex()
		l.checkPrefetch()
		l.publish()
		return err
	})
}

// ClearUpcoming removes every track after the current one.
func (p *Player) ClearUpcoming() error {
	return p.do(func(l *loop) error {
		l.q.ClearUpcoming()
		l.syncIndex()
		l.checkPrefetch()
		l.publish()
		return nil
	})
}
