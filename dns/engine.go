package dns

import (
	"runtime"
	"sync"
	"sync/atomic"
)

// The packet engine (engine_linux.go) serves a UDP socket from a dedicated
// goroutine that sleeps in recvmmsg issued as a raw system call, and so
// occupies one OS thread of its own ("engine thread" below). A
// raw system call does not tell the Go scheduler that the thread is
// blocked, so that thread keeps its P (the runtime's permission to run Go
// code) while it waits for datagrams. With GOMAXPROCS = n, n engine threads
// waiting at once would leave nothing for timers, health probes, the status
// server, TCP, BGP and the garbage collector's workers until a datagram or
// the receive timeout woke one of them.
//
// The rule: a process runs at most GOMAXPROCS-1 engine threads, counted
// over every Server in it, so that at least one P always stays with the
// rest of the program. Sockets beyond that budget are served by the
// portable read loop. With GOMAXPROCS = 1 (one CPU, or a process pinned to
// one CPU) there is no engine thread at all; `godwit serve` raises GOMAXPROCS
// to 2 in that case (cmd/godwit engineProcs): the thread's P costs no CPU
// while the thread sleeps in the kernel.
//
// Preemption and stop-the-world reach an engine thread by signal: every
// engine socket has a receive timeout (SO_RCVTIMEO), with which Linux ends
// recvmmsg with EINTR on a signal instead of restarting it (signal(7)), so
// the thread returns to Go code, where the runtime can stop it. The timeout
// also bounds how long Shutdown waits for an idle thread (shutdown(2) wakes
// it at once in practice).
//
// GOMAXPROCS can be lowered after the engine started (runtime.GOMAXPROCS,
// testing.AllocsPerRun, a container's CPU limit read again by the
// runtime). Each engine thread checks the rule every 64 receives and when
// idle (a receive timeout or signal); while it does not hold, the threads
// receive with an ordinary system call, which hands the P back to the
// scheduler while the thread sleeps (slower: the P moves on every batch,
// but nothing starves).

// engineBudget counts the engine threads running in the process.
var engineBudget struct {
	mu sync.Mutex
	n  int
}

// engineThreads is engineBudget.n, for engineRawOK to read without the lock.
var engineThreads atomic.Int64

// engineRawOK reports whether the engine threads may wait in raw system
// calls now: the rule holds with the current GOMAXPROCS.
func engineRawOK() bool {
	return int(engineThreads.Load()) <= runtime.GOMAXPROCS(0)-1
}

// reserveEngineThreads reserves up to want engine threads under the rule
// above and returns how many it got (0 without engine support).
func reserveEngineThreads(want int) int {
	if !engineSupported || want <= 0 {
		return 0
	}
	engineBudget.mu.Lock()
	defer engineBudget.mu.Unlock()
	got := min(want, max(runtime.GOMAXPROCS(0)-1-engineBudget.n, 0))
	engineBudget.n += got
	engineThreads.Store(int64(engineBudget.n))
	return got
}

// releaseEngineThreads returns n reserved threads to the budget.
func releaseEngineThreads(n int) {
	if n == 0 {
		return
	}
	engineBudget.mu.Lock()
	engineBudget.n -= n
	engineThreads.Store(int64(engineBudget.n))
	engineBudget.mu.Unlock()
}

// spreadEngine splits total engine threads over addrs listen addresses,
// round robin, at most perAddr each.
func spreadEngine(total, addrs, perAddr int) []int {
	out := make([]int, addrs)
	for total > 0 {
		gave := false
		for i := range out {
			if total > 0 && out[i] < perAddr {
				out[i]++
				total--
				gave = true
			}
		}
		if !gave {
			break
		}
	}
	return out
}
