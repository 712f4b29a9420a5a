package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/godwit-dns/godwit/internal/testsupport"
)

// TestDelvValidatesGodwit serves the demo's zones signed with keys made by
// dnssec-keygen (gslb.example.test: a KSK and a ZSK, ECDSA P-256;
// example.test: an Ed25519 CSK) and has delv validate live answers against
// the zones' trust anchors: static names, each GSLB policy with and
// without ECS, NXDOMAIN, NODATA, a wildcard, CNAMEs, a delegation without
// DS, the DNSKEY RRset and ANY. A wrong trust anchor must fail.
func TestDelvValidatesGodwit(t *testing.T) {
	delv := testsupport.NeedTool(t, "delv")
	keygen := testsupport.NeedTool(t, "dnssec-keygen")
	dir := t.TempDir()
	if out, err := exec.Command("cp", "-r", "demo/.", dir).CombinedOutput(); err != nil {
		t.Fatalf("cp demo: %v\n%s", err, out)
	}
	keys := filepath.Join(dir, "keys")
	if err := os.Mkdir(keys, 0o700); err != nil {
		t.Fatal(err)
	}
	gen := func(in string, args ...string) string {
		cmd := exec.Command(keygen, append([]string{"-q", "-K", in}, args...)...)
		out, err := cmd.Output()
		if err != nil {
			t.Fatalf("dnssec-keygen %v: %v", args, err)
		}
		return filepath.Join(in, strings.TrimSpace(string(out))+".key")
	}
	gslbKSK := gen(keys, "-a", "ECDSAP256SHA256", "-f", "KSK", "gslb.example.test")
	gen(keys, "-a", "ECDSAP256SHA256", "gslb.example.test")
	csk := gen(keys, "-a", "ED25519", "-f", "KSK", "example.test")
	cfg := filepath.Join(dir, "godwit.toml")
	f, err := os.OpenFile(cfg, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteString("\n[dnssec]\nkeys_dir = \"keys\"\n"); err != nil {
		t.Fatal(err)
	}
	f.Close()

	anchor := func(name string, keyFiles ...string) string {
		var b strings.Builder
		b.WriteString("trust-anchors {\n")
		for _, kf := range keyFiles {
			data, err := os.ReadFile(kf)
			if err != nil {
				t.Fatal(err)
			}
			for _, line := range strings.Split(string(data), "\n") {
				if line == "" || line[0] == ';' {
					continue
				}
				// "zone. [TTL] IN DNSKEY 257 3 13 KEY"
				fields := strings.Fields(line)
				i := 0
				for i < len(fields) && fields[i] != "DNSKEY" {
					i++
				}
				if i+4 >= len(fields) {
					t.Fatalf("%s: no DNSKEY in %q", kf, line)
				}
				fmt.Fprintf(&b, "  %s static-key %s %s %s \"%s\";\n", fields[0], fields[i+1], fields[i+2], fields[i+3], strings.Join(fields[i+4:], ""))
			}
		}
		b.WriteString("};\n")
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(b.String()), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	good := anchor("anchor.conf", gslbKSK, csk)
	wrong := anchor("wrong.conf", gen(t.TempDir(), "-a", "ECDSAP256SHA256", "-f", "KSK", "gslb.example.test"))

	// godwit ds prints the DS that dnssec-dsfromkey makes from the KSK.
	if dsfromkey, err := exec.LookPath("dnssec-dsfromkey"); err == nil {
		want, err := exec.Command(dsfromkey, "-2", gslbKSK).Output()
		if err != nil {
			t.Fatalf("dnssec-dsfromkey: %v", err)
		}
		got, err := exec.Command(godwitBinary(t), "ds", "-config", cfg, "gslb.example.test").CombinedOutput()
		norm := func(b []byte) string {
			f := strings.Fields(string(b))
			if len(f) < 4 {
				return string(b)
			}
			return strings.Join(f[len(f)-4:], " ") // tag, algorithm, digest type, digest
		}
		if err != nil || norm(got) != norm(want) {
			t.Errorf("godwit ds: %v\n%s\nwant the DS of\n%s", err, got, want)
		}
	}

	// godwit explain says how an answer is signed.
	for q, want := range map[string]string{
		"geo.gslb.example.test":  "signed by zone gslb.example.test.",
		"nope.gslb.example.test": "RRSIG NSEC NXNAME",
	} {
		out, err := exec.Command(godwitBinary(t), "explain", "-config", cfg, "-client", "81.2.69.142", q, "A").CombinedOutput()
		if err != nil || !strings.Contains(string(out), want) {
			t.Errorf("godwit explain %s: %v, want %q in\n%s", q, err, want, out)
		}
	}

	s := startGodwit(t, "-config", cfg)
	host, port, _ := strings.Cut(s.dnsAddr, ":")
	run := func(anchorFile, root, name, qtype string, extra ...string) string {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		args := append([]string{"@" + host, "-p", port, "-a", anchorFile, "+root=" + root}, extra...)
		out, _ := exec.CommandContext(ctx, delv, append(args, name, qtype)...).CombinedOutput()
		return string(out)
	}
	const gslb, ex = "gslb.example.test", "example.test"
	const pos, neg = "; fully validated", "; negative response, fully validated"
	for _, tc := range []struct {
		root, name, qtype, want, record string
		extra                           []string
	}{
		{ex, "www.example.test", "A", pos, "192.0.2.1", nil},
		{ex, "www.example.test", "AAAA", pos, "2001:db8::1", nil},
		{gslb, "geo.gslb.example.test", "A", pos, "RRSIG\tA 13", nil},
		{gslb, "geo.gslb.example.test", "AAAA", pos, "RRSIG\tAAAA 13", nil},
		{gslb, "rr.gslb.example.test", "A", pos, "RRSIG\tA 13", nil},
		{gslb, "weighted.gslb.example.test", "A", pos, "RRSIG\tA 13", nil},
		{gslb, "failover.gslb.example.test", "A", pos, "RRSIG\tA 13", nil},
		{gslb, "gslb.example.test", "DNSKEY", pos, "DNSKEY", nil},
		{gslb, "nope.gslb.example.test", "A", neg, "NXNAME", nil},
		{ex, "nope.example.test", "A", neg, "NXNAME", nil},
		{ex, "www.example.test", "TXT", neg, "A AAAA RRSIG NSEC", nil},
		{ex, "b.example.test", "A", neg, "RRSIG NSEC", nil},
		{ex, "x.wild.example.test", "A", pos, "198.51.100.7", nil},
		{ex, "x.wild.example.test", "MX", neg, "A TXT RRSIG NSEC", nil},
		{ex, "alias.example.test", "A", pos, "CNAME", nil},
		{ex, "x.cdn.example.test", "A", pos, "192.0.2.1", nil},
		{ex, "sub.example.test", "DS", neg, "NS RRSIG NSEC", nil},
		{ex, "www.example.test", "ANY", pos, "RFC8482", nil},
	} {
		out := run(good, tc.root, tc.name, tc.qtype, append([]string{"+dnssec"}, tc.extra...)...)
		if !strings.Contains(out, tc.want) || !strings.Contains(strings.ReplaceAll(out, "TYPE128", "NXNAME"), tc.record) {
			t.Errorf("delv %s %s %v: want %q and %q in:\n%s", tc.name, tc.qtype, tc.extra, tc.want, tc.record, out)
		}
	}
	// /metrics counts the signatures made and the cache hits; the server
	// counts the signed responses.
	if s.statusAddr != "" {
		for _, m := range []string{"godwit_dnssec_signatures_total", "godwit_dnssec_cache_hits_total", "godwit_dnssec_signed_responses_total"} {
			if v := s.metric(t, m); v == 0 {
				t.Errorf("/metrics: %s is 0 after signed answers", m)
			}
		}
		if v := s.metric(t, "godwit_dnssec_signing_errors_total"); v != 0 {
			t.Errorf("/metrics: %v signing errors", v)
		}
	}

	// A trust anchor that is not the zone's key must not validate.
	if out := run(wrong, gslb, "geo.gslb.example.test", "A"); strings.Contains(out, "fully validated") || !strings.Contains(out, "resolution failed") {
		t.Errorf("a wrong trust anchor validated:\n%s", out)
	}
}
