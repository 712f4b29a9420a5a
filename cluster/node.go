package cluster

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"
)

// Cluster is this instance's member of the cluster: it publishes this
// instance's verdicts and overrides through an Engine and keeps the
// Snapshot of everyone's. Create it with New, run it with Run.
type Cluster struct {
	cfg Config
	ttl time.Duration
	eng Engine
	log *slog.Logger

	snap     atomic.Pointer[Snapshot]
	changed  chan struct{} // capacity 1: a change since the last receive
	rejected atomic.Uint64

	mu      sync.Mutex
	pending map[addrKey]bool // verdicts to publish, latest wins
	sent    map[addrKey]sent // last published verdicts
	kick    chan struct{}    // capacity 1: pending or the link changed
	linkUp  bool
	// linkCtx ends when the link goes down, so that a put in flight on a
	// connection that died fails at once instead of holding the verdicts
	// queued behind it until its timeout.
	linkCtx    context.Context
	linkCancel context.CancelFunc
}

type sent struct {
	up bool
	at time.Time
}

// New returns a Cluster for cfg over e. Its Snapshot says "connecting" and
// holds nothing until Run has heard from the engine.
func New(cfg Config, e Engine, log *slog.Logger) *Cluster {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	c := &Cluster{
		cfg: cfg, ttl: cfg.TTL(), eng: e, log: log,
		changed: make(chan struct{}, 1),
		pending: map[addrKey]bool{},
		sent:    map[addrKey]sent{},
		kick:    make(chan struct{}, 1),
	}
	c.linkCtx, c.linkCancel = context.WithCancel(context.Background())
	c.linkCancel() // not up yet
	c.snap.Store(build(newState(), Link{State: LinkConnecting, Since: time.Now()}, cfg.Instance, c.ttl, 0, time.Now()))
	return c
}

// Open connects to the engine cfg names and returns the Cluster; call Run
// next. The engine need not be reachable: it is retried in the background.
func Open(cfg Config, log *slog.Logger) (*Cluster, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	switch cfg.Engine {
	case EngineNATS:
		e, err := NewNATS(cfg, log)
		if err != nil {
			return nil, err
		}
		return New(cfg, e, log), nil
	}
	return nil, fmt.Errorf("cluster: engine %q not supported", cfg.Engine)
}

// Snapshot returns the current snapshot; never nil. It does not lock.
func (c *Cluster) Snapshot() *Snapshot { return c.snap.Load() }

// Changed receives after the Snapshot changed (coalesced: one receive may
// stand for several changes). The runtime rebuilds its health view then.
func (c *Cluster) Changed() <-chan struct{} { return c.changed }

// Report queues this instance's verdict on (check, addr) for publishing;
// it never blocks. A verdict equal to the last published one is sent again
// only after TTL/3, which keeps it fresh while probes run.
func (c *Cluster) Report(check string, addr netip.Addr, up bool, now time.Time) {
	k := addrKey{check, addr}
	c.mu.Lock()
	if s, ok := c.sent[k]; ok && s.up == up && now.Sub(s.at) < c.ttl/3 {
		if _, queued := c.pending[k]; !queued {
			c.mu.Unlock()
			return
		}
	}
	c.pending[k] = up
	c.mu.Unlock()
	c.poke()
}

func (c *Cluster) poke() {
	select {
	case c.kick <- struct{}{}:
	default:
	}
}

// SetOverride publishes an override set on this instance (state clear
// removes it everywhere) and waits for the engine to store it. While the
// engine is away it returns ErrNotConnected: the caller applies the
// override locally anyway and says it did not reach the cluster.
func (c *Cluster) SetOverride(ctx context.Context, kind, key, state string, now time.Time) error {
	o := Override{Kind: kind, Key: key, State: state, Origin: c.cfg.Instance, At: now}
	if err := validOverride(o); err != nil {
		return err
	}
	return c.eng.PublishOverride(ctx, o)
}

// Close stops the engine; Run returns.
func (c *Cluster) Close() error { return c.eng.Close() }

// Run follows the engine and publishes queued verdicts until ctx ends or
// the engine is closed. It rebuilds the Snapshot on every batch of updates
// and when a verdict goes stale.
func (c *Cluster) Run(ctx context.Context) error {
	updates, err := c.eng.Watch(ctx)
	if err != nil {
		return err
	}
	var wg sync.WaitGroup
	pctx, stop := context.WithCancel(ctx)
	wg.Go(func() { c.publish(pctx) })
	defer func() { stop(); wg.Wait() }()

	cur, next := newState(), newState()
	syncing := false
	link := c.Snapshot().Link
	tick := time.NewTicker(max(c.ttl/10, 100*time.Millisecond))
	defer tick.Stop()
	for {
		dirty := false
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-tick.C:
			s := c.Snapshot()
			dirty = !s.expires.IsZero() && !time.Now().Before(s.expires)
		case u, ok := <-updates:
			if !ok {
				link = Link{State: LinkClosed, Since: time.Now()}
				c.publishSnapshot(cur, link)
				return nil
			}
			// Apply this update and every one already waiting, then build once.
		drain:
			for {
				dirty = c.apply(u, &cur, &next, &syncing, &link) || dirty
				select {
				case u, ok = <-updates:
					if !ok {
						link = Link{State: LinkClosed, Since: time.Now()}
						c.publishSnapshot(cur, link)
						return nil
					}
				default:
					break drain
				}
			}
		}
		if dirty {
			c.publishSnapshot(cur, link)
		}
	}
}

// apply folds one update into the state; it reports whether the Snapshot
// must be rebuilt.
func (c *Cluster) apply(u Update, cur, next *state, syncing *bool, link *Link) bool {
	st := cur
	if *syncing {
		st = next
	}
	switch u.Kind {
	case UpdateResync:
		*syncing = true
		*next = newState()
		return false
	case UpdateSynced:
		if *syncing {
			*cur, *syncing = *next, false
		}
		return true
	case UpdateLink:
		was := link.State
		*link = u.Link
		c.linkChanged(was, u.Link)
		return true
	case UpdateRejected:
		c.rejected.Add(1)
		return true // shows the count; during a resync the old state is kept
	case UpdateVerdict:
		st.verdicts[verdictKeyOf(u.Verdict)] = u.Verdict
	case UpdateVerdictGone:
		delete(st.verdicts, verdictKeyOf(u.Verdict))
	case UpdateOverride:
		st.overrides[overrideKeyOf(u.Override)] = u.Override
	case UpdateOverrideGone:
		delete(st.overrides, overrideKeyOf(u.Override))
	default:
		return false
	}
	return !*syncing
}

func (c *Cluster) linkChanged(was LinkState, l Link) {
	if was == l.State {
		return
	}
	switch l.State {
	case LinkUp:
		if was == LinkDown {
			c.log.Warn("cluster: engine back, in sync again", "cluster", c.cfg.Name)
		} else {
			c.log.Info("cluster: joined", "cluster", c.cfg.Name)
		}
	case LinkDown:
		c.log.Warn("cluster: engine lost; deciding on local verdicts and the last known overrides until it is back",
			"cluster", c.cfg.Name, "err", l.Err)
	}
	c.mu.Lock()
	c.linkUp = l.State == LinkUp
	c.linkCancel()
	if c.linkUp {
		c.linkCtx, c.linkCancel = context.WithCancel(context.Background())
		// Verdicts may have expired in the engine while away: send every
		// one again with the next Report.
		clear(c.sent)
	}
	c.mu.Unlock()
	c.poke()
}

func (c *Cluster) publishSnapshot(st state, link Link) {
	c.snap.Store(build(st, link, c.cfg.Instance, c.ttl, c.rejected.Load(), time.Now()))
	select {
	case c.changed <- struct{}{}:
	default:
	}
}

// publish sends queued verdicts while the link is up.
func (c *Cluster) publish(ctx context.Context) {
	var retry <-chan time.Time // after a failed put
	for {
		select {
		case <-ctx.Done():
			return
		case <-c.kick:
		case <-retry:
			retry = nil
		}
		c.mu.Lock()
		if !c.linkUp || len(c.pending) == 0 {
			c.mu.Unlock()
			continue
		}
		batch := c.pending
		c.pending = map[addrKey]bool{}
		lctx := c.linkCtx
		// Count them as sent now, so that a Report of the same state while
		// the put is in flight is not queued again (and one of another
		// state is); a failed put is undone below.
		now := time.Now()
		for k, up := range batch {
			c.sent[k] = sent{up, now}
		}
		c.mu.Unlock()
		failed := false
		for k, up := range batch {
			v := Verdict{Instance: c.cfg.Instance, Site: c.cfg.Site, Check: k.check, Address: k.addr, Up: up, At: now}
			pctx, cancel := context.WithTimeout(ctx, c.putTimeout())
			stopLink := context.AfterFunc(lctx, cancel)
			err := c.eng.PublishVerdict(pctx, v)
			stopLink()
			cancel()
			if err != nil {
				c.mu.Lock()
				if _, newer := c.pending[k]; !newer {
					delete(c.sent, k)
					c.pending[k] = up // retried when the link is back
				}
				c.mu.Unlock()
			}
			if err != nil && !errors.Is(err, ErrNotConnected) && ctx.Err() == nil {
				c.log.Debug("cluster: publish verdict", "check", k.check, "address", k.addr, "err", err)
			}
			failed = failed || err != nil
		}
		if failed && retry == nil {
			// The link coming back pokes too; this covers a put that
			// failed on a link that looked up (JetStream still starting).
			retry = time.After(retryWait)
		}
	}
}

// putTimeout bounds one verdict put: half the TTL, between 1 s and 5 s. A
// put on a healthy link takes milliseconds; one that takes longer than
// this would land too late to matter, and its retry carries a fresh time.
func (c *Cluster) putTimeout() time.Duration {
	return min(max(c.ttl/2, time.Second), 5*time.Second)
}

// retryWait is the pause before failed verdict puts are tried again.
const retryWait = time.Second
