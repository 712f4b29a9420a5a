package server

import (
	"errors"
	"fmt"
	"io/fs"
	"os"

	"github.com/godwit-dns/godwit/health"
	"github.com/godwit-dns/godwit/zones"
)

// configWarnings lists what in g's config is accepted but most likely not
// what the operator meant, each at the line of the key at fault:
//   - a geo service when the city database has no coordinates (a Country
//     database): clients that no map entry matches can never be ranked by
//     distance and all get the fallback;
//   - a file check whose status file does not exist: every address it
//     judges is down until the file appears.
func configWarnings(g *Generation) []warning {
	cfg := g.Config
	var out []warning
	at := func(key, format string, a ...any) {
		out = append(out, warning{file: cfg.path, line: cfg.lines.Line(key), msg: fmt.Sprintf(format, a...)})
	}
	if g.Geo != nil {
		if city := g.Geo.Info().City; city.Type != "" && city.Located == 0 {
			for i, s := range g.Services {
				if s.Policy != zones.Geo {
					continue
				}
				fallback := "the fallback"
				if s.Fallback != 0 {
					fallback = "the fallback (" + s.Fallback.String() + ")"
				}
				at(fmt.Sprintf("service.%d.policy", i), // services compile in config order
					"service %s ranks clients by distance, but geo.city_db is a %s database without coordinates: clients that no map entry matches all get %s; use a City database, or map their countries",
					s.Name, city.Type, fallback)
			}
		}
	}
	for i, c := range cfg.Check {
		if c.Type != health.TypeFile || c.Path == "" {
			continue
		}
		if _, err := os.Stat(c.Path); errors.Is(err, fs.ErrNotExist) {
			at(fmt.Sprintf("check.%d.path", i), "check %q: %s does not exist: every address the check judges is down until it does", c.Name, c.Path)
		}
	}
	return out
}
