package main

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/godwit-dns/godwit/internal/testsupport"

	mdns "github.com/miekg/dns"
)

// TestDelegation is the deployment of docs/operations.md, end to end on
// loopback: NSD serves the parent zone godwit.test and delegates
// gslb.godwit.test (NS + glue) to two Godwit instances running one shared
// config; Unbound, with ECS (subnetcache), is the clients' resolver. Clients
// in different places must get their nearest datacenter through the
// resolver, the resolver must cache per ECS scope, both instances must
// answer alike, and the resolver must keep answering when one instance is
// stopped. Templates: testdata/delegation/.
//
// NSD and the instances listen on port 53 (resolvers only talk to port 53 of
// a delegation's name servers), so the test needs root or CAP_NET_BIND_SERVICE;
// without it the test skips, unless GODWIT_ACCEPTANCE is set.
func TestDelegation(t *testing.T) {
	testsupport.NeedTool(t, "dig")
	nsdBin := sbinTool(t, "nsd")
	unboundBin := sbinTool(t, "unbound")
	began := time.Now()
	testdata, err := filepath.Abs("../../testdata/delegation")
	if err != nil {
		t.Fatal(err)
	}
	parent, ns1, ns2 := port53Addrs(t)
	dir := t.TempDir()
	port := testsupport.FreePort(t, "127.0.0.1")
	data := map[string]any{"Dir": dir, "Testdata": testdata, "Parent": parent, "NS1": ns1, "NS2": ns2, "Port": port}
	if err := os.Mkdir(filepath.Join(dir, "zones"), 0o755); err != nil {
		t.Fatal(err)
	}
	for src, dst := range map[string]string{
		"godwit.test.zone.tmpl":            "godwit.test.zone",
		"nsd.conf.tmpl":                    "nsd.conf",
		"unbound.conf.tmpl":                "unbound.conf",
		"godwit.toml.tmpl":                 "godwit.toml",
		"zones/gslb.godwit.test.zone.tmpl": "zones/gslb.godwit.test.zone",
	} {
		renderTemplate(t, filepath.Join(testdata, src), filepath.Join(dir, dst), data)
	}

	nsd := startDaemon(t, "nsd", nsdBin, "-d", "-c", filepath.Join(dir, "nsd.conf"))
	waitDNS(t, nsd, net.JoinHostPort(parent, "53"), "godwit.test.", filepath.Join(dir, "nsd.log"))
	cfg := filepath.Join(dir, "godwit.toml")
	g1 := startGodwit(t, "-config", cfg, "-listen", net.JoinHostPort(ns1, "53"), "-nsid", "ns1")
	g2 := startGodwit(t, "-config", cfg, "-listen", net.JoinHostPort(ns2, "53"), "-nsid", "ns2")
	unbound := startDaemon(t, "unbound", unboundBin, "-d", "-c", filepath.Join(dir, "unbound.conf"))
	resolver := net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
	waitDNS(t, unbound, resolver, "godwit.test.", filepath.Join(dir, "unbound.log"))
	t.Logf("NSD on %s:53, godwit on %s:53 and %s:53, Unbound on %s: up in %v",
		parent, ns1, ns2, resolver, time.Since(began).Round(time.Millisecond))

	const name = "www.gslb.godwit.test"
	const (
		ams = "192.0.2.10"
		iad = "192.0.2.20"
		sin = "192.0.2.30"
	)

	t.Run("parent refers to both instances with glue", func(t *testing.T) {
		r := digAt(t, parent+":53", name, "A", "+norec")
		wantNS := []string{"gslb.godwit.test. 86400 IN NS ns1.gslb.godwit.test.", "gslb.godwit.test. 86400 IN NS ns2.gslb.godwit.test."}
		wantGlue := []string{"ns1.gslb.godwit.test. 86400 IN A " + ns1, "ns2.gslb.godwit.test. 86400 IN A " + ns2}
		if got := r.section("AUTHORITY"); !sameSet(got, wantNS) {
			t.Errorf("authority %q, want %q\n%s", got, wantNS, r.raw)
		}
		if got := r.section("ADDITIONAL"); !sameSet(got, wantGlue) {
			t.Errorf("additional %q, want %q\n%s", got, wantGlue, r.raw)
		}
	})

	// Every instance gives the same answer and scope to the same client;
	// only the NSID tells them apart.
	t.Run("instances answer alike", func(t *testing.T) {
		clients := []string{"2.2.3.4/32", "214.78.120.5/32", "175.16.199.9/32", "81.2.69.142/32", "8.8.8.0/24", "2001:218::/32", "0.0.0.0/0"}
		for _, c := range clients {
			for _, qtype := range []string{"A", "AAAA"} {
				r1 := digAt(t, g1.dnsAddr, name, qtype, "+norec", "+nsid", "+subnet="+c)
				r2 := digAt(t, g2.dnsAddr, name, qtype, "+norec", "+nsid", "+subnet="+c)
				a1, a2 := r1.section("ANSWER"), r2.section("ANSWER")
				if len(a1) == 0 || !sameSet(a1, a2) || r1.scope != r2.scope {
					t.Errorf("%s %s from %s: ns1 %q scope %d, ns2 %q scope %d", name, qtype, c, a1, r1.scope, a2, r2.scope)
				}
				if r1.nsid != "ns1" || r2.nsid != "ns2" {
					t.Errorf("NSIDs %q and %q, want ns1 and ns2", r1.nsid, r2.nsid)
				}
			}
		}
	})

	// Through the resolver, which cuts every client subnet to /24: each
	// client reaches its nearest datacenter, and the resolver hands back
	// the scope it was given (at most the /24 it sent).
	queries := func() int {
		return int(g1.metric(t, "godwit_dns_queries_total")) + int(g2.metric(t, "godwit_dns_queries_total"))
	}
	t.Run("nearest datacenter through the resolver", func(t *testing.T) {
		cases := []struct {
			client, addr string
			scope        int
		}{
			{"2.2.3.4", ams, 24},        // Boxford, GB (network 2.2.3.0/24)
			{"214.78.120.5", iad, 22},   // San Diego, US (214.78.120.0/22)
			{"175.16.199.9", sin, 24},   // Changchun, CN (175.16.199.0/24)
			{"202.196.224.77", sin, 20}, // Philippines (202.196.224.0/20)
		}
		for _, c := range cases {
			r := digAt(t, resolver, name, "A", "+subnet="+c.client+"/32")
			if got := r.addrs(); len(got) != 1 || got[0] != c.addr || r.scope != c.scope {
				t.Errorf("client %s: %v scope %d, want %s scope %d\n%s", c.client, got, r.scope, c.addr, c.scope, r.raw)
			}
		}
	})

	// The resolver reuses an answer for every client inside its scope and
	// asks again for a client outside it. 214.78.120.5 was answered with
	// scope /22 above, so 214.78.121.7 is in the cache; 214.78.124.9 is not.
	t.Run("resolver caches per scope", func(t *testing.T) {
		before := queries()
		r := digAt(t, resolver, name, "A", "+subnet=214.78.121.7/32")
		if got := r.addrs(); len(got) != 1 || got[0] != iad {
			t.Fatalf("cached client: %v, want %s\n%s", got, iad, r.raw)
		}
		if n := queries() - before; n != 0 {
			t.Errorf("a client inside a cached /22 scope caused %d queries to godwit, want 0", n)
		}
		before = queries()
		r = digAt(t, resolver, name, "A", "+subnet=214.78.124.9/32")
		if got := r.addrs(); len(got) != 1 || got[0] != iad {
			t.Fatalf("new scope: %v, want %s\n%s", got, iad, r.raw)
		}
		if n := queries() - before; n < 1 {
			t.Errorf("a client outside every cached scope caused no query to godwit")
		}
	})

	// One instance goes away (SIGTERM by PID): the resolver keeps answering
	// new scopes through the other.
	t.Run("resolver survives one instance", func(t *testing.T) {
		stopGodwit(t, g1)
		before := int(g2.metric(t, "godwit_dns_queries_total"))
		stopped := time.Now()
		for _, c := range []struct{ client, addr string }{
			{"67.43.156.1", sin},  // Bhutan
			{"214.0.0.9", sin},    // Singapore
			{"214.0.1.9", sin},    // Melbourne
			{"2.2.3.0", ams},      // cached: same /24 as 2.2.3.4
			{"214.78.122.1", iad}, // cached: the /22 again
			{"81.2.69.160", iad},  // 81.2.69.0/25 has no location: failover
		} {
			r := digAt(t, resolver, name, "A", "+subnet="+c.client+"/32")
			if got := r.addrs(); len(got) != 1 || got[0] != c.addr {
				t.Errorf("client %s with ns1 down: %v (%s), want %s\n%s", c.client, got, r.status, c.addr, r.raw)
			}
		}
		if n := int(g2.metric(t, "godwit_dns_queries_total")) - before; n < 4 {
			t.Errorf("ns2 answered %d queries for 4 new scopes", n)
		}
		t.Logf("6 clients answered with ns1 down in %v", time.Since(stopped).Round(time.Millisecond))
	})
	t.Logf("delegation test took %v", time.Since(began).Round(time.Millisecond))
}

// sbinTool finds a daemon that Debian installs in /usr/sbin, often not on a
// user's PATH, skipping or failing like needTool when it is missing.
func sbinTool(t *testing.T, name string) string {
	t.Helper()
	if p, err := exec.LookPath(name); err == nil {
		return p
	}
	if p := "/usr/sbin/" + name; fileExists(p) {
		return p
	}
	return testsupport.NeedTool(t, name)
}

func fileExists(p string) bool {
	_, err := os.Stat(p)
	return err == nil
}

// port53Addrs returns three loopback addresses whose port 53 is free, for
// the parent's server and the two instances: 127.0.0.40-42 (as in
// docs/operations.md) unless something holds them, then a random 127.0.X.
// Without the privilege to bind port 53 it skips (fails under
// GODWIT_ACCEPTANCE).
func port53Addrs(t *testing.T) (string, string, string) {
	t.Helper()
	var err error
	for try := 0; try < 8; try++ {
		x := 0
		if try > 0 {
			x = 100 + rand.IntN(150)
		}
		addrs := []string{fmt.Sprintf("127.0.%d.40", x), fmt.Sprintf("127.0.%d.41", x), fmt.Sprintf("127.0.%d.42", x)}
		err = canBind53(addrs)
		switch {
		case err == nil:
			return addrs[0], addrs[1], addrs[2]
		case errors.Is(err, syscall.EACCES) || errors.Is(err, syscall.EPERM):
			if os.Getenv("GODWIT_ACCEPTANCE") != "" {
				t.Fatalf("cannot bind port 53 (run as root or with CAP_NET_BIND_SERVICE): %v", err)
			}
			t.Skipf("cannot bind port 53, which a delegation needs (run as root or with CAP_NET_BIND_SERVICE): %v", err)
		}
	}
	t.Fatalf("no three loopback addresses with port 53 free in 8 tries (last: %v); "+
		"does a system DNS server hold port 53 on every address (0.0.0.0:53)?", err)
	return "", "", ""
}

// canBind53 binds UDP and TCP port 53 on each address and releases them.
func canBind53(addrs []string) error {
	var closers []func() error
	defer func() {
		for _, c := range closers {
			_ = c()
		}
	}()
	for _, a := range addrs {
		hp := net.JoinHostPort(a, "53")
		u, err := net.ListenPacket("udp", hp)
		if err != nil {
			return err
		}
		closers = append(closers, u.Close)
		l, err := net.Listen("tcp", hp)
		if err != nil {
			return err
		}
		closers = append(closers, l.Close)
	}
	return nil
}

// daemon is a process the test runs in the foreground and stops by PID.
type daemon struct {
	name string
	cmd  *exec.Cmd
	out  *testsupport.LockedBuffer
	done chan struct{}
}

// startDaemon runs bin with args and stops it at cleanup (SIGTERM to its
// PID, SIGKILL after 5 s).
func startDaemon(t *testing.T, name, bin string, args ...string) *daemon {
	t.Helper()
	d := &daemon{name: name, cmd: exec.Command(bin, args...), out: &testsupport.LockedBuffer{}, done: make(chan struct{})}
	d.cmd.Stdout, d.cmd.Stderr = d.out, d.out
	if err := d.cmd.Start(); err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	go func() { _ = d.cmd.Wait(); close(d.done) }()
	t.Cleanup(func() {
		_ = d.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-d.done:
		case <-time.After(5 * time.Second):
			t.Errorf("%s (pid %d) ignored SIGTERM for 5 s; killing it", name, d.cmd.Process.Pid)
			_ = d.cmd.Process.Kill()
			<-d.done
		}
		if t.Failed() {
			t.Logf("%s output:\n%s", name, d.out.String())
		}
	})
	return d
}

// waitDNS polls addr for zone's SOA until it answers (the daemon's
// readiness), failing when the daemon exits or 10 s pass.
func waitDNS(t *testing.T, d *daemon, addr, zone, logfile string) {
	t.Helper()
	c := &mdns.Client{Timeout: 200 * time.Millisecond}
	m := new(mdns.Msg)
	m.SetQuestion(zone, mdns.TypeSOA)
	deadline := time.Now().Add(10 * time.Second)
	for {
		r, _, err := c.Exchange(m, addr)
		if err == nil && r.Rcode == mdns.RcodeSuccess && len(r.Answer) > 0 {
			return
		}
		select {
		case <-d.done:
			log, _ := os.ReadFile(logfile)
			t.Fatalf("%s exited: %s\n%s\n%s", d.name, d.cmd.ProcessState, d.out.String(), log)
		default:
		}
		if time.Now().After(deadline) {
			log, _ := os.ReadFile(logfile)
			t.Fatalf("%s did not answer %s SOA on %s within 10 s (last: %v)\n%s\n%s", d.name, zone, addr, err, d.out.String(), log)
		}
		time.Sleep(20 * time.Millisecond) // poll interval
	}
}

// stopGodwit stops one instance with SIGTERM to its PID and waits for it.
func stopGodwit(t *testing.T, s *godwitProc) {
	t.Helper()
	if err := s.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- s.cmd.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("godwit exited with %v after SIGTERM", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatalf("godwit (pid %d) did not exit within 10 s of SIGTERM", s.cmd.Process.Pid)
	}
}

// delegReply is one dig answer with its ECS scope and NSID.
type delegReply struct {
	digReply
	scope int    // ECS scope; -1 without an ECS option
	nsid  string // the NSID as text, "" without one
}

// digAt runs dig against host:port.
func digAt(t *testing.T, addr string, args ...string) delegReply {
	t.Helper()
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	full := append([]string{"@" + host, "-p", port, "+time=5", "+tries=1", "+nocookie"}, args...)
	out, err := exec.CommandContext(ctx, testsupport.NeedTool(t, "dig"), full...).CombinedOutput()
	if err != nil {
		t.Logf("dig %s: %v", strings.Join(full, " "), err)
	}
	r := delegReply{digReply: parseDig(string(out)), scope: -1}
	if m := ecsRE.FindStringSubmatch(r.raw); m != nil {
		r.scope, _ = strconv.Atoi(m[2])
	}
	if m := nsidRE.FindStringSubmatch(r.raw); m != nil {
		r.nsid = m[1]
	}
	return r
}

var nsidRE = regexp.MustCompile(`; NSID: [0-9a-f ]+\("([^"]*)"\)`)

// section returns one section's records, whitespace normalised.
func (r delegReply) section(name string) []string { return r.sections[name] }

// addrs returns the addresses of the A/AAAA records in the answer.
func (r delegReply) addrs() []string {
	var out []string
	for _, rr := range r.sections["ANSWER"] {
		if f := strings.Fields(rr); len(f) == 5 && (f[3] == "A" || f[3] == "AAAA") {
			out = append(out, f[4])
		}
	}
	return out
}

// sameSet reports whether a and b hold the same strings, in any order.
func sameSet(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	m := map[string]int{}
	for _, s := range a {
		m[s]++
	}
	for _, s := range b {
		if m[s] == 0 {
			return false
		}
		m[s]--
	}
	return true
}
