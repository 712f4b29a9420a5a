package main

import (
	"context"
	"fmt"
	"io"
	"net/netip"
	"strconv"
	"strings"
	"time"

	mdns "github.com/miekg/dns"

	"github.com/godwit-dns/godwit/server"
)

// cmdCheck validates a config and everything it names, printing each
// problem as file:line: message. Any problem makes it exit 1. Warnings
// (file:line: warning: message, on stderr) leave the exit status at 0.
func cmdCheck(_ context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("check", stdout)
	cfgPath := fs.String("config", defaultConfig, "config file to check")
	rest, err := parse(fs, args)
	if err != nil {
		return err
	}
	if len(rest) > 0 {
		return usagef("check takes no arguments (got %q); name the config with -config", rest[0])
	}
	cfg, err := server.LoadConfig(*cfgPath, server.Flags{})
	if err != nil {
		return err
	}
	g, err := server.Build(cfg)
	defer g.Close()
	warnings := server.Warnings(g)
	if err == nil {
		// The keys: every error at once, and what signs nothing.
		var kw []string
		kw, err = server.CheckKeys(g, time.Now())
		for _, w := range kw {
			warnings = append(warnings, w)
		}
	}
	for _, w := range warnings {
		fmt.Fprintln(stderr, w)
	}
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "%s: ok: %d zones, %d services, %d datacenters, %d checks",
		cfg.Path(), len(g.Zones()), len(g.Services), len(cfg.Datacenter), len(cfg.Check))
	if n := len(warnings); n == 1 {
		fmt.Fprint(stdout, ", 1 warning")
	} else if n > 1 {
		fmt.Fprintf(stdout, ", %d warnings", n)
	}
	fmt.Fprintln(stdout)
	return nil
}

// ecsBits is -ecs-bits: unset means the query carries no ECS option.
type ecsBits struct {
	n   int
	set bool
}

func (e *ecsBits) String() string {
	if e == nil || !e.set {
		return ""
	}
	return strconv.Itoa(e.n)
}

func (e *ecsBits) Set(s string) error {
	n, err := strconv.Atoi(s)
	if err != nil || n < 0 || n > 128 {
		return fmt.Errorf("%q is not a prefix length (0 to 32 for IPv4, 0 to 128 for IPv6)", s)
	}
	e.n, e.set = n, true
	return nil
}

// cmdExplain prints how the answer to NAME [TYPE] for one client is chosen,
// offline, from the config and the files it names, on the path the server
// takes: the ECS option as the server reads it (the address masked to
// -ecs-bits; /0, or geo.use_ecs off, locates the query's source instead).
func cmdExplain(_ context.Context, args []string, stdout, _ io.Writer) error {
	fs := newFlagSet("explain", stdout)
	cfgPath := fs.String("config", defaultConfig, "config file")
	client := fs.String("client", "", "the client's address: the ECS address with -ecs-bits, else the querying resolver's")
	var ecs ecsBits
	fs.Var(&ecs, "ecs-bits", "the query carries ECS `N` bits of -client (as dig +subnet=CLIENT/N); omit for a query without ECS")
	source := fs.String("source", "", "the querying resolver's address, where it differs from -client (with -ecs-bits)")
	rest, err := parse(fs, args)
	if err != nil {
		return err
	}
	switch {
	case *client == "":
		return usagef("-client is required")
	case len(rest) == 0:
		return usagef("name the question: NAME [TYPE]")
	case len(rest) > 2:
		return usagef("too many arguments: %q", rest[2:])
	}
	var q server.Query
	addr, err := netip.ParseAddr(*client)
	if err != nil {
		return usagef("-client %q is not an IP address", *client)
	}
	addr = addr.Unmap()
	q.Source = addr
	if *source != "" {
		if q.Source, err = netip.ParseAddr(*source); err != nil {
			return usagef("-source %q is not an IP address", *source)
		}
	}
	if ecs.set {
		if ecs.n > addr.BitLen() {
			return usagef("-ecs-bits %d: an IPv%d address has %d bits", ecs.n, map[int]int{32: 4, 128: 6}[addr.BitLen()], addr.BitLen())
		}
		q.ECS = netip.PrefixFrom(addr, ecs.n)
	}
	qtype := uint16(mdns.TypeA)
	if len(rest) == 2 {
		t, ok := mdns.StringToType[strings.ToUpper(rest[1])]
		if !ok {
			return usagef("unknown type %q", rest[1])
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
	// BGP routes are not known offline, except those of the table cache.
	note, err := g.UseBGPCache()
	if err != nil {
		note = fmt.Sprintf("bgp routes: none (%v)\n", err)
	}
	fmt.Fprint(stdout, g.ExplainQuery(mdns.Fqdn(rest[0]), qtype, q).String())
	fmt.Fprint(stdout, g.ExplainSigning(mdns.Fqdn(rest[0]), qtype))
	fmt.Fprint(stdout, note)
	return nil
}
