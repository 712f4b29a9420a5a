package zones

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	mdns "github.com/miekg/dns"
)

// parseBoth loads data the fast way (fastParse, the miekg parser where it
// gives up) and the miekg parser's way alone, and describes each result:
// the error, or every record with its position, and the warnings.
func parseBoth(t *testing.T, data string) (fast, slow string) {
	t.Helper()
	describe := func() string {
		z, err := ParseZone(strings.NewReader(data), "example.test.", "t.zone")
		if err != nil {
			return "error: " + err.Error()
		}
		var b strings.Builder
		for i, rr := range z.Records() {
			_, line := z.Position(i)
			fmt.Fprintf(&b, "%d %s\n", line, rr.String())
		}
		for _, w := range z.Warnings() {
			fmt.Fprintf(&b, "warning %s\n", w)
		}
		return b.String()
	}
	fast = describe()
	noFastParse = true
	defer func() { noFastParse = false }()
	return fast, describe()
}

// fastSeeds are zone files that take each of fastParse's ways.
var fastSeeds = []string{
	apex + "www A 192.0.2.1\n AAAA 2001:db8::1\n  IN 60 TXT \"a b\" c \"\"\nmx 300 IN MX 10 mail\nmail A 192.0.2.25\n",
	"$TTL 1h\n@ IN SOA ns1 hostmaster ( 1 ; serial\n 1h 10m 1w 300 )\n NS ns1\nns1 A 192.0.2.1\n_sip._tcp SRV 0 5 5060 ns1\nr PTR ns1.example.test.\n",
	"@ 300 IN SOA ns1 hostmaster 1 3600 600 86400 300\n  IN NS ns1\nns1 A 192.0.2.1\nlater A 192.0.2.2\nx 600 A 192.0.2.3\ny A 192.0.2.4\n",
	apex + "w CAA 0 issue \"ca.test\"\nw SSHFP 1 1 aa\nw A 192.0.2.9\n  A 192.0.2.10\n",
	apex + "e TXT \"v=DKIM1\\; k=rsa\" x\\ y\nf A 192.0.2.1\n",
	apex + "Up.Case A 192.0.2.1\nup.case A 192.0.2.1\n$ORIGIN Sub.Example.Test.\nx CNAME Up\n",
	apex + "crlf A 192.0.2.1\r\n  TXT \"x\"\r\nsplit\rjoin A 192.0.2.2\n",
	apex + "p ( A 192.0.2.1 )\nq A ( 192.0.2.2 )\nr A 192.0.2.3(\n)\n",
	apex + "www A\nnext A 192.0.2.1\nlast CNAME",
	apex + "bad A 192.0.2.300\nv6 AAAA 192.0.2.1\nfour A ::ffff:192.0.2.1\nzone AAAA fe80::1%eth0\n",
	apex + "mx MX 70000 x\nsrv SRV 1 2 x y\nt TXT \"" + strings.Repeat("x", 300) + "\"\n",
	apex + "ch CH A 192.0.2.1\nttl 1x A 192.0.2.1\n2ttl 1 2 A 192.0.2.1\nin IN IN A 192.0.2.1\n",
	apex + "$INCLUDE other.zone\n",
	apex + "$TTL 1d2h\n$ORIGIN sub\na A 192.0.2.1\n$ttl 60\n$origin @\nb A 192.0.2.2\n",
	apex + "q TXT \"open\nw A 192.0.2.1\n",
	apex + "dup A 192.0.2.1\ndup A 192.0.2.1\ndup 60 A 192.0.2.2\ncn CNAME x\ncn A 192.0.2.1\n",
	apex + "out.of.zone. A 192.0.2.1\n* A 192.0.2.1\n*.w TXT w\nsub NS ns.sub\nns.sub A 192.0.2.1\n",
	apex + "$foo A 192.0.2.1\n\"q\" A 192.0.2.1\n(x) A 192.0.2.1\n",
	apex + "a..b A 192.0.2.1\n" + strings.Repeat("l", 64) + " A 192.0.2.1\n",
	apex + "tab\tA\t192.0.2.1 ; comment ( \"\n\t\tTXT\t\"x;y\"\t;c\n",
	"  A 192.0.2.1\n" + apex,
	"@ IN SOA ns1 hostmaster 1 2 3 4 5\n",
	apex + "x A 192.0.2.1 )\n",
	apex + "x TXT a\"b\"\ny TXT \"a\"\"b\"\n",
}

// FuzzFastParse: fastParse (with the miekg parser where it gives up)
// loads what the miekg parser alone loads, at the same lines, or fails
// with the same errors.
func FuzzFastParse(f *testing.F) {
	for _, s := range fastSeeds {
		f.Add([]byte(s))
	}
	for _, p := range []string{"../testdata/zones/example.test.zone", "../testdata/zones/other.test.zone"} {
		if b, err := os.ReadFile(p); err == nil {
			f.Add(b)
		}
	}
	dir := f.TempDir()
	f.Fuzz(func(t *testing.T, data []byte) {
		fast, slow := parseBoth(t, string(data))
		if fast != slow {
			t.Fatalf("zone:\n%s\nfast:\n%s\nmiekg:\n%s", data, fast, slow)
		}
		if bytes.Contains(bytes.ToUpper(data), []byte("$INCLUDE")) {
			return // LoadFile allows it, ParseZone does not
		}
		// Read a window of 64 bytes at a time, as a large file is.
		defer func(w, a, b int, s int64) { fastWindow, fastAhead, fastBatchLen, streamBytes = w, a, b, s }(fastWindow, fastAhead, fastBatchLen, streamBytes)
		fastWindow, fastAhead, fastBatchLen, streamBytes = 64, 24, 3, 0
		path := filepath.Join(dir, "example.test.zone")
		if err := os.WriteFile(path, data, 0o644); err != nil {
			t.Fatal(err)
		}
		z, err := LoadFile(path)
		var streamed string
		if err != nil {
			streamed = "error: " + strings.ReplaceAll(err.Error(), path, "t.zone")
		} else {
			var b strings.Builder
			for i, rr := range z.Records() {
				_, line := z.Position(i)
				fmt.Fprintf(&b, "%d %s\n", line, rr.String())
			}
			for _, w := range z.Warnings() {
				fmt.Fprintf(&b, "warning %s\n", strings.ReplaceAll(w.String(), path, "t.zone"))
			}
			streamed = b.String()
		}
		if streamed != slow {
			t.Fatalf("zone:\n%s\nstreamed:\n%s\nmiekg:\n%s", data, streamed, slow)
		}
	})
}

func TestFastParseSameAsMiekg(t *testing.T) {
	seeds := append([]string{}, fastSeeds...)
	for _, dir := range []string{"testdata/bad", "../testdata/zones"} {
		files, _ := filepath.Glob(filepath.Join(dir, "*.zone"))
		for _, p := range files {
			b, err := os.ReadFile(p)
			if err != nil {
				t.Fatal(err)
			}
			seeds = append(seeds, string(b))
		}
	}
	for i, s := range seeds {
		fast, slow := parseBoth(t, s)
		if fast != slow {
			t.Errorf("seed %d:\n%s\nfast:\n%s\nmiekg:\n%s", i, s, fast, slow)
		}
	}
}

// The common shapes are read without the miekg parser; what it must see
// makes fastParse give up.
func TestFastParseTakes(t *testing.T) {
	for _, tt := range []struct {
		zone string
		fast bool
	}{
		{fastSeeds[0], true},
		{fastSeeds[1], true},
		{fastSeeds[2], true},
		{fastSeeds[3], true}, // CAA, SSHFP alone through the miekg parser
		{fastSeeds[6], true}, // CRLF; a lone CR alone
		{apex + "$INCLUDE other.zone\n", false},
		{apex + "$generate 1-2 h$ A 192.0.2.$\n", false},
		{apex + "bad A 192.0.2.300\n", false},
		{apex + "q TXT \"open\nw A 192.0.2.1\n", false},
		{apex + "x A 192.0.2.1 )\n", false},
		{"  A 192.0.2.1\n", false},
	} {
		v := newValidator("t.zone", "example.test.", 1000)
		v.left = -1
		if got := fastParse(v, []byte(tt.zone), "t.zone", "example.test.", 512<<10); got != tt.fast {
			t.Errorf("fastParse = %v, want %v:\n%s", got, tt.fast, tt.zone)
		}
	}
}

// Reused buffers: names built in the same buffer one after the other are
// each kept as they were.
func TestFastParseKeepsNames(t *testing.T) {
	z, err := ParseZone(strings.NewReader(apex+"aa CNAME t1\nbb CNAME t2\ncc MX 1 t1\ndd TXT x y\nee TXT y\n"), "example.test.", "t.zone")
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, rr := range z.Records() {
		got = append(got, rr.String())
	}
	for _, want := range []string{
		"aa.example.test.\t300\tIN\tCNAME\tt1.example.test.",
		"bb.example.test.\t300\tIN\tCNAME\tt2.example.test.",
		"cc.example.test.\t300\tIN\tMX\t1 t1.example.test.",
		"dd.example.test.\t300\tIN\tTXT\t\"x\" \"y\"",
		"ee.example.test.\t300\tIN\tTXT\t\"y\"",
	} {
		if !strings.Contains(strings.Join(got, "\n"), want) {
			t.Errorf("missing %q in\n%s", want, strings.Join(got, "\n"))
		}
	}
}

func TestInZone(t *testing.T) {
	for _, tt := range []struct {
		origin, name string
	}{
		{"example.test.", "example.test."},
		{"example.test.", "a.example.test."},
		{"example.test.", "xexample.test."},
		{"example.test.", "test."},
		{"example.test.", "a\\.example.test."},
		{"example.test.", "a\\\\.example.test."},
		{".", "a."},
		{"a\\.b.", "x.a\\.b."},
		{"a\\.b.", "x.b."},
		{"example.test.", "a.example.test.x."},
	} {
		if got, want := inZone(tt.origin, tt.name), mdns.IsSubDomain(tt.origin, tt.name); got != want {
			t.Errorf("inZone(%q, %q) = %v, want %v", tt.origin, tt.name, got, want)
		}
	}
}

// describeZone is a loaded zone's records with their lines, and its
// warnings; or the error.
func describeZone(z *Zone, err error) string {
	if err != nil {
		return "error: " + err.Error()
	}
	var b strings.Builder
	for i, rr := range z.Records() {
		file, line := z.Position(i)
		fmt.Fprintf(&b, "%s:%d %s\n", filepath.Base(file), line, rr.String())
	}
	for _, w := range z.Warnings() {
		fmt.Fprintf(&b, "warning %s\n", w)
	}
	return b.String()
}

// A large file is read a window at a time: with a small window, records
// cut at every place by its edges load as the miekg parser loads them, and
// what makes fastParse give up (an $INCLUDE, a record longer than it reads
// ahead, an error) sends the file whole to the miekg parser.
func TestFastStream(t *testing.T) {
	defer func(w, a, b int, s int64) { fastWindow, fastAhead, fastBatchLen, streamBytes = w, a, b, s }(fastWindow, fastAhead, fastBatchLen, streamBytes)
	fastWindow, fastAhead, fastBatchLen, streamBytes = 300, 120, 7, 0

	var body strings.Builder
	body.WriteString("$TTL 300\n@ IN SOA ns1 hostmaster ( 1 ; serial\n 3600 600 86400 300 )\n  NS ns1\nns1 A 192.0.2.1\n")
	for i := range 200 {
		fmt.Fprintf(&body, "h%d IN A 192.0.2.%d\n  IN AAAA 2001:db8::%x\n", i, i%250+1, i)
		switch i % 7 {
		case 0:
			fmt.Fprintf(&body, "t%d.example.test. 60 TXT \"v=%d\" word ; comment\n", i, i)
		case 1:
			fmt.Fprintf(&body, "c%d CNAME h%d\n", i, i)
		case 2:
			fmt.Fprintf(&body, "s%d CAA 0 issue \"ca%d.test\"\n", i, i) // alone, through the miekg parser
		case 3:
			fmt.Fprintf(&body, "$ORIGIN sub%d.example.test.\nx A 192.0.2.9\n$ORIGIN example.test.\n", i)
		case 4:
			fmt.Fprintf(&body, "m%d 1h MX 10 h%d\n", i, i)
		}
	}
	zone := body.String()
	dir := t.TempDir()
	path := filepath.Join(dir, "example.test.zone")
	load := func(slow bool) string {
		noFastParse = slow
		defer func() { noFastParse = false }()
		z, err := LoadFile(path)
		return describeZone(z, err)
	}
	for _, tt := range []struct {
		name, zone string
		streamed   bool // not given up
	}{
		{"records across the window's edges", zone, true},
		{"an $INCLUDE late in the file", zone + "$INCLUDE inc.zone\n", false},
		{"a record longer than the window reads ahead", zone + "long TXT \"" + strings.Repeat("x", 400) + "\"\n" + strings.Repeat("after A 192.0.2.5\n", 40), false},
		{"an error late in the file", zone + "bad A 192.0.2.300\n", false},
		{"a warning", zone + "h1 60 A 192.0.2.77\n", true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if err := os.WriteFile(path, []byte(tt.zone), 0o644); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(filepath.Join(dir, "inc.zone"), []byte("inc A 192.0.2.44\n"), 0o644); err != nil {
				t.Fatal(err)
			}
			f, err := os.Open(path)
			if err != nil {
				t.Fatal(err)
			}
			_, _, ok := defaultLoader.stream(f, path, "example.test.", int64(len(tt.zone)))
			f.Close()
			if ok != tt.streamed {
				t.Errorf("stream ok = %v, want %v", ok, tt.streamed)
			}
			fast, slow := load(false), load(true)
			if fast != slow {
				t.Errorf("streamed:\n%s\nmiekg:\n%s", fast, slow)
			}
			// A zone over its record limit stops being read: the same
			// error, and nothing left running.
			lim := DefaultLimits()
			lim.RecordsPerZone = 50
			limited := func(slow bool) string {
				noFastParse = slow
				defer func() { noFastParse = false }()
				z, errs := lim.loader().loadFile(dir, path)
				return describeZone(z, errors.Join(errs...))
			}
			if fast, slow := limited(false), limited(true); fast != slow || !strings.Contains(fast, "too many records") {
				t.Errorf("with a limit of 50 records, streamed:\n%s\nmiekg:\n%s", fast, slow)
			}
			if strings.Count(slow, "\n") < 500 && !strings.HasPrefix(slow, "error") {
				t.Errorf("only %d lines loaded", strings.Count(slow, "\n"))
			}
		})
	}
}

func TestCanonName(t *testing.T) {
	for _, s := range []string{"a.example.test.", "A.Example.TEST.", "a.example.test", "\xff.test.", "é.test.", "a\\.b.test.", "a\\065.test.", ".", ""} {
		want := mdns.CanonicalName(s)
		if strings.IndexByte(s, '\\') >= 0 {
			continue // escapes are normalised first
		}
		if got := canonName(s); got != want {
			t.Errorf("canonName(%q) = %q, want %q", s, got, want)
		}
	}
}
