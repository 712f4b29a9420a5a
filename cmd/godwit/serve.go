package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/godwit-dns/godwit/server"
)

func cmdServe(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("serve", stderr)
	cfgPath := fs.String("config", "", "config file (default: the built-in demo)")
	listen := fs.String("listen", "", "DNS listen addresses, comma-separated (overrides server.listen)")
	statusListen := fs.String("status-listen", "", "status server address (overrides status.listen)")
	logLevel := fs.String("log-level", "info", "debug, info, warn or error")
	nsid := fs.String("nsid", "", "this instance's name for NSID and CHAOS id.server (overrides server.nsid and server.identity)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return errUsage
	}
	var lvl slog.LevelVar
	if err := lvl.UnmarshalText([]byte(*logLevel)); err != nil {
		return fmt.Errorf("-log-level: %w", err)
	}
	log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: &lvl}))

	flags := server.Flags{StatusListen: *statusListen, NSID: *nsid}
	if *listen != "" {
		flags.Listen = strings.Split(*listen, ",")
	}
	path := *cfgPath
	if path == "" {
		p, cleanup, err := unpackDemo()
		if err != nil {
			return err
		}
		defer cleanup()
		path, flags.Demo = p, true
	}
	cfg, err := server.LoadConfig(path, flags)
	if err != nil {
		return err
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
