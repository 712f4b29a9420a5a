package routes

import (
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// FuzzRoutesFile feeds arbitrary bytes to the routes file parser through a
// temporary file: it must never panic, every error names the file, and a
// table that loads answers lookups with prefixes that contain the address
// and datacenters that exist.
func FuzzRoutesFile(f *testing.F) {
	for _, p := range []string{"../testdata/routes/good.txt", "../testdata/routes/bad.txt"} {
		if b, err := os.ReadFile(p); err == nil {
			f.Add(b)
		}
	}
	f.Add([]byte("10.0.0.0/8 ams\n::/0 AS7 2\n192.0.2.1 fra 4294967296\n"))
	f.Add([]byte("10.0.0.1/8 ams\n::ffff:10.0.0.0/104 ams\n1.2.3.4/33 x\n"))
	f.Add([]byte("0.0.0.0/0 AS65001 # c\n\x00\n"))
	dir := f.TempDir()
	f.Fuzz(func(t *testing.T, data []byte) {
		fh, err := os.CreateTemp(dir, "routes-*.txt")
		if err != nil {
			t.Fatal(err)
		}
		path := fh.Name()
		defer os.Remove(path)
		if _, err := fh.Write(data); err != nil {
			t.Fatal(err)
		}
		fh.Close()
		tbl, err := LoadFile(path, testASNs, testDCs)
		if err != nil {
			if !strings.Contains(err.Error(), filepath.Base(path)) {
				t.Fatalf("error without the file name: %v", err)
			}
			return
		}
		for _, s := range []string{"10.1.2.3", "192.0.2.1", "2001:db8::1", "::ffff:10.0.0.1", "0.0.0.0", "ffff::"} {
			a := netip.MustParseAddr(s)
			m, ok := tbl.Lookup(a)
			if !ok {
				continue
			}
			if !m.Prefix.Contains(a.Unmap()) {
				t.Fatalf("lookup %s matched %s", a, m.Prefix)
			}
			for _, r := range m.Reach {
				if !testDCs[r.Datacenter] {
					t.Fatalf("lookup %s: unknown datacenter %q", a, r.Datacenter)
				}
			}
		}
	})
}
