package cluster

import (
	"net/netip"
	"regexp"
	"strings"
	"testing"
	"time"
)

var natsKeyRE = regexp.MustCompile(`^[-/_=.a-zA-Z0-9]+$`)

func TestKeys(t *testing.T) {
	at := time.UnixMilli(1_800_000_000_123)
	for _, v := range []Verdict{
		{Instance: "ns1-ams", Check: "web", Address: netip.MustParseAddr("192.0.2.1"), At: at},
		{Instance: "ns.2", Check: "http:80/healthz", Address: netip.MustParseAddr("2001:db8::1"), At: at, Up: true, Site: "iad"},
		{Instance: "ü", Check: "=41", Address: netip.MustParseAddr("::ffff:192.0.2.1"), At: at},
	} {
		k := verdictKeyOf(v)
		if !natsKeyRE.MatchString(k) || strings.Count(k, ".") != 2 {
			t.Errorf("key %q for %+v: not a valid 3-token KV key", k, v)
		}
		got, err := parseVerdictKey(k)
		if err != nil || got.Instance != v.Instance || got.Check != v.Check || got.Address != v.Address {
			t.Errorf("parseVerdictKey(%q) = %+v, %v", k, got, err)
		}
		d, err := decodeVerdict("c", k, encodeVerdict("c", v))
		if err != nil || d != v {
			t.Errorf("round trip %+v -> %+v, %v", v, d, err)
		}
		if _, err := decodeVerdict("other", k, encodeVerdict("c", v)); err == nil {
			t.Error("another cluster's verdict accepted")
		}
	}
	o := Override{Kind: KindAddress, Key: "2001:db8::1", State: StateDrain, Origin: "a", At: at}
	k := overrideKeyOf(o)
	if !natsKeyRE.MatchString(k) {
		t.Errorf("override key %q", k)
	}
	if d, err := decodeOverride("c", k, encodeOverride("c", o)); err != nil || d != o {
		t.Errorf("override round trip: %+v, %v", d, err)
	}
	if _, err := decodeOverride("c", "datacenter.ams", encodeOverride("c", o)); err == nil {
		t.Error("override under another key accepted")
	}
	bad := o
	bad.State = "maybe"
	if _, err := decodeOverride("c", k, encodeOverride("c", bad)); err == nil {
		t.Error("override with a bad state accepted")
	}
	for _, k := range []string{"a.b", "a.b.c.d", "a.b.notanip", "a=4.b.1=2E2=2E3=2E4", "a.b.=ZZ"} {
		if _, err := parseVerdictKey(k); err == nil {
			t.Errorf("parseVerdictKey(%q): no error", k)
		}
	}
}

func FuzzDecode(f *testing.F) {
	v := Verdict{Instance: "a", Check: "web", Address: netip.MustParseAddr("192.0.2.1"), At: time.UnixMilli(1)}
	f.Add(verdictKeyOf(v), encodeVerdict("c", v))
	f.Add("datacenter.ams", encodeOverride("c", Override{Kind: KindDatacenter, Key: "ams", State: StateDown}))
	f.Add("=", []byte("{"))
	f.Fuzz(func(t *testing.T, key string, val []byte) {
		decodeVerdict("c", key, val)
		decodeOverride("c", key, val)
		parseVerdictKey(key)
		parseOverrideKey(key)
	})
}
