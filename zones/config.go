package zones

import "errors"

// Config is the [zones] section of godwit.toml. Dir is resolved by the
// caller, relative to the config file, before it reaches LoadDir.
type Config struct {
	Dir string `toml:"dir"` // every *.zone file in it is an RFC 1035 master file
}

// DefaultConfig returns the defaults: zone files in "zones".
func DefaultConfig() Config {
	return Config{Dir: "zones"}
}

// Validate checks what can be checked without reading the directory.
func (c Config) Validate() error {
	if c.Dir == "" {
		return errors.New("zones: dir must not be empty")
	}
	return nil
}
