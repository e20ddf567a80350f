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

// indexes maps track IDs of q's list back to their list indexes.
func indexes(q *Queue, s []track.ID) []int {
	out := []int{}
	for _, id := range s {
		out = append(out, slices.Index(q.Tracks(), id))
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
	// Previous goes back through what played, across the wrap.
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

// TestQueueAppendAfterTheEnd: tracks added once the queue ran out are
// what plays next, by Next and by Rewind (Play), shuffled or not; with
// nothing added, Rewind starts a new pass over the whole list.
func TestQueueAppendAfterTheEnd(t *testing.T) {
	for _, tc := range []struct {
		name    string
		shuffle bool
		add     func(q *Queue, ids ...track.ID)
		step    func(q *Queue) bool
	}{
		{"append, next", false, (*Queue).Append, (*Queue).Next},
		{"append, play", false, (*Queue).Append, (*Queue).Rewind},
		{"append, play, shuffle", true, (*Queue).Append, (*Queue).Rewind},
		{"insert next, next", false, (*Queue).InsertNext, (*Queue).Next},
		{"insert next, play, shuffle", true, (*Queue).InsertNext, (*Queue).Rewind},
	} {
		t.Run(tc.name, func(t *testing.T) {
			q := NewQueue(5)
			q.Set(ids(3), 0)
			q.SetShuffle(tc.shuffle)
			for q.Next() {
			}
			if cur(q) != -1 || len(q.Upcoming()) != 0 {
				t.Fatalf("the queue did not end: current %d, upcoming %v", cur(q), q.Upcoming())
			}
			more := ids(5)[3:]
			tc.add(q, more...)
			if got := q.Upcoming(); !slices.Equal(got, more) {
				t.Errorf("upcoming after the end %v, want %v", got, more)
			}
			if id, ok := q.PeekAdvance(); !ok || id != more[0] {
				t.Errorf("PeekAdvance %v, want the first added", id)
			}
			for k, want := range more {
				if !tc.step(q) {
					t.Fatalf("step %d: nothing to play", k)
				}
				if id, _, _ := q.Current(); id != want {
					t.Fatalf("step %d played %v, want %v", k, id, want)
				}
				tc.step = (*Queue).Next
			}
			if q.Next() {
				t.Errorf("the queue goes on after the added tracks: %d", cur(q))
			}
			if got := len(q.Played()); got != 5 {
				t.Errorf("%d tracks played, want 5", got)
			}
		})
	}
	q := NewQueue(1)
	q.Set(ids(3), 0)
	for q.Next() {
	}
	if !q.Rewind() || cur(q) != 0 || !slices.Equal(q.Upcoming(), ids(3)[1:]) {
		t.Errorf("Rewind after the end with nothing added: current %d, upcoming %v", cur(q), q.Upcoming())
	}
}

// TestQueuePreviousFollowsHistory: Previous walks back through what was
// played, in play order (jumps and shuffle included), and Next then
// goes forward again.
func TestQueuePreviousFollowsHistory(t *testing.T) {
	for _, tc := range []struct {
		name    string
		shuffle bool
		play    func(q *Queue) // from track 0 current
	}{
		{"list order", false, func(q *Queue) { q.Next(); q.Next(); q.Next() }},
		{"jumps", false, func(q *Queue) { q.Jump(4); q.Jump(2); q.Jump(5) }},
		{"shuffle", true, func(q *Queue) { q.Next(); q.Next(); q.Next() }},
		{"shuffle and a jump", true, func(q *Queue) {
			q.Next()
			up := indexes(q, q.Upcoming())
			q.Jump(up[len(up)-1])
			q.Next()
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			q := NewQueue(9)
			q.Set(ids(6), 0)
			q.SetShuffle(tc.shuffle)
			tc.play(q)
			seen := append(indexes(q, q.Played()), cur(q))
			if len(seen) != 4 || seen[0] != 0 {
				t.Fatalf("played %v, want 4 tracks from 0", seen)
			}
			last := cur(q)
			upBefore := q.Upcoming()
			var back []int
			for q.Previous() {
				back = append(back, cur(q))
			}
			want := slices.Clone(seen[:3])
			slices.Reverse(want)
			if !slices.Equal(back, want) {
				t.Errorf("Previous went %v, want %v (played %v)", back, want, seen)
			}
			if cur(q) != 0 || len(q.Played()) != 0 {
				t.Errorf("at the start of the history: current %d, played %v", cur(q), q.Played())
			}
			if tc.shuffle {
				// Forward again: the same tracks, then what was upcoming.
				if got := indexes(q, q.Upcoming()[:3]); !slices.Equal(got, seen[1:]) {
					t.Errorf("upcoming after going back %v, want %v", got, seen[1:])
				}
				if got := q.Upcoming()[3:]; !slices.Equal(got, upBefore) {
					t.Errorf("upcoming after going back ends %v, want %v", got, upBefore)
				}
				if got := walk(q, 3, q.Next); got[2] != last {
					t.Errorf("Next after going back %v, want to reach %d", got, last)
				}
			} else if got := indexes(q, q.Upcoming()); !slices.Equal(got, []int{1, 2, 3, 4, 5}) {
				t.Errorf("upcoming without shuffle %v, want the list after 0", got)
			}
		})
	}
}

// TestQueueShuffleKeepsThePlayed: shuffle on shuffles only what is still
// to come; the played tracks stay history; shuffle off returns to list
// order after the current track.
func TestQueueShuffleKeepsThePlayed(t *testing.T) {
	for _, tc := range []struct {
		name  string
		start int
		nexts int
	}{
		{"from the start", 0, 0},
		{"three played", 0, 3},
		{"started in the middle", 4, 2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			q := NewQueue(42)
			q.Set(ids(12), tc.start)
			for range tc.nexts {
				q.Next()
			}
			c := cur(q)
			played := q.Played()
			q.SetShuffle(true)
			if cur(q) != c || !slices.Equal(q.Played(), played) {
				t.Fatalf("shuffle on moved the current track (%d→%d) or the history", c, cur(q))
			}
			var rest []int
			for q.Next() {
				rest = append(rest, cur(q))
			}
			var want []int
			for i := c + 1; i < 12; i++ {
				want = append(want, i)
			}
			if len(want) > 3 && slices.Equal(rest, want) {
				t.Errorf("shuffled order %v is not shuffled", rest)
			}
			slices.Sort(rest)
			if !slices.Equal(rest, want) {
				t.Errorf("shuffle played %v (sorted), want each of %v once", rest, want)
			}
		})
	}
	// Same seed, same order.
	order := func() []int {
		q := NewQueue(42)
		q.Set(ids(20), 7)
		q.SetShuffle(true)
		return walk(q, 19, q.Next)
	}
	if a, b := order(), order(); !slices.Equal(a, b) {
		t.Errorf("same seed, different orders: %v, %v", a, b)
	}
	// Off again: list order after the current track.
	q := NewQueue(42)
	q.Set(ids(20), 7)
	q.SetShuffle(true)
	q.Next()
	q.Next()
	c := cur(q)
	q.SetShuffle(false)
	if cur(q) != c {
		t.Fatalf("unshuffle changed the current track")
	}
	var want []int
	for i := c + 1; i < 20; i++ {
		want = append(want, i)
	}
	if got := indexes(q, q.Upcoming()); !slices.Equal(got, want) {
		t.Errorf("after unshuffle, upcoming %v, want %v", got, want)
	}
	if len(q.Played()) != 2 {
		t.Errorf("unshuffle lost the history: %v", q.Played())
	}
}

// TestQueueRepeatAllShuffleReshuffles: each pass of repeat all in shuffle
// plays every track once, in a new order, never the same track twice in a
// row, and PeekAdvance says what Advance does.
func TestQueueRepeatAllShuffleReshuffles(t *testing.T) {
	for _, n := range []int{2, 3, 5} {
		q := NewQueue(uint64(n))
		q.Set(ids(n), 0)
		q.SetShuffle(true)
		q.SetRepeat(RepeatAll)
		var passes [][]int
		pass := []int{cur(q)}
		prev := cur(q)
		for range 40 * n {
			peek, ok := q.PeekAdvance()
			if !ok || !q.Advance() {
				t.Fatalf("%d tracks: repeat all stopped", n)
			}
			id, i, _ := q.Current()
			if id != peek {
				t.Fatalf("%d tracks: PeekAdvance said %v, Advance played %v", n, peek, id)
			}
			if i == prev {
				t.Fatalf("%d tracks: track %d twice in a row (passes %v)", n, i, passes)
			}
			prev = i
			if len(pass) == n {
				passes = append(passes, pass)
				pass = nil
			}
			pass = append(pass, i)
		}
		differ := false
		for _, p := range passes {
			s := slices.Sorted(slices.Values(p))
			for k := range s {
				if s[k] != k {
					t.Fatalf("%d tracks: a pass %v does not play each track once", n, p)
				}
			}
			differ = differ || !slices.Equal(p, passes[0])
		}
		if n > 2 && !differ {
			t.Errorf("%d tracks: every pass in the same order %v", n, passes[0])
		}
	}
}

// TestQueueInsertNext: "play next" puts tracks right after the current
// one in the given order, shuffled or not; "add to queue" (Append) puts
// them at the end of what is upcoming.
func TestQueueInsertNext(t *testing.T) {
	x, y, z := track.ID{0xa}, track.ID{0xb}, track.ID{0xc}
	for _, shuffle := range []bool{false, true} {
		q := NewQueue(3)
		q.Set(ids(5), 1)
		q.SetShuffle(shuffle)
		c, _, _ := q.Current()
		before := q.Upcoming()
		q.InsertNext(x, y)
		q.Append(z)
		want := append(append([]track.ID{x, y}, before...), z)
		if got := q.Upcoming(); !slices.Equal(got, want) {
			t.Errorf("shuffle %v: upcoming %v, want %v", shuffle, got, want)
		}
		if id, _, _ := q.Current(); id != c || cur(q) != 1 {
			t.Errorf("shuffle %v: current became %v at %d", shuffle, id, cur(q))
		}
		if got := q.Tracks(); !slices.Equal(got[2:4], []track.ID{x, y}) || got[len(got)-1] != z || len(got) != 8 {
			t.Errorf("shuffle %v: list %v, want x, y after the current track and z last", shuffle, got)
		}
		if id, _ := q.PeekAdvance(); id != x {
			t.Errorf("shuffle %v: PeekAdvance %v, want x", shuffle, id)
		}
		q.Next()
		q.InsertNext(z) // while x plays: z before y
		var got []track.ID
		for q.Next() {
			id, _, _ := q.Current()
			got = append(got, id)
		}
		if len(got) < 3 || got[0] != z || got[1] != y || got[len(got)-1] != z {
			t.Errorf("shuffle %v: played %v after x, want z, y first and z last", shuffle, got)
		}
		if !q.Previous() {
			t.Fatal("no history")
		}
		if id, _, _ := q.Current(); id != z {
			t.Errorf("shuffle %v: Previous went to %v, want the last played", shuffle, id)
		}
	}
}
