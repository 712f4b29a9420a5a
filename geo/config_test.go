package geo

import (
	"strings"
	"testing"
)

func TestConfig(t *testing.T) {
	if !DefaultConfig().UseECS {
		t.Error("DefaultConfig().UseECS = false, want true")
	}
	for _, tc := range []struct {
		name string
		cfg  Config
		err  string // "" = valid
	}{
		{"defaults", DefaultConfig(), ""},
		{"both", Config{CityDB: "geoip/city.mmdb", ASNDB: "geoip/asn.mmdb"}, ""},
		{"city only", Config{CityDB: "geoip/city.mmdb"}, ""},
		{"same file", Config{CityDB: "geoip/x.mmdb", ASNDB: "geoip/../geoip/x.mmdb"}, "same file"},
	} {
		err := tc.cfg.Validate()
		if tc.err == "" && err != nil {
			t.Errorf("%s: Validate() = %v, want nil", tc.name, err)
		}
		if tc.err != "" && (err == nil || !strings.Contains(err.Error(), tc.err)) {
			t.Errorf("%s: Validate() = %v, want error containing %q", tc.name, err, tc.err)
		}
	}
}
