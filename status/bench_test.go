package status

import (
	"net/http/httptest"
	"testing"
)

// The cost of one request on each path a flood takes: a full page or
// status answer (at most rate_limit a second each), a 429 past the rate
// limit, a 403 for a foreign Host. At 800 requests a second almost all
// are 429s, so the CPU a flood costs is about 800 × the 429 cost.
func benchServe(b *testing.B, s *Server, target, host string) {
	r := httptest.NewRequest("GET", target, nil)
	r.RemoteAddr = "127.0.0.1:40000"
	r.Host = host
	b.ReportAllocs()
	for b.Loop() {
		w := httptest.NewRecorder()
		s.Handler().ServeHTTP(w, r)
	}
}

func BenchmarkPage(b *testing.B) {
	s := New(Config{RateLimit: 100000}, newFake(b), nil, nil)
	benchServe(b, s, "/", "127.0.0.1:8053")
}

func BenchmarkStatusJSON(b *testing.B) {
	s := New(Config{RateLimit: 100000}, newFake(b), nil, nil)
	benchServe(b, s, "/api/v1/status", "127.0.0.1:8053")
}

func BenchmarkRateLimited(b *testing.B) {
	s := New(Config{RateLimit: 1}, newFake(b), nil, nil)
	benchServe(b, s, "/", "127.0.0.1:8053")
}

func BenchmarkForeignHost(b *testing.B) {
	s := New(Config{}, newFake(b), nil, nil)
	benchServe(b, s, "/", "evil.example")
}
