package dns

import (
	"errors"
	"fmt"
	"net/netip"
	"runtime"
	"time"

	"github.com/godwit-dns/godwit/internal/duration"
)

// Defaults applied to zero fields by WithDefaults.
const (
	DefaultListen          = "127.0.0.1:5353"
	DefaultMaxUDPSize      = 1232
	DefaultTCPIdleTimeout  = 10 * time.Second
	DefaultTCPMaxConns     = 1000
	DefaultMaxInflight     = 10000
	DefaultIO              = IOAuto
	DefaultTCPWriteTimeout = 5 * time.Second
	DefaultTCPBuffer       = 32 << 10
)

// The values of [server] io.
const (
	// IOAuto serves UDP with the packet engine where it exists (Linux) and
	// GOMAXPROCS leaves room for it, and with the portable read loop
	// elsewhere.
	IOAuto = "auto"
	// IOPortable always serves UDP with the portable read loop.
	IOPortable = "portable"
)

// Config is the [server] section of godwit.toml.
//
// Keys from the config contract: listen, nsid, identity, version,
// max_udp_size. Keys added here:
//
//	tcp_idle_timeout = "10s"  # close a TCP connection idle this long (RFC 7766 §6.2.3);
//	                          # also the time allowed for the first query to arrive
//	tcp_write_timeout = "5s"  # close a TCP connection whose client does not take a reply
//	                          # within this (it stopped reading, RFC 7766 §6.2.3)
//	tcp_buffer = 32768        # kernel send and receive buffer of each TCP connection (octets)
//	tcp_max_conns = 1000      # open TCP connections per listen address; when full, a new
//	                          # connection closes the least recently active one
//	max_inflight = 10000      # UDP queries being answered at once; above it UDP queries
//	                          # are dropped (counted in godwit_dns_dropped_total)
//	udp_sockets = 0           # SO_REUSEPORT UDP sockets per listen address (0 = one per CPU)
//	io = "auto"               # UDP I/O: "auto" = the packet engine on Linux (see engine_linux.go),
//	                          # "portable" = one goroutine read loop per socket
type Config struct {
	Listen     []string `toml:"listen"`       // "addr:port"; UDP and TCP on each
	NSID       string   `toml:"nsid"`         // RFC 5001 NSID payload (raw bytes); "" = none
	Identity   string   `toml:"identity"`     // CHAOS TXT id.server / hostname.bind; "" = REFUSED
	Version    string   `toml:"version"`      // CHAOS TXT version.bind / version.server; "" = REFUSED
	MaxUDPSize int      `toml:"max_udp_size"` // advertised EDNS payload and UDP reply cap, 512..4096

	TCPIdleTimeout  Duration `toml:"tcp_idle_timeout"`
	TCPMaxConns     int      `toml:"tcp_max_conns"`
	TCPWriteTimeout Duration `toml:"tcp_write_timeout"`
	TCPBuffer       int      `toml:"tcp_buffer"`
	MaxInflight     int      `toml:"max_inflight"`
	UDPSockets      int      `toml:"udp_sockets"`
	IO              string   `toml:"io"`

	RRL RRLConfig `toml:"rrl"` // [server.rrl]: response rate limiting, off by default
}

// DefaultConfig returns the [server] defaults, to decode the file over.
func DefaultConfig() Config {
	return Config{RRL: DefaultRRLConfig()}.WithDefaults()
}

// WithDefaults returns c with every zero field that has a default filled in.
func (c Config) WithDefaults() Config {
	if len(c.Listen) == 0 {
		c.Listen = []string{DefaultListen}
	}
	if c.MaxUDPSize == 0 {
		c.MaxUDPSize = DefaultMaxUDPSize
	}
	if c.TCPIdleTimeout == 0 {
		c.TCPIdleTimeout = Duration(DefaultTCPIdleTimeout)
	}
	if c.TCPWriteTimeout == 0 {
		c.TCPWriteTimeout = Duration(DefaultTCPWriteTimeout)
	}
	if c.TCPBuffer == 0 {
		c.TCPBuffer = DefaultTCPBuffer
	}
	if c.TCPMaxConns == 0 {
		c.TCPMaxConns = DefaultTCPMaxConns
	}
	if c.MaxInflight == 0 {
		c.MaxInflight = DefaultMaxInflight
	}
	if c.UDPSockets == 0 {
		c.UDPSockets = runtime.NumCPU()
	}
	if c.IO == "" {
		c.IO = DefaultIO
	}
	c.RRL = c.RRL.WithDefaults()
	return c
}

// Validate checks the section with its defaults applied and reports every
// problem, each prefixed by its key.
func (c Config) Validate() error {
	c = c.WithDefaults()
	var errs []error
	bad := func(key, format string, a ...any) {
		errs = append(errs, fmt.Errorf("%s: %s", key, fmt.Sprintf(format, a...)))
	}
	seen := make(map[netip.AddrPort]bool, len(c.Listen))
	for i, s := range c.Listen {
		ap, err := netip.ParseAddrPort(s)
		switch {
		case err != nil:
			bad(fmt.Sprintf("listen[%d]", i), "%q is not an address:port: %v", s, err)
		case ap.Addr().Zone() != "":
			bad(fmt.Sprintf("listen[%d]", i), "%q: zoned addresses are not supported", s)
		case seen[ap] && ap.Port() != 0:
			bad(fmt.Sprintf("listen[%d]", i), "%q is listed twice", s)
		}
		seen[ap] = true
	}
	if c.MaxUDPSize < 512 || c.MaxUDPSize > 4096 {
		bad("max_udp_size", "%d is outside 512..4096", c.MaxUDPSize)
	}
	if len(c.NSID) > 128 {
		bad("nsid", "longer than 128 bytes") // so that a truncated reply still fits 512
	}
	if len(c.Identity) > 255 {
		bad("identity", "longer than 255 bytes (one TXT string)")
	}
	if len(c.Version) > 255 {
		bad("version", "longer than 255 bytes (one TXT string)")
	}
	if d := c.TCPIdleTimeout.D(); d < 100*time.Millisecond || d > time.Hour {
		bad("tcp_idle_timeout", "%s is outside 100ms..1h", d)
	}
	if d := c.TCPWriteTimeout.D(); d < 100*time.Millisecond || d > time.Minute {
		bad("tcp_write_timeout", "%s is outside 100ms..1m", d)
	}
	if c.TCPBuffer < 4096 || c.TCPBuffer > 16<<20 {
		bad("tcp_buffer", "%d is outside 4096..16777216", c.TCPBuffer)
	}
	if c.TCPMaxConns < 1 || c.TCPMaxConns > 1<<20 {
		bad("tcp_max_conns", "%d is outside 1..1048576", c.TCPMaxConns)
	}
	if c.MaxInflight < 1 || c.MaxInflight > 1<<24 {
		bad("max_inflight", "%d is outside 1..16777216", c.MaxInflight)
	}
	if c.UDPSockets < 1 || c.UDPSockets > 1024 {
		bad("udp_sockets", "%d is outside 1..1024", c.UDPSockets)
	}
	if c.IO != IOAuto && c.IO != IOPortable {
		bad("io", "%q is neither %q nor %q", c.IO, IOAuto, IOPortable)
	}
	for _, e := range c.RRL.problems() {
		errs = append(errs, fmt.Errorf("rrl.%w", e))
	}
	return errors.Join(errs...)
}

// listenAddrs parses Listen; call after Validate.
func (c Config) listenAddrs() ([]netip.AddrPort, error) {
	out := make([]netip.AddrPort, 0, len(c.Listen))
	for _, s := range c.Listen {
		ap, err := netip.ParseAddrPort(s)
		if err != nil {
			return nil, fmt.Errorf("listen %q: %w", s, err)
		}
		out = append(out, ap)
	}
	return out, nil
}

// Duration is a time.Duration written as a Go duration string ("5s"):
// the one config duration type, shared by every section.
type Duration = duration.Duration
