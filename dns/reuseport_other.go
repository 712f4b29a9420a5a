//go:build !(linux || darwin || freebsd || openbsd || netbsd || dragonfly)

package dns

import "syscall"

// reusePortSupported reports whether several UDP sockets can share a port.
const reusePortSupported = false

func setReusePort(_, _ string, _ syscall.RawConn) error { return nil }
