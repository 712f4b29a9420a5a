package routes

import (
	"context"
	"fmt"
	"log/slog"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/godwit-dns/godwit/internal/testsupport"
)

type birdPeer struct {
	name    string
	addr    string // loopback address BIRD binds
	asn     uint32
	passive bool           // BIRD only accepts (our side dials)
	routes4 map[string]int // prefix -> prepends
	routes6 map[string]int
}

// startBird writes a config for p, starts BIRD in the foreground and stops it
// in t.Cleanup. It returns the running command.
func startBird(t *testing.T, p birdPeer, port, ourPort int) *exec.Cmd {
	t.Helper()
	dir := t.TempDir()
	var b strings.Builder
	fmt.Fprintf(&b, "log stderr all;\nrouter id %s;\nprotocol device { }\n", p.addr)
	writeFamily := func(fam string, routes map[string]int) {
		fmt.Fprintf(&b, "protocol static st%s { %s;\n", fam, fam)
		for pfx := range routes {
			fmt.Fprintf(&b, "  route %s blackhole;\n", pfx)
		}
		fmt.Fprintf(&b, "}\nfilter to_gslb%s {\n", fam)
		for pfx, n := range routes {
			if n > 0 {
				fmt.Fprintf(&b, "  if net = %s then {%s }\n", pfx, strings.Repeat(fmt.Sprintf(" bgp_path.prepend(%d);", p.asn), n))
			}
		}
		b.WriteString("  accept;\n}\n")
	}
	writeFamily("ipv4", p.routes4)
	writeFamily("ipv6", p.routes6)
	fmt.Fprintf(&b, `protocol bgp gslb {
  local %s port %d as %d;
  neighbor 127.0.0.1 port %d as 65000;
  strict bind yes;
  multihop; hold time 9; keepalive time 3; connect retry time 1; connect delay time 1;
  passive %s;
  ipv4 { import none; export filter to_gslbipv4; next hop self; };
  ipv6 { import none; export filter to_gslbipv6; next hop address 2001:db8::1; };
}
`, p.addr, port, p.asn, ourPort, map[bool]string{true: "on", false: "off"}[p.passive])
	conf := filepath.Join(dir, p.name+".conf")
	if err := os.WriteFile(conf, []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	out := &testsupport.LockedBuffer{}
	cmd := exec.Command("bird", "-f", "-c", conf, "-s", filepath.Join(dir, p.name+".ctl"), "-P", filepath.Join(dir, p.name+".pid"))
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		t.Fatalf("start bird %s: %v", p.name, err)
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
			t.Logf("bird %s output:\n%s\nconfig:\n%s", p.name, out.String(), b.String())
		}
	})
	return cmd
}

// waitFor polls f until it returns want or the deadline passes.
func waitFor(t *testing.T, what string, d time.Duration, want string, f func() string) {
	t.Helper()
	deadline := time.Now().Add(d)
	got := f()
	for got != want {
		if time.Now().After(deadline) {
			t.Fatalf("%s: after %v got\n%s\nwant\n%s", what, d, got, want)
		}
		time.Sleep(50 * time.Millisecond) // polling interval, not a wait for readiness
		got = f()
	}
}

func reachString(tbl *Table, addrs ...string) string {
	var lines []string
	for _, a := range addrs {
		m, ok := tbl.Lookup(netip.MustParseAddr(a))
		s := a + " -> "
		if !ok {
			s += "none"
		} else {
			s += m.Prefix.String()
			for _, r := range m.Reach {
				s += fmt.Sprintf(" %s/%d", r.Datacenter, r.PathLen)
			}
		}
		lines = append(lines, s)
	}
	return strings.Join(lines, "\n")
}

func TestSpeakerWithBird(t *testing.T) {
	if _, err := exec.LookPath("bird"); err != nil {
		t.Skip("bird (BIRD 2) is not installed; `apt-get install bird2` (make deps does) to run this test")
	}
	for _, impl := range []string{ImplGobgp, ImplNative} {
		t.Run(impl, func(t *testing.T) { testSpeakerWithBird(t, impl) })
	}
}

func testSpeakerWithBird(t *testing.T, impl string) {
	ctx, cancel := context.WithTimeout(context.Background(), 40*time.Second)
	t.Cleanup(cancel)

	ourPort := testsupport.FreePort(t, "127.0.0.1")
	portA, portB := testsupport.FreePort(t, "127.0.0.2"), testsupport.FreePort(t, "127.0.0.3")
	cfg := BGPConfig{ASN: 65000, RouterID: "127.0.0.1", Implementation: impl, Listen: fmt.Sprintf("127.0.0.1:%d", ourPort), Peers: []PeerConfig{
		// We dial ams (its BIRD is passive); fra dials us (we are passive).
		{Address: "127.0.0.2", ASN: 65001, Port: uint16(portA), Datacenter: "ams", LocalAddress: "127.0.0.1"},
		{Address: "127.0.0.3", ASN: 65002, Port: uint16(portB), Datacenter: "fra", Passive: true},
	}}
	var changes atomic.Int64
	r := New()
	r.SetStatic(NewTable(map[netip.Prefix][]Reach{
		netip.MustParsePrefix("0.0.0.0/0"): {{Datacenter: "iad", PathLen: 50, Source: "static"}},
	}))
	var sp *Speaker
	sp, err := NewSpeaker(cfg, slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelWarn})), func() {
		changes.Add(1)
		r.SetBGP(sp.Table())
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := sp.Start(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(sp.Stop)

	startBird(t, birdPeer{name: "ams", addr: "127.0.0.2", asn: 65001, passive: true,
		routes4: map[string]int{"198.51.100.0/24": 2, "203.0.113.0/24": 0, "192.0.2.0/24": 0},
		routes6: map[string]int{"2001:db8:100::/48": 0},
	}, portA, ourPort)
	birdB := startBird(t, birdPeer{name: "fra", addr: "127.0.0.3", asn: 65002,
		routes4: map[string]int{"198.51.100.0/24": 0, "203.0.113.0/24": 3, "203.0.113.128/25": 1},
		routes6: map[string]int{"2001:db8:100::/48": 1, "2001:db8:200::/48": 0},
	}, portB, ourPort)

	t0 := time.Now()
	addrs := []string{"198.51.100.1", "203.0.113.1", "203.0.113.200", "192.0.2.1", "2001:db8:100::1", "2001:db8:200::1", "10.0.0.1"}
	// BIRD adds its own AS: path length = prepends + 1.
	waitFor(t, "routes from both peers", 20*time.Second, strings.Join([]string{
		"198.51.100.1 -> 198.51.100.0/24 fra/1 ams/3", // shortest path first
		"203.0.113.1 -> 203.0.113.0/24 ams/1 fra/4",
		"203.0.113.200 -> 203.0.113.128/25 fra/2", // more specific wins over a shorter path
		"192.0.2.1 -> 192.0.2.0/24 ams/1",
		"2001:db8:100::1 -> 2001:db8:100::/48 ams/1 fra/2",
		"2001:db8:200::1 -> 2001:db8:200::/48 fra/1",
		"10.0.0.1 -> 0.0.0.0/0 iad/50", // static layer still answers
	}, "\n"), func() string { return reachString(r.Snapshot(), addrs...) })
	t.Logf("converged %v after start", time.Since(t0).Round(time.Millisecond))
	if changes.Load() == 0 {
		t.Error("onChange never called")
	}
	if v4, v6 := sp.Table().Len(); v4 != 4 || v6 != 2 {
		t.Errorf("speaker table Len = %d, %d; want 4, 2", v4, v6)
	}
	peerString := func() string {
		var s []string
		for _, p := range sp.Peers() {
			s = append(s, fmt.Sprintf("%s %s %s %d", p.Address, p.Datacenter, p.State, p.Prefixes))
		}
		return strings.Join(s, "\n")
	}
	waitFor(t, "peer states", 5*time.Second,
		"127.0.0.2 ams established 4\n127.0.0.3 fra established 5", peerString)

	// fra's router goes away: its routes must be purged promptly.
	start := time.Now()
	if err := birdB.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "purge of fra after SIGTERM", 5*time.Second, strings.Join([]string{
		"198.51.100.1 -> 198.51.100.0/24 ams/3",
		"203.0.113.1 -> 203.0.113.0/24 ams/1",
		"203.0.113.200 -> 203.0.113.0/24 ams/1",
		"192.0.2.1 -> 192.0.2.0/24 ams/1",
		"2001:db8:100::1 -> 2001:db8:100::/48 ams/1",
		"2001:db8:200::1 -> 0.0.0.0/0 iad/50",
		"10.0.0.1 -> 0.0.0.0/0 iad/50",
	}, "\n"), func() string {
		s := reachString(r.Snapshot(), addrs...)
		// An IPv6 address has no IPv4 default; show the static fallback the same way.
		return strings.Replace(s, "2001:db8:200::1 -> none", "2001:db8:200::1 -> 0.0.0.0/0 iad/50", 1)
	})
	t.Logf("fra purged %v after SIGTERM", time.Since(start).Round(time.Millisecond))
	waitFor(t, "peer states after SIGTERM", 5*time.Second,
		"127.0.0.2 ams established 4\n127.0.0.3 fra active 0", func() string {
			return strings.Replace(peerString(), "fra idle", "fra active", 1)
		})

	// Removing ams at run time purges its routes too.
	cfg.Peers = cfg.Peers[1:]
	if err := sp.UpdatePeers(ctx, cfg); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "purge of ams after UpdatePeers", 5*time.Second, "0 0", func() string {
		v4, v6 := sp.Table().Len()
		return fmt.Sprint(v4, v6)
	})
	if got := len(sp.Peers()); got != 1 {
		t.Errorf("%d peers after UpdatePeers, want 1", got)
	}
}
