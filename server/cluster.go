package server

import (
	"context"
	"fmt"
	"log/slog"
	"net/netip"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/godwit-dns/godwit/cluster"
	"github.com/godwit-dns/godwit/health"
	"github.com/godwit-dns/godwit/status"
	"github.com/godwit-dns/godwit/zones"
)

// clusterLink joins this instance to the others of its [cluster]: it
// reports every probe verdict, builds the health view from everyone's
// votes, publishes the overrides set here and applies those set elsewhere.
// Without [cluster] the Server has none and decides alone.
type clusterLink struct {
	c    *cluster.Cluster
	cfg  cluster.Config
	hc   *health.Checker
	log  *slog.Logger
	stop context.CancelFunc
	wg   sync.WaitGroup

	mu          sync.Mutex
	applied     *cluster.Snapshot    // the snapshot whose overrides are applied
	unpublished map[[2]string]string // (kind, key) → state set here while the engine was away
	wasUp       bool
}

// startCluster opens the cluster of cfg, if any, and joins the health
// checker to it. It never waits for the engine.
func (s *Server) startCluster(ctx context.Context, cfg *Config) error {
	if !cfg.Cluster.Enabled() {
		return nil
	}
	log := s.log.With("subsystem", "cluster")
	c, err := cluster.Open(cfg.Cluster, log)
	if err != nil {
		return fmt.Errorf("cluster: %w", err)
	}
	rule, _ := health.ParseVoteRule(cfg.Cluster.Rule) // validated
	l := &clusterLink{c: c, cfg: cfg.Cluster, hc: s.health, log: log, unpublished: map[[2]string]string{}}
	ctx, l.stop = context.WithCancel(ctx)
	s.health.SetVoting(health.Voting{
		Quorum:   health.Quorum{Rule: rule, Count: cfg.Cluster.Quorum, Fraction: cfg.Cluster.QuorumFraction, TTL: cfg.Cluster.TTL()},
		Instance: cfg.Cluster.Instance,
		Votes:    func() health.VoteSource { return snapshotVotes{c.Snapshot()} },
		Report:   c.Report,
	})
	s.reg.MustRegister(
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "godwit_cluster_link_up",
			Help: "1 while the link to the cluster engine is up and in sync; 0 while this instance decides on its own verdicts.",
		}, func() float64 {
			if c.Snapshot().Link.State == cluster.LinkUp {
				return 1
			}
			return 0
		}),
		prometheus.NewCounterFunc(prometheus.CounterOpts{
			Name: "godwit_cluster_rejected_total",
			Help: "Values from the engine dropped: another cluster's or malformed.",
		}, func() float64 { return float64(c.Snapshot().Rejected) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "godwit_cluster_unpublished_overrides",
			Help: "Overrides set here while the engine was away, not yet published to the cluster.",
		}, func() float64 {
			l.mu.Lock()
			defer l.mu.Unlock()
			return float64(len(l.unpublished))
		}),
	)
	l.wg.Go(func() { _ = c.Run(ctx) })
	l.wg.Go(func() { l.follow(ctx) })
	s.cluster = l
	return nil
}

// close leaves the cluster; the verdicts this instance published expire.
func (l *clusterLink) close() {
	if l == nil {
		return
	}
	l.stop()
	_ = l.c.Close()
	l.wg.Wait()
}

// follow rebuilds the health view and applies the cluster's overrides on
// every change of the snapshot.
func (l *clusterLink) follow(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case <-l.c.Changed():
		}
		snap := l.c.Snapshot()
		l.applyOverrides(snap)
		if up := snap.Link.State == cluster.LinkUp; up {
			l.publishPending(ctx)
		}
		l.hc.Refresh()
	}
}

// applyOverrides puts what changed in the cluster's overrides since the
// last snapshot applied into the local override store, with its origin,
// without publishing it back.
func (l *clusterLink) applyOverrides(snap *cluster.Snapshot) {
	l.mu.Lock()
	prev := l.applied
	l.applied = snap
	l.mu.Unlock()
	if prev == nil && snap.Link.State != cluster.LinkUp {
		return // nothing known yet: keep the state file's
	}
	have := map[[2]string]health.Override{}
	for _, o := range l.hc.Overrides() {
		have[[2]string{o.Kind, o.Key}] = o
	}
	for _, o := range snap.Changes(prev) {
		cur, ok := have[[2]string{o.Kind, o.Key}]
		switch {
		case o.State == cluster.StateClear && !ok:
			continue
		case ok && cur.State.String() == o.State && cur.Origin == o.Origin:
			continue // set here and come back, or already applied
		}
		if err := l.hc.SetOverrideFrom(o.Kind, o.Key, o.State, o.Origin); err != nil {
			l.log.Warn("cluster: override from another instance not applied", "kind", o.Kind, "key", o.Key, "state", o.State, "origin", o.Origin, "err", err)
		}
	}
}

// setOverride publishes an override set here (the API, the state file) to
// the cluster. It is applied here by the caller in any case; while the
// engine is away it is kept and published when the link is back.
func (l *clusterLink) setOverride(ctx context.Context, kind, key, state string) error {
	err := l.c.SetOverride(ctx, kind, key, state, time.Now())
	l.mu.Lock()
	defer l.mu.Unlock()
	k := [2]string{kind, key}
	if err != nil {
		l.unpublished[k] = state
		l.log.Warn("cluster: override applied here only, not published to the cluster; it will be when the engine is back",
			"kind", kind, "key", key, "state", state, "err", err)
		return err
	}
	delete(l.unpublished, k)
	return nil
}

// publishPending publishes the overrides set while the engine was away.
func (l *clusterLink) publishPending(ctx context.Context) {
	l.mu.Lock()
	pending := make(map[[2]string]string, len(l.unpublished))
	for k, v := range l.unpublished {
		pending[k] = v
	}
	l.mu.Unlock()
	for k, state := range pending {
		pctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		err := l.c.SetOverride(pctx, k[0], k[1], state, time.Now())
		cancel()
		if err != nil {
			return // the next change retries
		}
		l.mu.Lock()
		if l.unpublished[k] == state {
			delete(l.unpublished, k)
		}
		l.mu.Unlock()
		l.log.Info("cluster: override set while the engine was away now published", "kind", k[0], "key", k[1], "state", state)
	}
}

// publishDiff publishes to the cluster the overrides that differ between
// before and after (a state file edited by hand): changes as they are
// now, removals as clear when removals is set (not after a config change,
// which may only have taken an override out of force). Entries the
// cluster already has as they are are not published back.
func (l *clusterLink) publishDiff(before, after []health.Override, removals bool) {
	if l == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	was := map[[2]string]health.Override{}
	for _, o := range before {
		was[[2]string{o.Kind, o.Key}] = o
	}
	for _, o := range after {
		k := [2]string{o.Kind, o.Key}
		p, ok := was[k]
		delete(was, k)
		if ok && p.State == o.State {
			continue
		}
		l.mu.Lock()
		applied := l.applied
		l.mu.Unlock()
		if co, in := applied.Override(o.Kind, o.Key); in && co.State == o.State.String() {
			continue
		}
		_ = l.setOverride(ctx, o.Kind, o.Key, o.State.String())
		_ = l.hc.SetOverrideFrom(o.Kind, o.Key, o.State.String(), l.cfg.Instance)
	}
	if !removals {
		return
	}
	for k := range was {
		_ = l.setOverride(ctx, k[0], k[1], cluster.StateClear)
	}
}

// snapshotVotes adapts a cluster snapshot to health.VoteSource.
type snapshotVotes struct{ s *cluster.Snapshot }

func (v snapshotVotes) Votes(check string, addr netip.Addr) []health.Vote {
	vs := v.s.Votes(check, addr)
	if len(vs) == 0 {
		return nil
	}
	out := make([]health.Vote, len(vs))
	for i, x := range vs {
		out[i] = health.Vote{Instance: x.Instance, Site: x.Site, Up: x.Up, At: x.At}
	}
	return out
}

// status describes the cluster for the status page and API; nil without
// one. Credentials never appear: only names, the link and the counts.
func (l *clusterLink) status(now time.Time) *status.ClusterStatus {
	if l == nil {
		return nil
	}
	snap := l.c.Snapshot()
	rule := l.cfg.Rule
	if rule == "" {
		rule = "local"
	}
	cs := &status.ClusterStatus{
		Engine: l.cfg.Engine, Name: l.cfg.Name, Instance: l.cfg.Instance, Site: l.cfg.Site,
		Rule: rule, Quorum: l.cfg.Quorum, QuorumFraction: l.cfg.QuorumFraction, VerdictTTL: l.cfg.TTL(),
		Link: snap.Link.State.String(), LinkSince: snap.Link.Since, LinkError: snap.Link.Err,
		Rejected: snap.Rejected,
	}
	l.mu.Lock()
	cs.Unpublished = len(l.unpublished)
	l.mu.Unlock()
	peers := map[string]bool{}
	for _, v := range snap.Verdicts() {
		peers[v.Instance] = true
	}
	cs.VantagePoints = len(peers)
	return cs
}

// votes lists every vantage point's fresh verdict on (check, addr), this
// instance's included, oldest instance name first.
func (l *clusterLink) votes(check string, addr netip.Addr, now time.Time) []status.VoteStatus {
	if l == nil {
		return nil
	}
	var out []status.VoteStatus
	for _, v := range l.c.Snapshot().Verdicts() {
		if v.Check != check || v.Address != addr {
			continue
		}
		st := status.StateUp
		if !v.Up {
			st = status.StateDown
		}
		out = append(out, status.VoteStatus{Instance: v.Instance, Site: v.Site, State: st, At: v.At, Age: now.Sub(v.At)})
	}
	return out
}

// warnings says what the operator must know about the cluster.
func (l *clusterLink) warnings(now time.Time) []string {
	if l == nil {
		return nil
	}
	var w []string
	snap := l.c.Snapshot()
	switch snap.Link.State {
	case cluster.LinkDown, cluster.LinkConnecting:
		msg := fmt.Sprintf("cluster %s: engine %s since %s; deciding on this instance's verdicts and the last known overrides",
			l.cfg.Name, snap.Link.State, now.Sub(snap.Link.Since).Round(time.Second))
		if snap.Link.Err != "" {
			msg += " (" + snap.Link.Err + ")"
		}
		w = append(w, msg)
	}
	l.mu.Lock()
	if n := len(l.unpublished); n > 0 {
		w = append(w, fmt.Sprintf("cluster %s: %d override(s) set here are not published to the other instances yet", l.cfg.Name, n))
	}
	l.mu.Unlock()
	return w
}

// explainVotes adds to each health line of e the rule that decided and
// which vantage points voted, as the live view has them.
func (l *clusterLink) explainVotes(e *zones.Explanation, probes []health.ProbeInfo, now time.Time) {
	if l == nil || e == nil || e.Service == nil {
		return
	}
	type key struct {
		check string
		addr  netip.Addr
	}
	byAnswer := map[key]health.ProbeInfo{}
	for _, p := range probes {
		for _, a := range p.Answers {
			byAnswer[key{p.Check, a}] = p
		}
	}
	for i := range e.Service.Health {
		h := &e.Service.Health[i]
		p, ok := byAnswer[key{h.Check, h.Address}]
		if !ok || p.Decision == nil {
			continue
		}
		var vs []string
		for _, v := range l.votes(p.Check, p.Addr, now) {
			site := ""
			if v.Site != "" {
				site = "@" + v.Site
			}
			vs = append(vs, fmt.Sprintf("%s%s %s %s ago", v.Instance, site, v.State, v.Age.Round(100*time.Millisecond)))
		}
		h.Votes = p.Decision.Reason
		if len(vs) > 0 {
			h.Votes += " [" + strings.Join(vs, ", ") + "]"
		}
	}
}
