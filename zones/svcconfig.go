package zones

import (
	"cmp"
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"strconv"
	"strings"
)

// Defaults of the [[service]] keys. See docs/policies.md.
const (
	DefaultPolicy    = Weighted
	DefaultFallback  = Weighted
	DefaultAnswers   = 1
	DefaultTTL       = 30
	DefaultMinTTL    = 5
	DefaultTolerance = 0.05
	DefaultWeight    = 1

	maxTTL    = 86400
	maxWeight = 1_000_000
)

// DatacenterConfig is one [[datacenter]] table.
type DatacenterConfig struct {
	Name     string    `toml:"name"`
	Location []float64 `toml:"location"` // [latitude, longitude] in degrees; optional
	ASN      []uint32  `toml:"asn"`      // ASNs that stand for this site in the routes table
}

// ServiceConfig is one [[service]] table. Pointer fields are optional:
// nil takes the default, so that an explicit 0 can be reported as an error.
type ServiceConfig struct {
	Name      string              `toml:"name"`
	Policy    string              `toml:"policy"`   // round-robin | weighted | failover | geo | routes; default weighted
	Fallback  string              `toml:"fallback"` // default weighted
	Answers   *int                `toml:"answers"`  // default 1
	TTL       *int                `toml:"ttl"`      // seconds, default 30
	MinTTL    *int                `toml:"min_ttl"`  // seconds, default min(5, ttl)
	Check     string              `toml:"check"`
	Map       map[string][]string `toml:"map"`
	Tolerance *float64            `toml:"distance_tolerance"` // default 0.05
	Targets   []TargetConfig      `toml:"target"`
}

// TargetConfig is one [[service.target]] table.
type TargetConfig struct {
	Datacenter   string   `toml:"datacenter"`
	Addresses    []string `toml:"addresses"`
	Weight       *int     `toml:"weight"` // default 1
	Check        string   `toml:"check"`  // overrides the service's check
	CheckAddress string   `toml:"check_address"`
}

// KeyError is a configuration error at one key. Key is the TOML key path
// with array indexes, for example "service.2.target.0.weight" or
// `service.0.map."net:10.0.0.0/8".1`; keys that are not bare TOML keys are
// quoted as TOML quotes them.
type KeyError struct {
	Key string
	Err error
}

func (e *KeyError) Error() string { return e.Key + ": " + e.Err.Error() }
func (e *KeyError) Unwrap() error { return e.Err }

// ValidateDatacenters checks the [[datacenter]] tables on their own.
func ValidateDatacenters(dcs []DatacenterConfig) error {
	_, errs := compileDatacenters(dcs)
	return errors.Join(errs...)
}

type dcInfo struct {
	cfg      DatacenterConfig
	hasLoc   bool
	lat, lon float64
}

func compileDatacenters(dcs []DatacenterConfig) (map[string]dcInfo, []error) {
	var errs []error
	bad := func(key string, format string, args ...any) {
		errs = append(errs, &KeyError{Key: key, Err: fmt.Errorf(format, args...)})
	}
	out := make(map[string]dcInfo, len(dcs))
	for i, d := range dcs {
		p := "datacenter." + strconv.Itoa(i)
		info := dcInfo{cfg: d}
		switch {
		case d.Name == "":
			bad(p+".name", "missing")
		case !validDCName(d.Name):
			bad(p+".name", "%q: want letters, digits, '-', '_' or '.'", d.Name)
		case out[d.Name].cfg.Name != "":
			bad(p+".name", "duplicate datacenter %q", d.Name)
		}
		switch len(d.Location) {
		case 0:
		case 2:
			lat, lon := d.Location[0], d.Location[1]
			if lat < -90 || lat > 90 || lon < -180 || lon > 180 || lat != lat || lon != lon {
				bad(p+".location", "[%v, %v] is not a [latitude, longitude] in degrees", lat, lon)
				break
			}
			info.hasLoc, info.lat, info.lon = true, lat, lon
		default:
			bad(p+".location", "want [latitude, longitude], got %d numbers", len(d.Location))
		}
		for j, a := range d.ASN {
			if a == 0 {
				bad(p+".asn."+strconv.Itoa(j), "ASN 0 is reserved")
			}
		}
		if d.Name != "" {
			if _, dup := out[d.Name]; !dup {
				out[d.Name] = info
			}
		}
	}
	return out, errs
}

func validDCName(s string) bool {
	for _, c := range []byte(s) {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_' || c == '.') {
			return false
		}
	}
	return s != ""
}

// CompileServices validates the [[service]] tables against the datacenters
// and the names of the configured checks, and compiles them for Select.
// It reports every problem it finds, joined, each a *KeyError.
func CompileServices(svcs []ServiceConfig, dcs []DatacenterConfig, checks []string) ([]*Service, error) {
	dcm, errs := compileDatacenters(dcs)
	known := make(map[string]bool, len(checks))
	for _, c := range checks {
		known[c] = true
	}
	seen := make(map[string]int, len(svcs))
	out := make([]*Service, 0, len(svcs))
	for i := range svcs {
		c := &compiler{prefix: "service." + strconv.Itoa(i), dcs: dcm, checks: known}
		s := c.service(&svcs[i])
		if s != nil && s.Name != "" {
			if j, dup := seen[s.Name]; dup {
				c.bad(".name", "duplicate service %q (also service.%d)", s.Name, j)
			} else {
				seen[s.Name] = i
			}
		}
		errs = append(errs, c.errs...)
		if len(c.errs) == 0 {
			out = append(out, s)
		}
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return out, nil
}

type compiler struct {
	prefix string
	dcs    map[string]dcInfo
	checks map[string]bool
	errs   []error
}

func (c *compiler) bad(key string, format string, args ...any) {
	c.errs = append(c.errs, &KeyError{Key: c.prefix + key, Err: fmt.Errorf(format, args...)})
}

func (c *compiler) service(cfg *ServiceConfig) *Service {
	s := &Service{
		Answers:   DefaultAnswers,
		TTL:       DefaultTTL,
		Check:     cfg.Check,
		Tolerance: DefaultTolerance,
		dcIndex:   make(map[string]int, len(cfg.Targets)),
		asnIndex:  map[uint32]int{},
	}

	// name
	if name, err := serviceName(cfg.Name); err != nil {
		c.bad(".name", "%w", err)
	} else {
		s.Name = name
	}

	// policies
	s.Policy, s.Fallback = DefaultPolicy, DefaultFallback
	if cfg.Policy != "" {
		p, ok := ParsePolicy(cfg.Policy)
		if !ok {
			c.bad(".policy", "unknown policy %q (want round-robin, weighted, failover, geo or routes)", cfg.Policy)
		}
		s.Policy = p
	}
	if cfg.Fallback != "" {
		p, ok := ParsePolicy(cfg.Fallback)
		switch {
		case !ok:
			c.bad(".fallback", "unknown policy %q (want round-robin, weighted, failover, geo or routes)", cfg.Fallback)
		case p == s.Policy:
			c.bad(".fallback", "%q cannot fall back to itself", cfg.Fallback)
		case p.proximity() && !s.Policy.proximity():
			c.bad(".fallback", "policy %s always ranks; a %s fallback would never be used", s.Policy, p)
		}
		s.Fallback = p
	}
	s.chain[0], s.nchain = s.Policy, 1
	if s.Policy.proximity() {
		s.chain[1], s.nchain = s.Fallback, 2
		if s.Fallback.proximity() {
			// geo -> routes -> weighted, or routes -> geo -> weighted
			s.chain[2], s.nchain = DefaultFallback, 3
		}
	}
	s.final = s.chain[s.nchain-1]

	// numbers
	if cfg.Answers != nil {
		if *cfg.Answers < 1 || *cfg.Answers > MaxServiceAddresses {
			c.bad(".answers", "%d is out of range [1, %d]", *cfg.Answers, MaxServiceAddresses)
		}
		s.Answers = *cfg.Answers
	}
	if cfg.TTL != nil {
		if *cfg.TTL < 0 || *cfg.TTL > maxTTL {
			c.bad(".ttl", "%d is out of range [0, %d]", *cfg.TTL, maxTTL)
		} else {
			s.TTL = uint32(*cfg.TTL)
		}
	}
	s.MinTTL = min(DefaultMinTTL, s.TTL)
	if cfg.MinTTL != nil {
		switch m := *cfg.MinTTL; {
		case m < 0 || m > maxTTL:
			c.bad(".min_ttl", "%d is out of range [0, %d]", m, maxTTL)
		case uint32(m) > s.TTL:
			c.bad(".min_ttl", "%d is above ttl %d", m, s.TTL)
		default:
			s.MinTTL = uint32(m)
		}
	}
	if cfg.Tolerance != nil {
		t := *cfg.Tolerance
		if t < 0 || t > 10 || t != t {
			c.bad(".distance_tolerance", "%v is out of range [0, 10]", t)
		} else {
			s.Tolerance = t
		}
	}
	if s.Check != "" && !c.checks[s.Check] {
		c.bad(".check", "unknown check %q", s.Check)
	}

	c.targets(s, cfg.Targets)
	c.geoMap(s, cfg.Map)
	return s
}

// serviceName checks that name is a host name and returns it lower-case
// and fully qualified.
func serviceName(name string) (string, error) {
	if name == "" {
		return "", errors.New("missing")
	}
	n := strings.ToLower(name)
	if !strings.HasSuffix(n, ".") {
		n += "."
	}
	if len(n) > 254 {
		return "", fmt.Errorf("%q is longer than 253 characters", name)
	}
	if n == "." {
		return "", fmt.Errorf("%q: the root cannot be a service", name)
	}
	for _, label := range strings.Split(n[:len(n)-1], ".") {
		if label == "" || len(label) > 63 {
			return "", fmt.Errorf("%q is not a valid domain name (empty or over-long label)", name)
		}
		for _, ch := range []byte(label) {
			if !(ch >= 'a' && ch <= 'z' || ch >= '0' && ch <= '9' || ch == '-' || ch == '_') {
				return "", fmt.Errorf("%q is not a valid host name (character %q)", name, ch)
			}
		}
	}
	return n, nil
}

func (c *compiler) targets(s *Service, tcs []TargetConfig) {
	if len(tcs) == 0 {
		c.bad(".target", "a service needs at least one target")
		return
	}
	if len(tcs) > MaxServiceDatacenters {
		c.bad(".target", "%d targets; at most %d per service", len(tcs), MaxServiceDatacenters)
		return
	}
	needLoc := s.Policy == Geo || (s.nchain > 1 && (s.chain[1] == Geo))
	for i, tc := range tcs {
		p := ".target." + strconv.Itoa(i)
		t := Target{Datacenter: tc.Datacenter, Weight: DefaultWeight, Check: s.Check, dcIndex: len(s.Targets)}
		info, ok := c.dcs[tc.Datacenter]
		switch {
		case tc.Datacenter == "":
			c.bad(p+".datacenter", "missing")
		case !ok:
			c.bad(p+".datacenter", "unknown datacenter %q", tc.Datacenter)
		default:
			if _, dup := s.dcIndex[tc.Datacenter]; dup {
				c.bad(p+".datacenter", "datacenter %q is already a target of this service", tc.Datacenter)
			}
			if info.hasLoc {
				t.setLocation(info.lat, info.lon)
			} else if needLoc {
				c.bad(p+".datacenter", "datacenter %q has no location, which policy geo needs", tc.Datacenter)
			}
			t.ASN = info.cfg.ASN
		}
		if tc.Weight != nil {
			if *tc.Weight <= 0 || *tc.Weight > maxWeight {
				c.bad(p+".weight", "%d is out of range [1, %d]", *tc.Weight, maxWeight)
			}
			t.Weight = *tc.Weight
		}
		if tc.Check != "" {
			if !c.checks[tc.Check] {
				c.bad(p+".check", "unknown check %q", tc.Check)
			}
			t.Check = tc.Check
		}
		if tc.CheckAddress != "" {
			a, err := netip.ParseAddr(tc.CheckAddress)
			if err != nil || a.Zone() != "" {
				c.bad(p+".check_address", "%q is not an IP address", tc.CheckAddress)
			} else {
				t.CheckAddress = a.Unmap()
			}
		}
		if len(tc.Addresses) == 0 {
			c.bad(p+".addresses", "a target needs at least one address")
		}
		dup := make(map[netip.Addr]bool, len(tc.Addresses))
		for j, as := range tc.Addresses {
			a, err := netip.ParseAddr(as)
			if err != nil || a.Zone() != "" {
				c.bad(p+".addresses."+strconv.Itoa(j), "%q is not an IP address", as)
				continue
			}
			a = a.Unmap()
			if dup[a] {
				c.bad(p+".addresses."+strconv.Itoa(j), "duplicate address %s", a)
				continue
			}
			dup[a] = true
			f := family(a)
			t.Addrs[f] = append(t.Addrs[f], a)
		}
		if tc.Datacenter != "" {
			if _, exists := s.dcIndex[tc.Datacenter]; !exists {
				s.dcIndex[tc.Datacenter] = len(s.Targets)
			}
		}
		s.Targets = append(s.Targets, t)
	}
	// address numbering, per family counts, probes, ASN index
	n := 0
	for i := range s.Targets {
		t := &s.Targets[i]
		for f := range 2 {
			t.base[f] = n
			n += len(t.Addrs[f])
			s.count[f] += len(t.Addrs[f])
			for _, a := range t.Addrs[f] {
				if t.Check == "" {
					continue
				}
				pa := a
				if t.CheckAddress.IsValid() {
					pa = t.CheckAddress
				}
				s.probes = append(s.probes, Probe{Check: t.Check, Datacenter: t.Datacenter, Addr: a, ProbeAddr: pa})
			}
		}
		for _, asn := range t.ASN {
			if _, dup := s.asnIndex[asn]; !dup {
				s.asnIndex[asn] = i
			}
		}
	}
	s.naddrs = n
	if n > MaxServiceAddresses {
		c.bad(".target", "%d addresses; at most %d per service", n, MaxServiceAddresses)
	}
}

var continents = map[string]bool{"AF": true, "AN": true, "AS": true, "EU": true, "NA": true, "OC": true, "SA": true}

func (c *compiler) geoMap(s *Service, m map[string][]string) {
	if len(m) == 0 {
		return
	}
	if s.Policy == 0 {
		return // already reported
	}
	if s.Policy != Geo && (s.nchain < 2 || s.chain[1] != Geo) {
		c.bad(".map", "map is only used by policy geo (policy is %s)", s.Policy)
		return
	}
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys) // deterministic error order
	s.byASN, s.bySubdiv, s.byCountry, s.byCont = map[uint32]int{}, map[string]int{}, map[string]int{}, map[string]int{}
	norm := make(map[string]string, len(keys))
	for _, k := range keys {
		p := ".map." + tomlKey(k)
		e, err := parseMapKey(k)
		if err != nil {
			c.bad(p, "%w", err)
			continue
		}
		if other, dup := norm[e.key]; dup {
			c.bad(p, "same key as %q", other)
			continue
		}
		norm[e.key] = k
		vals := m[k]
		if len(vals) == 0 {
			c.bad(p, "lists no datacenters")
			continue
		}
		ok := true
		for j, dc := range vals {
			vp := p + "." + strconv.Itoa(j)
			idx, isTarget := s.dcIndex[dc]
			switch {
			case !isTarget && c.dcs[dc].cfg.Name == "":
				c.bad(vp, "unknown datacenter %q", dc)
				ok = false
			case !isTarget:
				c.bad(vp, "datacenter %q is not a target of this service", dc)
				ok = false
			case e.mask&(1<<idx) != 0:
				c.bad(vp, "datacenter %q listed twice", dc)
				ok = false
			default:
				e.dcs = append(e.dcs, uint8(idx))
				e.mask |= 1 << idx
			}
		}
		if !ok {
			continue
		}
		i := len(s.entries)
		s.entries = append(s.entries, e)
		switch e.kind {
		case mapNet:
			s.nets = append(s.nets, i)
		case mapASN:
			asn, _ := strconv.ParseUint(e.key[len("asn:"):], 10, 32)
			s.byASN[uint32(asn)] = i
		case mapSubdivision:
			s.bySubdiv[e.key[len("subdivision:"):]] = i
		case mapCountry:
			s.byCountry[e.key[len("country:"):]] = i
		case mapContinent:
			s.byCont[e.key[len("continent:"):]] = i
		}
	}
	slices.SortStableFunc(s.nets, func(a, b int) int {
		return cmp.Compare(s.entries[b].prefix.Bits(), s.entries[a].prefix.Bits())
	})
	order := slices.Clone(s.nets)
	for _, kind := range []mapKind{mapASN, mapSubdivision, mapCountry, mapContinent} {
		for i, e := range s.entries {
			if e.kind == kind {
				order = append(order, i)
			}
		}
	}
	for _, i := range order {
		s.MapKeys = append(s.MapKeys, s.entries[i].key)
	}
}

// parseMapKey parses and normalises one geo map key.
func parseMapKey(k string) (mapEntry, error) {
	kind, val, ok := strings.Cut(k, ":")
	if !ok {
		return mapEntry{}, fmt.Errorf("map key %q: want continent:XX, country:XX, subdivision:XX-YYY, asn:N or net:PREFIX", k)
	}
	e := mapEntry{}
	switch strings.ToLower(kind) {
	case "continent":
		v := strings.ToUpper(val)
		if !continents[v] {
			return e, fmt.Errorf("map key %q: unknown continent code (want AF, AN, AS, EU, NA, OC or SA)", k)
		}
		e.kind, e.key = mapContinent, "continent:"+v
	case "country":
		v := strings.ToUpper(val)
		if len(v) != 2 || !isUpperAlpha(v) {
			return e, fmt.Errorf("map key %q: want a two-letter ISO 3166-1 country code", k)
		}
		if !countryCodes[v] {
			return e, fmt.Errorf("map key %q: %s is not an ISO 3166-1 country code, so no client matches it", k, v)
		}
		e.kind, e.key = mapCountry, "country:"+v
	case "subdivision":
		v := strings.ToUpper(val)
		cc, sub, ok := strings.Cut(v, "-")
		if !ok || len(cc) != 2 || !isUpperAlpha(cc) || len(sub) < 1 || len(sub) > 3 || !isUpperAlnum(sub) {
			return e, fmt.Errorf("map key %q: want an ISO 3166-2 subdivision code such as US-WA", k)
		}
		if !countryCodes[cc] {
			return e, fmt.Errorf("map key %q: %s is not an ISO 3166-1 country code, so no client matches it", k, cc)
		}
		e.kind, e.key = mapSubdivision, "subdivision:"+v
	case "asn":
		v := strings.TrimPrefix(strings.ToUpper(val), "AS")
		n, err := strconv.ParseUint(v, 10, 32)
		if err != nil || n == 0 {
			return e, fmt.Errorf("map key %q: want an AS number 1-4294967295", k)
		}
		e.kind, e.key = mapASN, "asn:"+strconv.FormatUint(n, 10)
	case "net":
		p, err := netip.ParsePrefix(val)
		if err != nil {
			return e, fmt.Errorf("map key %q: %w", k, err)
		}
		if p.Addr().Is4In6() {
			return e, fmt.Errorf("map key %q: write IPv4-mapped prefixes as IPv4", k)
		}
		if p != p.Masked() {
			return e, fmt.Errorf("map key %q: host bits set (did you mean %s?)", k, p.Masked())
		}
		e.kind, e.key, e.prefix = mapNet, "net:"+p.String(), p
	default:
		return e, fmt.Errorf("map key %q: unknown kind %q (want continent, country, subdivision, asn or net)", k, kind)
	}
	return e, nil
}

func isUpperAlpha(s string) bool {
	for _, c := range []byte(s) {
		if c < 'A' || c > 'Z' {
			return false
		}
	}
	return true
}

func isUpperAlnum(s string) bool {
	for _, c := range []byte(s) {
		if !(c >= 'A' && c <= 'Z' || c >= '0' && c <= '9') {
			return false
		}
	}
	return true
}

// tomlKey quotes k the way TOML needs it in a dotted key.
func tomlKey(k string) string {
	for _, c := range []byte(k) {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
			return strconv.Quote(k)
		}
	}
	if k == "" {
		return `""`
	}
	return k
}

// family returns 0 for IPv4 and 1 for IPv6 addresses.
func family(a netip.Addr) int {
	if a.Is4() {
		return 0
	}
	return 1
}
