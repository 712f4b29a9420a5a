// Package routes owns the Super Sparrow-style longest-prefix route table:
// which datacenters can reach a client prefix, and over how long an AS path.
// Routes come from a static file and from an embedded BGP speaker (gobgp v4)
// peering with each site's router; the BGP table can be kept on disk so
// that a restart answers from it (marked stale) until the sessions are in
// sync (cache.go). It does not rank services; zones.Select does, using the
// Match returned here.
//
// Queries read a *Table: an immutable snapshot published by Routes through an
// atomic.Pointer. A Table holds at most two layers (the static file and the
// BGP feed); Lookup answers from the most specific prefix across both, and for
// a prefix known to both it answers with the union of their datacenters.
package routes

import (
	"cmp"
	"iter"
	"net/netip"
	"slices"

	"github.com/gaissmai/bart"
)

// Reach says that a datacenter can reach a prefix over an AS path of PathLen.
type Reach struct {
	Datacenter string
	PathLen    int
	Source     string // "routes.txt:12" or "bgp 127.0.0.2"
}

// Match is the result of a lookup: the most specific prefix known for the
// address and the datacenters that reach it, shortest AS path first.
type Match struct {
	Prefix netip.Prefix
	Reach  []Reach // read-only: shared with the table
}

// Table is an immutable longest-prefix-match table over IPv4 and IPv6.
// The zero value and nil are empty tables. Build one with LoadFile, Speaker.Table
// or Combine; never modify a published Table.
type Table struct {
	// a and b are the layers (static file, BGP feed); either may be nil.
	a, b *bart.Table[Match]
	// both holds, for prefixes present in a and in b, the merged Match.
	both *bart.Table[Match]
	// ia and ib index the prefixes of a and b for RouteScope; nil while a
	// one-layer table is under construction (see insert and finish).
	ia, ib *scopeIndex
	n4, n6 int
}

// Lookup returns the most specific prefix containing addr and the
// datacenters that reach it, shortest AS path first. It does not allocate.
// IPv4-mapped IPv6 addresses are looked up as IPv4.
func (t *Table) Lookup(addr netip.Addr) (Match, bool) {
	if t == nil || !addr.IsValid() {
		return Match{}, false
	}
	addr = addr.Unmap()
	var m Match
	var ok bool
	if t.a != nil {
		m, ok = t.a.Lookup(addr)
	}
	if t.b != nil {
		if mb, okb := t.b.Lookup(addr); okb {
			switch {
			case !ok || mb.Prefix.Bits() > m.Prefix.Bits():
				m, ok = mb, true
			case mb.Prefix.Bits() == m.Prefix.Bits() && t.both != nil:
				// Both layers contain addr with the same length: the same prefix.
				if mm, okm := t.both.Get(m.Prefix); okm {
					m = mm
				}
			}
		}
	}
	return m, ok
}

// Len returns the number of distinct IPv4 and IPv6 prefixes in the table.
func (t *Table) Len() (v4, v6 int) {
	if t == nil {
		return 0, 0
	}
	return t.n4, t.n6
}

// All yields every prefix of the table with its datacenters, in no
// particular order; a prefix present in both layers is yielded once, merged.
// It is for status pages and explain, not for the query path.
func (t *Table) All() iter.Seq[Match] {
	return func(yield func(Match) bool) {
		if t == nil {
			return
		}
		if t.a != nil {
			for p, m := range t.a.All() {
				if t.both != nil {
					if mm, ok := t.both.Get(p); ok {
						m = mm
					}
				}
				if !yield(m) {
					return
				}
			}
		}
		if t.b != nil {
			for p, m := range t.b.All() {
				if t.a != nil {
					if _, ok := t.a.Get(p); ok {
						continue // yielded above
					}
				}
				if !yield(m) {
					return
				}
			}
		}
	}
}

// Combine returns a table that answers from both a (usually the static file)
// and b (usually the BGP feed): the most specific prefix across both wins; for a
// prefix present in both, the datacenters of both are merged (one entry per
// datacenter, the shortest path). a and b must be tables built by LoadFile,
// NewTable or Speaker.Table (one layer each); either may be nil. Combine does
// not copy the layers; it costs one Get per prefix of the smaller layer.
func Combine(a, b *Table) *Table {
	la, lb := a.layer(), b.layer()
	switch {
	case la == nil && lb == nil:
		return &Table{}
	case lb == nil:
		return a
	case la == nil:
		return b
	}
	t := &Table{a: la, b: lb, ia: a.ia, ib: b.ia, n4: a.n4 + b.n4, n6: a.n6 + b.n6}
	small, large := la, lb
	if small.Size() > large.Size() {
		small, large = large, small
	}
	for p, ms := range small.All() {
		ml, ok := large.Get(p)
		if !ok {
			continue
		}
		if t.both == nil {
			t.both = new(bart.Table[Match])
		}
		ra, rb := ms.Reach, ml.Reach
		if small != la {
			ra, rb = rb, ra
		}
		t.both.Insert(p, Match{Prefix: p, Reach: sortReach(append(slices.Clip(ra), rb...))})
		if p.Addr().Is4() {
			t.n4--
		} else {
			t.n6--
		}
	}
	return t
}

// layer returns the single layer of a one-layer table, nil for an empty one.
func (t *Table) layer() *bart.Table[Match] {
	if t == nil {
		return nil
	}
	if t.b != nil || t.both != nil {
		panic("routes: Combine of an already combined table")
	}
	return t.a
}

// NewTable builds a one-layer table from prefixes and their datacenters.
// Prefixes are masked to their canonical form, IPv4-mapped IPv6 prefixes are
// stored as IPv4; reach lists of equal prefixes are merged. The reach slices
// are not retained.
func NewTable(routes map[netip.Prefix][]Reach) *Table {
	t := &Table{a: new(bart.Table[Match])}
	for p, r := range routes {
		t.insert(p, r)
	}
	t.finish()
	return t
}

// insert adds (or merges into) prefix p of a one-layer table under
// construction. It must not be used on a published table; call finish
// before publishing.
func (t *Table) insert(p netip.Prefix, r []Reach) {
	p = canonical(p)
	if !p.IsValid() || len(r) == 0 {
		return
	}
	t.ia = nil
	t.a.Modify(p, func(old Match, exists bool) (Match, bool) {
		if !exists {
			if p.Addr().Is4() {
				t.n4++
			} else {
				t.n6++
			}
		}
		return Match{Prefix: p, Reach: sortReach(append(slices.Clip(old.Reach), r...))}, false
	})
}

// finish completes a one-layer table built with insert: it indexes the
// prefixes for RouteScope.
func (t *Table) finish() {
	if t.ia == nil {
		t.ia = buildIndex(t.a)
	}
}

// canonical masks p and turns an IPv4-mapped IPv6 prefix of length >= 96
// into its IPv4 form, so that lookups of unmapped addresses find it.
func canonical(p netip.Prefix) netip.Prefix {
	a := p.Addr().WithZone("")
	if a.Is4In6() {
		if p.Bits() < 96 {
			return netip.PrefixFrom(a, p.Bits()).Masked()
		}
		return netip.PrefixFrom(a.Unmap(), p.Bits()-96).Masked()
	}
	return netip.PrefixFrom(a, p.Bits()).Masked()
}

// sortReach orders r in place by PathLen then Datacenter and keeps one entry
// per datacenter: the one with the shortest path (the first such on ties).
func sortReach(r []Reach) []Reach {
	slices.SortStableFunc(r, func(x, y Reach) int {
		return cmp.Or(cmp.Compare(x.PathLen, y.PathLen), cmp.Compare(x.Datacenter, y.Datacenter))
	})
	out := r[:0]
	for _, x := range r {
		if !slices.ContainsFunc(out, func(y Reach) bool { return y.Datacenter == x.Datacenter }) {
			out = append(out, x)
		}
	}
	clear(r[len(out):])
	return slices.Clip(out)
}
