package main

import (
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	mdns "github.com/miekg/dns"

	"github.com/godwit-dns/godwit/internal/testsupport"
)

var adFlagRE = regexp.MustCompile(`;; flags:[^;]*\bad\b`)

// TestDelegationSigned is TestDelegation with DNSSEC end to end: the
// parent zone godwit.test is signed with dnssec-signzone and holds the DS
// of gslb.godwit.test, whose keys (dnssec-keygen) the two Godwit instances
// sign with online; Unbound validates with the parent's KSK as its trust
// anchor and ECS on. Clients in different places get their nearest
// datacenter with the AD bit, negative answers validate too, and after the
// instances' keys are replaced by keys the parent has no DS for, Unbound
// answers SERVFAIL.
func TestDelegationSigned(t *testing.T) {
	testsupport.NeedTool(t, "dig")
	keygen := testsupport.NeedTool(t, "dnssec-keygen")
	signzone := testsupport.NeedTool(t, "dnssec-signzone")
	dsfromkey := testsupport.NeedTool(t, "dnssec-dsfromkey")
	nsdBin := sbinTool(t, "nsd")
	unboundBin := sbinTool(t, "unbound")
	testdata, err := filepath.Abs("../../testdata/delegation")
	if err != nil {
		t.Fatal(err)
	}
	parent, ns1, ns2 := port53Addrs(t)
	dir := t.TempDir()
	port := testsupport.FreePort(t, "127.0.0.1")
	data := map[string]any{"Dir": dir, "Testdata": testdata, "Parent": parent, "NS1": ns1, "NS2": ns2, "Port": port}
	for _, d := range []string{"zones", "keys", "pkeys"} {
		if err := os.Mkdir(filepath.Join(dir, d), 0o700); err != nil {
			t.Fatal(err)
		}
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
	run := func(bin string, args ...string) string {
		t.Helper()
		cmd := exec.Command(bin, args...)
		cmd.Dir = dir
		out, err := cmd.Output()
		if err != nil {
			msg := ""
			if ee, ok := err.(*exec.ExitError); ok {
				msg = string(ee.Stderr)
			}
			t.Fatalf("%s %v: %v\n%s", filepath.Base(bin), args, err, msg)
		}
		return strings.TrimSpace(string(out))
	}
	edit := func(name string, f func(string) string) {
		t.Helper()
		p := filepath.Join(dir, name)
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(f(string(b))), 0o644); err != nil {
			t.Fatal(err)
		}
	}

	// Godwit's keys, and the DS for them in the parent zone, signed.
	childKSK := run(keygen, "-q", "-K", "keys", "-a", "ECDSAP256SHA256", "-f", "KSK", "gslb.godwit.test")
	run(keygen, "-q", "-K", "keys", "-a", "ECDSAP256SHA256", "gslb.godwit.test")
	ds := run(dsfromkey, "-2", filepath.Join("keys", childKSK+".key"))
	parentKSK := run(keygen, "-q", "-K", "pkeys", "-a", "ECDSAP256SHA256", "-f", "KSK", "godwit.test")
	run(keygen, "-q", "-K", "pkeys", "-a", "ECDSAP256SHA256", "godwit.test")
	edit("godwit.test.zone", func(s string) string { return s + "\n" + ds + "\n" })
	run(signzone, "-S", "-K", "pkeys", "-o", "godwit.test", "-f", "godwit.test.zone.signed", "godwit.test.zone")
	edit("nsd.conf", func(s string) string {
		return strings.Replace(s, `zonefile: "godwit.test.zone"`, `zonefile: "godwit.test.zone.signed"`, 1)
	})
	edit("godwit.toml", func(s string) string { return s + "\n[dnssec]\nkeys_dir = \"keys\"\n" })
	// Unbound validates, with the parent's KSK as its trust anchor.
	anchor, err := os.ReadFile(filepath.Join(dir, "pkeys", parentKSK+".key"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "anchor.key"), anchor, 0o644); err != nil {
		t.Fatal(err)
	}
	edit("unbound.conf", func(s string) string {
		s = strings.Replace(s, `module-config: "subnetcache iterator"`, `module-config: "subnetcache validator iterator"`, 1)
		s = strings.Replace(s, `    domain-insecure: "test."`, `    trust-anchor-file: "`+filepath.Join(dir, "anchor.key")+`"`+"\n    val-log-level: 2", 1)
		if !strings.Contains(s, "validator") || !strings.Contains(s, "trust-anchor-file") {
			t.Fatalf("unbound.conf template changed:\n%s", s)
		}
		return s
	})

	nsd := startDaemon(t, "nsd", nsdBin, "-d", "-c", filepath.Join(dir, "nsd.conf"))
	waitDNS(t, nsd, net.JoinHostPort(parent, "53"), "godwit.test.", filepath.Join(dir, "nsd.log"))
	cfg := filepath.Join(dir, "godwit.toml")
	g1 := startGodwit(t, "-config", cfg, "-listen", net.JoinHostPort(ns1, "53"), "-nsid", "ns1")
	g2 := startGodwit(t, "-config", cfg, "-listen", net.JoinHostPort(ns2, "53"), "-nsid", "ns2")
	unbound := startDaemon(t, "unbound", unboundBin, "-d", "-c", filepath.Join(dir, "unbound.conf"))
	resolver := net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
	waitDNS(t, unbound, resolver, "godwit.test.", filepath.Join(dir, "unbound.log"))

	const name = "www.gslb.godwit.test"
	const (
		ams = "192.0.2.10"
		iad = "192.0.2.20"
		sin = "192.0.2.30"
	)
	unboundLog := func() string { b, _ := os.ReadFile(filepath.Join(dir, "unbound.log")); return string(b) }

	t.Run("parent's answers validate", func(t *testing.T) {
		r := digAt(t, resolver, "www.godwit.test", "A", "+dnssec")
		if r.status != "NOERROR" || !adFlagRE.MatchString(r.raw) {
			t.Fatalf("the signed parent does not validate:\n%s\n%s", r.raw, unboundLog())
		}
	})
	t.Run("nearest datacenter with AD through the resolver", func(t *testing.T) {
		for _, c := range []struct {
			client, addr string
			scope        int
		}{
			{"2.2.3.4", ams, 24},
			{"214.78.120.5", iad, 22},
			{"175.16.199.9", sin, 24},
		} {
			r := digAt(t, resolver, name, "A", "+dnssec", "+subnet="+c.client+"/32")
			if got := r.addrs(); len(got) != 1 || got[0] != c.addr || r.scope != c.scope || !adFlagRE.MatchString(r.raw) {
				t.Errorf("client %s: %v scope %d AD %v, want %s scope %d with AD\n%s", c.client, got, r.scope,
					adFlagRE.MatchString(r.raw), c.addr, c.scope, r.raw)
			}
		}
	})
	t.Run("negative answers validate", func(t *testing.T) {
		for _, q := range [][2]string{{"nope.gslb.godwit.test", "A"}, {"gslb.godwit.test", "TXT"}} {
			r := digAt(t, resolver, q[0], q[1], "+dnssec")
			if (r.status != "NXDOMAIN" && r.status != "NOERROR") || !adFlagRE.MatchString(r.raw) {
				t.Errorf("%s %s: %s without AD\n%s", q[0], q[1], r.status, r.raw)
			}
		}
	})

	// Replace the instances' keys with keys the parent has no DS for: the
	// chain breaks, and the resolver must refuse the answers.
	t.Run("keys without a DS: SERVFAIL", func(t *testing.T) {
		oldTag := keyTags(t, g1.dnsAddr)
		newDir := filepath.Join(dir, "newkeys")
		if err := os.Mkdir(newDir, 0o700); err != nil {
			t.Fatal(err)
		}
		run(keygen, "-q", "-K", "newkeys", "-a", "ECDSAP256SHA256", "-f", "KSK", "gslb.godwit.test")
		run(keygen, "-q", "-K", "newkeys", "-a", "ECDSAP256SHA256", "gslb.godwit.test")
		old, _ := filepath.Glob(filepath.Join(dir, "keys", "K*"))
		for _, f := range old {
			if err := os.Remove(f); err != nil {
				t.Fatal(err)
			}
		}
		fresh, _ := filepath.Glob(filepath.Join(newDir, "K*"))
		for _, f := range fresh {
			if err := os.Rename(f, filepath.Join(dir, "keys", filepath.Base(f))); err != nil {
				t.Fatal(err)
			}
		}
		for _, g := range []*godwitProc{g1, g2} {
			deadline := time.Now().Add(10 * time.Second)
			for keyTags(t, g.dnsAddr) == oldTag {
				if time.Now().After(deadline) {
					t.Fatalf("%s still serves the old keys 10 s after they were replaced", g.dnsAddr)
				}
				time.Sleep(50 * time.Millisecond) // poll interval: the watcher's reload has no signal here
			}
		}
		r := digAt(t, resolver, name, "AAAA", "+dnssec", "+subnet=81.2.69.142/32")
		if r.status != "SERVFAIL" {
			t.Errorf("keys the parent has no DS for: %s, want SERVFAIL\n%s", r.status, r.raw)
		}
	})
}

// keyTags returns the key tags of the DNSKEY RRset Godwit serves at addr.
func keyTags(t *testing.T, addr string) string {
	t.Helper()
	c := &mdns.Client{Timeout: 2 * time.Second}
	m := new(mdns.Msg)
	m.SetQuestion("gslb.godwit.test.", mdns.TypeDNSKEY)
	m.SetEdns0(1232, true)
	r, _, err := c.Exchange(m, addr)
	if err != nil {
		t.Fatal(err)
	}
	var tags []string
	for _, rr := range r.Answer {
		if k, ok := rr.(*mdns.DNSKEY); ok {
			tags = append(tags, strconv.Itoa(int(k.KeyTag())))
		}
	}
	return strings.Join(tags, " ")
}
