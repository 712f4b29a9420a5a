//go:build linux

package server

import (
	"bytes"
	"encoding/json"
	"image/png"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/godwit-dns/godwit/status/statustest"

	mdns "github.com/miekg/dns"
	"golang.org/x/net/html"

	"github.com/godwit-dns/godwit/status"
)

// TestStatusPageBrowser loads the status page of a real runtime (start, real
// http health checks, one datacenter's backend failing) in headless Chromium
// and checks what it shows, the explain form's result, and takes a
// screenshot. Skipped without Chromium unless GODWIT_ACCEPTANCE=1;
// GODWIT_SCREENSHOT=path also writes the screenshot there (docs/status.png);
// GODWIT_CHROMIUM overrides the browser's path.
func TestStatusPageBrowser(t *testing.T) {
	bin := statustest.Chromium(t)
	f := newFixture(t, map[string]bool{"ams": true, "fra": false, "iad": true})
	for range 40 {
		f.query(t, svcName, mdns.TypeA)
	}
	for range 10 {
		f.query(t, svcName, mdns.TypeAAAA)
	}
	f.query(t, "nothing.gslb.example.test.", mdns.TypeA)
	// The status server asks for a snapshot at most every 500 ms: wait
	// until the one it serves has seen the queries.
	deadline := time.Now().Add(3 * time.Second)
	for {
		code, body := f.get(t, "/api/v1/status")
		var api status.Snapshot
		if code == 200 && json.Unmarshal(body, &api) == nil && api.Queries >= 51 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the status API never showed the queries: %d %s", code, body)
		}
		time.Sleep(100 * time.Millisecond) // no signal for a fresh snapshot; well under the rate limit
	}

	out, log := statustest.Run(t, bin, "--dump-dom", f.base+"/?refresh=0")
	for _, l := range strings.Split(log, "\n") {
		if strings.Contains(l, "Content Security Policy") {
			t.Errorf("the browser blocked part of the page: %s", l)
		}
	}
	d := parsePage(t, out)

	wantDC := map[string]string{"ams": status.StateUp, "fra": status.StateDown, "iad": status.StateUp}
	rows := d.all(func(n *html.Node) bool { return n.Data == "tr" && hasAttr(n, "class", "dc") })
	if len(rows) != len(wantDC) {
		t.Errorf("%d datacenter rows, want %d", len(rows), len(wantDC))
	}
	for _, n := range rows {
		name, state := attrOf(n, "data-datacenter"), attrOf(n, "data-state")
		if want, ok := wantDC[name]; !ok || state != want || !strings.Contains(nodeText(n), want) {
			t.Errorf("datacenter %q shows state %q (%q), want %q", name, state, nodeText(n), want)
		}
	}
	if n := d.byID("dc-ams"); n == nil || attrOf(n, "data-share") != "1.0000" || !strings.Contains(nodeText(n), "100%") {
		t.Errorf("ams's answer share (100%%) is not shown")
	}

	svcs := d.all(func(n *html.Node) bool { return attrOf(n, "data-service") != "" })
	if len(svcs) != 1 || attrOf(svcs[0], "data-service") != svcName || attrOf(svcs[0], "data-state") != status.StateDegraded {
		t.Errorf("service rows: want one %s degraded", svcName)
	} else {
		targets := (pageDOM{svcs[0]}).all(func(n *html.Node) bool { return attrOf(n, "data-target") != "" })
		for _, tg := range targets {
			want := wantDC[attrOf(tg, "data-target")]
			if attrOf(tg, "data-state") != want {
				t.Errorf("target %s shows %s, want %s", attrOf(tg, "data-target"), attrOf(tg, "data-state"), want)
			}
		}
		if len(targets) != 3 {
			t.Errorf("%d targets shown, want 3", len(targets))
		}
	}

	probes := d.all(func(n *html.Node) bool { return n.Data == "tr" && hasAttr(n, "class", "probe") })
	if len(probes) != 3 {
		t.Errorf("%d probe rows, want 3", len(probes))
	}
	for _, n := range probes {
		want := wantDC[attrOf(n, "data-datacenter")]
		if attrOf(n, "data-state") != want || !strings.Contains(nodeText(n), "http://127.0.0.1:") {
			t.Errorf("probe %s: state %q, want %q; row %q", attrOf(n, "data-check"), attrOf(n, "data-state"), want, nodeText(n))
		}
		if attrOf(n, "data-datacenter") == "fra" && !strings.Contains(nodeText(n), "500") {
			t.Errorf("the failing probe's result (HTTP 500) is not shown: %q", nodeText(n))
		}
	}
	if ws := d.all(func(n *html.Node) bool { return hasAttr(n, "class", "warning") }); len(ws) == 0 ||
		!strings.Contains(nodeText(ws[0]), "fra") {
		t.Errorf("no warning about fra being down")
	}

	// The explain form, submitted as the browser would.
	form := d.byID("explain-form")
	if form == nil {
		t.Fatal("no explain form")
	}
	q := url.Values{}
	fill := map[string]string{"name": "www.gslb.example.test.", "type": "A", "client": "198.51.100.7"}
	for _, in := range (pageDOM{form}).all(func(n *html.Node) bool { return n.Data == "input" }) {
		q.Set(attrOf(in, "name"), fill[attrOf(in, "name")])
	}
	target, err := url.Parse(f.base + "/")
	if err != nil {
		t.Fatal(err)
	}
	target = target.ResolveReference(&url.URL{Path: attrOf(form, "action"), RawQuery: q.Encode()})
	out, _ = statustest.Run(t, bin, "--dump-dom", target.String())
	pre := parsePage(t, out).byID("explain-result")
	if pre == nil {
		t.Fatalf("no explanation at %s:\n%s", target, out)
	}
	for _, want := range []string{
		"www.gslb.example.test. A from 198.51.100.7 (no ECS)",
		"fra          192.0.2.20               down",
		"answer      192.0.2.10",
	} {
		if !strings.Contains(nodeText(pre), want) {
			t.Errorf("explanation lacks %q:\n%s", want, nodeText(pre))
		}
	}

	shot := filepath.Join(t.TempDir(), "status.png")
	statustest.Run(t, bin, "--screenshot="+shot, "--window-size=1280,1000", "--hide-scrollbars", f.base+"/?refresh=0")
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
	if dst := os.Getenv("GODWIT_SCREENSHOT"); dst != "" {
		if err := os.WriteFile(dst, b, 0o644); err != nil {
			t.Fatalf("GODWIT_SCREENSHOT: %v", err)
		}
		t.Logf("screenshot written to %s", dst)
	}
}

// pageDOM is a parsed page with a few queries on it.
type pageDOM struct{ root *html.Node }

func parsePage(t *testing.T, b []byte) pageDOM {
	t.Helper()
	n, err := html.Parse(bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	return pageDOM{n}
}

func (d pageDOM) all(match func(*html.Node) bool) []*html.Node {
	var out []*html.Node
	for n := range d.root.Descendants() {
		if n.Type == html.ElementNode && match(n) {
			out = append(out, n)
		}
	}
	return out
}

func (d pageDOM) byID(id string) *html.Node {
	if ns := d.all(func(n *html.Node) bool { return attrOf(n, "id") == id }); len(ns) > 0 {
		return ns[0]
	}
	return nil
}

func attrOf(n *html.Node, key string) string {
	for _, a := range n.Attr {
		if a.Key == key {
			return a.Val
		}
	}
	return ""
}

// hasAttr reports whether the space-separated attribute key contains val.
func hasAttr(n *html.Node, key, val string) bool {
	for _, f := range strings.Fields(attrOf(n, key)) {
		if f == val {
			return true
		}
	}
	return false
}

func nodeText(n *html.Node) string {
	var b strings.Builder
	for c := range n.Descendants() {
		if c.Type == html.TextNode {
			b.WriteString(c.Data)
		}
	}
	return b.String()
}
