package zones

import (
	"bytes"
	"io"
	"math"
	"net/netip"
	"strconv"
	"strings"
	"unsafe"

	mdns "github.com/miekg/dns"
)

// The miekg parser costs about 1.3 µs and ten allocations a record (it reads
// a byte at a time through an io.ByteReader and makes a string of every
// token): for the 1M-record bench zone, more than NSD's whole load. Almost
// every record of a large zone is one line of a few common types, so
// fastParse reads those itself, straight from the file's bytes, and hands
// the validator records it reuses (the validator copies what it keeps).
//
// It gives the miekg parser what it is not sure of, so that a file means
// what it meant before:
//   - a record of another type, or with anything unusual (escapes,
//     parentheses, a name with
//     characters beyond letters, digits and -_*/, a long string), is parsed
//     alone by a miekg parser told the $ORIGIN, the default TTL and the
//     previous owner, as the stream had them;
//   - a file with $INCLUDE or $GENERATE, and any syntax error (the miekg
//     parser alone says it, and reads on after it: see syntax.go), a string
//     going on past the end of a line, a parenthesis left open, a line over
//     the limit: fastParse gives up, and the caller reads the whole file
//     again with the miekg parser and a new validator.
//
// A file of streamBytes or more is read a window at a time (fastStream), on
// a goroutine of its own, handing the validator batches of records.
//
// FuzzFastParse checks that both ways load the same records, or both fail.

// noFastParse makes every file go through the miekg parser (for tests).
var noFastParse bool

// fastTok is one token of a record: data[start:end], inside the quotes of
// a quoted one.
type fastTok struct {
	start, end int32
	quoted     bool
}

// fastParser reads one file; see fastParse.
type fastParser struct {
	batch   *fastBatch  // the records read, for the validator
	flush   func() bool // hands p.batch over and gives p.batch an empty one; false: read no more
	data    []byte      // the file, or the window of it read so far (see more)
	file    string
	maxLine int

	// Reading a file a window at a time (see fastStream); r nil: data is
	// the whole file.
	r     io.Reader
	eof   bool  // r has no more
	limit int64 // bytes r may give before the file is too large
	read  int64

	origin string // $ORIGIN in force, absolute, as written
	defTTL uint32 // the default TTL, when hasDef
	hasDef bool
	byDir  bool   // defTTL is the $TTL's (else the last record's TTL)
	owner  string // the last owner, absolute, as written; "" none yet

	toks     []fastTok
	paren    int  // tokens before the record's first '(', -1: none
	weird    bool // the record goes to a miekg parser alone
	ownerBuf []byte
	nameBuf  []byte

	// Records handed to the validator, which copies them (see store).
	a     mdns.A
	aaaa  mdns.AAAA
	cname mdns.CNAME
	mx    mdns.MX
	ns    mdns.NS
	ptr   mdns.PTR
	srv   mdns.SRV
	txt   mdns.TXT
	ip    [16]byte
	strs  []string
}

// fastParse loads data (a zone file, origin its default origin, fully
// qualified and canonical) into v. It returns false when the file is left
// to the miekg parser (see above); v is then to be thrown away.
func fastParse(v *validator, data []byte, file, origin string, maxLine int) bool {
	p := &fastParser{data: data, file: file, maxLine: maxLine, origin: origin}
	c := &fastAdder{v: v, file: file}
	b := new(fastBatch)
	p.batch = b
	p.flush = func() bool {
		ok := c.add(b)
		b.reset()
		return ok
	}
	return p.run() && p.flush()
}

// Reading a large file a window at a time: its bytes are not all held while
// the zone built from them grows (27 MiB of the 1M-record bench zone's
// reload peak).
var (
	fastWindow = 4 << 20 // bytes of the file held at a time
	fastAhead  = 1 << 20 // a record starts with this much of the file after it in the window, or the file's end
)

// fastStream is fastParse reading the file from r, a window at a time;
// window is the file's start, read already (its capacity is the window's
// size), eof whether that is all of it, limit the bytes the file may have.
// It returns false as fastParse does, and when the file is larger than
// limit, or a record longer than fastAhead: the caller reads the whole
// file.
//
// The file is read on one goroutine and its records are added to v on the
// caller's, a batch at a time: reading is a fifth of the work, and a large
// zone's start-up waits for it.
func fastStream(v *validator, window []byte, r io.Reader, eof bool, limit int64, file, origin string, maxLine int) bool {
	p := &fastParser{data: window, file: file, maxLine: maxLine, origin: origin, r: r, eof: eof, limit: limit, read: int64(len(window))}
	const batches = 3
	full := make(chan *fastBatch, batches) // never blocks: there are no more
	free := make(chan *fastBatch, batches)
	for range batches - 1 {
		free <- new(fastBatch)
	}
	stop := make(chan struct{}) // the adder wants no more
	var read bool               // what run returned; written before full is closed
	p.batch = new(fastBatch)
	p.flush = func() bool {
		full <- p.batch
		p.batch = nil
		select {
		case p.batch = <-free:
			return true
		case <-stop:
			return false // (run returns at once)
		}
	}
	go func() {
		defer close(full)
		read = p.run() && p.read <= limit
		if read && p.batch != nil {
			full <- p.batch
		}
	}()
	c := &fastAdder{v: v, file: file}
	added := true
	for b := range full {
		if added && !c.add(b) {
			added = false // the zone is full: read no more
			close(stop)
		}
		b.reset()
		free <- b
	}
	// (full is closed: the reader is done with the file.)
	return read || !added
}

// more moves the window to start at off and fills it from r; the record at
// off is then at 0.
func (p *fastParser) more(off int) bool {
	buf := p.data[:cap(p.data)]
	n := copy(buf, p.data[off:])
	for n < len(buf) && !p.eof {
		m, err := p.r.Read(buf[n:])
		n += m
		p.read += int64(m)
		switch {
		case err == io.EOF:
			p.eof = true
		case err != nil:
			return false
		}
	}
	p.data = buf[:n]
	return p.read <= p.limit
}

func (p *fastParser) run() bool {
	off, line := 0, 1
	for {
		if p.r != nil && !p.eof && len(p.data)-off < fastAhead {
			if !p.more(off) {
				return false
			}
			off = 0
		}
		if off >= len(p.data) {
			return true
		}
		data := p.data
		end, nl, first, ok := p.scan(off)
		if !ok {
			return false
		}
		if len(p.toks) > 0 {
			if data[off] == '$' && p.directive() {
				if !p.setDirective() {
					return false
				}
			} else if data[off] == '$' && (strings.EqualFold(p.tok(0), "$INCLUDE") || strings.EqualFold(p.tok(0), "$GENERATE")) {
				return false
			} else {
				if !p.record(off, end, line+first) {
					return false
				}
				if len(p.batch.recs) == fastBatchLen && !p.flush() {
					return true // the zone is full: its error is said
				}
			}
		} else if p.paren >= 0 || p.weird {
			return false // "( )" alone, or a stray character
		}
		off, line = end, line+nl
	}
}

// isDelim reports whether c ends a token (or is not part of one).
func isDelim(c byte) bool {
	switch c {
	case ' ', '\t', '\n', '\r', ';', '(', ')', '"':
		return true
	}
	return false
}

// scan reads the record (or directive, or blank line) that starts at off,
// at depth 0, into p.toks. end is the offset after it, nl the newlines in
// it, first the newlines before its first token. ok is false when the
// file is left to the miekg parser.
func (p *fastParser) scan(off int) (end, nl, first int, ok bool) {
	data := p.data
	p.toks, p.paren, p.weird = p.toks[:0], -1, false
	depth, lineStart, first := 0, off, -1
	// around reports whether a parenthesis at i sits inside a token (the
	// miekg lexer joins "a(b" into one).
	around := func(i int) bool {
		return i > 0 && i+1 < len(data) && !isDelim(data[i-1]) && !isDelim(data[i+1]) && data[i-1] != '\n'
	}
	i := off
	for i < len(data) {
		switch c := data[i]; c {
		case ' ', '\t':
			i++
		case '\n':
			if p.maxLine > 0 && i-lineStart+lineSlack > p.maxLine {
				return 0, 0, 0, false
			}
			if depth > 0 {
				// Inside parentheses the miekg lexer drops a newline (and a
				// CR) without ending the token before it: "1\n2" is "12".
				j := i - 1
				if j > off && data[j] == '\r' {
					j--
				}
				if j >= off && !isDelim(data[j]) && i+1 < len(data) && !isDelim(data[i+1]) {
					p.weird = true
				}
			}
			nl++
			i++
			lineStart = i
			if depth == 0 {
				goto done
			}
		case '\r':
			if i+1 >= len(data) || data[i+1] != '\n' {
				p.weird = true // the miekg lexer drops it, joining what is around it
			}
			i++
		case ';':
			if j := bytes.IndexByte(data[i:], '\n'); j >= 0 {
				i += j
			} else {
				i = len(data)
			}
		case '(', ')':
			if p.paren < 0 {
				p.paren = len(p.toks)
			}
			if around(i) {
				p.weird = true
			}
			if c == '(' {
				depth++
			} else if depth--; depth < 0 {
				return 0, 0, 0, false
			}
			i++
		case '"':
			if i > off && !isDelim(data[i-1]) {
				p.weird = true
			}
			j := i + 1
			for ; j < len(data) && data[j] != '"'; j++ {
				switch data[j] {
				case '\\':
					p.weird = true
					j++
					if j < len(data) && data[j] == '\n' {
						return 0, 0, 0, false
					}
				case '\n':
					return 0, 0, 0, false // a string over lines
				case '\r':
					p.weird = true
				}
			}
			if j >= len(data) {
				return 0, 0, 0, false // not closed
			}
			if first < 0 {
				first = nl
			}
			p.toks = append(p.toks, fastTok{start: int32(i + 1), end: int32(j), quoted: true})
			i = j + 1
			if i < len(data) && (!isDelim(data[i]) || data[i] == '"') {
				p.weird = true
			}
		default:
			start := i
			for i < len(data) && !isDelim(data[i]) {
				if data[i] == '\\' {
					p.weird = true
					i++
					if i < len(data) && data[i] == '\n' {
						return 0, 0, 0, false
					}
				}
				i++
			}
			i = min(i, len(data)) // (a backslash at the end of the file)
			if first < 0 {
				first = nl
			}
			p.toks = append(p.toks, fastTok{start: int32(start), end: int32(i)})
		}
	}
	// The end of the file, or of the window: a record longer than
	// fastAhead is left to the miekg parser.
	if (p.r != nil && !p.eof) || depth > 0 || (p.maxLine > 0 && i-lineStart+lineSlack > p.maxLine) {
		return 0, 0, 0, false
	}
done:
	if p.maxLine > 0 && i-off+lineSlack > p.maxLine {
		return 0, 0, 0, false
	}
	return i, nl, max(first, 0), true
}

// lineSlack: a line or record this close to the limit is left to the miekg
// parser's reader, which says whether it is over.
const lineSlack = 64

// tok returns token k's text (sharing the file's bytes).
func (p *fastParser) tok(k int) string {
	t := p.toks[k]
	if t.end == t.start {
		return ""
	}
	return unsafe.String(&p.data[t.start], int(t.end-t.start))
}

// directive reports whether the line in p.toks is $TTL or $ORIGIN.
func (p *fastParser) directive() bool {
	t := p.tok(0)
	return strings.EqualFold(t, "$TTL") || strings.EqualFold(t, "$ORIGIN")
}

// setDirective applies the $TTL or $ORIGIN line in p.toks; false: give up.
func (p *fastParser) setDirective() bool {
	if len(p.toks) != 2 || p.weird || p.paren >= 0 || p.toks[1].quoted {
		return false
	}
	if strings.EqualFold(p.tok(0), "$TTL") {
		ttl, ok := stringToTTL(p.tok(1))
		if !ok {
			return false
		}
		p.defTTL, p.hasDef, p.byDir = ttl, true, true
		return true
	}
	name, ok := p.absName(1, nil)
	if !ok {
		return false
	}
	p.origin = strings.Clone(name)
	return true
}

// record reads the record in p.toks, data[off:end], whose first token is
// on line, into p.batch. It returns false when the file is left to the
// miekg parser.
func (p *fastParser) record(off, end, line int) bool {
	where := pos{file: p.file, line: line}
	k := 0
	owner := p.owner
	col0 := p.data[off] != ' ' && p.data[off] != '\t'
	if p.weird || (col0 && p.toks[0].quoted) {
		return p.alone(off, end, where)
	}
	if col0 && len(p.toks) == 1 {
		// A word alone on its line is a type to the miekg lexer (at the
		// previous owner), not an owner.
		return false
	}
	if col0 {
		name, ok := p.absName(0, &p.ownerBuf)
		if !ok {
			return p.alone(off, end, where)
		}
		owner, k = name, 1
	} else if owner == "" {
		return false // no owner yet: the miekg parser says so
	}
	// [TTL] [class] type, or [class] [TTL] type.
	var (
		ttl             uint32
		hasTTL, inClass bool
		rtype           uint16
	)
	for ; k < len(p.toks) && rtype == 0; k++ {
		t := p.tok(k)
		switch {
		case p.toks[k].quoted || t == "":
			return p.alone(off, end, where)
		case t[0] >= '0' && t[0] <= '9' && !hasTTL:
			v, ok := stringToTTL(t)
			if !ok {
				return p.alone(off, end, where)
			}
			ttl, hasTTL = v, true
		case !inClass && strings.EqualFold(t, "IN"):
			inClass = true
		default:
			if rtype = fastType(t); rtype == 0 {
				return p.alone(off, end, where)
			}
		}
	}
	if rtype == 0 || p.paren >= 0 {
		// (Parentheses are for an SOA almost only, and the miekg parser
		// reads the blanks between its fields by position, which a comment
		// inside them shifts: it reads them alone.)
		return p.alone(off, end, where)
	}
	switch {
	case hasTTL:
	case p.hasDef:
		ttl = p.defTTL
	default:
		return false // an error, or a TTL the miekg parser makes up
	}
	rr := p.rdata(rtype, k)
	if rr == nil {
		return p.alone(off, end, where)
	}
	if !p.byDir {
		p.defTTL, p.hasDef = ttl, true
	}
	p.owner = owner
	p.batch.put(rr, rtype, owner, ttl, line)
	return true
}

// fastType returns the type t names, if fastParse reads its data itself.
func fastType(t string) uint16 {
	switch len(t) {
	case 1:
		if t[0] == 'A' || t[0] == 'a' {
			return mdns.TypeA
		}
	case 2:
		if strings.EqualFold(t, "MX") {
			return mdns.TypeMX
		}
		if strings.EqualFold(t, "NS") {
			return mdns.TypeNS
		}
	case 3:
		switch {
		case strings.EqualFold(t, "TXT"):
			return mdns.TypeTXT
		case strings.EqualFold(t, "PTR"):
			return mdns.TypePTR
		case strings.EqualFold(t, "SRV"):
			return mdns.TypeSRV
		case strings.EqualFold(t, "SOA"):
			return mdns.TypeSOA
		}
	case 4:
		if strings.EqualFold(t, "AAAA") {
			return mdns.TypeAAAA
		}
	case 5:
		if strings.EqualFold(t, "CNAME") {
			return mdns.TypeCNAME
		}
	}
	return 0
}

// rdata returns the record of type t whose data are p.toks[k:], nil when
// it is not one fastParse is sure of. Its header is left to the caller.
func (p *fastParser) rdata(t uint16, k int) mdns.RR {
	n := len(p.toks) - k
	if t != mdns.TypeTXT {
		for _, tk := range p.toks[k:] {
			if tk.quoted {
				return nil
			}
		}
	}
	switch t {
	case mdns.TypeA:
		if n != 1 {
			return nil
		}
		s := p.tok(k)
		a, err := netip.ParseAddr(s)
		if err != nil || !a.Is4() || strings.IndexByte(s, ':') >= 0 {
			return nil
		}
		p.ip = a.As16()
		p.a.A = p.ip[12:16]
		return &p.a
	case mdns.TypeAAAA:
		if n != 1 {
			return nil
		}
		s := p.tok(k)
		a, err := netip.ParseAddr(s)
		if err != nil || a.Zone() != "" || strings.IndexByte(s, ':') < 0 {
			return nil
		}
		p.ip = a.As16()
		p.aaaa.AAAA = p.ip[:]
		return &p.aaaa
	case mdns.TypeCNAME, mdns.TypeNS, mdns.TypePTR:
		if n != 1 {
			return nil
		}
		name, ok := p.absName(k, &p.nameBuf)
		if !ok {
			return nil
		}
		switch t {
		case mdns.TypeCNAME:
			p.cname.Target = name
			return &p.cname
		case mdns.TypeNS:
			p.ns.Ns = name
			return &p.ns
		}
		p.ptr.Ptr = name
		return &p.ptr
	case mdns.TypeMX:
		if n != 2 {
			return nil
		}
		pref, err := strconv.ParseUint(p.tok(k), 10, 16)
		name, ok := p.absName(k+1, &p.nameBuf)
		if err != nil || !ok {
			return nil
		}
		p.mx.Preference, p.mx.Mx = uint16(pref), name
		return &p.mx
	case mdns.TypeSRV:
		if n != 4 {
			return nil
		}
		var v [3]uint64
		for i := range v {
			var err error
			if v[i], err = strconv.ParseUint(p.tok(k+i), 10, 16); err != nil {
				return nil
			}
		}
		name, ok := p.absName(k+3, &p.nameBuf)
		if !ok {
			return nil
		}
		p.srv.Priority, p.srv.Weight, p.srv.Port, p.srv.Target = uint16(v[0]), uint16(v[1]), uint16(v[2]), name
		return &p.srv
	case mdns.TypeTXT:
		if n == 0 {
			return nil
		}
		p.strs = p.strs[:0]
		for i := k; i < len(p.toks); i++ {
			s := p.tok(i)
			if len(s) > 255 {
				return nil // the miekg parser splits it
			}
			p.strs = append(p.strs, s)
		}
		p.txt.Txt = p.strs
		return &p.txt
	case mdns.TypeSOA:
		if n != 7 {
			return nil
		}
		// Kept as it is (the store copies the common types only).
		ns, ok1 := p.absName(k, nil)
		mbox, ok2 := p.absName(k+1, nil)
		if !ok1 || !ok2 {
			return nil
		}
		var v [5]uint32
		for i := range v {
			s := p.tok(k + 2 + i)
			if j, err := strconv.ParseUint(s, 10, 32); err == nil {
				v[i] = uint32(j)
				continue
			}
			x, ok := stringToTTL(s)
			if i == 0 || !ok {
				return nil // a serial is a number
			}
			v[i] = x
		}
		return &mdns.SOA{Ns: strings.Clone(ns), Mbox: strings.Clone(mbox),
			Serial: v[0], Refresh: v[1], Retry: v[2], Expire: v[3], Minttl: v[4]}
	}
	return nil
}

// absName returns token k as an absolute name, as the miekg parser makes
// it: "@" is the origin, a name without its final dot is relative to the
// origin. The name is built in *buf (reused: valid until the next call
// with it), or allocated when buf is nil. ok is false when the token holds
// anything but letters, digits and -_*/ labels (the miekg parser decides).
func (p *fastParser) absName(k int, buf *[]byte) (string, bool) {
	t := p.tok(k)
	if t == "@" {
		return p.origin, true
	}
	for i := 0; i < len(t); i++ {
		switch c := t[i]; {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9', c == '-', c == '_', c == '*', c == '/', c == '.':
		default:
			return "", false
		}
	}
	if _, ok := mdns.IsDomainName(t); !ok || t == "" {
		return "", false
	}
	if t[len(t)-1] == '.' {
		if buf == nil {
			return t, true // (the caller copies it)
		}
		*buf = append((*buf)[:0], t...) // not the window's bytes, which move
		return unsafe.String(&(*buf)[0], len(*buf)), true
	}
	if buf == nil {
		if p.origin == "." {
			return t + ".", true
		}
		return t + "." + p.origin, true
	}
	b := append((*buf)[:0], t...)
	if p.origin != "." {
		b = append(b, '.')
	}
	b = append(b, p.origin...)
	*buf = b
	return unsafe.String(&b[0], len(b)), true
}

// alone parses the record data[off:end] with a miekg parser of its own,
// told the directives in force and the previous owner.
func (p *fastParser) alone(off, end int, where pos) bool {
	var b strings.Builder
	b.WriteString("$ORIGIN " + p.origin + "\n")
	b.WriteString("$TTL " + strconv.FormatUint(uint64(p.defTTL), 10) + "\n")
	if !p.hasDef {
		// Whether the record sets the default TTL depends on whether its
		// TTL is written, which its value does not say.
		return false
	}
	if c := p.data[off]; c == ' ' || c == '\t' {
		if p.owner == "" {
			return false
		}
		b.WriteString(p.owner)
	}
	b.Write(p.data[off:end])
	// A record cut short at the end of the text is a dynamic update's
	// "delete" record to the miekg parser: unless the file ends there, a
	// record follows, as it does in the file.
	want := 1
	if end < len(p.data) {
		b.WriteString("\n@ 0 IN A 192.0.2.1\n")
		want = 2
	}
	zp := mdns.NewZoneParser(strings.NewReader(b.String()), p.origin, p.file)
	rr, ok := zp.Next()
	for n := 1; ok; n++ {
		if _, ok = zp.Next(); ok && n == want {
			return false // more records than one: not what scan found
		}
		if !ok && n != want {
			return false
		}
	}
	if rr == nil || zp.Err() != nil {
		return false
	}
	h := rr.Header()
	if !p.byDir {
		p.defTTL = h.Ttl // its own, or the default it took
	}
	p.owner = h.Name // (the validator canonicalises its own copy)
	p.batch.recs = append(p.batch.recs, fastRec{rr: rr, line: int32(where.line)})
	return true
}

// stringToTTL is the miekg parser's reading of a TTL: seconds, or a
// duration in units (1h30m).
func stringToTTL(token string) (uint32, bool) {
	var s, i uint
	for _, c := range token {
		switch c {
		case 's', 'S':
			s += i
			i = 0
		case 'm', 'M':
			s += i * 60
			i = 0
		case 'h', 'H':
			s += i * 60 * 60
			i = 0
		case 'd', 'D':
			s += i * 60 * 60 * 24
			i = 0
		case 'w', 'W':
			s += i * 60 * 60 * 24 * 7
			i = 0
		case '0', '1', '2', '3', '4', '5', '6', '7', '8', '9':
			i *= 10
			i += uint(c) - '0'
		default:
			return 0, false
		}
	}
	if s+i > math.MaxUint32 {
		return 0, false
	}
	return uint32(s + i), true
}

// fastBatchLen is how many records the reader hands the validator at once.
var fastBatchLen = 2048

// fastRec is a record read, as the reader hands it to the validator: its
// strings are in the batch's bytes, not the file's window or the reader's
// buffers, which move on.
type fastRec struct {
	rr    mdns.RR // read by a miekg parser alone, or an SOA: whole; nil: the fields below
	line  int32
	rtype uint16
	ttl   uint32
	owner string
	name  string    // CNAME, NS, PTR target, MX exchange, SRV target
	ip    [16]byte  // A (the first 4), AAAA
	n     [3]uint16 // MX preference; SRV priority, weight, port
	txt   []string
}

// fastBatch is records read and the bytes of their strings.
type fastBatch struct {
	recs      []fastRec
	bytes     []byte
	strs      []string
	lastOwner string // the last owner copied, shared by its records
}

func (b *fastBatch) reset() {
	b.recs, b.bytes, b.strs, b.lastOwner = b.recs[:0], b.bytes[:0], b.strs[:0], ""
}

// str returns a copy of s in b's bytes.
func (b *fastBatch) str(s string) string {
	if s == "" {
		return ""
	}
	if cap(b.bytes)-len(b.bytes) < len(s) {
		// A new array: the strings in the old one stay as they are.
		b.bytes = make([]byte, 0, max(64<<10, 2*len(s)))
	}
	n := len(b.bytes)
	b.bytes = append(b.bytes, s...)
	return unsafe.String(&b.bytes[n], len(s))
}

// put adds the record the reader made (rr, of type t, the reader's own
// unless it is an SOA) with its header's fields.
func (b *fastBatch) put(rr mdns.RR, t uint16, owner string, ttl uint32, line int) {
	if owner != b.lastOwner || b.lastOwner == "" {
		b.lastOwner = b.str(owner)
	}
	r := fastRec{line: int32(line), rtype: t, ttl: ttl, owner: b.lastOwner}
	switch rr := rr.(type) {
	case *mdns.A:
		copy(r.ip[:], rr.A)
	case *mdns.AAAA:
		copy(r.ip[:], rr.AAAA)
	case *mdns.CNAME:
		r.name = b.str(rr.Target)
	case *mdns.NS:
		r.name = b.str(rr.Ns)
	case *mdns.PTR:
		r.name = b.str(rr.Ptr)
	case *mdns.MX:
		r.n[0], r.name = rr.Preference, b.str(rr.Mx)
	case *mdns.SRV:
		r.n, r.name = [3]uint16{rr.Priority, rr.Weight, rr.Port}, b.str(rr.Target)
	case *mdns.TXT:
		from := len(b.strs)
		for _, s := range rr.Txt {
			b.strs = append(b.strs, b.str(s))
		}
		r.txt = b.strs[from:len(b.strs):len(b.strs)]
	default: // an SOA, made for this record
		*rr.Header() = mdns.RR_Header{Name: r.owner, Rrtype: t, Class: mdns.ClassINET, Ttl: ttl}
		r.rr = rr
	}
	b.recs = append(b.recs, r)
}

// fastAdder hands a batch's records to the validator, in records it
// reuses (the validator copies what it keeps).
type fastAdder struct {
	v     *validator
	file  string
	a     mdns.A
	aaaa  mdns.AAAA
	cname mdns.CNAME
	mx    mdns.MX
	ns    mdns.NS
	ptr   mdns.PTR
	srv   mdns.SRV
	txt   mdns.TXT
}

// add adds b's records; false: the zone has more records than it may.
func (c *fastAdder) add(b *fastBatch) bool {
	for i := range b.recs {
		r := &b.recs[i]
		rr := r.rr
		if rr == nil {
			rr = c.record(r)
		}
		if !c.v.add(rr, pos{file: c.file, line: int(r.line)}) {
			return false
		}
	}
	return true
}

func (c *fastAdder) record(r *fastRec) mdns.RR {
	h := mdns.RR_Header{Name: r.owner, Rrtype: r.rtype, Class: mdns.ClassINET, Ttl: r.ttl}
	switch r.rtype {
	case mdns.TypeA:
		c.a.Hdr, c.a.A = h, r.ip[:4]
		return &c.a
	case mdns.TypeAAAA:
		c.aaaa.Hdr, c.aaaa.AAAA = h, r.ip[:]
		return &c.aaaa
	case mdns.TypeCNAME:
		c.cname.Hdr, c.cname.Target = h, r.name
		return &c.cname
	case mdns.TypeNS:
		c.ns.Hdr, c.ns.Ns = h, r.name
		return &c.ns
	case mdns.TypePTR:
		c.ptr.Hdr, c.ptr.Ptr = h, r.name
		return &c.ptr
	case mdns.TypeMX:
		c.mx.Hdr, c.mx.Preference, c.mx.Mx = h, r.n[0], r.name
		return &c.mx
	case mdns.TypeSRV:
		c.srv.Hdr, c.srv.Priority, c.srv.Weight, c.srv.Port, c.srv.Target = h, r.n[0], r.n[1], r.n[2], r.name
		return &c.srv
	}
	c.txt.Hdr, c.txt.Txt = h, r.txt
	return &c.txt
}
