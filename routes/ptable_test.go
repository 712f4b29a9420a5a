package routes

import (
	"math/rand/v2"
	"net/netip"
	"testing"
)

// ptable against a Go map, through inserts, updates, deletes, growth and
// clean-ups of deleted slots, and deletes while iterating.
func TestPtableLikeAMap(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	var pt ptable
	model := map[pkey]uint32{}
	keys := make([]pkey, 5000)
	for i := range keys {
		a := netip.AddrFrom4([4]byte{10, byte(i >> 8), byte(i), 0})
		keys[i] = keyOf(netip.PrefixFrom(a, 24))
		if i%3 == 0 {
			keys[i] = keyOf(netip.PrefixFrom(netip.AddrFrom16([16]byte{0x20, 1, 0xd, 0xb8, byte(i >> 8), byte(i)}), 48))
		}
	}
	check := func(step int) {
		t.Helper()
		if pt.len() != len(model) {
			t.Fatalf("step %d: len %d, want %d", step, pt.len(), len(model))
		}
		for _, k := range keys {
			got, ok := pt.get(k)
			want, wok := model[k]
			if ok != wok || got != want {
				t.Fatalf("step %d: %v = %d %v, want %d %v", step, k.prefix(), got, ok, want, wok)
			}
		}
		seen := 0
		for i, k := range pt.all() {
			if model[k] != pt.id(i) {
				t.Fatalf("step %d: all gives %v = %d, want %d", step, k.prefix(), pt.id(i), model[k])
			}
			seen++
		}
		if seen != len(model) {
			t.Fatalf("step %d: all gives %d, want %d", step, seen, len(model))
		}
	}
	for step := range 60000 {
		k := keys[rng.IntN(len(keys))]
		switch rng.IntN(4) {
		case 0, 1:
			v := uint32(rng.IntN(100))
			pt.put(k, v)
			model[k] = v
		case 2:
			i, found := pt.slot(k)
			if _, ok := model[k]; ok != found {
				t.Fatalf("step %d: slot found %v, want %v", step, found, ok)
			}
			if !found {
				model[k] = 0
			}
			pt.set(i, 7)
			model[k] = 7
		case 3:
			pt.delete(k)
			delete(model, k)
		}
		if step%5000 == 4999 {
			check(step)
			// Delete every other prefix while iterating, as purge does.
			odd := false
			for i, k := range pt.all() {
				if odd = !odd; odd {
					pt.del(i)
					delete(model, k)
				}
			}
			check(step)
		}
	}
}
