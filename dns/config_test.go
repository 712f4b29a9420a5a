package dns

import (
	"strings"
	"testing"
	"time"

	"github.com/BurntSushi/toml"
)

func TestConfigDefaults(t *testing.T) {
	c := DefaultConfig()
	if len(c.Listen) != 1 || c.Listen[0] != "127.0.0.1:5353" || c.MaxUDPSize != 1232 ||
		c.TCPIdleTimeout.D() != 10*time.Second || c.TCPMaxConns != 1000 || c.MaxInflight != 10000 || c.UDPSockets < 1 {
		t.Errorf("defaults: %+v", c)
	}
	if err := c.Validate(); err != nil {
		t.Error(err)
	}
	if err := (Config{}).Validate(); err != nil {
		t.Errorf("zero config (defaults applied): %v", err)
	}
}

func TestConfigDecode(t *testing.T) {
	src := `
listen = ["127.0.0.1:5353", "[::1]:5353"]
nsid = "ns1"
identity = "ns1.example"
version = ""
max_udp_size = 1400
tcp_idle_timeout = "3s"
tcp_max_conns = 50
max_inflight = 200
udp_sockets = 4
`
	c := DefaultConfig()
	md, err := toml.Decode(src, &c)
	if err != nil {
		t.Fatal(err)
	}
	if u := md.Undecoded(); len(u) != 0 {
		t.Fatalf("undecoded keys %v", u)
	}
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	if len(c.Listen) != 2 || c.NSID != "ns1" || c.Identity != "ns1.example" || c.MaxUDPSize != 1400 ||
		c.TCPIdleTimeout.D() != 3*time.Second || c.TCPMaxConns != 50 || c.MaxInflight != 200 || c.UDPSockets != 4 {
		t.Errorf("decoded %+v", c)
	}
	if _, err := toml.Decode(`tcp_idle_timeout = "soon"`, &c); err == nil {
		t.Error("bad duration accepted")
	}
}

func TestConfigValidate(t *testing.T) {
	tests := []struct {
		name string
		mod  func(*Config)
		want string // "" = valid
	}{
		{"ipv6 listen", func(c *Config) { c.Listen = []string{"[::1]:53", "0.0.0.0:53"} }, ""},
		{"port 0 twice", func(c *Config) { c.Listen = []string{"127.0.0.1:0", "127.0.0.1:0"} }, ""},
		{"no port", func(c *Config) { c.Listen = []string{"127.0.0.1"} }, "listen[0]"},
		{"hostname", func(c *Config) { c.Listen = []string{"localhost:53"} }, "listen[0]"},
		{"twice", func(c *Config) { c.Listen = []string{"127.0.0.1:53", "127.0.0.1:53"} }, "listen[1]: \"127.0.0.1:53\" is listed twice"},
		{"zone", func(c *Config) { c.Listen = []string{"[fe80::1%eth0]:53"} }, "zoned"},
		{"udp size small", func(c *Config) { c.MaxUDPSize = 511 }, "max_udp_size: 511 is outside 512..4096"},
		{"udp size big", func(c *Config) { c.MaxUDPSize = 4097 }, "max_udp_size"},
		{"udp size edges", func(c *Config) { c.MaxUDPSize = 512 }, ""},
		{"identity too long", func(c *Config) { c.Identity = strings.Repeat("x", 256) }, "identity"},
		{"version too long", func(c *Config) { c.Version = strings.Repeat("x", 256) }, "version"},
		{"nsid too long", func(c *Config) { c.NSID = strings.Repeat("x", 129) }, "nsid"},
		{"idle timeout short", func(c *Config) { c.TCPIdleTimeout = Duration(time.Millisecond) }, "tcp_idle_timeout"},
		{"negative conns", func(c *Config) { c.TCPMaxConns = -1 }, "tcp_max_conns"},
		{"negative inflight", func(c *Config) { c.MaxInflight = -5 }, "max_inflight"},
		{"too many sockets", func(c *Config) { c.UDPSockets = 5000 }, "udp_sockets"},
		{"several problems", func(c *Config) { c.MaxUDPSize = 1; c.UDPSockets = -1 }, "max_udp_size: 1 is outside 512..4096\nudp_sockets"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := DefaultConfig()
			tt.mod(&c)
			err := c.Validate()
			switch {
			case tt.want == "" && err != nil:
				t.Errorf("unexpected error: %v", err)
			case tt.want != "" && err == nil:
				t.Errorf("no error, want %q", tt.want)
			case tt.want != "" && !strings.Contains(err.Error(), tt.want):
				t.Errorf("error %q, want it to contain %q", err, tt.want)
			}
		})
	}
}
