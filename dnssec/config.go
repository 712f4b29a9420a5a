package dnssec

import (
	"errors"
	"fmt"
	"time"

	"github.com/godwit-dns/godwit/internal/duration"
)

// Defaults for Config.
const (
	DefaultValidity  = 7 * 24 * time.Hour // RRSIG expiration - signing time
	DefaultRefresh   = DefaultValidity / 2
	DefaultBackdate  = time.Hour // RRSIG inception = signing time - Backdate
	DefaultCacheSize = 16384     // signatures cached for RRsets, per zone
	DefaultDenials   = 4096      // compact-denial NSECs cached, per zone
)

// Config is the [dnssec] section of godwit.toml. KeysDir is a path relative
// to the config file's directory (the caller resolves it); a zone is signed
// when that directory holds keys for it.
type Config struct {
	KeysDir   string   `toml:"keys_dir"`
	Validity  Duration `toml:"validity"`   // signature lifetime after signing (default 168h)
	Refresh   Duration `toml:"refresh"`    // re-sign when less than this remains (default validity/2)
	Backdate  Duration `toml:"backdate"`   // inception this long before signing, for clock skew (default 1h)
	CacheSize int      `toml:"cache_size"` // cached RRset signatures per zone (default 16384)
}

// Duration is a time.Duration written as a Go duration string ("5s"):
// the one config duration type, shared by every section.
type Duration = duration.Duration

// WithDefaults returns c with zero fields set to their defaults.
func (c Config) WithDefaults() Config {
	if c.Validity == 0 {
		c.Validity = Duration(DefaultValidity)
	}
	if c.Refresh == 0 {
		c.Refresh = c.Validity / 2
	}
	if c.Backdate == 0 {
		c.Backdate = Duration(DefaultBackdate)
	}
	if c.CacheSize == 0 {
		c.CacheSize = DefaultCacheSize
	}
	return c
}

// Validate reports every inconsistency in c (after defaults) at once.
func (c Config) Validate() error {
	c = c.WithDefaults()
	var errs []error
	if c.Validity < Duration(time.Hour) {
		errs = append(errs, fmt.Errorf("dnssec validity %s: must be at least 1h", c.Validity.D()))
	}
	if c.Refresh <= 0 || c.Refresh >= c.Validity {
		errs = append(errs, fmt.Errorf("dnssec refresh %s: must be positive and less than validity %s", c.Refresh.D(), c.Validity.D()))
	}
	if c.Backdate < 0 {
		errs = append(errs, fmt.Errorf("dnssec backdate %s: must not be negative", c.Backdate.D()))
	}
	if c.CacheSize < 0 {
		errs = append(errs, fmt.Errorf("dnssec cache_size %d: must not be negative", c.CacheSize))
	}
	return errors.Join(errs...)
}
