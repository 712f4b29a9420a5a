package main

import (
	"strings"

	"errors"
	"fmt"

	"github.com/godwit-dns/godwit/geo"
	"github.com/godwit-dns/godwit/health"
	"github.com/godwit-dns/godwit/routes"
	"github.com/godwit-dns/godwit/zones"
)

// built is everything a config points at, loaded and validated: what
// serve, check and explain work from.
type built struct {
	cfg      *Config
	zones    []*zones.Zone
	services []*zones.Service
	set      *zones.Set
	geo      *geo.DB       // nil without [geo] databases
	routes   *routes.Table // the static routes file; nil without one
}

// build loads every source cfg names. It reports every problem it finds,
// each with file:line where the input came from a file; on error the
// returned value holds whatever did load (for check's summary).
func build(cfg *Config) (*built, error) {
	b := &built{cfg: cfg}
	var errs []error

	zs, err := zones.LoadDir(cfg.Zones.Dir)
	if err != nil {
		errs = append(errs, unjoin(err)...)
	}
	b.zones = zs
	svcs, err := zones.CompileServices(cfg.Service, cfg.Datacenter, cfg.checkNames())
	if err != nil {
		// parseConfig has reported these with lines already; only reached
		// when build is called on a hand-made Config.
		errs = append(errs, err)
	}
	b.services = svcs
	if err == nil {
		set, err := zones.NewSet(zs, svcs)
		if err != nil {
			for _, e := range unjoin(err) {
				errs = append(errs, cfg.serviceError(e))
			}
		}
		b.set = set
	}

	if cfg.Geo.CityDB != "" || cfg.Geo.ASNDB != "" {
		db, err := geo.Open(cfg.Geo.CityDB, cfg.Geo.ASNDB)
		if err != nil {
			errs = append(errs, fmt.Errorf("geo: %w", err))
		}
		b.geo = db
	}
	if cfg.Routes.File != "" {
		t, err := routes.LoadFile(cfg.Routes.File, cfg.asnToDatacenter(), cfg.datacenterSet())
		if err != nil {
			errs = append(errs, unjoin(err)...)
		}
		b.routes = t
	}
	return b, errors.Join(errs...)
}

// close releases what build opened.
func (b *built) close() {
	if b.geo != nil {
		b.geo.Close()
	}
}

func (c *Config) checkNames() []string {
	names := make([]string, len(c.Check))
	for i, ch := range c.Check {
		names[i] = ch.Name
	}
	return names
}

func (c *Config) datacenterSet() map[string]bool {
	m := make(map[string]bool, len(c.Datacenter))
	for _, dc := range c.Datacenter {
		m[dc.Name] = true
	}
	return m
}

func (c *Config) asnToDatacenter() map[uint32]string {
	m := map[uint32]string{}
	for _, dc := range c.Datacenter {
		for _, a := range dc.ASN {
			m[a] = dc.Name
		}
	}
	return m
}

// serviceError places an error NewSet found with a service at the line of
// that service's name in the config.
func (c *Config) serviceError(err error) error {
	var ze *zones.Error
	if errors.As(err, &ze) && ze.File != "" {
		return err // a zone file problem: already file:line
	}
	for i, s := range c.Service {
		if s.Name != "" && containsFold(err.Error(), s.Name) {
			return c.at(fmt.Sprintf("service.%d.name", i), err)
		}
	}
	return &ConfigError{File: c.path, Err: err}
}

// healthTargets lists what the health checker must probe for the services.
func healthTargets(svcs []*zones.Service) []health.Target {
	var out []health.Target
	for _, s := range svcs {
		for _, p := range s.Probes() {
			out = append(out, health.Target{Check: p.Check, Datacenter: p.Datacenter, Addr: p.Addr, ProbeAddr: p.ProbeAddr})
		}
	}
	return out
}

func containsFold(s, sub string) bool {
	return strings.Contains(strings.ToLower(s), strings.ToLower(sub))
}
