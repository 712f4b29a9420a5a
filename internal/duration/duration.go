// Package duration is the one config duration type: a time.Duration that a
// TOML file writes as a Go duration string ("5s", "168h"). Each package's
// Config aliases it, so every section reads and prints durations alike.
package duration

import "time"

// Duration is a time.Duration written as a Go duration string.
type Duration time.Duration

// UnmarshalText parses a Go duration string.
func (d *Duration) UnmarshalText(b []byte) error {
	v, err := time.ParseDuration(string(b))
	if err != nil {
		return err
	}
	*d = Duration(v)
	return nil
}

// MarshalText formats the duration as a Go duration string.
func (d Duration) MarshalText() ([]byte, error) { return []byte(time.Duration(d).String()), nil }

// D returns the duration as a time.Duration.
func (d Duration) D() time.Duration { return time.Duration(d) }

func (d Duration) String() string { return time.Duration(d).String() }
