package dnssec

import (
	"bytes"
	"maps"
	"sync"
	"sync/atomic"
)

// shardCount splits a cache so that misses (which rebuild one shard's map)
// and hit counters touch only a slice of it.
const shardCount = 64

// cache maps a key (bytes, found by their 64-bit hash and compared on a
// hit) to signatures. A hit is an atomic load and a map read: no lock, no
// allocation. A miss copies one shard's map with the new entry and
// publishes the copy (copy on write), so the cost of a miss grows with the
// shard's size, not the cache's; it is small next to a signature. A full
// shard evicts with the clock algorithm: entries hit since the last sweep
// get a second chance.
type cache struct {
	perShard int
	shards   [shardCount]shard
}

type shard struct {
	m    atomic.Pointer[map[uint64]*entry]
	mu   sync.Mutex // serialises writers only
	hits atomic.Uint64
	_    [40]byte // keep neighbouring shards' counters off this cache line
}

// entry is immutable once published, apart from the used bit.
type entry struct {
	key     []byte
	refresh int64 // unix seconds: re-sign from then on
	sigs    *Signatures
	used    atomic.Bool
}

func newCache(size int) *cache {
	c := &cache{perShard: max(1, (size+shardCount-1)/shardCount)}
	for i := range c.shards {
		m := make(map[uint64]*entry)
		c.shards[i].m.Store(&m)
	}
	return c
}

// get returns the live entry for key (hash h) or nil.
func (c *cache) get(h uint64, key []byte, now int64) *entry {
	sh := &c.shards[h%shardCount]
	e := (*sh.m.Load())[h]
	if e == nil || now >= e.refresh || !bytes.Equal(e.key, key) {
		return nil
	}
	if !e.used.Load() {
		e.used.Store(true)
	}
	sh.hits.Add(1)
	return e
}

// put publishes e under hash h, evicting an entry when the shard is full.
func (c *cache) put(h uint64, e *entry) {
	sh := &c.shards[h%shardCount]
	sh.mu.Lock()
	defer sh.mu.Unlock()
	old := *sh.m.Load()
	m := maps.Clone(old)
	if m == nil {
		m = make(map[uint64]*entry, 1)
	}
	if _, ok := m[h]; !ok && len(m) >= c.perShard {
		evict(m)
	}
	m[h] = e
	sh.m.Store(&m)
}

// evict removes one entry not used since the last sweep, clearing the used
// bits it passes (the clock algorithm over Go's random map order).
func evict(m map[uint64]*entry) {
	for range 2 {
		for h, e := range m {
			if !e.used.Load() {
				delete(m, h)
				return
			}
			e.used.Store(false)
		}
	}
	for h := range m {
		delete(m, h)
		return
	}
}

// stats returns the hits and the number of entries.
func (c *cache) stats() (hits uint64, size int) {
	for i := range c.shards {
		hits += c.shards[i].hits.Load()
		size += len(*c.shards[i].m.Load())
	}
	return hits, size
}
