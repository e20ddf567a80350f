// Command potluckd is Potluck's headless binary: the origin server and the
// command-line clients. It is pure Go and builds with CGO_ENABLED=0.
//
//	potluckd origin [--library DIR] [--data DIR] [--listen HOST:PORT] [--metrics HOST:PORT]
//	potluckd ls     --origin URL [--json] [--search TEXT]
//	potluckd fetch  --origin URL --track ID --out FILE [--data DIR]
//	potluckd peer   --origin URL --data DIR [--listen HOST:PORT] [--cache-size SIZE]
//	potluckd play   --origin URL --track ID [--data DIR] [--sink null|wav:FILE] [--seek SECONDS]
//	potluckd sim    [--peers N] [--tracks M] [--duration D] [--baseline client-server] [--json FILE] [--chart FILE] [--scale N,N,...]
//
// Machine-readable output goes to stdout (the origin-url line, JSON stats);
// logs go to stderr.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"syscall"
)

type command struct {
	name, usage string
	run         func(ctx context.Context, args []string, stdout io.Writer) error
}

var commands = []command{
	{"origin", "serve a music library (the embedded demo library by default)", runOrigin},
	{"ls", "list an origin's catalogue", runLs},
	{"fetch", "download a track through the swarm, verifying every chunk", runFetch},
	{"peer", "run a headless cache peer that serves what it holds", runPeer},
	{"play", "play a track through the swarm in real time to a null or WAV sink", runPlay},
	{"sim", "benchmark a swarm of N listeners over emulated links against client-server", runSim},
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	os.Exit(run(ctx, os.Args[1:], os.Stdout, os.Stderr))
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		usage(stderr)
		return 2
	}
	for _, c := range commands {
		if c.name != args[0] {
			continue
		}
		err := c.run(ctx, args[1:], stdout)
		switch {
		case err == nil:
			return 0
		case errors.Is(err, flag.ErrHelp):
			return 2
		case errors.Is(err, errUsage):
			fmt.Fprintf(stderr, "potluckd %s: %v\n", c.name, err)
			return 2
		default:
			fmt.Fprintf(stderr, "potluckd %s: %v\n", c.name, err)
			return 1
		}
	}
	fmt.Fprintf(stderr, "potluckd: unknown command %q\n", args[0])
	usage(stderr)
	return 2
}

var errUsage = errors.New("usage")

func usageError(format string, args ...any) error {
	return fmt.Errorf("%w: %s", errUsage, fmt.Sprintf(format, args...))
}

func usage(w io.Writer) {
	fmt.Fprintln(w, "usage: potluckd COMMAND [flags]\n\ncommands:")
	for _, c := range commands {
		fmt.Fprintf(w, "  %-8s %s\n", c.name, c.usage)
	}
	fmt.Fprintln(w, "\nRun potluckd COMMAND -h for its flags.")
}

// logFlags adds --log-level and --log-format to fs and returns a function
// that builds the logger once flags are parsed; a level or format it does
// not know is a usage error. Logs go to stderr.
func logFlags(fs *flag.FlagSet) func() (*slog.Logger, error) {
	level := fs.String("log-level", "info", "log level: debug, info, warn or error")
	format := fs.String("log-format", "text", "log format: text or json")
	return func() (*slog.Logger, error) {
		var l slog.Level
		if err := l.UnmarshalText([]byte(*level)); err != nil {
			return nil, usageError("--log-level %q: want debug, info, warn or error", *level)
		}
		opts := &slog.HandlerOptions{Level: l}
		switch *format {
		case "text":
			return slog.New(slog.NewTextHandler(os.Stderr, opts)), nil
		case "json":
			return slog.New(slog.NewJSONHandler(os.Stderr, opts)), nil
		}
		return nil, usageError("--log-format %q: want text or json", *format)
	}
}

func parseFlags(fs *flag.FlagSet, args []string) error {
	fs.SetOutput(os.Stderr)
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return usageError("unexpected argument %q", fs.Arg(0))
	}
	return nil
}
