// Package single keeps one desktop app per data directory: the first
// process takes a lock and answers on a local socket; a second one finds
// the lock taken and asks the first to show its window instead of
// starting. The kernel drops the lock when its holder dies, kill -9
// included, so a crash never leaves the directory locked.
package single

import (
	"bufio"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"time"
)

// ErrRunning is returned by Acquire when another process holds the
// directory.
var ErrRunning = errors.New("another Potluck is running with this data directory")

// Instance is the lock of the process that runs the app on a directory.
type Instance struct {
	lock     *os.File
	ln       net.Listener
	wg       sync.WaitGroup
	once     sync.Once
	stopOnce sync.Once
}

// Acquire takes dir for this process. It returns ErrRunning (wrapped) if
// another process holds it.
func Acquire(dir string) (*Instance, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	f, err := lockFile(filepath.Join(dir, "instance.lock"))
	if err != nil {
		return nil, err
	}
	return &Instance{lock: f}, nil
}

// Serve answers other processes' requests to show the window by calling
// show, until Close. show runs on Serve's goroutine and must not block.
func (in *Instance) Serve(dir string, show func()) error {
	addr := socketAddr(dir)
	if !strings.HasPrefix(addr, "@") {
		os.Remove(addr) // a socket left by a process that died; we hold the lock
	}
	ln, err := net.Listen("unix", addr)
	if err != nil {
		return fmt.Errorf("instance socket: %w", err)
	}
	in.ln = ln
	in.wg.Go(func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			c.SetDeadline(time.Now().Add(2 * time.Second))
			line, _ := bufio.NewReader(c).ReadString('\n')
			if strings.TrimSpace(line) == "show" {
				show()
				fmt.Fprintln(c, "ok")
			}
			c.Close()
		}
	})
	return nil
}

// StopServing stops answering requests to show the window but keeps the
// directory: a process shutting down calls it, so that a new start waits
// for the lock (AcquireOrShow) instead of being told a window was shown.
// It is idempotent.
func (in *Instance) StopServing() {
	in.stopOnce.Do(func() {
		if in.ln != nil {
			in.ln.Close()
		}
		in.wg.Wait()
	})
}

// Close stops serving and releases the directory. It is idempotent.
func (in *Instance) Close() error {
	in.once.Do(func() {
		in.StopServing()
		in.lock.Close()
	})
	return nil
}

// AcquireOrShow takes dir, or, if another process holds it, asks that one
// to show its window (shown is then true and in nil). A process that holds
// the directory but does not answer (it is starting or shutting down) is
// given up to wait to answer or to let go.
func AcquireOrShow(dir string, wait time.Duration) (in *Instance, shown bool, err error) {
	deadline := time.Now().Add(wait)
	for {
		in, err = Acquire(dir)
		if !errors.Is(err, ErrRunning) {
			return in, false, err
		}
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		serr := Show(ctx, dir)
		cancel()
		if serr == nil {
			return nil, true, nil
		}
		if time.Now().After(deadline) {
			return nil, false, fmt.Errorf("%w, and it does not answer: %v", err, serr)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// Show asks the process holding dir to show its window, waiting at most
// until ctx ends (that process may still be starting).
func Show(ctx context.Context, dir string) error {
	var d net.Dialer
	for {
		c, err := d.DialContext(ctx, "unix", socketAddr(dir))
		if err == nil {
			defer c.Close()
			if dl, ok := ctx.Deadline(); ok {
				c.SetDeadline(dl)
			}
			fmt.Fprintln(c, "show")
			reply, err := bufio.NewReader(c).ReadString('\n')
			if err != nil || strings.TrimSpace(reply) != "ok" {
				return fmt.Errorf("the running Potluck did not answer: %v", err)
			}
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("the running Potluck does not answer: %w", err)
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// socketAddr is where the process holding dir listens: on Linux an
// abstract socket named after the directory (no file to go stale, no path
// length limit), elsewhere a socket file in it.
func socketAddr(dir string) string {
	if runtime.GOOS == "linux" {
		abs, err := filepath.Abs(dir)
		if err != nil {
			abs = dir
		}
		sum := sha256.Sum256([]byte(abs))
		return "@potluck-" + hex.EncodeToString(sum[:12])
	}
	return filepath.Join(dir, "instance.sock")
}
