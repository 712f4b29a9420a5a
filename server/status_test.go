package server

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/godwit-dns/godwit/internal/testsupport"

	mdns "github.com/miekg/dns"
	"github.com/prometheus/client_golang/prometheus/testutil/promlint"

	"github.com/godwit-dns/godwit/dns"
	"github.com/godwit-dns/godwit/status"
	"github.com/godwit-dns/godwit/zones"
)

const statusZone = `$ORIGIN gslb.example.test.
$TTL 300
@    IN SOA ns1 hostmaster 2024010101 3600 600 86400 60
@    IN NS  ns1
ns1  IN A   192.0.2.53
`

const statusConfig = `
[server]
listen = ["127.0.0.1:0"]

[status]
listen = "127.0.0.1:0"

[zones]
dir = "zones"

[log]
queries = "queries.log"

[[datacenter]]
name = "ams"
location = [52.37, 4.90]
asn = [65001]

[[datacenter]]
name = "fra"
location = [50.11, 8.68]
asn = [65002]

[[datacenter]]
name = "iad"
location = [38.95, -77.45]
asn = [65003]
{{checks}}
[[service]]
name = "www.gslb.example.test."
policy = "failover"
fallback = "weighted"
answers = 1
ttl = 30
min_ttl = 5

  [[service.target]]
  datacenter = "ams"
  addresses = ["192.0.2.10", "2001:db8::10"]
  check = "web-ams"
  check_address = "127.0.0.1"

  [[service.target]]
  datacenter = "fra"
  addresses = ["192.0.2.20"]
  check = "web-fra"
  check_address = "127.0.0.1"

  [[service.target]]
  datacenter = "iad"
  addresses = ["192.0.2.30"]
  check = "web-iad"
  check_address = "127.0.0.1"
`

const svcName = "www.gslb.example.test."

// fixture is a real runtime (start) over a temporary config: three
// datacenters whose http checks hit one httptest backend each on 127.0.0.1.
type fixture struct {
	rt      *Server
	dir     string
	base    string                  // http://status-addr
	healthy map[string]*atomic.Bool // backend answers 200 while true, else 500
}

func newFixture(t *testing.T, healthy map[string]bool) *fixture {
	t.Helper()
	return newFixtureWith(t, healthy, "")
}

// newFixtureWith is newFixture with more config (whole sections) at the end.
func newFixtureWith(t *testing.T, healthy map[string]bool, extra string) *fixture {
	t.Helper()
	f := &fixture{dir: t.TempDir(), healthy: map[string]*atomic.Bool{}}
	var checks strings.Builder
	for _, dc := range []string{"ams", "fra", "iad"} {
		ok := new(atomic.Bool)
		ok.Store(healthy[dc])
		f.healthy[dc] = ok
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if ok.Load() {
				io.WriteString(w, "ok\n")
				return
			}
			http.Error(w, "backend broken", http.StatusInternalServerError)
		}))
		t.Cleanup(srv.Close)
		port := srv.Listener.Addr().(*net.TCPAddr).Port
		fmt.Fprintf(&checks, "\n[[check]]\nname = \"web-%s\"\ntype = \"http\"\nport = %d\npath = \"/healthz\"\ninterval = \"100ms\"\ntimeout = \"90ms\"\nrise = 1\nfall = 1\n", dc, port)
	}
	if err := os.Mkdir(filepath.Join(f.dir, "zones"), 0o755); err != nil {
		t.Fatal(err)
	}
	writeFile(t, filepath.Join(f.dir, "zones", "gslb.example.test.zone"), statusZone)
	path := filepath.Join(f.dir, "godwit.toml")
	writeFile(t, path, strings.Replace(statusConfig, "{{checks}}", checks.String(), 1)+extra)
	cfg, err := loadConfig(path)
	if err != nil {
		t.Fatal(err)
	}
	rt, err := Start(t.Context(), cfg, Options{Log: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(rt.Shutdown)
	f.rt = rt
	f.base = "http://" + rt.status.Addr().String()
	return f
}

func writeFile(t *testing.T, path, data string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(data), 0o644); err != nil {
		t.Fatal(err)
	}
}

// query asks the running server for name/qtype over UDP.
func (f *fixture) query(t *testing.T, name string, qtype uint16) *mdns.Msg {
	t.Helper()
	m := new(mdns.Msg)
	m.SetQuestion(name, qtype)
	c := &mdns.Client{Net: "udp", Timeout: 2 * time.Second}
	r, _, err := c.Exchange(m, f.rt.dns.Addrs()[0].String())
	if err != nil {
		t.Fatalf("query %s: %v", name, err)
	}
	return r
}

func (f *fixture) snapshot() status.Snapshot { return (&backend{f.rt}).Snapshot() }

// waitFor polls the snapshot until ok holds, for at most d.
func (f *fixture) waitFor(t *testing.T, d time.Duration, what string, ok func(status.Snapshot) bool) status.Snapshot {
	t.Helper()
	deadline := time.Now().Add(d)
	for {
		s := f.snapshot()
		if ok(s) {
			return s
		}
		if time.Now().After(deadline) {
			b, _ := json.MarshalIndent(s, "", "  ")
			t.Fatalf("%s: not within %v; last snapshot:\n%s", what, d, b)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func (f *fixture) get(t *testing.T, path string) (int, []byte) {
	t.Helper()
	resp, err := http.Get(f.base + path)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, b
}

func (f *fixture) override(t *testing.T, kind, key, state string) int {
	t.Helper()
	body, _ := json.Marshal(map[string]string{"kind": kind, "key": key, "state": state})
	resp, err := http.Post(f.base+"/api/v1/override", "application/json", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

func dcByName(s status.Snapshot, name string) status.DatacenterStatus {
	for _, d := range s.Datacenters {
		if d.Name == name {
			return d
		}
	}
	return status.DatacenterStatus{}
}

func svcByName(s status.Snapshot, name string) status.ServiceStatus {
	for _, v := range s.Services {
		if v.Name == name {
			return v
		}
	}
	return status.ServiceStatus{}
}

func TestStatusLiveRuntime(t *testing.T) {
	f := newFixture(t, map[string]bool{"ams": true, "fra": false, "iad": true})

	// start waits for the first probe round: fra's backend answers 500.
	s := f.snapshot()
	for _, tc := range []struct {
		dc, state      string
		addrs, healthy int
		lat, lon       float64
	}{
		{"ams", status.StateUp, 2, 2, 52.37, 4.90},
		{"fra", status.StateDown, 1, 0, 50.11, 8.68},
		{"iad", status.StateUp, 1, 1, 38.95, -77.45},
	} {
		d := dcByName(s, tc.dc)
		if d.State != tc.state || d.Addresses != tc.addrs || d.Healthy != tc.healthy || d.Lat != tc.lat || d.Lon != tc.lon {
			t.Errorf("datacenter %s: %+v, want state %s, %d/%d healthy at %v,%v", tc.dc, d, tc.state, tc.healthy, tc.addrs, tc.lat, tc.lon)
		}
	}
	svc := svcByName(s, svcName)
	if svc.State != status.StateDegraded || svc.Policy != "failover" || svc.Fallback != "weighted" || svc.TTL != 30 || svc.MinTTL != 5 || len(svc.Targets) != 3 {
		t.Errorf("service: %+v, want degraded failover→weighted ttl 30/5 with 3 targets", svc)
	}
	for _, tg := range svc.Targets {
		want := status.StateUp
		if tg.Datacenter == "fra" {
			want = status.StateDown
		}
		if tg.State != want || len(tg.Addresses) == 0 || tg.Addresses[0].State != want {
			t.Errorf("target %s: %+v, want %s", tg.Datacenter, tg, want)
		}
	}
	if len(s.Probes) != 3 {
		t.Fatalf("%d probes, want 3: %+v", len(s.Probes), s.Probes)
	}
	for _, p := range s.Probes {
		want, result := status.StateUp, "ok"
		if p.Check == "web-fra" {
			want, result = status.StateDown, "500"
		}
		if p.State != want || !strings.Contains(p.LastResult, result) || p.Type != "http" ||
			!strings.HasPrefix(p.Target, "http://127.0.0.1:") || p.LastCheck.IsZero() {
			t.Errorf("probe %s: %+v, want %s with result containing %q", p.Check, p, want, result)
		}
	}
	if len(s.Zones) != 1 || s.Zones[0].Name != "gslb.example.test." || s.Zones[0].Serial != 2024010101 ||
		s.Zones[0].Services != 1 || !s.Zones[0].OK || s.Zones[0].LoadedAt.IsZero() {
		t.Errorf("zones: %+v", s.Zones)
	}
	if !hasWarning(s, "datacenter fra is down") {
		t.Errorf("warnings %q lack fra being down", s.Warnings)
	}

	// Answers are counted by the datacenter that led them.
	const n = 5
	for range n {
		r := f.query(t, svcName, mdns.TypeA)
		if len(r.Answer) != 1 || r.Answer[0].(*mdns.A).A.String() != "192.0.2.10" {
			t.Fatalf("answer %v, want 192.0.2.10 (ams)", r.Answer)
		}
	}
	s = f.snapshot()
	if d := dcByName(s, "ams"); d.Answers != n || d.Share != 1 {
		t.Errorf("ams: %d answers, share %v; want %d, 1", d.Answers, d.Share, n)
	}
	if d := dcByName(s, "iad"); d.Answers != 0 || d.Share != 0 {
		t.Errorf("iad: %d answers, share %v; want none", d.Answers, d.Share)
	}
	if s.Queries < n || s.Rcodes["NOERROR"] < n || s.QPS <= 0 || s.Window <= 0 || s.Window > trafficWindow {
		t.Errorf("traffic: queries %d, rcodes %v, qps %v over %v", s.Queries, s.Rcodes, s.QPS, s.Window)
	}

	// The JSON API shows the same.
	code, body := f.get(t, "/api/v1/status")
	var api status.Snapshot
	if err := json.Unmarshal(body, &api); code != 200 || err != nil {
		t.Fatalf("/api/v1/status: %d %v\n%s", code, err, body)
	}
	if dcByName(api, "fra").State != status.StateDown || svcByName(api, svcName).State != status.StateDegraded || len(api.Probes) != 3 {
		t.Errorf("/api/v1/status: datacenters %+v services %+v", api.Datacenters, api.Services)
	}

	// Explain uses the live health view.
	code, body = f.get(t, "/api/v1/explain?"+url.Values{"name": {"www.gslb.example.test"}, "client": {"198.51.100.7"}}.Encode())
	var ex struct {
		Result zones.Explanation `json:"result"`
		Text   string            `json:"text"`
	}
	if err := json.Unmarshal(body, &ex); code != 200 || err != nil || ex.Result.Service == nil ||
		ex.Result.Service.Datacenter != "ams" || ex.Result.SourceBits != -1 || !strings.Contains(ex.Text, "answer      192.0.2.10") {
		t.Errorf("/api/v1/explain: %d %v %s", code, err, body)
	}

	// Overrides: ams drained moves answers to iad; errors map to 400/404.
	for _, tc := range []struct {
		kind, key, state string
		code             int
	}{
		{"datacenter", "ams", "drain", 200},
		{"datacenter", "nowhere", "drain", 404},
		{"address", "198.51.100.1", "down", 404},
		{"address", "not-an-ip", "down", 400},
		{"address", "192.0.2.30", "up", 200},
		{"address", "192.0.2.30", "clear", 200},
	} {
		if got := f.override(t, tc.kind, tc.key, tc.state); got != tc.code {
			t.Errorf("override %s %s %s: %d, want %d", tc.kind, tc.key, tc.state, got, tc.code)
		}
	}
	s = f.snapshot()
	if d := dcByName(s, "ams"); d.State != status.StateDrain || d.Override != "drain" || d.Healthy != 0 {
		t.Errorf("ams after drain: %+v", d)
	}
	if r := f.query(t, svcName, mdns.TypeA); len(r.Answer) != 1 || r.Answer[0].(*mdns.A).A.String() != "192.0.2.30" {
		t.Errorf("with ams drained and fra down: answer %v, want 192.0.2.30 (iad)", r.Answer)
	}
	if got := f.override(t, "datacenter", "ams", "clear"); got != 200 {
		t.Errorf("clear ams: %d", got)
	}

	// Everything down: the service fails open, visibly.
	f.healthy["ams"].Store(false)
	f.healthy["iad"].Store(false)
	s = f.waitFor(t, 5*time.Second, "all backends down", func(s status.Snapshot) bool {
		// Wait for every datacenter, not just the failing-open state: a
		// family whose addresses are all in ams and fra fails open first.
		return svcByName(s, svcName).State == status.StateFailingOpen &&
			dcByName(s, "ams").State == status.StateDown && dcByName(s, "iad").State == status.StateDown
	})
	for _, dc := range []string{"ams", "fra", "iad"} {
		if d := dcByName(s, dc); d.State != status.StateDown {
			t.Errorf("datacenter %s: %s, want down", dc, d.State)
		}
	}
	if !hasWarning(s, "failing open") {
		t.Errorf("warnings %q lack the failing-open service", s.Warnings)
	}
	if r := f.query(t, svcName, mdns.TypeA); len(r.Answer) != 3 {
		t.Errorf("failing open: %d addresses, want all 3: %v", len(r.Answer), r.Answer)
	}

	// /metrics: lint-clean, with the answer, fail-open and state metrics.
	code, body = f.get(t, "/metrics")
	if code != 200 {
		t.Fatalf("/metrics: %d", code)
	}
	problems, err := promlint.New(bytes.NewReader(body)).Lint()
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range problems {
		t.Errorf("promlint: %s: %s", p.Metric, p.Text)
	}
	for _, want := range []string{
		`godwit_gslb_answers_total{datacenter="ams",service="www.gslb.example.test."} 6`,
		`godwit_gslb_answers_total{datacenter="iad",service="www.gslb.example.test."} 1`,
		`godwit_gslb_answers_total{datacenter="fra",service="www.gslb.example.test."} 0`,
		`godwit_gslb_failopen_total{service="www.gslb.example.test."} 1`,
		`godwit_gslb_service_failing_open{service="www.gslb.example.test."} 1`,
		`godwit_gslb_datacenter_up{datacenter="fra"} 0`,
		`godwit_gslb_answer_duration_seconds_count `, // one answer in 16 is timed
		`godwit_querylog_dropped_total 0`,
		`godwit_dns_responses_total{rcode="NOERROR"}`,
	} {
		if !bytes.Contains(body, []byte(want)) {
			t.Errorf("/metrics lacks %s", want)
		}
	}

	// The query log has one line per service answer.
	lines := waitLines(t, filepath.Join(f.dir, "queries.log"), 7)
	var first map[string]any
	if err := json.Unmarshal([]byte(lines[0]), &first); err != nil {
		t.Fatal(err)
	}
	for k, want := range map[string]any{"qname": svcName, "qtype": "A", "rcode": "NOERROR", "datacenter": "ams", "client": "127.0.0.1"} {
		if first[k] != want {
			t.Errorf("query log %s = %v, want %v (line %s)", k, first[k], want, lines[0])
		}
	}
	if a, _ := first["answer"].([]any); len(a) != 1 || a[0] != "192.0.2.10" {
		t.Errorf("query log answer %v", first["answer"])
	}
}

func hasWarning(s status.Snapshot, sub string) bool {
	for _, w := range s.Warnings {
		if strings.Contains(w, sub) {
			return true
		}
	}
	return false
}

// waitLines waits until path has at least n lines.
func waitLines(t *testing.T, path string, n int) []string {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		b, _ := os.ReadFile(path)
		lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
		if len(b) > 0 && len(lines) >= n {
			return lines
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: %d lines, want %d:\n%s", path, len(lines), n, b)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// The answer path's bookkeeping (counters, query log) allocates nothing,
// also when the query log queue is full and entries are dropped.
func TestAnsweredAllocs(t *testing.T) {
	f := newFixture(t, map[string]bool{"ams": true, "fra": true, "iad": true})
	res := f.rt.gen.Load().Set.Lookup(svcName, mdns.TypeA)
	if res.Service == nil {
		t.Fatal("no service")
	}
	ci := &dns.ClientInfo{Source: netip.MustParseAddr("127.0.0.1")}
	env := f.rt.gen.Load().env()
	var buf [zones.MaxServiceAddresses]netip.Addr
	sel := zones.Select(res.Service, mdns.TypeA, zones.Client{Addr: ci.Source, SourceBits: -1}, &env, buf[:0], nil)
	f.rt.mon.answered(f.rt.gen.Load(), &res, mdns.TypeA, ci, &sel, time.Now(), true) // builds the counter index
	if n := testing.AllocsPerRun(2000, func() {
		f.rt.mon.answered(f.rt.gen.Load(), &res, mdns.TypeA, ci, &sel, time.Now(), true)
	}); n != 0 {
		t.Errorf("answered allocates %v times per answer, want 0", n)
	}
}

func TestQueryLog(t *testing.T) {
	ci := &dns.ClientInfo{Source: netip.MustParseAddr("198.51.100.7"), ECSPrefix: netip.MustParsePrefix("203.0.113.0/24"), Family: 1, ECS: true}
	sel := &zones.Selection{Addrs: []netip.Addr{netip.MustParseAddr("192.0.2.10"), netip.MustParseAddr("192.0.2.11")}, Datacenter: "ams"}
	at := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)

	t.Run("lines", func(t *testing.T) {
		var out bytes.Buffer
		q := newQueryLog(&out, 1, 16, nil)
		q.start()
		for range 3 {
			q.record(at, "www.gslb.example.test.", mdns.TypeAAAA, ci, sel, 1500*time.Nanosecond)
		}
		q.close()
		lines := strings.Split(strings.TrimRight(out.String(), "\n"), "\n")
		if len(lines) != 3 {
			t.Fatalf("%d lines, want 3:\n%s", len(lines), out.String())
		}
		want := `{"time":"2026-01-02T03:04:05Z","client":"198.51.100.7","ecs":"203.0.113.0/24","qname":"www.gslb.example.test.","qtype":"AAAA","rcode":"NOERROR","datacenter":"ams","answer":["192.0.2.10","192.0.2.11"],"latency":0.0000015}`
		if lines[0] != want {
			t.Errorf("line\n%s\nwant\n%s", lines[0], want)
		}
	})

	t.Run("sampling", func(t *testing.T) {
		var out bytes.Buffer
		const n, sample = 4000, 0.25
		q := newQueryLog(&out, sample, n, nil)
		for range n {
			q.record(at, "x.", mdns.TypeA, ci, sel, 0)
		}
		q.start()
		q.close()
		got := bytes.Count(out.Bytes(), []byte("\n"))
		if got < 700 || got > 1300 { // mean 1000, sd ~27
			t.Errorf("sample %v of %d logged %d lines", sample, n, got)
		}
	})

	t.Run("drops when the writer blocks", func(t *testing.T) {
		w := &blockingWriter{entered: make(chan struct{}), release: make(chan struct{})}
		const queue = 4
		q := newQueryLog(w, 1, queue, nil)
		q.start()
		q.record(at, "x.", mdns.TypeA, ci, sel, 0)
		<-w.entered // the writer holds the first entry and is stuck writing it
		for range queue + 3 {
			q.record(at, "x.", mdns.TypeA, ci, sel, 0)
		}
		if d := testsupport.CounterValue(q.dropped); d != 3 {
			t.Errorf("dropped %v, want 3", d)
		}
		close(w.release)
		q.close()
		if got := bytes.Count(w.buf.Bytes(), []byte("\n")); got != 1+queue {
			t.Errorf("%d lines written, want %d", got, 1+queue)
		}
	})

	t.Run("config", func(t *testing.T) {
		for _, tc := range []struct {
			cfg LogConfig
			ok  bool
		}{
			{DefaultLogConfig(), true},
			{LogConfig{Queries: "-", Sample: 0.01}, true},
			{LogConfig{Queries: "q.log", Sample: 0}, false},
			{LogConfig{Queries: "q.log", Sample: 1.5}, false},
		} {
			if err := tc.cfg.Validate(); (err == nil) != tc.ok {
				t.Errorf("%+v: Validate() = %v, want ok %v", tc.cfg, err, tc.ok)
			}
		}
	})
}

type blockingWriter struct {
	entered, release chan struct{}
	once             atomic.Bool
	buf              bytes.Buffer
}

func (w *blockingWriter) Write(p []byte) (int, error) {
	if w.once.CompareAndSwap(false, true) {
		close(w.entered)
	}
	<-w.release
	return w.buf.Write(p)
}

// After a reload the snapshot and the metrics show the new config's
// services, and the answer counters of removed ones go away.
func TestStatusAfterReload(t *testing.T) {
	f := newFixture(t, map[string]bool{"ams": true, "fra": true, "iad": true})
	path := filepath.Join(f.dir, "godwit.toml")
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	cfg := strings.Replace(string(b), `name = "www.gslb.example.test."`, `name = "api.gslb.example.test."`, 1)
	writeFile(t, path, cfg)
	if err := f.rt.Reload("test"); err != nil {
		t.Fatal(err)
	}
	s := f.snapshot()
	if len(s.Services) != 1 || s.Services[0].Name != "api.gslb.example.test." || s.Zones[0].Services != 1 {
		t.Fatalf("after reload: services %+v zones %+v", s.Services, s.Zones)
	}
	if r := f.query(t, "api.gslb.example.test.", mdns.TypeA); len(r.Answer) != 1 {
		t.Fatalf("api answer %v", r.Answer)
	}
	_, body := f.get(t, "/metrics")
	if !bytes.Contains(body, []byte(`godwit_gslb_answers_total{datacenter="ams",service="api.gslb.example.test."} 1`)) ||
		bytes.Contains(body, []byte(`service="www.gslb.example.test."`)) {
		t.Errorf("/metrics after reload:\n%s", grepLines(body, "godwit_gslb_"))
	}
}

func grepLines(b []byte, sub string) string {
	var out []string
	for _, l := range strings.Split(string(b), "\n") {
		if strings.Contains(l, sub) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}
