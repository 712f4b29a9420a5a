package dnssec

import (
	"errors"
	"fmt"
	"time"

	mdns "github.com/miekg/dns"
)

// Check is what `godwit check` runs: it loads the keys in dir and builds
// the Signer of every zone at t, and returns every error at once (each
// naming its file or zone). served is the set of zone apexes Godwit serves
// (lower-case, fully qualified): keys for a zone outside it sign nothing
// and are reported as warnings, as is a served zone nested in a signed one
// without keys of its own (its delegation then needs a DS or is insecure).
func Check(dir string, cfg Config, served []string, t time.Time) (warnings []string, err error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	kr, err := LoadDir(dir)
	if err != nil {
		return nil, err
	}
	set, err := NewSet(kr, cfg, func() time.Time { return t })
	var errs []error
	if err != nil {
		errs = append(errs, err)
	}
	isServed := map[string]bool{}
	for _, z := range served {
		isServed[mdns.CanonicalName(z)] = true
	}
	for _, z := range kr.Zones() {
		if !isServed[z] {
			warnings = append(warnings, fmt.Sprintf("%s: keys for zone %s, which is not served", dir, z))
		}
	}
	for _, z := range served {
		z = mdns.CanonicalName(z)
		if set.Zone(z) != nil {
			continue
		}
		if parent := set.For(z); parent != nil {
			warnings = append(warnings, fmt.Sprintf("zone %s is served unsigned inside signed zone %s: its delegation is insecure unless %s has a DS for it",
				z, parent.Zone(), parent.Zone()))
		}
	}
	return warnings, errors.Join(errs...)
}
