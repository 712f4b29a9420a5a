package health

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"math/rand/v2"
	"net/netip"
	"reflect"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/godwit-dns/godwit/internal/atomicfile"
)

// ErrOverrides marks an error in the overrides state file; Update returns it
// after applying the checks and targets, keeping the previous overrides.
var ErrOverrides = errors.New("overrides")

// Target is one answerable address to be judged by a check.
type Target struct {
	Check      string     // check name; "" = not checked (overrides still apply)
	Datacenter string     // the datacenter the address serves
	Addr       netip.Addr // the answered address: what View.Lookup is asked about
	ProbeAddr  netip.Addr // the address probed; the zero Addr means Addr
}

// ProbeInfo describes one probe for the status page.
type ProbeInfo struct {
	Check       string       `json:"check"`
	Type        string       `json:"type"`
	Addr        netip.Addr   `json:"address"`     // the address probed
	Answers     []netip.Addr `json:"answers"`     // answered addresses judged by this probe
	Datacenters []string     `json:"datacenters"` // sorted
	State       State        `json:"state"`
	HasResult   bool         `json:"has_result"`
	LastOK      bool         `json:"last_ok"`
	LastError   string       `json:"last_error,omitempty"`
	// CannotStart: the last probe could not even start (no file
	// descriptor left for its socket or process); its result is unknown
	// and did not count towards rise or fall.
	CannotStart bool          `json:"cannot_start,omitempty"`
	Latency     time.Duration `json:"latency_ns"`
	LastProbe   time.Time     `json:"last_probe"`
	NextProbe   time.Time     `json:"next_probe"`
	LastChange  time.Time     `json:"last_change"`
	Successes   int           `json:"successes"` // consecutive
	Failures    int           `json:"failures"`  // consecutive
	Rise        int           `json:"rise"`
	Fall        int           `json:"fall"`
	Interval    time.Duration `json:"interval_ns"`
	// Decision is the effective state from every vantage point's verdict
	// and the rule that decided it; nil without a cluster (Voting).
	Decision *Decision `json:"decision,omitempty"`
}

// Checker runs the probes and publishes a View after every change. Every
// distinct (check, probed address) pair is probed once, however many targets
// use it. Probes run every interval ±10% (measured from the end of one probe
// to the start of the next), the first one at once.
type Checker struct {
	log      *slog.Logger
	met      *metrics
	onChange func()
	now      func() time.Time // a fake clock in tests
	view     atomic.Pointer[View]

	updMu     sync.Mutex // serialises Update
	mu        sync.Mutex
	checks    map[string]checkEntry
	probes    map[probeKey]*probe
	answers   map[viewKey]probeKey // answered address -> its probe
	stateFile string
	ov        overrides
	lim       Limits // on the state file
	known     known  // what the targets of the last Update have
	knownOnly bool   // see RestrictOverrides
	voting    Voting // see SetVoting
	decisions map[probeKey]Decision
	ctx       context.Context // set by Start
	stop      context.CancelFunc
	stopped   bool
	wg        sync.WaitGroup
}

type checkEntry struct {
	cfg    CheckConfig
	prober prober
}

type probeKey struct {
	check string
	addr  netip.Addr // probed
}

type probe struct {
	key    probeKey
	cfg    CheckConfig
	dcs    []string
	prober prober
	first  chan struct{} // closed at the first result

	// Guarded by Checker.mu.
	cancel    context.CancelFunc // nil until launched
	stale     bool               // replaced or removed: results are dropped
	m         machine
	hasResult bool
	lastOK    bool
	lastErr   string
	noStart   bool // the last probe could not start: see ProbeInfo.CannotStart
	latency   time.Duration
	lastAt    time.Time
	nextAt    time.Time
	deadline  time.Time // earliest possible change; zero = stable
}

func (p *probe) updateDeadline() {
	p.deadline = p.m.changeDeadline(p.cfg.Rise, p.cfg.Fall, p.nextAt, p.cfg.Interval.D())
}

// New returns a Checker with no probes. Metrics are registered on reg (nil:
// not registered). onChange, if not nil, is called after a View is published
// in which a state or an override changed; it may be called from several
// goroutines at once and must not block.
func New(logger *slog.Logger, reg prometheus.Registerer, onChange func()) *Checker {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	return &Checker{
		log:      logger,
		met:      newMetrics(reg),
		onChange: onChange,
		now:      time.Now,
		checks:   map[string]checkEntry{},
		probes:   map[probeKey]*probe{},
		answers:  map[viewKey]probeKey{},
	}
}

// View returns the current snapshot; nil (everything up) before the first
// Update.
func (c *Checker) View() *View { return c.view.Load() }

// Update reconciles the probes with a new config: probes of new (check,
// address) pairs start, removed ones stop, unchanged ones keep running with
// their state. A probe whose check or datacenters changed restarts; it keeps
// showing its last state until its first new result, which decides directly.
// A bad check or target changes nothing. The state file (stateFile; "" = none)
// is re-read; if it does not parse, the checks and targets are still applied,
// the previous overrides kept, and the error (wrapping ErrOverrides) returned.
func (c *Checker) Update(checks []CheckConfig, targets []Target, stateFile string) error {
	c.updMu.Lock()
	defer c.updMu.Unlock()
	cfgs, answers, dcs, err := planTargets(checks, targets)
	if err != nil {
		return err
	}

	// Build the probers of new and changed checks outside the lock.
	c.mu.Lock()
	old := c.checks
	c.mu.Unlock()
	entries := make(map[string]checkEntry, len(cfgs))
	for name, cfg := range cfgs {
		if e, ok := old[name]; ok && reflect.DeepEqual(e.cfg, cfg) {
			entries[name] = e
			continue
		}
		pr, err := newProber(cfg)
		if err != nil {
			return err
		}
		entries[name] = checkEntry{cfg: cfg, prober: pr}
	}

	c.mu.Lock()
	lim := c.lim
	c.mu.Unlock()
	kn := knownOf(targets)
	ov, ovErr := readOverrides(stateFile, lim)
	if ovErr != nil {
		ovErr = fmt.Errorf("%w: %w", ErrOverrides, ovErr)
	} else {
		ov = c.restrict(ov, kn, stateFile)
	}

	c.mu.Lock()
	now := c.now()
	replaced := map[probeKey]*probe{}
	for k, p := range c.probes {
		d, want := dcs[k]
		if want {
			if e := entries[k.check]; e.prober == p.prober && slices.Equal(d, p.dcs) {
				continue // unchanged: keeps running
			}
			replaced[k] = p
		}
		p.stale = true
		if p.cancel != nil {
			p.cancel()
		}
		delete(c.probes, k)
		c.met.state.DeleteLabelValues(k.check, k.addr.String())
	}
	for k, d := range dcs {
		if _, ok := c.probes[k]; ok {
			continue
		}
		e := entries[k.check]
		p := &probe{key: k, cfg: e.cfg, dcs: d, prober: e.prober, first: make(chan struct{}), nextAt: now}
		if prev := replaced[k]; prev != nil && prev.m.state != StateUnknown {
			p.m = machine{state: prev.m.state, fresh: true, lastChange: prev.m.lastChange}
			c.met.state.WithLabelValues(k.check, k.addr.String()).Set(stateValue(p.m.state))
		} else {
			c.met.state.WithLabelValues(k.check, k.addr.String()).Set(stateValue(StateUnknown))
		}
		p.updateDeadline()
		c.probes[k] = p
		if c.ctx != nil && !c.stopped {
			c.launch(p)
		}
	}
	for name, e := range old {
		if entries[name].prober != e.prober {
			e.prober.close()
		}
		if _, ok := entries[name]; !ok {
			c.met.up.DeleteLabelValues(name)
		}
	}
	c.checks = entries
	for name := range entries {
		c.updateUpGaugeLocked(name)
	}
	c.answers = answers
	c.stateFile = stateFile
	c.known = kn
	if ovErr == nil {
		c.ov = ov
	}
	c.publishLocked()
	c.mu.Unlock()
	c.changed()
	return ovErr
}

// Start launches the probes; they stop when ctx ends or Stop is called.
func (c *Checker) Start(ctx context.Context) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.ctx != nil || c.stopped {
		return
	}
	c.ctx, c.stop = context.WithCancel(ctx)
	for _, p := range c.probes {
		c.launch(p)
	}
}

// Stop stops every probe and waits for them.
func (c *Checker) Stop() {
	c.mu.Lock()
	c.stopped = true
	if c.stop != nil {
		c.stop()
	}
	c.mu.Unlock()
	c.wg.Wait()
	c.mu.Lock()
	for _, e := range c.checks {
		e.prober.close()
	}
	c.mu.Unlock()
}

// firstRoundSlack is added to the longest timeout in WaitFirstRound.
const firstRoundSlack = 250 * time.Millisecond

// WaitFirstRound returns when every probe has had its first result, or when
// the longest check timeout (plus a little) has passed, whichever is first;
// probes still without a result count as up. It returns ctx's error if ctx
// ends first.
func (c *Checker) WaitFirstRound(ctx context.Context) error {
	c.mu.Lock()
	var wait []chan struct{}
	var longest time.Duration
	for _, p := range c.probes {
		wait = append(wait, p.first)
		longest = max(longest, p.cfg.Timeout.D())
	}
	c.mu.Unlock()
	t := time.NewTimer(longest + firstRoundSlack)
	defer t.Stop()
	for i, ch := range wait {
		select {
		case <-ch:
		case <-t.C:
			c.log.Warn("health: first round incomplete", "pending", len(wait)-i)
			return nil
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	return nil
}

func (c *Checker) launch(p *probe) {
	ctx, cancel := context.WithCancel(c.ctx)
	p.cancel = cancel
	c.wg.Add(1)
	go func() {
		defer c.wg.Done()
		c.run(ctx, p)
	}()
}

// run probes p until ctx ends: the first probe at once, then every interval
// ±10% after the previous result.
func (c *Checker) run(ctx context.Context, p *probe) {
	t := time.NewTimer(0)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		start := time.Now()
		pctx, cancel := context.WithTimeout(ctx, p.cfg.Timeout.D())
		err := p.prober.probe(pctx, p.key.addr, p.dcs)
		cancel()
		if ctx.Err() != nil {
			return // stopped mid-probe: the result means nothing
		}
		delay := jittered(p.cfg.Interval.D())
		c.record(p, err, time.Since(start), delay)
		t.Reset(delay)
	}
}

func jittered(d time.Duration) time.Duration {
	return time.Duration(float64(d) * (1 - jitter + 2*jitter*rand.Float64()))
}

// record feeds one result to p's state machine, with the next probe due
// after delay, and publishes a new View if anything a query sees changed.
func (c *Checker) record(p *probe, err error, latency, delay time.Duration) {
	if cannotStart(err) {
		c.recordUnknown(p, err, delay)
		return
	}
	c.mu.Lock()
	if p.stale {
		c.mu.Unlock()
		return
	}
	now := c.now()
	ok := err == nil
	p.noStart = false
	prev := p.m.state
	changed := p.m.observe(ok, p.cfg.Rise, p.cfg.Fall, now)
	p.hasResult, p.lastOK, p.latency, p.lastAt = true, ok, latency, now
	p.lastErr = ""
	if err != nil {
		p.lastErr = err.Error()
	}
	p.nextAt = now.Add(delay)
	oldDeadline := p.deadline
	p.updateDeadline()
	first := false
	select {
	case <-p.first:
	default:
		close(p.first)
		first = true
	}

	result := "ok"
	if !ok {
		result = "fail"
	}
	c.met.probes.WithLabelValues(p.cfg.Type, result).Inc()
	c.met.duration.WithLabelValues(p.cfg.Type).Observe(latency.Seconds())
	if changed {
		c.met.state.WithLabelValues(p.key.check, p.key.addr.String()).Set(stateValue(p.m.state))
		c.updateUpGaugeLocked(p.key.check)
		if prev != StateUnknown {
			c.met.transitions.WithLabelValues(p.key.check).Inc()
		}
	}
	if changed || first || !p.deadline.Equal(oldDeadline) {
		c.publishLocked()
	}
	to, lastErr := p.m.state, p.lastErr
	report := c.voting.Report
	c.mu.Unlock()
	if report != nil && to != StateUnknown {
		report(p.key.check, p.key.addr, to != StateDown, now)
	}

	if changed {
		level := slog.LevelInfo
		if prev == StateUnknown && ok {
			level = slog.LevelDebug
		}
		c.log.Log(context.Background(), level, "health: state changed",
			"check", p.key.check, "address", p.key.addr, "from", prev, "to", to, "error", lastErr)
		c.changed()
	} else if c.log.Enabled(context.Background(), slog.LevelDebug) {
		c.log.Debug("health: probe", "check", p.key.check, "address", p.key.addr, "ok", ok, "error", err, "latency", latency)
	}
}

// cannotStart reports whether a probe failed before it reached its target
// because the process is out of file descriptors: it could not open its
// socket or start its command. That says nothing about the target.
func cannotStart(err error) bool {
	return errors.Is(err, syscall.EMFILE) || errors.Is(err, syscall.ENFILE)
}

// recordUnknown records a probe that could not start: the state machine
// does not see it (the target is neither more up nor more down than
// before), the next probe is scheduled as usual, and the first occurrence
// in a row is logged.
func (c *Checker) recordUnknown(p *probe, err error, delay time.Duration) {
	c.mu.Lock()
	if p.stale {
		c.mu.Unlock()
		return
	}
	now := c.now()
	logIt := !p.noStart
	p.noStart = true
	p.lastErr = err.Error()
	p.lastAt = now
	p.nextAt = now.Add(delay)
	oldDeadline := p.deadline
	p.updateDeadline()
	first := false
	select {
	case <-p.first:
	default:
		close(p.first) // startup must not wait on a probe that cannot run
		first = true
	}
	c.met.probes.WithLabelValues(p.cfg.Type, "unknown").Inc()
	if first || !p.deadline.Equal(oldDeadline) {
		c.publishLocked()
	}
	c.mu.Unlock()
	if logIt {
		c.log.Warn("health: probe could not start; its result is unknown and the state is kept",
			"check", p.key.check, "address", p.key.addr, "error", err)
	}
}

func (c *Checker) changed() {
	if c.onChange != nil {
		c.onChange()
	}
}

func (c *Checker) updateUpGaugeLocked(check string) {
	n := 0
	for k, p := range c.probes {
		if k.check == check && p.m.state == StateUp {
			n++
		}
	}
	c.met.up.WithLabelValues(check).Set(float64(n))
}

// publishLocked builds and stores a new View. c.mu must be held.
func (c *Checker) publishLocked() {
	v := &View{probes: make(map[viewKey]viewEntry, len(c.answers)), addrOv: c.ov.addr, dcOv: c.ov.dc}
	var src VoteSource
	if c.voting.Votes != nil {
		src = c.voting.Votes()
	}
	now := c.now()
	entries := make(map[probeKey]viewEntry, len(c.probes))
	decisions := map[probeKey]Decision{}
	for pk, p := range c.probes {
		d, up, deadline := c.voting.decide(src, p, now)
		if src != nil {
			decisions[pk] = d
		}
		e := viewEntry{up: up}
		if !deadline.IsZero() {
			e.deadline = deadline.UnixNano()
		}
		entries[pk] = e
	}
	for vk, pk := range c.answers {
		v.probes[vk] = entries[pk]
	}
	c.decisions = decisions
	c.view.Store(v)
}

// ReloadOverrides re-reads the state file. If it does not parse, the
// previous overrides stay and the error says file:line.
func (c *Checker) ReloadOverrides() error {
	c.mu.Lock()
	path, lim, kn := c.stateFile, c.lim, c.known
	c.mu.Unlock()
	ov, err := readOverrides(path, lim)
	if err != nil {
		return err
	}
	ov = c.restrict(ov, kn, path)
	c.mu.Lock()
	if c.stateFile != path {
		c.mu.Unlock()
		return nil // an Update read the new file meanwhile
	}
	c.ov = ov
	c.publishLocked()
	c.mu.Unlock()
	c.changed()
	return nil
}

// SetOverride sets (state up, down or drain) or removes (state clear) the
// override of an address (kind "address") or a datacenter (kind
// "datacenter"), and writes the state file atomically. If the file cannot be
// written, nothing changes. Without a state file the override lives in
// memory only.
func (c *Checker) SetOverride(kind, key, state string) error {
	return c.SetOverrideFrom(kind, key, state, "")
}

// SetOverrideFrom is SetOverride for an override set on another instance
// of a cluster, or published to it from here: origin names that instance
// ("" = set here, no cluster). The origin is shown with the override and
// kept in the state file.
func (c *Checker) SetOverrideFrom(kind, key, state, origin string) error {
	var st OverrideState
	clear := strings.EqualFold(state, "clear")
	if !clear {
		var err error
		if st, err = parseOverrideState(state); err != nil {
			return fmt.Errorf("override: %w", err)
		}
	}
	var addr netip.Addr
	switch kind {
	case KindAddress:
		a, err := netip.ParseAddr(key)
		if err != nil {
			return fmt.Errorf("override: %w", err)
		}
		addr = a.Unmap()
	case KindDatacenter:
		if !validDatacenter(key) {
			return fmt.Errorf("override: invalid datacenter name %q", key)
		}
	default:
		return fmt.Errorf("override: kind %q is not address or datacenter", kind)
	}

	c.mu.Lock()
	ov := c.ov.clone()
	// Set again, an entry that was not in force is in force now (the
	// caller knows the key): it leaves the unknown list.
	ov.unknown = slices.DeleteFunc(slices.Clone(ov.unknown), func(e Override) bool {
		return e.Kind == kind && (kind == KindDatacenter && e.Key == key || kind == KindAddress && e.Key == addr.String())
	})
	_, hasAddr := ov.addr[addr]
	_, hasDC := ov.dc[key]
	if !clear && ov.len() >= c.lim.withDefaults().Overrides && !(kind == KindAddress && hasAddr) && !(kind == KindDatacenter && hasDC) {
		c.mu.Unlock()
		return fmt.Errorf("override: %w: %d overrides already (health.max_overrides)", ErrTooManyOverrides, ov.len())
	}
	if ov.addr == nil {
		ov.addr = map[netip.Addr]OverrideState{}
	}
	if ov.dc == nil {
		ov.dc = map[string]OverrideState{}
	}
	okey := originKey(kind, key)
	if kind == KindAddress {
		okey = originKey(kind, addr.String())
	}
	if origin == "" || clear {
		if _, ok := ov.origin[okey]; ok {
			delete(ov.origin, okey)
		}
	} else {
		if ov.origin == nil {
			ov.origin = map[string]string{}
		}
		ov.origin[okey] = origin
	}
	switch {
	case kind == KindAddress && clear:
		delete(ov.addr, addr)
	case kind == KindAddress:
		ov.addr[addr] = st
	case clear:
		delete(ov.dc, key)
	default:
		ov.dc[key] = st
	}
	if c.stateFile != "" {
		if err := atomicfile.Write(c.stateFile, ov.format()); err != nil {
			c.mu.Unlock()
			return fmt.Errorf("override: writing state file: %w", err)
		}
	}
	c.ov = ov
	c.publishLocked()
	c.mu.Unlock()
	c.log.Info("health: override", "kind", kind, "key", key, "state", strings.ToLower(state), "origin", origin)
	c.changed()
	return nil
}

// RestrictOverrides puts in force, from the next Update or ReloadOverrides
// on, only the state file's overrides for addresses and datacenters that
// the targets given to Update have; each Update must then list every
// target, checked or not (Check ""), for its overrides to apply. The
// others stay in the file, not in force, and are logged. Without it every
// entry is in force (the count and size limits apply either way).
func (c *Checker) RestrictOverrides() {
	c.mu.Lock()
	c.knownOnly = true
	c.mu.Unlock()
}

// SetLimits sets the limits on the state file, applied from the next
// Update or ReloadOverrides on (zero fields: the defaults).
func (c *Checker) SetLimits(l Limits) {
	c.mu.Lock()
	c.lim = l.withDefaults()
	c.mu.Unlock()
}

// ErrTooManyOverrides is returned by SetOverride when the overrides are at
// their limit (health.max_overrides).
var ErrTooManyOverrides = errors.New("too many overrides")

// restrict keeps in force only the overrides for addresses and datacenters
// the targets have; the others stay in the state file, not in force, and
// are logged (the first few, as the file is the operator's to read).
func (c *Checker) restrict(ov overrides, kn known, path string) overrides {
	c.mu.Lock()
	on := c.knownOnly
	c.mu.Unlock()
	if !on {
		return ov
	}
	ov = ov.restrict(kn)
	if n := len(ov.unknown); n > 0 {
		keys := make([]string, 0, 5)
		for _, e := range ov.unknown[:min(n, 5)] {
			keys = append(keys, e.Key)
		}
		c.log.Warn("health: overrides for addresses or datacenters that no target has are not in force",
			"file", path, "count", n, "first", keys)
	}
	return ov
}

// Overrides lists the admin overrides in force, addresses first.
func (c *Checker) Overrides() []Override {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.ov.list()
}

// Probes describes every probe, sorted by check and address.
func (c *Checker) Probes() []ProbeInfo {
	c.mu.Lock()
	defer c.mu.Unlock()
	answers := map[probeKey][]netip.Addr{}
	for vk, pk := range c.answers {
		answers[pk] = append(answers[pk], vk.addr)
	}
	out := make([]ProbeInfo, 0, len(c.probes))
	for _, k := range slices.SortedFunc(maps.Keys(c.probes), func(a, b probeKey) int {
		return cmp.Or(strings.Compare(a.check, b.check), a.addr.Compare(b.addr))
	}) {
		p := c.probes[k]
		var dec *Decision
		if d, ok := c.decisions[k]; ok {
			dec = &d
		}
		ans := answers[k]
		slices.SortFunc(ans, netip.Addr.Compare)
		out = append(out, ProbeInfo{
			Check: k.check, Type: p.cfg.Type, Addr: k.addr,
			Answers: ans, Datacenters: slices.Clone(p.dcs),
			State: p.m.state, HasResult: p.hasResult, LastOK: p.lastOK, LastError: p.lastErr, CannotStart: p.noStart,
			Latency: p.latency, LastProbe: p.lastAt, NextProbe: p.nextAt, LastChange: p.m.lastChange,
			Successes: p.m.ok, Failures: p.m.fail,
			Rise: p.cfg.Rise, Fall: p.cfg.Fall, Interval: p.cfg.Interval.D(),
			Decision: dec,
		})
	}
	return out
}
