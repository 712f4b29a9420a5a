package zones

import (
	"net"
	"unsafe"

	mdns "github.com/miekg/dns"
)

// store keeps a zone's records as the validator accepts them: copied out
// of the parser's allocations into chunks, one run of chunks per common
// type, with their names, TXT strings and addresses cut from byte chunks.
//
// The parser allocates each record, name and address as its own small
// object, interleaved with about five times as much short-lived garbage
// (1M records: ~2.5M live small objects among ~400 MB). Kept where the
// parser put them, they left most of the heap's spans holding a few live
// objects each after the garbage was collected, so the runtime could
// return little of it to the OS: with the 1M-record bench zone, heap in
// use stayed ~90 MiB above the live heap. Copied at once into chunks (the
// parser's record becomes garbage with the rest), they leave the parse's
// spans wholly free.
//
// Records of other types stay where the parser put them. A record's value
// does not change, only where it lives, so nothing that reads it can tell.
type store struct {
	bytes chunks[byte]
	strs  chunks[string]
	a     chunks[mdns.A]
	aaaa  chunks[mdns.AAAA]
	cname chunks[mdns.CNAME]
	mx    chunks[mdns.MX]
	ns    chunks[mdns.NS]
	ptr   chunks[mdns.PTR]
	srv   chunks[mdns.SRV]
	txt   chunks[mdns.TXT]
	last  string // the last string copied (s's bytes may be reused: compared, never kept)
	// known returns the store's copy of a name it already holds (an
	// owner), "" if none: names in RDATA share it.
	known func(string) string
}

// record returns rr copied into the store, its owner name replaced by
// owner (a string of the store).
func (st *store) record(rr mdns.RR, owner string) mdns.RR {
	switch rr := rr.(type) {
	case *mdns.A:
		c := st.a.add(rr)
		c.Hdr.Name = owner
		if ip4 := c.A.To4(); ip4 != nil {
			c.A = net.IP(st.bytes.copy(ip4))
		}
		return c
	case *mdns.AAAA:
		c := st.aaaa.add(rr)
		c.Hdr.Name = owner
		if len(c.AAAA) == net.IPv6len {
			c.AAAA = net.IP(st.bytes.copy(c.AAAA))
		}
		return c
	case *mdns.CNAME:
		c := st.cname.add(rr)
		c.Hdr.Name, c.Target = owner, st.name(c.Target)
		return c
	case *mdns.MX:
		c := st.mx.add(rr)
		c.Hdr.Name, c.Mx = owner, st.name(c.Mx)
		return c
	case *mdns.NS:
		c := st.ns.add(rr)
		c.Hdr.Name, c.Ns = owner, st.name(c.Ns)
		return c
	case *mdns.PTR:
		c := st.ptr.add(rr)
		c.Hdr.Name, c.Ptr = owner, st.name(c.Ptr)
		return c
	case *mdns.SRV:
		c := st.srv.add(rr)
		c.Hdr.Name, c.Target = owner, st.name(c.Target)
		return c
	case *mdns.TXT:
		c := st.txt.add(rr)
		c.Hdr.Name = owner
		txt := st.strs.room(len(c.Txt))
		for i, s := range c.Txt {
			txt[i] = st.string(s)
		}
		c.Txt = txt
		return c
	}
	rr.Header().Name = owner
	return rr
}

// name returns the store's copy of a domain name in RDATA: the owner's
// when the zone has that owner (a CNAME's or MX's target often is one).
func (st *store) name(s string) string {
	if st.known != nil {
		if k := st.known(s); k != "" {
			return k
		}
	}
	return st.string(s)
}

// string returns a copy of s cut from the store's bytes; the same string
// twice in a row is copied once. s itself is not kept: fastParse hands in
// strings over buffers it reuses.
func (st *store) string(s string) string {
	if s == "" {
		return ""
	}
	if s == st.last {
		return st.last
	}
	b := st.bytes.copy([]byte(s)) // (the conversion does not allocate)
	st.last = unsafe.String(&b[0], len(b))
	return st.last
}

// Chunk sizes: each chunk holds as many items as the chunks before it,
// between minChunk and maxChunk bytes, so that a small zone wastes little
// and a large one is a few hundred large allocations.
const (
	minChunk = 512
	maxChunk = 512 << 10
)

// chunks hands out items from chunks that are never grown (which would
// move what was handed out).
type chunks[T any] struct {
	cur []T
	n   int // items in earlier chunks
}

// room returns k consecutive fresh items.
func (c *chunks[T]) room(k int) []T {
	if k == 0 {
		return nil
	}
	if len(c.cur)+k > cap(c.cur) {
		c.n += len(c.cur)
		sz := int(unsafe.Sizeof(*new(T)))
		size := min(max(minChunk/sz, c.n), maxChunk/sz)
		c.cur = make([]T, 0, max(size, k))
	}
	c.cur = c.cur[:len(c.cur)+k]
	return c.cur[len(c.cur)-k : len(c.cur) : len(c.cur)]
}

// add returns a copy of *v.
func (c *chunks[T]) add(v *T) *T {
	p := &c.room(1)[0]
	*p = *v
	return p
}

// copy returns a copy of s.
func (c *chunks[T]) copy(s []T) []T {
	d := c.room(len(s))
	copy(d, s)
	return d
}
