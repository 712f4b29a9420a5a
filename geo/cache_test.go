package geo

import (
	"net/netip"
	"sync"
	"testing"
)

// walk is Lookup without the cache: the answer the cache must reproduce.
func walk(db *DB, a netip.Addr) Location {
	c := db.cache
	db.cache = nil
	defer func() { db.cache = c }()
	return db.Lookup(a)
}

// collidingPair returns two addresses from a and b whose cache slots are
// the same and whose answers differ.
func collidingPair(t *testing.T, db *DB, a, b netip.Prefix) (netip.Addr, netip.Addr) {
	t.Helper()
	slots := map[uint32]netip.Addr{}
	for x := a.Addr(); a.Contains(x); x = x.Next() {
		slots[slotOf(keyOf(x))] = x
	}
	for y := b.Addr(); b.Contains(y); y = y.Next() {
		if x, ok := slots[slotOf(keyOf(y))]; ok && walk(db, x) != walk(db, y) {
			return x, y
		}
	}
	t.Fatalf("no two addresses of %s and %s share a slot", a, b)
	return netip.Addr{}, netip.Addr{}
}

// TestCacheCollisions: two addresses that share a slot, looked up in
// turn, each get their own answer every time.
func TestCacheCollisions(t *testing.T) {
	db := mustOpen(t, maxmindCity, maxmindASN)
	if db.cache == nil {
		t.Fatal("no cache for the test databases")
	}
	x, y := collidingPair(t, db, netip.MustParsePrefix("202.196.224.0/20"), netip.MustParsePrefix("175.16.199.0/24"))
	wx, wy := walk(db, x), walk(db, y)
	for i := range 4 {
		if got := db.Lookup(x); got != wx {
			t.Fatalf("round %d: Lookup(%s) = %+v, want %+v", i, x, got, wx)
		}
		if got := db.Lookup(y); got != wy {
			t.Fatalf("round %d: Lookup(%s) = %+v, want %+v", i, y, got, wy)
		}
	}
}

// TestCacheTornSlot: a slot whose two words were written by lookups of two
// different addresses is a miss for both, never a mixed answer.
func TestCacheTornSlot(t *testing.T) {
	db := mustOpen(t, maxmindCity, maxmindASN)
	x, y := collidingPair(t, db, netip.MustParsePrefix("202.196.224.0/20"), netip.MustParsePrefix("175.16.199.0/24"))
	db.Lookup(x)
	db.Lookup(y)
	slot := &db.cache[slotOf(keyOf(x))]
	db.Lookup(x)
	w0 := slot[0].Load() // x's city word
	db.Lookup(y)
	slot[0].Store(w0) // now: x's city word, y's ASN word
	if _, _, _, _, ok := db.cache.get(x); ok {
		t.Errorf("torn slot served x")
	}
	if _, _, _, _, ok := db.cache.get(y); ok {
		t.Errorf("torn slot served y")
	}
	if got, want := db.Lookup(x), walk(db, x); got != want {
		t.Errorf("Lookup(%s) on a torn slot = %+v, want %+v", x, got, want)
	}
}

// TestCacheConcurrent: many goroutines looking up colliding addresses at
// once always get the tree's answer (run with -race too).
func TestCacheConcurrent(t *testing.T) {
	db := mustOpen(t, maxmindCity, maxmindASN)
	x, y := collidingPair(t, db, netip.MustParsePrefix("202.196.224.0/20"), netip.MustParsePrefix("175.16.199.0/24"))
	addrs := []netip.Addr{x, y, netip.MustParseAddr("81.2.69.142"), netip.MustParseAddr("2001:218::1")}
	want := make([]Location, len(addrs))
	for i, a := range addrs {
		want[i] = walk(db, a)
	}
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			for i := range 2000 {
				k := (i + g) % len(addrs)
				if got := db.Lookup(addrs[k]); got != want[k] {
					t.Errorf("Lookup(%s) = %+v, want %+v", addrs[k], got, want[k])
					return
				}
			}
		})
	}
	wg.Wait()
}

// TestCacheEncoding: every record index and prefix length a word can hold
// comes back as written.
func TestCacheEncoding(t *testing.T) {
	a := netip.MustParseAddr("203.0.113.77")
	for _, rec := range []uint32{0, 1, 12345, maxCachedRecords - 1, noRecord} {
		for _, bits := range []int{-1, 0, 1, 24, 31, 32} {
			var pfx netip.Prefix
			if bits >= 0 {
				pfx, _ = a.Prefix(bits)
			}
			w := encodeWord(keyOf(a), rec, pfx)
			gr, gp, ok := decodeWord(w, keyOf(a), a)
			if !ok || gr != rec || gp != pfx {
				t.Errorf("rec %d /%d: decoded %d %s %v", rec, bits, gr, gp, ok)
			}
			if _, _, ok := decodeWord(w, keyOf(a)+1, a.Next()); ok {
				t.Errorf("rec %d /%d: a word answered for another address", rec, bits)
			}
		}
	}
	if _, _, ok := decodeWord(0, 0, netip.IPv4Unspecified()); ok {
		t.Error("an empty word answered for 0.0.0.0")
	}
}
