package geo

import (
	"errors"
	"path/filepath"
)

// Config is the [geo] section of godwit.toml. Paths are resolved by the
// caller, relative to the config file, before they reach Open.
//
// UseECS defaults to true: the caller must start from DefaultConfig and
// decode the file over it, because a bool missing from the TOML decodes as
// false.
type Config struct {
	CityDB string `toml:"city_db"` // City or Country database; "" = none
	ASNDB  string `toml:"asn_db"`  // ASN database; "" = none
	UseECS bool   `toml:"use_ecs"` // honour EDNS Client Subnet (RFC 7871)
}

// DefaultConfig returns the defaults: no databases, ECS honoured.
func DefaultConfig() Config {
	return Config{UseECS: true}
}

// Validate checks what can be checked without reading the files; Open
// checks the files themselves (readable, not corrupt, right database type).
func (c Config) Validate() error {
	if c.CityDB != "" && c.ASNDB != "" && filepath.Clean(c.CityDB) == filepath.Clean(c.ASNDB) {
		return errors.New("geo: city_db and asn_db name the same file " + c.CityDB)
	}
	return nil
}
