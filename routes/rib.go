package routes

import (
	"net/netip"
	"slices"
	"strings"
	"time"

	"github.com/gaissmai/bart"
)

// persistRatio: a batch of changes is applied to the published trie with
// persistent (path-copying) updates when it touches fewer than 1/persistRatio
// of all prefixes; otherwise a fresh trie is built with plain inserts, which
// is cheaper per prefix. BenchmarkRIBPublish on a 1M-prefix RIB: a persistent
// update allocates ~16 KB and costs 20-60 us, a rebuild ~130 B and ~1.2 us per
// prefix (plus GC), so the break-even is near 1 change in 120 prefixes.
// Either way the RouteScope index is rebuilt (sorted) or copied with the
// changes merged in: an O(prefixes) copy (8 bytes per IPv4 prefix, 24 per
// IPv6) per publish, a few ms for 1M prefixes, which the debounce bounds.
const persistRatio = 128

// peerInfo is one configured peer as routes from it are recorded. A peer that
// is removed or changed gets a new *peerInfo, so stale routes never pick up
// another datacenter.
type peerInfo struct {
	addr netip.Addr
	cfg  PeerConfig
	src  string // "bgp 127.0.0.2"
	// stale marks the routes loaded from the cache at start (one such
	// peerInfo per peer, src staleSource): they hold the peer's slot
	// apart from its live routes until its End-of-RIB or stale_timeout.
	stale bool
}

// staleSource is Reach.Source of a route from the start-up cache.
func staleSource(a netip.Addr) string { return "bgp " + a.String() + ", stale from cache" }

// maxSlots is how many peer configurations the RIB tells apart at once.
const maxSlots = 255

// A path set is what the RIB keeps per prefix: which peers reach it and over
// how many AS hops. Sets are interned: a full table from a few sites has
// millions of prefixes but only as many distinct sets as there are
// combinations of path lengths (hundreds to a few thousand), so a prefix
// costs one map entry with a uint32, and its []Reach is shared.
type pathSet struct {
	key   string  // 3 bytes per peer, sorted by slot: slot, pathLen (big endian uint16)
	reach []Reach // sorted, read-only: shared with published tables
}

// rib is the speaker's compact view of every peer's Adj-RIB-In, owned by the
// speaker's run goroutine, and the trie last published from it.
type rib struct {
	paths  ptable // prefix -> index into sets
	sets   []pathSet
	setID  map[string]uint32
	slots  []*peerInfo        // slot -> peer configuration; reusable when its count is 0
	nslot  []int              // routes per slot
	counts map[netip.Addr]int // prefixes per peer address
	dirty  map[pkey]struct{}  // changed since the last publish (keys without pointers: never scanned)
	tbl    *bart.Table[Match] // published: never mutated in place
	idx    *scopeIndex        // tbl's index, published with it
	// unpublished: tbl was built whole (loadCached) and not published yet.
	unpublished bool
	// large: the last publish folded dirtyShrink changes or more.
	large bool
}

func newRIB() *rib {
	r := &rib{
		setID:  make(map[string]uint32),
		counts: make(map[netip.Addr]int),
		dirty:  make(map[pkey]struct{}),
	}
	r.intern(nil) // set 0: empty
	return r
}

// pkey is a canonical prefix as a map key without pointers (netip.Prefix
// holds one for the zone), so that the garbage collector never scans the
// RIB's millions of entries.
type pkey struct {
	hi, lo uint64
	bits   int16 // prefix length; +256 for IPv4
}

func keyOf(p netip.Prefix) pkey {
	a := p.Addr().As16()
	k := pkey{hi: be64(a[:8]), lo: be64(a[8:]), bits: int16(p.Bits())}
	if p.Addr().Is4() {
		k.bits += 256
	}
	return k
}

func (k pkey) prefix() netip.Prefix {
	var a [16]byte
	for i := range 8 {
		a[i], a[8+i] = byte(k.hi>>(56-8*i)), byte(k.lo>>(56-8*i))
	}
	ad := netip.AddrFrom16(a)
	if k.bits >= 256 {
		return netip.PrefixFrom(ad.Unmap(), int(k.bits-256))
	}
	return netip.PrefixFrom(ad, int(k.bits))
}

// slot returns peer's slot, taking a free one if it has none (-1 when all
// maxSlots are in use).
func (r *rib) slot(peer *peerInfo) int {
	free := -1
	for i, p := range r.slots {
		if p == peer {
			return i
		}
		if free < 0 && r.nslot[i] == 0 {
			free = i
		}
	}
	if free < 0 {
		if len(r.slots) == maxSlots {
			return -1
		}
		r.slots = append(r.slots, nil)
		r.nslot = append(r.nslot, 0)
		free = len(r.slots) - 1
	}
	if r.slots[free] != nil {
		// The slot's last owner has no routes left; forget the interned
		// sets that name it so that they are not reused for the new owner.
		for k := range r.setID {
			if strings.IndexByte(slotsOf(k), byte(free)) >= 0 {
				delete(r.setID, k)
			}
		}
	}
	r.slots[free] = peer
	return free
}

// slotsOf returns the slot bytes of a set key, for IndexByte.
func slotsOf(key string) string {
	b := make([]byte, 0, len(key)/3)
	for i := 0; i < len(key); i += 3 {
		b = append(b, key[i])
	}
	return string(b)
}

// intern returns the id of the set with key k (3-byte entries sorted by slot).
func (r *rib) intern(k []byte) uint32 {
	if id, ok := r.setID[string(k)]; ok {
		return id
	}
	ps := pathSet{key: string(k)}
	if len(k) > 0 {
		ps.reach = make([]Reach, 0, len(k)/3)
		for i := 0; i < len(k); i += 3 {
			p := r.slots[k[i]]
			ps.reach = append(ps.reach, Reach{Datacenter: p.cfg.Datacenter, PathLen: int(k[i+1])<<8 | int(k[i+2]), Source: p.src})
		}
		ps.reach = sortReach(ps.reach)
	}
	id := uint32(len(r.sets))
	r.sets = append(r.sets, ps)
	r.setID[ps.key] = id
	return id
}

// set stores prefix p's new set key k (nil: no peer reaches it).
func (r *rib) set(p netip.Prefix, k []byte) {
	key := keyOf(p)
	if len(k) == 0 {
		r.paths.delete(key)
	} else {
		r.paths.put(key, r.intern(k))
	}
	r.dirty[key] = struct{}{}
}

// without appends to dst the entries of key that are not from addr, and
// counts the removed ones off.
func (r *rib) without(dst []byte, key string, addr netip.Addr) []byte {
	for i := 0; i < len(key); i += 3 {
		sl := key[i]
		if r.slots[sl].addr == addr {
			r.nslot[sl]--
			if r.counts[addr]--; r.counts[addr] <= 0 {
				delete(r.counts, addr)
			}
			continue
		}
		dst = append(dst, key[i:i+3]...)
	}
	return dst
}

// update records that peer reaches p over pathLen AS hops.
func (r *rib) update(peer *peerInfo, p netip.Prefix, pathLen int) {
	p = canonical(p)
	sl := r.slot(peer)
	if sl < 0 {
		return
	}
	pl := uint16(min(max(pathLen, 0), 0xffff))
	key := keyOf(p)
	slot, _ := r.paths.slot(key) // (set 0, reached by none, if new)
	old := r.sets[r.paths.id(slot)].key
	var buf [3 * 8]byte
	// Any entry of this address (this or a replaced configuration) goes.
	k := r.without(buf[:0], old, peer.addr)
	i := 0
	for i < len(k) && k[i] < byte(sl) {
		i += 3
	}
	k = slices.Insert(k, i, byte(sl), byte(pl>>8), byte(pl))
	r.nslot[sl]++
	r.counts[peer.addr]++
	if string(k) != old {
		r.paths.set(slot, r.intern(k)) // (intern does not touch paths)
		r.dirty[key] = struct{}{}
	}
}

// withdraw removes peer's path to p.
func (r *rib) withdraw(addr netip.Addr, p netip.Prefix) {
	p = canonical(p)
	id, ok := r.paths.get(keyOf(p))
	if !ok {
		return
	}
	old := r.sets[id].key
	var buf [3 * 8]byte
	if k := r.without(buf[:0], old, addr); len(k) != len(old) {
		r.set(p, k)
	}
}

// purge removes every path learned from addr that is live (stale false) or
// from the start-up cache (stale true), and returns how many it removed.
// It costs one pass over the prefixes and one new set per distinct old one.
func (r *rib) purge(addr netip.Addr, stale bool) int {
	return r.purgeWhere(func(p *peerInfo) bool { return p.addr == addr && p.stale == stale })
}

// purgeWhere removes every path of the slots whose peer match accepts and
// returns how many it removed.
func (r *rib) purgeWhere(match func(*peerInfo) bool) int {
	var hit []bool
	n := 0
	for i, sp := range r.slots {
		if sp != nil && r.nslot[i] > 0 && match(sp) {
			if hit == nil {
				hit = make([]bool, len(r.slots))
			}
			hit[i] = true
			n += r.nslot[i]
		}
	}
	if n == 0 {
		return 0
	}
	gone := make(map[uint32]int64) // old set -> new set, -1 for none; absent: untouched
	var buf []byte
	for i, k := range r.paths.all() {
		id := r.paths.id(i)
		to, seen := gone[id]
		if !seen {
			to = int64(id)
			key := r.sets[id].key
			for i := 0; i < len(key); i += 3 {
				if hit[key[i]] {
					buf = buf[:0]
					for j := 0; j < len(key); j += 3 {
						if !hit[key[j]] {
							buf = append(buf, key[j:j+3]...)
						}
					}
					to = -1
					if len(buf) > 0 {
						to = int64(r.intern(buf))
					}
					break
				}
			}
			gone[id] = to
		}
		switch {
		case to == int64(id):
		case to < 0:
			r.paths.del(i)
			r.dirty[k] = struct{}{}
		default:
			r.paths.set(i, uint32(to))
			r.dirty[k] = struct{}{}
		}
	}
	for i, sp := range r.slots {
		if hit[i] {
			if r.counts[sp.addr] -= r.nslot[i]; r.counts[sp.addr] <= 0 {
				delete(r.counts, sp.addr)
			}
			r.nslot[i] = 0
		}
	}
	return n
}

// staleCount returns how many routes from the start-up cache are left.
func (r *rib) staleCount() int {
	n := 0
	for i, sp := range r.slots {
		if sp != nil && sp.stale {
			n += r.nslot[i]
		}
	}
	return n
}

// publish folds the dirty prefixes into a new immutable trie and returns it
// as a one-layer Table, or nil when nothing changed.
func (r *rib) publish() *Table {
	if len(r.dirty) == 0 && r.tbl != nil && !r.unpublished {
		return nil
	}
	r.unpublished = false
	switch {
	case len(r.dirty) == 0 && r.tbl != nil:
		// tbl and idx are current (built by loadCached).
	case r.tbl == nil || len(r.dirty)*persistRatio >= r.paths.len():
		t := new(bart.Table[Match])
		for i, k := range r.paths.all() {
			id := r.paths.id(i)
			p := k.prefix()
			t.Insert(p, Match{Prefix: p, Reach: r.sets[id].reach})
		}
		r.tbl = t
		r.idx = buildIndex(t)
	default:
		t := r.tbl
		for k := range r.dirty {
			p := k.prefix()
			if id, ok := r.paths.get(k); ok {
				t = t.InsertPersist(p, Match{Prefix: p, Reach: r.sets[id].reach})
			} else {
				t = t.DeletePersist(p)
			}
		}
		r.tbl = t
		changed := func(yield func(netip.Prefix) bool) {
			for k := range r.dirty {
				if !yield(k.prefix()) {
					return
				}
			}
		}
		r.idx = r.idx.apply(changed, func(p netip.Prefix) bool {
			_, ok := r.paths.get(keyOf(p))
			return ok
		})
	}
	r.large = len(r.dirty) >= dirtyShrink
	if r.large {
		// A map keeps the room of its largest size when cleared: after a
		// full table's feed that was ~60 MiB for 1.2M prefixes, held for
		// good. A new one grows again as the next changes come.
		r.dirty = make(map[pkey]struct{})
	} else {
		clear(r.dirty)
	}
	return &Table{a: r.tbl, ia: r.idx, n4: r.tbl.Size4(), n6: r.tbl.Size6()}
}

// dirtyShrink: a publication of at least this many changes leaves a new
// dirty map rather than the cleared one.
const dirtyShrink = 1 << 16

// debounce says when to publish: after quiet of no events, but no later than
// maxDelay after the first unpublished change, stretched to publishStretch x the last
// publish's duration so that a large feed is not rebuilt over and over.
type debounce struct {
	quiet, maxDelay time.Duration
}

// publishStretch: while a feed keeps arriving, publications are at least this
// many times their own duration apart, so that rebuilding the table takes at
// most 1/publishStretch of the time. At 3 x 1.2M routes the rebuilds were 20%
// of the load's CPU with 4; the last publication still follows 200 ms after
// the feed goes quiet.
const publishStretch = 8

var defaultDebounce = debounce{quiet: 200 * time.Millisecond, maxDelay: time.Second}
