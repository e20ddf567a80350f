package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"

	"github.com/potluckfm/potluck/cache"
	"github.com/potluckfm/potluck/origin"
	"github.com/potluckfm/potluck/swarm"
)

// nodeOptions are the flags shared by commands that run a swarm node.
type nodeOptions struct {
	data, listen, cacheSize *string
}

func nodeFlags(fs *flag.FlagSet, dataDefault, listenDefault string) nodeOptions {
	return nodeOptions{
		data:      fs.String("data", dataDefault, "data directory: cache, node key, known peers"),
		listen:    fs.String("listen", listenDefault, "UDP HOST:PORT of the peer protocol"),
		cacheSize: fs.String("cache-size", "", "cache size limit, e.g. 2GiB (default: 10% of free disk, at most 10 GiB)"),
	}
}

// startNode opens the cache in the data directory and starts a swarm node
// on it. With an empty data directory it runs on a throwaway one. The
// returned stop func closes both and removes a throwaway directory.
func startNode(ctx context.Context, o nodeOptions, c *origin.Client, log *slog.Logger, edit func(*swarm.Config)) (*swarm.Node, func(), error) {
	dir := *o.data
	cleanup := func() {}
	if dir == "" {
		tmp, err := os.MkdirTemp("", "potluck-node-*")
		if err != nil {
			return nil, nil, err
		}
		dir = tmp
		cleanup = func() { os.RemoveAll(tmp) }
	}
	var limit int64
	if *o.cacheSize != "" {
		var err error
		if limit, err = cache.ParseSize(*o.cacheSize); err != nil {
			cleanup()
			return nil, nil, usageError("--cache-size: %v", err)
		}
	}
	store, err := cache.OpenDisk(filepath.Join(dir, "cache"), c.URL().Key, cache.Options{Limit: limit, Logger: log})
	if err != nil {
		cleanup()
		return nil, nil, fmt.Errorf("cache: %w", err)
	}
	cfg := swarm.Config{DataDir: dir, Origin: c, Store: store, Listen: *o.listen, Logger: log}
	if edit != nil {
		edit(&cfg)
	}
	n, err := swarm.Start(ctx, cfg)
	if err != nil {
		store.Close()
		cleanup()
		return nil, nil, err
	}
	return n, func() {
		n.Close()
		store.Close()
		cleanup()
	}, nil
}
