package zones

import (
	"unsafe"

	mdns "github.com/miekg/dns"
)

// compact moves what a loaded zone keeps into a few large allocations made
// after the parse: every name and TXT string into one byte arena, the
// records of the common types into one slice per type, AAAA addresses
// into one byte slice (packA did the A addresses). rrs then points to the
// copies.
//
// The parser allocates each record, name and address as its own small
// object, interleaved with about five times as much short-lived garbage
// (1M records: ~2.5M live small objects among ~400 MB). After the garbage
// collector frees that garbage, most of the heap's spans still hold a few
// live objects each, so the runtime can return little of it to the OS:
// with the 1M-record bench zone, heap in use stayed ~70 MiB above the live
// heap. Once the records live in slabs, the parse's spans become wholly
// free. The copy costs one pass over the records.
//
// Records of other types stay where the parser put them. A record's value
// does not change, only where it lives, so nothing that reads it can tell.
func compact(rrs []mdns.RR) {
	var nA, nAAAA, nCNAME, nMX, nTXT, nNS, nPTR, nSRV, nStr, size int
	prev := ""
	for _, rr := range rrs {
		h := rr.Header()
		if h.Name != prev {
			prev = h.Name
			size += len(h.Name)
		}
		switch rr := rr.(type) {
		case *mdns.A:
			nA++
		case *mdns.AAAA:
			nAAAA++
		case *mdns.CNAME:
			nCNAME++
			size += len(rr.Target)
		case *mdns.MX:
			nMX++
			size += len(rr.Mx)
		case *mdns.NS:
			nNS++
			size += len(rr.Ns)
		case *mdns.PTR:
			nPTR++
			size += len(rr.Ptr)
		case *mdns.SRV:
			nSRV++
			size += len(rr.Target)
		case *mdns.TXT:
			nTXT++
			nStr += len(rr.Txt)
			for _, s := range rr.Txt {
				size += len(s)
			}
		}
	}
	ar := arena{buf: make([]byte, 0, size)}
	as := slab[mdns.A]{make([]mdns.A, 0, nA)}
	aaaas := slab[mdns.AAAA]{make([]mdns.AAAA, 0, nAAAA)}
	addrs := make([]byte, 0, 16*nAAAA)
	cnames := slab[mdns.CNAME]{make([]mdns.CNAME, 0, nCNAME)}
	mxs := slab[mdns.MX]{make([]mdns.MX, 0, nMX)}
	nss := slab[mdns.NS]{make([]mdns.NS, 0, nNS)}
	ptrs := slab[mdns.PTR]{make([]mdns.PTR, 0, nPTR)}
	srvs := slab[mdns.SRV]{make([]mdns.SRV, 0, nSRV)}
	txts := slab[mdns.TXT]{make([]mdns.TXT, 0, nTXT)}
	strs := make([]string, 0, nStr)

	prev, owner := "", ""
	for i, rr := range rrs {
		if h := rr.Header(); h.Name != prev {
			prev, owner = h.Name, ar.string(h.Name)
		}
		switch rr := rr.(type) {
		case *mdns.A:
			c := as.add(rr)
			c.Hdr.Name = owner
			rrs[i] = c
		case *mdns.AAAA:
			c := aaaas.add(rr)
			c.Hdr.Name = owner
			if len(c.AAAA) == 16 {
				addrs = append(addrs, c.AAAA...)
				c.AAAA = addrs[len(addrs)-16 : len(addrs) : len(addrs)]
			}
			rrs[i] = c
		case *mdns.CNAME:
			c := cnames.add(rr)
			c.Hdr.Name, c.Target = owner, ar.string(c.Target)
			rrs[i] = c
		case *mdns.MX:
			c := mxs.add(rr)
			c.Hdr.Name, c.Mx = owner, ar.string(c.Mx)
			rrs[i] = c
		case *mdns.NS:
			c := nss.add(rr)
			c.Hdr.Name, c.Ns = owner, ar.string(c.Ns)
			rrs[i] = c
		case *mdns.PTR:
			c := ptrs.add(rr)
			c.Hdr.Name, c.Ptr = owner, ar.string(c.Ptr)
			rrs[i] = c
		case *mdns.SRV:
			c := srvs.add(rr)
			c.Hdr.Name, c.Target = owner, ar.string(c.Target)
			rrs[i] = c
		case *mdns.TXT:
			c := txts.add(rr)
			c.Hdr.Name = owner
			k := len(strs)
			for _, s := range c.Txt {
				strs = append(strs, ar.string(s))
			}
			c.Txt = strs[k:len(strs):len(strs)]
			rrs[i] = c
		default:
			rr.Header().Name = owner
		}
	}
}

// arena hands out strings cut from one byte slice, sized by the caller so
// that it never grows.
type arena struct{ buf []byte }

func (a *arena) string(s string) string {
	if len(s) == 0 {
		return ""
	}
	if len(a.buf)+len(s) > cap(a.buf) {
		return s // (not sized for it: keep the original)
	}
	a.buf = append(a.buf, s...)
	return unsafe.String(&a.buf[len(a.buf)-len(s)], len(s))
}

// slab hands out copies of records from one slice, sized by the caller.
type slab[T any] struct{ s []T }

func (s *slab[T]) add(v *T) *T {
	if len(s.s) == cap(s.s) {
		c := *v // (not sized for it)
		return &c
	}
	s.s = append(s.s, *v)
	return &s.s[len(s.s)-1]
}
