package zones

import (
	"runtime/debug"
	"sync"
	"sync/atomic"
)

// A large zone file is parsed with the garbage collector running more
// often: miekg/dns's parser allocates about five times the loaded zone in
// short-lived garbage, and with the default GOGC=100 the heap peaks at
// twice the live data, which sets the process RSS for good (the Go
// runtime returns freed pages slowly). Collecting at largeLoadGCPercent
// keeps the peak near the live data, at the cost of more GC CPU during
// the load (measured on the 1M-record bench zone: see
// testdata/bench/large/zonemem). The setting is process-wide, so while a
// large file loads the server's other goroutines also collect more often;
// it is restored when the last concurrent large load ends, and the memory
// the parse freed is then returned to the OS at once. A GOGC the operator
// set lower than this (or off) is left alone.
const (
	largeLoadBytes     = 8 << 20 // zone files at least this large
	largeLoadGCPercent = 50
)

// largeLoads counts the large loads finished in this process, for
// LargeLoads.
var largeLoads atomic.Uint64

// LargeLoads returns how many large zone files (largeLoadBytes or more)
// this process has loaded. A caller that publishes a new generation and
// sees the count changed since its last publication knows that the
// generation it dropped holds a large zone, and can hand that memory back
// to the OS once nothing reads it (debug.FreeOSMemory): the Go runtime
// otherwise keeps the freed heap for minutes, and the process's RSS stays
// at both generations' size long after a reload.
func LargeLoads() uint64 { return largeLoads.Load() }

var gcLoad struct {
	sync.Mutex
	active int // large loads running
	prev   int // the GC percent to restore after the last one
}

// lowerGCForLoad lowers the GC percent for a load of n bytes and returns
// the function that restores it.
func lowerGCForLoad(n int) (restore func()) {
	if n < largeLoadBytes {
		return func() {}
	}
	gcLoad.Lock()
	if gcLoad.active == 0 {
		gcLoad.prev = debug.SetGCPercent(largeLoadGCPercent)
		if gcLoad.prev < largeLoadGCPercent { // -1: off
			debug.SetGCPercent(gcLoad.prev) // the operator's is lower, or GC is off
		}
	}
	gcLoad.active++
	gcLoad.Unlock()
	return func() {
		largeLoads.Add(1)
		gcLoad.Lock()
		gcLoad.active--
		if gcLoad.active == 0 {
			debug.SetGCPercent(gcLoad.prev)
			// What the parse freed goes back to the OS now, not
			// minutes later: a forced GC (about 0.1 s at 1M records).
			debug.FreeOSMemory()
		}
		gcLoad.Unlock()
	}
}
