package health

import (
	"errors"
	"fmt"
	"regexp"
	"strings"
	"time"

	"github.com/godwit-dns/godwit/internal/duration"

	mdns "github.com/miekg/dns"
)

// Config is the [health] section of godwit.toml.
type Config struct {
	// StateFile holds the admin overrides (lines "<address|datacenter>
	// up|down|drain"); SetOverride rewrites it. "" keeps overrides in memory.
	StateFile string `toml:"state_file"`

	// Limits on the state file (see Limits); 0 means the default.
	MaxOverrides      int   `toml:"max_overrides"`
	MaxStateFileBytes int64 `toml:"max_state_file_bytes"`
}

// Validate checks the section.
func (c Config) Validate() error {
	if strings.ContainsAny(c.StateFile, "\x00\n") {
		return errors.New("state_file: invalid path")
	}
	if c.MaxOverrides < 0 || c.MaxStateFileBytes < 0 {
		return errors.New("max_overrides and max_state_file_bytes must not be negative")
	}
	return nil
}

// Limits bound what the overrides may cost: the state file is read whole
// on every reload, and every override is listed on the status page.
type Limits struct {
	Overrides      int   // entries in the state file, in force or not
	StateFileBytes int64 // size of the state file
}

// Default limits: far more overrides than an operator sets by hand (a
// line is about 30 bytes), and few enough that reading them is quick.
const (
	DefaultMaxOverrides      = 10_000
	DefaultMaxStateFileBytes = 1 << 20
)

// Limits returns the section's limits, defaults for zero fields.
func (c Config) Limits() Limits {
	return Limits{Overrides: c.MaxOverrides, StateFileBytes: c.MaxStateFileBytes}.withDefaults()
}

func (l Limits) withDefaults() Limits {
	if l.Overrides <= 0 {
		l.Overrides = DefaultMaxOverrides
	}
	if l.StateFileBytes <= 0 {
		l.StateFileBytes = DefaultMaxStateFileBytes
	}
	return l
}

// Duration is a time.Duration written as a Go duration string ("5s"):
// the one config duration type, shared by every section.
type Duration = duration.Duration

// Check types.
const (
	TypeHTTP  = "http"
	TypeHTTPS = "https"
	TypeTCP   = "tcp"
	TypeDNS   = "dns"
	TypeExec  = "exec"
	TypeFile  = "file"
)

// Defaults applied to zero fields.
const (
	DefaultInterval = 5 * time.Second
	DefaultTimeout  = 2 * time.Second
	DefaultRise     = 2
	DefaultFall     = 3
	minInterval     = 100 * time.Millisecond
	maxInterval     = time.Hour // longer is a typo, and would pin TTLs to min_ttl for hours after a failure
)

// CheckConfig is one [[check]] table. Zero fields take their defaults (see
// WithDefaults), so a CheckConfig decoded over DefaultCheckConfig() and one
// decoded over the zero value behave the same.
type CheckConfig struct {
	Name     string   `toml:"name"`
	Type     string   `toml:"type"` // http | https | tcp | dns | exec | file
	Interval Duration `toml:"interval"`
	Timeout  Duration `toml:"timeout"`
	Rise     int      `toml:"rise"` // consecutive successes to come up
	Fall     int      `toml:"fall"` // consecutive failures to go down

	// http, https, tcp, dns: the port probed (defaults: http 80, https 443, dns 53).
	Port int `toml:"port"`
	// http, https: the request path ("/" by default). file: the status file.
	Path          string `toml:"path"`
	Host          string `toml:"host"`            // http, https: Host header
	ExpectStatus  []int  `toml:"expect_status"`   // http, https: default [200]
	ExpectBody    string `toml:"expect_body"`     // http, https: substring of the body
	ExpectRegexp  string `toml:"expect_regexp"`   // http, https: RE2 matched against the body
	TLSServerName string `toml:"tls_server_name"` // https: SNI and name verified (default: host)
	TLSSkipVerify bool   `toml:"tls_skip_verify"` // https: accept any certificate

	// dns: a query for QueryName/QueryType must come back with ExpectRcode.
	QueryName   string `toml:"query_name"`
	QueryType   string `toml:"query_type"`   // default A
	ExpectRcode string `toml:"expect_rcode"` // default NOERROR

	// exec: argv; {address} and {datacenter} are substituted in each element.
	// Exit status 0 means up. The process group is killed at the timeout.
	Command []string `toml:"command"`

	// Vote overrides [cluster] rule for this check: "local", "quorum" or
	// "any" ("" = the cluster's rule). "quorum" takes [cluster] quorum or
	// quorum_fraction, or a majority (0.51) when the cluster sets neither.
	// Without a cluster it changes nothing.
	Vote string `toml:"vote"`
}

// DefaultCheckConfig returns a check with the default interval, timeout,
// rise and fall, to decode a [[check]] table over.
func DefaultCheckConfig() CheckConfig {
	return CheckConfig{
		Interval: Duration(DefaultInterval),
		Timeout:  Duration(DefaultTimeout),
		Rise:     DefaultRise,
		Fall:     DefaultFall,
	}
}

// WithDefaults returns c with every zero field that has a default filled in.
func (c CheckConfig) WithDefaults() CheckConfig {
	if c.Interval == 0 {
		c.Interval = Duration(DefaultInterval)
	}
	if c.Timeout == 0 {
		c.Timeout = Duration(DefaultTimeout)
	}
	if c.Rise == 0 {
		c.Rise = DefaultRise
	}
	if c.Fall == 0 {
		c.Fall = DefaultFall
	}
	switch c.Type {
	case TypeHTTP, TypeHTTPS:
		if c.Port == 0 {
			c.Port = 80
			if c.Type == TypeHTTPS {
				c.Port = 443
			}
		}
		if c.Path == "" {
			c.Path = "/"
		}
		if len(c.ExpectStatus) == 0 {
			c.ExpectStatus = []int{200}
		}
	case TypeDNS:
		if c.Port == 0 {
			c.Port = 53
		}
		if c.QueryType == "" {
			c.QueryType = "A"
		}
		if c.ExpectRcode == "" {
			c.ExpectRcode = "NOERROR"
		}
	}
	return c
}

// Validate checks the check with its defaults applied. Errors name the check
// and the key.
func (c CheckConfig) Validate() error {
	c = c.WithDefaults()
	if c.Name == "" {
		return errors.New("check: name: missing")
	}
	bad := func(key, format string, a ...any) error {
		return fmt.Errorf("check %q: %s: %s", c.Name, key, fmt.Sprintf(format, a...))
	}
	if strings.ContainsAny(c.Name, " \t\r\n") {
		return bad("name", "must not contain white space")
	}
	switch {
	case c.Interval < Duration(minInterval):
		return bad("interval", "%s is shorter than %s", c.Interval, minInterval)
	case c.Interval > Duration(maxInterval):
		return bad("interval", "%s is longer than %s", c.Interval, maxInterval)
	case c.Timeout <= 0:
		return bad("timeout", "must be positive")
	case c.Timeout > c.Interval:
		return bad("timeout", "%s exceeds interval %s", c.Timeout, c.Interval)
	case c.Rise < 1 || c.Rise > 100:
		return bad("rise", "%d is not in 1..100", c.Rise)
	case c.Fall < 1 || c.Fall > 100:
		return bad("fall", "%d is not in 1..100", c.Fall)
	}
	if _, err := ParseVoteRule(c.Vote); err != nil {
		return bad("vote", "%q is not local, quorum or any", c.Vote)
	}

	// Keys that only some types use.
	var notFor []string
	only := func(key string, set bool, types ...string) {
		if set && !strings.Contains(" "+strings.Join(types, " ")+" ", " "+c.Type+" ") {
			notFor = append(notFor, key)
		}
	}
	http := []string{TypeHTTP, TypeHTTPS}
	only("port", c.Port != 0, TypeHTTP, TypeHTTPS, TypeTCP, TypeDNS)
	only("path", c.Path != "", TypeHTTP, TypeHTTPS, TypeFile)
	only("host", c.Host != "", http...)
	only("expect_status", len(c.ExpectStatus) > 0, http...)
	only("expect_body", c.ExpectBody != "", http...)
	only("expect_regexp", c.ExpectRegexp != "", http...)
	only("tls_server_name", c.TLSServerName != "", TypeHTTPS)
	only("tls_skip_verify", c.TLSSkipVerify, TypeHTTPS)
	only("query_name", c.QueryName != "", TypeDNS)
	only("query_type", c.QueryType != "", TypeDNS)
	only("expect_rcode", c.ExpectRcode != "", TypeDNS)
	only("command", len(c.Command) > 0, TypeExec)

	switch c.Type {
	case TypeHTTP, TypeHTTPS:
		if !strings.HasPrefix(c.Path, "/") {
			return bad("path", "%q does not start with /", c.Path)
		}
		if strings.ContainsAny(c.Host, " \t\r\n/") {
			return bad("host", "%q is not a host name", c.Host)
		}
		for _, s := range c.ExpectStatus {
			if s < 100 || s > 599 {
				return bad("expect_status", "%d is not an HTTP status", s)
			}
		}
		if _, err := regexp.Compile(c.ExpectRegexp); err != nil {
			return bad("expect_regexp", "%v", err)
		}
	case TypeTCP:
	case TypeDNS:
		if c.QueryName == "" {
			return bad("query_name", "missing")
		}
		if _, ok := mdns.IsDomainName(c.QueryName); !ok {
			return bad("query_name", "%q is not a domain name", c.QueryName)
		}
		if _, ok := mdns.StringToType[strings.ToUpper(c.QueryType)]; !ok {
			return bad("query_type", "unknown type %q", c.QueryType)
		}
		if _, ok := mdns.StringToRcode[strings.ToUpper(c.ExpectRcode)]; !ok {
			return bad("expect_rcode", "unknown rcode %q", c.ExpectRcode)
		}
	case TypeExec:
		if len(c.Command) == 0 || c.Command[0] == "" {
			return bad("command", "missing")
		}
	case TypeFile:
		if c.Path == "" {
			return bad("path", "missing")
		}
	case "":
		return bad("type", "missing")
	default:
		return bad("type", "unknown type %q (want http, https, tcp, dns, exec or file)", c.Type)
	}
	if len(notFor) > 0 {
		return bad(notFor[0], "does not apply to type %s", c.Type)
	}
	switch c.Type {
	case TypeHTTP, TypeHTTPS, TypeTCP, TypeDNS:
		if c.Port < 1 || c.Port > 65535 {
			if c.Port == 0 {
				return bad("port", "missing")
			}
			return bad("port", "%d is not in 1..65535", c.Port)
		}
	}
	return nil
}

// ValidateChecks validates each check and that names are unique.
func ValidateChecks(checks []CheckConfig) error {
	seen := make(map[string]bool, len(checks))
	var errs []error
	for _, c := range checks {
		if err := c.Validate(); err != nil {
			errs = append(errs, err)
			continue
		}
		if seen[c.Name] {
			errs = append(errs, fmt.Errorf("check %q: name: defined twice", c.Name))
		}
		seen[c.Name] = true
	}
	return errors.Join(errs...)
}
