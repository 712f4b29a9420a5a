package routes

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"strconv"
	"sync"
	"time"

	"github.com/osrg/gobgp/v4/pkg/packet/bgp"
)

// The native implementation ([routes.bgp] implementation = "native") is a
// receive-only BGP session per peer built on gobgp's message codec only: it
// keeps no path objects and no Adj-RIB-In of its own, and hands each UPDATE
// to the speaker's run goroutine as events, the same way the gobgp watcher
// does. It never advertises anything.

// native is the state of the native implementation while it runs.
type native struct {
	ctx    context.Context
	cancel context.CancelFunc
	ln     net.Listener
	wg     sync.WaitGroup

	mu       sync.Mutex
	sessions map[netip.Addr]*nativePeer
}

type nativePeer struct {
	cfg      PeerConfig
	cancel   context.CancelFunc
	incoming chan net.Conn // connections accepted from this peer
}

// startNative starts the listener (if any) and one goroutine per peer.
func (s *Speaker) startNative(ctx context.Context) error {
	runCtx, cancel := context.WithCancel(context.Background())
	n := &native{ctx: runCtx, cancel: cancel, sessions: make(map[netip.Addr]*nativePeer)}
	if s.cfg.Listen != "" {
		var lc net.ListenConfig
		ln, err := lc.Listen(ctx, "tcp", s.cfg.Listen)
		if err != nil {
			cancel()
			s.stopCacheWriter()
			return fmt.Errorf("routes.bgp: listen: %w", err)
		}
		n.ln = ln
		n.wg.Add(1)
		go func() { defer n.wg.Done(); s.acceptNative(n) }()
	}
	s.nat, s.cancel, s.done = n, cancel, make(chan struct{})
	go s.run(runCtx)
	s.mu.Lock()
	for _, p := range s.cfg.Peers {
		s.addNativePeerLocked(p)
	}
	s.mu.Unlock()
	return nil
}

// addNativePeerLocked starts peer p's session goroutine; s.mu is held.
func (s *Speaker) addNativePeerLocked(p PeerConfig) {
	n := s.nat
	a := netip.MustParseAddr(p.Address)
	s.peers[a] = &peerInfo{addr: a, cfg: p, src: "bgp " + a.String()}
	ctx, cancel := context.WithCancel(n.ctx)
	np := &nativePeer{cfg: p, cancel: cancel, incoming: make(chan net.Conn)}
	n.mu.Lock()
	n.sessions[a] = np
	n.mu.Unlock()
	n.wg.Add(1)
	go func() { defer n.wg.Done(); s.runNativePeer(ctx, a, np) }()
}

func (s *Speaker) deleteNativePeer(ctx context.Context, a netip.Addr) {
	n := s.nat
	n.mu.Lock()
	np := n.sessions[a]
	delete(n.sessions, a)
	n.mu.Unlock()
	s.mu.Lock()
	delete(s.peers, a)
	delete(s.state, a)
	s.mu.Unlock()
	if np != nil {
		np.cancel()
	}
	s.send(ctx, []event{{peer: a, down: true}})
}

// stopNative closes every session (each peer gets a CEASE) within stopTimeout.
func (s *Speaker) stopNative() {
	n := s.nat
	n.cancel()
	if n.ln != nil {
		_ = n.ln.Close()
	}
	<-s.done
	// The table is final: write the cache while the sessions close.
	written := make(chan struct{})
	go func() { defer close(written); s.stopCacheWriter() }()
	done := make(chan struct{})
	go func() { n.wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(stopTimeout):
		s.log.Warn("bgp sessions still closing after the timeout; not waiting", "timeout", stopTimeout)
	}
	<-written
	s.nat = nil
}

func (s *Speaker) acceptNative(n *native) {
	for {
		c, err := n.ln.Accept()
		if err != nil {
			if n.ctx.Err() == nil {
				s.log.Warn("bgp listener stopped", "err", err)
			}
			return
		}
		ap, _ := netip.ParseAddrPort(c.RemoteAddr().String())
		n.mu.Lock()
		np := n.sessions[ap.Addr().Unmap()]
		n.mu.Unlock()
		if np == nil {
			s.log.Debug("bgp connection from an unknown peer refused", "remote", c.RemoteAddr())
			_ = c.Close()
			continue
		}
		select {
		case np.incoming <- c:
		default: // the peer has a session already (or is dialling)
			_ = c.Close()
		}
	}
}

// runNativePeer keeps a session with one peer up until ctx ends.
func (s *Speaker) runNativePeer(ctx context.Context, a netip.Addr, np *nativePeer) {
	backoff := time.Second
	for ctx.Err() == nil {
		var c net.Conn
		if np.cfg.Passive {
			s.setNativeState(a, "active")
			select {
			case c = <-np.incoming:
			case <-ctx.Done():
				return
			}
		} else {
			s.setNativeState(a, "connect")
			d := net.Dialer{Timeout: 5 * time.Second}
			if la := s.localAddr(np.cfg, a); la.IsValid() {
				d.LocalAddr = &net.TCPAddr{IP: la.AsSlice()}
			}
			var err error
			c, err = d.DialContext(ctx, "tcp", net.JoinHostPort(a.String(), strconv.Itoa(int(np.cfg.port()))))
			if err != nil {
				s.log.Debug("bgp dial failed", "peer", a, "err", err)
				s.setNativeState(a, "active")
				select {
				case c = <-np.incoming: // the peer dialled us meanwhile
				case <-time.After(backoff):
					backoff = min(2*backoff, connectRetry*time.Second)
					continue
				case <-ctx.Done():
					return
				}
			}
		}
		established, err := s.nativeSession(ctx, a, np.cfg, c)
		if established {
			backoff = time.Second
		}
		reason := "session closed"
		if err != nil {
			reason = err.Error()
		}
		if ctx.Err() != nil {
			return
		}
		s.sessionDown(ctx, a, reason)
		select {
		case <-time.After(backoff):
		case <-ctx.Done():
			return
		}
	}
}

// localAddr is the source address for dialling peer a (see PeerConfig).
func (s *Speaker) localAddr(p PeerConfig, a netip.Addr) netip.Addr {
	if p.LocalAddress != "" {
		la, _ := netip.ParseAddr(p.LocalAddress)
		return la
	}
	if s.cfg.Listen != "" {
		if ap, err := parseListen(s.cfg.Listen); err == nil && ap.Addr().Unmap().Is4() == a.Unmap().Is4() && !ap.Addr().IsUnspecified() {
			return ap.Addr()
		}
	}
	return netip.Addr{}
}

func (s *Speaker) setNativeState(a netip.Addr, state string) {
	s.mu.Lock()
	if _, ok := s.peers[a]; ok {
		st := s.state[a]
		st.state = state
		if state == "established" {
			st.since = time.Now()
		} else {
			st.since = time.Time{}
		}
		s.state[a] = st
	}
	s.mu.Unlock()
}

// errNotification is a NOTIFICATION received from the peer.
type errNotification struct{ n *bgp.BGPNotification }

func (e errNotification) Error() string {
	return "notification received: " + bgp.NewNotificationErrorCode(e.n.ErrorCode, e.n.ErrorSubcode).String()
}

// nativeSession runs one BGP session on c until it fails or ctx ends.
func (s *Speaker) nativeSession(ctx context.Context, a netip.Addr, p PeerConfig, c net.Conn) (established bool, err error) {
	var wmu sync.Mutex
	write := func(m *bgp.BGPMessage) error {
		b, err := m.Serialize()
		if err != nil {
			return err
		}
		wmu.Lock()
		defer wmu.Unlock()
		_ = c.SetWriteDeadline(time.Now().Add(10 * time.Second))
		_, err = c.Write(b)
		return err
	}
	notify := func(code, sub uint8) { _ = write(bgp.NewBGPNotificationMessage(code, sub, nil)) }
	stop := context.AfterFunc(ctx, func() {
		notify(bgp.BGP_ERROR_CEASE, bgp.BGP_ERROR_SUB_ADMINISTRATIVE_SHUTDOWN)
		_ = c.Close()
	})
	defer func() {
		stop()
		_ = c.Close()
	}()

	myAS := uint16(bgp.AS_TRANS)
	if s.cfg.ASN <= 0xffff {
		myAS = uint16(s.cfg.ASN)
	}
	rid, _ := netip.ParseAddr(s.cfg.RouterID)
	open, err := bgp.NewBGPOpenMessage(myAS, holdTime, rid, []bgp.OptionParameterInterface{
		bgp.NewOptionParameterCapability([]bgp.ParameterCapabilityInterface{
			bgp.NewCapMultiProtocol(bgp.RF_IPv4_UC),
			bgp.NewCapMultiProtocol(bgp.RF_IPv6_UC),
			bgp.NewCapFourOctetASNumber(s.cfg.ASN),
			// Graceful restart with no address family: we keep no
			// forwarding state, but take End-of-RIB markers (RFC 4724
			// section 3), which end the stale routes of the start-up cache.
			bgp.NewCapGracefulRestart(false, false, 0, nil),
		}),
	})
	if err != nil {
		return false, err
	}
	if err := write(open); err != nil {
		return false, err
	}
	s.setNativeState(a, "opensent")

	hold := time.Duration(holdTime) * time.Second
	opt := &bgp.MarshallingOption{Use2ByteAS: true}
	hdr := make([]byte, bgp.BGP_HEADER_LENGTH)
	buf := make([]byte, 4096)
	var kaStop chan struct{}
	// waitEoR holds the families both sides announced whose End-of-RIB has
	// not come yet; when the last one comes, the peer is in sync.
	waitEoR := map[bgp.Family]bool{}
	defer func() {
		if kaStop != nil {
			close(kaStop)
		}
	}()
	for {
		if hold > 0 {
			_ = c.SetReadDeadline(time.Now().Add(hold))
		} else {
			_ = c.SetReadDeadline(time.Time{}) // hold time 0 negotiated: no timer
		}
		if _, err := io.ReadFull(c, hdr); err != nil {
			return established, s.readErr(ctx, err, notify)
		}
		l := int(binary.BigEndian.Uint16(hdr[16:18]))
		if l < bgp.BGP_HEADER_LENGTH || l > 65535 {
			notify(bgp.BGP_ERROR_MESSAGE_HEADER_ERROR, bgp.BGP_ERROR_SUB_BAD_MESSAGE_LENGTH)
			return established, fmt.Errorf("bad message length %d", l)
		}
		if cap(buf) < l {
			buf = make([]byte, l)
		}
		buf = buf[:l]
		copy(buf, hdr)
		if _, err := io.ReadFull(c, buf[bgp.BGP_HEADER_LENGTH:]); err != nil {
			return established, s.readErr(ctx, err, notify)
		}
		m, err := bgp.ParseBGPMessage(buf, opt)
		if err != nil {
			var me *bgp.MessageError
			if errors.As(err, &me) {
				notify(me.TypeCode, me.SubTypeCode)
			}
			return established, fmt.Errorf("bad message: %w", err)
		}
		switch b := m.Body.(type) {
		case *bgp.BGPOpen:
			peerAS := uint32(b.MyAS)
			mp := false
			for _, op := range b.OptParams {
				if pc, ok := op.(*bgp.OptionParameterCapability); ok {
					for _, cp := range pc.Capability {
						switch c := cp.(type) {
						case *bgp.CapFourOctetASNumber:
							peerAS = c.CapValue
							opt.Use2ByteAS = false
						case *bgp.CapMultiProtocol:
							mp = true
							if c.CapValue == bgp.RF_IPv4_UC || c.CapValue == bgp.RF_IPv6_UC {
								waitEoR[c.CapValue] = true
							}
						}
					}
				}
			}
			if !mp { // no multiprotocol capability: IPv4 unicast only
				waitEoR[bgp.RF_IPv4_UC] = true
			}
			if peerAS != p.ASN {
				notify(bgp.BGP_ERROR_OPEN_MESSAGE_ERROR, bgp.BGP_ERROR_SUB_BAD_PEER_AS)
				return false, fmt.Errorf("peer AS %d, configured %d", peerAS, p.ASN)
			}
			if b.HoldTime != 0 && b.HoldTime < 3 {
				notify(bgp.BGP_ERROR_OPEN_MESSAGE_ERROR, bgp.BGP_ERROR_SUB_UNACCEPTABLE_HOLD_TIME)
				return false, fmt.Errorf("unacceptable hold time %d", b.HoldTime)
			}
			hold = min(hold, time.Duration(b.HoldTime)*time.Second)
			if err := write(bgp.NewBGPKeepAliveMessage()); err != nil {
				return false, err
			}
			s.setNativeState(a, "openconfirm")
			if hold > 0 {
				kaStop = make(chan struct{})
				go func(stopc chan struct{}, every time.Duration) {
					t := time.NewTicker(every)
					defer t.Stop()
					for {
						select {
						case <-t.C:
							if write(bgp.NewBGPKeepAliveMessage()) != nil {
								return
							}
						case <-stopc:
							return
						}
					}
				}(kaStop, hold/3)
			}
		case *bgp.BGPKeepAlive:
			if !established {
				established = true
				s.setNativeState(a, "established")
				s.log.Info("bgp peer established", "peer", a)
				s.send(ctx, []event{{peer: a, up: true}})
			}
		case *bgp.BGPUpdate:
			if !established {
				notify(bgp.BGP_ERROR_FSM_ERROR, 0)
				return false, errors.New("UPDATE before the session was established")
			}
			if eor, fam := b.IsEndOfRib(); eor {
				if waitEoR[fam] {
					delete(waitEoR, fam)
					if len(waitEoR) == 0 {
						s.log.Debug("bgp peer sent End-of-RIB for every family", "peer", a)
						s.send(ctx, []event{{peer: a, eor: true}})
					}
				}
				continue
			}
			if evs := updateEvents(a, b); len(evs) > 0 {
				s.send(ctx, evs)
			}
		case *bgp.BGPNotification:
			return established, errNotification{b}
		}
	}
}

// readErr turns a read error into the session's reason for going down,
// telling the peer when our hold timer expired.
func (s *Speaker) readErr(ctx context.Context, err error, notify func(code, sub uint8)) error {
	if ctx.Err() != nil {
		return ctx.Err()
	}
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		notify(bgp.BGP_ERROR_HOLD_TIMER_EXPIRED, 0)
		return errors.New("hold timer expired")
	}
	if errors.Is(err, io.EOF) {
		return errors.New("peer closed the connection")
	}
	return err
}

// updateEvents converts one UPDATE into RIB events: IPv4 withdrawals and NLRI
// in the body, IPv6 (or any family) in MP_UNREACH / MP_REACH. An UPDATE with
// neither (End-of-RIB) yields nothing.
func updateEvents(a netip.Addr, u *bgp.BGPUpdate) []event {
	var evs []event
	add := func(nlris []bgp.PathNLRI, withdraw bool, pathLen int) {
		for _, n := range nlris {
			if p, ok := n.NLRI.(*bgp.IPAddrPrefix); ok {
				evs = append(evs, event{peer: a, prefix: p.Prefix, pathLen: pathLen, withdraw: withdraw})
			}
		}
	}
	add(u.WithdrawnRoutes, true, 0)
	pathLen := asPathLen(u.PathAttributes)
	// Withdrawals first, whatever the attribute order.
	for _, pa := range u.PathAttributes {
		if m, ok := pa.(*bgp.PathAttributeMpUnreachNLRI); ok {
			add(m.Value, true, 0)
		}
	}
	for _, pa := range u.PathAttributes {
		if m, ok := pa.(*bgp.PathAttributeMpReachNLRI); ok {
			add(m.Value, false, pathLen)
		}
	}
	add(u.NLRI, false, pathLen)
	return evs
}
