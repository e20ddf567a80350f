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
	"crypto/ed25519"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"

	fyneapp "fyne.io/fyne/v2/app"

	"fyne.io/fyne/v2"

	"github.com/potluckfm/potluck/app"
	"github.com/potluckfm/potluck/assets"
	"github.com/potluckfm/potluck/cache"
	"github.com/potluckfm/potluck/origin"
	"github.com/potluckfm/potluck/player"
	"github.com/potluckfm/potluck/player/otosink"
	"github.com/potluckfm/potluck/swarm"
)

// appID matches FyneApp.toml.
const appID = "fm.potluck.desktop"

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "potluck:", err)
		os.Exit(1)
	}
}

func run() error {
	configDir, _ := os.UserConfigDir()
	cacheDir, _ := os.UserCacheDir()
	data := flag.String("data", "", "directory for everything Potluck keeps (default: the user's config and cache directories)")
	originURL := flag.String("origin", "", "origin URL to join (default: the saved setting, else a built-in origin on the demo library)")
	listen := flag.String("listen", "", "UDP HOST:PORT of the peer protocol (default: the saved port, else any)")
	cacheSize := flag.String("cache-size", "", "cache size limit, e.g. 2GiB (default: the saved setting, else 10% of free disk up to 10 GiB)")
	uploadLimit := flag.String("upload-limit", "", "upload bytes per second, e.g. 500KB (default: the saved setting, else no limit)")
	logLevel := flag.String("log-level", "info", "log level: debug, info, warn, error")
	flag.Parse()

	var lvl slog.Level
	lvl.UnmarshalText([]byte(*logLevel))
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: lvl}))
	slog.SetDefault(log)

	confDir, nodeDir, storeDir := filepath.Join(configDir, "potluck"), filepath.Join(configDir, "potluck", "node"), filepath.Join(cacheDir, "potluck")
	if *data != "" {
		confDir, nodeDir, storeDir = *data, filepath.Join(*data, "node"), filepath.Join(*data, "cache")
	}
	settings, err := app.OpenSettings(filepath.Join(confDir, "settings.json"))
	if err != nil {
		return err
	}
	saved := settings.Get()
	pick := func(flagVal, savedVal string) string {
		if flagVal != "" {
			return flagVal
		}
		return savedVal
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	// The origin: the one named, or one inside the app on the demo library.
	var u origin.URL
	if s := pick(*originURL, saved.OriginURL); s != "" {
		if u, err = origin.ParseURL(s); err != nil {
			return err
		}
	} else {
		key, err := origin.LoadOrCreateKey(filepath.Join(confDir, "origin"))
		if err != nil {
			return err
		}
		srv, err := origin.Start(ctx, origin.Config{Library: assets.Demo(), Key: key, Listen: "127.0.0.1:0", Logger: log})
		if err != nil {
			return fmt.Errorf("built-in origin: %w", err)
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
			return fmt.Errorf("cache size: %w", err)
		}
	}
	store, err := cache.OpenDisk(storeDir, u.Key, cache.Options{Limit: limit, Logger: log})
	if err != nil {
		return fmt.Errorf("cache: %w", err)
	}
	defer store.Close()
	var upload int64
	if s := pick(*uploadLimit, saved.UploadLimit); s != "" {
		if upload, err = cache.ParseSize(s); err != nil {
			return fmt.Errorf("upload limit: %w", err)
		}
	}
	addr := *listen
	if addr == "" && saved.ListenPort != 0 {
		addr = fmt.Sprintf(":%d", saved.ListenPort)
	}
	node, err := swarm.Start(ctx, swarm.Config{DataDir: nodeDir, Origin: client, Store: store, Listen: addr, UploadRate: upload, Logger: log})
	if err != nil {
		return err
	}
	defer node.Close()
	log.Info("swarm node up", "id", node.ID(), "addr", node.Addr())

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
	streams := newStreamTracker(node)
	p, err := player.New(ctx, player.Config{Sink: sink, Opener: streams, Logger: log})
	if err != nil {
		return err
	}
	defer p.Close()

	a := fyneapp.NewWithID(appID)
	a.SetIcon(fyne.NewStaticResource("icon.png", assets.Icon))
	backend := &playerAdapter{p: p}
	deps := app.Deps{
		Catalog:  app.OriginCatalog{Client: client},
		Player:   backend,
		Swarm:    &swarmAdapter{node: node, store: store, streams: streams, player: p},
		Settings: settings,
		Notice:   notice,
	}
	ui := app.New(a, deps)
	if m, err := app.StartMPRIS("", backend, ui.Describe); err != nil {
		log.Info("no MPRIS (media keys)", "err", err)
	} else {
		defer m.Close()
		m.OnRaise(func() { fyne.Do(func() { ui.Window().Show(); ui.Window().RequestFocus() }) })
		ui.Observe(m.Update)
	}
	uiCtx, cancelUI := context.WithCancel(ctx)
	defer cancelUI()
	ui.Start(uiCtx)
	go func() {
		<-ctx.Done() // SIGINT/SIGTERM: close the window, which ends the app
		fyne.Do(a.Quit)
	}()
	log.Info("window open", "title", app.Title)
	ui.Window().ShowAndRun()
	shutdown, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_ = shutdown
	return nil
}

var (
	_ = ed25519.PublicKeySize
	_ = errors.New
)
