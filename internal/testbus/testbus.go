// Package testbus starts a D-Bus session bus of a test's own, as nearly
// every Linux desktop has one, for tests of what the app does on it
// (MPRIS, the tray, notifications).
package testbus

import (
	"bufio"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// Start starts a session bus that lives as long as the test and returns
// its address, for DBUS_SESSION_BUS_ADDRESS or dbus.Connect. It fails
// the test if dbus-daemon is not installed (./scripts/test installs it).
func Start(t testing.TB) string {
	t.Helper()
	daemon, err := exec.LookPath("dbus-daemon")
	if err != nil {
		t.Fatal("dbus-daemon is not installed; ./scripts/test installs it (Debian package dbus)")
	}
	sock := filepath.Join(t.TempDir(), "bus")
	cmd := exec.Command(daemon, "--session", "--nofork", "--nopidfile", "--print-address", "--address=unix:path="+sock)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	line, err := bufio.NewReader(out).ReadString('\n')
	if err != nil {
		t.Fatalf("dbus-daemon: %v", err)
	}
	return strings.TrimSpace(line)
}
