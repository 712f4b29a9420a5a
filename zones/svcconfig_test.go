package zones

import (
	"errors"
	"net/netip"
	"slices"
	"strings"
	"testing"
)

var testDCs = []DatacenterConfig{
	{Name: "ams", Location: []float64{52.37, 4.90}, ASN: []uint32{65001}},
	{Name: "fra", Location: []float64{50.11, 8.68}, ASN: []uint32{65002}},
	{Name: "iad", Location: []float64{38.95, -77.45}, ASN: []uint32{65003}},
	{Name: "sin", Location: []float64{1.35, 103.82}},
	{Name: "nol"},
}

var testChecks = []string{"web", "tcp"}

func ptr[T any](v T) *T { return &v }

func tgt(dc string, weight int, addrs ...string) TargetConfig {
	t := TargetConfig{Datacenter: dc, Addresses: addrs}
	if weight != 0 {
		t.Weight = ptr(weight)
	}
	return t
}

func compile(t testing.TB, cfg ServiceConfig) *Service {
	t.Helper()
	svcs, err := CompileServices([]ServiceConfig{cfg}, testDCs, testChecks)
	if err != nil {
		t.Fatalf("CompileServices: %v", err)
	}
	return svcs[0]
}

func baseCfg() ServiceConfig {
	return ServiceConfig{
		Name:   "WWW.Example.Test",
		Policy: "geo",
		Check:  "web",
		Map:    map[string][]string{"continent:EU": {"fra", "ams"}},
		Targets: []TargetConfig{
			tgt("ams", 0, "192.0.2.1", "2001:db8::1"),
			tgt("fra", 2, "198.51.100.1"),
		},
	}
}

func TestCompileDefaults(t *testing.T) {
	s := compile(t, baseCfg())
	if s.Name != "www.example.test." {
		t.Errorf("Name = %q, want lower-case FQDN", s.Name)
	}
	if s.Policy != Geo || s.Fallback != Weighted || s.Answers != 1 || s.TTL != 30 || s.MinTTL != 5 || s.Tolerance != 0.05 {
		t.Errorf("defaults: policy %v fallback %v answers %d ttl %d min_ttl %d tolerance %v",
			s.Policy, s.Fallback, s.Answers, s.TTL, s.MinTTL, s.Tolerance)
	}
	if s.Targets[0].Weight != 1 || s.Targets[1].Weight != 2 {
		t.Errorf("weights %d %d, want 1 2", s.Targets[0].Weight, s.Targets[1].Weight)
	}
	if got := s.Targets[0].Addrs; len(got[0]) != 1 || len(got[1]) != 1 {
		t.Errorf("ams addresses by family: %v", got)
	}
	want := []Probe{
		{Check: "web", Datacenter: "ams", Addr: netip.MustParseAddr("192.0.2.1"), ProbeAddr: netip.MustParseAddr("192.0.2.1")},
		{Check: "web", Datacenter: "ams", Addr: netip.MustParseAddr("2001:db8::1"), ProbeAddr: netip.MustParseAddr("2001:db8::1")},
		{Check: "web", Datacenter: "fra", Addr: netip.MustParseAddr("198.51.100.1"), ProbeAddr: netip.MustParseAddr("198.51.100.1")},
	}
	if !slices.Equal(s.Probes(), want) {
		t.Errorf("Probes = %v, want %v", s.Probes(), want)
	}

	// min_ttl defaults to ttl when ttl is below 5; the chain geo -> routes -> weighted.
	cfg := baseCfg()
	cfg.TTL = ptr(3)
	cfg.Fallback = "routes"
	s = compile(t, cfg)
	if s.MinTTL != 3 || s.chain != [3]Policy{Geo, Routes, Weighted} || s.nchain != 3 {
		t.Errorf("min_ttl %d chain %v/%d", s.MinTTL, s.chain, s.nchain)
	}
	cfg = baseCfg()
	cfg.Map = map[string][]string{"net:10.0.0.0/8": {"ams"}, "net:10.1.0.0/16": {"fra"}, "asn:AS64500": {"fra"}, "country:nl": {"ams"}}
	s = compile(t, cfg)
	if want := []string{"net:10.1.0.0/16", "net:10.0.0.0/8", "asn:64500", "country:NL"}; !slices.Equal(s.MapKeys, want) {
		t.Errorf("MapKeys = %v, want %v", s.MapKeys, want)
	}
}

func TestCompileErrors(t *testing.T) {
	tests := []struct {
		name string
		edit func(*ServiceConfig)
		dcs  []DatacenterConfig
		want map[string]string // key -> error text fragment
	}{
		{"unknown datacenter", func(c *ServiceConfig) { c.Targets[0].Datacenter, c.Map = "xxx", nil }, nil,
			map[string]string{"service.0.target.0.datacenter": `unknown datacenter "xxx"`}},
		{"unknown service check", func(c *ServiceConfig) { c.Check = "nope" }, nil,
			map[string]string{"service.0.check": `unknown check "nope"`}},
		{"unknown target check", func(c *ServiceConfig) { c.Targets[1].Check = "nope" }, nil,
			map[string]string{"service.0.target.1.check": `unknown check "nope"`}},
		{"weight zero", func(c *ServiceConfig) { c.Targets[0].Weight = ptr(0) }, nil,
			map[string]string{"service.0.target.0.weight": "out of range"}},
		{"weight negative", func(c *ServiceConfig) { c.Targets[1].Weight = ptr(-3) }, nil,
			map[string]string{"service.0.target.1.weight": "out of range"}},
		{"no addresses", func(c *ServiceConfig) { c.Targets[1].Addresses = nil }, nil,
			map[string]string{"service.0.target.1.addresses": "at least one address"}},
		{"bad address", func(c *ServiceConfig) { c.Targets[0].Addresses[1] = "2001:db8::zz" }, nil,
			map[string]string{"service.0.target.0.addresses.1": "not an IP address"}},
		{"duplicate address", func(c *ServiceConfig) { c.Targets[0].Addresses[1] = "192.0.2.1" }, nil,
			map[string]string{"service.0.target.0.addresses.1": "duplicate"}},
		{"bad check address", func(c *ServiceConfig) { c.Targets[0].CheckAddress = "x" }, nil,
			map[string]string{"service.0.target.0.check_address": "not an IP address"}},
		{"answers zero", func(c *ServiceConfig) { c.Answers = ptr(0) }, nil,
			map[string]string{"service.0.answers": "out of range"}},
		{"min_ttl above ttl", func(c *ServiceConfig) { c.TTL, c.MinTTL = ptr(10), ptr(20) }, nil,
			map[string]string{"service.0.min_ttl": "above ttl 10"}},
		{"ttl negative", func(c *ServiceConfig) { c.TTL = ptr(-1) }, nil,
			map[string]string{"service.0.ttl": "out of range"}},
		{"ttl huge", func(c *ServiceConfig) { c.TTL = ptr(100000) }, nil,
			map[string]string{"service.0.ttl": "out of range"}},
		{"min_ttl negative", func(c *ServiceConfig) { c.MinTTL = ptr(-2) }, nil,
			map[string]string{"service.0.min_ttl": "out of range"}},
		{"tolerance negative", func(c *ServiceConfig) { c.Tolerance = ptr(-0.1) }, nil,
			map[string]string{"service.0.distance_tolerance": "out of range"}},
		{"unknown policy", func(c *ServiceConfig) { c.Policy = "nearest" }, nil,
			map[string]string{"service.0.policy": `unknown policy "nearest"`}},
		{"unknown fallback", func(c *ServiceConfig) { c.Fallback = "random" }, nil,
			map[string]string{"service.0.fallback": `unknown policy "random"`}},
		{"fallback to itself", func(c *ServiceConfig) { c.Fallback = "geo" }, nil,
			map[string]string{"service.0.fallback": "itself"}},
		{"proximity fallback of a ranking policy", func(c *ServiceConfig) { c.Policy, c.Fallback, c.Map = "weighted", "geo", nil }, nil,
			map[string]string{"service.0.fallback": "never be used"}},
		{"bad name", func(c *ServiceConfig) { c.Name = "www example.test." }, nil,
			map[string]string{"service.0.name": "not a valid host name"}},
		{"empty label", func(c *ServiceConfig) { c.Name = "www..example.test." }, nil,
			map[string]string{"service.0.name": "not a valid domain name"}},
		{"missing name", func(c *ServiceConfig) { c.Name = "" }, nil,
			map[string]string{"service.0.name": "missing"}},
		{"no targets", func(c *ServiceConfig) { c.Targets, c.Map = nil, nil }, nil,
			map[string]string{"service.0.target": "at least one target"}},
		{"datacenter twice", func(c *ServiceConfig) { c.Targets[1].Datacenter, c.Map = "ams", nil }, nil,
			map[string]string{"service.0.target.1.datacenter": "already a target"}},
		{"geo needs locations", func(c *ServiceConfig) { c.Targets[1].Datacenter = "nol"; c.Map = nil }, nil,
			map[string]string{"service.0.target.1.datacenter": "no location"}},
		{"map needs geo", func(c *ServiceConfig) { c.Policy = "routes" }, nil,
			map[string]string{"service.0.map": "only used by policy geo"}},
		{"bad continent", func(c *ServiceConfig) { c.Map["continent:XX"] = []string{"ams"} }, nil,
			map[string]string{`service.0.map."continent:XX"`: "unknown continent"}},
		{"bad country", func(c *ServiceConfig) { c.Map["country:USA"] = []string{"ams"} }, nil,
			map[string]string{`service.0.map."country:USA"`: "two-letter"}},
		{"unassigned country", func(c *ServiceConfig) { c.Map["country:XX"] = []string{"ams"} }, nil,
			map[string]string{`service.0.map."country:XX"`: "XX is not an ISO 3166-1 country code, so no client matches it"}},
		{"unassigned subdivision country", func(c *ServiceConfig) { c.Map["subdivision:QQ-1"] = []string{"ams"} }, nil,
			map[string]string{`service.0.map."subdivision:QQ-1"`: "QQ is not an ISO 3166-1 country code"}},
		{"bad subdivision", func(c *ServiceConfig) { c.Map["subdivision:US"] = []string{"ams"} }, nil,
			map[string]string{`service.0.map."subdivision:US"`: "ISO 3166-2"}},
		{"bad asn", func(c *ServiceConfig) { c.Map["asn:abc"] = []string{"ams"} }, nil,
			map[string]string{`service.0.map."asn:abc"`: "AS number"}},
		{"net with host bits", func(c *ServiceConfig) { c.Map["net:10.0.0.1/8"] = []string{"ams"} }, nil,
			map[string]string{`service.0.map."net:10.0.0.1/8"`: "did you mean 10.0.0.0/8"}},
		{"bad net", func(c *ServiceConfig) { c.Map["net:10.0.0.0/33"] = []string{"ams"} }, nil,
			map[string]string{`service.0.map."net:10.0.0.0/33"`: "net:10.0.0.0/33"}},
		{"unknown key kind", func(c *ServiceConfig) { c.Map["city:Paris"] = []string{"ams"} }, nil,
			map[string]string{`service.0.map."city:Paris"`: `unknown kind "city"`}},
		{"same key twice", func(c *ServiceConfig) { c.Map["continent:eu"] = []string{"ams"} }, nil,
			map[string]string{`service.0.map."continent:eu"`: "same key"}},
		{"map value unknown", func(c *ServiceConfig) { c.Map["country:US"] = []string{"ams", "xxx"} }, nil,
			map[string]string{`service.0.map."country:US".1`: `unknown datacenter "xxx"`}},
		{"map value not a target", func(c *ServiceConfig) { c.Map["country:US"] = []string{"iad"} }, nil,
			map[string]string{`service.0.map."country:US".0`: "not a target"}},
		{"map value empty", func(c *ServiceConfig) { c.Map["country:US"] = nil }, nil,
			map[string]string{`service.0.map."country:US"`: "no datacenters"}},
		{"duplicate datacenter", nil, append(slices.Clone(testDCs), DatacenterConfig{Name: "ams"}),
			map[string]string{"datacenter.5.name": `duplicate datacenter "ams"`}},
		{"datacenter location", nil, append(slices.Clone(testDCs), DatacenterConfig{Name: "x", Location: []float64{1}}),
			map[string]string{"datacenter.5.location": "want [latitude, longitude]"}},
		{"datacenter latitude", nil, append(slices.Clone(testDCs), DatacenterConfig{Name: "x", Location: []float64{91, 0}}),
			map[string]string{"datacenter.5.location": "not a [latitude, longitude]"}},
		{"several at once", func(c *ServiceConfig) {
			c.Answers = ptr(0)
			c.Targets[0].Weight = ptr(0)
			c.Targets[1].Addresses = []string{"nope"}
		}, nil, map[string]string{
			"service.0.answers":              "out of range",
			"service.0.target.0.weight":      "out of range",
			"service.0.target.1.addresses.0": "not an IP address",
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cfg := baseCfg()
			if tc.edit != nil {
				tc.edit(&cfg)
			}
			dcs := tc.dcs
			if dcs == nil {
				dcs = testDCs
			}
			svcs, err := CompileServices([]ServiceConfig{cfg}, dcs, testChecks)
			if err == nil {
				t.Fatalf("no error; compiled %+v", svcs[0])
			}
			if svcs != nil {
				t.Errorf("services returned along with an error")
			}
			got := keyErrors(t, err)
			for key, frag := range tc.want {
				msg, ok := got[key]
				if !ok {
					t.Errorf("no error at %s; got %v", key, err)
					continue
				}
				if !strings.Contains(msg, frag) {
					t.Errorf("%s: %q does not mention %q", key, msg, frag)
				}
			}
			if len(got) != len(tc.want) {
				t.Errorf("got %d errors, want %d: %v", len(got), len(tc.want), err)
			}
		})
	}
}

// keyErrors flattens a joined error into key -> message, failing on any
// error that is not a *KeyError.
func keyErrors(t *testing.T, err error) map[string]string {
	t.Helper()
	var errs []error
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		errs = j.Unwrap()
	} else {
		errs = []error{err}
	}
	out := map[string]string{}
	for _, e := range errs {
		var ke *KeyError
		if !errors.As(e, &ke) {
			t.Errorf("error %q is not a *KeyError", e)
			continue
		}
		if !strings.HasPrefix(e.Error(), ke.Key+": ") {
			t.Errorf("error text %q does not start with its key", e)
		}
		out[ke.Key] = ke.Err.Error()
	}
	return out
}

func TestCompileDuplicateService(t *testing.T) {
	a, b := baseCfg(), baseCfg()
	b.Name = "www.example.test." // same name, other spelling
	_, err := CompileServices([]ServiceConfig{a, b}, testDCs, testChecks)
	got := keyErrors(t, err)
	if msg := got["service.1.name"]; !strings.Contains(msg, "duplicate service") {
		t.Errorf("service.1.name: %q; all: %v", msg, err)
	}
}

func TestValidateDatacenters(t *testing.T) {
	if err := ValidateDatacenters(testDCs); err != nil {
		t.Errorf("good datacenters: %v", err)
	}
	err := ValidateDatacenters([]DatacenterConfig{{Name: "a"}, {Name: ""}, {Name: "a b"}, {Name: "c", ASN: []uint32{0}}})
	got := keyErrors(t, err)
	for _, k := range []string{"datacenter.1.name", "datacenter.2.name", "datacenter.3.asn.0"} {
		if _, ok := got[k]; !ok {
			t.Errorf("no error at %s: %v", k, err)
		}
	}
}
