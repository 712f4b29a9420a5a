package health

import (
	"errors"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

func TestParseOverridesGood(t *testing.T) {
	o, err := readOverrides("../testdata/health/overrides.good", Limits{})
	if err != nil {
		t.Fatal(err)
	}
	want := []Override{
		{KindAddress, "192.0.2.10", OverrideDrain, ""},
		{KindAddress, "2001:db8::10", OverrideDown, ""},
		{KindDatacenter, "ams", OverrideUp, ""},
		{KindDatacenter, "iad", OverrideDrain, ""},
	}
	got := o.list()
	if len(got) != len(want) {
		t.Fatalf("got %v, want %v", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("entry %d = %v, want %v", i, got[i], want[i])
		}
	}
}

func TestParseOverridesBad(t *testing.T) {
	tests := []struct{ file, want string }{
		{"overrides-badstate.bad", `overrides-badstate.bad:3: state "sideways" is not up, down or drain`},
		{"overrides-fields.bad", "overrides-fields.bad:1: want"},
		{"overrides-addr.bad", "overrides-addr.bad:2: ParseAddr"},
		{"overrides-dup.bad", "overrides-dup.bad:3: address 192.0.2.10 listed twice"},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			_, err := readOverrides(filepath.Join("../testdata/health", tt.file), Limits{})
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("got %v, want %q", err, tt.want)
			}
		})
	}
}

func TestOverridesMissingFile(t *testing.T) {
	o, err := readOverrides(filepath.Join(t.TempDir(), "none"), Limits{})
	if err != nil || len(o.list()) != 0 {
		t.Fatalf("got %v, %v", o.list(), err)
	}
}

func TestSetOverridePersistsAndReloads(t *testing.T) {
	dir := t.TempDir()
	state := filepath.Join(dir, "overrides.state")
	a := netip.MustParseAddr("192.0.2.1")
	c := New(nil, nil, nil)
	targets := []Target{{Check: "", Datacenter: "ams", Addr: a}}
	if err := c.Update(nil, targets, state); err != nil {
		t.Fatal(err)
	}
	if !c.View().Lookup("", "ams", a).Up {
		t.Fatal("down before any override")
	}
	steps := []struct {
		kind, key, state string
		want             Status
	}{
		{KindDatacenter, "ams", "drain", Status{Drained: true, Override: OverrideDrain}},
		{KindAddress, "::ffff:192.0.2.1", "up", Status{Up: true, Override: OverrideUp}}, // address beats datacenter; mapped form unmapped
		{KindAddress, "192.0.2.1", "down", Status{Override: OverrideDown}},
		{KindAddress, "192.0.2.1", "clear", Status{Drained: true, Override: OverrideDrain}},
		{KindDatacenter, "ams", "clear", Status{Up: true}},
		{KindDatacenter, "ams", "down", Status{Override: OverrideDown}},
	}
	for _, s := range steps {
		if err := c.SetOverride(s.kind, s.key, s.state); err != nil {
			t.Fatalf("SetOverride(%s %s %s): %v", s.kind, s.key, s.state, err)
		}
		if got := c.View().Lookup("", "ams", a); got != s.want {
			t.Fatalf("after %s %s %s: %+v, want %+v", s.kind, s.key, s.state, got, s.want)
		}
		// The file says the same: a fresh Checker reading it agrees.
		c2 := New(nil, nil, nil)
		if err := c2.Update(nil, targets, state); err != nil {
			t.Fatal(err)
		}
		if got := c2.View().Lookup("", "ams", a); got != s.want {
			t.Fatalf("after %s %s %s: re-read file gives %+v, want %+v", s.kind, s.key, s.state, got, s.want)
		}
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 1 {
		t.Fatalf("temporary files left behind: %v", entries)
	}

	for _, bad := range [][3]string{
		{"host", "x", "up"}, {KindAddress, "nope", "up"}, {KindAddress, "192.0.2.1", "sideways"},
		{KindDatacenter, "a b", "up"}, {KindDatacenter, "10.0.0.1", "up"},
	} {
		if err := c.SetOverride(bad[0], bad[1], bad[2]); err == nil {
			t.Errorf("SetOverride(%q, %q, %q) accepted", bad[0], bad[1], bad[2])
		}
	}

	// An edited file is read on ReloadOverrides; a bad one keeps the last good.
	if err := os.WriteFile(state, []byte("ams drain\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := c.ReloadOverrides(); err != nil {
		t.Fatal(err)
	}
	if got := c.View().Lookup("", "ams", a); !got.Drained {
		t.Fatalf("after reload: %+v", got)
	}
	if err := os.WriteFile(state, []byte("ams drain\nams\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	err := c.ReloadOverrides()
	if err == nil || !strings.Contains(err.Error(), state+":2:") {
		t.Fatalf("bad file: got %v", err)
	}
	if got := c.View().Lookup("", "ams", a); !got.Drained {
		t.Fatalf("bad reload changed the view: %+v", got)
	}
	// Update with the bad file applies targets but keeps the overrides.
	err = c.Update(nil, targets, state)
	if !errors.Is(err, ErrOverrides) || !strings.Contains(err.Error(), state+":2:") {
		t.Fatalf("Update with bad file: %v", err)
	}
	if got := c.View().Lookup("", "ams", a); !got.Drained {
		t.Fatalf("bad file on Update changed the view: %+v", got)
	}
	if got := c.Overrides(); len(got) != 1 || got[0].Key != "ams" {
		t.Fatalf("Overrides() = %v", got)
	}
}

func TestSetOverrideWriteFailureChangesNothing(t *testing.T) {
	c := New(nil, nil, nil)
	if err := c.Update(nil, nil, filepath.Join(t.TempDir(), "no", "such", "dir", "state")); err != nil {
		t.Fatal(err)
	}
	if err := c.SetOverride(KindDatacenter, "ams", "down"); err == nil {
		t.Fatal("write to a missing directory succeeded")
	}
	if !c.View().Lookup("", "ams", netip.MustParseAddr("192.0.2.1")).Up {
		t.Fatal("failed SetOverride changed the view")
	}
}

func FuzzParseOverrides(f *testing.F) {
	for _, s := range []string{"192.0.2.1 up\n", "ams drain # x\n", "::1 down\nams up\n", "a b c\n", "1.2.3 up\n"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		o, err := parseOverrides("f", data, 0)
		if err != nil {
			if !strings.HasPrefix(err.Error(), "f:") {
				t.Fatalf("error without file name: %v", err)
			}
			return
		}
		// What parses survives a write and a re-read unchanged.
		o2, err := parseOverrides("f", o.format(), 0)
		if err != nil {
			t.Fatalf("re-read of %q: %v", o.format(), err)
		}
		a, b := o.list(), o2.list()
		if len(a) != len(b) {
			t.Fatalf("round trip %v -> %v", a, b)
		}
		for i := range a {
			if a[i] != b[i] {
				t.Fatalf("round trip %v -> %v", a, b)
			}
		}
	})
}

// TestOverrideOrigin: an override from another instance keeps its origin,
// in the list and through the state file.
func TestOverrideOrigin(t *testing.T) {
	path := t.TempDir() + "/state"
	c := New(nil, nil, nil)
	if err := c.Update(nil, nil, path); err != nil {
		t.Fatal(err)
	}
	if err := c.SetOverrideFrom(KindDatacenter, "ams", "drain", "ns2"); err != nil {
		t.Fatal(err)
	}
	if err := c.SetOverride(KindAddress, "192.0.2.1", "down"); err != nil {
		t.Fatal(err)
	}
	want := []Override{{KindAddress, "192.0.2.1", OverrideDown, ""}, {KindDatacenter, "ams", OverrideDrain, "ns2"}}
	if got := c.Overrides(); !slices.Equal(got, want) {
		t.Fatalf("overrides %v, want %v", got, want)
	}
	if err := c.ReloadOverrides(); err != nil {
		t.Fatal(err)
	}
	if got := c.Overrides(); !slices.Equal(got, want) {
		t.Fatalf("after reading the state file: %v, want %v", got, want)
	}
	if err := c.SetOverrideFrom(KindDatacenter, "ams", "clear", "ns2"); err != nil {
		t.Fatal(err)
	}
	if got := c.Overrides(); !slices.Equal(got, want[:1]) {
		t.Fatalf("after clear: %v", got)
	}
}
