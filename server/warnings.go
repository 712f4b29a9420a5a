package server

import (
	"fmt"
	"sort"
	"strconv"
	"strings"

	mdns "github.com/miekg/dns"

	"github.com/godwit-dns/godwit/zones"
)

// warning is a problem that does not stop godwit from serving but that an
// operator should fix; check prints it as "file:line: warning: message".
type warning struct {
	file string
	line int
	msg  string
}

func (w warning) String() string {
	if w.line > 0 {
		return w.file + ":" + strconv.Itoa(w.line) + ": warning: " + w.msg
	}
	return w.file + ": warning: " + w.msg
}

// nsWarnings looks at every NS RRset of the loaded zones, at the apex and at
// delegations below it, for what makes a delegation fragile:
//   - the set names one server only, so nothing answers while it is down;
//   - a name server whose name lies inside a loaded zone but has no A or
//     AAAA record in any of them (nor is a service name), so resolvers
//     cannot find its address — for a name inside the zone it serves, the
//     parent also needs that address as glue.
//
// Name servers outside every loaded zone are resolved elsewhere and are not
// checked. Warnings come in file and line order.
func nsWarnings(zs []*zones.Zone, svcs []*zones.Service) []warning {
	// Which NS targets have addresses: only the targets are kept (a large
	// zone's every address owner in a map cost a third of a second).
	hasAddr := map[string]bool{}
	for _, z := range zs {
		for _, rr := range z.Records() {
			if ns, ok := rr.(*mdns.NS); ok {
				hasAddr[strings.ToLower(mdns.Fqdn(ns.Ns))] = false
			}
		}
	}
	for _, z := range zs {
		for _, rr := range z.Records() {
			if t := rr.Header().Rrtype; t == mdns.TypeA || t == mdns.TypeAAAA {
				if _, ok := hasAddr[rr.Header().Name]; ok {
					hasAddr[rr.Header().Name] = true
				}
			}
		}
	}
	for _, s := range svcs {
		hasAddr[s.Name] = true
	}
	inLoadedZone := func(name string) bool {
		for _, z := range zs {
			if mdns.IsSubDomain(z.Origin, name) {
				return true
			}
		}
		return false
	}

	var out []warning
	for _, z := range zs {
		type nsSet struct {
			first   int // index of the first NS record
			targets []string
		}
		sets := map[string]*nsSet{}
		var owners []string
		for i, rr := range z.Records() {
			ns, ok := rr.(*mdns.NS)
			if !ok {
				continue
			}
			owner, target := ns.Hdr.Name, strings.ToLower(mdns.Fqdn(ns.Ns))
			s := sets[owner]
			if s == nil {
				s = &nsSet{first: i}
				sets[owner] = s
				owners = append(owners, owner)
			}
			s.targets = append(s.targets, target)
			if !inLoadedZone(target) || hasAddr[target] {
				continue
			}
			file, line := z.Position(i)
			msg := fmt.Sprintf("name server %s of %s has no A or AAAA record in any loaded zone: resolvers cannot reach it", target, owner)
			if mdns.IsSubDomain(owner, target) {
				msg += fmt.Sprintf("; it lies inside %s, so %s needs its address records here and the parent zone needs them as glue", owner, owner)
				if owner != z.Origin {
					msg = fmt.Sprintf("name server %s of the delegation %s has no glue: resolvers cannot reach it; add its A/AAAA records below %s", target, owner, owner)
				}
			}
			out = append(out, warning{file, line, msg})
		}
		for _, owner := range owners {
			s := sets[owner]
			if len(s.targets) != 1 {
				continue
			}
			file, line := z.Position(s.first)
			what := "zone " + owner
			if owner != z.Origin {
				what = "the delegation " + owner
			}
			out = append(out, warning{file, line, fmt.Sprintf(
				"%s has a single name server (%s): nothing answers for it while that server is down; list two or more (see docs/operations.md)",
				what, s.targets[0])})
		}
	}
	sort.SliceStable(out, func(i, j int) bool {
		if out[i].file != out[j].file {
			return out[i].file < out[j].file
		}
		return out[i].line < out[j].line
	})
	return out
}

func plural(n int) string {
	if n == 1 {
		return ""
	}
	return "s"
}
