// Package status serves the operator's view of a running Godwit: an HTML
// status page (readable without JavaScript), a JSON API, Prometheus metrics
// (/metrics) and liveness/readiness probes (/healthz, /readyz).
//
// It owns presentation and access control only. What it shows comes from a
// Backend that the command implements over the live snapshots; the package
// imports none of the other godwit packages. Every request must name the
// server in Host and carry no foreign Origin (see access); reading beyond a
// loopback listen address needs the token or public_read; state-changing
// requests (admin overrides, reload) need a bearer token when one is
// configured, and come from loopback clients otherwise. Connections are
// capped (limitListener), the expensive endpoints rate limited, and the
// Backend asked for at most two snapshots a second. The server also keeps
// 15 minutes of history (history.go) that the page draws as inline SVG.
package status

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Limits on requests and on how long the Backend may take.
const (
	maxBodyBytes   = 64 << 10
	maxHeaderBytes = 32 << 10
	backendTimeout = 30 * time.Second
	shutdownGrace  = 5 * time.Second
	// snapshotEvery is how often the Backend is asked for a snapshot at
	// most: concurrent and rapid readers share one.
	snapshotEvery = 500 * time.Millisecond
)

// timeouts are the HTTP server's; tests shorten them.
type timeouts struct {
	readHeader, read, write, idle time.Duration
}

var defaultTimeouts = timeouts{
	readHeader: 5 * time.Second,
	read:       10 * time.Second,
	write:      backendTimeout + 5*time.Second,
	idle:       30 * time.Second,
}

// Server is the status HTTP server. Create it with New, then Start it.
type Server struct {
	cfg      Config
	backend  Backend
	gatherer prometheus.Gatherer
	log      *slog.Logger
	handler  http.Handler
	ready    atomic.Bool

	tokenSum [sha256.Size]byte // sha256 of the token, compared in constant time
	hasToken bool
	// openRead: reading needs no token (loopback listen or public_read).
	openRead bool
	hosts    map[string]bool // allowed_hosts, lower case
	limits   map[string]*bucket
	refusals *bucket // bounds the refusal log lines
	timeouts timeouts

	snapMu   sync.Mutex
	snapAt   time.Time
	snapLast Snapshot

	hist history

	mu   sync.Mutex
	srv  *http.Server
	lim  *limitListener
	addr net.Addr
	done chan struct{} // closed when Serve returns
	stop chan struct{} // closed by Shutdown: stops the sampler
}

// New returns a server for cfg that shows b and exposes gatherer on /metrics
// (nil gatherer: /metrics answers 404). It does not listen yet.
func New(cfg Config, b Backend, gatherer prometheus.Gatherer, logger *slog.Logger) *Server {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	s := &Server{cfg: cfg, backend: b, gatherer: gatherer, log: logger, timeouts: defaultTimeouts}
	if cfg.Token != "" {
		s.tokenSum = sha256.Sum256([]byte(cfg.Token.Reveal()))
		s.hasToken = true
	}
	s.openRead = cfg.loopbackListen() || cfg.PublicRead
	s.hosts = map[string]bool{}
	for _, h := range cfg.AllowedHosts {
		s.hosts[strings.ToLower(strings.TrimSuffix(h, "."))] = true
	}
	rate := float64(cfg.rateLimit())
	s.limits = map[string]*bucket{}
	for _, class := range []string{"page", "status", "explain", "metrics"} {
		s.limits[class] = newBucket(rate, 2*rate)
	}
	s.refusals = newBucket(5, 20)
	s.handler = s.routes()
	return s
}

// Handler returns the server's HTTP handler, for tests and for embedding.
func (s *Server) Handler() http.Handler { return s.handler }

// SetReady sets what /readyz answers: 200 once ready, 503 before.
func (s *Server) SetReady(ready bool) { s.ready.Store(ready) }

// Start binds the listen address and serves in the background. It returns
// once the listener is bound (or failed to bind). Cancelling ctx later shuts
// the server down as Shutdown would, with a short grace period.
func (s *Server) Start(ctx context.Context) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.srv != nil {
		return errors.New("status server already started")
	}
	var lc net.ListenConfig
	ln, err := lc.Listen(ctx, "tcp", s.cfg.listen())
	if err != nil {
		return err // "listen tcp ADDR: bind: …" names the address already
	}
	lim := newLimitListener(ln, s.cfg.maxConnections())
	srv := &http.Server{
		Handler:           s.handler,
		ReadHeaderTimeout: s.timeouts.readHeader,
		ReadTimeout:       s.timeouts.read,
		WriteTimeout:      s.timeouts.write,
		IdleTimeout:       s.timeouts.idle,
		MaxHeaderBytes:    maxHeaderBytes,
		ConnState:         lim.connState,
		ErrorLog:          slog.NewLogLogger(s.log.Handler(), slog.LevelDebug),
	}
	s.srv, s.lim, s.addr, s.done, s.stop = srv, lim, ln.Addr(), make(chan struct{}), make(chan struct{})
	first := s.snapshot()
	s.hist.add(first, first.Now)
	go s.sampleLoop(s.stop)
	go func() {
		defer close(s.done)
		if err := srv.Serve(lim); err != nil && !errors.Is(err, http.ErrServerClosed) {
			s.log.Error("status server stopped", "addr", ln.Addr().String(), "err", err)
		}
	}()
	context.AfterFunc(ctx, func() {
		sctx, cancel := context.WithTimeout(context.Background(), shutdownGrace)
		defer cancel()
		_ = s.Shutdown(sctx)
	})
	s.log.Info("status server listening", "addr", ln.Addr().String(), "token", s.hasToken,
		"public_read", s.cfg.PublicRead, "max_connections", s.cfg.maxConnections())
	s.warnExposure(ln.Addr().String())
	return nil
}

// warnExposure logs a warning when the status server listens beyond
// loopback without a token.
func (s *Server) warnExposure(addr string) {
	if s.cfg.loopbackListen() || s.hasToken {
		return
	}
	msg := "status server listens beyond loopback without a token: only loopback clients may read it or change state; set [status] token"
	if s.cfg.PublicRead {
		msg = "status server listens beyond loopback without a token: anyone who can connect reads it (public_read); only loopback clients may change state; set [status] token"
	}
	s.log.Warn(msg, "addr", addr)
}

// sampleLoop adds a snapshot to the history every historyStep until stop
// is closed (Start takes the first).
func (s *Server) sampleLoop(stop <-chan struct{}) {
	t := time.NewTicker(historyStep)
	defer t.Stop()
	for {
		select {
		case <-stop:
			return
		case <-t.C:
		}
		snap := s.snapshot()
		s.hist.add(snap, snap.Now)
	}
}

// srvListener returns the connection-capping listener, nil before Start.
func (s *Server) srvListener() *limitListener {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.lim
}

// Addr returns the bound address, nil before Start.
func (s *Server) Addr() net.Addr {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.addr
}

// Shutdown stops accepting connections and waits, until ctx ends, for
// requests in flight. It is safe to call more than once, or without Start.
func (s *Server) Shutdown(ctx context.Context) error {
	s.mu.Lock()
	srv, done := s.srv, s.done
	if s.stop != nil {
		close(s.stop)
		s.stop = nil
	}
	s.mu.Unlock()
	if srv == nil {
		return nil
	}
	err := srv.Shutdown(ctx)
	if err != nil {
		srv.Close()
	}
	select {
	case <-done:
	case <-ctx.Done():
	}
	return err
}

func (s *Server) routes() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /{$}", s.handlePage)
	mux.HandleFunc("GET /explain", s.handleExplainPage)
	mux.HandleFunc("GET /api/v1/status", s.handleStatus)
	mux.HandleFunc("GET /api/v1/explain", s.handleExplain)
	mux.HandleFunc("GET /api/v1/history", s.handleHistory)
	mux.HandleFunc("POST /api/v1/override", s.guard(s.handleOverride))
	mux.HandleFunc("POST /api/v1/reload", s.guard(s.handleReload))
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		writeText(w, http.StatusOK, "ok\n")
	})
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, r *http.Request) {
		if s.ready.Load() {
			writeText(w, http.StatusOK, "ready\n")
			return
		}
		writeText(w, http.StatusServiceUnavailable, "not ready\n")
	})
	if s.gatherer != nil {
		mux.Handle("GET /metrics", promhttp.HandlerFor(s.gatherer, promhttp.HandlerOpts{
			ErrorLog:      slog.NewLogLogger(s.log.Handler(), slog.LevelWarn),
			ErrorHandling: promhttp.ContinueOnError,
		}))
	}
	// Browsers mark cross-site requests (Sec-Fetch-Site, Origin); refuse
	// them on POST so a page elsewhere cannot drive the API through the
	// operator's browser.
	cop := http.NewCrossOriginProtection()
	cop.SetDenyHandler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		writeError(w, http.StatusForbidden, "cross-origin request refused")
	}))
	return securityHeaders(s.access(cop.Handler(mux)))
}

// csp allows nothing but the page's own inline stylesheet (by hash) and
// forms posted back to this server.
var csp = "default-src 'none'; style-src '" + styleHash + "'; img-src 'self' data:; " +
	"form-action 'self'; base-uri 'none'; frame-ancestors 'none'"

func securityHeaders(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Cache-Control", "no-store")
		h.Set("Content-Security-Policy", csp)
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("X-Frame-Options", "DENY")
		h.Set("Referrer-Policy", "no-referrer")
		next.ServeHTTP(w, r)
	})
}

// guard lets a state-changing request through if it is authorized: with a
// token configured, it must carry it; without one, it must come from a
// loopback address and name the server by IP literal or "localhost" (so a
// DNS-rebound name cannot reach it from a browser).
func (s *Server) guard(next http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if s.hasToken {
			if !s.tokenOK(r.Header.Get("Authorization")) {
				s.log.Warn("status api: refused, bad or missing token", "path", r.URL.Path, "remote", r.RemoteAddr)
				w.Header().Set("WWW-Authenticate", `Bearer realm="godwit"`)
				writeError(w, http.StatusUnauthorized, "missing or wrong bearer token")
				return
			}
			next(w, r)
			return
		}
		if ip := remoteIP(r); !ip.IsLoopback() {
			s.log.Warn("status api: refused, not loopback and no token configured", "path", r.URL.Path, "remote", r.RemoteAddr)
			writeError(w, http.StatusForbidden, "state-changing requests need a loopback client or a configured token")
			return
		}
		if !localHost(r.Host) {
			s.log.Warn("status api: refused, Host is not an IP literal or localhost", "path", r.URL.Path, "host", r.Host)
			writeError(w, http.StatusForbidden, "host must be an IP address or localhost")
			return
		}
		next(w, r)
	}
}

// tokenOK compares the bearer token in an Authorization header value with
// the configured one in constant time (over fixed-size hashes, so the
// comparison does not reveal the token's length either).
func (s *Server) tokenOK(header string) bool {
	const scheme = "bearer "
	if len(header) < len(scheme) || !strings.EqualFold(header[:len(scheme)], scheme) {
		return false
	}
	sum := sha256.Sum256([]byte(strings.TrimSpace(header[len(scheme):])))
	return subtle.ConstantTimeCompare(sum[:], s.tokenSum[:]) == 1
}

// remoteIP returns the client's address from the connection (never from
// headers), unmapped; the zero Addr if it cannot be parsed.
func remoteIP(r *http.Request) netip.Addr {
	ap, err := netip.ParseAddrPort(r.RemoteAddr)
	if err != nil {
		return netip.Addr{}
	}
	return ap.Addr().Unmap()
}

// localHost reports whether a Host header names the server by IP literal or
// as localhost.
func localHost(host string) bool {
	if h, _, err := net.SplitHostPort(host); err == nil {
		host = h
	}
	host = strings.TrimSuffix(strings.TrimPrefix(host, "["), "]")
	if strings.EqualFold(host, "localhost") {
		return true
	}
	_, err := netip.ParseAddr(host)
	return err == nil
}

func writeText(w http.ResponseWriter, code int, body string) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.WriteHeader(code)
	_, _ = w.Write([]byte(body))
}
