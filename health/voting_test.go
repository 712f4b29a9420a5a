package health

import (
	"errors"
	"net/netip"
	"sync"
	"testing"
	"time"
)

type fakeVotes map[string][]Vote // by check

func (f fakeVotes) Votes(check string, addr netip.Addr) []Vote { return f[check] }

// TestVotingView: with voting on, the view holds the effective state of
// every (check, address), each check by its own rule, the doubt follows
// the effective state, and every result is reported.
func TestVotingView(t *testing.T) {
	c, clk := newTestChecker(t)
	local, quorum := tcpCheck("local"), tcpCheck("web")
	local.Vote = "local"
	local.Fall, quorum.Fall = 1, 1
	if err := c.Update([]CheckConfig{local, quorum},
		[]Target{{Check: "local", Datacenter: "ams", Addr: ip1}, {Check: "web", Datacenter: "ams", Addr: ip2}}, ""); err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	reported := map[string]bool{}
	votes := fakeVotes{}
	c.SetVoting(Voting{
		Quorum:   Quorum{Rule: RuleQuorum, Count: 2},
		Instance: "a",
		Votes:    func() VoteSource { return votes },
		Report: func(check string, addr netip.Addr, up bool, now time.Time) {
			mu.Lock()
			reported[check+" "+addr.String()] = up
			mu.Unlock()
		},
	})
	// This instance sees both down; the two others see them up.
	now := clk.t
	votes["local"] = []Vote{{Instance: "b", Up: true, At: now}, {Instance: "c", Up: true, At: now}}
	votes["web"] = votes["local"]
	fail := errors.New("refused")
	c.record(c.probeFor(t, "local", ip1), fail, time.Millisecond, 10*time.Second)
	c.record(c.probeFor(t, "web", ip2), fail, time.Millisecond, 10*time.Second)
	v := c.View()
	if st := v.LookupAt("local", "ams", ip1, now); st.Up {
		t.Errorf("vote = local: %+v, want down by the local verdict", st)
	}
	if st := v.LookupAt("web", "ams", ip2, now); !st.Up || st.Settle != 0 {
		t.Errorf("quorum, 1 of 3 down: %+v, want up and stable (the local down is outvoted)", st)
	}
	mu.Lock()
	if up, ok := reported["web 192.0.2.2"]; !ok || up {
		t.Errorf("reported %v, want web 192.0.2.2 down", reported)
	}
	mu.Unlock()
	var dec *Decision
	for _, p := range c.Probes() {
		if p.Check == "web" {
			dec = p.Decision
		}
	}
	if dec == nil || !dec.Up || dec.Rule != RuleQuorum || dec.Reason != "quorum 2 of 3: 1 sees it down" {
		t.Errorf("decision %+v", dec)
	}
	// One more vantage point sees it down: quorum reached, down, in doubt.
	votes["web"] = []Vote{{Instance: "b", Up: false, At: now}, {Instance: "c", Up: true, At: now}}
	c.Refresh()
	if st := c.View().LookupAt("web", "ams", ip2, now); st.Up || st.Settle == 0 {
		t.Errorf("quorum, 2 of 3 down: %+v, want down and in doubt", st)
	}
	// The votes go stale: the local verdict decides.
	clk.t = now.Add(time.Hour)
	c.SetVoting(Voting{Quorum: Quorum{Rule: RuleQuorum, Count: 2, TTL: time.Minute}, Instance: "a", Votes: func() VoteSource { return votes }})
	if st := c.View().LookupAt("web", "ams", ip2, clk.t); st.Up {
		t.Errorf("stale votes: %+v, want down by the local verdict", st)
	}
	// Voting off: exactly the local verdicts, no decisions.
	c.SetVoting(Voting{})
	if st := c.View().LookupAt("web", "ams", ip2, clk.t); st.Up {
		t.Errorf("voting off: %+v, want down", st)
	}
	for _, p := range c.Probes() {
		if p.Decision != nil {
			t.Errorf("voting off: %s has a decision", p.Check)
		}
	}
}
