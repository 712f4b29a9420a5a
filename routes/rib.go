package routes

import (
	"net/netip"
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
}

// peerPath is one peer's path to a prefix.
type peerPath struct {
	peer    *peerInfo
	pathLen int32
}

// internKey identifies a reach list of up to 4 peer paths, sorted as stored.
type internKey [4]peerPath

// rib is the speaker's mutable view of every peer's Adj-RIB-In, owned by the
// speaker's run goroutine, and the trie last published from it.
type rib struct {
	paths  map[netip.Prefix][]peerPath
	counts map[netip.Addr]int // prefixes per peer
	dirty  map[netip.Prefix]struct{}
	tbl    *bart.Table[Match] // published: never mutated in place
	idx    *scopeIndex        // tbl's index, published with it
	intern map[internKey][]Reach
}

func newRIB() *rib {
	return &rib{
		paths:  make(map[netip.Prefix][]peerPath),
		counts: make(map[netip.Addr]int),
		dirty:  make(map[netip.Prefix]struct{}),
		intern: make(map[internKey][]Reach),
	}
}

// update records that peer reaches p over pathLen AS hops.
func (r *rib) update(peer *peerInfo, p netip.Prefix, pathLen int) {
	p = canonical(p)
	pp := r.paths[p]
	for i := range pp {
		if pp[i].peer.addr == peer.addr {
			if pp[i].peer == peer && int(pp[i].pathLen) == pathLen {
				return
			}
			if pp[i].peer != peer { // stale entry of a replaced peer config
				r.counts[peer.addr]--
			}
			pp[i] = peerPath{peer, int32(pathLen)}
			r.counts[peer.addr]++
			r.dirty[p] = struct{}{}
			return
		}
	}
	r.paths[p] = append(pp, peerPath{peer, int32(pathLen)})
	r.counts[peer.addr]++
	r.dirty[p] = struct{}{}
}

// withdraw removes peer's path to p.
func (r *rib) withdraw(addr netip.Addr, p netip.Prefix) {
	p = canonical(p)
	pp := r.paths[p]
	for i := range pp {
		if pp[i].peer.addr == addr {
			r.removeAt(p, pp, i)
			return
		}
	}
}

func (r *rib) removeAt(p netip.Prefix, pp []peerPath, i int) {
	r.counts[pp[i].peer.addr]--
	if r.counts[pp[i].peer.addr] <= 0 {
		delete(r.counts, pp[i].peer.addr)
	}
	if len(pp) == 1 {
		delete(r.paths, p)
	} else {
		pp[i] = pp[len(pp)-1]
		r.paths[p] = pp[:len(pp)-1]
	}
	r.dirty[p] = struct{}{}
}

// purge removes every path learned from addr and reports whether any was.
func (r *rib) purge(addr netip.Addr) bool {
	if r.counts[addr] == 0 {
		return false
	}
	for p, pp := range r.paths {
		for i := range pp {
			if pp[i].peer.addr == addr {
				r.removeAt(p, pp, i)
				break
			}
		}
	}
	delete(r.counts, addr)
	return true
}

// publish folds the dirty prefixes into a new immutable trie and returns it
// as a one-layer Table, or nil when nothing changed.
func (r *rib) publish() *Table {
	if len(r.dirty) == 0 && r.tbl != nil {
		return nil
	}
	if r.tbl == nil || len(r.dirty)*persistRatio >= len(r.paths) {
		t := new(bart.Table[Match])
		clear(r.intern)
		for p, pp := range r.paths {
			t.Insert(p, Match{Prefix: p, Reach: r.reach(pp)})
		}
		r.tbl = t
		r.idx = buildIndex(t)
	} else {
		t := r.tbl
		for p := range r.dirty {
			if pp, ok := r.paths[p]; ok {
				t = t.InsertPersist(p, Match{Prefix: p, Reach: r.reach(pp)})
			} else {
				t = t.DeletePersist(p)
			}
		}
		r.tbl = t
		r.idx = r.idx.apply(r.dirty, func(p netip.Prefix) bool {
			_, ok := r.paths[p]
			return ok
		})
	}
	clear(r.dirty)
	return &Table{a: r.tbl, ia: r.idx, n4: r.tbl.Size4(), n6: r.tbl.Size6()}
}

// reach turns peer paths into a sorted reach list, sharing equal short lists.
func (r *rib) reach(pp []peerPath) []Reach {
	var key internKey
	if len(pp) <= len(key) {
		copy(key[:], pp)
		// order-independent key: sort the few entries by address
		for i := 1; i < len(pp); i++ {
			for j := i; j > 0 && key[j].peer.addr.Less(key[j-1].peer.addr); j-- {
				key[j], key[j-1] = key[j-1], key[j]
			}
		}
		if rs, ok := r.intern[key]; ok {
			return rs
		}
	}
	rs := make([]Reach, len(pp))
	for i, x := range pp {
		rs[i] = Reach{Datacenter: x.peer.cfg.Datacenter, PathLen: int(x.pathLen), Source: x.peer.src}
	}
	rs = sortReach(rs)
	if len(pp) <= len(key) {
		r.intern[key] = rs
	}
	return rs
}

// debounce says when to publish: after quiet of no events, but no later than
// maxDelay after the first unpublished change, stretched to 4x the last
// publish's duration so that a large feed is not rebuilt over and over.
type debounce struct {
	quiet, maxDelay time.Duration
}

var defaultDebounce = debounce{quiet: 200 * time.Millisecond, maxDelay: time.Second}
