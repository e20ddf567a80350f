package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/potluckfm/potluck/origin"
	"github.com/potluckfm/potluck/swarm"
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

// lsNotes receives what ls says besides the list: that the origin is
// unreachable and where the list comes from instead.
var lsNotes io.Writer = os.Stderr

func runLs(ctx context.Context, args []string, stdout io.Writer) error {
	fset := flag.NewFlagSet("potluckd ls", flag.ContinueOnError)
	client := originFlags(fset)
	asJSON := fset.Bool("json", false, "print a JSON array of tracks")
	search := fset.String("search", "", "list only tracks whose title, artist, album or genre contain these words")
	node := nodeFlags(fset, "", ":0")
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
	var tracks []origin.TrackInfo
	if *node.data == "" {
		tracks, err = c.Tracks(ctx, *search)
	} else {
		tracks, err = lsThroughNode(ctx, node, c, *search)
	}
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

// lsThroughNode lists the catalogue through a swarm node on the data
// directory: the origin's signed catalogue, which the node keeps there;
// with the origin unreachable, the newest one its peers pass on or the
// one kept from before, and a note on lsNotes that says so.
func lsThroughNode(ctx context.Context, o nodeOptions, c *origin.Client, search string) ([]origin.TrackInfo, error) {
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	n, err := startNode(ctx, o, c, log, func(cfg *swarm.Config) { cfg.NoAnnounce = true })
	if err != nil {
		return nil, err
	}
	defer n.Close()
	tracks, online, err := n.Catalogue(ctx)
	if err != nil {
		return nil, fmt.Errorf("%w (data directory %s)", err, *o.data)
	}
	if !online {
		signed := time.UnixMilli(n.CatalogueVersion()).UTC().Format("2006-01-02 15:04 MST")
		fmt.Fprintf(lsNotes, "potluckd ls: the origin %s is unreachable; listing the catalogue it signed on %s, kept in %s or passed on by peers\n",
			c.URL().Addr, signed, *o.data)
	}
	return searchTracks(tracks, search), nil
}

// searchTracks keeps the tracks whose title, artist, album artist, album
// or genre contain every word of query, ignoring case, as the origin's
// search does.
func searchTracks(tracks []origin.TrackInfo, query string) []origin.TrackInfo {
	words := strings.Fields(strings.ToLower(query))
	if len(words) == 0 {
		return tracks
	}
	out := []origin.TrackInfo{} // "[]" in JSON, as the origin answers
	for _, t := range tracks {
		hay := strings.ToLower(strings.Join([]string{t.Title, t.Artist, t.AlbumArtist, t.Album, t.Genre}, "\n"))
		if !slices.ContainsFunc(words, func(w string) bool { return !strings.Contains(hay, w) }) {
			out = append(out, t)
		}
	}
	return out
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
