package zones

import (
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	mdns "github.com/miekg/dns"
)

func TestLoadDirGood(t *testing.T) {
	zs, err := LoadDir("../testdata/zones")
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]*Zone{}
	for _, z := range zs {
		got[z.Origin] = z
	}
	for _, origin := range []string{"example.test.", "gslb.example.test.", "other.test."} {
		if got[origin] == nil {
			t.Errorf("zone %s not loaded", origin)
		}
	}
	ex := got["example.test."]
	if ex == nil {
		t.FailNow()
	}
	if ex.Serial != 2026112201 {
		t.Errorf("serial = %d", ex.Serial)
	}
	if ex.File != filepath.Join("../testdata/zones", "example.test.zone") {
		t.Errorf("file = %q", ex.File)
	}
	// The line of each record is where it starts (a multi-line SOA too),
	// including records that omit the owner and records after comments.
	wantLine := map[string]int{
		"example.test. SOA":           12,
		"ns1.example.test. AAAA":      25,
		"_sip._udp.example.test. SRV": 36,
		"ns.sub.example.test. AAAA":   62,
		"big.example.test. TXT":       76, // $GENERATE: the directive's line
	}
	for i, rr := range ex.rrs {
		k := rr.Header().Name + " " + mdns.Type(rr.Header().Rrtype).String()
		if want, ok := wantLine[k]; ok {
			if _, line := ex.Position(i); line != want {
				t.Errorf("%s: line %d, want %d", k, line, want)
			}
			delete(wantLine, k)
		}
	}
	if len(wantLine) > 0 {
		t.Errorf("records not found: %v", wantLine)
	}
	// $INCLUDE: records from the included file, with its name and lines.
	other := got["other.test."]
	found := false
	for i, rr := range other.rrs {
		if rr.Header().Name == "included.other.test." {
			found = true
			if file, line := other.Position(i); file != filepath.Join("../testdata/zones", "include/other.test.inc") || line != 3 {
				t.Errorf("included record at %s:%d", file, line)
			}
		}
	}
	if !found {
		t.Error("included record missing")
	}
}

func TestLoadErrors(t *testing.T) {
	tests := []struct {
		file string
		want []string // each must appear in the error text
		n    int      // number of errors, if not len(want)
	}{
		{file: "syntax.test.zone", want: []string{"syntax.test.zone:5: www A: \"192.0.2.300\" is not an IPv4 address"}},
		{file: "nosoa.test.zone", want: []string{"nosoa.test.zone:4: no SOA record at the zone apex nosoa.test."}},
		{file: "twosoa.test.zone", want: []string{"twosoa.test.zone:5: second SOA record at twosoa.test. (the first is at line 2)"}},
		{file: "nons.test.zone", want: []string{"nons.test.zone:2: no NS records at the zone apex nons.test."}},
		{file: "cname.test.zone", want: []string{
			"cname.test.zone:6: CNAME and other data at www.cname.test. (CNAME at line 5, TXT at line 6)",
			"cname.test.zone:8: second CNAME record at two.cname.test. (the first is at line 7)",
		}},
		{file: "outofzone.test.zone", want: []string{"outofzone.test.zone:5: www.example.org. A is outside the zone outofzone.test."}},
		{file: "occluded.test.zone", want: []string{
			"occluded.test.zone:7: TXT record at www.sub.occluded.test. is occluded by the delegation at sub.occluded.test. (line 5)",
			"occluded.test.zone:8: MX record at the delegation point sub.occluded.test. is occluded",
		}},
		{file: "include.test.zone", want: []string{"include.test.zone:5: $INCLUDE ", "escapes the zone directory testdata/bad"}, n: 1},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			path := filepath.Join("testdata/bad", tt.file)
			z, err := LoadFile(path)
			if err == nil {
				t.Fatalf("loaded %s without error", z.Origin)
			}
			if z != nil {
				t.Error("a zone with errors was returned")
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error\n%v\ndoes not contain\n%s", err, w)
				}
			}
			var ze *Error
			if !errors.As(err, &ze) || ze.Line == 0 || !strings.HasSuffix(ze.File, tt.file) {
				t.Errorf("not an *Error with file and line: %#v", err)
			}
			want := tt.n
			if want == 0 {
				want = len(tt.want)
			}
			if n := strings.Count(err.Error(), "\n") + 1; n != want {
				t.Errorf("%d errors, want %d:\n%v", n, want, err)
			}
		})
	}

	// LoadDir reports the problems of every file and loads none of them.
	zs, err := LoadDir("testdata/bad")
	if len(zs) != 0 {
		t.Errorf("LoadDir returned %d zones", len(zs))
	}
	for _, tt := range tests {
		if !strings.Contains(err.Error(), tt.file+":") {
			t.Errorf("LoadDir error does not mention %s:\n%v", tt.file, err)
		}
	}
}

// writeFiles creates files (name -> content) under a new directory.
func writeFiles(t *testing.T, files map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	for name, content := range files {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

const apex = "$TTL 300\n@ SOA ns h 1 2 3 4 5\n  NS ns\nns A 192.0.2.1\n"

func TestLoadDirMixed(t *testing.T) {
	dir := writeFiles(t, map[string]string{
		"good.test.zone":   apex,
		"bad.test.zone":    apex + "x CNAME ns\nx A 192.0.2.9\n",
		"ignored.txt":      "not a zone",
		".editor.zone":     "garbage (",
		"set.origin.zone":  "; comment\n$TTL 60\n$ORIGIN example.org.\n" + apex,
		"dup.example.zone": "$ORIGIN good.test.\n" + apex,
	})
	zs, err := LoadDir(dir)
	var origins []string
	for _, z := range zs {
		origins = append(origins, z.Origin)
	}
	if strings.Join(origins, " ") != "good.test. example.org." && strings.Join(origins, " ") != "example.org. good.test." {
		t.Errorf("loaded %v", origins)
	}
	if err == nil || !strings.Contains(err.Error(), "bad.test.zone:6: CNAME and other data") ||
		!strings.Contains(err.Error(), "is already loaded from") {
		t.Errorf("error: %v", err)
	}
}

func TestInclude(t *testing.T) {
	dir := writeFiles(t, map[string]string{
		"inc.test.zone":     apex + "$INCLUDE sub/hosts.inc\nafter A 192.0.2.3\n",
		"sub/hosts.inc":     "; hosts\nwww A 192.0.2.2\nwww.other.test. A 192.0.2.9\n",
		"abs.test.zone":     apex + "$INCLUDE /etc/hostname\n",
		"link.test.zone":    apex + "$INCLUDE link.inc\n",
		"nested.test.zone":  apex + "$INCLUDE sub/nest.inc\n",
		"sub/nest.inc":      "$INCLUDE ../sub/../../outside.inc\n",
		"missing.test.zone": apex + "\n$INCLUDE nothere.inc\n",
	})
	outside := writeFiles(t, map[string]string{"secret.inc": "www A 192.0.2.66\n"})
	if err := os.Symlink(filepath.Join(outside, "secret.inc"), filepath.Join(dir, "link.inc")); err != nil {
		t.Fatal(err)
	}
	tests := []struct{ file, want string }{
		{"inc.test.zone", filepath.Join(dir, "sub/hosts.inc") + ":3: www.other.test. A is outside the zone inc.test."},
		{"abs.test.zone", "abs.test.zone:5: $INCLUDE /etc/hostname: path escapes the zone directory"},
		{"link.test.zone", "link.test.zone:5: $INCLUDE " + filepath.Join(dir, "link.inc") + ": path escapes"},
		{"nested.test.zone", filepath.Join(dir, "sub/nest.inc") + ":1: $INCLUDE "},
		{"missing.test.zone", "missing.test.zone:6: $INCLUDE \"nothere.inc\": open"},
	}
	for _, tt := range tests {
		_, err := LoadFile(filepath.Join(dir, tt.file))
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: error %v, want %q", tt.file, err, tt.want)
		}
	}
	// A good include: records from both files, in order.
	dir2 := writeFiles(t, map[string]string{
		"inc.test.zone": apex + "$INCLUDE sub/hosts.inc\nafter A 192.0.2.3\n",
		"sub/hosts.inc": "; hosts\nwww TXT (\n  \"a\" )\n",
	})
	z, err := LoadFile(filepath.Join(dir2, "inc.test.zone"))
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for i, rr := range z.rrs {
		file, line := z.Position(i)
		names = append(names, rr.Header().Name+"@"+filepath.Base(file)+":"+strconv.Itoa(line))
	}
	want := "inc.test.@inc.test.zone:2 inc.test.@inc.test.zone:3 ns.inc.test.@inc.test.zone:4 www.inc.test.@hosts.inc:2 after.inc.test.@inc.test.zone:6"
	if got := strings.Join(names, " "); got != want {
		t.Errorf("records\n got %s\nwant %s", got, want)
	}
}

func TestLimitsAndDuplicates(t *testing.T) {
	dir := writeFiles(t, map[string]string{
		"big.test.zone":  apex + "www A 192.0.2.1\nwww A 192.0.2.2\nwww TXT x\nwww TXT y\n",
		"dup.test.zone":  apex + "www A 192.0.2.1\nwww 60 A 192.0.2.1\nWWW A 192.0.2.1\n",
		"huge.test.zone": apex + strings.Repeat("; padding\n", 20),
	})
	l := loader{maxBytes: 150, maxPerName: 3}
	if _, errs := l.loadFile(dir, filepath.Join(dir, "big.test.zone")); len(errs) != 1 ||
		!strings.Contains(errs[0].Error(), "big.test.zone:8: more than 3 records at www.big.test.") {
		t.Errorf("per-name limit: %v", errs)
	}
	if _, errs := l.loadFile(dir, filepath.Join(dir, "huge.test.zone")); len(errs) != 1 ||
		!strings.Contains(errs[0].Error(), "zone is too large") {
		t.Errorf("size limit: %v", errs)
	}
	z, err := LoadFile(filepath.Join(dir, "dup.test.zone"))
	if err != nil {
		t.Fatal(err)
	}
	if z.Len() != 4 {
		t.Errorf("%d records, want 4 (duplicates dropped)", z.Len())
	}
}

func TestParseZoneNoInclude(t *testing.T) {
	_, err := ParseZone(strings.NewReader(apex+"$INCLUDE /etc/passwd\n"), "x.test", "mem")
	if err == nil || !strings.Contains(err.Error(), "mem:5: $INCLUDE directive not allowed") {
		t.Errorf("error %v", err)
	}
	_, err = ParseZone(strings.NewReader(apex), "bad..name", "mem")
	if err == nil || !strings.Contains(err.Error(), "mem: cannot use") {
		t.Errorf("error %v", err)
	}
	// $ORIGIN after the first record changes relative names, not the zone.
	z, err := ParseZone(strings.NewReader(apex+"$ORIGIN sub.x.test.\nwww A 192.0.2.8\n"), "x.test.", "mem")
	if err != nil || z.Origin != "x.test." || z.rrs[3].Header().Name != "www.sub.x.test." {
		t.Errorf("$ORIGIN later: %v %v", z, err)
	}
	z, err = ParseZone(strings.NewReader(apex+"WWW.X.TEST. A 192.0.2.7"), "X.Test", "mem")
	if err != nil {
		t.Fatal(err)
	}
	if _, line := z.Position(z.Len() - 1); z.Origin != "x.test." || z.rrs[len(z.rrs)-1].Header().Name != "www.x.test." || line != 5 {
		t.Errorf("origin %s, last %v at %d", z.Origin, z.rrs[len(z.rrs)-1], line)
	}
}

func TestConfig(t *testing.T) {
	if err := DefaultConfig().Validate(); err != nil || DefaultConfig().Dir != "zones" {
		t.Errorf("default: %+v %v", DefaultConfig(), err)
	}
	if err := (Config{}).Validate(); err == nil {
		t.Error("empty dir accepted")
	}
}

func FuzzLoadZone(f *testing.F) {
	for _, p := range []string{"../testdata/zones/example.test.zone", "../testdata/zones/other.test.zone"} {
		b, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add([]byte(apex + "*.w CNAME x\nsub NS ns.sub\nns.sub A 192.0.2.1\n$ORIGIN foo\n"))
	f.Add([]byte("$ORIGIN .\n@ SOA a b 1 2 3 4 5\n NS a.\n"))
	f.Add([]byte(apex + "mx MX ( 10\nmail A 192.0.2.300\n  AAAA x\nt TXT \"a\n$ORIGIN sub\nw 30 A 1.2.3.4\nw 60 A 1.2.3.5\n)\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		z, err := ParseZone(strings.NewReader(string(data)), "fuzz.test.", "fuzz")
		if err != nil {
			var ze *Error
			if !errors.As(err, &ze) {
				t.Fatalf("error is not an *Error: %v", err)
			}
			return
		}
		// A zone that loads compiles and answers.
		s, err := NewSet([]*Zone{z}, nil)
		if err != nil {
			t.Fatal(err)
		}
		for _, rr := range z.rrs {
			s.Lookup(rr.Header().Name, rr.Header().Rrtype)
			s.Lookup("x."+rr.Header().Name, mdns.TypeA)
		}
	})
}

// RRset TTLs: an entry is kept from a set's second record on; the set's
// first record still says where the set starts, a duplicate with another
// TTL still counts, and sets of one record are left as they are.
func TestRRsetTTLsFromSecondRecord(t *testing.T) {
	zone := apex + // lines 1-4
		"a 300 A 192.0.2.1\n" + // 5
		"a 300 AAAA 2001:db8::1\n" + // 6
		"a 600 A 192.0.2.1\n" + // 7: a duplicate, with another TTL
		"a 100 A 192.0.2.2\n" + // 8
		"b 60 TXT x\n" + // 9
		"b 60 TXT y\n" + // 10
		"c 10 MX 1 a\n" + // 11
		"c 20 MX 2 a\n" + // 12
		"d 5 A 192.0.2.9\n" // 13
	for _, slow := range []bool{false, true} {
		noFastParse = slow
		z, err := ParseZone(strings.NewReader(zone), "example.test.", "t.zone")
		noFastParse = false
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, w := range z.Warnings() {
			got = append(got, w.String())
		}
		want := []string{
			"t.zone:7: warning: a.example.test. A: TTL 600 differs from TTL 300 at line 5; the records of an RRset have one TTL (RFC 2181 5.2), so all are served with TTL 100, the lowest",
			"t.zone:12: warning: c.example.test. MX: TTL 20 differs from TTL 10 at line 11; the records of an RRset have one TTL (RFC 2181 5.2), so all are served with TTL 10, the lowest",
		}
		if strings.Join(got, "\n") != strings.Join(want, "\n") {
			t.Errorf("miekg only %v: warnings\n  %s\nwant\n  %s", slow, strings.Join(got, "\n  "), strings.Join(want, "\n  "))
		}
		ttls := map[string]uint32{}
		for _, rr := range z.Records() {
			ttls[rr.Header().Name+" "+mdns.TypeToString[rr.Header().Rrtype]] = rr.Header().Ttl
		}
		for k, want := range map[string]uint32{"a.example.test. A": 100, "a.example.test. AAAA": 300, "b.example.test. TXT": 60, "c.example.test. MX": 10, "d.example.test. A": 5} {
			if ttls[k] != want {
				t.Errorf("miekg only %v: %s TTL %d, want %d", slow, k, ttls[k], want)
			}
		}
	}
}
