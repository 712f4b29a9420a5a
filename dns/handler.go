package dns

import (
	"encoding/binary"
	"encoding/hex"
	"log/slog"
	"net"
	"net/netip"
	"runtime/debug"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	mdns "github.com/miekg/dns"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/godwit-dns/godwit/dnssec"
	"github.com/godwit-dns/godwit/zones"
)

// Answers is one generation of what the server answers from: the zone data
// and the GSLB selection that belongs with it. The handler asks its Resolver
// for it once per query, so that no answer mixes two generations.
type Answers interface {
	// Lookup answers one question from the zone data (*zones.Set does).
	Lookup(qname string, qtype uint16) zones.Result
	// ServiceAddrs picks the addresses of the GSLB service r ended at for
	// client c: it appends those that answer qtype (A or AAAA) to buf and
	// returns them, their TTL and the ECS scope prefix length of the data
	// that decided (0 when the answer does not depend on the client's
	// location). No addresses means NODATA. Both the fast path (which writes
	// the records itself, allocating nothing) and the slow path call it.
	ServiceAddrs(r *zones.Result, qtype uint16, c *ClientInfo, buf []netip.Addr) (addrs []netip.Addr, ttl uint32, scope int)
}

// Resolver hands the handler the generation a query reads.
type Resolver interface {
	// Answers returns the generation serving now, or nil before the first
	// one is loaded (queries are then answered SERVFAIL).
	Answers() Answers
}

// Handler answers DNS queries authoritatively from the generation its
// Resolver returns. It implements mdns.Handler; Handle is the same on raw
// packets. Set the exported fields before serving.
type Handler struct {
	// UseECS locates clients by their EDNS Client Subnet (geo use_ecs).
	// When false, ECS options are still validated and echoed, with scope 0.
	UseECS bool
	// RRL limits UDP responses per client prefix (nil: no limit).
	RRL *RRL

	resolver Resolver
	log      *slog.Logger
	m        *handlerMetrics
	maxUDP   uint16
	nsid     *mdns.EDNS0_NSID // shared, read-only; nil when not configured
	nsidRaw  []byte           // the same, as octets for the fast path
	identity string           // TXT presentation form ("" = REFUSED)
	version  string

	bufs      sync.Pool    // *[]byte reply buffers
	scratch   sync.Pool    // *fastScratch for Handle's fast path
	lastNoisy atomic.Int64 // unix nanos of the last rate-limited log line
}

// replyBufSize covers any UDP reply (max_udp_size <= 4096); larger TCP
// replies get a buffer of their own.
const replyBufSize = 4096

// NewHandler returns a handler that asks r for the generation once per query.
func NewHandler(cfg Config, r Resolver, logger *slog.Logger) *Handler {
	cfg = cfg.WithDefaults()
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	h := &Handler{
		resolver: r,
		log:      logger,
		m:        newHandlerMetrics(),
		maxUDP:   uint16(min(max(cfg.MaxUDPSize, 512), 4096)),
		identity: txtEscape(cfg.Identity),
		version:  txtEscape(cfg.Version),
	}
	if cfg.NSID != "" {
		h.nsid = &mdns.EDNS0_NSID{Code: mdns.EDNS0NSID, Nsid: hex.EncodeToString([]byte(cfg.NSID))}
		h.nsidRaw = []byte(cfg.NSID)
	}
	h.bufs.New = func() any { b := make([]byte, replyBufSize); return &b }
	h.scratch.New = func() any { return newFastScratch() }
	return h
}

// RegisterMetrics registers the handler's counters (godwit_dns_*) on reg.
func (h *Handler) RegisterMetrics(reg prometheus.Registerer) error {
	for _, c := range h.m.collectors() {
		if err := reg.Register(c); err != nil {
			return err
		}
	}
	return nil
}

// ServeDNS implements mdns.Handler.
func (h *Handler) ServeDNS(w mdns.ResponseWriter, r *mdns.Msg) {
	var src netip.Addr
	tcp := false
	switch a := w.RemoteAddr().(type) {
	case *net.UDPAddr:
		src = a.AddrPort().Addr().Unmap()
	case *net.TCPAddr:
		src = a.AddrPort().Addr().Unmap()
		tcp = true
	}
	bp := h.bufs.Get().(*[]byte)
	if out := h.handle(*bp, r, src, tcp); out != nil {
		w.Write(out) //nolint:errcheck // nothing to do about a failed send
	}
	h.bufs.Put(bp)
}

// Handle answers one raw request received from src and returns the packed
// reply (in dst when it fits), or nil when nothing should be sent. Replies
// over UDP (tcp false) respect the client's EDNS payload size. Queries try
// the fast path first.
func (h *Handler) Handle(dst, pkt []byte, src netip.Addr, tcp bool) []byte {
	sc := h.scratch.Get().(*fastScratch)
	out, ok := h.answerFastOn(dst, pkt, src, sc, tcp)
	h.scratch.Put(sc)
	if ok {
		return out
	}
	return h.handleSlow(dst, pkt, src, tcp)
}

// handleUDP answers a UDP query with the read loop's own scratch space.
func (h *Handler) handleUDP(dst, pkt []byte, src netip.Addr, sc *fastScratch) []byte {
	if out, ok := h.answerFast(dst, pkt, src, sc); ok {
		return out
	}
	return h.handleSlow(dst, pkt, src, false)
}

// handleSlow is Handle without the fast path: unpack with the library,
// respond, pack. It is the reference the fast path is tested against.
func (h *Handler) handleSlow(dst, pkt []byte, src netip.Addr, tcp bool) []byte {
	if len(pkt) < 12 {
		h.m.droppedShort.Inc()
		return nil
	}
	dh := mdns.Header{
		Id:      binary.BigEndian.Uint16(pkt),
		Bits:    binary.BigEndian.Uint16(pkt[2:]),
		Qdcount: binary.BigEndian.Uint16(pkt[4:]),
		Ancount: binary.BigEndian.Uint16(pkt[6:]),
		Nscount: binary.BigEndian.Uint16(pkt[8:]),
		Arcount: binary.BigEndian.Uint16(pkt[10:]),
	}
	r := new(mdns.Msg)
	r.Id = dh.Id
	r.Opcode = int(dh.Bits>>11) & 0xF
	r.RecursionDesired = dh.Bits&(1<<8) != 0
	switch h.accept(dh) {
	case mdns.MsgIgnore:
		return nil
	case mdns.MsgReject:
		return h.packMinimal(dst, r, mdns.RcodeFormatError)
	}
	if err := r.Unpack(pkt); err != nil || !countsMatch(dh, r) || !questionWhole(pkt, dh) {
		h.m.droppedInvalid.Inc()
		return h.packMinimal(dst, r, mdns.RcodeFormatError)
	}
	return h.handle(dst, r, src, tcp)
}

// countsMatch reports whether the message holds as many records as its
// header promises: miekg/dns unpacks a truncated message leniently, so a
// question cut short or ANCOUNT=5 with no records would otherwise be
// answered instead of getting FORMERR.
func countsMatch(dh mdns.Header, r *mdns.Msg) bool {
	return len(r.Question) == int(dh.Qdcount) && len(r.Answer) == int(dh.Ancount) &&
		len(r.Ns) == int(dh.Nscount) && len(r.Extra) == int(dh.Arcount)
}

// questionWhole reports whether the first question has its type and
// class (miekg/dns reads a question cut after its name as type 0 class 0)
// and a name without compression pointers: nothing precedes the first
// name for a pointer to point back to, so one there points forward or
// loops, and the library would follow it.
func questionWhole(pkt []byte, dh mdns.Header) bool {
	if dh.Qdcount == 0 {
		return true
	}
	for off := 12; off < len(pkt); {
		switch l := int(pkt[off]); {
		case l == 0:
			return off+1+4 <= len(pkt)
		case l > 63:
			return false // a pointer or a reserved label type
		default:
			off += 1 + l
		}
	}
	return false
}

// accept is the server's MsgAcceptFunc: responses are dropped, a QUERY
// without exactly one question is FORMERR, and everything else (every
// opcode) reaches the handler, which answers other opcodes NOTIMP.
func (h *Handler) accept(dh mdns.Header) mdns.MsgAcceptAction {
	if dh.Bits&(1<<15) != 0 {
		h.m.droppedQR.Inc()
		return mdns.MsgIgnore
	}
	if int(dh.Bits>>11)&0xF == mdns.OpcodeQuery && dh.Qdcount != 1 {
		return mdns.MsgReject
	}
	return mdns.MsgAccept
}

// handle answers a parsed request; it never panics.
func (h *Handler) handle(dst []byte, r *mdns.Msg, src netip.Addr, tcp bool) (out []byte) {
	defer func() {
		if v := recover(); v != nil {
			h.m.panics.Inc()
			h.noisy("dns: panic while answering a query", "panic", v, "stack", string(debug.Stack()))
			out = h.packMinimal(nil, r, mdns.RcodeServerFailure)
		}
	}()
	if tcp {
		h.m.tcp.Inc()
	} else {
		h.m.udp.Inc()
	}
	if r.Response {
		h.m.droppedQR.Inc()
		return nil
	}
	m, limit := h.respond(r, src, tcp)
	if !tcp && h.RRL.Enabled() { // TCP proves the source address: never limited
		switch h.RRL.CheckReply(src, m, time.Now().UnixNano()) {
		case ActionDrop:
			return nil
		case ActionSlip:
			m = SlipReply(m)
		}
	}
	return h.pack(dst, m, limit)
}

// respond builds the reply to r and the size it must fit in.
func (h *Handler) respond(r *mdns.Msg, src netip.Addr, tcp bool) (*mdns.Msg, int) {
	m := &mdns.Msg{}
	m.Id = r.Id
	m.Response = true
	m.Opcode = r.Opcode
	limit := mdns.MinMsgSize
	if tcp {
		limit = mdns.MaxMsgSize
	}
	e, ok := parseEDNS(r)
	if e.present && !tcp {
		limit = min(max(int(e.size), mdns.MinMsgSize), int(h.maxUDP))
	}

	if r.Opcode != mdns.OpcodeQuery {
		// Clean NOTIMP: only QR and the opcode, no RD/AD/CD copied.
		m.Rcode = mdns.RcodeNotImplemented
		if len(r.Question) == 1 {
			m.Question = r.Question
		}
		if ok && e.present {
			m.Extra = []mdns.RR{h.opt(e, nil, 0)}
		}
		return m, limit
	}
	m.RecursionDesired = r.RecursionDesired
	m.CheckingDisabled = r.CheckingDisabled
	if len(r.Question) != 1 {
		m.Rcode = mdns.RcodeFormatError
		return m, limit
	}
	m.Question = r.Question // as received: case preserved
	if !ok {
		m.Rcode = mdns.RcodeFormatError
		if e.present {
			m.Extra = []mdns.RR{h.opt(e, nil, 0)}
		}
		return m, limit
	}
	if e.present && e.version > 0 {
		// RFC 6891 §6.1.3: BADVERS, OPT version 0, nothing else.
		m.Rcode = mdns.RcodeBadVers
		m.Extra = []mdns.RR{h.opt(e, nil, 0)}
		return m, limit
	}

	ci := ClientInfo{Source: src}
	if e.ecs {
		ci.ECSPrefix, ci.Family = e.ecsPrefix, e.ecsFamily
		ci.ECS = h.UseECS && e.ecsPrefix.Bits() > 0
	}
	scope := 0
	q := r.Question[0]
	switch {
	case q.Qtype == mdns.TypeAXFR || q.Qtype == mdns.TypeIXFR:
		m.Rcode = mdns.RcodeRefused
	case q.Qclass == mdns.ClassCHAOS:
		h.chaos(m, q)
	case q.Qclass != mdns.ClassINET:
		m.Rcode = mdns.RcodeRefused
	case q.Qtype == dnssec.TypeNXNAME:
		m.Rcode = mdns.RcodeFormatError // RFC 9824 section 3.5
	default:
		scope = h.lookup(m, q, &ci, &e)
	}
	if !ci.ECS {
		scope = 0
	}
	if e.present {
		extra := make([]mdns.RR, len(m.Extra), len(m.Extra)+1)
		copy(extra, m.Extra) // never append to a snapshot's slice
		m.Extra = append(extra, h.opt(e, &ci, scope))
	}
	return m, limit
}

// lookup answers an IN question from the zone snapshot and returns the ECS
// scope of the answer.
func (h *Handler) lookup(m *mdns.Msg, q mdns.Question, ci *ClientInfo, e *ednsInfo) (scope int) {
	z := h.resolver.Answers()
	if z == nil {
		m.Rcode = mdns.RcodeServerFailure
		return 0
	}
	res := z.Lookup(q.Name, q.Qtype)
	if e.do {
		defer func() { h.signed(m, z, &res, q, e) }()
	} else if q.Qtype == mdns.TypeDNSKEY {
		// Without DO the keys are still the answer, unsigned (RFC 4035
		// §3.1.1 adds only the RRSIGs for DO).
		defer func() {
			if _, set := signersOf(z); set != nil {
				_, _ = apexDNSKEY(m, set, q, false)
			}
		}()
	}
	m.Rcode = res.Rcode
	m.Authoritative = res.Authoritative
	m.Answer, m.Ns, m.Extra = res.Answer, res.Ns, res.Extra
	if res.Service == nil {
		return 0
	}
	answer := make([]mdns.RR, len(res.Answer), len(res.Answer)+8)
	copy(answer, res.Answer)
	var buf [zones.MaxServiceAddresses]netip.Addr
	addrs, ttl, scope := z.ServiceAddrs(&res, q.Qtype, ci, buf[:0])
	if len(addrs) > 0 {
		for _, a := range addrs {
			answer = append(answer, zones.AddressRR(res.ServiceOwner, ttl, a))
		}
		m.Answer = answer
		return scope
	}
	// NODATA: the CNAMEs that led here, and the SOA for negative caching.
	m.Rcode = mdns.RcodeSuccess
	m.Answer = res.Answer
	m.Ns = res.NegativeSOA
	return scope
}

// chaos answers the CHAOS-class identity questions.
func (h *Handler) chaos(m *mdns.Msg, q mdns.Question) {
	var val string
	switch {
	case strings.EqualFold(q.Name, "id.server.") || strings.EqualFold(q.Name, "hostname.bind."):
		val = h.identity
	case strings.EqualFold(q.Name, "version.bind.") || strings.EqualFold(q.Name, "version.server."):
		val = h.version
	}
	if val == "" {
		m.Rcode = mdns.RcodeRefused
		return
	}
	m.Authoritative = true
	if q.Qtype == mdns.TypeTXT || q.Qtype == mdns.TypeANY {
		m.Answer = []mdns.RR{&mdns.TXT{
			Hdr: mdns.RR_Header{Name: q.Name, Rrtype: mdns.TypeTXT, Class: mdns.ClassCHAOS},
			Txt: []string{val},
		}}
	}
}

// opt builds the reply's OPT RR: version 0, our payload size, DO copied.
// With ci (a full answer) it carries NSID when asked for and the ECS echo.
func (h *Handler) opt(e ednsInfo, ci *ClientInfo, scope int) *mdns.OPT {
	o := &mdns.OPT{Hdr: mdns.RR_Header{Name: ".", Rrtype: mdns.TypeOPT, Class: h.maxUDP}}
	if e.do {
		o.SetDo()
		if e.coReply {
			o.Hdr.Ttl |= coBit
		}
	}
	if ci == nil {
		return o
	}
	if e.nsid && h.nsid != nil {
		o.Option = append(o.Option, h.nsid)
	}
	if e.ecs {
		bits := e.ecsPrefix.Addr().BitLen()
		o.Option = append(o.Option, &mdns.EDNS0_SUBNET{
			Code:          mdns.EDNS0SUBNET,
			Family:        e.ecsFamily,
			SourceNetmask: uint8(e.ecsPrefix.Bits()),
			SourceScope:   uint8(min(max(scope, 0), bits)),
			Address:       net.IP(e.ecsPrefix.Addr().AsSlice()),
		})
	}
	return o
}

// pack packs m into dst; a UDP reply larger than limit is replaced by a
// truncated one (TC, the question and the OPT RR only).
func (h *Handler) pack(dst []byte, m *mdns.Msg, limit int) []byte {
	m.Compress = true
	b, err := m.PackBuffer(dst)
	if err == nil && len(b) > limit && signedMsg(m) && len(m.Extra) > 1 {
		// Drop the additional data, RRSIGs and all, before truncating.
		full := *m
		m.Extra = []mdns.RR{m.IsEdns0()}
		if m.Extra[0] == nil {
			m.Extra = nil
		}
		b, err = m.PackBuffer(dst)
		if err != nil || len(b) > limit {
			*m = full
		}
	}
	if err == nil && len(b) > limit {
		h.m.truncated.Inc()
		tc := &mdns.Msg{MsgHdr: m.MsgHdr, Question: m.Question, Compress: true}
		tc.Truncated = true
		if o := m.IsEdns0(); o != nil {
			tc.Extra = []mdns.RR{o}
		}
		b, err = tc.PackBuffer(dst)
	}
	if err != nil {
		h.noisy("dns: cannot pack a reply", "question", m.Question, "err", err)
		return h.packMinimal(nil, m, mdns.RcodeServerFailure)
	}
	h.m.response(m.Rcode)
	return b
}

// packMinimal packs a bare reply to r with rcode: id, opcode, RD for a
// QUERY, and the question when there is exactly one.
func (h *Handler) packMinimal(dst []byte, r *mdns.Msg, rcode int) []byte {
	m := &mdns.Msg{}
	m.Id = r.Id
	m.Response = true
	m.Opcode = r.Opcode
	m.Rcode = rcode
	if r.Opcode == mdns.OpcodeQuery {
		m.RecursionDesired = r.RecursionDesired
	}
	if len(r.Question) == 1 {
		m.Question = r.Question[:1:1]
	}
	b, err := m.PackBuffer(dst)
	if err != nil {
		m.Question = nil
		if b, err = m.PackBuffer(dst); err != nil {
			return nil
		}
	}
	h.m.response(rcode)
	return b
}

// noisy logs at warning level at most once a second: for problems that a
// flood of queries could otherwise turn into a flood of log lines.
func (h *Handler) noisy(msg string, args ...any) {
	now := time.Now().UnixNano()
	last := h.lastNoisy.Load()
	if now-last < int64(time.Second) || !h.lastNoisy.CompareAndSwap(last, now) {
		return
	}
	h.log.Warn(msg, args...)
}

// txtEscape turns raw bytes into the presentation form the library packs
// TXT strings from (a backslash starts an escape).
func txtEscape(s string) string {
	return strings.ReplaceAll(s, `\`, `\\`)
}

// Answerer answers UDP queries one at a time exactly as the packet engine
// does (fast path first, the library's path for what it declines), without
// sockets: for benchmarks and tools that measure the query path of a whole
// server. Not safe for concurrent use; take one per goroutine.
type Answerer struct {
	h  *Handler
	sc *fastScratch
}

// Answerer returns a new Answerer over h.
func (h *Handler) Answerer() *Answerer { return &Answerer{h: h, sc: newFastScratch()} }

// AnswerUDP answers one query that came over UDP from src, into dst; nil
// when the query is dropped.
func (a *Answerer) AnswerUDP(dst, pkt []byte, src netip.Addr) []byte {
	return a.h.handleUDP(dst, pkt, src, a.sc)
}
