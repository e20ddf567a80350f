package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"text/tabwriter"
	"time"

	"github.com/potluckfm/potluck/origin"
	"github.com/potluckfm/potluck/track"
)

// originFlags adds --origin and --transport and returns a constructor for
// the client they describe.
func originFlags(fs *flag.FlagSet) func() (*origin.Client, error) {
	u := fs.String("origin", "", "origin URL, as `potluckd origin` printed it (required)")
	tr := fs.String("transport", "auto", "how to reach the origin: auto (HTTP/3, falling back to TCP), quic or tcp")
	return func() (*origin.Client, error) {
		if *u == "" {
			return nil, usageError("--origin URL is required")
		}
		parsed, err := origin.ParseURL(*u)
		if err != nil {
			return nil, usageError("%v", err)
		}
		t, err := origin.ParseTransport(*tr)
		if err != nil {
			return nil, usageError("%v", err)
		}
		return origin.NewClient(parsed, origin.ClientOptions{Transport: t}), nil
	}
}

// originAndTrack opens the origin client and parses --track: the start of
// the commands that act on one track. The caller closes the client.
func originAndTrack(client func() (*origin.Client, error), trackID string) (*origin.Client, track.ID, error) {
	c, err := client()
	if err != nil {
		return nil, track.ID{}, err
	}
	id, err := track.ParseID(trackID)
	if err != nil {
		c.Close()
		return nil, track.ID{}, usageError("--track: %v", err)
	}
	return c, id, nil
}

func runLs(ctx context.Context, args []string, stdout io.Writer) error {
	fset := flag.NewFlagSet("potluckd ls", flag.ContinueOnError)
	client := originFlags(fset)
	asJSON := fset.Bool("json", false, "print a JSON array of tracks")
	search := fset.String("search", "", "list only tracks whose title, artist, album or genre contain these words")
	if err := parseFlags(fset, args); err != nil {
		return err
	}
	c, err := client()
	if err != nil {
		return err
	}
	defer c.Close()
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	tracks, err := c.Tracks(ctx, *search)
	if err != nil {
		return err
	}
	if *asJSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(tracks)
	}
	tw := tabwriter.NewWriter(stdout, 0, 0, 2, ' ', 0)
	for _, t := range tracks {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", t.ID, orDash(t.Artist), t.Title, formatDuration(t.DurationMS))
	}
	return tw.Flush()
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// formatDuration writes milliseconds as m:ss.
func formatDuration(ms int64) string {
	s := (ms + 500) / 1000
	return fmt.Sprintf("%d:%02d", s/60, s%60)
}
