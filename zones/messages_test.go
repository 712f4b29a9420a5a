package zones

import (
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	mdns "github.com/miekg/dns"
)

// messages returns the errors of err, one a line, as an operator sees them.
func messages(err error) []string {
	if err == nil {
		return nil
	}
	return strings.Split(err.Error(), "\n")
}

// Each case is a zone file for example.test. (head, lines 1-5, then the
// case's lines from line 6; or the case's lines alone if they hold the
// SOA) and every message loading it must give, in
// order. The zone must not load when there are any.
func TestSyntaxMessages(t *testing.T) {
	const head = "$TTL 300\n@ IN SOA ns1 hostmaster 1 3600 600 86400 300\n  IN NS ns1\n  IN NS ns2\nns1 IN A 192.0.2.53\n"
	tests := []struct {
		name, zone string
		want       []string
	}{
		{"bad TTL", "www AA IN A 192.0.2.1\n",
			[]string{`t.zone:6: www: "AA" is not a TTL (a number of seconds, or 1h30m style)`}},
		{"unknown type", "www IN FOO bar\n",
			[]string{`t.zone:6: www: "FOO" is not a record type`}},
		{"bad IPv4", "www IN A 192.0.2.300\n",
			[]string{`t.zone:6: www A: "192.0.2.300" is not an IPv4 address`}},
		{"bad IPv6", "www IN AAAA 2001:db8::g\n",
			[]string{`t.zone:6: www AAAA: "2001:db8::g" is not an IPv6 address`}},
		{"bad MX preference", "@ IN MX ten mail\n",
			[]string{`t.zone:6: @ MX: "ten" is not a preference (a number from 0 to 65535)`}},
		{"bad SRV port", "_http._tcp IN SRV 1 2 http www\n",
			[]string{`t.zone:6: _http._tcp SRV: "http" is not a port (a number from 0 to 65535)`}},
		{"no rdata", "www IN A\nmail IN CNAME\n", []string{
			`t.zone:6: www A: the record has no data`,
			`t.zone:7: mail.example.test. CNAME: the record has no data`, // at the end of the file, the parser's "delete" record
		}},
		{"data after the record", "www IN A 192.0.2.1 192.0.2.2\n",
			[]string{`t.zone:6: www A: unexpected "192.0.2.2" after the record's data`}},
		{"unclosed parenthesis", "mx IN MX ( 10\nmail IN A 192.0.2.2\nwww IN A 192.0.2.300\n", []string{
			`t.zone:6: mx MX: unclosed parenthesis opened at line 6`,
			`t.zone:8: www A: "192.0.2.300" is not an IPv4 address`,
		}},
		{"a closed parenthesis with a continuation in column 0", "$TTL 300\n@ IN SOA ns1 hostmaster (\nx 3600 600 86400 300 )\n  IN NS ns1\n",
			[]string{`t.zone:3: @ SOA: "x" is not a serial or a time (a number of seconds, or 1h30m style)`}},
		{"unclosed parenthesis at the end", "www IN TXT ( \"a\"\n  \"b\"\n",
			[]string{`t.zone:6: www TXT: unclosed parenthesis opened at line 6`}},
		{"closing parenthesis alone", "www IN A 192.0.2.1 )\n",
			[]string{`t.zone:6: www A: closing parenthesis without an opening one`}},
		{"unclosed quote", "www IN TXT \"abc\nmail IN A 192.0.2.300\n", []string{
			`t.zone:6: www TXT: unclosed quote: the string that starts on line 6 has no closing "`,
			`t.zone:7: mail A: "192.0.2.300" is not an IPv4 address`,
		}},
		{"a long or odd owner is quoted and cut", strings.Repeat("x", 60) + " IN A 1.2.3\nw\x1b[31m IN A 1.2.3\n", []string{
			`t.zone:6: "` + strings.Repeat("x", excerptLen) + `"... A: "1.2.3" is not an IPv4 address`,
			`t.zone:7: "w\x1b[31m" A: "1.2.3" is not an IPv4 address`,
		}},
		{"no $TTL: the previous record's TTL still counts after an error", "@ 300 IN SOA ns1 hostmaster 1 3600 600 86400 300\n  IN NS ns1\nwww IN A 192.0.2.300\nftp IN A 192.0.2.1\n",
			[]string{`t.zone:3: www A: "192.0.2.300" is not an IPv4 address`}},
		{"bad SOA, and no bogus missing SOA", "$TTL 300\n@ IN SOA ns1 hostmaster 1 1h 10m 1w x\n  IN NS ns1\n",
			[]string{`t.zone:2: @ SOA: "x" is not a serial or a time (a number of seconds, or 1h30m style)`}},
		{"every error, the owner carried over", "www IN A 192.0.2.300\n  IN AAAA 2001:db8::g\n  IN TXT ok\n  IN CNAME elsewhere.test.\nftp IN A 1.2.3\n", []string{
			`t.zone:6: www A: "192.0.2.300" is not an IPv4 address`,
			`t.zone:7: www AAAA: "2001:db8::g" is not an IPv6 address`,
			`t.zone:9: CNAME and other data at www.example.test. (TXT at line 8, CNAME at line 9)`,
			`t.zone:10: ftp A: "1.2.3" is not an IPv4 address`,
		}},
		{"$ORIGIN kept after an error", "www IN A 192.0.2.300\n$ORIGIN sub.example.test.\nwww IN A 192.0.2.301\n@ IN CNAME a\n  IN TXT b\n", []string{
			`t.zone:6: www A: "192.0.2.300" is not an IPv4 address`,
			`t.zone:8: www A: "192.0.2.301" is not an IPv4 address`,
			`t.zone:10: CNAME and other data at sub.example.test. (CNAME at line 9, TXT at line 10)`,
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			zone := head + tt.zone
			if strings.Contains(tt.zone, " SOA ") { // a whole file
				zone = tt.zone
			}
			z, err := ParseZone(strings.NewReader(zone), "example.test.", "t.zone")
			got := messages(err)
			if z != nil {
				t.Errorf("zone loaded despite errors")
			}
			if strings.Join(got, "\n") != strings.Join(tt.want, "\n") {
				t.Errorf("got\n  %s\nwant\n  %s", strings.Join(got, "\n  "), strings.Join(tt.want, "\n  "))
			}
		})
	}
}

// A file reports at most maxErrors errors, then how many more it has.
func TestSyntaxMessagesBounded(t *testing.T) {
	var b strings.Builder
	b.WriteString("$TTL 300\n@ IN SOA ns1 hostmaster 1 3600 600 86400 300\n  IN NS ns1\n")
	for i := range maxErrors + 10 {
		fmt.Fprintf(&b, "h%d IN A 192.0.2.%d\n", i, 300+i)
	}
	_, err := ParseZone(strings.NewReader(b.String()), "example.test.", "t.zone")
	got := messages(err)
	if len(got) != maxErrors+1 {
		t.Fatalf("%d messages, want %d:\n%s", len(got), maxErrors+1, err)
	}
	if got[0] != `t.zone:4: h0 A: "192.0.2.300" is not an IPv4 address` ||
		got[maxErrors-1] != fmt.Sprintf(`t.zone:%d: h%d A: "192.0.2.%d" is not an IPv4 address`, maxErrors+3, maxErrors-1, 300+maxErrors-1) ||
		got[maxErrors] != "t.zone: and 10 more errors" {
		t.Errorf("got first %q, last two %q", got[0], got[maxErrors-1:])
	}

	// Past maxSyntaxErrors the file is not read on.
	b.Reset()
	b.WriteString("$TTL 300\n@ IN SOA ns1 hostmaster 1 3600 600 86400 300\n  IN NS ns1\n")
	for range maxSyntaxErrors + 5 {
		b.WriteString("www IN A x\n")
	}
	_, err = ParseZone(strings.NewReader(b.String()), "example.test.", "t.zone")
	got = messages(err)
	want := fmt.Sprintf("t.zone: and %d more errors; reading stopped at line %d", maxSyntaxErrors-maxErrors, maxSyntaxErrors+4)
	if len(got) != maxErrors+1 || got[maxErrors] != want {
		t.Errorf("last message %q, want %q", got[len(got)-1], want)
	}
}

// An error in an $INCLUDEd file is reported at its own file and line; the
// included file is read on after it, and the zone's file after the
// $INCLUDE.
func TestSyntaxMessagesInclude(t *testing.T) {
	dir := t.TempDir()
	write := func(name, text string) {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("hosts.inc", "a IN A 192.0.2.1\nb IN A 192.0.2.300\n  IN AAAA x\nc IN A 192.0.2.3\n  IN TXT t\n  IN CNAME a\n")
	write("inc.test.zone", "$TTL 300\n@ IN SOA ns1 hostmaster 1 3600 600 86400 300\n  IN NS ns1\n"+
		"$INCLUDE hosts.inc sub.inc.test.\nwww IN AAAA 2001:db8::g\n$INCLUDE hosts.inc\n")
	_, err := LoadFile(filepath.Join(dir, "inc.test.zone"))
	inc := filepath.Join(dir, "hosts.inc")
	want := []string{
		filepath.Join(dir, "inc.test.zone") + `:5: www AAAA: "2001:db8::g" is not an IPv6 address`,
		// Included under sub.inc.test., then under inc.test.: every
		// error of the file, each time (sorted by line), and no record
		// outside the zone.
		inc + `:2: b A: "192.0.2.300" is not an IPv4 address`,
		inc + `:2: b A: "192.0.2.300" is not an IPv4 address`,
		inc + `:3: b AAAA: "x" is not an IPv6 address`,
		inc + `:3: b AAAA: "x" is not an IPv6 address`,
		inc + `:6: CNAME and other data at c.sub.inc.test. (A at line 4, CNAME at line 6)`,
		inc + `:6: CNAME and other data at c.inc.test. (A at line 4, CNAME at line 6)`,
	}
	if got := messages(err); strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("got\n  %s\nwant\n  %s", strings.Join(got, "\n  "), strings.Join(want, "\n  "))
	}

	// A file that cannot be included is the directive's error; the
	// record after the directive is read.
	write("miss.test.zone", "$TTL 300\n@ IN SOA ns1 hostmaster 1 3600 600 86400 300\n  IN NS ns1\n"+
		"$INCLUDE missing.inc\nwww IN A 192.0.2.300\n")
	_, err = LoadFile(filepath.Join(dir, "miss.test.zone"))
	want = []string{
		filepath.Join(dir, "miss.test.zone") + `:4: $INCLUDE "missing.inc": open ` + filepath.Join(dir, "missing.inc") + `: no such file or directory`,
		filepath.Join(dir, "miss.test.zone") + `:5: www A: "192.0.2.300" is not an IPv4 address`,
	}
	if got := messages(err); strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("got\n  %s\nwant\n  %s", strings.Join(got, "\n  "), strings.Join(want, "\n  "))
	}
}

// RFC 2181 5.2: the records of an RRset are served with one TTL, the
// lowest, and the zone says so in a warning at the record whose TTL
// differs.
func TestRRsetTTLs(t *testing.T) {
	const zone = "$TTL 300\n@ IN SOA ns1 hostmaster 1 3600 600 86400 300\n  IN NS ns1\n  IN NS ns2\n" +
		"www 300 IN A 192.0.2.1\n" + // line 5
		"www 60 IN A 192.0.2.2\n" + // line 6
		"www 30 IN A 192.0.2.1\n" + // a duplicate, but its TTL counts
		"www 300 IN AAAA 2001:db8::1\n" +
		"ns1 IN A 192.0.2.53\nns1 IN A 192.0.2.54\n"
	z, err := ParseZone(strings.NewReader(zone), "example.test.", "t.zone")
	if err != nil {
		t.Fatal(err)
	}
	for _, rr := range z.Records() {
		h := rr.Header()
		want := uint32(300)
		if h.Name == "www.example.test." && h.Rrtype == mdns.TypeA {
			want = 30
		}
		if h.Ttl != want {
			t.Errorf("%s: TTL %d, want %d", rr, h.Ttl, want)
		}
	}
	want := []Warning{{File: "t.zone", Line: 6, Message: "www.example.test. A: TTL 60 differs from TTL 300 at line 5; " +
		"the records of an RRset have one TTL (RFC 2181 5.2), so all are served with TTL 30, the lowest"}}
	if got := z.Warnings(); !reflect.DeepEqual(got, want) {
		t.Errorf("warnings\n  %v\nwant\n  %v", got, want)
	}
	if s := want[0].String(); !strings.HasPrefix(s, "t.zone:6: warning: www.example.test. A: TTL 60") {
		t.Errorf("String() = %q", s)
	}
}

// Reading on after an error does not count the file's bytes twice against
// the zone's size limit.
func TestSyntaxMessagesSizeLimit(t *testing.T) {
	dir := t.TempDir()
	text := "$TTL 300\n@ IN SOA ns1 hostmaster 1 3600 600 86400 300\n  IN NS ns1\nmx IN MX ( 10\n" +
		strings.Repeat("mail IN A 192.0.2.2\n", 20) + "www IN A 192.0.2.300\n"
	path := filepath.Join(dir, "size.test.zone")
	if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	lim := DefaultLimits()
	lim.FileBytes = int64(len(text)) + 10
	_, err := lim.LoadFile(path)
	want := []string{
		path + ":4: mx MX: unclosed parenthesis opened at line 4",
		path + `:25: www A: "192.0.2.300" is not an IPv4 address`,
	}
	if got := messages(err); strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("got\n  %s\nwant\n  %s", strings.Join(got, "\n  "), strings.Join(want, "\n  "))
	}
}
