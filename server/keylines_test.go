package server

import "testing"

func TestKeyLines(t *testing.T) {
	src := `# comment
[server]
listen = [
  "127.0.0.1:5353",   # first
  "[::1]:5353",
]
nsid = "ns1"

[[datacenter]]
name = "ams"

[[datacenter]]
name = "iad"
"quoted.key" = 1

[[service]]
name = "www.gslb.example.test."
map = { "continent:EU" = ["ams", "fra"], "country:US" = ["iad"] }

  [[service.target]]
  datacenter = "ams"

  [[service.target]]
  datacenter = "iad"
  weight = 0

[[service]]
name = "b"
  [[service.target]]
  weight = 5
`
	kl := indexKeyLines(src)
	cases := map[string]int{
		"server":                     2,
		"server.listen":              3,
		"server.nsid":                7,
		"datacenter.0.name":          10,
		"datacenter.1.name":          13,
		"datacenter.1.quoted.key":    14,
		"service.0.map.continent:EU": 18,
		"service.0.map.country:US":   18,
		"service.0.target.1.weight":  25,
		"service.0.target.1.check":   23, // absent key: its table
		"service.1.target.0.weight":  30,
		"service.1.name":             28,
		"geo.city_db":                0,
	}
	for path, want := range cases {
		if got := kl.Line(path); got != want {
			t.Errorf("Line(%q) = %d, want %d", path, got, want)
		}
	}
	if got := kl.LinesOf("service.target.weight"); len(got) != 2 {
		t.Errorf("LinesOf(service.target.weight) = %v, want two lines", got)
	}
}
