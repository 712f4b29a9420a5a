package server

import (
	"context"
	"fmt"
	"log/slog"
	"net/netip"
	"os"
	"path/filepath"
	"runtime/debug"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/godwit-dns/godwit/internal/testsupport"

	mdns "github.com/miekg/dns"
	dto "github.com/prometheus/client_model/go"

	"github.com/godwit-dns/godwit/status"
)

// The reload tests run godwit in-process (start) on 127.0.0.1:0 from a
// temporary directory, change its files the way operators do (write in
// place, write-rename, delete) and watch the answers and the reports.

const reloadConfig = `[server]
listen = ["127.0.0.1:0"]
[status]
listen = "%s"
[zones]
dir = "zones"
[geo]
city_db = "geoip/city.mmdb"
[routes]
file = "routes.txt"
[health]
state_file = "state.txt"

[[datacenter]]
name = "ams"
location = [52.37, 4.90]
asn = [65001]

[[datacenter]]
name = "iad"
location = [39.04, -77.49]
asn = [65002]

[[service]]
name = "geo.gslb.example.test."
policy = "geo"
fallback = "failover"
answers = 1
map = { "country:US" = ["iad"], "continent:EU" = ["ams"] }
  [[service.target]]
  datacenter = "ams"
  addresses = ["192.0.2.10"]
  [[service.target]]
  datacenter = "iad"
  addresses = ["192.0.2.20"]

[[service]]
name = "rr.gslb.example.test."
policy = "round-robin"
answers = 1
  [[service.target]]
  datacenter = "ams"
  addresses = ["%s"]
`

const gslbZone = `$ORIGIN gslb.example.test.
$TTL 60
@ SOA ns1 hostmaster %d 3600 600 86400 60
@ NS ns1
ns1 A 127.0.0.1
static TXT "gen %d"
`

// exampleZone is generation n of example.test: www is a CNAME to vN,
// whose A record (10.0.hi.lo) and TXT record both encode n, and n extra
// records r1..rN.
func exampleZone(n int) string {
	var b strings.Builder
	fmt.Fprintf(&b, "$ORIGIN example.test.\n$TTL 60\n@ SOA ns1 hostmaster %d 3600 600 86400 60\n@ NS ns1\nns1 A 127.0.0.1\n", n)
	fmt.Fprintf(&b, "www CNAME v%d\nv%d A 10.0.%d.%d\nv%d TXT \"serial %d\"\n", n, n, n/256, n%256, n, n)
	for k := 1; k <= n; k++ {
		fmt.Fprintf(&b, "r%d A 10.1.%d.%d\n", k, k/256, k%256)
	}
	return b.String()
}

const (
	addrAMS   = "192.0.2.10"
	addrIAD   = "192.0.2.20"
	geoClient = "198.51.100.1" // US in godwit-city.mmdb, unknown in MaxMind's test DB
)

type reloadEnv struct {
	dir  string
	rt   *Server
	addr string // DNS host:port
	log  *testsupport.LockedBuffer
}

func (e *reloadEnv) path(name string) string { return filepath.Join(e.dir, name) }

// writeFile replaces name the way editors and updaters do: a new file
// renamed over the old one.
func (e *reloadEnv) writeFile(t *testing.T, name, content string) {
	t.Helper()
	tmp := e.path(filepath.Join(filepath.Dir(name), ".tmp-"+filepath.Base(name)))
	if err := os.WriteFile(tmp, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, e.path(name)); err != nil {
		t.Fatal(err)
	}
}

// writeInPlace truncates and rewrites name (a reader may see it half
// written).
func (e *reloadEnv) writeInPlace(t *testing.T, name, content string) {
	t.Helper()
	if err := os.WriteFile(e.path(name), []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

func (e *reloadEnv) config(rrAddr string) string {
	return fmt.Sprintf(reloadConfig, "127.0.0.1:0", rrAddr)
}

func readTestdata(t *testing.T, name string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// startReloadEnv lays out a config directory and starts godwit on it.
func startReloadEnv(t *testing.T) *reloadEnv {
	t.Helper()
	e := &reloadEnv{dir: t.TempDir(), log: &testsupport.LockedBuffer{}}
	for _, d := range []string{"zones", "geoip"} {
		if err := os.Mkdir(e.path(d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	e.writeFile(t, "godwit.toml", e.config("192.0.2.30"))
	e.writeFile(t, "zones/example.test.zone", exampleZone(1))
	e.writeFile(t, "zones/gslb.example.test.zone", fmt.Sprintf(gslbZone, 1, 1))
	e.writeFile(t, "geoip/city.mmdb", readTestdata(t, "geoip/godwit-city.mmdb"))
	e.writeFile(t, "routes.txt", "198.51.100.0/24 ams\n")
	e.writeFile(t, "state.txt", "192.0.2.30 up\n") // an override of the rr target: it changes no answer

	cfg, err := loadConfig(e.path("godwit.toml"))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	log := slog.New(slog.NewTextHandler(e.log, &slog.HandlerOptions{Level: slog.LevelInfo}))
	rt, err := Start(ctx, cfg, Options{Log: log})
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	t.Cleanup(func() {
		rt.Shutdown()
		cancel()
		if t.Failed() {
			t.Logf("server log:\n%s", e.log.String())
		}
	})
	e.rt, e.addr = rt, rt.dns.Addrs()[0].String()
	return e
}

func (e *reloadEnv) query(t *testing.T, name string, qtype uint16, ecs string) *mdns.Msg {
	t.Helper()
	c := &mdns.Client{Net: "udp", Timeout: 2 * time.Second}
	r, _, err := c.Exchange(testsupport.Query(name, qtype, ecs), e.addr)
	if err != nil {
		t.Fatalf("%s %s: %v", name, mdns.TypeToString[qtype], err)
	}
	return r
}

// answerA is the single A address of a service answer, or "".
func answerA(r *mdns.Msg) string {
	if r.Rcode != mdns.RcodeSuccess || len(r.Answer) != 1 {
		return ""
	}
	if a, ok := r.Answer[0].(*mdns.A); ok {
		return a.A.String()
	}
	return ""
}

// wwwSerial checks a www.example.test A reply (CNAME vN + A 10.0.hi.lo)
// and returns N, or an error if the reply is wrong or mixes generations.
func wwwSerial(r *mdns.Msg) (int, error) {
	if r.Rcode != mdns.RcodeSuccess {
		return 0, fmt.Errorf("rcode %s", mdns.RcodeToString[r.Rcode])
	}
	if len(r.Answer) != 2 {
		return 0, fmt.Errorf("%d answers: %v", len(r.Answer), r.Answer)
	}
	cn, ok1 := r.Answer[0].(*mdns.CNAME)
	a, ok2 := r.Answer[1].(*mdns.A)
	if !ok1 || !ok2 {
		return 0, fmt.Errorf("want CNAME + A, got %v", r.Answer)
	}
	var n int
	if _, err := fmt.Sscanf(cn.Target, "v%d.example.test.", &n); err != nil {
		return 0, fmt.Errorf("cname target %q", cn.Target)
	}
	ip := a.A.To4()
	if got := int(ip[2])<<8 | int(ip[3]); ip[0] != 10 || ip[1] != 0 || got != n || a.Hdr.Name != cn.Target {
		return 0, fmt.Errorf("mixed generations: %v", r.Answer)
	}
	return n, nil
}

// txtSerial checks a www.example.test TXT reply (CNAME vN + TXT "serial N").
func txtSerial(r *mdns.Msg) (int, error) {
	if r.Rcode != mdns.RcodeSuccess || len(r.Answer) != 2 {
		return 0, fmt.Errorf("rcode %s, answers %v", mdns.RcodeToString[r.Rcode], r.Answer)
	}
	cn, ok1 := r.Answer[0].(*mdns.CNAME)
	txt, ok2 := r.Answer[1].(*mdns.TXT)
	if !ok1 || !ok2 || len(txt.Txt) != 1 {
		return 0, fmt.Errorf("want CNAME + TXT, got %v", r.Answer)
	}
	var n, m int
	if _, err := fmt.Sscanf(cn.Target, "v%d.example.test.", &n); err != nil {
		return 0, fmt.Errorf("cname target %q", cn.Target)
	}
	if _, err := fmt.Sscanf(txt.Txt[0], "serial %d", &m); err != nil || m != n {
		return 0, fmt.Errorf("mixed generations: %v", r.Answer)
	}
	return n, nil
}

// waitFor polls cond until it holds or 2 s pass; it returns how long that
// took.
func waitFor(t *testing.T, what string, cond func() bool) time.Duration {
	t.Helper()
	return testsupport.WaitFor(t, what, 2*time.Second, cond)
}

func (e *reloadEnv) fileStatus(path string) (status.FileStatus, bool) {
	for _, f := range e.rt.files.list() {
		if f.Path == path {
			return f, true
		}
	}
	return status.FileStatus{}, false
}

func (e *reloadEnv) failures(src string) float64 {
	var m dto.Metric
	if err := e.rt.reload.failures.WithLabelValues(src).Write(&m); err != nil {
		panic(err)
	}
	return m.GetCounter().GetValue()
}

// loadStats is what the query workers saw.
type loadStats struct {
	queries, timeouts, servfail, bad atomic.Int64
	mu                               sync.Mutex
	errs                             []string
}

func (s *loadStats) fail(format string, args ...any) {
	s.bad.Add(1)
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.errs) < 10 {
		s.errs = append(s.errs, fmt.Sprintf(format, args...))
	}
}

// runLoad sends queries from workers goroutines at rate qps in all until
// stop closes, checking every reply. Each worker has its own socket, a
// 1 s timeout and no retries.
func runLoad(addr string, workers, qps int, stop <-chan struct{}, st *loadStats) *sync.WaitGroup {
	var wg sync.WaitGroup
	interval := time.Duration(workers) * time.Second / time.Duration(qps)
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c := &mdns.Client{Net: "udp", Timeout: time.Second}
			conn, err := c.Dial(addr)
			if err != nil {
				st.fail("dial: %v", err)
				return
			}
			defer conn.Close()
			lastWWW, lastTXT := 0, 0
			start := time.Now()
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				if ahead := time.Until(start.Add(time.Duration(i) * interval)); ahead > time.Millisecond {
					time.Sleep(ahead)
				}
				var m *mdns.Msg
				kind := (i + w) % 4
				switch kind {
				case 0:
					m = testsupport.Query("www.example.test.", mdns.TypeA, "")
				case 1:
					m = testsupport.Query("www.example.test.", mdns.TypeTXT, "")
				case 2:
					m = testsupport.Query("geo.gslb.example.test.", mdns.TypeA, geoClient)
				case 3:
					m = testsupport.Query("rr.gslb.example.test.", mdns.TypeA, "")
				}
				r, _, err := c.ExchangeWithConn(m, conn)
				st.queries.Add(1)
				if err != nil {
					st.timeouts.Add(1)
					st.fail("%s: %v", m.Question[0].Name, err)
					continue
				}
				if r.Rcode == mdns.RcodeServerFailure {
					st.servfail.Add(1)
				}
				switch kind {
				case 0:
					n, err := wwwSerial(r)
					if err == nil && n < lastWWW {
						err = fmt.Errorf("serial went back from %d to %d", lastWWW, n)
					}
					if err != nil {
						st.fail("www A: %v", err)
					}
					lastWWW = max(lastWWW, n)
				case 1:
					n, err := txtSerial(r)
					if err == nil && n < lastTXT {
						err = fmt.Errorf("serial went back from %d to %d", lastTXT, n)
					}
					if err != nil {
						st.fail("www TXT: %v", err)
					}
					lastTXT = max(lastTXT, n)
				case 2:
					if a := answerA(r); a != addrAMS && a != addrIAD {
						st.fail("geo: %v", r.Answer)
					}
				case 3:
					if a := answerA(r); a != "192.0.2.30" && a != "192.0.2.31" {
						st.fail("rr: %v", r.Answer)
					}
				}
			}
		}()
	}
	return &wg
}

// TestReloadUnderLoad changes every kind of file while queries stream in:
// no query may time out, fail or mix two generations, and each change must
// be served within 2 s.
func TestReloadUnderLoad(t *testing.T) {
	if testing.Short() {
		t.Skip("runs for 10 s")
	}
	e := startReloadEnv(t)
	const minRun, rate = 10 * time.Second, 6000

	st := &loadStats{}
	stop := make(chan struct{})
	began := time.Now()
	wg := runLoad(e.addr, 4, rate, stop, st)
	stopped := false
	stopLoad := func() {
		if !stopped {
			stopped = true
			close(stop)
			wg.Wait()
		}
	}
	t.Cleanup(stopLoad)

	wwwIs := func(n int) func() bool {
		return func() bool {
			got, err := wwwSerial(e.query(t, "www.example.test.", mdns.TypeA, ""))
			return err == nil && got == n
		}
	}
	var lat []time.Duration

	// 20 zone rewrites, records added each time; half written in place.
	n := 1
	for i := range 20 {
		n++
		if i%2 == 0 {
			e.writeFile(t, "zones/example.test.zone", exampleZone(n))
		} else {
			e.writeInPlace(t, "zones/example.test.zone", exampleZone(n))
		}
		lat = append(lat, waitFor(t, fmt.Sprintf("serial %d", n), wwwIs(n)))
	}

	// The GeoIP database swapped for one that does not know the client.
	if a := answerA(e.query(t, "geo.gslb.example.test.", mdns.TypeA, geoClient)); a != addrIAD {
		t.Fatalf("geo answer before the swap: %q, want %s", a, addrIAD)
	}
	e.writeFile(t, "geoip/city.mmdb", readTestdata(t, "geoip/GeoIP2-City-Test.mmdb"))
	lat = append(lat, waitFor(t, "new mmdb", func() bool {
		return answerA(e.query(t, "geo.gslb.example.test.", mdns.TypeA, geoClient)) == addrAMS
	}))

	// A broken zone keeps serving its last good version; the fix is served.
	zf := e.path("zones/example.test.zone")
	before := e.failures(srcZone)
	e.writeFile(t, "zones/example.test.zone", exampleZone(n+1)+"broken line here\n")
	waitFor(t, "zone failure reported", func() bool {
		f, ok := e.fileStatus(zf)
		return ok && !f.OK && e.failures(srcZone) > before
	})
	if !wwwIs(n)() {
		t.Fatalf("broken zone: serial %d no longer served", n)
	}
	n++
	e.writeFile(t, "zones/example.test.zone", exampleZone(n))
	lat = append(lat, waitFor(t, "fixed zone", wwwIs(n)))

	// A service's targets changed in the config.
	e.writeFile(t, "godwit.toml", e.config("192.0.2.31"))
	lat = append(lat, waitFor(t, "new service target", func() bool {
		return answerA(e.query(t, "rr.gslb.example.test.", mdns.TypeA, "")) == "192.0.2.31"
	}))

	if d := minRun - time.Since(began); d > 0 {
		time.Sleep(d) // the load must run for minRun in all
	}
	stopLoad()
	elapsed := time.Since(began)

	q := st.queries.Load()
	qps := float64(q) / elapsed.Seconds()
	var maxLat, sum time.Duration
	for _, l := range lat {
		maxLat = max(maxLat, l)
		sum += l
	}
	t.Logf("%d queries in %v (%.0f qps); %d changes seen after %v on average, %v at most",
		q, elapsed.Round(time.Millisecond), qps, len(lat), (sum / time.Duration(len(lat))).Round(time.Millisecond), maxLat.Round(time.Millisecond))
	if st.timeouts.Load() != 0 || st.servfail.Load() != 0 || st.bad.Load() != 0 {
		t.Errorf("%d timeouts, %d SERVFAIL, %d bad replies; first: %s",
			st.timeouts.Load(), st.servfail.Load(), st.bad.Load(), strings.Join(st.errs, "; "))
	}
	want := 5000.0
	if raceEnabled() {
		want = 2000 // the race detector slows client and server several times
	}
	if qps < want {
		t.Errorf("load ran at %.0f qps, want at least %.0f", qps, want)
	}
}

// raceEnabled reports whether the test binary was built with -race.
func raceEnabled() bool {
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return false
	}
	for _, s := range bi.Settings {
		if s.Key == "-race" {
			return s.Value == "true"
		}
	}
	return false
}

// TestReloadBadInput breaks each source in turn: the last good version
// keeps serving, the failure is reported (file log, metric, log line with
// file:line) and cleared by the next good load.
func TestReloadBadInput(t *testing.T) {
	tests := []struct {
		name    string
		src     string
		file    string // relative to the config directory
		bad     string
		wantErr string                       // in the file log's last error
		served  func(*testing.T, *reloadEnv) // the last good version still serves
		good    string                       // a fixed version
		fixed   func(*reloadEnv) bool        // the fixed version serves
	}{
		{
			name: "zone syntax", src: srcZone, file: "zones/example.test.zone",
			bad: exampleZone(2) + "www2 IN A not-an-address\n", wantErr: "example.test.zone:",
			served: func(t *testing.T, e *reloadEnv) {
				if n, err := wwwSerial(e.query(t, "www.example.test.", mdns.TypeA, "")); err != nil || n != 1 {
					t.Errorf("www: serial %d, %v; want the last good 1", n, err)
				}
			},
			good: exampleZone(3),
			fixed: func(e *reloadEnv) bool {
				n, err := wwwSerial(e.query(t, "www.example.test.", mdns.TypeA, ""))
				return err == nil && n == 3
			},
		},
		{
			name: "config syntax", src: srcConfig, file: "godwit.toml",
			bad: "[server]\nbogus = 1\n", wantErr: `godwit.toml:2: unknown key "server.bogus"`,
			served: func(t *testing.T, e *reloadEnv) {
				if a := answerA(e.query(t, "rr.gslb.example.test.", mdns.TypeA, "")); a != "192.0.2.30" {
					t.Errorf("rr: %q, want the last good 192.0.2.30", a)
				}
			},
		},
		{
			name: "config service outside any zone", src: srcConfig, file: "godwit.toml",
			bad:     strings.Replace(fmt.Sprintf(reloadConfig, "127.0.0.1:0", "192.0.2.31"), "rr.gslb.example.test.", "rr.nowhere.test.", 1),
			wantErr: "godwit.toml:",
			served: func(t *testing.T, e *reloadEnv) {
				if a := answerA(e.query(t, "rr.gslb.example.test.", mdns.TypeA, "")); a != "192.0.2.30" {
					t.Errorf("rr: %q, want the last good 192.0.2.30", a)
				}
			},
		},
		{
			name: "truncated mmdb", src: srcMMDB, file: "geoip/city.mmdb",
			wantErr: "city.mmdb",
			served: func(t *testing.T, e *reloadEnv) {
				if a := answerA(e.query(t, "geo.gslb.example.test.", mdns.TypeA, geoClient)); a != addrIAD {
					t.Errorf("geo: %q, want %s from the last good database", a, addrIAD)
				}
			},
		},
		{
			name: "routes bad line", src: srcRoutes, file: "routes.txt",
			bad: "198.51.100.0/24 ams\n203.0.113.0/24 nowhere\n", wantErr: "routes.txt:2:",
			served: func(t *testing.T, e *reloadEnv) {
				m, ok := e.rt.routes.Snapshot().Lookup(netip.MustParseAddr("198.51.100.1"))
				if !ok || len(m.Reach) != 1 || m.Reach[0].Datacenter != "ams" {
					t.Errorf("routes: %+v %v, want the last good table (198.51.100.0/24 ams)", m, ok)
				}
			},
			good: "198.51.100.0/24 iad\n",
			fixed: func(e *reloadEnv) bool {
				m, ok := e.rt.routes.Snapshot().Lookup(netip.MustParseAddr("198.51.100.1"))
				return ok && len(m.Reach) == 1 && m.Reach[0].Datacenter == "iad"
			},
		},
		{
			name: "state file bad line", src: srcState, file: "state.txt",
			bad: "192.0.2.30 sideways\n", wantErr: "state.txt:1:",
			served: func(t *testing.T, e *reloadEnv) {
				if ov := e.rt.health.Overrides(); len(ov) != 1 {
					t.Errorf("overrides %+v, want the last good one", ov)
				}
			},
			good:  "192.0.2.30 up\n192.0.2.10 up\n",
			fixed: func(e *reloadEnv) bool { return len(e.rt.health.Overrides()) == 2 },
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := startReloadEnv(t)
			path := e.path(tc.file)
			orig, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			bad := tc.bad
			if bad == "" {
				bad = string(orig[:len(orig)/2]) // truncated
			}
			before := e.failures(tc.src)
			e.writeFile(t, tc.file, bad)
			waitFor(t, "failure reported", func() bool {
				f, ok := e.fileStatus(path)
				return ok && !f.OK && e.failures(tc.src) > before
			})
			f, _ := e.fileStatus(path)
			if !strings.Contains(f.LastError, tc.wantErr) {
				t.Errorf("last error %q does not contain %q", f.LastError, tc.wantErr)
			}
			// The status is published a moment before the line is logged.
			waitFor(t, "a \"reload failed\" log line", func() bool { return strings.Contains(e.log.String(), "reload failed") })
			tc.served(t, e)

			// The next good load clears the error.
			good := tc.good
			if good == "" {
				good = string(orig)
			}
			e.writeFile(t, tc.file, good)
			waitFor(t, "error cleared", func() bool {
				f, ok := e.fileStatus(path)
				return ok && f.OK && f.LastError == ""
			})
			if tc.fixed != nil {
				waitFor(t, "fixed version served", func() bool { return tc.fixed(e) })
			}
		})
	}
}

// TestReloadZoneIsolation: one zone breaks while another changes; the
// broken one keeps its last good version, the other is updated.
func TestReloadZoneIsolation(t *testing.T) {
	e := startReloadEnv(t)
	e.writeFile(t, "zones/example.test.zone", "garbage\n")
	e.writeFile(t, "zones/gslb.example.test.zone", fmt.Sprintf(gslbZone, 2, 2))
	waitFor(t, "gslb zone updated", func() bool {
		r := e.query(t, "static.gslb.example.test.", mdns.TypeTXT, "")
		return len(r.Answer) == 1 && strings.Contains(r.Answer[0].String(), `"gen 2"`)
	})
	if n, err := wwwSerial(e.query(t, "www.example.test.", mdns.TypeA, "")); err != nil || n != 1 {
		t.Errorf("broken example.test: serial %d, %v; want the last good 1", n, err)
	}
	// SIGHUP and the API reload everything and report the failure too.
	if err := e.rt.Reload("test"); err == nil || !strings.Contains(err.Error(), "example.test.zone") {
		t.Errorf("reloadAll: %v, want the example.test.zone failure", err)
	}
}

// TestReloadZoneRemoved: a deleted zone file unloads its zone.
func TestReloadZoneRemoved(t *testing.T) {
	e := startReloadEnv(t)
	if r := e.query(t, "www.example.test.", mdns.TypeA, ""); r.Rcode != mdns.RcodeSuccess {
		t.Fatalf("before: %s", mdns.RcodeToString[r.Rcode])
	}
	if err := os.Remove(e.path("zones/example.test.zone")); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "zone unloaded", func() bool {
		return e.query(t, "www.example.test.", mdns.TypeA, "").Rcode == mdns.RcodeRefused
	})
	if r := e.query(t, "static.gslb.example.test.", mdns.TypeTXT, ""); r.Rcode != mdns.RcodeSuccess {
		t.Errorf("other zone: %s", mdns.RcodeToString[r.Rcode])
	}
	if !strings.Contains(e.log.String(), "zone unloaded") {
		t.Errorf("no \"zone unloaded\" log line")
	}
}

// TestReloadZoneRemovedIsNoFailure: a zone file that goes away unloads its
// zone, and nothing reports that as a failure: not the file list of the
// status page, not the metrics, not a later full reload.
func TestReloadZoneRemovedIsNoFailure(t *testing.T) {
	e := startReloadEnv(t)
	zf := e.path("zones/example.test.zone")
	if err := os.Remove(zf); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "zone unloaded", func() bool {
		return e.query(t, "www.example.test.", mdns.TypeA, "").Rcode == mdns.RcodeRefused
	})
	if err := e.rt.Reload("test"); err != nil {
		t.Fatalf("full reload after the removal: %v", err)
	}
	if f, ok := e.fileStatus(zf); ok {
		t.Errorf("the removed file is still listed: %+v", f)
	}
	if n := e.failures(srcZone); n != 0 {
		t.Errorf("zone failures = %v, want 0", n)
	}
	for _, z := range e.rt.Generation().Set.Zones() {
		if z.Origin == "example.test." {
			t.Error("the generation still holds example.test.")
		}
	}
}

// TestReloadServiceZoneRemoved: removing the file of the zone that holds
// the services would leave them outside every zone. The removal is refused
// as one failure that says so, the zone keeps answering, and everything
// that reports on files agrees. (With example.test loaded, the services
// would move into it: a whole generation, and no failure.)
func TestReloadServiceZoneRemoved(t *testing.T) {
	e := startReloadEnv(t)
	if err := os.Remove(e.path("zones/example.test.zone")); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "example.test unloaded", func() bool {
		return e.query(t, "www.example.test.", mdns.TypeA, "").Rcode == mdns.RcodeRefused
	})
	zf := e.path("zones/gslb.example.test.zone")
	if err := os.Remove(zf); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "removal refused", func() bool {
		f, ok := e.fileStatus(zf)
		return ok && !f.OK
	})
	f, _ := e.fileStatus(zf)
	if !strings.Contains(f.LastError, "was removed") || !strings.Contains(f.LastError, "keeps serving") {
		t.Errorf("file error %q does not say the removal was refused", f.LastError)
	}
	if n := e.failures(srcZone); n != 1 {
		t.Errorf("zone failures = %v, want 1", n)
	}
	if r := e.query(t, "static.gslb.example.test.", mdns.TypeTXT, ""); r.Rcode != mdns.RcodeSuccess {
		t.Errorf("the zone stopped answering: %s", mdns.RcodeToString[r.Rcode])
	}
	if err := e.rt.Reload("test"); err == nil || !strings.Contains(err.Error(), "was removed") {
		t.Errorf("full reload: %v, want the refused removal", err)
	}
	if strings.Contains(e.log.String(), "gslb.example.test.zone\n") || strings.Count(e.log.String(), "zone unloaded") != 1 {
		t.Error("the log says the services' zone was unloaded")
	}
}

// TestReloadGenerationsNeverMix changes the config and a zone together, 40
// times under load: generation k's zone has alias CNAME sK, and only
// generation k's config has the service sK, answering 10.9.0.K. A query
// that saw the zone of one generation and the config of another would get
// NXDOMAIN or an address that does not match the CNAME.
func TestReloadGenerationsNeverMix(t *testing.T) {
	e := startReloadEnv(t)
	e.rt.reload.w.stop() // reload only when told: both files at once
	write := func(k int) {
		cfg := strings.Replace(e.config(fmt.Sprintf("10.9.0.%d", k)), "rr.gslb.example.test.", fmt.Sprintf("s%d.gslb.example.test.", k), 1)
		e.writeFile(t, "godwit.toml", cfg)
		e.writeFile(t, "zones/gslb.example.test.zone", fmt.Sprintf(gslbZone, k, k)+fmt.Sprintf("alias CNAME s%d\n", k))
		if err := e.rt.Reload("test"); err != nil {
			t.Fatalf("generation %d: %v", k, err)
		}
	}
	write(1)

	stop := make(chan struct{})
	var wg sync.WaitGroup
	var answered, mixed atomic.Int64
	var firstBad atomic.Value
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c := &mdns.Client{Net: "udp", Timeout: time.Second}
			for {
				select {
				case <-stop:
					return
				default:
				}
				r, _, err := c.Exchange(testsupport.Query("alias.gslb.example.test.", mdns.TypeA, ""), e.addr)
				if err != nil {
					continue
				}
				answered.Add(1)
				if !consistent(r) {
					mixed.Add(1)
					firstBad.CompareAndSwap(nil, r.String())
				}
			}
		}()
	}
	for k := 2; k <= 40; k++ {
		write(k)
		// Let queries run against generation k before the next one.
		n := answered.Load()
		testsupport.WaitFor(t, fmt.Sprintf("answers under generation %d", k), 5*time.Second, func() bool { return answered.Load() >= n+5 })
	}
	close(stop)
	wg.Wait()
	if answered.Load() < 100 {
		t.Fatalf("only %d answers under load", answered.Load())
	}
	if n := mixed.Load(); n > 0 {
		t.Errorf("%d of %d answers mixed two generations; the first:\n%v", n, answered.Load(), firstBad.Load())
	}
}

// consistent reports whether r is "alias CNAME sK" followed by "sK A
// 10.9.0.K" for one K.
func consistent(r *mdns.Msg) bool {
	if r.Rcode != mdns.RcodeSuccess || len(r.Answer) != 2 {
		return false
	}
	cn, ok1 := r.Answer[0].(*mdns.CNAME)
	a, ok2 := r.Answer[1].(*mdns.A)
	if !ok1 || !ok2 {
		return false
	}
	var k int
	if _, err := fmt.Sscanf(cn.Target, "s%d.gslb.example.test.", &k); err != nil {
		return false
	}
	return a.A.String() == fmt.Sprintf("10.9.0.%d", k) && a.Hdr.Name == cn.Target
}

// TestReloadRestartWarnings: listener changes are not applied but warned
// about, and the warning goes when the file matches again.
func TestReloadRestartWarnings(t *testing.T) {
	e := startReloadEnv(t)
	changed := strings.Replace(e.config("192.0.2.31"), `listen = "127.0.0.1:0"`, `listen = "127.0.0.1:1"`, 1)
	changed += "\n[routes.bgp]\nasn = 65000\nrouter_id = \"127.0.0.1\"\n"
	e.writeFile(t, "godwit.toml", changed)
	waitFor(t, "service change applied", func() bool {
		return answerA(e.query(t, "rr.gslb.example.test.", mdns.TypeA, "")) == "192.0.2.31"
	})
	w := strings.Join(e.rt.files.warnings(), "\n")
	for _, want := range []string{"status.listen changed", "[routes.bgp] was added", "restart"} {
		if !strings.Contains(w, want) {
			t.Errorf("warnings %q: no %q", w, want)
		}
	}
	if got := e.rt.gen.Load().Config.Status.Listen; got != "127.0.0.1:0" {
		t.Errorf("running status.listen %q, want the one started with", got)
	}
	e.writeFile(t, "godwit.toml", e.config("192.0.2.30"))
	waitFor(t, "warnings cleared", func() bool { return len(e.rt.files.warnings()) == 0 })
}

// TestReloadTokenNeverShown: a new status token needs a restart, and the
// warning that says so names the key, never the old or the new value, on
// the page, in the API and in the log.
func TestReloadTokenNeverShown(t *testing.T) {
	e := startReloadEnv(t)
	const secret = "s3cret-token-never-printed"
	e.writeFile(t, "godwit.toml", strings.Replace(e.config("192.0.2.31"), "[zones]", "token = \""+secret+"\"\n[zones]", 1))
	waitFor(t, "restart warning", func() bool {
		return strings.Contains(strings.Join(e.rt.files.warnings(), "\n"), "status.token changed")
	})
	snap := (&backend{e.rt}).Snapshot()
	for what, text := range map[string]string{
		"warnings": strings.Join(snap.Warnings, "\n"), "log": e.log.String(), "snapshot": fmt.Sprintf("%+v", snap),
	} {
		if strings.Contains(text, secret) {
			t.Errorf("the token is in the %s", what)
		}
	}
}

// TestWatchPathsClassify pins which file events reload what.
func TestWatchPathsClassify(t *testing.T) {
	p := watchPaths{config: "/etc/g/godwit.toml", zonesDir: "/etc/g/zones", mmdb: []string{"/var/geo/city.mmdb"},
		routes: "/etc/g/routes.txt", state: "/var/g/state"}
	tests := []struct {
		name string
		want string // changes.String(), "" = ignored
	}{
		{"/etc/g/godwit.toml", "config"},
		{"/etc/g/godwit.toml~", ""},
		{"/etc/g/zones/a.zone", "zone"},
		{"/etc/g/zones/.a.zone.swp", ""},
		{"/etc/g/zones/.a.zone", ""},
		{"/etc/g/zones/4913", ""},
		{"/var/geo/city.mmdb", "mmdb"},
		{"/var/geo/city.mmdb.tmp", ""},
		{"/etc/g/routes.txt", "routes"},
		{"/var/g/state", "state"},
		{"/etc/g/..data", "config,routes"},
		{"/etc/g/zones/..data", "all"},
	}
	for _, tc := range tests {
		var ch changes
		hit := p.classify(tc.name, &ch)
		if got := ch.String(); hit != (tc.want != "") || got != tc.want {
			t.Errorf("%s: %v %q, want %q", tc.name, hit, got, tc.want)
		}
	}
	if d := p.dirs(); len(d) != 4 || !d["/etc/g"] || !d["/etc/g/zones"] || !d["/var/geo"] || !d["/var/g"] {
		t.Errorf("dirs %v", d)
	}
}
