//go:build linux

package natlab

// Helper processes: the test binary re-executed inside a namespace, so
// that everything it does (sockets, a port mapper's gateway discovery)
// happens there. It serves commands one per line on stdin and replies
// "@@ ok …" or "@@ err …" on stdout; other output is left alone.

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// HelperEnv marks a re-executed test binary as a helper.
const HelperEnv = "POTLUCK_NATLAB_HELPER"

// IsHelper reports whether this process is a helper that StartHelper
// started.
func IsHelper() bool { return os.Getenv(HelperEnv) != "" }

// ServeHelper answers the commands on stdin with do until stdin closes:
// do's reply after "ok", or its error after "err".
func ServeHelper(do func(cmd string, args []string) (string, error)) {
	sc := bufio.NewScanner(os.Stdin)
	for sc.Scan() {
		words := strings.Fields(sc.Text())
		if len(words) == 0 {
			continue
		}
		reply, err := do(words[0], words[1:])
		if err != nil {
			fmt.Printf("@@ err %v\n", strings.ReplaceAll(err.Error(), "\n", " "))
		} else {
			fmt.Printf("@@ ok %s\n", reply)
		}
	}
}

// Helper is a helper process in a namespace.
type Helper struct {
	t      testing.TB
	name   string
	cmd    *exec.Cmd
	in     io.WriteCloser
	lines  chan string
	stderr *SyncBuffer
}

// SyncBuffer is a bytes.Buffer safe for concurrent use: a process's
// output read while it runs.
type SyncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *SyncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *SyncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// StartHelper runs the test named test (which calls ServeHelper when
// IsHelper) of this test binary in namespace ns. The process is killed
// and waited for when the test ends, before the lab's namespaces go.
func (l *Lab) StartHelper(name, ns, test string) *Helper {
	l.t.Helper()
	exe, err := os.Executable()
	if err != nil {
		l.t.Fatal(err)
	}
	cmd := exec.Command("ip", "netns", "exec", ns, exe, "-test.run=^"+test+"$", "-test.timeout=2m")
	// GORACE: a race-enabled helper would otherwise sleep 1 s at exit.
	cmd.Env = append(os.Environ(), HelperEnv+"=1", "GORACE="+os.Getenv("GORACE")+" atexit_sleep_ms=0")
	// If this process dies without cleaning up, so does the helper.
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	h := &Helper{t: l.t, name: name, cmd: cmd, lines: make(chan string, 16), stderr: &SyncBuffer{}}
	cmd.Stderr = h.stderr
	if h.in, err = cmd.StdinPipe(); err != nil {
		l.t.Fatal(err)
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		l.t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		l.t.Fatal(err)
	}
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			if line, ok := strings.CutPrefix(sc.Text(), "@@ "); ok {
				h.lines <- line
			}
		}
		close(h.lines)
	}()
	// Registered after New's cleanup, so it runs before it.
	l.t.Cleanup(func() {
		h.in.Close()
		done := make(chan struct{})
		go func() { cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(3 * time.Second):
			cmd.Process.Kill()
			<-done
		}
		if out := h.stderr.String(); l.t.Failed() && out != "" {
			l.t.Logf("%s stderr:\n%s", name, out)
		}
	})
	return h
}

// Name is the helper's name, for messages.
func (h *Helper) Name() string { return h.name }

// Call sends one command line and returns the reply's words after "ok";
// it fails the test on an "err" reply.
func (h *Helper) Call(format string, args ...any) []string {
	h.t.Helper()
	reply, err := h.Try(format, args...)
	if err != nil {
		h.t.Fatalf("%s: %v", h.name, err)
	}
	return reply
}

// Try is Call that returns an "err" reply as an error.
func (h *Helper) Try(format string, args ...any) ([]string, error) {
	h.t.Helper()
	if err := h.Send(format, args...); err != nil {
		return nil, err
	}
	return h.Recv()
}

// Send sends one command line; Recv waits for its reply.
func (h *Helper) Send(format string, args ...any) error {
	line := fmt.Sprintf(format, args...)
	if _, err := fmt.Fprintln(h.in, line); err != nil {
		return fmt.Errorf("%s: %v\n%s", line, err, h.stderr.String())
	}
	return nil
}

// Recv waits up to 30 s for the reply to a command Send sent.
func (h *Helper) Recv() ([]string, error) {
	select {
	case reply, ok := <-h.lines:
		if !ok {
			return nil, fmt.Errorf("helper exited\n%s", h.stderr.String())
		}
		words := strings.Fields(reply)
		if len(words) > 0 && words[0] == "ok" {
			return words[1:], nil
		}
		return nil, fmt.Errorf("%s", reply)
	case <-time.After(30 * time.Second):
		return nil, fmt.Errorf("no reply\n%s", h.stderr.String())
	}
}
