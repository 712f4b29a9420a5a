package zones

import "errors"

// Config is the [zones] section of godwit.toml. Dir is resolved by the
// caller, relative to the config file, before it reaches LoadDir.
type Config struct {
	Dir string `toml:"dir"` // every *.zone file in it is an RFC 1035 master file

	// Limits that bound the memory the zones hold (see Limits). Zero
	// means the default.
	MaxRecordsPerZone int `toml:"max_records_per_zone"`
	MaxRecords        int `toml:"max_records"` // all zones together
}

// DefaultConfig returns the defaults: zone files in "zones", and the
// default limits.
func DefaultConfig() Config {
	return Config{Dir: "zones", MaxRecordsPerZone: DefaultMaxRecordsPerZone, MaxRecords: DefaultMaxRecords}
}

// Validate checks what can be checked without reading the directory.
func (c Config) Validate() error {
	if c.Dir == "" {
		return errors.New("zones: dir must not be empty")
	}
	if c.MaxRecordsPerZone < 0 || c.MaxRecords < 0 {
		return errors.New("zones: max_records_per_zone and max_records must not be negative")
	}
	return nil
}

// Limits returns the load limits the section sets, defaults for the rest.
func (c Config) Limits() Limits {
	l := DefaultLimits()
	if c.MaxRecordsPerZone > 0 {
		l.RecordsPerZone = c.MaxRecordsPerZone
	}
	if c.MaxRecords > 0 {
		l.Records = c.MaxRecords
	}
	return l
}
