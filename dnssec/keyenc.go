package dnssec

import (
	"encoding/binary"

	mdns "github.com/miekg/dns"
)

// keyWriter writes the cache key of an RRset: an injective encoding of
// each record (not wire format: it only has to tell RRsets apart). It
// never writes to the records, which the zone snapshot shares between
// goroutines (mdns.PackRR sets Header().Rdlength, a data race on shared
// records), and allocates nothing for the types it knows.
type keyWriter struct {
	b   []byte
	off int
	ok  bool
}

func (w *keyWriter) room(n int) bool {
	if w.off+n > len(w.b) {
		w.ok = false
	}
	return w.ok
}

func (w *keyWriter) u16(v uint16) {
	if w.room(2) {
		binary.BigEndian.PutUint16(w.b[w.off:], v)
		w.off += 2
	}
}

func (w *keyWriter) u32(v uint32) {
	if w.room(4) {
		binary.BigEndian.PutUint32(w.b[w.off:], v)
		w.off += 4
	}
}

// str writes a length and the bytes of s.
func (w *keyWriter) str(s string) {
	w.u16(uint16(len(s)))
	if len(s) > 0xffff {
		w.ok = false
	}
	if w.room(len(s)) {
		w.off += copy(w.b[w.off:], s)
	}
}

func (w *keyWriter) bytes(b []byte) {
	w.u16(uint16(len(b)))
	if w.room(len(b)) {
		w.off += copy(w.b[w.off:], b)
	}
}

// name writes a name as its presentation text with a length (not wire
// form: packing a name costs more than the rest of a cache hit), lower-cased
// when lower is set. Two spellings of one name (escapes, case in RDATA) are
// two keys: a second signature, never a wrong one.
func (w *keyWriter) name(s string, lower bool) {
	w.u16(uint16(len(s)))
	if len(s) > 0xffff || !w.room(len(s)) {
		w.ok = false
		return
	}
	b := w.b[w.off : w.off+len(s)]
	copy(b, s)
	if lower {
		for i, c := range b {
			if 'A' <= c && c <= 'Z' {
				b[i] = c + 'a' - 'A'
			}
		}
	}
	w.off += len(s)
}

// rr writes one record. Types it does not know are packed from a copy
// (one allocation), so that the shared record is not written to.
func (w *keyWriter) rr(rr mdns.RR) {
	h := rr.Header()
	w.name(h.Name, true)
	w.u16(h.Rrtype)
	w.u16(h.Class)
	w.u32(h.Ttl)
	switch r := rr.(type) {
	case *mdns.A: // 4 octets whichever way the record was made (SignAddrs)
		if a4 := r.A.To4(); a4 != nil {
			w.bytes(a4)
		} else {
			w.bytes(r.A)
		}
	case *mdns.AAAA:
		w.bytes(r.AAAA.To16())
	case *mdns.CNAME:
		w.name(r.Target, false)
	case *mdns.NS:
		w.name(r.Ns, false)
	case *mdns.PTR:
		w.name(r.Ptr, false)
	case *mdns.DNAME:
		w.name(r.Target, false)
	case *mdns.MX:
		w.u16(r.Preference)
		w.name(r.Mx, false)
	case *mdns.SRV:
		w.u16(r.Priority)
		w.u16(r.Weight)
		w.u16(r.Port)
		w.name(r.Target, false)
	case *mdns.SOA:
		w.name(r.Ns, false)
		w.name(r.Mbox, false)
		w.u32(r.Serial)
		w.u32(r.Refresh)
		w.u32(r.Retry)
		w.u32(r.Expire)
		w.u32(r.Minttl)
	case *mdns.TXT:
		w.u16(uint16(len(r.Txt)))
		for _, s := range r.Txt {
			w.str(s)
		}
	case *mdns.HINFO:
		w.str(r.Cpu)
		w.str(r.Os)
	case *mdns.CAA:
		w.u16(uint16(r.Flag))
		w.str(r.Tag)
		w.str(r.Value)
	case *mdns.DS:
		w.u16(r.KeyTag)
		w.u16(uint16(r.Algorithm)<<8 | uint16(r.DigestType))
		w.str(r.Digest)
	case *mdns.DNSKEY:
		w.u16(r.Flags)
		w.u16(uint16(r.Protocol)<<8 | uint16(r.Algorithm))
		w.str(r.PublicKey)
	default:
		if !w.ok {
			return
		}
		c := mdns.Copy(rr)
		end, err := mdns.PackRR(c, w.b, w.off, nil, false)
		if err != nil {
			w.ok = false
			return
		}
		w.off = end
	}
}
