package health

import (
	"strings"
	"testing"
	"time"
)

func TestDecide(t *testing.T) {
	now := time.Date(2026, 12, 1, 8, 0, 0, 0, time.UTC)
	ttl := 30 * time.Second
	vote := func(inst string, up bool, age time.Duration) Vote {
		return Vote{Instance: inst, Site: "site-" + inst, Up: up, At: now.Add(-age)}
	}
	up := Local{Instance: "a", Known: true, Up: true}
	down := Local{Instance: "a", Known: true, Up: false}
	unknown := Local{Instance: "a"}
	local := Quorum{Rule: RuleLocal, TTL: ttl}
	q2 := Quorum{Rule: RuleQuorum, Count: 2, TTL: ttl}
	q3 := Quorum{Rule: RuleQuorum, Count: 3, TTL: ttl}
	half := Quorum{Rule: RuleQuorum, Fraction: 0.5, TTL: ttl}
	over := Quorum{Rule: RuleQuorum, Fraction: 0.51, TTL: ttl}
	anyQ := Quorum{Rule: RuleAny, TTL: ttl}
	b, c, d := "b", "c", "d"

	tests := []struct {
		name   string
		q      Quorum
		local  Local
		remote []Vote
		up     bool
		isLoc  bool // decided by the local verdict alone
		down   int
		voters int
		reason string
	}{
		// local: remote votes never matter.
		{"local up, others down", local, up, []Vote{vote(b, false, 0), vote(c, false, 0)}, true, true, 0, 1, "local verdict: up"},
		{"local down, others up", local, down, []Vote{vote(b, true, 0)}, false, true, 1, 1, "local verdict: down"},
		{"local unknown", local, unknown, nil, true, true, 0, 0, "local verdict: no result yet (up)"},

		// quorum by count.
		{"quorum 2: partition, only local down", q2, down, []Vote{vote(b, true, 0), vote(c, true, 0)}, true, false, 1, 3, "quorum 2 of 3: 1 sees it down"},
		{"quorum 2: two down", q2, down, []Vote{vote(b, false, 0), vote(c, true, 0)}, false, false, 2, 3, "quorum 2 of 3: 2 see it down"},
		{"quorum 2: remote two down, local up", q2, up, []Vote{vote(b, false, 0), vote(c, false, 0)}, false, false, 2, 3, "quorum 2 of 3: 2 see it down"},
		{"quorum 2: all down", q2, down, []Vote{vote(b, false, 0), vote(c, false, 0)}, false, false, 3, 3, "quorum 2 of 3: 3 see it down"},
		{"quorum 2: all up", q2, up, []Vote{vote(b, true, 0), vote(c, true, 0)}, true, false, 0, 3, "quorum 2 of 3: 0 see it down"},
		{"quorum 2 of 2: tie is up", q2, down, []Vote{vote(b, true, 0)}, true, false, 1, 2, "quorum 2 of 2: 1 sees it down"},
		{"quorum 3 capped to 2 voters, both down", q3, down, []Vote{vote(b, false, 0)}, false, false, 2, 2, "quorum 2 of 2: 2 see it down"},
		{"quorum 3 capped to 2 voters, one down", q3, up, []Vote{vote(b, false, 0)}, true, false, 1, 2, "quorum 2 of 2: 1 sees it down"},

		// quorum falls back to local with no fresh remote verdicts.
		{"quorum: no remotes, local down", q2, down, nil, false, true, 1, 1, "quorum: no fresh remote verdicts, local verdict: down"},
		{"quorum: no remotes, local up", q2, up, nil, true, true, 0, 1, "quorum: no fresh remote verdicts, local verdict: up"},
		{"quorum: only stale remotes, local down", q2, down, []Vote{vote(b, true, ttl+time.Second), vote(c, true, time.Hour)}, false, true, 1, 1, "quorum: no fresh remote verdicts, local verdict: down"},
		{"quorum: no remotes, local unknown", q2, unknown, nil, true, true, 0, 0, "quorum: no fresh remote verdicts, local verdict: no result yet (up)"},
		{"quorum: own echo is not a remote", q2, down, []Vote{vote("a", false, 0)}, false, true, 1, 1, "quorum: no fresh remote verdicts, local verdict: down"},

		// quorum with a local verdict not known yet: the remotes decide.
		{"quorum: local unknown, two remotes down", q2, unknown, []Vote{vote(b, false, 0), vote(c, false, 0)}, false, false, 2, 2, "quorum 2 of 2: 2 see it down"},
		{"quorum: local unknown, one remote down", q2, unknown, []Vote{vote(b, false, 0), vote(c, true, 0)}, true, false, 1, 2, "quorum 2 of 2: 1 sees it down"},
		{"quorum: local unknown, one remote, down", q2, unknown, []Vote{vote(b, false, 0)}, false, false, 1, 1, "quorum 1 of 1: 1 sees it down"},

		// freshness at the edge, duplicates, clock skew.
		{"quorum: vote exactly TTL old counts", q2, down, []Vote{vote(b, false, ttl)}, false, false, 2, 2, "quorum 2 of 2: 2 see it down"},
		{"quorum: stale vote ignored, fresh one counts", q2, down, []Vote{vote(b, false, ttl+1), vote(c, true, 0)}, true, false, 1, 2, "quorum 2 of 2: 1 sees it down"},
		{"quorum: newest of one instance's votes counts", q2, down, []Vote{vote(b, false, 10*time.Second), vote(b, true, time.Second)}, true, false, 1, 2, "quorum 2 of 2: 1 sees it down"},
		{"quorum: newest vote first in the list", q2, down, []Vote{vote(b, true, time.Second), vote(b, false, 10*time.Second)}, true, false, 1, 2, "quorum 2 of 2: 1 sees it down"},
		{"quorum: vote from a clock slightly ahead counts", q2, down, []Vote{vote(b, false, -5*time.Second)}, false, false, 2, 2, "quorum 2 of 2: 2 see it down"},
		{"quorum: vote from far in the future ignored", q2, down, []Vote{vote(b, false, -time.Hour)}, false, true, 1, 1, "quorum: no fresh remote verdicts, local verdict: down"},

		// quorum by fraction; ties.
		{"fraction 0.5: 1 of 2 is a tie, down", half, down, []Vote{vote(b, true, 0)}, false, false, 1, 2, "quorum 1 of 2: 1 sees it down"},
		{"fraction 0.5: 2 of 4 is a tie, down", half, down, []Vote{vote(b, false, 0), vote(c, true, 0), vote(d, true, 0)}, false, false, 2, 4, "quorum 2 of 4: 2 see it down"},
		{"fraction 0.5: 1 of 3 up", half, down, []Vote{vote(b, true, 0), vote(c, true, 0)}, true, false, 1, 3, "quorum 2 of 3: 1 sees it down"},
		{"fraction 0.51: 1 of 2 tie stays up", over, down, []Vote{vote(b, true, 0)}, true, false, 1, 2, "quorum 2 of 2: 1 sees it down"},
		{"fraction 0.51: 2 of 4 tie stays up", over, down, []Vote{vote(b, false, 0), vote(c, true, 0), vote(d, true, 0)}, true, false, 2, 4, "quorum 3 of 4: 2 see it down"},
		{"fraction 0.51: 3 of 4 down", over, down, []Vote{vote(b, false, 0), vote(c, false, 0), vote(d, true, 0)}, false, false, 3, 4, "quorum 3 of 4: 3 see it down"},
		{"fraction 0.6 of 5 needs 3, not 4", Quorum{Rule: RuleQuorum, Fraction: 0.6}, down, []Vote{vote(b, false, 0), vote(c, false, 0), vote(d, true, 0), vote("e", true, 0)}, false, false, 3, 5, "quorum 3 of 5: 3 see it down"},
		{"fraction 0.1 of 3 needs at least 1", Quorum{Rule: RuleQuorum, Fraction: 0.1}, up, []Vote{vote(b, false, 0), vote(c, true, 0)}, false, false, 1, 3, "quorum 1 of 3: 1 sees it down"},
		{"fraction 1: all must agree", Quorum{Rule: RuleQuorum, Fraction: 1}, down, []Vote{vote(b, false, 0), vote(c, true, 0)}, true, false, 2, 3, "quorum 3 of 3: 2 see it down"},

		// any.
		{"any: one remote down", anyQ, up, []Vote{vote(b, false, 0), vote(c, true, 0)}, false, false, 1, 3, "any: 1 of 3 vantage points see it down"},
		{"any: local down", anyQ, down, []Vote{vote(b, true, 0)}, false, false, 1, 2, "any: 1 of 2 vantage points see it down"},
		{"any: all down", anyQ, down, []Vote{vote(b, false, 0), vote(c, false, 0)}, false, false, 3, 3, "any: 3 of 3 vantage points see it down"},
		{"any: all up", anyQ, up, []Vote{vote(b, true, 0)}, true, false, 0, 2, "any: 0 of 2 vantage points see it down"},
		{"any: stale down vote ignored", anyQ, up, []Vote{vote(b, false, time.Minute)}, true, false, 0, 1, "any: 0 of 1 vantage points see it down"},
		{"any: no voters at all is up", anyQ, unknown, nil, true, false, 0, 0, "any: 0 of 0 vantage points see it down"},

		// TTL 0: the caller filtered, every vote counts.
		{"ttl 0: old vote counts", Quorum{Rule: RuleQuorum, Count: 2}, down, []Vote{vote(b, false, 24*time.Hour)}, false, false, 2, 2, "quorum 2 of 2: 2 see it down"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if err := tc.q.Validate(); err != nil {
				t.Fatalf("Validate: %v", err)
			}
			got := Decide(tc.q, tc.local, tc.remote, now)
			if got.Up != tc.up || got.Local != tc.isLoc || got.Down != tc.down || got.Voters != tc.voters || got.Reason != tc.reason {
				t.Errorf("Decide = %+v\nwant up=%v local=%v down=%d voters=%d reason %q", got, tc.up, tc.isLoc, tc.down, tc.voters, tc.reason)
			}
			if got.Rule != tc.q.Rule {
				t.Errorf("Rule = %v, want %v", got.Rule, tc.q.Rule)
			}
		})
	}
}

func TestDecideAllocs(t *testing.T) {
	now := time.Now()
	q := Quorum{Rule: RuleQuorum, Count: 2, TTL: time.Minute}
	remote := []Vote{{Instance: "b", At: now}, {Instance: "c", Up: true, At: now}}
	allocs := testing.AllocsPerRun(100, func() {
		Decide(q, Local{Instance: "a", Known: true}, remote, now)
	})
	if allocs > 3 { // the Reason string and its formatting
		t.Errorf("Decide allocates %v times, want at most 3", allocs)
	}
}

func TestQuorumValidate(t *testing.T) {
	tests := []struct {
		q   Quorum
		err string
	}{
		{Quorum{}, ""},
		{Quorum{Rule: RuleAny}, ""},
		{Quorum{Rule: RuleQuorum, Count: 2}, ""},
		{Quorum{Rule: RuleQuorum, Fraction: 0.5}, ""},
		{Quorum{Rule: RuleQuorum}, "needs quorum"},
		{Quorum{Rule: RuleQuorum, Count: -1}, "must not be negative"},
		{Quorum{Rule: RuleQuorum, Fraction: 1.5}, "quorum_fraction"},
		{Quorum{Rule: RuleQuorum, Fraction: -0.1}, "quorum_fraction"},
		{Quorum{Rule: RuleQuorum, Count: 2, Fraction: 0.5}, "not both"},
		{Quorum{Rule: 9}, "unknown"},
		{Quorum{Rule: RuleAny, TTL: -time.Second}, "ttl"},
	}
	for _, tc := range tests {
		err := tc.q.Validate()
		if tc.err == "" {
			if err != nil {
				t.Errorf("%+v: %v", tc.q, err)
			}
			continue
		}
		if err == nil || !strings.Contains(err.Error(), tc.err) {
			t.Errorf("%+v: error %v, want one containing %q", tc.q, err, tc.err)
		}
	}
}

func TestParseVoteRule(t *testing.T) {
	for s, want := range map[string]VoteRule{"": RuleLocal, "local": RuleLocal, "quorum": RuleQuorum, "any": RuleAny} {
		got, err := ParseVoteRule(s)
		if err != nil || got != want {
			t.Errorf("ParseVoteRule(%q) = %v, %v; want %v", s, got, err, want)
		}
		if s != "" && got.String() != s {
			t.Errorf("%v.String() = %q", got, got.String())
		}
	}
	if _, err := ParseVoteRule("majority"); err == nil {
		t.Error("ParseVoteRule(majority): no error")
	}
}
