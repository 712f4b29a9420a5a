package routes

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/godwit-dns/godwit/internal/testsupport"
)

// scaleSites are the three site routers one BIRD plays in TestSpeakerScale.
var scaleSites = []string{"ams", "iad", "sin"}

// scalePrefixes returns n4 IPv4 /24s (20.0.0.0, 20.0.1.0, ...) and n6 IPv6
// /48s (2001:db8:0::/48, ...): the same prefixes from every site.
func scalePrefixes(n4, n6 int) (v4, v6 []netip.Prefix) {
	for i := range n4 {
		v4 = append(v4, netip.PrefixFrom(netip.AddrFrom4([4]byte{20 + byte(i>>16), byte(i >> 8), byte(i), 0}), 24).Masked())
	}
	for i := range n6 {
		v6 = append(v6, netip.PrefixFrom(netip.AddrFrom16([16]byte{0x20, 0x01, 0x0d, 0xb8, byte(i >> 8), byte(i)}), 48))
	}
	return v4, v6
}

// startScaleBird starts one BIRD exporting v4 and v6 over three passive
// sessions on 127.0.0.2-4 (site k prepends its AS k times: path lengths 1,
// 2, 3). It returns the control socket path for birdc.
func startScaleBird(t *testing.T, v4, v6 []netip.Prefix, ports []int) string {
	t.Helper()
	dir := t.TempDir()
	var b strings.Builder
	b.WriteString("router id 127.0.0.2;\nprotocol device { }\nprotocol static st4 { ipv4;\n")
	for _, p := range v4 {
		fmt.Fprintf(&b, "route %s blackhole;\n", p)
	}
	b.WriteString("}\nprotocol static st6 { ipv6;\n")
	for _, p := range v6 {
		fmt.Fprintf(&b, "route %s blackhole;\n", p)
	}
	b.WriteString("}\n")
	dummy := testsupport.FreePort(t, "127.0.0.1")
	for k, s := range scaleSites {
		asn := 65001 + k
		fmt.Fprintf(&b, "filter to_%s { %s accept; }\n", s, strings.Repeat(fmt.Sprintf("bgp_path.prepend(%d); ", asn), k))
		// One protocol per neighbour address and port: distinct unused ports.
		fmt.Fprintf(&b, `protocol bgp %s {
  local 127.0.0.%d port %d as %d;
  neighbor 127.0.0.1 port %d as 65000;
  strict bind yes; passive on; multihop; hold time 9; keepalive time 3;
  ipv4 { import none; export filter to_%s; next hop self; };
  ipv6 { import none; export filter to_%s; next hop address 2001:db8::1; };
}
`, s, k+2, ports[k], asn, dummy+1+k, s, s)
	}
	conf, ctl := filepath.Join(dir, "bird.conf"), filepath.Join(dir, "bird.ctl")
	if err := os.WriteFile(conf, []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	out := &testsupport.LockedBuffer{}
	cmd := exec.Command("bird", "-f", "-c", conf, "-s", ctl, "-P", filepath.Join(dir, "bird.pid"))
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		t.Fatalf("start bird: %v", err)
	}
	exited := make(chan struct{})
	go func() { _ = cmd.Wait(); close(exited) }()
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(3 * time.Second):
			_ = cmd.Process.Kill()
			<-exited
		}
		if t.Failed() {
			t.Logf("bird output:\n%s", out.String())
		}
	})
	return ctl
}

// TestSpeakerScale feeds the speaker three sessions of 20,000 routes each
// (the small version of make bench-large's BGP case): every route arrives,
// Peers() stays truthful while they do, a session disabled at the router
// moves the answers to the other sites, and Stop is bounded.
func TestSpeakerScale(t *testing.T) {
	if _, err := exec.LookPath("bird"); err != nil {
		t.Skip("bird (BIRD 2) is not installed; `apt-get install bird2` (make deps does) to run this test")
	}
	if testing.Short() {
		t.Skip("-short: 60,000 BGP routes")
	}
	for _, impl := range []string{ImplGobgp, ImplNative} {
		t.Run(impl, func(t *testing.T) { testSpeakerScale(t, impl) })
	}
}

func testSpeakerScale(t *testing.T, impl string) {
	const n4, n6 = 18000, 2000
	v4, v6 := scalePrefixes(n4, n6)
	ports := make([]int, len(scaleSites))
	cfg := BGPConfig{ASN: 65000, RouterID: "127.0.0.1", Implementation: impl,
		CacheFile: filepath.Join(t.TempDir(), "bgp.cache"), StaleTimeout: Duration(time.Hour)}
	for k, s := range scaleSites {
		ports[k] = testsupport.FreePort(t, fmt.Sprintf("127.0.0.%d", k+2))
		cfg.Peers = append(cfg.Peers, PeerConfig{Address: fmt.Sprintf("127.0.0.%d", k+2), ASN: uint32(65001 + k),
			Port: uint16(ports[k]), Datacenter: s, LocalAddress: "127.0.0.1"})
	}
	ctl := startScaleBird(t, v4, v6, ports)

	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	t.Cleanup(cancel)
	changed := make(chan struct{}, 1)
	logBuf := &testsupport.LockedBuffer{}
	sp, err := NewSpeaker(cfg, slog.New(slog.NewTextHandler(io.MultiWriter(t.Output(), logBuf), &slog.HandlerOptions{Level: slog.LevelWarn})), func() {
		select {
		case changed <- struct{}{}:
		default:
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := sp.Start(ctx); err != nil {
		t.Fatal(err)
	}
	stopped := false
	t.Cleanup(func() {
		if !stopped {
			sp.Stop()
		}
	})

	// wait runs check on every publication (and every 100 ms) until it
	// returns "", failing with its last answer at the deadline.
	wait := func(what string, check func() string) {
		t.Helper()
		for {
			msg := check()
			if msg == "" {
				return
			}
			select {
			case <-ctx.Done():
				t.Fatalf("%s: %s", what, msg)
			case <-changed:
			case <-time.After(100 * time.Millisecond): // polling interval, not a readiness wait
			}
		}
	}

	// Convergence. Peers() must be truthful throughout: a peer with routes
	// is established, and once up a peer stays up (the old Peers asked gobgp
	// with a 2 s deadline and reported loaded peers down).
	t0 := time.Now()
	wasUp := make(map[string]bool)
	var slowest time.Duration
	wait("convergence", func() string {
		ts := time.Now()
		ps := sp.Peers()
		slowest = max(slowest, time.Since(ts))
		var got []string
		done := true
		for _, p := range ps {
			if p.Prefixes > 0 && p.State != "established" {
				t.Fatalf("peer %s has %d routes but state %q", p.Datacenter, p.Prefixes, p.State)
			}
			if wasUp[p.Datacenter] && p.State != "established" {
				t.Fatalf("peer %s reported %q after being established", p.Datacenter, p.State)
			}
			wasUp[p.Datacenter] = p.State == "established"
			done = done && p.Prefixes == n4+n6
			got = append(got, fmt.Sprintf("%s %s %d", p.Datacenter, p.State, p.Prefixes))
		}
		if done {
			return ""
		}
		return fmt.Sprintf("peers %v, want %d routes each", got, n4+n6)
	})
	t.Logf("3 x %d routes in %v (slowest Peers() call %v)", n4+n6, time.Since(t0).Round(time.Millisecond), slowest)
	if l4, l6 := sp.Table().Len(); l4 != n4 || l6 != n6 {
		t.Fatalf("table has %d + %d prefixes, want %d + %d", l4, l6, n4, n6)
	}
	probes := []string{v4[0].Addr().Next().String(), v4[n4-1].Addr().Next().String(), v6[n6/2].Addr().Next().String()}
	want := func(reach string) string {
		var lines []string
		for i, a := range probes {
			p := []netip.Prefix{v4[0], v4[n4-1], v6[n6/2]}[i]
			lines = append(lines, a+" -> "+p.String()+reach)
		}
		return strings.Join(lines, "\n")
	}
	if got, w := reachString(sp.Table(), probes...), want(" ams/1 iad/2 sin/3"); got != w {
		t.Fatalf("answers after convergence:\n%s\nwant\n%s", got, w)
	}

	// ams's router drops the session: its routes go at once, by the peer
	// event, not one withdrawal at a time.
	t0 = time.Now()
	if out, err := exec.Command("birdc", "-s", ctl, "disable", "ams").CombinedOutput(); err != nil {
		t.Fatalf("birdc disable ams: %v: %s", err, out)
	}
	wait("answers after ams is disabled", func() string {
		if got, w := reachString(sp.Table(), probes...), want(" iad/2 sin/3"); got != w {
			return got
		}
		return ""
	})
	t.Logf("answers moved %v after disable", time.Since(t0).Round(time.Millisecond))
	wait("peer states after ams is disabled", func() string {
		ps := sp.Peers()
		if ps[0].State == "established" || ps[0].Prefixes != 0 || ps[1].Prefixes != n4+n6 || ps[2].Prefixes != n4+n6 {
			return fmt.Sprintf("%+v", ps)
		}
		return ""
	})
	// The loss is logged at WARN with the peer and the reason, which the
	// status page shows too.
	if ps := sp.Peers(); ps[0].LastError == "" || ps[1].LastError != "" {
		t.Errorf("last errors %q %q: want ams's reason and none for iad", ps[0].LastError, ps[1].LastError)
	}
	if l := logBuf.String(); !strings.Contains(l, "level=WARN msg=\"bgp session down; its routes are withdrawn\"") || !strings.Contains(l, "datacenter=ams") {
		t.Errorf("no WARN for the lost session in:\n%s", l)
	}

	t0 = time.Now()
	sp.Stop()
	stopped = true
	if d := time.Since(t0); d > stopTimeout+time.Second {
		t.Errorf("Stop took %v, want at most %v", d, stopTimeout+time.Second)
	}
	if got, w := reachString(sp.Table(), probes...), want(" iad/2 sin/3"); got != w {
		t.Errorf("table after Stop:\n%s\nwant the last one\n%s", got, w)
	}

	// A restart with the cache Stop wrote: the last table answers at once,
	// stale; ams (enabled again) adds its routes, and once all three
	// routers have sent End-of-RIB nothing is stale.
	if out, err := exec.Command("birdc", "-s", ctl, "enable", "ams").CombinedOutput(); err != nil {
		t.Fatalf("birdc enable ams: %v: %s", err, out)
	}
	sp2, err := NewSpeaker(cfg, slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelWarn})), func() {
		select {
		case changed <- struct{}{}:
		default:
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	t0 = time.Now()
	if err := sp2.Start(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(sp2.Stop)
	<-sp2.cacheRead
	loaded := time.Since(t0)
	if got, w := reachString(sp2.Table(), probes...), want(" iad/2 sin/3"); got != w {
		t.Fatalf("table at restart:\n%s\nwant the cached one\n%s", got, w)
	}
	if st := sp2.Stale(); st.Routes != 2*(n4+n6) || st.Loaded != 2*(n4+n6) {
		t.Errorf("stale state at restart %+v, want %d routes", st, 2*(n4+n6))
	}
	wait("in sync after the restart", func() string {
		st := sp2.Stale()
		got := reachString(sp2.Table(), probes...)
		if w := want(" ams/1 iad/2 sin/3"); got != w || st.Stale {
			return fmt.Sprintf("stale %v (%d routes), table\n%s", st.Stale, st.Routes, got)
		}
		return ""
	})
	t.Logf("restart: cached table (%d routes) answering %v after Start, in sync after %v",
		2*(n4+n6), loaded.Round(time.Millisecond), time.Since(t0).Round(time.Millisecond))
}
