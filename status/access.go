package status

import (
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"strings"
	"sync"
	"time"
)

// access applies the checks every request passes before the handlers:
//
//   - the Host header names this server: an IP literal, localhost or one of
//     allowed_hosts (a DNS-rebound name is refused, with or without a token);
//   - an Origin header, if any, is this same host (a page elsewhere cannot
//     use the operator's browser, with or without a token);
//   - when Listen is not loopback and public_read is off, reading needs the
//     token or a loopback client (/healthz and /readyz stay open);
//   - the expensive endpoints are rate limited for clients without the token.
//
// State-changing requests are further checked by guard.
func (s *Server) access(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !s.hostOK(r.Host) {
			s.refuse(w, r, http.StatusForbidden, "host is not an IP address, localhost or in allowed_hosts")
			return
		}
		if o, ok := r.Header["Origin"]; ok && (len(o) != 1 || !sameOrigin(o[0], r.Host)) {
			s.refuse(w, r, http.StatusForbidden, "cross-origin request refused")
			return
		}
		authed := s.hasToken && s.tokenOK(r.Header.Get("Authorization"))
		if !authed && !s.openRead && !probePath(r.URL.Path) && !statePath(r) && !remoteIP(r).IsLoopback() {
			if s.hasToken {
				w.Header().Set("WWW-Authenticate", `Bearer realm="godwit"`)
				s.refuse(w, r, http.StatusUnauthorized, "reading needs the bearer token (the status server listens beyond loopback)")
				return
			}
			s.refuse(w, r, http.StatusForbidden, "reading needs a loopback client, a token or public_read = true (the status server listens beyond loopback)")
			return
		}
		if class := expensiveClass(r.URL.Path); class != "" && !authed {
			if !s.limits[class].allow(time.Now()) {
				w.Header().Set("Retry-After", "1")
				writeError(w, http.StatusTooManyRequests, "too many requests for "+r.URL.Path+": retry in a second (rate_limit)")
				return
			}
		}
		next.ServeHTTP(w, r)
	})
}

// refuse answers a refused request, logging at warn a bounded number of
// times per second (at debug beyond that) so a flood cannot flood the log.
func (s *Server) refuse(w http.ResponseWriter, r *http.Request, code int, msg string) {
	log := s.log.Debug
	if s.refusals.allow(time.Now()) {
		log = s.log.Warn
	}
	log("status: refused: "+msg, "method", r.Method, "path", r.URL.Path, "host", r.Host, "remote", r.RemoteAddr)
	writeError(w, code, msg)
}

func probePath(p string) bool { return p == "/healthz" || p == "/readyz" }

// statePath reports a state-changing request, which guard checks.
func statePath(r *http.Request) bool {
	return r.Method == http.MethodPost && (r.URL.Path == "/api/v1/override" || r.URL.Path == "/api/v1/reload")
}

// expensiveClass names the rate limit bucket of a path, "" for none.
func expensiveClass(p string) string {
	switch p {
	case "/":
		return "page"
	case "/explain", "/api/v1/explain":
		return "explain"
	case "/api/v1/status", "/api/v1/history":
		return "status"
	case "/metrics":
		return "metrics"
	}
	return ""
}

// hostOK reports whether a Host header names this server: empty (HTTP/1.0),
// an IP literal, localhost, or one of allowed_hosts, with any port.
func (s *Server) hostOK(host string) bool {
	if host == "" || localHost(host) {
		return true
	}
	h := host
	if hh, _, err := net.SplitHostPort(host); err == nil {
		h = hh
	}
	return s.hosts[strings.ToLower(strings.TrimSuffix(h, "."))]
}

// sameOrigin reports whether an Origin header value is http(s)://host with
// the request's Host (port included; the status server speaks plain HTTP,
// so no port means 80).
func sameOrigin(origin, host string) bool {
	u, err := url.Parse(origin)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" ||
		u.User != nil || (u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.Fragment != "" {
		return false
	}
	defPort := "80"
	if u.Scheme == "https" {
		defPort = "443"
	}
	oh, op := splitHostPortDefault(u.Host, defPort)
	rh, rp := splitHostPortDefault(host, "80")
	return oh != "" && strings.EqualFold(oh, rh) && op == rp
}

func splitHostPortDefault(hp, port string) (string, string) {
	if h, p, err := net.SplitHostPort(hp); err == nil {
		hp, port = h, p
	}
	hp = strings.TrimSuffix(strings.TrimPrefix(hp, "["), "]")
	if a, err := netip.ParseAddr(hp); err == nil {
		hp = a.Unmap().String()
	}
	return strings.TrimSuffix(hp, "."), port
}

// bucket is a token bucket: rate tokens a second, at most burst.
type bucket struct {
	mu          sync.Mutex
	rate, burst float64
	tokens      float64
	last        time.Time
}

func newBucket(rate, burst float64) *bucket {
	return &bucket{rate: rate, burst: burst, tokens: burst}
}

// allow takes a token if there is one.
func (b *bucket) allow(now time.Time) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	if !b.last.IsZero() {
		b.tokens = min(b.burst, b.tokens+now.Sub(b.last).Seconds()*b.rate)
	}
	b.last = now
	if b.tokens < 1 {
		return false
	}
	b.tokens--
	return true
}
