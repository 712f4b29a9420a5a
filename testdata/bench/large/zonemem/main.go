// Command zonemem measures what a large zone costs in memory and time:
// zones.LoadFile then zones.NewSet, the live heap after a GC, the process
// RSS, and a reload (a second generation built while the first is live,
// then the first dropped), with RSS 60 s after it. Use on the output of
// ../gen:
//
//	go run ./testdata/bench/large/zonemem -zone DIR/zones/big.test.zone [-memprofile FILE] [-wait 60s]
package main

import (
	"bufio"
	"flag"
	"fmt"
	"os"
	"runtime"
	"runtime/debug"
	"runtime/pprof"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	mdns "github.com/miekg/dns"

	"github.com/godwit-dns/godwit/zones"
)

func main() {
	zone := flag.String("zone", "", "zone file written by gen")
	memProfile := flag.String("memprofile", "", "write an in-use heap profile after the first load")
	cpuProfile := flag.String("cpuprofile", "", "write a CPU profile of the first load")
	allocProfile := flag.String("allocprofile", "", "write an allocation profile (alloc_space) of the first load")
	wait := flag.Duration("wait", 0, "after the reload, wait this long and report RSS again")
	flag.Parse()
	if *zone == "" {
		fmt.Fprintln(os.Stderr, "usage: zonemem -zone FILE [-memprofile FILE] [-wait 60s]")
		os.Exit(2)
	}
	profCPU, profAlloc = *cpuProfile, *allocProfile
	if err := run(*zone, *memProfile, *wait); err != nil {
		fmt.Fprintln(os.Stderr, "zonemem:", err)
		os.Exit(1)
	}
}

// profCPU and profAlloc name the profiles of the first load, if any.
var profCPU, profAlloc string

// generation is what the server keeps per generation: the Zones (a reload
// rebuilds the Set from those of unchanged files) and the Set.
type generation struct {
	zones []*zones.Zone
	set   *zones.Set
}

// load builds one generation.
func load(path string) (*generation, error) {
	z, err := zones.LoadFile(path)
	if err != nil {
		return nil, err
	}
	zs := []*zones.Zone{z}
	s, err := zones.NewSet(zs, nil)
	if err != nil {
		return nil, err
	}
	return &generation{zs, s}, nil
}

func run(path, memProfile string, wait time.Duration) error {
	var cur atomic.Pointer[generation]
	peak := startPeak()
	if profCPU != "" {
		f, err := os.Create(profCPU)
		if err != nil {
			return err
		}
		if err := pprof.StartCPUProfile(f); err != nil {
			return err
		}
	}
	t0 := time.Now()
	s, err := load(path)
	if err != nil {
		return err
	}
	if profCPU != "" {
		pprof.StopCPUProfile()
	}
	if profAlloc != "" {
		f, err := os.Create(profAlloc)
		if err != nil {
			return err
		}
		if err := pprof.Lookup("allocs").WriteTo(f, 0); err != nil {
			return err
		}
		f.Close()
	}
	cur.Store(s)
	d := time.Since(t0)
	if r := s.set.Lookup("h1.big.test.", mdns.TypeA); r.Rcode != mdns.RcodeSuccess || len(r.Answer) == 0 {
		return fmt.Errorf("h1.big.test. A: rcode %d, %d answers", r.Rcode, len(r.Answer))
	}
	report("load", d, peak)
	if memProfile != "" {
		f, err := os.Create(memProfile)
		if err != nil {
			return err
		}
		runtime.GC()
		if err := pprof.Lookup("heap").WriteTo(f, 0); err != nil {
			return err
		}
		f.Close()
	}

	before := rssKB()
	peak.reset()
	t0 = time.Now()
	s2, err := load(path)
	if err != nil {
		return err
	}
	cur.Store(s2) // the old generation is garbage from here
	d = time.Since(t0)
	s = nil
	fmt.Printf("reload: RSS before %d MiB, peak during %d MiB (%.2fx)\n", before>>10, peak.max()>>10, float64(peak.max())/float64(before))
	report("after reload", d, peak)
	if wait > 0 {
		time.Sleep(wait)
		fmt.Printf("after %v: RSS %d MiB (%.2fx the RSS before the reload)\n", wait, rssKB()>>10, float64(rssKB())/float64(before))
	}
	runtime.KeepAlive(cur.Load())
	return nil
}

func report(what string, d time.Duration, p *peakSampler) {
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	rssNoGC := rssKB()
	debug.FreeOSMemory() // as the server does after publishing
	runtime.ReadMemStats(&ms)
	fmt.Printf("%-13s %6.2f s  live heap %5.0f MiB  in use %5.0f MiB  objects %8d  RSS %5d MiB (%5d MiB freed)  peak RSS %5d MiB  total alloc %6.0f MiB\n",
		what, d.Seconds(), float64(ms.HeapAlloc)/(1<<20), float64(ms.HeapInuse)/(1<<20), ms.HeapObjects, rssNoGC>>10, rssKB()>>10, p.max()>>10, float64(ms.TotalAlloc)/(1<<20))
}

// rssKB is VmRSS from /proc/self/status.
func rssKB() int64 {
	f, err := os.Open("/proc/self/status")
	if err != nil {
		return 0
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "VmRSS:"); ok {
			n, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			return n
		}
	}
	return 0
}

// peakSampler samples RSS every 10 ms (VmHWM cannot be reset without
// writing /proc/self/clear_refs).
type peakSampler struct{ peak atomic.Int64 }

func startPeak() *peakSampler {
	p := &peakSampler{}
	go func() {
		for {
			if r := rssKB(); r > p.peak.Load() {
				p.peak.Store(r)
			}
			time.Sleep(10 * time.Millisecond)
		}
	}()
	return p
}

func (p *peakSampler) reset()     { p.peak.Store(rssKB()) }
func (p *peakSampler) max() int64 { return p.peak.Load() }
