package status

import (
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"strconv"
	"strings"
)

// DefaultListen is where the status server listens unless configured.
const DefaultListen = "127.0.0.1:8053"

// minTokenLen is the shortest bearer token accepted: shorter ones are guessable.
const minTokenLen = 16

// Defaults for the limits in Config.
const (
	DefaultMaxConnections = 64
	DefaultRateLimit      = 20
	maxAllowedHosts       = 64
)

// Secret is a string that never prints: every fmt verb, JSON, text and slog
// show "<set>" (or "" when it is empty). Read the value with Reveal.
type Secret string

const redacted = "<set>"

func (s Secret) redact() string {
	if s == "" {
		return ""
	}
	return redacted
}

// Reveal returns the secret itself. Use it only to compare.
func (s Secret) Reveal() string { return string(s) }

// String, GoString and Format redact the secret whatever the verb.
func (s Secret) String() string   { return s.redact() }
func (s Secret) GoString() string { return strconv.Quote(s.redact()) }
func (s Secret) Format(f fmt.State, verb rune) {
	_, _ = f.Write([]byte(s.redact()))
}

// MarshalJSON and MarshalText redact the secret too.
func (s Secret) MarshalJSON() ([]byte, error) { return json.Marshal(s.redact()) }
func (s Secret) MarshalText() ([]byte, error) { return []byte(s.redact()), nil }

// UnmarshalText reads the secret (TOML and JSON strings).
func (s *Secret) UnmarshalText(b []byte) error { *s = Secret(b); return nil }

// LogValue keeps the secret out of structured logs.
func (s Secret) LogValue() slog.Value { return slog.StringValue(s.redact()) }

// Config is the [status] section of godwit.toml.
type Config struct {
	// Listen is host:port for the page, the API, /metrics and /healthz.
	// Port 0 picks a free port (see Server.Addr).
	Listen string `toml:"listen"`
	// Token, when set, is required as "Authorization: Bearer <token>" on the
	// state-changing endpoints, and on the read endpoints from clients that
	// are not loopback when Listen is not a loopback address. When empty the
	// state-changing endpoints are allowed from loopback clients only.
	Token Secret `toml:"token"`
	// PublicRead lets anyone who can connect read the page, the JSON API
	// and /metrics without the token when Listen is not a loopback address.
	PublicRead bool `toml:"public_read"`
	// AllowedHosts are host names (besides IP literals and localhost) that
	// the Host header may carry, for a status server reached by name.
	AllowedHosts []string `toml:"allowed_hosts"`
	// MaxConnections caps open connections (0: DefaultMaxConnections).
	MaxConnections int `toml:"max_connections"`
	// RateLimit is requests per second per expensive endpoint (the page,
	// /api/v1/status, /api/v1/explain, /metrics) for clients without the
	// token; bursts of twice that pass (0: DefaultRateLimit).
	RateLimit int `toml:"rate_limit"`
}

// DefaultConfig returns the defaults: listen on 127.0.0.1:8053, no token.
func DefaultConfig() Config { return Config{Listen: DefaultListen} }

// Validate checks the section. An empty Listen means the default.
func (c Config) Validate() error {
	var errs []error
	if c.Listen != "" {
		host, port, err := net.SplitHostPort(c.Listen)
		if err != nil {
			errs = append(errs, fmt.Errorf("listen %q: %w", c.Listen, err))
		} else {
			if _, err := strconv.ParseUint(port, 10, 16); err != nil {
				errs = append(errs, fmt.Errorf("listen %q: port %q is not a number from 0 to 65535", c.Listen, port))
			}
			if strings.ContainsAny(host, " \t/") {
				errs = append(errs, fmt.Errorf("listen %q: invalid host %q", c.Listen, host))
			}
		}
	}
	if c.Token != "" {
		tok := c.Token.Reveal()
		if len(tok) < minTokenLen {
			errs = append(errs, fmt.Errorf("token: shorter than %d characters", minTokenLen))
		}
		if strings.IndexFunc(tok, func(r rune) bool { return r <= ' ' || r == 0x7f }) >= 0 {
			errs = append(errs, errors.New("token: contains spaces or control characters"))
		}
	}
	if len(c.AllowedHosts) > maxAllowedHosts {
		errs = append(errs, fmt.Errorf("allowed_hosts: more than %d names", maxAllowedHosts))
	}
	for i, h := range c.AllowedHosts {
		if h == "" || len(h) > 253 || strings.ContainsFunc(h, func(r rune) bool {
			return !(r == '-' || r == '.' || r == '_' || r >= '0' && r <= '9' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z')
		}) {
			errs = append(errs, fmt.Errorf("allowed_hosts[%d] %q: not a host name (no port, no scheme)", i, h))
		}
	}
	if c.MaxConnections < 0 || c.MaxConnections > 10000 {
		errs = append(errs, fmt.Errorf("max_connections %d: want 1 to 10000 (0 for the default %d)", c.MaxConnections, DefaultMaxConnections))
	}
	if c.RateLimit < 0 || c.RateLimit > 100000 {
		errs = append(errs, fmt.Errorf("rate_limit %d: want 1 to 100000 requests per second (0 for the default %d)", c.RateLimit, DefaultRateLimit))
	}
	return errors.Join(errs...)
}

func (c Config) listen() string {
	if c.Listen == "" {
		return DefaultListen
	}
	return c.Listen
}

func (c Config) maxConnections() int {
	if c.MaxConnections <= 0 {
		return DefaultMaxConnections
	}
	return c.MaxConnections
}

func (c Config) rateLimit() int {
	if c.RateLimit <= 0 {
		return DefaultRateLimit
	}
	return c.RateLimit
}

// loopbackListen reports whether Listen binds loopback only: a loopback IP
// literal or "localhost". An empty host (all interfaces) or any other name
// is not.
func (c Config) loopbackListen() bool {
	host, _, err := net.SplitHostPort(c.listen())
	if err != nil {
		return false
	}
	if strings.EqualFold(host, "localhost") {
		return true
	}
	a, err := netip.ParseAddr(host)
	return err == nil && a.Unmap().IsLoopback()
}
