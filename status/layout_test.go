//go:build linux

package status

import (
	"bytes"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/godwit-dns/godwit/status/statustest"
)

// layoutProbe measures the rendered page in the browser and writes what
// overflows into <pre id="layout"> ("ok" if nothing): the page wider than the
// window, a card wider than itself (scrolling), an error cell
// outside its card or not wrapped onto several lines.
const layoutProbe = `<script>
(function(){
  var out = [], de = document.documentElement, vw = de.clientWidth;
  if (de.scrollWidth > vw + 1) out.push('page ' + de.scrollWidth + ' > window ' + vw);
  document.querySelectorAll('section').forEach(function(sec) {
    var r = sec.getBoundingClientRect();
    if (sec.scrollWidth > sec.clientWidth + 1) out.push(sec.id + ' card content ' + sec.scrollWidth + ' > ' + sec.clientWidth);
    if (r.right > vw + 1) out.push(sec.id + ' card ends at ' + r.right + ' > window ' + vw);
  });
  ['zones', 'files'].forEach(function(id) {
    var sec = document.getElementById(id), r = sec.getBoundingClientRect();
    var errs = sec.querySelectorAll('td.err');
    if (!errs.length) out.push(id + ': no error on screen');
    errs.forEach(function(td) {
      var t = td.getBoundingClientRect();
      if (t.right > r.right + 1 || t.left < r.left - 1) out.push(id + ' error cell ' + t.left + '..' + t.right + ' outside the card ' + r.left + '..' + r.right);
      if (t.height < 40) out.push(id + ' error not wrapped (height ' + t.height + ')');
    });
  });
  var doc = window.parent !== window ? window.parent.document : document;
  var p = doc.createElement('pre'); p.id = 'layout';
  p.textContent = 'width ' + window.innerWidth + '\n' + (out.length ? out.join('\n') : 'ok');
  doc.body.appendChild(p);
})();
</script>`

// longError is a load error as operators meet them: a deep path with no
// spaces to break at, then the parser's words.
const longError = "/var/lib/godwit/zones/customers/eu-west/production/gslb.example.test.zone:1234: " +
	"bad A A: \"192.0.2.300\" in www-eu-west-1-primary-frontend-load-balancer.gslb.example.test. " +
	"(the previous version keeps serving; fix the file and reload, or run godwit check for every error at once)"

// TestLayout loads the page with long errors in the Zones and Files cards
// at 1280 and 390 px wide: nothing overflows its card or the window, and
// the errors wrap. The page is served without its CSP plus a measuring
// script (the real page allows no script); GODWIT_LAYOUT_SHOTS=dir also
// saves screenshots there.
func TestLayout(t *testing.T) {
	bin := statustest.Chromium(t)
	fake := newFake(t)
	fake.snap.QPS = 130 // the first sample's rate, before there is a previous one
	fake.snap.Zones[1].OK, fake.snap.Zones[1].Error = false, longError
	fake.snap.Files[2].OK, fake.snap.Files[2].LastError, fake.snap.Files[2].LastErrorAt = false, longError, fake.snap.Now.Add(-time.Minute)
	fake.snap.Files[2].Path = "/var/lib/godwit/zones/customers/eu-west/production/gslb.example.test.zone"
	s := New(Config{}, fake, nil, nil)
	s.SetReady(true)
	// 15 minutes of history: traffic that dips when iad goes down, a reload.
	for i := historyLen - 1; i >= 0; i-- {
		snap := step(fake.snap, historyLen-i, true)
		snap.Queries = uint64(1000*(historyLen-i) + 300*min(historyLen-i, 40))
		if i < 40 {
			snap.Datacenters[2].State = StateDown
		} else {
			snap.Datacenters[2].AnswersTotal = uint64(200 * (historyLen - i))
		}
		s.hist.add(snap, fake.snap.Now.Add(-time.Duration(i)*historyStep))
	}
	s.hist.note(Event{Time: fake.snap.Now.Add(-3 * time.Minute), Kind: EventReloadFailed, Text: longError})
	ts := httptest.NewServer(http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		rec := httptest.NewRecorder()
		s.Handler().ServeHTTP(rec, r)
		body := rec.Body.Bytes()
		if w := r.URL.Query().Get("frame"); w != "" {
			// Headless chromium's window is at least 500 px wide: show
			// the page in a frame of the width wanted.
			_, _ = io.WriteString(rw, `<!doctype html><html><body style="margin:0"><iframe style="border:0;display:block" width="`+w+
				`" height="2400" src="/?refresh=0&amp;probe=`+r.URL.Query().Get("probe")+`"></iframe></body></html>`)
			return
		}
		if r.URL.Query().Get("probe") == "1" {
			body = bytes.Replace(body, []byte("</body>"), []byte(layoutProbe+"</body>"), 1)
		}
		rw.Header().Set("Content-Type", rec.Header().Get("Content-Type"))
		rw.WriteHeader(rec.Code)
		_, _ = rw.Write(body)
	}))
	t.Cleanup(ts.Close)
	shots := os.Getenv("GODWIT_LAYOUT_SHOTS")
	for _, width := range []string{"1280", "390"} {
		size := "--window-size=1300,2400"
		out, _ := statustest.Run(t, bin, size, "--dump-dom", ts.URL+"/?frame="+width+"&probe=1")
		d := parseDOM(t, out)
		n := d.byID("layout")
		if n == nil {
			t.Fatalf("%s px: the measuring script did not run:\n%s", width, out)
		}
		if got := text(n); got != "width "+width+"\nok" {
			t.Errorf("%s px wide:\n%s", width, got)
		}
		if shots != "" {
			statustest.Run(t, bin, size, "--hide-scrollbars", "--screenshot="+filepath.Join(shots, "layout-"+width+".png"), ts.URL+"/?frame="+width)
		}
	}
	if shots != "" {
		t.Logf("screenshots in %s", shots)
	}
}
