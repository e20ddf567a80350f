package player

import (
	"fmt"
	"slices"

	"github.com/potluckfm/potluck/track"
)

// Upcoming returns the tracks after the current one, in play order.
func (q *Queue) Upcoming() []track.ID {
	var out []track.ID
	for k := max(q.cur+1, 0); k < len(q.order); k++ {
		out = append(out, q.ids[q.order[k]])
	}
	return out
}

// setUpcoming replaces the tracks after the current one. The list becomes
// the play order so far followed by up, and the play order the list order.
func (q *Queue) setUpcoming(up []track.ID) {
	head := min(q.cur+1, len(q.order))
	ids := make([]track.ID, 0, head+len(up))
	for k := range head {
		ids = append(ids, q.ids[q.order[k]])
	}
	q.ids = append(ids, up...)
	q.order = make([]int, len(q.ids))
	for i := range q.order {
		q.order[i] = i
	}
}

// RemoveUpcoming removes the i-th upcoming track.
func (q *Queue) RemoveUpcoming(i int) error {
	up := q.Upcoming()
	if i < 0 || i >= len(up) {
		return fmt.Errorf("player: no upcoming track %d of %d", i, len(up))
	}
	q.setUpcoming(slices.Delete(up, i, i+1))
	return nil
}

// MoveUpcoming moves the upcoming track at from to position to.
func (q *Queue) MoveUpcoming(from, to int) error {
	up := q.Upcoming()
	if from < 0 || from >= len(up) || to < 0 || to >= len(up) {
		return fmt.Errorf("player: cannot move upcoming track %d to %d of %d", from, to, len(up))
	}
	id := up[from]
	q.setUpcoming(slices.Insert(slices.Delete(up, from, from+1), to, id))
	return nil
}

// ClearUpcoming removes every track after the current one.
func (q *Queue) ClearUpcoming() { q.setUpcoming(nil) }

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
