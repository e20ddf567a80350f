package main

import (
	"context"
	"flag"
	"log/slog"

	"github.com/potluckfm/potluck/cache"
	"github.com/potluckfm/potluck/internal/nodeconf"
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

// startNode starts a swarm node on the data directory (internal/nodeconf);
// with an empty one it runs on a throwaway directory. Close the node to
// stop it.
func startNode(ctx context.Context, o nodeOptions, c *origin.Client, log *slog.Logger, edit func(*swarm.Config)) (*nodeconf.Node, error) {
	var limit int64
	if *o.cacheSize != "" {
		var err error
		if limit, err = cache.ParseSize(*o.cacheSize); err != nil {
			return nil, usageError("--cache-size: %v", err)
		}
	}
	cfg := swarm.Config{Origin: c, Listen: *o.listen, Logger: log}
	if edit != nil {
		edit(&cfg)
	}
	return nodeconf.Start(ctx, nodeconf.Options{Dir: *o.data, CacheLimit: limit}, cfg)
}
