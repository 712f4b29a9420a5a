package main

import (
	"context"
	"fmt"
	"io"
	"time"

	"github.com/godwit-dns/godwit/server"
)

// cmdDS prints the DS records (SHA-256) of a zone's published KSKs or
// CSKs from [dnssec] keys_dir, one a line in zone file format: what to
// give the operator of the parent zone.
func cmdDS(_ context.Context, args []string, stdout, _ io.Writer) error {
	fs := newFlagSet("ds", stdout)
	cfgPath := fs.String("config", defaultConfig, "config file naming the keys directory")
	rest, err := parse(fs, args)
	if err != nil {
		return err
	}
	if len(rest) != 1 {
		return usagef("ds takes one zone name (got %d arguments)", len(rest))
	}
	cfg, err := server.LoadConfig(*cfgPath, server.Flags{})
	if err != nil {
		return err
	}
	ds, err := server.DS(cfg, rest[0], time.Now())
	if err != nil {
		return err
	}
	for _, d := range ds {
		fmt.Fprintln(stdout, d.String())
	}
	return nil
}
