package status

import (
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"
)

// DefaultListen is where the status server listens unless configured.
const DefaultListen = "127.0.0.1:8053"

// minTokenLen is the shortest bearer token accepted: shorter ones are guessable.
const minTokenLen = 16

// Config is the [status] section of godwit.toml.
type Config struct {
	// Listen is host:port for the page, the API, /metrics and /healthz.
	// Port 0 picks a free port (see Server.Addr).
	Listen string `toml:"listen"`
	// Token, when set, is required as "Authorization: Bearer <token>" on the
	// state-changing endpoints. When empty they are allowed from loopback
	// clients only.
	Token string `toml:"token"`
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
		if len(c.Token) < minTokenLen {
			errs = append(errs, fmt.Errorf("token: shorter than %d characters", minTokenLen))
		}
		if strings.IndexFunc(c.Token, func(r rune) bool { return r <= ' ' || r == 0x7f }) >= 0 {
			errs = append(errs, errors.New("token: contains spaces or control characters"))
		}
	}
	return errors.Join(errs...)
}

func (c Config) listen() string {
	if c.Listen == "" {
		return DefaultListen
	}
	return c.Listen
}
