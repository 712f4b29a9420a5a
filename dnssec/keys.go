package dnssec

import (
	"bufio"
	"crypto"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"

	mdns "github.com/miekg/dns"
)

// DNSKEY flags (RFC 4034 2.1.1).
const (
	FlagsZSK = 256 // zone key
	FlagsKSK = 257 // zone key + secure entry point (a KSK or a CSK)
)

// ErrNoKeys is returned by LoadDir for a directory without key files.
var ErrNoKeys = errors.New("no key files")

// Key is one key pair read from K<zone>+<alg>+<id>.key and .private.
type Key struct {
	Zone    string // lower-case, fully qualified
	File    string // path of the .key file
	DNSKEY  *mdns.DNSKEY
	Tag     uint16
	signer  crypto.Signer
	timing  timing
	timed   bool // the .private file carries BIND timing metadata
	hasPriv bool
}

// Algorithm returns the key's DNSSEC algorithm number (13 or 15).
func (k *Key) Algorithm() uint8 { return k.DNSKEY.Algorithm }

// SEP reports whether the key has the secure entry point flag (a KSK or CSK).
func (k *Key) SEP() bool { return k.DNSKEY.Flags&mdns.SEP != 0 }

// Published reports whether the key belongs in the DNSKEY RRset at t.
func (k *Key) Published(t time.Time) bool {
	return before(k.timing.publish, t, true) && !before(k.timing.delete, t, false)
}

// Active reports whether the key signs at t. A key file without timing
// metadata (ldns-keygen) is published and active from the start; one with
// metadata (dnssec-keygen) signs from its Activate time until Inactive.
func (k *Key) Active(t time.Time) bool {
	if !k.Published(t) {
		return false
	}
	if !k.timed {
		return true
	}
	return before(k.timing.activate, t, false) && !before(k.timing.inactive, t, false)
}

// before reports whether the time ts (zero = unset) is at or before t;
// unset gives ifUnset.
func before(ts, t time.Time, ifUnset bool) bool {
	if ts.IsZero() {
		return ifUnset
	}
	return !ts.After(t)
}

type timing struct{ publish, activate, inactive, delete time.Time }

// events returns the key's timing events.
func (tm timing) events() []time.Time {
	return []time.Time{tm.publish, tm.activate, tm.inactive, tm.delete}
}

// Keyring is every key loaded from a keys directory, grouped by zone.
type Keyring struct {
	Dir   string
	zones map[string][]*Key
}

// LoadDir reads every K*.key file in dir with its .private file. It
// reports every problem at once, each naming its file: a file that does not
// parse, an algorithm other than 13 or 15, flags other than 256 or 257, a
// file name that does not match the key, a public half that does not match
// the private half, a missing half.
func LoadDir(dir string) (*Keyring, error) {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("dnssec keys_dir: %w", err)
	}
	kr := &Keyring{Dir: dir, zones: map[string][]*Key{}}
	var errs []error
	seen := map[string]bool{}
	for _, e := range ents {
		name := e.Name()
		if e.IsDir() || !strings.HasPrefix(name, "K") {
			continue
		}
		switch {
		case strings.HasSuffix(name, ".key"):
			seen[strings.TrimSuffix(name, ".key")] = true
			k, err := loadKey(filepath.Join(dir, name))
			if err != nil {
				errs = append(errs, err)
				continue
			}
			kr.zones[k.Zone] = append(kr.zones[k.Zone], k)
		case strings.HasSuffix(name, ".private"):
			base := strings.TrimSuffix(name, ".private")
			if _, err := os.Stat(filepath.Join(dir, base+".key")); err != nil {
				errs = append(errs, fmt.Errorf("%s: no matching %s.key", filepath.Join(dir, name), base))
			}
		}
	}
	for zone, keys := range kr.zones {
		sort.Slice(keys, func(i, j int) bool { return keys[i].File < keys[j].File })
		if err := checkZone(zone, keys); err != nil {
			errs = append(errs, err)
		}
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return kr, nil
}

// checkZone reports a zone that can never be signed: two keys with the
// same tag and algorithm.
func checkZone(zone string, keys []*Key) error {
	for i, a := range keys {
		for _, b := range keys[:i] {
			if a.Tag == b.Tag && a.Algorithm() == b.Algorithm() {
				return fmt.Errorf("%s: key tag %d collides with %s", a.File, a.Tag, b.File)
			}
		}
	}
	return nil
}

// parseKeyName splits "K<zone>+<alg>+<id>.key".
func parseKeyName(base string) (zone string, alg, id int, ok bool) {
	s := strings.TrimSuffix(strings.TrimPrefix(base, "K"), ".key")
	i := strings.LastIndexByte(s, '+')
	if i < 0 {
		return "", 0, 0, false
	}
	j := strings.LastIndexByte(s[:i], '+')
	if j < 0 {
		return "", 0, 0, false
	}
	a, err1 := strconv.Atoi(s[j+1 : i])
	n, err2 := strconv.Atoi(s[i+1:])
	if err1 != nil || err2 != nil || j == 0 {
		return "", 0, 0, false
	}
	return mdns.CanonicalName(s[:j]), a, n, true
}

func loadKey(path string) (*Key, error) {
	base := filepath.Base(path)
	zone, alg, id, ok := parseKeyName(base)
	if !ok {
		return nil, fmt.Errorf("%s: file name is not K<zone>+<alg>+<id>.key", path)
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	rr, err := mdns.ReadRR(f, path)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	dk, ok := rr.(*mdns.DNSKEY)
	if !ok {
		return nil, fmt.Errorf("%s: not a DNSKEY record", path)
	}
	k := &Key{Zone: mdns.CanonicalName(dk.Hdr.Name), File: path, DNSKEY: dk, Tag: dk.KeyTag()}
	dk.Hdr.Name = k.Zone
	switch {
	case dk.Algorithm != mdns.ECDSAP256SHA256 && dk.Algorithm != mdns.ED25519:
		return nil, fmt.Errorf("%s: algorithm %d (%s) is not supported; use 13 (ECDSAP256SHA256) or 15 (ED25519)",
			path, dk.Algorithm, mdns.AlgorithmToString[dk.Algorithm])
	case dk.Flags != FlagsZSK && dk.Flags != FlagsKSK:
		return nil, fmt.Errorf("%s: flags %d: want 256 (ZSK) or 257 (KSK/CSK)", path, dk.Flags)
	case dk.Protocol != 3:
		return nil, fmt.Errorf("%s: protocol %d: want 3", path, dk.Protocol)
	case k.Zone != zone:
		return nil, fmt.Errorf("%s: the key is for zone %s but the file name says %s", path, k.Zone, zone)
	case int(dk.Algorithm) != alg || int(k.Tag) != id:
		return nil, fmt.Errorf("%s: the key has algorithm %d and tag %d but the file name says %d and %d",
			path, dk.Algorithm, k.Tag, alg, id)
	}

	priv := strings.TrimSuffix(path, ".key") + ".private"
	pf, err := os.Open(priv)
	if err != nil {
		return nil, fmt.Errorf("%s: private key: %w", path, err)
	}
	defer pf.Close()
	pk, err := dk.ReadPrivateKey(pf, priv)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", priv, err)
	}
	signer, ok := pk.(crypto.Signer)
	if !ok {
		return nil, fmt.Errorf("%s: not a signing key", priv)
	}
	k.signer = signer
	if _, err := pf.Seek(0, 0); err != nil {
		return nil, err
	}
	if k.timing, k.timed, err = readTiming(pf, priv); err != nil {
		return nil, err
	}
	if err := selfTest(k); err != nil {
		return nil, fmt.Errorf("%s: the private key does not match the public key in %s: %w", priv, base, err)
	}
	return k, nil
}

// selfTest signs a record with the private half and verifies it with the
// public half (miekg/dns takes the public key from the DNSKEY and does not
// compare the halves).
func selfTest(k *Key) error {
	rrset := []mdns.RR{&mdns.TXT{Hdr: mdns.RR_Header{Name: k.Zone, Rrtype: mdns.TypeTXT, Class: mdns.ClassINET, Ttl: 1}, Txt: []string{"godwit key check"}}}
	sig := &mdns.RRSIG{Algorithm: k.DNSKEY.Algorithm, KeyTag: k.Tag, SignerName: k.Zone, Inception: 1, Expiration: 2}
	if err := sig.Sign(k.signer, rrset); err != nil {
		return err
	}
	return sig.Verify(k.DNSKEY, rrset)
}

// readTiming reads BIND's timing metadata (Created, Publish, Activate,
// Inactive, Delete: YYYYMMDDHHMMSS, UTC) from a .private file.
func readTiming(f *os.File, path string) (timing, bool, error) {
	var tm timing
	timed := false
	sc := bufio.NewScanner(f)
	for line := 1; sc.Scan(); line++ {
		key, val, ok := strings.Cut(sc.Text(), ":")
		if !ok {
			continue
		}
		var dst *time.Time
		switch strings.ToLower(strings.TrimSpace(key)) {
		case "created":
			timed = true
			continue
		case "publish":
			dst = &tm.publish
		case "activate":
			dst = &tm.activate
		case "inactive":
			dst = &tm.inactive
		case "delete":
			dst = &tm.delete
		default:
			continue
		}
		timed = true
		t, err := time.Parse("20060102150405", strings.TrimSpace(val))
		if err != nil {
			return tm, false, fmt.Errorf("%s line %d: %s: %w", path, line, strings.TrimSpace(key), err)
		}
		*dst = t
	}
	return tm, timed, sc.Err()
}

// Zones returns the zones that have keys, sorted.
func (kr *Keyring) Zones() []string {
	if kr == nil {
		return nil
	}
	out := make([]string, 0, len(kr.zones))
	for z := range kr.zones {
		out = append(out, z)
	}
	sort.Strings(out)
	return out
}

// Keys returns the keys of zone (any case, fully qualified), sorted by file.
func (kr *Keyring) Keys(zone string) []*Key {
	if kr == nil {
		return nil
	}
	return kr.zones[mdns.CanonicalName(zone)]
}

// NextChange returns the first key timing event after t (zero if none):
// the runtime rebuilds the zone's Signer then, so that a key published or
// activated by its timing metadata takes effect without a reload.
func (kr *Keyring) NextChange(t time.Time) time.Time {
	var next time.Time
	if kr == nil {
		return next
	}
	for _, keys := range kr.zones {
		for _, k := range keys {
			for _, ev := range k.timing.events() {
				if ev.After(t) && (next.IsZero() || ev.Before(next)) {
					next = ev
				}
			}
		}
	}
	return next
}

// DS returns the DS records (SHA-256) to give the parent of zone: one per
// published key with the SEP flag (KSK or CSK), or per published key when
// the zone has no SEP key.
func (kr *Keyring) DS(zone string, t time.Time) []*mdns.DS {
	keys := kr.Keys(zone)
	var out []*mdns.DS
	for _, sep := range []bool{true, false} {
		for _, k := range keys {
			if k.SEP() == sep && k.Published(t) {
				out = append(out, k.DNSKEY.ToDS(mdns.SHA256))
			}
		}
		if len(out) > 0 {
			break
		}
	}
	return out
}

func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// Timing returns the key's BIND timing metadata (zero: not set), for the
// status page.
func (k *Key) Timing() (publish, activate, inactive, delete time.Time) {
	return k.timing.publish, k.timing.activate, k.timing.inactive, k.timing.delete
}
