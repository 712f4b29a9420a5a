package health

import (
	"context"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	mdns "github.com/miekg/dns"
)

var loopback = netip.MustParseAddr("127.0.0.1")

// portOf returns the port of a listener address like "127.0.0.1:34567".
func portOf(t *testing.T, addr string) int {
	t.Helper()
	ap, err := netip.ParseAddrPort(strings.TrimPrefix(strings.TrimPrefix(addr, "http://"), "https://"))
	if err != nil {
		t.Fatal(err)
	}
	return int(ap.Port())
}

// runProbe builds cfg's prober and runs it once against addr.
func runProbe(t *testing.T, cfg CheckConfig, addr netip.Addr, dcs ...string) error {
	t.Helper()
	cfg.Name = "t"
	if cfg.Interval == 0 {
		cfg.Interval = Duration(5 * time.Second)
	}
	if cfg.Timeout == 0 {
		cfg.Timeout = Duration(2 * time.Second)
	}
	cfg = cfg.WithDefaults()
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	p, err := newProber(cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer p.close()
	ctx, cancel := context.WithTimeout(context.Background(), cfg.Timeout.D())
	defer cancel()
	return p.probe(ctx, addr, dcs)
}

func checkErr(t *testing.T, err error, want string) {
	t.Helper()
	switch {
	case want == "" && err != nil:
		t.Fatalf("probe failed: %v", err)
	case want != "" && err == nil:
		t.Fatalf("probe passed, want error %q", want)
	case want != "" && !strings.Contains(err.Error(), want):
		t.Fatalf("error %q does not contain %q", err, want)
	}
}

func TestHTTPProbe(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/ok":
			fmt.Fprint(w, "status: ok\n")
		case "/host":
			fmt.Fprintf(w, "host=%s", r.Host)
		case "/moved":
			http.Redirect(w, r, "/ok", http.StatusFound)
		case "/sick":
			w.WriteHeader(http.StatusServiceUnavailable)
			fmt.Fprint(w, "status: sick")
		default:
			http.NotFound(w, r)
		}
	}))
	t.Cleanup(srv.Close)
	port := portOf(t, srv.Listener.Addr().String())
	tests := []struct {
		name string
		cfg  CheckConfig
		want string
	}{
		{"200", CheckConfig{Path: "/ok"}, ""},
		{"404 not expected", CheckConfig{Path: "/nope"}, "status 404, want [200]"},
		{"503 fails", CheckConfig{Path: "/sick"}, "status 503"},
		{"503 expected", CheckConfig{Path: "/sick", ExpectStatus: []int{200, 503}}, ""},
		{"redirect not followed", CheckConfig{Path: "/moved"}, "status 302"},
		{"redirect expected", CheckConfig{Path: "/moved", ExpectStatus: []int{302}}, ""},
		{"body substring", CheckConfig{Path: "/ok", ExpectBody: "ok"}, ""},
		{"body substring missing", CheckConfig{Path: "/ok", ExpectBody: "healthy"}, `body does not contain "healthy"`},
		{"body regexp", CheckConfig{Path: "/ok", ExpectRegexp: `(?m)^status: (ok|fine)$`}, ""},
		{"body regexp no match", CheckConfig{Path: "/sick", ExpectStatus: []int{503}, ExpectRegexp: `^status: ok`}, "body does not match"},
		{"host header", CheckConfig{Path: "/host", Host: "www.example.test", ExpectBody: "host=www.example.test"}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.cfg.Type, tt.cfg.Port = TypeHTTP, port
			checkErr(t, runProbe(t, tt.cfg, loopback), tt.want)
		})
	}

	t.Run("closed port", func(t *testing.T) {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		closed := portOf(t, l.Addr().String())
		l.Close()
		checkErr(t, runProbe(t, CheckConfig{Type: TypeHTTP, Port: closed}, loopback), "connection refused")
	})
}

func TestHTTPSProbe(t *testing.T) {
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprint(w, "secure ok")
	}))
	srv.Config.ErrorLog = log.New(io.Discard, "", 0) // the rejected handshakes are expected
	srv.StartTLS()
	t.Cleanup(srv.Close)
	port := portOf(t, srv.Listener.Addr().String())
	tests := []struct {
		name string
		cfg  CheckConfig
		want string
	}{
		{"self-signed rejected", CheckConfig{}, "certificate"},
		{"skip verify", CheckConfig{TLSSkipVerify: true, ExpectBody: "secure ok"}, ""},
		{"skip verify with server name", CheckConfig{TLSSkipVerify: true, TLSServerName: "example.com"}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.cfg.Type, tt.cfg.Port = TypeHTTPS, port
			checkErr(t, runProbe(t, tt.cfg, loopback), tt.want)
		})
	}
	t.Run("plain http to https port", func(t *testing.T) {
		checkErr(t, runProbe(t, CheckConfig{Type: TypeHTTP, Port: port}, loopback), "status 400")
	})
}

// silentServer accepts TCP connections and never writes to them.
func silentServer(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() {
		var conns []net.Conn
		defer func() {
			for _, c := range conns {
				c.Close()
			}
			close(done)
		}()
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			conns = append(conns, c)
		}
	}()
	t.Cleanup(func() { l.Close(); <-done })
	return portOf(t, l.Addr().String())
}

func TestProbeTimesOutOnSilentServer(t *testing.T) {
	port := silentServer(t)
	const timeout = 300 * time.Millisecond
	const slack = 400 * time.Millisecond
	for _, typ := range []string{TypeHTTP, TypeHTTPS} {
		t.Run(typ, func(t *testing.T) {
			start := time.Now()
			err := runProbe(t, CheckConfig{Type: typ, Port: port, Timeout: Duration(timeout)}, loopback)
			elapsed := time.Since(start)
			checkErr(t, err, "deadline exceeded")
			if elapsed < timeout || elapsed > timeout+slack {
				t.Fatalf("failed after %v, want about %v", elapsed, timeout)
			}
		})
	}
	t.Run("tcp connects", func(t *testing.T) {
		// A TCP check only needs the connection.
		checkErr(t, runProbe(t, CheckConfig{Type: TypeTCP, Port: port}, loopback), "")
	})
}

func TestTCPProbe(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	open := portOf(t, l.Addr().String())
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			c.Close()
		}
	}()
	t.Cleanup(func() { l.Close() })
	l2, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := portOf(t, l2.Addr().String())
	l2.Close()

	checkErr(t, runProbe(t, CheckConfig{Type: TypeTCP, Port: open}, loopback), "")
	checkErr(t, runProbe(t, CheckConfig{Type: TypeTCP, Port: closed}, loopback), "connection refused")
}

// dnsServer answers on 127.0.0.1:0/udp: NOERROR for ok.test., NXDOMAIN for
// others, SERVFAIL for broken.test., and nothing for silent.test.
func dnsServer(t *testing.T) int {
	t.Helper()
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	started := make(chan struct{})
	srv := &mdns.Server{PacketConn: pc, NotifyStartedFunc: func() { close(started) }}
	srv.Handler = mdns.HandlerFunc(func(w mdns.ResponseWriter, r *mdns.Msg) {
		m := new(mdns.Msg)
		m.SetReply(r)
		switch r.Question[0].Name {
		case "ok.test.":
			rr, _ := mdns.NewRR("ok.test. 60 IN A 192.0.2.1")
			m.Answer = append(m.Answer, rr)
		case "broken.test.":
			m.Rcode = mdns.RcodeServerFailure
		case "silent.test.":
			return
		default:
			m.Rcode = mdns.RcodeNameError
		}
		_ = w.WriteMsg(m)
	})
	done := make(chan struct{})
	go func() { defer close(done); _ = srv.ActivateAndServe() }()
	<-started
	t.Cleanup(func() { _ = srv.Shutdown(); <-done })
	return portOf(t, pc.LocalAddr().String())
}

func TestDNSProbe(t *testing.T) {
	port := dnsServer(t)
	tests := []struct {
		name string
		cfg  CheckConfig
		want string
	}{
		{"noerror", CheckConfig{QueryName: "ok.test"}, ""},
		{"nxdomain unexpected", CheckConfig{QueryName: "gone.test", QueryType: "AAAA"}, "rcode NXDOMAIN, want NOERROR"},
		{"nxdomain expected", CheckConfig{QueryName: "gone.test", ExpectRcode: "NXDOMAIN"}, ""},
		{"servfail", CheckConfig{QueryName: "broken.test", QueryType: "SOA"}, "rcode SERVFAIL"},
		{"no answer times out", CheckConfig{QueryName: "silent.test", Timeout: Duration(200 * time.Millisecond)}, "timeout"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.cfg.Type, tt.cfg.Port = TypeDNS, port
			start := time.Now()
			checkErr(t, runProbe(t, tt.cfg, loopback), tt.want)
			if el := time.Since(start); el > 1500*time.Millisecond {
				t.Fatalf("took %v", el)
			}
		})
	}
}

func TestExecProbe(t *testing.T) {
	dir := t.TempDir()
	script := filepath.Join(dir, "check.sh")
	out := filepath.Join(dir, "args")
	body := `#!/bin/sh
echo "$1 $2" > ` + out + `
case "$1" in
  127.0.0.1) exit 0 ;;
  127.0.0.2) echo "site is sick" >&2; exit 1 ;;
  127.0.0.3) sleep 10 & wait ;;
esac
exit 2
`
	if err := os.WriteFile(script, []byte(body), 0o755); err != nil {
		t.Fatal(err)
	}
	cmd := []string{script, "{address}", "dc={datacenter}"}

	t.Run("exit 0 and substitution", func(t *testing.T) {
		checkErr(t, runProbe(t, CheckConfig{Type: TypeExec, Command: cmd}, loopback, "ams", "fra"), "")
		got, err := os.ReadFile(out)
		if err != nil {
			t.Fatal(err)
		}
		if want := "127.0.0.1 dc=ams,fra\n"; string(got) != want {
			t.Fatalf("args = %q, want %q", got, want)
		}
	})
	t.Run("exit 1 with message", func(t *testing.T) {
		checkErr(t, runProbe(t, CheckConfig{Type: TypeExec, Command: cmd}, netip.MustParseAddr("127.0.0.2"), "ams"), "exit status 1: site is sick")
	})
	t.Run("missing program", func(t *testing.T) {
		checkErr(t, runProbe(t, CheckConfig{Type: TypeExec, Command: []string{filepath.Join(dir, "nope")}}, loopback), "no such file")
	})
	t.Run("killed at the timeout with its children", func(t *testing.T) {
		const timeout = 300 * time.Millisecond
		start := time.Now()
		err := runProbe(t, CheckConfig{Type: TypeExec, Command: cmd, Timeout: Duration(timeout)}, netip.MustParseAddr("127.0.0.3"))
		elapsed := time.Since(start)
		checkErr(t, err, "killed at the timeout")
		if elapsed < timeout || elapsed > timeout+400*time.Millisecond {
			t.Fatalf("returned after %v, want about %v", elapsed, timeout)
		}
	})
}

func TestFileProbe(t *testing.T) {
	path, err := filepath.Abs("../testdata/health/status.txt")
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		addr string
		dcs  []string
		want string
	}{
		{"address UP", "192.0.2.10", []string{"iad"}, ""}, // the address line beats its datacenter
		{"address DOWN", "192.0.2.11", []string{"ams"}, "status.txt:3: 192.0.2.11 DOWN"},
		{"datacenter UP", "192.0.2.20", []string{"ams"}, ""},
		{"datacenter DOWN", "192.0.2.21", []string{"iad"}, "status.txt:5: iad DOWN"},
		{"any datacenter DOWN", "192.0.2.22", []string{"ams", "iad"}, "iad DOWN"},
		{"not listed", "192.0.2.99", []string{"sin"}, "192.0.2.99 is not listed"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			checkErr(t, runProbe(t, CheckConfig{Type: TypeFile, Path: path}, netip.MustParseAddr(tt.addr), tt.dcs...), tt.want)
		})
	}
	t.Run("missing file", func(t *testing.T) {
		checkErr(t, runProbe(t, CheckConfig{Type: TypeFile, Path: filepath.Join(t.TempDir(), "none")}, loopback), "no such file")
	})
	t.Run("bad line", func(t *testing.T) {
		bad := filepath.Join(t.TempDir(), "bad")
		if err := os.WriteFile(bad, []byte("# x\n127.0.0.1 MAYBE\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		checkErr(t, runProbe(t, CheckConfig{Type: TypeFile, Path: bad}, loopback), `bad:2: state "MAYBE" is not UP or DOWN`)
	})
}
