package geo

import (
	"net/netip"
	"sync/atomic"
)

// lookupCache is a direct-mapped cache of IPv4 lookups, shared by every
// query thread without a lock and without allocating.
//
// Each slot is two words, one per database, and each word carries the
// address it answers for:
//
//	bits 63..32  the IPv4 address
//	bits 31..26  prefix length (0..32), or prefixNone for no valid prefix
//	bits 25..0   record index + 2; 1 for a network without data; 0 empty
//
// A word is complete on its own, so a reader that sees the two words of a
// slot written by different lookups (a torn slot) notices that the
// addresses differ and walks the tree; no word can ever claim a wrong
// answer for its address. A DB is immutable, so nothing is invalidated: a
// reload builds a new DB with an empty cache.
type lookupCache [cacheSlots][2]atomic.Uint64

const (
	cacheBits  = 12
	cacheSlots = 1 << cacheBits // 64 KiB per DB

	codeBits   = 26
	codeMask   = 1<<codeBits - 1
	prefixNone = 63
	// maxCachedRecords is the most records a word can index.
	maxCachedRecords = codeMask - 2
)

// cacheable reports whether s (nil: no database) fits the cache's words.
func (s *source) cacheable() bool { return s == nil || len(s.recs) <= maxCachedRecords }

func slotOf(key uint32) uint32 { return (key * 0x9E3779B1) >> (32 - cacheBits) }

func encodeWord(key uint32, rec uint32, pfx netip.Prefix) uint64 {
	bits := uint64(prefixNone)
	if pfx.IsValid() {
		bits = uint64(pfx.Bits())
	}
	code := uint64(1)
	if rec != noRecord {
		code = uint64(rec) + 2
	}
	return uint64(key)<<32 | bits<<codeBits | code
}

// decodeWord returns the record index and prefix a word holds for addr;
// ok is false when the word is empty or belongs to another address.
func decodeWord(w uint64, key uint32, addr netip.Addr) (rec uint32, pfx netip.Prefix, ok bool) {
	code := w & codeMask
	if uint32(w>>32) != key || code == 0 {
		return noRecord, netip.Prefix{}, false
	}
	rec = noRecord
	if code > 1 {
		rec = uint32(code - 2)
	}
	if bits := int(w>>codeBits) & 63; bits != prefixNone {
		pfx, _ = addr.Prefix(bits)
	}
	return rec, pfx, true
}

func keyOf(addr netip.Addr) uint32 {
	b := addr.As4()
	return uint32(b[0])<<24 | uint32(b[1])<<16 | uint32(b[2])<<8 | uint32(b[3])
}

// get returns the cached lookups of an IPv4 address.
func (c *lookupCache) get(addr netip.Addr) (city uint32, cityPfx netip.Prefix, asn uint32, asnPfx netip.Prefix, ok bool) {
	key := keyOf(addr)
	slot := &c[slotOf(key)]
	city, cityPfx, ok = decodeWord(slot[0].Load(), key, addr)
	if !ok {
		return
	}
	asn, asnPfx, ok = decodeWord(slot[1].Load(), key, addr)
	return
}

// put stores the lookups of an IPv4 address. A lookup that failed (no
// valid prefix from a database that is loaded) is not stored: it is
// looked up again next time.
func (c *lookupCache) put(addr netip.Addr, city uint32, cityPfx netip.Prefix, hasCity bool, asn uint32, asnPfx netip.Prefix, hasASN bool) {
	if (hasCity && !cityPfx.IsValid()) || (hasASN && !asnPfx.IsValid()) {
		return
	}
	key := keyOf(addr)
	slot := &c[slotOf(key)]
	slot[0].Store(encodeWord(key, city, cityPfx))
	slot[1].Store(encodeWord(key, asn, asnPfx))
}
