package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/signal"
	"path/filepath"
	"slices"
	"syscall"
	"time"

	"github.com/potluckfm/potluck/assets"
	"github.com/potluckfm/potluck/origin"
)

func runOrigin(ctx context.Context, args []string, stdout io.Writer) error {
	fset := flag.NewFlagSet("potluckd origin", flag.ContinueOnError)
	library := fset.String("library", "", "music directory to serve (default: the embedded demo library)")
	data := fset.String("data", defaultDataDir("origin"), "directory for the origin key")
	listen := fset.String("listen", ":4433", "HOST:PORT for HTTP/3 (UDP) and HTTPS (TCP)")
	advertise := fset.String("advertise", "", "host name or IP clients use to reach this origin, put in its URL (default: the --listen host, or 127.0.0.1)")
	metrics := fset.String("metrics", "", "HOST:PORT to serve /metrics and /healthz on (default: off)")
	publicURL := fset.String("public-url", "", "origin URL of a set of replicas, https://H1:P1,H2:P2/#key=... (docs/replicas.md): checked against this origin's key and printed as its origin-url")
	tl := origin.DefaultTrackerLimits()
	fset.IntVar(&tl.PeersPerIP, "tracker-peers-per-ip", tl.PeersPerIP, "peers the tracker lists per source address (-1: no limit)")
	fset.IntVar(&tl.PeersPerNet, "tracker-peers-per-net", tl.PeersPerNet, "peers the tracker lists per /24 (IPv4) or /64 (IPv6) (-1: no limit)")
	fset.IntVar(&tl.TracksPerPeer, "tracker-tracks-per-peer", tl.TracksPerPeer, fmt.Sprintf("tracks one peer may list, at most %d", origin.MaxTracksPerAnnounce))
	fset.IntVar(&tl.MaxPeers, "tracker-max-peers", tl.MaxPeers, "peers the tracker lists in all (-1: no limit)")
	fset.IntVar(&tl.MaxEntries, "tracker-max-entries", tl.MaxEntries, "(peer, track) entries the tracker lists in all, up to about 400 bytes each (-1: no limit)")
	fset.Float64Var(&tl.AnnounceRate, "tracker-announce-rate", tl.AnnounceRate, "announces per second per source address (IPv6: per /64) (-1: no limit)")
	fset.IntVar(&tl.AnnounceBurst, "tracker-announce-burst", tl.AnnounceBurst, "announces a source may send at once before the rate applies")
	fset.Float64Var(&tl.LookupRate, "tracker-lookup-rate", tl.LookupRate, "peer lookups per second per source address (IPv6: per /64) (-1: no limit)")
	fset.IntVar(&tl.LookupBurst, "tracker-lookup-burst", tl.LookupBurst, "lookups a source may send at once before the rate applies")
	var lim origin.Limits
	fset.DurationVar(&lim.BodyTimeout, "body-timeout", origin.DefaultBodyTimeout, "time a request may take to send its body, from its start (HTTPS, HTTP/2, HTTP/3)")
	fset.DurationVar(&lim.HeaderTimeout, "header-timeout", origin.DefaultHeaderTimeout, "time a TCP connection may take for its TLS handshake and each request header")
	fset.DurationVar(&lim.IdleTimeout, "idle-timeout", origin.DefaultIdleTimeout, "idle time after which a connection (TCP or QUIC) is closed")
	fset.IntVar(&lim.ConnsPerAddr, "conns-per-addr", origin.DefaultConnsPerAddr, "open connections, TCP and QUIC together, per client IP address (IPv6: per /64)")
	fset.IntVar(&lim.MaxConns, "max-conns", 0, "open connections, TCP and QUIC together, in all (default: 3/4 of the file descriptor limit)")
	fset.IntVar(&lim.StreamsPerConn, "streams-per-conn", origin.DefaultStreamsPerConn, "concurrent requests per HTTP/2 or HTTP/3 connection")
	logger := logFlags(fset)
	if err := parseFlags(fset, args); err != nil {
		return err
	}
	log, err := logger()
	if err != nil {
		return err
	}

	var lib fs.FS = assets.Demo()
	if *library != "" {
		st, err := os.Stat(*library)
		if err != nil {
			return fmt.Errorf("library: %w", err)
		}
		if !st.IsDir() {
			return fmt.Errorf("library %s: not a directory", *library)
		}
		lib = os.DirFS(*library)
	}
	key, err := origin.LoadOrCreateKey(*data)
	if err != nil {
		return err
	}
	var public *origin.URL
	if *publicURL != "" {
		u, err := origin.ParseURL(*publicURL)
		if err != nil {
			return usageError("--public-url: %v", err)
		}
		// A replica started without the copied key would serve
		// manifests every client refuses: stop here instead.
		if !u.Key.Equal(key.Public()) {
			return fmt.Errorf("--public-url pins another key than %s/origin.key: copy the key file of the other replicas there", *data)
		}
		public = &u
	}
	srv, err := origin.Start(ctx, origin.Config{
		Library: lib, Key: key, Listen: *listen, Advertise: *advertise, Metrics: *metrics, Logger: log,
		Limits:        lim,
		TrackerLimits: tl,
	})
	if err != nil {
		return err
	}
	if public != nil {
		if !slices.Contains(public.AllAddrs(), srv.URL().Addr) {
			log.Warn("--public-url does not list this replica's own address", "addr", srv.URL().Addr, "public_url", public.String())
		}
		fmt.Fprintf(stdout, "origin-url: %s\n", public)
	} else {
		fmt.Fprintf(stdout, "origin-url: %s\n", srv.URL())
	}

	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	var runErr error
loop:
	for {
		select {
		case <-ctx.Done():
			log.Info("shutting down")
			break loop
		case err := <-srv.Err():
			runErr = err
			break loop
		case <-hup:
			log.Info("SIGHUP: rescanning the library")
			if err := srv.Rescan(ctx); err != nil {
				log.Error("rescan failed; still serving the previous catalogue", "err", err)
			}
		}
	}
	shutdownCtx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := srv.Shutdown(shutdownCtx); err != nil && runErr == nil {
		runErr = err
	}
	return runErr
}

// defaultDataDir is where a role keeps its state when --data is not given.
func defaultDataDir(role string) string {
	dir, err := os.UserConfigDir()
	if err != nil {
		dir = os.TempDir()
	}
	return filepath.Join(dir, "potluck", role)
}
