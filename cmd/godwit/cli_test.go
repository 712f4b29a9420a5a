package main

import (
	"bytes"
	"context"
	"fmt"
	"net/netip"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	mdns "github.com/miekg/dns"

	"github.com/godwit-dns/godwit/server"
)

const geoConfig = "../../testdata/acceptance/geo/godwit.toml"

// TestUsage: every way to call the command wrong says what is wrong, with
// the command's usage line and exit status 2; help goes to stdout.
func TestUsage(t *testing.T) {
	cases := []struct {
		args           []string
		code           int
		stdout, stderr []string // substrings
		notStdout      []string
	}{
		{args: []string{"-h"}, stdout: []string{"commands:", "serve", "demo", "check", "explain", "ctl", "version"}},
		{args: []string{"help"}, stdout: []string{"commands:", "ctl"}},
		{args: []string{"help", "serve"}, stdout: []string{"usage: godwit serve", "-log-level", "-nsid", "-config", "/etc/godwit/godwit.toml"}},
		{args: []string{"help", "explain"}, stdout: []string{"-ecs-bits N", "omit for a query without ECS"}, notStdout: []string{"default -1", "(default: no ECS)"}},
		{args: []string{"explain", "-h"}, stdout: []string{"usage: godwit explain"}},
		{args: []string{"help", "nope"}, code: 2, stderr: []string{`unknown command "nope"`}},
		{args: []string{"nope"}, code: 2, stderr: []string{`unknown command "nope"`, "commands:"}},
		{args: []string{"explain", "-config", geoConfig, "www.gslb.example.test"}, code: 2,
			stderr: []string{"godwit explain: -client is required", "usage: godwit explain"}},
		{args: []string{"explain", "-config", geoConfig, "-client", "81.2.69.142"}, code: 2, stderr: []string{"NAME [TYPE]"}},
		{args: []string{"explain", "-config", geoConfig, "-client", "81.2.69.142", "www.gslb.example.test", "-ecs-bits", "99"}, code: 2,
			stderr: []string{"-ecs-bits 99: an IPv4 address has 32 bits"}},
		{args: []string{"explain", "-config", geoConfig, "-client", "81.2.69.142", "www.gslb.example.test", "-ecs-bits", "x"}, code: 2,
			stderr: []string{`invalid value "x" for flag -ecs-bits`}},
		{args: []string{"explain", "-config", geoConfig, "-client", "not-an-ip", "www"}, code: 2, stderr: []string{`-client "not-an-ip" is not an IP address`}},
		{args: []string{"explain", "-config", geoConfig, "-client", "81.2.69.142", "www.gslb.example.test", "BOGUS"}, code: 2, stderr: []string{`unknown type "BOGUS"`}},
		// Flags after the arguments, the dig habit.
		{args: []string{"explain", "-config", geoConfig, "-client", "81.2.69.142", "www.gslb.example.test", "-ecs-bits", "24"},
			stdout: []string{"client      81.2.69.0 (ECS /24)"}},
		{args: []string{"check", "extra"}, code: 2, stderr: []string{`check takes no arguments (got "extra")`}},
		{args: []string{"check", "-bogus"}, code: 2, stderr: []string{"flag provided but not defined: -bogus", "usage: godwit check"}},
		{args: []string{"serve", "-log-level", "loud", "-config", geoConfig}, code: 2, stderr: []string{`-log-level "loud"`}},
		{args: []string{"serve", "-config", "/nonexistent/godwit.toml"}, code: 1, stderr: []string{"/nonexistent/godwit.toml"}},
		{args: []string{"ctl"}, code: 2, stderr: []string{"name a command", "override set"}},
		{args: []string{"ctl", "-status", "127.0.0.1:1", "frobnicate"}, code: 2, stderr: []string{`unknown ctl command "frobnicate"`}},
	}
	for _, c := range cases {
		t.Run(strings.Join(c.args, " "), func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			code := run(context.Background(), c.args, &stdout, &stderr)
			if code != c.code {
				t.Errorf("exit %d, want %d\nstdout: %s\nstderr: %s", code, c.code, stdout.String(), stderr.String())
			}
			for _, w := range c.stdout {
				if !strings.Contains(stdout.String(), w) {
					t.Errorf("stdout lacks %q:\n%s", w, stdout.String())
				}
			}
			for _, w := range c.notStdout {
				if strings.Contains(stdout.String(), w) {
					t.Errorf("stdout has %q:\n%s", w, stdout.String())
				}
			}
			for _, w := range c.stderr {
				if !strings.Contains(stderr.String(), w) {
					t.Errorf("stderr lacks %q:\n%s", w, stderr.String())
				}
			}
		})
	}
}

var (
	explainAnswerRE = regexp.MustCompile(`(?m)^  answer      (.*)$`)
	explainScopeRE  = regexp.MustCompile(`(?m)^  ecs scope   (\d+)`)
)

// TestExplainAgreesWithServer asks a running server and `godwit explain`
// the same questions, for clients in several places with ECS prefixes of
// several lengths (and none): the addresses and the ECS scope must agree.
func TestExplainAgreesWithServer(t *testing.T) {
	cfg, err := server.LoadConfig(geoConfig, server.Flags{Listen: []string{"127.0.0.1:0"}, StatusListen: "127.0.0.1:0"})
	if err != nil {
		t.Fatal(err)
	}
	srv, err := server.Start(t.Context(), cfg, server.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Shutdown)
	dnsAddr := srv.DNSAddrs()[0].String()

	for _, c := range []struct {
		client string
		bits   int // -1: no ECS
	}{
		{"81.2.69.142", 32}, {"81.2.69.142", 31}, {"81.2.69.142", 24}, {"81.2.69.142", 16}, {"81.2.69.142", 0},
		{"89.160.20.112", 32}, {"89.160.20.112", 24}, {"89.160.20.112", 20},
		{"216.160.83.56", 32}, {"216.160.83.56", 22},
		{"8.8.8.8", 24}, {"2001:218::1", 32}, {"2001:218::1", 64}, {"2a02:ff80::1", 48},
		{"127.0.0.1", -1},
	} {
		for _, qtype := range []uint16{mdns.TypeA, mdns.TypeAAAA} {
			name := fmt.Sprintf("%s/%d %s", c.client, c.bits, mdns.TypeToString[qtype])
			m := new(mdns.Msg)
			m.SetQuestion("www.gslb.example.test.", qtype)
			args := []string{"explain", "-config", geoConfig, "-client", c.client, "www.gslb.example.test", mdns.TypeToString[qtype]}
			if c.bits >= 0 {
				a := netip.MustParseAddr(c.client)
				p := netip.PrefixFrom(a, c.bits).Masked() // what dig +subnet sends
				fam := uint16(1)
				if a.Is6() {
					fam = 2
				}
				m.SetEdns0(1232, false)
				m.IsEdns0().Option = append(m.IsEdns0().Option, &mdns.EDNS0_SUBNET{
					Code: mdns.EDNS0SUBNET, Family: fam, SourceNetmask: uint8(c.bits), Address: p.Addr().AsSlice()})
				args = append(args, "-ecs-bits", fmt.Sprint(c.bits), "-source", "127.0.0.1")
			}
			r, _, err := (&mdns.Client{Timeout: 2 * time.Second}).Exchange(m, dnsAddr)
			if err != nil {
				t.Fatalf("%s: %v", name, err)
			}
			var stdout, stderr bytes.Buffer
			if code := run(context.Background(), args, &stdout, &stderr); code != 0 {
				t.Fatalf("%s: explain exit %d: %s", name, code, stderr.String())
			}
			checkExplain(t, name, stdout.String(), r, c.bits)
			// The live explain of the running server, with the client as
			// an ECS prefix, says the same. (With /0 the server locates the
			// query's source, which only the DNS query knows.)
			if c.bits > 0 {
				stdout.Reset()
				live := []string{"ctl", "-status", srv.StatusAddr().String(), "-client", fmt.Sprintf("%s/%d", c.client, c.bits),
					"explain", "www.gslb.example.test", mdns.TypeToString[qtype]}
				if code := run(context.Background(), live, &stdout, &stderr); code != 0 {
					t.Fatalf("%s: live explain exit %d: %s", name, code, stderr.String())
				}
				checkExplain(t, name+" (live)", stdout.String(), r, c.bits)
			}
		}
	}
}

// checkExplain compares an explanation's answer and ECS scope with the
// server's reply r.
func checkExplain(t *testing.T, name, text string, r *mdns.Msg, bits int) {
	t.Helper()
	var got []string
	for _, rr := range r.Answer {
		switch v := rr.(type) {
		case *mdns.A:
			got = append(got, v.A.String())
		case *mdns.AAAA:
			got = append(got, v.AAAA.String())
		}
	}
	ans := explainAnswerRE.FindStringSubmatch(text)
	if ans == nil {
		t.Fatalf("%s: no answer line in\n%s", name, text)
	}
	want := strings.Fields(ans[1])
	if slices.Equal(want, []string{"none"}) {
		want = nil
	}
	if !slices.Equal(got, want) {
		t.Errorf("%s: server answers %v, explain says %v\n%s", name, got, want, text)
	}
	if bits <= 0 {
		return
	}
	scope := -1
	if opt := r.IsEdns0(); opt != nil {
		for _, o := range opt.Option {
			if e, ok := o.(*mdns.EDNS0_SUBNET); ok {
				scope = int(e.SourceScope)
			}
		}
	}
	if sc := explainScopeRE.FindStringSubmatch(text); sc == nil || sc[1] != fmt.Sprint(scope) {
		t.Errorf("%s: server scope /%d, explain says %v\n%s", name, scope, sc, text)
	}
}

// TestCtl drives a running server with `godwit ctl`: status, an override
// set, listed, seen in the answers and in explain, cleared; a reload; JSON.
func TestCtl(t *testing.T) {
	cfg, err := server.LoadConfig(geoConfig, server.Flags{Listen: []string{"127.0.0.1:0"}, StatusListen: "127.0.0.1:0"})
	if err != nil {
		t.Fatal(err)
	}
	srv, err := server.Start(t.Context(), cfg, server.Options{Version: "ctl-test"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Shutdown)
	status := srv.StatusAddr().String()
	ctl := func(t *testing.T, wantCode int, args ...string) string {
		t.Helper()
		var stdout, stderr bytes.Buffer
		if code := run(context.Background(), append([]string{"ctl", "-status", status}, args...), &stdout, &stderr); code != wantCode {
			t.Fatalf("ctl %v: exit %d, want %d\n%s%s", args, code, wantCode, stdout.String(), stderr.String())
		}
		return stdout.String() + stderr.String()
	}
	answer := func() string {
		m := new(mdns.Msg)
		m.SetQuestion("www.gslb.example.test.", mdns.TypeA)
		m.SetEdns0(1232, false)
		m.IsEdns0().Option = append(m.IsEdns0().Option, &mdns.EDNS0_SUBNET{
			Code: mdns.EDNS0SUBNET, Family: 1, SourceNetmask: 32, Address: netip.MustParseAddr("81.2.69.142").AsSlice()})
		r, _, err := (&mdns.Client{Timeout: 2 * time.Second}).Exchange(m, srv.DNSAddrs()[0].String())
		if err != nil || len(r.Answer) != 1 {
			t.Fatalf("query: %v %v", r, err)
		}
		return r.Answer[0].(*mdns.A).A.String()
	}

	if out := ctl(t, 0, "status"); !strings.Contains(out, "godwit ctl-test") || !strings.Contains(out, "ams") || !strings.Contains(out, "www.gslb.example.test.") {
		t.Errorf("status:\n%s", out)
	}
	if out := ctl(t, 0, "-json", "status"); !strings.Contains(out, `"version": "ctl-test"`) {
		t.Errorf("status -json:\n%s", out)
	}
	if out := ctl(t, 0, "override", "list"); !strings.Contains(out, "no overrides") {
		t.Errorf("override list before:\n%s", out)
	}
	if a := answer(); a != "192.0.2.10" {
		t.Fatalf("London is answered %s before the drain, want ams 192.0.2.10", a)
	}
	ctl(t, 0, "override", "set", "datacenter", "ams", "drain")
	if a := answer(); a == "192.0.2.10" {
		t.Error("ams still answered after the drain")
	}
	if out := ctl(t, 0, "override", "list"); !strings.Contains(out, "datacenter") || !strings.Contains(out, "ams") || !strings.Contains(out, "drain") {
		t.Errorf("override list:\n%s", out)
	}
	ctl(t, 0, "override", "set", "address", "192.0.2.20", "down")
	if out := ctl(t, 0, "explain", "-client", "81.2.69.142", "www.gslb.example.test"); !strings.Contains(out, "192.0.2.20               down by admin override") ||
		!strings.Contains(out, "192.0.2.10               drained by admin override") {
		t.Errorf("explain does not show the overrides:\n%s", out)
	}
	if out := ctl(t, 1, "override", "set", "datacenter", "nowhere", "down"); !strings.Contains(out, "404") {
		t.Errorf("unknown datacenter:\n%s", out)
	}
	ctl(t, 0, "override", "clear", "datacenter", "ams")
	ctl(t, 0, "override", "clear", "address", "192.0.2.20")
	if a := answer(); a != "192.0.2.10" {
		t.Errorf("answered %s after clearing, want 192.0.2.10", a)
	}
	if out := ctl(t, 0, "reload"); !strings.Contains(out, "reloaded") {
		t.Errorf("reload:\n%s", out)
	}
	if out := ctl(t, 1, "-status", "127.0.0.1:1", "status"); !strings.Contains(out, "is godwit running?") {
		t.Errorf("no server:\n%s", out)
	}
}

func TestEngineProcs(t *testing.T) {
	for _, tc := range []struct {
		io    string
		procs int
		env   string
		goos  string
		want  int
		ok    bool
	}{
		{"auto", 1, "", "linux", 2, true},
		{"auto", 2, "", "linux", 0, false},     // already room for one engine thread
		{"auto", 1, "1", "linux", 0, false},    // the operator chose
		{"portable", 1, "", "linux", 0, false}, // no engine wanted
		{"auto", 1, "", "freebsd", 0, false},   // no engine on this system
	} {
		if n, ok := engineProcs(tc.io, tc.procs, tc.env, tc.goos); n != tc.want || ok != tc.ok {
			t.Errorf("engineProcs(%q, %d, %q, %q) = %d, %v; want %d, %v", tc.io, tc.procs, tc.env, tc.goos, n, ok, tc.want, tc.ok)
		}
	}
}
