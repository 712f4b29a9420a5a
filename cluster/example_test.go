package cluster_test

import (
	"context"
	"log/slog"
	"net/netip"
	"time"

	"github.com/godwit-dns/godwit/cluster"
	"github.com/godwit-dns/godwit/health"
)

// Example shows how the runtime wires a Cluster: open it from the
// [cluster] section, run it, report each probe's verdict, decide each
// address from the snapshot, and publish overrides. (Not run: it needs an
// engine.)
func Example() {
	var cfg cluster.Config // decoded from [cluster]; Validate() already called
	log := slog.Default()
	c, err := cluster.Open(cfg, log)
	if err != nil {
		log.Error("cluster", "err", err)
		return
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go c.Run(ctx)
	defer c.Close()

	rule, _ := health.ParseVoteRule(cfg.Rule)
	q := health.Quorum{Rule: rule, Count: cfg.Quorum, Fraction: cfg.QuorumFraction, TTL: cfg.TTL()}

	// After every rise/fall state of a probe (never blocks):
	addr := netip.MustParseAddr("192.0.2.10")
	c.Report("web", addr, false, time.Now())

	// When building the health view (at start, on each probe change, and on
	// every receive from c.Changed()):
	s := c.Snapshot()
	var votes []health.Vote
	for _, v := range s.Votes("web", addr) {
		votes = append(votes, health.Vote{Instance: v.Instance, Site: v.Site, Up: v.Up, At: v.At})
	}
	d := health.Decide(q, health.Local{Instance: cfg.Instance, Known: true, Up: false}, votes, time.Now())
	_ = d.Up     // the effective state the view holds for ("web", addr)
	_ = d.Reason // for the status page and explain

	// An override set through the API or the state file:
	if err := c.SetOverride(ctx, cluster.KindDatacenter, "ams", cluster.StateDrain, time.Now()); err != nil {
		log.Warn("override not published to the cluster; applied here only", "err", err)
	}
	// On every receive from c.Changed(), apply what changed to the local
	// override store (without publishing it back), keeping the origin:
	var prev *cluster.Snapshot // the snapshot applied last time
	for _, o := range s.Changes(prev) {
		_, _, _, _ = o.Kind, o.Key, o.State, o.Origin // State "clear" removes
	}
	// The status page: s.Link (state, since, error), s.Verdicts() (every
	// vantage point's verdict and its At), s.Rejected.
}
