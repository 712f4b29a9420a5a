// Command prof times and profiles the three loads behind a large start-up:
// zones.LoadDir, zones.NewSet and routes.LoadFile, one after the other, with
// the heap retained after each (after a GC) and optional CPU and heap
// profiles covering all three. Use on the output of ../gen:
//
//	go run ./testdata/bench/large/prof -dir DIR -cpuprofile cpu.out -memprofile mem.out
//	go tool pprof -top -nodecount 25 cpu.out
//	go tool pprof -top -sample_index=alloc_space mem.out
package main

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"time"

	"github.com/godwit-dns/godwit/routes"
	"github.com/godwit-dns/godwit/zones"
)

func main() {
	dir := flag.String("dir", "", "directory written by gen (zones/, routes.txt)")
	cpuProfile := flag.String("cpuprofile", "", "write a CPU profile here")
	memProfile := flag.String("memprofile", "", "write a heap profile (all allocations) here")
	flag.Parse()
	if *dir == "" {
		fmt.Fprintln(os.Stderr, "usage: prof -dir DIR [-cpuprofile FILE] [-memprofile FILE]")
		os.Exit(2)
	}
	if err := run(*dir, *cpuProfile, *memProfile); err != nil {
		fmt.Fprintln(os.Stderr, "prof:", err)
		os.Exit(1)
	}
}

func run(dir, cpuProfile, memProfile string) error {
	runtime.MemProfileRate = 64 << 10
	if cpuProfile != "" {
		f, err := os.Create(cpuProfile)
		if err != nil {
			return err
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			return err
		}
		defer pprof.StopCPUProfile()
	}
	var keep []any // what each step built stays live for the heap figures
	step := func(name string, f func() (any, error)) error {
		t0 := time.Now()
		v, err := f()
		if err != nil {
			return fmt.Errorf("%s: %w", name, err)
		}
		d := time.Since(t0)
		keep = append(keep, v)
		runtime.GC()
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		fmt.Printf("%-16s %8.2f s   heap live after %6.0f MiB   allocated so far %6.0f MiB\n",
			name, d.Seconds(), float64(ms.HeapAlloc)/(1<<20), float64(ms.TotalAlloc)/(1<<20))
		return nil
	}
	var zs []*zones.Zone
	if err := step("zones.LoadDir", func() (any, error) {
		var err error
		zs, err = zones.LoadDir(filepath.Join(dir, "zones"))
		return zs, err
	}); err != nil {
		return err
	}
	if err := step("zones.NewSet", func() (any, error) { return zones.NewSet(zs, nil) }); err != nil {
		return err
	}
	asn := map[uint32]string{65001: "ams", 65002: "iad", 65003: "sin"}
	dcs := map[string]bool{"ams": true, "iad": true, "sin": true}
	if err := step("routes.LoadFile", func() (any, error) {
		return routes.LoadFile(filepath.Join(dir, "routes.txt"), asn, dcs)
	}); err != nil {
		return err
	}
	if memProfile != "" {
		f, err := os.Create(memProfile)
		if err != nil {
			return err
		}
		defer f.Close()
		if err := pprof.Lookup("allocs").WriteTo(f, 0); err != nil {
			return err
		}
	}
	runtime.KeepAlive(keep)
	return nil
}
