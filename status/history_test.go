//go:build linux

package status

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"golang.org/x/net/html"
)

// step returns a copy of base at sample i: queries grow by 1000 a step,
// ams leads 3 of 4 answers and fra 1 (by running totals when totals is
// set, else by the window share).
func step(base Snapshot, i int, totals bool) Snapshot {
	s := base
	s.Queries = uint64(1000 * i)
	s.Datacenters = []DatacenterStatus{{Name: "ams", State: StateUp}, {Name: "fra", State: StateUp}, {Name: "iad", State: StateUp}}
	if totals {
		s.Datacenters[0].AnswersTotal, s.Datacenters[1].AnswersTotal = uint64(300*i), uint64(100*i)
	} else {
		s.Datacenters[0].Share, s.Datacenters[1].Share = 0.75, 0.25
	}
	s.Files = []FileStatus{{Kind: "config", Path: "godwit.toml", OK: true, LoadedAt: base.Now.Add(-time.Hour)}}
	return s
}

func TestHistory(t *testing.T) {
	now := time.Date(2026, 11, 22, 4, 0, 0, 0, time.UTC)
	for _, totals := range []bool{true, false} {
		var h history
		base := Snapshot{Now: now}
		for i := range historyLen + 10 {
			s := step(base, i, totals)
			at := now.Add(time.Duration(i) * historyStep)
			switch i {
			case 50: // iad goes down
				s.Datacenters[2].State = StateDown
			case 60: // a reload, then a failed one
				s.Files[0].LoadedAt = at.Add(-3 * time.Second)
			case 70:
				s.Files[0].OK, s.Files[0].LastError, s.Files[0].LastErrorAt = false, "godwit.toml:3: bad ttl", at.Add(-time.Second)
			}
			if i >= 50 {
				s.Datacenters[2].State = StateDown
			}
			if i >= 60 {
				s.Files[0].LoadedAt = now.Add(60*historyStep - 3*time.Second)
			}
			if i >= 70 {
				s.Files[0].OK, s.Files[0].LastError, s.Files[0].LastErrorAt = false, "godwit.toml:3: bad ttl", now.Add(70*historyStep-time.Second)
			}
			h.add(s, at)
		}
		end := now.Add((historyLen + 9) * historyStep)
		v := h.view(end)
		if len(v.Samples) != historyLen {
			t.Fatalf("totals=%v: %d samples, want the ring's %d", totals, len(v.Samples), historyLen)
		}
		if first, last := v.Samples[0].Time, v.Samples[len(v.Samples)-1].Time; !first.Equal(now.Add(10*historyStep)) || !last.Equal(end) {
			t.Errorf("samples from %v to %v, want the last %d ending at %v", first, last, historyLen, end)
		}
		for _, s := range v.Samples {
			if s.QPS != 100 {
				t.Fatalf("qps %v at %v, want 100 (1000 queries per 10 s)", s.QPS, s.Time)
			}
			if s.Share["ams"] != 0.75 || s.Share["fra"] != 0.25 || s.Share["iad"] != 0 {
				t.Fatalf("totals=%v: share %v, want ams 0.75 fra 0.25", totals, s.Share)
			}
		}
		want := []Event{
			{now.Add(50 * historyStep), EventHealth, "iad: up → down"},
			{now.Add(60*historyStep - 3*time.Second), EventReload, "reloaded config godwit.toml"},
			{now.Add(70*historyStep - time.Second), EventReloadFailed, "godwit.toml:3: bad ttl"},
		}
		if len(v.Events) != len(want) {
			t.Fatalf("events %+v, want %+v", v.Events, want)
		}
		for i := range want {
			if !v.Events[i].Time.Equal(want[i].Time) || v.Events[i].Kind != want[i].Kind || v.Events[i].Text != want[i].Text {
				t.Errorf("event %d: %+v, want %+v", i, v.Events[i], want[i])
			}
		}
		// 15 minutes later everything has aged out.
		if v := h.view(end.Add(historyStep*historyLen + time.Second)); len(v.Samples) != 0 || len(v.Events) != 0 {
			t.Errorf("old history still shown: %d samples, %d events", len(v.Samples), len(v.Events))
		}
	}
}

func TestHistoryEventsBounded(t *testing.T) {
	var h history
	now := time.Date(2026, 11, 22, 4, 0, 0, 0, time.UTC)
	for i := range 3 * maxEvents {
		s := Snapshot{Datacenters: []DatacenterStatus{{Name: "ams", State: []string{StateUp, StateDown}[i%2]}}}
		h.add(s, now.Add(time.Duration(i)*time.Second))
	}
	h.note(Event{Time: now, Kind: EventReloadFailed, Text: strings.Repeat("x", 5000)})
	if len(h.events) > maxEvents {
		t.Errorf("%d events kept, want at most %d", len(h.events), maxEvents)
	}
	for _, e := range h.events {
		if len(e.Text) > maxEventLen+len("…") {
			t.Errorf("event text of %d bytes kept", len(e.Text))
		}
	}
}

// TestHistoryPageAndAPI: the page draws the series as inline SVG with the
// events marked; /api/v1/history returns the same series.
func TestHistoryPageAndAPI(t *testing.T) {
	fake := newFake(t)
	s := New(Config{}, fake, nil, nil)
	now := fake.snap.Now
	for i := 30; i >= 0; i-- {
		snap := step(fake.snap, 30-i, true)
		if i < 10 {
			snap.Datacenters[2].State = StateDown
		}
		s.hist.add(snap, now.Add(-time.Duration(i)*historyStep))
	}
	s.hist.note(Event{Time: now.Add(-time.Minute), Kind: EventReload, Text: "reload requested over the API"})

	w := serve(t, s, request{target: "/"})
	d := parseDOM(t, w.Body.Bytes())
	for _, id := range []string{"chart-qps", "chart-share"} {
		n := d.byID(id)
		if n == nil || n.Data != "svg" {
			t.Fatalf("no <svg id=%s>", id)
		}
		if ev := (dom{n}).all(with("class", "event")); len(ev) != 2 {
			t.Errorf("%s: %d event markers, want 2 (iad down, reload)", id, len(ev))
		}
	}
	if ps := d.all(with("data-samples", "31")); len(ps) != 1 {
		t.Errorf("qps line: %d polylines with 31 samples", len(ps))
	}
	for _, dc := range []string{"ams", "fra"} {
		if ns := (dom{d.byID("chart-share")}).all(with("data-datacenter", dc)); len(ns) != 1 {
			t.Errorf("share chart: %d areas for %s", len(ns), dc)
		}
	}
	if ns := (dom{d.byID("chart-share")}).all(with("data-datacenter", "iad")); len(ns) != 0 {
		t.Error("share chart draws iad, which answered nothing")
	}
	evs := d.all(func(n2 *html.Node) bool { v, _ := attr(n2, "class"); return strings.HasPrefix(v, "event ev-") })
	if len(evs) != 2 || !strings.Contains(text(evs[0]), "iad: up → down") || !strings.Contains(text(evs[1]), "reload requested over the API") {
		t.Errorf("event list: %d items", len(evs))
	}
	if body := w.Body.String(); strings.Contains(body, "<script") || strings.Contains(body, " style=") {
		t.Error("charts need scripts or style attributes")
	}

	w = serve(t, s, request{target: "/api/v1/history"})
	if w.Code != http.StatusOK {
		t.Fatalf("/api/v1/history: %d %s", w.Code, w.Body)
	}
	var got History
	if err := json.Unmarshal(w.Body.Bytes(), &got); err != nil {
		t.Fatal(err)
	}
	if got.Step != historyStep || got.Span != historyStep*historyLen || len(got.Samples) != 31 || len(got.Events) != 2 ||
		got.Samples[30].QPS != 100 || got.Samples[30].Share["ams"] != 0.75 {
		t.Errorf("history API: step %v span %v, %d samples, %d events, last %+v", got.Step, got.Span, len(got.Samples), len(got.Events), got.Samples[len(got.Samples)-1])
	}
}

// TestSamplerRuns: Start takes the first sample at once and Shutdown stops
// the sampler.
func TestSamplerRuns(t *testing.T) {
	s := New(Config{Listen: "127.0.0.1:0"}, newFake(t), nil, nil)
	addr := startServer(t, s)
	code, body := do(t, addr, "GET", "/api/v1/history", "", "", nil)
	var h History
	if err := json.Unmarshal([]byte(body), &h); code != 200 || err != nil || len(h.Samples) != 1 || len(h.Datacenters) != 3 {
		t.Fatalf("history right after Start: %d %v %+v", code, err, h)
	}
}
