// Command potluck is the Potluck desktop app: a music player whose
// listeners are its CDN. It plays through a swarm node that also serves its
// cache to other listeners while it runs.
//
//	potluck [--origin URL] [--data DIR] [--listen HOST:PORT] [--cache-size SIZE] [--upload-limit RATE]
//
// With no --origin (and none saved in Settings) it starts an origin inside
// the app on the embedded demo library and joins it, so a fresh machine
// plays music with one command. Build it with `go build .` (cgo, with the
// GL, X11 and ALSA headers) or `fyne package`.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"path/filepath"
	"reflect"
	"runtime"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	"fyne.io/fyne/v2"
	fyneapp "fyne.io/fyne/v2/app"
	"fyne.io/fyne/v2/container"
	"fyne.io/fyne/v2/driver/desktop"
	"fyne.io/fyne/v2/widget"

	"github.com/potluckfm/potluck/app"
	"github.com/potluckfm/potluck/assets"
	"github.com/potluckfm/potluck/cache"
	"github.com/potluckfm/potluck/internal/nodeconf"
	"github.com/potluckfm/potluck/internal/single"
	"github.com/potluckfm/potluck/origin"
	"github.com/potluckfm/potluck/player"
	"github.com/potluckfm/potluck/player/otosink"
	"github.com/potluckfm/potluck/swarm"
	"github.com/potluckfm/potluck/track"
)

// appID matches FyneApp.toml.
const appID = "fm.potluck.desktop"

func main() {
	defer func() {
		// GLFW panics when it cannot use the display it was given (DISPLAY
		// set, but the server refuses or goes away): say so in a sentence.
		if r := recover(); r != nil {
			if msg := fmt.Sprint(r); strings.Contains(msg, "GLFW") || strings.Contains(msg, "X11") {
				fmt.Fprintf(os.Stderr, "potluck: cannot open a window (%s).\n%s\n", msg, headlessHint)
				os.Exit(1)
			}
			panic(r)
		}
	}()
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "potluck:", err)
		var se startError
		if errors.As(err, &se) && se.display {
			showStartError(err)
		}
		os.Exit(1)
	}
}

// headlessHint is what to run where the app cannot open a window.
const headlessHint = "On a server or over SSH, run the headless cache peer instead: potluckd peer --origin URL --data DIR"

// startError is an error that kept the app from starting; with a display
// it is shown in a window as well as on stderr (a listener who started
// the app from a menu sees no stderr).
type startError struct {
	err     error
	display bool
}

func (e startError) Error() string { return e.err.Error() }
func (e startError) Unwrap() error { return e.err }

// showStartError shows err in a small window until the listener closes it.
func showStartError(err error) {
	a := fyneapp.NewWithID(appID)
	w := a.NewWindow(app.Title)
	msg := widget.NewLabel("Potluck could not start:\n\n" + err.Error())
	msg.Wrapping = fyne.TextWrapWord
	w.SetContent(container.NewBorder(nil, container.NewCenter(widget.NewButton("Close", a.Quit)), nil, nil, msg))
	w.Resize(fyne.NewSize(480, 200))
	slog.Info("start error shown", "err", err)
	w.ShowAndRun()
}

// noDisplay says why the app cannot open a window here, or "" if it can.
func noDisplay() string {
	switch runtime.GOOS {
	case "linux", "freebsd", "openbsd", "netbsd":
	default:
		return ""
	}
	if os.Getenv("WAYLAND_DISPLAY") != "" {
		return ""
	}
	d := os.Getenv("DISPLAY")
	if d == "" {
		return "no display: the desktop app needs a graphical session (DISPLAY is not set)"
	}
	if !xReachable(d) {
		return fmt.Sprintf("no display: cannot connect to the X server at DISPLAY=%s", d)
	}
	return ""
}

// xReachable reports whether an X server answers at display (":N",
// "unix:N", "host:N"). It only connects: GLFW does the rest.
func xReachable(display string) bool {
	host, num, ok := strings.Cut(display, ":")
	if !ok {
		return false
	}
	num, _, _ = strings.Cut(num, ".")
	n, err := strconv.Atoi(num)
	if err != nil {
		return false
	}
	var c net.Conn
	if host == "" || host == "unix" {
		c, err = net.DialTimeout("unix", fmt.Sprintf("/tmp/.X11-unix/X%d", n), 2*time.Second)
		if err != nil {
			c, err = net.DialTimeout("unix", fmt.Sprintf("@/tmp/.X11-unix/X%d", n), 2*time.Second)
		}
	} else {
		c, err = net.DialTimeout("tcp", net.JoinHostPort(host, strconv.Itoa(6000+n)), 2*time.Second)
	}
	if err != nil {
		return false
	}
	c.Close()
	return true
}

func run() error {
	data := flag.String("data", "", "directory for everything Potluck keeps (default: the user's config and cache directories)")
	originURL := flag.String("origin", "", "origin URL to join (default: the saved setting, else a built-in origin on the demo library)")
	listen := flag.String("listen", "", "UDP HOST:PORT of the peer protocol (default: the saved port, else any)")
	cacheSize := flag.String("cache-size", "", "cache size limit, e.g. 2GiB (default: the saved setting, else 10% of free disk up to 10 GiB)")
	uploadLimit := flag.String("upload-limit", "", "upload bytes per second, e.g. 500KB (default: the saved setting, else no limit)")
	logLevel := flag.String("log-level", "info", "log level: debug, info, warn, error")
	var bootstrap []string
	flag.Func("bootstrap", "HOST:PORT of a Potluck node to join the DHT through (repeatable; default: the saved setting)",
		func(s string) error { bootstrap = append(bootstrap, s); return nil })
	flag.Parse()

	var lvl slog.Level
	if err := lvl.UnmarshalText([]byte(*logLevel)); err != nil {
		return fmt.Errorf("--log-level %q: want debug, info, warn or error", *logLevel)
	}
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: lvl}))
	slog.SetDefault(log)

	if why := noDisplay(); why != "" {
		return errors.New(why + ".\n" + headlessHint)
	}
	if addr := os.Getenv(profileEnv); addr != "" {
		done, err := serveProfiles(context.Background(), addr, log)
		if err != nil {
			return err
		}
		defer done()
	}
	fail := func(err error) error { return startError{err: err, display: true} }

	// The data directory has potluckd's layout (internal/nodeconf), and
	// the app's own files besides; by default its cache is in the user's
	// cache directory.
	confDir, storeDir := *data, ""
	if confDir == "" {
		configDir, err := os.UserConfigDir()
		if err != nil {
			return fmt.Errorf("no --data, and %w", err)
		}
		cacheDir, err := os.UserCacheDir()
		if err != nil {
			return fmt.Errorf("no --data, and %w", err)
		}
		confDir, storeDir = filepath.Join(configDir, "potluck"), filepath.Join(cacheDir, "potluck")
	}

	// One app per data directory: a second start shows the first's window.
	inst, shown, err := single.AcquireOrShow(confDir, 10*time.Second)
	if shown {
		fmt.Fprintln(os.Stderr, "potluck: already running with", confDir+"; its window was brought forward")
		return nil
	}
	if err != nil {
		return fail(err)
	}
	defer inst.Close()
	// Until the window exists a request to show it needs nothing: the
	// window opens anyway.
	var showWindow atomic.Pointer[func()]
	if err := inst.Serve(confDir, func() {
		if f := showWindow.Load(); f != nil {
			(*f)()
		}
	}); err != nil {
		log.Warn("a second start will not find this one", "err", err)
	}

	settings, err := app.OpenSettings(filepath.Join(confDir, "settings.json"))
	if err != nil {
		return fail(err)
	}
	saved := settings.Get()
	pick := func(flagVal, savedVal string) string {
		if flagVal != "" {
			return flagVal
		}
		return savedVal
	}

	// ctx is the app's life: it ends after the window does, when the
	// deferred closes run. SIGINT and SIGTERM close the window first, so
	// the session is saved from a player that still plays.
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	sigCtx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	// The origin: the one named, or one inside the app on the demo library.
	var u origin.URL
	if s := pick(*originURL, saved.OriginURL); s != "" {
		if u, err = origin.ParseURL(s); err != nil {
			return fail(err)
		}
	} else {
		key, err := origin.LoadOrCreateKey(filepath.Join(confDir, "origin"))
		if err != nil {
			return fail(err)
		}
		srv, err := origin.Start(ctx, origin.Config{Library: assets.Demo(), Key: key, Listen: "127.0.0.1:0", Logger: log})
		if err != nil {
			return fail(fmt.Errorf("built-in origin: %w", err))
		}
		defer srv.Shutdown(context.Background())
		u = srv.URL()
		log.Info("built-in origin on the demo library", "url", u.String())
	}
	client := origin.NewClient(u, origin.ClientOptions{})
	defer client.Close()

	var limit int64
	if s := pick(*cacheSize, saved.CacheSize); s != "" {
		if limit, err = cache.ParseSize(s); err != nil {
			return fail(fmt.Errorf("cache size: %w", err))
		}
	}
	var upload int64
	if s := pick(*uploadLimit, saved.UploadLimit); s != "" {
		if upload, err = cache.ParseSize(s); err != nil {
			return fail(fmt.Errorf("upload limit: %w", err))
		}
	}
	addr := *listen
	if addr == "" && saved.ListenPort != 0 {
		addr = fmt.Sprintf(":%d", saved.ListenPort)
	}
	if len(bootstrap) == 0 {
		bootstrap = saved.Bootstrap
	}
	boot, err := nodeconf.ResolveBootstrap(ctx, bootstrap)
	if err != nil {
		return fail(fmt.Errorf("DHT bootstrap: %w", err))
	}
	node, err := nodeconf.Start(ctx, nodeconf.Options{Dir: confDir, CacheDir: storeDir, CacheLimit: limit},
		swarm.Config{Origin: client, Listen: addr, UploadRate: upload, Logger: log, Bootstrap: boot})
	if err != nil {
		return fail(err)
	}
	defer node.Close()
	store := node.Store
	log.Info("swarm node up", "id", node.ID(), "addr", node.Addr())
	keeper, err := swarm.NewKeeper(ctx, node.Node, filepath.Join(confDir, "pinned.json"), log)
	if err != nil {
		return fail(err)
	}
	defer keeper.Close()
	playlists, err := app.OpenPlaylists(filepath.Join(confDir, "playlists.json"))
	if err != nil {
		return fail(err)
	}

	// Audio: the device, or silence that keeps time if there is none.
	var sink player.Sink
	notice := ""
	if dev, err := otosink.New(otosink.Options{}); err != nil {
		notice = "No audio device (" + err.Error() + "): playing silently."
		log.Warn("no audio device; playing to a null sink", "err", err)
		sink = player.NewNullSink(1)
	} else {
		sink = dev
	}
	defer sink.Close()
	streams := &streamTracker{open: map[track.ID]*swarm.Stream{}}
	backend := &playerAdapter{warm: node.WarmManifests}
	p, err := player.New(ctx, player.Config{Sink: sink, Opener: nodeconf.Opener(node.Node, streams.opened), Logger: log, OnEvent: backend.onEvent})
	if err != nil {
		return fail(err)
	}
	defer p.Close()
	backend.p = p
	sessionPath := filepath.Join(confDir, "session.json")
	restoreSession(p, sessionPath, log)

	a := fyneapp.NewWithID(appID)
	a.SetIcon(fyne.NewStaticResource("icon.png", assets.Icon))
	deps := app.Deps{
		Catalog:   app.NodeCatalog{Node: node.Node},
		Player:    backend,
		Swarm:     &swarmAdapter{node: node.Node, store: store, streams: streams, player: p},
		Settings:  settings,
		Playlists: playlists,
		Offline:   offlineAdapter{keeper},
		Notice:    notice,
		Notify:    func(title, body string) { a.SendNotification(fyne.NewNotification(title, body)) },
		Location:  func(id track.ID) string { return trackLocation(store, node.CacheDir, id) },
	}
	ui := app.New(a, deps)
	show := func() { fyne.Do(ui.ShowWindow) }
	showWindow.Store(&show)
	if m, err := app.StartMPRIS("", backend, ui.Describe); err != nil {
		log.Info("no MPRIS (media keys)", "err", err)
	} else {
		defer m.Close()
		m.OnRaise(show)
		ui.Observe(m.Update)
	}
	if desk, ok := a.(desktop.App); ok {
		desk.SetSystemTrayIcon(fyne.NewStaticResource("icon.png", assets.Icon))
		desk.SetSystemTrayMenu(ui.TrayMenu())
	}
	uiCtx, cancelUI := context.WithCancel(ctx)
	defer cancelUI()
	ui.Start(uiCtx)
	uiDone := make(chan struct{})
	go func() {
		select {
		case <-sigCtx.Done(): // SIGINT/SIGTERM: quit the window, which ends the app
			ui.Quit()
		case <-uiDone:
		}
	}()
	sessionKept := make(chan struct{})
	go func() {
		defer close(sessionKept)
		keepSession(uiCtx, backend.State, sessionPath, log)
	}()
	log.Info("window open", "title", app.Title)
	ui.Window().ShowAndRun()
	close(uiDone)
	inst.StopServing() // a start from now on waits for this one to end
	ui.Stop()
	cancelUI()
	<-sessionKept
	if err := app.SaveSession(sessionPath, app.SessionOf(backend.State())); err != nil {
		log.Warn("session not saved", "err", err)
	}
	log.Info("window closed; shutting down")
	return nil
}

// restoreSession brings back the queue, track, position, volume, shuffle
// and repeat of the last run, paused.
func restoreSession(p *player.Player, path string, log *slog.Logger) {
	s, ok, err := app.LoadSession(path)
	if err != nil {
		log.Warn("the last session is lost", "err", err)
	}
	if !ok {
		return
	}
	err = errors.Join(p.SetVolume(s.Volume), p.SetRepeat(player.Repeat(s.Repeat)))
	if len(s.Queue) > 0 && s.Index >= 0 {
		if err := p.Cue(s.Queue, s.Index, s.Position()); err != nil {
			log.Warn("the last session's queue did not come back", "err", err)
		}
	}
	if err := errors.Join(err, p.SetShuffle(s.Shuffle)); err != nil {
		log.Warn("the last session did not all come back", "err", err)
	}
	log.Info("session restored", "tracks", len(s.Queue), "index", s.Index, "position", s.Position())
}

// keepSession saves the session every few seconds while it changes, so a
// crash loses little; run saves it once more at exit.
func keepSession(ctx context.Context, state func() app.PlayerState, path string, log *slog.Logger) {
	t := time.NewTicker(5 * time.Second)
	defer t.Stop()
	var last app.Session
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		s := app.SessionOf(state())
		if reflect.DeepEqual(s, last) {
			continue
		}
		if err := app.SaveSession(path, s); err != nil {
			log.Warn("session not saved", "err", err)
			continue
		}
		last = s
	}
}

// trackLocation is where an exported playlist points for id: the cached
// file when the cache holds the track whole (an MP3 any player reads, for
// as long as the cache keeps it: pin it to be sure), else the track's
// Potluck URI. Either way the titles, artists and lengths travel with it.
func trackLocation(store cache.Store, storeDir string, id track.ID) string {
	if m, _, ok := store.Manifest(id); ok && store.Have(id).Count() == m.NumChunks() {
		return filepath.Join(storeDir, id.String(), "data")
	}
	return app.TrackURI(id)
}
