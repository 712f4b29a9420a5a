package zones

import (
	"runtime/debug"
	"sync"
	"sync/atomic"
)

// A large zone file is parsed with the garbage collector's percent at
// most largeLoadGCPercent: miekg/dns's parser allocates about five times
// the loaded zone in short-lived garbage. (fastParse, which reads almost
// every large zone now, allocates little besides the zone itself; the
// bound matters for files it leaves to the miekg parser.) The percent was 50 until the
// server returned freed memory after publishing a generation (server's
// publish, LargeLoads): at 50 the 1M-record bench zone loaded in 7.8-8.1 s
// against 6.0 s at 100, for a start-up peak 5% lower and the same reload
// peak (testdata/bench/large/zonemem, 2 runs each on a loaded machine), so
// it is now the default, and only an operator's higher GOGC is lowered for
// the load. The setting is process-wide; it is restored when the last
// concurrent large load ends, and the memory the parse freed is then
// returned to the OS at once. A GOGC the operator set lower (or off) is
// left alone.
const (
	largeLoadBytes     = 8 << 20 // zone files at least this large
	largeLoadGCPercent = 100
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
