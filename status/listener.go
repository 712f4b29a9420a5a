package status

import (
	"io"
	"net"
	"net/http"
	"sync"
	"time"
)

// busyResponse is written to a connection refused because the cap is
// reached and no connection could be closed to make room.
const busyResponse = "HTTP/1.1 503 Service Unavailable\r\nRetry-After: 1\r\nContent-Type: text/plain\r\nContent-Length: 31\r\nConnection: close\r\n\r\nstatus server: too many clients"

// limitListener caps the open connections at max. At the cap, a new
// connection makes room by closing the connection that has waited longest
// without a request in progress (idle keep-alive, or connected and silent);
// if every connection is busy, the new one gets a 503 and is closed. So the
// status server never holds more than max+1 descriptors, and idle clients
// cannot lock out a new one.
type limitListener struct {
	net.Listener
	max int

	mu   sync.Mutex
	open int
	idle map[*limitConn]time.Time // connections without a request in progress, since when
}

func newLimitListener(ln net.Listener, max int) *limitListener {
	return &limitListener{Listener: ln, max: max, idle: map[*limitConn]time.Time{}}
}

type limitConn struct {
	net.Conn
	l    *limitListener
	once sync.Once
	gone bool // released; under l.mu
}

func (c *limitConn) Close() error {
	err := c.Conn.Close()
	c.once.Do(func() {
		c.l.mu.Lock()
		defer c.l.mu.Unlock()
		c.gone = true
		delete(c.l.idle, c)
		c.l.open--
	})
	return err
}

func (l *limitListener) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		if lc := l.admit(c); lc != nil {
			return lc, nil
		}
		_ = c.SetWriteDeadline(time.Now().Add(100 * time.Millisecond))
		_, _ = io.WriteString(c, busyResponse)
		_ = c.Close()
	}
}

// admit counts c in, closing the longest-idle connection if at the cap; nil
// if every connection is busy.
func (l *limitListener) admit(c net.Conn) *limitConn {
	l.mu.Lock()
	if l.open >= l.max {
		var victim *limitConn
		var since time.Time
		for ic, t := range l.idle {
			if victim == nil || t.Before(since) {
				victim, since = ic, t
			}
		}
		if victim != nil {
			delete(l.idle, victim)
			l.mu.Unlock()
			_ = victim.Close() // releases its slot
			l.mu.Lock()
		}
	}
	if l.open >= l.max {
		l.mu.Unlock()
		return nil
	}
	l.open++
	lc := &limitConn{Conn: c, l: l}
	l.idle[lc] = time.Now() // silent until its first request
	l.mu.Unlock()
	return lc
}

// connState is the http.Server's ConnState hook: it tracks which
// connections may be closed to make room.
func (l *limitListener) connState(c net.Conn, st http.ConnState) {
	lc, ok := c.(*limitConn)
	if !ok {
		return
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	switch st {
	case http.StateIdle:
		if !lc.gone {
			l.idle[lc] = time.Now()
		}
	case http.StateActive, http.StateHijacked, http.StateClosed:
		delete(l.idle, lc)
	}
}

// connections returns the open connections, for tests.
func (l *limitListener) connections() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.open
}
