package main

import (
	"fmt"
	"io"
	"net/netip"
	"strings"

	"github.com/godwit-dns/godwit/server"
	"github.com/godwit-dns/godwit/zones"
	mdns "github.com/miekg/dns"
)

// cmdCheck validates a config and everything it names, printing each
// problem as file:line: message. Any problem makes it exit 1. Warnings
// (file:line: warning: message, on stderr) leave the exit status at 0.
func cmdCheck(args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("check", stderr)
	cfgPath := fs.String("config", "", "config file to check")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *cfgPath == "" || fs.NArg() > 0 {
		return errUsage
	}
	cfg, err := server.LoadConfig(*cfgPath, server.Flags{})
	if err != nil {
		return err
	}
	g, err := server.Build(cfg)
	defer g.Close()
	warnings := server.Warnings(g)
	for _, w := range warnings {
		fmt.Fprintln(stderr, w)
	}
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "%s: ok: %d zones, %d services, %d datacenters, %d checks",
		cfg.Path(), len(g.Zones()), len(g.Services), len(cfg.Datacenter), len(cfg.Check))
	if len(warnings) > 0 {
		fmt.Fprintf(stdout, ", %d warning%s", len(warnings), map[bool]string{true: "s"}[len(warnings) != 1])
	}
	fmt.Fprintln(stdout)
	return nil
}

// cmdExplain prints how the answer to NAME [TYPE] for one client is chosen,
// offline, from the config and the files it names.
func cmdExplain(args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("explain", stderr)
	cfgPath := fs.String("config", "", "config file")
	client := fs.String("client", "", "client address (the ECS address or the resolver's)")
	ecs := fs.Int("ecs-bits", -1, "treat -client as an ECS source prefix of this length (default: no ECS)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *cfgPath == "" || *client == "" || fs.NArg() < 1 || fs.NArg() > 2 {
		return errUsage
	}
	addr, err := netip.ParseAddr(*client)
	if err != nil {
		return fmt.Errorf("-client: %w", err)
	}
	qtype := uint16(mdns.TypeA)
	if fs.NArg() == 2 {
		t, ok := mdns.StringToType[strings.ToUpper(fs.Arg(1))]
		if !ok {
			return fmt.Errorf("unknown type %q", fs.Arg(1))
		}
		qtype = t
	}
	cfg, err := server.LoadConfig(*cfgPath, server.Flags{})
	if err != nil {
		return err
	}
	g, err := server.Build(cfg)
	defer g.Close()
	if err != nil {
		return err
	}
	c := zones.Client{Addr: addr.Unmap(), SourceBits: *ecs}
	fmt.Fprint(stdout, g.Explain(mdns.Fqdn(fs.Arg(0)), qtype, c).String())
	return nil
}
