package routes

import (
	"cmp"
	"iter"
	"math/bits"
	"net/netip"
	"slices"

	"github.com/gaissmai/bart"
)

// RouteScope returns the ECS scope prefix length that makes the answer for
// addr exact: the length of the shortest prefix around addr that contains no
// route (of either layer) more specific than m.Prefix, where m and ok are
// what Lookup returned for addr; with ok false, the shortest prefix around
// addr that contains no route at all (0 when the table has no route of
// addr's family). A resolver that caches the answer for that prefix then
// never serves it to a client that another route would send elsewhere.
// It implements zones.RouteScoper and does not allocate.
//
// A route R more specific than m cannot contain addr (m is the longest
// match), so R lies inside addr/L exactly when L <= cpl(addr, R.Addr()),
// the number of leading bits they share. Hence the answer is
//
//	max(m.Prefix.Bits(), 1 + max{cpl(addr, R.Addr()) : R does not contain addr})
//
// (routes not containing addr with cpl < m.Prefix.Bits() do not change
// the maximum, so the set needs no restriction to routes inside m.Prefix),
// and the per-layer maxima are found by binary search in a sorted index;
// see scopeIndex.far.
func (t *Table) RouteScope(addr netip.Addr, m Match, ok bool) int {
	if t == nil || !addr.IsValid() {
		return 0
	}
	addr = addr.Unmap()
	n := addr.BitLen()
	l := 0
	if ok {
		l = max(0, m.Prefix.Bits())
	}
	for _, x := range [...]struct {
		trie *bart.Table[Match]
		idx  *scopeIndex
	}{{t.a, t.ia}, {t.b, t.ib}} {
		switch {
		case x.trie == nil:
		case x.idx == nil:
			return n // no index (a table under construction): the safe answer
		default:
			l = max(l, x.idx.far(addr))
		}
	}
	return min(l, n)
}

// scopeIndex lists every prefix of one layer sorted by start address, then
// length: what RouteScope searches. It is immutable once published.
type scopeIndex struct {
	v4 []uint64 // address<<8 | bits
	v6 []key6
}

type key6 struct {
	hi, lo uint64
	bits   uint8
}

func v4key(p netip.Prefix) uint64 {
	a := p.Addr().As4()
	return uint64(a[0])<<32 | uint64(a[1])<<24 | uint64(a[2])<<16 | uint64(a[3])<<8 | uint64(p.Bits())
}

func v6key(p netip.Prefix) key6 {
	a := p.Addr().As16()
	return key6{hi: be64(a[:8]), lo: be64(a[8:]), bits: uint8(p.Bits())}
}

func be64(b []byte) uint64 {
	_ = b[7]
	return uint64(b[0])<<56 | uint64(b[1])<<48 | uint64(b[2])<<40 | uint64(b[3])<<32 |
		uint64(b[4])<<24 | uint64(b[5])<<16 | uint64(b[6])<<8 | uint64(b[7])
}

func cmp6(x, y key6) int {
	return cmp.Or(cmp.Compare(x.hi, y.hi), cmp.Compare(x.lo, y.lo), cmp.Compare(x.bits, y.bits))
}

// buildIndex indexes every prefix of trie (nil for a nil trie).
func buildIndex(trie *bart.Table[Match]) *scopeIndex {
	if trie == nil {
		return nil
	}
	x := &scopeIndex{
		v4: make([]uint64, 0, trie.Size4()),
		v6: make([]key6, 0, trie.Size6()),
	}
	for p := range trie.All4() {
		x.v4 = append(x.v4, v4key(p))
	}
	for p := range trie.All6() {
		x.v6 = append(x.v6, v6key(p))
	}
	slices.Sort(x.v4)
	slices.SortFunc(x.v6, cmp6)
	return x
}

// change says that prefix key k is now present or absent.
type change[K any] struct {
	k       K
	present bool
}

// apply returns a new index: x with the changed prefixes (canonical)
// inserted where present reports them, removed where not. x is not
// modified. It costs a copy of x plus a binary search per change.
func (x *scopeIndex) apply(changed iter.Seq[netip.Prefix], present func(netip.Prefix) bool) *scopeIndex {
	var c4 []change[uint64]
	var c6 []change[key6]
	for p := range changed {
		if p.Addr().Is4() {
			c4 = append(c4, change[uint64]{v4key(p), present(p)})
		} else {
			c6 = append(c6, change[key6]{v6key(p), present(p)})
		}
	}
	slices.SortFunc(c4, func(a, b change[uint64]) int { return cmp.Compare(a.k, b.k) })
	slices.SortFunc(c6, func(a, b change[key6]) int { return cmp6(a.k, b.k) })
	return &scopeIndex{
		v4: merge(x.v4, c4, cmp.Compare[uint64]),
		v6: merge(x.v6, c6, cmp6),
	}
}

// merge returns sorted old with the sorted, distinct changes applied.
func merge[K any](old []K, changes []change[K], cmp func(K, K) int) []K {
	if len(changes) == 0 {
		return old
	}
	out := make([]K, 0, len(old)+len(changes))
	for _, c := range changes {
		i, found := slices.BinarySearchFunc(old, c.k, cmp)
		out = append(out, old[:i]...)
		old = old[i:]
		if found {
			old = old[1:]
		}
		if c.present {
			out = append(out, c.k)
		}
	}
	return slices.Clip(append(out, old...))
}

// far returns 1 + the longest common prefix of addr (unmapped) with the
// start of any indexed prefix that does not contain addr, or 0 if there is
// none: the length of the shortest prefix around addr that contains none of
// them.
//
// Why the two neighbours suffice. For numbers x <= y <= a (addresses as
// integers), cpl(x, a) <= cpl(y, a): the numbers sharing x's and a's first
// k bits form an interval, and y lies inside it. Likewise for a <= y <= x.
// So among the prefixes not containing addr, the maximum cpl is reached by
// the one with the greatest start <= addr or the one with the least start
// > addr (ties in start share cpl). A prefix whose start is greater than addr
// never contains addr, so the latter is simply the successor of addr in the
// index. Walking back from there, a prefix (s, b) contains addr exactly when
// b <= cpl(addr, s); the prefixes skipped this way are supernets of addr in
// one layer, at most 33 (IPv4) or 129 (IPv6), so the walk is bounded.
func (x *scopeIndex) far(addr netip.Addr) int {
	if addr.Is4() {
		a4 := addr.As4()
		a := uint32(a4[0])<<24 | uint32(a4[1])<<16 | uint32(a4[2])<<8 | uint32(a4[3])
		s := x.v4
		// No key has bits 0xff: i is the first prefix starting after addr.
		i, _ := slices.BinarySearch(s, uint64(a)<<8|0xff)
		best := 0
		if i < len(s) {
			best = bits.LeadingZeros32(uint32(s[i]>>8)^a) + 1
		}
		for j := i - 1; j >= 0; j-- {
			c := bits.LeadingZeros32(uint32(s[j]>>8) ^ a)
			if int(s[j]&0xff) > c {
				best = max(best, c+1)
				break
			}
		}
		return best
	}
	a16 := addr.As16()
	a := key6{hi: be64(a16[:8]), lo: be64(a16[8:]), bits: 0xff}
	s := x.v6
	i, _ := slices.BinarySearchFunc(s, a, cmp6)
	best := 0
	if i < len(s) {
		best = cpl6(s[i], a) + 1
	}
	for j := i - 1; j >= 0; j-- {
		c := cpl6(s[j], a)
		if int(s[j].bits) > c {
			best = max(best, c+1)
			break
		}
	}
	return best
}

// cpl6 is the number of leading address bits x and y share.
func cpl6(x, y key6) int {
	if x.hi != y.hi {
		return bits.LeadingZeros64(x.hi ^ y.hi)
	}
	return 64 + bits.LeadingZeros64(x.lo^y.lo)
}
