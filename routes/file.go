package routes

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/godwit-dns/godwit/internal/inputfile"
)

// MaxFileSize bounds the size of a routes file.
const MaxFileSize = 512 << 20

// maxFileErrors bounds how many line errors LoadFile reports.
const maxFileErrors = 50

// maxPathLen bounds the optional path-length column.
const maxPathLen = 1000

// LoadFile reads a Super Sparrow-style routes file:
//
//	# comment
//	<prefix> <ASN or datacenter> [pathlen]   # comment
//
// A prefix is CIDR ("192.0.2.0/24", "2001:db8::/32") or a bare address (a host
// route). Host bits set ("192.0.2.1/24") are an error rather than silently
// masked: they usually mean a typo. IPv4-mapped IPv6 prefixes are an error
// (write the IPv4 form). The second column is a datacenter name from dcs, or
// an ASN ("65001" or "AS65001") that asnToDC maps to a datacenter; an ASN that
// no datacenter lists is an error too, because a line that silently counts
// for nothing is worse than a reload that is refused. The optional third
// column is the AS-path length (default 0, so static routes rank before
// learned ones). Lines for the same prefix combine; for one datacenter the
// shortest path is kept. Each Reach's Source is "FILE:LINE".
//
// Every bad line is reported as "FILE:LINE: message" (at most 50, joined with
// errors.Join); on any error no table is returned.
func LoadFile(path string, asnToDC map[uint32]string, dcs map[string]bool) (*Table, error) {
	// A named pipe or a device is refused without blocking; the size is
	// checked on the opened file, and reading stops past it (the file may
	// grow meanwhile).
	f, _, err := inputfile.Open(path, inputfile.Options{MaxBytes: MaxFileSize})
	if err != nil {
		return nil, fmt.Errorf("routes file: %w", err)
	}
	defer f.Close()
	lr := &io.LimitedReader{R: f, N: MaxFileSize + 1}

	l := fileLoader{path: path, asnToDC: asnToDC, dcs: dcs, t: NewTable(nil)}
	sc := bufio.NewScanner(lr)
	sc.Buffer(make([]byte, 0, 64<<10), 64<<10)
	line := 0
	for sc.Scan() {
		line++
		b := sc.Bytes()
		if bytes.IndexByte(b, 0) >= 0 || !utf8.Valid(b) {
			l.fail(line, "not a text file (NUL byte or invalid UTF-8)")
			break
		}
		l.line(line, string(b))
		if len(l.errs) > maxFileErrors {
			l.errs = append(l.errs[:maxFileErrors], fmt.Errorf("%s: too many errors, giving up", path))
			break
		}
	}
	if err := sc.Err(); err != nil {
		if errors.Is(err, bufio.ErrTooLong) {
			l.fail(line+1, "line too long (over 64 KiB)")
		} else {
			l.errs = append(l.errs, fmt.Errorf("%s: %w", path, err))
		}
	}
	if lr.N <= 0 {
		l.errs = append(l.errs, fmt.Errorf("routes file %s: %w: grew past %d bytes while read", path, inputfile.ErrTooLarge, int64(MaxFileSize)))
	}
	if len(l.errs) > 0 {
		return nil, errors.Join(l.errs...)
	}
	l.t.finish()
	return l.t, nil
}

type fileLoader struct {
	path    string
	asnToDC map[uint32]string
	dcs     map[string]bool
	t       *Table
	errs    []error
	reach   [1]Reach // scratch for insert

	// Sources "FILE:LINE" are cut from one string per sourceChunk lines
	// rather than allocated per line.
	srcBase  int    // first line in srcChunk
	srcChunk string // "FILE:1FILE:2..." for lines srcBase...
	srcEnds  []int  // end offset of each line's source in srcChunk
}

const sourceChunk = 1024

// source returns "FILE:n".
func (l *fileLoader) source(n int) string {
	if l.srcChunk == "" || n < l.srcBase || n >= l.srcBase+sourceChunk {
		l.srcBase = n - (n-1)%sourceChunk
		var b strings.Builder
		b.Grow(sourceChunk * (len(l.path) + 8))
		l.srcEnds = l.srcEnds[:0]
		for i := l.srcBase; i < l.srcBase+sourceChunk; i++ {
			b.WriteString(l.path)
			b.WriteByte(':')
			b.WriteString(strconv.Itoa(i))
			l.srcEnds = append(l.srcEnds, b.Len())
		}
		l.srcChunk = b.String()
	}
	i := n - l.srcBase
	start := 0
	if i > 0 {
		start = l.srcEnds[i-1]
	}
	return l.srcChunk[start:l.srcEnds[i]]
}

// splitFields appends up to cap(dst) whitespace-separated fields of s to dst,
// and one more if there are more (so the caller can tell).
func splitFields(s string, dst []string) []string {
	for len(dst) < cap(dst) {
		s = strings.TrimLeft(s, " \t\r\v\f")
		if s == "" {
			break
		}
		i := strings.IndexAny(s, " \t\r\v\f")
		if i < 0 {
			i = len(s)
		}
		dst = append(dst, s[:i])
		s = s[i:]
	}
	return dst
}

func fieldCount(s string) int { return len(strings.Fields(s)) }

func (l *fileLoader) fail(line int, format string, args ...any) {
	l.errs = append(l.errs, fmt.Errorf("%s:%d: %s", l.path, line, fmt.Sprintf(format, args...)))
}

func (l *fileLoader) line(n int, s string) {
	if i := strings.IndexByte(s, '#'); i >= 0 {
		s = s[:i]
	}
	var fields [4]string
	f := splitFields(s, fields[:0])
	if len(f) == 0 {
		return
	}
	if len(f) < 2 || len(f) > 3 {
		l.fail(n, "want \"<prefix> <ASN or datacenter> [pathlen]\", got %d fields", fieldCount(s))
		return
	}
	p, err := parsePrefix(f[0])
	if err != nil {
		l.fail(n, "%v", err)
		return
	}
	dc, err := l.datacenter(f[1])
	if err != nil {
		l.fail(n, "%v", err)
		return
	}
	pathLen := 0
	if len(f) == 3 {
		pathLen, err = strconv.Atoi(f[2])
		if err != nil || pathLen < 0 || pathLen > maxPathLen {
			l.fail(n, "path length %s: want an integer from 0 to %d", excerpt(f[2]), maxPathLen)
			return
		}
	}
	l.reach[0] = Reach{Datacenter: dc, PathLen: pathLen, Source: l.source(n)}
	l.t.insert(p, l.reach[:])
}

func parsePrefix(s string) (netip.Prefix, error) {
	var p netip.Prefix
	if strings.IndexByte(s, '/') >= 0 {
		var err error
		if p, err = netip.ParsePrefix(s); err != nil {
			return p, fmt.Errorf("bad prefix %s", excerpt(s))
		}
	} else {
		a, err := netip.ParseAddr(s)
		if err != nil || a.Zone() != "" {
			return p, fmt.Errorf("bad prefix %s", excerpt(s))
		}
		p = netip.PrefixFrom(a, a.BitLen())
	}
	if p.Addr().Is4In6() {
		return p, fmt.Errorf("prefix %s is IPv4-mapped IPv6: write the IPv4 form", s)
	}
	if m := p.Masked(); m != p {
		return p, fmt.Errorf("prefix %s has host bits set (did you mean %s?)", s, m)
	}
	return p, nil
}

// datacenter resolves the second column: an ASN (with or without "AS") that
// asnToDC maps, or a datacenter name from dcs.
func (l *fileLoader) datacenter(s string) (string, error) {
	num := s
	if len(num) > 2 && strings.EqualFold(num[:2], "as") {
		num = num[2:]
	}
	if asn, err := strconv.ParseUint(num, 10, 32); err == nil {
		if dc, ok := l.asnToDC[uint32(asn)]; ok {
			return dc, nil
		}
		if l.dcs[s] {
			return s, nil // a datacenter that happens to be named like a number
		}
		return "", fmt.Errorf("AS%d is not listed under any datacenter's asn", asn)
	}
	if l.dcs[s] {
		return s, nil
	}
	return "", fmt.Errorf("unknown datacenter %s", excerpt(s))
}

// excerpt quotes at most 40 bytes of a token, escaped: an error is logged
// and shown on the status page, and must not carry a file's content there.
func excerpt(s string) string {
	if len(s) <= 40 {
		return strconv.QuoteToASCII(s)
	}
	return strconv.QuoteToASCII(s[:40]) + "..."
}
