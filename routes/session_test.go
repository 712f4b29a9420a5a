package routes

import (
	"context"
	"fmt"
	"log/slog"
	"net/netip"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/godwit-dns/godwit/internal/testsupport"
	"github.com/osrg/gobgp/v4/pkg/packet/bgp"
)

// TestNativeSessionLifecycle: the native session notices a frozen router by
// its hold timer, a killed one at once, reconnects to a router that comes
// back, and Stop is bounded.
func TestNativeSessionLifecycle(t *testing.T) {
	if _, err := exec.LookPath("bird"); err != nil {
		t.Skip("bird (BIRD 2) is not installed; `apt-get install bird2` (make deps does) to run this test")
	}
	if testing.Short() {
		t.Skip("-short: waits for a 9 s hold timer")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	t.Cleanup(cancel)
	port := testsupport.FreePort(t, "127.0.0.2")
	ourPort := testsupport.FreePort(t, "127.0.0.1") // BIRD's neighbor port; unused as BIRD is passive
	cfg := BGPConfig{ASN: 65000, RouterID: "127.0.0.1", Implementation: ImplNative, Peers: []PeerConfig{
		{Address: "127.0.0.2", ASN: 65001, Port: uint16(port), Datacenter: "ams", LocalAddress: "127.0.0.1"},
	}}
	sp, err := NewSpeaker(cfg, slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelWarn})), nil)
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
	peer := birdPeer{name: "ams", addr: "127.0.0.2", asn: 65001, passive: true,
		routes4: map[string]int{"198.51.100.0/24": 2}, routes6: map[string]int{"2001:db8:100::/48": 0}}
	addrs := []string{"198.51.100.1", "2001:db8:100::1"}
	learned := "198.51.100.1 -> 198.51.100.0/24 ams/3\n2001:db8:100::1 -> 2001:db8:100::/48 ams/1"
	gone := "198.51.100.1 -> none\n2001:db8:100::1 -> none"
	table := func() string { return reachString(sp.Table(), addrs...) }

	bird := startBird(t, peer, port, ourPort)
	waitFor(t, "routes", 20*time.Second, learned, table)

	// A frozen router keeps its socket open: only the hold timer (9 s,
	// BIRD's, lower than ours) notices.
	if err := bird.Process.Signal(syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "purge on hold timer expiry", 15*time.Second, gone, table)
	if ps := sp.Peers()[0]; ps.LastError != "hold timer expired" || ps.State == "established" {
		t.Errorf("peer after hold expiry: state %q, last error %q", ps.State, ps.LastError)
	}
	if err := bird.Process.Signal(syscall.SIGCONT); err != nil {
		t.Fatal(err)
	}
	// (BIRD now waits its "error wait time", 60 s, before taking a session
	// again, so the reconnection is tested with a restarted BIRD instead.)

	// Killed: the kernel closes the connection; purge at once, then the
	// session comes back with a new BIRD on the same port.
	if err := bird.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "purge after kill -9", 5*time.Second, gone, table)
	startBird(t, peer, port, ourPort)
	waitFor(t, "routes after restart", 20*time.Second, learned, table)
	waitFor(t, "peer state", 5*time.Second, "established 2", func() string {
		ps := sp.Peers()[0]
		return fmt.Sprint(ps.State, " ", ps.Prefixes)
	})

	start := time.Now()
	sp.Stop()
	stopped = true
	if d := time.Since(start); d > stopTimeout+time.Second {
		t.Errorf("Stop took %v", d)
	}
	if got := sp.Peers()[0].State; got != "idle" {
		t.Errorf("state after Stop = %q, want idle", got)
	}
}

// TestUpdateEvents: withdrawals and NLRI of both families and the AS-path
// length rule (sequence counts each AS, set counts 1, confederations 0).
func TestUpdateEvents(t *testing.T) {
	a := netip.MustParseAddr("127.0.0.2")
	p4 := func(s string) bgp.PathNLRI {
		n, err := bgp.NewIPAddrPrefix(netip.MustParsePrefix(s))
		if err != nil {
			t.Fatal(err)
		}
		return bgp.PathNLRI{NLRI: n}
	}
	mpReach, err := bgp.NewPathAttributeMpReachNLRI(bgp.RF_IPv6_UC, []bgp.PathNLRI{p4("2001:db8::/32")}, netip.MustParseAddr("2001:db8::1"))
	if err != nil {
		t.Fatal(err)
	}
	mpUnreach, err := bgp.NewPathAttributeMpUnreachNLRI(bgp.RF_IPv6_UC, []bgp.PathNLRI{p4("2001:db8:1::/48")})
	if err != nil {
		t.Fatal(err)
	}
	asPath := bgp.NewPathAttributeAsPath([]bgp.AsPathParamInterface{
		bgp.NewAs4PathParam(bgp.BGP_ASPATH_ATTR_TYPE_SEQ, []uint32{1, 2, 3}),
		bgp.NewAs4PathParam(bgp.BGP_ASPATH_ATTR_TYPE_SET, []uint32{4, 5}),
		bgp.NewAs4PathParam(bgp.BGP_ASPATH_ATTR_TYPE_CONFED_SEQ, []uint32{6, 7}),
	})
	msg := bgp.NewBGPUpdateMessage([]bgp.PathNLRI{p4("192.0.2.0/24")},
		[]bgp.PathAttributeInterface{bgp.NewPathAttributeOrigin(0), asPath, mpReach, mpUnreach},
		[]bgp.PathNLRI{p4("198.51.100.0/24")})
	// Through the wire format, as a session sees it.
	b, err := msg.Serialize()
	if err != nil {
		t.Fatal(err)
	}
	m, err := bgp.ParseBGPMessage(b)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, ev := range updateEvents(a, m.Body.(*bgp.BGPUpdate)) {
		got = append(got, fmt.Sprintf("%s w=%v len=%d", ev.prefix, ev.withdraw, ev.pathLen))
	}
	want := "192.0.2.0/24 w=true len=0\n2001:db8:1::/48 w=true len=0\n2001:db8::/32 w=false len=4\n198.51.100.0/24 w=false len=4"
	if g := strings.Join(got, "\n"); g != want {
		t.Errorf("events:\n%s\nwant\n%s", g, want)
	}
	// End-of-RIB: an empty UPDATE yields nothing.
	if evs := updateEvents(a, bgp.NewBGPUpdateMessage(nil, nil, nil).Body.(*bgp.BGPUpdate)); len(evs) != 0 {
		t.Errorf("End-of-RIB gave %d events", len(evs))
	}
}
