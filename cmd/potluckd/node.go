package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"net"

	"github.com/potluckfm/potluck/cache"
	"github.com/potluckfm/potluck/internal/nodeconf"
	"github.com/potluckfm/potluck/origin"
	"github.com/potluckfm/potluck/swarm"
)

// nodeOptions are the flags shared by commands that run a swarm node.
type nodeOptions struct {
	data, listen, cacheSize *string
	bootstrap               *[]string
}

func nodeFlags(fs *flag.FlagSet, dataDefault, listenDefault string) nodeOptions {
	var boot []string
	fs.Func("bootstrap", "HOST:PORT of a Potluck node to join the DHT through (repeatable); the origin's peers and the saved table are used too",
		func(s string) error {
			if _, _, err := net.SplitHostPort(s); err != nil {
				return fmt.Errorf("want HOST:PORT: %w", err)
			}
			boot = append(boot, s)
			return nil
		})
	return nodeOptions{
		bootstrap: &boot,
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
	boot, err := nodeconf.ResolveBootstrap(ctx, *o.bootstrap)
	if err != nil {
		return nil, usageError("--bootstrap: %v", err)
	}
	cfg := swarm.Config{Origin: c, Listen: *o.listen, Logger: log, Bootstrap: boot}
	if edit != nil {
		edit(&cfg)
	}
	return nodeconf.Start(ctx, nodeconf.Options{Dir: *o.data, CacheLimit: limit}, cfg)
}
