package cluster

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/godwit-dns/godwit/internal/testsupport"

	"github.com/nats-io/nats.go"
)

// natsServer is a nats-server with JetStream on 127.0.0.1, started by a test.
type natsServer struct {
	t    testing.TB
	port int
	dir  string
	args []string // more nats-server arguments
	user string   // for the readiness check
	pass string
	mu   sync.Mutex
	cmd  *exec.Cmd
}

// startNATS starts nats-server on a free port with its store in a fresh
// directory and waits until it accepts a client; t.Cleanup kills it.
func startNATS(t testing.TB, args ...string) *natsServer {
	t.Helper()
	return startNATSAuth(t, "", "", args...)
}

// startNATSAuth is startNATS for a server that wants a user and password.
func startNATSAuth(t testing.TB, user, pass string, args ...string) *natsServer {
	t.Helper()
	testsupport.NeedTool(t, "nats-server")
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	s := &natsServer{t: t, port: port, dir: t.TempDir(), args: args, user: user, pass: pass}
	s.start()
	t.Cleanup(s.stop)
	return s
}

func (s *natsServer) url() string { return "nats://127.0.0.1:" + strconv.Itoa(s.port) }

func (s *natsServer) start() {
	s.t.Helper()
	cmd := exec.Command("nats-server", append([]string{"-js", "-a", "127.0.0.1", "-p", strconv.Itoa(s.port), "-sd", s.dir}, s.args...)...)
	cmd.Stdout, cmd.Stderr = nil, nil
	if testing.Verbose() {
		cmd.Stderr = os.Stderr
	}
	if err := cmd.Start(); err != nil {
		s.t.Fatalf("start nats-server: %v", err)
	}
	s.mu.Lock()
	s.cmd = cmd
	s.mu.Unlock()
	// Ready when a client connects and JetStream answers.
	deadline := time.Now().Add(10 * time.Second)
	for {
		nc, err := nats.Connect(s.url(), nats.Timeout(time.Second), nats.UserInfo(s.user, s.pass))
		if err == nil {
			_, err = nc.Request("$JS.API.INFO", nil, time.Second)
			nc.Close()
			if err == nil {
				return
			}
		}
		if time.Now().After(deadline) {
			s.stop()
			s.t.Fatalf("nats-server on port %d not ready: %v", s.port, err)
		}
		time.Sleep(20 * time.Millisecond) // polling the readiness signal: the server has no other
	}
}

// stop kills the server by its PID and waits for it.
func (s *natsServer) stop() {
	s.mu.Lock()
	cmd := s.cmd
	s.cmd = nil
	s.mu.Unlock()
	if cmd == nil {
		return
	}
	cmd.Process.Kill()
	cmd.Wait()
}

func testConfig(url, instance string, ttl time.Duration) Config {
	return Config{
		Engine: EngineNATS, URLs: []string{url}, Name: "test", Instance: instance,
		Site: "site-" + instance, VerdictTTL: Duration(ttl), Rule: "quorum", Quorum: 2,
	}
}

// member is a running Cluster in a test.
type member struct {
	*Cluster
	eng  *NATS
	stop func()
}

func join(t testing.TB, cfg Config) *member {
	t.Helper()
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug})).With("inst", cfg.Instance)
	e, err := NewNATS(cfg, log)
	if err != nil {
		t.Fatal(err)
	}
	c := New(cfg, e, log)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- c.Run(ctx) }()
	var once sync.Once
	m := &member{Cluster: c, eng: e}
	m.stop = func() {
		once.Do(func() {
			cancel()
			e.Close()
			<-done
		})
	}
	t.Cleanup(m.stop)
	return m
}

// waitFor waits until cond holds for m's Snapshot, woken by Changed, and
// returns how long that took.
func waitFor(t testing.TB, m *member, what string, timeout time.Duration, cond func(*Snapshot) bool) time.Duration {
	t.Helper()
	start := time.Now()
	timer := time.NewTimer(timeout)
	defer timer.Stop()
	for {
		if cond(m.Snapshot()) {
			return time.Since(start)
		}
		select {
		case <-m.Changed():
		case <-timer.C:
			t.Fatalf("%s: %s not within %v; snapshot link %+v, verdicts %+v, overrides %v",
				m.cfg.Instance, what, timeout, m.Snapshot().Link, m.Snapshot().Verdicts(), m.Snapshot().Overrides())
		}
	}
}

func linkIs(s LinkState) func(*Snapshot) bool {
	return func(sn *Snapshot) bool { return sn.Link.State == s }
}

func votesFrom(check string, addr netip.Addr, want ...string) func(*Snapshot) bool {
	return func(s *Snapshot) bool {
		var got []string
		for _, v := range s.Votes(check, addr) {
			got = append(got, v.Instance)
		}
		slices.Sort(got)
		return slices.Equal(got, want)
	}
}

func hasOverride(kind, key, state, origin string) func(*Snapshot) bool {
	return func(s *Snapshot) bool {
		o, ok := s.Override(kind, key)
		return ok && o.State == state && o.Origin == origin
	}
}

// TestNATSCluster runs three instances against one real nats-server
// through the whole life of a cluster: join, share verdicts, expire a dead
// instance's, spread an override, lose the engine, rejoin.
func TestNATSCluster(t *testing.T) {
	srv := startNATS(t)
	const ttl = 2 * time.Second
	a := join(t, testConfig(srv.url(), "a", ttl))
	b := join(t, testConfig(srv.url(), "b", ttl))
	c := join(t, testConfig(srv.url(), "c", ttl))
	all := []*member{a, b, c}
	for _, m := range all {
		waitFor(t, m, "link up", 10*time.Second, linkIs(LinkUp))
	}

	// Verdicts: each sees the other two's, not its own, with site and state.
	addr := netip.MustParseAddr("2001:db8::10") // an IPv6 address needs key escaping
	now := time.Now()
	a.Report("web", addr, false, now)
	b.Report("web", addr, true, now)
	c.Report("web", addr, true, now)
	waitFor(t, a, "votes of b and c", 5*time.Second, votesFrom("web", addr, "b", "c"))
	waitFor(t, b, "votes of a and c", 5*time.Second, votesFrom("web", addr, "a", "c"))
	waitFor(t, c, "votes of a and b", 5*time.Second, votesFrom("web", addr, "a", "b"))
	for _, v := range b.Snapshot().Votes("web", addr) {
		if v.Instance == "a" && (v.Up || v.Site != "site-a" || v.Check != "web" || v.Address != addr) {
			t.Errorf("b sees a's vote as %+v", v)
		}
	}
	// Its own verdict comes back through the engine too, maybe after the others'.
	waitFor(t, a, "3 verdicts in all (its own included)", 5*time.Second, func(s *Snapshot) bool { return len(s.Verdicts()) == 3 })

	// A dead instance's verdicts expire.
	c.stop()
	d := waitFor(t, a, "c's vote gone", 3*ttl, func(s *Snapshot) bool {
		return !slices.ContainsFunc(s.Verdicts(), func(v Verdict) bool { return v.Instance == "c" })
	})
	t.Logf("a stopped instance's verdicts stopped counting %v after it stopped (ttl %v)", d.Round(time.Millisecond), ttl)
	c = join(t, testConfig(srv.url(), "c", ttl))
	all[2] = c
	waitFor(t, c, "link up", 10*time.Second, linkIs(LinkUp))

	// An override set on one instance reaches all three within a second.
	start := time.Now()
	if err := a.SetOverride(context.Background(), KindDatacenter, "ams", StateDrain, start); err != nil {
		t.Fatal(err)
	}
	for _, m := range all {
		waitFor(t, m, "override from a", time.Second-time.Since(start), hasOverride(KindDatacenter, "ams", StateDrain, "a"))
		t.Logf("%s sees a's override %v after a set it", m.cfg.Instance, time.Since(start).Round(time.Microsecond))
	}

	// The engine dies: every instance says so, keeps the override, and
	// counts no remote votes.
	b.Report("web", addr, true, time.Now().Add(time.Hour)) // force a fresh publish
	waitFor(t, a, "b's vote", 5*time.Second, votesFrom("web", addr, "b"))
	srv.stop()
	for _, m := range all {
		waitFor(t, m, "link down", 5*time.Second, linkIs(LinkDown))
		s := m.Snapshot()
		if _, ok := s.Override(KindDatacenter, "ams"); !ok {
			t.Errorf("%s: override lost with the engine", m.cfg.Instance)
		}
		if v := s.Votes("web", addr); v != nil {
			t.Errorf("%s: votes while the engine is away: %v", m.cfg.Instance, v)
		}
		if s.Link.Since.IsZero() {
			t.Errorf("%s: link down without a time", m.cfg.Instance)
		}
	}
	if err := b.SetOverride(context.Background(), KindAddress, "192.0.2.1", StateDown, time.Now()); err != ErrNotConnected {
		t.Errorf("SetOverride while away: %v, want ErrNotConnected", err)
	}

	// The engine is back (same store): everyone rejoins by itself, the
	// override survived, and new changes flow again.
	start = time.Now()
	srv.start()
	for _, m := range all {
		waitFor(t, m, "link up again", 15*time.Second, linkIs(LinkUp))
	}
	t.Logf("all three rejoined %v after the server was ready again", time.Since(start).Round(time.Millisecond))
	for _, m := range all {
		waitFor(t, m, "override after restart", 5*time.Second, hasOverride(KindDatacenter, "ams", StateDrain, "a"))
	}
	if err := b.SetOverride(context.Background(), KindDatacenter, "ams", StateClear, time.Now()); err != nil {
		t.Fatal(err)
	}
	for _, m := range all {
		waitFor(t, m, "override cleared", 5*time.Second, func(s *Snapshot) bool { _, ok := s.Override(KindDatacenter, "ams"); return !ok })
	}
	now = time.Now()
	for _, m := range all {
		m.Report("web", addr, true, now)
	}
	waitFor(t, a, "votes after rejoin", 5*time.Second, votesFrom("web", addr, "b", "c"))
}

// TestNATSForeignValues: values of another cluster, or under the wrong
// key, are dropped and counted.
func TestNATSForeignValues(t *testing.T) {
	srv := startNATS(t)
	a := join(t, testConfig(srv.url(), "a", 5*time.Second))
	waitFor(t, a, "link up", 10*time.Second, linkIs(LinkUp))
	b := a.eng.kv.Load()
	ctx := context.Background()
	v := Verdict{Instance: "x", Check: "web", Address: netip.MustParseAddr("192.0.2.1"), At: time.Now()}
	if _, err := b.verdicts.Put(ctx, verdictKeyOf(v), encodeVerdict("other", v)); err != nil {
		t.Fatal(err)
	}
	w := v
	w.Instance = "y"
	if _, err := b.verdicts.Put(ctx, verdictKeyOf(w), encodeVerdict("test", v)); err != nil { // value says x
		t.Fatal(err)
	}
	if _, err := b.overrides.Put(ctx, "datacenter.ams", []byte("not json")); err != nil {
		t.Fatal(err)
	}
	waitFor(t, a, "3 rejected", 5*time.Second, func(s *Snapshot) bool { return s.Rejected == 3 })
	if n := len(a.Snapshot().Verdicts()); n != 0 {
		t.Errorf("%d verdicts accepted, want 0", n)
	}
}

// TestNATSStartWithoutEngine: an instance starts while the engine is down,
// says "connecting", and joins once it comes up.
func TestNATSStartWithoutEngine(t *testing.T) {
	srv := startNATS(t)
	srv.stop()
	a := join(t, testConfig(srv.url(), "a", 5*time.Second))
	if s := a.Snapshot().Link.State; s != LinkConnecting {
		t.Fatalf("link %v before the engine exists, want connecting", s)
	}
	srv.start()
	waitFor(t, a, "link up", 15*time.Second, linkIs(LinkUp))
}

// BenchmarkPropagation measures how long a verdict and an override take
// from one instance's publish to another's Snapshot (median, 95th
// percentile), and the payload bytes per verdict.
func BenchmarkPropagation(b *testing.B) {
	srv := startNATS(b)
	x := join(b, testConfig(srv.url(), "x", time.Minute))
	y := join(b, testConfig(srv.url(), "y", time.Minute))
	z := join(b, testConfig(srv.url(), "z", time.Minute))
	for _, m := range []*member{x, y, z} {
		waitFor(b, m, "link up", 10*time.Second, linkIs(LinkUp))
	}
	addr := netip.MustParseAddr("192.0.2.10")
	var vd, od []time.Duration
	st0 := x.eng.Stats()
	i := 0
	for b.Loop() {
		i++
		up := i%2 == 0
		start := time.Now()
		x.Report("web", addr, up, start)
		waitFor(b, y, "verdict", 5*time.Second, func(s *Snapshot) bool {
			v := s.Votes("web", addr)
			return len(v) == 1 && v[0].Up == up
		})
		vd = append(vd, time.Since(start))
		waitFor(b, z, "verdict", 5*time.Second, func(s *Snapshot) bool {
			v := s.Votes("web", addr)
			return len(v) == 1 && v[0].Up == up
		})

		state := []string{StateDrain, StateUp}[i%2]
		start = time.Now()
		if err := x.SetOverride(context.Background(), KindDatacenter, "ams", state, start); err != nil {
			b.Fatal(err)
		}
		waitFor(b, y, "override", 5*time.Second, hasOverride(KindDatacenter, "ams", state, "x"))
		od = append(od, time.Since(start))
		waitFor(b, z, "override", 5*time.Second, hasOverride(KindDatacenter, "ams", state, "x"))
	}
	st := x.eng.Stats()
	b.ReportMetric(float64(pct(vd, 50).Microseconds()), "verdict-p50-µs")
	b.ReportMetric(float64(pct(vd, 95).Microseconds()), "verdict-p95-µs")
	b.ReportMetric(float64(pct(od, 50).Microseconds()), "override-p50-µs")
	b.ReportMetric(float64(pct(od, 95).Microseconds()), "override-p95-µs")
	msgs := st.OutMsgs - st0.OutMsgs
	if msgs > 0 {
		// Out: one verdict and one override per round (JetStream puts).
		b.ReportMetric(float64(st.OutBytes-st0.OutBytes)/float64(msgs), "payload-B/put")
	}
	v := Verdict{Instance: "x", Site: "site-x", Check: "web", Address: addr, At: time.Now()}
	key := verdictBucket("test") + "." + verdictKeyOf(v)
	b.ReportMetric(float64(len(encodeVerdict("test", v))), "verdict-payload-B")
	b.ReportMetric(float64(len("$KV.")+len(key)), "verdict-subject-B")
}

func pct(d []time.Duration, p int) time.Duration {
	if len(d) == 0 {
		return 0
	}
	s := slices.Clone(d)
	slices.Sort(s)
	return s[(len(s)-1)*p/100]
}

// procIO returns the bytes a process has read and written through
// syscalls (sockets included), from /proc/PID/io.
func procIO(tb testing.TB, pid int) (rchar, wchar int64) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/io", pid))
	if err != nil {
		tb.Skipf("no /proc io counters: %v", err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		k, v, _ := strings.Cut(line, ": ")
		n, _ := strconv.ParseInt(strings.TrimSpace(v), 10, 64)
		switch k {
		case "rchar":
			rchar = n
		case "wchar":
			wchar = n
		}
	}
	return rchar, wchar
}

// BenchmarkVerdictTraffic measures the engine traffic of one verdict with
// three instances watching: what nats-server reads (the put) and writes
// (the ack and one delivery per watcher), counted at the server's
// syscalls. Verdicts live in memory, so no disk writes are in the count.
func BenchmarkVerdictTraffic(b *testing.B) {
	srv := startNATS(b)
	x := join(b, testConfig(srv.url(), "x", time.Minute))
	y := join(b, testConfig(srv.url(), "y", time.Minute))
	z := join(b, testConfig(srv.url(), "z", time.Minute))
	for _, m := range []*member{x, y, z} {
		waitFor(b, m, "link up", 10*time.Second, linkIs(LinkUp))
	}
	addr := netip.MustParseAddr("192.0.2.10")
	srv.mu.Lock()
	pid := srv.cmd.Process.Pid
	srv.mu.Unlock()
	r0, w0 := procIO(b, pid)
	n := 0
	for b.Loop() {
		n++
		up := n%2 == 0
		x.Report("web", addr, up, time.Now())
		for _, m := range []*member{y, z} {
			waitFor(b, m, "verdict", 5*time.Second, func(s *Snapshot) bool {
				v := s.Votes("web", addr)
				return len(v) == 1 && v[0].Up == up
			})
		}
	}
	r1, w1 := procIO(b, pid)
	b.ReportMetric(float64(r1-r0)/float64(n), "server-in-B/verdict")
	b.ReportMetric(float64(w1-w0)/float64(n), "server-out-B/verdict")
}

// TestNATSUserPassword: credentials come from user_file and password_file;
// a wrong password keeps the instance out (connecting, with the reason)
// and the reason does not show the password.
func TestNATSUserPassword(t *testing.T) {
	dir := t.TempDir()
	conf := dir + "/nats.conf"
	if err := os.WriteFile(conf, []byte("authorization { user: godwit, password: \"right-pass\" }\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	srv := startNATSAuth(t, "godwit", "right-pass", "-c", conf)
	write := func(name, content string) string {
		p := dir + "/" + name
		if err := os.WriteFile(p, []byte(content+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	cfg := testConfig(srv.url(), "a", 5*time.Second)
	cfg.UserFile, cfg.PasswordFile = write("user", "godwit"), write("bad", "wrong-pass")
	bad := join(t, cfg)
	waitFor(t, bad, "the refusal", 10*time.Second, func(s *Snapshot) bool { return s.Link.Err != "" })
	s := bad.Snapshot()
	if s.Link.State == LinkUp || strings.Contains(s.Link.Err, "wrong-pass") || strings.Contains(fmt.Sprintf("%+v", bad.cfg), "wrong-pass") {
		t.Errorf("wrong password: link %+v", s.Link)
	}
	t.Logf("wrong password: link %s: %s", s.Link.State, s.Link.Err)

	cfg.Instance, cfg.PasswordFile = "b", write("good", "right-pass")
	good := join(t, cfg)
	waitFor(t, good, "link up", 10*time.Second, linkIs(LinkUp))
}
