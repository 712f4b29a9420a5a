package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"text/template"
	"time"

	"github.com/godwit-dns/godwit/internal/testsupport"
)

// TestAcceptanceBGP is the route-based proximity check end to end: two real
// BIRD routers (one per site) feed the real godwit binary over BGP on
// loopback, and dig with ECS must see each client sent to the site with the
// shortest AS path, the most specific prefix winning (BGP and the static
// routes file), and an ECS scope that covers no more specific route. Then one
// router stops and its clients must move to the other site.
// Config templates: testdata/acceptance/bgp/.
func TestAcceptanceBGP(t *testing.T) {
	testsupport.NeedTool(t, "dig")
	bird := birdBinary(t)
	testStart := time.Now()
	testdata, err := filepath.Abs("../../testdata/acceptance/bgp")
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	godwitPort := testsupport.FreePort(t, "127.0.0.1")
	sites := []birdSite{
		// ams is near 198.18.0.0/16, far from 198.19.0.0/16.
		{Name: "ams", Addr: "127.0.0.2", ASN: 65001, Port: testsupport.FreePort(t, "127.0.0.2"), GodwitPort: godwitPort,
			Prefixes: []string{"198.18.0.0/16", "198.19.0.0/16"},
			Far:      []string{"198.19.0.0/16"}},
		// iad the other way round, and the only one to reach 198.18.7.0/24.
		{Name: "iad", Addr: "127.0.0.3", ASN: 65002, Port: testsupport.FreePort(t, "127.0.0.3"), GodwitPort: godwitPort,
			Prefixes: []string{"198.18.0.0/16", "198.19.0.0/16", "198.18.7.0/24"},
			Far:      []string{"198.18.0.0/16"}},
	}
	cfg := filepath.Join(dir, "godwit.toml")
	renderTemplate(t, filepath.Join(testdata, "godwit.toml.tmpl"), cfg, map[string]any{
		"Testdata": testdata, "Port": godwitPort, "AmsPort": sites[0].Port, "IadPort": sites[1].Port,
	})
	birds := make([]*birdProc, len(sites))
	for i, site := range sites {
		conf := filepath.Join(dir, "bird-"+site.Name+".conf")
		renderTemplate(t, filepath.Join(testdata, "bird.conf.tmpl"), conf, site)
		birds[i] = startBird(t, bird, dir, site.Name, conf)
	}
	s := startGodwit(t, "-config", cfg)
	const (
		ams = "192.0.2.10"
		iad = "192.0.2.20"
	)
	const name = "www.gslb.example.test"

	// Sessions come up in a few seconds; poll until every client is routed.
	converge := []routeWant{
		{client: "198.18.1.1", addr: ams, scope: 22}, // /16: ams path 1 beats iad path 3; scope /22 excludes 198.18.7.0/24 and .9.0/24
		{client: "198.19.1.1", addr: iad, scope: 16}, // /16: iad path 1 beats ams path 3
		{client: "198.18.7.7", addr: iad, scope: 24}, // BGP /24 from iad only beats the /16
		{client: "198.18.9.9", addr: iad, scope: 24}, // static /24 (routes.txt) beats the BGP /16
	}
	began := time.Now()
	last := pollRoutes(t, s, name, converge, 30*time.Second)
	if last != "" {
		t.Fatalf("routes did not converge within 30 s: %s\nbird ams:\n%s\nbird iad:\n%s",
			last, birds[0].out.String(), birds[1].out.String())
	}
	t.Logf("BGP routes in effect %v after godwit started", time.Since(began).Round(time.Millisecond))

	// A client no route covers gets the fallback (failover: ams first).
	if r := digRoute(t, s, name, "192.0.2.99"); r.addr != ams {
		t.Errorf("client 192.0.2.99 (no route): got %q, want %s (failover fallback)\n%s", r.addr, ams, r.raw)
	}

	// The live explain (status API) shows the matched prefix and path lengths.
	for _, c := range []struct {
		client string
		want   []string
	}{
		{"198.18.1.1", []string{"route       198.18.0.0/16 via ams (path 1, bgp 127.0.0.2), iad (path 3, bgp 127.0.0.3)"}},
		{"198.18.7.7", []string{"route       198.18.7.0/24 via iad (path 1, bgp 127.0.0.3)"}},
		{"198.18.9.9", []string{"route       198.18.9.0/24 via iad (path 0, "}},
	} {
		text, route := explainLive(t, s, name, c.client)
		for _, w := range c.want {
			if !strings.Contains(text, w) {
				t.Errorf("explain %s: text lacks %q:\n%s", c.client, w, text)
			}
		}
		if route.Prefix == "" || len(route.Reach) == 0 {
			t.Errorf("explain %s: JSON has no route: %+v", c.client, route)
		}
	}

	// ams's router goes away (SIGTERM: BIRD closes the session with a
	// Cease); its clients must move to iad within a few seconds.
	stopped := time.Now()
	birds[0].stop(t)
	after := []routeWant{
		{client: "198.18.1.1", addr: iad, scope: 22}, // only iad's path 3 is left
		{client: "198.19.1.1", addr: iad, scope: 16},
		{client: "198.18.7.7", addr: iad, scope: 24},
	}
	if last := pollRoutes(t, s, name, after, 5*time.Second); last != "" {
		t.Fatalf("ams's clients did not move to iad within 5 s of stopping its router: %s", last)
	}
	t.Logf("withdrawal: ams's clients moved to iad %v after SIGTERM to its BIRD",
		time.Since(stopped).Round(time.Millisecond))
	text, _ := explainLive(t, s, name, "198.18.1.1")
	if !strings.Contains(text, "198.18.0.0/16 via iad (path 3") || strings.Contains(text, "bgp 127.0.0.2") {
		t.Errorf("explain after ams went away still shows it, or lacks iad's path:\n%s", text)
	}
	if d := time.Since(testStart); d > 60*time.Second {
		t.Errorf("test took %v, over its 60 s budget", d)
	}
}

// birdSite is the data of bird.conf.tmpl.
type birdSite struct {
	Name       string
	Addr       string // router id and local address
	ASN        uint32
	Port       int // BIRD's BGP port on Addr
	GodwitPort int
	Prefixes   []string // originated
	Far        []string // exported with two prepends
}

// routeWant is the answer a client must get.
type routeWant struct {
	client string
	addr   string // the one A record
	scope  int    // ECS scope; -1: not checked
}

// digRouteReply is one dig answer, taken apart.
type digRouteReply struct {
	addr  string // "" unless exactly one A record
	ttl   int
	scope int // -1 without an ECS option
	raw   string
}

var ecsRE = regexp.MustCompile(`CLIENT-SUBNET: [0-9a-f.:]+/(\d+)/(\d+)`)

// digRoute asks for name's A record with ECS client/32.
func digRoute(t *testing.T, s *godwitProc, name, client string) digRouteReply {
	t.Helper()
	out := s.dig(t, name, "A", "+subnet="+client+"/32")
	r := digRouteReply{scope: -1, raw: out}
	if m := ecsRE.FindStringSubmatch(out); m != nil {
		r.scope, _ = strconv.Atoi(m[2])
	}
	ans := parseDig(out).sections["ANSWER"]
	if len(ans) == 1 {
		if f := strings.Fields(ans[0]); len(f) == 5 && f[3] == "A" {
			r.addr = f[4]
			r.ttl, _ = strconv.Atoi(f[1])
		}
	}
	return r
}

// pollRoutes queries every client until all answers match or the timeout
// passes; it returns "" on success, else the last mismatch.
func pollRoutes(t *testing.T, s *godwitProc, name string, want []routeWant, timeout time.Duration) string {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		last := ""
		for _, w := range want {
			r := digRoute(t, s, name, w.client)
			if r.addr != w.addr || (w.scope >= 0 && r.scope != w.scope) {
				last = fmt.Sprintf("client %s: got %q scope %d, want %s scope %d", w.client, r.addr, r.scope, w.addr, w.scope)
				break
			}
		}
		if last == "" || time.Now().After(deadline) {
			return last
		}
		time.Sleep(50 * time.Millisecond) // poll interval, not a wait for a result
	}
}

// explainRoute is the route part of GET /api/v1/explain's JSON.
type explainRoute struct {
	Prefix string `json:"prefix"`
	Reach  []struct {
		Datacenter string
		PathLen    int
		Source     string
	} `json:"reach"`
}

// explainLive asks the running server's status API how it answers name for
// client: the live view, with the BGP routes that `godwit explain` (offline)
// cannot know.
func explainLive(t *testing.T, s *godwitProc, name, client string) (string, explainRoute) {
	t.Helper()
	var res struct {
		Text   string `json:"text"`
		Result struct {
			Service struct {
				Route explainRoute `json:"route"`
			} `json:"service"`
		} `json:"result"`
	}
	statusGet(t, s, "/api/v1/explain?"+url.Values{"name": {name}, "client": {client}}.Encode(), &res)
	return res.Text, res.Result.Service.Route
}

// statusGet GETs path from the status server and decodes its JSON into v.
func statusGet(t *testing.T, s *godwitProc, path string, v any) {
	t.Helper()
	if s.statusAddr == "" {
		t.Fatal("godwit runs no status server")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+s.statusAddr+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %s", path, resp.Status)
	}
	if err := json.NewDecoder(resp.Body).Decode(v); err != nil {
		t.Fatalf("GET %s: %v", path, err)
	}
}

// birdBinary finds BIRD 2 (bird2 installs it in /usr/sbin, often not on a
// user's PATH), skipping or failing like needTool when it is missing.
func birdBinary(t *testing.T) string {
	t.Helper()
	if p, err := exec.LookPath("bird"); err == nil {
		return p
	}
	if _, err := os.Stat("/usr/sbin/bird"); err == nil {
		return "/usr/sbin/bird"
	}
	return testsupport.NeedTool(t, "bird")
}

// birdProc is a running BIRD.
type birdProc struct {
	cmd  *exec.Cmd
	out  *testsupport.LockedBuffer
	done chan struct{}
}

// startBird runs BIRD in the foreground with its own control socket and
// stops it (SIGTERM by PID, then SIGKILL) at cleanup.
func startBird(t *testing.T, bin, dir, name, conf string) *birdProc {
	t.Helper()
	if out, err := exec.Command(bin, "-p", "-c", conf).CombinedOutput(); err != nil {
		t.Fatalf("bird %s: config does not parse: %v\n%s", name, err, out)
	}
	cmd := exec.Command(bin, "-f", "-c", conf,
		"-s", filepath.Join(dir, name+".ctl"), "-P", filepath.Join(dir, name+".pid"))
	b := &birdProc{cmd: cmd, out: &testsupport.LockedBuffer{}, done: make(chan struct{})}
	cmd.Stdout, cmd.Stderr = b.out, b.out
	if err := cmd.Start(); err != nil {
		t.Fatalf("bird %s: %v", name, err)
	}
	go func() { _ = cmd.Wait(); close(b.done) }()
	t.Cleanup(func() { b.stop(t) })
	return b
}

// stop sends SIGTERM to BIRD's PID and waits for it to exit (SIGKILL after 5 s).
func (b *birdProc) stop(t *testing.T) {
	select {
	case <-b.done:
		return
	default:
	}
	_ = b.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-b.done:
	case <-time.After(5 * time.Second):
		t.Errorf("bird (pid %d) ignored SIGTERM for 5 s; killing it", b.cmd.Process.Pid)
		_ = b.cmd.Process.Kill()
		<-b.done
	}
}

// renderTemplate executes the text/template in src with data into dst.
func renderTemplate(t *testing.T, src, dst string, data any) {
	t.Helper()
	tmpl, err := template.ParseFiles(src)
	if err != nil {
		t.Fatal(err)
	}
	var b bytes.Buffer
	if err := tmpl.Execute(&b, data); err != nil {
		t.Fatalf("%s: %v", src, err)
	}
	if err := os.WriteFile(dst, b.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
}
