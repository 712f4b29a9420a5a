//go:build !linux

package dns

import (
	"errors"
	"log/slog"
	"net/netip"
	"syscall"
)

// engineSupported reports whether this system has the packet engine.
const engineSupported = false

type udpEngine struct{}

func listenEngineUDP(netip.AddrPort, bool) (int, uint16, error) {
	return -1, 0, errors.New("no packet engine on this system")
}

func newUDPEngine(int, bool, *Handler, *slog.Logger) *udpEngine { return &udpEngine{} }
func (e *udpEngine) run()                                       {}
func (e *udpEngine) stop()                                      {}

func closeEngineFD(int) {}

// pktinfoSupported reports whether replyControl works here; elsewhere a
// wildcard address off the engine is served by the library's server.
const pktinfoSupported = false

func setPktinfo(string, string, syscall.RawConn) error { return nil }

func replyControl([]byte, *[64]byte) int { return 0 }
