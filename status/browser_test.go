//go:build linux

package status

import (
	"bytes"
	"context"
	"github.com/godwit-dns/godwit/status/statustest"
	"image/png"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/net/html"
)

// The browser test drives Debian's chromium headless against a real server.
// It is skipped when chromium is missing, unless GODWIT_ACCEPTANCE=1.
// GODWIT_SCREENSHOT=path also writes the page's screenshot to path (for
// docs/status.png). GODWIT_CHROMIUM overrides the browser's path
// (status/statustest runs it).

// cspViolations returns the lines of the browser log that report a blocked
// resource (for example an inline style whose hash is not in the CSP).
func cspViolations(log string) []string {
	var out []string
	for _, l := range strings.Split(log, "\n") {
		if strings.Contains(l, "Content Security Policy") {
			out = append(out, l)
		}
	}
	return out
}

// dom is a parsed page with a few queries on it.
type dom struct{ root *html.Node }

func parseDOM(t *testing.T, b []byte) dom {
	t.Helper()
	n, err := html.Parse(bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	return dom{n}
}

func attr(n *html.Node, key string) (string, bool) {
	for _, a := range n.Attr {
		if a.Key == key {
			return a.Val, true
		}
	}
	return "", false
}

// all returns the elements for which match is true, in document order.
func (d dom) all(match func(*html.Node) bool) []*html.Node {
	var out []*html.Node
	for n := range d.root.Descendants() {
		if n.Type == html.ElementNode && match(n) {
			out = append(out, n)
		}
	}
	return out
}

// with matches elements whose attribute key has the value val.
func with(key, val string) func(*html.Node) bool {
	return func(n *html.Node) bool { v, ok := attr(n, key); return ok && v == val }
}

// byID returns the element with that id, or nil.
func (d dom) byID(id string) *html.Node {
	if ns := d.all(with("id", id)); len(ns) > 0 {
		return ns[0]
	}
	return nil
}

func text(n *html.Node) string {
	var b strings.Builder
	for c := range n.Descendants() {
		if c.Type == html.TextNode {
			b.WriteString(c.Data)
		}
	}
	return b.String()
}

func TestBrowser(t *testing.T) {
	bin := statustest.Chromium(t)
	fake := newFake(t)
	s := New(Config{Listen: "127.0.0.1:0"}, fake, nil, nil)
	s.SetReady(true)
	if err := s.Start(t.Context()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		s.Shutdown(ctx)
	})
	base := "http://" + s.Addr().String()

	out, log := statustest.Run(t, bin, "--dump-dom", base+"/")
	if v := cspViolations(log); len(v) > 0 {
		t.Errorf("the browser blocked parts of the page:\n%s", strings.Join(v, "\n"))
	}
	d := parseDOM(t, out)

	// Datacenters, with health and answer share.
	wantDC := map[string]string{"ams": StateUp, "fra": StateDegraded, "iad": StateDown}
	rows := d.all(func(n *html.Node) bool { return n.Data == "tr" && with("class", "dc")(n) })
	if len(rows) != len(wantDC) {
		t.Errorf("%d datacenter rows, want %d", len(rows), len(wantDC))
	}
	for _, n := range rows {
		name, _ := attr(n, "data-datacenter")
		state, _ := attr(n, "data-state")
		if want, ok := wantDC[name]; !ok || state != want {
			t.Errorf("datacenter %q shows state %q, want %q", name, state, want)
		}
		if !strings.Contains(text(n), state) {
			t.Errorf("datacenter %q: state %q not visible in %q", name, state, text(n))
		}
	}
	if n := d.byID("dc-ams"); n == nil || !strings.Contains(text(n), "58%") {
		t.Error("ams's answer share (58%) is not shown")
	}

	// Services: one failing open, visibly.
	wantSvc := map[string]string{
		"www.gslb.example.test.": StateDegraded,
		"api.gslb.example.test.": StateFailingOpen,
		"img.gslb.example.test.": StateOK,
	}
	svcs := d.all(func(n *html.Node) bool { _, ok := attr(n, "data-service"); return ok })
	if len(svcs) != len(wantSvc) {
		t.Errorf("%d service rows, want %d", len(svcs), len(wantSvc))
	}
	for _, n := range svcs {
		name, _ := attr(n, "data-service")
		state, _ := attr(n, "data-state")
		if want := wantSvc[name]; state != want {
			t.Errorf("service %q shows state %q, want %q", name, state, want)
		}
		failing := strings.Contains(text(n), "all down — failing open")
		if failing != (state == StateFailingOpen) {
			t.Errorf("service %q (%s): failing-open banner shown = %v", name, state, failing)
		}
	}

	// Probes: iad's fail, the others pass.
	probes := d.all(with("class", "probe"))
	if len(probes) != len(fake.snap.Probes) {
		t.Errorf("%d probe rows, want %d", len(probes), len(fake.snap.Probes))
	}
	for _, n := range probes {
		dc, _ := attr(n, "data-datacenter")
		state, _ := attr(n, "data-state")
		addr, _ := attr(n, "data-address")
		want := StateUp
		if dc == "iad" {
			want = StateDown
		}
		if state != want || !strings.Contains(text(n), addr) {
			t.Errorf("probe %s in %s: state %q, want %q; row %q", addr, dc, state, want, text(n))
		}
	}

	// Peers, files and warnings.
	if ns := d.all(with("data-peer", "127.0.0.3")); len(ns) != 1 || !strings.Contains(text(ns[0]), "connection refused") {
		t.Error("the down BGP peer and its error are not shown")
	}
	if ns := d.all(with("data-file", "routes.txt")); len(ns) != 1 || !strings.Contains(text(ns[0]), `routes.txt:17: invalid prefix "10.0.0.0/33"`) {
		t.Error("the routes file's load error is not shown")
	}
	if ws := d.all(with("class", "warning")); len(ws) != len(fake.snap.Warnings) {
		t.Errorf("%d warnings shown, want %d", len(ws), len(fake.snap.Warnings))
	}

	// The explain form: build its GET URL from the form as the browser would
	// submit it, then load the result.
	form := d.byID("explain-form")
	if form == nil {
		t.Fatal("no explain form")
	}
	action, _ := attr(form, "action")
	if m, _ := attr(form, "method"); m != "get" {
		t.Errorf("explain form method %q, want get", m)
	}
	q := url.Values{}
	fill := map[string]string{"name": "www.gslb.example.test.", "type": "A", "client": "81.2.69.142"}
	for _, in := range (dom{form}).all(func(n *html.Node) bool { return n.Data == "input" }) {
		name, _ := attr(in, "name")
		q.Set(name, fill[name])
	}
	if len(q) != len(fill) {
		t.Fatalf("explain form has inputs %v, want %v", q, fill)
	}
	target, err := url.Parse(base + "/")
	if err != nil {
		t.Fatal(err)
	}
	target = target.ResolveReference(&url.URL{Path: action, RawQuery: q.Encode()})
	out, _ = statustest.Run(t, bin, "--dump-dom", target.String())
	ed := parseDOM(t, out)
	pre := ed.byID("explain-result")
	if pre == nil {
		t.Fatalf("no explanation at %s:\n%s", target, out)
	}
	for _, want := range []string{
		"query     www.gslb.example.test. A from 81.2.69.142",
		"3. iad    5903 km  down (0/3), skipped",
		"answer    192.0.2.10 192.0.2.11",
	} {
		if !strings.Contains(text(pre), want) {
			t.Errorf("explanation lacks %q:\n%s", want, text(pre))
		}
	}

	// A screenshot that is an image of something.
	shot := filepath.Join(t.TempDir(), "status.png")
	statustest.Run(t, bin, "--screenshot="+shot, "--window-size=1280,1000", "--hide-scrollbars", base+"/?refresh=0")
	b, err := os.ReadFile(shot)
	if err != nil {
		t.Fatalf("no screenshot: %v", err)
	}
	img, err := png.Decode(bytes.NewReader(b))
	if err != nil {
		t.Fatalf("screenshot: %v", err)
	}
	if r := img.Bounds(); r.Dx() != 1280 || r.Dy() != 1000 {
		t.Errorf("screenshot is %v, want 1280x1000", r)
	}
	colors := map[[4]uint32]bool{}
	for y := img.Bounds().Min.Y; y < img.Bounds().Max.Y; y += 4 {
		for x := img.Bounds().Min.X; x < img.Bounds().Max.X; x += 4 {
			r, g, bl, a := img.At(x, y).RGBA()
			colors[[4]uint32{r, g, bl, a}] = true
		}
	}
	if len(b) < 20<<10 || len(colors) < 50 {
		t.Errorf("screenshot looks empty: %d bytes, %d colours", len(b), len(colors))
	}
	if dst := os.Getenv("GODWIT_SCREENSHOT"); dst != "" {
		if err := os.WriteFile(dst, b, 0o644); err != nil {
			t.Fatalf("GODWIT_SCREENSHOT: %v", err)
		}
		t.Logf("screenshot written to %s", dst)
	}
}
