// Command godwit is a geo-aware authoritative DNS server for global server
// load balancing. Subcommands: serve (the default), check, explain, version.
// It owns flags, the config file, wiring the packages together, signals and
// reload orchestration; the DNS behaviour lives in the packages it wires.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"runtime/debug"
	"strings"

	"github.com/godwit-dns/godwit/server"
)

// version is set at build time with -ldflags "-X main.version=…".
var version = ""

func versionString() string {
	if version != "" {
		return version
	}
	if bi, ok := debug.ReadBuildInfo(); ok && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
		return bi.Main.Version
	}
	return "dev"
}

func main() {
	os.Exit(run(context.Background(), os.Args[1:], os.Stdout, os.Stderr))
}

const usage = `usage:
  godwit [serve] [-config FILE] [-listen ADDR,...] [-status-listen ADDR] [-nsid NAME]
  godwit check   -config FILE
  godwit explain -config FILE -client IP [-ecs-bits N] NAME [TYPE]
  godwit version

With no -config, serve runs the built-in demo (zone example.test and GSLB
services under gslb.example.test on 127.0.0.1:5353).
`

// run is main without the process: it returns the exit status.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	sub := "serve"
	if len(args) > 0 && !strings.HasPrefix(args[0], "-") {
		sub, args = args[0], args[1:]
	}
	var err error
	switch sub {
	case "serve":
		err = cmdServe(ctx, args, stdout, stderr)
	case "check":
		err = cmdCheck(args, stdout, stderr)
	case "explain":
		err = cmdExplain(args, stdout, stderr)
	case "version":
		fmt.Fprintln(stdout, "godwit", versionString())
	case "help", "-h", "-help", "--help":
		fmt.Fprint(stdout, usage)
	default:
		fmt.Fprintf(stderr, "godwit: unknown command %q\n%s", sub, usage)
		return 2
	}
	switch {
	case err == nil:
		return 0
	case errors.Is(err, flag.ErrHelp):
		return 0
	case errors.Is(err, errUsage):
		fmt.Fprint(stderr, usage)
		return 2
	default:
		for _, e := range server.Unjoin(err) {
			fmt.Fprintf(stderr, "godwit: %v\n", e)
		}
		return 1
	}
}

var errUsage = errors.New("usage")

func newFlagSet(name string, stderr io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	return fs
}
