package dnssec

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	mdns "github.com/miekg/dns"
)

func TestLoadDirFixtures(t *testing.T) {
	kr, err := LoadDir("testdata/keys")
	if err != nil {
		t.Fatal(err)
	}
	if got, want := strings.Join(kr.Zones(), " "), "csk.test. example.test."; got != want {
		t.Fatalf("zones %q, want %q", got, want)
	}
	ex := kr.Keys("Example.TEST.")
	if len(ex) != 2 {
		t.Fatalf("example.test. has %d keys, want 2", len(ex))
	}
	var ksk, zsk int
	for _, k := range ex {
		if k.Algorithm() != mdns.ECDSAP256SHA256 {
			t.Errorf("%s: algorithm %d", k.File, k.Algorithm())
		}
		if k.SEP() {
			ksk++
		} else {
			zsk++
		}
	}
	if ksk != 1 || zsk != 1 {
		t.Fatalf("ksk %d zsk %d, want 1 and 1", ksk, zsk)
	}
	csk := kr.Keys("csk.test.")
	if len(csk) != 1 || csk[0].Algorithm() != mdns.ED25519 || !csk[0].SEP() {
		t.Fatalf("csk.test.: %+v", csk)
	}
	now := time.Now()
	ds := kr.DS("example.test.", now)
	if len(ds) != 1 || ds[0].DigestType != mdns.SHA256 {
		t.Fatalf("DS %v, want one SHA-256 DS", ds)
	}
	for _, k := range ex {
		if k.SEP() && ds[0].KeyTag != k.Tag {
			t.Errorf("DS key tag %d, want the KSK's %d", ds[0].KeyTag, k.Tag)
		}
	}
}

func TestLoadDirErrors(t *testing.T) {
	for _, tc := range []struct{ dir, want string }{
		{"testdata/badalg", "algorithm 8 (RSASHA256) is not supported"},
		{"testdata/mismatch", "does not match the public key"},
		{"testdata/nonexistent", "no such file"},
	} {
		_, err := LoadDir(tc.dir)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: error %v, want %q", tc.dir, err, tc.want)
		}
		if err != nil && tc.dir != "testdata/nonexistent" && !strings.Contains(err.Error(), tc.dir) {
			t.Errorf("%s: error %v does not name the file", tc.dir, err)
		}
	}
}

// writeKey writes a key pair made with miekg/dns in BIND format.
func writeKey(t testing.TB, dir, zone string, alg uint8, flags uint16, extra string) *mdns.DNSKEY {
	t.Helper()
	k := &mdns.DNSKEY{Hdr: mdns.RR_Header{Name: zone, Rrtype: mdns.TypeDNSKEY, Class: mdns.ClassINET, Ttl: 3600},
		Flags: flags, Protocol: 3, Algorithm: alg}
	bits := 256
	if alg == mdns.ED25519 {
		bits = 256
	}
	priv, err := k.Generate(bits)
	if err != nil {
		t.Fatal(err)
	}
	base := filepath.Join(dir, "K"+zone+"+"+pad3(alg)+"+"+pad5(k.KeyTag()))
	if err := os.WriteFile(base+".key", []byte(k.String()+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(base+".private", []byte(k.PrivateKeyString(priv)+extra), 0o600); err != nil {
		t.Fatal(err)
	}
	return k
}

func pad3(a uint8) string  { s := "00" + itoa(int(a)); return s[len(s)-3:] }
func pad5(a uint16) string { s := "0000" + itoa(int(a)); return s[len(s)-5:] }
func itoa(n int) string {
	if n == 0 {
		return "0"
	}
	var b []byte
	for ; n > 0; n /= 10 {
		b = append([]byte{byte('0' + n%10)}, b...)
	}
	return string(b)
}

func TestLoadDirChecks(t *testing.T) {
	t.Run("file name", func(t *testing.T) {
		dir := t.TempDir()
		writeKey(t, dir, "a.test.", mdns.ED25519, FlagsKSK, "")
		ents, _ := os.ReadDir(dir)
		for _, e := range ents {
			old := filepath.Join(dir, e.Name())
			os.Rename(old, strings.Replace(old, "Ka.test.", "Kb.test.", 1))
		}
		if _, err := LoadDir(dir); err == nil || !strings.Contains(err.Error(), "file name says b.test.") {
			t.Fatalf("error %v", err)
		}
	})
	t.Run("missing private", func(t *testing.T) {
		dir := t.TempDir()
		writeKey(t, dir, "a.test.", mdns.ED25519, FlagsKSK, "")
		ents, _ := os.ReadDir(dir)
		for _, e := range ents {
			if strings.HasSuffix(e.Name(), ".private") {
				os.Remove(filepath.Join(dir, e.Name()))
			}
		}
		if _, err := LoadDir(dir); err == nil || !strings.Contains(err.Error(), "private key") {
			t.Fatalf("error %v", err)
		}
	})
	t.Run("bad timing", func(t *testing.T) {
		dir := t.TempDir()
		writeKey(t, dir, "a.test.", mdns.ED25519, FlagsKSK, "Activate: tomorrow\n")
		if _, err := LoadDir(dir); err == nil || !strings.Contains(err.Error(), ".private line") {
			t.Fatalf("error %v", err)
		}
	})
	t.Run("timing", func(t *testing.T) {
		dir := t.TempDir()
		now := time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
		active := writeKey(t, dir, "a.test.", mdns.ECDSAP256SHA256, FlagsKSK, "Created: 20261101000000\nPublish: 20261101000000\nActivate: 20261101000000\n")
		writeKey(t, dir, "a.test.", mdns.ECDSAP256SHA256, FlagsKSK, "Created: 20261101000000\nPublish: 20261101000000\nActivate: 20261210000000\n")
		writeKey(t, dir, "a.test.", mdns.ECDSAP256SHA256, FlagsKSK, "Created: 20261101000000\nPublish: 20261205000000\nActivate: 20261210000000\n")
		kr, err := LoadDir(dir)
		if err != nil {
			t.Fatal(err)
		}
		s, err := NewSigner(kr, "a.test.", Config{}, func() time.Time { return now })
		if err != nil {
			t.Fatal(err)
		}
		if len(s.Keys()) != 2 || len(s.ksk) != 1 || s.ksk[0].Tag != active.KeyTag() {
			t.Fatalf("published %d, signing %v; want 2 published, %d signing", len(s.Keys()), s.ksk, active.KeyTag())
		}
		if got, want := kr.NextChange(now), time.Date(2026, 12, 5, 0, 0, 0, 0, time.UTC); !got.Equal(want) {
			t.Fatalf("next change %v, want %v", got, want)
		}
		if ds := kr.DS("a.test.", now); len(ds) != 2 {
			t.Fatalf("%d DS, want 2 (the published SEP keys)", len(ds))
		}
	})
}
