package zones

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	mdns "github.com/miekg/dns"
)

// Hostile zone files: each is refused with file:line (or file), quickly,
// and the good zones next to it still load.

func TestHostileTooManyRecordsAtOneName(t *testing.T) {
	const n = 100_000
	var b strings.Builder
	b.WriteString(apex) // 4 lines
	for i := range n {
		fmt.Fprintf(&b, "www TXT \"r%d\"\n", i)
	}
	dir := writeFiles(t, map[string]string{"big.test.zone": b.String(), "good.test.zone": apex})
	start := time.Now()
	zs, err := LoadDir(dir)
	if d := time.Since(start); d > 20*time.Second {
		t.Errorf("took %v", d)
	}
	// The limit is reported once, at the first record over it.
	want := fmt.Sprintf("big.test.zone:%d: more than %d records at www.big.test.", 4+MaxRecordsPerName+1, MaxRecordsPerName)
	if err == nil || !strings.Contains(err.Error(), want) || strings.Count(err.Error(), "more than") != 1 {
		t.Errorf("error %v\nwant %q once", err, want)
	}
	if len(zs) != 1 || zs[0].Origin != "good.test." {
		t.Errorf("zones loaded: %v, want good.test. only", zs)
	}
}

func TestHostileHugeZoneFileRejectedBySize(t *testing.T) {
	dir := writeFiles(t, map[string]string{"good.test.zone": apex})
	huge := filepath.Join(dir, "huge.test.zone")
	f, err := os.Create(huge)
	if err != nil {
		t.Fatal(err)
	}
	f.Close()
	// Sparse: 1 GiB of length, no blocks; reading it would take seconds and
	// a gigabyte of memory.
	if err := os.Truncate(huge, 1<<30); err != nil {
		t.Skipf("no sparse files here: %v", err)
	}
	start := time.Now()
	_, err = LoadFile(huge)
	if d := time.Since(start); d > time.Second {
		t.Errorf("rejecting took %v: read before checking the size?", d)
	}
	var ze *Error
	if !errors.As(err, &ze) || ze.File != huge || !errors.Is(err, errTooLarge) ||
		!strings.Contains(err.Error(), fmt.Sprintf("%d bytes, the limit is %d", 1<<30, MaxFileBytes)) {
		t.Errorf("error %v", err)
	}
	zs, err := LoadDir(dir)
	if err == nil || !strings.Contains(err.Error(), "huge.test.zone: zone is too large") {
		t.Errorf("LoadDir error %v", err)
	}
	if len(zs) != 1 || zs[0].Origin != "good.test." {
		t.Errorf("LoadDir zones %v, want good.test.", zs)
	}
}

func TestHostileZoneFiles(t *testing.T) {
	tests := []struct {
		name, content string
		want          string // in the error; "" = loads
	}{
		{"self include", apex + "$INCLUDE self.test.zone\n", "self.test.zone:5: too deeply nested $INCLUDE"},
		{"include loop", apex + "$INCLUDE a.inc\n", "too deeply nested $INCLUDE"},
		{"NUL bytes", apex + "www A 192.0.2.1\x00\x00\n", ":5:"},
		{"name of 300 octets", apex + strings.Repeat("a.", 150) + " A 192.0.2.1\n", ":5:"},
		{"label of 64 octets", apex + strings.Repeat("a", 64) + " A 192.0.2.1\n", ":5:"},
		{"unterminated paren", apex + "www TXT ( \"a\"\n", ":5:"},
		{"TTL overflow", apex + "www 99999999999 A 192.0.2.1\n", ":5:"},
		{"second SOA", apex + "@ SOA ns h 2 2 3 4 5\n", ":5:"},
		{"CNAME loop", apex + "a CNAME b\nb CNAME a\n", ""},
		{"long CNAME chain", apex + chain(50), ""},
		{"line of 1 MiB", apex + "www TXT " + strings.Repeat("\"aaaaaaaa\" ", 100_000) + "\n", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			name := strings.ReplaceAll(tt.name, " ", "-") + ".test.zone"
			files := map[string]string{name: tt.content, "a.inc": "$INCLUDE b.inc\n", "b.inc": "$INCLUDE a.inc\n"}
			if tt.name == "self include" {
				files = map[string]string{"self.test.zone": tt.content}
				name = "self.test.zone"
			}
			dir := writeFiles(t, files)
			done := make(chan struct{})
			var z *Zone
			var err error
			go func() { z, err = LoadFile(filepath.Join(dir, name)); close(done) }()
			select {
			case <-done:
			case <-time.After(20 * time.Second):
				t.Fatal("still loading after 20s")
			}
			if tt.want == "" {
				if err != nil {
					// Refusing is fine too (e.g. a record too large), if it says where.
					if !strings.Contains(err.Error(), name) {
						t.Errorf("error without the file name: %v", err)
					}
					return
				}
				s, err := NewSet([]*Zone{z}, nil)
				if err != nil {
					t.Fatal(err)
				}
				for _, q := range []string{"a." + z.Origin, "c0." + z.Origin, "www." + z.Origin} {
					s.Lookup(q, mdns.TypeA) // must return, whatever it says
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %v, want it to contain %q", err, tt.want)
			}
			var ze *Error
			if !errors.As(err, &ze) {
				t.Errorf("not an *Error: %T", err)
			}
		})
	}
}

// chain is n CNAMEs c0 -> c1 -> ... -> cn, which has an address.
func chain(n int) string {
	var b strings.Builder
	for i := range n {
		fmt.Fprintf(&b, "c%d CNAME c%d\n", i, i+1)
	}
	fmt.Fprintf(&b, "c%d A 192.0.2.9\n", n)
	return b.String()
}
