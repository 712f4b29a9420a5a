package health

import (
	"errors"
	"fmt"
	"math"
	"time"
)

// VoteRule names how an instance turns the verdicts of every vantage point
// (every Godwit instance in a cluster, each probing from its own site) into
// the effective state of one (check, address).
type VoteRule uint8

// Vote rules. RuleLocal is the zero value: an instance without a cluster
// decides alone, as it always has.
const (
	RuleLocal  VoteRule = iota // this instance's own verdict only
	RuleQuorum                 // down when enough vantage points with fresh verdicts see it down
	RuleAny                    // down when any vantage point with a fresh verdict sees it down
)

var ruleNames = [...]string{RuleLocal: "local", RuleQuorum: "quorum", RuleAny: "any"}

func (r VoteRule) String() string {
	if int(r) < len(ruleNames) {
		return ruleNames[r]
	}
	return fmt.Sprintf("VoteRule(%d)", r)
}

// MarshalText writes the rule's name, for the status API.
func (r VoteRule) MarshalText() ([]byte, error) { return []byte(r.String()), nil }

// ParseVoteRule parses "local", "quorum" or "any"; "" is local.
func ParseVoteRule(s string) (VoteRule, error) {
	switch s {
	case "", "local":
		return RuleLocal, nil
	case "quorum":
		return RuleQuorum, nil
	case "any":
		return RuleAny, nil
	}
	return 0, fmt.Errorf("rule %q: want local, quorum or any", s)
}

// Quorum is the vote rule with its threshold and the freshness of remote
// votes. The zero value is the local rule.
type Quorum struct {
	Rule VoteRule
	// Count is the number of vantage points that must see an address down
	// (RuleQuorum, when Fraction is 0). When fewer vantage points than
	// Count have fresh verdicts, all of them must agree: the threshold is
	// min(Count, voters), so the rule slides into the local fallback as
	// instances vanish instead of never seeing an outage again.
	Count int
	// Fraction, in (0, 1], is the share of the vantage points with fresh
	// verdicts that must see an address down (RuleQuorum): the threshold is
	// ceil(Fraction × voters), at least 1. "At least" is meant literally, so
	// with 0.5 an even split (2 of 4) is down; a fraction above one half
	// (0.51) or a Count keeps an even split up.
	Fraction float64
	// TTL is how long a remote vote stays fresh after its At; older votes
	// do not count. 0 means every vote passed in is fresh (the caller
	// filtered them).
	TTL time.Duration
}

// Validate checks the threshold against the rule.
func (q Quorum) Validate() error {
	if q.Rule > RuleAny {
		return fmt.Errorf("rule: unknown %v", q.Rule)
	}
	if q.Count < 0 {
		return errors.New("quorum: must not be negative")
	}
	if q.Fraction < 0 || q.Fraction > 1 || math.IsNaN(q.Fraction) {
		return errors.New("quorum_fraction: must be in (0, 1]")
	}
	if q.Count > 0 && q.Fraction > 0 {
		return errors.New("quorum and quorum_fraction: set one, not both")
	}
	if q.Rule == RuleQuorum && q.Count == 0 && q.Fraction == 0 {
		return errors.New("rule quorum: needs quorum (a count) or quorum_fraction")
	}
	if q.TTL < 0 {
		return errors.New("verdict ttl: must not be negative")
	}
	return nil
}

// Vote is one vantage point's verdict on one (check, address): its
// rise/fall state, not a raw probe result.
type Vote struct {
	Instance string    // the vantage point's instance name
	Site     string    // where it probes from, for the status page
	Up       bool      // its verdict
	At       time.Time // when it was published
}

// Local is this instance's own verdict. Known is false while its probe has
// no result yet (served as up, as without a cluster); it then casts no vote.
type Local struct {
	Instance string
	Known    bool
	Up       bool
}

// Decision is the effective state of one (check, address) and why.
type Decision struct {
	Up     bool     `json:"up"`
	Rule   VoteRule `json:"rule"`
	Down   int      `json:"down"`   // vantage points that counted and see it down
	Voters int      `json:"voters"` // vantage points that counted (this one, if Known, plus fresh remote ones)
	Need   int      `json:"need"`   // down votes needed (quorum; 1 for any; 0 for local)
	Local  bool     `json:"local"`  // decided by this instance's verdict alone (the local rule or a fallback)
	Reason string   `json:"reason"` // short, for the status page and explain
}

// Decide returns the effective state of one (check, address) from this
// instance's verdict and the votes of the others. It is pure: no I/O, no
// clock but now.
//
// Remote votes count when fresh (q.TTL is 0, or now-At <= TTL; a vote up to
// TTL in the future, from a fast clock, counts too). A vote from this
// instance's own name is ignored (the local verdict stands for it); of
// several votes from one instance the newest counts.
//
//   - local: this instance's verdict; no verdict yet is up.
//   - any: down when at least one voter sees it down; no voters is up.
//   - quorum: with no fresh remote vote, fall back to the local verdict.
//     Otherwise down when the down votes reach the threshold (see Quorum);
//     anything short of it, a tie included when the threshold is not met,
//     is up.
//
// Decide allocates only the Reason string.
func Decide(q Quorum, local Local, remote []Vote, now time.Time) Decision {
	if q.Rule == RuleLocal {
		return localDecision(RuleLocal, local, "local verdict")
	}
	down, voters, remotes := 0, 0, 0
	if local.Known {
		voters++
		if !local.Up {
			down++
		}
	}
	for i, v := range remote {
		if !countable(q, local.Instance, remote, i, now) {
			continue
		}
		remotes++
		voters++
		if !v.Up {
			down++
		}
	}
	switch q.Rule {
	case RuleAny:
		d := Decision{Up: down == 0, Rule: RuleAny, Down: down, Voters: voters, Need: 1}
		d.Reason = fmt.Sprintf("any: %d of %d vantage points see it down", down, voters)
		return d
	case RuleQuorum:
		if remotes == 0 {
			return localDecision(RuleQuorum, local, "quorum: no fresh remote verdicts, local verdict")
		}
		need := q.need(voters)
		d := Decision{Up: down < need, Rule: RuleQuorum, Down: down, Voters: voters, Need: need}
		d.Reason = fmt.Sprintf("quorum %d of %d: %d %s it down", need, voters, down, sees(down))
		return d
	}
	return localDecision(q.Rule, local, "local verdict (unknown rule)")
}

// need is the quorum threshold for voters > 0 vantage points.
func (q Quorum) need(voters int) int {
	var n int
	if q.Fraction > 0 {
		// The epsilon keeps 0.6 × 5 at 3, not 4 from 3.0000000000000004.
		n = int(math.Ceil(q.Fraction*float64(voters) - 1e-9))
	} else {
		n = min(q.Count, voters)
	}
	return max(n, 1)
}

// countable says whether remote[i] is a fresh vote of another instance and
// the newest of its instance's votes (the earliest index wins a tie).
func countable(q Quorum, self string, remote []Vote, i int, now time.Time) bool {
	v := remote[i]
	if v.Instance == self || !fresh(q, v, now) {
		return false
	}
	for j, w := range remote {
		if j == i || w.Instance != v.Instance || !fresh(q, w, now) {
			continue
		}
		if w.At.After(v.At) || (w.At.Equal(v.At) && j < i) {
			return false
		}
	}
	return true
}

func fresh(q Quorum, v Vote, now time.Time) bool {
	if q.TTL == 0 {
		return true
	}
	age := now.Sub(v.At)
	return age <= q.TTL && age >= -q.TTL
}

func localDecision(r VoteRule, local Local, what string) Decision {
	d := Decision{Up: !local.Known || local.Up, Rule: r, Local: true}
	if local.Known {
		d.Voters = 1
		if !local.Up {
			d.Down = 1
		}
	}
	switch {
	case !local.Known:
		d.Reason = what + ": no result yet (up)"
	case local.Up:
		d.Reason = what + ": up"
	default:
		d.Reason = what + ": down"
	}
	return d
}

func sees(n int) string {
	if n == 1 {
		return "sees"
	}
	return "see"
}
