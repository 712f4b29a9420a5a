package dns

import (
	"fmt"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/godwit-dns/godwit/internal/testsupport"

	mdns "github.com/miekg/dns"
	"github.com/prometheus/client_golang/prometheus"
)

func newRRL(t testing.TB, mod func(*RRLConfig)) *RRL {
	t.Helper()
	cfg := DefaultRRLConfig()
	cfg.ResponsesPerSecond = 5
	if mod != nil {
		mod(&cfg)
	}
	r, err := NewRRL(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// t0 is a fixed start time, in Unix nanoseconds.
const t0 = int64(1_800_000_000) * int64(time.Second)

type tally [3]int // by Action

func (c tally) String() string {
	return fmt.Sprintf("send %d slip %d drop %d", c[ActionSend], c[ActionSlip], c[ActionDrop])
}

// TestRRLFloodFromOnePrefix floods from many hosts of one /24 at 100
// responses a second for 10 seconds while another /24 asks once a second:
// the flood gets the first second's allowance and then only slips (every
// other limited response), the other prefix everything.
func TestRRLFloodFromOnePrefix(t *testing.T) {
	const rate, perSec, secs = 5, 100, 10
	r := newRRL(t, func(c *RRLConfig) { c.ResponsesPerSecond = rate })
	var flood, other tally
	for s := range secs {
		for i := range perSec {
			now := t0 + int64(s)*int64(time.Second) + int64(i)*int64(time.Second)/perSec
			src := netip.AddrFrom4([4]byte{192, 0, 2, byte(i)}) // any host of the /24
			flood[r.Check(src, ResponseAnswer, now)]++
			if i == 50 {
				other[r.Check(netip.MustParseAddr("198.51.100.9"), ResponseAnswer, now)]++
			}
		}
	}
	if flood[ActionSend] < rate || flood[ActionSend] > rate*secs {
		t.Errorf("flood: %v; want between %d and %d sent", flood, rate, rate*secs)
	}
	// BIND's accounting: once in debt, a source that keeps flooding stays there.
	if flood[ActionSend] != rate {
		t.Errorf("flood: %v; want exactly the first second's %d sent", flood, rate)
	}
	limited := flood[ActionSlip] + flood[ActionDrop]
	if limited != perSec*secs-flood[ActionSend] {
		t.Errorf("flood: %v does not add up to %d", flood, perSec*secs)
	}
	if want := (limited + 1) / 2; flood[ActionSlip] != want {
		t.Errorf("flood: %v; want %d slips (slip 2)", flood, want)
	}
	if other[ActionSend] != secs || other[ActionSlip]+other[ActionDrop] != 0 {
		t.Errorf("other prefix: %v; want all %d sent", other, secs)
	}
}

func TestRRLRecovers(t *testing.T) {
	r := newRRL(t, func(c *RRLConfig) { c.ResponsesPerSecond = 2; c.Window = Duration(5 * time.Second) })
	src := netip.MustParseAddr("192.0.2.1")
	for i := range 50 {
		r.Check(src, ResponseAnswer, t0+int64(i)*int64(time.Millisecond))
	}
	// Balance is at the floor, -window × rate = -10: 5 quiet seconds earn it
	// back to 0, so one more second is needed.
	if a := r.Check(src, ResponseAnswer, t0+5*int64(time.Second)); a == ActionSend {
		t.Errorf("after 5 quiet seconds: %v, want still limited", a)
	}
	if a := r.Check(src, ResponseAnswer, t0+12*int64(time.Second)); a != ActionSend {
		t.Errorf("after a window of quiet: %v, want send", a)
	}
}

// TestRRLClockSkew: concurrent callers read the clock on both sides of a
// second boundary and store out of order; a time slightly in the past is
// no time, not a long quiet that would forgive a flood its debt.
func TestRRLClockSkew(t *testing.T) {
	r := newRRL(t, func(c *RRLConfig) { c.ResponsesPerSecond = 2; c.Slip = 0 })
	src := netip.MustParseAddr("192.0.2.1")
	next := t0 + int64(time.Second)
	var got tally
	for range 100 {
		got[r.Check(src, ResponseAnswer, next)]++   // one goroutine is past the boundary
		got[r.Check(src, ResponseAnswer, next-1)]++ // another read the clock just before
	}
	if got[ActionSend] != 2 {
		t.Errorf("%v, want 2 sent", got)
	}
}

func TestRRLSteadyUnderRate(t *testing.T) {
	r := newRRL(t, func(c *RRLConfig) { c.ResponsesPerSecond = 5 })
	src := netip.MustParseAddr("2001:db8::1")
	var got tally
	for i := range 500 { // 5 a second for 100 seconds
		got[r.Check(src, ResponseAnswer, t0+int64(i)*int64(time.Second)/5)]++
	}
	if got[ActionSend] != 500 {
		t.Errorf("steady 5/s at rate 5: %v", got)
	}
}

func TestRRLAggregation(t *testing.T) {
	r := newRRL(t, func(c *RRLConfig) { c.ResponsesPerSecond = 1; c.Slip = 0 })
	tests := []struct {
		first, second string
		shared        bool
	}{
		{"192.0.2.1", "192.0.2.254", true},
		{"192.0.3.1", "192.0.4.1", false},
		{"2001:db8:0:100::1", "2001:db8:0:1ff:ffff::2", true}, // one /56
		{"2001:db8:0:200::1", "2001:db8:0:300::1", false},
		{"::ffff:203.0.113.1", "203.0.113.2", true}, // mapped counts as IPv4
		{"10.0.0.0", "::a00:0", false},              // families apart
	}
	for i, tt := range tests {
		now := t0 + int64(i)*int64(time.Hour)
		a, b := netip.MustParseAddr(tt.first), netip.MustParseAddr(tt.second)
		if got := r.Check(a, ResponseAnswer, now); got != ActionSend {
			t.Fatalf("%s first: %v", tt.first, got)
		}
		got := r.Check(b, ResponseAnswer, now)
		if shared := got != ActionSend; shared != tt.shared {
			t.Errorf("%s then %s: %v; shared allowance %v, want %v", tt.first, tt.second, got, shared, tt.shared)
		}
	}
}

func TestRRLKindsAndNamesApart(t *testing.T) {
	r := newRRL(t, func(c *RRLConfig) { c.ResponsesPerSecond = 1; c.Slip = 0 })
	src := netip.MustParseAddr("192.0.2.1")
	if r.Check(src, ResponseNXDomain, t0) != ActionSend || r.Check(src, ResponseNXDomain, t0) != ActionDrop {
		t.Fatal("nxdomain not limited at 1/s")
	}
	if a := r.Check(src, ResponseAnswer, t0); a != ActionSend {
		t.Errorf("answer after nxdomain flood: %v", a)
	}
	if a := r.CheckKey(src, ResponseAnswer, NameHash("other.example."), t0); a != ActionSend {
		t.Errorf("answer about another name: %v", a)
	}
	if a := r.CheckKey(src, ResponseAnswer, NameHash("OTHER.example."), t0); a != ActionDrop {
		t.Errorf("same name in other case: %v, want drop", a)
	}
}

func TestRRLSlipRatio(t *testing.T) {
	for _, slip := range []int{0, 1, 2, 3, 10} {
		r := newRRL(t, func(c *RRLConfig) { c.ResponsesPerSecond = 1; c.Slip = slip })
		src := netip.MustParseAddr("192.0.2.1")
		var got tally
		var seq []Action
		for range 61 {
			a := r.Check(src, ResponseAnswer, t0)
			got[a]++
			seq = append(seq, a)
		}
		limited := 60
		want := 0
		if slip > 0 {
			want = (limited + slip - 1) / slip
		}
		if got[ActionSend] != 1 || got[ActionSlip] != want {
			t.Errorf("slip %d: %v, want 1 sent and %d slips", slip, got, want)
		}
		if slip > 0 && seq[1] != ActionSlip {
			t.Errorf("slip %d: the first limited response is %v, want slip", slip, seq[1])
		}
	}
}

func TestRRLExempt(t *testing.T) {
	r := newRRL(t, func(c *RRLConfig) {
		c.ResponsesPerSecond = 1
		c.Exempt = []string{"192.0.2.0/24", "2001:db8::53"}
	})
	for _, s := range []string{"192.0.2.77", "2001:db8::53", "::ffff:192.0.2.1"} {
		src := netip.MustParseAddr(s)
		for i := range 100 {
			if a := r.Check(src, ResponseAnswer, t0); a != ActionSend {
				t.Fatalf("exempt %s, response %d: %v", s, i, a)
			}
		}
	}
	src := netip.MustParseAddr("2001:db8::54")
	r.Check(src, ResponseAnswer, t0)
	if a := r.Check(src, ResponseAnswer, t0); a == ActionSend {
		t.Errorf("a neighbour of an exempt host is not limited")
	}
}

func TestRRLOff(t *testing.T) {
	var nilRRL *RRL
	off := newRRL(t, func(c *RRLConfig) { c.ResponsesPerSecond = 0 })
	if off.table != nil {
		t.Error("a table allocated while off")
	}
	src := netip.MustParseAddr("192.0.2.1")
	for _, r := range []*RRL{nilRRL, off} {
		for range 100 {
			if a := r.Check(src, ResponseAnswer, t0); a != ActionSend {
				t.Fatalf("off: %v", a)
			}
		}
		if r.Enabled() {
			t.Error("Enabled while off")
		}
	}
	if err := off.RegisterMetrics(prometheus.NewRegistry()); err != nil {
		t.Error(err)
	}
}

// TestRRLBoundedMemory: a million distinct clients allocate nothing, and a
// flooding source keeps its debt while they come and go in a table larger
// than the number that are active at once.
func TestRRLBoundedMemory(t *testing.T) {
	r := newRRL(t, func(c *RRLConfig) { c.ResponsesPerSecond = 1; c.Slip = 0; c.TableSize = 1 << 16 })
	victim := netip.MustParseAddr("203.0.113.1")
	r.Check(victim, ResponseAnswer, t0)
	n := 0
	allocs := testing.AllocsPerRun(1, func() {
		for i := range 1 << 20 {
			src := netip.AddrFrom4([4]byte{10, byte(i >> 16), byte(i >> 8), byte(i)})
			if i%1024 == 0 {
				src = netip.AddrFrom16([16]byte{0x20, 0x01, 0x0d, 0xb8, byte(i >> 16), byte(i >> 8), byte(i)})
			}
			r.Check(src, ResponseAnswer, t0)
			n++
		}
	})
	if allocs != 0 {
		t.Errorf("%v allocations for %d clients", allocs, n)
	}
	if len(r.table) != 1<<16 {
		t.Errorf("table grew to %d", len(r.table))
	}
	// The crowd is 4096 IPv4 /24s and 1024 IPv6 /56s: fewer than the table
	// holds, so the victim's debt survives.
	if a := r.Check(victim, ResponseAnswer, t0); a != ActionDrop {
		t.Errorf("victim after the crowd: %v, want still limited", a)
	}
}

func TestRRLCheckAllocatesNothing(t *testing.T) {
	r := newRRL(t, func(c *RRLConfig) { c.Exempt = []string{"192.0.2.0/24"} })
	m := new(mdns.Msg)
	m.SetQuestion("www.example.test.", mdns.TypeA)
	m.Answer = rrs("www.example.test. 300 IN A 192.0.2.1")
	src := netip.MustParseAddr("198.51.100.1")
	now := t0
	allocs := testing.AllocsPerRun(1000, func() {
		now += int64(time.Millisecond)
		r.CheckReply(src, m, now)
		r.Check(netip.MustParseAddr("2001:db8::1"), ResponseError, now)
	})
	if allocs != 0 {
		t.Errorf("%v allocations per check", allocs)
	}
}

// TestRRLConcurrentExact: the compare-and-swap keeps the count exact when
// many goroutines debit one entry in the same second.
func TestRRLConcurrentExact(t *testing.T) {
	const rate = 100
	r := newRRL(t, func(c *RRLConfig) { c.ResponsesPerSecond = rate })
	src := netip.MustParseAddr("192.0.2.1")
	var wg sync.WaitGroup
	var mu sync.Mutex
	var total tally
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var got tally
			for range 1000 {
				got[r.Check(src, ResponseAnswer, t0)]++
			}
			mu.Lock()
			for i := range got {
				total[i] += got[i]
			}
			mu.Unlock()
		}()
	}
	wg.Wait()
	if total[ActionSend] != rate || total[ActionSlip] != (8000-rate)/2 {
		t.Errorf("8 goroutines × 1000 at rate %d: %v", rate, total)
	}
}

func TestRRLMetrics(t *testing.T) {
	r := newRRL(t, func(c *RRLConfig) { c.ResponsesPerSecond = 1 })
	reg := prometheus.NewRegistry()
	if err := r.RegisterMetrics(reg); err != nil {
		t.Fatal(err)
	}
	src := netip.MustParseAddr("192.0.2.1")
	for range 11 {
		r.Check(src, ResponseAnswer, t0)
	}
	if s, d := testsupport.CounterValue(r.slipped), testsupport.CounterValue(r.dropped); s != 5 || d != 5 {
		t.Errorf("counted slip %v drop %v, want 5 and 5", s, d)
	}
	mfs, err := reg.Gather()
	if err != nil || len(mfs) != 1 || mfs[0].GetName() != "godwit_dns_rrl_total" {
		t.Errorf("gathered %v, %v", mfs, err)
	}
}

func TestResponseKey(t *testing.T) {
	msg := func(rcode int, aa bool, answer, ns []mdns.RR) *mdns.Msg {
		m := new(mdns.Msg)
		m.SetQuestion("Www.Example.Test.", mdns.TypeA)
		m.Response, m.Rcode, m.Authoritative = true, rcode, aa
		m.Answer, m.Ns = answer, ns
		return m
	}
	soa := rrs(soaText)
	tests := []struct {
		name string
		m    *mdns.Msg
		kind ResponseKind
		key  uint64
	}{
		{"answer", msg(mdns.RcodeSuccess, true, rrs("www.example.test. 300 IN A 192.0.2.1"), nil),
			ResponseAnswer, NameHash("www.example.test.") ^ uint64(mdns.TypeA)<<48},
		{"nodata", msg(mdns.RcodeSuccess, true, nil, soa), ResponseNoData, NameHash("www.example.test.") ^ uint64(mdns.TypeA)<<48},
		{"nxdomain by zone", msg(mdns.RcodeNameError, true, nil, soa), ResponseNXDomain, NameHash("example.test.")},
		{"referral", msg(mdns.RcodeSuccess, false, nil, rrs("sub.example.test. 300 IN NS ns.sub.example.test.")),
			ResponseReferral, NameHash("sub.example.test.")},
		{"refused", msg(mdns.RcodeRefused, false, nil, nil), ResponseError, 0},
		{"servfail", msg(mdns.RcodeServerFailure, false, nil, nil), ResponseError, 0},
	}
	for _, tt := range tests {
		k, key := ResponseKey(tt.m)
		if k != tt.kind || key != tt.key {
			t.Errorf("%s: %v %#x, want %v %#x", tt.name, k, key, tt.kind, tt.key)
		}
	}
}

func TestSlipReply(t *testing.T) {
	m := withEDNS(query("www.example.test.", mdns.TypeA), 1232, true)
	m.Response, m.Authoritative = true, true
	m.Answer = rrs("www.example.test. 300 IN A 192.0.2.1")
	s := SlipReply(m)
	b, err := s.Pack()
	if err != nil {
		t.Fatal(err)
	}
	got := new(mdns.Msg)
	if err := got.Unpack(b); err != nil {
		t.Fatal(err)
	}
	if !got.Truncated || got.Authoritative || got.Id != m.Id || len(got.Answer) != 0 || len(got.Question) != 1 || got.IsEdns0() != nil {
		t.Errorf("slip reply: %v", got)
	}
	if len(m.Answer) != 1 || m.Truncated {
		t.Error("SlipReply changed the reply it was given")
	}
}

func TestRRLConfigValidate(t *testing.T) {
	tests := []struct {
		name string
		mod  func(*RRLConfig)
		want string // "" = valid
	}{
		{"defaults", func(*RRLConfig) {}, ""},
		{"production", func(c *RRLConfig) { c.ResponsesPerSecond = 20; c.Exempt = []string{"10.0.0.0/8", "::1"} }, ""},
		{"negative rate", func(c *RRLConfig) { c.ResponsesPerSecond = -1 }, "responses_per_second: -1"},
		{"huge rate", func(c *RRLConfig) { c.ResponsesPerSecond = 1e9 }, "responses_per_second"},
		{"slip", func(c *RRLConfig) { c.Slip = 11 }, "slip: 11"},
		{"window fraction", func(c *RRLConfig) { c.Window = Duration(1500 * time.Millisecond) }, "window"},
		{"window long", func(c *RRLConfig) { c.Window = Duration(2 * time.Hour) }, "window"},
		{"v4 len", func(c *RRLConfig) { c.IPv4PrefixLen = 33 }, "ipv4_prefix_len"},
		{"v6 len", func(c *RRLConfig) { c.IPv6PrefixLen = 128 }, "ipv6_prefix_len"},
		{"table odd", func(c *RRLConfig) { c.TableSize = 5000 }, "table_size"},
		{"exempt junk", func(c *RRLConfig) { c.Exempt = []string{"10.0.0.0/8", "nope"} }, "exempt[1]"},
		{"exempt host bits", func(c *RRLConfig) { c.Exempt = []string{"10.0.0.1/8"} }, "host bits"},
	}
	for _, tt := range tests {
		c := DefaultRRLConfig()
		tt.mod(&c)
		err := c.Validate()
		switch {
		case tt.want == "" && err != nil:
			t.Errorf("%s: %v", tt.name, err)
		case tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)):
			t.Errorf("%s: %v, want %q", tt.name, err, tt.want)
		}
	}
	// Through the [server] section, keys are prefixed.
	c := DefaultConfig()
	c.RRL.Slip = -1
	if err := c.Validate(); err == nil || !strings.Contains(err.Error(), "rrl.slip") {
		t.Errorf("server section: %v", err)
	}
	if d := DefaultConfig().RRL; d.Slip != 2 || d.ResponsesPerSecond != 0 || d.Window.D() != 15*time.Second {
		t.Errorf("defaults %+v", d)
	}
}

func BenchmarkRRLCheck(b *testing.B) {
	r := newRRL(b, func(c *RRLConfig) { c.ResponsesPerSecond = 20 })
	b.Run("one-client", func(b *testing.B) {
		b.ReportAllocs()
		src := netip.MustParseAddr("192.0.2.1")
		for i := 0; b.Loop(); i++ {
			r.Check(src, ResponseAnswer, t0+int64(i))
		}
	})
	b.Run("many-clients", func(b *testing.B) {
		b.ReportAllocs()
		for i := 0; b.Loop(); i++ {
			r.Check(netip.AddrFrom4([4]byte{10, byte(i >> 16), byte(i >> 8), byte(i)}), ResponseAnswer, t0)
		}
	})
	b.Run("reply-parallel", func(b *testing.B) {
		b.ReportAllocs()
		m := new(mdns.Msg)
		m.SetQuestion("www.example.test.", mdns.TypeA)
		m.Answer = rrs("www.example.test. 300 IN A 192.0.2.1")
		b.RunParallel(func(pb *testing.PB) {
			i := 0
			for pb.Next() {
				i++
				r.CheckReply(netip.AddrFrom4([4]byte{10, 1, byte(i >> 8), byte(i)}), m, time.Now().UnixNano())
			}
		})
	})
}

func TestAppendSlip(t *testing.T) {
	q := withEDNS(query("WwW.example.test.", mdns.TypeA), 1232, true)
	q.RecursionDesired, q.CheckingDisabled, q.AuthenticatedData = true, true, true
	pkt := mustPack(t, q)
	qend := 12 + len("WwW.example.test.") + 1 + 4
	dst := make([]byte, 0, 512)
	allocs := testing.AllocsPerRun(100, func() { AppendSlip(dst[:0], pkt, qend, 0) })
	out := AppendSlip(dst[:0], pkt, qend, 0)
	r := new(mdns.Msg)
	if err := r.Unpack(out); err != nil {
		t.Fatal(err)
	}
	if allocs != 0 || !r.Response || !r.Truncated || r.Id != q.Id || flags(r) != "qr tc rd cd" ||
		len(r.Question) != 1 || r.Question[0].Name != "WwW.example.test." || len(r.Extra) != 0 {
		t.Errorf("slip %v (flags %q, %v allocs)", r, flags(r), allocs)
	}
	if got := AppendSlip(nil, pkt[:11], 11, 0); len(got) != 0 {
		t.Errorf("short packet: %x", got)
	}
}

// TestRRLOnHandlerReplies runs the handler's own replies through the
// limiter as the wiring does: a flood of one name is limited, a flood of
// random names in one zone shares the zone's NXDOMAIN allowance, and other
// names and clients are not affected.
func TestRRLOnHandlerReplies(t *testing.T) {
	env := newTestEnv(nil)
	env.z.record = false
	r := newRRL(t, func(c *RRLConfig) { c.ResponsesPerSecond = 3 })
	src := netip.MustParseAddr("192.0.2.1")
	ask := func(name string, qtype uint16, from netip.Addr) Action {
		t.Helper()
		out := env.h.Handle(make([]byte, replyBufSize), mustPack(t, query(name, qtype)), from, false)
		m := new(mdns.Msg)
		if err := m.Unpack(out); err != nil {
			t.Fatal(err)
		}
		return r.CheckReply(from, m, t0)
	}
	var www, nx tally
	for i := range 20 {
		www[ask("www.example.test.", mdns.TypeA, src)]++
		nx[ask(fmt.Sprintf("r%d.example.test.", i), mdns.TypeA, src)]++
	}
	if www[ActionSend] != 3 || nx[ActionSend] != 3 {
		t.Errorf("www %v, random nxdomain %v; want 3 sent each", www, nx)
	}
	if a := ask("big.example.test.", mdns.TypeTXT, src); a != ActionSend {
		t.Errorf("another name: %v", a)
	}
	if a := ask("www.example.test.", mdns.TypeA, netip.MustParseAddr("192.0.3.1")); a != ActionSend {
		t.Errorf("another prefix: %v", a)
	}
	if k, _ := ResponseKey(SlipReply(&mdns.Msg{MsgHdr: mdns.MsgHdr{Rcode: mdns.RcodeRefused}})); k != ResponseError {
		t.Errorf("slip of a REFUSED is %v", k)
	}
}
