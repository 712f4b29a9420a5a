package routes

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"net/netip"
	"runtime/debug"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/osrg/gobgp/v4/api"
	"github.com/osrg/gobgp/v4/pkg/apiutil"
	"github.com/osrg/gobgp/v4/pkg/packet/bgp"
	"github.com/osrg/gobgp/v4/pkg/server"
)

// Session timers (seconds). The hold time is shorter than BGP's customary 90 s
// so that a site whose router vanishes without closing the session drops out
// of the table within half a minute; the router may negotiate it lower.
const (
	connectRetry = 5
	holdTime     = 30
)

// PeerState is what the status page and metrics show about one BGP peer.
type PeerState struct {
	Address    netip.Addr
	ASN        uint32
	Datacenter string
	State      string        // "idle", "connect", "active", "opensent", "openconfirm", "established"
	Prefixes   int           // routes from this peer currently in the table
	Uptime     time.Duration // time since the session was established; 0 when it is not
	LastError  string        // why the session last went down ("" if it never did)
	// Stale is how many of the peer's routes in the table are still the
	// ones from the start-up cache (0 once it has sent End-of-RIB).
	Stale int
}

// StaleState says whether the BGP table still holds routes from the cache
// read at start ([routes.bgp] cache_file), for the status page and metrics.
type StaleState struct {
	Stale    bool      // some routes from the cache are still in the table
	Routes   int       // how many (one per peer and prefix)
	Until    time.Time // when they are dropped at the latest (stale_timeout)
	Loaded   int       // routes read from the cache at start (0: none read)
	Written  time.Time // when the cache read at start was written
	CacheErr string    // why the cache could not be used at start ("" if it was, or there was none)
	// Damaged: CacheErr is damage (truncated, corrupt, unreadable), not a
	// cache for other peers or of another version (expected after a change).
	Damaged bool
}

// Speaker is an embedded BGP speaker (gobgp v4) that learns, from each site's
// router, which prefixes that site reaches and over how many AS hops. Every
// path a peer sends counts as "reachable from the peer's datacenter" with the
// AS-path length; nothing is ever advertised (export policy REJECT).
//
// Learned routes live in a mutable RIB owned by one goroutine; changes are
// published as an immutable Table (Speaker.Table) when the feed has been quiet
// for 200 ms, or at the latest about a second after the first change, and
// onChange is called after each publication. A peer that leaves Established
// has its routes purged and published at once.
//
// With BGPConfig.CacheFile the published table is also kept on disk
// (cache.go) and, at the next start, published at once as stale routes of
// their peers: each peer's live routes replace its stale ones as they come,
// its End-of-RIB drops the rest, and StaleTimeout drops whatever is left.
type Speaker struct {
	log      *slog.Logger
	onChange func()
	deb      debounce

	mu    sync.Mutex // guards cfg, peers, state, counts
	cfg   BGPConfig
	peers map[netip.Addr]*peerInfo
	// state is each configured peer's session state as gobgp last reported
	// it (WatchPeer events): Peers reads this, never gobgp's tables.
	state map[netip.Addr]sessionState
	// eorSeen is, per peer of the gobgp implementation, the families whose
	// End-of-RIB has come in the current session.
	eorSeen map[netip.Addr]map[bgp.Family]bool
	// counts is a copy of the RIB's per-peer prefix counts, for Peers;
	// staleCounts the same for the routes from the start-up cache.
	counts, staleCounts map[netip.Addr]int
	stale               StaleState

	cachePath string        // cache_file as at start; "" without one
	cacheKick chan struct{} // a new table was published (cap 1)
	cacheStop chan struct{} // closed by Stop: the writer ends
	cacheDone chan struct{} // closed by the writer when it has ended
	stopOnce  sync.Once     // stopCacheWriter
	cacheRead chan struct{} // closed once the run goroutine has read the cache (or had none)
	pubSeq    atomic.Uint64 // tables published
	savedSeq  atomic.Uint64 // pubSeq of the table the cache file holds

	srv    *server.BgpServer // implementation "gobgp"
	nat    *native           // implementation "native"
	events chan []event
	cur    atomic.Pointer[Table]
	cancel context.CancelFunc
	done   chan struct{}
}

// sessionState is what Peers reports about one session.
type sessionState struct {
	state   string    // "idle", ..., "established"
	since   time.Time // when it became established; zero otherwise
	lastErr string    // why the session last went down
}

// event is one change from gobgp, handed to the run goroutine.
type event struct {
	peer     netip.Addr
	prefix   netip.Prefix
	pathLen  int
	withdraw bool
	down     bool // the peer left Established (or was removed): purge it
	up       bool // the peer is Established: take its routes again
	eor      bool // the peer has sent End-of-RIB for every family: drop its stale routes
}

// NewSpeaker validates cfg and returns a speaker that is not yet running.
// onChange (may be nil) is called from the speaker's goroutine after each new
// Table is published; it must not block for long.
func NewSpeaker(cfg BGPConfig, logger *slog.Logger, onChange func()) (*Speaker, error) {
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("routes.bgp: %w", err)
	}
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	if onChange == nil {
		onChange = func() {}
	}
	s := &Speaker{
		log:      logger,
		onChange: onChange,
		deb:      defaultDebounce,
		cfg:      cfg,
		peers:    make(map[netip.Addr]*peerInfo),
		state:    make(map[netip.Addr]sessionState),
		counts:   make(map[netip.Addr]int),
		events:   make(chan []event, 256),

		cachePath: cfg.CacheFile,
		cacheKick: make(chan struct{}, 1),
		cacheStop: make(chan struct{}),
		cacheDone: make(chan struct{}),
		cacheRead: make(chan struct{}),
	}
	s.cur.Store(&Table{})
	return s, nil
}

// Table returns the routes learned so far as a one-layer Table (never nil).
func (s *Speaker) Table() *Table { return s.cur.Load() }

// Start starts the BGP server and its peers. ctx bounds the start-up calls
// only; the speaker runs until Stop.
func (s *Speaker) Start(ctx context.Context) error {
	if s.srv != nil || s.nat != nil {
		return errors.New("routes.bgp: speaker already started")
	}
	s.startCacheWriter()
	if s.cfg.Implementation != ImplGobgp { // native is the default
		return s.startNative(ctx)
	}
	runCtx, cancel := context.WithCancel(context.Background())
	lvl := new(slog.LevelVar)
	gl := libLogger(s.log.With("component", "gobgp"), lvl, func(a netip.Addr, reason string) { s.sessionDown(runCtx, a, reason) })
	srv := server.NewBgpServer(server.LoggerOption(gl, lvl))
	go srv.Serve()

	fail := func(err error) error {
		cancel()
		s.stopCacheWriter()
		stopBounded(srv, s.log)
		return fmt.Errorf("routes.bgp: %w", err)
	}
	g := &api.Global{Asn: s.cfg.ASN, RouterId: s.cfg.RouterID, ListenPort: -1}
	if s.cfg.Listen != "" {
		ap, _ := parseListen(s.cfg.Listen) // validated
		g.ListenPort = int32(ap.Port())
		g.ListenAddresses = []string{ap.Addr().String()}
	}
	if err := srv.StartBgp(ctx, &api.StartBgpRequest{Global: g}); err != nil {
		return fail(fmt.Errorf("start: %w", err))
	}
	// Nothing enters gobgp's global RIB and nothing is ever exported. The
	// IMPORT reject is what keeps a full table cheap: without it gobgp runs
	// best-path selection for every prefix of every peer and computes (then
	// filters) updates towards every other peer, which at 3 x 1.2M routes
	// was over half of the CPU and most of the memory. We read each peer's
	// routes before policy (WatchUpdate), from its Adj-RIB-In.
	for _, dir := range []api.PolicyDirection{api.PolicyDirection_POLICY_DIRECTION_IMPORT, api.PolicyDirection_POLICY_DIRECTION_EXPORT} {
		if err := srv.SetPolicyAssignment(ctx, &api.SetPolicyAssignmentRequest{Assignment: &api.PolicyAssignment{
			Name:          "global",
			Direction:     dir,
			DefaultAction: api.RouteAction_ROUTE_ACTION_REJECT,
		}}); err != nil {
			return fail(fmt.Errorf("%s policy: %w", strings.ToLower(strings.TrimPrefix(dir.String(), "POLICY_DIRECTION_")), err))
		}
	}
	// No WatchAdjInWithdraw: when a session drops, gobgp would first report
	// one withdrawal per route it held (1.2M for a full table); the peer
	// event that follows purges them all at once instead.
	err := srv.WatchEvent(runCtx, server.WatchEventMessageCallbacks{
		OnPathUpdate: func(paths []*apiutil.Path, _ time.Time) { s.onPaths(runCtx, paths) },
		OnPeerUpdate: func(ev *apiutil.WatchEventMessage_PeerEvent, _ time.Time) { s.onPeer(runCtx, ev) },
		OnPathEor:    func(p *apiutil.Path, _ time.Time) { s.onEoR(runCtx, p) },
	}, server.WatchUpdate(false, "", ""), server.WatchPeer(), server.WatchEor(false))
	if err != nil {
		return fail(fmt.Errorf("watch: %w", err))
	}
	s.srv, s.cancel, s.done = srv, cancel, make(chan struct{})
	go s.run(runCtx)

	s.mu.Lock()
	peers := slices.Clone(s.cfg.Peers)
	s.mu.Unlock()
	var errs []error
	for _, p := range peers {
		if err := s.addPeer(ctx, p); err != nil {
			errs = append(errs, err)
		}
	}
	if err := errors.Join(errs...); err != nil {
		s.Stop()
		return fmt.Errorf("routes.bgp: %w", err)
	}
	return nil
}

// stopTimeout bounds Stop: gobgp closes each session in turn and drops its
// Adj-RIB-In, which at full-table size is not instant. After this long
// Stop returns and leaves the rest to gobgp's goroutines (the process is
// usually exiting).
const stopTimeout = 4 * time.Second

// releaseAfter is how long a large feed must have been quiet before the
// memory its publications freed is handed back to the OS (a forced GC:
// ~0.1 s of CPU with full tables).
const releaseAfter = 2 * time.Second

// Stop closes every session and stops the speaker within about 4 s. The last
// Table stays.
func (s *Speaker) Stop() {
	if s.nat != nil {
		s.stopNative()
		s.mu.Lock()
		clear(s.state)
		s.mu.Unlock()
		return
	}
	if s.srv == nil {
		return
	}
	s.cancel()
	<-s.done
	// The table is final: write the cache while gobgp closes the sessions.
	written := make(chan struct{})
	go func() { defer close(written); s.stopCacheWriter() }()
	stopBounded(s.srv, s.log)
	<-written
	s.srv = nil
	s.mu.Lock()
	clear(s.state)
	s.mu.Unlock()
}

// stopBounded stops srv (each peer gets a CEASE notification), waiting at
// most stopTimeout.
func stopBounded(srv *server.BgpServer, log *slog.Logger) {
	done := make(chan struct{})
	go func() {
		defer close(done)
		ctx, cancel := context.WithTimeout(context.Background(), stopTimeout)
		defer cancel()
		_ = srv.StopBgp(ctx, &api.StopBgpRequest{})
	}()
	select {
	case <-done:
	case <-time.After(stopTimeout):
		log.Warn("bgp speaker still stopping after the timeout; not waiting", "timeout", stopTimeout)
	}
}

// UpdatePeers applies a new peer list at run time: removed peers are closed
// and their routes purged, new ones added, changed ones re-created. The
// speaker's own asn, router_id and listen cannot change without a restart.
func (s *Speaker) UpdatePeers(ctx context.Context, cfg BGPConfig) error {
	if err := cfg.Validate(); err != nil {
		return fmt.Errorf("routes.bgp: %w", err)
	}
	s.mu.Lock()
	old := s.cfg
	s.mu.Unlock()
	if cfg.ASN != old.ASN || cfg.RouterID != old.RouterID || cfg.Listen != old.Listen || cfg.Implementation != old.Implementation {
		return errors.New("routes.bgp: asn, router_id, listen and implementation cannot change without a restart")
	}
	if s.srv == nil && s.nat == nil {
		s.mu.Lock()
		s.cfg = cfg
		s.mu.Unlock()
		return nil
	}
	want := make(map[netip.Addr]PeerConfig, len(cfg.Peers))
	for _, p := range cfg.Peers {
		want[netip.MustParseAddr(p.Address)] = p
	}
	var errs []error
	for _, p := range old.Peers {
		a := netip.MustParseAddr(p.Address)
		if np, ok := want[a]; ok && np == p {
			delete(want, a) // unchanged
			continue
		}
		if err := s.deletePeer(ctx, a); err != nil {
			errs = append(errs, err)
		}
	}
	for _, p := range cfg.Peers {
		if _, ok := want[netip.MustParseAddr(p.Address)]; ok {
			if err := s.addPeer(ctx, p); err != nil {
				errs = append(errs, err)
			}
		}
	}
	s.mu.Lock()
	s.cfg = cfg
	s.mu.Unlock()
	return errors.Join(errs...)
}

func (s *Speaker) addPeer(ctx context.Context, p PeerConfig) error {
	if s.nat != nil {
		s.mu.Lock()
		s.addNativePeerLocked(p)
		s.mu.Unlock()
		return nil
	}
	a := netip.MustParseAddr(p.Address)
	tr := &api.Transport{RemotePort: uint32(p.port()), PassiveMode: p.Passive}
	switch {
	case p.LocalAddress != "":
		tr.LocalAddress = p.LocalAddress
	case s.cfg.Listen != "":
		if ap, err := parseListen(s.cfg.Listen); err == nil && ap.Addr().Unmap().Is4() == a.Unmap().Is4() &&
			!ap.Addr().IsUnspecified() {
			tr.LocalAddress = ap.Addr().String()
		}
	}
	fam := func(afi api.Family_Afi) *api.AfiSafi {
		return &api.AfiSafi{Config: &api.AfiSafiConfig{
			Family: &api.Family{Afi: afi, Safi: api.Family_SAFI_UNICAST}, Enabled: true}}
	}
	s.mu.Lock()
	s.peers[a] = &peerInfo{addr: a, cfg: p, src: "bgp " + a.String()}
	s.mu.Unlock()
	err := s.srv.AddPeer(ctx, &api.AddPeerRequest{Peer: &api.Peer{
		Conf:      &api.PeerConf{NeighborAddress: a.String(), PeerAsn: p.ASN, Description: p.Datacenter},
		Transport: tr,
		AfiSafis:  []*api.AfiSafi{fam(api.Family_AFI_IP), fam(api.Family_AFI_IP6)},
		// Routers are often not directly connected to the GSLB host.
		EbgpMultihop: &api.EbgpMultihop{Enabled: true, MultihopTtl: 255},
		Timers: &api.Timers{Config: &api.TimersConfig{
			ConnectRetry: connectRetry, HoldTime: holdTime, KeepaliveInterval: holdTime / 3,
		}},
	}})
	if err != nil {
		s.mu.Lock()
		delete(s.peers, a)
		s.mu.Unlock()
		return fmt.Errorf("add peer %s: %w", a, err)
	}
	return nil
}

func (s *Speaker) deletePeer(ctx context.Context, a netip.Addr) error {
	if s.nat != nil {
		s.deleteNativePeer(ctx, a)
		return nil
	}
	s.mu.Lock()
	delete(s.peers, a)
	delete(s.state, a)
	s.mu.Unlock()
	err := s.srv.DeletePeer(ctx, &api.DeletePeerRequest{Address: a.String()})
	s.send(ctx, []event{{peer: a, down: true}})
	if err != nil {
		return fmt.Errorf("delete peer %s: %w", a, err)
	}
	return nil
}

// Peers returns the state of every configured peer, in config order. It
// reads the speaker's own record of session events and prefix counts (as of
// the last published Table) and never calls into gobgp, so it is cheap at
// any table size.
func (s *Speaker) Peers() []PeerState {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := time.Now()
	out := make([]PeerState, 0, len(s.cfg.Peers))
	for _, pc := range s.cfg.Peers {
		a := netip.MustParseAddr(pc.Address)
		ps := PeerState{Address: a, ASN: pc.ASN, Datacenter: pc.Datacenter, State: "idle", Prefixes: s.counts[a], Stale: s.staleCounts[a]}
		if st, ok := s.state[a]; ok {
			ps.State, ps.LastError = st.state, st.lastErr
			if !st.since.IsZero() {
				ps.Uptime = now.Sub(st.since).Round(time.Second)
			}
		}
		out = append(out, ps)
	}
	return out
}

// onPaths runs on gobgp's watcher goroutine: convert and hand over.
func (s *Speaker) onPaths(ctx context.Context, paths []*apiutil.Path) {
	evs := make([]event, 0, len(paths))
	for _, p := range paths {
		nlri, ok := p.Nlri.(*bgp.IPAddrPrefix)
		if !ok || !p.PeerAddress.IsValid() {
			continue
		}
		ev := event{peer: p.PeerAddress.Unmap(), prefix: nlri.Prefix, withdraw: p.Withdrawal}
		if !ev.withdraw {
			ev.pathLen = asPathLen(p.Attrs)
		}
		evs = append(evs, ev)
	}
	if len(evs) > 0 {
		s.send(ctx, evs)
	}
}

// asPathLen is the AS-path length as BGP's decision process counts it:
// every AS of an AS_SEQUENCE, 1 per AS_SET, 0 for confederation segments.
func asPathLen(attrs []bgp.PathAttributeInterface) int {
	n := 0
	for _, a := range attrs {
		if ap, ok := a.(*bgp.PathAttributeAsPath); ok {
			for _, seg := range ap.Value {
				n += seg.ASLen()
			}
		}
	}
	return n
}

func (s *Speaker) onPeer(ctx context.Context, ev *apiutil.WatchEventMessage_PeerEvent) {
	if ev.Type != apiutil.PEER_EVENT_STATE {
		return
	}
	st := ev.Peer.State
	a := st.NeighborAddress.Unmap()
	ss := sessionState{state: fsmStateName(st.SessionState)}
	if st.SessionState == bgp.BGP_FSM_ESTABLISHED {
		ss.since = time.Now()
	}
	s.mu.Lock()
	pc, ok := s.peers[a]
	prev := s.state[a]
	ss.lastErr = prev.lastErr
	lost := ok && prev.state == "established" && st.SessionState != bgp.BGP_FSM_ESTABLISHED
	if lost {
		ss.lastErr = downReason(st.DisconnectReason.String())
	}
	if ok {
		s.state[a] = ss
	}
	s.mu.Unlock()
	if lost { // not seen through gobgp's "Peer Down" log line first
		s.log.Warn("bgp session down; its routes are withdrawn", "peer", a, "datacenter", pc.cfg.Datacenter, "reason", ss.lastErr)
	}
	if ok {
		delete(s.eorSeen, a) // a new session sends its End-of-RIB again
	}
	if st.SessionState == bgp.BGP_FSM_ESTABLISHED {
		s.log.Info("bgp peer established", "peer", st.NeighborAddress)
		s.send(ctx, []event{{peer: a, up: true}})
	} else {
		s.log.Debug("bgp peer state", "peer", st.NeighborAddress, "state", st.SessionState.String())
		s.send(ctx, []event{{peer: a, down: true}})
	}
}

// onEoR runs on gobgp's watcher goroutine for each End-of-RIB a peer sends:
// once IPv4 and IPv6 unicast (the families every peer is configured with)
// have both had theirs, the peer is in sync. A peer that negotiates only
// one of them stays stale until stale_timeout with this implementation.
func (s *Speaker) onEoR(ctx context.Context, p *apiutil.Path) {
	a := p.PeerAddress.Unmap()
	if p.Family != bgp.RF_IPv4_UC && p.Family != bgp.RF_IPv6_UC {
		return
	}
	s.mu.Lock()
	if s.eorSeen == nil {
		s.eorSeen = make(map[netip.Addr]map[bgp.Family]bool)
	}
	seen := s.eorSeen[a]
	if seen == nil {
		seen = make(map[bgp.Family]bool)
		s.eorSeen[a] = seen
	}
	seen[p.Family] = true
	done := len(seen) == 2
	s.mu.Unlock()
	if done {
		s.log.Debug("bgp peer sent End-of-RIB for every family", "peer", a)
		s.send(ctx, []event{{peer: a, eor: true}})
	}
}

// sessionDown runs on gobgp's session goroutine the moment peer a's session
// leaves Established (see libLogger): record it and purge the peer's routes
// now rather than after gobgp has dropped its own copy of them.
func (s *Speaker) sessionDown(ctx context.Context, a netip.Addr, reason string) {
	s.mu.Lock()
	pc, ok := s.peers[a]
	was := s.state[a].state
	if ok {
		s.state[a] = sessionState{state: "idle", lastErr: downReason(reason)}
	}
	s.mu.Unlock()
	if ok && was == "established" {
		s.log.Warn("bgp session down; its routes are withdrawn", "peer", a, "datacenter", pc.cfg.Datacenter, "reason", downReason(reason))
	}
	s.send(ctx, []event{{peer: a, down: true}})
}

// downReason is gobgp's reason for a session going down, for people.
func downReason(reason string) string {
	if reason == "" {
		return "session closed"
	}
	return reason
}

// fsmStateName is the lower-case state name Peers reports.
func fsmStateName(st bgp.FSMState) string {
	switch st {
	case bgp.BGP_FSM_IDLE:
		return "idle"
	case bgp.BGP_FSM_CONNECT:
		return "connect"
	case bgp.BGP_FSM_ACTIVE:
		return "active"
	case bgp.BGP_FSM_OPENSENT:
		return "opensent"
	case bgp.BGP_FSM_OPENCONFIRM:
		return "openconfirm"
	case bgp.BGP_FSM_ESTABLISHED:
		return "established"
	}
	return "idle"
}

func (s *Speaker) send(ctx context.Context, evs []event) {
	select {
	case s.events <- evs:
	case <-ctx.Done():
	}
}

// run owns the RIB: it applies events and publishes tables.
func (s *Speaker) run(ctx context.Context) {
	defer close(s.done)
	r := newRIB()
	timer := time.NewTimer(time.Hour)
	timer.Stop()
	var first time.Time // first unpublished change; zero when none
	// down holds peers whose session has dropped: updates from them that
	// were still queued when the drop was seen are ignored until the peer
	// is established again.
	down := make(map[netip.Addr]bool)
	maxDelay := s.deb.maxDelay
	// After a large feed, what its publications freed (earlier tables, the
	// dirty set) goes back to the OS once the feed has been quiet for
	// releaseAfter: the runtime would keep it for minutes, and a full
	// table's feed leaves about as much free heap as the table itself.
	release := time.AfterFunc(time.Hour, debug.FreeOSMemory)
	release.Stop()
	defer release.Stop()
	publish := func() {
		start := time.Now()
		t := r.publish()
		if r.large {
			release.Reset(releaseAfter)
		}
		first = time.Time{}
		counts := make(map[netip.Addr]int, len(r.counts))
		for a, n := range r.counts {
			counts[a] = n
		}
		staleCounts := make(map[netip.Addr]int)
		staleN := 0
		for i, sp := range r.slots {
			if sp != nil && sp.stale && r.nslot[i] > 0 {
				staleCounts[sp.addr] += r.nslot[i]
				staleN += r.nslot[i]
			}
		}
		s.mu.Lock()
		s.counts, s.staleCounts = counts, staleCounts
		s.stale.Routes, s.stale.Stale = staleN, staleN > 0
		s.mu.Unlock()
		if t == nil {
			return
		}
		s.cur.Store(t)
		s.pubSeq.Add(1)
		took := time.Since(start)
		maxDelay = max(s.deb.maxDelay, publishStretch*took)
		v4, v6 := t.Len()
		s.log.Debug("bgp routes published", "v4", v4, "v6", v6, "took", took)
		s.onChange()
		select {
		case s.cacheKick <- struct{}{}:
		default:
		}
	}

	// The table of the last run, stale until each peer has sent End-of-RIB.
	staleOf := s.loadCache(r)
	var staleTimer <-chan time.Time
	if len(staleOf) > 0 {
		s.savedSeq.Store(s.pubSeq.Load() + 1) // the file holds the table published now
		publish()
	}
	close(s.cacheRead)
	if len(staleOf) > 0 {
		st := time.NewTimer(time.Until(s.Stale().Until))
		defer st.Stop()
		staleTimer = st.C
	}
	// dropStale removes the cached routes of peer a (all peers when a is
	// not valid) and reports whether any were left.
	dropStale := func(a netip.Addr, why string) bool {
		n := r.purgeWhere(func(p *peerInfo) bool { return p.stale && (!a.IsValid() || p.addr == a) })
		if n > 0 {
			s.log.Info("bgp stale routes from the cache dropped", "peer", a, "routes", n, "why", why)
		}
		return n > 0
	}

	for {
		select {
		case <-ctx.Done():
			timer.Stop()
			return
		case <-timer.C:
			publish()
		case <-staleTimer:
			staleTimer = nil
			if dropStale(netip.Addr{}, "stale_timeout passed before End-of-RIB") {
				timer.Stop()
				publish()
			}
		case evs := <-s.events:
			now := time.Now()
			purged := false
			// A copy of the few configured peers, so that Peers never
			// waits for a batch (a purge of 1M routes) to be applied.
			s.mu.Lock()
			peers := maps.Clone(s.peers)
			s.mu.Unlock()
			for _, ev := range evs {
				switch {
				case ev.up:
					delete(down, ev.peer)
				case ev.eor:
					if dropStale(ev.peer, "End-of-RIB received") {
						purged = true
					}
				case ev.down:
					down[ev.peer] = true
					if n := r.purge(ev.peer, false); n > 0 {
						purged = true
						s.log.Info("bgp peer down, routes purged", "peer", ev.peer, "prefixes", n)
					}
					// The cached routes stay while the peer reconnects,
					// unless it is gone from the config or changed.
					if sp := staleOf[ev.peer]; sp != nil {
						if pi := peers[ev.peer]; pi == nil || pi.cfg != sp.cfg {
							if dropStale(ev.peer, "peer removed or changed") {
								purged = true
							}
						}
					}
				case ev.withdraw:
					r.withdraw(ev.peer, ev.prefix)
				case down[ev.peer]:
				default:
					if pi := peers[ev.peer]; pi != nil {
						r.update(pi, ev.prefix, ev.pathLen)
					}
				}
			}
			if len(r.dirty) == 0 {
				continue
			}
			if purged {
				timer.Stop()
				publish()
				continue
			}
			if first.IsZero() {
				first = now
			}
			timer.Reset(min(s.deb.quiet, max(0, maxDelay-now.Sub(first))))
		}
	}
}
