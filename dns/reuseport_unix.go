//go:build linux || darwin || freebsd || openbsd || netbsd || dragonfly

package dns

import (
	"syscall"

	"golang.org/x/sys/unix"
)

// reusePortSupported reports whether several UDP sockets can share a port.
const reusePortSupported = true

// setReusePort is a net.ListenConfig Control function setting SO_REUSEPORT,
// so that the kernel spreads one address's datagrams over several sockets.
func setReusePort(_, _ string, c syscall.RawConn) error {
	var serr error
	err := c.Control(func(fd uintptr) {
		serr = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_REUSEPORT, 1)
	})
	if err != nil {
		return err
	}
	return serr
}
