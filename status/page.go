package status

import (
	"bytes"
	"crypto/sha256"
	"embed"
	"encoding/base64"
	"fmt"
	"html/template"
	"net/http"
	"net/netip"
	"sort"
	"strconv"
	"strings"
	"time"
)

//go:embed assets/page.html assets/style.css
var assets embed.FS

var (
	styleCSS  = mustRead("assets/style.css")
	styleHash = func() string {
		sum := sha256.Sum256([]byte(styleCSS))
		return "sha256-" + base64.StdEncoding.EncodeToString(sum[:])
	}()
	pageTmpl = template.Must(template.New("page").Funcs(template.FuncMap{
		"ago":          ago,
		"stamp":        stamp,
		"clock":        func(t time.Time) string { return t.UTC().Format("15:04:05 MST") },
		"pct":          pct,
		"qps":          func(f float64) string { return strconv.FormatFloat(f, 'f', 1, 64) },
		"latency":      latency,
		"count":        count,
		"addr":         addr,
		"probed":       probed,
		"wrap":         wrap,
		"usesFallback": usesFallback,
	}).ParseFS(assets, "assets/page.html"))
)

func mustRead(name string) string {
	b, err := assets.ReadFile(name)
	if err != nil {
		panic(err)
	}
	return string(b)
}

// Page reload interval: default, and the bounds of ?refresh=N (0 = off).
const (
	defaultRefresh = 15
	minRefresh     = 2
	maxRefresh     = 3600
)

// pageData is what the templates render.
type pageData struct {
	Title   string
	CSS     template.CSS
	Refresh int // seconds, 0 = no automatic reload
	S       Snapshot
	H       History
	Uptime  string
	Rcodes  []rcodeShare
	Explain explainView
	// ExplainPage is set on /explain, which never reloads itself.
	ExplainPage bool
}

type rcodeShare struct {
	Name  string
	Count uint64
	Share float64
}

// explainView is the explain form and its result.
type explainView struct {
	Name, Type, Client string
	Done               bool   // Text holds a result
	Text               string // the decision path
	Err                string
}

func (s *Server) pageData(title string) pageData {
	snap := s.snapshot()
	d := pageData{Title: title, CSS: template.CSS(styleCSS), S: snap, H: s.hist.view(snap.Now), Rcodes: rcodeShares(snap.Rcodes)}
	if !snap.Started.IsZero() {
		d.Uptime = roundDuration(snap.Now.Sub(snap.Started))
	}
	return d
}

func (s *Server) handlePage(w http.ResponseWriter, r *http.Request) {
	d := s.pageData("Godwit status")
	d.Refresh = defaultRefresh
	if v := r.URL.Query().Get("refresh"); v != "" {
		n, err := strconv.Atoi(v)
		switch {
		case err != nil || n < 0:
		case n == 0:
			d.Refresh = 0
		default:
			d.Refresh = min(max(n, minRefresh), maxRefresh)
		}
	}
	s.render(w, http.StatusOK, "page", d)
}

func (s *Server) handleExplainPage(w http.ResponseWriter, r *http.Request) {
	d := s.pageData("Godwit explain")
	d.ExplainPage = true
	q := r.URL.Query()
	d.Explain = explainView{Name: q.Get("name"), Type: q.Get("type"), Client: q.Get("client")}
	code := http.StatusOK
	if d.Explain.Name != "" {
		eq, err := parseExplain(r)
		if err != nil {
			code = http.StatusBadRequest
			d.Explain.Err = err.Error()
		} else {
			d.Explain.Name, d.Explain.Type, d.Explain.Client = eq.Name, eq.Type, eq.Client
			res, err := s.explain(r.Context(), eq)
			if err != nil {
				code = errorCode(err)
				d.Explain.Err = err.Error()
			} else {
				d.Explain.Done, d.Explain.Text = true, res.Text
			}
		}
	}
	d.Title = "Godwit explain " + d.Explain.Name
	s.render(w, code, "explainpage", d)
}

// render executes a template into a buffer first, so that a template error
// is a clean 500 rather than half a page.
func (s *Server) render(w http.ResponseWriter, code int, name string, d pageData) {
	var buf bytes.Buffer
	if err := pageTmpl.ExecuteTemplate(&buf, name, d); err != nil {
		s.log.Error("status page", "template", name, "err", err)
		http.Error(w, "internal error rendering the page", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(code)
	_, _ = w.Write(buf.Bytes())
}

// rcodeShares orders rcodes by count, largest first.
func rcodeShares(m map[string]uint64) []rcodeShare {
	var total uint64
	out := make([]rcodeShare, 0, len(m))
	for name, n := range m {
		total += n
		out = append(out, rcodeShare{Name: name, Count: n})
	}
	if total == 0 {
		return nil
	}
	for i := range out {
		out[i].Share = float64(out[i].Count) / float64(total)
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Count != out[j].Count {
			return out[i].Count > out[j].Count
		}
		return out[i].Name < out[j].Name
	})
	return out
}

// ago says how long before now t was: "12s ago", "3m ago", "never".
func ago(now, t time.Time) string {
	if t.IsZero() {
		return "never"
	}
	d := now.Sub(t)
	if d < 0 {
		return "in " + roundDuration(-d)
	}
	if d < time.Second {
		return "just now"
	}
	return roundDuration(d) + " ago"
}

// roundDuration shows a duration to two units: "45s", "3m12s", "2h5m", "3d4h".
func roundDuration(d time.Duration) string {
	switch {
	case d < time.Minute:
		return fmt.Sprintf("%ds", int(d/time.Second))
	case d < time.Hour:
		return fmt.Sprintf("%dm%02ds", int(d/time.Minute), int(d%time.Minute/time.Second))
	case d < 24*time.Hour:
		return fmt.Sprintf("%dh%02dm", int(d/time.Hour), int(d%time.Hour/time.Minute))
	default:
		return fmt.Sprintf("%dd%02dh", int(d/(24*time.Hour)), int(d%(24*time.Hour)/time.Hour))
	}
}

func stamp(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format(time.RFC3339)
}

// pct formats a 0..1 share as a percentage.
func pct(f float64) string {
	p := f * 100
	if p > 0 && p < 0.1 {
		return "<0.1%"
	}
	if p > 0 && p < 10 {
		return strconv.FormatFloat(p, 'f', 1, 64) + "%"
	}
	return strconv.FormatFloat(p, 'f', 0, 64) + "%"
}

// latency formats a probe's latency: "850µs", "12.3ms", "1.20s", "" if none.
func latency(d time.Duration) string {
	switch {
	case d <= 0:
		return ""
	case d < time.Millisecond:
		return fmt.Sprintf("%dµs", d/time.Microsecond)
	case d < time.Second:
		return strconv.FormatFloat(float64(d)/float64(time.Millisecond), 'f', 1, 64) + "ms"
	default:
		return strconv.FormatFloat(d.Seconds(), 'f', 2, 64) + "s"
	}
}

// count writes n with thousands separators: 20,993,417.
func count(n uint64) string {
	s := strconv.FormatUint(n, 10)
	var b strings.Builder
	for i, c := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(c)
	}
	return b.String()
}

// addr shows an address, or nothing for the zero Addr (probes of type exec
// or file have none).
func addr(a netip.Addr) string {
	if !a.IsValid() {
		return ""
	}
	return a.String()
}

// probed is what a probe contacts, as the health checker runs it: an exec
// check's {address} and {datacenter} are expanded (as health does, with the
// datacenters joined by commas); other types show the Backend's Target.
func probed(p ProbeStatus) string {
	if p.Target == "" {
		return addr(p.Address)
	}
	if p.Type == "exec" {
		return strings.NewReplacer("{address}", addr(p.Address), "{datacenter}", p.Datacenter).Replace(p.Target)
	}
	return p.Target
}

// usesFallback reports whether a policy ever uses its fallback: only geo and
// routes do (a fallback on the others is accepted but unused).
func usesFallback(policy string) bool { return policy == "geo" || policy == "routes" }

// wrap escapes a path or URL for HTML and lets the browser break the line
// after each '/' (and before each '?' or ' '), so a long one wraps inside
// its cell instead of widening the table.
func wrap(s string) template.HTML {
	var b strings.Builder
	for i, part := range strings.SplitAfter(s, "/") {
		if i > 0 {
			b.WriteString("<wbr>")
		}
		b.WriteString(template.HTMLEscapeString(part))
	}
	return template.HTML(b.String())
}
