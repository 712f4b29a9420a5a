package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/godwit-dns/godwit/internal/testsupport"
)

// TestAcceptanceHealth is health failover end to end: real HTTP backends on
// loopback addresses, the real godwit binary probing them, dig watching the
// answers while a backend fails and recovers, admin overrides (status API and
// state file), and fail-open when everything is down.
// Config template: testdata/acceptance/health/godwit.toml.tmpl.
func TestAcceptanceHealth(t *testing.T) {
	testsupport.NeedTool(t, "dig")
	testStart := time.Now()
	testdata, err := filepath.Abs("../../testdata/acceptance/health")
	if err != nil {
		t.Fatal(err)
	}
	const (
		ams      = "127.0.0.21"
		iad      = "127.0.0.22"
		name     = "www.gslb.example.test"
		ttl      = 30
		interval = 500 * time.Millisecond
		rise     = 2
		fall     = 3
		// Slack over interval×fall (or ×rise) for jitter (±10%), the probe
		// timeout, publication and dig itself, on a loaded machine.
		margin = 3 * time.Second
	)
	port, backends := startBackends(t, ams, iad)
	dir := t.TempDir()
	cfg := filepath.Join(dir, "godwit.toml")
	renderTemplate(t, filepath.Join(testdata, "godwit.toml.tmpl"), cfg, map[string]any{
		"Testdata": testdata, "Port": port, "Ams": ams, "Iad": iad,
	})
	stateFile := filepath.Join(dir, "overrides")
	s := startGodwit(t, "-config", cfg)
	dig := func() digAnswer { return digAnswers(t, s, name) }

	// serve start waits for the first probe round: ams from the first query,
	// with the full TTL (every probe up and stable).
	if a := dig(); !slices.Equal(a.addrs, []string{ams}) || a.ttl != ttl {
		t.Fatalf("at start: got %v ttl %d, want [%s] ttl %d\n%s", a.addrs, a.ttl, ams, ttl, a.raw)
	}

	// ams fails: answers leave it within interval×fall (+ margin), and in
	// the meantime (ams failing but not yet down) the TTL shrinks.
	backends[ams].Store(false)
	a, seen, took := pollAnswers(dig, fall*interval+margin, func(a digAnswer) bool { return !slices.Contains(a.addrs, ams) })
	if !slices.Equal(a.addrs, []string{iad}) {
		t.Fatalf("ams failing: answers did not move to iad within %v: last %v", fall*interval+margin, a.addrs)
	}
	t.Logf("failover: first answer without ams %v after its backend began failing (interval %v × fall %d = %v)",
		took.Round(time.Millisecond), interval, fall, fall*interval)
	t.Logf("answers while failing: %v", ttls(seen))
	doubt := false
	for _, b := range seen {
		if slices.Contains(b.addrs, ams) && b.ttl < ttl {
			doubt = true
		}
	}
	if !doubt {
		t.Errorf("no answer with ams had a TTL below %d while ams was failing; saw %v", ttl, ttls(seen))
	}
	if a.ttl >= ttl {
		t.Errorf("iad answered with ttl %d while ams is down (in doubt), want < %d", a.ttl, ttl)
	}

	// ams recovers: back after rise successes, then the full TTL again.
	backends[ams].Store(true)
	a, _, took = pollAnswers(dig, rise*interval+margin, func(a digAnswer) bool { return slices.Contains(a.addrs, ams) })
	if !slices.Equal(a.addrs, []string{ams}) {
		t.Fatalf("ams recovered: answers did not return within %v: last %v", rise*interval+margin, a.addrs)
	}
	t.Logf("recovery: ams answered again %v after its backend recovered (interval %v × rise %d = %v)",
		took.Round(time.Millisecond), interval, rise, rise*interval)
	if a, _, _ := pollAnswers(dig, 2*interval+margin, func(a digAnswer) bool { return a.ttl == ttl }); a.ttl != ttl {
		t.Errorf("after recovery the TTL stayed at %d, want %d", a.ttl, ttl)
	}

	t.Run("override via API", func(t *testing.T) {
		statusPost(t, s, "/api/v1/override", `{"kind":"datacenter","key":"ams","state":"drain"}`)
		// At once: the very next query.
		if a := dig(); !slices.Equal(a.addrs, []string{iad}) {
			t.Errorf("after draining ams: got %v, want [%s]", a.addrs, iad)
		}
		text := explainText(t, s, name, "192.0.2.1")
		if !strings.Contains(text, "drained") {
			t.Errorf("explain does not show ams drained:\n%s", text)
		}
		data, err := os.ReadFile(stateFile)
		if err != nil || !strings.Contains(string(data), "ams drain") {
			t.Errorf("state file after the API override: %q, %v; want a line \"ams drain\"", data, err)
		}
		statusPost(t, s, "/api/v1/override", `{"kind":"datacenter","key":"ams","state":"clear"}`)
		if a := dig(); !slices.Equal(a.addrs, []string{ams}) {
			t.Errorf("after clearing the drain: got %v, want [%s]", a.addrs, ams)
		}
	})

	t.Run("state file with SIGHUP", func(t *testing.T) {
		setState := func(content string) {
			t.Helper()
			if err := os.WriteFile(stateFile, []byte(content), 0o644); err != nil {
				t.Fatal(err)
			}
			if err := s.cmd.Process.Signal(syscall.SIGHUP); err != nil {
				t.Fatal(err)
			}
		}
		setState("# taken out by hand\n" + ams + " down\n")
		if a, _, took := pollAnswers(dig, 3*time.Second, func(a digAnswer) bool { return slices.Equal(a.addrs, []string{iad}) }); !slices.Equal(a.addrs, []string{iad}) {
			t.Errorf("state file %q down + SIGHUP: got %v, want [%s]", ams, a.addrs, iad)
		} else {
			t.Logf("state file + SIGHUP took effect in %v", took.Round(time.Millisecond))
		}
		setState("")
		if a, _, _ := pollAnswers(dig, 3*time.Second, func(a digAnswer) bool { return slices.Equal(a.addrs, []string{ams}) }); !slices.Equal(a.addrs, []string{ams}) {
			t.Errorf("state file emptied + SIGHUP: got %v, want [%s]", a.addrs, ams)
		}
	})

	t.Run("state file watched", func(t *testing.T) {
		// serve watches health.state_file (fsnotify, debounced): a change
		// is picked up within a second or two without SIGHUP.
		if err := os.WriteFile(stateFile, []byte("ams drain\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		if a, _, took := pollAnswers(dig, 3*time.Second, func(a digAnswer) bool { return slices.Equal(a.addrs, []string{iad}) }); !slices.Equal(a.addrs, []string{iad}) {
			t.Errorf("state file \"ams drain\": got %v, want [%s]", a.addrs, iad)
		} else {
			t.Logf("state file change picked up by the watcher in %v", took.Round(time.Millisecond))
		}
		if err := os.WriteFile(stateFile, nil, 0o644); err != nil {
			t.Fatal(err)
		}
		if a, _, _ := pollAnswers(dig, 3*time.Second, func(a digAnswer) bool { return slices.Equal(a.addrs, []string{ams}) }); !slices.Equal(a.addrs, []string{ams}) {
			t.Errorf("state file emptied: got %v, want [%s]", a.addrs, ams)
		}
	})

	t.Run("all down fails open", func(t *testing.T) {
		backends[ams].Store(false)
		backends[iad].Store(false)
		t.Cleanup(func() { backends[ams].Store(true); backends[iad].Store(true) })
		want := []string{ams, iad}
		a, _, took := pollAnswers(dig, fall*interval+margin, func(a digAnswer) bool { return sorted(a.addrs) == strings.Join(want, " ") })
		if got := sorted(a.addrs); got != strings.Join(want, " ") {
			t.Fatalf("every backend failing: got %v, want every target %v (fail open)", a.addrs, want)
		}
		t.Logf("fail open %v after both backends began failing", took.Round(time.Millisecond))
		if text := explainText(t, s, name, "192.0.2.1"); !strings.Contains(text, "FAIL OPEN") {
			t.Errorf("explain does not say FAIL OPEN:\n%s", text)
		}
	})

	if d := time.Since(testStart); d > 60*time.Second {
		t.Errorf("test took %v, over its 60 s budget", d)
	}
}

// startBackends starts one HTTP server per address, all on the same free
// port, answering GET /healthz with 200 while their flag is true and 503
// otherwise. They stop at cleanup.
func startBackends(t *testing.T, addrs ...string) (int, map[string]*atomic.Bool) {
	t.Helper()
	for try := 0; try < 10; try++ {
		port := testsupport.FreePort(t, addrs[0])
		var ls []net.Listener
		var err error
		for _, a := range addrs {
			var l net.Listener
			if l, err = net.Listen("tcp", net.JoinHostPort(a, strconv.Itoa(port))); err != nil {
				break
			}
			ls = append(ls, l)
		}
		if err != nil {
			for _, l := range ls {
				l.Close()
			}
			continue // the port is taken on another address: pick again
		}
		flags := make(map[string]*atomic.Bool, len(addrs))
		for i, a := range addrs {
			ok := new(atomic.Bool)
			ok.Store(true)
			flags[a] = ok
			srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if r.URL.Path != "/healthz" || !ok.Load() {
					http.Error(w, "unhealthy", http.StatusServiceUnavailable)
					return
				}
				fmt.Fprintln(w, "ok")
			}), ReadHeaderTimeout: 5 * time.Second}
			go func() {
				if err := srv.Serve(ls[i]); err != nil && !errors.Is(err, http.ErrServerClosed) {
					t.Errorf("backend %s: %v", a, err)
				}
			}()
			t.Cleanup(func() { _ = srv.Close() })
		}
		return port, flags
	}
	t.Fatalf("no port free on all of %v", addrs)
	return 0, nil
}

// digAnswer is the A records of one reply and their TTL.
type digAnswer struct {
	addrs []string
	ttl   int // of the first record; -1 without records
	raw   string
}

func digAnswers(t *testing.T, s *godwitProc, name string) digAnswer {
	t.Helper()
	out := s.dig(t, name, "A")
	a := digAnswer{ttl: -1, raw: out}
	for _, rr := range parseDig(out).sections["ANSWER"] {
		f := strings.Fields(rr)
		if len(f) == 5 && f[3] == "A" {
			a.addrs = append(a.addrs, f[4])
			if a.ttl < 0 {
				a.ttl, _ = strconv.Atoi(f[1])
			}
		}
	}
	return a
}

// pollAnswers queries until done holds or timeout passes. It returns the
// last answer, every answer seen, and the time until the last one.
func pollAnswers(dig func() digAnswer, timeout time.Duration, done func(digAnswer) bool) (digAnswer, []digAnswer, time.Duration) {
	start := time.Now()
	var seen []digAnswer
	for {
		a := dig()
		seen = append(seen, a)
		if done(a) || time.Since(start) > timeout {
			return a, seen, time.Since(start)
		}
		time.Sleep(10 * time.Millisecond) // poll interval, not a wait for a result
	}
}

func ttls(as []digAnswer) []string {
	out := make([]string, len(as))
	for i, a := range as {
		out[i] = fmt.Sprintf("%v/%d", a.addrs, a.ttl)
	}
	return out
}

func sorted(s []string) string {
	s = slices.Clone(s)
	slices.Sort(s)
	return strings.Join(s, " ")
}

// explainText is the text form of the live explain of name for client.
func explainText(t *testing.T, s *godwitProc, name, client string) string {
	t.Helper()
	var res struct {
		Text string `json:"text"`
	}
	statusGet(t, s, "/api/v1/explain?"+url.Values{"name": {name}, "client": {client}}.Encode(), &res)
	return res.Text
}

// statusPost POSTs a JSON body to the status server (from loopback, which
// needs no token) and fails unless it answers 2xx.
func statusPost(t *testing.T, s *godwitProc, path, body string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, "http://"+s.statusAddr+path, bytes.NewBufferString(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		var msg bytes.Buffer
		_, _ = msg.ReadFrom(resp.Body)
		t.Fatalf("POST %s %s: %s %s", path, body, resp.Status, msg.String())
	}
}
