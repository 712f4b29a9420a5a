package routes

import (
	"errors"
	"fmt"
	"net/netip"
	"time"

	"github.com/godwit-dns/godwit/internal/duration"
)

// Duration is a config duration written as a Go duration string ("2m").
type Duration = duration.Duration

// DefaultStaleTimeout is how long routes from the BGP table cache are used
// at most when stale_timeout is not set.
const DefaultStaleTimeout = 2 * time.Minute

// DefaultBGPPort is the port dialled when a peer sets none.
const DefaultBGPPort = 179

// Config is the [routes] section of godwit.toml.
type Config struct {
	// File is the static routes file (Super Sparrow format), optional.
	// Relative paths are resolved by the command against the config file.
	File string     `toml:"file"`
	BGP  *BGPConfig `toml:"bgp"` // optional embedded BGP speaker
}

// BGPConfig is the [routes.bgp] section: the embedded BGP speaker.
type BGPConfig struct {
	ASN      uint32 `toml:"asn"`
	RouterID string `toml:"router_id"` // an IPv4 address
	// Listen is "host:port" to accept sessions on; empty means dial out only.
	Listen string `toml:"listen"`
	// Implementation is the BGP session code: ImplNative (the default when
	// empty: our receive-only sessions on gobgp's message codec, which keep
	// no per-path state; see session.go) or ImplGobgp (gobgp's server).
	Implementation string `toml:"implementation"`
	// CacheFile, if set, is where the last published BGP table is kept
	// (written at most every 30 s while it changes, and at shutdown) so
	// that a restart answers from it, marked stale, until each peer has
	// sent End-of-RIB. Relative paths are resolved by the command against
	// the config file. See cache.go.
	CacheFile string `toml:"cache_file"`
	// StaleTimeout bounds how long routes from CacheFile are used: after
	// it, those of peers that have not sent End-of-RIB are dropped.
	// 0 means DefaultStaleTimeout.
	StaleTimeout Duration     `toml:"stale_timeout"`
	Peers        []PeerConfig `toml:"peer"`
}

// staleTimeout returns StaleTimeout with the default applied.
func (c *BGPConfig) staleTimeout() time.Duration {
	if c.StaleTimeout <= 0 {
		return DefaultStaleTimeout
	}
	return c.StaleTimeout.D()
}

// Values of BGPConfig.Implementation.
const (
	ImplGobgp  = "gobgp"
	ImplNative = "native"
)

// PeerConfig is one [[routes.bgp.peer]]: a site's router.
type PeerConfig struct {
	Address string `toml:"address"`
	ASN     uint32 `toml:"asn"`
	Port    uint16 `toml:"port"` // 0 means 179
	// Datacenter is the site whose reach the peer's routes describe.
	Datacenter string `toml:"datacenter"`
	// Passive: never dial this peer, wait for it to connect (needs Listen).
	Passive bool `toml:"passive"`
	// LocalAddress is the source address when dialling (optional; by default
	// the host of Listen when it is of the peer's family, else the kernel's choice).
	LocalAddress string `toml:"local_address"`
}

// Validate checks the routes section. Datacenter names are checked against
// the [[datacenter]] list by CheckDatacenters.
func (c Config) Validate() error {
	if c.BGP == nil {
		return nil
	}
	if err := c.BGP.Validate(); err != nil {
		return fmt.Errorf("routes.bgp: %w", err)
	}
	return nil
}

// CheckDatacenters reports peers whose datacenter is not in dcs.
func (c Config) CheckDatacenters(dcs map[string]bool) error {
	if c.BGP == nil {
		return nil
	}
	var errs []error
	for _, p := range c.BGP.Peers {
		if !dcs[p.Datacenter] {
			errs = append(errs, fmt.Errorf("routes.bgp.peer %s: unknown datacenter %q", p.Address, p.Datacenter))
		}
	}
	return errors.Join(errs...)
}

// Validate checks the speaker's settings and every peer.
func (c *BGPConfig) Validate() error {
	var errs []error
	if c.ASN == 0 {
		errs = append(errs, errors.New("asn must be set and non-zero"))
	}
	if id, err := netip.ParseAddr(c.RouterID); err != nil || !id.Is4() {
		errs = append(errs, fmt.Errorf("router_id %q must be an IPv4 address", c.RouterID))
	}
	if c.Listen != "" {
		if _, err := parseListen(c.Listen); err != nil {
			errs = append(errs, err)
		}
	}
	switch c.Implementation {
	case "", ImplGobgp, ImplNative:
	default:
		errs = append(errs, fmt.Errorf("implementation %q must be %q or %q", c.Implementation, ImplGobgp, ImplNative))
	}
	if c.StaleTimeout < 0 {
		errs = append(errs, fmt.Errorf("stale_timeout %s must not be negative", c.StaleTimeout))
	}
	seen := make(map[netip.Addr]bool)
	for i, p := range c.Peers {
		if err := p.validate(c.Listen != ""); err != nil {
			errs = append(errs, fmt.Errorf("peer %d (%s): %w", i+1, p.Address, err))
			continue
		}
		a := netip.MustParseAddr(p.Address)
		if seen[a] {
			errs = append(errs, fmt.Errorf("peer %d (%s): duplicate address", i+1, p.Address))
		}
		seen[a] = true
	}
	return errors.Join(errs...)
}

func (p PeerConfig) validate(listening bool) error {
	var errs []error
	a, err := netip.ParseAddr(p.Address)
	if err != nil || a.Zone() != "" {
		errs = append(errs, fmt.Errorf("address %q is not an IP address", p.Address))
	}
	if p.ASN == 0 {
		errs = append(errs, errors.New("asn must be set and non-zero"))
	}
	if p.Datacenter == "" {
		errs = append(errs, errors.New("datacenter must be set"))
	}
	if p.Passive && !listening {
		errs = append(errs, errors.New("passive peer needs routes.bgp.listen"))
	}
	if p.LocalAddress != "" {
		la, err := netip.ParseAddr(p.LocalAddress)
		if err != nil {
			errs = append(errs, fmt.Errorf("local_address %q is not an IP address", p.LocalAddress))
		} else if a.IsValid() && la.Unmap().Is4() != a.Unmap().Is4() {
			errs = append(errs, fmt.Errorf("local_address %s is not of the peer's address family", la))
		}
	}
	return errors.Join(errs...)
}

// parseListen parses "host:port" with a literal IP host and a non-zero port.
func parseListen(s string) (netip.AddrPort, error) {
	ap, err := netip.ParseAddrPort(s)
	if err != nil {
		return ap, fmt.Errorf("listen %q: want IP:port: %w", s, err)
	}
	if ap.Port() == 0 {
		return ap, fmt.Errorf("listen %q: port must be non-zero", s)
	}
	return ap, nil
}

// port returns the peer's port with the default applied.
func (p PeerConfig) port() uint16 {
	if p.Port == 0 {
		return DefaultBGPPort
	}
	return p.Port
}
