// Command gen writes the large-data benchmark set into a directory: a zone of
// -records records, a routes file of -v4 IPv4 and -v6 IPv6 prefixes mapped to
// three datacenters by ASN, a godwit.toml that serves both (a service with
// policy "routes", fallback "geo"), and dnsperf query files. The output is
// deterministic for a given -seed; gen prints one summary line of key=value
// pairs. testdata/bench/large/run.sh runs it into a temporary directory; the
// files are not committed.
//
//	go run ./testdata/bench/large/gen -out DIR [-records 1000000] [-v4 1000000] [-v6 100000] -city-db FILE
//
// Files written:
//
//	zones/big.test.zone  SOA, NS, and records h0…hN: A on every name but the
//	                     CNAMEs, AAAA on 2 names in 6, TXT and MX on 1 in 6,
//	                     CNAME on 1 in 6 (10 records per 6 names, so ~600k
//	                     names for 1M records), plus wildcards *.wJ and
//	                     delegations dK with glue
//	routes.txt           "<prefix> AS6500x <pathlen>"; 1 prefix in 10 has a
//	                     second line for another datacenter
//	godwit.toml          [zones], [routes], [geo], datacenters ams/iad/sin with
//	                     asn 65001/65002/65003, service svc.big.test.
//	q-exist.txt          random existing names with a type they hold
//	q-nx.txt             random names that do not exist (NXDOMAIN)
//	q-wild.txt           random names under the wildcards
//	q-svc.txt            the routes service, A
//	ecs.txt              "ADDRESS HEX" per line: addresses inside routes of
//	                     the table and the dnsperf -E option for each
//	                     (family 1, source /32, scope 0)
package main

import (
	"bufio"
	"encoding/binary"
	"flag"
	"fmt"
	"math/rand/v2"
	"net/netip"
	"os"
	"path/filepath"
)

const origin = "big.test."

func main() {
	out := flag.String("out", "", "output directory (created)")
	records := flag.Int("records", 1_000_000, "records in the zone")
	v4 := flag.Int("v4", 1_000_000, "distinct IPv4 prefixes in the routes file")
	v6 := flag.Int("v6", 100_000, "distinct IPv6 prefixes in the routes file")
	queries := flag.Int("queries", 100_000, "lines per query file")
	cityDB := flag.String("city-db", "", "geo.city_db for the config (absolute path)")
	seed := flag.Uint64("seed", 1, "random seed")
	flag.Parse()
	if *out == "" || *cityDB == "" || *records < 100 {
		fmt.Fprintln(os.Stderr, "usage: gen -out DIR -city-db FILE [-records N>=100] [-v4 N] [-v6 N] [-queries N] [-seed N]")
		os.Exit(2)
	}
	g := gen{dir: *out, rnd: rand.New(rand.NewPCG(*seed, 0x60d817))}
	if err := g.run(*records, *v4, *v6, *queries, *cityDB); err != nil {
		fmt.Fprintln(os.Stderr, "gen:", err)
		os.Exit(1)
	}
}

type gen struct {
	dir string
	rnd *rand.Rand
	// zone shape, set by zone()
	names, wild, deleg int
}

func (g *gen) run(records, v4, v6, queries int, cityDB string) error {
	if err := os.MkdirAll(filepath.Join(g.dir, "zones"), 0o755); err != nil {
		return err
	}
	if err := g.zone(records); err != nil {
		return err
	}
	addrs, err := g.routes(v4, v6)
	if err != nil {
		return err
	}
	if err := g.queries(queries); err != nil {
		return err
	}
	if err := g.ecs(addrs); err != nil {
		return err
	}
	if err := g.config(cityDB); err != nil {
		return err
	}
	fmt.Printf("records=%d names=%d wildcards=%d delegations=%d v4=%d v6=%d\n", records, g.names, g.wild, g.deleg, v4, v6)
	return nil
}

// write creates name in the output directory and lets fill write it.
func (g *gen) write(name string, fill func(w *bufio.Writer)) error {
	f, err := os.Create(filepath.Join(g.dir, name))
	if err != nil {
		return err
	}
	w := bufio.NewWriterSize(f, 1<<20)
	fill(w)
	if err := w.Flush(); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// Per name index i: CNAME when i%6 == 5, else A, plus AAAA when i%5 < 2,
// TXT when i%6 == 0, MX when i%6 == 1.
func isCNAME(i int) bool { return i%6 == 5 }
func hasAAAA(i int) bool { return !isCNAME(i) && i%5 < 2 }

func (g *gen) zone(records int) error {
	wild := max(1, records/1000)
	deleg := max(1, records/10000)
	g.wild, g.deleg = wild, deleg
	return g.write("zones/big.test.zone", func(w *bufio.Writer) {
		n := 0
		rr := func(format string, args ...any) {
			fmt.Fprintf(w, format, args...)
			w.WriteByte('\n')
			n++
		}
		fmt.Fprintf(w, "$ORIGIN %s\n$TTL 300\n", origin)
		rr("@ IN SOA ns1 hostmaster 2026112201 3600 600 604800 60")
		rr("@ IN NS ns1")
		rr("@ IN NS ns2")
		rr("ns1 IN A 127.0.0.1")
		rr("ns2 IN A 127.0.0.1")
		rr("mail IN A 192.0.2.25")
		for j := 0; j < wild; j++ {
			rr("*.w%d IN A 198.51.100.%d", j, j%250+1)
			rr("*.w%d IN TXT \"wildcard %d\"", j, j)
		}
		for k := 0; k < deleg; k++ {
			rr("d%d IN NS ns1.d%d", k, k)
			rr("d%d IN NS ns2.d%d", k, k)
			rr("ns1.d%d IN A 203.0.113.%d", k, k%250+1)
			rr("ns2.d%d IN A 203.0.113.%d", k, k%250+2)
		}
		i := 0
		for ; n < records; i++ {
			if isCNAME(i) {
				rr("h%d IN CNAME h%d", i, i-1)
				continue
			}
			rr("h%d IN A 10.%d.%d.%d", i, i>>16&255, i>>8&255, i&255)
			if n < records && hasAAAA(i) {
				rr("h%d IN AAAA 2001:db8:%x:%x::1", i, i>>16, i&0xffff)
			}
			if n < records && i%6 == 0 {
				rr("h%d IN TXT \"v=spf1 ip4:10.%d.%d.0/24 -all\"", i, i>>16&255, i>>8&255)
			}
			if n < records && i%6 == 1 {
				rr("h%d IN MX 10 mail", i)
			}
		}
		g.names = i
	})
}

var asns = []string{"AS65001", "AS65002", "AS65003"}

// routes writes v4 distinct IPv4 prefixes (9 in 10 a /24, the rest /16–/23)
// and v6 distinct IPv6 prefixes (/32–/48) in random order, and returns a few
// addresses inside IPv4 /24 routes.
func (g *gen) routes(v4, v6 int) ([]netip.Addr, error) {
	var samples []netip.Addr
	err := g.write("routes.txt", func(w *bufio.Writer) {
		fmt.Fprintf(w, "# generated: %d IPv4 + %d IPv6 prefixes\n", v4, v6)
		line := func(p netip.Prefix) {
			a := g.rnd.IntN(3)
			fmt.Fprintf(w, "%s %s %d\n", p, asns[a], 1+g.rnd.IntN(6))
			if g.rnd.IntN(10) == 0 {
				fmt.Fprintf(w, "%s %s %d\n", p, asns[(a+1+g.rnd.IntN(2))%3], 2+g.rnd.IntN(6))
			}
		}
		seen := make(map[netip.Prefix]struct{}, v4+v6)
		for len(seen) < v4 {
			var first uint32
			for first == 0 || first == 10 || first == 127 || first >= 224 {
				first = 1 + g.rnd.Uint32N(223)
			}
			bits := 24
			if g.rnd.IntN(10) == 0 {
				bits = 16 + g.rnd.IntN(8)
			}
			var b [4]byte
			binary.BigEndian.PutUint32(b[:], first<<24|g.rnd.Uint32N(1<<24))
			p, _ := netip.AddrFrom4(b).Prefix(bits)
			if _, dup := seen[p]; dup {
				continue
			}
			seen[p] = struct{}{}
			line(p)
			if bits == 24 && len(samples) < 4 && g.rnd.IntN(max(1, v4/100)) == 0 {
				b := p.Addr().As4()
				b[3] = 1 + byte(g.rnd.IntN(254))
				samples = append(samples, netip.AddrFrom4(b))
			}
		}
		for n := 0; n < v6; {
			var b [16]byte
			binary.BigEndian.PutUint64(b[:8], 0x2000<<48|g.rnd.Uint64N(1<<61))
			p, _ := netip.AddrFrom16(b).Prefix(32 + g.rnd.IntN(17))
			if _, dup := seen[p]; dup {
				continue
			}
			seen[p] = struct{}{}
			line(p)
			n++
		}
	})
	return samples, err
}

func (g *gen) queries(n int) error {
	types := func(i int) []string {
		if isCNAME(i) {
			return []string{"A", "CNAME"}
		}
		t := []string{"A"}
		if hasAAAA(i) {
			t = append(t, "AAAA")
		}
		switch i % 6 {
		case 0:
			t = append(t, "TXT")
		case 1:
			t = append(t, "MX")
		}
		return t
	}
	files := []struct {
		name string
		line func(w *bufio.Writer)
	}{
		{"q-exist.txt", func(w *bufio.Writer) {
			i := g.rnd.IntN(g.names - 1)
			t := types(i)
			fmt.Fprintf(w, "h%d.%s %s\n", i, origin, t[g.rnd.IntN(len(t))])
		}},
		{"q-nx.txt", func(w *bufio.Writer) {
			fmt.Fprintf(w, "x%d.%s A\n", g.rnd.Uint32(), origin)
		}},
		{"q-wild.txt", func(w *bufio.Writer) {
			fmt.Fprintf(w, "q%d.w%d.%s A\n", g.rnd.Uint32(), g.rnd.IntN(g.wild), origin)
		}},
		{"q-svc.txt", func(w *bufio.Writer) {
			fmt.Fprintf(w, "svc.%s A\n", origin)
		}},
	}
	for _, f := range files {
		if err := g.write(f.name, func(w *bufio.Writer) {
			for range n {
				f.line(w)
			}
		}); err != nil {
			return err
		}
	}
	return nil
}

func (g *gen) ecs(addrs []netip.Addr) error {
	return g.write("ecs.txt", func(w *bufio.Writer) {
		for _, a := range addrs {
			b := a.As4()
			fmt.Fprintf(w, "%s 8:00012000%02x%02x%02x%02x\n", a, b[0], b[1], b[2], b[3])
		}
	})
}

func (g *gen) config(cityDB string) error {
	return g.write("godwit.toml", func(w *bufio.Writer) {
		fmt.Fprintf(w, `# Generated by testdata/bench/large/gen. run.sh overrides the listeners.
[server]
listen = ["127.0.0.1:15400"]
max_udp_size = 1232

[status]
listen = "127.0.0.1:0"

[zones]
dir = "zones"

[routes]
file = "routes.txt"

[geo]
city_db = %q
use_ecs = true

[[datacenter]]
name = "ams"
location = [52.37, 4.90]
asn = [65001]

[[datacenter]]
name = "iad"
location = [39.04, -77.49]
asn = [65002]

[[datacenter]]
name = "sin"
location = [1.35, 103.82]
asn = [65003]

[[service]]
name = "svc.%s"
policy = "routes"
fallback = "geo"
answers = 1
ttl = 30

  [[service.target]]
  datacenter = "ams"
  addresses = ["192.0.2.10"]

  [[service.target]]
  datacenter = "iad"
  addresses = ["192.0.2.20"]

  [[service.target]]
  datacenter = "sin"
  addresses = ["192.0.2.30"]
`, cityDB, origin)
	})
}
