package player

import (
	"slices"
	"testing"

	"github.com/potluckfm/potluck/track"
)

func ids(n int) []track.ID {
	out := make([]track.ID, n)
	for i := range out {
		out[i][0] = byte(i + 1)
	}
	return out
}

// cur returns the index of the current track, -1 for none.
func cur(q *Queue) int {
	_, i, ok := q.Current()
	if !ok {
		return -1
	}
	return i
}

// walk records the list indexes step visits, n times.
func walk(q *Queue, n int, step func() bool) []int {
	var out []int
	for range n {
		if !step() {
			out = append(out, -1)
			continue
		}
		out = append(out, cur(q))
	}
	return out
}

func TestQueueNextPreviousRepeat(t *testing.T) {
	q := NewQueue(1)
	if q.Next() || q.Previous() || q.Advance() || cur(q) != -1 {
		t.Fatal("an empty queue moved")
	}
	if _, ok := q.PeekAdvance(); ok {
		t.Fatal("an empty queue has a next track")
	}

	q.Set(ids(3), 0)
	if got := walk(q, 3, q.Next); !slices.Equal(got, []int{1, 2, -1}) {
		t.Errorf("Next with repeat off: %v", got)
	}
	if cur(q) != -1 {
		t.Errorf("past the end, current is %d", cur(q))
	}
	if !q.Previous() || cur(q) != 2 {
		t.Errorf("Previous from past the end: %d, want the last track", cur(q))
	}
	if got := walk(q, 3, q.Previous); !slices.Equal(got, []int{1, 0, -1}) {
		t.Errorf("Previous with repeat off: %v", got)
	}
	if cur(q) != 0 {
		t.Errorf("Previous at the start left %d current, want 0", cur(q))
	}

	q.SetRepeat(RepeatAll)
	if got := walk(q, 4, q.Next); !slices.Equal(got, []int{1, 2, 0, 1}) {
		t.Errorf("Next with repeat all: %v", got)
	}
	if got := walk(q, 3, q.Previous); !slices.Equal(got, []int{0, 2, 1}) {
		t.Errorf("Previous with repeat all: %v", got)
	}

	q.SetRepeat(RepeatOne)
	if id, ok := q.PeekAdvance(); !ok || id != ids(3)[1] {
		t.Errorf("repeat one: PeekAdvance %v, want the current track", id)
	}
	if got := walk(q, 2, q.Advance); !slices.Equal(got, []int{1, 1}) {
		t.Errorf("Advance with repeat one: %v", got)
	}
	if got := walk(q, 2, q.Next); !slices.Equal(got, []int{2, 0}) {
		t.Errorf("Next (a skip) with repeat one: %v", got)
	}

	q.SetRepeat(RepeatOff)
	q.Jump(1)
	if id, ok := q.PeekAdvance(); !ok || id != ids(3)[2] {
		t.Errorf("PeekAdvance %v", id)
	}
	if got := walk(q, 2, q.Advance); !slices.Equal(got, []int{2, -1}) {
		t.Errorf("Advance with repeat off: %v", got)
	}
	if q.Jump(3) || q.Jump(-1) {
		t.Error("Jump out of range succeeded")
	}
	if !q.Jump(0) || cur(q) != 0 {
		t.Error("Jump(0)")
	}
}

func TestQueueSetStartsNowhere(t *testing.T) {
	q := NewQueue(1)
	q.Set(ids(2), -1)
	if cur(q) != -1 {
		t.Fatalf("current %d, want none", cur(q))
	}
	if id, ok := q.PeekAdvance(); !ok || id != ids(2)[0] {
		t.Errorf("PeekAdvance %v, want the first track", id)
	}
	if !q.Next() || cur(q) != 0 {
		t.Errorf("Next from nowhere: %d, want 0", cur(q))
	}
}

func TestQueueShuffle(t *testing.T) {
	q := NewQueue(42)
	list := ids(20)
	q.Set(list, 7)
	q.SetShuffle(true)
	if cur(q) != 7 {
		t.Fatalf("shuffle changed the current track to %d", cur(q))
	}
	seen := map[int]bool{7: true}
	order := []int{7}
	for q.Next() {
		i := cur(q)
		if seen[i] {
			t.Fatalf("track %d twice in one pass: %v", i, order)
		}
		seen[i] = true
		order = append(order, i)
	}
	if len(seen) != 20 {
		t.Fatalf("shuffle visited %d of 20 tracks", len(seen))
	}
	if slices.IsSorted(order[1:]) {
		t.Errorf("shuffled order %v is not shuffled", order)
	}
	// Same seed, same order.
	q2 := NewQueue(42)
	q2.Set(list, 7)
	q2.SetShuffle(true)
	order2 := []int{7}
	for q2.Next() {
		order2 = append(order2, cur(q2))
	}
	if !slices.Equal(order, order2) {
		t.Errorf("same seed, different orders: %v, %v", order, order2)
	}
	// Off again: list order from the current track.
	q2.Jump(order[5])
	q2.SetShuffle(false)
	if cur(q2) != order[5] {
		t.Fatalf("unshuffle changed the current track")
	}
	if q2.Next(); cur(q2) != order[5]+1 {
		t.Errorf("after unshuffle, Next is %d, want %d", cur(q2), order[5]+1)
	}
	// Appending while shuffled puts new tracks among those to come.
	q.Set(ids(5), 0)
	q.Next()
	q.Append(ids(8)[5:]...)
	if q.Len() != 8 || !slices.Equal(q.Tracks(), ids(8)) {
		t.Fatalf("Tracks after Append: %v", q.Tracks())
	}
	rest := map[int]bool{}
	for q.Next() {
		rest[cur(q)] = true
	}
	for _, i := range []int{5, 6, 7} {
		if !rest[i] {
			t.Errorf("appended track %d never comes: %v", i, rest)
		}
	}
}

func TestQueueRepeatAllShuffleKeepsOrder(t *testing.T) {
	q := NewQueue(3)
	q.Set(ids(4), 0)
	q.SetShuffle(true)
	q.SetRepeat(RepeatAll)
	var first, second []int
	for range 4 {
		first = append(first, cur(q))
		peek, _ := q.PeekAdvance()
		q.Advance()
		if id, _, _ := q.Current(); id != peek {
			t.Fatal("PeekAdvance did not say what Advance did")
		}
	}
	for range 4 {
		second = append(second, cur(q))
		q.Advance()
	}
	if !slices.Equal(first, second) {
		t.Errorf("repeat all replays %v as %v", first, second)
	}
}
