package app

import (
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/godbus/dbus/v5"

	"github.com/potluckfm/potluck/internal/testbus"
	"github.com/potluckfm/potluck/track"
)

// privateBus starts a session bus of the test's own and returns its address.
func privateBus(t *testing.T) string { return testbus.Start(t) }

// mprisObject is the MPRIS object as a sound menu on the bus at addr sees it.
func mprisObject(t *testing.T, addr string) dbus.BusObject {
	t.Helper()
	conn, err := dbus.Connect(addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return conn.Object(mprisBusPrefix, mprisPath)
}

func TestMPRISMediaKeys(t *testing.T) {
	addr := privateBus(t)
	p := &recordingPlayer{st: PlayerState{Volume: 1}}
	id := track.ID{1, 2, 3}
	p.Play(id)
	m, err := StartMPRIS(addr, p, func(track.ID) (string, string, string, bool) { return "Song", "Band", "Album", true })
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	m.Update(p.State())

	obj := mprisObject(t, addr)
	// A media key: PlayPause.
	if call := obj.Call(mprisPlayer+".PlayPause", 0); call.Err != nil {
		t.Fatal(call.Err)
	}
	if p.called("toggle") != 1 || p.State().Playing {
		t.Fatalf("PlayPause did not pause: %v", p.calls)
	}
	m.Update(p.State())
	v, err := obj.GetProperty(mprisPlayer + ".PlaybackStatus")
	if err != nil || v.Value() != "Paused" {
		t.Fatalf("PlaybackStatus %v %v", v, err)
	}
	md, err := obj.GetProperty(mprisPlayer + ".Metadata")
	if err != nil || !strings.Contains(md.String(), "Song") {
		t.Fatalf("Metadata %v %v", md, err)
	}
	if call := obj.Call(mprisPlayer+".Next", 0); call.Err != nil || p.called("next") != 1 {
		t.Fatalf("Next: %v", call.Err)
	}
	if call := obj.Call(mprisPlayer+".Seek", 0, int64(5*time.Second/time.Microsecond)); call.Err != nil || p.State().Position != 5*time.Second {
		t.Fatalf("Seek: %v, position %v", call.Err, p.State().Position)
	}
	// A second Potluck on the same bus cannot take the name, and says so.
	if _, err := StartMPRIS(addr, p, nil); err == nil {
		t.Error("a second MPRIS server took the name")
	}
}

func TestMPRISWithoutABusFailsCleanly(t *testing.T) {
	if _, err := StartMPRIS("unix:path="+filepath.Join(t.TempDir(), "nobus"), &recordingPlayer{}, nil); err == nil {
		t.Fatal("connected to a bus that does not exist")
	}
}

// TestMPRISSurvivesNilInfoAndALostBus is the crash a real desktop showed:
// MPRIS started without a track describer, then a track starts; and later
// the session bus goes away under a running player.
func TestMPRISSurvivesNilInfoAndALostBus(t *testing.T) {
	addr := privateBus(t)
	p := &recordingPlayer{st: PlayerState{Volume: 1}}
	m, err := StartMPRIS(addr, p, nil)
	if err != nil {
		t.Fatal(err)
	}
	raised := make(chan struct{}, 1)
	m.OnRaise(func() { raised <- struct{}{} })
	p.Play(track.ID{9})
	m.Update(p.State())

	obj := mprisObject(t, addr)
	md, err := obj.GetProperty(mprisPlayer + ".Metadata")
	if err != nil || !strings.Contains(md.String(), "mpris:trackid") || strings.Contains(md.String(), "xesam:title") {
		t.Fatalf("Metadata without a describer: %v %v", md, err)
	}
	if v, err := obj.GetProperty(mprisRoot + ".CanRaise"); err != nil || v.Value() != true {
		t.Fatalf("CanRaise %v %v", v, err)
	}
	if call := obj.Call(mprisRoot+".Raise", 0); call.Err != nil {
		t.Fatal(call.Err)
	}
	select {
	case <-raised:
	case <-time.After(5 * time.Second):
		t.Fatal("Raise did not reach the app")
	}

	m.Close() // the bus is gone for this connection
	p.Play(track.ID{10})
	m.Update(p.State()) // must not panic
	m.Update(p.State())
}

// TestMPRISReadsWhileTheTrackChanges: a sound menu reading Metadata while
// the track changes must not race the update (godbus's prop package
// updated the map a reply was still encoding).
func TestMPRISReadsWhileTheTrackChanges(t *testing.T) {
	addr := privateBus(t)
	p := &recordingPlayer{st: PlayerState{Volume: 1}}
	m, err := StartMPRIS(addr, p, func(id track.ID) (string, string, string, bool) {
		return "Song " + id.String()[:2], "Band", "Album", true
	})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	obj := mprisObject(t, addr)
	done := make(chan struct{})
	readErr := make(chan error, 1)
	go func() {
		defer close(readErr)
		for {
			select {
			case <-done:
				return
			default:
			}
			if _, err := obj.GetProperty(mprisPlayer + ".Metadata"); err != nil {
				readErr <- err
				return
			}
		}
	}()
	for i := range 200 {
		p.Play(track.ID{byte(i)})
		m.Update(p.State())
	}
	close(done)
	if err := <-readErr; err != nil {
		t.Fatal(err)
	}
	md, err := obj.GetProperty(mprisPlayer + ".Metadata")
	if err != nil || !strings.Contains(md.String(), "Song c7") {
		t.Errorf("final Metadata %v %v", md, err)
	}
}
