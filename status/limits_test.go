//go:build linux

package status

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// serverSockets counts this process's descriptors that are the server side
// of a TCP connection on port: sockets whose local port is port, found in
// /proc/net/tcp{,6} and matched by inode with /proc/self/fd.
func serverSockets(t *testing.T, port int) int {
	t.Helper()
	inodes := map[string]bool{}
	for _, f := range []string{"/proc/net/tcp", "/proc/net/tcp6"} {
		b, err := os.ReadFile(f)
		if err != nil {
			continue
		}
		for _, line := range strings.Split(string(b), "\n")[1:] {
			fs := strings.Fields(line)
			if len(fs) < 10 || fs[3] != "01" { // ESTABLISHED
				continue
			}
			_, lp, _ := strings.Cut(fs[1], ":")
			if p, err := strconv.ParseUint(lp, 16, 16); err == nil && int(p) == port {
				inodes[fs[9]] = true
			}
		}
	}
	fds, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, fd := range fds {
		target, err := os.Readlink(filepath.Join("/proc/self/fd", fd.Name()))
		if err == nil && strings.HasPrefix(target, "socket:[") && inodes[strings.TrimSuffix(strings.TrimPrefix(target, "socket:["), "]")] {
			n++
		}
	}
	return n
}

// keepAliveGet sends one GET on c and reads the answer, leaving c open.
func keepAliveGet(c net.Conn, path string) (int, error) {
	_ = c.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := fmt.Fprintf(c, "GET %s HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n", path); err != nil {
		return 0, err
	}
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		return 0, err
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode, nil
}

// TestConnectionCap opens three times as many keep-alive connections as the
// cap allows, each idle after one request: the server never holds more
// descriptors than the cap (+1 while it admits one), and the newest client
// is still served, by closing the longest-idle connection.
func TestConnectionCap(t *testing.T) {
	const cap = 8
	s := New(Config{Listen: "127.0.0.1:0", MaxConnections: cap}, newFake(t), nil, nil)
	addr := startServer(t, s)
	_, ps, _ := strings.Cut(addr, ":")
	port, _ := strconv.Atoi(ps)
	var conns []net.Conn
	t.Cleanup(func() {
		for _, c := range conns {
			c.Close()
		}
	})
	for i := range 3 * cap {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		conns = append(conns, c)
		code, err := keepAliveGet(c, "/healthz")
		if err != nil || code != 200 {
			t.Fatalf("connection %d: %d %v", i, code, err)
		}
		if n := serverSockets(t, port); n > cap+1 {
			t.Fatalf("after %d idle connections the server holds %d sockets, cap %d", i+1, n, cap)
		}
	}
	if n := s.srvListener().connections(); n > cap {
		t.Errorf("%d connections counted open, cap %d", n, cap)
	}
	// The oldest were closed to make room: their next request fails.
	if _, err := keepAliveGet(conns[0], "/healthz"); err == nil {
		t.Error("the longest-idle connection was not closed")
	}
	// The newest is still open and served.
	if code, err := keepAliveGet(conns[len(conns)-1], "/healthz"); err != nil || code != 200 {
		t.Errorf("newest connection: %d %v", code, err)
	}
	if n := serverSockets(t, port); n == 0 {
		t.Error("found no server sockets: the descriptor count above measured nothing")
	}
}

// TestConnectionCapBusy: when every connection is in a request, a new one
// gets 503 and is closed, rather than an unbounded descriptor.
func TestConnectionCapBusy(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	lim := newLimitListener(ln, 1)
	defer lim.Close()
	go func() {
		for {
			c, err := lim.Accept()
			if err != nil {
				return
			}
			lim.connState(c, http.StateActive) // busy forever
		}
	}()
	first, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer first.Close()
	second, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer second.Close()
	_ = second.SetDeadline(time.Now().Add(10 * time.Second))
	b, _ := io.ReadAll(second)
	if !strings.HasPrefix(string(b), "HTTP/1.1 503 ") || !strings.Contains(string(b), "Retry-After: 1") {
		t.Errorf("second connection got %q, want a 503", b)
	}
}

// countingBackend counts Snapshot calls.
type countingBackend struct {
	*fakeBackend
	n atomic.Int64
}

func (c *countingBackend) Snapshot() Snapshot { c.n.Add(1); return c.fakeBackend.Snapshot() }

// TestRateLimit sends a burst far above rate_limit at the expensive
// endpoints: the excess gets 429 with Retry-After, what passes shares a
// cached snapshot, the token holder and the cheap probes are not limited.
func TestRateLimit(t *testing.T) {
	const rate = 5
	b := &countingBackend{fakeBackend: newFake(t)}
	s := New(Config{Listen: "127.0.0.1:0", Token: testToken, RateLimit: rate}, b, nil, nil)
	burst := time.Now()
	for _, path := range []string{"/", "/api/v1/status", "/api/v1/explain?name=www.gslb.example.test.&client=192.0.2.1"} {
		var ok, limited int
		start := time.Now()
		for range 200 {
			w := serve(t, s, request{target: path})
			switch w.Code {
			case 200:
				ok++
			case 429:
				limited++
				if w.Header().Get("Retry-After") != "1" {
					t.Fatalf("%s: 429 without Retry-After", path)
				}
			default:
				t.Fatalf("%s: %d %s", path, w.Code, w.Body)
			}
		}
		// A burst of 2×rate, plus what refilled meanwhile.
		if most := 2*rate + int(time.Since(start).Seconds()*rate) + 1; ok > most || limited == 0 {
			t.Errorf("%s: %d answered, %d limited; want at most %d answered", path, ok, limited, most)
		}
	}
	// One snapshot per snapshotEvery at most (the burst is slow under -race).
	if n, most := b.n.Load(), int64(time.Since(burst)/snapshotEvery)+1; n > most {
		t.Errorf("backend asked for %d snapshots in one burst of %v, want at most %d", n, time.Since(burst), most)
	}
	// The token holder and the probes are not limited.
	for range 50 {
		if w := serve(t, s, request{target: "/api/v1/status", header: map[string]string{"Authorization": "Bearer " + testToken}}); w.Code != 200 {
			t.Fatalf("token holder: %d", w.Code)
		}
		if w := serve(t, s, request{target: "/healthz"}); w.Code != 200 {
			t.Fatalf("healthz: %d", w.Code)
		}
	}
}

// TestSnapshotShared: concurrent readers share one snapshot.
func TestSnapshotShared(t *testing.T) {
	b := &countingBackend{fakeBackend: newFake(t)}
	s := New(Config{RateLimit: 100000}, b, nil, nil)
	start := time.Now()
	var wg sync.WaitGroup
	for range 50 {
		wg.Go(func() {
			if w := serve(t, s, request{target: "/api/v1/status"}); w.Code != 200 {
				t.Errorf("status %d", w.Code)
			}
		})
	}
	wg.Wait()
	if n, most := b.n.Load(), int64(time.Since(start)/snapshotEvery)+1; n > most {
		t.Errorf("%d snapshots for 50 concurrent readers in %v, want at most %d", n, time.Since(start), most)
	}
}

// TestSlowClient: a client that sends half a header, and one that connects
// and says nothing, are cut by the read-header timeout.
func TestSlowClient(t *testing.T) {
	s := New(Config{Listen: "127.0.0.1:0"}, newFake(t), nil, nil)
	s.timeouts = timeouts{readHeader: 200 * time.Millisecond, read: time.Second, write: time.Second, idle: time.Second}
	addr := startServer(t, s)
	for _, send := range []string{"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ", ""} {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		if send != "" {
			if _, err := io.WriteString(c, send); err != nil {
				t.Fatal(err)
			}
		}
		_ = c.SetReadDeadline(time.Now().Add(10 * time.Second))
		_, err = io.ReadAll(c)
		var ne net.Error
		if errors.As(err, &ne) && ne.Timeout() {
			t.Errorf("%q: connection still open after 10s", send)
		}
	}
}
