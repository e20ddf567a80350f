package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"net/netip"
	"time"
)

func runPeer(ctx context.Context, args []string, stdout io.Writer) error {
	fset := flag.NewFlagSet("potluckd peer", flag.ContinueOnError)
	client := originFlags(fset)
	node := nodeFlags(fset, defaultDataDir("peer"), ":0")
	logger := logFlags(fset)
	if err := parseFlags(fset, args); err != nil {
		return err
	}
	log, err := logger()
	if err != nil {
		return err
	}
	c, err := client()
	if err != nil {
		return err
	}
	defer c.Close()
	n, err := startNode(ctx, node, c, log, nil)
	if err != nil {
		return err
	}
	defer n.Close()

	// Ready means listed: announce until the tracker has us.
	for {
		actx, cancel := context.WithTimeout(ctx, 10*time.Second)
		resp, err := n.Announce(actx)
		cancel()
		if err == nil {
			fmt.Fprintf(stdout, "peer-ready: %s %s\n", n.ID(), resp.Addr)
			break
		}
		log.Warn("announce failed; retrying", "err", err)
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(2 * time.Second):
		}
	}
	// One line on how others reach this node, once the router had its
	// chance to map the port (about 3 s at most).
	select {
	case <-n.PortMapped():
	case <-ctx.Done():
		return nil
	}
	r := n.Reachability()
	log.Info("reachability", "state", r.State, "public", addrOrNone(r.Public), "mapped", addrOrNone(r.Mapped))
	<-ctx.Done()
	log.Info("shutting down", "served_bytes", n.BytesServed())
	return nil
}

// addrOrNone is a for logs: "none" when not known.
func addrOrNone(a netip.AddrPort) string {
	if !a.IsValid() {
		return "none"
	}
	return a.String()
}
