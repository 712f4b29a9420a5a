package health

import (
	"strings"
	"testing"
	"time"

	"github.com/BurntSushi/toml"
)

func TestChecksGoodFile(t *testing.T) {
	var f struct {
		Check []CheckConfig `toml:"check"`
	}
	md, err := toml.DecodeFile("../testdata/health/checks.good.toml", &f)
	if err != nil {
		t.Fatal(err)
	}
	if u := md.Undecoded(); len(u) > 0 {
		t.Fatalf("undecoded keys: %v", u)
	}
	if err := ValidateChecks(f.Check); err != nil {
		t.Fatal(err)
	}
	if len(f.Check) != 6 {
		t.Fatalf("got %d checks, want 6", len(f.Check))
	}
	web := f.Check[0].WithDefaults()
	if web.Interval.D() != 5*time.Second || web.Timeout.D() != 2*time.Second || web.Rise != 2 || web.Fall != 3 {
		t.Errorf("web timing = %v %v %d %d", web.Interval, web.Timeout, web.Rise, web.Fall)
	}
	if got := web.ExpectStatus; len(got) != 2 || got[1] != 204 {
		t.Errorf("expect_status = %v", got)
	}
	tls := f.Check[1].WithDefaults()
	if tls.Port != 443 || tls.ExpectStatus[0] != 200 || !tls.TLSSkipVerify {
		t.Errorf("https defaults = port %d status %v skip %v", tls.Port, tls.ExpectStatus, tls.TLSSkipVerify)
	}
	ns := f.Check[3].WithDefaults()
	if ns.Port != 53 || ns.Interval.D() != DefaultInterval {
		t.Errorf("dns defaults = port %d interval %v", ns.Port, ns.Interval)
	}
	if got := f.Check[5].Timeout.D(); got != 500*time.Millisecond {
		t.Errorf("file timeout = %v", got)
	}
}

func TestDurationText(t *testing.T) {
	var d Duration
	if err := d.UnmarshalText([]byte("1m30s")); err != nil || d.D() != 90*time.Second {
		t.Fatalf("got %v, %v", d, err)
	}
	if err := d.UnmarshalText([]byte("5")); err == nil {
		t.Fatal("bare number accepted")
	}
	if b, _ := Duration(1500 * time.Millisecond).MarshalText(); string(b) != "1.5s" {
		t.Fatalf("MarshalText = %s", b)
	}
}

func TestCheckValidate(t *testing.T) {
	base := func(typ string) CheckConfig {
		c := DefaultCheckConfig()
		c.Name, c.Type = "c1", typ
		switch typ {
		case TypeTCP:
			c.Port = 22
		case TypeDNS:
			c.QueryName = "example.test."
		case TypeExec:
			c.Command = []string{"/bin/true"}
		case TypeFile:
			c.Path = "/tmp/x"
		}
		return c
	}
	tests := []struct {
		name string
		mod  func(*CheckConfig)
		typ  string
		want string // substring of the error; "" = valid
	}{
		{"http ok", func(*CheckConfig) {}, TypeHTTP, ""},
		{"zero values take defaults", func(c *CheckConfig) { *c = CheckConfig{Name: "c1", Type: "http"} }, TypeHTTP, ""},
		{"no name", func(c *CheckConfig) { c.Name = "" }, TypeHTTP, "name: missing"},
		{"no type", func(c *CheckConfig) { c.Type = "" }, TypeHTTP, `check "c1": type: missing`},
		{"bad type", func(c *CheckConfig) { c.Type = "icmp" }, TypeHTTP, `check "c1": type: unknown type "icmp"`},
		{"timeout > interval", func(c *CheckConfig) { c.Timeout = Duration(6 * time.Second) }, TypeHTTP, `check "c1": timeout: 6s exceeds interval 5s`},
		{"interval too short", func(c *CheckConfig) {
			c.Interval = Duration(50 * time.Millisecond)
			c.Timeout = Duration(10 * time.Millisecond)
		}, TypeHTTP, "interval: 50ms is shorter than 100ms"},
		{"interval 100ms ok", func(c *CheckConfig) {
			c.Interval = Duration(100 * time.Millisecond)
			c.Timeout = Duration(100 * time.Millisecond)
		}, TypeHTTP, ""},
		{"negative timeout", func(c *CheckConfig) { c.Timeout = Duration(-time.Second) }, TypeHTTP, "timeout: must be positive"},
		{"rise 101", func(c *CheckConfig) { c.Rise = 101 }, TypeHTTP, "rise: 101 is not in 1..100"},
		{"fall -1", func(c *CheckConfig) { c.Fall = -1 }, TypeHTTP, "fall: -1 is not in 1..100"},
		{"port too big", func(c *CheckConfig) { c.Port = 65536 }, TypeHTTP, "port: 65536 is not in 1..65535"},
		{"tcp needs port", func(c *CheckConfig) { c.Port = 0 }, TypeTCP, `check "c1": port: missing`},
		{"path without slash", func(c *CheckConfig) { c.Path = "healthz" }, TypeHTTP, `path: "healthz" does not start with /`},
		{"bad status", func(c *CheckConfig) { c.ExpectStatus = []int{200, 99} }, TypeHTTP, "expect_status: 99 is not an HTTP status"},
		{"bad regexp", func(c *CheckConfig) { c.ExpectRegexp = "(" }, TypeHTTPS, "expect_regexp: error parsing regexp"},
		{"tls key on http", func(c *CheckConfig) { c.TLSSkipVerify = true }, TypeHTTP, "tls_skip_verify: does not apply to type http"},
		{"path on tcp", func(c *CheckConfig) { c.Path = "/x" }, TypeTCP, "path: does not apply to type tcp"},
		{"port on exec", func(c *CheckConfig) { c.Port = 80 }, TypeExec, "port: does not apply to type exec"},
		{"dns ok", func(*CheckConfig) {}, TypeDNS, ""},
		{"dns no name", func(c *CheckConfig) { c.QueryName = "" }, TypeDNS, "query_name: missing"},
		{"dns bad type", func(c *CheckConfig) { c.QueryType = "BOGUS" }, TypeDNS, `query_type: unknown type "BOGUS"`},
		{"dns bad rcode", func(c *CheckConfig) { c.ExpectRcode = "NOPE" }, TypeDNS, `expect_rcode: unknown rcode "NOPE"`},
		{"dns nxdomain lower case", func(c *CheckConfig) { c.ExpectRcode = "nxdomain"; c.QueryType = "aaaa" }, TypeDNS, ""},
		{"exec no command", func(c *CheckConfig) { c.Command = nil }, TypeExec, "command: missing"},
		{"file no path", func(c *CheckConfig) { c.Path = "" }, TypeFile, "path: missing"},
		{"file ok", func(*CheckConfig) {}, TypeFile, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := base(tt.typ)
			tt.mod(&c)
			err := c.Validate()
			switch {
			case tt.want == "" && err != nil:
				t.Fatalf("unexpected error: %v", err)
			case tt.want != "" && err == nil:
				t.Fatalf("no error, want %q", tt.want)
			case tt.want != "" && !strings.Contains(err.Error(), tt.want):
				t.Fatalf("error %q does not contain %q", err, tt.want)
			}
		})
	}
}

func TestValidateChecksDuplicate(t *testing.T) {
	c := CheckConfig{Name: "a", Type: TypeTCP, Port: 1}
	err := ValidateChecks([]CheckConfig{c, c})
	if err == nil || !strings.Contains(err.Error(), `check "a": name: defined twice`) {
		t.Fatalf("got %v", err)
	}
}
