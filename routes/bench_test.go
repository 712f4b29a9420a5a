package routes

import (
	"bufio"
	"fmt"
	"math/rand/v2"
	"net/netip"
	"os"
	"path/filepath"
	"runtime"
	"testing"
	"time"
)

// randomPrefixes returns n4 IPv4 and n6 IPv6 distinct random prefixes,
// mostly /24 and /48 like a real table, deterministically.
func randomPrefixes(n4, n6 int) []netip.Prefix {
	rng := rand.New(rand.NewPCG(1, 2))
	seen := make(map[netip.Prefix]bool, n4+n6)
	out := make([]netip.Prefix, 0, n4+n6)
	for len(out) < n4 {
		bits := 24
		if rng.IntN(10) < 4 {
			bits = 8 + rng.IntN(25)
		}
		var a [4]byte
		for i := range a {
			a[i] = byte(rng.Uint32())
		}
		p := netip.PrefixFrom(netip.AddrFrom4(a), bits).Masked()
		if !seen[p] {
			seen[p] = true
			out = append(out, p)
		}
	}
	for len(out) < n4+n6 {
		bits := 48
		if rng.IntN(10) < 4 {
			bits = 16 + rng.IntN(49)
		}
		var a [16]byte
		a[0] = 0x20 | byte(rng.IntN(16))
		for i := 1; i < 8; i++ {
			a[i] = byte(rng.Uint32())
		}
		p := netip.PrefixFrom(netip.AddrFrom16(a), bits).Masked()
		if !seen[p] {
			seen[p] = true
			out = append(out, p)
		}
	}
	return out
}

var benchDCs = []string{"ams", "fra", "iad", "sjc", "sin"}

func buildBig(pfx []netip.Prefix) *Table {
	t := NewTable(nil)
	for i, p := range pfx {
		t.insert(p, []Reach{{Datacenter: benchDCs[i%len(benchDCs)], PathLen: i % 7, Source: "bench"}})
	}
	t.finish()
	return t
}

// randomAddrs returns addresses inside random table prefixes (so most hit)
// mixed with fully random ones.
func randomAddrs(pfx []netip.Prefix, n int) []netip.Addr {
	rng := rand.New(rand.NewPCG(3, 4))
	out := make([]netip.Addr, n)
	for i := range out {
		p := pfx[rng.IntN(len(pfx))]
		b := p.Addr().AsSlice()
		for j := p.Bits() / 8; j < len(b); j++ {
			b[j] |= byte(rng.Uint32()) & (0xff >> max(0, p.Bits()-j*8))
		}
		a, _ := netip.AddrFromSlice(b)
		out[i] = a
	}
	return out
}

func BenchmarkLookup(b *testing.B) {
	pfx := randomPrefixes(1_000_000, 100_000)
	static := buildBig(pfx)
	// A BGP layer of 100k other prefixes, and 1k shared with static.
	bgpPfx := append(randomPrefixes(1_100_000, 0)[1_000_000:], pfx[:1000]...)
	bgpT := buildBig(bgpPfx)
	addrs := randomAddrs(pfx, 1<<16)
	for _, bc := range []struct {
		name string
		t    *Table
	}{{"1M+100k/one-layer", static}, {"1M+100k/combined", Combine(static, bgpT)}} {
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			hits := 0
			i := 0
			for b.Loop() {
				if _, ok := bc.t.Lookup(addrs[i&(len(addrs)-1)]); ok {
					hits++
				}
				i++
			}
			if hits == 0 {
				b.Fatal("no hits")
			}
		})
	}
}

func heapInUse() uint64 {
	runtime.GC()
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.HeapAlloc
}

// BenchmarkBuild measures building the 1M IPv4 + 100k IPv6 table and the
// heap it keeps.
func BenchmarkBuild(b *testing.B) {
	pfx := randomPrefixes(1_000_000, 100_000)
	b.ReportAllocs()
	var keep *Table
	before := heapInUse()
	for b.Loop() {
		keep = buildBig(pfx)
	}
	b.ReportMetric(float64(heapInUse()-before)/(1<<20), "heap-MiB")
	runtime.KeepAlive(keep)
}

// BenchmarkLoadFile measures LoadFile on a 1M-line file.
func BenchmarkLoadFile(b *testing.B) {
	pfx := randomPrefixes(1_000_000, 0)
	path := filepath.Join(b.TempDir(), "routes.txt")
	f, err := os.Create(path)
	if err != nil {
		b.Fatal(err)
	}
	w := bufio.NewWriter(f)
	for i, p := range pfx {
		fmt.Fprintf(w, "%s %s %d\n", p, benchDCs[i%3], i%7)
	}
	if err := w.Flush(); err != nil {
		b.Fatal(err)
	}
	f.Close()
	dcs := map[string]bool{"ams": true, "fra": true, "iad": true}
	var keep *Table
	before := heapInUse()
	for b.Loop() {
		if keep, err = LoadFile(path, nil, dcs); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(heapInUse()-before)/(1<<20), "heap-MiB")
	runtime.KeepAlive(keep)
}

// BenchmarkRIBPublish compares, on a 1M-route RIB fed by 2 peers, publishing a
// batch of k changes with persistent updates against a full rebuild: the basis
// of persistRatio.
func BenchmarkRIBPublish(b *testing.B) {
	pfx := randomPrefixes(1_000_000, 0)
	pa := &peerInfo{addr: netip.MustParseAddr("127.0.0.2"), cfg: PeerConfig{Datacenter: "ams"}, src: "bgp 127.0.0.2"}
	pb := &peerInfo{addr: netip.MustParseAddr("127.0.0.3"), cfg: PeerConfig{Datacenter: "fra"}, src: "bgp 127.0.0.3"}
	r := newRIB()
	start := time.Now()
	for i, p := range pfx {
		r.update(pa, p, 1+i%5)
		if i%2 == 0 {
			r.update(pb, p, 1+i%3)
		}
	}
	r.publish()
	b.Logf("initial 1M-prefix RIB (1.5M paths) + publish: %v", time.Since(start))
	before := heapInUse()
	for _, k := range []int{100, 1000, 7_800, 31_250} {
		for _, mode := range []string{"persist", "rebuild"} {
			b.Run(fmt.Sprintf("k=%d/%s", k, mode), func(b *testing.B) {
				b.ReportAllocs()
				i := 0
				for b.Loop() {
					for j := 0; j < k; j++ {
						r.update(pb, pfx[(i*k+j)%len(pfx)], 2+i%2)
					}
					if mode == "rebuild" {
						r.tbl = nil
					}
					r.publish()
					i++
				}
			})
		}
	}
	b.Logf("RIB + published table heap: %.0f MiB", float64(before)/(1<<20))
}
