//go:build linux

package dns

import (
	"fmt"
	"log/slog"
	"net/netip"
	"sync/atomic"
	"syscall"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// engineSupported reports whether this system has the packet engine.
const engineSupported = true

// engineBatch is the most datagrams one recvmmsg returns and one sendmmsg
// sends.
const engineBatch = 32

// engineRecheck is how many receives pass between two checks of the
// engine's budget against GOMAXPROCS (and every timeout or signal checks).
const engineRecheck = 64

// engineRecvTimeout is the engine sockets' SO_RCVTIMEO (see engine.go): how
// often an idle engine thread returns to Go code at the latest.
const engineRecvTimeout = 20 * time.Millisecond

// engineCtrlSize holds one IPv4 or IPv6 packet-info control message.
var engineCtrlSize = unix.CmsgSpace(max(unix.SizeofInet4Pktinfo, unix.SizeofInet6Pktinfo))

// listenEngineUDP opens a blocking UDP socket bound to ap for the engine:
// SO_REUSEPORT when reuse, the receive buffer and timeout, IPv6-only for an
// IPv6 address, and packet info for a wildcard address. It returns the fd
// and the bound port.
func listenEngineUDP(ap netip.AddrPort, reuse bool) (fd int, port uint16, err error) {
	family := unix.AF_INET
	if ap.Addr().Is6() {
		family = unix.AF_INET6
	}
	fd, err = unix.Socket(family, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, unix.IPPROTO_UDP)
	if err != nil {
		return -1, 0, fmt.Errorf("listen udp %s: socket: %w", ap, err)
	}
	fail := func(what string, err error) (int, uint16, error) {
		unix.Close(fd)
		return -1, 0, fmt.Errorf("listen udp %s: %s: %w", ap, what, err)
	}
	if reuse {
		if err := unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_REUSEPORT, 1); err != nil {
			return fail("SO_REUSEPORT", err)
		}
	}
	_ = unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_RCVBUF, udpReadBuffer) // best effort, see udpReadBuffer
	tv := unix.NsecToTimeval(engineRecvTimeout.Nanoseconds())
	if err := unix.SetsockoptTimeval(fd, unix.SOL_SOCKET, unix.SO_RCVTIMEO, &tv); err != nil {
		return fail("SO_RCVTIMEO", err)
	}
	var sa unix.Sockaddr
	if family == unix.AF_INET6 {
		if err := unix.SetsockoptInt(fd, unix.IPPROTO_IPV6, unix.IPV6_V6ONLY, 1); err != nil {
			return fail("IPV6_V6ONLY", err)
		}
		if ap.Addr().IsUnspecified() {
			if err := unix.SetsockoptInt(fd, unix.IPPROTO_IPV6, unix.IPV6_RECVPKTINFO, 1); err != nil {
				return fail("IPV6_RECVPKTINFO", err)
			}
		}
		sa = &unix.SockaddrInet6{Port: int(ap.Port()), Addr: ap.Addr().As16()}
	} else {
		if ap.Addr().IsUnspecified() {
			if err := unix.SetsockoptInt(fd, unix.IPPROTO_IP, unix.IP_PKTINFO, 1); err != nil {
				return fail("IP_PKTINFO", err)
			}
		}
		sa = &unix.SockaddrInet4{Port: int(ap.Port()), Addr: ap.Addr().As4()}
	}
	if err := unix.Bind(fd, sa); err != nil {
		return fail("bind", err)
	}
	got, err := unix.Getsockname(fd)
	if err != nil {
		return fail("getsockname", err)
	}
	switch a := got.(type) {
	case *unix.SockaddrInet4:
		port = uint16(a.Port)
	case *unix.SockaddrInet6:
		port = uint16(a.Port)
	}
	return fd, port, nil
}

// udpEngine serves one engine socket: receive a batch, answer every query
// (fast path first), send the replies with one sendmmsg. Everything a
// batch needs is allocated once, here, so that a query answered by the
// fast path allocates nothing.
type udpEngine struct {
	fd       int
	h        *Handler
	log      *slog.Logger
	wildcard bool // replies carry the query's destination (packet info)
	sc       *fastScratch

	stopping atomic.Bool
	raw      bool // wait in raw system calls (engineRawOK, checked every engineRecheck receives)
	recheck  int  // receives until the next check
	done     chan struct{}

	in      [engineBatch]unix.Mmsghdr
	out     [engineBatch]unix.Mmsghdr
	iovIn   [engineBatch]unix.Iovec
	iovOut  [engineBatch]unix.Iovec
	names   [engineBatch]unix.RawSockaddrInet6 // large enough for IPv4 too
	ctrlIn  [engineBatch][64]byte
	ctrlOut [engineBatch][64]byte
	bufIn   [engineBatch][udpReadSize]byte
	bufOut  [engineBatch][replyBufSize]byte
}

func newUDPEngine(fd int, wildcard bool, h *Handler, log *slog.Logger) *udpEngine {
	if engineCtrlSize > 64 {
		panic("dns: packet-info control message larger than expected")
	}
	e := &udpEngine{fd: fd, h: h, log: log, wildcard: wildcard, sc: newFastScratch(), done: make(chan struct{})}
	for i := range e.in {
		e.iovIn[i].Base = &e.bufIn[i][0]
		e.iovIn[i].SetLen(udpReadSize)
		hd := &e.in[i].Hdr
		hd.Name = (*byte)(unsafe.Pointer(&e.names[i]))
		hd.Iov = &e.iovIn[i]
		hd.Iovlen = 1
		e.out[i].Hdr.Iov = &e.iovOut[i]
		e.out[i].Hdr.Iovlen = 1
	}
	return e
}

// run is the engine's goroutine. It returns when stop is called.
//
// It is not locked to its OS thread (runtime.LockOSThread): while it sleeps
// in the raw recvmmsg it occupies its thread and P anyway, and the runtime
// preempts a goroutine that has run for 10 ms, which a busy engine always
// has. A locked goroutine then costs two thread hand-offs per preemption
// (stoplockedm, startlockedm), which on a loaded CPU stalled the engine for
// milliseconds: in an A/B run (same binary, 3 rounds, geo + ECS at 80k qps
// offered) the locked engine answered 17k-57k qps, the unlocked one 71k-80k.
// Unlocked, a preempted engine is simply rescheduled.
func (e *udpEngine) run() {
	defer close(e.done)
	for !e.stopping.Load() {
		n, errno := e.recv()
		switch {
		case errno == 0:
			if n > 0 {
				e.send(e.answer(n))
			}
		case errno == unix.EAGAIN || errno == unix.EINTR:
			// The receive timeout or a signal (preemption, GC): back in Go
			// code, where the runtime can stop this goroutine if it wants.
			// Idle: check the budget before waiting again.
			e.recheck = 0
		default:
			if e.stopping.Load() {
				return
			}
			e.log.Debug("dns: udp engine recvmmsg", "err", errno)
			time.Sleep(time.Millisecond) // a persistent error must not spin
		}
	}
}

// recv waits for at least one datagram and returns how many arrived.
func (e *udpEngine) recv() (int, syscall.Errno) {
	for i := range e.in {
		hd := &e.in[i].Hdr
		hd.Namelen = unix.SizeofSockaddrInet6
		hd.Flags = 0
		if e.wildcard {
			hd.Control = &e.ctrlIn[i][0]
			hd.SetControllen(len(e.ctrlIn[i]))
		}
	}
	if e.recheck <= 0 {
		// runtime.GOMAXPROCS takes the scheduler's lock: not on every
		// batch, where a lock holder the OS has descheduled would stall
		// the engine.
		e.raw, e.recheck = engineRawOK(), engineRecheck
	}
	e.recheck--
	call := syscall.RawSyscall6
	if !e.raw {
		call = syscall.Syscall6 // GOMAXPROCS was lowered: hand the P back while asleep
	}
	n, _, errno := call(unix.SYS_RECVMMSG, uintptr(e.fd),
		uintptr(unsafe.Pointer(&e.in[0])), engineBatch, unix.MSG_WAITFORONE, 0, 0)
	return int(n), errno
}

// answer answers the n datagrams received and returns how many replies
// it put in e.out.
func (e *udpEngine) answer(n int) int {
	m := 0
	for i := range n {
		hd := &e.in[i].Hdr
		src, ok := sockaddrAddr(&e.names[i], hd.Namelen)
		if !ok {
			continue
		}
		pkt := e.bufIn[i][:e.in[i].Len]
		reply := e.h.handleUDP(e.bufOut[m][:], pkt, src, e.sc)
		if len(reply) == 0 {
			continue
		}
		o := &e.out[m].Hdr
		o.Name = hd.Name
		o.Namelen = hd.Namelen
		o.Control = nil
		o.SetControllen(0)
		if e.wildcard {
			if c := e.replyPktinfo(hd, &e.ctrlOut[m]); c > 0 {
				o.Control = &e.ctrlOut[m][0]
				o.SetControllen(c)
			}
		}
		e.iovOut[m].Base = &reply[0]
		e.iovOut[m].SetLen(len(reply))
		m++
	}
	return m
}

// send sends the first m replies of e.out; one that cannot be sent (a full
// send buffer, an unreachable client) is skipped.
func (e *udpEngine) send(m int) {
	for off := 0; off < m; {
		n, _, errno := syscall.RawSyscall6(unix.SYS_SENDMMSG, uintptr(e.fd),
			uintptr(unsafe.Pointer(&e.out[off])), uintptr(m-off), unix.MSG_DONTWAIT, 0, 0)
		switch {
		case errno == unix.EINTR:
		case errno != 0:
			off++ // the reply at off failed: drop it, send the rest
		default:
			off += int(n)
		}
	}
	for i := range m {
		e.iovOut[i].Base = nil // do not pin a reply the slow path allocated
	}
}

// stop makes run return and waits for it; the caller closes the fd after.
func (e *udpEngine) stop() {
	e.stopping.Store(true)
	_ = unix.Shutdown(e.fd, unix.SHUT_RD) // wakes recvmmsg; the timeout would too
	<-e.done
}

// sockaddrAddr returns the address of a sockaddr the kernel filled in.
func sockaddrAddr(sa *unix.RawSockaddrInet6, n uint32) (netip.Addr, bool) {
	switch sa.Family {
	case unix.AF_INET:
		if n < unix.SizeofSockaddrInet4 {
			return netip.Addr{}, false
		}
		sa4 := (*unix.RawSockaddrInet4)(unsafe.Pointer(sa))
		return netip.AddrFrom4(sa4.Addr), true
	case unix.AF_INET6:
		if n < unix.SizeofSockaddrInet6 {
			return netip.Addr{}, false
		}
		return netip.AddrFrom16(sa.Addr).Unmap(), true
	}
	return netip.Addr{}, false
}

// replyPktinfo writes into dst the control message that sends a reply from
// the address the query in hd reached, and returns its length (0 when the
// query carried no packet info).
func (e *udpEngine) replyPktinfo(hd *unix.Msghdr, dst *[64]byte) int {
	return replyControl(unsafe.Slice(hd.Control, int(hd.Controllen)), dst)
}

// pktinfoSupported reports whether replyControl works here: a wildcard
// address can then be served by the read loop too.
const pktinfoSupported = true

// setPktinfo is a net.ListenConfig Control function asking for each
// datagram's destination address (IP_PKTINFO / IPV6_RECVPKTINFO).
func setPktinfo(network, _ string, c syscall.RawConn) error {
	var serr error
	err := c.Control(func(fd uintptr) {
		if network == "udp6" {
			serr = unix.SetsockoptInt(int(fd), unix.IPPROTO_IPV6, unix.IPV6_RECVPKTINFO, 1)
		} else {
			serr = unix.SetsockoptInt(int(fd), unix.IPPROTO_IP, unix.IP_PKTINFO, 1)
		}
	})
	if err != nil {
		return err
	}
	return serr
}

// replyControl reads the packet info of a received datagram's control
// messages and writes into dst the control message that sends the reply
// from that address; it returns its length (0 when there was none).
func replyControl(ctrl []byte, dst *[64]byte) int {
	for len(ctrl) >= unix.SizeofCmsghdr {
		ch := (*unix.Cmsghdr)(unsafe.Pointer(&ctrl[0]))
		l := int(ch.Len)
		if l < unix.SizeofCmsghdr || l > len(ctrl) {
			return 0
		}
		data := ctrl[unix.CmsgLen(0):l]
		switch {
		case ch.Level == unix.IPPROTO_IP && ch.Type == unix.IP_PKTINFO && len(data) >= unix.SizeofInet4Pktinfo:
			in := (*unix.Inet4Pktinfo)(unsafe.Pointer(&data[0]))
			return putPktinfo4(dst, in.Spec_dst)
		case ch.Level == unix.IPPROTO_IPV6 && ch.Type == unix.IPV6_PKTINFO && len(data) >= unix.SizeofInet6Pktinfo:
			in := (*unix.Inet6Pktinfo)(unsafe.Pointer(&data[0]))
			return putPktinfo6(dst, in.Addr, in.Ifindex)
		}
		next := unix.CmsgSpace(l - unix.CmsgLen(0))
		if next > len(ctrl) {
			return 0
		}
		ctrl = ctrl[next:]
	}
	return 0
}

// putPktinfo4 writes an IP_PKTINFO message: send from src, any interface.
func putPktinfo4(dst *[64]byte, src [4]byte) int {
	clear(dst[:])
	ch := (*unix.Cmsghdr)(unsafe.Pointer(&dst[0]))
	ch.Level, ch.Type = unix.IPPROTO_IP, unix.IP_PKTINFO
	ch.SetLen(unix.CmsgLen(unix.SizeofInet4Pktinfo))
	pi := (*unix.Inet4Pktinfo)(unsafe.Pointer(&dst[unix.CmsgLen(0)]))
	pi.Spec_dst = src
	return unix.CmsgSpace(unix.SizeofInet4Pktinfo)
}

// putPktinfo6 writes an IPV6_PKTINFO message: send from src on the
// interface the query came in on (a link-local address needs it).
func putPktinfo6(dst *[64]byte, src [16]byte, ifindex uint32) int {
	clear(dst[:])
	ch := (*unix.Cmsghdr)(unsafe.Pointer(&dst[0]))
	ch.Level, ch.Type = unix.IPPROTO_IPV6, unix.IPV6_PKTINFO
	ch.SetLen(unix.CmsgLen(unix.SizeofInet6Pktinfo))
	pi := (*unix.Inet6Pktinfo)(unsafe.Pointer(&dst[unix.CmsgLen(0)]))
	pi.Addr, pi.Ifindex = src, ifindex
	return unix.CmsgSpace(unix.SizeofInet6Pktinfo)
}

func closeEngineFD(fd int) { unix.Close(fd) }
