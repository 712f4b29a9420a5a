package routes

import (
	"iter"
	"math/bits"
	"math/rand/v2"
)

// ptable maps the RIB's prefixes to their path sets: an open-addressing
// table (linear probing, at most 3/4 full counting deleted slots) of keys
// and ids in two pointer-free slices. A route's update finds its prefix's
// slot once, reads the old set and writes the new one in it: a Go map took
// a lookup and an assignment, each a probe into a table too large for the
// cache (40% of a full table's ingest CPU went to map probes).
type ptable struct {
	keys []pkey
	ids  []uint32 // 0 empty, 1 deleted, id+2: present with path set id
	n    int      // present
	dead int      // deleted
	seed [3]uint64
}

const (
	ptEmpty   = 0
	ptDeleted = 1
)

func (t *ptable) len() int { return t.n }

// hash mixes k with the table's random seed (a peer cannot choose
// prefixes that collide: the seed is not known outside the process).
func (t *ptable) hash(k pkey) uint64 {
	h1, l1 := bits.Mul64(k.hi^t.seed[0], k.lo^t.seed[1])
	h2, l2 := bits.Mul64(h1^l1^uint64(uint16(k.bits)), t.seed[2]|1)
	return h2 ^ l2
}

// reserve makes room for n prefixes without growing on the way.
func (t *ptable) reserve(n int) {
	size := 16
	for size*3 < (t.n+n)*4 {
		size *= 2
	}
	if size > len(t.ids) {
		t.resize(size)
	}
}

func (t *ptable) resize(size int) {
	if t.ids == nil {
		t.seed = [3]uint64{rand.Uint64(), rand.Uint64(), rand.Uint64()}
	}
	keys, ids := t.keys, t.ids
	t.keys, t.ids, t.dead = make([]pkey, size), make([]uint32, size), 0
	mask := uint64(size - 1)
	for i, v := range ids {
		if v < 2 {
			continue
		}
		j := t.hash(keys[i]) & mask
		for t.ids[j] != ptEmpty {
			j = (j + 1) & mask
		}
		t.keys[j], t.ids[j] = keys[i], v
	}
}

// find returns k's slot, -1 if k is not present.
func (t *ptable) find(k pkey) int {
	if t.n == 0 {
		return -1
	}
	mask := uint64(len(t.ids) - 1)
	for i := t.hash(k) & mask; ; i = (i + 1) & mask {
		switch v := t.ids[i]; {
		case v == ptEmpty:
			return -1
		case v != ptDeleted && t.keys[i] == k:
			return int(i)
		}
	}
}

// get returns k's path set id.
func (t *ptable) get(k pkey) (uint32, bool) {
	if i := t.find(k); i >= 0 {
		return t.ids[i] - 2, true
	}
	return 0, false
}

// slot returns k's slot, adding k with path set 0 (reached by none) if it
// is not present; found says whether it was.
func (t *ptable) slot(k pkey) (i int, found bool) {
	if (t.n+t.dead+1)*4 > len(t.ids)*3 {
		size := max(16, len(t.ids))
		if (t.n+1)*2 > size { // mostly present: grow; mostly deleted: clean up
			size *= 2
		}
		t.resize(size)
	}
	mask := uint64(len(t.ids) - 1)
	free := -1
	for j := t.hash(k) & mask; ; j = (j + 1) & mask {
		switch v := t.ids[j]; {
		case v == ptEmpty:
			if free < 0 {
				free = int(j)
			} else {
				t.dead--
			}
			t.keys[free], t.ids[free] = k, 2
			t.n++
			return free, false
		case v == ptDeleted:
			if free < 0 {
				free = int(j)
			}
		case t.keys[j] == k:
			return int(j), true
		}
	}
}

// put sets k's path set id.
func (t *ptable) put(k pkey, id uint32) {
	i, _ := t.slot(k)
	t.ids[i] = id + 2
}

// set sets the path set id in slot i (from slot or find).
func (t *ptable) set(i int, id uint32) { t.ids[i] = id + 2 }

// id returns the path set id in slot i.
func (t *ptable) id(i int) uint32 { return t.ids[i] - 2 }

// del removes slot i's prefix.
func (t *ptable) del(i int) {
	t.ids[i] = ptDeleted
	t.n--
	t.dead++
}

// delete removes k, if present.
func (t *ptable) delete(k pkey) {
	if i := t.find(k); i >= 0 {
		t.del(i)
	}
}

// all yields each present prefix's slot and key. Slots may be changed
// (set, del) while it runs, not added.
func (t *ptable) all() iter.Seq2[int, pkey] {
	return func(yield func(int, pkey) bool) {
		for i, v := range t.ids {
			if v >= 2 && !yield(i, t.keys[i]) {
				return
			}
		}
	}
}
