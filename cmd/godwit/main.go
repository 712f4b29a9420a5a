// Command godwit is a geo-aware authoritative DNS server for global server
// load balancing. It owns flags and subcommands; the serving runtime is the
// server package, the DNS behaviour lives in the packages it wires.
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

// defaultConfig is where serve, check and explain look without -config:
// the path contrib/godwit.service installs.
const defaultConfig = "/etc/godwit/godwit.toml"

// command is one subcommand: its synopsis for the usage text and what runs
// it.
type command struct {
	name, synopsis, summary string
	run                     func(ctx context.Context, args []string, stdout, stderr io.Writer) error
}

// commands is filled in init: the commands' flag sets print their usage
// from it.
var commands []command

func init() {
	commands = []command{
		{"serve", "[-config FILE] [-listen ADDR,...] [-status-listen ADDR] [-nsid NAME] [-log-level LEVEL]",
			"serve DNS and the status page (config: " + defaultConfig + " unless -config)", cmdServe},
		{"demo", "[-listen ADDR,...] [-status-listen ADDR] [-log-level LEVEL]",
			"serve the built-in demo on 127.0.0.1:5353, status page on 127.0.0.1:8053", cmdDemo},
		{"check", "[-config FILE]", "validate a config and every file it names", cmdCheck},
		{"ds", "[-config FILE] ZONE", "print the DS records of a signed zone, for its parent", cmdDS},
		{"explain", "[-config FILE] -client IP [-ecs-bits N] [-source IP] NAME [TYPE]",
			"show how the answer to NAME for a client is chosen, offline", cmdExplain},
		{"ctl", "[-status ADDR] [-token TOKEN] [-json] status | reload | override ... | explain ...",
			"ask a running server through its status API", cmdCtl},
		{"version", "", "print the version", func(_ context.Context, _ []string, stdout, _ io.Writer) error {
			fmt.Fprintln(stdout, "godwit", versionString())
			return nil
		}},
		{"help", "[COMMAND]", "this text, or one command's flags", cmdHelp},
	}
}

func findCommand(name string) *command {
	for i := range commands {
		if commands[i].name == name {
			return &commands[i]
		}
	}
	return nil
}

func usage() string {
	var b strings.Builder
	b.WriteString("usage: godwit COMMAND [flags] [arguments]\n\ncommands:\n")
	for _, c := range commands {
		fmt.Fprintf(&b, "  %-8s %s\n", c.name, c.summary)
	}
	b.WriteString("\nWith no command godwit runs serve. `godwit help COMMAND` lists a command's flags;\nflags may follow the arguments (godwit explain -client 192.0.2.1 NAME -ecs-bits 24).\n")
	return b.String()
}

// run is main without the process: it returns the exit status.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	name := "serve"
	if len(args) > 0 {
		switch a := args[0]; {
		case a == "-h" || a == "-help" || a == "--help":
			fmt.Fprint(stdout, usage())
			return 0
		case !strings.HasPrefix(a, "-"):
			name, args = a, args[1:]
		}
	}
	c := findCommand(name)
	if c == nil {
		fmt.Fprintf(stderr, "godwit: unknown command %q\n\n%s", name, usage())
		return 2
	}
	err := c.run(ctx, args, stdout, stderr)
	var ue *usageError
	switch {
	case err == nil, errors.Is(err, flag.ErrHelp):
		return 0
	case errors.As(err, &ue):
		fmt.Fprintf(stderr, "godwit %s: %s\nusage: godwit %s %s\n", name, ue.msg, name, c.synopsis)
		return 2
	default:
		for _, e := range server.Unjoin(err) {
			fmt.Fprintf(stderr, "godwit: %v\n", e)
		}
		return 1
	}
}

// usageError is a command line that cannot be run: the message says why.
type usageError struct{ msg string }

func (e *usageError) Error() string { return e.msg }

func usagef(format string, a ...any) error { return &usageError{fmt.Sprintf(format, a...)} }

// newFlagSet returns the flag set of command name; -h prints its usage to
// stdout.
func newFlagSet(name string, stdout io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(stdout)
	fs.Usage = func() {
		c := findCommand(name)
		fmt.Fprintf(fs.Output(), "usage: godwit %s %s\n\n%s.\n\nflags:\n", name, c.synopsis, c.summary)
		fs.PrintDefaults()
	}
	return fs
}

// parse parses args into fs, letting flags follow the arguments (the dig
// habit: explain NAME -ecs-bits 24), and returns the arguments. -h prints
// the command's usage; a bad flag is a usage error naming it.
func parse(fs *flag.FlagSet, args []string) ([]string, error) {
	for _, a := range args {
		if a == "-h" || a == "-help" || a == "--help" {
			fs.Usage()
			return nil, flag.ErrHelp
		}
		if a == "--" {
			break
		}
	}
	out, usage := fs.Output(), fs.Usage
	fs.SetOutput(io.Discard) // run reports the error once
	fs.Usage = func() {}
	defer func() { fs.SetOutput(out); fs.Usage = usage }()
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, usagef("%v", err)
		}
		args = fs.Args()
		if len(args) == 0 {
			return pos, nil
		}
		if args[0] == "--" {
			return append(pos, args[1:]...), nil
		}
		pos, args = append(pos, args[0]), args[1:]
	}
}

func cmdHelp(_ context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		fmt.Fprint(stdout, usage())
		return nil
	}
	c := findCommand(args[0])
	if c == nil || c.name == "help" || c.name == "version" {
		if c == nil {
			return usagef("unknown command %q", args[0])
		}
		fmt.Fprintf(stdout, "usage: godwit %s %s\n\n%s.\n", c.name, c.synopsis, c.summary)
		return nil
	}
	return c.run(context.Background(), []string{"-h"}, stdout, stderr)
}
