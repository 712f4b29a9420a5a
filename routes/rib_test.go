package routes

import (
	"fmt"
	"maps"
	"math/rand/v2"
	"net/netip"
	"slices"
	"testing"
)

// TestRIBModel drives the compact RIB with random updates, withdrawals,
// purges and replaced peer configurations, and compares every prefix's reach
// list and every peer's count with a plain map of the same operations.
func TestRIBModel(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 8))
	addrs := []netip.Addr{netip.MustParseAddr("127.0.0.2"), netip.MustParseAddr("127.0.0.3"), netip.MustParseAddr("::1")}
	dcs := []string{"ams", "fra", "sin", "iad"}
	cur := make(map[netip.Addr]*peerInfo)
	newPeer := func(a netip.Addr) {
		dc := dcs[rng.IntN(len(dcs))]
		cur[a] = &peerInfo{addr: a, cfg: PeerConfig{Datacenter: dc}, src: "bgp " + a.String()}
	}
	for _, a := range addrs {
		newPeer(a)
	}
	pool := randomNested(rng, 300)
	type entry struct {
		peer    *peerInfo
		pathLen int
	}
	model := make(map[netip.Prefix]map[netip.Addr]entry)
	r := newRIB()
	for step := range 20000 {
		a := addrs[rng.IntN(len(addrs))]
		p := canonical(pool[rng.IntN(len(pool))])
		switch op := rng.IntN(100); {
		case op < 60:
			n := rng.IntN(300)
			r.update(cur[a], p, n)
			if model[p] == nil {
				model[p] = make(map[netip.Addr]entry)
			}
			model[p][a] = entry{cur[a], n}
		case op < 97:
			r.withdraw(a, p)
			delete(model[p], a)
		case op < 99:
			r.purge(a, false)
			for _, m := range model {
				delete(m, a)
			}
		default: // the peer's configuration changes (old routes stay until replaced)
			newPeer(a)
		}
		if step%500 != 0 && step != 19999 {
			continue
		}
		counts := make(map[netip.Addr]int)
		for p, m := range model {
			var want []Reach
			for a, e := range m {
				counts[a]++
				want = append(want, Reach{Datacenter: e.peer.cfg.Datacenter, PathLen: e.pathLen, Source: e.peer.src})
			}
			id, ok := r.paths.get(keyOf(p))
			if len(want) == 0 {
				if ok {
					t.Fatalf("step %d: %s still in the RIB: %v", step, p, r.sets[id].reach)
				}
				continue
			}
			want = sortReach(want)
			if got := r.sets[id].reach; !ok || fmt.Sprint(got) != fmt.Sprint(want) {
				t.Fatalf("step %d: %s: got %v (present %v), want %v", step, p, got, ok, want)
			}
		}
		if !maps.Equal(counts, r.counts) {
			t.Fatalf("step %d: counts %v, want %v", step, r.counts, counts)
		}
		for _, k := range r.paths.all() {
			if p := k.prefix(); len(model[p]) == 0 {
				t.Fatalf("step %d: %s in the RIB, not in the model", step, k.prefix())
			}
		}
		tbl := r.publish()
		if tbl == nil {
			continue
		}
		for p, m := range model {
			if len(m) == 0 {
				continue
			}
			got, ok := tbl.a.Get(p)
			id, _ := r.paths.get(keyOf(p))
			if !ok || !slices.Equal(got.Reach, r.sets[id].reach) {
				t.Fatalf("step %d: published %s = %v, want %v", step, p, got.Reach, r.sets[id].reach)
			}
		}
	}
}
