package single

import (
	"context"
	"errors"
	"testing"
	"time"
)

func TestSecondInstanceShowsTheFirst(t *testing.T) {
	dir := t.TempDir()
	first, err := Acquire(dir)
	if err != nil {
		t.Fatal(err)
	}
	shown := make(chan struct{}, 1)
	if err := first.Serve(dir, func() { shown <- struct{}{} }); err != nil {
		t.Fatal(err)
	}
	if _, err := Acquire(dir); !errors.Is(err, ErrRunning) {
		t.Fatalf("second Acquire: %v, want ErrRunning", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := Show(ctx, dir); err != nil {
		t.Fatal(err)
	}
	select {
	case <-shown:
	default:
		t.Fatal("Show returned before the first instance was told")
	}

	first.Close()
	first.Close() // idempotent
	ctx, cancel = context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	if err := Show(ctx, dir); err == nil {
		t.Fatal("Show reached an instance that has closed")
	}
	again, err := Acquire(dir)
	if err != nil {
		t.Fatalf("the directory stayed locked after Close: %v", err)
	}
	again.Close()
}

// TestOtherDirectoriesAreIndependent: two data directories, two apps.
func TestOtherDirectoriesAreIndependent(t *testing.T) {
	a, err := Acquire(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	b, err := Acquire(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	b.Close()
}

// TestAcquireOrShowWaitsForAShutdown: a start while the running app shuts
// down (it no longer answers, but still holds the directory) waits for it
// and then starts, instead of failing or claiming a window was shown.
func TestAcquireOrShowWaitsForAShutdown(t *testing.T) {
	dir := t.TempDir()
	first, err := Acquire(dir)
	if err != nil {
		t.Fatal(err)
	}
	if err := first.Serve(dir, func() {}); err != nil {
		t.Fatal(err)
	}
	if in, shown, err := AcquireOrShow(dir, time.Second); !shown || in != nil || err != nil {
		t.Fatalf("with the first serving: %v %v %v", in, shown, err)
	}
	first.StopServing()
	go func() {
		time.Sleep(700 * time.Millisecond)
		first.Close()
	}()
	in, shown, err := AcquireOrShow(dir, 10*time.Second)
	if err != nil || shown || in == nil {
		t.Fatalf("after the first let go: %v %v %v", in, shown, err)
	}
	in.Close()

	// One that never lets go nor answers: a clear error in the end.
	stuck, _ := Acquire(dir)
	defer stuck.Close()
	if _, _, err := AcquireOrShow(dir, 500*time.Millisecond); !errors.Is(err, ErrRunning) {
		t.Fatalf("a stuck holder: %v", err)
	}
}
