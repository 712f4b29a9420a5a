package main

import (
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/godwit-dns/godwit/internal/testsupport"
)

// TestAcceptanceCluster is issue 18 end to end: a real nats-server on
// loopback, three godwit instances sharing one cluster, real HTTP backends
// on 127.0.0.x, dig watching every instance's answers.
// Config template: testdata/acceptance/cluster/godwit.toml.tmpl.
func TestAcceptanceCluster(t *testing.T) {
	testsupport.NeedTool(t, "dig")
	start := time.Now()
	testdata, err := filepath.Abs("../../testdata/acceptance")
	if err != nil {
		t.Fatal(err)
	}
	const (
		ams, iad = "127.0.0.41", "127.0.0.42"
		www      = "www.gslb.example.test"   // check web: the cluster's rule, quorum 2
		local    = "local.gslb.example.test" // check web-local: vote = "local"
		// interval 250ms × fall 2, jitter, the probe timeout, dig, a loaded machine.
		margin = 3 * time.Second
	)
	engine := startNATSServer(t)
	port, backends := startBackends(t, ams, iad)
	// The partitioned instance probes a port where only iad answers: its
	// path to ams is broken, the others' is not.
	cutPort, _ := startBackends(t, iad)

	names := []string{"ns1", "ns2", "ns3"}
	inst := map[string]*godwitProc{}
	for i, n := range names {
		p := port
		if n == "ns1" {
			p = cutPort
		}
		dir := filepath.Join(t.TempDir(), n)
		if err := os.Mkdir(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		cfg := filepath.Join(dir, "godwit.toml")
		renderTemplate(t, filepath.Join(testdata, "cluster", "godwit.toml.tmpl"), cfg, map[string]any{
			"Zones": filepath.Join(testdata, "health", "zones"), "NATS": engine.url(),
			"Site": []string{"ams", "iad", "sin"}[i], "Port": p, "Ams": ams, "Iad": iad,
		})
		inst[n] = startGodwit(t, "-config", cfg, "-nsid", n)
	}
	lead := func(s *godwitProc, name string) string {
		a := digAnswers(t, s, name)
		if len(a.addrs) != 1 {
			return strings.Join(a.addrs, ",")
		}
		return a.addrs[0]
	}
	// until polls every instance in who until each answers name with want;
	// it returns how long the last one took.
	until := func(what string, who []string, name, want string, timeout time.Duration) time.Duration {
		t.Helper()
		t0 := time.Now()
		pending := slices.Clone(who)
		for len(pending) > 0 {
			pending = slices.DeleteFunc(pending, func(n string) bool { return lead(inst[n], name) == want })
			if len(pending) == 0 {
				break
			}
			if time.Since(t0) > timeout {
				got := map[string]string{}
				for _, n := range who {
					got[n] = lead(inst[n], name)
				}
				t.Fatalf("%s: after %v, %s answer %v; want %s from each", what, timeout, name, got, want)
			}
			time.Sleep(10 * time.Millisecond) // poll interval, not a wait for a result
		}
		return time.Since(t0)
	}
	clusterOf := func(s *godwitProc) clusterView {
		var v clusterView
		statusGet(t, s, "/api/v1/status", &v)
		return v
	}
	reason := func(s *godwitProc, check, addr string) (string, []string) {
		for _, p := range clusterOf(s).Probes {
			if p.Check == check && p.Address == addr {
				var voters []string
				for _, v := range p.Votes {
					voters = append(voters, v.Instance+"="+v.State)
				}
				return p.Reason, voters
			}
		}
		return "", nil
	}
	all := names
	// waitReason polls s's reason for (check web, ams) until it is want.
	waitReason := func(what string, s *godwitProc, want string, nvotes int, timeout time.Duration) time.Duration {
		t.Helper()
		t0 := time.Now()
		for {
			r, voters := reason(s, "web", ams)
			if r == want && len(voters) == nvotes {
				return time.Since(t0)
			}
			if time.Since(t0) > timeout {
				t.Fatalf("%s: reason %q, votes %v after %v; want %q from %d vantage points", what, r, voters, timeout, want, nvotes)
			}
			time.Sleep(50 * time.Millisecond) // poll interval
		}
	}
	// The instances start one after the other: wait until the last one's
	// verdicts reached the first.
	dJoin := waitReason("three vantage points", inst["ns1"], "quorum 2 of 3: 1 sees it down", 3, margin)
	t.Logf("ns1 counts three vantage points %v after ns3 started serving", dJoin)

	// 1. Partition: ns1's probes of ams fail, ns2 and ns3 see it up. With
	// quorum every instance keeps ams; with local only ns1 drops it.
	until("partition, quorum", all, www, ams, margin)
	until("partition, local rule: ns1 drops ams", []string{"ns1"}, local, iad, margin)
	until("partition, local rule: the others keep ams", []string{"ns2", "ns3"}, local, ams, margin)

	if ex := explainText(t, inst["ns1"], www, "192.0.2.1"); !strings.Contains(ex, "quorum 2 of 3: 1 sees it down [ns1@ams down") ||
		!strings.Contains(ex, "ns2@iad up") || !strings.Contains(ex, "ns3@sin up") {
		t.Errorf("ns1's explain does not say which vantage points voted:\n%s", ex)
	}

	// 2. An override set on one instance is in every instance's answers
	// within one second.
	statusPost(t, inst["ns2"], "/api/v1/override", `{"kind":"datacenter","key":"ams","state":"drain"}`)
	dOv := until("override from ns2", all, www, iad, time.Second)
	if dc := clusterOf(inst["ns3"]).datacenter("ams"); dc.Override != "drain" || dc.OverrideOrigin != "ns2" {
		t.Errorf("ns3's ams: override %q from %q, want drain from ns2", dc.Override, dc.OverrideOrigin)
	}
	statusPost(t, inst["ns3"], "/api/v1/override", `{"kind":"datacenter","key":"ams","state":"clear"}`)
	dClear := until("clear from ns3", all, www, ams, time.Second)
	t.Logf("override set on ns2 in all three answers after %v; cleared from ns3 after %v", dOv, dClear)

	// 3. The backend really dies: every instance drops it within
	// interval × fall + propagation.
	backends[ams].Store(false)
	dDie := until("ams dies", all, www, iad, margin)
	backends[ams].Store(true)
	dBack := until("ams back", all, www, ams, margin)
	t.Logf("ams dead → all three answer iad after %v; back → ams after %v (interval 250ms, fall/rise 2)", dDie, dBack)

	// 4. The engine is killed: answers go on from local verdicts (ns1
	// falls back to its own: ams down), the status page says so. Back:
	// the instances rejoin and agree again.
	engine.kill()
	dLost := until("engine away: ns1 decides alone", []string{"ns1"}, www, iad, margin)
	until("engine away: the others keep answering", []string{"ns2", "ns3"}, www, ams, margin)
	if v := clusterOf(inst["ns1"]); v.Cluster == nil || v.Cluster.Link != "down" || !slices.ContainsFunc(v.Warnings, func(w string) bool { return strings.Contains(w, "engine down") }) {
		t.Errorf("engine away: status cluster %+v, warnings %q", v.Cluster, v.Warnings)
	}
	if m := inst["ns1"].metric(t, "godwit_cluster_link_up"); m != 0 {
		t.Errorf("engine away: godwit_cluster_link_up %v, want 0", m)
	}
	engine.start()
	dRejoin := until("engine back: all agree again", all, www, ams, margin)
	if m := inst["ns1"].metric(t, "godwit_cluster_link_up"); m != 1 {
		t.Errorf("engine back: godwit_cluster_link_up %v, want 1", m)
	}
	t.Logf("engine killed → ns1 on its own verdict after %v; engine back → all agree after %v", dLost, dRejoin)

	// 5. An instance is killed: its verdicts expire (verdict_ttl 2s) and
	// stop counting.
	waitReason("before ns3 is killed", inst["ns1"], "quorum 2 of 3: 1 sees it down", 3, margin)
	_ = syscall.Kill(-inst["ns3"].cmd.Process.Pid, syscall.SIGKILL)
	dExpire := waitReason("ns3 killed", inst["ns1"], "quorum 2 of 2: 1 sees it down", 2, 2*time.Second+margin)
	until("ns3 gone: the two left keep ams", []string{"ns1", "ns2"}, www, ams, margin)
	t.Logf("ns3 killed → its verdicts stop counting after %v (verdict_ttl 2s); whole test %v", dExpire, time.Since(start))
}

// clusterView is what the test reads of /api/v1/status.
type clusterView struct {
	Cluster *struct {
		Link string `json:"link"`
	} `json:"cluster"`
	Warnings    []string `json:"warnings"`
	Datacenters []struct {
		Name           string `json:"name"`
		Override       string `json:"override"`
		OverrideOrigin string `json:"override_origin"`
	} `json:"datacenters"`
	Probes []struct {
		Check   string `json:"check"`
		Address string `json:"address"`
		Reason  string `json:"reason"`
		Votes   []struct {
			Instance string `json:"instance"`
			State    string `json:"state"`
		} `json:"votes"`
	} `json:"probes"`
}

func (v clusterView) datacenter(name string) (d struct {
	Name           string `json:"name"`
	Override       string `json:"override"`
	OverrideOrigin string `json:"override_origin"`
}) {
	for _, x := range v.Datacenters {
		if x.Name == name {
			return x
		}
	}
	return d
}

// natsProc is a nats-server with JetStream on 127.0.0.1 that the test can
// kill and start again on the same port and store.
type natsProc struct {
	t    *testing.T
	port int
	dir  string
	mu   sync.Mutex
	cmd  *exec.Cmd
}

func startNATSServer(t *testing.T) *natsProc {
	t.Helper()
	testsupport.NeedTool(t, "nats-server")
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := &natsProc{t: t, port: l.Addr().(*net.TCPAddr).Port, dir: t.TempDir()}
	l.Close()
	s.start()
	t.Cleanup(s.kill)
	return s
}

func (s *natsProc) url() string { return "nats://127.0.0.1:" + strconv.Itoa(s.port) }

// start runs the server and waits until JetStream answers.
func (s *natsProc) start() {
	s.t.Helper()
	cmd := exec.Command("nats-server", "-js", "-a", "127.0.0.1", "-p", strconv.Itoa(s.port), "-sd", s.dir)
	if err := cmd.Start(); err != nil {
		s.t.Fatalf("start nats-server: %v", err)
	}
	s.mu.Lock()
	s.cmd = cmd
	s.mu.Unlock()
	deadline := time.Now().Add(10 * time.Second)
	for {
		nc, err := nats.Connect(s.url(), nats.Timeout(time.Second))
		if err == nil {
			_, err = nc.Request("$JS.API.INFO", nil, time.Second)
			nc.Close()
			if err == nil {
				return
			}
		}
		if time.Now().After(deadline) {
			s.kill()
			s.t.Fatalf("nats-server on port %d not ready: %v", s.port, err)
		}
		time.Sleep(20 * time.Millisecond) // polling the readiness signal: the server has no other
	}
}

// kill kills the server by its PID and waits for it.
func (s *natsProc) kill() {
	s.mu.Lock()
	cmd := s.cmd
	s.cmd = nil
	s.mu.Unlock()
	if cmd != nil {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
	}
}
