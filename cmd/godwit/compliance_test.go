package main

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	mdns "github.com/miekg/dns"
)

// ISC's DNS compliance checks (genreport, from DNS-Compliance-Testing,
// gitlab.isc.org/isc-projects/DNS-Compliance-Testing), ported to Go so that
// `make test` runs them: genreport is not packaged in Debian. The queries
// are genreport's own bytes (its opts[] table: header flags, EDNS size,
// flags, version and options) and grJudge is its process(): it returns the
// tags genreport would print for the test, "ok" first when nothing is
// wrong. The port follows genreport.c as mirrored in
// github.com/damaestro/DNS-Compliance-Testing (copyright 2016-2019).
//
// genreport asks for SOA (DNSKEY for edns@512 and ednstcp) at a zone's
// apex. The test also aims each check at a GSLB service name, where the
// SOA question becomes A and genreport's "nosoa"/"soa" checks (the
// answer's SOA missing / present when it should not be) apply to the A
// RRset: the same rule for the record the name is there to answer. The -T
// queries are sent as they are (SOA at a service name is a NODATA).

// grTest is one row of genreport's opts[] table.
type grTest struct {
	name                      string
	what                      string // genreport's group: EDNS (the default report), FULL, COMM, TYPE
	rdata                     string // EDNS options, wire format
	udpsize                   uint16 // 0: no OPT record
	flags                     uint16 // EDNS flags (0x8000 = DO)
	version                   uint8  // EDNS version
	tcp                       bool   // sent over TCP
	cookie                    bool   // the OPT carries a client cookie
	ignore                    bool   // keep a truncated UDP answer (no retry over TCP)
	tc, rd, ra, cd, ad, aa, z bool
	opcode                    int
	qtype                     uint16
}

const (
	grNSID   = "\x00\x03\x00\x00"
	grECS    = "\x00\x08\x00\x04\x00\x01\x00\x00" // family 1, source /0
	grExpire = "\x00\x09\x00\x00"
	grCookie = "\x00\x0a\x00\x08\x01\x02\x03\x04\x05\x06\x07\x08"
	grOpt100 = "\x00\x64\x00\x00" // an option code nobody defines
	grDO     = 0x8000
)

// grTests is genreport's table, in its order; each comment is the dig
// command genreport gives for the test. dnswkk (TSIG with a well-known
// key) and icmp are in no group genreport runs by default, and Godwit has
// no TSIG: they are left out.
var grTests = []grTest{
	// dig +noedns +noad +norec SOA <zone>
	{name: "dns", what: "EDNS", qtype: mdns.TypeSOA},
	// dig +noedns +noad +norec +aaflag SOA <zone>
	{name: "aa", what: "FULL", aa: true, qtype: mdns.TypeSOA},
	// dig +noedns +ad +norec SOA <zone>
	{name: "ad", what: "FULL", ad: true, qtype: mdns.TypeSOA},
	// dig +noedns +noad +norec +cd SOA <zone>
	{name: "cd", what: "FULL", cd: true, qtype: mdns.TypeSOA},
	// dig +noedns +noad +norec +raflag SOA <zone>
	{name: "ra", what: "FULL", ra: true, qtype: mdns.TypeSOA},
	// dig +noedns +noad +rec SOA <zone>
	{name: "rd", what: "FULL", rd: true, qtype: mdns.TypeSOA},
	// dig +noedns +noad +norec +tcflag SOA <zone>
	{name: "tc", what: "FULL", tc: true, qtype: mdns.TypeSOA},
	// dig +noedns +noad +norec +zflag SOA <zone>
	{name: "zflag", what: "FULL", z: true, qtype: mdns.TypeSOA},
	// dig +noedns +noad +norec +header-only +opcode=15
	{name: "opcode", what: "FULL", opcode: 15},
	// dig +noedns +header-only +opcode=15 +tcflag +rec +raflag +cd +ad +aaflag +zflag
	{name: "opcodeflg", what: "FULL", tc: true, rd: true, ra: true, cd: true, ad: true, aa: true, z: true, opcode: 15},
	// dig +noedns +noad +norec TYPE666 <zone>
	{name: "type666", what: "FULL", qtype: 666},
	// dig +noedns +noad +norec +tcp SOA <zone>
	{name: "tcp", what: "FULL", tcp: true, qtype: mdns.TypeSOA},

	// dig +edns=0 +nocookie +noad +norec SOA <zone>
	{name: "edns", what: "EDNS", udpsize: 4096, qtype: mdns.TypeSOA},
	// dig +edns=1 +noednsneg +nocookie +noad +norec SOA <zone>
	{name: "edns1", what: "EDNS", udpsize: 4096, version: 1, qtype: mdns.TypeSOA},
	// dig +edns=0 +nocookie +noad +norec +dnssec +ignoretc +bufsize=512 DNSKEY <zone>
	// (genreport's row sets no DO bit, whatever its dig line says)
	{name: "edns@512", what: "EDNS", udpsize: 512, ignore: true, qtype: mdns.TypeDNSKEY},
	// Not a genreport row: edns@512 as its dig line has it, with +dnssec
	// (DO), so that a signed DNSKEY answer (or a signed NODATA at a
	// service name) meets the 512-byte limit.
	{name: "edns@512do", what: "EXTRA", udpsize: 512, flags: grDO, ignore: true, qtype: mdns.TypeDNSKEY},
	// dig +edns=0 +nocookie +noad +norec +ednsopt=100 SOA <zone>
	{name: "ednsopt", what: "EDNS", rdata: grOpt100, udpsize: 4096, qtype: mdns.TypeSOA},
	// dig +edns=1 +noednsneg +nocookie +noad +norec +ednsopt=100 SOA <zone>
	{name: "edns1opt", what: "EDNS", rdata: grOpt100, udpsize: 4096, version: 1, qtype: mdns.TypeSOA},
	// dig +edns=0 +nocookie +noad +norec +dnssec SOA <zone>
	{name: "do", what: "EDNS", udpsize: 4096, flags: grDO, qtype: mdns.TypeSOA},
	// dig +edns=0 +nocookie +noad +norec +dnssec +cd SOA <zone>
	{name: "docd", what: "FULL", udpsize: 4096, flags: grDO, cd: true, qtype: mdns.TypeSOA},
	// dig +edns=1 +noednsneg +nocookie +noad +norec +dnssec SOA <zone>
	{name: "edns1do", what: "FULL", udpsize: 4096, flags: grDO, version: 1, qtype: mdns.TypeSOA},
	// dig +edns=0 +nocookie +noad +norec +ednsflags=0x0080 SOA <zone>
	{name: "ednsflags", what: "EDNS", udpsize: 4096, flags: 0x0080, qtype: mdns.TypeSOA},
	// dig +edns=0 +noad +norec +nsid +subnet=0.0.0.0/0 +expire +cookie=0102030405060708 SOA <zone>
	{name: "optlist", what: "EDNS", rdata: grNSID + grECS + grExpire + grCookie, udpsize: 4096, cookie: true, qtype: mdns.TypeSOA},

	// dig +edns=0 +nocookie +noad +norec +nsid SOA <zone>
	{name: "ednsnsid", what: "FULL", rdata: grNSID, udpsize: 4096, qtype: mdns.TypeSOA},
	// dig +edns=0 +noad +norec +cookie=0102030405060708 SOA <zone>
	{name: "ednscookie", what: "FULL", rdata: grCookie, udpsize: 4096, cookie: true, qtype: mdns.TypeSOA},
	// dig +edns=0 +nocookie +noad +norec +expire SOA <zone>
	{name: "ednsexpire", what: "FULL", rdata: grExpire, udpsize: 4096, qtype: mdns.TypeSOA},
	// dig +edns=0 +nocookie +noad +norec +subnet=0.0.0.0/0 SOA <zone>
	{name: "ednssubnet", what: "FULL", rdata: grECS, udpsize: 4096, qtype: mdns.TypeSOA},
	// dig +edns=1 +noednsneg +nocookie +noad +norec +nsid SOA <zone>
	{name: "edns1nsid", what: "FULL", rdata: grNSID, udpsize: 4096, version: 1, qtype: mdns.TypeSOA},
	// dig +edns=1 +noednsneg +noad +norec +cookie=0102030405060708 SOA <zone>
	{name: "edns1cookie", what: "FULL", rdata: grCookie, udpsize: 4096, version: 1, cookie: true, qtype: mdns.TypeSOA},
	// dig +edns=1 +noednsneg +nocookie +noad +norec +expire SOA <zone>
	{name: "edns1expire", what: "FULL", rdata: grExpire, udpsize: 4096, version: 1, qtype: mdns.TypeSOA},
	// dig +edns=1 +noednsneg +nocookie +noad +norec +subnet=0.0.0.0/0 SOA <zone>
	{name: "edns1subnet", what: "FULL", rdata: grECS, udpsize: 4096, version: 1, qtype: mdns.TypeSOA},
	// dig +edns=0 +nocookie +noad +norec +dnssec +bufsize=512 +tcp DNSKEY <zone>
	{name: "ednstcp", what: "EDNS", udpsize: 512, flags: grDO, tcp: true, qtype: mdns.TypeDNSKEY},

	// dig +edns=0 +cookie=0102030405060708 +noad +norec +dnssec SOA <zone>
	{name: "bind11", what: "COMM", rdata: grCookie, udpsize: 4096, flags: grDO, cookie: true, qtype: mdns.TypeSOA},
	// dig +edns=0 +cookie=0102030405060708 +ad +rec SOA <zone>
	{name: "dig11", what: "COMM", rdata: grCookie, udpsize: 4096, cookie: true, rd: true, ad: true, qtype: mdns.TypeSOA},
}

// grTypes are genreport's TYPE group (genreport -T): "dig +noedns +noad
// +norec TYPE <zone>" for each; "L64" asks for type 106 (genreport's
// ns_t_l34).
var grTypes = []struct {
	name  string
	qtype uint16
}{
	{"A", 1}, {"NS", 2}, {"MD", 3}, {"MF", 4}, {"CNAME", 5}, {"SOA", 6}, {"MB", 7}, {"MG", 8},
	{"MR", 9}, {"NULL", 10}, {"WKS", 11}, {"PTR", 12}, {"HINFO", 13}, {"MINFO", 14}, {"MX", 15},
	{"TXT", 16}, {"RP", 17}, {"AFSDB", 18}, {"X25", 19}, {"ISDN", 20}, {"RT", 21}, {"NSAP", 22},
	{"NSAP-PTR", 23}, {"SIG", 24}, {"KEY", 25}, {"PX", 26}, {"GPOS", 27}, {"AAAA", 28}, {"LOC", 29},
	{"NXT", 30}, {"SRV", 33}, {"NAPTR", 35}, {"KX", 36}, {"CERT", 37}, {"A6", 38}, {"DNAME", 39},
	{"APL", 42}, {"DS", 43}, {"SSHFP", 44}, {"IPSECKEY", 45}, {"RRSIG", 46}, {"NSEC", 47},
	{"DNSKEY", 48}, {"DHCID", 49}, {"NSEC3", 50}, {"NSEC3PARAM", 51}, {"TLSA", 52}, {"SMIMEA", 53},
	{"HIP", 55}, {"CDS", 59}, {"CDNSKEY", 60}, {"OPENPGPKEY", 61}, {"SPF", 99}, {"NID", 104},
	{"L32", 105}, {"L64", 106}, {"LP", 107}, {"EUI48", 108}, {"EUI64", 109}, {"URI", 256},
	{"CAA", 257}, {"AVC", 258}, {"DOA", 259}, {"DLV", 32769}, {"TYPE1000", 1000},
}

// grQuery builds the query genreport's dotest() sends: res_mkquery's
// header and question, RD cleared unless the test sets it, the test's
// header bits, a header-only message for opcode 15, and the OPT record.
func grQuery(g grTest, id uint16, qname string, qtype uint16) []byte {
	b := make([]byte, 12, 512)
	binary.BigEndian.PutUint16(b, id)
	b[2] = byte(g.opcode&0xf) << 3
	for _, f := range []struct {
		on  bool
		i   int
		bit byte
	}{{g.aa, 2, 0x04}, {g.tc, 2, 0x02}, {g.rd, 2, 0x01}, {g.ra, 3, 0x80}, {g.z, 3, 0x40}, {g.ad, 3, 0x20}, {g.cd, 3, 0x10}} {
		if f.on {
			b[f.i] |= f.bit
		}
	}
	if g.opcode != 0 {
		return b // "Zero question section."
	}
	b[5] = 1
	name := make([]byte, 256)
	n, err := mdns.PackDomainName(qname, name, 0, nil, false)
	if err != nil {
		panic(err)
	}
	b = append(b, name[:n]...)
	b = binary.BigEndian.AppendUint16(b, qtype)
	b = binary.BigEndian.AppendUint16(b, mdns.ClassINET)
	if g.udpsize > 0 {
		b[11] = 1
		b = append(b, 0)
		b = binary.BigEndian.AppendUint16(b, mdns.TypeOPT)
		b = binary.BigEndian.AppendUint16(b, g.udpsize)
		b = binary.BigEndian.AppendUint32(b, uint32(g.version)<<16|uint32(g.flags))
		b = binary.BigEndian.AppendUint16(b, uint16(len(g.rdata)))
		b = append(b, g.rdata...)
	}
	return b
}

// grVerdict is what genreport makes of one response.
type grVerdict struct {
	tags      []string // genreport's tags, "ok" first when nothing failed
	failed    []string // the tags that made it not ok
	seenRRSIG bool     // an RRSIG in the answer section ("signed=…,yes")
	tc        bool     // TC was set (genreport then asks again over TCP unless ignore)
}

func (v grVerdict) String() string { return strings.Join(v.tags, ",") }

// grJudge is genreport's process() for a test's response: qname/qtype
// is the question sent, want the type whose presence genreport checks
// ("nosoa"/"soa": SOA at an apex, A at a service name), overTCP says the
// response came over TCP ("toobig" is about UDP).
func grJudge(g grTest, qname string, qtype, want uint16, buf []byte, overTCP bool) grVerdict {
	var v grVerdict
	ok := true
	fail := func(tag string) {
		v.tags = append(v.tags, tag)
		v.failed = append(v.failed, tag)
		ok = false
	}
	malformed := func() grVerdict {
		return grVerdict{tags: []string{"malformed"}, failed: []string{"malformed"}}
	}
	if len(buf) < 12 {
		return malformed()
	}
	qr := buf[2]>>7&1 == 1
	opcode := int(buf[2]>>3) & 0xf
	aa, tc, rd := buf[2]&0x04 != 0, buf[2]&0x02 != 0, buf[2]&0x01 != 0
	ra, z, ad, cd := buf[3]&0x80 != 0, buf[3]&0x40 != 0, buf[3]&0x20 != 0, buf[3]&0x10 != 0
	rcode := int(buf[3] & 0xf)
	qd := int(binary.BigEndian.Uint16(buf[4:]))
	an := int(binary.BigEndian.Uint16(buf[6:]))
	ns := int(binary.BigEndian.Uint16(buf[8:]))
	ar := int(binary.BigEndian.Uint16(buf[10:]))
	v.tc = tc
	if !qr {
		return malformed()
	}

	off := 12
	// rr reads one record's owner, type, class, TTL and rdata.
	rr := func() (name string, typ, class uint16, ttl uint32, rdata []byte, good bool) {
		name, o, err := mdns.UnpackDomainName(buf, off)
		if err != nil || len(buf)-o < 10 {
			return "", 0, 0, 0, nil, false
		}
		typ = binary.BigEndian.Uint16(buf[o:])
		class = binary.BigEndian.Uint16(buf[o+2:])
		ttl = binary.BigEndian.Uint32(buf[o+4:])
		rdlen := int(binary.BigEndian.Uint16(buf[o+8:]))
		o += 10
		if len(buf)-o < rdlen {
			return "", 0, 0, 0, nil, false
		}
		off = o + rdlen
		return name, typ, class, ttl, buf[o:off], true
	}

	if g.opcode != 0 && qd != 0 {
		fail("non-empty-question-section")
	} else {
		for range qd {
			name, o, err := mdns.UnpackDomainName(buf, off)
			if err != nil || len(buf)-o < 4 {
				return malformed()
			}
			typ := binary.BigEndian.Uint16(buf[o:])
			off = o + 4
			// genreport drops a UDP answer to another question and
			// waits (a timeout); over TCP it reports "mismatch".
			if !strings.EqualFold(name, qname) || typ != qtype {
				return grVerdict{tags: []string{"mismatch"}, failed: []string{"mismatch"}}
			}
		}
	}
	seenWant := false
	if g.opcode != 0 && an != 0 {
		fail("non-empty-answer-section")
	} else {
		for range an {
			name, typ, _, _, _, good := rr()
			if !good {
				return malformed()
			}
			if typ == want && strings.EqualFold(name, qname) {
				seenWant = true
			}
			if typ == mdns.TypeRRSIG {
				v.seenRRSIG = true
			}
		}
	}
	if g.opcode != 0 && ns != 0 {
		fail("non-empty-authority-section")
	} else {
		for range ns {
			if _, _, _, _, _, good := rr(); !good {
				return malformed()
			}
		}
	}
	var seenOpt, seenNSID, seenECS, seenExpire, seenCookie, goodCookie, seenEcho bool
	var ednsTTL uint32
	if g.opcode != 0 && ar != 0 {
		fail("non-empty-additional-section")
	} else {
		for range ar {
			_, typ, _, ttl, rdata, good := rr()
			if !good {
				return malformed()
			}
			if typ != mdns.TypeOPT {
				continue
			}
			if seenOpt {
				return malformed() // a second OPT
			}
			seenOpt, ednsTTL = true, ttl
			for len(rdata) > 0 {
				if len(rdata) < 4 {
					return malformed()
				}
				code := binary.BigEndian.Uint16(rdata)
				n := int(binary.BigEndian.Uint16(rdata[2:]))
				rdata = rdata[4:]
				if len(rdata) < n {
					return malformed()
				}
				data := rdata[:n]
				rdata = rdata[n:]
				switch {
				case code == 3 && n > 0:
					seenNSID = true
				case code == 8:
					seenECS = true
				case code == 9 && n == 4:
					seenExpire = true
				case code == 10 && n >= 16 && n <= 40:
					seenCookie = true
					if bytes.Equal(data[:8], []byte(grCookie[4:])) {
						goodCookie = true
					} else if g.cookie {
						ok = false // genreport: a wrong client cookie, no tag of its own
					}
				case code == 100:
					seenEcho = true
				}
			}
		}
	}
	if off != len(buf) {
		return malformed()
	}
	rcode += int(ednsTTL&0xff000000) >> 20

	if opcode != g.opcode {
		fail(grOpcodeText(opcode))
	}
	if g.version == 0 {
		// Expect NOERROR / BADCOOKIE.
		if g.opcode == 0 && ((rcode != 0 && !g.cookie) ||
			(rcode != 0 && (rcode != mdns.RcodeBadCookie || !seenCookie) && g.cookie)) {
			fail(grRcodeText(rcode))
		}
		// Expect NOTIMP.
		if g.opcode != 0 && rcode != mdns.RcodeNotImplemented {
			fail(grRcodeText(rcode))
		}
	}
	// Expect BADVERS to EDNS version != 0.
	if g.version != 0 && rcode != mdns.RcodeBadVers {
		fail(grRcodeText(rcode))
	}
	ednsVers := uint8(ednsTTL >> 16)
	if seenOpt && ednsVers != 0 {
		fail("version-not-zero")
	}
	if seenOpt && ((ednsVers < g.version && rcode != mdns.RcodeBadVers) ||
		(ednsVers >= g.version && rcode == mdns.RcodeBadVers)) {
		fail("badversion")
	}
	if !seenOpt && g.udpsize != 0 {
		fail("noopt")
	}
	if seenOpt && g.udpsize == 0 {
		fail("opt")
	}
	// (At a service name, genreport's SOA question is asked as A; a -T
	// SOA question there is a NODATA, not held to the SOA checks.)
	soaTest := g.qtype == mdns.TypeSOA && qtype == want
	if soaTest && g.version == 0 && !g.ignore && !seenWant && rcode == mdns.RcodeSuccess {
		fail("nosoa")
	}
	if soaTest && seenWant && (g.version != 0 || rcode != mdns.RcodeSuccess) {
		fail("soa")
	}
	if seenEcho {
		fail("echoed")
	}
	do := g.flags&grDO != 0
	if seenOpt && do && ednsTTL&0x8000 == 0 && v.seenRRSIG {
		fail("nodo")
	}
	if seenOpt && do && g.cd && ednsTTL&0x8000 != 0 && !cd && v.seenRRSIG {
		fail("nocd")
	}
	// AA is only defined for QUERY.
	if !aa && g.version == 0 && rcode == mdns.RcodeSuccess && g.opcode == 0 {
		fail("noaa")
	}
	if aa && g.opcode != 0 {
		fail("aa")
	}
	// RA is only defined for QUERY.
	if ra && g.opcode != 0 {
		fail("ra")
	}
	// RD is only defined for QUERY.
	if rd && (g.opcode != 0 || !g.rd) {
		fail("rd")
	}
	if !rd && g.rd && g.opcode == 0 {
		fail("nord")
	}
	// AD is only defined for QUERY.
	if ad && (g.opcode != 0 || (!g.ad && !do)) {
		fail("ad")
	}
	// CD is only defined for QUERY.
	if cd && (g.opcode != 0 || !g.cd) {
		fail("cd")
	}
	// The last reserved bit is not to be echoed (RFC 1035).
	if z {
		fail("z")
	}
	// Only DO is defined among the EDNS flags.
	if ednsTTL&0x7fff != 0 {
		fail("mbz")
	}
	limit := int(g.udpsize)
	if limit == 0 {
		limit = 512
	}
	if g.ignore && !overTCP && len(buf) > limit {
		fail("toobig")
	}
	if ok {
		v.tags = append([]string{"ok"}, v.tags...)
	} else if len(v.failed) == 0 {
		v.failed = []string{"cookie-mismatch"}
	}
	if seenNSID {
		v.tags = append(v.tags, "nsid")
	}
	if seenExpire {
		v.tags = append(v.tags, "expire")
	}
	switch {
	case seenCookie && goodCookie && g.cookie:
		v.tags = append(v.tags, map[bool]string{true: "cookie+badcookie", false: "cookie"}[rcode == mdns.RcodeBadCookie])
	case seenCookie && g.cookie:
		v.tags = append(v.tags, map[bool]string{true: "cookie-mismatch+badcookie", false: "cookie-mismatch"}[rcode == mdns.RcodeBadCookie])
	case seenCookie:
		v.tags = append(v.tags, "cookie")
	}
	if seenECS {
		v.tags = append(v.tags, "subnet")
	}
	return v
}

func grOpcodeText(op int) string {
	if s, ok := map[int]string{0: "query", 1: "iquery", 2: "status", 4: "notify", 5: "update"}[op]; ok {
		return s
	}
	return fmt.Sprintf("opcode%d", op)
}

func grRcodeText(rc int) string {
	if s, ok := map[int]string{0: "noerror", 1: "formerr", 2: "servfail", 3: "nxdomain", 4: "notimp",
		5: "refused", 6: "yxdomain", 7: "yxrrset", 8: "nxrrset", 9: "notauth", 10: "notzone",
		16: "badvers", 23: "badcookie"}[rc]; ok {
		return s
	}
	return fmt.Sprintf("rcode%d", rc)
}

// grExchange sends a query over UDP (three tries, one second each, as
// genreport resends) or TCP and returns the response to its ID.
func grExchange(addr string, tcp bool, q []byte) ([]byte, error) {
	id := binary.BigEndian.Uint16(q)
	if tcp {
		c, err := net.DialTimeout("tcp", addr, 5*time.Second)
		if err != nil {
			return nil, err
		}
		defer c.Close()
		_ = c.SetDeadline(time.Now().Add(10 * time.Second))
		if _, err := c.Write(append(binary.BigEndian.AppendUint16(nil, uint16(len(q))), q...)); err != nil {
			return nil, err
		}
		var l [2]byte
		if _, err := io.ReadFull(c, l[:]); err != nil {
			return nil, err
		}
		buf := make([]byte, binary.BigEndian.Uint16(l[:]))
		_, err = io.ReadFull(c, buf)
		return buf, err
	}
	c, err := net.Dial("udp", addr)
	if err != nil {
		return nil, err
	}
	defer c.Close()
	buf := make([]byte, 65535)
	for try := 0; try < 3; try++ {
		if _, err := c.Write(q); err != nil {
			return nil, err
		}
		_ = c.SetReadDeadline(time.Now().Add(time.Second))
		for {
			n, err := c.Read(buf)
			if err != nil {
				break // timeout: send again
			}
			if n >= 2 && binary.BigEndian.Uint16(buf) == id {
				return buf[:n], nil
			}
		}
	}
	return nil, fmt.Errorf("no UDP response in 3 tries")
}

// grRun runs one test the way genreport does (UDP, or TCP for the tcp
// tests; a truncated UDP answer asked again over TCP unless the test
// ignores TC), or over TCP when forceTCP.
func grRun(addr string, g grTest, qname string, qtype, want uint16, forceTCP bool) (grVerdict, error) {
	q := grQuery(g, uint16(time.Now().UnixNano()), qname, qtype)
	tcp := g.tcp || forceTCP
	resp, err := grExchange(addr, tcp, q)
	if err != nil {
		return grVerdict{}, err
	}
	v := grJudge(g, qname, qtype, want, resp, tcp)
	if v.tc && !tcp && !g.ignore {
		if resp, err = grExchange(addr, true, q); err != nil {
			return grVerdict{}, err
		}
		v = grJudge(g, qname, qtype, want, resp, true)
	}
	return v, nil
}

// writeCSK writes a new ECDSA P-256 CSK for zone into dir in BIND's
// format, as dnssec-keygen -f KSK would.
func writeCSK(t *testing.T, dir, zone string) {
	t.Helper()
	k := &mdns.DNSKEY{Hdr: mdns.RR_Header{Name: zone, Rrtype: mdns.TypeDNSKEY, Class: mdns.ClassINET, Ttl: 3600},
		Flags: 257, Protocol: 3, Algorithm: mdns.ECDSAP256SHA256}
	priv, err := k.Generate(256)
	if err != nil {
		t.Fatal(err)
	}
	base := filepath.Join(dir, fmt.Sprintf("K%s+%03d+%05d", zone, k.Algorithm, k.KeyTag()))
	if err := os.WriteFile(base+".key", []byte(k.String()+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(base+".private", []byte(k.PrivateKeyString(priv)), 0o600); err != nil {
		t.Fatal(err)
	}
}

// TestGenreport runs genreport's checks (the default EDNS group, FULL,
// COMM and TYPE) against a live godwit serving the demo with
// gslb.example.test signed and example.test not, at both zones' apexes
// and at a GSLB service name in each, as genreport sends them and again
// over TCP. Every check must come back "ok"; "signed" (genreport's
// summary of the do test) must say "ok,yes" for the signed zone and
// "ok" for the unsigned one.
func TestGenreport(t *testing.T) {
	dir := t.TempDir()
	if out, err := exec.Command("cp", "-r", "demo/.", dir).CombinedOutput(); err != nil {
		t.Fatalf("cp demo: %v\n%s", err, out)
	}
	keys := filepath.Join(dir, "keys")
	if err := os.Mkdir(keys, 0o700); err != nil {
		t.Fatal(err)
	}
	writeCSK(t, keys, "gslb.example.test.")
	cfg := filepath.Join(dir, "godwit.toml")
	f, err := os.OpenFile(cfg, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	// A GSLB service in the unsigned zone too.
	if _, err := f.WriteString(`
[dnssec]
keys_dir = "keys"

[[service]]
name = "lb.example.test."
policy = "round-robin"
answers = 1
ttl = 30

  [[service.target]]
  datacenter = "ams"
  addresses = ["192.0.2.10"]

  [[service.target]]
  datacenter = "iad"
  addresses = ["192.0.2.20"]
`); err != nil {
		t.Fatal(err)
	}
	f.Close()
	s := startGodwit(t, "-config", cfg)

	for _, tgt := range []struct {
		name   string
		want   uint16 // the type genreport's SOA question becomes
		signed bool
	}{
		{"gslb.example.test.", mdns.TypeSOA, true},
		{"geo.gslb.example.test.", mdns.TypeA, true},
		{"example.test.", mdns.TypeSOA, false},
		{"lb.example.test.", mdns.TypeA, false},
	} {
		for _, forceTCP := range []bool{false, true} {
			transport := "genreport"
			if forceTCP {
				transport = "tcp"
			}
			t.Run(strings.TrimSuffix(tgt.name, ".")+"/"+transport, func(t *testing.T) {
				run := func(t *testing.T, g grTest) grVerdict {
					t.Helper()
					qtype := g.qtype
					if qtype == mdns.TypeSOA && g.what != "TYPE" {
						qtype = tgt.want
					}
					v, err := grRun(s.dnsAddr, g, tgt.name, qtype, tgt.want, forceTCP)
					if err != nil {
						t.Fatalf("%s: %v", g.name, err)
					}
					return v
				}
				// genreport's report line for this server and zone.
				report := []string{fmt.Sprintf("%s @%s (%s):", tgt.name, s.dnsAddr, transport)}
				types := []string{fmt.Sprintf("%s @%s (%s) -T:", tgt.name, s.dnsAddr, transport)}
				defer func() { t.Log(strings.Join(report, " ") + "\n" + strings.Join(types, " ")) }()
				for _, g := range grTests {
					t.Run(g.name, func(t *testing.T) {
						v := run(t, g)
						report = append(report, g.name+"="+v.String())
						if g.name == "do" {
							report = append(report, "signed="+v.String()+map[bool]string{true: ",yes"}[v.seenRRSIG])
						}
						if len(v.failed) != 0 {
							t.Errorf("genreport %s=%s (%s %s)", g.name, v, tgt.name, transport)
						}
						switch g.name {
						case "do":
							// genreport's "signed=": the do test's result, ",yes" with an RRSIG.
							if v.seenRRSIG != tgt.signed {
								t.Errorf("genreport signed=%s,yes is %v, want %v", v, v.seenRRSIG, tgt.signed)
							}
						case "ednsnsid", "optlist":
							// [server] nsid is set in the demo: genreport's "nsid" tag.
							if !slices.Contains(v.tags, "nsid") {
								t.Errorf("genreport %s=%s: no NSID", g.name, v)
							}
						}
					})
				}
				for _, ty := range grTypes {
					t.Run("type/"+ty.name, func(t *testing.T) {
						g := grTest{name: ty.name, what: "TYPE", qtype: ty.qtype}
						v := run(t, g)
						types = append(types, ty.name+"="+v.String())
						if len(v.failed) != 0 {
							t.Errorf("genreport -T %s=%s (%s %s)", ty.name, v, tgt.name, transport)
						}
					})
				}
			})
		}
	}
}

// TestGenreportJudge shows that the port flags what genreport flags: a
// clean response passes, and each fault below draws genreport's tag.
func TestGenreportJudge(t *testing.T) {
	const zone = "example.test."
	test := func(name string) grTest {
		for _, g := range grTests {
			if g.name == name {
				return g
			}
		}
		t.Fatalf("no genreport test %s", name)
		return grTest{}
	}
	soa, _ := mdns.NewRR(zone + " 300 IN SOA ns1.example.test. h.example.test. 1 2 3 4 5")
	sig, _ := mdns.NewRR(zone + " 300 IN RRSIG SOA 13 2 300 20300101000000 20200101000000 1 example.test. AAAA")
	reply := func(g grTest, edit func(q, m *mdns.Msg)) []byte {
		q := new(mdns.Msg)
		if err := q.Unpack(grQuery(g, 1, zone, g.qtype)); err != nil {
			t.Fatal(err)
		}
		m := new(mdns.Msg)
		m.SetReply(q)
		m.RecursionDesired = q.RecursionDesired
		m.CheckingDisabled = q.CheckingDisabled
		m.Authoritative = g.opcode == 0
		if g.qtype == mdns.TypeSOA {
			m.Answer = []mdns.RR{soa}
		}
		if o := q.IsEdns0(); o != nil {
			m.SetEdns0(1232, o.Do())
		}
		if edit != nil {
			edit(q, m)
		}
		b, err := m.Pack()
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	for _, tc := range []struct {
		test string
		edit func(q, m *mdns.Msg)
		want string // genreport's tags
	}{
		{"dns", nil, "ok"},
		{"do", func(q, m *mdns.Msg) { m.Answer = append(m.Answer, sig) }, "ok"},
		{"zflag", func(q, m *mdns.Msg) { m.Zero = true }, "z"},
		{"dns", func(q, m *mdns.Msg) { m.Authoritative = false }, "noaa"},
		{"dns", func(q, m *mdns.Msg) { m.Answer = nil }, "nosoa"},
		{"rd", func(q, m *mdns.Msg) { m.RecursionDesired = false }, "nord"},
		{"ad", func(q, m *mdns.Msg) { m.AuthenticatedData = true }, "ok"},
		{"dns", func(q, m *mdns.Msg) { m.AuthenticatedData = true }, "ad"},
		{"cd", func(q, m *mdns.Msg) { m.CheckingDisabled = false }, "ok"},
		{"dns", func(q, m *mdns.Msg) { m.CheckingDisabled = true }, "cd"},
		{"dns", func(q, m *mdns.Msg) { m.SetEdns0(512, false) }, "opt"},
		{"edns", func(q, m *mdns.Msg) { m.Extra = nil }, "noopt"},
		{"edns1", func(q, m *mdns.Msg) {}, "noerror,badversion,soa"},
		{"edns1", func(q, m *mdns.Msg) { m.Answer = nil; m.Rcode = mdns.RcodeBadVers }, "ok"},
		{"edns1", func(q, m *mdns.Msg) { m.Answer = nil; m.Rcode = mdns.RcodeBadVers; m.IsEdns0().SetVersion(1) }, "version-not-zero,badversion"},
		{"ednsflags", func(q, m *mdns.Msg) { m.IsEdns0().Hdr.Ttl |= 0x0080 }, "mbz"},
		{"ednsopt", func(q, m *mdns.Msg) {
			m.IsEdns0().Option = append(m.IsEdns0().Option, &mdns.EDNS0_LOCAL{Code: 100})
		}, "echoed"},
		{"do", func(q, m *mdns.Msg) { m.Answer = append(m.Answer, sig); m.IsEdns0().SetDo(false) }, "nodo"},
		{"docd", func(q, m *mdns.Msg) { m.Answer = append(m.Answer, sig); m.CheckingDisabled = false }, "nocd"},
		{"ednsnsid", func(q, m *mdns.Msg) {
			m.IsEdns0().Option = append(m.IsEdns0().Option, &mdns.EDNS0_NSID{Code: mdns.EDNS0NSID, Nsid: "6e73"})
		}, "ok,nsid"},
		{"opcode", func(q, m *mdns.Msg) { m.Rcode = mdns.RcodeNotImplemented }, "ok"},
		{"opcodeflg", func(q, m *mdns.Msg) { m.Rcode = mdns.RcodeNotImplemented }, "rd,cd"},
		{"opcode", func(q, m *mdns.Msg) { m.Rcode = mdns.RcodeFormatError }, "formerr"},
		{"opcode", func(q, m *mdns.Msg) { m.Rcode = mdns.RcodeNotImplemented; m.Authoritative = true }, "aa"},
		{"edns@512", func(q, m *mdns.Msg) {
			for i := range 40 {
				rr, _ := mdns.NewRR(fmt.Sprintf("%s 300 IN DNSKEY 256 3 13 %s", zone, strings.Repeat("A", 20+i%3*4)))
				m.Answer = append(m.Answer, rr)
			}
		}, "toobig"},
	} {
		g := test(tc.test)
		v := grJudge(g, zone, g.qtype, mdns.TypeSOA, reply(g, tc.edit), false)
		if v.String() != tc.want {
			t.Errorf("%s: genreport says %s, want %s", tc.test, v, tc.want)
		}
	}
	if v := grJudge(test("dns"), zone, mdns.TypeSOA, mdns.TypeSOA, []byte{0, 1, 0x84}, false); v.String() != "malformed" {
		t.Errorf("a short response: %s, want malformed", v)
	}
}
