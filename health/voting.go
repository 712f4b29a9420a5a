package health

import (
	"net/netip"
	"time"
)

// VoteSource gives the verdicts the other vantage points (the other
// instances of a cluster) published on one (check, probed address). The
// runtime implements it over its cluster's snapshot; health knows no
// engine.
type VoteSource interface {
	Votes(check string, addr netip.Addr) []Vote
}

// Voting joins the Checker to other vantage points. The zero value (no
// Votes) is an instance alone: its own verdicts decide, as always.
type Voting struct {
	// Quorum is the rule for every check whose Vote is "".
	Quorum Quorum
	// Instance is this instance's name (its own votes, if a source
	// returns them, are ignored).
	Instance string
	// Votes returns the current remote votes; it is called each time the
	// view is built and must not block. nil: voting off.
	Votes func() VoteSource
	// Report receives this instance's verdict (its rise/fall state) on
	// (check, probed address) after every probe result; it must not
	// block. nil: nothing reported.
	Report func(check string, addr netip.Addr, up bool, now time.Time)
}

// SetVoting joins the Checker to other vantage points (or, with the zero
// Voting, leaves them) and rebuilds the view.
func (c *Checker) SetVoting(v Voting) {
	c.mu.Lock()
	c.voting = v
	c.publishLocked()
	c.mu.Unlock()
	c.changed()
}

// Refresh rebuilds the view: the remote votes changed.
func (c *Checker) Refresh() {
	c.mu.Lock()
	c.publishLocked()
	c.mu.Unlock()
	c.changed()
}

// quorumFor is the rule for probes of cfg.
func (v Voting) quorumFor(cfg CheckConfig) Quorum {
	q := v.Quorum
	if cfg.Vote == "" {
		return q
	}
	q.Rule, _ = ParseVoteRule(cfg.Vote) // validated with the config
	if q.Rule == RuleQuorum && q.Count == 0 && q.Fraction == 0 {
		q.Fraction = defaultQuorumFraction
	}
	return q
}

// defaultQuorumFraction is the threshold of a check's vote = "quorum" when
// the cluster sets none: a majority.
const defaultQuorumFraction = 0.51

// decide is the effective state of probe p, and the earliest moment it
// could change (zero: stable). With voting off it is p's own state.
//
// The TTL-while-in-doubt rule follows the effective state: an effective
// up is in doubt only while this instance's own up verdict is (a local
// down outvoted by the others does not shorten TTLs); an effective down
// is always in doubt, until this probe's next possible change or, when
// the others decided it, one interval (their next probes).
func (v Voting) decide(src VoteSource, p *probe, now time.Time) (Decision, bool, time.Time) {
	localUp := p.m.state != StateDown
	if src == nil {
		return Decision{}, localUp, p.deadline
	}
	q := v.quorumFor(p.cfg)
	local := Local{Instance: v.Instance, Known: p.m.state != StateUnknown, Up: localUp}
	d := Decide(q, local, src.Votes(p.key.check, p.key.addr), now)
	switch {
	case d.Up && localUp:
		return d, true, p.deadline
	case d.Up:
		return d, true, time.Time{}
	case !p.deadline.IsZero():
		return d, false, p.deadline
	}
	return d, false, now.Add(p.cfg.Interval.D())
}
