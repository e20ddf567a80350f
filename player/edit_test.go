package player

import (
	"slices"
	"testing"

	"github.com/potluckfm/potluck/track"
)

func TestQueueEditsKeepTheCurrentTrack(t *testing.T) {
	ids := []track.ID{{1}, {2}, {3}, {4}, {5}}
	for _, shuffle := range []bool{false, true} {
		q := NewQueue(7)
		q.Set(ids, 1)
		q.SetShuffle(shuffle)
		cur, _, _ := q.Current()
		up := q.Upcoming()
		if len(up) != 3 { // shuffle on shuffles what comes after the current track
			t.Fatalf("shuffle %v: upcoming %v", shuffle, up)
		}
		if err := q.MoveUpcoming(0, len(up)-1); err != nil {
			t.Fatal(err)
		}
		want := append(slices.Clone(up[1:]), up[0])
		if got := q.Upcoming(); !slices.Equal(got, want) {
			t.Errorf("shuffle %v: after move %v, want %v", shuffle, got, want)
		}
		if err := q.RemoveUpcoming(0); err != nil {
			t.Fatal(err)
		}
		if got := q.Upcoming(); !slices.Equal(got, want[1:]) {
			t.Errorf("shuffle %v: after remove %v, want %v", shuffle, got, want[1:])
		}
		if c, _, ok := q.Current(); !ok || c != cur {
			t.Errorf("shuffle %v: current changed to %v", shuffle, c)
		}
		if q.MoveUpcoming(0, 99) == nil || q.RemoveUpcoming(-1) == nil {
			t.Error("out-of-range edits accepted")
		}
		q.ClearUpcoming()
		if len(q.Upcoming()) != 0 || q.Next() {
			t.Errorf("shuffle %v: after clear, upcoming %v", shuffle, q.Upcoming())
		}
	}
}
