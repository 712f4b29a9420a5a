package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/godwit-dns/godwit/internal/testsupport"

	mdns "github.com/miekg/dns"
)

// TestSoakShort is the short version of `make soak` (testdata/soak/run.sh,
// docs/RELIABILITY.md): the real godwit binary, with the soak's config and
// BIRD templates, answers a steady Go query load for 15 s while its
// health backend flaps every second, a zone is rewritten every 0.5 s, the
// GeoIP DB is swapped every 5 s and the BIRD peer restarts once. No query
// may get SERVFAIL, next to none may go unanswered, and once the load stops
// the goroutines must be back near where they were before it.
func TestSoakShort(t *testing.T) {
	if testing.Short() {
		t.Skip("runs for 25 s")
	}
	bird := birdBinary(t)
	godwitBinary(t) // built once per test binary: not part of the budget
	testStart := time.Now()
	soakdata, err := filepath.Abs("../../testdata/soak")
	if err != nil {
		t.Fatal(err)
	}
	geoip, err := filepath.Abs("../../testdata/geoip")
	if err != nil {
		t.Fatal(err)
	}
	const (
		flapAddr   = "127.0.0.51"
		stableAddr = "127.0.0.52"
		birdAddr   = "127.0.0.53"
		loadFor    = 15 * time.Second
		qps        = 2000
		workers    = 4
	)
	dir := t.TempDir()
	for _, d := range []string{"zones", "geoip"} {
		if err := os.Mkdir(filepath.Join(dir, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	zones, err := filepath.Glob(filepath.Join(soakdata, "zones", "*.zone"))
	if err != nil || len(zones) == 0 {
		t.Fatalf("no soak zones: %v", err)
	}
	for _, z := range zones {
		soakCopy(t, z, filepath.Join(dir, "zones", filepath.Base(z)))
	}
	mmdbs := []string{filepath.Join(geoip, "godwit-city.mmdb"), filepath.Join(geoip, "GeoIP2-City-Test.mmdb")}
	soakCopy(t, mmdbs[0], filepath.Join(dir, "geoip", "city.mmdb"))

	healthPort, backends := startBackends(t, flapAddr, stableAddr)
	vars := map[string]any{
		"BGPPort": testsupport.FreePort(t, "127.0.0.1"), "BirdAddr": birdAddr, "BirdPort": testsupport.FreePort(t, birdAddr),
		"HealthPort": healthPort, "FlapAddr": flapAddr, "StableAddr": stableAddr,
		"CheckInterval": "250ms", "CheckTimeout": "200ms",
	}
	cfg := filepath.Join(dir, "godwit.toml")
	renderTemplate(t, filepath.Join(soakdata, "godwit.toml.tmpl"), cfg, vars)
	birdConf := filepath.Join(dir, "bird.conf")
	renderTemplate(t, filepath.Join(soakdata, "bird.conf.tmpl"), birdConf, vars)
	birdProc := startBird(t, bird, dir, "soak", birdConf)
	s := startGodwit(t, "-config", cfg)

	bgpUp := func() bool {
		text, _ := explainLive(t, s, "near.gslb.soak.test.", "198.18.1.1")
		return strings.Contains(text, "bgp "+birdAddr)
	}
	if !soakPoll(20*time.Second, bgpUp) {
		t.Fatalf("the route from BIRD is not in effect 20 s after start\nbird:\n%s", birdProc.out.String())
	}
	t.Logf("the route from BIRD in effect %v after the start", time.Since(testStart).Round(time.Millisecond))
	baseGoroutines := s.metric(t, "go_goroutines")
	baseTransitions := s.metric(t, "godwit_health_transitions_total")

	// The churn, each at its own cadence, until ctx ends.
	ctx, cancel := context.WithCancel(context.Background())
	var churn sync.WaitGroup
	every := func(d time.Duration, f func(n int)) {
		churn.Add(1)
		go func() {
			defer churn.Done()
			tick := time.NewTicker(d)
			defer tick.Stop()
			for n := 1; ; n++ {
				select {
				case <-ctx.Done():
					return
				case <-tick.C:
					f(n)
				}
			}
		}()
	}
	var serial atomic.Int64
	serial.Store(1)
	churnErrs := make(chan error, 16)
	every(time.Second, func(n int) { backends[flapAddr].Store(n%2 == 0) })
	every(500*time.Millisecond, func(n int) {
		serial.Store(int64(n + 1))
		if err := soakReplace(filepath.Join(dir, "zones", "churn.soak.test.zone"), []byte(churnZone(n+1))); err != nil {
			churnErrs <- err
		}
	})
	every(5*time.Second, func(n int) {
		data, err := os.ReadFile(mmdbs[n%2])
		if err == nil {
			err = soakReplace(filepath.Join(dir, "geoip", "city.mmdb"), data)
		}
		if err != nil {
			churnErrs <- err
		}
	})
	queries := soakQueries(t, filepath.Join(soakdata, "queries.txt"))
	st := &soakStats{}
	began := time.Now()
	loaded := make(chan struct{})
	go func() {
		defer close(loaded)
		soakLoad(ctx, s.dnsAddr, queries, workers, qps, loadFor, st)
	}()
	// The BIRD peer restarts once, a few seconds into the load.
	select {
	case <-loaded:
	case <-time.After(4 * time.Second):
		birdProc.stop(t)
		birdProc = startBird(t, bird, dir, "soak", birdConf)
	}
	<-loaded
	elapsed := time.Since(began)
	cancel()
	churn.Wait()
	close(churnErrs)
	for err := range churnErrs {
		t.Errorf("churn: %v", err)
	}

	sent, lost := st.sent.Load(), st.lost.Load()
	t.Logf("%d queries in %v (%.0f qps): %d unanswered, %d SERVFAIL, rcodes %s",
		sent, elapsed.Round(time.Millisecond), float64(sent)/elapsed.Seconds(), lost, st.servfail.Load(), st.rcodes())
	if st.servfail.Load() != 0 {
		t.Errorf("%d SERVFAIL answers", st.servfail.Load())
	}
	if other := st.other.Load(); other != 0 {
		t.Errorf("%d answers with an rcode other than NOERROR or NXDOMAIN (%s)", other, st.rcodes())
	}
	if tolerance := max(2, sent/2000); lost > tolerance { // 0.05 %
		t.Errorf("%d of %d queries unanswered within 1 s, more than %d; first: %s", lost, sent, tolerance, st.firstErr())
	}
	if want := int64(qps * loadFor.Seconds() * 0.8); sent < want {
		t.Errorf("the load sent %d queries, want at least %d", sent, want)
	}

	// Everything churned took effect: the last zone is served, the health
	// checks saw the flaps, the BIRD session came back, nothing failed to load.
	want := serial.Load()
	if !soakPoll(3*time.Second, func() bool { return soakTXTSerial(s.dnsAddr) == want }) {
		t.Errorf("the last zone rewrite (serial %d) is not served: TXT says %d", want, soakTXTSerial(s.dnsAddr))
	}
	if n := s.metric(t, "godwit_health_transitions_total") - baseTransitions; n < 4 {
		t.Errorf("%v health transitions during the load, want at least 4 (the backend flapped every second)", n)
	}
	if !soakPoll(15*time.Second, bgpUp) {
		t.Errorf("the route from BIRD is not back after its restart\nbird:\n%s", birdProc.out.String())
	}
	if n := s.metric(t, "godwit_reload_failures_total"); n != 0 {
		t.Errorf("%v reload failures; every file was replaced atomically", n)
	}
	var after float64
	if !soakPoll(5*time.Second, func() bool {
		after = s.metric(t, "go_goroutines")
		return after <= baseGoroutines+5
	}) {
		t.Errorf("goroutines: %v before the load, still %v 5 s after it", baseGoroutines, after)
	}
	t.Logf("goroutines %v before the load, %v after", baseGoroutines, after)
	if d := time.Since(testStart); d > 30*time.Second {
		t.Errorf("test took %v, over its 30 s budget", d)
	}
}

// churnZone is generation n of the soak's churned zone (serial n).
func churnZone(n int) string {
	return fmt.Sprintf("$ORIGIN churn.soak.test.\n$TTL 60\n@ IN SOA ns1 hostmaster.soak.test. %d 3600 600 604800 60\n"+
		"  IN NS ns1\nns1 IN A 127.0.0.1\nwww IN A 10.0.%d.%d\nwww IN TXT \"serial %d\"\n", n, n/256%256, n%256, n)
}

// soakTXTSerial asks for www.churn.soak.test TXT and returns the serial it
// names, -1 on any failure.
func soakTXTSerial(addr string) int64 {
	c := &mdns.Client{Timeout: time.Second}
	r, _, err := c.Exchange(testsupport.Query("www.churn.soak.test.", mdns.TypeTXT, ""), addr)
	if err != nil || len(r.Answer) != 1 {
		return -1
	}
	txt, ok := r.Answer[0].(*mdns.TXT)
	if !ok || len(txt.Txt) != 1 {
		return -1
	}
	n, err := strconv.ParseInt(strings.TrimPrefix(txt.Txt[0], "serial "), 10, 64)
	if err != nil {
		return -1
	}
	return n
}

// soakCopy copies a file.
func soakCopy(t *testing.T, src, dst string) {
	t.Helper()
	data, err := os.ReadFile(src)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(dst, data, 0o644); err != nil {
		t.Fatal(err)
	}
}

// soakReplace writes data to a temporary file beside path and renames it
// over path.
func soakReplace(path string, data []byte) error {
	tmp := filepath.Join(filepath.Dir(path), ".tmp-"+filepath.Base(path))
	if err := os.WriteFile(tmp, data, 0o644); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}

// soakPoll calls cond until it holds or timeout passes.
func soakPoll(timeout time.Duration, cond func() bool) bool {
	deadline := time.Now().Add(timeout)
	for {
		if cond() {
			return true
		}
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(100 * time.Millisecond) // poll interval, not a wait for a result
	}
}

// soakQuery is one line of testdata/soak/queries.txt (dnsperf's format).
type soakQuery struct {
	name  string
	qtype uint16
}

func soakQueries(t *testing.T, path string) []soakQuery {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var qs []soakQuery
	for i, line := range strings.Split(strings.TrimSpace(string(data)), "\n") {
		f := strings.Fields(line)
		qt, ok := mdns.TypeNone, false
		if len(f) == 2 {
			qt, ok = mdns.StringToType[strings.ToUpper(f[1])]
		}
		if !ok {
			t.Fatalf("%s:%d: want \"name type\", got %q", path, i+1, line)
		}
		qs = append(qs, soakQuery{mdns.Fqdn(f[0]), qt})
	}
	return qs
}

// soakStats counts what the load saw.
type soakStats struct {
	sent, lost, servfail, other atomic.Int64
	byRcode                     [24]atomic.Int64
	mu                          sync.Mutex
	err                         string
}

func (s *soakStats) rcodes() string {
	var parts []string
	for code := range s.byRcode {
		if n := s.byRcode[code].Load(); n > 0 {
			parts = append(parts, fmt.Sprintf("%s %d", mdns.RcodeToString[code], n))
		}
	}
	return strings.Join(parts, ", ")
}

func (s *soakStats) firstErr() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.err
}

// soakLoad sends the queries round-robin from workers UDP sockets at qps in
// all for d (or until ctx ends), every other one with ECS 81.2.69.142/32.
// Each query has a 1 s timeout and no retry; a timeout counts as lost.
func soakLoad(ctx context.Context, addr string, qs []soakQuery, workers, qps int, d time.Duration, st *soakStats) {
	var wg sync.WaitGroup
	interval := time.Duration(workers) * time.Second / time.Duration(qps)
	end := time.Now().Add(d)
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c := &mdns.Client{Net: "udp", Timeout: time.Second}
			conn, err := c.Dial(addr)
			if err != nil {
				st.lost.Add(1)
				st.mu.Lock()
				st.err = fmt.Sprintf("dial: %v", err)
				st.mu.Unlock()
				return
			}
			defer conn.Close()
			start := time.Now()
			for i := 0; time.Now().Before(end) && ctx.Err() == nil; i++ {
				if ahead := time.Until(start.Add(time.Duration(i) * interval)); ahead > time.Millisecond {
					time.Sleep(ahead) // pacing
				}
				q := qs[(i*workers+w)%len(qs)]
				ecs := ""
				if i%2 == 1 {
					ecs = "81.2.69.142"
				}
				r, _, err := c.ExchangeWithConn(testsupport.Query(q.name, q.qtype, ecs), conn)
				st.sent.Add(1)
				if err != nil {
					st.lost.Add(1)
					st.mu.Lock()
					if st.err == "" {
						st.err = fmt.Sprintf("%s %s: %v", q.name, mdns.TypeToString[q.qtype], err)
					}
					st.mu.Unlock()
					continue
				}
				if r.Rcode >= 0 && r.Rcode < len(st.byRcode) {
					st.byRcode[r.Rcode].Add(1)
				}
				switch r.Rcode {
				case mdns.RcodeSuccess, mdns.RcodeNameError:
				case mdns.RcodeServerFailure:
					st.servfail.Add(1)
				default:
					st.other.Add(1)
				}
			}
		}()
	}
	wg.Wait()
}
