package cluster

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/netip"
	"strconv"
	"strings"
	"time"
)

// Keys and values as stored in the engine. Keys are made of tokens
// separated by '.': a verdict is "<instance>.<check>.<address>", an
// override "<kind>.<key>". A token keeps [A-Za-z0-9_-] and writes any
// other byte as "=XX" (upper-case hex), so that IPv6 addresses and check
// names fit the key alphabet of NATS KV ([-/_=.A-Za-z0-9]).
//
// A value is JSON that names its cluster and repeats its key's fields; a
// reader drops values of another cluster or whose key does not match.

func escapeToken(s string) string {
	var b strings.Builder
	b.Grow(len(s))
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '-' {
			b.WriteByte(c)
			continue
		}
		fmt.Fprintf(&b, "=%02X", c)
	}
	return b.String()
}

func unescapeToken(s string) (string, error) {
	if !strings.Contains(s, "=") {
		return s, nil
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] != '=' {
			b.WriteByte(s[i])
			continue
		}
		if i+2 >= len(s) {
			return "", fmt.Errorf("key token %q: short escape", s)
		}
		c, err := strconv.ParseUint(s[i+1:i+3], 16, 8)
		if err != nil {
			return "", fmt.Errorf("key token %q: bad escape", s)
		}
		b.WriteByte(byte(c))
		i += 2
	}
	return b.String(), nil
}

func verdictKeyOf(v Verdict) string {
	return escapeToken(v.Instance) + "." + escapeToken(v.Check) + "." + escapeToken(v.Address.String())
}

func overrideKeyOf(o Override) string {
	return escapeToken(o.Kind) + "." + escapeToken(o.Key)
}

// parseVerdictKey returns the Verdict fields a key names.
func parseVerdictKey(key string) (Verdict, error) {
	t := strings.Split(key, ".")
	if len(t) != 3 {
		return Verdict{}, fmt.Errorf("verdict key %q: want instance.check.address", key)
	}
	var err [3]error
	var s [3]string
	for i := range t {
		s[i], err[i] = unescapeToken(t[i])
	}
	if e := errors.Join(err[:]...); e != nil {
		return Verdict{}, e
	}
	a, e := netip.ParseAddr(s[2])
	if e != nil {
		return Verdict{}, fmt.Errorf("verdict key %q: %w", key, e)
	}
	return Verdict{Instance: s[0], Check: s[1], Address: a}, nil
}

func parseOverrideKey(key string) (Override, error) {
	kind, k, ok := strings.Cut(key, ".")
	if !ok {
		return Override{}, fmt.Errorf("override key %q: want kind.key", key)
	}
	kind, err1 := unescapeToken(kind)
	k, err2 := unescapeToken(k)
	if err := errors.Join(err1, err2); err != nil {
		return Override{}, err
	}
	return Override{Kind: kind, Key: k}, nil
}

type wireVerdict struct {
	Cluster  string     `json:"c"`
	Instance string     `json:"i"`
	Site     string     `json:"s,omitempty"`
	Check    string     `json:"k"`
	Address  netip.Addr `json:"a"`
	Up       bool       `json:"u"`
	At       int64      `json:"t"` // unix milliseconds
}

type wireOverride struct {
	Cluster string `json:"c"`
	Kind    string `json:"k"`
	Key     string `json:"n"`
	State   string `json:"s"`
	Origin  string `json:"o"`
	At      int64  `json:"t"` // unix milliseconds
}

func encodeVerdict(cluster string, v Verdict) []byte {
	b, _ := json.Marshal(wireVerdict{cluster, v.Instance, v.Site, v.Check, v.Address, v.Up, v.At.UnixMilli()})
	return b
}

func encodeOverride(cluster string, o Override) []byte {
	b, _ := json.Marshal(wireOverride{cluster, o.Kind, o.Key, o.State, o.Origin, o.At.UnixMilli()})
	return b
}

// errForeign marks a value of another cluster or one that does not match
// its key.
var errForeign = errors.New("not this cluster's value")

func decodeVerdict(cluster, key string, b []byte) (Verdict, error) {
	var w wireVerdict
	if err := json.Unmarshal(b, &w); err != nil {
		return Verdict{}, fmt.Errorf("verdict %q: %w", key, err)
	}
	v := Verdict{Instance: w.Instance, Site: w.Site, Check: w.Check, Address: w.Address, Up: w.Up, At: time.UnixMilli(w.At)}
	if w.Cluster != cluster || !w.Address.IsValid() || w.Instance == "" || verdictKeyOf(v) != key {
		return Verdict{}, fmt.Errorf("verdict %q: %w", key, errForeign)
	}
	return v, nil
}

func decodeOverride(cluster, key string, b []byte) (Override, error) {
	var w wireOverride
	if err := json.Unmarshal(b, &w); err != nil {
		return Override{}, fmt.Errorf("override %q: %w", key, err)
	}
	o := Override{Kind: w.Kind, Key: w.Key, State: w.State, Origin: w.Origin, At: time.UnixMilli(w.At)}
	if w.Cluster != cluster || overrideKeyOf(o) != key || validOverride(o) != nil {
		return Override{}, fmt.Errorf("override %q: %w", key, errForeign)
	}
	return o, nil
}

// validOverride checks an override's kind, key and state.
func validOverride(o Override) error {
	switch o.Kind {
	case KindAddress:
		if _, err := netip.ParseAddr(o.Key); err != nil {
			return fmt.Errorf("override %s %q: %w", o.Kind, o.Key, err)
		}
	case KindDatacenter:
		if o.Key == "" || len(o.Key) > 253 || strings.ContainsAny(o.Key, " \t\r\n\x00") {
			return fmt.Errorf("override datacenter %q: invalid name", o.Key)
		}
	default:
		return fmt.Errorf("override kind %q: want address or datacenter", o.Kind)
	}
	switch o.State {
	case StateUp, StateDown, StateDrain, StateClear:
	default:
		return fmt.Errorf("override state %q: want up, down, drain or clear", o.State)
	}
	return nil
}
