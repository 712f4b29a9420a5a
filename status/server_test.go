package status

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"reflect"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

const testToken = "s3cret-token-0123456789"

// request describes one request to the handler; zero fields get defaults.
type request struct {
	method, target string
	remote         string // RemoteAddr, default 127.0.0.1:40000
	host           string // Host, default 127.0.0.1:8053
	header         map[string]string
	body           string
}

func serve(t *testing.T, s *Server, rq request) *httptest.ResponseRecorder {
	t.Helper()
	if rq.method == "" {
		rq.method = http.MethodGet
	}
	r := httptest.NewRequest(rq.method, rq.target, strings.NewReader(rq.body))
	r.RemoteAddr = "127.0.0.1:40000"
	if rq.remote != "" {
		r.RemoteAddr = rq.remote
	}
	r.Host = "127.0.0.1:8053"
	if rq.host != "" {
		r.Host = rq.host
	}
	for k, v := range rq.header {
		r.Header.Set(k, v)
	}
	w := httptest.NewRecorder()
	s.Handler().ServeHTTP(w, r)
	return w
}

func jsonErr(t *testing.T, w *httptest.ResponseRecorder) string {
	t.Helper()
	var e struct {
		Error string `json:"error"`
	}
	if ct := w.Header().Get("Content-Type"); ct != "application/json" {
		t.Fatalf("content type %q, want application/json; body %s", ct, w.Body)
	}
	if err := json.Unmarshal(w.Body.Bytes(), &e); err != nil || e.Error == "" {
		t.Fatalf("want a JSON error, got %q (%v)", w.Body, err)
	}
	return e.Error
}

func TestConfigValidate(t *testing.T) {
	tests := []struct {
		cfg  Config
		want string // substring of the error, "" for none
	}{
		{DefaultConfig(), ""},
		{Config{}, ""},
		{Config{Listen: "127.0.0.1:0"}, ""},
		{Config{Listen: "[::1]:8053", Token: testToken}, ""},
		{Config{Listen: ":8053"}, ""},
		{Config{Listen: "127.0.0.1"}, "missing port"},
		{Config{Listen: "127.0.0.1:http"}, "not a number"},
		{Config{Listen: "127.0.0.1:70000"}, "not a number"},
		{Config{Token: "short"}, "shorter than 16"},
		{Config{Token: "has a space in it, long enough"}, "spaces"},
	}
	for _, tt := range tests {
		err := tt.cfg.Validate()
		switch {
		case tt.want == "" && err != nil:
			t.Errorf("%+v: unexpected error %v", tt.cfg, err)
		case tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)):
			t.Errorf("%+v: error %v, want it to contain %q", tt.cfg, err, tt.want)
		}
	}
	if DefaultConfig().Listen != "127.0.0.1:8053" {
		t.Errorf("default listen %q", DefaultConfig().Listen)
	}
}

func TestStatusJSON(t *testing.T) {
	fake := newFake(t)
	s := New(Config{}, fake, nil, nil)
	for _, ready := range []bool{false, true} {
		s.SetReady(ready)
		w := serve(t, s, request{target: "/api/v1/status"})
		if w.Code != http.StatusOK || w.Header().Get("Content-Type") != "application/json" {
			t.Fatalf("status %d, content type %q", w.Code, w.Header().Get("Content-Type"))
		}
		var got Snapshot
		if err := json.Unmarshal(w.Body.Bytes(), &got); err != nil {
			t.Fatal(err)
		}
		want := fake.snap
		want.Ready = ready
		// Datacenters count distinct addresses: ams lists 4 (the backend said 5).
		want.Datacenters = append([]DatacenterStatus(nil), want.Datacenters...)
		want.Datacenters[0].Addresses, want.Datacenters[0].Healthy = 4, 4
		if !reflect.DeepEqual(got, want) {
			t.Errorf("ready=%v: round trip differs:\n got %+v\nwant %+v", ready, got, want)
		}
	}
}

func TestStatusJSONEmpty(t *testing.T) {
	s := New(Config{}, &fakeBackend{}, nil, nil)
	w := serve(t, s, request{target: "/api/v1/status"})
	var m map[string]any
	if err := json.Unmarshal(w.Body.Bytes(), &m); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"zones", "datacenters", "services", "probes", "peers", "files", "warnings"} {
		if _, ok := m[k].([]any); !ok {
			t.Errorf("%s = %#v, want an empty list", k, m[k])
		}
	}
	if _, ok := m["rcodes"].(map[string]any); !ok {
		t.Errorf("rcodes = %#v, want an object", m["rcodes"])
	}
	if now, _ := m["now"].(string); now == "" || now == "0001-01-01T00:00:00Z" {
		t.Errorf("now not filled in: %q", now)
	}
	// The page renders with nothing in it too.
	if w := serve(t, s, request{target: "/"}); w.Code != http.StatusOK || !strings.Contains(w.Body.String(), "No datacenters configured") {
		t.Errorf("empty page: %d %s", w.Code, w.Body)
	}
}

func TestExplainJSON(t *testing.T) {
	s := New(Config{}, newFake(t), nil, nil)
	tests := []struct {
		target, remote string
		code           int
		query          explainQuery // when code is 200
		errPart        string       // when code is not 200
	}{
		{target: "/api/v1/explain?name=www.gslb.example.test.&type=AAAA&client=81.2.69.142", code: 200,
			query: explainQuery{"www.gslb.example.test.", "AAAA", "81.2.69.142"}},
		{target: "/api/v1/explain?name=WWW.gslb.example.test&type=a&client=2001:db8::1", code: 200,
			query: explainQuery{"WWW.gslb.example.test.", "A", "2001:db8::1"}},
		{target: "/api/v1/explain?name=www.gslb.example.test.&client=::ffff:192.0.2.1", code: 200,
			query: explainQuery{"www.gslb.example.test.", "A", "192.0.2.1"}},
		{target: "/api/v1/explain?name=www.gslb.example.test.", remote: "[2001:db8::53]:5000", code: 200,
			query: explainQuery{"www.gslb.example.test.", "A", "2001:db8::53"}},
		{target: "/api/v1/explain?type=A&client=192.0.2.1", code: 400, errPart: "name is required"},
		{target: "/api/v1/explain?name=a..b&client=192.0.2.1", code: 400, errPart: "not a domain name"},
		{target: "/api/v1/explain?name=www.example.&type=BOGUS&client=192.0.2.1", code: 400, errPart: "not a DNS record type"},
		{target: "/api/v1/explain?name=www.example.&client=192.0.2.300", code: 400, errPart: "not an IP address"},
		{target: "/api/v1/explain?name=invalid.gslb.example.test.&client=192.0.2.1", code: 400, errPart: "no such service"},
		{target: "/api/v1/explain?name=broken.gslb.example.test.&client=192.0.2.1", code: 500, errPart: "backend broke"},
	}
	for _, tt := range tests {
		w := serve(t, s, request{target: tt.target, remote: tt.remote})
		if w.Code != tt.code {
			t.Errorf("%s: status %d, want %d: %s", tt.target, w.Code, tt.code, w.Body)
			continue
		}
		if tt.code != http.StatusOK {
			if e := jsonErr(t, w); !strings.Contains(e, tt.errPart) {
				t.Errorf("%s: error %q, want it to contain %q", tt.target, e, tt.errPart)
			}
			continue
		}
		var got struct {
			Query  explainQuery    `json:"query"`
			Result fakeExplanation `json:"result"`
			Text   string          `json:"text"`
		}
		if err := json.Unmarshal(w.Body.Bytes(), &got); err != nil {
			t.Fatalf("%s: %v", tt.target, err)
		}
		if got.Query != tt.query {
			t.Errorf("%s: query %+v, want %+v", tt.target, got.Query, tt.query)
		}
		if got.Result.Name != tt.query.Name || got.Result.Client != tt.query.Client || len(got.Result.Steps) == 0 {
			t.Errorf("%s: result %+v does not match the query", tt.target, got.Result)
		}
		if got.Text != got.Result.String() {
			t.Errorf("%s: text %q, want the String() form %q", tt.target, got.Text, got.Result.String())
		}
	}
}

func TestExplainPage(t *testing.T) {
	s := New(Config{}, newFake(t), nil, nil)
	tests := []struct {
		target   string
		code     int
		contains []string
		absent   []string
	}{
		{"/explain", 200, []string{`id="explain-form"`, `action="/explain"`}, []string{`id="explain-result"`, `id="explain-error"`}},
		{"/explain?name=www.gslb.example.test&type=aaaa&client=81.2.69.142", 200, []string{
			`<pre id="explain-result" data-name="www.gslb.example.test." data-type="AAAA" data-client="81.2.69.142">`,
			"query     www.gslb.example.test. AAAA from 81.2.69.142",
			"3. iad    5903 km  down (0/3), skipped",
			`value="www.gslb.example.test."`,
		}, []string{`id="explain-error"`}},
		{"/explain?name=www.gslb.example.test.&client=nonsense", 400, []string{`id="explain-error"`, "not an IP address"}, []string{`id="explain-result"`}},
		{"/explain?name=broken.gslb.example.test.&client=192.0.2.1", 500, []string{`id="explain-error"`, "backend broke"}, nil},
		// Input is echoed escaped, never as markup.
		{`/explain?name=%3Cscript%3Ealert(1)%3C/script%3E&client=%22%3E%3Cb%3E`, 400,
			[]string{"&lt;script&gt;alert(1)&lt;/script&gt;", `value="&#34;&gt;&lt;b&gt;"`}, []string{"<script>", `"><b>`}},
	}
	for _, tt := range tests {
		w := serve(t, s, request{target: tt.target})
		body := w.Body.String()
		if w.Code != tt.code || w.Header().Get("Content-Type") != "text/html; charset=utf-8" {
			t.Errorf("%s: status %d %q, want %d", tt.target, w.Code, w.Header().Get("Content-Type"), tt.code)
		}
		for _, c := range tt.contains {
			if !strings.Contains(body, c) {
				t.Errorf("%s: page lacks %q", tt.target, c)
			}
		}
		for _, c := range tt.absent {
			if strings.Contains(body, c) {
				t.Errorf("%s: page contains %q", tt.target, c)
			}
		}
		if strings.Contains(body, `http-equiv="refresh"`) {
			t.Errorf("%s: the explain page must not reload itself", tt.target)
		}
	}
}

func TestPage(t *testing.T) {
	fake := newFake(t)
	fake.snap.Probes = append(fake.snap.Probes, ProbeStatus{Check: "disk", Type: "file", Datacenter: "ams", Target: "/run/ams.ok", State: StateUp})
	s := New(Config{}, fake, nil, nil)
	s.SetReady(true)
	w := serve(t, s, request{target: "/"})
	if w.Code != http.StatusOK {
		t.Fatalf("status %d", w.Code)
	}
	body := w.Body.String()
	for _, want := range []string{
		`<span class="kv">version <b id="version">v0.3.0-dev</b></span>`,
		`up <b id="uptime">3h08m</b>`,
		`id="ready" class="badge st-ready" data-state="ready"`,
		`<b id="qps">1843.6</b>`,
		`<b id="queries" data-count="20993417">20,993,417</b>`,
		`data-rcode="SERVFAIL" data-count="12">SERVFAIL &lt;0.1%`,
		`data-rcode="NOERROR" data-count="19811113">NOERROR 94%`,
		`<meta http-equiv="refresh" content="15">`,
		`<tr id="dc-iad" class="dc" data-datacenter="iad" data-state="down" data-override="" data-share="0.0000">`,
		`<tr id="dc-ams" class="dc" data-datacenter="ams" data-state="up" data-override="" data-share="0.5800">`,
		`<tr id="svc-api.gslb.example.test." class="service failing-open" data-service="api.gslb.example.test." data-state="failing-open">`,
		`all down — failing open`,
		`data-address="198.51.100.11" data-state="drain"`,
		`data-check="web" data-type="http" data-address="203.0.113.10" data-datacenter="iad" data-state="down"`,
		`<td class="err">dial tcp 203.0.113.10:80: connect: connection refused</td>`,
		`<tr class="peer" data-peer="127.0.0.3" data-state="active">`,
		`<tr class="file failed" data-file="routes.txt" data-kind="routes" data-ok="false">`,
		`routes.txt:17: invalid prefix &#34;10.0.0.0/33&#34;`,
		`<li class="warning">service api.gslb.example.test.: every target is down`,
		`<tr class="zone" data-zone="gslb.example.test." data-ok="true">`,
		`14m28s ago`, // gslb.example.test. zone loaded at 03:58:02, now 04:12:30
		`id="explain-form"`,
		`<tr class="probe" data-check="disk" data-type="file" data-address="" data-datacenter="ams" data-state="up">`,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("page lacks %q", want)
		}
	}
	if strings.Contains(body, "invalid IP") {
		t.Error("a probe without an address shows as \"invalid IP\"")
	}
	if n := strings.Count(body, `class="service failing-open"`); n != 1 {
		t.Errorf("%d services flagged failing open, want 1", n)
	}
	for target, want := range map[string]string{"/?refresh=0": "", "/?refresh=1": `content="2"`, "/?refresh=60": `content="60"`, "/?refresh=x": `content="15"`} {
		body := serve(t, s, request{target: target}).Body.String()
		has := strings.Contains(body, `http-equiv="refresh"`)
		if want == "" && has || want != "" && !strings.Contains(body, `http-equiv="refresh" `+want) {
			t.Errorf("%s: refresh wrong (want %q)", target, want)
		}
	}
}

func TestOverrideAuth(t *testing.T) {
	const good = `{"kind":"datacenter","key":"iad","state":"drain"}`
	jsonCT := map[string]string{"Content-Type": "application/json"}
	with := func(kv ...string) map[string]string {
		m := map[string]string{"Content-Type": "application/json"}
		for i := 0; i+1 < len(kv); i += 2 {
			m[kv[i]] = kv[i+1]
		}
		return m
	}
	tests := []struct {
		name   string
		token  string
		rq     request
		code   int
		called string // the override the backend saw, "" for none
	}{
		{"loopback v4, no token", "", request{header: jsonCT, body: good}, 200, "datacenter iad drain"},
		{"loopback 127.0.0.53", "", request{remote: "127.0.0.53:1", header: jsonCT, body: good}, 200, "datacenter iad drain"},
		{"loopback v6, no token", "", request{remote: "[::1]:40000", host: "[::1]:8053", header: jsonCT, body: good}, 200, "datacenter iad drain"},
		{"localhost host", "", request{host: "localhost:8053", header: jsonCT, body: good}, 200, "datacenter iad drain"},
		{"v4-mapped loopback", "", request{remote: "[::ffff:127.0.0.1]:1", header: jsonCT, body: good}, 200, "datacenter iad drain"},
		{"non-loopback, no token", "", request{remote: "192.0.2.7:40000", header: jsonCT, body: good}, 403, ""},
		{"forwarded header is ignored", "", request{remote: "192.0.2.7:40000", header: with("X-Forwarded-For", "127.0.0.1"), body: good}, 403, ""},
		{"rebound host name", "", request{host: "attacker.example:8053", header: jsonCT, body: good}, 403, ""},
		{"cross-site browser request", "", request{header: with("Sec-Fetch-Site", "cross-site"), body: good}, 403, ""},
		{"foreign origin", "", request{header: with("Origin", "http://attacker.example"), body: good}, 403, ""},
		{"token, non-loopback", testToken, request{remote: "192.0.2.7:40000", host: "192.0.2.53:8053", header: with("Authorization", "Bearer "+testToken), body: good}, 200, "datacenter iad drain"},
		{"token, scheme in lower case", testToken, request{remote: "192.0.2.7:40000", header: with("Authorization", "bearer "+testToken), body: good}, 200, "datacenter iad drain"},
		{"token missing", testToken, request{remote: "192.0.2.7:40000", header: jsonCT, body: good}, 401, ""},
		{"token missing on loopback", testToken, request{header: jsonCT, body: good}, 401, ""},
		{"token wrong", testToken, request{header: with("Authorization", "Bearer "+testToken+"x"), body: good}, 401, ""},
		{"token prefix only", testToken, request{header: with("Authorization", "Bearer "+testToken[:10]), body: good}, 401, ""},
		{"basic auth", testToken, request{header: with("Authorization", "Basic "+testToken), body: good}, 401, ""},
		{"address key canonical", "", request{header: jsonCT, body: `{"kind":"address","key":"::ffff:192.0.2.10","state":"DOWN"}`}, 200, "address 192.0.2.10 down"},
		{"clear", "", request{header: jsonCT, body: `{"kind":"address","key":"2001:DB8::10","state":"clear"}`}, 200, "address 2001:db8::10 clear"},
		{"bad kind", "", request{header: jsonCT, body: `{"kind":"service","key":"x","state":"down"}`}, 400, ""},
		{"bad state", "", request{header: jsonCT, body: `{"kind":"datacenter","key":"iad","state":"off"}`}, 400, ""},
		{"bad address", "", request{header: jsonCT, body: `{"kind":"address","key":"iad","state":"down"}`}, 400, ""},
		{"empty datacenter", "", request{header: jsonCT, body: `{"kind":"datacenter","key":"","state":"down"}`}, 400, ""},
		{"unknown field", "", request{header: jsonCT, body: `{"kind":"datacenter","key":"iad","state":"down","for":"1h"}`}, 400, ""},
		{"two values", "", request{header: jsonCT, body: good + good}, 400, ""},
		{"not json", "", request{header: jsonCT, body: `kind=datacenter`}, 400, ""},
		{"form content type", "", request{header: map[string]string{"Content-Type": "application/x-www-form-urlencoded"}, body: good}, 415, ""},
		{"too big", "", request{header: jsonCT, body: `{"kind":"datacenter","key":"` + strings.Repeat("a", maxBodyBytes) + `","state":"down"}`}, 400, ""},
		{"unknown datacenter", "", request{header: jsonCT, body: `{"kind":"datacenter","key":"nowhere","state":"down"}`}, 404, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fake := newFake(t)
			s := New(Config{Token: Secret(tt.token)}, fake, nil, nil)
			tt.rq.method, tt.rq.target = http.MethodPost, "/api/v1/override"
			w := serve(t, s, tt.rq)
			if w.Code != tt.code {
				t.Fatalf("status %d, want %d: %s", w.Code, tt.code, w.Body)
			}
			if tt.code != 200 {
				jsonErr(t, w)
			}
			if tt.code == 401 && w.Header().Get("WWW-Authenticate") == "" {
				t.Error("401 without WWW-Authenticate")
			}
			got, _ := fake.calls()
			switch {
			case tt.called == "" && len(got) != 0:
				t.Errorf("backend called: %q", got)
			case tt.called != "" && (len(got) != 1 || got[0] != tt.called):
				t.Errorf("backend saw %q, want %q", got, tt.called)
			}
		})
	}
}

func TestReloadAuth(t *testing.T) {
	tests := []struct {
		name      string
		token     string
		rq        request
		reloadErr error
		code      int
		reloads   int
	}{
		{"loopback", "", request{}, nil, 200, 1},
		{"non-loopback", "", request{remote: "198.51.100.1:5"}, nil, 403, 0},
		{"bad remote", "", request{remote: "garbage"}, nil, 403, 0},
		{"token ok", testToken, request{remote: "198.51.100.1:5", header: map[string]string{"Authorization": "Bearer " + testToken}}, nil, 200, 1},
		{"token missing", testToken, request{}, nil, 401, 0},
		{"backend error", "", request{}, errors.New("zones/gslb.zone:3: bad ttl"), 500, 1},
		{"backend invalid", "", request{}, ErrInvalid, 400, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fake := &fakeBackend{reloadErr: tt.reloadErr}
			s := New(Config{Token: Secret(tt.token)}, fake, nil, nil)
			tt.rq.method, tt.rq.target = http.MethodPost, "/api/v1/reload"
			w := serve(t, s, tt.rq)
			if w.Code != tt.code {
				t.Fatalf("status %d, want %d: %s", w.Code, tt.code, w.Body)
			}
			if tt.code != 200 {
				e := jsonErr(t, w)
				if tt.reloadErr != nil && !strings.Contains(e, tt.reloadErr.Error()) {
					t.Errorf("error %q does not carry the backend's %q", e, tt.reloadErr)
				}
			}
			if _, n := fake.calls(); n != tt.reloads {
				t.Errorf("%d reloads, want %d", n, tt.reloads)
			}
		})
	}
	// State changes only by POST.
	s := New(Config{}, &fakeBackend{}, nil, nil)
	for _, target := range []string{"/api/v1/reload", "/api/v1/override"} {
		if w := serve(t, s, request{target: target}); w.Code != http.StatusMethodNotAllowed {
			t.Errorf("GET %s: status %d, want 405", target, w.Code)
		}
	}
}

func TestHealthReady(t *testing.T) {
	s := New(Config{}, &fakeBackend{}, nil, nil)
	check := func(target string, code int, body string) {
		t.Helper()
		w := serve(t, s, request{target: target, remote: "192.0.2.1:1", host: "192.0.2.53:8053"})
		if w.Code != code || w.Body.String() != body {
			t.Errorf("%s: %d %q, want %d %q", target, w.Code, w.Body, code, body)
		}
	}
	check("/healthz", 200, "ok\n")
	check("/readyz", 503, "not ready\n")
	s.SetReady(true)
	check("/readyz", 200, "ready\n")
	s.SetReady(false)
	check("/readyz", 503, "not ready\n")
}

func TestHeaders(t *testing.T) {
	reg := prometheus.NewRegistry()
	s := New(Config{}, newFake(t), reg, nil)
	page := serve(t, s, request{target: "/"}).Body.String()
	m := regexp.MustCompile(`(?s)<style>(.*?)</style>`).FindStringSubmatch(page)
	if m == nil {
		t.Fatal("page has no <style>")
	}
	sum := sha256.Sum256([]byte(m[1]))
	hash := "'sha256-" + base64.StdEncoding.EncodeToString(sum[:]) + "'"
	for _, rq := range []request{
		{target: "/"}, {target: "/explain?name=x.example.&client=192.0.2.1"}, {target: "/api/v1/status"},
		{target: "/api/v1/explain?name=x.example."}, {target: "/healthz"}, {target: "/readyz"}, {target: "/metrics"},
		{target: "/nope"}, {method: "POST", target: "/api/v1/reload", remote: "192.0.2.1:1"},
	} {
		w := serve(t, s, rq)
		h := w.Header()
		if got := h.Get("Cache-Control"); got != "no-store" {
			t.Errorf("%s: Cache-Control %q", rq.target, got)
		}
		if got := h.Get("X-Content-Type-Options"); got != "nosniff" {
			t.Errorf("%s: X-Content-Type-Options %q", rq.target, got)
		}
		c := h.Get("Content-Security-Policy")
		for _, want := range []string{"default-src 'none'", "style-src " + hash, "form-action 'self'", "frame-ancestors 'none'"} {
			if !strings.Contains(c, want) {
				t.Errorf("%s: CSP %q lacks %q", rq.target, c, want)
			}
		}
		if strings.Contains(c, "script-src") || strings.Contains(c, "unsafe") {
			t.Errorf("%s: CSP %q is not strict", rq.target, c)
		}
	}
	if strings.Contains(page, "<script") || strings.Contains(page, " style=") {
		t.Error("page has scripts or inline style attributes, which the CSP blocks")
	}
}

func TestMetrics(t *testing.T) {
	reg := prometheus.NewRegistry()
	c := prometheus.NewCounter(prometheus.CounterOpts{Name: "godwit_test_queries_total", Help: "Test."})
	reg.MustRegister(c)
	c.Add(42)
	s := New(Config{}, &fakeBackend{}, reg, nil)
	w := serve(t, s, request{target: "/metrics", remote: "192.0.2.1:1", host: "192.0.2.53:8053"})
	if w.Code != 200 || !strings.Contains(w.Body.String(), "godwit_test_queries_total 42\n") {
		t.Errorf("metrics: %d %q", w.Code, w.Body)
	}
	if ct := w.Header().Get("Content-Type"); !strings.HasPrefix(ct, "text/plain") {
		t.Errorf("metrics content type %q", ct)
	}
	if w := serve(t, New(Config{}, &fakeBackend{}, nil, nil), request{target: "/metrics"}); w.Code != 404 {
		t.Errorf("no gatherer: status %d, want 404", w.Code)
	}
}

// TestNoTokenLeak checks the token shows up neither in pages nor in logs,
// whatever the requests.
func TestNoTokenLeak(t *testing.T) {
	var logs bytes.Buffer
	logger := slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	s := New(Config{Listen: "127.0.0.1:0", Token: testToken}, newFake(t), prometheus.NewRegistry(), logger)
	var out bytes.Buffer
	for _, rq := range []request{
		{target: "/"}, {target: "/api/v1/status"}, {target: "/explain?name=www.gslb.example.test.&client=192.0.2.1"},
		{method: "POST", target: "/api/v1/reload", header: map[string]string{"Authorization": "Bearer " + testToken + "x"}},
		{method: "POST", target: "/api/v1/reload", header: map[string]string{"Authorization": "Bearer " + testToken}},
		{method: "POST", target: "/api/v1/override", body: `{"kind":"datacenter","key":"iad","state":"up"}`,
			header: map[string]string{"Authorization": "Bearer " + testToken, "Content-Type": "application/json"}},
	} {
		out.Write(serve(t, s, rq).Body.Bytes())
	}
	if err := s.Start(t.Context()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Shutdown(context.Background()) })
	if strings.Contains(out.String(), testToken[:12]) || strings.Contains(logs.String(), testToken[:12]) {
		t.Errorf("token leaked:\nlogs: %s", logs.String())
	}
	if !strings.Contains(logs.String(), "admin override") || !strings.Contains(logs.String(), "bad or missing token") {
		t.Errorf("actions and refusals should be logged:\n%s", logs.String())
	}
}

func TestStartShutdown(t *testing.T) {
	s := New(Config{Listen: "127.0.0.1:0"}, newFake(t), nil, nil)
	if s.Addr() != nil {
		t.Fatal("Addr before Start")
	}
	if err := s.Start(t.Context()); err != nil {
		t.Fatal(err)
	}
	addr := s.Addr().String()
	if strings.HasSuffix(addr, ":0") || !strings.HasPrefix(addr, "127.0.0.1:") {
		t.Fatalf("Addr %q", addr)
	}
	if err := s.Start(t.Context()); err == nil {
		t.Error("second Start succeeded")
	}
	client := &http.Client{Timeout: 5 * time.Second}
	resp, err := client.Get("http://" + addr + "/healthz")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || string(body) != "ok\n" {
		t.Fatalf("healthz: %d %q", resp.StatusCode, body)
	}
	// A real POST from loopback, through the real connection's RemoteAddr.
	resp, err = client.Post("http://"+addr+"/api/v1/reload", "application/json", nil)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Errorf("reload over loopback: %d", resp.StatusCode)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := s.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := client.Get("http://" + addr + "/healthz"); err == nil {
		t.Error("still serving after Shutdown")
	}
	if err := s.Shutdown(ctx); err != nil {
		t.Errorf("second Shutdown: %v", err)
	}

	// Cancelling Start's context stops the server too.
	s2 := New(Config{Listen: "127.0.0.1:0"}, newFake(t), nil, nil)
	sctx, scancel := context.WithCancel(context.Background())
	if err := s2.Start(sctx); err != nil {
		t.Fatal(err)
	}
	scancel()
	select {
	case <-s2.done:
	case <-time.After(10 * time.Second):
		t.Fatal("server still running after its context was cancelled")
	}

	// A port in use is an error from Start.
	s3 := New(Config{Listen: addrInUse(t)}, newFake(t), nil, nil)
	if err := s3.Start(t.Context()); err == nil {
		s3.Shutdown(context.Background())
		t.Error("Start on a port in use succeeded")
	}
}

// addrInUse returns the address of a listener held open until the test ends.
func addrInUse(t *testing.T) string {
	s := New(Config{Listen: "127.0.0.1:0"}, &fakeBackend{}, nil, nil)
	if err := s.Start(t.Context()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Shutdown(context.Background()) })
	return s.Addr().String()
}

func TestFormat(t *testing.T) {
	now := time.Date(2026, 11, 22, 4, 12, 30, 0, time.UTC)
	tests := []struct{ got, want string }{
		{ago(now, time.Time{}), "never"},
		{ago(now, now.Add(-300*time.Millisecond)), "just now"},
		{ago(now, now.Add(-42*time.Second)), "42s ago"},
		{ago(now, now.Add(-(3*time.Minute + 7*time.Second))), "3m07s ago"},
		{ago(now, now.Add(-(2*time.Hour + 5*time.Minute))), "2h05m ago"},
		{ago(now, now.Add(-(50 * time.Hour))), "2d02h ago"},
		{ago(now, now.Add(90*time.Second)), "in 1m30s"},
		{pct(0), "0%"},
		{pct(0.0004), "<0.1%"},
		{pct(0.053), "5.3%"},
		{pct(0.5849), "58%"},
		{pct(1), "100%"},
		{latency(0), ""},
		{latency(850 * time.Microsecond), "850µs"},
		{latency(12340 * time.Microsecond), "12.3ms"},
		{latency(2 * time.Second), "2.00s"},
		{count(0), "0"},
		{count(999), "999"},
		{count(1000), "1,000"},
		{count(20993417), "20,993,417"},
	}
	for i, tt := range tests {
		if tt.got != tt.want {
			t.Errorf("%d: got %q, want %q", i, tt.got, tt.want)
		}
	}
}
