package dns

import (
	"errors"
	"net"
	"time"
)

// serveUDP is the portable read loop of one UDP socket: it reads a
// datagram, answers it (fast path first) into a buffer it reuses and sends
// the reply, one query at a time, until the socket is closed. Several
// SO_REUSEPORT sockets, each with its loop, answer one address in parallel;
// the kernel spreads the clients over them.
//
// On a wildcard address (where pktinfoSupported), each reply carries the
// query's destination address as packet info, so that it leaves from the
// address the client sent to.
func (s *Server) serveUDP(c *net.UDPConn, wildcard bool) {
	in := make([]byte, udpReadSize)
	out := make([]byte, replyBufSize)
	var oob, oobOut [64]byte
	sc := newFastScratch()
	for {
		n, oobn, _, from, err := c.ReadMsgUDPAddrPort(in, oob[:])
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			s.log.Debug("dns: udp read", "err", err)
			time.Sleep(time.Millisecond) // a persistent error must not spin
			continue
		}
		reply := s.h.handleUDP(out, in[:n], from.Addr().Unmap(), sc)
		if reply == nil {
			continue
		}
		var ctl []byte
		if wildcard {
			ctl = oobOut[:replyControl(oob[:oobn], &oobOut)]
		}
		c.WriteMsgUDPAddrPort(reply, ctl, from) //nolint:errcheck // nothing to do about a failed send
	}
}
