package dns

import (
	"bufio"
	"encoding/binary"
	"errors"
	"io"
	"net"
	"net/netip"
	"time"
)

// tcpReadBuffer is what a TCP connection reads at a time: the pipelined
// queries found in it are answered as one batch and their replies sent
// with one write.
const tcpReadBuffer = 4096

// tcpWriteBatch is the most reply octets gathered before a write.
const tcpWriteBatch = 16 << 10

// serveTCP accepts connections until the listener is closed.
func (s *Server) serveTCP(l *connLimiter) {
	for {
		c, err := l.Accept()
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			s.log.Debug("dns: tcp accept", "err", err)
			time.Sleep(10 * time.Millisecond) // EMFILE and the like: do not spin
			continue
		}
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			s.serveConn(c.(*trackedConn))
		}()
	}
}

// serveConn answers the queries of one TCP connection (RFC 7766): in
// order, the pipelined ones that have arrived together answered as a
// batch with one write. It closes the connection when the client is idle
// for tcp_idle_timeout (or takes longer to send a whole query), when a
// write does not complete within tcp_write_timeout (a client that stops
// reading, §6.2.3), or on any error.
//
// What one connection holds is bounded: no further query is read while
// replies wait to be written, so unanswered queries sit in the read buffer
// (tcpReadBuffer) and the kernel's receive buffer (tcp_buffer), and
// unread replies in the kernel's send buffer (tcp_buffer) and the write
// batch (tcpWriteBatch plus one reply).
func (s *Server) serveConn(c *trackedConn) {
	defer c.Close()
	if tc, ok := c.Conn.(*net.TCPConn); ok && s.cfg.TCPBuffer > 0 {
		_ = tc.SetReadBuffer(s.cfg.TCPBuffer) // best effort: the kernel may round
		_ = tc.SetWriteBuffer(s.cfg.TCPBuffer)
	}
	var src netip.Addr
	if a, ok := c.RemoteAddr().(*net.TCPAddr); ok {
		src = a.AddrPort().Addr().Unmap()
	}
	idle := s.cfg.TCPIdleTimeout.D()
	writeTimeout := s.cfg.TCPWriteTimeout.D()
	rd := bufio.NewReaderSize(c, tcpReadBuffer)
	bp := s.h.bufs.Get().(*[]byte)
	defer s.h.bufs.Put(bp)
	sc := s.h.scratch.Get().(*fastScratch)
	defer s.h.scratch.Put(sc)
	var msg []byte
	var out []byte
	var lenBuf [2]byte
	for {
		if rd.Buffered() == 0 {
			if err := c.SetReadDeadline(time.Now().Add(idle)); err != nil {
				return
			}
		}
		if _, err := io.ReadFull(rd, lenBuf[:]); err != nil {
			return
		}
		n := int(binary.BigEndian.Uint16(lenBuf[:]))
		if cap(msg) < n {
			msg = make([]byte, n)
		}
		msg = msg[:n]
		if _, err := io.ReadFull(rd, msg); err != nil {
			return
		}
		if reply := s.h.handleTCP(*bp, msg, src, sc); reply != nil {
			out = binary.BigEndian.AppendUint16(out, uint16(len(reply)))
			out = append(out, reply...)
		}
		if len(out) > 0 && (len(out) >= tcpWriteBatch || !wholeMessageBuffered(rd)) {
			if err := c.SetWriteDeadline(time.Now().Add(writeTimeout)); err != nil {
				return
			}
			if _, err := c.Write(out); err != nil {
				return
			}
			if cap(out) > 2*tcpWriteBatch {
				out = nil // one huge reply: do not keep its buffer
			} else {
				out = out[:0]
			}
		}
		if cap(msg) > tcpReadBuffer {
			msg = nil // nor a huge query's
		}
	}
}

// wholeMessageBuffered reports whether rd already holds another whole
// length-prefixed message, which is then answered in the same batch.
func wholeMessageBuffered(rd *bufio.Reader) bool {
	b := rd.Buffered()
	if b < 2 {
		return false
	}
	p, err := rd.Peek(2)
	if err != nil {
		return false
	}
	return b >= 2+int(binary.BigEndian.Uint16(p))
}

// closeAll closes every open connection of the limiter (at shutdown).
func (l *connLimiter) closeAll() {
	l.mu.Lock()
	conns := make([]*trackedConn, 0, len(l.conns))
	for c := range l.conns {
		conns = append(conns, c)
	}
	l.mu.Unlock()
	for _, c := range conns {
		c.Close()
	}
}

// handleTCP answers a query received over TCP, fast path first.
func (h *Handler) handleTCP(dst, pkt []byte, src netip.Addr, sc *fastScratch) []byte {
	if out, ok := h.answerFastOn(dst, pkt, src, sc, true); ok {
		return out
	}
	return h.handleSlow(dst, pkt, src, true)
}
