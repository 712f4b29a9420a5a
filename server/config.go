package server

import (
	"errors"
	"fmt"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"

	"github.com/BurntSushi/toml"

	"github.com/godwit-dns/godwit/cluster"
	"github.com/godwit-dns/godwit/dns"
	"github.com/godwit-dns/godwit/dnssec"
	"github.com/godwit-dns/godwit/geo"
	"github.com/godwit-dns/godwit/health"
	"github.com/godwit-dns/godwit/internal/inputfile"
	"github.com/godwit-dns/godwit/routes"
	"github.com/godwit-dns/godwit/status"
	"github.com/godwit-dns/godwit/zones"
)

// maxConfigSize bounds the config file; a larger file is a mistake, not a config.
const maxConfigSize = 16 << 20

// Config is godwit.toml: each section belongs to the package that uses it.
type Config struct {
	Server     dns.Config               `toml:"server"`
	Status     status.Config            `toml:"status"`
	Zones      zones.Config             `toml:"zones"`
	Geo        geo.Config               `toml:"geo"`
	Routes     routes.Config            `toml:"routes"`
	Health     health.Config            `toml:"health"`
	Datacenter []zones.DatacenterConfig `toml:"datacenter"`
	Check      []health.CheckConfig     `toml:"check"`
	Service    []zones.ServiceConfig    `toml:"service"`
	Log        LogConfig                `toml:"log"`
	Cluster    cluster.Config           `toml:"cluster"`
	DNSSEC     dnssec.Config            `toml:"dnssec"`

	path     string           // the file it came from
	dir      string           // paths in the file are relative to this directory
	lines    keyLines         // key path -> line, for errors found after decoding
	flags    Flags            // command-line settings over the file's, kept across reloads
	services []*zones.Service // compiled once, by validate
}

// Flags are command-line settings that override the config file's. They
// are applied at every load, so a reload keeps them.
type Flags struct {
	// Listen overrides server.listen (-listen).
	Listen []string
	// StatusListen overrides status.listen (-status-listen).
	StatusListen string
	// NSID is this instance's name (-nsid), overriding server.nsid and
	// server.identity so that every instance can share one config file.
	NSID string
	// Demo marks the built-in demo config, unpacked to a temporary
	// directory: messages call it that rather than by its path.
	Demo bool
}

// ConfigError is a problem at one place of the config file.
type ConfigError struct {
	File string
	Line int
	Err  error
}

func (e *ConfigError) Error() string {
	if e.Line > 0 {
		return fmt.Sprintf("%s:%d: %v", e.File, e.Line, e.Err)
	}
	return fmt.Sprintf("%s: %v", e.File, e.Err)
}

func (e *ConfigError) Unwrap() error { return e.Err }

func defaultConfig() Config {
	return Config{
		Server: dns.DefaultConfig(),
		Status: status.DefaultConfig(),
		Zones:  zones.DefaultConfig(),
		Geo:    geo.DefaultConfig(),
		Log:    DefaultLogConfig(),
	}
}

// LoadConfig reads and validates a config file and applies flags over it.
func LoadConfig(path string, flags Flags) (*Config, error) {
	cfg, err := loadConfig(path)
	if err != nil {
		return nil, err
	}
	cfg.flags = flags
	if len(flags.Listen) > 0 {
		cfg.Server.Listen = flags.Listen
	}
	if flags.StatusListen != "" {
		cfg.Status.Listen = flags.StatusListen
	}
	if flags.NSID != "" {
		cfg.Server.NSID, cfg.Server.Identity = flags.NSID, flags.NSID
	}
	if err := cfg.Server.Validate(); err != nil {
		return nil, &ConfigError{File: path, Err: err}
	}
	if cfg.Cluster.Enabled() && cfg.Cluster.Instance == "" {
		// One config file for every instance: each is named by its NSID.
		cfg.Cluster.Instance = cfg.Server.NSID
		if err := cfg.Cluster.Validate(); err != nil {
			return nil, cfg.at("cluster", fmt.Errorf("instance: none set, and server.nsid (or -nsid) cannot stand in: %w", err))
		}
	}
	return cfg, nil
}

// loadConfig reads and validates a config file.
func loadConfig(path string) (*Config, error) {
	data, err := readConfigFile(path)
	if err != nil {
		return nil, err
	}
	return parseConfig(path, data)
}

// readConfigFile reads path if it is a regular file of at most
// maxConfigSize bytes. It opens without blocking, so a FIFO or a device
// named as the config is an error, never a hang.
func readConfigFile(path string) ([]byte, error) {
	return inputfile.ReadFile(path, inputfile.Options{MaxBytes: maxConfigSize}) // its errors name the file
}

// parseConfig decodes the TOML strictly (an unknown key is an error naming
// key and line), applies defaults, resolves paths against the file's
// directory and validates every section, reporting all problems at once.
func parseConfig(path string, data []byte) (*Config, error) {
	cfg := defaultConfig()
	cfg.path = path
	cfg.dir = filepath.Dir(path)
	cfg.lines = indexKeyLines(string(data))

	// Array-of-tables elements need no pre-filled defaults: services mark
	// optional keys with pointers, checks fill zero fields in WithDefaults.
	md, err := toml.Decode(string(data), &cfg)
	if err != nil {
		// A value of the wrong type, or one its own parser refuses (a
		// duration without its unit): report every one, each at its line
		// with its key. A syntax error finds none: the decoder's own.
		if errs := cfg.typeErrors(string(data)); len(errs) > 0 {
			return nil, errors.Join(errs...)
		}
		return nil, tomlError(path, err)
	}
	var errs []error
	for _, k := range md.Undecoded() {
		lines := cfg.lines.LinesOf(k.String())
		if len(lines) == 0 {
			lines = []int{0}
		}
		sort.Ints(lines)
		for _, l := range lines {
			errs = append(errs, &ConfigError{File: path, Line: l, Err: fmt.Errorf("unknown key %q", k.String())})
		}
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	cfg.resolvePaths()
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	return &cfg, nil
}

// tomlLineRE finds the line in BurntSushi's type errors, which are not
// ParseErrors: `toml: line 33 (last key "service.target.weight"): …`.
var tomlLineRE = regexp.MustCompile(`^toml: line (\d+)(?: \(last key "([^"]*)"\))?: (.*)$`)

func tomlError(path string, err error) error {
	var pe toml.ParseError
	if errors.As(err, &pe) {
		return &ConfigError{File: path, Line: pe.Position.Line, Err: errors.New(pe.Message)}
	}
	if m := tomlLineRE.FindStringSubmatch(err.Error()); m != nil {
		line, _ := strconv.Atoi(m[1])
		msg := m[3]
		if m[2] != "" {
			msg = m[2] + ": " + msg
		}
		return &ConfigError{File: path, Line: line, Err: errors.New(msg)}
	}
	return &ConfigError{File: path, Err: err}
}

// resolvePaths makes every file path in the config relative to the config
// file's directory, as DESIGN.md promises.
func (c *Config) resolvePaths() {
	abs := func(p *string) {
		if *p != "" && !filepath.IsAbs(*p) {
			*p = filepath.Join(c.dir, *p)
		}
	}
	abs(&c.Zones.Dir)
	abs(&c.Geo.CityDB)
	abs(&c.Geo.ASNDB)
	abs(&c.Routes.File)
	if c.Routes.BGP != nil {
		abs(&c.Routes.BGP.CacheFile)
	}
	abs(&c.Health.StateFile)
	for _, p := range []*string{&c.Cluster.CredentialsFile, &c.Cluster.NkeyFile, &c.Cluster.UserFile,
		&c.Cluster.PasswordFile, &c.Cluster.TLSCAFile, &c.Cluster.TLSCertFile, &c.Cluster.TLSKeyFile} {
		abs(p)
	}
	abs(&c.DNSSEC.KeysDir)
	if !c.Log.toStdout() {
		abs(&c.Log.Queries)
	}
	for i := range c.Check {
		if c.Check[i].Type == "file" {
			abs(&c.Check[i].Path)
		}
	}
}

// at wraps err as a ConfigError at the line of key path (or its table).
func (c *Config) at(key string, err error) error {
	return &ConfigError{File: c.path, Line: c.lines.Line(key), Err: fmt.Errorf("%s: %w", key, err)}
}

// atKeyOf wraps err, a problem a package validator found in the section
// (or array element) at key, as a ConfigError at the line of the key the
// message starts with ("listen \"x\": …", "check \"web\": timeout: …"),
// else at the section's line. A message that already starts with the
// section's name does not get it twice.
func (c *Config) atKeyOf(key string, err error) error {
	msg := err.Error()
	section := key
	if i := strings.IndexByte(key, '.'); i >= 0 {
		section = key[:i]
	}
	rest, dup := strings.CutPrefix(msg, section+": ")
	if strings.HasPrefix(rest, "check ") && strings.HasPrefix(key, "check.") {
		if _, after, ok := strings.Cut(rest, "\": "); ok {
			rest = after
		}
	}
	word := rest[:len(rest)-len(strings.TrimLeft(rest, "abcdefghijklmnopqrstuvwxyz0123456789_."))]
	for w := strings.TrimRight(word, "."); w != ""; {
		if l, ok := c.lines.lines[key+"."+w]; ok {
			if dup {
				err = errors.New(msg[len(section)+2:])
			}
			return &ConfigError{File: c.path, Line: l, Err: fmt.Errorf("%s: %w", key, err)}
		}
		i := strings.LastIndexByte(w, '.')
		if i < 0 {
			break
		}
		w = w[:i]
	}
	if dup {
		return &ConfigError{File: c.path, Line: c.lines.Line(key), Err: err}
	}
	return c.at(key, err)
}

// validate checks each section and collects every problem with its line.
func (c *Config) validate() error {
	var errs []error
	check := func(key string, err error) {
		if err == nil {
			return
		}
		// Package validators may report several problems, some with key paths
		// relative to their section.
		for _, e := range unjoin(err) {
			var ke *zones.KeyError
			if errors.As(e, &ke) {
				errs = append(errs, &ConfigError{File: c.path, Line: c.lines.Line(ke.Key), Err: e})
				continue
			}
			errs = append(errs, c.atKeyOf(key, e))
		}
	}
	check("server", c.Server.Validate())
	check("status", c.Status.Validate())
	check("zones", c.Zones.Validate())
	check("geo", c.Geo.Validate())
	if c.Routes.BGP != nil {
		// At the section's key, so that each error finds its key's line.
		check("routes.bgp", c.Routes.BGP.Validate())
	}
	check("health", c.Health.Validate())
	check("log", c.Log.Validate())
	cl := c.Cluster
	if cl.Instance == "" {
		cl.Instance = "nsid" // defaults to server.nsid or -nsid, checked by LoadConfig
	}
	check("cluster", cl.Validate())
	check("dnssec", c.DNSSEC.Validate())
	checkNames := make([]string, 0, len(c.Check))
	for i := range c.Check {
		check(fmt.Sprintf("check.%d", i), c.Check[i].Validate())
		checkNames = append(checkNames, c.Check[i].Name)
	}
	svcs, err := zones.CompileServices(c.Service, c.Datacenter, checkNames)
	if err != nil {
		check("service", err)
	}
	c.services = svcs
	return errors.Join(errs...)
}

// Path is the file the config was read from.
func (c *Config) Path() string { return c.path }

// Services returns the services of the config, compiled. Shared: do not
// modify.
func (c *Config) Services() []*zones.Service { return c.services }

// Unjoin flattens errors.Join trees, for printing one error a line.
func Unjoin(err error) []error { return unjoin(err) }

// unjoin flattens errors.Join trees.
func unjoin(err error) []error {
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		var out []error
		for _, e := range j.Unwrap() {
			out = append(out, unjoin(e)...)
		}
		return out
	}
	return []error{err}
}

// Describe names the config for messages: its path or "built-in demo".
func (c *Config) Describe() string {
	if c.flags.Demo {
		return "built-in demo config"
	}
	return c.path
}
