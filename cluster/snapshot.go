package cluster

import (
	"cmp"
	"net/netip"
	"slices"
	"time"
)

// Snapshot is an immutable view of the cluster: the link's state, every
// fresh verdict and every override. A Cluster builds a new one on each
// change and publishes it with one atomic store; readers never lock.
//
// While the link is not up, the Snapshot holds no verdicts (remote votes
// are absent, so a quorum falls back to the local verdict) and keeps the
// last known overrides.
type Snapshot struct {
	Link     Link
	Instance string        // this instance
	TTL      time.Duration // verdict freshness
	Built    time.Time
	Rejected uint64 // values dropped so far: another cluster's, or malformed

	votes     map[addrKey][]Verdict // other instances' fresh verdicts, newest first
	verdicts  []Verdict             // every fresh verdict, this instance's too
	overrides []Override            // in force (clear removed), by kind and key
	cleared   map[string]Override   // clear entries, by key, for Changes
	expires   time.Time             // when the oldest verdict here goes stale; zero if none
}

type addrKey struct {
	check string
	addr  netip.Addr
}

// Votes returns the fresh verdicts of the other instances on (check,
// addr), newest first, as of Built; nil while the link is not up. The slice
// is shared: do not modify it.
func (s *Snapshot) Votes(check string, addr netip.Addr) []Verdict {
	if s == nil {
		return nil
	}
	return s.votes[addrKey{check, addr}]
}

// Verdicts returns every fresh verdict (this instance's included) sorted
// by check, address and instance; nil while the link is not up. Shared:
// do not modify it.
func (s *Snapshot) Verdicts() []Verdict {
	if s == nil {
		return nil
	}
	return s.verdicts
}

// Overrides returns the overrides in force, sorted by kind and key. Shared:
// do not modify it.
func (s *Snapshot) Overrides() []Override {
	if s == nil {
		return nil
	}
	return s.overrides
}

// Override returns the override in force for (kind, key).
func (s *Snapshot) Override(kind, key string) (Override, bool) {
	for _, o := range s.Overrides() {
		if o.Kind == kind && o.Key == key {
			return o, true
		}
	}
	return Override{}, false
}

// Changes returns the overrides that differ from prev's (prev nil: all of
// them), sorted by kind and key: new or changed ones as they are now, and
// removed ones with State clear (with the origin and time of the clear
// when the engine has them). The runtime applies these to its own
// override store.
func (s *Snapshot) Changes(prev *Snapshot) []Override {
	var out []Override
	for _, o := range s.Overrides() {
		if p, ok := prev.Override(o.Kind, o.Key); !ok || p != o {
			out = append(out, o)
		}
	}
	for _, p := range prev.Overrides() {
		if _, ok := s.Override(p.Kind, p.Key); ok {
			continue
		}
		c, ok := s.cleared[overrideKeyOf(p)]
		if !ok {
			c = Override{Kind: p.Kind, Key: p.Key, State: StateClear}
		}
		out = append(out, c)
	}
	slices.SortFunc(out, func(a, b Override) int {
		return cmp.Or(cmp.Compare(a.Kind, b.Kind), cmp.Compare(a.Key, b.Key))
	})
	return out
}

// state is what a Cluster's run loop accumulates from engine updates.
type state struct {
	verdicts  map[string]Verdict  // by verdictKeyOf
	overrides map[string]Override // by overrideKeyOf
}

func newState() state {
	return state{verdicts: map[string]Verdict{}, overrides: map[string]Override{}}
}

// build makes a Snapshot of st as of now. Verdicts are fresh when
// now-At <= ttl (and not more than ttl ahead: a clock far ahead is not
// trusted for longer than one TTL).
func build(st state, link Link, instance string, ttl time.Duration, rejected uint64, now time.Time) *Snapshot {
	s := &Snapshot{Link: link, Instance: instance, TTL: ttl, Built: now, Rejected: rejected}
	for k, o := range st.overrides {
		if o.State != StateClear {
			s.overrides = append(s.overrides, o)
			continue
		}
		if s.cleared == nil {
			s.cleared = map[string]Override{}
		}
		s.cleared[k] = o
	}
	slices.SortFunc(s.overrides, func(a, b Override) int {
		return cmp.Or(cmp.Compare(a.Kind, b.Kind), cmp.Compare(a.Key, b.Key))
	})
	if link.State != LinkUp {
		return s
	}
	for _, v := range st.verdicts {
		age := now.Sub(v.At)
		if age > ttl || age < -ttl {
			continue
		}
		s.verdicts = append(s.verdicts, v)
		if exp := v.At.Add(ttl); s.expires.IsZero() || exp.Before(s.expires) {
			s.expires = exp
		}
	}
	slices.SortFunc(s.verdicts, func(a, b Verdict) int {
		return cmp.Or(cmp.Compare(a.Check, b.Check), a.Address.Compare(b.Address), cmp.Compare(a.Instance, b.Instance))
	})
	s.votes = map[addrKey][]Verdict{}
	for _, v := range s.verdicts {
		if v.Instance == instance {
			continue
		}
		k := addrKey{v.Check, v.Address}
		s.votes[k] = append(s.votes[k], v)
	}
	for _, vs := range s.votes {
		slices.SortStableFunc(vs, func(a, b Verdict) int { return b.At.Compare(a.At) })
	}
	return s
}
