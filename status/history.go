package status

import (
	"fmt"
	"html/template"
	"maps"
	"math"
	"slices"
	"strings"
	"sync"
	"time"
)

// The status server keeps the recent past in memory: a sample of the
// snapshot every historyStep, historyLen of them (15 minutes), and the
// health changes and reloads seen between samples.
const (
	historyStep = 10 * time.Second
	historyLen  = 90
	maxEvents   = 64
	maxEventLen = 200
)

// Sample is one point of the history.
type Sample struct {
	Time time.Time `json:"time"`
	// QPS is queries per second over the step before Time.
	QPS float64 `json:"qps"`
	// Share is each datacenter's share (0..1) of the service answers over
	// the step before Time, or over the Backend's window (window_ns) when
	// it gives no running totals; empty when there were none.
	Share map[string]float64 `json:"share"`
}

// Event marks a moment on the time axis.
type Event struct {
	Time time.Time `json:"time"`
	Kind string    `json:"kind"` // EventHealth, EventReload, EventReloadFailed
	Text string    `json:"text"`
}

// Event kinds.
const (
	EventHealth       = "health"
	EventReload       = "reload"
	EventReloadFailed = "reload-failed"
)

// History is what GET /api/v1/history returns and the page draws.
type History struct {
	Step        time.Duration `json:"step_ns"`
	Span        time.Duration `json:"span_ns"`
	Now         time.Time     `json:"now"`
	Datacenters []string      `json:"datacenters"` // in config order, for stable colours
	Samples     []Sample      `json:"samples"`     // oldest first
	Events      []Event       `json:"events"`      // oldest first, within the span
}

// history is the fixed ring of samples and the recent events.
type history struct {
	mu      sync.Mutex
	ring    [historyLen]Sample
	n, next int
	events  []Event
	dcs     []string

	prev struct {
		ok      bool
		time    time.Time
		queries uint64
		answers map[string]uint64
		state   map[string]string
		files   map[string]FileStatus
	}
}

// add takes one sample from snap at now, and the events since the last one.
func (h *history) add(snap Snapshot, now time.Time) {
	h.mu.Lock()
	defer h.mu.Unlock()
	smp := Sample{Time: now, QPS: snap.QPS, Share: map[string]float64{}}
	dt := now.Sub(h.prev.time).Seconds()
	if h.prev.ok && dt > 0 && snap.Queries >= h.prev.queries {
		smp.QPS = float64(snap.Queries-h.prev.queries) / dt
	}

	answers := map[string]uint64{}
	state := map[string]string{}
	h.dcs = h.dcs[:0]
	totals := false
	for _, d := range snap.Datacenters {
		h.dcs = append(h.dcs, d.Name)
		answers[d.Name] = d.AnswersTotal
		state[d.Name] = d.State
		totals = totals || d.AnswersTotal > 0
	}
	if totals && h.prev.ok {
		var sum uint64
		delta := map[string]uint64{}
		for name, n := range answers {
			if p := h.prev.answers[name]; n >= p {
				delta[name] = n - p
				sum += n - p
			}
		}
		for name, n := range delta {
			if sum > 0 && n > 0 {
				smp.Share[name] = float64(n) / float64(sum)
			}
		}
	} else if !totals {
		for _, d := range snap.Datacenters {
			if d.Share > 0 {
				smp.Share[d.Name] = d.Share
			}
		}
	}

	files := map[string]FileStatus{}
	for _, f := range snap.Files {
		files[f.Kind+" "+f.Path] = f
	}
	if h.prev.ok {
		for _, name := range h.dcs {
			if was, ok := h.prev.state[name]; ok && was != state[name] {
				h.event(Event{Time: now, Kind: EventHealth, Text: fmt.Sprintf("%s: %s → %s", name, was, state[name])})
			}
		}
		var reloaded []string
		var at time.Time
		for _, key := range slices.Sorted(maps.Keys(files)) {
			f, p := files[key], h.prev.files[key]
			switch {
			case f.LoadedAt.After(p.LoadedAt):
				reloaded = append(reloaded, key)
				at = maxTime(at, f.LoadedAt)
			case !f.OK && f.LastErrorAt.After(p.LastErrorAt):
				h.event(Event{Time: clampTime(f.LastErrorAt, h.prev.time, now), Kind: EventReloadFailed, Text: f.LastError})
			}
		}
		if len(reloaded) > 0 {
			text := "reloaded " + strings.Join(reloaded, ", ")
			h.event(Event{Time: clampTime(at, h.prev.time, now), Kind: EventReload, Text: text})
		}
	}

	h.ring[h.next] = smp
	h.next = (h.next + 1) % historyLen
	h.n = min(h.n+1, historyLen)
	h.prev.ok, h.prev.time, h.prev.queries = true, now, snap.Queries
	h.prev.answers, h.prev.state, h.prev.files = answers, state, files
}

// event records e, dropping the oldest beyond maxEvents. Callers hold mu.
func (h *history) event(e Event) {
	if len(e.Text) > maxEventLen {
		e.Text = e.Text[:maxEventLen] + "…"
	}
	h.events = append(h.events, e)
	if len(h.events) > maxEvents {
		h.events = slices.Delete(h.events, 0, len(h.events)-maxEvents)
	}
	slices.SortStableFunc(h.events, func(a, b Event) int { return a.Time.Compare(b.Time) })
}

// note records an event from outside the sampler (an API reload).
func (h *history) note(e Event) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.event(e)
}

// view returns the history up to now, oldest first.
func (h *history) view(now time.Time) History {
	h.mu.Lock()
	defer h.mu.Unlock()
	span := historyStep * historyLen
	out := History{Step: historyStep, Span: span, Now: now, Datacenters: slices.Clone(h.dcs),
		Samples: make([]Sample, 0, h.n), Events: []Event{}}
	if out.Datacenters == nil {
		out.Datacenters = []string{}
	}
	for i := range h.n {
		s := h.ring[(h.next-h.n+i+historyLen)%historyLen]
		if now.Sub(s.Time) <= span {
			out.Samples = append(out.Samples, s)
		}
	}
	for _, e := range h.events {
		if now.Sub(e.Time) <= span {
			out.Events = append(out.Events, e)
		}
	}
	return out
}

func maxTime(a, b time.Time) time.Time {
	if b.After(a) {
		return b
	}
	return a
}

// clampTime puts t within (lo, hi]: a file's own time may be off.
func clampTime(t, lo, hi time.Time) time.Time {
	if t.After(hi) || !t.After(lo) {
		return hi
	}
	return t
}

// Chart geometry, in SVG user units; the SVG scales to its box.
const (
	chartW, chartH = 600.0, 100.0
	chartL, chartB = 0.0, 1.0
)

// palette colours datacenters by their index in the config (chart and
// legend use the same classes, c0..c7, defined in style.css).
var palette = []string{"#2456a6", "#1f7a3a", "#b3261e", "#8a5a00", "#6a3fa0", "#0f7c86", "#a63d77", "#5d6675"}

func colour(i int) string { return palette[i%len(palette)] }

// x maps a time to the chart's horizontal axis.
func (h History) x(t time.Time) float64 {
	f := 1 - h.Now.Sub(t).Seconds()/h.Span.Seconds()
	return chartL + math.Max(0, math.Min(1, f))*(chartW-chartL)
}

// frame draws the grid lines and the event markers. The labels are HTML
// around the SVG (Axis, QPSTop), so they do not stretch with it.
func (h History) frame(b *strings.Builder) {
	plot := chartH - chartB
	fmt.Fprintf(b, `<line x1="0" y1="%.1f" x2="%.0f" y2="%.1f" stroke="#c5ccd8"/>`, plot, chartW, plot)
	for m := 15; m >= 0; m -= 5 {
		x := h.x(h.Now.Add(-time.Duration(m) * time.Minute))
		fmt.Fprintf(b, `<line x1="%.1f" y1="0" x2="%.1f" y2="%.1f" stroke="#eef0f4"/>`, x, x, plot)
	}
	for _, e := range h.Events {
		c := "#2456a6"
		switch e.Kind {
		case EventHealth:
			c = "#b3261e"
		case EventReloadFailed:
			c = "#8a5a00"
		}
		x := h.x(e.Time)
		fmt.Fprintf(b, `<g class="event" data-kind="%s"><title>%s %s</title><line x1="%.1f" y1="0" x2="%.1f" y2="%.1f" stroke="%s" stroke-width="2" stroke-dasharray="3 2" vector-effect="non-scaling-stroke"/><rect x="%.1f" y="0" width="6" height="6" fill="%s"/></g>`,
			e.Kind, e.Time.UTC().Format("15:04:05"), template.HTMLEscapeString(e.Text), x, x, plot, c, x-3, c)
	}
}

// Axis is the time axis's labels: −15m, −10m, −5m, now.
func (h History) Axis() []string {
	return []string{"−15m", "−10m", "−5m", "now " + h.Now.UTC().Format("15:04")}
}

// QPSTop is the queries-per-second chart's top value.
func (h History) QPSTop() string {
	top := 0.0
	for _, s := range h.Samples {
		top = math.Max(top, s.QPS)
	}
	return trimFloat(niceCeil(top))
}

// QPSChart draws queries per second over the span as an inline SVG.
func (h History) QPSChart() template.HTML {
	var b strings.Builder
	plot := chartH - chartB
	top := 0.0
	for _, s := range h.Samples {
		top = math.Max(top, s.QPS)
	}
	top = niceCeil(top)
	fmt.Fprintf(&b, `<svg class="chart" id="chart-qps" viewBox="0 0 %.0f %.0f" width="100%%" preserveAspectRatio="none" role="img" aria-label="queries per second, last 15 minutes">`, chartW, chartH)
	h.frame(&b)
	if len(h.Samples) > 0 {
		var pts []string
		for _, s := range h.Samples {
			pts = append(pts, fmt.Sprintf("%.1f,%.1f", h.x(s.Time), plot-s.QPS/top*(plot-4)))
		}
		first, last := h.x(h.Samples[0].Time), h.x(h.Samples[len(h.Samples)-1].Time)
		fmt.Fprintf(&b, `<polygon points="%.1f,%.1f %s %.1f,%.1f" fill="#2456a6" fill-opacity="0.12"/>`, first, plot, strings.Join(pts, " "), last, plot)
		fmt.Fprintf(&b, `<polyline class="series" points="%s" fill="none" stroke="#2456a6" stroke-width="2" vector-effect="non-scaling-stroke" data-samples="%d"/>`, strings.Join(pts, " "), len(h.Samples))
	}
	b.WriteString(`</svg>`)
	return template.HTML(b.String())
}

// ShareChart draws each datacenter's answer share over the span, stacked
// to 100%, as an inline SVG.
func (h History) ShareChart() template.HTML {
	var b strings.Builder
	plot := chartH - chartB
	fmt.Fprintf(&b, `<svg class="chart" id="chart-share" viewBox="0 0 %.0f %.0f" width="100%%" preserveAspectRatio="none" role="img" aria-label="answer share per datacenter, last 15 minutes">`, chartW, chartH)
	if len(h.Samples) > 0 {
		base := make([]float64, len(h.Samples))
		for i, dc := range h.Datacenters {
			var upper, lower []string
			seen := false
			for j, s := range h.Samples {
				x := h.x(s.Time)
				v := s.Share[dc]
				seen = seen || v > 0
				lower = append(lower, fmt.Sprintf("%.1f,%.1f", x, plot-base[j]*plot))
				base[j] += v
				upper = append(upper, fmt.Sprintf("%.1f,%.1f", x, plot-base[j]*plot))
			}
			if !seen {
				continue
			}
			slices.Reverse(lower)
			fmt.Fprintf(&b, `<polygon class="series" data-datacenter="%s" points="%s %s" fill="%s" fill-opacity="0.75"><title>%s</title></polygon>`,
				template.HTMLEscapeString(dc), strings.Join(upper, " "), strings.Join(lower, " "), colour(i), template.HTMLEscapeString(dc))
		}
	}
	h.frame(&b)
	b.WriteString(`</svg>`)
	return template.HTML(b.String())
}

// Legend pairs each datacenter with its colour class.
func (h History) Legend() []legendItem {
	out := make([]legendItem, len(h.Datacenters))
	for i, dc := range h.Datacenters {
		out[i] = legendItem{Name: dc, Class: fmt.Sprintf("c%d", i%len(palette))}
	}
	return out
}

type legendItem struct{ Name, Class string }

// niceCeil rounds up to 1, 2 or 5 times a power of ten (at least 1).
func niceCeil(v float64) float64 {
	if v <= 1 {
		return 1
	}
	p := math.Pow(10, math.Floor(math.Log10(v)))
	for _, m := range []float64{1, 2, 5, 10} {
		if v <= m*p {
			return m * p
		}
	}
	return 10 * p
}

func trimFloat(f float64) string {
	if f >= 1000 {
		return count(uint64(f))
	}
	return fmt.Sprintf("%g", f)
}
