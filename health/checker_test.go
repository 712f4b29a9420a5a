package health

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/godwit-dns/godwit/internal/testsupport"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
)

var (
	ip1 = netip.MustParseAddr("192.0.2.1")
	ip2 = netip.MustParseAddr("192.0.2.2")
	ip3 = netip.MustParseAddr("2001:db8::3")
)

func tcpCheck(name string) CheckConfig {
	return CheckConfig{Name: name, Type: TypeTCP, Port: 9, Interval: Duration(10 * time.Second), Timeout: Duration(time.Second), Rise: 2, Fall: 3}
}

// fakeClock is a settable clock for Checker.now.
type fakeClock struct{ t time.Time }

func (f *fakeClock) now() time.Time { return f.t }

func newTestChecker(t *testing.T) (*Checker, *fakeClock) {
	t.Helper()
	clk := &fakeClock{t: time.Unix(1_000_000, 0)}
	c := New(nil, prometheus.NewRegistry(), nil)
	c.now = clk.now
	return c, clk
}

func (c *Checker) probeFor(t *testing.T, check string, addr netip.Addr) *probe {
	t.Helper()
	c.mu.Lock()
	defer c.mu.Unlock()
	p := c.probes[probeKey{check, addr}]
	if p == nil {
		t.Fatalf("no probe for %s %s", check, addr)
	}
	return p
}

// TestStateThroughView feeds fake results with a fake clock and checks what
// queries see, Settle included. Every probe is followed by a wait of exactly
// the interval (10s); the shortest jittered interval is 9s.
func TestStateThroughView(t *testing.T) {
	c, clk := newTestChecker(t)
	if err := c.Update([]CheckConfig{tcpCheck("web")}, []Target{{Check: "web", Datacenter: "ams", Addr: ip1}}, ""); err != nil {
		t.Fatal(err)
	}
	p := c.probeFor(t, "web", ip1)
	fail := errors.New("refused")
	const iv = 10 * time.Second
	steps := []struct {
		err     error
		advance time.Duration // clock moves by this before the result
		at      time.Duration // lookup this long after the result
		want    Status
	}{
		// Unknown: up, and in doubt until the first result.
		{nil, 0, 0, Status{Up: true}}, // first result: up at once, stable
		{fail, iv, time.Second, Status{Up: true, Settle: 9*time.Second + 9*time.Second}}, // 1/3: next probe in 9s, one more 9s later
		{fail, iv, 4 * time.Second, Status{Up: true, Settle: 6 * time.Second}},           // 2/3: only the next probe
		{fail, iv, 0, Status{Up: false, Settle: iv + 9*time.Second}},                     // 3/3: down; rise 2 needed
		{fail, iv, 2 * time.Second, Status{Up: false, Settle: 8*time.Second + 9*time.Second}},
		{nil, iv, 0, Status{Up: false, Settle: iv}},                  // 1/2
		{fail, iv, 0, Status{Up: false, Settle: iv + 9*time.Second}}, // streak broken
		{nil, iv, 0, Status{Up: false, Settle: iv}},
		{nil, iv, 0, Status{Up: true}}, // 2/2: up, stable
		{nil, iv, 0, Status{Up: true}},
	}
	for i, s := range steps {
		clk.t = clk.t.Add(s.advance)
		c.record(p, s.err, time.Millisecond, iv)
		got := c.View().LookupAt("web", "ams", ip1, clk.t.Add(s.at))
		if got != s.want {
			t.Fatalf("step %d: %+v, want %+v", i, got, s.want)
		}
	}
	info := c.Probes()
	if len(info) != 1 || info[0].State != StateUp || info[0].Successes != 3 || info[0].Failures != 0 || !info[0].HasResult {
		t.Fatalf("Probes() = %+v", info)
	}
	if got := counterValue(t, c, "godwit_health_transitions_total", "web"); got != 2 {
		t.Fatalf("transitions = %v, want 2 (the first result is not a transition)", got)
	}
}

func TestFirstResultDown(t *testing.T) {
	c, _ := newTestChecker(t)
	if err := c.Update([]CheckConfig{tcpCheck("web")}, []Target{{Check: "web", Datacenter: "ams", Addr: ip1}}, ""); err != nil {
		t.Fatal(err)
	}
	now := c.now()
	if got := c.View().LookupAt("web", "ams", ip1, now); !got.Up || got.Settle != settleFloor {
		t.Fatalf("before the first result: %+v, want up and in doubt", got)
	}
	c.record(c.probeFor(t, "web", ip1), errors.New("refused"), 0, 10*time.Second)
	if got := c.View().LookupAt("web", "ams", ip1, now); got.Up {
		t.Fatalf("after one failure: %+v, want down at once", got)
	}
}

func TestUpdateDedupAndProbeAddr(t *testing.T) {
	c, _ := newTestChecker(t)
	probeIP := netip.MustParseAddr("10.1.1.1")
	targets := []Target{
		{Check: "web", Datacenter: "ams", Addr: ip1},
		{Check: "web", Datacenter: "fra", Addr: ip1},                     // same address in another datacenter
		{Check: "web", Datacenter: "ams", Addr: ip2, ProbeAddr: probeIP}, // probed elsewhere
		{Check: "web", Datacenter: "ams", Addr: ip3, ProbeAddr: probeIP}, // shares that probe
		{Check: "tcp", Datacenter: "ams", Addr: ip1},                     // another check: another probe
		{Check: "", Datacenter: "ams", Addr: netip.MustParseAddr("192.0.2.50")},
	}
	if err := c.Update([]CheckConfig{tcpCheck("web"), tcpCheck("tcp")}, targets, ""); err != nil {
		t.Fatal(err)
	}
	info := c.Probes()
	if len(info) != 3 {
		t.Fatalf("%d probes, want 3: %+v", len(info), info)
	}
	// Sorted by check, then address: tcp/ip1, web/10.1.1.1, web/ip1.
	if info[1].Addr != probeIP || len(info[1].Answers) != 2 || info[1].Answers[0] != ip2 || info[1].Answers[1] != ip3 {
		t.Fatalf("shared probe = %+v", info[1])
	}
	if got := strings.Join(info[2].Datacenters, ","); got != "ams,fra" {
		t.Fatalf("datacenters = %s", got)
	}
	// A failure of the shared probe takes down both answered addresses only.
	c.record(c.probeFor(t, "web", probeIP), errors.New("x"), 0, time.Second)
	v := c.View()
	for _, tc := range []struct {
		check string
		addr  netip.Addr
		up    bool
	}{{"web", ip2, false}, {"web", ip3, false}, {"web", ip1, true}, {"tcp", ip1, true}, {"web", probeIP, true}} {
		if got := v.Lookup(tc.check, "ams", tc.addr).Up; got != tc.up {
			t.Errorf("%s %s: up = %v, want %v", tc.check, tc.addr, got, tc.up)
		}
	}
}

func TestUpdateErrors(t *testing.T) {
	tests := []struct {
		name    string
		checks  []CheckConfig
		targets []Target
		want    string
	}{
		{"unknown check", []CheckConfig{tcpCheck("web")}, []Target{{Check: "nope", Datacenter: "ams", Addr: ip1}}, `unknown check "nope"`},
		{"no address", []CheckConfig{tcpCheck("web")}, []Target{{Check: "web", Datacenter: "ams"}}, "no address"},
		{"two probe addresses", []CheckConfig{tcpCheck("web")}, []Target{
			{Check: "web", Datacenter: "ams", Addr: ip1, ProbeAddr: ip2},
			{Check: "web", Datacenter: "fra", Addr: ip1},
		}, "probed at both"},
		{"bad check", []CheckConfig{{Name: "x", Type: "ping"}}, nil, `check "x": type`},
		{"duplicate check", []CheckConfig{tcpCheck("web"), tcpCheck("web")}, nil, "defined twice"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, _ := newTestChecker(t)
			good := []Target{{Check: "web", Datacenter: "ams", Addr: ip1}}
			if err := c.Update([]CheckConfig{tcpCheck("web")}, good, ""); err != nil {
				t.Fatal(err)
			}
			c.record(c.probeFor(t, "web", ip1), errors.New("x"), 0, time.Second)
			err := c.Update(tt.checks, tt.targets, "")
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("got %v, want %q", err, tt.want)
			}
			if c.View().Lookup("web", "ams", ip1).Up || len(c.Probes()) != 1 {
				t.Fatal("a failed Update changed the state")
			}
		})
	}
}

func TestUpdateReconcile(t *testing.T) {
	c, _ := newTestChecker(t)
	web := tcpCheck("web")
	targets := []Target{{Check: "web", Datacenter: "ams", Addr: ip1}, {Check: "web", Datacenter: "ams", Addr: ip2}}
	if err := c.Update([]CheckConfig{web}, targets, ""); err != nil {
		t.Fatal(err)
	}
	p1, p2 := c.probeFor(t, "web", ip1), c.probeFor(t, "web", ip2)
	c.record(p1, errors.New("x"), 0, time.Second) // ip1 down
	c.record(p2, nil, 0, time.Second)             // ip2 up

	// Same config again: the same probes, the same state.
	if err := c.Update([]CheckConfig{web}, targets, ""); err != nil {
		t.Fatal(err)
	}
	if c.probeFor(t, "web", ip1) != p1 || c.probeFor(t, "web", ip2) != p2 {
		t.Fatal("unchanged probes were replaced")
	}
	if c.View().Lookup("web", "ams", ip1).Up || !c.View().Lookup("web", "ams", ip2).Up {
		t.Fatal("unchanged update lost the state")
	}

	// A changed check restarts its probes: they keep their state until the
	// first new result, which decides directly.
	web.Port = 10
	if err := c.Update([]CheckConfig{web}, targets[:1], ""); err != nil {
		t.Fatal(err)
	}
	n1 := c.probeFor(t, "web", ip1)
	if n1 == p1 || !p1.stale || !p2.stale {
		t.Fatal("changed probe not replaced or removed probe not stopped")
	}
	if c.View().Lookup("web", "ams", ip1).Up {
		t.Fatal("restarted probe forgot it was down")
	}
	if len(c.Probes()) != 1 || !c.View().Lookup("web", "ams", ip2).Up {
		t.Fatal("removed target still probed or not up")
	}
	c.record(p1, nil, 0, time.Second) // a late result of the old probe is dropped
	if c.View().Lookup("web", "ams", ip1).Up {
		t.Fatal("stale probe result was recorded")
	}
	c.record(n1, nil, 0, time.Second) // one success decides
	if !c.View().Lookup("web", "ams", ip1).Up {
		t.Fatal("first result after restart did not decide")
	}
}

// counterValue reads one labelled counter or gauge from the Checker's registry.
func counterValue(t *testing.T, c *Checker, name string, labels ...string) float64 {
	t.Helper()
	var m dto.Metric
	var err error
	switch name {
	case "godwit_health_transitions_total":
		err = c.met.transitions.WithLabelValues(labels...).Write(&m)
		return m.GetCounter().GetValue()
	case "godwit_health_probes_total":
		err = c.met.probes.WithLabelValues(labels...).Write(&m)
		return m.GetCounter().GetValue()
	case "godwit_health_up":
		err = c.met.up.WithLabelValues(labels...).Write(&m)
	case "godwit_health_state":
		err = c.met.state.WithLabelValues(labels...).Write(&m)
	}
	if err != nil {
		t.Fatal(err)
	}
	return m.GetGauge().GetValue()
}

// waitFor polls cond until it holds or the deadline passes.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	testsupport.WaitFor(t, what, 5*time.Second, cond)
}

func TestCheckerIntegration(t *testing.T) {
	var healthy atomic.Bool
	healthy.Store(true)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !healthy.Load() {
			w.WriteHeader(http.StatusServiceUnavailable)
		}
	}))
	t.Cleanup(srv.Close)
	port := portOf(t, srv.Listener.Addr().String())

	reg := prometheus.NewRegistry()
	var changes atomic.Int32
	c := New(nil, reg, func() { changes.Add(1) })
	dead := netip.MustParseAddr("127.0.0.2") // nothing listens there: refused
	check := CheckConfig{Name: "web", Type: TypeHTTP, Port: port, Interval: Duration(100 * time.Millisecond), Timeout: Duration(80 * time.Millisecond), Rise: 2, Fall: 2}
	targets := []Target{
		{Check: "web", Datacenter: "ams", Addr: ip1, ProbeAddr: loopback},
		{Check: "web", Datacenter: "iad", Addr: ip2, ProbeAddr: dead},
	}
	if err := c.Update([]CheckConfig{check}, targets, ""); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	c.Start(ctx)
	t.Cleanup(c.Stop)

	start := time.Now()
	if err := c.WaitFirstRound(ctx); err != nil {
		t.Fatal(err)
	}
	if el := time.Since(start); el > check.Timeout.D()+firstRoundSlack {
		t.Fatalf("WaitFirstRound took %v", el)
	}
	for _, p := range c.Probes() {
		if !p.HasResult {
			t.Fatalf("WaitFirstRound returned before %s had a result", p.Addr)
		}
	}
	v := c.View()
	if !v.Lookup("web", "ams", ip1).Up || v.Lookup("web", "iad", ip2).Up {
		t.Fatalf("after the first round: ams %+v iad %+v", v.Lookup("web", "ams", ip1), v.Lookup("web", "iad", ip2))
	}
	if s := v.Lookup("web", "iad", ip2).Settle; s <= 0 || s > 2*check.Interval.D() {
		t.Fatalf("down target Settle = %v", s)
	}

	healthy.Store(false)
	waitFor(t, "ams to go down", func() bool { return !c.View().Lookup("web", "ams", ip1).Up })
	healthy.Store(true)
	waitFor(t, "ams to come back", func() bool { return c.View().Lookup("web", "ams", ip1).Up })

	if changes.Load() < 3 {
		t.Errorf("onChange called %d times, want at least 3", changes.Load())
	}
	if got := counterValue(t, c, "godwit_health_transitions_total", "web"); got != 2 {
		t.Errorf("transitions = %v, want 2", got)
	}
	if got := counterValue(t, c, "godwit_health_up", "web"); got != 1 {
		t.Errorf("godwit_health_up{web} = %v, want 1", got)
	}
	if got := counterValue(t, c, "godwit_health_state", "web", "127.0.0.2"); got != 0 {
		t.Errorf("godwit_health_state{web,127.0.0.2} = %v, want 0", got)
	}
	if got := counterValue(t, c, "godwit_health_probes_total", "http", "fail"); got < 3 {
		t.Errorf("failed probes = %v", got)
	}
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	names := map[string]bool{}
	for _, mf := range mfs {
		names[mf.GetName()] = true
	}
	for _, n := range []string{"godwit_health_probes_total", "godwit_health_probe_duration_seconds", "godwit_health_up", "godwit_health_state", "godwit_health_transitions_total"} {
		if !names[n] {
			t.Errorf("metric %s not registered", n)
		}
	}

	// A reload that drops the dead target stops its probe and its metric.
	if err := c.Update([]CheckConfig{check}, targets[:1], ""); err != nil {
		t.Fatal(err)
	}
	if len(c.Probes()) != 1 || !c.View().Lookup("web", "iad", ip2).Up {
		t.Fatal("removed target is still judged")
	}
	stopped := make(chan struct{})
	go func() { c.Stop(); close(stopped) }()
	select {
	case <-stopped:
	case <-time.After(2 * time.Second):
		t.Fatal("Stop did not return")
	}
}

func TestWaitFirstRoundBounded(t *testing.T) {
	port := silentServer(t)
	c := New(nil, nil, nil)
	check := CheckConfig{Name: "slow", Type: TypeHTTP, Port: port, Interval: Duration(time.Second), Timeout: Duration(200 * time.Millisecond)}
	if err := c.Update([]CheckConfig{check}, []Target{{Check: "slow", Datacenter: "ams", Addr: loopback}}, ""); err != nil {
		t.Fatal(err)
	}
	// Not started: no result ever comes; the wait is bounded by the timeout.
	start := time.Now()
	if err := c.WaitFirstRound(context.Background()); err != nil {
		t.Fatal(err)
	}
	if el := time.Since(start); el < 200*time.Millisecond || el > time.Second {
		t.Fatalf("WaitFirstRound took %v", el)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := c.WaitFirstRound(ctx); !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled wait: %v", err)
	}
}
