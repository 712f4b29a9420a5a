// Package testsupport holds the helpers that tests in several packages
// share: a goroutine-safe buffer for a process's output, a free port,
// polling for a condition, a Debian tool the test drives, a counter's
// value, a query. It is imported by tests only.
package testsupport

import (
	"net"
	"net/netip"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	mdns "github.com/miekg/dns"
	dto "github.com/prometheus/client_model/go"
)

// LockedBuffer is a strings.Builder safe for one writer (a process's
// output, a logger) and concurrent readers.
type LockedBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (l *LockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *LockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// FreePort returns a TCP port that is free on host right now. The caller
// binds it soon after; another process could take it in between, so use
// it only for programs that take their ports from config files (BIRD,
// NSD, a BGP speaker), never where a listener can bind port 0.
func FreePort(t testing.TB, host string) int {
	t.Helper()
	l, err := net.Listen("tcp", net.JoinHostPort(host, "0"))
	if err != nil {
		t.Fatalf("no free port on %s: %v", host, err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// WaitFor polls cond every few milliseconds until it holds, and fails the
// test when it does not within d. It returns how long that took. Use it
// where the thing awaited gives no signal of its own.
func WaitFor(t testing.TB, what string, d time.Duration, cond func() bool) time.Duration {
	t.Helper()
	start := time.Now()
	for deadline := start.Add(d); ; {
		if cond() {
			return time.Since(start)
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: not seen within %s", what, d)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// NeedTool returns the path of a program the test drives. When it is
// missing the test is skipped, or fails under GODWIT_ACCEPTANCE (make test
// installs every tool, so a missing one there is a broken install).
func NeedTool(t testing.TB, name string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		if os.Getenv("GODWIT_ACCEPTANCE") != "" {
			t.Fatalf("%s is not installed (make tools installs it)", name)
		}
		t.Skipf("%s is not installed; run `make test` to install it", name)
	}
	return p
}

// CounterValue reads a Prometheus counter (or a child of a vector); -1
// when it cannot be read.
func CounterValue(c interface{ Write(*dto.Metric) error }) float64 {
	var m dto.Metric
	if err := c.Write(&m); err != nil {
		return -1
	}
	return m.GetCounter().GetValue()
}

// Query is an A or AAAA (or any qtype) question for name; with ecs (an
// IPv4 address) it carries EDNS with a /32 Client Subnet option.
func Query(name string, qtype uint16, ecs string) *mdns.Msg {
	m := new(mdns.Msg)
	m.SetQuestion(name, qtype)
	if ecs != "" {
		a := netip.MustParseAddr(ecs)
		m.SetEdns0(1232, false)
		m.IsEdns0().Option = append(m.IsEdns0().Option, &mdns.EDNS0_SUBNET{
			Code: mdns.EDNS0SUBNET, Family: 1, SourceNetmask: 32, Address: a.AsSlice()})
	}
	return m
}
