package cluster_test

import (
	"net/netip"
	"testing"
	"time"

	"github.com/godwit-dns/godwit/cluster"
	"github.com/godwit-dns/godwit/health"
)

// votes turns a Snapshot's verdicts on (check, addr) into health votes: the
// conversion the runtime makes when it builds its health view.
func votes(s *cluster.Snapshot, check string, addr netip.Addr) []health.Vote {
	var out []health.Vote
	for _, v := range s.Votes(check, addr) {
		out = append(out, health.Vote{Instance: v.Instance, Site: v.Site, Up: v.Up, At: v.At})
	}
	return out
}

// TestPartitionQuorum is the partition of issue #18 over a real engine:
// instance a's path to a datacenter breaks (its own verdict is down) while
// b and c see it up. With quorum 2, a keeps the address; with local or
// any, a drops it. When the backend really dies, all three see it down.
// (The engine gone, quorum falls back to a's own verdict: TestNATSCluster
// shows the Snapshot holds no votes then, and health's table tests what
// Decide does with none.)
func TestPartitionQuorum(t *testing.T) {
	url := cluster.StartNATSURL(t)
	const ttl = 5 * time.Second
	a := cluster.JoinForTest(t, cluster.ConfigForTest(url, "a", ttl))
	b := cluster.JoinForTest(t, cluster.ConfigForTest(url, "b", ttl))
	c := cluster.JoinForTest(t, cluster.ConfigForTest(url, "c", ttl))
	addr := netip.MustParseAddr("192.0.2.10")

	report := func(aUp, bUp, cUp bool) {
		now := time.Now().Add(time.Hour) // past the resend pause: always published
		a.Report("web", addr, aUp, now)
		b.Report("web", addr, bUp, now)
		c.Report("web", addr, cUp, now)
		deadline := time.After(5 * time.Second)
		for {
			got := map[string]bool{}
			for _, v := range a.Snapshot().Votes("web", addr) {
				got[v.Instance] = v.Up
			}
			if len(got) == 2 && got["b"] == bUp && got["c"] == cUp {
				return
			}
			select {
			case <-a.Changed():
			case <-deadline:
				t.Fatalf("a does not see b=%v c=%v: %v", bUp, cUp, got)
			}
		}
	}
	decide := func(q health.Quorum, aUp bool) health.Decision {
		return health.Decide(q, health.Local{Instance: "a", Known: true, Up: aUp}, votes(a.Snapshot(), "web", addr), time.Now())
	}
	quorum := health.Quorum{Rule: health.RuleQuorum, Count: 2, TTL: ttl}
	local := health.Quorum{Rule: health.RuleLocal, TTL: ttl}
	anyQ := health.Quorum{Rule: health.RuleAny, TTL: ttl}

	report(false, true, true) // a's path is broken
	if d := decide(quorum, false); !d.Up || d.Reason != "quorum 2 of 3: 1 sees it down" {
		t.Errorf("partition, quorum: %+v, want up", d)
	}
	if d := decide(local, false); d.Up {
		t.Errorf("partition, local: %+v, want down", d)
	}
	if d := decide(anyQ, false); d.Up {
		t.Errorf("partition, any: %+v, want down", d)
	}

	report(false, false, false) // the backend really died
	if d := decide(quorum, false); d.Up || d.Reason != "quorum 2 of 3: 3 see it down" {
		t.Errorf("outage, quorum: %+v, want down", d)
	}
}
