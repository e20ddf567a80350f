package main

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"time"
)

// profileEnv names the environment variable that makes the app serve Go's
// runtime profiles (net/http/pprof: heap, goroutines, CPU) on a loopback
// HOST:PORT, for measuring where its memory and time go. Unset, nothing
// listens.
const profileEnv = "POTLUCK_PPROF"

// serveProfiles serves the profiles on addr, a loopback address, until ctx
// ends, and logs the address it listens on ("profiles served").
func serveProfiles(ctx context.Context, addr string, log *slog.Logger) (done func(), err error) {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, fmt.Errorf("%s=%q: want HOST:PORT", profileEnv, addr)
	}
	if ip := net.ParseIP(host); host != "localhost" && (ip == nil || !ip.IsLoopback()) {
		return nil, fmt.Errorf("%s=%q: profiles are served on a loopback address only", profileEnv, addr)
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", profileEnv, err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	served := make(chan struct{})
	go func() {
		defer close(served)
		srv.Serve(ln)
	}()
	stop := context.AfterFunc(ctx, func() { srv.Close() })
	log.Info("profiles served", "addr", ln.Addr().String())
	return func() {
		stop()
		srv.Close()
		<-served
	}, nil
}
