package zones

import (
	"bytes"
	"strconv"
	"strings"

	mdns "github.com/miekg/dns"
)

// The miekg parser stops at the first syntax error of a file and says it in
// its own words ("bad A A", "garbage after rdata" at the line after an
// unclosed parenthesis). To report every bad record of a file, the loader
// finds the record the error is in with recordAt, says the error in an
// operator's words with syntaxMessage, and starts a new parser after that
// record. (BIND and NSD both go on after an error too.) A zone with any
// error is not loaded, so what the later parsers make of the rest of the
// file matters for its errors only.

// resume is where a parser starts after an error, and what it must be told
// of the file before that point.
type resume struct {
	off    int    // byte offset in the file
	line   int    // 1-based line at off
	origin string // $ORIGIN in force, fully qualified
	ttl    string // $TTL in force, "" if none
	owner  string // the last owner name, fully qualified; "" if none
	text   string // the last owner as written, for messages
}

// prefix is what a parser started at r reads before the file's text: the
// directives in force, and the previous owner when the record at r omits
// its own.
func (r resume) prefix(data []byte) string {
	var b strings.Builder
	b.WriteString("$ORIGIN " + r.origin + "\n")
	if r.ttl != "" {
		b.WriteString("$TTL " + r.ttl + "\n")
	}
	if r.owner != "" && r.off < len(data) && (data[r.off] == ' ' || data[r.off] == '\t') {
		b.WriteString(r.owner)
	}
	return b.String()
}

// record is one record of the file as recordAt finds it.
type record struct {
	start, end int    // its first and last line
	owner      string // the owner as written (the previous one if omitted)
	rtype      string // its type as written, upper-case; "" if not found
	open       int    // line of its first "(", 0 if none
	col0       int    // first line inside its parentheses that starts in column 0, 0 if none
	unclosed   bool   // a parenthesis is still open at the end of the file
	quote      int    // line of a quote left open at the end of a line, 0 if none
	here       resume // where it starts
	next       resume // where the record after it starts
	resumeCol0 resume // where the line col0 starts
}

// recordAt scans data from r to the record that holds line (or the first
// record after it, when line holds a directive or a comment). ok is false
// when there is no record there.
func recordAt(data []byte, r resume, line int) (rec record, ok bool) {
	off, ln := r.off, r.line
	st := r
	for off < len(data) {
		// One line at depth 0: blank, a comment, a directive or the
		// start of a record.
		eol := bytes.IndexByte(data[off:], '\n')
		end := len(data)
		if eol >= 0 {
			end = off + eol
		}
		text := data[off:end]
		body := text
		if i := bytes.IndexByte(body, ';'); i >= 0 {
			body = body[:i]
		}
		fields := strings.Fields(string(body))
		if len(fields) == 0 || text[0] == '$' {
			if len(fields) > 1 {
				switch strings.ToUpper(fields[0]) {
				case "$ORIGIN":
					st.origin = canonName(absName(fields[1], st.origin))
				case "$TTL":
					st.ttl = fields[1]
				}
			}
			off, ln = end+1, ln+1
			continue
		}
		rec = record{start: ln, owner: st.text, here: st}
		rec.here.off, rec.here.line = off, ln
		if text[0] != ' ' && text[0] != '\t' && text[0] != '(' {
			rec.owner = fields[0]
			st.text = fields[0]
			st.owner = absName(fields[0], st.origin)
			fields = fields[1:]
		}
		for _, f := range fields {
			f = strings.Trim(strings.ToUpper(f), "()")
			if _, isType := mdns.StringToType[f]; isType || strings.HasPrefix(f, "TYPE") {
				rec.rtype = f
				break
			}
		}
		// Scan the record to its end: a newline outside parentheses.
		depth, quoted := 0, false
		i := off
	scan:
		for ; i < len(data); i++ {
			switch c := data[i]; {
			case c == '\\':
				i++
			case c == '"':
				quoted = !quoted
			case quoted && c != '\n':
			case c == ';':
				for i < len(data) && data[i] != '\n' {
					i++
				}
				i--
			case c == '(':
				if depth == 0 && rec.open == 0 {
					rec.open = ln
				}
				depth++
			case c == ')':
				depth = max(depth-1, 0)
			case c == '\n':
				if quoted && rec.quote == 0 {
					rec.quote = ln
				}
				quoted = false
				if depth == 0 {
					break scan
				}
				ln++
				if n := i + 1; rec.col0 == 0 && looksLikeRecord(data[n:]) {
					rec.col0 = ln
					rec.resumeCol0 = st
					rec.resumeCol0.off, rec.resumeCol0.line = n, ln
				}
			}
		}
		if quoted && rec.quote == 0 {
			rec.quote = ln
		}
		rec.end = ln
		rec.unclosed = depth > 0
		st.off, st.line = i+1, ln+1
		rec.next = st
		if rec.end >= line {
			return rec, true
		}
		off, ln = i+1, ln+1
	}
	return record{}, false
}

// looksLikeRecord reports whether the line that starts data looks like
// the start of a record: an owner in column 0, then a class or a type. A
// record's continuation in parentheses may start in column 0 too, but
// holds numbers and names only.
func looksLikeRecord(data []byte) bool {
	if len(data) == 0 {
		return false
	}
	switch data[0] {
	case ' ', '\t', '\r', '\n', ';', ')', '(', '"':
		return false
	}
	line, _, _ := bytes.Cut(data, []byte{'\n'})
	line, _, _ = bytes.Cut(line, []byte{';'})
	fields := strings.Fields(string(line))
	for _, f := range fields[1:min(len(fields), 4)] {
		f = strings.ToUpper(f)
		if _, isType := mdns.StringToType[f]; isType || f == "IN" {
			return true
		}
	}
	return false
}

// syntaxMessage says a parser error in an operator's words. msg and tok
// are the parser's message and the token it quotes; rtype is the record's
// type as the file has it ("" if unknown). The result does not name the
// owner: the caller puts "owner TYPE: " before it.
func syntaxMessage(msg, tok string, hasTok bool, rtype string) (text, typ string) {
	q := excerpt(tok)
	typ = rtype
	switch tok {
	case "extra closing brace", "unbalanced brace": // the lexer's errors
		msg = tok
	}
	switch msg {
	case "not a TTL":
		// The parser takes any word it does not know for a TTL; BIND and
		// NSD call it an unknown type. It is the TTL's place if the
		// record has a type after it.
		if rtype == "" && tok != "" && (tok[0] < '0' || tok[0] > '9') {
			return q + " is not a record type", ""
		}
		return q + " is not a TTL (a number of seconds, or 1h30m style)", ""
	case "unknown RR type":
		return q + " is not a record type", ""
	case "unknown class":
		return q + " is not a class (IN is the one godwit serves)", ""
	case "missing TTL with no previous value":
		return "the record has no TTL: give one, or set $TTL at the top of the file", typ
	case "bad owner name":
		return q + " is not a valid owner name", ""
	case "garbage after rdata":
		return "unexpected " + q + " after the record's data", typ
	case "extra closing brace":
		return "closing parenthesis without an opening one", typ
	case "unbalanced brace":
		return "unclosed parenthesis", typ
	case "unexpected newline":
		return "the record has no data", typ
	case "bad SOA zone parameter":
		return q + " is not a serial or a time (a number of seconds, or 1h30m style)", "SOA"
	case "expecting RR type, TTL or class, not this...", "expecting RR type or class, not this...", "expecting RR type or TTL, not this...":
		return q + " is not a TTL, a class or a record type", ""
	}
	if rest, ok := strings.CutPrefix(msg, "bad "); ok {
		t, field, _ := strings.Cut(rest, " ")
		if _, known := mdns.StringToType[t]; known {
			typ = t
			switch {
			case t == "A" && field == "A":
				return q + " is not an IPv4 address", typ
			case t == "AAAA" && field == "AAAA":
				return q + " is not an IPv6 address", typ
			}
			switch strings.ToLower(field) {
			case "target", "mx", "ns", "ptr", "mbox", "host":
				return q + " is not a valid domain name", typ
			case "pref", "preference", "priority", "weight", "port":
				name := strings.ToLower(field)
				if name == "pref" {
					name = "preference"
				}
				return q + " is not a " + name + " (a number from 0 to 65535)", typ
			}
			switch {
			case strings.EqualFold(field, t):
				return q + " is not valid " + t + " data", typ
			case field != "":
				return q + " is not a valid " + strings.ToLower(field), typ
			}
		}
	}
	if hasTok {
		return msg + ": " + q, typ
	}
	return msg, typ
}

// ownerText is an owner name as written, for a message: quoted and cut
// short if it is long or holds anything but printable ASCII (a message is
// logged and shown on the status page, and must not carry a file's
// content there).
func ownerText(s string) string {
	if len(s) > excerptLen {
		return excerpt(s)
	}
	for i := 0; i < len(s); i++ {
		if s[i] <= ' ' || s[i] >= 0x7f || s[i] == '"' {
			return excerpt(s)
		}
	}
	return s
}

// splitParseError takes miekg's "FILE: dns: MSG: "TOKEN" at line: L:C"
// apart into MSG, TOKEN and L.
func splitParseError(s string) (msg, tok string, hasTok bool, line int) {
	if i := strings.LastIndex(s, " at line: "); i >= 0 {
		n, _, _ := strings.Cut(s[i+len(" at line: "):], ":")
		line, _ = strconv.Atoi(n)
		s = s[:i]
	}
	if i := strings.Index(s, "dns: "); i >= 0 {
		s = s[i+len("dns: "):]
	}
	// The token is quoted last; a quoted string holds no `: "`.
	if i := strings.LastIndex(s, `: "`); i >= 0 {
		if t, err := strconv.Unquote(s[i+2:]); err == nil {
			return s[:i], t, true, line
		}
	}
	return s, "", false, line
}
