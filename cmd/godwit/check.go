package main

import (
	"fmt"
	"io"
	"net/netip"
	"strings"

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
	cfg, err := loadConfig(*cfgPath)
	if err != nil {
		return err
	}
	b, err := build(cfg)
	defer b.close()
	warnings := nsWarnings(b.zones, b.services)
	for _, w := range warnings {
		fmt.Fprintln(stderr, w)
	}
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "%s: ok: %d zones, %d services, %d datacenters, %d checks",
		cfg.path, len(b.zones), len(b.services), len(cfg.Datacenter), len(cfg.Check))
	if len(warnings) > 0 {
		fmt.Fprintf(stdout, ", %d warning%s", len(warnings), plural(len(warnings)))
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
	cfg, err := loadConfig(*cfgPath)
	if err != nil {
		return err
	}
	b, err := build(cfg)
	defer b.close()
	if err != nil {
		return err
	}
	env := zones.Env{Seq: 1}
	if b.geo != nil {
		env.Geo = b.geo
	}
	if b.routes != nil {
		env.Routes = b.routes
	}
	c := zones.Client{Addr: addr.Unmap(), SourceBits: *ecs}
	fmt.Fprint(stdout, zones.Explain(b.set, mdns.Fqdn(fs.Arg(0)), qtype, c, &env).String())
	return nil
}
