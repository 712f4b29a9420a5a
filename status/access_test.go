package status

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/BurntSushi/toml"
)

// startServer starts s on 127.0.0.1:0 and stops it when the test ends.
func startServer(t *testing.T, s *Server) string {
	t.Helper()
	if err := s.Start(t.Context()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Shutdown(t.Context()) })
	return s.Addr().String()
}

// do sends one request to a running server with the given Host and headers.
func do(t *testing.T, addr, method, path, host, body string, header map[string]string) (int, string) {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), method, "http://"+addr+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if host != "" {
		req.Host = host
	}
	for k, v := range header {
		req.Header.Set(k, v)
	}
	client := &http.Client{Timeout: 10 * time.Second}
	resp, err := client.Do(req)
	if err != nil {
		t.Fatalf("%s %s (Host %s): %v", method, path, host, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// TestHostileHostOrigin drives a running server as a DNS-rebinding page and
// a cross-site page would: a foreign Host is refused on every endpoint, a
// foreign Origin on every endpoint even with a valid token, and the
// backend never acts on a refused request.
func TestHostileHostOrigin(t *testing.T) {
	const body = `{"kind":"datacenter","key":"iad","state":"drain"}`
	for _, token := range []Secret{"", testToken} {
		t.Run(fmt.Sprintf("token=%v", token), func(t *testing.T) {
			fake := newFake(t)
			s := New(Config{Listen: "127.0.0.1:0", Token: token, AllowedHosts: []string{"status.example.net"}}, fake, nil, nil)
			addr := startServer(t, s)
			_, port, _ := strings.Cut(addr, ":")
			auth := map[string]string{"Content-Type": "application/json"}
			if token != "" {
				auth["Authorization"] = "Bearer " + testToken
			}
			with := func(kv ...string) map[string]string {
				m := map[string]string{}
				for k, v := range auth {
					m[k] = v
				}
				for i := 0; i+1 < len(kv); i += 2 {
					m[kv[i]] = kv[i+1]
				}
				return m
			}
			tests := []struct {
				name, method, path, host string
				header                   map[string]string
				code                     int
			}{
				{"rebound GET page", "GET", "/", "evil.example", nil, 403},
				{"rebound GET status", "GET", "/api/v1/status", "evil.example:" + port, nil, 403},
				{"rebound GET explain", "GET", "/api/v1/explain?name=www.gslb.example.test.", "evil.example", nil, 403},
				{"rebound GET healthz", "GET", "/healthz", "evil.example", nil, 403},
				{"rebound GET with token", "GET", "/api/v1/status", "evil.example", with(), 403},
				{"rebound POST with token", "POST", "/api/v1/override", "evil.example:" + port, with("Origin", "http://evil.example:"+port), 403},
				{"foreign origin GET", "GET", "/api/v1/status", "", with("Origin", "http://evil.example"), 403},
				{"foreign origin POST with token", "POST", "/api/v1/override", "", with("Origin", "http://evil.example"), 403},
				{"foreign origin POST reload", "POST", "/api/v1/reload", "", with("Origin", "https://evil.example"), 403},
				{"null origin POST", "POST", "/api/v1/override", "", with("Origin", "null"), 403},
				{"origin other port", "POST", "/api/v1/override", "", with("Origin", "http://127.0.0.1:1"), 403},
				{"cross-site fetch", "POST", "/api/v1/override", "", with("Sec-Fetch-Site", "cross-site"), 403},
				{"GET by IP", "GET", "/api/v1/status", "", nil, 200},
				{"GET localhost", "GET", "/", "localhost:" + port, nil, 200},
				{"GET allowed name", "GET", "/", "Status.Example.NET:" + port, nil, 200},
				{"same origin POST", "POST", "/api/v1/override", "", with("Origin", "http://"+addr), 200},
			}
			want := 0
			for _, tt := range tests {
				b := ""
				if tt.method == "POST" {
					b = body
				}
				code, got := do(t, addr, tt.method, tt.path, tt.host, b, tt.header)
				if code != tt.code {
					t.Errorf("%s: %d %s, want %d", tt.name, code, got, tt.code)
				}
				if tt.method == "POST" && tt.code == 200 {
					want++
				}
			}
			overrides, reloads := fake.calls()
			if len(overrides) != want || reloads != 0 {
				t.Errorf("backend acted on refused requests: overrides %q, reloads %d (want %d overrides)", overrides, reloads, want)
			}
		})
	}
}

// TestReadAccessBeyondLoopback checks who may read when Listen is not a
// loopback address: loopback clients, token holders, or anyone with
// public_read; probes stay open.
func TestReadAccessBeyondLoopback(t *testing.T) {
	remote := "192.0.2.7:40000"
	tests := []struct {
		name   string
		cfg    Config
		rq     request
		code   int
		wwwAut bool
	}{
		{"loopback listen, remote reader", Config{Listen: "127.0.0.1:8053"}, request{target: "/api/v1/status", remote: remote}, 200, false},
		{"all interfaces, no token", Config{Listen: ":8053"}, request{target: "/api/v1/status", remote: remote}, 403, false},
		{"all interfaces, page, no token", Config{Listen: "0.0.0.0:8053"}, request{target: "/", remote: remote}, 403, false},
		{"all interfaces, metrics, no token", Config{Listen: "[::]:8053"}, request{target: "/metrics", remote: remote}, 403, false},
		{"all interfaces, loopback reader", Config{Listen: ":8053"}, request{target: "/api/v1/status"}, 200, false},
		{"all interfaces, healthz", Config{Listen: ":8053"}, request{target: "/healthz", remote: remote}, 200, false},
		{"all interfaces, public_read", Config{Listen: ":8053", PublicRead: true}, request{target: "/api/v1/status", remote: remote}, 200, false},
		{"token, no header", Config{Listen: "192.0.2.1:8053", Token: testToken}, request{target: "/api/v1/status", remote: remote}, 401, true},
		{"token, wrong", Config{Listen: "192.0.2.1:8053", Token: testToken}, request{target: "/", remote: remote,
			header: map[string]string{"Authorization": "Bearer nope-nope-nope-nope"}}, 401, true},
		{"token, right", Config{Listen: "192.0.2.1:8053", Token: testToken}, request{target: "/api/v1/status", remote: remote,
			header: map[string]string{"Authorization": "Bearer " + testToken}}, 200, false},
		{"name listen is not loopback", Config{Listen: "status.example.net:8053"}, request{target: "/", remote: remote}, 403, false},
		{"localhost listen", Config{Listen: "localhost:8053"}, request{target: "/", remote: remote}, 200, false},
	}
	for _, tt := range tests {
		s := New(tt.cfg, newFake(t), nil, nil)
		w := serve(t, s, tt.rq)
		if w.Code != tt.code {
			t.Errorf("%s: %d %s, want %d", tt.name, w.Code, w.Body, tt.code)
		}
		if got := w.Header().Get("WWW-Authenticate") != ""; got != tt.wwwAut {
			t.Errorf("%s: WWW-Authenticate present %v, want %v", tt.name, got, tt.wwwAut)
		}
	}
}

func TestWarnBeyondLoopback(t *testing.T) {
	tests := []struct {
		cfg  Config
		want string // in the log, "" for no warning
	}{
		{Config{Listen: "127.0.0.1:8053"}, ""},
		{Config{Listen: "[::1]:8053"}, ""},
		{Config{Listen: ":8053", Token: testToken}, ""},
		{Config{Listen: ":8053"}, "level=WARN msg=\"status server listens beyond loopback without a token: only loopback clients"},
		{Config{Listen: "192.0.2.1:8053", PublicRead: true}, "level=WARN msg=\"status server listens beyond loopback without a token: anyone who can connect reads it"},
	}
	for _, tt := range tests {
		var logs bytes.Buffer
		s := New(tt.cfg, newFake(t), nil, slog.New(slog.NewTextHandler(&logs, nil)))
		s.warnExposure(tt.cfg.Listen)
		if got := logs.String(); (tt.want == "") != (got == "") || !strings.Contains(got, tt.want) {
			t.Errorf("%s: log %q, want %q", tt.cfg.Listen, got, tt.want)
		}
	}
}

// TestConfigNeverPrintsToken prints the config every way a log line, an
// error or a restart warning might, and looks for the token.
func TestConfigNeverPrintsToken(t *testing.T) {
	cfg := Config{Listen: "127.0.0.1:8053", Token: testToken, AllowedHosts: []string{"status.example.net"}}
	var outs []string
	for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%q", "%x", "%X", "%d", "%T %v"} {
		outs = append(outs, fmt.Sprintf(verb, cfg), fmt.Sprintf(verb, &cfg), fmt.Sprintf(verb, cfg.Token))
	}
	outs = append(outs, fmt.Sprint(cfg), fmt.Sprintln(cfg), cfg.Token.String(), cfg.Token.GoString())
	b, _ := json.Marshal(cfg)
	outs = append(outs, string(b))
	var tb bytes.Buffer
	if err := toml.NewEncoder(&tb).Encode(cfg); err != nil {
		t.Fatal(err)
	}
	outs = append(outs, tb.String())
	var logs bytes.Buffer
	log := slog.New(slog.NewTextHandler(&logs, nil))
	log.Info("config", "status", cfg, "token", cfg.Token)
	slog.New(slog.NewJSONHandler(&logs, nil)).Info("config", "status", cfg, "token", cfg.Token)
	outs = append(outs, logs.String())
	for _, o := range outs {
		if strings.Contains(o, testToken[:8]) || strings.Contains(o, fmt.Sprintf("%x", testToken[:8])) {
			t.Errorf("token printed: %s", o)
		}
	}
	if got := fmt.Sprintf("%+v", cfg); !strings.Contains(got, "Token:<set>") {
		t.Errorf("%%+v = %s, want it to say Token:<set>", got)
	}
	if got := fmt.Sprintf("%+v", Config{}); !strings.Contains(got, "Token: ") {
		t.Errorf("%%+v of no token = %s, want an empty Token", got)
	}
	// The value still decodes from TOML and compares.
	var back struct {
		Status Config `toml:"status"`
	}
	if _, err := toml.Decode("[status]\ntoken = \""+testToken+"\"\n", &back); err != nil || back.Status.Token.Reveal() != testToken {
		t.Errorf("decode: %v, token ok %v", err, back.Status.Token.Reveal() == testToken)
	}
}
