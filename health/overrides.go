package health

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"net/netip"
	"slices"
	"strconv"
	"strings"

	"github.com/godwit-dns/godwit/internal/inputfile"
)

// Override kinds, for SetOverride and Override.Kind.
const (
	KindAddress    = "address"
	KindDatacenter = "datacenter"
)

// Override is one admin override, for the status page.
type Override struct {
	Kind  string        `json:"kind"` // address | datacenter
	Key   string        `json:"key"`  // the address or the datacenter name
	State OverrideState `json:"state"`
	// Origin is the instance of a cluster the override was set on; ""
	// for one set here without a cluster.
	Origin string `json:"origin,omitempty"`
}

// overrides is the parsed state file. Never modified once published in a
// View; changes build a copy.
type overrides struct {
	addr map[netip.Addr]OverrideState
	dc   map[string]OverrideState
	// unknown are entries for addresses and datacenters no target has:
	// not in force, but written back, so that an override survives a
	// target leaving the config and coming back.
	unknown []Override
	// origin is where an entry came from (a cluster instance), by
	// originKey; kept in the state file as a "# from <instance>" comment.
	origin map[string]string
}

func originKey(kind, key string) string { return kind + " " + key }

func (o overrides) clone() overrides {
	return overrides{addr: maps.Clone(o.addr), dc: maps.Clone(o.dc), unknown: o.unknown, origin: maps.Clone(o.origin)}
}

// len counts every entry, unknown ones too.
func (o overrides) len() int { return len(o.addr) + len(o.dc) + len(o.unknown) }

// known is the set of addresses and datacenters the targets have, which
// are the only ones an override in the state file is applied to.
type known struct {
	addr map[netip.Addr]bool
	dc   map[string]bool
}

func knownOf(targets []Target) known {
	k := known{addr: map[netip.Addr]bool{}, dc: map[string]bool{}}
	for _, t := range targets {
		if t.Addr.IsValid() {
			k.addr[t.Addr.Unmap()] = true
		}
		if t.Datacenter != "" {
			k.dc[t.Datacenter] = true
		}
	}
	return k
}

// restrict moves the entries for keys k does not know to unknown.
func (o overrides) restrict(k known) overrides {
	out := overrides{addr: map[netip.Addr]OverrideState{}, dc: map[string]OverrideState{}, origin: o.origin}
	for _, e := range o.list() {
		switch {
		case e.Kind == KindAddress && k.addr[netip.MustParseAddr(e.Key)]:
			out.addr[netip.MustParseAddr(e.Key)] = e.State
		case e.Kind == KindDatacenter && k.dc[e.Key]:
			out.dc[e.Key] = e.State
		default:
			out.unknown = append(out.unknown, e)
		}
	}
	return out
}

func (o overrides) list() []Override {
	out := make([]Override, 0, len(o.addr)+len(o.dc))
	for _, a := range slices.SortedFunc(maps.Keys(o.addr), netip.Addr.Compare) {
		out = append(out, Override{Kind: KindAddress, Key: a.String(), State: o.addr[a], Origin: o.origin[originKey(KindAddress, a.String())]})
	}
	for _, d := range slices.Sorted(maps.Keys(o.dc)) {
		out = append(out, Override{Kind: KindDatacenter, Key: d, State: o.dc[d], Origin: o.origin[originKey(KindDatacenter, d)]})
	}
	return out
}

func parseOverrideState(s string) (OverrideState, error) {
	switch strings.ToLower(s) {
	case "up":
		return OverrideUp, nil
	case "down":
		return OverrideDown, nil
	case "drain":
		return OverrideDrain, nil
	}
	return 0, fmt.Errorf("state %s is not up, down or drain", excerpt(s))
}

// excerptLen bounds how much of a token an error quotes: errors are logged
// and shown on the status page, and must not carry a file's content there.
const excerptLen = 40

// excerpt quotes at most excerptLen bytes of s, escaped.
func excerpt(s string) string {
	if len(s) <= excerptLen {
		return strconv.QuoteToASCII(s)
	}
	return strconv.QuoteToASCII(s[:excerptLen]) + "..."
}

// looksLikeAddr reports whether s was meant as an address (and so is a
// mistyped one when it does not parse) rather than a datacenter name.
func looksLikeAddr(s string) bool {
	return strings.ContainsAny(s, ":/%") || strings.Trim(s, "0123456789.") == ""
}

// validDatacenter reports whether name can be written to the state file.
func validDatacenter(name string) bool {
	return name != "" && !strings.ContainsAny(name, " \t\r\n#") && !looksLikeAddr(name)
}

// readOverrides reads a state file under the limits. A missing file means
// no overrides. A named pipe or a device is refused without blocking.
func readOverrides(path string, lim Limits) (overrides, error) {
	if path == "" {
		return overrides{}, nil
	}
	lim = lim.withDefaults()
	data, err := inputfile.ReadFile(path, inputfile.Options{MaxBytes: lim.StateFileBytes})
	if errors.Is(err, fs.ErrNotExist) {
		return overrides{}, nil
	}
	if err != nil {
		return overrides{}, err
	}
	return parseOverrides(path, data, lim.Overrides)
}

// parseOverrides parses lines "<address|datacenter> up|down|drain" with #
// comments. A token that parses as an IP address is an address. More than
// max entries (0: DefaultMaxOverrides) is an error.
func parseOverrides(name string, data []byte, max int) (overrides, error) {
	if max <= 0 {
		max = DefaultMaxOverrides
	}
	o := overrides{addr: map[netip.Addr]OverrideState{}, dc: map[string]OverrideState{}}
	sc := bufio.NewScanner(bytes.NewReader(data))
	for n := 1; sc.Scan(); n++ {
		line, comment, _ := strings.Cut(sc.Text(), "#")
		f := strings.Fields(line)
		if len(f) == 0 {
			continue
		}
		if len(f) != 2 {
			return overrides{}, fmt.Errorf("%s:%d: want \"<address|datacenter> up|down|drain\", got %d fields", name, n, len(f))
		}
		if o.len() >= max {
			return overrides{}, fmt.Errorf("%s:%d: more than %d overrides (health.max_overrides)", name, n, max)
		}
		st, err := parseOverrideState(f[1])
		if err != nil {
			return overrides{}, fmt.Errorf("%s:%d: %w", name, n, err)
		}
		a, aerr := netip.ParseAddr(f[0])
		if aerr == nil {
			a = a.Unmap()
			if _, dup := o.addr[a]; dup {
				return overrides{}, fmt.Errorf("%s:%d: address %s listed twice", name, n, a)
			}
			o.addr[a] = st
			o.setOrigin(KindAddress, a.String(), comment)
			continue
		}
		if looksLikeAddr(f[0]) {
			if len(f[0]) > excerptLen { // the parser's message quotes all of it
				aerr = fmt.Errorf("ParseAddr(%s): not an IP address", excerpt(f[0]))
			}
			return overrides{}, fmt.Errorf("%s:%d: %w", name, n, aerr)
		}
		if _, dup := o.dc[f[0]]; dup {
			return overrides{}, fmt.Errorf("%s:%d: datacenter %s listed twice", name, n, excerpt(f[0]))
		}
		o.dc[f[0]] = st
		o.setOrigin(KindDatacenter, f[0], comment)
	}
	if err := sc.Err(); err != nil {
		return overrides{}, fmt.Errorf("%s: %w", name, err)
	}
	return o, nil
}

// setOrigin records the origin a line's comment names ("from <instance>").
func (o *overrides) setOrigin(kind, key, comment string) {
	f := strings.Fields(comment)
	if len(f) != 2 || f[0] != "from" || len(f[1]) > 64 {
		return
	}
	if o.origin == nil {
		o.origin = map[string]string{}
	}
	o.origin[originKey(kind, key)] = f[1]
}

func (o overrides) format() []byte {
	var b bytes.Buffer
	b.WriteString("# Godwit health overrides: <address|datacenter> up|down|drain\n")
	b.WriteString("# Written by godwit; edits are picked up on reload.\n")
	for _, e := range o.list() {
		if e.Origin != "" {
			fmt.Fprintf(&b, "%s %s # from %s\n", e.Key, e.State, e.Origin)
			continue
		}
		fmt.Fprintf(&b, "%s %s\n", e.Key, e.State)
	}
	if len(o.unknown) > 0 {
		b.WriteString("# Not in force: no target has these addresses or datacenters now.\n")
		for _, e := range o.unknown {
			fmt.Fprintf(&b, "%s %s\n", e.Key, e.State)
		}
	}
	return b.Bytes()
}
