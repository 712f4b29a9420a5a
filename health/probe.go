package health

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"os/exec"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	mdns "github.com/miekg/dns"

	"github.com/godwit-dns/godwit/internal/inputfile"
)

// prober runs one check against one address. The context carries the
// check's timeout. dcs are the datacenters the address serves (sorted).
type prober interface {
	probe(ctx context.Context, addr netip.Addr, dcs []string) error
	close()
}

// newProber builds the prober of a validated, defaulted check. Probers are
// pointers: Update compares them by identity.
func newProber(c CheckConfig) (prober, error) {
	switch c.Type {
	case TypeHTTP, TypeHTTPS:
		return newHTTPProber(c)
	case TypeTCP:
		return &tcpProber{port: uint16(c.Port)}, nil
	case TypeDNS:
		return &dnsProber{
			port:  uint16(c.Port),
			name:  mdns.Fqdn(c.QueryName),
			qtype: mdns.StringToType[strings.ToUpper(c.QueryType)],
			rcode: mdns.StringToRcode[strings.ToUpper(c.ExpectRcode)],
		}, nil
	case TypeExec:
		return &execProber{argv: c.Command}, nil
	case TypeFile:
		return &fileProber{path: c.Path}, nil
	}
	return nil, fmt.Errorf("check %q: type: unknown type %q", c.Name, c.Type)
}

// maxBody bounds how much of an HTTP body is read for matching.
const maxBody = 64 << 10

type httpProber struct {
	scheme, path, host string
	port               uint16
	status             []int
	body               string
	re                 *regexp.Regexp
	client             *http.Client
}

func newHTTPProber(c CheckConfig) (*httpProber, error) {
	p := &httpProber{
		scheme: c.Type, path: c.Path, host: c.Host, port: uint16(c.Port),
		status: c.ExpectStatus, body: c.ExpectBody,
	}
	if c.ExpectRegexp != "" {
		re, err := regexp.Compile(c.ExpectRegexp)
		if err != nil {
			return nil, fmt.Errorf("check %q: expect_regexp: %w", c.Name, err)
		}
		p.re = re
	}
	serverName := c.TLSServerName
	if serverName == "" && c.Host != "" {
		serverName = c.Host
		if h, _, err := net.SplitHostPort(c.Host); err == nil {
			serverName = h
		}
	}
	tr := &http.Transport{
		Proxy:                  nil, // probe the address itself, never a proxy
		DialContext:            (&net.Dialer{}).DialContext,
		DisableKeepAlives:      true, // each probe opens a fresh connection
		MaxResponseHeaderBytes: 64 << 10,
		TLSClientConfig: &tls.Config{
			ServerName:         serverName,
			InsecureSkipVerify: c.TLSSkipVerify,
		},
	}
	p.client = &http.Client{
		Transport: tr,
		// A redirect is judged by its own status, never followed.
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
	return p, nil
}

func (p *httpProber) probe(ctx context.Context, addr netip.Addr, _ []string) error {
	url := p.scheme + "://" + netip.AddrPortFrom(addr, p.port).String() + p.path
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	if p.host != "" {
		req.Host = p.host
	}
	req.Header.Set("User-Agent", "godwit-health/1")
	resp, err := p.client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if !slices.Contains(p.status, resp.StatusCode) {
		return fmt.Errorf("status %d, want %v", resp.StatusCode, p.status)
	}
	if p.body == "" && p.re == nil {
		return nil
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxBody))
	if err != nil {
		return fmt.Errorf("reading body: %w", err)
	}
	if p.body != "" && !bytes.Contains(body, []byte(p.body)) {
		return fmt.Errorf("body does not contain %q", p.body)
	}
	if p.re != nil && !p.re.Match(body) {
		return fmt.Errorf("body does not match %q", p.re)
	}
	return nil
}

func (p *httpProber) close() { p.client.CloseIdleConnections() }

type tcpProber struct {
	port uint16
	dial func(ctx context.Context, network, address string) (net.Conn, error) // nil: a net.Dialer; tests inject failures
}

func (p tcpProber) probe(ctx context.Context, addr netip.Addr, _ []string) error {
	dial := p.dial
	if dial == nil {
		dial = (&net.Dialer{}).DialContext
	}
	c, err := dial(ctx, "tcp", netip.AddrPortFrom(addr, p.port).String())
	if err != nil {
		return err
	}
	return c.Close()
}

func (tcpProber) close() {}

type dnsProber struct {
	port  uint16
	name  string
	qtype uint16
	rcode int
}

func (p dnsProber) probe(ctx context.Context, addr netip.Addr, _ []string) error {
	m := new(mdns.Msg)
	m.SetQuestion(p.name, p.qtype)
	m.RecursionDesired = false
	c := &mdns.Client{Net: "udp"}
	if dl, ok := ctx.Deadline(); ok {
		c.Timeout = time.Until(dl)
	}
	r, _, err := c.ExchangeContext(ctx, m, netip.AddrPortFrom(addr, p.port).String())
	if err != nil {
		return err
	}
	if r.Rcode != p.rcode {
		return fmt.Errorf("rcode %s, want %s", mdns.RcodeToString[r.Rcode], mdns.RcodeToString[p.rcode])
	}
	return nil
}

func (dnsProber) close() {}

type execProber struct{ argv []string }

// execWaitDelay bounds the wait for a killed command's output pipes.
const execWaitDelay = 500 * time.Millisecond

func (p execProber) probe(ctx context.Context, addr netip.Addr, dcs []string) error {
	r := strings.NewReplacer("{address}", addr.String(), "{datacenter}", strings.Join(dcs, ","))
	argv := make([]string, len(p.argv))
	for i, a := range p.argv {
		argv[i] = r.Replace(a)
	}
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
	cmd.Stdin = nil
	out := &tailBuffer{max: 256}
	cmd.Stdout, cmd.Stderr = out, out
	cmd.WaitDelay = execWaitDelay
	killGroupOnCancel(cmd)
	err := cmd.Run()
	killGroup(cmd) // children left behind by a finished command
	if ctx.Err() != nil {
		return fmt.Errorf("killed at the timeout: %w", ctx.Err())
	}
	if err != nil {
		if msg := strings.TrimSpace(out.String()); msg != "" {
			return fmt.Errorf("%w: %s", err, msg)
		}
		return err
	}
	return nil
}

func (execProber) close() {}

// tailBuffer keeps the last max bytes written to it.
type tailBuffer struct {
	max int
	b   []byte
}

func (t *tailBuffer) Write(p []byte) (int, error) {
	t.b = append(t.b, p...)
	if len(t.b) > t.max {
		t.b = t.b[len(t.b)-t.max:]
	}
	return len(p), nil
}

func (t *tailBuffer) String() string { return string(t.b) }

type fileProber struct{ path string }

// probe reads the status file: lines "<address or datacenter> UP|DOWN" with
// # comments. The address's own line decides; else any of its datacenters
// listed DOWN fails it and one listed UP passes it; an address listed
// nowhere fails.
func (p fileProber) probe(_ context.Context, addr netip.Addr, dcs []string) error {
	// Not os.Open: a named pipe there would block the probe, and Stop
	// with it, for good.
	f, _, err := inputfile.Open(p.path, inputfile.Options{})
	if err != nil {
		return err
	}
	defer f.Close()
	var dcUp, dcDown string
	sc := bufio.NewScanner(io.LimitReader(f, 16<<20))
	for n := 1; sc.Scan(); n++ {
		line, _, _ := strings.Cut(sc.Text(), "#")
		fl := strings.Fields(line)
		if len(fl) == 0 {
			continue
		}
		if len(fl) != 2 {
			return fmt.Errorf("%s:%d: want \"<address or datacenter> UP|DOWN\"", p.path, n)
		}
		var up bool
		switch strings.ToUpper(fl[1]) {
		case "UP":
			up = true
		case "DOWN":
		default:
			return fmt.Errorf("%s:%d: state %q is not UP or DOWN", p.path, n, fl[1])
		}
		if a, err := netip.ParseAddr(fl[0]); err == nil {
			if a.Unmap() == addr {
				if up {
					return nil
				}
				return fmt.Errorf("%s:%d: %s DOWN", p.path, n, fl[0])
			}
			continue
		}
		if slices.Contains(dcs, fl[0]) {
			if up {
				dcUp = p.path + ":" + strconv.Itoa(n)
			} else if dcDown == "" {
				dcDown = fmt.Sprintf("%s:%d: %s DOWN", p.path, n, fl[0])
			}
		}
	}
	if err := sc.Err(); err != nil {
		return fmt.Errorf("%s: %w", p.path, err)
	}
	switch {
	case dcDown != "":
		return errors.New(dcDown)
	case dcUp != "":
		return nil
	}
	return fmt.Errorf("%s: %s is not listed", p.path, addr)
}

func (fileProber) close() {}
