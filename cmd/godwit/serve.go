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
	"runtime"
	"strings"
	"syscall"

	"github.com/godwit-dns/godwit/server"
)

// serveFlags are the flags serve and demo share.
type serveFlags struct {
	listen, statusListen, logLevel, nsid *string
}

func addServeFlags(fs *flag.FlagSet, nsid bool) serveFlags {
	f := serveFlags{
		listen:       fs.String("listen", "", "DNS listen addresses, comma-separated (overrides server.listen)"),
		statusListen: fs.String("status-listen", "", "status server address (overrides status.listen)"),
		logLevel:     fs.String("log-level", "info", "debug, info, warn or error"),
	}
	if nsid {
		f.nsid = fs.String("nsid", "", "this instance's name for NSID and CHAOS id.server (overrides server.nsid and server.identity)")
	}
	return f
}

func (f serveFlags) server() server.Flags {
	sf := server.Flags{StatusListen: *f.statusListen}
	if f.nsid != nil {
		sf.NSID = *f.nsid
	}
	if *f.listen != "" {
		sf.Listen = strings.Split(*f.listen, ",")
	}
	return sf
}

func cmdServe(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("serve", stdout)
	cfgPath := fs.String("config", defaultConfig, "config file")
	f := addServeFlags(fs, true)
	rest, err := parse(fs, args)
	if err != nil {
		return err
	}
	if len(rest) > 0 {
		return usagef("serve takes no arguments (got %q)", rest[0])
	}
	if _, err := os.Stat(*cfgPath); errors.Is(err, os.ErrNotExist) && *cfgPath == defaultConfig {
		return fmt.Errorf("%s: no such file: write a config there, pass -config FILE, or try `godwit demo`", defaultConfig)
	}
	return serve(ctx, *cfgPath, f.server(), *f.logLevel, stdout, stderr)
}

// cmdDemo serves the built-in demo: zone example.test and GSLB services
// under gslb.example.test, unpacked to a temporary directory.
func cmdDemo(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("demo", stdout)
	f := addServeFlags(fs, false)
	rest, err := parse(fs, args)
	if err != nil {
		return err
	}
	if len(rest) > 0 {
		return usagef("demo takes no arguments (got %q)", rest[0])
	}
	path, cleanup, err := unpackDemo()
	if err != nil {
		return err
	}
	defer cleanup()
	sf := f.server()
	sf.Demo = true
	return serve(ctx, path, sf, *f.logLevel, stdout, stderr)
}

// serve runs a server on the config at path until SIGINT or SIGTERM;
// SIGHUP reloads.
func serve(ctx context.Context, path string, flags server.Flags, logLevel string, stdout, stderr io.Writer) error {
	var lvl slog.LevelVar
	if err := lvl.UnmarshalText([]byte(logLevel)); err != nil {
		return usagef("-log-level %q: want debug, info, warn or error", logLevel)
	}
	log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: &lvl}))
	cfg, err := server.LoadConfig(path, flags)
	if err != nil {
		return err
	}

	if n, ok := engineProcs(cfg.Server.IO, runtime.GOMAXPROCS(0), os.Getenv("GOMAXPROCS"), runtime.GOOS); ok {
		runtime.GOMAXPROCS(n)
		log.Info("GOMAXPROCS raised from 1 to 2 so that the UDP packet engine has a thread (set GOMAXPROCS to choose)")
	}

	ctx, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
	defer stop()
	srv, err := server.Start(ctx, cfg, server.Options{Log: log, Version: versionString()})
	if err != nil {
		return err
	}
	defer srv.Shutdown()

	var addrs []string
	for _, a := range srv.DNSAddrs() {
		addrs = append(addrs, a.String())
	}
	fmt.Fprintf(stdout, "godwit %s: serving DNS on %s (udp+tcp) from %s\n", versionString(), strings.Join(addrs, ", "), cfg.Describe())
	if a := srv.StatusAddr(); a != nil {
		fmt.Fprintf(stdout, "godwit: status page on http://%s/\n", a)
	}
	if flags.Demo && len(addrs) > 0 {
		ap := srv.DNSAddrs()[0]
		fmt.Fprintf(stdout, "godwit: try  dig @%s -p %d www.example.test  or  dig @%s -p %d geo.gslb.example.test +subnet=81.2.69.142/32\n",
			ap.Addr(), ap.Port(), ap.Addr(), ap.Port())
	}

	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	for {
		select {
		case <-ctx.Done():
			log.Info("shutting down")
			return nil
		case <-hup:
			go srv.Reload("SIGHUP") //nolint:errcheck // failures are logged, counted and shown
		}
	}
}

// engineProcs says whether serve should raise GOMAXPROCS, and to what. On
// one CPU (a small VM, a container limited to one CPU, a pinned process)
// the runtime picks 1, which leaves the UDP packet engine no thread: it
// runs at most GOMAXPROCS-1 (docs/dns.md), and the portable read loop costs
// about twice its CPU per query. The engine thread's P costs nothing while
// it sleeps in the kernel, so serve takes 2, unless the operator chose
// (GOMAXPROCS set in the environment) or io = "portable", or the system has
// no engine.
func engineProcs(io string, procs int, env, goos string) (int, bool) {
	if procs != 1 || env != "" || io == "portable" || goos != "linux" {
		return 0, false
	}
	return 2, true
}
