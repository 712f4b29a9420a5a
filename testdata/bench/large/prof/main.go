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
	"runtime/debug"
	"runtime/metrics"
	"runtime/pprof"
	"sync"
	"sync/atomic"
	"time"

	"github.com/godwit-dns/godwit/routes"
	"github.com/godwit-dns/godwit/zones"
)

func main() {
	dir := flag.String("dir", "", "directory written by gen (zones/, routes.txt)")
	cpuProfile := flag.String("cpuprofile", "", "write a CPU profile here")
	memProfile := flag.String("memprofile", "", "write a heap profile (all allocations) here")
	flag.BoolVar(&reload, "reload", false, "then load the zones again with the first ones kept, as a reload does, and report the peak heap and where it came")
	flag.Float64Var(&limitX, "limit", 0, "with -reload: a memory limit of this many times what the runtime holds before it")
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
	if reload {
		reloadPeak(dir)
	}
	runtime.KeepAlive(keep)
	return nil
}

var (
	reload bool
	limitX float64
)

// reloadPeak loads the zones and builds their Set again while the first
// ones are live, sampling the heap every 2 ms: the peak of the heap's
// objects (live and not yet collected) and of the memory the runtime
// holds from the OS, and the step each came in.
func reloadPeak(dir string) {
	samples := []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}, {Name: "/memory/classes/total:bytes"}, {Name: "/memory/classes/heap/released:bytes"}}
	read := func() (objects, held uint64) {
		metrics.Read(samples)
		return samples[0].Value.Uint64(), samples[1].Value.Uint64() - samples[2].Value.Uint64()
	}
	debug.FreeOSMemory()
	objects0, held0 := read()
	var (
		phase       atomic.Value
		mu          sync.Mutex
		peakObjects uint64
		peakHeld    uint64
		atObjects   string
		atHeld      string
	)
	phase.Store("start")
	done := make(chan struct{})
	go func() {
		t := time.NewTicker(2 * time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-t.C:
			}
			o, h := read()
			p := phase.Load().(string)
			mu.Lock()
			if o > peakObjects {
				peakObjects, atObjects = o, p
			}
			if h > peakHeld {
				peakHeld, atHeld = h, p
			}
			mu.Unlock()
		}
	}()
	if limitX > 0 {
		debug.SetMemoryLimit(int64(float64(held0) * limitX))
	}
	phase.Store("zones.LoadDir")
	zs, err := zones.LoadDir(filepath.Join(dir, "zones"))
	if err != nil {
		fmt.Fprintln(os.Stderr, "prof:", err)
		return
	}
	phase.Store("zones.NewSet")
	set, err := zones.NewSet(zs, nil)
	phase.Store("after")
	time.Sleep(20 * time.Millisecond)
	close(done)
	mu.Lock()
	defer mu.Unlock()
	mib := func(b uint64) float64 { return float64(b) / (1 << 20) }
	fmt.Printf("reload: before: heap objects %.0f MiB, held from the OS %.0f MiB\n", mib(objects0), mib(held0))
	fmt.Printf("reload: peak heap objects %.0f MiB (%.2fx) in %s; peak held %.0f MiB (%.2fx) in %s\n",
		mib(peakObjects), float64(peakObjects)/float64(objects0), atObjects, mib(peakHeld), float64(peakHeld)/float64(held0), atHeld)
	runtime.KeepAlive(set)
}
