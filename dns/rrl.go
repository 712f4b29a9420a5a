package dns

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/maphash"
	"net/netip"
	"strings"
	"sync/atomic"
	"time"

	"github.com/gaissmai/bart"
	mdns "github.com/miekg/dns"
	"github.com/prometheus/client_golang/prometheus"
)

// Response rate limiting (RRL), as in BIND, NSD and Knot: a spoofed-source
// flood that would turn this server into an amplifier towards a victim gets
// only a trickle of replies, while a real resolver behind the victim's
// address still gets a truncated (TC=1) "slip" reply now and then and
// retries over TCP, which is never limited.
//
// Accounting follows BIND's rrl.c. Each (client prefix, kind of response,
// name) has a balance of responses: a new entry starts with
// responses_per_second, every elapsed whole second credits
// responses_per_second (never above it), every response debits one. While
// the balance stays >= 0 the response is sent. Below zero it is limited,
// and the balance may sink to -window × responses_per_second, so a source
// that keeps flooding gets nothing beyond the first second's allowance and
// must be quiet for up to window seconds before it is answered again. Of the
// limited responses the first and then every slip-th is a slip; the rest are
// dropped (slip = 0: all dropped; slip = 1: all slipped).

// Defaults of [server.rrl].
const (
	DefaultRRLSlip          = 2
	DefaultRRLWindow        = 15 * time.Second
	DefaultRRLIPv4PrefixLen = 24
	DefaultRRLIPv6PrefixLen = 56
	DefaultRRLTableSize     = 1 << 16
)

// Bounds of [server.rrl]; they keep an entry's state inside 64 bits.
const (
	maxRRLRate      = 1000
	maxRRLSlip      = 10
	maxRRLWindow    = time.Hour
	maxRRLTableSize = 1 << 24
	minRRLTableSize = 1 << 10
	maxRRLExempt    = 4096
)

// RRLConfig is [server.rrl].
//
//	responses_per_second = 0   # per client prefix, kind and name; 0 turns RRL off (the default)
//	slip = 2                   # of the limited responses, send every slip-th as an empty TC=1 reply
//	                           # (0: drop them all, 1: slip them all)
//	window = "15s"             # how far into debt a flooding source goes (whole seconds)
//	ipv4_prefix_len = 24       # clients are accounted per prefix of this length
//	ipv6_prefix_len = 56       # at most 64
//	table_size = 65536         # entries (8 bytes each), a power of two
//	exempt = ["192.0.2.0/24"]  # never limited
type RRLConfig struct {
	ResponsesPerSecond int      `toml:"responses_per_second"`
	Slip               int      `toml:"slip"`
	Window             Duration `toml:"window"`
	IPv4PrefixLen      int      `toml:"ipv4_prefix_len"`
	IPv6PrefixLen      int      `toml:"ipv6_prefix_len"`
	TableSize          int      `toml:"table_size"`
	Exempt             []string `toml:"exempt"`
}

// DefaultRRLConfig returns the defaults: RRL off, slip 2, window 15s, /24
// and /56, 65536 entries. Decode the file over it: slip = 0 is a setting of
// its own (never slip), so WithDefaults does not fill Slip.
func DefaultRRLConfig() RRLConfig {
	return RRLConfig{Slip: DefaultRRLSlip}.WithDefaults()
}

// WithDefaults returns c with every zero field except Slip and
// ResponsesPerSecond filled in.
func (c RRLConfig) WithDefaults() RRLConfig {
	if c.Window == 0 {
		c.Window = Duration(DefaultRRLWindow)
	}
	if c.IPv4PrefixLen == 0 {
		c.IPv4PrefixLen = DefaultRRLIPv4PrefixLen
	}
	if c.IPv6PrefixLen == 0 {
		c.IPv6PrefixLen = DefaultRRLIPv6PrefixLen
	}
	if c.TableSize == 0 {
		c.TableSize = DefaultRRLTableSize
	}
	return c
}

// Validate checks the section with its defaults applied and reports every
// problem, each prefixed by its key.
func (c RRLConfig) Validate() error {
	return errors.Join(c.problems()...)
}

// problems lists what Validate reports, one error per problem.
func (c RRLConfig) problems() []error {
	c = c.WithDefaults()
	var errs []error
	bad := func(key, format string, a ...any) {
		errs = append(errs, fmt.Errorf("%s: %s", key, fmt.Sprintf(format, a...)))
	}
	if c.ResponsesPerSecond < 0 || c.ResponsesPerSecond > maxRRLRate {
		bad("responses_per_second", "%d is outside 0..%d", c.ResponsesPerSecond, maxRRLRate)
	}
	if c.Slip < 0 || c.Slip > maxRRLSlip {
		bad("slip", "%d is outside 0..%d", c.Slip, maxRRLSlip)
	}
	if d := c.Window.D(); d < time.Second || d > maxRRLWindow || d%time.Second != 0 {
		bad("window", "%s is not a whole number of seconds in 1s..1h", d)
	}
	if c.IPv4PrefixLen < 8 || c.IPv4PrefixLen > 32 {
		bad("ipv4_prefix_len", "%d is outside 8..32", c.IPv4PrefixLen)
	}
	if c.IPv6PrefixLen < 16 || c.IPv6PrefixLen > 64 {
		bad("ipv6_prefix_len", "%d is outside 16..64", c.IPv6PrefixLen)
	}
	if c.TableSize < minRRLTableSize || c.TableSize > maxRRLTableSize || c.TableSize&(c.TableSize-1) != 0 {
		bad("table_size", "%d is not a power of two in %d..%d", c.TableSize, minRRLTableSize, maxRRLTableSize)
	}
	if len(c.Exempt) > maxRRLExempt {
		bad("exempt", "%d prefixes, the limit is %d", len(c.Exempt), maxRRLExempt)
	}
	for i, s := range c.Exempt {
		if _, err := parsePrefixOrAddr(s); err != nil {
			bad(fmt.Sprintf("exempt[%d]", i), "%v", err)
		}
	}
	return errs
}

// parsePrefixOrAddr parses "192.0.2.0/24" or a bare address (a host route).
func parsePrefixOrAddr(s string) (netip.Prefix, error) {
	if !strings.Contains(s, "/") {
		a, err := netip.ParseAddr(s)
		if err != nil {
			return netip.Prefix{}, fmt.Errorf("%q is not an address or prefix", s)
		}
		if a.Zone() != "" {
			return netip.Prefix{}, fmt.Errorf("%q: zoned addresses are not supported", s)
		}
		a = a.Unmap()
		return netip.PrefixFrom(a, a.BitLen()), nil
	}
	p, err := netip.ParsePrefix(s)
	if err != nil {
		return netip.Prefix{}, fmt.Errorf("%q is not an address or prefix", s)
	}
	if p.Addr().Is4In6() {
		return netip.Prefix{}, fmt.Errorf("%q: write IPv4-mapped prefixes in IPv4 form", s)
	}
	if p != p.Masked() {
		return netip.Prefix{}, fmt.Errorf("%q has host bits set (did you mean %s?)", s, p.Masked())
	}
	return p, nil
}

// ResponseKind is the kind of a response, which RRL accounts separately for
// each client.
type ResponseKind uint8

// Kinds of response.
const (
	ResponseAnswer   ResponseKind = iota // NOERROR with records in the answer section
	ResponseNoData                       // NOERROR, authoritative, empty answer
	ResponseNXDomain                     // NXDOMAIN
	ResponseReferral                     // NOERROR, not authoritative, empty answer: a delegation
	ResponseError                        // every other rcode (REFUSED, FORMERR, SERVFAIL, ...)
)

var kindNames = [...]string{"answer", "nodata", "nxdomain", "referral", "error"}

func (k ResponseKind) String() string {
	if int(k) < len(kindNames) {
		return kindNames[k]
	}
	return fmt.Sprintf("kind(%d)", k)
}

// Action is what to do with a response.
type Action uint8

// Actions.
const (
	ActionSend Action = iota // send the response
	ActionSlip               // send an empty truncated (TC=1) reply instead (SlipReply)
	ActionDrop               // send nothing
)

func (a Action) String() string {
	switch a {
	case ActionSend:
		return "send"
	case ActionSlip:
		return "slip"
	case ActionDrop:
		return "drop"
	}
	return fmt.Sprintf("action(%d)", a)
}

// RRL is a response rate limiter. Its table has a fixed number of entries
// allocated once; Check allocates nothing and takes no lock: each entry is
// one atomic 64-bit word updated by compare-and-swap. A nil *RRL
// (and one made with responses_per_second = 0) sends everything.
//
// The table is 2-way set associative: a key hashes (with a per-process
// random seed, so that outsiders cannot aim at one set) to a pair of
// adjacent entries and takes the one that holds its 16-bit tag, else an
// empty one, else the one used least recently, whose state is lost. Many
// distinct clients therefore never grow memory; when more keys are active
// at once than the table has entries, some are evicted and start afresh
// with a full allowance (so size table_size above the number of client
// prefixes × names that query within a window). Two keys that share a set
// and a tag share one balance (about one in 2^32 pairs).
type RRL struct {
	rate    int32  // responses per second; 0 = off
	min     int32  // lowest balance: -window × rate
	window  uint32 // seconds
	slip    uint32
	v4bits  int
	v6mask  uint64
	seed    uint64
	mask    uint64 // len(table)-1
	table   []atomic.Uint64
	exempt  *bart.Lite // nil when empty
	slipped prometheus.Counter
	dropped prometheus.Counter
	total   *prometheus.CounterVec
}

// Entry layout, one uint64:
//
//	bits  0..3   slip counter
//	bits  4..27  balance + balanceBias (24 bits)
//	bits 28..47  time, whole seconds modulo 2^20 (12 days)
//	bits 48..63  tag from the key's hash (never 0 in a used entry)
const (
	slipBits    = 4
	balanceBits = 24
	timeBits    = 20
	balanceBias = 1 << (balanceBits - 1)
	balanceMask = 1<<balanceBits - 1
	timeMask    = 1<<timeBits - 1
	balanceOff  = slipBits
	timeOff     = slipBits + balanceBits
	tagOff      = timeOff + timeBits
)

// NewRRL returns a limiter for cfg (validated here). With
// responses_per_second = 0 it is off: Check always says ActionSend and no
// table is allocated; its metrics still register.
func NewRRL(cfg RRLConfig) (*RRL, error) {
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("rrl: %w", err)
	}
	cfg = cfg.WithDefaults()
	r := &RRL{
		total: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "godwit_dns_rrl_total",
			Help: "UDP responses limited by response rate limiting, by action: slip (sent as an empty TC=1 reply) or drop.",
		}, []string{"action"}),
	}
	r.slipped = r.total.WithLabelValues("slip")
	r.dropped = r.total.WithLabelValues("drop")
	if cfg.ResponsesPerSecond == 0 {
		return r, nil
	}
	win := uint32(cfg.Window.D() / time.Second)
	r.rate = int32(cfg.ResponsesPerSecond)
	r.min = -int32(win) * r.rate
	r.window = win
	r.slip = uint32(cfg.Slip)
	r.v4bits = cfg.IPv4PrefixLen
	r.v6mask = ^uint64(0) << (64 - cfg.IPv6PrefixLen)
	r.seed = maphash.String(maphash.MakeSeed(), "rrl") // random per process
	r.table = make([]atomic.Uint64, cfg.TableSize)
	r.mask = uint64(cfg.TableSize - 1)
	if len(cfg.Exempt) > 0 {
		r.exempt = new(bart.Lite)
		for _, s := range cfg.Exempt {
			p, _ := parsePrefixOrAddr(s) // validated above
			r.exempt.Insert(p)
		}
	}
	return r, nil
}

// RegisterMetrics registers godwit_dns_rrl_total{action} on reg.
func (r *RRL) RegisterMetrics(reg prometheus.Registerer) error {
	return reg.Register(r.total)
}

// Enabled reports whether the limiter limits anything.
func (r *RRL) Enabled() bool { return r != nil && r.rate > 0 }

// Check accounts one response of kind to src at now (Unix nanoseconds) and
// says what to do with it. It is CheckKey with no name: all responses of a
// kind to a client prefix share one allowance.
func (r *RRL) Check(src netip.Addr, kind ResponseKind, now int64) Action {
	return r.CheckKey(src, kind, 0, now)
}

// CheckReply accounts the reply m to src: its kind and name as
// ResponseKey finds them. Call it for UDP replies only.
func (r *RRL) CheckReply(src netip.Addr, m *mdns.Msg, now int64) Action {
	if !r.Enabled() {
		return ActionSend
	}
	k, key := ResponseKey(m)
	return r.CheckKey(src, k, key, now)
}

// CheckKey accounts one response of kind to src about key (a name hash from
// NameHash, or 0) at now (Unix nanoseconds) and says what to do with it.
func (r *RRL) CheckKey(src netip.Addr, kind ResponseKind, key uint64, now int64) Action {
	if !r.Enabled() || !src.IsValid() {
		return ActionSend
	}
	src = src.Unmap()
	var addr, fam uint64
	if src.Is4() {
		a := src.As4()
		v := uint64(a[0])<<24 | uint64(a[1])<<16 | uint64(a[2])<<8 | uint64(a[3])
		addr = v >> (32 - r.v4bits) << (32 - r.v4bits)
	} else {
		a := src.As16()
		hi := uint64(a[0])<<56 | uint64(a[1])<<48 | uint64(a[2])<<40 | uint64(a[3])<<32 |
			uint64(a[4])<<24 | uint64(a[5])<<16 | uint64(a[6])<<8 | uint64(a[7])
		addr, fam = hi&r.v6mask, 1
	}
	if r.exempt != nil && r.exempt.Contains(src) {
		return ActionSend
	}
	h := mix64(r.seed ^ addr)
	h = mix64(h ^ (fam | uint64(kind)<<1) ^ key*0x9e3779b97f4a7c15)
	tag := h>>tagOff | 1
	i := h & r.mask &^ 1 // the set: entries i and i+1
	nowT := uint64(now/int64(time.Second)) & timeMask

	for {
		e0, e1 := &r.table[i], &r.table[i+1]
		s0, s1 := e0.Load(), e1.Load()
		var e *atomic.Uint64
		var old uint64
		switch {
		case s0>>tagOff == tag:
			e, old = e0, s0
		case s1>>tagOff == tag:
			e, old = e1, s1
		case s0 == 0 || (s1 != 0 && age(s0, nowT) >= age(s1, nowT)):
			e, old = e0, s0
		default:
			e, old = e1, s1
		}
		fresh := old>>tagOff != tag
		next, act := r.step(old, fresh, tag, nowT)
		if e.CompareAndSwap(old, next) {
			switch act {
			case ActionSlip:
				r.slipped.Inc()
			case ActionDrop:
				r.dropped.Inc()
			}
			return act
		}
	}
}

// maxClockSkew is how many seconds a caller's clock may lag the time an
// entry was last used and still count as "now" rather than as a long quiet.
const maxClockSkew = 60

// age is how many seconds ago entry s was last used.
func age(s, nowT uint64) uint64 {
	return (nowT - s>>timeOff) & timeMask
}

// step debits one response from entry s (a fresh one when fresh) at nowT
// and returns the new entry and the action.
func (r *RRL) step(s uint64, fresh bool, tag, nowT uint64) (uint64, Action) {
	bal := int32(s>>balanceOff&balanceMask) - balanceBias
	cnt := uint32(s & (1<<slipBits - 1))
	a := age(s, nowT)
	if !fresh && a > timeMask-maxClockSkew {
		// Slightly in the past: a caller that read the clock just before
		// another one stored the next second. No time has passed.
		a, nowT = 0, s>>timeOff&timeMask
	}
	if fresh || a > uint64(r.window) {
		bal, cnt = r.rate, 0
	} else if a > 0 {
		bal += r.rate * int32(a)
		if bal >= r.rate {
			bal, cnt = r.rate, 0
		}
	}
	bal--
	act := ActionSend
	if bal < 0 {
		bal = max(bal, r.min)
		act = ActionDrop
		if r.slip > 0 {
			if cnt == 0 {
				act = ActionSlip
			}
			if cnt++; cnt >= r.slip {
				cnt = 0
			}
		}
	}
	next := tag<<tagOff | nowT<<timeOff | uint64(bal+balanceBias)<<balanceOff | uint64(cnt)
	return next, act
}

// mix64 is the finalizer of MurmurHash3.
func mix64(x uint64) uint64 {
	x ^= x >> 33
	x *= 0xff51afd7ed558ccd
	x ^= x >> 33
	x *= 0xc4ceb9fe1a85ec53
	x ^= x >> 33
	return x
}

// NameHash hashes a domain name in presentation form case-insensitively
// (ASCII), without allocating: FNV-1a over the lower-cased octets.
func NameHash[T ~string | ~[]byte](name T) uint64 {
	h := uint64(14695981039346656037)
	for i := 0; i < len(name); i++ {
		c := name[i]
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		h ^= uint64(c)
		h *= 1099511628211
	}
	return h
}

// ResponseKey classifies the reply m and names what it is about, as BIND
// does; see ReplyKey. It allocates nothing.
func ResponseKey(m *mdns.Msg) (ResponseKind, uint64) {
	var qname uint64
	qtype := uint16(0)
	if len(m.Question) > 0 {
		qname, qtype = NameHash(m.Question[0].Name), m.Question[0].Qtype
	}
	return ReplyKey(m.Rcode, m.Authoritative, qname, qtype, len(m.Answer), m.Ns)
}

// ReplyKey classifies a reply from its parts (for a caller that packs
// replies without an mdns.Msg): rcode, the AA bit, NameHash of the question
// name, the question type, the number of answer records and the authority
// section. An answer or NODATA is keyed by question name and type, an
// NXDOMAIN by its zone (the SOA owner in ns, so that a flood of random
// names in one zone shares one allowance), a referral by the delegated
// name (the owner of ns[0]), an error by nothing (one allowance per client
// prefix).
func ReplyKey(rcode int, aa bool, qname uint64, qtype uint16, answers int, ns []mdns.RR) (ResponseKind, uint64) {
	switch {
	case rcode == mdns.RcodeNameError:
		for _, rr := range ns {
			if h := rr.Header(); h.Rrtype == mdns.TypeSOA {
				return ResponseNXDomain, NameHash(h.Name)
			}
		}
		return ResponseNXDomain, qname
	case rcode != mdns.RcodeSuccess:
		return ResponseError, 0
	case answers > 0:
		return ResponseAnswer, qname ^ uint64(qtype)<<48
	case !aa && len(ns) > 0:
		return ResponseReferral, NameHash(ns[0].Header().Name)
	default:
		return ResponseNoData, qname ^ uint64(qtype)<<48
	}
}

// SlipReply returns the empty truncated reply sent instead of m when the
// limiter says ActionSlip, so that the client retries over TCP: m's id,
// opcode, RD, CD and rcode with QR and TC set, the question, and no
// records (no OPT either: a slip is never larger than the query it answers,
// whatever NSID or padding the full reply would carry). AppendSlip writes
// the same octets from the raw query.
func SlipReply(m *mdns.Msg) *mdns.Msg {
	tc := &mdns.Msg{Question: m.Question}
	tc.Id, tc.Response, tc.Opcode = m.Id, true, m.Opcode
	tc.RecursionDesired, tc.CheckingDisabled = m.RecursionDesired, m.CheckingDisabled
	tc.Rcode = m.Rcode & 0xF
	tc.Truncated = true
	return tc
}

// AppendSlip appends to dst the wire form of a slip reply to the raw query
// pkt whose question ends at qend (12 + the question's length), for a
// reply that had rcode: the query's id, opcode, RD and CD with QR and TC
// set, the rcode, the question as received, and no other records (no OPT),
// as SlipReply. For callers that write replies from the packet; it
// allocates nothing when dst has room for qend octets.
func AppendSlip(dst, pkt []byte, qend, rcode int) []byte {
	if qend < 12 || qend > len(pkt) {
		return dst
	}
	n := len(dst)
	dst = append(dst, pkt[:qend]...)
	b := dst[n:]
	b[2] = 0x80 | b[2]&0x79 | 0x02     // QR, opcode and RD kept, AA cleared, TC
	b[3] = b[3]&0x10 | byte(rcode&0xF) // CD kept; RA, Z, AD cleared
	binary.BigEndian.PutUint16(b[4:], 1)
	clear(b[6:12])
	return dst
}
