package dns

import (
	"errors"
	"net"
	"time"
)

// serveUDP is the read loop of one UDP socket: it reads a datagram,
// answers it (fast path first) into a buffer it reuses and sends the reply,
// one query at a time, until the socket is closed. Several SO_REUSEPORT
// sockets, each with its loop, answer one address in parallel; the kernel
// spreads the clients over them.
//
// Replies leave from the socket's bound address, so this loop serves
// specific addresses only; a wildcard address needs the destination of
// each datagram (IP_PKTINFO), which the library's server handles.
func (s *Server) serveUDP(c *net.UDPConn) {
	in := make([]byte, udpReadSize)
	out := make([]byte, replyBufSize)
	sc := newFastScratch()
	for {
		n, from, err := c.ReadFromUDPAddrPort(in)
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			s.log.Debug("dns: udp read", "err", err)
			time.Sleep(time.Millisecond) // a persistent error must not spin
			continue
		}
		if reply := s.h.handleUDP(out, in[:n], from.Addr().Unmap(), sc); reply != nil {
			c.WriteToUDPAddrPort(reply, from) //nolint:errcheck // nothing to do about a failed send
		}
	}
}
