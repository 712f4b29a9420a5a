package health

import (
	"net/netip"
	"testing"
	"time"
)

func TestViewLookup(t *testing.T) {
	now := time.Unix(1000, 0)
	a1, a2, a3 := netip.MustParseAddr("192.0.2.1"), netip.MustParseAddr("192.0.2.2"), netip.MustParseAddr("2001:db8::3")
	v := &View{
		probes: map[viewKey]viewEntry{
			{"web", a1}: {up: true},
			{"web", a2}: {up: false, deadline: now.Add(7 * time.Second).UnixNano()},
			{"web", a3}: {up: true, deadline: now.Add(-time.Second).UnixNano()}, // overdue
			{"tcp", a1}: {up: false, deadline: now.Add(time.Second).UnixNano()},
		},
		addrOv: map[netip.Addr]OverrideState{a2: OverrideUp},
		dcOv:   map[string]OverrideState{"ams": OverrideDrain, "iad": OverrideDown},
	}
	tests := []struct {
		name      string
		v         *View
		check, dc string
		addr      netip.Addr
		want      Status
	}{
		{"nil view", nil, "web", "ams", a2, Status{Up: true}},
		{"stable up", v, "web", "fra", a1, Status{Up: true}},
		{"down with settle", v, "tcp", "fra", a1, Status{Up: false, Settle: time.Second}},
		{"overdue floors", v, "web", "fra", a3, Status{Up: true, Settle: settleFloor}},
		{"address override beats dc override and probe", v, "web", "iad", a2, Status{Up: true, Override: OverrideUp}},
		{"dc drain beats probe", v, "web", "ams", a1, Status{Drained: true, Override: OverrideDrain}},
		{"dc down", v, "tcp", "iad", a1, Status{Override: OverrideDown}},
		{"no check: up", v, "", "fra", a1, Status{Up: true}},
		{"no check: dc override applies", v, "", "ams", a1, Status{Drained: true, Override: OverrideDrain}},
		{"unknown check", v, "nope", "fra", a1, Status{Up: true}},
		{"unknown address", v, "web", "fra", netip.MustParseAddr("192.0.2.99"), Status{Up: true}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.v.LookupAt(tt.check, tt.dc, tt.addr, now); got != tt.want {
				t.Fatalf("LookupAt = %+v, want %+v", got, tt.want)
			}
			got := tt.v.Lookup(tt.check, tt.dc, tt.addr)
			if got.Up != tt.want.Up || got.Drained != tt.want.Drained {
				t.Fatalf("Lookup = %+v, want %+v", got, tt.want)
			}
		})
	}
}

func TestViewLookupAllocs(t *testing.T) {
	a := netip.MustParseAddr("192.0.2.1")
	v := &View{
		probes: map[viewKey]viewEntry{{"web", a}: {deadline: time.Now().Add(time.Hour).UnixNano()}},
		addrOv: map[netip.Addr]OverrideState{netip.MustParseAddr("192.0.2.9"): OverrideDown},
		dcOv:   map[string]OverrideState{"iad": OverrideDown},
	}
	check, dc := "web", "ams"
	var s Status
	n := testing.AllocsPerRun(1000, func() { s = v.Lookup(check, dc, a) })
	if n != 0 {
		t.Fatalf("Lookup allocates %v times", n)
	}
	if s.Up || s.Settle <= 0 {
		t.Fatalf("Lookup = %+v", s)
	}
}

func BenchmarkViewLookup(b *testing.B) {
	v := &View{probes: map[viewKey]viewEntry{}, dcOv: map[string]OverrideState{"iad": OverrideDown}}
	var addrs []netip.Addr
	for i := range 256 {
		a := netip.AddrFrom4([4]byte{192, 0, 2, byte(i)})
		addrs = append(addrs, a)
		v.probes[viewKey{"web", a}] = viewEntry{up: true}
	}
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		if !v.Lookup("web", "ams", addrs[i&255]).Up {
			b.Fatal("down")
		}
	}
}
