package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/godwit-dns/godwit/internal/testsupport"
)

// The dig acceptance suite: the real binary, served on a free loopback
// port, queried by the real dig, compared against testdata/acceptance/*.case.
// It runs in `make test` (GODWIT_ACCEPTANCE=1, which also makes a missing dig
// a failure instead of a skip).

var buildOnce struct {
	sync.Once
	path string
	err  error
}

// godwitBinary builds cmd/godwit once per test process.
func godwitBinary(t *testing.T) string {
	t.Helper()
	buildOnce.Do(func() {
		dir, err := os.MkdirTemp("", "godwit-bin-")
		if err != nil {
			buildOnce.err = err
			return
		}
		buildOnce.path = filepath.Join(dir, "godwit")
		out, err := exec.Command("go", "build", "-o", buildOnce.path, ".").CombinedOutput()
		if err != nil {
			buildOnce.err = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	if buildOnce.err != nil {
		t.Fatal(buildOnce.err)
	}
	return buildOnce.path
}

// godwitProc is a running godwit process.
type godwitProc struct {
	dnsAddr    string // host:port of the DNS listener
	statusAddr string // host:port of the status server, "" if none
	cmd        *exec.Cmd
	stderr     *testsupport.LockedBuffer
}

var servingRE = regexp.MustCompile(`serving DNS on (\S+)`)
var statusRE = regexp.MustCompile(`status page on http://(\S+?)/`)

// startGodwit runs `godwit serve -listen 127.0.0.1:0 -status-listen
// 127.0.0.1:0 ARGS` (`godwit demo …` when ARGS name no -config) and waits
// for its "serving DNS on" line, the readiness signal.
func startGodwit(t *testing.T, args ...string) *godwitProc {
	t.Helper()
	bin := godwitBinary(t)
	sub := "demo"
	if slices.Contains(args, "-config") {
		sub = "serve"
	}
	args = append([]string{sub, "-listen", "127.0.0.1:0", "-status-listen", "127.0.0.1:0"}, args...)
	cmd := exec.Command(bin, args...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	s := &godwitProc{cmd: cmd, stderr: &testsupport.LockedBuffer{}}
	cmd.Stderr = s.stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGTERM)
		done := make(chan struct{})
		go func() { _ = cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
			<-done
		}
		if t.Failed() {
			t.Logf("godwit stderr:\n%s", s.stderr.String())
		}
	})
	ready := make(chan error, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			line := sc.Text()
			if m := servingRE.FindStringSubmatch(line); m != nil {
				s.dnsAddr = m[1]
				// The status line, when there is a status server (the
				// -status-listen above makes one), comes right after.
				if sc.Scan() {
					if m := statusRE.FindStringSubmatch(sc.Text()); m != nil {
						s.statusAddr = m[1]
					}
				}
				ready <- nil
				_, _ = io.Copy(io.Discard, stdout)
				return
			}
		}
		ready <- fmt.Errorf("godwit exited before serving")
	}()
	select {
	case err := <-ready:
		if err != nil {
			_ = cmd.Wait()
			t.Fatalf("%v; stderr:\n%s", err, s.stderr.String())
		}
	case <-time.After(30 * time.Second):
		t.Fatalf("godwit did not start within 30 s; stderr:\n%s", s.stderr.String())
	}
	return s
}

// dig runs dig against the server with the given arguments.
func (s *godwitProc) dig(t *testing.T, args ...string) string {
	t.Helper()
	host, port, ok := strings.Cut(s.dnsAddr, ":")
	if !ok {
		t.Fatalf("bad server address %q", s.dnsAddr)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	full := append([]string{"@" + host, "-p", port, "+time=2", "+tries=1", "+nocookie"}, args...)
	out, err := exec.CommandContext(ctx, testsupport.NeedTool(t, "dig"), full...).CombinedOutput()
	if err != nil {
		t.Logf("dig %s: %v", strings.Join(full, " "), err)
	}
	return string(out)
}

func runCaseFiles(t *testing.T, s *godwitProc, pattern string) {
	files, err := filepath.Glob(pattern)
	if err != nil || len(files) == 0 {
		t.Fatalf("no case files match %s", pattern)
	}
	n := 0
	for _, f := range files {
		cases, err := parseCaseFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for _, c := range cases {
			n++
			t.Run(strings.TrimSuffix(c.file, ".case")+"/"+c.title, func(t *testing.T) {
				out := s.dig(t, c.args...)
				if bad := c.check(parseDig(out)); len(bad) > 0 {
					t.Errorf("%s\ndig %s\n%s\n--- dig output:\n%s", c, strings.Join(c.args, " "),
						strings.Join(bad, "\n"), out)
				}
			})
		}
	}
	t.Logf("%d dig cases from %d files", n, len(files))
}

// TestAcceptanceDemo runs the dig suite against the built-in demo config,
// exactly what `make run` serves.
func TestAcceptanceDemo(t *testing.T) {
	testsupport.NeedTool(t, "dig")
	s := startGodwit(t)
	runCaseFiles(t, s, "../../testdata/acceptance/*.case")
}

// TestAcceptanceGeo runs geo.case against MaxMind's test City database.
func TestAcceptanceGeo(t *testing.T) {
	testsupport.NeedTool(t, "dig")
	s := startGodwit(t, "-config", "../../testdata/acceptance/geo/godwit.toml")
	runCaseFiles(t, s, "../../testdata/acceptance/geo/*.case")
}

// TestAcceptanceRotation checks across queries what one dig case cannot:
// round-robin visits every datacenter in turn, weighted visits more than
// one, and every answer comes from the service's addresses.
func TestAcceptanceRotation(t *testing.T) {
	testsupport.NeedTool(t, "dig")
	s := startGodwit(t)
	want := map[string]bool{"192.0.2.10": true, "192.0.2.20": true, "192.0.2.30": true}
	for _, name := range []string{"rr.gslb.example.test", "weighted.gslb.example.test"} {
		seen := map[string]int{}
		for i := 0; i < 30; i++ {
			out := strings.TrimSpace(s.dig(t, name, "A", "+short"))
			if !want[out] {
				t.Fatalf("%s: answer %q is not one of the service's addresses", name, out)
			}
			seen[out]++
		}
		min := 1
		if name == "rr.gslb.example.test" {
			min = 3 // three datacenters, rotating per query
		}
		if len(seen) < min || len(seen) < 2 {
			t.Errorf("%s: 30 queries saw only %v", name, seen)
		}
		t.Logf("%s: %v", name, seen)
	}
}

// metric is the sum of every series of a metric on godwit's /metrics.
func (s *godwitProc) metric(t *testing.T, name string) float64 {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+s.statusAddr+"/metrics", nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	sum := 0.0
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		series, value, ok := strings.Cut(sc.Text(), " ")
		if !ok || (series != name && !strings.HasPrefix(series, name+"{")) {
			continue
		}
		v, err := strconv.ParseFloat(value, 64)
		if err != nil {
			t.Fatalf("/metrics: %q: %v", sc.Text(), err)
		}
		sum += v
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	return sum
}
