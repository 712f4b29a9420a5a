package health

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
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
}

// overrides is the parsed state file. Never modified once published in a
// View; changes build a copy.
type overrides struct {
	addr map[netip.Addr]OverrideState
	dc   map[string]OverrideState
}

func (o overrides) clone() overrides {
	return overrides{addr: maps.Clone(o.addr), dc: maps.Clone(o.dc)}
}

func (o overrides) list() []Override {
	out := make([]Override, 0, len(o.addr)+len(o.dc))
	for _, a := range slices.SortedFunc(maps.Keys(o.addr), netip.Addr.Compare) {
		out = append(out, Override{Kind: KindAddress, Key: a.String(), State: o.addr[a]})
	}
	for _, d := range slices.Sorted(maps.Keys(o.dc)) {
		out = append(out, Override{Kind: KindDatacenter, Key: d, State: o.dc[d]})
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
	return 0, fmt.Errorf("state %q is not up, down or drain", s)
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

// readOverrides reads a state file. A missing file means no overrides.
func readOverrides(path string) (overrides, error) {
	if path == "" {
		return overrides{}, nil
	}
	data, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return overrides{}, nil
	}
	if err != nil {
		return overrides{}, err
	}
	return parseOverrides(path, data)
}

// parseOverrides parses lines "<address|datacenter> up|down|drain" with #
// comments. A token that parses as an IP address is an address.
func parseOverrides(name string, data []byte) (overrides, error) {
	o := overrides{addr: map[netip.Addr]OverrideState{}, dc: map[string]OverrideState{}}
	sc := bufio.NewScanner(bytes.NewReader(data))
	for n := 1; sc.Scan(); n++ {
		line, _, _ := strings.Cut(sc.Text(), "#")
		f := strings.Fields(line)
		if len(f) == 0 {
			continue
		}
		if len(f) != 2 {
			return overrides{}, fmt.Errorf("%s:%d: want \"<address|datacenter> up|down|drain\", got %d fields", name, n, len(f))
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
			continue
		}
		if looksLikeAddr(f[0]) {
			return overrides{}, fmt.Errorf("%s:%d: %w", name, n, aerr)
		}
		if _, dup := o.dc[f[0]]; dup {
			return overrides{}, fmt.Errorf("%s:%d: datacenter %s listed twice", name, n, f[0])
		}
		o.dc[f[0]] = st
	}
	if err := sc.Err(); err != nil {
		return overrides{}, fmt.Errorf("%s: %w", name, err)
	}
	return o, nil
}

func (o overrides) format() []byte {
	var b bytes.Buffer
	b.WriteString("# Godwit health overrides: <address|datacenter> up|down|drain\n")
	b.WriteString("# Written by godwit; edits are picked up on reload.\n")
	for _, e := range o.list() {
		fmt.Fprintf(&b, "%s %s\n", e.Key, e.State)
	}
	return b.Bytes()
}

// writeFileAtomic writes data to a temporary file beside path, syncs it and
// renames it over path, so readers see the old or the new file, never half.
func writeFileAtomic(path string, data []byte) error {
	f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".tmp*")
	if err != nil {
		return err
	}
	tmp := f.Name()
	defer os.Remove(tmp) // fails harmlessly after the rename
	if _, err := f.Write(data); err != nil {
		f.Close()
		return err
	}
	if err := f.Chmod(0o644); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}
