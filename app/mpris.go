package app

import (
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/godbus/dbus/v5"
	"github.com/godbus/dbus/v5/introspect"

	"github.com/potluckfm/potluck/track"
)

// MPRIS names (https://specifications.freedesktop.org/mpris-spec/latest/).
const (
	mprisPath      = "/org/mpris/MediaPlayer2"
	mprisRoot      = "org.mpris.MediaPlayer2"
	mprisPlayer    = "org.mpris.MediaPlayer2.Player"
	mprisBusPrefix = "org.mpris.MediaPlayer2.potluck"
)

// MPRIS exposes the player on the session bus, so desktop media keys and
// sound menus control Potluck. Start it with StartMPRIS; without a session
// bus it returns an error and the app goes on without it. It fails soft
// all the way: if the bus goes away later, updates stop and are logged
// once, and the player plays on.
type MPRIS struct {
	conn   *dbus.Conn
	player Player
	info   func(track.ID) (title, artist, album string, ok bool)
	props  *properties

	mu     sync.Mutex
	last   PlayerState
	broken bool   // an update failed: the bus is gone
	named  bool   // Metadata names the current track (or there is none)
	raise  func() // Raise, if the app can show its window
}

// StartMPRIS connects to the session bus at addr (empty: the user's session
// bus) and claims the name org.mpris.MediaPlayer2.potluck. info describes a
// track for the Metadata property; nil (or a track it does not know) gives
// Metadata with the track ID and length only.
func StartMPRIS(addr string, p Player, info func(track.ID) (title, artist, album string, ok bool)) (*MPRIS, error) {
	var conn *dbus.Conn
	var err error
	if addr == "" {
		conn, err = dbus.ConnectSessionBus()
	} else {
		conn, err = dbus.Connect(addr)
	}
	if err != nil {
		return nil, fmt.Errorf("mpris: no session bus: %w", err)
	}
	m := &MPRIS{conn: conn, player: p, info: info}
	if err := m.export(); err != nil {
		conn.Close()
		return nil, err
	}
	reply, err := conn.RequestName(mprisBusPrefix, dbus.NameFlagDoNotQueue)
	if err == nil && reply != dbus.RequestNameReplyPrimaryOwner {
		err = errors.New("name already taken (another Potluck?)")
	}
	if err != nil {
		conn.Close()
		return nil, fmt.Errorf("mpris: %w", err)
	}
	return m, nil
}

// Close leaves the bus.
func (m *MPRIS) Close() error { return m.conn.Close() }

// OnRaise makes the MPRIS Raise method (a sound menu's "show the player")
// call f, which must not block.
func (m *MPRIS) OnRaise(f func()) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.raise = f
	m.set(mprisRoot, "CanRaise", f != nil)
}

// rootMethods is org.mpris.MediaPlayer2; Potluck cannot be quit by others.
type rootMethods struct{ m *MPRIS }

func (r rootMethods) Raise() *dbus.Error {
	r.m.mu.Lock()
	f := r.m.raise
	r.m.mu.Unlock()
	if f != nil {
		f()
	}
	return nil
}
func (rootMethods) Quit() *dbus.Error { return nil }

// playerMethods is org.mpris.MediaPlayer2.Player.
type playerMethods struct{ m *MPRIS }

func (p playerMethods) Next() *dbus.Error     { p.m.player.Next(); return nil }
func (p playerMethods) Previous() *dbus.Error { p.m.player.Previous(); return nil }
func (p playerMethods) PlayPause() *dbus.Error {
	p.m.player.TogglePause()
	return nil
}
func (p playerMethods) Pause() *dbus.Error {
	if p.m.player.State().Playing {
		p.m.player.TogglePause()
	}
	return nil
}
func (p playerMethods) Play() *dbus.Error {
	if st := p.m.player.State(); !st.Playing && !st.Current.IsZero() {
		p.m.player.TogglePause()
	}
	return nil
}
func (p playerMethods) Stop() *dbus.Error { return p.Pause() }

// SeekBy is the D-Bus method Seek (renamed: Go reserves Seek for io.Seeker).
func (p playerMethods) SeekBy(offsetUS int64) *dbus.Error {
	st := p.m.player.State()
	p.m.player.Seek(max(st.Position+time.Duration(offsetUS)*time.Microsecond, 0))
	return nil
}
func (p playerMethods) SetPosition(_ dbus.ObjectPath, posUS int64) *dbus.Error {
	p.m.player.Seek(time.Duration(posUS) * time.Microsecond)
	return nil
}
func (p playerMethods) OpenUri(string) *dbus.Error {
	return dbus.NewError("org.mpris.MediaPlayer2.Player.Error.NotSupported", []any{"Potluck plays its catalogue only"})
}

func (m *MPRIS) export() error {
	if err := m.conn.Export(rootMethods{m}, mprisPath, mprisRoot); err != nil {
		return err
	}
	if err := m.conn.ExportWithMap(playerMethods{m}, map[string]string{"SeekBy": "Seek"}, mprisPath, mprisPlayer); err != nil {
		return err
	}
	props := newProperties(m.conn, mprisPath, map[string]map[string]any{
		mprisRoot: {
			"CanQuit": false, "CanRaise": false, "HasTrackList": false,
			"Identity": "Potluck", "DesktopEntry": "potluck",
			"SupportedUriSchemes": []string{}, "SupportedMimeTypes": []string{},
		},
		mprisPlayer: {
			"PlaybackStatus": "Stopped", "LoopStatus": "None", "Rate": 1.0,
			"Shuffle": false, "Metadata": map[string]dbus.Variant{},
			"Volume": 1.0, "Position": int64(0),
			"MinimumRate": 1.0, "MaximumRate": 1.0,
			"CanGoNext": true, "CanGoPrevious": true, "CanPlay": true,
			"CanPause": true, "CanSeek": true, "CanControl": true,
		},
	})
	props.silent[mprisPlayer+".Position"] = true
	props.setters[mprisPlayer+".Volume"] = func(v dbus.Variant) *dbus.Error {
		f, ok := v.Value().(float64)
		if !ok {
			return dbus.NewError("org.freedesktop.DBus.Error.InvalidArgs", []any{"Volume is a double"})
		}
		m.player.SetVolume(min(max(f, 0), 1))
		return nil
	}
	if err := m.conn.Export(props, mprisPath, "org.freedesktop.DBus.Properties"); err != nil {
		return err
	}
	m.props = props
	node := &introspect.Node{Name: mprisPath, Interfaces: []introspect.Interface{
		introspect.IntrospectData, propertiesIntrospection,
		{Name: mprisRoot, Methods: introspect.Methods(rootMethods{m}), Properties: props.introspection(mprisRoot)},
		{Name: mprisPlayer, Methods: playerIntrospection(m), Properties: props.introspection(mprisPlayer)},
	}}
	return m.conn.Export(introspect.NewIntrospectable(node), mprisPath, "org.freedesktop.DBus.Introspectable")
}

func playerIntrospection(m *MPRIS) []introspect.Method {
	methods := introspect.Methods(playerMethods{m})
	for i := range methods {
		if methods[i].Name == "SeekBy" {
			methods[i].Name = "Seek"
		}
	}
	return methods
}

// set changes a property; if the change cannot be signalled (the bus went
// away), MPRIS stops updating and the player plays on. Call with m.mu held.
func (m *MPRIS) set(iface, name string, v any) {
	if m.broken {
		return
	}
	if err := m.props.set(iface, name, v); err != nil {
		m.broken = true
		slog.Warn("MPRIS stopped: the session bus does not take updates", "err", err)
	}
}

// Update publishes the player's state; call it on every UI refresh.
func (m *MPRIS) Update(st PlayerState) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.set(mprisPlayer, "Position", st.Position.Microseconds())
	if status := playbackStatus(st); status != playbackStatus(m.last) {
		m.set(mprisPlayer, "PlaybackStatus", status)
	}
	if st.Current != m.last.Current || st.Duration != m.last.Duration || !m.named {
		m.set(mprisPlayer, "Metadata", m.metadata(st))
	}
	if st.Volume != m.last.Volume {
		m.set(mprisPlayer, "Volume", st.Volume)
	}
	if st.Shuffle != m.last.Shuffle {
		m.set(mprisPlayer, "Shuffle", st.Shuffle)
	}
	if st.Repeat != m.last.Repeat {
		m.set(mprisPlayer, "LoopStatus", []string{"None", "Playlist", "Track"}[st.Repeat])
	}
	m.last = st
}

func playbackStatus(st PlayerState) string {
	switch {
	case st.Playing:
		return "Playing"
	case !st.Current.IsZero():
		return "Paused"
	}
	return "Stopped"
}

// metadata describes the current track; it sets m.named when it could
// name it, so that Update tries again until the catalogue knows it.
func (m *MPRIS) metadata(st PlayerState) map[string]dbus.Variant {
	m.named = true
	if st.Current.IsZero() {
		return map[string]dbus.Variant{}
	}
	md := map[string]dbus.Variant{
		"mpris:trackid": dbus.MakeVariant(dbus.ObjectPath("/org/potluck/track/t" + st.Current.String())),
		"mpris:length":  dbus.MakeVariant(st.Duration.Microseconds()),
	}
	if m.info == nil {
		return md
	}
	title, artist, album, ok := m.info(st.Current)
	m.named = ok
	if ok {
		md["xesam:title"] = dbus.MakeVariant(title)
		md["xesam:artist"] = dbus.MakeVariant([]string{artist})
		md["xesam:album"] = dbus.MakeVariant(album)
	}
	return md
}
