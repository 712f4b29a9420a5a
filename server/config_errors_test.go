package server

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// TestConfigErrors: inputs with mistakes → every message, exactly, with
// the line of the value at fault and nothing caused by another error.
func TestConfigErrors(t *testing.T) {
	const zone = "$TTL 60\n@ SOA ns1 h 1 2 3 4 5\n@ NS ns1\nns1 A 192.0.2.53\n"
	svc := func(name string) string {
		return "[[service]]\nname = \"" + name + "\"\n  [[service.target]]\n  datacenter = \"ams\"\n  addresses = [\"192.0.2.1\"]\n"
	}
	cases := []struct {
		name   string
		config string
		zones  map[string]string // file name in zones/ → content
		want   []string          // "file:line: message", paths relative to the test directory
	}{{
		name: "type errors, all of them, each at its line",
		config: `[server]
listen = ["127.0.0.1:5353"]

[[datacenter]]
name = "ams"
location = [52.3, "4.9"]

[[service]]
name = "www.gslb.example.test."
answers = "2"
ttl = "30s"
  [[service.target]]
  datacenter = "ams"
  weight = "ten"
  addresses = ["192.0.2.1"]

  [[service.target]]
  datacenter = "ams"
  weight = 3
  addresses = ["192.0.2.2"]

[[datacenter]]
name = "fra"
location = "52.37,4.90"
asn = [-1]
`,
		want: []string{
			`godwit.toml:6: datacenter[0].location[1]: must be a number, got the string "4.9"`,
			`godwit.toml:10: service[0].answers: must be a whole number, got the string "2"`,
			`godwit.toml:11: service[0].ttl: must be a whole number, got the string "30s"`,
			`godwit.toml:14: service[0].target[0].weight: must be a whole number, got the string "ten"`,
			`godwit.toml:24: datacenter[1].location: must be an array, got the string "52.37,4.90"`,
			`godwit.toml:25: datacenter[1].asn[0]: must be a whole number of at least 0, got the whole number -1`,
		},
	}, {
		name: "section errors at the key's line, no doubled prefix",
		config: `[server]
nsid = "a"
listen = ["127.0.0.1"]

[geo]
city_db = "x.mmdb"
asn_db = "x.mmdb"

[[check]]
name = "web"
type = "http"
port = 80
timeout = "-3s"
`,
		want: []string{
			`godwit.toml:3: server: listen[0]: "127.0.0.1" is not an address:port: not an ip:port`,
			`godwit.toml:6: geo: city_db and asn_db name the same file x.mmdb`,
			`godwit.toml:13: check.0: check "web": timeout: must be positive`,
		},
	}, {
		name: "bgp cache settings at their keys",
		config: `[[datacenter]]
name = "ams"

[routes.bgp]
asn = 65000
router_id = "192.0.2.1"
cache_file = "state/bgp.cache"
stale_timeout = "-2m"
  [[routes.bgp.peer]]
  address = "192.0.2.2"
  asn = 65001
  datacenter = "ams"
`,
		want: []string{
			`godwit.toml:8: routes.bgp: stale_timeout -2m0s must not be negative`,
		},
	}, {
		name:   "bgp stale_timeout that is not a duration",
		config: "[routes.bgp]\nasn = 65000\nrouter_id = \"192.0.2.1\"\nstale_timeout = 120\n",
		want: []string{
			`godwit.toml:4: routes.bgp.stale_timeout: must be a duration string with its unit, as "5s" or "500ms", got the whole number 120`,
		},
	}, {
		name:   "durations without a unit or with a wrong one, all of them",
		config: "[[check]]\nname = \"web\"\ntype = \"tcp\"\nport = 80\ninterval = \"5x\"\ntimeout = \"2\"\n\n[cluster]\nengine = \"nats\"\nverdict_ttl = 30\n",
		want: []string{
			`godwit.toml:5: check[0].interval: must be a duration with its unit, as "5s", "500ms" or "1m30s"; got "5x"`,
			`godwit.toml:6: check[0].timeout: must be a duration with its unit, as "5s", "500ms" or "1m30s"; got "2"`,
			`godwit.toml:10: cluster.verdict_ttl: must be a duration string with its unit, as "5s" or "500ms", got the whole number 30`,
		},
	}, {
		name: "cluster errors at their keys",
		config: `[cluster]
engine = "nats"
urls = ["nats://u:secret@127.0.0.1:4222"]
name = "a b"
rule = "quorum"
`,
		want: []string{
			`godwit.toml:3: cluster: urls: "nats://u:xxxxx@127.0.0.1:4222": no user or password in URLs; use credentials_file, nkey_file or user_file/password_file`,
			`godwit.toml:4: cluster: name "a b": 1-64 letters, digits, _ or -`,
			`godwit.toml:5: cluster: rule quorum: set quorum (a count) or quorum_fraction`,
		},
	}, {
		name:   "a missing zones.dir and missing files at their keys, no service errors after them",
		config: "[zones]\ndir = \"nozones\"\n[geo]\ncity_db = \"nope.mmdb\"\n[routes]\nfile = \"nope.txt\"\n[[datacenter]]\nname = \"ams\"\n" + svc("www.gslb.example.test."),
		want: []string{
			`godwit.toml:2: zones.dir: open nozones: no such file or directory`,
			`godwit.toml:4: geo.city_db: open nope.mmdb: no such file or directory`,
			`godwit.toml:6: routes.file: open nope.txt: no such file or directory`,
		},
	}, {
		name:   "a zone that does not load: its error only",
		config: "[zones]\ndir = \"zones\"\n[[datacenter]]\nname = \"ams\"\n" + svc("www.gslb.example.test."),
		zones:  map[string]string{"gslb.example.test.zone": "$TTL 60\n@ SOA ns1 h 1 2 3 4 5\n@ NS ns1\nns1 A 300.1.1.1\n"},
		want:   []string{`zones/gslb.example.test.zone:4: ns1 A: "300.1.1.1" is not an IPv4 address`},
	}, {
		name:   "every service conflict in one run",
		config: "[zones]\ndir = \"zones\"\n[[datacenter]]\nname = \"ams\"\n" + svc("www.other.test.") + svc("ns1.gslb.example.test.") + svc("www.third.test."),
		zones:  map[string]string{"gslb.example.test.zone": zone},
		want: []string{
			`godwit.toml:6: service.0.name: service www.other.test. is not inside any zone`,
			`godwit.toml:11: service.1.name: service ns1.gslb.example.test.: zone gslb.example.test. has A records at that name`,
			`godwit.toml:16: service.2.name: service www.third.test. is not inside any zone`,
		},
	}}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			dir := t.TempDir()
			if err := os.Mkdir(filepath.Join(dir, "zones"), 0o755); err != nil {
				t.Fatal(err)
			}
			for f, content := range c.zones {
				if err := os.WriteFile(filepath.Join(dir, "zones", f), []byte(content), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			path := filepath.Join(dir, "godwit.toml")
			if err := os.WriteFile(path, []byte(c.config), 0o644); err != nil {
				t.Fatal(err)
			}
			cfg, err := LoadConfig(path, Flags{})
			if err == nil {
				var g *Generation
				g, err = Build(cfg)
				g.Close()
			}
			var got []string
			for _, e := range Unjoin(err) {
				got = append(got, strings.ReplaceAll(e.Error(), dir+"/", ""))
			}
			if !slices.Equal(got, c.want) {
				t.Errorf("errors:\n  %s\nwant:\n  %s", strings.Join(got, "\n  "), strings.Join(c.want, "\n  "))
			}
		})
	}
}
