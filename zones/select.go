package zones

import (
	"fmt"
	"math/rand/v2"
	"net/netip"
	"time"

	mdns "github.com/miekg/dns"

	"github.com/godwit-dns/godwit/geo"
	"github.com/godwit-dns/godwit/health"
	"github.com/godwit-dns/godwit/routes"
)

// Locator finds where an address is. *geo.DB satisfies it.
type Locator interface {
	Lookup(netip.Addr) geo.Location
}

// Router finds the routes to an address. *routes.Table satisfies it.
type Router interface {
	Lookup(netip.Addr) (routes.Match, bool)
}

// RouteScoper may be implemented by a Router to make the ECS scope of a
// routes answer exact: it returns the length of the shortest prefix around
// addr that contains no route more specific than m.Prefix (for ok false:
// no route at all). Without it Select uses m.Prefix's length, which can
// cover more specific routes next to the client, and for no match the ECS
// source prefix length.
type RouteScoper interface {
	RouteScope(addr netip.Addr, m routes.Match, ok bool) int
}

// HealthView says whether an address may be served. *health.View
// satisfies it; nil (or a nil *health.View) means everything is up.
type HealthView interface {
	Lookup(check, dc string, addr netip.Addr) health.Status
}

// Client is who asks: the ECS address when the query carried a usable
// Client Subnet option, else the query's source address.
type Client struct {
	Addr       netip.Addr
	SourceBits int // ECS source prefix length, -1 without ECS
}

// Env is everything Select reads besides the service: one query's view of
// the data snapshots, a random source and a query counter.
type Env struct {
	Geo    Locator    // nil: no GeoIP database
	Routes Router     // nil: no route table
	Health HealthView // nil: everything up
	Rand   *rand.Rand // nil: a generator seeded from Seq
	Seq    uint64     // per-query counter, drives round-robin
}

// Selection is what Select chose.
type Selection struct {
	Addrs      []netip.Addr // best first; aliases the buf passed to Select
	TTL        uint32
	Scope      int    // ECS scope prefix length for the reply
	Datacenter string // datacenter of Addrs[0], "" when there are none
	Target     int    // index in the service's Targets of that datacenter; meaningful only when Datacenter != ""
	FailOpen   bool   // every address of the family was down; all are returned
	Policy     string // the policy that ranked (the fallback when the policy could not)
}

// Select chooses the addresses of service s that answer a question of type
// qtype (A or AAAA; anything else gets no addresses) from client c. It is a
// pure function of its arguments: it does no I/O and reads no globals. The
// addresses are appended to buf[:0], so a caller that passes a buffer with
// room for s.Answers addresses (all of the family's, to cover fail-open)
// makes Select allocate nothing. With tr non-nil every decision is recorded
// in it (slowly); pass nil on the query path.
//
// The rules are documented in docs/policies.md.
func Select(s *Service, qtype uint16, c Client, env *Env, buf []netip.Addr, tr *Trace) Selection {
	var e Env // a copy keeps the caller's Env from escaping
	if env != nil {
		e = *env
	}
	f := 0
	switch qtype {
	case mdns.TypeA:
	case mdns.TypeAAAA:
		f = 1
	default:
		return Selection{Addrs: buf[:0], TTL: s.TTL}
	}
	h := e.Health
	if v, ok := h.(*health.View); ok && v == nil {
		h = nil
	}
	addr := c.Addr.Unmap()
	if tr != nil {
		tr.start(s, qtype, c)
	}

	var up upSet
	ttl := s.healthPass(h, &up, tr)

	r := ranker{s: s, env: e, addr: addr, src: c.SourceBits, tr: tr, rng: e.Seq}
	r.rank()

	out := buf[:0]
	first, last := -1, -1
	for pos := 0; pos < r.n && len(out) < s.Answers; pos++ {
		t := &s.Targets[r.ord[pos]]
		addrs := t.Addrs[f]
		if len(addrs) == 0 {
			continue
		}
		last = pos
		off := r.addrOffset(len(addrs))
		for j := range addrs {
			k := (off + j) % len(addrs)
			if !up.has(t.base[f] + k) {
				continue
			}
			if first < 0 {
				first = pos
			}
			out = append(out, addrs[k])
			if len(out) >= s.Answers {
				break
			}
		}
	}
	failOpen := false
	if len(out) == 0 && s.count[f] > 0 {
		failOpen = true
		for pos := 0; pos < r.n; pos++ {
			t := &s.Targets[r.ord[pos]]
			addrs := t.Addrs[f]
			if len(addrs) == 0 {
				continue
			}
			if first < 0 {
				first = pos
			}
			last = pos
			off := r.addrOffset(len(addrs))
			for j := range addrs {
				out = append(out, addrs[(off+j)%len(addrs)])
			}
		}
	}
	if r.tailStart >= 0 && last >= r.tailStart && r.n-r.tailStart >= 2 && r.tailBits >= 0 {
		r.addScope(r.tailBits, "city network (the answer reached datacenters ranked by distance)", netip.Prefix{})
	}
	maxBits := 128
	if addr.Is4() {
		maxBits = 32
	}
	sel := Selection{
		Addrs:    out,
		TTL:      ttl,
		Scope:    min(r.scope, maxBits),
		FailOpen: failOpen,
		Policy:   r.used.String(),
	}
	if first >= 0 {
		sel.Target = int(r.ord[first])
		sel.Datacenter = s.Targets[sel.Target].Datacenter
	}
	if tr != nil {
		tr.finish(s, &r, sel, f)
	}
	return sel
}

// addrOffset is where a target's address rotation starts: round-robin
// rotates by query counter (each address first equally often), weighted
// (and geo and routes, which rotate like their final fallback) randomly,
// failover not at all.
func (r *ranker) addrOffset(n int) int {
	if n <= 1 {
		return 0
	}
	mode := r.used
	if mode.proximity() {
		mode = r.s.final
	}
	switch mode {
	case RoundRobin:
		return int((r.env.Seq / uint64(len(r.s.Targets))) % uint64(n))
	case Weighted:
		return r.intn(n)
	}
	return 0
}

// upSet is a bit per service address: may it be served.
type upSet [MaxServiceAddresses / 64]uint64

func (u *upSet) set(i int)      { u[i>>6] |= 1 << (i & 63) }
func (u *upSet) has(i int) bool { return u[i>>6]&(1<<(i&63)) != 0 }

// healthPass looks up every address of the service once, marks the ones
// that may be served, and returns the answer's TTL.
func (s *Service) healthPass(h HealthView, up *upSet, tr *Trace) uint32 {
	if h == nil {
		for i := range s.naddrs {
			up.set(i)
		}
		if tr != nil {
			for i := range s.Targets {
				t := &s.Targets[i]
				for f := range 2 {
					for _, a := range t.Addrs[f] {
						tr.Health = append(tr.Health, TraceHealth{Datacenter: t.Datacenter, Address: a, Check: t.Check, Up: true})
					}
				}
			}
		}
		ttl, why := answerTTL(s, 0, 0, tr != nil)
		if tr != nil {
			tr.TTLReason = why
		}
		return ttl
	}
	view, _ := h.(*health.View)
	if view != nil && tr == nil {
		if m := s.stable.Load(); m != nil && m.view == view {
			*up = m.up
			return m.ttl
		}
	}
	var minSettle time.Duration
	down := 0
	for i := range s.Targets {
		t := &s.Targets[i]
		for f := range 2 {
			for k, a := range t.Addrs[f] {
				st := h.Lookup(t.Check, t.Datacenter, a)
				if st.Up {
					up.set(t.base[f] + k)
				} else {
					down++
				}
				if st.Settle > 0 && (minSettle == 0 || st.Settle < minSettle) {
					minSettle = st.Settle
				}
				if tr != nil {
					th := TraceHealth{Datacenter: t.Datacenter, Address: a, Check: t.Check, Up: st.Up, Drained: st.Drained}
					if st.Override != 0 {
						th.Override = st.Override.String()
					}
					if st.Settle > 0 {
						th.Settle = seconds(st.Settle)
					}
					tr.Health = append(tr.Health, th)
				}
			}
		}
	}
	ttl, why := answerTTL(s, minSettle, down, tr != nil)
	if tr != nil {
		tr.TTLReason = why
	}
	if view != nil && minSettle == 0 {
		s.stable.Store(&healthMemo{view: view, up: *up, ttl: ttl})
	}
	return ttl
}

// answerTTL is the TTL rule, in one place: the service's ttl while every
// address is stable; while any address of the service (either family) may
// change state within minSettle, that time in whole seconds, clamped to
// [min_ttl, ttl]. Addresses that are down but stable (Settle 0, e.g. an
// admin drain) do not shorten it. The reason is formatted only if asked.
func answerTTL(s *Service, minSettle time.Duration, down int, explain bool) (uint32, string) {
	if minSettle <= 0 {
		if !explain {
			return s.TTL, ""
		}
		if down > 0 {
			return s.TTL, fmt.Sprintf("ttl %d: %d address(es) down but stable", s.TTL, down)
		}
		return s.TTL, fmt.Sprintf("ttl %d: every address up and stable", s.TTL)
	}
	secs := uint64(minSettle / time.Second)
	ttl := uint32(min(secs, uint64(s.TTL)))
	ttl = max(ttl, s.MinTTL)
	if !explain {
		return ttl, ""
	}
	return ttl, fmt.Sprintf("%d: an address may change state in %s; clamped to [min_ttl %d, ttl %d]",
		ttl, seconds(minSettle), s.MinTTL, s.TTL)
}
