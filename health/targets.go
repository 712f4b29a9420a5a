package health

import (
	"fmt"
	"slices"
)

// CheckTargets reports whether Update would accept checks and targets: every
// check valid and named once, every target naming a known check and an
// address, each answer address probed at one address per check. The
// runtime asks it while building a generation, so that the health checks
// it switches to after publishing it cannot fail.
func CheckTargets(checks []CheckConfig, targets []Target) error {
	_, _, _, err := planTargets(checks, targets)
	return err
}

// planTargets validates checks and targets and returns the checks by name
// (defaults filled), the probe behind each answered address and the
// datacenters each probe speaks for (sorted).
func planTargets(checks []CheckConfig, targets []Target) (map[string]CheckConfig, map[viewKey]probeKey, map[probeKey][]string, error) {
	cfgs := make(map[string]CheckConfig, len(checks))
	for _, ch := range checks {
		ch = ch.WithDefaults()
		if err := ch.Validate(); err != nil {
			return nil, nil, nil, err
		}
		if _, dup := cfgs[ch.Name]; dup {
			return nil, nil, nil, fmt.Errorf("check %q: name: defined twice", ch.Name)
		}
		cfgs[ch.Name] = ch
	}
	answers := make(map[viewKey]probeKey)
	dcs := make(map[probeKey][]string)
	for _, t := range targets {
		if t.Check == "" {
			continue
		}
		if _, ok := cfgs[t.Check]; !ok {
			return nil, nil, nil, fmt.Errorf("target %s in %s: unknown check %q", t.Addr, t.Datacenter, t.Check)
		}
		if !t.Addr.IsValid() {
			return nil, nil, nil, fmt.Errorf("target in %s (check %q): no address", t.Datacenter, t.Check)
		}
		addr, probeAddr := t.Addr.Unmap(), t.ProbeAddr.Unmap()
		if !probeAddr.IsValid() {
			probeAddr = addr
		}
		vk, pk := viewKey{t.Check, addr}, probeKey{t.Check, probeAddr}
		if prev, ok := answers[vk]; ok && prev != pk {
			return nil, nil, nil, fmt.Errorf("target %s (check %q): probed at both %s and %s", addr, t.Check, prev.addr, probeAddr)
		}
		answers[vk] = pk
		if !slices.Contains(dcs[pk], t.Datacenter) {
			dcs[pk] = append(dcs[pk], t.Datacenter)
		}
	}

	for _, d := range dcs {
		slices.Sort(d)
	}

	return cfgs, answers, dcs, nil
}
