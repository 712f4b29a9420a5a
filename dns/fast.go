package dns

import (
	"encoding/binary"
	"net/netip"
	"strings"
	"time"

	mdns "github.com/miekg/dns"

	"github.com/godwit-dns/godwit/dnssec"
	"github.com/godwit-dns/godwit/zones"
)

// The UDP fast path answers the common query straight from the packet:
// one IN question whose name needs no escapes, at most an OPT RR of
// version 0 with only NSID, ECS and COOKIE options, and an answer that fits
// the client's payload size with records of the common types. It copies the
// question (case preserved) into the reply, points owners equal to the
// question's name at it (0xC00C) and packs RDATA itself, allocating nothing
// for exact matches, service answers and ECS. Whatever it cannot answer
// exactly as the slow path (unpack, respond, pack with the library) would,
// it hands to the slow path before writing anything that counts: unusual
// headers or options, ANY, AXFR/IXFR, CHAOS, escapes, truncation, record
// types it does not pack.

// fastQuery is what the fast path reads from a query.
type fastQuery struct {
	id     uint16
	rd, cd bool
	qtype  uint16
	qend   int    // end of the question in the packet
	qwire  int    // wire length of the question's name
	name   []byte // presentation form, case preserved (in the scratch buffer)
	edns   ednsInfo
	ecsRaw []byte // the ECS option's address octets as received
}

// fastScratch is what one fast-path caller reuses from query to query: a
// UDP read loop owns one, Handle takes one from a pool.
type fastScratch struct {
	name  [maxNameWire + 1]byte
	names map[string]string // recent qnames, so that Lookup's string costs nothing
	res   zones.Result
	ci    ClientInfo
	addrs [zones.MaxServiceAddresses]netip.Addr
}

// maxNameWire is the longest name in wire format (RFC 1035 §3.1).
const maxNameWire = 255

// maxInterned bounds fastScratch.names; the map is cleared when full.
const maxInterned = 4096

func newFastScratch() *fastScratch {
	return &fastScratch{names: make(map[string]string, 64)}
}

// intern returns b as a string, allocating only for a name not seen lately.
func (sc *fastScratch) intern(b []byte) string {
	if s, ok := sc.names[string(b)]; ok {
		return s
	}
	if len(sc.names) >= maxInterned {
		clear(sc.names)
	}
	s := string(b)
	sc.names[s] = s
	return s
}

// labelPlain reports whether c stands for itself in a name's presentation
// form (the library escapes the others).
func labelPlain(c byte) bool {
	switch c {
	case '.', ' ', '\'', '@', ';', '(', ')', '"', '\\':
		return false
	}
	return c > ' ' && c <= '~'
}

// parseFast reads a query the fast path can answer; ok false sends it to
// the slow path. The name is written into name's backing array.
func parseFast(pkt []byte, name []byte) (q fastQuery, ok bool) {
	if len(pkt) < 17 {
		return q, false
	}
	q.id = binary.BigEndian.Uint16(pkt)
	if pkt[2]&0xF8 != 0 { // QR, opcode QUERY only
		return q, false
	}
	q.rd = pkt[2]&0x01 != 0
	q.cd = pkt[3]&0x10 != 0
	if binary.BigEndian.Uint16(pkt[4:]) != 1 || binary.BigEndian.Uint16(pkt[6:]) != 0 ||
		binary.BigEndian.Uint16(pkt[8:]) != 0 {
		return q, false
	}
	ar := binary.BigEndian.Uint16(pkt[10:])
	if ar > 1 {
		return q, false
	}
	off := 12
	name = name[:0]
	for {
		if off >= len(pkt) {
			return q, false
		}
		l := int(pkt[off])
		off++
		if l == 0 {
			break
		}
		if l > 63 || off+l > len(pkt) || off+l-12 >= maxNameWire {
			return q, false // a pointer, an extended label type, or too long
		}
		for _, c := range pkt[off : off+l] {
			if !labelPlain(c) {
				return q, false
			}
		}
		name = append(append(name, pkt[off:off+l]...), '.')
		off += l
	}
	if len(name) == 0 {
		name = append(name, '.')
	}
	q.name = name
	q.qwire = off - 12
	if off+4 > len(pkt) || binary.BigEndian.Uint16(pkt[off+2:]) != mdns.ClassINET {
		return q, false
	}
	q.qtype = binary.BigEndian.Uint16(pkt[off:])
	switch {
	case q.qtype == 0, q.qtype == mdns.TypeOPT, q.qtype >= mdns.TypeTKEY && q.qtype <= mdns.TypeANY,
		q.qtype == dnssec.TypeNXNAME:
		return q, false // meta types, AXFR, IXFR, ANY; NXNAME is FORMERR
	}
	off += 4
	q.qend = off
	if ar == 0 {
		return q, off == len(pkt)
	}
	// The OPT RR: root owner, type, payload size, TTL, RDLENGTH, options.
	if off+11 > len(pkt) || pkt[off] != 0 || binary.BigEndian.Uint16(pkt[off+1:]) != mdns.TypeOPT {
		return q, false
	}
	e := &q.edns
	e.present = true
	e.size = binary.BigEndian.Uint16(pkt[off+3:])
	e.version = pkt[off+6]
	e.do = pkt[off+7]&0x80 != 0
	e.co = pkt[off+7]&0x40 != 0
	rdlen := int(binary.BigEndian.Uint16(pkt[off+9:]))
	off += 11
	if e.version != 0 || off+rdlen != len(pkt) {
		return q, false
	}
	for off < len(pkt) {
		if off+4 > len(pkt) {
			return q, false
		}
		code := binary.BigEndian.Uint16(pkt[off:])
		n := int(binary.BigEndian.Uint16(pkt[off+2:]))
		off += 4
		if off+n > len(pkt) {
			return q, false
		}
		data := pkt[off : off+n]
		off += n
		switch code {
		case mdns.EDNS0NSID:
			e.nsid = e.nsid || n == 0
		case mdns.EDNS0COOKIE:
		case mdns.EDNS0SUBNET:
			if e.ecs || !parseECS(e, data) {
				return q, false
			}
			q.ecsRaw = data[4:]
		default:
			return q, false
		}
	}
	return q, true
}

// parseECS reads a well-formed ECS option of a query (RFC 7871 §6): family
// 1 or 2, scope 0, exactly the address octets the source prefix needs, no
// bits set beyond it.
func parseECS(e *ednsInfo, b []byte) bool {
	if len(b) < 4 || b[3] != 0 {
		return false
	}
	family, source := binary.BigEndian.Uint16(b), int(b[2])
	addr := b[4:]
	if len(addr) != (source+7)/8 {
		return false
	}
	var a netip.Addr
	switch family {
	case 1:
		if source > 32 {
			return false
		}
		var a4 [4]byte
		copy(a4[:], addr)
		a = netip.AddrFrom4(a4)
	case 2:
		if source > 128 {
			return false
		}
		var a16 [16]byte
		copy(a16[:], addr)
		a = netip.AddrFrom16(a16)
	default:
		return false
	}
	p := netip.PrefixFrom(a, source)
	if p.Masked().Addr() != a {
		return false
	}
	e.ecs, e.ecsFamily, e.ecsPrefix = true, family, p
	return true
}

// wire writes a reply into a buffer of fixed length; ok turns false on the
// first write that does not fit, and stays false.
type wire struct {
	b   []byte
	off int
	ok  bool
}

func (w *wire) room(n int) bool {
	if w.ok && w.off+n > len(w.b) {
		w.ok = false
	}
	return w.ok
}

func (w *wire) u8(v byte) {
	if w.room(1) {
		w.b[w.off] = v
		w.off++
	}
}

func (w *wire) u16(v uint16) {
	if w.room(2) {
		binary.BigEndian.PutUint16(w.b[w.off:], v)
		w.off += 2
	}
}

func (w *wire) u32(v uint32) {
	if w.room(4) {
		binary.BigEndian.PutUint32(w.b[w.off:], v)
		w.off += 4
	}
}

func (w *wire) bytes(v []byte) {
	if w.room(len(v)) {
		w.off += copy(w.b[w.off:], v)
	}
}

// name writes a fully qualified name uncompressed.
func (w *wire) name(s string) {
	if !w.ok {
		return
	}
	off, err := mdns.PackDomainName(s, w.b, w.off, nil, false)
	if err != nil {
		w.ok = false
		return
	}
	w.off = off
}

// owner writes an RR's owner: a pointer to the question's name when it is
// that name with the same case (as the library's compression would), else
// the name itself.
func (w *wire) owner(s, qname string) {
	if s == qname && len(qname) > 1 {
		w.u16(0xC000 | 12)
		return
	}
	w.name(s)
}

// rr writes one record with the given TTL; types other than the common
// ones, and TXT strings with escapes, make w not ok (the slow path packs
// them).
func (w *wire) rr(rr mdns.RR, qname string, ttl uint32) {
	h := rr.Header()
	w.owner(h.Name, qname)
	w.u16(h.Rrtype)
	w.u16(h.Class)
	w.u32(ttl)
	w.u16(0) // RDLENGTH, set below
	start := w.off
	switch rr := rr.(type) {
	case *mdns.A:
		a4 := rr.A.To4()
		if a4 == nil || h.Rrtype != mdns.TypeA {
			w.ok = false
			return
		}
		w.bytes(a4)
	case *mdns.AAAA:
		if len(rr.AAAA) != 16 || h.Rrtype != mdns.TypeAAAA {
			w.ok = false
			return
		}
		w.bytes(rr.AAAA)
	case *mdns.CNAME:
		w.name(rr.Target)
	case *mdns.NS:
		w.name(rr.Ns)
	case *mdns.PTR:
		w.name(rr.Ptr)
	case *mdns.MX:
		w.u16(rr.Preference)
		w.name(rr.Mx)
	case *mdns.SRV:
		w.u16(rr.Priority)
		w.u16(rr.Weight)
		w.u16(rr.Port)
		w.name(rr.Target)
	case *mdns.SOA:
		w.name(rr.Ns)
		w.name(rr.Mbox)
		w.u32(rr.Serial)
		w.u32(rr.Refresh)
		w.u32(rr.Retry)
		w.u32(rr.Expire)
		w.u32(rr.Minttl)
	case *mdns.TXT:
		for _, s := range rr.Txt {
			if len(s) > 255 || strings.IndexByte(s, '\\') >= 0 {
				w.ok = false
				return
			}
			w.u8(byte(len(s)))
			if w.room(len(s)) {
				w.off += copy(w.b[w.off:], s)
			}
		}
	default:
		w.ok = false
	}
	if w.ok {
		binary.BigEndian.PutUint16(w.b[start-2:], uint16(w.off-start))
	}
}

// addr writes a service's A or AAAA record.
func (w *wire) addr(owner, qname string, ttl uint32, a netip.Addr) {
	w.owner(owner, qname)
	if a.Is4() {
		w.u16(mdns.TypeA)
		w.u16(mdns.ClassINET)
		w.u32(ttl)
		w.u16(4)
		if w.room(4) {
			a4 := a.As4()
			w.off += copy(w.b[w.off:], a4[:])
		}
		return
	}
	w.u16(mdns.TypeAAAA)
	w.u16(mdns.ClassINET)
	w.u32(ttl)
	w.u16(16)
	if w.room(16) {
		a16 := a.As16()
		w.off += copy(w.b[w.off:], a16[:])
	}
}

// rrs writes records with their own TTLs and returns how many.
func (w *wire) rrs(rrs []mdns.RR, qname string) int {
	for _, rr := range rrs {
		w.rr(rr, qname, rr.Header().Ttl)
	}
	return len(rrs)
}

// answerFast answers a UDP query from src in dst, or returns ok false for
// the slow path. It never panics: a panic sends the query to the slow path,
// which answers (and counts) it.
func (h *Handler) answerFast(dst, pkt []byte, src netip.Addr, sc *fastScratch) (out []byte, ok bool) {
	return h.answerFastOn(dst, pkt, src, sc, false)
}

// answerFastOn is answerFast for UDP or TCP. Over TCP the reply may fill
// dst whatever the EDNS payload size (a reply that does not fit goes to the
// slow path, which packs it whole) and is never rate limited.
func (h *Handler) answerFastOn(dst, pkt []byte, src netip.Addr, sc *fastScratch, tcp bool) (out []byte, ok bool) {
	defer func() {
		if recover() != nil {
			out, ok = nil, false
		}
		sc.res = zones.Result{} // do not pin a snapshot's records
	}()
	q, ok := parseFast(pkt, sc.name[:0])
	if !ok {
		return nil, false
	}
	z := h.resolver.Answers()
	if z == nil {
		return nil, false
	}
	var sigs *dnssec.Set // the signers of a DO query
	if q.qtype == mdns.TypeDNSKEY {
		if _, set := signersOf(z); set != nil {
			return nil, false // a signed apex's keys: the slow path adds them
		}
	}
	if q.edns.do {
		if _, sigs = signersOf(z); sigs != nil && q.edns.co {
			return nil, false // the slow path sets CO in the reply
		}
	}
	qname := sc.intern(q.name)
	sc.res = z.Lookup(qname, q.qtype)
	res := &sc.res
	if sigs != nil && (q.qtype == mdns.TypeDS || !fastSignable(res)) {
		return nil, false // negative answers, referrals, chains: the slow path signs
	}

	e := &q.edns
	limit := mdns.MinMsgSize
	switch {
	case tcp:
		limit = mdns.MaxMsgSize
	case e.present:
		limit = min(max(int(e.size), mdns.MinMsgSize), int(h.maxUDP))
	}
	w := wire{b: dst[:min(limit, len(dst))], off: 12, ok: true}
	w.bytes(pkt[12:q.qend]) // the question as received
	an := w.rrs(res.Answer, qname)
	nsigs := 0 // RRSIGs written, for the signed-responses counter
	if sigs != nil && len(res.Answer) > 0 {
		h0 := res.Answer[0].Header()
		if sg := sigs.For(h0.Name); sg != nil {
			s, err := sg.Sign(res.Answer)
			if err != nil {
				return nil, false // the slow path reports it
			}
			nsigs = w.rrsigs(h0.Name, qname, h0.Ttl, s)
			an += nsigs
		}
	}
	rcode, ns := res.Rcode, res.Ns
	scope := 0
	ci := &sc.ci
	*ci = ClientInfo{Source: src}
	if e.ecs {
		ci.ECSPrefix, ci.Family = e.ecsPrefix, e.ecsFamily
		ci.ECS = h.UseECS && e.ecsPrefix.Bits() > 0
	}
	if res.Service != nil {
		addrs, ttl, sscope := z.ServiceAddrs(res, q.qtype, ci, sc.addrs[:0])
		scope = sscope
		for _, a := range addrs {
			w.addr(res.ServiceOwner, qname, ttl, a)
		}
		an += len(addrs)
		if len(addrs) == 0 { // NODATA with the negative-TTL SOA
			if sigs != nil {
				return nil, false // the proof: the slow path
			}
			rcode = mdns.RcodeSuccess
			ns = res.NegativeSOA
		} else if sigs != nil {
			if sg := sigs.For(res.ServiceOwner); sg != nil {
				s, err := sg.SignAddrs(res.ServiceOwner, q.qtype, ttl, addrs)
				if err != nil {
					return nil, false
				}
				nsigs = w.rrsigs(res.ServiceOwner, qname, ttl, s)
				an += nsigs
			}
		}
	}
	nsCount := w.rrs(ns, qname)
	ar := w.rrs(res.Extra, qname)
	if !ci.ECS {
		scope = 0
	}
	if e.present {
		ar++
		h.fastOPT(&w, &q, scope)
	}
	if !w.ok || rcode > 0xF || an > 0xFFFF || nsCount > 0xFFFF || ar > 0xFFFF {
		return nil, false // truncation and the rest: the slow path decides
	}
	if !tcp && h.RRL.Enabled() { // after the last fall-back, so nothing is counted twice
		k, key := ReplyKey(rcode, res.Authoritative, NameHash(q.name), q.qtype, an, res.Ns)
		switch h.RRL.CheckKey(src, k, key, time.Now().UnixNano()) {
		case ActionDrop:
			h.m.udp.Inc()
			return nil, true
		case ActionSlip:
			h.m.udp.Inc()
			h.m.response(rcode) // as the slow path counts its slips
			return AppendSlip(dst[:0], pkt, q.qend, rcode), true
		}
	}
	b := w.b
	binary.BigEndian.PutUint16(b, q.id)
	b[2] = 0x80 // QR, opcode QUERY
	if res.Authoritative {
		b[2] |= 0x04
	}
	if q.rd {
		b[2] |= 0x01
	}
	b[3] = byte(rcode)
	if q.cd {
		b[3] |= 0x10
	}
	binary.BigEndian.PutUint16(b[4:], 1)
	binary.BigEndian.PutUint16(b[6:], uint16(an))
	binary.BigEndian.PutUint16(b[8:], uint16(nsCount))
	binary.BigEndian.PutUint16(b[10:], uint16(ar))
	if tcp {
		h.m.tcp.Inc()
	} else {
		h.m.udp.Inc()
	}
	h.m.response(rcode)
	if nsigs > 0 {
		h.m.signed.Inc() // as the slow path counts a reply with RRSIGs
	}
	return b[:w.off], true
}

// fastOPT writes the reply's OPT RR as opt does: version 0, our payload
// size, DO copied, NSID when asked for, the ECS echo with scope.
func (h *Handler) fastOPT(w *wire, q *fastQuery, scope int) {
	e := &q.edns
	w.u8(0) // root
	w.u16(mdns.TypeOPT)
	w.u16(h.maxUDP)
	var ttl uint32
	if e.do {
		ttl = 0x8000
	}
	w.u32(ttl)
	w.u16(0) // RDLENGTH, set below
	start := w.off
	if e.nsid && h.nsidRaw != nil {
		w.u16(mdns.EDNS0NSID)
		w.u16(uint16(len(h.nsidRaw)))
		w.bytes(h.nsidRaw)
	}
	if e.ecs {
		bits := e.ecsPrefix.Addr().BitLen()
		w.u16(mdns.EDNS0SUBNET)
		w.u16(uint16(4 + len(q.ecsRaw)))
		w.u16(e.ecsFamily)
		w.u8(uint8(e.ecsPrefix.Bits()))
		w.u8(uint8(min(max(scope, 0), bits)))
		w.bytes(q.ecsRaw)
	}
	if w.ok {
		binary.BigEndian.PutUint16(w.b[start-2:], uint16(w.off-start))
	}
}

// fastSignable reports whether the fast path can sign res: one RRset in
// the answer (a static answer, or a service's addresses without CNAMEs
// before them) and nothing in the other sections. The rest (negative
// answers with their proofs, referrals, CNAME chains, additional data,
// DNSKEY) goes to the slow path.
func fastSignable(res *zones.Result) bool {
	if res.Rcode != mdns.RcodeSuccess || !res.Authoritative || len(res.Ns) > 0 || len(res.Extra) > 0 {
		return false
	}
	if res.Service != nil {
		return len(res.Answer) == 0
	}
	if len(res.Answer) == 0 {
		return false
	}
	h0 := res.Answer[0].Header()
	for _, rr := range res.Answer[1:] {
		if h := rr.Header(); h.Rrtype != h0.Rrtype || h.Name != h0.Name {
			return false
		}
	}
	return true
}

// rrsigs writes the RRSIGs of s (their RDATA packed by the signer) for an
// RRset at owner with the TTL served, and returns how many.
func (w *wire) rrsigs(owner, qname string, ttl uint32, s *dnssec.Signatures) int {
	for _, rd := range s.RData {
		w.owner(owner, qname)
		w.u16(mdns.TypeRRSIG)
		w.u16(mdns.ClassINET)
		w.u32(ttl)
		w.u16(uint16(len(rd)))
		w.bytes(rd)
	}
	return len(s.RData)
}
