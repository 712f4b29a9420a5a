//go:build linux

package status

import (
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestFloodCPU measures the CPU the status server spends under a flood of
// unauthenticated requests from another process. It runs only with
// GODWIT_FLOOD=path-to-a-flood-binary (args: base URL, rate, duration).
func TestFloodCPU(t *testing.T) {
	bin := os.Getenv("GODWIT_FLOOD")
	if bin == "" {
		t.Skip("set GODWIT_FLOOD to a load generator to measure")
	}
	for _, rl := range []int{DefaultRateLimit, 100000} {
		s := New(Config{Listen: "127.0.0.1:0", RateLimit: rl}, newFake(t), nil, nil)
		addr := startServer(t, s)
		var before, after syscall.Rusage
		_ = syscall.Getrusage(syscall.RUSAGE_SELF, &before)
		start := time.Now()
		out, err := exec.Command(bin, "http://"+addr, "800", "10s").CombinedOutput()
		wall := time.Since(start)
		_ = syscall.Getrusage(syscall.RUSAGE_SELF, &after)
		if err != nil {
			t.Fatalf("%v: %s", err, out)
		}
		cpu := time.Duration(after.Utime.Nano()+after.Stime.Nano()-before.Utime.Nano()-before.Stime.Nano()) * time.Nanosecond
		t.Logf("rate_limit %d: %s  server CPU %v over %v = %.1f%% of one core", rl, strings.TrimSpace(string(out)), cpu.Round(time.Millisecond), wall.Round(time.Millisecond), 100*cpu.Seconds()/wall.Seconds())
		_ = s.Shutdown(t.Context())
	}
}
